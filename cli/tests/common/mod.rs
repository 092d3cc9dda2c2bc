//! Running `codearts` as a user would: a clean environment, its output, and `codearts serve`
//! in the background.
#![allow(dead_code)]

pub mod listen;
#[path = "../../../tests/common/postgres.rs"]
pub mod postgres;
pub mod push_server;
pub mod receiver;
pub mod watching;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use assert_cmd::cargo::CommandCargoExt;

pub fn codearts() -> Command {
    let mut command = Command::cargo_bin("codearts").unwrap();
    // Only what a test sets: no credentials or profile from the machine running the tests.
    command.env_clear().env("HOME", env!("CARGO_TARGET_TMPDIR"));
    // The chain ends at the ECS metadata service: aim it at a loopback port where nothing
    // listens, never at 169.254.169.254.
    command.env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", "http://127.0.0.1:9");
    command
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts that stderr mentions every one of `needles`.
    pub fn assert_stderr_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "no {needle:?} in stderr: {}",
                self.stderr
            );
        }
    }
}

pub fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `codearts serve` on an ephemeral port, killed on drop.
pub struct Serve {
    child: Child,
    pub url: String,
}

/// The first line a child printed on its (piped) stdout.
pub fn first_stdout_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line
}

impl Serve {
    pub fn start() -> Self {
        Self::with_args(&[])
    }

    pub fn with_args(args: &[&str]) -> Self {
        let mut child = codearts()
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = first_stdout_line(&mut child).trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
            "serve printed {url:?}"
        );
        Self { child, url }
    }

    pub fn client(&self) -> Command {
        let mut command = codearts();
        command
            .args(["--endpoint", &self.url, "--max-attempts", "1"])
            .env("HUAWEICLOUD_SDK_TOKEN", "cli-token")
            .env(
                "HUAWEICLOUD_SDK_PROJECT_ID",
                "3e1f6634946144c2b1ccb46fb8152b8f",
            );
        command
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A git repository in `dir` whose first commit holds `spec` at the path spec-diff reads.
pub fn spec_repository(dir: &std::path::Path, spec: &str) {
    std::fs::create_dir_all(dir.join("openapi")).unwrap();
    std::fs::write(dir.join("openapi/codearts-repo.yaml"), spec).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "spec"]);
}

/// Runs git in `dir`, as a user with a name, and insists that it succeeds.
pub fn git(dir: &std::path::Path, args: &[&str]) {
    succeeds(
        Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir),
    );
}

/// Runs `command` to its end, insists that it succeeds, and returns what it wrote.
#[track_caller]
pub fn succeeds(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} {:?}: {}{}",
        command.get_program(),
        command.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A frozen copy of the spec: the real one evolves without touching the spec-diff tests.
pub const FROZEN_SPEC: &str = include_str!("../fixtures/spec-frozen.yaml");

/// The frozen spec with a breaking change (a tighter input).
pub fn breaking_spec() -> String {
    FROZEN_SPEC.replacen(
        "      minLength: 1\n      example: gh-auth",
        "      minLength: 1\n      maxLength: 64\n      example: gh-auth",
        1,
    )
}

/// The frozen spec with a compatible change (reworded prose).
pub fn compatible_spec() -> String {
    FROZEN_SPEC.replacen(
        "Obtain the latest push event of a repository\n",
        "Get the most recent push event of a repository\n",
        1,
    )
}
