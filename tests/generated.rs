//! The generated code, the checked parameters' rules and the API surface, as snapshots: a spec
//! change shows up in review as a diff of them. Update with `cargo insta review` after reading
//! every diff.

use std::fmt::Write;

use quote::ToTokens;
use serde_json::Value;

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/codegen.rs"));
const CONSTRAINTS: &str = include_str!(concat!(env!("OUT_DIR"), "/constraints.rs"));

#[test]
fn generated_code() {
    insta::assert_snapshot!("generated_code", GENERATED);
}

/// The checked parameters' rules, as build/constraints.rs read them from the spec.
#[test]
fn constraints() {
    insta::assert_snapshot!("constraints", CONSTRAINTS);
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
                for item in &block.items {
                    if let syn::ImplItem::Fn(f) = item
                        && f.sig.asyncness.is_some()
                    {
                        let sig = &f.sig;
                        let args: Vec<String> = sig.inputs.iter().skip(1).map(tokens).collect();
                        writeln!(
                            out,
                            "Client::{}({}) {}",
                            sig.ident,
                            args.join(", "),
                            tokens(&sig.output)
                        )
                        .unwrap();
                    }
                }
            }
            syn::Item::Mod(module) if module.ident == "types" => {
                for item in module.content.iter().flat_map(|(_, items)| items) {
                    match item {
                        syn::Item::Struct(s) => {
                            let fields: Vec<String> = s
                                .fields
                                .iter()
                                .map(|f| match &f.ident {
                                    Some(name) => format!("{name}: {}", tokens(&f.ty)),
                                    None => tokens(&f.ty),
                                })
                                .collect();
                            writeln!(out, "struct {} {{ {} }}", s.ident, fields.join(", "))
                                .unwrap();
                        }
                        syn::Item::Enum(e) => {
                            let variants: Vec<String> =
                                e.variants.iter().map(|v| v.ident.to_string()).collect();
                            writeln!(out, "enum {} {{ {} }}", e.ident, variants.join(", "))
                                .unwrap();
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}
