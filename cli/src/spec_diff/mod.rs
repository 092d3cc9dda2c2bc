//! `codearts spec-diff OLD NEW`: what changed between two versions of the spec, and whether
//! it breaks code that uses this crate. The comparison is drift's; the judgement, from a
//! client's point of view, is ours.

use std::path::Path;

use drift::{ChangeComparison, ChangeDetails};
use serde::Serialize;
use serde_json::Value;

use crate::{
    args::Format,
    error::{CliError, Result},
    output::{self, Output},
};
use version::VersionCheck;

mod markdown;
mod refine;
mod rust_api;
pub(crate) mod version;

/// Where the spec lives in the repository, for `git:REV`.
const SPEC_PATH: &str = "openapi/codearts-repo.yaml";

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Finding {
    /// `breaking` or `compatible`.
    pub(crate) class: &'static str,
    /// `input`, `output` or `structure`.
    side: &'static str,
    /// What kind of change (drift's detail).
    kind: String,
    /// The operation it affects, when drift knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    /// JSON pointer in the new (or, for removals, the old) document.
    location: String,
    /// Why it is classified so, in one line.
    pub(crate) reason: String,
    /// What it touches in the crate's Rust API.
    rust: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    old: String,
    new: String,
    pub(crate) breaking: usize,
    compatible: usize,
    pub(crate) changes: Vec<Finding>,
    /// With `--check-version`: whether the crate's version says what the change does.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<VersionCheck>,
}

/// What to check the change against, from the command line.
pub(crate) struct VersionGate<'a> {
    /// The manifest whose version is the new one.
    pub(crate) manifest: &'a Path,
    /// The old version, when OLD is not a `git:vX.Y.Z` tag.
    pub(crate) old_version: Option<&'a str>,
}

/// Compares the specs named by `old` and `new` (file paths or `git:REV[:PATH]`). The exit
/// code is 1 when something breaks, or, with a version gate, when the version does not say so.
pub(crate) fn run(old: &str, new: &str, gate: Option<VersionGate>, out: Output) -> Result<u8> {
    // Usage errors first, before any comparison.
    let versions = gate
        .map(|gate| {
            let old_version = match gate.old_version {
                Some(text) => semver::Version::parse(text)
                    .map_err(|e| CliError::Input(format!("--old-version `{text}`: {e}")))?,
                None => version::from_tag(old).ok_or_else(|| {
                    CliError::Input(format!(
                        "cannot tell the version of {old}: compare with git:vX.Y.Z or give \
                         --old-version"
                    ))
                })?,
            };
            Ok::<_, CliError>((old_version, version::from_manifest(gate.manifest)?))
        })
        .transpose()?;
    let mut report = diff(old, new)?;
    report.version = versions.map(|(old, new)| version::check(&report, &old, &new));
    match out.format() {
        Format::Json => output::json(&report)?,
        Format::Table => output::print(&table(&report))?,
        Format::Markdown => output::print(&markdown::render(&report))?,
    }
    Ok(match &report.version {
        Some(check) => u8::from(!check.ok),
        None => u8::from(report.breaking > 0),
    })
}

pub(crate) fn diff(old: &str, new: &str) -> Result<Report> {
    compare(old, new, &load(old)?, &load(new)?)
}

/// The report on two specs already read (`old` and `new` name them in it).
pub(crate) fn compare(old: &str, new: &str, old_doc: &Value, new_doc: &Value) -> Result<Report> {
    let mut old_doc = old_doc.clone();
    let moved = follow_moved_operations(&mut old_doc, new_doc);
    let old_doc = &old_doc;
    let changes = drift::compare(old_doc, new_doc)
        .map_err(|e| CliError::Input(format!("cannot compare the specs: {e:#}")))?;
    let mut findings = Vec::new();
    for change in &changes {
        // One schema may be reached as an input and as an output: judge each way.
        for path in &change.paths {
            for info in &change.changes {
                let old_at = pointer(&path.old, &info.old_subpath);
                let new_at = pointer(&path.new, &info.new_subpath);
                let operation = path.new.endpoint_base().or(path.old.endpoint_base());
                let mut refined = Vec::new();
                if matches!(
                    info.details,
                    ChangeDetails::UnknownDifference | ChangeDetails::Datatype
                ) && let (Some(a), Some(b)) =
                    (resolve(old_doc, &old_at), resolve(new_doc, &new_at))
                {
                    refine::schema(a, b, &new_at, &mut refined);
                }
                if refined.is_empty() {
                    let removed = info.details == ChangeDetails::Removed;
                    refined.push(refine::Raw {
                        details: info.details,
                        location: if removed { old_at } else { new_at },
                        what: info.message.trim_end_matches('.').to_owned(),
                        in_answer: None,
                    });
                }
                for raw in refined {
                    let (breaking, why) = raw
                        .in_answer
                        .filter(|_| path.comparison == ChangeComparison::Output)
                        .unwrap_or_else(|| judge(path.comparison, raw.details));
                    findings.push(Finding {
                        rust: rust_api::item(old_doc, new_doc, &raw.location),
                        class: if breaking { "breaking" } else { "compatible" },
                        side: side_name(path.comparison),
                        kind: format!("{:?}", raw.details),
                        operation: operation.map(readable_operation),
                        location: raw.location,
                        reason: format!("{}: {why}", raw.what),
                    });
                }
            }
        }
    }
    findings.extend(moved);
    // A description drift sees as "metadata changed" is listed once, as the prose it is.
    let described = description_changes(old_doc, new_doc);
    findings.retain(|f| {
        f.kind != "Metadata"
            || !described
                .iter()
                .any(|d| d.location.starts_with(&format!("{}/", f.location)))
    });
    findings.extend(described);
    findings.sort();
    findings.dedup();
    Ok(Report {
        old: old.to_owned(),
        new: new.to_owned(),
        breaking: findings.iter().filter(|f| f.class == "breaking").count(),
        compatible: findings.iter().filter(|f| f.class == "compatible").count(),
        changes: findings,
        version: None,
    })
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Each operation's `operationId`, path and method.
fn operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(id) = item[method]["operationId"].as_str() {
                found.push((id.to_owned(), path.clone(), method.to_owned()));
            }
        }
    }
    found
}

