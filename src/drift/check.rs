//! One answer's body compared with its schema in a single pass of serde_json's reader: no
//! tree is built, keys are borrowed, and a path is spelled only when something drifted.

use std::{borrow::Cow, fmt};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    DriftKind,
    schema::{EnumValue, Format, Schema, Shape},
};

/// One difference, before the client's log decides whether it is new.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) path: String,
    pub(crate) kind: DriftKind,
    pub(crate) expected: String,
    pub(crate) seen: String,
    pub(crate) seen_type: &'static str,
    pub(crate) at: &'static str,
}

/// Appends to `found` what `body` holds that `schema` does not describe. A body that is not
/// JSON adds nothing: that is a broken answer, which the call reports, not drift.
pub(crate) fn check(schema: &'static Schema, body: &[u8], found: &mut Vec<Found>) {
    let mut reader = serde_json::Deserializer::from_slice(body);
    let _ = Node {
        schema,
        path: &Path::Root,
        found,
    }
    .deserialize(&mut reader);
}

/// Where a value sits, as a JSONPath (`$.repository.id`, `$.commits[*].sha`).
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            // A key is the server's text: control characters escaped, cut at 64.
            Path::Field(parent, name) => {
                let name: String = name.chars().take(64).collect();
                write!(f, "{parent}.{}", name.escape_debug())
            }
            Path::Item(parent) => write!(f, "{parent}[*]"),
        }
    }
}

/// At most this many characters of a value reach a report: enough to recognise it, too few
/// to carry a document.
const EXCERPT: usize = 40;

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

struct Node<'a> {
    schema: &'static Schema,
    path: &'a Path<'a>,
    found: &'a mut Vec<Found>,
}

impl Node<'_> {
    fn drift(&mut self, kind: DriftKind, expected: String, seen: String, seen_type: &'static str) {
        self.found.push(Found {
            path: self.path.to_string(),
            kind,
            expected,
            seen,
            seen_type,
            at: self.schema.at,
        });
    }

    fn changed_type(&mut self, seen: String, seen_type: &'static str) {
        let expected = self.schema.shape.type_name().to_owned();
        self.drift(DriftKind::ChangedType, expected, seen, seen_type);
    }

    fn listed(
        &mut self,
        is: impl Fn(&EnumValue) -> bool,
        seen: &dyn Fn() -> String,
        seen_type: &'static str,
    ) {
        let Some(values) = self.schema.one_of else {
            return;
        };
        if !values.iter().any(is) {
            let listed: Vec<String> = values.iter().map(show_value).collect();
            let expected = format!("one of {}", listed.join(", "));
            self.drift(DriftKind::NotInEnum, expected, seen(), seen_type);
        }
    }

    fn text(&mut self, text: &str) {
        let Shape::String {
            min_length,
            max_length,
            pattern,
            format,
        } = self.schema.shape
        else {
            if matches!(self.schema.shape, Shape::Any) {
                return;
            }
            return self.changed_type(format!("{:?}", excerpt(text)), "string");
        };
        let seen = || format!("{:?}", excerpt(text));
        self.listed(
            |v| matches!(v, EnumValue::Text(t) if *t == text),
            &seen,
            "string",
        );
        if min_length.is_some() || max_length.is_some() {
            let length = text.chars().count() as f64;
            if min_length.is_some_and(|min| length < min)
                || max_length.is_some_and(|max| length > max)
            {
                let show = |n: Option<f64>| n.map_or("any".to_owned(), |n| n.to_string());
                let expected = format!("{} to {} characters", show(min_length), show(max_length));
                self.drift(
                    DriftKind::Length,
                    expected,
                    format!("{length} characters"),
                    "string",
                );
            }
        }
        if let Some(pattern) = pattern
            && regex_lite::Regex::new(pattern).is_ok_and(|p| !p.is_match(text))
        {
            self.drift(
                DriftKind::Pattern,
                format!("matching `{pattern}`"),
                seen(),
                "string",
            );
        }
        let conforms = match format {
            Some(Format::DateTime) => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            Some(Format::Date) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !conforms {
            let expected = format!("format {}", format.map_or("", Format::name));
            self.drift(DriftKind::Format, expected, seen(), "string");
        }
    }

    fn number(&mut self, value: f64, integral: bool, seen: String) {
        let seen_type = if integral { "integer" } else { "number" };
        let Shape::Number {
            integer,
            minimum,
            maximum,
            exclusive_minimum,
            exclusive_maximum,
            format,
        } = self.schema.shape
        else {
            if matches!(self.schema.shape, Shape::Any) {
                return;
            }
            return self.changed_type(seen, seen_type);
        };
        if integer && !integral {
            return self.changed_type(seen, seen_type);
        }
        self.listed(
            |v| matches!(v, EnumValue::Number(n) if *n == value),
            &|| seen.clone(),
            seen_type,
        );
        let below = minimum.is_some_and(|min| value < min || (exclusive_minimum && value == min));
        let above = maximum.is_some_and(|max| value > max || (exclusive_maximum && value == max));
        if below || above {
            let show = |n: Option<f64>, exclusive: bool, side: &str| match n {
                Some(n) if exclusive => format!("{side} {n} (excluded)"),
                Some(n) => format!("{side} {n}"),
                None => format!("{side} none"),
            };
            let expected = format!(
                "{}, {}",
                show(minimum, exclusive_minimum, "minimum"),
                show(maximum, exclusive_maximum, "maximum")
            );
            self.drift(DriftKind::OutOfRange, expected, seen.clone(), seen_type);
        }
        let fits = match format {
            Some(Format::Int32) => (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&value),
            Some(Format::Int64) => {
                (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&value)
            }
            Some(Format::Float) => value.abs() <= f64::from(f32::MAX),
            _ => true,
        };
        if !fits {
            let expected = format!("format {}", format.map_or("", Format::name));
            self.drift(DriftKind::Format, expected, seen, seen_type);
        }
    }
}

