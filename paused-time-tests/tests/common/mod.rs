//! The embedded server with push events set by the tests, a client without timers of its
//! own, and readers of a watch's items under paused time.
#![allow(dead_code)]

use std::time::Duration;

use codearts_repo::{
    Client, Credentials, PushEvent, RepositoryId, RetryPolicy, Timestamp, WatchItem, WatchStream,
    server::{Fixtures, Server, ServerConfig},
};

pub const INTERVAL: Duration = Duration::from_secs(60);

pub fn id(n: u32) -> RepositoryId {
    RepositoryId::new(n).unwrap()
}

pub fn event(git_ref: &str, created_at: &str) -> PushEvent {
    PushEvent::builder()
        .ref_(git_ref.to_owned())
        .created_at(Timestamp::from(created_at))
        .try_into()
        .unwrap()
}

pub async fn setup(repositories: &[u32]) -> (Server, Client) {
    let server = Server::start(ServerConfig {
        fixtures: Fixtures::empty(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    for &n in repositories {
        server.set_push_event(id(n), event("main", "2026-01-01T00:00:00+08:00"));
    }
    // No client timers: under paused time only the watch's schedule moves the clock.
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("watch-token").unwrap())
        .retry(RetryPolicy::none())
        .attempt_timeout(Duration::MAX)
        .timeout(None)
        .build()
        .unwrap();
    (server, client)
}

/// The next item within `within` of virtual time, if any.
pub async fn next(stream: &mut WatchStream, within: Duration) -> Option<WatchItem> {
    tokio::time::timeout(within, stream.next())
        .await
        .ok()
        .flatten()
}

pub fn push(item: Option<WatchItem>) -> (u32, String, bool) {
    match item {
        Some(WatchItem::Push {
            repository_id,
            event,
            baseline,
        }) => (
            repository_id.get(),
            event.created_at.unwrap().to_string(),
            baseline,
        ),
        other => panic!("expected a push, got {other:?}"),
    }
}
