//! Printing results: one JSON document, or readable text with control characters escaped
//! (a server's strings must not drive the terminal).

use std::io::Write;

use codearts_repo::{CommitList, PushEvent};
use serde::Serialize;

use crate::{
    args::Format,
    error::{CliError, Result},
};

#[derive(Clone, Copy)]
pub(crate) struct Output {
    format: Format,
}

impl Output {
    pub(crate) fn new(format: Format) -> Self {
        Self { format }
    }

    pub(crate) fn is_json(self) -> bool {
        matches!(self.format, Format::Json)
    }

    pub(crate) fn format(self) -> Format {
        self.format
    }

    pub(crate) fn push_event(self, event: &PushEvent) -> Result<()> {
        if self.is_json() {
            return json(event);
        }
        let repository = event.repository.as_ref();
        let text = [
            (
                "repository_id",
                repository.and_then(|r| r.id).map(|id| id.to_string()),
            ),
            (
                "repository",
                repository.and_then(|r| r.path_with_namespace.clone()),
            ),
            (
                "project_name",
                repository.and_then(|r| r.project_name.clone()),
            ),
            ("ref", event.ref_.clone()),
            (
                "created_at",
                event.created_at.as_ref().map(ToString::to_string),
            ),
        ]
        .iter()
        .map(|(name, value)| format!("{name:<14} {}\n", clean(value.as_deref().unwrap_or("-"))))
        .collect::<String>();
        print(&text)
    }

    pub(crate) fn commits(self, list: &CommitList) -> Result<()> {
        if self.is_json() {
            // As the server sent it: an empty list stays `{"commits": []}` (the generated
            // type leaves an empty list out), so that `jq '.commits[]'` works.
            return json(&serde_json::json!({ "commits": list.commits }));
        }
        print(&commits_table(list))
    }
}

pub(crate) fn commits_table(list: &CommitList) -> String {
    let mut text = format!("{:<12} {:<30} {}\n", "SHA", "AUTHORED_DATE", "MESSAGE");
    for commit in &list.commits {
        let sha: String = commit
            .sha
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(12)
            .collect();
        let message = commit.message.as_deref().unwrap_or("-");
        let first_line = message.lines().next().unwrap_or_default();
        text.push_str(&format!(
            "{:<12} {:<30} {}\n",
            clean(&sha),
            clean(commit.authored_date.as_deref().unwrap_or("-")),
            clean(first_line)
        ));
    }
    if list.commits.is_empty() {
        text.push_str("(no commits)\n");
    }
    text
}

/// Escapes control characters so that what a server sends cannot move the cursor.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
    print(&format!("{text}\n"))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message, any other
/// failure (a full disk) is.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .or_else(quiet_broken_pipe)
}

/// `Ok` for a closed pipe, the command's error for any other failed write.
pub(crate) fn quiet_broken_pipe(error: std::io::Error) -> Result<()> {
    match error.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(CliError::Environment(format!(
            "cannot write the output: {error}"
        ))),
    }
}
