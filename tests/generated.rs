//! The generated code, the checked parameters' rules, the answers' schemas for the drift check
//! and the API surface, as snapshots: a spec
//! change shows up in review as a diff of them. Update with `cargo insta review` after reading
//! every diff.

use std::fmt::Write;

use quote::ToTokens;
use serde_json::{Value, json};

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/codegen.rs"));
const CONSTRAINTS: &str = include_str!(concat!(env!("OUT_DIR"), "/constraints.rs"));
const ANSWER_SCHEMAS: &str = include_str!(concat!(env!("OUT_DIR"), "/answer_schemas.rs"));

#[test]
fn generated_code() {
    insta::assert_snapshot!("generated_code", GENERATED);
}

/// The checked parameters' rules, as build/constraints.rs read them from the spec.
#[test]
fn constraints() {
    insta::assert_snapshot!("constraints", CONSTRAINTS);
}

/// Each operation's answer as the drift check compares it, compiled from the spec.
#[test]
fn answer_schemas() {
    insta::assert_snapshot!("answer_schemas", ANSWER_SCHEMAS);
}

#[test]
fn api_surface() {
    let mut out = surface_from_spec(&spec());
    surface_from_code(&mut out);
    insta::assert_snapshot!("api_surface", out);
}

/// The surface carries every keyword but annotations: no edit of a schema's meaning can pass
/// review without a snapshot diff.
#[test]
fn every_keyword_of_every_schema_shows_in_the_surface() {
    let real = surface_from_spec(&spec());
    let differs = |edit: &dyn Fn(&mut Value)| {
        let mut edited = spec();
        edit(&mut edited);
        surface_from_spec(&edited) != real
    };
    let namespace = |key: &'static str, value: Value| {
        move |spec: &mut Value| spec["components"]["schemas"]["Namespace"][key] = value.clone()
    };
    assert!(differs(&namespace("maxLength", json!(64))));
    assert!(differs(&namespace("pattern", json!("^[0-9a-f]+$"))));
    for (key, value) in [
        ("minLength", json!(2)),
        ("enum", json!(["a"])),
        ("format", json!("uuid")),
        ("nullable", json!(true)),
        ("default", json!("x")),
        ("x-rust-type", json!({"crate": "x"})),
        ("multipleOf", json!(2)),
    ] {
        assert!(differs(&namespace(key, value)), "{key}");
    }
    // Inside a response's fields, an inline parameter schema, a response header.
    assert!(differs(&|spec: &mut Value| {
        spec["components"]["schemas"]["Commit"]["properties"]["sha"]["maxLength"] = json!(40);
    }));
    assert!(differs(&|spec: &mut Value| {
        spec["components"]["schemas"]["CommitList"]["properties"]["commits"]["items"]["minProperties"] =
            json!(1);
    }));
    assert!(differs(&|spec: &mut Value| {
        spec["components"]["schemas"]["HuaweiError"]["required"] = json!(["error_code"]);
    }));
    assert!(differs(&|spec: &mut Value| {
        let commits = "/v1/{project_id}/git/repos/{namespace}/{project}/commits";
        spec["paths"][commits]["get"]["parameters"][4]["schema"]["maxLength"] = json!(30);
    }));
    assert!(differs(&|spec: &mut Value| {
        spec["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"]["schema"]["maximum"] =
            json!(60);
    }));
    // Annotations alone never show.
    assert!(!differs(&namespace("description", json!("another text"))));
    assert!(!differs(&namespace("example", json!("another-example"))));
}

#[test]
fn generated_code_has_no_credential_field_or_parameter() {
    let lower = GENERATED.to_ascii_lowercase();
    for needle in [
        "x-auth-token",
        "auth_token",
        "x-security-token",
        "security_token",
        "sdk-hmac",
        "secret",
    ] {
        assert!(
            !lower.contains(needle),
            "the generated code mentions {needle}"
        );
    }
}

fn spec() -> Value {
    serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap()
}

/// Pure annotations: they never change what a value means, so the surface leaves them out.
const ANNOTATIONS: [&str; 4] = ["description", "example", "examples", "title"];

/// Keywords whose value holds schemas: written as lines of their own, under their own label.
const CHILDREN: [&str; 7] = [
    "properties",
    "items",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// A mapping's entries in a stable order (the spec's order is not a meaning).
fn sorted(value: &Value) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = value.as_object().into_iter().flatten().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap()
}

/// One schema on one line, every keyword but annotations and child schemas:
/// `integer(int32) maximum 2147483647 minimum 1`, `string minLength 1`, `$ref Namespace`.
fn schema_text(schema: &Value) -> String {
    let mut text = match (&schema["$ref"], &schema["type"]) {
        (Value::String(reference), _) => name(reference).to_owned(),
        (_, Value::String(ty)) => ty.clone(),
        (_, Value::Null) => "any".to_owned(),
        (_, other) => other.to_string(),
    };
    if let Some(format) = schema["format"].as_str() {
        write!(text, "({format})").unwrap();
    }
    let has_ref = schema["$ref"].is_string();
    for (key, value) in sorted(schema) {
        let shown_above = match key.as_str() {
            "$ref" => has_ref,
            "type" => !has_ref,
            "format" => value.is_string(),
            _ => false,
        };
        let child = CHILDREN.contains(&key.as_str()) && !value.is_boolean();
        if !shown_above && !child && !ANNOTATIONS.contains(&key.as_str()) {
            write!(text, " {key} {value}").unwrap();
        }
    }
    text
}

