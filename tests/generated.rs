//! The generated code and the API surface, as snapshots: a spec change shows up in review as
//! a diff of both. Update with `cargo insta review` after reading every diff.

use std::fmt::Write;

use quote::ToTokens;
use serde_json::Value;

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/codegen.rs"));

#[test]
fn generated_code() {
    insta::assert_snapshot!("generated_code", GENERATED);
}

#[test]
fn api_surface() {
    let mut out = String::new();
    surface_from_spec(&mut out);
    surface_from_code(&mut out);
    insta::assert_snapshot!("api_surface", out);
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

/// `integer(int32) 1..=2147483647`, `string minLength 1`, `$ref Name`.
fn schema_text(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        let target = &spec()["components"]["schemas"][name];
        return format!("{name} = {}", schema_text(target));
    }
    let mut text = schema["type"].as_str().unwrap_or("any").to_owned();
    if let Some(format) = schema["format"].as_str() {
        write!(text, "({format})").unwrap();
    }
    match (&schema["minimum"], &schema["maximum"]) {
        (Value::Null, Value::Null) => {}
        (min, max) => write!(text, " {min}..={max}").unwrap(),
    }
    if let Some(n) = schema["minLength"].as_u64() {
        write!(text, " minLength {n}").unwrap();
    }
    if let Some(values) = schema["enum"].as_array() {
        write!(text, " enum {}", Value::Array(values.clone())).unwrap();
    }
    text
}

fn surface_from_spec(out: &mut String) {
    let spec = spec();
    writeln!(out, "# Operations (spec)").unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            writeln!(out, "{id}: {} {path}", method.to_uppercase()).unwrap();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let required = if p["required"] == true {
                    "required"
                } else {
                    "optional"
                };
                let (location, name) = (p["in"].as_str().unwrap(), p["name"].as_str().unwrap());
                writeln!(
                    out,
                    "  {location} {name} {required}: {}",
                    schema_text(&p["schema"])
                )
                .unwrap();
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                let body = response["$ref"].as_str().map_or_else(
                    || schema_text(&response["content"]["application/json"]["schema"]),
                    |r| r.rsplit('/').next().unwrap().to_owned(),
                );
                writeln!(out, "  {status}: {body}").unwrap();
            }
        }
    }
    writeln!(out, "security: {}", spec["security"]).unwrap();
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
