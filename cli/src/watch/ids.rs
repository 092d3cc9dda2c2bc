//! Which repositories to watch: ids from the command line and from a file or stdin, without
//! repeats, kept to one shard when asked.

use std::{collections::HashSet, io::Read, path::Path};

use codearts_repo::{RepositoryId, watch::Shard};

use crate::error::{CliError, Result};

/// The ids of the command line, then those of `file` (`-`: standard input), each once, in
/// that order, only those of `shard` when given.
pub(crate) fn select(
    given: Vec<RepositoryId>,
    file: Option<&Path>,
    shard: Option<Shard>,
) -> Result<Vec<RepositoryId>> {
    let from_file = match file {
        Some(path) => read(path)?,
        None => Vec::new(),
    };
    let mut seen = HashSet::new();
    Ok(given
        .into_iter()
        .chain(from_file)
        .filter(|&id| seen.insert(id) && shard.is_none_or(|shard| shard.contains(id)))
        .collect())
}

/// One id per line; blank lines and `#` comments are skipped; a bad line is named with its
/// number.
fn read(path: &Path) -> Result<Vec<RepositoryId>> {
    let stdin = path == Path::new("-");
    let name = if stdin {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let mut text = String::new();
    let read = if stdin {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text).map(drop))
    };
    read.map_err(|e| CliError::Input(format!("cannot read --ids-file {name}: {e}")))?;
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or_default().trim();
        if id.is_empty() {
            continue;
        }
        let id = id.parse().map_err(|error| {
            CliError::Input(format!(
                "--ids-file {name}, line {}: `{id}`: {error}",
                index + 1
            ))
        })?;
        ids.push(id);
    }
    Ok(ids)
}
