//! `codearts check-spec`: calls each operation a few times and says, in spec-diff's words,
//! where the answers go beyond the spec, with the edit that would describe them and that
//! edit's verdict. It only reads; `--write-spec` writes the edited spec for review.

mod edit;

use codearts_repo::{Client, Error, drift::Drift};
use serde::Serialize;
use serde_json::Value;

use crate::{
    args::{CheckSpecArgs, Format},
    error::{CliError, Result},
    output::{self, clean},
    spec_diff,
};

/// Where the command's own spec is said to come from in reports.
const SPEC_NAME: &str = "the spec (openapi/codearts-repo.yaml)";

#[derive(Debug, Serialize)]
struct Report {
    /// True when every answer matched the spec.
    conforms: bool,
    /// Answers read per operation, and calls whose answer failed to decode.
    calls: Vec<Calls>,
    differences: Vec<Difference>,
    /// True when the service answered more kinds of drift than the client keeps: only the
    /// first are in `differences`.
    truncated: bool,
}

#[derive(Debug, Serialize)]
struct Calls {
    operation: &'static str,
    answered: u32,
    undecodable: u32,
}

#[derive(Debug, Serialize)]
struct Difference {
    /// The spec's schema that holds the field (`PushEvent`), else the operation.
    schema: String,
    operation: &'static str,
    path: String,
    kind: &'static str,
    /// What the spec says there.
    expected: String,
    /// What the service answered (its JSON type, and an excerpt).
    seen: String,
    seen_type: &'static str,
    times: u64,
    spec_at: &'static str,
    /// The spec edit that would describe it, if one can.
    edit: Option<String>,
    /// That edit's verdict from spec-diff: `breaking` or `compatible`.
    verdict: Option<&'static str>,
    /// spec-diff's reasons for the verdict.
    reasons: Vec<String>,
}

pub(crate) async fn run(client: Client, args: &CheckSpecArgs) -> Result<u8> {
    let mut calls = Vec::new();
    if !args.repository_ids.is_empty() {
        let mut tally = Calls::new("ShowLastPushEventInRepository");
        for id in &args.repository_ids {
            for _ in 0..args.calls {
                tally.count(client.last_push_event(*id).await)?;
            }
        }
        calls.push(tally);
    }
    if let (Some(namespace), Some(project)) = (&args.namespace, &args.project) {
        let mut tally = Calls::new("ListCommits");
        for _ in 0..args.calls {
            let mut request = client.commits(namespace, project);
            if let Some(git_ref) = &args.git_ref {
                request = request.git_ref(git_ref);
            }
            if let Some(name) = &args.repo_auth {
                request = request.repo_auth(name);
            }
            tally.count(request.send().await)?;
        }
        calls.push(tally);
    }
    let spec = spec_diff::parse(SPEC_NAME, codearts_repo::OPENAPI_SPEC)?;
    let drift = client.drift();
    let mut edited = spec.clone();
    let differences = drift
        .iter()
        .map(|d| {
            // The edit judged alone, then added to the spec --write-spec writes.
            edit::apply(d, &mut edited);
            difference(d, &spec)
        })
        .collect::<Result<Vec<_>>>()?;
    // An answer this client cannot read is out of date however little the check could name.
    let unreadable = calls.iter().any(|c| c.undecodable > 0);
    let report = Report {
        conforms: differences.is_empty() && !unreadable,
        calls,
        differences,
        truncated: client.drift_truncated(),
    };
    match args.output {
        Format::Json => output::json(&report)?,
        Format::Table => output::print(&table(&report))?,
        Format::Markdown => output::print(&markdown(&report))?,
    }
    if let Some(path) = &args.write_spec {
        if report.conforms {
            say!(
                "the answers conform to the spec: nothing written to {}",
                path.display()
            );
        } else {
            let text = serde_norway::to_string(&edited)
                .map_err(|e| CliError::Environment(format!("cannot write the spec: {e}")))?;
            std::fs::write(path, text)
                .map_err(|e| CliError::Input(format!("cannot write {}: {e}", path.display())))?;
            say!(
                "the spec with the suggested edits is in {}: review it with `codearts spec-diff \
                 openapi/codearts-repo.yaml {}` (comments are not kept)",
                path.display(),
                path.display()
            );
            if report.truncated {
                say!(
                    "it has the edits of the kinds listed only: the service answered more than \
                     a client keeps; check again once the spec has these"
                );
            }
        }
    }
    Ok(u8::from(!report.conforms))
}

impl Calls {
    fn new(operation: &'static str) -> Self {
        Self {
            operation,
            answered: 0,
            undecodable: 0,
        }
    }

