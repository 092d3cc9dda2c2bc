//! The checked parameters' rules come from the spec: `$OUT_DIR/constraints.rs` holds one
//! `const` per checked type, read from its schema in `components/schemas`, which
//! `src/params/rules.rs` enforces. Every other keyword of every schema progenitor sees must
//! be one this file knows, or the build fails: a constraint the client silently skipped
//! would be a lie of the spec. Shared by build.rs and tests/build_errors.rs.

use std::{fmt::Write, fs};

use serde_norway::{Mapping, Value};

include!("checked_types.rs");

/// What the crate's own type is, for each entry of `CHECKED_TYPES`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A checked string parameter: its spec constraints are enforced.
    Text,
    /// `RepositoryId`, a `u32`: its range and enum are enforced.
    Integer,
    /// A string kept as the server sent it (`Timestamp`): no constraint may apply.
    Response,
}

const KINDS: [(&str, Kind); 7] = [
    ("RepositoryId", Kind::Integer),
    ("Timestamp", Kind::Response),
    ("ProjectId", Kind::Text),
    ("Namespace", Kind::Text),
    ("ProjectPath", Kind::Text),
    ("GitRef", Kind::Text),
    ("RepoAuth", Kind::Text),
];

/// Never change what a value means; every schema may carry them.
const ANNOTATIONS: [&str; 3] = ["description", "title", "example"];
/// What progenitor turns into types without refusing any value of the right shape.
const STRUCTURAL: [&str; 6] = ["type", "format", "properties", "required", "items", "$ref"];
/// Allowed on any schema only because `enum` shapes a generated type (progenitor makes an
/// enum of it), which is structure, not a check.
const SHAPES: [&str; 1] = ["enum"];
/// JSON Schema's validation keywords: only checked parameter types may carry them.
const CONSTRAINTS: [&str; 13] = [
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];
const TEXT_RULES: [&str; 4] = ["minLength", "maxLength", "pattern", "enum"];
const INTEGER_RULES: [&str; 5] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
];

/// The rules of one checked parameter type, as the spec states them.
#[derive(Debug, PartialEq, Eq)]
pub enum Rules {
    Text {
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<String>,
        one_of: Option<Vec<String>>,
    },
    Integer {
        minimum: u32,
        maximum: u32,
        one_of: Option<Vec<u32>>,
    },
}

/// Checks every schema of the spec at `path` and returns the text of `constraints.rs`; the
/// error names the file, the schema (a JSON pointer) and the keyword.
pub fn constraints(path: &str) -> Result<String, String> {
    let fail = |what: String| format!("{path}: {what}");
    let text = fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    // The document's shape first, with generate.rs's words, so that a document that is not
    // OpenAPI is said to be so rather than to lack a checked type.
    let invalid = |e: serde_norway::Error| fail(format!("not a valid OpenAPI 3.0 document: {e}"));
    serde_norway::from_str::<openapiv3::OpenAPI>(&text).map_err(invalid)?;
    let spec: Value = serde_norway::from_str(&text).map_err(invalid)?;
    let rules = rules(&spec).map_err(fail)?;
    Ok(render(&rules))
}

/// The rules of each checked parameter type, in `CHECKED_TYPES` order, once every schema
/// has been checked; the error is `pointer: problem`.
pub fn rules(spec: &Value) -> Result<Vec<(&'static str, Rules)>, String> {
    let schemas = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_mapping);
    let mut rules = Vec::new();
    for name in CHECKED_TYPES {
        let kind = KINDS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                format!("build/constraints.rs does not know what the crate's `{name}` holds: add it to KINDS")
            })?;
        let pointer = format!("#/components/schemas/{}", escape(name));
        let schema = schemas.and_then(|s| s.get(name)).ok_or_else(|| {
            format!("{pointer}: missing, but `{name}` is a checked type (build/checked_types.rs)")
        })?;
        if let Some(found) = read(&pointer, schema, kind)? {
            rules.push((name, found));
        }
    }
    for (name, schema) in schemas.into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        if !CHECKED_TYPES.contains(&name) {
            let pointer = format!("#/components/schemas/{}", escape(name));
            walk(&pointer, schema, Place::Other)?;
        }
    }
    walk_bodies_and_parameters(spec)?;
    Ok(rules)
}

