//! CONTRIBUTING.md's maintainer paths, followed in a scratch copy of the repository: a new
//! optional query parameter made usable from the library and the command ("Adding a query
//! parameter or a header"), and a release's version bump that leaves the checks green
//! ("Releasing"). The copies build in one target directory of their own under target/tmp,
//! kept between runs: the first run compiles the dependencies (minutes), later ones the
//! workspace's crates only. The two tests take turns, as they share it.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use codearts_repo::server::{DEMO_PROJECT_ID, Server, ServerConfig};

/// The scratch copies share a target directory: one cargo at a time.
static SCRATCH: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of the repository's files (tracked, and new ones not ignored), as a clone holds.
fn scratch(name: &str) -> PathBuf {
    let to = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("maintainer-path")
        .join(name);
    let _ = std::fs::remove_dir_all(&to);
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(listed.status.success());
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = std::str::from_utf8(file).unwrap();
        let from = workspace().join(file);
        if from.is_file() {
            let target = to.join(file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&from, &target).unwrap();
        }
    }
    to
}

/// `cargo ARGS` in `dir`, offline, in the scratch copies' own target directory.
fn cargo(dir: &Path, args: &[&str]) {
    common::succeeds(
        Command::new(env!("CARGO"))
            .arg(args[0])
            .arg("--offline")
            .args(&args[1..])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", scratch_target())
            .env_remove("RUSTFLAGS"),
    );
}

fn scratch_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("maintainer-path/target")
}

/// The scratch copy's own `codearts`, as built last.
fn scratch_codearts() -> Command {
    let mut command = Command::new(scratch_target().join("debug/codearts"));
    command
        .env_clear()
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", "http://127.0.0.1:9");
    command
}

/// Replaces the one occurrence of `anchor` in `file` with `anchor` and `added` after it.
fn add_after(dir: &Path, file: &str, anchor: &str, added: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(anchor).count(), 1, "{file}: {anchor}");
    std::fs::write(&path, text.replacen(anchor, &format!("{anchor}{added}"), 1)).unwrap();
}

/// The step's edits, file by file, as CONTRIBUTING lists them.
fn add_since(dir: &Path) -> Vec<&'static str> {
    // 1. The spec: `since` in the middle of the commits call's parameters, after `ref`.
    add_after(
        dir,
        "openapi/codearts-repo.yaml",
        "            $ref: '#/components/schemas/GitRef'\n          example: master\n",
        "        - name: since\n          in: query\n          required: false\n          \
         description: Only commits made after this date.\n          schema:\n            \
         type: string\n          example: '2024-01-01'\n",
    );
    // 3. The library: a field, its setter, one line in `send`, one in PUBLIC_API.
    let client = "src/client.rs";
    add_after(
        dir,
        client,
        "    git_ref: Option<Result<GitRef, Error>>,\n",
        "    since: Option<String>,\n",
    );
    add_after(
        dir,
        client,
        "            git_ref: None,\n",
        "            since: None,\n",
    );
    add_after(
        dir,
        client,
        "impl CommitsRequest<'_> {\n",
        "    /// Only commits made after this date; without it, the latest ten.\n    \
         pub fn since(mut self, date: impl Into<String>) -> Self {\n        \
         self.since = Some(date.into());\n        self\n    }\n\n",
    );
    add_after(
        dir,
        client,
        ".set_if(git_ref.clone(), |request, value| request.ref_(value))\n",
        "                .set_if(self.since.clone(), |request, value| request.since(value))\n",
    );
    add_after(
        dir,
        client,
        "(\"ListCommits\", Some(\"X-Repo-Auth\"), \"CommitsRequest::repo_auth\"),\n",
        "    (\"ListCommits\", Some(\"since\"), \"CommitsRequest::since\"),\n",
    );
    // 4. The command: a flag, and one line passing it on.
    add_after(
        dir,
        "cli/src/args.rs",
        "    #[arg(long = \"ref\", value_name = \"REF\")]\n    pub(crate) git_ref: Option<String>,\n",
        "    /// Only commits made after this date (default: the latest ten).\n    \
         #[arg(long, value_name = \"DATE\")]\n    pub(crate) since: Option<String>,\n",
    );
    add_after(
        dir,
        "cli/src/main.rs",
        "                request = request.git_ref(git_ref);\n            }\n",
        "            if let Some(since) = commits.since {\n                \
         request = request.since(since);\n            }\n",
    );
    // 5. A test that it reaches the server, from the library.
    std::fs::write(
        dir.join("tests/since.rs"),
        format!(
            "#![cfg(feature = \"server\")]\n\
             use codearts_repo::{{Client, Credentials, server::{{Server, ServerConfig}}}};\n\
             #[tokio::test]\n\
             async fn since_reaches_the_server() {{\n\
             let server = Server::start(ServerConfig::default()).await.unwrap();\n\
             let client = Client::builder().endpoint(server.url())\n\
             .credentials(Credentials::token(\"t\").unwrap()).project_id(\"{DEMO_PROJECT_ID}\")\n\
             .build().unwrap();\n\
             client.commits(\"3e1f6634946144c2b1ccb46fb8152b8f\", \"test\").repo_auth(\"a\")\n\
             .since(\"2024-01-01\").send().await.unwrap();\n\
             let query = server.requests().pop().unwrap().query.unwrap_or_default();\n\
             assert!(query.contains(\"since=2024-01-01\"), \"{{query}}\");\n\
             }}\n"
        ),
    )
    .unwrap();
    // 6. The CHANGELOG, under the newest heading (the release being made).
    let changelog = dir.join("CHANGELOG.md");
    let text = std::fs::read_to_string(&changelog).unwrap();
    let heading = text.find("\n## ").unwrap() + 1;
    let line_end = heading + text[heading..].find('\n').unwrap() + 1;
    let entry = "\n- `CommitsRequest::since` and `codearts commits --since`.\n";
    std::fs::write(
        &changelog,
        format!("{}{entry}{}", &text[..line_end], &text[line_end..]),
    )
    .unwrap();
    vec![
        "openapi/codearts-repo.yaml",
        client,
        "cli/src/args.rs",
        "cli/src/main.rs",
        "tests/since.rs",
        "CHANGELOG.md",
    ]
}

