//! Generates the client from `openapi/codearts-repo.yaml` with progenitor, and the checked
//! parameters' rules from the same spec (build/constraints.rs).
//!
//! The output goes to `$OUT_DIR` (`codegen.rs`, `answers.rs`, `constraints.rs`,
//! `answer_schemas.rs`, `query_parameters.rs`) and is never
//! committed; the code and the rules are insta snapshots (tests/generated.rs), and the
//! answers' list shows in both the code's and the API surface's, so a spec change is
//! reviewed as a diff of generated Rust.

#[path = "build/answer_schemas.rs"]
mod answer_schemas;
#[path = "build/constraints.rs"]
mod constraints;
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
    println!("cargo:rerun-if-changed=build/constraints.rs");
    println!("cargo:rerun-if-changed=build/answer_schemas.rs");
    // The rules first: a keyword the client would not honour is named before progenitor runs.
    let built = constraints::constraints(SPEC)
        .and_then(|rules| write("constraints.rs", rules))
        .and_then(|()| {
            // The answers' schemas for the drift check (src/drift/); the spec parsed cleanly
            // just above.
            let text = fs::read_to_string(SPEC).map_err(|e| format!("{SPEC}: {e}"))?;
            let spec = serde_norway::from_str(&text).map_err(|e| format!("{SPEC}: {e}"))?;
            let schemas =
                answer_schemas::answer_schemas(&spec).map_err(|e| format!("{SPEC}: {e}"))?;
            write("answer_schemas.rs", schemas)
        })
        .and_then(|()| generate::generate(SPEC))
        .and_then(|generated| {
            write("codegen.rs", generated.code)?;
            write("query_parameters.rs", generated.query_parameters)?;
            write("answers.rs", generated.answers)
        });
    match built {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Cargo shows a failed build script's stderr: one readable line, no backtrace.
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write(name: &str, text: String) -> Result<(), String> {
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join(name);
    fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
