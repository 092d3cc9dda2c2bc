//! `codearts` over HTTPS and through endpoint lists and regions files, as a user would run it.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::*;

#[test]
fn https_needs_the_servers_ca_and_an_unknown_issuer_exits_4_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let serve = Serve::with_args(&["--tls", "--write-ca", ca.to_str().unwrap()]);
    assert!(serve.url.starts_with("https://"), "{}", serve.url);

    let out = run(serve.client().args([
        "--ca-file",
        ca.to_str().unwrap(),
        "push-event",
        "2112036131",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("master"), "{}", out.stdout);

    // `client()` allows one attempt; the CLI's default is three.
    let out = run(codearts()
        .args(["--endpoint", &serve.url, "push-event", "2112036131"])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    out.assert_stderr_has(&["TLS error after 1 attempt(s)", "unknown issuer"]);

    let out = run(serve
        .client()
        .args(["--ca-file", "/nonexistent/ca.pem", "push-event", "1"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["--ca-file", "/nonexistent/ca.pem"]);
}

#[test]
fn regions_come_from_the_environment_list_then_the_regions_file() {
    let serve = Serve::start();
    let push = |command: &mut Command| {
        run(command
            .args([
                "--region",
                "xx-cli-1",
                "--max-attempts",
                "1",
                "push-event",
                "2112036131",
            ])
            .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"))
    };
    // The environment's list, whose first endpoint is dead.
    let out = push(codearts().env(
        "HUAWEICLOUD_SDK_REGION_CODEARTSREPO_XX_CLI_1",
        format!("http://127.0.0.1:9, {}", serve.url),
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // ~/.huaweicloud/regions.yaml.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".huaweicloud")).unwrap();
    let file = home.path().join(".huaweicloud/regions.yaml");
    std::fs::write(
        &file,
        format!(
            "codeartsrepo:\n  - id: xx-cli-1\n    endpoint: {}\n",
            serve.url
        ),
    )
    .unwrap();
    let out = push(codearts().env("HOME", home.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A broken one is a configuration error naming it.
    std::fs::write(&file, "codeartsrepo: [\n").unwrap();
    let out = push(codearts().env("HOME", home.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["regions.yaml", "line"]);
}

#[test]
fn a_dead_endpoint_fails_promptly_with_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = run(codearts()
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--max-attempts",
            "1",
            "push-event",
            "1",
        ])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    out.assert_stderr_has(&["connect"]);
    assert!(started.elapsed() < Duration::from_secs(10));

    // A timeout past a day is a typo, refused before anything is sent, not a panic.
    let out = run(codearts()
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "100000000000years",
            "push-event",
            "1",
        ])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["--timeout", "at most 1day"]);
}

#[test]
fn plain_http_to_another_host_is_refused() {
    let out = run(codearts()
        .args(["--endpoint", "http://example.com", "push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["plain HTTP"]);
}

#[test]
fn per_service_endpoint_overrides_come_from_the_sdk_variables() {
    let server = Serve::start();
    let out = run(codearts()
        .args(["--region", "cn-north-4", "push-event", "2112036131"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t")
        .env(
            "HUAWEICLOUD_SDK_REGION_CODEARTSREPO_CN_NORTH_4",
            format!("{},https://unused.example.com", server.url),
        ));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A proxy from the environment never sees a request to loopback, which carries its token
/// in clear text over plain HTTP; other hosts still go through it.
#[test]
fn loopback_is_never_proxied() {
    use std::io::{Read, Write};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    proxy.set_nonblocking(true).unwrap();
    let serve = Serve::start();
    let out = run(serve
        .client()
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .args(["push-event", "2112036131"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(proxy.accept().is_err(), "the proxy was asked for loopback");

    // Another host does go through it: the proxy gets the request (and answers nothing).
    let seen = std::thread::spawn(move || {
        proxy.set_nonblocking(false).unwrap();
        let (mut socket, _) = proxy.accept().unwrap();
        let mut head = [0u8; 512];
        let n = socket.read(&mut head).unwrap();
        let _ = socket.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        String::from_utf8_lossy(&head[..n]).into_owned()
    });
    let out = run(codearts()
        .args(["--endpoint", "http://example.invalid", "--allow-http"])
        .args(["--max-attempts", "1", "push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token")
        .env("HTTP_PROXY", &proxy_url));
    assert_ne!(out.code, 0);
    let head = seen.join().unwrap();
    assert!(head.contains("example.invalid"), "{head}");
}

/// `--timeout` bounds the one-shot command, and an attempt may use all of it: a hanging
/// endpoint holds the first attempt to the deadline, and the error says why no other was made;
/// a long wait the service asked for is said before it is waited.
#[test]
fn a_hanging_endpoint_ends_at_the_timeout_and_long_waits_are_said() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket); // answer nothing, ever
        }
    });
    let started = Instant::now();
    let out = run(codearts()
        .args([
            "--endpoint",
            &hanging,
            "--timeout",
            "1500ms",
            "--max-attempts",
            "3",
        ])
        .args(["push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The attempt may use all the time (a slow answer would be heard), so no time is left
    // for a second one, and the message says so.
    out.assert_stderr_has(&[
        "timeout error after 1 attempt(s)",
        "no complete answer within 1.5s",
        "left before the deadline",
    ]);

    let loopback = watching::Loopback::start(1);
    loopback.server.set_failure(
        codearts_repo::RepositoryId::new(1).unwrap(),
        Some(codearts_repo::server::InjectedFailure {
            status: 429,
            retry_after: Some(2),
        }),
    );
    let out = run(codearts()
        .args(["--endpoint", &loopback.server.url(), "--max-attempts", "2"])
        .args(["push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    out.assert_stderr_has(&["waiting 2s as the service asked (Retry-After)"]);
}