/// `const NAME: StringRules = ...;` per checked parameter type, for `src/params/rules.rs`.
pub fn render(rules: &[(&str, Rules)]) -> String {
    let mut out = String::from(
        "// Generated by build/constraints.rs from openapi/codearts-repo.yaml: the rules of each\n\
         // checked parameter type. Never edited or committed (tests/generated.rs snapshots it).\n",
    );
    for (name, rule) in rules {
        let constant = screaming_snake(name);
        let option =
            |value: Option<String>| value.map_or("None".to_owned(), |v| format!("Some({v})"));
        writeln!(out, "\n/// `#/components/schemas/{name}`").unwrap();
        match rule {
            Rules::Text {
                min_length,
                max_length,
                pattern,
                one_of,
            } => {
                let one_of = one_of.as_ref().map(|values| {
                    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
                    format!("&[{}]", quoted.join(", "))
                });
                writeln!(
                    out,
                    "pub(crate) const {constant}: StringRules = StringRules {{\n    \
                     min_length: {},\n    max_length: {},\n    pattern: {},\n    one_of: {},\n}};",
                    option(min_length.map(|n| n.to_string())),
                    option(max_length.map(|n| n.to_string())),
                    option(pattern.as_ref().map(|p| format!("{p:?}"))),
                    option(one_of),
                )
                .unwrap();
            }
            Rules::Integer {
                minimum,
                maximum,
                one_of,
            } => {
                let one_of = one_of.as_ref().map(|values| {
                    let numbers: Vec<String> = values.iter().map(u32::to_string).collect();
                    format!("&[{}]", numbers.join(", "))
                });
                writeln!(
                    out,
                    "pub(crate) const {constant}: IntegerRules = IntegerRules {{\n    \
                     minimum: {minimum},\n    maximum: {maximum},\n    one_of: {},\n}};",
                    option(one_of),
                )
                .unwrap();
            }
        }
    }
    out
}

/// Where a schema sits, which decides the keywords it may carry.
#[derive(Clone, Copy)]
enum Place {
    /// A parameter's own inline schema: `default` fills in the value (Content-Type's).
    Parameter,
    /// Anything else progenitor turns into a type: response bodies, their fields, the other
    /// named schemas.
    Other,
}

fn read(pointer: &str, schema: &Value, kind: Kind) -> Result<Option<Rules>, String> {
    let map = mapping(pointer, schema)?;
    let (crate_type, rules): (&str, &[&str]) = match kind {
        Kind::Text => ("a string", &TEXT_RULES),
        Kind::Integer => ("an integer (u32)", &INTEGER_RULES),
        Kind::Response => ("a string kept as sent", &[]),
    };
    let name = pointer.rsplit('/').next().unwrap_or_default();
    let expected = if kind == Kind::Integer {
        "integer"
    } else {
        "string"
    };
    match map.get("type").map(|t| t.as_str()) {
        Some(Some(found)) if found == expected => {}
        found => {
            let found = match found {
                None => "absent".to_owned(),
                Some(Some(text)) => format!("`{text}`"),
                Some(None) => "not a name".to_owned(),
            };
            return Err(format!(
                "{pointer}: the type is {found}, but the crate's `{name}` is {crate_type}, so \
                 the crate's type would not match the spec (it needs `type: {expected}`)"
            ));
        }
    }
    if kind == Kind::Response {
        walk(pointer, schema, Place::Other)?;
        // Kept as sent: an `enum` would narrow it, and the crate's type does not honour one.
        if map.contains_key("enum") {
            return Err(not_understood(pointer, "enum"));
        }
        return Ok(None);
    }
    for key in map.keys() {
        let key = key_name(pointer, key)?;
        let allowed = ANNOTATIONS.contains(&key)
            || key.starts_with("x-")
            || key == "type"
            || key == "format"
            || rules.contains(&key);
        if !allowed {
            return Err(not_understood(pointer, key));
        }
    }
    let rules = match kind {
        Kind::Text => text_rules(pointer, map)?,
        _ => integer_rules(pointer, map)?,
    };
    Ok(Some(rules))
}

