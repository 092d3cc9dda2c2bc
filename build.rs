//! Generates the client from `openapi/codearts-repo.yaml` with progenitor.
//!
//! The output goes to `$OUT_DIR/codegen.rs` and is never committed; its text is an insta
//! snapshot (tests/generated.rs), so a spec change is reviewed as a diff of generated Rust.

use std::{env, fs, path::PathBuf, process::ExitCode};

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TypeImpl};

const SPEC: &str = "openapi/codearts-repo.yaml";

fn main() -> ExitCode {
    // Only the spec and this file decide the output: a no-op build must not rerun codegen.
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Cargo shows a failed build script's stderr: one readable line, no backtrace.
            eprintln!("error: {SPEC}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), String> {
    let text = fs::read_to_string(SPEC).map_err(|e| format!("cannot read: {e}"))?;
    // serde_norway reports "at line L column C" for syntax and shape errors alike.
    let spec: openapiv3::OpenAPI = serde_norway::from_str(&text)
        .map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))?;

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Positional)
        // Credentials, signing and tracing live in the crate's own hooks, never in a parameter.
        .with_inner_type(quote_path("crate::hooks::Hooks"))
        .with_hooks(HooksMode::Expected)
        // progenitor maps the id to NonZeroU32, which accepts 3,000,000,000: use the checked type.
        .with_replacement(
            "RepositoryId",
            "crate::RepositoryId",
            [TypeImpl::Display].into_iter(),
        )
        // progenitor maps date-time to DateTime<Utc>, losing the offset and failing on odd
        // values: keep the text as sent.
        .with_replacement(
            "Timestamp",
            "crate::Timestamp",
            [TypeImpl::Display].into_iter(),
        );

    let mut generator = Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .map_err(|e| format!("progenitor cannot generate a client: {e}"))?;
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("generated code does not parse: {e}"))?;
    let code = prettyplease::unparse(&file);

    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("codegen.rs");
    fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn quote_path(path: &str) -> proc_macro2::TokenStream {
    path.parse().expect("a Rust path is a valid token stream")
}
