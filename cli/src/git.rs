//! The few git commands the release tools need, run in the current directory.

use std::process::Command;

use crate::error::{CliError, Result};

/// Runs `git ARGS`; its stdout, or why it failed.
pub(crate) fn run(args: &[&str]) -> Result<std::result::Result<String, String>> {
    let output = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| CliError::Environment(format!("cannot run git: {e}")))?;
    if !output.status.success() {
        return Ok(Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .to_owned()));
    }
    String::from_utf8(output.stdout)
        .map(Ok)
        .map_err(|_| CliError::Input(format!("git {}: not UTF-8", args.join(" "))))
}

/// The file at `path` (from the repository's root) in `rev`, or `None` when it has none.
pub(crate) fn show(rev: &str, path: &str) -> Result<Option<String>> {
    Ok(run(&["show", &format!("{rev}:{path}")])?.ok())
}
