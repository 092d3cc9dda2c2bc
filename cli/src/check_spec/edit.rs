//! The spec edit that would describe what the service answered, for one drift: applied to
//! the spec as JSON, so that spec-diff can judge it like any other edit.

use codearts_repo::drift::{Drift, DriftKind};
use serde_json::{Value, json};

/// Applies the edit `drift` calls for to `spec` and says it in words ("add it as an
/// optional property"); `None` when no edit of the spec can say it (nothing is changed).
pub(crate) fn apply(drift: &Drift, spec: &mut Value) -> Option<String> {
    let at = drift.spec_at.strip_prefix('#')?;
    let field = drift.path.rsplit('.').next().unwrap_or_default();
    let schema = spec.pointer_mut(at)?.as_object_mut()?;
    match drift.kind {
        DriftKind::AddedField => {
            let properties = schema
                .entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut()?;
            properties.insert(field.to_owned(), schema_of(drift.seen_type));
            Some("add it as an optional property".into())
        }
        DriftKind::ChangedType if drift.seen_type == "null" => None,
        DriftKind::ChangedType => {
            // The keywords of the old type go with it; what describes the field stays.
            schema.retain(|key, _| matches!(key.as_str(), "description" | "title"));
            schema.extend(schema_of(drift.seen_type).as_object()?.clone());
            Some(format!(
                "change its type from {} to {}",
                drift.expected, drift.seen_type
            ))
        }
        DriftKind::MissingRequired => {
            let required = schema.get_mut("required")?.as_array_mut()?;
            required.retain(|name| name.as_str() != Some(field));
            if required.is_empty() {
                schema.remove("required");
            }
            Some("make it optional (drop it from `required`)".into())
        }
        DriftKind::OutOfRange => {
            let seen: f64 = drift.seen.parse().ok()?;
            let below = schema
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|min| seen <= min);
            let (key, words) = if below {
                ("minimum", "lower its minimum")
            } else {
                ("maximum", "raise its maximum")
            };
            schema.insert(key.to_owned(), number(&drift.seen));
            schema.remove(&format!("exclusive{}", capitalised(key)));
            Some(format!("{words} to {}", drift.seen))
        }
        DriftKind::NotInEnum => {
            let value: Value = serde_json::from_str(&drift.seen).ok()?;
            schema.get_mut("enum")?.as_array_mut()?.push(value);
            Some(format!("add {} to its enum", drift.seen))
        }
        DriftKind::Format => {
            let format = schema.remove("format")?;
            Some(format!(
                "drop `format: {}`",
                format.as_str().unwrap_or_default()
            ))
        }
        DriftKind::Length => {
            let length: u64 = drift.seen.split(' ').next()?.parse().ok()?;
            let below = schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|min| length < min);
            let key = if below { "minLength" } else { "maxLength" };
            schema.insert(key.to_owned(), json!(length));
            Some(format!("set its {key} to {length}"))
        }
        DriftKind::Pattern => {
            schema.remove("pattern")?;
            Some("drop its pattern".into())
        }
        _ => None,
    }
}

/// The schema of a value of JSON type `json_type`, as the spec would write it.
fn schema_of(json_type: &str) -> Value {
    match json_type {
        "array" => json!({"type": "array", "items": {}}),
        "null" => json!({}),
        other => json!({ "type": other }),
    }
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
