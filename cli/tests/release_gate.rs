//! `codearts release-gate` on small git histories: the baseline it picks (a tag, or the
//! manifest's history when there is none, a shallow clone deepened) and its verdict. This is
//! also the maintainer's path of CONTRIBUTING.md, walked on a copy: a breaking spec change
//! without a bump fails naming the version it needs; with the bump it passes; a compatible
//! change passes with a patch bump.

mod common;

use std::path::Path;

use common::{
    FROZEN_SPEC as SPEC, breaking_spec as breaking, codearts, compatible_spec as compatible, git,
    run,
};

/// Commits the manifest at `version` and, when given, the spec.
fn commit(dir: &Path, version: &str, spec: Option<&str>, message: &str) {
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"x\"\nversion = \"{version}\"\n"),
    )
    .unwrap();
    if let Some(spec) = spec {
        std::fs::create_dir_all(dir.join("openapi")).unwrap();
        std::fs::write(dir.join("openapi/codearts-repo.yaml"), spec).unwrap();
    }
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    dir
}

/// The gate's exit code and what it said (stderr, then the report).
fn gate(dir: &Path) -> (i32, String) {
    let out = run(codearts()
        .current_dir(dir)
        .args(["release-gate", "--output", "table"]));
    (out.code, format!("{}{}", out.stderr, out.stdout))
}

#[test]
fn a_tag_is_the_baseline() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "release");
    git(dir.path(), &["tag", "v0.1.0"]);
    commit(dir.path(), "0.1.1", Some(&breaking()), "tighten repo_auth");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("0.1.1 against 0.1.0 at v0.1.0 (tag v0.1.0)"),
        "{said}"
    );
    assert!(said.contains("0.2.0"), "the version it needs: {said}");
    assert!(said.contains("failed in the spec half"), "{said}");

    commit(dir.path(), "0.2.0", None, "bump");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
}

#[test]
fn without_a_tag_the_baseline_is_the_commit_before_the_version_was_set() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "0.1.0");
    // A change to the manifest that keeps the version is not the one that set it.
    std::fs::write(dir.path().join("README"), "x").unwrap();
    commit(dir.path(), "0.1.0", None, "docs");
    let released = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(dir.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    commit(dir.path(), "0.1.1", None, "set 0.1.1");
    commit(dir.path(), "0.1.1", Some(&compatible()), "reword");
    let (code, said) = gate(dir.path());
    assert_eq!(
        code, 0,
        "a compatible change passes with a patch bump: {said}"
    );
    assert!(
        said.contains(&format!("0.1.1 against 0.1.0 at {}", &released[..12])),
        "{said}"
    );
    assert!(said.contains("no v* tag; the commit before"), "{said}");

    // The maintainer's path: a breaking change without a bump fails, naming the version.
    commit(dir.path(), "0.1.1", Some(&breaking()), "tighten");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("0.2.0"), "{said}");
    // With the bump, it passes: the previous version is now 0.1.1, and its last commit the
    // baseline.
    commit(dir.path(), "0.2.0", None, "bump");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("0.2.0 against 0.1.1"), "{said}");
}

#[test]
fn a_version_that_went_backwards_fails() {
    let dir = repository();
    commit(dir.path(), "0.2.0", Some(SPEC), "0.2.0");
    commit(dir.path(), "0.1.5", None, "oops");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("0.1.5 against 0.2.0"), "{said}");
}

#[test]
fn a_spec_new_since_the_baseline_and_a_first_version_pass_saying_why() {
    let dir = repository();
    commit(dir.path(), "0.1.0", None, "first");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("no earlier version"), "{said}");

    commit(dir.path(), "0.2.0", Some(SPEC), "the spec arrives");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("is new since 0.1.0"), "{said}");
}

#[test]
fn a_shallow_clone_is_deepened() {
    let origin = repository();
    commit(origin.path(), "0.1.0", Some(SPEC), "0.1.0");
    commit(
        origin.path(),
        "0.1.1",
        Some(&breaking()),
        "tighten without a bump",
    );
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git(
        clone.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let (code, said) = gate(&clone.path().join("shallow"));
    assert!(said.contains("shallow; fetching its history"), "{said}");
    assert_eq!(code, 1, "the breaking change is found: {said}");
}

/// The stdout of `git ARGS` in `dir`.
fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_tag_on_another_branch_is_not_the_baseline() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "release");
    git(dir.path(), &["tag", "v0.1.0"]);
    let main = git_out(dir.path(), &["rev-parse", "--abbrev-ref", "HEAD"]);
    // A maintenance branch carries a higher release that main never merged.
    git(dir.path(), &["checkout", "-q", "-b", "maintenance"]);
    commit(dir.path(), "9.9.9", None, "elsewhere");
    git(dir.path(), &["tag", "v9.9.9"]);
    git(dir.path(), &["checkout", "-q", &main]);
    commit(dir.path(), "0.2.0", Some(&breaking()), "tighten, bumped");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("0.2.0 against 0.1.0 at v0.1.0 (tag v0.1.0)"),
        "{said}"
    );
}