/// An optional query parameter, added as CONTRIBUTING says in six files, is one compatible
/// change to spec-diff naming the setter callers use, reaches the server from the library,
/// and is a flag of the command.
#[test]
fn a_new_optional_query_parameter_takes_the_documented_edits_and_works_end_to_end() {
    let _turn = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("new-parameter");
    let before = dir.join("spec-before.yaml");
    std::fs::copy(dir.join("openapi/codearts-repo.yaml"), &before).unwrap();
    let edited = add_since(&dir);
    assert_eq!(edited.len(), 6, "the files a maintainer edits: {edited:?}");

    cargo(
        &dir,
        &[
            "test",
            "-p",
            "codearts-repo",
            "--features",
            "server,postgres",
            "--test",
            "since",
        ],
    );
    cargo(&dir, &["build", "-p", "codearts-cli"]);

    // spec-diff: one change, compatible, named as callers use it.
    let out = scratch_codearts()
        .arg("spec-diff")
        .arg(&before)
        .arg(dir.join("openapi/codearts-repo.yaml"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report:#}");
    assert_eq!(changes[0]["class"], "compatible");
    assert_eq!(changes[0]["rust"], "`CommitsRequest::since`");

    // The command sends it. This test's server is built from the unedited spec, so it
    // refuses `since` by name: that is the proof the scratch command put it on the wire (the
    // scratch library's test above shows a server built from the edited spec takes it).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(Server::start(ServerConfig::default()))
        .unwrap();
    let out = scratch_codearts()
        .args(["--endpoint", &server.url(), "--project-id", DEMO_PROJECT_ID])
        .args(["commits", "3e1f6634946144c2b1ccb46fb8152b8f", "test"])
        .args(["--repo-auth", "a", "--since", "2024-01-01"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("unknown query parameter `since`"), "{said}");
    let query = server.requests().pop().unwrap().query.unwrap_or_default();
    assert!(query.contains("since=2024-01-01"), "{query}");
}

/// CONTRIBUTING's release steps, followed exactly, leave every check that reads a version
/// green: the lock file, the README's dependency line, the image the deployment runs, and
/// the release gate against the release tagged before.
#[test]
fn the_release_steps_bump_every_version_and_the_checks_pass() {
    let _turn = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("release");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let current = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_owned();
    let version = semver::Version::parse(&current).unwrap();
    let next = format!("{}.{}.0", version.major, version.minor + 1);
    common::git(&dir, &["init", "-q"]);
    common::git(&dir, &["add", "."]);
    common::git(&dir, &["commit", "-q", "-m", "released"]);
    common::git(&dir, &["tag", &format!("v{current}")]);

    // Step 1: one command, then the CHANGELOG's section, committed.
    common::succeeds(
        Command::new(dir.join("scripts/set-version"))
            .arg(&next)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", scratch_target()),
    );
    let changelog = dir.join("CHANGELOG.md");
    let text = std::fs::read_to_string(&changelog).unwrap();
    let heading = text.find("\n## ").unwrap() + 1;
    std::fs::write(
        &changelog,
        format!(
            "{}## {next}\n\n- The release.\n\n{}",
            &text[..heading],
            &text[heading..]
        ),
    )
    .unwrap();
    common::git(&dir, &["commit", "-q", "-am", "release"]);

    // Step 2: the checks that read a version.
    cargo(&dir, &["metadata", "--locked", "--format-version", "1"]);
    cargo(
        &dir,
        &[
            "test",
            "-p",
            "codearts-repo",
            "--features",
            "server,postgres",
            "--locked",
            "--test",
            "quick_start",
        ],
    );
    cargo(
        &dir,
        &[
            "test",
            "-p",
            "codearts-cli",
            "--locked",
            "--test",
            "image",
            "--",
            "the_deployment_page_pushes_the_image_the_deployment_runs",
        ],
    );
    common::succeeds(
        scratch_codearts()
            .args(["release-gate", "--output", "table"])
            .env("PATH", std::env::var_os("PATH").unwrap())
            .current_dir(&dir),
    );
    let old = format!("codearts:{current}");
    for file in ["deploy/kubernetes/deployment.yaml", "docs/deploying.md"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains(&old), "{file} still runs {old}");
    }
}
