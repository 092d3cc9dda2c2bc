//! `--check-version`: the crate's version must say what the spec change does. A change that
//! breaks callers needs a major bump (a minor one while the major version is 0); any other
//! change a version above the old one (a published version is never published again); no
//! change at all may keep the old version.

use std::path::Path;

use semver::Version;
use serde::Serialize;

use super::Report;
use crate::error::{CliError, Result};

/// The verdict, with what it was measured against.
#[derive(Debug, Serialize)]
pub(crate) struct VersionCheck {
    pub(crate) old: String,
    pub(crate) new: String,
    /// The lowest version the change allows.
    pub(crate) required: String,
    pub(crate) ok: bool,
    /// One line: which change forced what, or why the version is fine.
    pub(crate) message: String,
}

/// The version in `OLD` when it names a tag: `git:v1.2.3` or `git:v1.2.3:path`.
pub(crate) fn from_tag(old: &str) -> Option<Version> {
    let rev = old.strip_prefix("git:")?.split(':').next()?;
    Version::parse(rev.strip_prefix('v')?).ok()
}

/// `package.version` of a Cargo manifest (or the workspace's, when the package inherits it).
pub(crate) fn from_manifest(path: &Path) -> Result<Version> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    from_manifest_text(&text, &path.display().to_string())
}

/// `package.version` of a manifest's text; `name` says where it came from, for errors.
pub(crate) fn from_manifest_text(text: &str, name: &str) -> Result<Version> {
    let bad = |why: String| CliError::Input(format!("{name}: {why}"));
    let manifest: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let version = |table: Option<&toml::Value>| table?.get("version")?.as_str().map(str::to_owned);
    let text = version(manifest.get("package"))
        .or_else(|| version(manifest.get("workspace")?.get("package")))
        .ok_or_else(|| bad("no package.version".into()))?;
    Version::parse(&text).map_err(|e| bad(format!("version `{text}`: {e}")))
}

/// Checks `new` against `old` for the changes in `report`.
pub(crate) fn check(report: &Report, old: &Version, new: &Version) -> VersionCheck {
    let breaking = report.changes.iter().find(|f| f.class == "breaking");
    let required = match breaking {
        Some(_) if old.major == 0 => Version::new(0, old.minor + 1, 0),
        Some(_) => Version::new(old.major + 1, 0, 0),
        None if report.changes.is_empty() => old.clone(),
        // A pre-release's successor may be another pre-release: "above it" is the rule.
        None if !old.pre.is_empty() => old.clone(),
        None => Version::new(old.major, old.minor, old.patch + 1),
    };
    let released_again = !report.changes.is_empty() && new == old;
    let ok = *new >= required && !released_again;
    let message = match (breaking, ok) {
        (Some(_), true) => format!(
            "{} breaking change(s), and {new} is a {} bump from {old}: fine",
            report.breaking,
            if old.major == 0 {
                "minor (0.x)"
            } else {
                "major"
            }
        ),
        (Some(first), false) => format!(
            "{} breaks callers ({}), so the version must be at least {required}; \
             the manifest says {new}",
            first.location, first.reason
        ),
        (None, true) if report.changes.is_empty() => {
            format!("no change: {new} is fine (the same version may stay)")
        }
        (None, true) => format!("no breaking change: {new} is fine (a patch bump is enough)"),
        (None, false) if new < old => format!("the version went backwards: {new} is below {old}"),
        (None, false) => format!(
            "{} change(s) since {old}, which is released already: the version must be above \
             it{}; the manifest says {new}",
            report.changes.len(),
            if required > *old {
                format!(" (at least {required})")
            } else {
                String::new()
            }
        ),
    };
    VersionCheck {
        old: old.to_string(),
        new: new.to_string(),
        required: required.to_string(),
        ok,
        message,
    }
}
