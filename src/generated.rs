//! The client progenitor generates from `openapi/codearts-repo.yaml` at build time.
//!
//! Never edited by hand: change the spec. The text is snapshotted in `tests/generated.rs`.
#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unused_imports,
    unreachable_pub,
    dead_code
)]

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
