//! `codearts spec-diff --check-version`: the crate's version against what the spec change
//! does, and `--output markdown`, the report for a pull request.

mod common;

use std::{path::Path, process::Command};

use assert_cmd::cargo::CommandCargoExt;

use common::{FROZEN_SPEC as SPEC, breaking_spec as breaking, compatible_spec as compatible};

/// Runs spec-diff in `dir` with a manifest at `version`; exit code, stdout, stderr.
fn gate(dir: &Path, new_spec: &str, version: &str, extra: &[&str]) -> (i32, String, String) {
    std::fs::write(dir.join("old.yaml"), SPEC).unwrap();
    std::fs::write(dir.join("new.yaml"), new_spec).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"x\"\nversion = \"{version}\"\n"),
    )
    .unwrap();
    let output = Command::cargo_bin("codearts")
        .unwrap()
        .current_dir(dir)
        .args([
            "spec-diff",
            "old.yaml",
            "new.yaml",
            "--check-version",
            "Cargo.toml",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_breaking_change_needs_a_major_bump_or_a_minor_one_while_0_x() {
    let dir = tempfile::tempdir().unwrap();
    for (old, new, expected) in [
        ("0.1.0", "0.2.0", 0),
        ("0.1.0", "1.0.0", 0),
        ("0.1.0", "0.1.1", 1),
        ("0.1.0", "0.1.0", 1),
        ("1.2.3", "2.0.0", 0),
        ("1.2.3", "1.3.0", 1),
    ] {
        let (code, stdout, stderr) = gate(
            dir.path(),
            &breaking(),
            new,
            &["--old-version", old, "--output", "table"],
        );
        assert_eq!(code, expected, "{old} -> {new}: {stdout}{stderr}");
        if expected == 1 {
            let required = if old.starts_with("0.") {
                "0.2.0"
            } else {
                "2.0.0"
            };
            assert!(
                stdout.contains("#/components/schemas/RepoAuth")
                    && stdout.contains(&format!("at least {required}")),
                "says which change forced which version: {stdout}"
            );
        }
    }
}

#[test]
fn compatible_changes_pass_with_a_patch_bump_and_the_version_may_not_go_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = gate(
        dir.path(),
        &compatible(),
        "0.1.1",
        &["--old-version", "0.1.0"],
    );
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["version"]["ok"], true);
    assert_eq!(report["version"]["required"], "0.1.1");
    let (code, stdout, _) = gate(
        dir.path(),
        &compatible(),
        "0.0.9",
        &["--old-version", "0.1.0"],
    );
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // OLD is no tag and no --old-version says what it was.
    let (code, _, stderr) = gate(dir.path(), &compatible(), "0.1.1", &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--old-version"), "{stderr}");
    let (code, _, stderr) = gate(
        dir.path(),
        &compatible(),
        "0.1.1",
        &["--old-version", "one"],
    );
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = gate(
        dir.path(),
        &compatible(),
        "not-semver",
        &["--old-version", "0.1.0"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("Cargo.toml"), "{stderr}");
}

#[test]
fn the_old_version_comes_from_a_git_tag() {
    let dir = tempfile::tempdir().unwrap();
    common::spec_repository(dir.path(), SPEC);
    common::git(dir.path(), &["tag", "v0.3.1"]);
    std::fs::write(dir.path().join("openapi/codearts-repo.yaml"), breaking()).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.3.2\"\n",
    )
    .unwrap();
    let output = Command::cargo_bin("codearts")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "spec-diff",
            "git:v0.3.1",
            "openapi/codearts-repo.yaml",
            "--check-version",
            "Cargo.toml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\"required\": \"0.4.0\""), "{stdout}");
}

#[test]
fn markdown_is_a_heading_a_table_and_the_rust_api_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = gate(
        dir.path(),
        &breaking(),
        "0.2.0",
        &["--old-version", "0.1.0", "--output", "markdown"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("## Spec diff: breaking, and the version says so\n"),
        "{text}"
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["location", "change", "verdict", "why", "Rust API"]
    );
    assert!(rows[1].iter().all(|cell| *cell == "---"));
    assert!(
        rows.len() >= 3 && rows.iter().all(|row| row.len() == 5),
        "{rows:?}"
    );
    let change = &rows[2];
    assert_eq!(change[2], "**breaking**");
    assert!(
        change[0].contains("#/components/schemas/RepoAuth"),
        "{change:?}"
    );
    assert_eq!(change[4], "`codearts_repo::RepoAuth`");
    assert!(
        text.contains("### Generated code and API surface"),
        "{text}"
    );
    assert!(
        text.contains("- Types and fields: `codearts_repo::RepoAuth`"),
        "{text}"
    );
}

#[test]
fn a_released_version_passes_again_only_when_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = gate(
        dir.path(),
        &compatible(),
        "0.2.0",
        &["--old-version", "0.2.0", "--output", "table"],
    );
    assert_eq!(code, 1, "0.2.0 was published already: {stdout}");
    assert!(stdout.contains("at least 0.2.1"), "{stdout}");
    let (code, stdout, _) = gate(
        dir.path(),
        SPEC,
        "0.2.0",
        &["--old-version", "0.2.0", "--output", "table"],
    );
    assert_eq!(code, 0, "nothing changed: {stdout}");
}

/// Each example of `spec-diff --help` runs as written in a clone with the release tag it
/// names (which this test creates).
#[test]
fn the_help_examples_run() {
    let dir = tempfile::tempdir().unwrap();
    common::spec_repository(dir.path(), SPEC);
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.2.0\"\n",
    )
    .unwrap();
    common::git(dir.path(), &["add", "."]);
    common::git(dir.path(), &["commit", "-q", "-m", "0.2.0"]);
    common::git(dir.path(), &["branch", "-M", "main"]);
    common::git(dir.path(), &["tag", "v0.2.0"]);
    let help = Command::cargo_bin("codearts")
        .unwrap()
        .args(["spec-diff", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let examples: Vec<&str> = help
        .lines()
        .filter_map(|line| line.trim().strip_prefix("codearts spec-diff "))
        .collect();
    assert!(examples.len() >= 2, "{help}");
    for example in examples {
        let output = Command::cargo_bin("codearts")
            .unwrap()
            .current_dir(dir.path())
            .arg("spec-diff")
            .args(example.split_whitespace())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