fn not_understood(pointer: &str, key: &str) -> String {
    format!(
        "{pointer}: the keyword `{key}` is not understood by build/constraints.rs, so the \
         client would not enforce it"
    )
}

fn text_rules(pointer: &str, map: &Mapping) -> Result<Rules, String> {
    if let Some(format) = map.get("format") {
        // A string format (uuid, email, ...) would be a rule the client does not check.
        return Err(format!(
            "{pointer}: `format: {}` is not understood by build/constraints.rs, so the client \
             would not enforce it",
            scalar(format)
        ));
    }
    let length = |key: &str| -> Result<Option<u64>, String> {
        map.get(key)
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    format!(
                        "{pointer}: `{key}` must be a non-negative integer, not {}",
                        scalar(v)
                    )
                })
            })
            .transpose()
    };
    let (min_length, max_length) = (length("minLength")?, length("maxLength")?);
    if let (Some(min), Some(max)) = (min_length, max_length)
        && min > max
    {
        return Err(format!(
            "{pointer}: minLength {min} is above maxLength {max}: no value could be sent"
        ));
    }
    let pattern = match map.get("pattern") {
        None => None,
        Some(Value::String(pattern)) => {
            regex_lite::Regex::new(pattern).map_err(|e| {
                format!(
                    "{pointer}: the pattern `{pattern}` does not compile with regex-lite, the \
                     client's engine: {e}"
                )
            })?;
            Some(pattern.clone())
        }
        Some(other) => {
            return Err(format!(
                "{pointer}: `pattern` must be a string, not {}",
                scalar(other)
            ));
        }
    };
    let one_of = enum_values(pointer, map, |v| v.as_str().map(str::to_owned), "strings")?;
    Ok(Rules::Text {
        min_length,
        max_length,
        pattern,
        one_of,
    })
}

