//! The embedded server with repositories 1..=n, and a token client of it, for the benchmarks
//! that watch many repositories.

use codearts_repo::{
    Client, Credentials, PushEvent, RepositoryId, RetryPolicy,
    server::{Fixtures, Server, ServerConfig},
};

/// The server (`config`, whose fixtures are replaced) with repositories 1..=`n`, each at
/// `event`, and their ids.
pub async fn repositories(
    n: u32,
    event: PushEvent,
    config: ServerConfig,
) -> (Server, Vec<RepositoryId>) {
    let ids: Vec<RepositoryId> = (1..=n).map(|id| RepositoryId::new(id).unwrap()).collect();
    let mut fixtures = Fixtures::empty();
    for &id in &ids {
        fixtures.set_push_event(id, event.clone());
    }
    let server = Server::start(ServerConfig {
        fixtures,
        remember: 0,
        ..config
    })
    .await
    .unwrap();
    (server, ids)
}

/// A client of `server` with a token, as `codearts watch` builds it: one attempt per poll.
pub fn watch_client(server: &Server) -> Client {
    Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("bench").unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}
