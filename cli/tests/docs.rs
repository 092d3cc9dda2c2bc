//! The README and `docs/` as a reader follows them: every relative link resolves, every
//! `codearts` command in a shell block runs as written against the embedded server (only
//! ports and loopback URLs are swapped for the test's own), and every other command is
//! either checked here or named with the test that runs it. A command no test accounts for
//! fails here.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::Stdio,
    sync::mpsc,
    time::Duration,
};

use codearts_repo::server::{DEMO_AK, DEMO_SK};
use common::{Serve, codearts};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Markdown files a reader opens: the root's, `cli/`'s and `docs/`.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [root(), root().join("cli"), root().join("docs")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The pages whose commands are run: the README and `docs/`.
fn pages() -> Vec<PathBuf> {
    markdown_files()
        .into_iter()
        .filter(|p| p.ends_with("README.md") && p.parent() == Some(&root()) || in_docs(p))
        .collect()
}

fn in_docs(path: &Path) -> bool {
    path.parent().is_some_and(|d| d.ends_with("docs"))
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(slug(line.trim_start_matches('#')));
        }
    }
    found
}

/// `[text](target)` links outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") || line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for (at, _) in prose.match_indices("](") {
            let rest = &prose[at + 2..];
            if let Some(end) = rest.find(')') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

#[test]
fn every_relative_link_resolves_to_a_file_and_a_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = read(&file);
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", file.display()));
            } else if !anchor.is_empty() && !anchors(&read(&target)).iter().any(|a| a == anchor) {
                broken.push(format!("{}: {link}: no such heading", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(
        checked > 20,
        "only {checked} links found: is the parser blind?"
    );
}

#[test]
fn the_link_parser_sees_a_broken_link() {
    assert_eq!(links("see [a](b.md#c) and `[x](y)`"), ["b.md#c"]);
    assert_eq!(slug(" Over HTTPS with HTTP/2"), "over-https-with-http2");
    assert_eq!(
        anchors("# A\n```\n# not\n```\n## The `x` b"),
        ["a", "the-x-b"]
    );
}

#[test]
fn every_page_is_linked_from_the_readme_and_links_back() {
    let readme = read(&root().join("README.md"));
    for page in pages().iter().filter(|p| in_docs(p)) {
        let name = page.file_name().unwrap().to_str().unwrap();
        assert!(
            readme.contains(&format!("(docs/{name})")),
            "the README links to docs/{name}"
        );
        assert!(read(page).contains("](../README.md)"), "{name} links back");
    }
}

/// Every page with Rust code is compiled and run by rustdoc (src/lib.rs includes it), or
/// held byte for byte to a test's own code, which compiles it.
#[test]
fn every_rust_example_in_docs_is_a_doctest() {
    const HELD_BY: &[(&str, &str)] = &[
        ("drift.md", "tests/drift.rs"),
        ("delivery.md", "cli/tests/delivery_docs.rs"),
    ];
    let lib = read(&root().join("src/lib.rs"));
    for page in pages().iter().filter(|p| in_docs(p)) {
        let name = page.file_name().unwrap().to_str().unwrap();
        if read(page).contains("```rust") {
            let held = HELD_BY.iter().any(|(held, test)| {
                *held == name && read(&root().join(test)).contains(&format!("docs/{name}"))
            });
            assert!(
                held || lib.contains(&format!("include_str!(\"../docs/{name}\")")),
                "docs/{name} has Rust code that no doctest compiles"
            );
        }
    }
}

/// A shell block's commands: continuation lines joined, comments and blank lines dropped.
/// A here-document is one command with its body.
fn commands(block: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut heredoc: Option<String> = None;
    for line in block.lines() {
        if let Some(end) = &heredoc {
            current.push('\n');
            current.push_str(line);
            if line == end {
                heredoc = None;
                commands.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let line = match line.find(" # ") {
            Some(at) if !line[..at].contains('\'') => &line[..at],
            _ => line,
        };
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line.trim_end());
                if let Some((_, end)) = current.split_once("<<'") {
                    heredoc = Some(end.trim_end_matches('\'').to_owned());
                } else {
                    commands.push(std::mem::take(&mut current).trim().to_owned());
                }
            }
        }
    }
    commands
}

/// Each page's shell commands, with the page's name.
fn shell_commands() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for block in read(&page).split("```sh\n").skip(1) {
            let block = &block[..block.find("```").unwrap()];
            all.extend(commands(block).into_iter().map(|c| (name.clone(), c)));
        }
    }
    all
}

