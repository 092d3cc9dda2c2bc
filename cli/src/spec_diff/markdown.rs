//! `--output markdown`: the report as a pull-request comment: the verdict as a heading, one
//! table row per change, and what changes in the generated code and the API surface.

use std::collections::BTreeSet;

use super::Report;

pub(crate) fn render(report: &Report) -> String {
    let verdict = match (&report.version, report.breaking) {
        (Some(check), _) if !check.ok => "version too low for a breaking change",
        (_, 0) => "compatible",
        (Some(_), _) => "breaking, and the version says so",
        (None, _) => "breaking",
    };
    let mut text = format!("## Spec diff: {verdict}\n\n");
    text.push_str(&format!(
        "{} breaking, {} compatible change(s) from `{}` to `{}`.\n\n",
        report.breaking, report.compatible, report.old, report.new
    ));
    if let Some(check) = &report.version {
        text.push_str(&format!(
            "**Version** {} → {} (at least {} required): {}\n\n",
            check.old,
            check.new,
            check.required,
            cell(&check.message)
        ));
    }
    if report.changes.is_empty() {
        text.push_str("No change.\n");
        return text;
    }
    text.push_str("| location | change | verdict | why | Rust API |\n");
    text.push_str("| --- | --- | --- | --- | --- |\n");
    for change in &report.changes {
        let location = match &change.operation {
            Some(operation) => format!("{operation}<br>`{}`", change.location),
            None => format!("`{}`", change.location),
        };
        let verdict = if change.class == "breaking" {
            "**breaking**"
        } else {
            "compatible"
        };
        text.push_str(&format!(
            "| {} | {} {} | {verdict} | {} | {} |\n",
            cell(&location),
            change.side,
            cell(&change.kind),
            cell(&change.reason),
            cell(&change.rust)
        ));
    }
    text.push_str("\n### Generated code and API surface\n\n");
    // By the public names of the Rust column: a method of `Client`, an argument or a setter
    // of a request, a type of `codearts_repo`.
    let kind = |rust: &str| {
        if rust.contains("Request::") || rust.contains("(its argument)") {
            "Parameters"
        } else if rust.starts_with("`Client::") {
            "Operations"
        } else if rust.starts_with("`codearts_repo::") {
            "Types and fields"
        } else {
            ""
        }
    };
    let touched = |what: &str| -> BTreeSet<&str> {
        report
            .changes
            .iter()
            .map(|c| c.rust.as_str())
            .filter(|r| kind(r) == what)
            .collect()
    };
    for what in ["Operations", "Parameters", "Types and fields"] {
        let items = touched(what);
        let list = if items.is_empty() {
            "none".to_owned()
        } else {
            items.into_iter().map(cell).collect::<Vec<_>>().join("; ")
        };
        text.push_str(&format!("- {what}: {list}\n"));
    }
    text
}

/// Table-safe text: no pipe or line break may end a cell early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
