//! The few git commands the release tools need, run in the current directory.

use std::{path::Path, process::Command};

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

/// Runs `git ARGS`, where a failure is the environment's: its stdout, or an error naming
/// the command.
pub(crate) fn must(args: &[&str]) -> Result<String> {
    run(args)?.map_err(|why| CliError::Environment(format!("git {}: {why}", args.join(" "))))
}

/// The name git gives `path` in HEAD's tree (from the repository's root), however the user
/// spelled it: relative to the current directory, with `./`, or absolute. A path HEAD does
/// not have is an error: comparing "nothing" with a baseline would pass whatever changed.
pub(crate) fn name_at_head(flag: &str, path: &Path) -> Result<String> {
    let spelled = path
        .to_str()
        .ok_or_else(|| CliError::Input(format!("{flag} {}: not UTF-8", path.display())))?;
    if !path.is_file() {
        return Err(CliError::Input(format!("{flag} {spelled}: not a file")));
    }
    let listed = run(&[
        "ls-files",
        "--full-name",
        "-z",
        "--error-unmatch",
        "--",
        spelled,
    ])?
    .map_err(|why| CliError::Input(format!("{flag} {spelled}: not a file git tracks ({why})")))?;
    let name = listed.trim_end_matches('\0');
    if show("HEAD", name)?.is_none() {
        return Err(CliError::Input(format!(
            "{flag} {spelled}: {name} is not in HEAD (commit it first)"
        )));
    }
    Ok(name.to_owned())
}

/// The file at `path` (from the repository's root) in `rev`; `None` only when git says that
/// `rev`'s tree has no such path. Any other failure (a revision that does not resolve, an
/// object that cannot be read) is an error, never "no such file".
pub(crate) fn show(rev: &str, path: &str) -> Result<Option<String>> {
    let commit = format!("{rev}^{{commit}}");
    must(&["rev-parse", "--verify", &commit])?;
    let listed = must(&[
        "ls-tree",
        "--full-tree",
        "--name-only",
        "-z",
        rev,
        "--",
        path,
    ])?;
    if !listed.split('\0').any(|name| name == path) {
        return Ok(None);
    }
    must(&["show", &format!("{rev}:{path}")]).map(Some)
}

/// The path `path` (in the working tree's HEAD) had in `rev`, when git finds it was renamed
/// since.
pub(crate) fn renamed_from(rev: &str, path: &str) -> Result<Option<String>> {
    let renames = must(&[
        "diff",
        "--find-renames",
        "--diff-filter=R",
        "--name-status",
        "-z",
        rev,
        "HEAD",
    ])?;
    // -z: each rename is `R<score>\0OLD\0NEW\0`.
    let fields: Vec<&str> = renames.split('\0').collect();
    Ok(fields
        .chunks(3)
        .find(|entry| entry.len() == 3 && entry[0].starts_with('R') && entry[2] == path)
        .map(|entry| entry[1].to_owned()))
}