/// Where a command that is not run here is run or checked.
fn elsewhere(page: &str, command: &str) -> Option<&'static str> {
    let first = command.split_whitespace().next().unwrap_or_default();
    match (page, first) {
        ("README.md", "cargo") if command == readme_test_command() => {
            Some("the test suite itself; .ci/run runs it (checked below)")
        }
        ("README.md", "cargo" | "export")
            if command.contains("serve --port 8080")
                || command.contains("--example quick_start")
                || command.starts_with("export HUAWEICLOUD_SDK_REGION_") =>
        {
            Some("tests/quick_start.rs runs the quick start with these lines")
        }
        ("docs/credentials.md", "export") => {
            Some("cli/tests/serve_keyless.rs runs each flow's line from the banner")
        }
        ("docs/deploying.md", "docker") => Some("cli/tests/image.rs"),
        ("docs/delivery.md", "cargo") => {
            Some("the delivery cost measurement, whose figures the page records")
        }
        ("docs/delivery.md", _) => Some(
            "cli/tests/delivery_docs.rs runs the page's command, its openssl and Python checks \
             and its replay against a real receiver",
        ),
        ("docs/drift.md", "codearts" | "export") => {
            Some("cli/tests/drift.rs runs the page's serve and check-spec lines as written")
        }
        ("docs/drift.md", "cargo" | "target/release/codearts" | "valgrind") => {
            Some("the drift check's cost measurement, whose figures the page records")
        }
        ("docs/deploying.md", "kubectl" | "mkdir" | "uri=$(kubectl") => {
            Some("cli/tests/kustomize.rs and cli/tests/deploy.rs")
        }
        _ => None,
    }
}

fn readme_test_command() -> String {
    shell_commands()
        .into_iter()
        .map(|(_, c)| c)
        .find(|c| c.starts_with("cargo test"))
        .expect("the README's test command")
}

#[test]
fn the_readmes_first_commands_are_the_demo_and_the_whole_suite_as_ci_runs_it() {
    let readme = shell_commands();
    let first_run = readme
        .iter()
        .find(|(_, c)| c.starts_with("cargo run"))
        .unwrap();
    assert_eq!(first_run.1, "cargo run -p codearts-cli -- demo");
    let test = readme_test_command();
    assert_eq!(test, "cargo test --workspace --all-features --locked");
    let ci = read(&root().join(".ci/run"));
    assert!(ci.lines().any(|l| l == test), ".ci/run runs `{test}`");
}

/// The benchmarks' commands take minutes and nginx: checked, not run. Each names a package,
/// a binary and files that exist.
fn check_bench_command(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    let bench = read(&root().join("bench/Cargo.toml"));
    match words.as_slice() {
        ["cargo", "build", "--release", "-p", package] => {
            bench.contains(&format!("name = \"{package}\""))
        }
        ["taskset", "-c", _, "nginx", "-p", "/tmp", "-c", config] => root()
            .join(config.trim_matches('"').replace("$PWD/", ""))
            .exists(),
        ["taskset", "-c", _, binary, ..] if binary.starts_with("target/release/") => {
            let name = binary.trim_start_matches("target/release/");
            bench.contains(&format!("name = \"{name}\""))
        }
        ["taskset", "-c", _, "python3", script, ..] => root().join(script).exists(),
        _ => false,
    }
}

