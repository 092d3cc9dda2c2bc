//! What a spec change does to the crate's Rust API: which method, argument, type or field of
//! the generated client (and so of the crate's public types) it touches.

use serde_json::Value;

use codearts_repo::checked_types::CHECKED_TYPES;

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
        ["components", "schemas", name, rest @ ..] => {
            let ty = type_name(name);
            match rest {
                ["properties", field, ..] => format!("field `{}` of `{ty}`", snake(field)),
                _ => format!("type `{ty}`"),
            }
        }
        ["paths", path, method, rest @ ..] => {
            let operation = format!("/paths/{path}/{method}");
            let id = lookup(&format!("{operation}/operationId"));
            let method_name = format!("Client::{}", snake(id.as_str().unwrap_or(method)));
            match rest {
                ["parameters", index, ..] => {
                    let parameter = lookup(&format!("{operation}/parameters/{index}"));
                    let name = parameter["name"].as_str().unwrap_or("?");
                    let ty = parameter["schema"]["$ref"]
                        .as_str()
                        .and_then(|r| r.rsplit('/').next())
                        .map(|schema| format!(" (type `{}`)", type_name(schema)))
                        .unwrap_or_default();
                    format!("argument `{}` of `{method_name}`{ty}", argument(name))
                }
                ["responses", status, ..] => format!("the {status} answer of `{method_name}`"),
                [] => format!("method `{method_name}`"),
                _ => format!("`{method_name}`"),
            }
        }
        _ => "no Rust item (document metadata)".to_owned(),
    }
}

fn type_name(schema: &str) -> String {
    if CHECKED_TYPES.contains(&schema) {
        format!("crate::{schema}")
    } else {
        format!("types::{schema}")
    }
}

/// progenitor's names: `ShowLastPushEventInRepository` → `show_last_push_event_in_repository`,
/// `X-Repo-Auth` → `x_repo_auth`, `ref` → `ref_`.
fn argument(name: &str) -> String {
    match snake(name).as_str() {
        "ref" | "type" | "self" => format!("{}_", snake(name)),
        other => other.to_owned(),
    }
}

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
        assert_eq!(argument("X-Repo-Auth"), "x_repo_auth");
        assert_eq!(argument("ref"), "ref_");
        assert_eq!(snake("path_with_namespace"), "path_with_namespace");
    }
}
