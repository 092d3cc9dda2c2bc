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
    let touched = |prefixes: &[&str]| -> BTreeSet<&str> {
        report
            .changes
            .iter()
            .map(|c| c.rust.as_str())
            .filter(|r| prefixes.iter().any(|p| r.starts_with(p)))
            .collect()
    };
    for (what, prefixes) in [
        ("Operations", &["method", "`Client::", "the "][..]),
        ("Parameters", &["argument"][..]),
        ("Types and fields", &["type", "field"][..]),
    ] {
        let items = touched(prefixes);
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