/// `label: text`, then a line for each schema inside it (properties, items, ...).
fn write_schema(out: &mut String, indent: &str, label: &str, schema: &Value) {
    writeln!(out, "{indent}{label}: {}", schema_text(schema)).unwrap();
    for (key, value) in sorted(schema) {
        match (key.as_str(), value) {
            ("properties", properties) => {
                for (property, schema) in sorted(properties) {
                    write_schema(
                        out,
                        indent,
                        &format!("{label}/properties/{property}"),
                        schema,
                    );
                }
            }
            ("allOf" | "anyOf" | "oneOf", Value::Array(schemas)) => {
                for (index, schema) in schemas.iter().enumerate() {
                    write_schema(out, indent, &format!("{label}/{key}/{index}"), schema);
                }
            }
            ("items" | "additionalProperties" | "not", schema @ Value::Object(_)) => {
                write_schema(out, indent, &format!("{label}/{key}"), schema);
            }
            _ => {}
        }
    }
}

/// A parameter's, response's or header's schemas: `schema`, or each of `content`.
fn write_holder(out: &mut String, indent: &str, label: &str, holder: &Value) {
    if let Some(reference) = holder["$ref"].as_str() {
        writeln!(out, "{indent}{label}: {}", name(reference)).unwrap();
        return;
    }
    if !holder["schema"].is_null() {
        write_schema(out, indent, label, &holder["schema"]);
    }
    for (media, body) in sorted(&holder["content"]) {
        write_schema(out, indent, &format!("{label} {media}"), &body["schema"]);
    }
}

fn write_response(out: &mut String, indent: &str, label: &str, response: &Value) {
    if let Some(reference) = response["$ref"].as_str() {
        writeln!(out, "{indent}{label}: {}", name(reference)).unwrap();
        return;
    }
    if response["content"].is_null() {
        writeln!(out, "{indent}{label}: no body").unwrap();
    }
    write_holder(out, indent, label, response);
    for (header, value) in sorted(&response["headers"]) {
        write_holder(out, indent, &format!("{label} header {header}"), value);
    }
}

/// The spec's part of the surface: the operations, then every named schema, response,
/// header and parameter, each schema with all its keywords but annotations.
fn surface_from_spec(spec: &Value) -> String {
    let mut out = String::new();
    writeln!(out, "# Operations (spec)").unwrap();
    for (path, item) in sorted(&spec["paths"]) {
        for (method, op) in sorted(item) {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            writeln!(out, "{id}: {} {path}", method.to_uppercase()).unwrap();
            let parameters = item["parameters"].as_array().into_iter().flatten();
            for p in parameters.chain(op["parameters"].as_array().into_iter().flatten()) {
                if let Some(reference) = p["$ref"].as_str() {
                    writeln!(out, "  parameter {}", name(reference)).unwrap();
                    continue;
                }
                let required = if p["required"] == true {
                    "required"
                } else {
                    "optional"
                };
                let mut label = format!(
                    "{} {} {required}",
                    p["in"].as_str().unwrap(),
                    p["name"].as_str().unwrap()
                );
                for (key, value) in sorted(p) {
                    let described = ["in", "name", "required", "schema", "content"];
                    if !described.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
                        write!(label, " {key} {value}").unwrap();
                    }
                }
                write_holder(&mut out, "  ", &label, p);
            }
            if !op["requestBody"].is_null() {
                write_response(&mut out, "  ", "request body", &op["requestBody"]);
            }
            for (status, response) in sorted(&op["responses"]) {
                write_response(&mut out, "  ", status, response);
            }
        }
    }
    writeln!(out, "security: {}", spec["security"]).unwrap();
    let components = &spec["components"];
    writeln!(out, "\n# Schemas (spec)").unwrap();
    for (name, schema) in sorted(&components["schemas"]) {
        write_schema(&mut out, "", name, schema);
    }
    for (section, kind) in [
        ("Responses", "responses"),
        ("Request bodies", "requestBodies"),
        ("Parameters", "parameters"),
        ("Headers", "headers"),
    ] {
        if components[kind].as_object().is_some_and(|c| !c.is_empty()) {
            writeln!(out, "\n# {section} (spec)").unwrap();
        }
        for (name, value) in sorted(&components[kind]) {
            match kind {
                "responses" | "requestBodies" => write_response(&mut out, "", name, value),
                _ => write_holder(&mut out, "", name, value),
            }
        }
    }
    out
}

