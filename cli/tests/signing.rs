//! `--signing-algorithm`: every algorithm of the official SDKs signs both operations, the IAM
//! project-id lookup and a watch, over HTTP/1.1 and HTTPS with HTTP/2, against `codearts
//! serve`; a wrong secret is refused for each; an unknown name is a usage error.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
};

use codearts_repo::server::{DEMO_AK, DEMO_SK};
use common::*;

const ALGORITHMS: [&str; 4] = ["hmac-sha256", "hmac-sm3", "ecdsa-p256-sha256", "sm2-sm3"];

/// A client of `server` with the demo AK/SK, no project id (IAM is asked) and `algorithm`.
fn signed_client(
    server: &Serve,
    ca: Option<&std::path::Path>,
    sk: &str,
    algorithm: &str,
) -> std::process::Command {
    let mut command = codearts();
    command
        .args([
            "--endpoint",
            &server.url,
            "--region",
            "cn-north-4",
            "--max-attempts",
            "1",
        ])
        .args(["--signing-algorithm", algorithm])
        .env("HUAWEICLOUD_SDK_AK", DEMO_AK)
        .env("HUAWEICLOUD_SDK_SK", sk)
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", &server.url);
    if let Some(ca) = ca {
        command.arg("--ca-file").arg(ca);
    }
    command
}

fn both_protocols(check: impl Fn(&Serve, Option<&std::path::Path>)) {
    check(&Serve::start(), None);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let server = Serve::with_args(&["--tls", "--write-ca", ca.to_str().unwrap()]);
    check(&server, Some(&ca));
}

#[test]
fn every_algorithm_signs_both_operations_and_the_iam_lookup() {
    both_protocols(|server, ca| {
        for algorithm in ALGORITHMS {
            let out =
                run(signed_client(server, ca, DEMO_SK, algorithm)
                    .args(["push-event", "2112036131"]));
            assert_eq!(out.code, 0, "{algorithm} push-event: {}", out.stderr);
            let out = run(signed_client(server, ca, DEMO_SK, algorithm).args([
                "commits",
                "3e1f6634946144c2b1ccb46fb8152b8f",
                "test",
                "--repo-auth",
                "a",
            ]));
            // The commits call needs the project id, which only IAM could give.
            assert_eq!(out.code, 0, "{algorithm} commits: {}", out.stderr);
            assert!(
                out.stdout.contains("Fix all the bugs"),
                "{algorithm}: {}",
                out.stdout
            );
        }
    });
}

#[test]
fn every_algorithm_signs_a_watch() {
    let server = Serve::start();
    for algorithm in ALGORITHMS {
        let out = run(signed_client(&server, None, DEMO_SK, algorithm).args([
            "watch",
            "--once",
            "2112036131",
        ]));
        assert_eq!(out.code, 0, "{algorithm}: {}", out.stderr);
        assert!(
            out.stdout.contains("2112036131"),
            "{algorithm}: {}",
            out.stdout
        );
    }
}

#[test]
fn a_wrong_secret_is_refused_for_every_algorithm() {
    both_protocols(|server, ca| {
        for algorithm in ALGORITHMS {
            let out = run(signed_client(server, ca, "not-the-demo-secret", algorithm)
                .args(["push-event", "2112036131"]));
            assert_eq!(out.code, 3, "{algorithm}: {}", out.stderr);
            out.assert_stderr_has(&["APIGW.0301", "signature does not match"]);
            assert!(
                !out.stderr.contains("not-the-demo-secret"),
                "{}",
                out.stderr
            );
        }
    });
}

#[test]
fn an_unknown_algorithm_is_a_usage_error_and_nothing_is_sent() {
    // The endpoint is dead: a request would be a transport error (4), not 2.
    for args in [
        &["push-event", "--signing-algorithm", "hmac-md5", "1"][..],
        &["--signing-algorithm", "SM2", "push-event", "1"],
        &[
            "commits",
            "n",
            "p",
            "--repo-auth",
            "a",
            "--signing-algorithm",
            "",
        ],
        &["watch", "--once", "--signing-algorithm", "rsa", "1"],
    ] {
        let out = run(codearts()
            .args(["--endpoint", "http://127.0.0.1:9"])
            .args(args)
            .env("HUAWEICLOUD_SDK_AK", DEMO_AK)
            .env("HUAWEICLOUD_SDK_SK", DEMO_SK));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        out.assert_stderr_has(&[
            "--signing-algorithm",
            "hmac-sha256, hmac-sm3, ecdsa-p256-sha256, sm2-sm3",
        ]);
    }
}

#[test]
fn serve_says_which_keys_and_algorithms_it_accepts() {
    let mut child = codearts()
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    while !banner.contains("Ctrl-C") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    for expected in [DEMO_AK, DEMO_SK].into_iter().chain(ALGORITHMS) {
        assert!(banner.contains(expected), "no {expected} in {banner}");
    }
}
