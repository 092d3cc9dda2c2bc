//! `codearts watch`: one JSON line per baseline and new push, errors on stderr.

use std::io::Write;

use codearts_repo::{Client, RepositoryId, WatchItem, WatchOptions};
use serde_json::json;

use crate::error::{CliError, Result};

/// Returns the exit code: 0, or with `--once` the code of the last failed poll (each failure
/// was already printed).
pub(crate) async fn run(
    client: Client,
    options: WatchOptions,
    repositories: Vec<RepositoryId>,
) -> Result<u8> {
    let (_handle, mut stream) = client.watch(options, repositories);
    let mut last_error = None;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            // Ctrl-C ends a watch normally.
            _ = tokio::signal::ctrl_c() => return Ok(0),
        };
        match item {
            None => return Ok(last_error.map_or(0, |error| CliError::from(error).exit_code())),
            Some(WatchItem::Push {
                repository_id,
                event,
                baseline,
            }) => {
                let line = json!({
                    "repository_id": repository_id,
                    "ref": event.ref_,
                    "created_at": event.created_at,
                    "baseline": baseline,
                });
                let mut stdout = std::io::stdout().lock();
                // A closed pipe ends the watch quietly.
                if writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return Ok(0);
                }
            }
            Some(WatchItem::Error {
                repository_id,
                error,
            }) => {
                eprintln!("codearts: repository {repository_id}: {error}");
                last_error = Some(error);
            }
            Some(WatchItem::Recovered { repository_id }) => {
                eprintln!("codearts: repository {repository_id}: answering again");
            }
            // Items a later version of the library may add.
            Some(_) => {}
        }
    }
}
