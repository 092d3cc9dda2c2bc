//! `codearts watch` as a test drives it: the embedded server on its own runtime, whose push
//! events a test changes while the command runs, and the command's lines as they come.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use codearts_repo::{
    PushEvent, RepositoryId, Timestamp,
    server::{Fixtures, Server, ServerConfig, TlsOptions},
};
use serde_json::Value;

use super::codearts;

pub const INTERVAL: &str = "100ms";

/// The embedded server on its own runtime, with repositories 1..=n pushed once.
pub struct Loopback {
    pub server: Server,
    /// The server's CA, for `--ca-file`, when it speaks HTTPS.
    ca_file: Option<tempfile::NamedTempFile>,
    _runtime: tokio::runtime::Runtime,
}

impl Loopback {
    /// Plain HTTP/1.1.
    pub fn start(n: u32) -> Self {
        Self::serving(n, None)
    }

    /// HTTPS, where ALPN picks HTTP/2.
    pub fn start_https(n: u32) -> Self {
        Self::serving(n, Some(TlsOptions::new()))
    }

    fn serving(n: u32, tls: Option<TlsOptions>) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime
            .block_on(Server::start(ServerConfig {
                fixtures: Fixtures::empty(),
                tls,
                ..ServerConfig::default()
            }))
            .unwrap();
        let ca_file = server.ca_pem().map(|pem| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), pem).unwrap();
            file
        });
        let loopback = Self {
            server,
            ca_file,
            _runtime: runtime,
        };
        for id in 1..=n {
            loopback.push(id, 0);
        }
        loopback
    }

    /// Push number `n` to repository `id`.
    pub fn push(&self, id: u32, n: u32) {
        self.server.set_push_event(
            RepositoryId::new(id).unwrap(),
            PushEvent::builder()
                .ref_("main".to_owned())
                .created_at(Timestamp::from(created_at(n)))
                .try_into()
                .unwrap(),
        );
    }

    pub fn watch(&self) -> std::process::Command {
        let mut command = codearts();
        command
            .args(["--endpoint", &self.server.url(), "watch"])
            .args(["--interval", INTERVAL])
            .env("HUAWEICLOUD_SDK_TOKEN", "watch-token");
        if let Some(ca) = &self.ca_file {
            command.arg("--ca-file").arg(ca.path());
        }
        command
    }

    /// `codearts watch ARGS`, running.
    pub fn spawn_watch(&self, args: &[&str]) -> Watching {
        let mut command = self.watch();
        command.args(args);
        Watching::spawn(command)
    }
}

pub fn created_at(n: u32) -> String {
    format!("2026-01-01T00:00:{n:02}+08:00")
}

/// A running `codearts watch`, its stdout lines parsed as they come.
pub struct Watching {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Watching {
    pub fn spawn(mut command: std::process::Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).expect("a JSON line"));
            }
        });
        Self { child, lines }
    }

    /// The next `n` lines, each as `(repository, created_at, baseline)`.
    pub fn expect(&self, n: usize) -> Vec<(u64, String, bool)> {
        (0..n)
            .map(|i| {
                let line = self
                    .lines
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|_| panic!("line {} of {n} did not come", i + 1));
                parse(&line)
            })
            .collect()
    }

    /// What it prints within `period`.
    pub fn during(&self, period: Duration) -> Vec<(u64, String, bool)> {
        let end = Instant::now() + period;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            lines.push(parse(&line));
        }
        lines
    }

    /// Sends `signal` (TERM, KILL...) and returns the exit code (`None` when killed).
    pub fn stop(mut self, signal: &str) -> Option<i32> {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap().code()
    }

    /// Sends `signal`, waits, and returns the exit code and the lines it printed since they
    /// were last read (those of the polls it finished after the signal included).
    pub fn stop_with_lines(mut self, signal: &str) -> (Option<i32>, Vec<(u64, String, bool)>) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let code = self.child.wait().unwrap().code();
        // The reader thread ends with stdout: what it read is all in the channel.
        let lines = self.lines.iter().map(|line| parse(&line)).collect();
        (code, lines)
    }

    /// Sends `signal`, waits, and returns the exit code and all it wrote on stderr.
    pub fn stop_with_stderr(mut self, signal: &str) -> (Option<i32>, String) {
        let mut stderr = self.child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
            text
        });
        let code = self.stop(signal);
        (code, reader.join().unwrap())
    }

    /// Its stderr lines as they come, without the `codearts: ` before each; call once.
    pub fn stderr_lines(&mut self) -> mpsc::Receiver<String> {
        let stderr = BufReader::new(self.child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line.trim_start_matches("codearts: ").to_owned());
            }
        });
        lines
    }

    /// Its first line on stderr, and the rest, read as it comes until it exits.
    pub fn stderr_line_and_rest(&mut self) -> (String, std::thread::JoinHandle<String>) {
        let mut stderr = BufReader::new(self.child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let rest = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
            text
        });
        (line, rest)
    }

    /// Its first line on stderr; the rest is read and dropped, so that it never blocks.
    pub fn stderr_line(&mut self) -> String {
        let mut stderr = BufReader::new(self.child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        line
    }
}

/// A test that fails leaves no watch running behind it.
impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn parse(line: &Value) -> (u64, String, bool) {
    (
        line["repository_id"].as_u64().unwrap(),
        line["created_at"].as_str().unwrap().to_owned(),
        line["baseline"].as_bool().unwrap(),
    )
}

pub fn sorted(mut lines: Vec<(u64, String, bool)>) -> Vec<(u64, String, bool)> {
    lines.sort();
    lines
}

pub fn state_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("watch.json").to_str().unwrap().to_owned()
}
