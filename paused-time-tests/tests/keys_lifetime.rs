//! Temporary keys are fetched about once per lifetime, under paused tokio time against the
//! embedded server playing STS (OIDC federation): the refresh comes the lesser of 40 minutes
//! and half the lifetime before expiry, so 15-minute keys are not fetched per call, and a
//! refresh that hangs never holds calls up while the keys last.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use codearts_repo::{
    Client, Credentials, RepositoryId, RetryPolicy, WatchOptions,
    server::{DEMO_AK, DEMO_SK, Keyless, Server, ServerConfig},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const REPOSITORY: u32 = 2112036131;

/// The embedded server issuing keys that last `lifetime`.
async fn server(lifetime: Duration) -> Server {
    Server::start(ServerConfig {
        keyless: Some(Keyless {
            lifetime,
            ..Keyless::default()
        }),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// OIDC federation against `sts`, as the chain finds it in the environment (`home`: an empty
/// directory, so no profile).
fn oidc(sts: &str, home: &std::path::Path) -> Credentials {
    let vars = [
        ("HOME", home.to_str().unwrap().to_owned()),
        ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:provider".into()),
        ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:agency".into()),
        ("HUAWEICLOUD_OIDC_ID_TOKEN", "demo-id-token".into()),
        ("HUAWEICLOUD_SDK_STS_ENDPOINT", sts.to_owned()),
        (
            "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
            "http://127.0.0.1:9".into(),
        ),
    ];
    Credentials::from_vars(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// A client without timers of its own: under paused time only the test moves the clock.
fn client(server: &Server, home: &std::path::Path) -> Client {
    Client::builder()
        .endpoint(server.url())
        .credentials(oidc(&server.url(), home))
        .retry(RetryPolicy::none())
        .attempt_timeout(Duration::MAX)
        .timeout(None)
        .build()
        .unwrap()
}

/// The STS exchanges the server counted: one per key it issued.
fn exchanges(server: &Server) -> u64 {
    server.counts().keys_issued
}

/// How many fetches the rule makes for calls every `step` over `span`: one at the first
/// call, then one at the first call at or after each refresh time (the lifetime less the
/// lesser of 40 minutes and half the lifetime, counted from the fetch).
fn by_the_rule(lifetime: Duration, step: Duration, span: Duration) -> u64 {
    let ahead = (lifetime / 2).min(Duration::from_secs(40 * 60));
    let mut refresh_at = lifetime - ahead;
    let mut fetches = 1;
    let mut now = step;
    while now < span {
        if now >= refresh_at {
            fetches += 1;
            refresh_at = now + lifetime - ahead;
        }
        now += step;
    }
    fetches
}

#[tokio::test(start_paused = true)]
async fn keys_are_fetched_about_once_per_lifetime() {
    let minutes = |n: u64| Duration::from_secs(n * 60);
    // (lifetime, calls every): 15-minute OIDC keys, the one-hour default, six-hour IAM keys.
    for (lifetime, step) in [
        (minutes(15), Duration::from_secs(7)),
        (minutes(60), Duration::from_secs(29)),
        (minutes(360), Duration::from_secs(173)),
    ] {
        let server = server(lifetime).await;
        let home = tempfile::tempdir().unwrap();
        let client = client(&server, home.path());
        let span = lifetime * 3;
        let mut calls = 0;
        let started = tokio::time::Instant::now();
        while started.elapsed() < span {
            client.last_push_event(REPOSITORY).await.unwrap();
            calls += 1;
            tokio::time::sleep(step).await;
        }
        let expected = by_the_rule(lifetime, step, span);
        assert_eq!(
            exchanges(&server),
            expected,
            "{lifetime:?} keys, {calls} calls every {step:?}"
        );
        // Never more than one fetch per half-lifetime, by the server's count.
        assert!(exchanges(&server) <= 1 + span.as_secs() / (lifetime.as_secs() / 2));
        let statuses = server.requests();
        assert!(
            statuses.iter().all(|r| r.status == 200),
            "every call signed with keys the server accepted"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_watch_on_15_minute_keys_exchanges_them_once() {
    let server = server(Duration::from_secs(15 * 60)).await;
    let ids: Vec<RepositoryId> = (1..=20).map(|n| RepositoryId::new(n).unwrap()).collect();
    for id in &ids {
        server.set_push_event(
            *id,
            codearts_repo::PushEvent::builder()
                .ref_("main".to_owned())
                .created_at(codearts_repo::Timestamp::from("2026-01-01T00:00:00+08:00"))
                .try_into()
                .unwrap(),
        );
    }
    let home = tempfile::tempdir().unwrap();
    let client = client(&server, home.path());
    let (_handle, mut stream) = client.watch(
        WatchOptions::default().interval(Duration::from_secs(1)),
        ids,
    );
    let _ = tokio::time::timeout(Duration::from_secs(12), async {
        while stream.next().await.is_some() {}
    })
    .await;
    let polls = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v4/"))
        .count();
    assert!(polls >= 200, "{polls} polls");
    assert_eq!(exchanges(&server), 1, "for {polls} polls");
}

/// A pod-identity agent on loopback that answers its first request with keys lasting
/// 15 minutes (the server's demo pair, which it accepts whatever the security token) and
/// never answers again; how many requests it received.
async fn agent_that_hangs_after_one_answer() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/credentials", listener.local_addr().unwrap());
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counted.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Head and the two-byte body `{}`.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") || !request.ends_with(b"}") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buf[..read]),
                    }
                }
                if n.fetch_add(1, Ordering::SeqCst) > 0 {
                    std::future::pending::<()>().await;
                }
                // By the wall clock, as a real agent counts (paused time does not move it).
                let expires = (chrono::Utc::now() + chrono::Duration::minutes(15)).to_rfc3339();
                let body = format!(
                    r#"{{"accessKeyId":"{DEMO_AK}","secretAccessKey":"{DEMO_SK}","securityToken":"agent-security-token","expiration":"{expires}"}}"#
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, asked)
}

/// Keys due for a refresh are refreshed in the background: calls go on with them while the
/// refresh hangs (a call that waited would fail with the refresh's timeout), and only one
/// refresh runs.
#[tokio::test(start_paused = true)]
async fn calls_go_on_with_valid_keys_while_a_refresh_hangs() {
    let (uri, asked) = agent_that_hangs_after_one_answer().await;
    let server = server(Duration::from_secs(3600)).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let token_file = dir.join("pod-token");
    std::fs::write(&token_file, "demo-pod-token").unwrap();
    let vars = [
        ("HOME", dir.to_str().unwrap().to_owned()),
        (
            "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
            "http://127.0.0.1:9".into(),
        ),
        ("HC_CONTAINER_CREDENTIALS_FULL_URI", uri),
        (
            "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap().into(),
        ),
    ];
    let credentials = Credentials::from_vars(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    client.last_push_event(REPOSITORY).await.unwrap();
    // Past the refresh time (7.5 minutes), well before the keys' end.
    tokio::time::sleep(Duration::from_secs(8 * 60)).await;
    for _ in 0..5 {
        client.last_push_event(REPOSITORY).await.unwrap();
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "the first fetch, and one refresh at a time"
    );
    let calls = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v4/") && r.status == 200)
        .count();
    assert_eq!(calls, 6);
}