#[test]
fn a_pre_release_sorts_below_its_release() {
    let dir = repository();
    commit(dir.path(), "1.0.0-rc.1", Some(SPEC), "rc");
    git(dir.path(), &["tag", "v1.0.0-rc.1"]);
    commit(dir.path(), "1.0.0", None, "release");
    git(dir.path(), &["tag", "v1.0.0"]);
    commit(dir.path(), "1.0.1", Some(&compatible()), "reword");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("1.0.1 against 1.0.0 at v1.0.0 (tag v1.0.0)"),
        "{said}"
    );
}

#[test]
fn a_git_failure_at_the_baseline_fails_the_gate() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "release");
    git(dir.path(), &["tag", "v0.1.0"]);
    commit(dir.path(), "0.2.0", Some(&breaking()), "tighten, bumped");
    // The baseline's spec is listed in its tree but cannot be read: a broken object store,
    // not a spec that is new.
    let blob = git_out(
        dir.path(),
        &["rev-parse", "v0.1.0:openapi/codearts-repo.yaml"],
    );
    let object = dir
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(object).unwrap();
    let (code, said) = gate(dir.path());
    assert_eq!(code, 2, "{said}");
    assert!(!said.contains("is new since"), "{said}");
    assert!(said.contains("openapi/codearts-repo.yaml"), "{said}");
}

#[test]
fn a_renamed_spec_is_compared_with_its_old_name() {
    let dir = repository();
    std::fs::create_dir_all(dir.path().join("spec")).unwrap();
    std::fs::write(dir.path().join("spec/api.yaml"), SPEC).unwrap();
    commit(dir.path(), "0.1.0", None, "release");
    git(dir.path(), &["tag", "v0.1.0"]);
    git(dir.path(), &["rm", "-q", "spec/api.yaml"]);
    commit(dir.path(), "0.1.1", Some(&breaking()), "move and tighten");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 1, "the breaking change is found: {said}");
    assert!(said.contains("spec/api.yaml"), "{said}");
    assert!(said.contains("0.2.0"), "{said}");
}

#[test]
fn a_released_version_is_not_released_twice() {
    let dir = repository();
    commit(dir.path(), "0.2.0", Some(SPEC), "release");
    git(dir.path(), &["tag", "v0.2.0"]);
    // At the release itself nothing changed: the same version passes.
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
    // Any change since, even one the spec does not see, needs a version above it.
    std::fs::write(dir.path().join("README"), "x").unwrap();
    commit(dir.path(), "0.2.0", None, "docs");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("0.2.0 is released already"), "{said}");
    commit(dir.path(), "0.2.1", None, "bump");
    let (code, said) = gate(dir.path());
    assert_eq!(code, 0, "{said}");
}

/// The gate resolves `--spec` and `--manifest` to their names in the repository, however they
/// are spelled: before, `./openapi/codearts-repo.yaml` matched nothing at the baseline and a
/// breaking change passed as "new since 0.1.0".
#[test]
fn the_spec_and_manifest_are_found_however_spelled() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "0.1.0");
    commit(
        dir.path(),
        "0.1.1",
        Some(&breaking()),
        "tighten, with a patch bump",
    );
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let absolute = |name: &str| root.join(name).to_str().unwrap().to_owned();
    let spellings = [
        (
            ".",
            "./openapi/codearts-repo.yaml".to_owned(),
            "./Cargo.toml".to_owned(),
        ),
        (
            ".",
            absolute("openapi/codearts-repo.yaml"),
            absolute("Cargo.toml"),
        ),
        (
            "sub",
            "../openapi/codearts-repo.yaml".to_owned(),
            "../Cargo.toml".to_owned(),
        ),
        (
            "sub",
            absolute("openapi/codearts-repo.yaml"),
            absolute("Cargo.toml"),
        ),
    ];
    for (cwd, spec, manifest) in spellings {
        let out = run(codearts().current_dir(dir.path().join(cwd)).args([
            "release-gate",
            "--output",
            "table",
            "--spec",
            &spec,
            "--manifest",
            &manifest,
        ]));
        let said = format!("{}{}", out.stderr, out.stdout);
        assert_eq!(out.code, 1, "from {cwd} with {spec}: {said}");
        assert!(said.contains("failed in the spec half"), "{spec}: {said}");
        assert!(!said.contains("nothing to compare"), "{spec}: {said}");
    }
}

#[test]
fn a_spec_that_head_does_not_have_is_an_error() {
    let dir = repository();
    commit(dir.path(), "0.1.0", Some(SPEC), "0.1.0");
    commit(dir.path(), "0.1.1", None, "0.1.1");
    std::fs::write(dir.path().join("untracked.yaml"), SPEC).unwrap();
    for spec in ["missing.yaml", "untracked.yaml", "openapi"] {
        let out = run(codearts()
            .current_dir(dir.path())
            .args(["release-gate", "--spec", spec]));
        assert_eq!(out.code, 2, "{spec}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("--spec {spec}")),
            "{}",
            out.stderr
        );
    }
}
