//! `ServerConfig::drift`: answers that go beyond the spec in one chosen way, found from the
//! spec's own compiled schema (src/drift/schema.rs), so that each stays drift whatever the
//! spec says next.

use std::{fmt, str::FromStr};

use serde_json::Value;

use crate::drift::schema::{OPERATION_IDS, Schema, Shape, answer_schema};

/// One kind of drift the server can answer with, on every success of both operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerDrift {
    /// A field the spec does not have (`user_name` in the answer's object).
    AddedField,
    /// A value its field's `enum` does not list.
    EnumValue,
    /// A number past its field's `maximum` (or below its `minimum`).
    OutOfRange,
    /// A string field answered as a number.
    ChangedType,
    /// A required field left out.
    MissingRequired,
    /// A value that is not of its field's `format` (a date that is not one).
    Format,
}

impl AnswerDrift {
    /// Every kind, in the order of `--drift`'s help.
    pub const ALL: [AnswerDrift; 6] = [
        AnswerDrift::AddedField,
        AnswerDrift::EnumValue,
        AnswerDrift::OutOfRange,
        AnswerDrift::ChangedType,
        AnswerDrift::MissingRequired,
        AnswerDrift::Format,
    ];

    /// Its name on the command line: `added-field`, `enum-value`, ...
    pub fn name(self) -> &'static str {
        match self {
            AnswerDrift::AddedField => "added-field",
            AnswerDrift::EnumValue => "enum-value",
            AnswerDrift::OutOfRange => "out-of-range",
            AnswerDrift::ChangedType => "changed-type",
            AnswerDrift::MissingRequired => "missing-required",
            AnswerDrift::Format => "format",
        }
    }

    /// Whether some answer of the spec has a place for this kind: an `enum`, a range, a
    /// string, a required field, a `format`. `Server::start` refuses one that has none.
    pub fn possible(self) -> bool {
        OPERATION_IDS
            .iter()
            .filter_map(|operation| answer_schema(operation))
            .any(|answer| find(&answer.schema, &mut |s| self.fits(s)).is_some())
    }

    fn fits(self, schema: &Schema) -> bool {
        match (self, &schema.shape) {
            (AnswerDrift::AddedField, Shape::Object { .. }) => true,
            (AnswerDrift::EnumValue, _) => schema.one_of.is_some(),
            (
                AnswerDrift::OutOfRange,
                Shape::Number {
                    minimum, maximum, ..
                },
            ) => minimum.is_some() || maximum.is_some(),
            (AnswerDrift::ChangedType, Shape::String { .. }) => true,
            (AnswerDrift::MissingRequired, Shape::Object { required, .. }) => !required.is_empty(),
            (AnswerDrift::Format, Shape::String { format, .. }) => format.is_some(),
            _ => false,
        }
    }

    /// Rewrites a conforming answer of `operation_id` (progenitor's name) into one with
    /// this drift, where its schema has a place for it.
    pub(crate) fn apply(self, operation_id: &str, body: &mut Value) {
        let Some(answer) = answer_schema(operation_id) else {
            return;
        };
        let Some(path) = find(&answer.schema, &mut |s| self.fits(s)) else {
            return;
        };
        // The first element of each array on the way, if the answer has one.
        let Some((schema, value)) = follow(&answer.schema, body, &path) else {
            return;
        };
        match (self, &schema.shape) {
            (AnswerDrift::AddedField, _) => {
                if let Value::Object(fields) = value {
                    fields.insert("user_name".into(), Value::from("drift"));
                }
            }
            (AnswerDrift::EnumValue, _) => *value = Value::from("not-in-the-spec"),
            (
                AnswerDrift::OutOfRange,
                Shape::Number {
                    minimum, maximum, ..
                },
            ) => {
                *value = match (maximum, minimum) {
                    (Some(max), _) => Value::from(*max as i64 + 1),
                    (None, Some(min)) => Value::from(*min as i64 - 1),
                    (None, None) => return,
                }
            }
            (AnswerDrift::ChangedType, _) => *value = Value::from(42),
            (AnswerDrift::MissingRequired, Shape::Object { required, .. }) => {
                if let Value::Object(fields) = value {
                    fields.remove(required[0]);
                }
            }
            (AnswerDrift::Format, _) => *value = Value::from("Fix all the bugs"),
            _ => {}
        }
    }
}

impl fmt::Display for AnswerDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnswerDrift {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown drift `{text}`: one of {}", names.join(", "))
            })
    }
}

/// A step from a schema to one inside it.
#[derive(Clone, Copy)]
enum Step {
    Field(&'static str),
    Item,
}

/// The steps to the first schema (depth first, in the spec's order) that `wanted` accepts.
fn find(schema: &'static Schema, wanted: &mut dyn FnMut(&Schema) -> bool) -> Option<Vec<Step>> {
    if wanted(schema) {
        return Some(Vec::new());
    }
    let mut inside = |step: Step, schema: &'static Schema| {
        find(schema, wanted).map(|mut path| {
            path.insert(0, step);
            path
        })
    };
    match &schema.shape {
        Shape::Object { properties, .. } => properties
            .iter()
            .find_map(|(name, property)| inside(Step::Field(name), property)),
        Shape::Array(items) => inside(Step::Item, items),
        _ => None,
    }
}

/// The schema and the value at `path`, when the answer has a value there.
fn follow<'v>(
    schema: &'static Schema,
    value: &'v mut Value,
    path: &[Step],
) -> Option<(&'static Schema, &'v mut Value)> {
    let Some((step, rest)) = path.split_first() else {
        return Some((schema, value));
    };
    match (step, &schema.shape, value) {
        (Step::Field(name), Shape::Object { properties, .. }, Value::Object(fields)) => {
            let (_, inner) = properties.iter().find(|(known, _)| known == name)?;
            follow(inner, fields.get_mut(*name)?, rest)
        }
        (Step::Item, Shape::Array(items), Value::Array(values)) => {
            follow(items, values.first_mut()?, rest)
        }
        _ => None,
    }
}
