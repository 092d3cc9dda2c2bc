//! `codearts release-gate`: the changes since the last release must be matched by the version
//! the manifest declares, for both halves of the public API: the spec-generated types (by
//! `spec-diff`) and the hand-written surface (by `cargo semver-checks`, when asked).
//!
//! The baseline is the newest `v*` tag reachable from HEAD, by semantic version (a tag on a
//! branch this one never merged is someone else's release; a pre-release sorts below its
//! release); without one (tags do not travel with every clone), the last commit whose
//! manifest carried the previous version: the parent of the commit that set the manifest's
//! version. A shallow clone is deepened first, or the gate fails saying so.
//!
//! A released version is never released again: with any change since the tag, the version
//! must be above it. Git failures fail the gate; only a path git says is absent at the
//! baseline (and not renamed since) makes the spec "new".

use std::{path::Path, process::Command};

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
    version: Version,
    found_by: String,
    /// Whether the baseline is a release tag (a version that must not be released again).
    released: bool,
}

/// Finds the baseline, runs the checks asked for, says which half fails; 1 when one does.
pub(crate) fn run(args: &ReleaseGateArgs, out: Output) -> Result<u8> {
    let manifest = &git::name_at_head("--manifest", &args.manifest)?;
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
    let spec = &git::name_at_head("--spec", Path::new(&args.spec))?;
    let mut failed = Vec::new();
    if let Some(why) = version_half(&baseline, &current)? {
        say!("version half: {why}");
        failed.push("the version half (a version above the last release)");
    }
    let baseline_spec = match git::show(&baseline.rev, spec)? {
        Some(_) => Some(spec.clone()),
        None => git::renamed_from(&baseline.rev, spec)?,
    };
    if let Some(baseline_spec) = baseline_spec {
        let old = format!("git:{}:{baseline_spec}", baseline.rev);
        let old_version = baseline.version.to_string();
        let gate = VersionGate {
            manifest: &args.manifest,
            old_version: Some(&old_version),
        };
        let out = match out.format() {
            Format::Json => out,
            _ => Output::new(Format::Table),
        };
        if spec_diff::run(&old, &args.spec, Some(gate), out)? != 0 {
            failed.push("the spec half (spec-generated types: spec-diff above)");
        }
    } else {
        say!(
            "spec half: {spec} is new since {}: nothing to compare",
            baseline.version
        );
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

/// The version half: never below the baseline, and above a release when anything changed
/// since it. Why it fails, or `None`.
fn version_half(baseline: &Baseline, current: &Version) -> Result<Option<String>> {
    if *current < baseline.version {
        return Ok(Some(format!(
            "the version went backwards: {current} is below {}",
            baseline.version
        )));
    }
    if !baseline.released || *current > baseline.version {
        return Ok(None);
    }
    let changed = git::must(&["diff", "--name-only", &baseline.rev, "HEAD"])?;
    let changed = changed.lines().count();
    Ok((changed > 0).then(|| {
        format!(
            "{current} is released already ({}), and {changed} file(s) changed since: the \
             version must be above it",
            baseline.found_by
        )
    }))
}

/// The newest `v*` tag reachable from HEAD by semantic version, else the parent of the
/// commit that set `current` in `manifest`; `None` when no earlier version exists.
fn baseline(manifest: &str, current: &Version) -> Result<Option<Baseline>> {
    deepen_if_shallow()?;
    let tags = git::must(&["tag", "--list", "v*", "--merged", "HEAD"])?;
    let newest = tags
        .lines()
        .filter_map(|tag| Some((Version::parse(tag.strip_prefix('v')?).ok()?, tag)))
        .max();
    if let Some((version, tag)) = newest {
        return Ok(Some(Baseline {
            rev: tag.to_owned(),
            version,
            found_by: format!("tag {tag}"),
            released: true,
        }));
    }
    // `:(top)`: the name is from the repository's root, wherever the command runs.
    let pathspec = format!(":(top,literal){manifest}");
    let commits = git::run(&["log", "--format=%H", "--", &pathspec])?
        .map_err(|why| CliError::Environment(format!("git log: {why}")))?;
    for commit in commits.lines() {
        let parents = git::must(&["rev-list", "--parents", "-n", "1", commit])?;
        if parents.split_whitespace().count() < 2 {
            return Ok(None); // the first commit: no earlier version
        }
        let parent = format!("{commit}^");
        let Some(text) = git::show(&parent, manifest)? else {
            return Ok(None); // the manifest was born with this version
        };
        let name = format!("{manifest} at {parent}");
        let version = version::from_manifest_text(&text, &name)?;
        if version != *current {
            return Ok(Some(Baseline {
                rev: resolve(&parent)?,
                version,
                found_by: format!(
                    "no v* tag; the commit before {} set {current}",
                    &commit[..12.min(commit.len())]
                ),
                released: false,
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