#[test]
fn every_shell_command_in_the_readme_and_docs_is_run_or_checked() {
    let dir = tempfile::tempdir().unwrap();
    // `serve --fixtures src/server/fixtures.json`, as from the repository's root.
    std::fs::create_dir_all(dir.path().join("serve/src/server")).unwrap();
    std::fs::copy(
        root().join("src/server/fixtures.json"),
        dir.path().join("serve/src/server/fixtures.json"),
    )
    .unwrap();
    let plain = Serve::start();
    let ca = dir.path().join("ca.pem");
    let tls = Serve::with_args(&["--tls", "--write-ca", ca.to_str().unwrap()]);
    let mut unaccounted = Vec::new();
    let mut ran = 0;
    for (page, command) in shell_commands() {
        let codearts_args = command
            .strip_prefix("codearts ")
            .or_else(|| command.strip_prefix("cargo run -p codearts-cli -- "));
        if let Some(args) = codearts_args.filter(|_| elsewhere(&page, &command).is_none()) {
            run_as_written(&page, args, &plain.url, &tls.url, dir.path());
            ran += 1;
        } else if elsewhere(&page, &command).is_none()
            && !check_bench_command(&command)
            && command != "cargo install --path cli"
        {
            unaccounted.push(format!("{page}: {command}"));
        }
    }
    assert!(unaccounted.is_empty(), "no test runs: {unaccounted:#?}");
    assert!(ran >= 15, "only {ran} codearts commands found");
}

/// Runs `codearts ARGS` as a page writes it, with the demo's AK/SK and the region's hosts
/// aimed at the embedded server. `serve` and `watch` run until they have shown they work,
/// then stop on SIGTERM as a user's Ctrl-C stops them.
fn run_as_written(page: &str, args: &str, plain: &str, tls: &str, dir: &Path) {
    let args: Vec<String> = args
        .split_whitespace()
        .map(|word| loopback(word, plain, tls))
        .collect();
    let args = with_port_zero(args);
    // A server writes its files (`--write-ca ca.pem`) in a directory of its own: the calls'
    // `ca.pem` is the test's server's.
    let serves = args.iter().any(|a| a == "serve");
    let cwd = if serves {
        dir.join("serve")
    } else {
        dir.to_owned()
    };
    std::fs::create_dir_all(&cwd).unwrap();
    let mut command = codearts();
    command
        .args(&args)
        .current_dir(&cwd)
        .env("HUAWEICLOUD_SDK_AK", DEMO_AK)
        .env("HUAWEICLOUD_SDK_SK", DEMO_SK)
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", plain);
    for service in ["CODEARTSREPO", "SERVICESTAGE"] {
        command.env(
            format!("HUAWEICLOUD_SDK_REGION_{service}_CN_NORTH_4"),
            plain,
        );
    }
    let what = format!("{page}: codearts {}", args.join(" "));
    let long_running = serves || args.iter().any(|a| a == "watch");
    if !long_running {
        let out = command.output().unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sent, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sent.send(line);
    });
    // A watch spreads its first polls over the interval (30 s in the pages).
    let line = first_line.recv_timeout(Duration::from_secs(60));
    let line = line.unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("{what}: printed nothing in 60 s")
    });
    let expected = if serves { "http" } else { "{\"baseline\":true" };
    if !line.starts_with(expected) {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("{what}: {line}{}", String::from_utf8_lossy(&out.stderr));
    }
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A page's loopback URL, on its own port, is the test's server of the same scheme.
fn loopback(word: &str, plain: &str, tls: &str) -> String {
    match word {
        w if w.starts_with("http://127.0.0.1:") => plain.to_owned(),
        w if w.starts_with("https://127.0.0.1:") => tls.to_owned(),
        w => w.to_owned(),
    }
}

/// `--port N` becomes `--port 0`: the machine's ports are not the test's to take.
fn with_port_zero(mut args: Vec<String>) -> Vec<String> {
    if let Some(at) = args.iter().position(|a| a == "--port") {
        args[at + 1] = "0".into();
    }
    args
}