/// Operations are matched by `operationId` first, then by method and path (drift's own
/// matching): one whose method or path changed is moved, in OLD, to where NEW has it, so
/// that drift compares it with itself rather than reporting a removal and an addition.
fn follow_moved_operations(old: &mut Value, new: &Value) -> Vec<Finding> {
    let in_new = operations(new);
    let mut found = Vec::new();
    for (id, path, method) in operations(old) {
        let Some((_, new_path, new_method)) = in_new.iter().find(|(other, ..)| *other == id) else {
            continue;
        };
        let taken = old["paths"][new_path.as_str()]
            .get(new_method.as_str())
            .is_some();
        if (new_path, new_method) == (&path, &method) || taken {
            continue;
        }
        let Some(operation) = old["paths"][path.as_str()]
            .as_object_mut()
            .and_then(|item| item.remove(&method))
        else {
            continue;
        };
        old["paths"][new_path.as_str()][new_method.as_str()] = operation;
        let (from, to) = (
            format!("{} {path}", method.to_uppercase()),
            format!("{} {new_path}", new_method.to_uppercase()),
        );
        let location = format!(
            "#/paths/{}/{new_method}",
            new_path.replace('~', "~0").replace('/', "~1")
        );
        found.push(Finding {
            class: "compatible",
            side: "structure",
            kind: "Moved".into(),
            operation: Some(to.clone()),
            rust: rust_api::item(old, new, &location),
            location,
            reason: format!(
                "the operation {id} moved from {from} to {to}: callers keep the same method, \
                 which now calls the new address"
            ),
        });
    }
    found
}

/// `#/components/schemas/X` + `properties/y`.
fn pointer(stack: &drift::JsonPathStack, subpath: &str) -> String {
    match (stack.current_pointer(), subpath) {
        (base, "") => base.to_owned(),
        (base, sub) => format!("{base}/{sub}"),
    }
}

/// The value at a `#/...` pointer, following one `$ref`.
fn resolve<'a>(doc: &'a Value, at: &str) -> Option<&'a Value> {
    let value = doc.pointer(at.strip_prefix('#')?)?;
    match value.get("$ref").and_then(Value::as_str) {
        Some(target) => doc.pointer(target.strip_prefix('#')?),
        None => Some(value),
    }
}

/// `#/paths/~1v4~1repositories~1{repository_id}~1last-push-event/get` → `GET /v4/...`.
fn readable_operation(pointer: &str) -> String {
    let path = pointer.strip_prefix("#/paths/").unwrap_or(pointer);
    match path.rsplit_once('/') {
        Some((route, method)) => {
            format!(
                "{} {}",
                method.to_uppercase(),
                route.replace("~1", "/").replace("~0", "~")
            )
        }
        None => path.to_owned(),
    }
}

/// Breaking for a caller of this crate? Inputs are what the caller sends (parameters,
/// headers): anything newly required or refused breaks calls that worked. Outputs are what
/// the caller reads, as `#[non_exhaustive]` generated types: anything removed, retyped or
/// allowed to hold new values breaks code that relied on it; anything added does not.
/// (`refine` overrules this where the Rust type decides: an enum's values, a field's
/// `Option`.) CONTRIBUTING.md's table of change classes says the same, and
/// `cli/tests/change_classes.rs` holds spec-diff, the gate and cargo-semver-checks to it.
fn judge(side: ChangeComparison, details: ChangeDetails) -> (bool, &'static str) {
    use ChangeComparison::{Input, Output, Structural};
    use ChangeDetails::*;
    match (side, details) {
        (_, Metadata) => (false, "documentation only"),
        (Structural, Added) => (false, "a new operation adds a method and changes no other"),
        (Structural, Removed) => (true, "callers of the removed operation stop compiling"),
        (Input, Added) => (false, "a new optional input can be left out"),
        (Input, AddedRequired) => (true, "every call must now pass a new input"),
        (Input, Removed) => (true, "callers passing it stop compiling"),
        (Input, MoreStrict) => (true, "values that were accepted are now refused"),
        (Input, LessStrict) => (false, "every value accepted before still is"),
        (Output, Added | AddedRequired) => (
            false,
            "callers may ignore what they did not ask for (the answer types are \
             #[non_exhaustive]: no Rust caller builds or destructures them whole)",
        ),
        (Output, Removed) => (true, "code reading it stops compiling or finds nothing"),
        (Output, MoreStrict) => (false, "the service promises narrower values than before"),
        (Output, LessStrict) => (
            true,
            "the service may now send values callers cannot handle",
        ),
        (_, Datatype) => (true, "the Rust type changes"),
        (Structural, _) | (_, UnknownDifference) => {
            (true, "an unclassified difference is treated as breaking")
        }
    }
}

