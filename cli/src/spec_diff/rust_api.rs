//! What a spec change does to the crate's public Rust API: the method, setter, type or field
//! a caller uses (`Client::commits`, `CommitsRequest::git_ref`, `codearts_repo::PushEvent`),
//! or "not exposed" where the hand-written layer does not offer the item.

use serde_json::Value;

use codearts_repo::{
    checked_types::CHECKED_TYPES,
    public_api::{ANSWER_TYPES, PUBLIC_API},
};

/// The Rust item at `location` (a `#/...` pointer into `new`, or `old` for removals).
pub(crate) fn item(old: &Value, new: &Value, location: &str) -> String {
    let lookup = |pointer: &str| {
        new.pointer(pointer)
            .or_else(|| old.pointer(pointer))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let parts: Vec<&str> = location.trim_start_matches("#/").split('/').collect();
    match parts.as_slice() {
        ["components", "schemas", name, rest @ ..] => match (type_name(name), rest) {
            (Some(ty), ["properties", field, ..]) => {
                format!("field `{}` of `{ty}`", field_name(field))
            }
            (Some(ty), _) => format!("`{ty}`"),
            (None, _) => format!("not exposed (the spec's `{name}` is no public type)"),
        },
        ["paths", path, method, rest @ ..] => {
            let operation = format!("/paths/{path}/{method}");
            let id = lookup(&format!("{operation}/operationId"));
            let id = id.as_str().unwrap_or_default();
            let Some(call) = public(id, None) else {
                return format!("not exposed (operation `{id}` has no method)");
            };
            match rest {
                ["parameters", index, ..] => {
                    let parameter = lookup(&format!("{operation}/parameters/{index}"));
                    let name = parameter["name"].as_str().unwrap_or("?");
                    match public(id, Some(name)) {
                        Some(rust) => format!("`{rust}`"),
                        None => format!("not exposed (`{call}` does not offer `{name}`)"),
                    }
                }
                ["responses", status, ..] => format!("the {status} answer of `{call}`"),
                _ => format!("`{call}`"),
            }
        }
        _ => "no Rust item (document metadata)".to_owned(),
    }
}

/// Where the hand-written layer offers an operation (`parameter: None`) or its parameter.
fn public(operation: &str, parameter: Option<&str>) -> Option<&'static str> {
    PUBLIC_API
        .iter()
        .find(|(op, name, _)| *op == operation && *name == parameter)
        .map(|(_, _, rust)| *rust)
}

/// The public path of a spec schema, when the crate exports it.
fn type_name(schema: &str) -> Option<String> {
    (CHECKED_TYPES.contains(&schema) || ANSWER_TYPES.contains(&schema))
        .then(|| format!("codearts_repo::{schema}"))
}

/// progenitor's field names: `ref` → `ref_` (a keyword), `created_at` as it is.
fn field_name(name: &str) -> String {
    match snake(name).as_str() {
        "ref" | "type" | "self" => format!("{}_", snake(name)),
        other => other.to_owned(),
    }
}

/// Snake case: `ShowLastPushEvent` → `show_last_push_event`, `X-Repo-Auth` → `x_repo_auth`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c == '-' || c == ' ' || c == '_' {
            out.push('_');
            previous_lower = false;
        } else if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_progenitor() {
        assert_eq!(
            snake("ShowLastPushEventInRepository"),
            "show_last_push_event_in_repository"
        );
        assert_eq!(snake("X-Repo-Auth"), "x_repo_auth");
        assert_eq!(field_name("ref"), "ref_");
        assert_eq!(snake("path_with_namespace"), "path_with_namespace");
    }
}
