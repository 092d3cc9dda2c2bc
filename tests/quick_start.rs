//! The README's library quick start, as a reader sees it: its dependency lines are true of
//! the manifest, its code is `examples/quick_start.rs` to the byte (so cargo compiles it as
//! written; rustdoc compiles the README block too, from src/lib.rs), and run against the
//! embedded server it prints what a person expects. docs.rs documents the server it uses.

#![cfg(feature = "server")]

use std::{path::Path, process::Command};

use codearts_repo::server::{Server, ServerConfig};

include!("../examples/quick_start.rs");

fn file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The text of the fenced block that opens with `fence` in the quick start section.
fn block(fence: &str) -> String {
    let readme = file("README.md");
    let section = &readme[readme.find("## Library quick start\n").unwrap()..];
    let section = &section[..section[3..].find("\n## ").unwrap()];
    let start = section.find(&format!("```{fence}\n")).expect(fence) + fence.len() + 4;
    section[start..start + section[start..].find("```\n").unwrap()].to_owned()
}

#[test]
fn the_dependency_lines_are_true_of_the_manifest() {
    let toml = block("toml");
    let manifest = file("Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    let (major, rest) = version.split_once('.').unwrap();
    let minor = rest.split('.').next().unwrap();
    // While 0.x, a caret requirement holds one minor version: "0.2" is 0.2.*.
    assert!(
        toml.lines()
            .any(|l| l == format!("codearts-repo = \"{major}.{minor}\"")),
        "{toml}"
    );
    let tokio = toml
        .lines()
        .find(|l| l.starts_with("tokio = "))
        .expect("the quick start needs tokio");
    // #[tokio::main] needs the macros and, in its default flavor, the multi-threaded runtime.
    assert!(
        tokio.contains("\"macros\"") && tokio.contains("\"rt-multi-thread\""),
        "{tokio}"
    );
    assert!(!toml.contains("tag = "), "no such tag: {toml}");
}

#[test]
fn the_code_is_complete_as_shown_and_is_the_compiled_example() {
    let code = block("rust,no_run");
    assert!(
        code.lines()
            .all(|l| !l.starts_with('#') || l.starts_with("#[")),
        "rustdoc's hidden lines show on GitHub and crates.io:\n{code}"
    );
    assert!(code.contains("#[tokio::main]\nasync fn main()"), "{code}");
    assert!(
        !code.contains("{:?}"),
        "Debug prints Some(...) to a reader:\n{code}"
    );
    let example = file("examples/quick_start.rs");
    let body = example.split_once("\n\n").map(|(_, body)| body).unwrap();
    assert_eq!(body, code, "examples/quick_start.rs is the README's block");
    // rustdoc compiles the README's Rust blocks as doctests (not `ignore`d).
    assert!(file("src/lib.rs").contains("#[doc = include_str!(\"../README.md\")]"));
}

/// The README's `export` line under the quick start: each variable and its value, the
/// server's address as written (`http://127.0.0.1:8080`).
fn exports() -> Vec<(String, String)> {
    let line = block("sh")
        .lines()
        .find_map(|l| l.strip_prefix("export "))
        .expect("an export line")
        .to_owned();
    line.split_whitespace()
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Runs the quick start's `main` in a child process (this test again, asked to) with the
/// README's `export` line, against the embedded server as `codearts serve` starts it (the
/// documents' examples); then reads what it printed.
#[test]
fn the_quick_start_prints_what_a_person_expects() {
    if std::env::var_os("QUICK_START_RUN").is_some() {
        main().unwrap();
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(Server::start(ServerConfig::default()))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let serve = block("sh");
    assert!(
        serve.starts_with("cargo run -p codearts-cli -- serve --port 8080\n"),
        "{serve}"
    );
    assert!(
        serve.contains("\ncargo run --example quick_start\n"),
        "{serve}"
    );
    let exports = exports();
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "HUAWEICLOUD_SDK_REGION_CODEARTSREPO_CN_NORTH_4",
            "HUAWEICLOUD_SDK_REGION_SERVICESTAGE_CN_NORTH_4",
            "HUAWEICLOUD_SDK_TOKEN",
            "HUAWEICLOUD_SDK_PROJECT_ID",
        ]
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_quick_start_prints_what_a_person_expects"])
        .args(["--nocapture", "--test-threads=1"])
        .env_clear()
        .env("QUICK_START_RUN", "1")
        .env("HOME", home.path())
        .envs(
            exports
                .iter()
                .map(|(name, value)| (name, value.replace("http://127.0.0.1:8080", &server.url()))),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Between the harness's `test NAME ... ` and its `ok`.
    let printed = stdout
        .split_once("the_quick_start_prints_what_a_person_expects ... ")
        .and_then(|(_, rest)| rest.split_once("\nok\n"))
        .map(|(printed, _)| printed.lines().collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(
        printed,
        [
            "master pushed at 2025-06-19T21:27:31.000+08:00",
            "6dcb09b5b57875f334f61aebed695e2e4193db5e Fix all the bugs",
        ],
        "{stdout}"
    );
    // The README says what it prints, after the block.
    let readme = file("README.md");
    for line in printed {
        assert!(readme.contains(&format!("`{line}`")), "{line}");
    }
    drop(server);
}

#[test]
fn docs_rs_documents_every_feature() {
    let manifest = file("Cargo.toml");
    let section = manifest
        .split("\n[package.metadata.docs.rs]\n")
        .nth(1)
        .expect("a [package.metadata.docs.rs] section");
    let section = section.split("\n[").next().unwrap();
    assert!(
        section.lines().any(|l| l.trim() == "all-features = true"),
        "{section}"
    );
}