fn integer_rules(pointer: &str, map: &Mapping) -> Result<Rules, String> {
    let name = pointer.rsplit('/').next().unwrap_or_default();
    // Bounds as i128: every i64 and u64 the YAML can hold, and room to step past them.
    let (format_low, format_high) = match map.get("format") {
        None => (None, None),
        Some(format) => match format.as_str() {
            Some("int32") => (Some(i128::from(i32::MIN)), Some(i128::from(i32::MAX))),
            Some("int64") => (Some(i128::from(i64::MIN)), Some(i128::from(i64::MAX))),
            _ => {
                return Err(format!(
                    "{pointer}: `format: {}` is not understood by build/constraints.rs (int32 \
                     or int64), so the client would not enforce it",
                    scalar(format)
                ));
            }
        },
    };
    let exclusive = |key: &str| -> Result<bool, String> {
        match map.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "{pointer}: `{key}` must be a boolean in OpenAPI 3.0, not {}",
                scalar(other)
            )),
        }
    };
    let bound = |key: &str, exclusive: bool, low: bool| -> Result<Option<i128>, String> {
        let Some(value) = map.get(key) else {
            return Ok(None);
        };
        let not_a_number = || format!("{pointer}: `{key}` must be a number, not {}", scalar(value));
        let Value::Number(number) = value else {
            return Err(not_a_number());
        };
        // The smallest (or largest) integer the bound lets through.
        let exact = number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from));
        let step = i128::from(exclusive);
        let integer = match exact {
            Some(n) if low => n + step,
            Some(n) => n - step,
            None => {
                let n = number
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or_else(not_a_number)?;
                let n = n.clamp(-1e30, 1e30);
                match (low, exclusive) {
                    (true, false) => n.ceil() as i128,
                    (true, true) => n.floor() as i128 + 1,
                    (false, false) => n.floor() as i128,
                    (false, true) => n.ceil() as i128 - 1,
                }
            }
        };
        Ok(Some(integer))
    };
    let low = bound("minimum", exclusive("exclusiveMinimum")?, true)?;
    let high = bound("maximum", exclusive("exclusiveMaximum")?, false)?;
    let low = low.into_iter().chain(format_low).max();
    let high = high.into_iter().chain(format_high).min();
    let fits = |n: Option<i128>| n.and_then(|n| u32::try_from(n).ok());
    let (Some(minimum), Some(maximum)) = (fits(low), fits(high)) else {
        let show = |n: Option<i128>, none: &str| n.map_or(none.to_owned(), |n| n.to_string());
        return Err(format!(
            "{pointer}: the spec allows values from {} to {}, but the crate's `{name}` is a \
             u32 (0 to {}): state a minimum and a maximum (or format: int32) within it",
            show(low, "minus infinity"),
            show(high, "infinity"),
            u32::MAX
        ));
    };
    if minimum > maximum {
        return Err(format!(
            "{pointer}: the range {minimum} to {maximum} is empty: no value could be sent"
        ));
    }
    let one_of = enum_values(
        pointer,
        map,
        |v| v.as_u64().and_then(|n| u32::try_from(n).ok()),
        "integers from 0 to 4294967295 (the crate's u32)",
    )?;
    Ok(Rules::Integer {
        minimum,
        maximum,
        one_of,
    })
}

