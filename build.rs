//! Generates the client from `openapi/codearts-repo.yaml` with progenitor.
//!
//! The output goes to `$OUT_DIR/codegen.rs` and is never committed; its text is an insta
//! snapshot (tests/generated.rs), so a spec change is reviewed as a diff of generated Rust.

#[path = "build/generate.rs"]
mod generate;

use std::{env, fs, path::PathBuf, process::ExitCode};

const SPEC: &str = "openapi/codearts-repo.yaml";

fn main() -> ExitCode {
    // Only the spec and the build scripts decide the output: a no-op build must not rerun codegen.
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/generate.rs");
    println!("cargo:rerun-if-changed=build/checked_types.rs");
    match generate::generate(SPEC).and_then(write) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Cargo shows a failed build script's stderr: one readable line, no backtrace.
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write(code: String) -> Result<(), String> {
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("codegen.rs");
    fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