fn show_value(value: &EnumValue) -> String {
    match value {
        EnumValue::Text(text) => format!("{text:?}"),
        EnumValue::Number(n) => n.to_string(),
        EnumValue::Bool(b) => b.to_string(),
        EnumValue::Null => "null".to_owned(),
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(mut self, value: bool) -> Result<(), E> {
        match self.schema.shape {
            Shape::Boolean => self.listed(
                |v| matches!(v, EnumValue::Bool(b) if *b == value),
                &|| value.to_string(),
                "boolean",
            ),
            Shape::Any => {}
            _ => self.changed_type(value.to_string(), "boolean"),
        }
        Ok(())
    }

    fn visit_i64<E>(mut self, value: i64) -> Result<(), E> {
        self.number(value as f64, true, value.to_string());
        Ok(())
    }

    fn visit_u64<E>(mut self, value: u64) -> Result<(), E> {
        self.number(value as f64, true, value.to_string());
        Ok(())
    }

    fn visit_f64<E>(mut self, value: f64) -> Result<(), E> {
        // `1.0` is not what an integer field's generated type reads: a number.
        self.number(value, false, value.to_string());
        Ok(())
    }

    fn visit_str<E>(mut self, value: &str) -> Result<(), E> {
        self.text(value);
        Ok(())
    }

    fn visit_unit<E>(mut self) -> Result<(), E> {
        match self.schema.shape {
            Shape::Any => {}
            _ if self
                .schema
                .one_of
                .is_some_and(|v| v.iter().any(|v| matches!(v, EnumValue::Null))) => {}
            _ => self.changed_type("null".to_owned(), "null"),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        let Shape::Array(item) = self.schema.shape else {
            if !matches!(self.schema.shape, Shape::Any) {
                self.changed_type("[…]".to_owned(), "array");
            }
            while items.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let path = Path::Item(self.path);
        while items
            .next_element_seed(Node {
                schema: item,
                path: &path,
                found: self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut fields: A) -> Result<(), A::Error> {
        let Shape::Object {
            properties,
            required,
        } = self.schema.shape
        else {
            if !matches!(self.schema.shape, Shape::Any) {
                self.changed_type("{…}".to_owned(), "object");
            }
            while fields.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        // Which required fields were seen (no allocation when none is required).
        let mut present = vec![false; required.len()];
        while let Some(Key(name)) = fields.next_key::<Key>()? {
            let path = Path::Field(self.path, &name);
            match properties.iter().position(|(known, _)| *known == name) {
                Some(index) => {
                    if let Some(seen) = required.iter().position(|r| *r == name) {
                        present[seen] = true;
                    }
                    fields.next_value_seed(Node {
                        schema: &properties[index].1,
                        path: &path,
                        found: self.found,
                    })?;
                }
                None => {
                    // Rare, so the value may be read whole: its type and a short excerpt.
                    let value: serde_json::Value = fields.next_value()?;
                    let seen_type = json_type(&value);
                    let seen = match &value {
                        // A field the spec does not know may hold anything, a secret
                        // included: its length, never its text.
                        serde_json::Value::String(text) => {
                            format!("a string of {} characters", text.chars().count())
                        }
                        serde_json::Value::Array(_) => "[…]".to_owned(),
                        serde_json::Value::Object(_) => "{…}".to_owned(),
                        other => other.to_string(),
                    };
                    self.found.push(Found {
                        path: path.to_string(),
                        kind: DriftKind::AddedField,
                        expected: "no such field".to_owned(),
                        seen,
                        seen_type,
                        at: self.schema.at,
                    });
                }
            }
        }
        for (name, seen) in required.iter().zip(present) {
            if !seen {
                let path = Path::Field(self.path, name);
                self.found.push(Found {
                    path: path.to_string(),
                    kind: DriftKind::MissingRequired,
                    expected: "required".to_owned(),
                    seen: "absent".to_owned(),
                    seen_type: "absent",
                    at: self.schema.at,
                });
            }
        }
        Ok(())
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_f64() => "number",
        serde_json::Value::Number(_) => "integer",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A field's name, borrowed from the body unless it holds an escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(reader: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name.to_owned())))
            }
        }
        reader.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::{Found, check};
    use crate::drift::{
        DriftKind::{self, *},
        schema::{EnumValue, Format, Schema, Shape},
    };

    const fn text(at: &'static str) -> Schema {
        Schema {
            at,
            one_of: None,
            shape: Shape::String {
                min_length: None,
                max_length: None,
                pattern: None,
                format: None,
            },
        }
    }

    /// Every keyword the check honours, on a spec-like event: `kind` an enum, `name` a length
    /// and a pattern, `at` a date-time, `id` an int32 from 1, `tags` an array; `kind` and
    /// `id` required.
    static EVENT: Schema = Schema {
        at: "#/components/schemas/Event",
        one_of: None,
        shape: Shape::Object {
            properties: &[
                (
                    "kind",
                    Schema {
                        at: "#/components/schemas/Event/properties/kind",
                        one_of: Some(&[EnumValue::Text("push"), EnumValue::Text("tag_push")]),
                        shape: Shape::String {
                            min_length: None,
                            max_length: None,
                            pattern: None,
                            format: None,
                        },
                    },
                ),
                (
                    "name",
                    Schema {
                        at: "#/components/schemas/Event/properties/name",
                        one_of: None,
                        shape: Shape::String {
                            min_length: Some(1.0),
                            max_length: Some(5.0),
                            pattern: Some("^[a-z]+$"),
                            format: None,
                        },
                    },
                ),
                (
                    "at",
                    Schema {
                        at: "#/components/schemas/Event/properties/at",
                        one_of: None,
                        shape: Shape::String {
                            min_length: None,
                            max_length: None,
                            pattern: None,
                            format: Some(Format::DateTime),
                        },
                    },
                ),
                (
                    "id",
                    Schema {
                        at: "#/components/schemas/Id",
                        one_of: None,
                        shape: Shape::Number {
                            integer: true,
                            minimum: Some(1.0),
                            maximum: None,
                            exclusive_minimum: false,
                            exclusive_maximum: false,
                            format: Some(Format::Int32),
                        },
                    },
                ),
                (
                    "tags",
                    Schema {
                        at: "#/components/schemas/Event/properties/tags",
                        one_of: None,
                        shape: Shape::Array(&text(
                            "#/components/schemas/Event/properties/tags/items",
                        )),
                    },
                ),
            ],
            required: &["kind", "id"],
        },
    };

    fn drift(body: &str) -> Vec<(DriftKind, String, String)> {
        let mut found = Vec::new();
        check(&EVENT, body.as_bytes(), &mut found);
        found
            .into_iter()
            .map(
                |Found {
                     kind, path, seen, ..
                 }| (kind, path, seen),
            )
            .collect()
    }

    #[test]
    fn a_conforming_answer_has_no_drift() {
        let body = r#"{"kind":"push","name":"abc","at":"2025-06-19T21:27:31.000+08:00","id":2147483647,"tags":["a","b"]}"#;
        assert_eq!(drift(body), []);
    }

    #[test]
    fn each_kind_is_found_at_its_json_path() {
        let body = r#"{"kind":"merge","name":"ABCDEFG","at":"Fix all the bugs","id":0,"tags":["a",7],"user_name":"alice"}"#;
        let found = drift(body);
        let expected = [
            (NotInEnum, "$.kind", "\"merge\""),
            (Length, "$.name", "7 characters"),
            (Pattern, "$.name", "\"ABCDEFG\""),
            (Format, "$.at", "\"Fix all the bugs\""),
            (OutOfRange, "$.id", "0"),
            (ChangedType, "$.tags[*]", "7"),
            (AddedField, "$.user_name", "a string of 5 characters"),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(k, p, s)| (*k, p.to_string(), s.to_string()))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_missing_required_field_and_a_changed_type_are_drift() {
        let found = drift(r#"{"id":"12","tags":{"a":1}}"#);
        let kinds: Vec<_> = found.iter().map(|(k, p, _)| (*k, p.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (ChangedType, "$.id"),
                (ChangedType, "$.tags"),
                (MissingRequired, "$.kind")
            ]
        );
    }

    /// int32 is a range of its own, and `1.0` is not what an integer field reads.
    #[test]
    fn integer_formats_and_fractions_are_checked() {
        let found = drift(r#"{"kind":"push","id":2147483648}"#);
        assert_eq!(
            found,
            [(Format, "$.id".to_owned(), "2147483648".to_owned())]
        );
        let found = drift(r#"{"kind":"push","id":1.0}"#);
        assert_eq!(found, [(ChangedType, "$.id".to_owned(), "1".to_owned())]);
    }

    /// A field the spec does not know is reported by its length, never its text (it may be
    /// a secret); a known field's value is an excerpt, never a whole document.
    #[test]
    fn values_are_cut_to_an_excerpt_and_unknown_strings_never_shown() {
        let secret = "s3cr3t-".repeat(1_000);
        let found = drift(&format!(r#"{{"kind":"push","id":1,"token":"{secret}"}}"#));
        let (_, _, seen) = &found[0];
        assert_eq!(seen, "a string of 7000 characters");
        let long = "x".repeat(10_000);
        let found = drift(&format!(r#"{{"kind":"push","id":"{long}"}}"#));
        let (_, _, seen) = &found[0];
        assert!(seen.chars().count() <= 43, "{seen}");
    }

    /// Not JSON is the call's error, not drift; escaped keys are still read.
    #[test]
    fn broken_bodies_add_nothing_and_escaped_keys_are_read() {
        assert_eq!(drift("<html>"), []);
        let found = drift(r#"{"kind":"push","id":1,"us\u0065r":true}"#);
        assert_eq!(
            found,
            [(AddedField, "$.user".to_owned(), "true".to_owned())]
        );
    }
}
