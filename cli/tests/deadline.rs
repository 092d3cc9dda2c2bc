//! `--timeout` is the one bound on a command's call, counted from its start: slow credentials
//! in front of a service that never answers cannot stretch it, and a slow service that
//! answers within it is heard. Over HTTP/1.1 and HTTPS with HTTP/2. (Real time: the bounds
//! are generous; the library tests the exact deadlines under paused time.)

mod common;

use std::{
    io::{Read, Write},
    net::TcpListener,
    process::Command,
    time::{Duration, Instant},
};

use codearts_repo::server::{DEMO_AK, DEMO_SK};
use common::{watching::Loopback, *};

/// Plain HTTP/1.1 and HTTPS, where ALPN picks HTTP/2.
fn both() -> [Loopback; 2] {
    [Loopback::start(1), Loopback::start_https(1)]
}

/// `codearts push-event 1` aimed at `loopback`, trusting its CA when it has one; the file
/// holding the CA lives as long as the command.
fn push_event(loopback: &Loopback, timeout: &str) -> (Command, Option<tempfile::NamedTempFile>) {
    let mut command = codearts();
    command.args(["--endpoint", &loopback.server.url(), "--timeout", timeout]);
    let ca = loopback.server.ca_pem().map(|pem| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), pem).unwrap();
        command.arg("--ca-file").arg(file.path());
        file
    });
    command.args(["push-event", "1"]);
    (command, ca)
}

/// An ECS metadata service on a thread of its own that takes `delay` over each of its two
/// answers (session token, then keys): credentials that take twice `delay`.
fn slow_metadata(delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(delay);
                let body = if head.starts_with(b"PUT") {
                    "session-token".to_owned()
                } else {
                    serde_json::json!({ "credential": {
                        "access": DEMO_AK,
                        "secret": DEMO_SK,
                        "securitytoken": "slow-security-token",
                        "expires_at": "2099-01-01T00:00:00.000000Z",
                    }})
                    .to_string()
                };
                let _ = write!(
                    socket,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// Credentials that take 3 s and a service that never answers: `--timeout 4s` ends the
/// command at about 4 s (it took 7 s when the attempts counted a deadline of their own).
#[test]
fn timeout_bounds_slow_credentials_and_a_hanging_service() {
    for loopback in both() {
        loopback.server.set_delay(Some(Duration::from_secs(3600)));
        let metadata = slow_metadata(Duration::from_millis(1500));
        let (mut command, _ca) = push_event(&loopback, "4s");
        command.env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", &metadata);
        let started = Instant::now();
        let out = run(&mut command);
        let elapsed = started.elapsed();
        assert_eq!(out.code, 4, "{}", out.stderr);
        assert!(
            elapsed < Duration::from_secs(5),
            "{elapsed:?}: {}",
            out.stderr
        );
        // The keys came and the service was asked: the deadline ended the attempt.
        out.assert_stderr_has(&["timeout", "no complete answer"]);
        assert_eq!(loopback.server.counts().requests, 1, "{}", out.stderr);
    }
}

/// A service that takes 1 s is heard with `--timeout 2s`: the attempt may use what is left
/// of it (split three ways, each attempt was cut at 666 ms and the command failed).
#[test]
fn a_slow_service_that_answers_within_the_timeout_is_heard() {
    for loopback in both() {
        loopback.server.set_delay(Some(Duration::from_secs(1)));
        let (mut command, _ca) = push_event(&loopback, "2s");
        let out = run(command.env("HUAWEICLOUD_SDK_TOKEN", "cli-token"));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains("2026-01-01T00:00:00+08:00"),
            "{}",
            out.stdout
        );
        assert_eq!(loopback.server.counts().requests, 1);
    }
}
