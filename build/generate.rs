//! Spec to client code, shared by build.rs and the test that feeds it broken specs.

use std::{any::Any, fs, panic::AssertUnwindSafe};

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TypeImpl};

include!("checked_types.rs");

/// Generates the formatted client code from the spec at `path`; the error names the file
/// and the problem (with line and column where the parser gives them).
pub fn generate(path: &str) -> Result<String, String> {
    let fail = |what: String| format!("{path}: {what}");
    let text = fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    // serde_norway reports "at line L column C" for syntax and shape errors alike.
    let spec: openapiv3::OpenAPI = serde_norway::from_str(&text)
        .map_err(|e| fail(format!("not a valid OpenAPI 3.0 document: {e}")))?;

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
    export_answer_types(&mut file);
    Ok(prettyplease::unparse(&file))
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
/// hold, with the builders of the structs among them. The crate re-exports it whole, so a
/// type the spec adds to an answer is public at once, while error bodies and request enums
/// stay inside.
fn export_answer_types(file: &mut syn::File) {
    use quote::ToTokens;
    let module = |name: &str| {
        file.items.iter().find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == name => m.content.as_ref().map(|(_, items)| items),
            _ => None,
        })
    };
    // Each spec type with the text of what it holds, and the builders' `send` results.
    let mut types = std::collections::BTreeMap::new();
    for item in module("types").into_iter().flatten() {
        let (name, held, is_struct) = match item {
            syn::Item::Struct(s) => (&s.ident, s.fields.to_token_stream(), true),
            syn::Item::Enum(e) => (&e.ident, e.variants.to_token_stream(), false),
            _ => continue,
        };
        types.insert(name.to_string(), (held.to_string(), is_struct));
    }
    let mut wanted: Vec<String> = Vec::new();
    for item in module("builder").into_iter().flatten() {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        for f in block.items.iter().filter_map(|i| match i {
            syn::ImplItem::Fn(f) if f.sig.ident == "send" => Some(f),
            _ => None,
        }) {
            // `Result < ResponseValue < types :: PushEvent > , Error < types :: HuaweiError > >`
            let output = f.sig.output.to_token_stream().to_string();
            if let Some((_, rest)) = output.split_once("ResponseValue < types :: ") {
                wanted.extend(rest.split(' ').next().map(str::to_owned));
            }
        }
    }
    let mut index = 0;
    while let Some(name) = wanted.get(index).cloned() {
        index += 1;
        if let Some((held, _)) = types.get(&name) {
            for word in held.split(|c: char| !c.is_alphanumeric() && c != '_') {
                if types.contains_key(word) && !wanted.iter().any(|w| w == word) {
                    wanted.push(word.to_owned());
                }
            }
        }
    }
    wanted.retain(|name| types.contains_key(name));
    wanted.sort();
    let idents: Vec<syn::Ident> = wanted.iter().map(|n| quote::format_ident!("{n}")).collect();
    let structs: Vec<&syn::Ident> = idents
        .iter()
        .filter(|ident| types[&ident.to_string()].1)
        .collect();
    file.items.push(syn::parse_quote! {
        /// The types the operations answer with, and the spec types they hold.
        pub mod answers {
            pub use super::types::{#(#idents),*};
            /// Builders for the answer types: those are `#[non_exhaustive]`, as the service
            /// may add fields, so outside this crate a value is made with `Type::builder()`
            /// and `try_into()`.
            pub mod builders {
                pub use super::super::types::builder::{#(#structs),*};
                pub use super::super::types::error::ConversionError;
            }
        }
    });
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
