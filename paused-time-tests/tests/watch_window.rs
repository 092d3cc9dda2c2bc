//! A watch against an account quota counted per minute, as Huawei's gateway states it
//! (`limit:300,time:1 minute`), wanting four times what the window allows, over five
//! minutes of paused time: it fits the windows without bursts after their quiet stretches.

use std::time::Duration;

mod common;

use codearts_repo::{Client, Credentials, RetryPolicy, WatchOptions, server::WindowQuota};
use common::{id, setup};

#[tokio::test(start_paused = true)]
async fn a_watch_spreads_a_minute_windows_allowance() {
    const REPOSITORIES: u32 = 200;
    const LIMIT: u64 = 300;
    let average = LIMIT as f64 / 60.0;
    let ids: Vec<u32> = (1..=REPOSITORIES).collect();
    let (server, _) = setup(&ids).await;
    server.set_quota_window(Some(WindowQuota::per_minute(LIMIT)));
    // As `codearts watch`: one attempt per poll, the watch's own adaptive limit.
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("watch-token").unwrap())
        .retry(RetryPolicy::none())
        .attempt_timeout(Duration::MAX)
        .timeout(None)
        .build()
        .unwrap();
    let options = WatchOptions::default().interval(Duration::from_secs(10));
    let (handle, mut stream) = client.watch(options, ids.iter().map(|n| id(*n)));
    let drain = tokio::spawn(async move { while stream.next().await.is_some() {} });

    // Requests per second, and whether the service had throttled any by then.
    let mut seconds = Vec::new();
    let mut last = 0;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let counts = server.counts();
        seconds.push((counts.requests - last, counts.throttled > 0));
        last = counts.requests;
    }
    handle.stop();
    drain.abort();

    let counts = server.counts();
    let offered = counts.requests as f64 / 300.0;
    assert!(offered <= 1.5 * average, "{offered}/s offered, {counts:?}");
    let throttled = counts.throttled as f64 / counts.requests as f64;
    assert!(throttled <= 0.10, "{counts:?}");
    // Until the first 429 the client cannot know the quota: it sends what the watch wants.
    let told = seconds
        .iter()
        .position(|(_, throttled)| *throttled)
        .unwrap();
    let after: Vec<u64> = seconds[told + 1..].iter().map(|(n, _)| *n).collect();
    let busiest = after.iter().max().unwrap();
    assert!(
        *busiest as f64 <= 3.0 * average,
        "{busiest} requests in one second: {after:?}"
    );
    // And it keeps polling: the windows are used, not left idle.
    let answered = counts.requests - counts.throttled;
    assert!(answered >= 4 * LIMIT, "{counts:?}");
}