fn tokens(item: impl ToTokens) -> String {
    let text = item.to_token_stream().to_string();
    let mut text = text
        .replace(":: std :: option :: ", "")
        .replace(":: std :: string :: ", "")
        .replace(":: std :: vec :: ", "")
        .replace(" : ", ": ")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& '", "&'")
        .replace("& ", "&");
    while text.contains("  ") {
        text = text.replace("  ", " ");
    }
    text
}

fn surface_from_code(out: &mut String) {
    let file = syn::parse_file(GENERATED).unwrap();
    writeln!(out, "\n# Rust (generated)").unwrap();
    for item in &file.items {
        match item {
            syn::Item::Impl(block)
                if tokens(&block.self_ty) == "Client" && block.trait_.is_none() =>
            {
                for f in methods(block).filter(|f| tokens(&f.sig.output).contains("builder::")) {
                    writeln!(out, "Client::{}() {}", f.sig.ident, tokens(&f.sig.output)).unwrap();
                }
            }
            syn::Item::Mod(module) if module.ident == "types" => {
                for item in module.content.iter().flat_map(|(_, items)| items) {
                    write_type(out, item);
                }
            }
            syn::Item::Mod(module) if module.ident == "answers" => {
                // What the crate re-exports: the public answer types and their builders.
                let text = tokens(module);
                for export in text.split("pub use ").skip(1) {
                    let export = export.split(';').next().unwrap().replace("super::", "");
                    writeln!(out, "pub use {}", export.trim().replace(", }", " }")).unwrap();
                }
            }
            syn::Item::Mod(module) if module.ident == "builder" => {
                for item in module.content.iter().flat_map(|(_, items)| items) {
                    if let syn::Item::Impl(block) = item {
                        write_operation_builder(out, block);
                    }
                }
            }
            _ => {}
        }
    }
}

fn methods(block: &syn::ItemImpl) -> impl Iterator<Item = &syn::ImplItemFn> {
    block.items.iter().filter_map(|item| match item {
        syn::ImplItem::Fn(f) if matches!(f.vis, syn::Visibility::Public(_)) => Some(f),
        _ => None,
    })
}

/// `struct PushEvent #[non_exhaustive] { ref_: Option<String>, ... }`, `enum X { A, B }`.
fn write_type(out: &mut String, item: &syn::Item) {
    let (keyword, name, attrs, members): (_, _, _, Vec<String>) = match item {
        syn::Item::Struct(s) => (
            "struct",
            &s.ident,
            &s.attrs,
            s.fields
                .iter()
                .map(|f| match &f.ident {
                    Some(name) => format!("{name}: {}", tokens(&f.ty)),
                    None => tokens(&f.ty),
                })
                .collect(),
        ),
        syn::Item::Enum(e) => (
            "enum",
            &e.ident,
            &e.attrs,
            e.variants.iter().map(|v| v.ident.to_string()).collect(),
        ),
        _ => return,
    };
    // The attributes that change what callers may do: derives and `non_exhaustive`.
    let mut marks = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("derive") {
            let derives = attr
                .parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                )
                .unwrap();
            let names: Vec<String> = derives
                .iter()
                .map(|d| d.segments.last().unwrap().ident.to_string())
                .collect();
            marks.push(format!("derive({})", names.join(", ")));
        } else if attr.path().is_ident("non_exhaustive") {
            marks.push("non_exhaustive".to_owned());
        }
    }
    writeln!(
        out,
        "{keyword} {name} #[{}] {{ {} }}",
        marks.join(", "),
        members.join(", ")
    )
    .unwrap();
}

/// `builder::ListCommits: project_id(crate::ProjectId), ..., send() -> Result<...>`.
fn write_operation_builder(out: &mut String, block: &syn::ItemImpl) {
    let mut parts = Vec::new();
    for f in methods(block).filter(|f| f.sig.ident != "new") {
        let bound = f
            .sig
            .generics
            .where_clause
            .as_ref()
            .map(|w| tokens(&w.predicates))
            .unwrap_or_default();
        // `V: std::convert::TryInto<crate::GitRef>,` -> `crate::GitRef`.
        let target = bound
            .split_once("TryInto<")
            .and_then(|(_, t)| Some(t[..t.rfind('>')?].to_owned()))
            .unwrap_or_default();
        parts.push(format!(
            "{}({target}) {}",
            f.sig.ident,
            tokens(&f.sig.output)
        ));
    }
    writeln!(
        out,
        "builder::{}: {}",
        tokens(&block.self_ty),
        parts.join(", ")
    )
    .unwrap();
}

/// `src/call/failure.rs` reads progenitor's words for a required parameter left unset as the
/// crate's defect: they must still be the words the generated builders use.
#[test]
fn an_unset_required_parameter_is_reported_in_the_words_failure_rs_reads() {
    assert!(
        GENERATED.contains(r#"Err("project_id was not initialized".to_string())"#),
        "progenitor reworded it: update src/call/failure.rs"
    );
}
