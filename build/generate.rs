//! Spec to client code, shared by build.rs and the test that feeds it broken specs.

use std::{any::Any, fs, panic::AssertUnwindSafe};

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TypeImpl};

include!("checked_types.rs");

/// What the build writes from the spec.
#[derive(Debug)]
pub struct Generated {
    /// The client, formatted (`$OUT_DIR/codegen.rs`).
    pub code: String,
    /// The crate root's `pub use` of the answer types (`$OUT_DIR/answers.rs`).
    pub answers: String,
    /// Each operation's query parameters, for the embedded server
    /// (`$OUT_DIR/query_parameters.rs`).
    pub query_parameters: String,
}

/// Generates the formatted client code from the spec at `path`; the error names the file
/// and the problem (with line and column where the parser gives them).
pub fn generate(path: &str) -> Result<Generated, String> {
    let fail = |what: String| format!("{path}: {what}");
    let text = fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    // serde_norway reports "at line L column C" for syntax and shape errors alike.
    let invalid = |e: serde_norway::Error| fail(format!("not a valid OpenAPI 3.0 document: {e}"));
    serde_norway::from_str::<openapiv3::OpenAPI>(&text).map_err(invalid)?;
    let mut spec: serde_norway::Value = serde_norway::from_str(&text).map_err(invalid)?;
    open_answer_values(&mut spec);
    let spec: openapiv3::OpenAPI = serde_norway::from_value(spec).map_err(invalid)?;

    let mut settings = GenerationSettings::new();
    settings
        // Builders, not positional arguments: a new optional parameter adds a setter and leaves
        // the hand-written calls compiling, and the answer types get `builder()` constructors,
        // which `#[non_exhaustive]` (below) leaves as the way to make one outside the crate.
        .with_interface(InterfaceStyle::Builder)
        // Credentials, signing and tracing live in the crate's own hooks, never in a parameter.
        .with_inner_type(quote_path("crate::hooks::Hooks"))
        .with_hooks(HooksMode::Expected);
    // Each of these spec schemas is the crate's own checked type in the generated code.
    for name in CHECKED_TYPES {
        settings.with_replacement(
            name,
            format!("crate::{name}"),
            [TypeImpl::Display].into_iter(),
        );
    }

    let mut generator = Generator::new(&settings);
    // progenitor (through typify) panics on some bad specs, e.g. a dangling `$ref`: turn
    // that into the same readable error, without the panic's backtrace.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let generated = std::panic::catch_unwind(AssertUnwindSafe(|| generator.generate_tokens(&spec)));
    std::panic::set_hook(quiet);
    let tokens = match generated {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => Err(panic_message(panic.as_ref())),
    }
    .map_err(|e| fail(format!("progenitor cannot generate a client: {e}")))?;
    let mut file: syn::File =
        syn::parse2(tokens).map_err(|e| fail(format!("generated code does not parse: {e}")))?;
    open_for_new_fields(&mut file);
    let query_parameters = query_parameters(&spec);
    let answers = root_exports(&export_answer_types(&mut file));
    Ok(Generated {
        code: prettyplease::unparse(&file),
        answers,
        query_parameters,
    })
}

