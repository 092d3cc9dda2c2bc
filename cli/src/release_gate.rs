//! `codearts release-gate`: the changes since the last release must be matched by the version
//! the manifest declares, for both halves of the public API: the spec-generated types (by
//! `spec-diff`) and the hand-written surface (by `cargo semver-checks`, when asked).
//!
//! The baseline is the newest `v*` tag; without one (tags do not travel with every clone), the
//! last commit whose manifest carried the previous version: the parent of the commit that set
//! the manifest's version. A shallow clone is deepened first, or the gate fails saying so.

use std::process::Command;

use semver::Version;

use crate::{
    args::{Format, ReleaseGateArgs},
    error::{CliError, Result},
    git,
    output::Output,
    spec_diff::{self, VersionGate, version},
};

/// The release to compare with.
#[derive(Debug)]
struct Baseline {
    rev: String,
    version: String,
    found_by: String,
}

/// Finds the baseline, runs the checks asked for, says which half fails; 1 when one does.
pub(crate) fn run(args: &ReleaseGateArgs, out: Output) -> Result<u8> {
    let manifest = args.manifest.to_str().ok_or_else(|| {
        CliError::Input(format!("--manifest {}: not UTF-8", args.manifest.display()))
    })?;
    let current = version::from_manifest(&args.manifest)?;
    let Some(baseline) = baseline(manifest, &current)? else {
        say!("release gate: no earlier version of {manifest} in history: nothing to compare");
        return Ok(0);
    };
    say!(
        "release gate: {current} against {} at {} ({})",
        baseline.version,
        &baseline.rev[..baseline.rev.len().min(12)],
        baseline.found_by
    );
    let mut failed = Vec::new();
    if git::show(&baseline.rev, &args.spec)?.is_none() {
        say!(
            "spec half: {} is new since {}: nothing to compare",
            args.spec,
            baseline.version
        );
    } else {
        let old = format!("git:{}:{}", baseline.rev, args.spec);
        let gate = VersionGate {
            manifest: &args.manifest,
            old_version: Some(&baseline.version),
        };
        let out = match out.format() {
            Format::Json => out,
            _ => Output::new(Format::Table),
        };
        if spec_diff::run(&old, &args.spec, Some(gate), out)? != 0 {
            failed.push("the spec half (spec-generated types: spec-diff above)");
        }
    }
    if let Some(package) = &args.semver_checks {
        say!(
            "Rust API half: cargo semver-checks -p {package} against {}",
            baseline.version
        );
        let status = Command::new("cargo")
            .args([
                "semver-checks",
                "check-release",
                "-p",
                package,
                "--baseline-rev",
            ])
            .arg(&baseline.rev)
            .status()
            .map_err(|e| CliError::Environment(format!("cannot run cargo semver-checks: {e}")))?;
        if !status.success() {
            failed.push("the Rust API half (hand-written surface: cargo semver-checks above)");
        }
    }
    if failed.is_empty() {
        say!("release gate: passed");
        return Ok(0);
    }
    say!("release gate: failed in {}", failed.join(" and "));
    Ok(1)
}

/// The newest `v*` tag, else the parent of the commit that set `current` in `manifest`;
/// `None` when no earlier version exists.
fn baseline(manifest: &str, current: &Version) -> Result<Option<Baseline>> {
    deepen_if_shallow()?;
    let tags = git::run(&["tag", "--list", "v*", "--sort=-v:refname"])?.unwrap_or_default();
    if let Some((tag, version)) = tags.lines().find_map(|tag| {
        let version = Version::parse(tag.strip_prefix('v')?).ok()?;
        Some((tag, version))
    }) {
        return Ok(Some(Baseline {
            rev: tag.to_owned(),
            version: version.to_string(),
            found_by: format!("tag {tag}"),
        }));
    }
    let commits = git::run(&["log", "--format=%H", "--", manifest])?
        .map_err(|why| CliError::Environment(format!("git log: {why}")))?;
    for commit in commits.lines() {
        let parent = format!("{commit}^");
        let Some(text) = git::show(&parent, manifest)? else {
            return Ok(None); // the manifest was born with this version
        };
        let name = format!("{manifest} at {parent}");
        let version = version::from_manifest_text(&text, &name)?;
        if version != *current {
            return Ok(Some(Baseline {
                rev: resolve(&parent)?,
                version: version.to_string(),
                found_by: format!(
                    "no v* tag; the commit before {} set {current}",
                    &commit[..12.min(commit.len())]
                ),
            }));
        }
    }
    Ok(None)
}

/// A shallow clone lacks the history the baseline is in: fetch it, or say why not.
fn deepen_if_shallow() -> Result<()> {
    let shallow = git::run(&["rev-parse", "--is-shallow-repository"])?
        .map_err(|why| CliError::Environment(format!("not a git repository? {why}")))?;
    if shallow.trim() != "true" {
        return Ok(());
    }
    say!("release gate: this clone is shallow; fetching its history");
    git::run(&["fetch", "--unshallow", "--quiet"])?.map_err(|why| {
        CliError::Environment(format!(
            "this clone is shallow and could not be deepened (git fetch --unshallow: {why}); \
             the release gate needs the history to find the last release"
        ))
    })?;
    Ok(())
}

fn resolve(rev: &str) -> Result<String> {
    git::run(&["rev-parse", rev])?
        .map(|id| id.trim().to_owned())
        .map_err(|why| CliError::Environment(format!("git rev-parse {rev}: {why}")))
}