    /// An answer that does not decode is drift too (the check has seen why); any other
    /// failure means the service was not reached as asked, and nothing can be judged.
    fn count<T>(&mut self, result: std::result::Result<T, Error>) -> Result<()> {
        match result {
            Ok(_) => self.answered += 1,
            Err(Error::Decode { .. }) => {
                self.answered += 1;
                self.undecodable += 1;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

fn difference(drift: &Drift, spec: &Value) -> Result<Difference> {
    let mut alone = spec.clone();
    let edit = edit::apply(drift, &mut alone);
    let (verdict, reasons) = match &edit {
        Some(_) => {
            let report = spec_diff::compare(SPEC_NAME, "the edited spec", spec, &alone)?;
            let verdict = if report.breaking > 0 {
                "breaking"
            } else {
                "compatible"
            };
            let reasons = report
                .changes
                .iter()
                .filter(|c| c.class == verdict)
                .map(|c| c.reason.clone())
                .collect();
            (Some(verdict), reasons)
        }
        None => (None, Vec::new()),
    };
    let schema = drift
        .spec_at
        .strip_prefix("#/components/schemas/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(drift.operation)
        .to_owned();
    Ok(Difference {
        schema,
        operation: drift.operation,
        path: drift.path.clone(),
        kind: drift.kind.name(),
        expected: drift.expected.clone(),
        seen: drift.seen.clone(),
        seen_type: drift.seen_type,
        times: drift.times,
        spec_at: drift.spec_at,
        edit,
        verdict,
        reasons,
    })
}

impl Difference {
    /// "PushEvent: the service answers `user_name` (string), which the spec lacks: add it as
    /// an optional property — compatible".
    fn sentence(&self) -> String {
        let field = self.path.rsplit('.').next().unwrap_or_default();
        let what = match self.kind {
            "added_field" => format!(
                "the service answers `{field}` ({}), which the spec lacks",
                self.seen_type
            ),
            "missing_required" => format!(
                "the service leaves out `{}`, which the spec requires",
                self.path
            ),
            _ => format!(
                "the service answers {} ({}) at `{}`, where the spec says {}",
                self.seen, self.seen_type, self.path, self.expected
            ),
        };
        let edit = match (&self.edit, self.verdict) {
            (Some(edit), Some(verdict)) => format!("{edit} — {verdict}"),
            _ => "no spec edit can say this".to_owned(),
        };
        clean(&format!("{}: {what}: {edit}", self.schema))
    }
}

fn table(report: &Report) -> String {
    let mut text = String::new();
    for difference in &report.differences {
        text.push_str(&format!(
            "{}\n    {} answer(s); edit at {}\n",
            difference.sentence(),
            difference.times,
            difference.spec_at
        ));
    }
    text.push_str(&summary(report));
    text.push('\n');
    text
}

fn summary(report: &Report) -> String {
    let answers: Vec<String> = report
        .calls
        .iter()
        .map(|c| match c.undecodable {
            0 => format!("{} answer(s) of {}", c.answered, c.operation),
            n => format!(
                "{} answer(s) of {} ({n} not readable by this client)",
                c.answered, c.operation
            ),
        })
        .collect();
    let answers = answers.join(", ");
    let verdict = match (report.conforms, report.differences.len()) {
        (true, _) => format!("the answers conform to the spec: {answers}"),
        (false, 0) => format!("the spec is out of date: {answers}"),
        (false, n) => format!("the spec is out of date: {n} difference(s) in {answers}"),
    };
    match report.truncated {
        false => verdict,
        true => format!(
            "{verdict}; the service answered more kinds of drift than a client keeps, and \
             only the first are listed"
        ),
    }
}

/// A table cell of text the service may have chosen: each ASCII punctuation character is
/// escaped (CommonMark allows it for all of them), so no link, image or emphasis renders.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in clean(text).chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A table cell holding `text` as a code span: fenced by more backticks than any run in it,
/// padded when it starts or ends with one, `|` escaped as GFM tables need even in code.
fn code_cell(text: &str) -> String {
    let text = clean(text).replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = match text.starts_with('`') || text.ends_with('`') {
        true => " ",
        false => "",
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn markdown(report: &Report) -> String {
    let verdict = if report.conforms {
        "the answers conform"
    } else {
        "out of date"
    };
    let mut text = format!("## Spec check: {verdict}\n\n{}.\n", summary(report));
    if report.conforms {
        return text;
    }
    text.push_str("\n| schema | answer path | the service answers | the spec says | suggested edit | verdict |\n");
    text.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for d in &report.differences {
        let verdict = match d.verdict {
            Some("breaking") => "**breaking**",
            Some(verdict) => verdict,
            None => "-",
        };
        text.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} | {verdict} |\n",
            cell(&d.schema),
            code_cell(&d.path),
            cell(&d.seen),
            d.seen_type,
            cell(&d.expected),
            cell(d.edit.as_deref().unwrap_or("no spec edit can say this")),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the service sends cannot end a code span or render as markdown in a report
    /// meant for a pull request.
    #[test]
    fn markdown_cells_of_the_services_text_render_as_text() {
        assert_eq!(code_cell("a.b"), "`a.b`");
        assert_eq!(code_cell("a`b"), "``a`b``");
        assert_eq!(code_cell("`x``"), "``` `x`` ```");
        assert_eq!(code_cell("a|b"), "`a\\|b`");
        assert_eq!(
            cell("![x](http://t/p)"),
            "\\!\\[x\\]\\(http\\:\\/\\/t\\/p\\)"
        );
        assert_eq!(
            cell("a string of 40 characters"),
            "a string of 40 characters"
        );
        assert_eq!(cell("line\nbreak|"), "line\\\\nbreak\\|");
    }
}
