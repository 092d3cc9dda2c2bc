//! The `codearts` binary that the benches of the command run.

use std::path::{Path, PathBuf};

/// `given`, or else the `codearts` beside this program, which must exist.
pub fn codearts(given: Option<&Path>) -> Result<PathBuf, String> {
    let codearts = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program's path: {e}"))?
            .with_file_name("codearts"),
    };
    if !codearts.is_file() {
        return Err(format!(
            "{} does not exist: build it first (cargo build --release -p codearts-cli) or pass --codearts",
            codearts.display()
        ));
    }
    Ok(codearts)
}
