//! What drift reports as "schema changed", taken apart: fields added and removed, required
//! flags, bounds and enums tightened or loosened, types changed.

use codearts_repo::checked_types::CHECKED_TYPES;
use drift::ChangeDetails::{self, *};
use serde_json::Value;

/// One fine-grained difference, before it is judged for a side.
pub(crate) struct Raw {
    pub(crate) details: ChangeDetails,
    pub(crate) location: String,
    pub(crate) what: String,
    /// In an answer, what the change does to the generated Rust type, when that decides the
    /// verdict rather than the values on the wire: (breaking, why).
    pub(crate) in_answer: Option<(bool, &'static str)>,
}

fn push(out: &mut Vec<Raw>, details: ChangeDetails, location: &str, what: String) {
    out.push(Raw {
        details,
        location: location.to_owned(),
        what,
        in_answer: None,
    });
}

/// `push`, with the verdict the generated Rust type gives the change in an answer.
fn push_rust(
    out: &mut Vec<Raw>,
    details: ChangeDetails,
    location: &str,
    what: String,
    in_answer: (bool, &'static str),
) {
    push(out, details, location, what);
    // The crate's checked types (`RepositoryId`, ...) are not generated: in an answer they
    // check what they read, so the values on the wire decide, as drift's verdict says.
    let checked = location
        .strip_prefix("#/components/schemas/")
        .is_some_and(|name| CHECKED_TYPES.contains(&name.split('/').next().unwrap_or_default()));
    if !checked {
        out.last_mut().expect("just pushed").in_answer = Some(in_answer);
    }
}

/// An answer's `enum` and `format` are kept open (build/generate.rs): the Rust field holds
/// any value sent, and the drift check, not the decoder, says when one goes beyond the spec.
const OPEN_ENUM: (bool, &str) = (
    false,
    "answer enums are kept open: the Rust field is a String whatever the list",
);
const OPEN_FORMAT: (bool, &str) = (
    false,
    "answer formats are kept open: the Rust field's type does not follow the format",
);
const NOW_REQUIRED: (bool, &str) = (true, "the Rust field changes from Option<T> to T");
const NOW_OPTIONAL: (bool, &str) = (true, "the Rust field changes from T to Option<T>");

/// Compares two schemas (already resolved) found at `at`.
pub(crate) fn schema(old: &Value, new: &Value, at: &str, out: &mut Vec<Raw>) {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    if text(old, "type") != text(new, "type") {
        let (a, b) = (
            text(old, "type").unwrap_or("any".into()),
            text(new, "type").unwrap_or("any".into()),
        );
        return push(
            out,
            Datatype,
            at,
            format!("the type changed from {a} to {b}"),
        );
    }
    if text(old, "format") != text(new, "format") {
        let show = |f: Option<String>| f.unwrap_or_else(|| "none".into());
        push_rust(
            out,
            Datatype,
            at,
            format!(
                "the format changed from {} to {}",
                show(text(old, "format")),
                show(text(new, "format"))
            ),
            OPEN_FORMAT,
        );
    }
    bound(old, new, "minimum", true, at, out);
    bound(old, new, "maximum", false, at, out);
    bound(old, new, "minLength", true, at, out);
    bound(old, new, "maxLength", false, at, out);
    bound(old, new, "minItems", true, at, out);
    bound(old, new, "maxItems", false, at, out);
    if old.get("pattern") != new.get("pattern") {
        push(out, UnknownDifference, at, "the pattern changed".into());
    }
    enums(old, new, at, out);
    properties(old, new, at, out);
    if let (Some(a), Some(b)) = (old.get("items"), new.get("items"))
        && a != b
    {
        schema(a, b, &format!("{at}/items"), out);
    }
}

/// A lower bound (`lower`) that rises, or an upper bound that falls or appears, narrows the
/// values; the reverse widens them.
fn bound(old: &Value, new: &Value, key: &str, lower: bool, at: &str, out: &mut Vec<Raw>) {
    let (a, b) = (
        old.get(key).and_then(Value::as_f64),
        new.get(key).and_then(Value::as_f64),
    );
    let stricter = match (a, b) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => (b > a) == lower,
    };
    let show = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let what = format!("{key} changed from {} to {}", show(a), show(b));
    push(
        out,
        if stricter { MoreStrict } else { LessStrict },
        at,
        what,
    );
}

fn enums(old: &Value, new: &Value, at: &str, out: &mut Vec<Raw>) {
    let values = |v: &Value| v.get("enum").and_then(Value::as_array).cloned();
    match (values(old), values(new)) {
        (None, None) => {}
        (Some(_), None) => push_rust(out, LessStrict, at, "the enum was lifted".into(), OPEN_ENUM),
        (None, Some(_)) => push_rust(
            out,
            MoreStrict,
            at,
            "an enum now restricts the values".into(),
            OPEN_ENUM,
        ),
        (Some(a), Some(b)) => {
            if a.iter().any(|v| !b.contains(v)) {
                let what = "enum values were removed".into();
                push_rust(out, MoreStrict, at, what, OPEN_ENUM);
            }
            if b.iter().any(|v| !a.contains(v)) {
                let what = "enum values were added".into();
                push_rust(out, LessStrict, at, what, OPEN_ENUM);
            }
        }
    }
}

fn properties(old: &Value, new: &Value, at: &str, out: &mut Vec<Raw>) {
    let empty = serde_json::Map::new();
    let props = |v: &Value| {
        v.get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    let required = |v: &Value, name: &str| {
        v.get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x == name))
    };
    let (a, b) = (props(old), props(new));
    for (name, old_schema) in &a {
        let here = format!("{at}/properties/{name}");
        match b.get(name) {
            None => push(out, Removed, &here, format!("the field {name} was removed")),
            Some(new_schema) => {
                match (required(old, name), required(new, name)) {
                    (false, true) => push_rust(
                        out,
                        MoreStrict,
                        &here,
                        format!("the field {name} became required"),
                        NOW_REQUIRED,
                    ),
                    (true, false) => push_rust(
                        out,
                        LessStrict,
                        &here,
                        format!("the field {name} became optional"),
                        NOW_OPTIONAL,
                    ),
                    _ => {}
                }
                // A field whose schema is a `$ref` is compared where it points, by drift.
                if old_schema != new_schema && old_schema.get("$ref").is_none() {
                    schema(old_schema, new_schema, &here, out);
                }
            }
        }
    }
    for name in b.keys().filter(|name| !a.contains_key(*name)) {
        let details = if required(new, name) {
            AddedRequired
        } else {
            Added
        };
        push(
            out,
            details,
            &format!("{at}/properties/{name}"),
            format!("the field {name} was added"),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An answer's enum is a String in Rust, so its values change no Rust code; the crate's
    /// own `RepositoryId` is not generated, and reads answers with the spec's values: the
    /// wire's verdict stands.
    #[test]
    fn values_added_to_an_enum_are_judged_by_the_type_that_holds_them() {
        let (old, new) = (json!({"enum": [1, 2]}), json!({"enum": [1, 2, 3]}));
        let judged = |at: &str| {
            let mut out = Vec::new();
            schema(&old, &new, at, &mut out);
            assert_eq!(out.len(), 1, "{at}");
            out.remove(0).in_answer
        };
        assert_eq!(
            judged("#/components/schemas/PushEvent/properties/kind"),
            Some(OPEN_ENUM)
        );
        assert_eq!(judged("#/components/schemas/RepositoryId"), None);
    }
}