fn side_name(side: ChangeComparison) -> &'static str {
    match side {
        ChangeComparison::Input => "input",
        ChangeComparison::Output => "output",
        ChangeComparison::Structural => "structure",
    }
}

/// drift ignores prose; a reviewer still wants to see it, as a compatible change.
fn description_changes(old: &Value, new: &Value) -> Vec<Finding> {
    fn walk(old: &Value, new: &Value, pointer: String, found: &mut Vec<Finding>) {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, old_value) in a {
                    let Some(new_value) = b.get(key) else {
                        continue;
                    };
                    let here = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    if matches!(key.as_str(), "description" | "summary") && old_value != new_value {
                        found.push(Finding {
                            class: "compatible",
                            side: "structure",
                            kind: "Description".into(),
                            operation: None,
                            location: format!("#{here}"),
                            reason: format!("the {key} changed: documentation only"),
                            rust: String::new(),
                        });
                    } else {
                        walk(old_value, new_value, here, found);
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                // Parameters by their name and location, so that an insertion moves nothing;
                // other lists by position. The pointer is the new document's.
                for (i, y) in b.iter().enumerate() {
                    let x = match parameter_identity(y) {
                        Some(id) => a.iter().find(|x| parameter_identity(x) == Some(id)),
                        None => a.get(i),
                    };
                    if let Some(x) = x {
                        walk(x, y, format!("{pointer}/{i}"), found);
                    }
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(old, new, String::new(), &mut found);
    for finding in &mut found {
        finding.rust = match rust_api::item(old, new, &finding.location) {
            item if item.starts_with('`') || item.starts_with("field") => {
                format!("doc comments of {item}")
            }
            other => other,
        };
    }
    found
}

/// A parameter's identity, `(in, name)`, as OpenAPI defines it.
fn parameter_identity(value: &Value) -> Option<(&str, &str)> {
    Some((value.get("in")?.as_str()?, value.get("name")?.as_str()?))
}

/// Reads a spec from a file or `git:REV[:PATH]`, checks that it is OpenAPI 3.0, and returns
/// it as JSON for drift.
fn load(source: &str) -> Result<Value> {
    let text = match source.strip_prefix("git:") {
        Some(spec) => git_show(spec)?,
        None => std::fs::read_to_string(Path::new(source))
            .map_err(|e| CliError::Input(format!("cannot read {source}: {e}")))?,
    };
    parse(source, &text)
}

/// A spec's text as JSON for drift, once checked to be OpenAPI 3.0.
pub(crate) fn parse(source: &str, text: &str) -> Result<Value> {
    let value: Value = serde_norway::from_str(text)
        .map_err(|e| CliError::Input(format!("{source} is not YAML or JSON: {e}")))?;
    serde_json::from_value::<openapiv3::OpenAPI>(value.clone()).map_err(|e| {
        CliError::Input(format!("{source} is not a valid OpenAPI 3.0 document: {e}"))
    })?;
    Ok(value)
}

fn git_show(spec: &str) -> Result<String> {
    let (rev, path) = spec.split_once(':').unwrap_or((spec, SPEC_PATH));
    if rev.is_empty() || rev.starts_with('-') {
        return Err(CliError::Input(format!(
            "git:{spec}: give a revision, e.g. git:main"
        )));
    }
    crate::git::run(&["show", &format!("{rev}:{path}")])?
        .map_err(|why| CliError::Input(format!("git:{spec}: {why}")))
}

fn table(report: &Report) -> String {
    let mut text = String::new();
    for f in &report.changes {
        let operation = f
            .operation
            .as_deref()
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        text.push_str(&format!(
            "{:<10} {:<9} {operation}{}\n           {}\n           Rust: {}\n",
            f.class, f.side, f.location, f.reason, f.rust
        ));
    }
    text.push_str(&format!(
        "{} breaking, {} compatible change(s) from {} to {}\n",
        report.breaking, report.compatible, report.old, report.new
    ));
    if let Some(check) = &report.version {
        let verdict = if check.ok { "ok" } else { "TOO LOW" };
        text.push_str(&format!("version {verdict}: {}\n", check.message));
    }
    text
}