fn enum_values<T>(
    pointer: &str,
    map: &Mapping,
    value: impl Fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Option<Vec<T>>, String> {
    let Some(list) = map.get("enum") else {
        return Ok(None);
    };
    let invalid = || format!("{pointer}: `enum` must be a non-empty list of {what}");
    let list = list
        .as_sequence()
        .filter(|l| !l.is_empty())
        .ok_or_else(invalid)?;
    list.iter()
        .map(|v| value(v).ok_or_else(invalid))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Checks a schema that is not a checked type, and the schemas inside it.
fn walk(pointer: &str, schema: &Value, place: Place) -> Result<(), String> {
    let map = mapping(pointer, schema)?;
    let is_reference = map.contains_key("$ref");
    for key in map.keys() {
        let key = key_name(pointer, key)?;
        // OpenAPI 3.0 ignores a reference's siblings, and so does progenitor.
        if is_reference && !(key == "$ref" || ANNOTATIONS.contains(&key) || key.starts_with("x-")) {
            return Err(format!(
                "{pointer}: the keyword `{key}` sits next to `$ref`, where OpenAPI 3.0 (and \
                 progenitor) ignore it, so the client would not enforce it: put it in the \
                 referenced schema"
            ));
        }
        if CONSTRAINTS.contains(&key) {
            return Err(format!(
                "{pointer}: the keyword `{key}` is a constraint, and only the checked parameter \
                 types (build/checked_types.rs) enforce constraints: on a response field \
                 progenitor would make a validating newtype that fails the whole answer on one \
                 odd value (the client keeps answers as sent)"
            ));
        }
        let allowed = ANNOTATIONS.contains(&key)
            || key.starts_with("x-")
            || STRUCTURAL.contains(&key)
            || SHAPES.contains(&key)
            || (key == "default" && matches!(place, Place::Parameter));
        if !allowed {
            return Err(format!(
                "{pointer}: the keyword `{key}` is not understood by build/constraints.rs, so \
                 what the generated code would do with it has not been reviewed (allowed here: \
                 {}, {}, {}, x-*{})",
                STRUCTURAL.join(", "),
                SHAPES.join(", "),
                ANNOTATIONS.join(", "),
                if matches!(place, Place::Parameter) {
                    ", default"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(properties) = map.get("properties") {
        let properties = mapping(&format!("{pointer}/properties"), properties)?;
        for (name, property) in properties {
            let name = key_name(pointer, name)?;
            walk(
                &format!("{pointer}/properties/{}", escape(name)),
                property,
                Place::Other,
            )?;
        }
    }
    if let Some(items) = map.get("items") {
        walk(&format!("{pointer}/items"), items, Place::Other)?;
    }
    Ok(())
}

/// The inline schemas of parameters, request bodies and response bodies, in the paths and
/// in `components`. Response headers are left out: progenitor generates nothing for them.
fn walk_bodies_and_parameters(spec: &Value) -> Result<(), String> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    for (path, item) in entries(spec.get("paths")) {
        let at = format!("#/paths/{}", escape(&path));
        walk_parameters(&at, item)?;
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = format!("{at}/{method}");
            walk_parameters(&at, operation)?;
            if let Some(body) = operation.get("requestBody") {
                walk_content(&format!("{at}/requestBody"), body)?;
            }
            for (status, response) in entries(operation.get("responses")) {
                walk_content(&format!("{at}/responses/{}", escape(&status)), response)?;
            }
        }
    }
    let components = spec.get("components");
    for (name, parameter) in entries(components.and_then(|c| c.get("parameters"))) {
        walk_parameter(
            &format!("#/components/parameters/{}", escape(&name)),
            parameter,
        )?;
    }
    for kind in ["requestBodies", "responses"] {
        for (name, body) in entries(components.and_then(|c| c.get(kind))) {
            walk_content(&format!("#/components/{kind}/{}", escape(&name)), body)?;
        }
    }
    Ok(())
}

/// A mapping's entries with string keys (none when `value` is absent).
fn entries(value: Option<&Value>) -> Vec<(String, &Value)> {
    value
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
        .collect()
}

fn walk_parameters(at: &str, holder: &Value) -> Result<(), String> {
    let parameters = holder.get("parameters").and_then(Value::as_sequence);
    for (index, parameter) in parameters.into_iter().flatten().enumerate() {
        walk_parameter(&format!("{at}/parameters/{index}"), parameter)?;
    }
    Ok(())
}

fn walk_parameter(at: &str, parameter: &Value) -> Result<(), String> {
    if let Some(schema) = parameter.get("schema") {
        walk(&format!("{at}/schema"), schema, Place::Parameter)?;
    }
    walk_content(at, parameter)
}

/// `content/*/schema` of a parameter, request body or response.
fn walk_content(at: &str, holder: &Value) -> Result<(), String> {
    let content = holder.get("content").and_then(Value::as_mapping);
    for (media, body) in content.into_iter().flatten() {
        if let Some(schema) = body.get("schema") {
            let media = key_name(at, media)?;
            walk(
                &format!("{at}/content/{}/schema", escape(media)),
                schema,
                Place::Other,
            )?;
        }
    }
    Ok(())
}

fn mapping<'a>(pointer: &str, value: &'a Value) -> Result<&'a Mapping, String> {
    value.as_mapping().ok_or_else(|| {
        format!(
            "{pointer}: a schema must be a mapping, not {}",
            scalar(value)
        )
    })
}

fn key_name<'a>(pointer: &str, key: &'a Value) -> Result<&'a str, String> {
    key.as_str()
        .ok_or_else(|| format!("{pointer}: the key {} is not a string", scalar(key)))
}

/// A value as the error shows it: YAML on one line.
fn scalar(value: &Value) -> String {
    serde_norway::to_string(value)
        .map(|text| text.trim().replace('\n', " "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// A JSON pointer's reference token: `~` and `/` escaped.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `RepositoryId` → `REPOSITORY_ID`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
