//! docs/delivery.md, run: its command against the embedded server and a loopback receiver,
//! its shell (openssl) and Python signature checks on a real delivery's body and header, its
//! Rust check as the tests' own, and its replay script against a receiver that had refused.
//! `openssl` and `python3` are required (.ci/run installs them where missing).

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::{
    receiver::{Answer, Receiver, SECRET},
    watching::{Loopback, Watching},
};

fn page() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/delivery.md")).unwrap()
}

/// The code blocks opened by `fence` (such as "```sh"), in order.
fn blocks(fence: &str) -> Vec<String> {
    let page = page();
    let mut blocks = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line == fence {
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push(block.join("\n") + "\n");
        }
    }
    blocks
}

/// A tool the page's checks run, or a failure that says how to get it: never a skip.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is needed (apt-get install {name})"
    );
    Command::new(name)
}

fn secret_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    path
}

/// The page's command, as written but for its places: the receiver's URL, files in `dir`,
/// the embedded server as endpoint and a short interval.
fn run_the_pages_command(
    loopback: &Loopback,
    receiver: &Receiver,
    dir: &Path,
    extra: &[&str],
) -> Watching {
    let command = blocks("```sh").remove(0).replace("\\\n", " ");
    let words: Vec<String> = command
        .split_whitespace()
        .map(|word| match word {
            "ids.txt" => dir.join("ids.txt").to_str().unwrap().to_owned(),
            "/var/lib/codearts/watch.json" => dir.join("watch.json").to_str().unwrap().to_owned(),
            "https://ci.internal.example/hooks/codearts" => receiver.url(),
            "/run/secrets/codearts-webhook" => secret_file(dir).to_str().unwrap().to_owned(),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(words[..2], ["codearts", "watch"], "{command}");
    std::fs::write(dir.join("ids.txt"), "1\n").unwrap();
    let mut run = common::codearts();
    run.args(["--endpoint", &loopback.server.url()])
        .args(&words[1..])
        .args(["--interval", "100ms"])
        .args(extra)
        .env("HUAWEICLOUD_SDK_TOKEN", "docs-token");
    Watching::spawn(run)
}

#[test]
fn the_pages_signature_checks_verify_a_real_delivery_and_refuse_a_forged_one() {
    let loopback = Loopback::start(1);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let watch = run_the_pages_command(&loopback, &receiver, dir.path(), &[]);
    watch.expect(1);
    loopback.push(1, 1);
    let delivery = receiver
        .wait_for(Duration::from_secs(10), |r| !r.is_empty())
        .remove(0);
    std::fs::write(dir.path().join("body.json"), &delivery.body).unwrap();
    let shell = blocks("```sh").remove(1);
    let python = blocks("```python").remove(0);
    for signature in [
        delivery.signature.clone(),
        format!("sha256={}", "0".repeat(64)),
    ] {
        let genuine = signature == delivery.signature;
        tool("openssl");
        for (mut command, name) in [(tool("sh"), "shell"), (tool("python3"), "python")] {
            let script = if name == "shell" { &shell } else { &python };
            command.arg("-c").arg(script);
            let out = command
                .current_dir(dir.path())
                .env("SECRET", SECRET)
                .env("SIGNATURE", &signature)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.success(),
                genuine,
                "{name}: {said} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(said.trim() == "verified", genuine, "{name}: {said}");
        }
    }
    // The document's fields are those the page shows.
    let shown: serde_json::Value = serde_json::from_str(&blocks("```json").remove(0)).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&shown), keys(&delivery.document));
}

#[test]
fn the_pages_rust_check_is_the_one_the_tests_use() {
    let rust = blocks("```rust").remove(0);
    let tests = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/common/receiver.rs"
    ))
    .unwrap();
    assert!(
        tests.contains(&rust),
        "docs/delivery.md's Rust block is not in receiver.rs:\n{rust}"
    );
}

#[test]
fn the_pages_replay_delivers_what_was_refused_with_its_id() {
    let loopback = Loopback::start(1);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let rejected = dir.path().join("rejected.jsonl");
    let watch = run_the_pages_command(
        &loopback,
        &receiver,
        dir.path(),
        &["--deliver-rejected", rejected.to_str().unwrap()],
    );
    watch.expect(1);
    receiver.answer(Answer::Status(400));
    loopback.push(1, 1);
    let refused = receiver
        .wait_for(Duration::from_secs(10), |r| !r.is_empty())
        .remove(0);
    // The receiver answered before the watch wrote the refusal down: wait for the line.
    let written = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&rejected).is_ok_and(|text| text.ends_with('\n')) {
        assert!(
            std::time::Instant::now() < written,
            "the refusal was never kept"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(watch);
    receiver.answer(Answer::Ok);
    let replay = blocks("```python").remove(1);
    common::succeeds(
        tool("python3")
            .arg("-c")
            .arg(&replay)
            .env("SECRET", SECRET)
            .env("REJECTED", &rejected)
            .env("URL", receiver.url()),
    );
    let replayed = receiver.delivered().remove(0);
    assert_eq!(replayed.id, refused.id);
    assert_eq!(replayed.body, refused.body);
    assert!(common::receiver::verifies(
        &replayed.body,
        &replayed.signature
    ));
}