/// Answers are kept as sent: an `enum` or a `format` on an answer's field would make
/// progenitor generate a closed enum, a `chrono` or `uuid` type or a narrower integer, and
/// one value the service adds would fail the whole answer. They are taken out of every
/// schema but the checked types (whose own types the crate supplies) before progenitor
/// runs, so such a field is a plain `String` or number; the drift check (src/drift/)
/// compares the value with them instead, and says when the service goes beyond the spec.
/// Parameters' inline schemas keep theirs: a request's enum is the caller's rule.
fn open_answer_values(spec: &mut serde_norway::Value) {
    fn open(schema: &mut serde_norway::Value) {
        let Some(map) = schema.as_mapping_mut() else {
            return;
        };
        map.remove("enum");
        map.remove("format");
        if let Some(properties) = map.get_mut("properties").and_then(|p| p.as_mapping_mut()) {
            properties.values_mut().for_each(open);
        }
        if let Some(items) = map.get_mut("items") {
            open(items);
        }
    }
    if let Some(schemas) = spec
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(|s| s.as_mapping_mut())
    {
        for (name, schema) in schemas.iter_mut() {
            if !name.as_str().is_some_and(|n| CHECKED_TYPES.contains(&n)) {
                open(schema);
            }
        }
    }
    let paths = spec.get_mut("paths").and_then(|p| p.as_mapping_mut());
    for item in paths.into_iter().flat_map(|p| p.values_mut()) {
        let operations = item
            .as_mapping_mut()
            .into_iter()
            .flat_map(|i| i.values_mut());
        for operation in operations {
            let answers = operation
                .get_mut("responses")
                .and_then(|r| r.as_mapping_mut())
                .into_iter()
                .flat_map(|r| r.values_mut());
            for answer in answers {
                let bodies = answer
                    .get_mut("content")
                    .and_then(|c| c.as_mapping_mut())
                    .into_iter()
                    .flat_map(|c| c.values_mut());
                for body in bodies {
                    if let Some(schema) = body.get_mut("schema") {
                        open(schema);
                    }
                }
            }
        }
    }
}

/// Marks every spec type `#[non_exhaustive]` and drops its derived `Default`, so that a field or
/// enum value the service adds is as harmless to Rust callers as it is on the wire: no
/// struct literal or exhaustive `match` to break, and no `Default` that a new required field
/// would take away. Callers build values with `Type::builder()`.
fn open_for_new_fields(file: &mut syn::File) {
    let types = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(module) if module.ident == "types" => module.content.as_mut(),
        _ => None,
    });
    for item in types.into_iter().flat_map(|(_, items)| items) {
        let attrs = match item {
            syn::Item::Struct(s) => &mut s.attrs,
            syn::Item::Enum(e) => &mut e.attrs,
            _ => continue,
        };
        for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
            if let Ok(derives) = attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) {
                let kept = derives.into_iter().filter(|d| !d.is_ident("Default"));
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            }
        }
        attrs.push(syn::parse_quote!(#[non_exhaustive]));
    }
}

