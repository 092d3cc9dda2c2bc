//! A call whose turn at the rate limiter comes with less than a millisecond left of its
//! deadline sends nothing, over a pooled connection where a request started then would reach
//! the server and be cancelled at once: HTTP/1.1, and HTTP/2 over HTTPS.

use std::time::Duration;

use codearts_repo::{
    Client, Credentials, RateLimit, RetryPolicy,
    server::{Server, ServerConfig, TlsOptions},
};
use tokio::time::Instant;

const REPOSITORY: u32 = 2112036131;
/// Half a millisecond past the second turn's timer (timers fire on whole milliseconds).
const TIMEOUT: Duration = Duration::from_micros(2_000_500);

#[tokio::test(start_paused = true)]
async fn no_request_leaves_with_less_than_a_millisecond_left() {
    for tls in [None, Some(TlsOptions::new())] {
        let https = tls.is_some();
        let server = Server::start(ServerConfig {
            tls,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let mut builder = Client::builder()
            .endpoint(server.url())
            .credentials(Credentials::token("edge-token").unwrap())
            .retry(RetryPolicy::none())
            .timeout(Some(TIMEOUT))
            // A slot every 2.0195 s, which a request may leave 20 ms ahead of: the second
            // turn comes 1.9995 s after the first, on the timer of 2 s.
            .rate_limit(RateLimit::fixed(1.0 / 2.0195));
        if let Some(ca) = server.ca_pem() {
            builder = builder.add_root_certificate_pem(ca);
        }
        let client = builder.build().unwrap();

        // The first call takes the first turn and leaves a pooled connection. The clock stands
        // still meanwhile: while this task only yields, the runtime never idles, so paused time
        // does not jump to the call's deadline as loopback I/O goes on.
        let first = tokio::spawn({
            let client = client.clone();
            async move { client.last_push_event(REPOSITORY).await }
        });
        while !first.is_finished() {
            tokio::task::yield_now().await;
        }
        first.await.unwrap().unwrap();

        // Its turn's timer fires 2 s in: 0.5 ms left.
        let started = Instant::now();
        let second = client.last_push_event(REPOSITORY).await;
        assert_eq!(started.elapsed(), TIMEOUT - Duration::from_micros(500));
        // What a request sent would have taken: the server's own tasks, in real time.
        let until = std::time::Instant::now() + Duration::from_millis(200);
        while std::time::Instant::now() < until {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            server.counts().requests,
            1,
            "https: {https}: only the first call reached the server"
        );
        let error = second.unwrap_err();
        assert!(error.is_paced(), "https: {https}: {error}");
    }
}