/// Adds `pub mod answers`: the types the operations answer with and every spec type they
/// hold, with the builders of the structs among them. Returns their names: the crate
/// re-exports each by name (build.rs writes the list), so a type the spec adds to an answer
/// is public at once, one whose name the crate already uses fails the build, and error
/// bodies and request enums stay inside.
fn export_answer_types(file: &mut syn::File) -> Vec<String> {
    use quote::ToTokens;
    let words = |text: String| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let items = |module: &syn::ItemMod| -> Vec<syn::Item> {
        module
            .content
            .iter()
            .flat_map(|(_, items)| items.clone())
            .collect()
    };
    let module = |name: &str| -> Vec<syn::Item> {
        file.items
            .iter()
            .find_map(|item| match item {
                syn::Item::Mod(m) if m.ident == name => Some(items(m)),
                _ => None,
            })
            .unwrap_or_default()
    };
    // Each spec type with the words of the types it holds (the types only, never its docs),
    // and the structs typify made a builder for (not newtypes).
    let mut held = std::collections::BTreeMap::new();
    let mut built = std::collections::BTreeSet::new();
    for item in module("types") {
        let (name, fields) = match &item {
            syn::Item::Struct(s) => (&s.ident, s.fields.iter().collect::<Vec<_>>()),
            syn::Item::Enum(e) => (
                &e.ident,
                e.variants.iter().flat_map(|v| &v.fields).collect(),
            ),
            syn::Item::Mod(m) if m.ident == "builder" => {
                for item in items(m) {
                    if let syn::Item::Struct(s) = item {
                        built.insert(s.ident.to_string());
                    }
                }
                continue;
            }
            _ => continue,
        };
        let types: Vec<String> = fields
            .iter()
            .map(|f| f.ty.to_token_stream().to_string())
            .collect();
        held.insert(name.to_string(), words(types.join(" ")));
    }
    // The roots: what each operation's `send` answers with on success, e.g.
    // `Result < ResponseValue < :: std :: vec :: Vec < types :: Branch > > , Error < ... > , >`.
    let mut wanted: Vec<String> = Vec::new();
    for item in module("builder") {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        for f in block.items.iter().filter_map(|i| match i {
            syn::ImplItem::Fn(f) if f.sig.ident == "send" => Some(f),
            _ => None,
        }) {
            let output = f.sig.output.to_token_stream().to_string();
            let success = output.split(", Error <").next().unwrap_or_default();
            for word in words(success.to_owned()) {
                // Two operations may answer with the same type: name it once.
                if !wanted.contains(&word) {
                    wanted.push(word);
                }
            }
        }
    }
    wanted.retain(|name| held.contains_key(name));
    let mut index = 0;
    while let Some(name) = wanted.get(index).cloned() {
        index += 1;
        for word in &held[&name] {
            if held.contains_key(word) && !wanted.contains(word) {
                wanted.push(word.clone());
            }
        }
    }
    wanted.sort();
    let idents: Vec<syn::Ident> = wanted.iter().map(|n| quote::format_ident!("{n}")).collect();
    let builders: Vec<&syn::Ident> = idents
        .iter()
        .filter(|ident| built.contains(&ident.to_string()))
        .collect();
    file.items.push(syn::parse_quote! {
        /// The types the operations answer with, and the spec types they hold.
        pub mod answers {
            pub use super::types::{#(#idents),*};
            /// Builders for the answer types: those are `#[non_exhaustive]`, as the service
            /// may add fields, so outside this crate a value is made with `Type::builder()`
            /// and `try_into()`.
            pub mod builders {
                pub use super::super::types::builder::{#(#builders),*};
                pub use super::super::types::error::ConversionError;
            }
        }
    });
    wanted
}

/// `QUERY_PARAMETERS`: each operation's `operationId` and the names of its query parameters
/// (inline, or `$ref`s to `#/components/parameters`), so that the embedded server refuses
/// what the spec does not declare and accepts a new parameter with no edit of its own.
fn query_parameters(spec: &openapiv3::OpenAPI) -> String {
    use openapiv3::{Parameter, ReferenceOr};
    let components = spec.components.as_ref();
    let mut operations = Vec::new();
    for (_, _, operation) in spec.operations() {
        let names: Vec<String> = operation
            .parameters
            .iter()
            .filter_map(|parameter| match parameter {
                ReferenceOr::Item(item) => Some(item),
                ReferenceOr::Reference { reference } => reference
                    .strip_prefix("#/components/parameters/")
                    .and_then(|name| components?.parameters.get(name)?.as_item()),
            })
            .filter_map(|parameter| match parameter {
                Parameter::Query { parameter_data, .. } => {
                    Some(format!("{:?}", parameter_data.name))
                }
                _ => None,
            })
            .collect();
        let id = operation.operation_id.clone().unwrap_or_default();
        operations.push(format!("    ({id:?}, &[{}]),\n", names.join(", ")));
    }
    format!(
        "// Written by build/generate.rs from the spec.\n\
         pub(crate) const QUERY_PARAMETERS: &[(&str, &[&str])] = &[\n{}];\n",
        operations.concat()
    )
}

/// The crate root's re-export of the answer types, by name (src/lib.rs includes it).
fn root_exports(answers: &[String]) -> String {
    let names: Vec<String> = answers.iter().map(|name| format!("{name:?}")).collect();
    format!(
        "// Written by build/generate.rs: the answer types, each by name.\n\
         pub use generated::answers::{{builders, {}}};\n\
         /// The answer types' names, for spec-diff's Rust column (hidden, not semver-covered).\n\
         #[doc(hidden)]\n\
         pub const ANSWER_TYPES: &[&str] = &[{}];\n",
        answers.join(", "),
        names.join(", ")
    )
}

fn quote_path(path: &str) -> proc_macro2::TokenStream {
    path.parse().expect("a Rust path is a valid token stream")
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "it panicked".to_owned())
}
