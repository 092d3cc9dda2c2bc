//! A slow service on demand ([`super::Server::set_delay`]): every API answer held back for a
//! while, or for as long as a test lasts, to see what a client's deadlines make of it.

use axum::{extract::Request, middleware::Next, response::Response};

use super::SharedState;
use crate::sync::lock;

/// Holds an API request back by the delay set, if any, then answers it. IAM and STS are other
/// services and answer at once.
pub(crate) async fn hold(
    axum::extract::State(state): SharedState,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let api = path.starts_with("/v1/") || path.starts_with("/v4/");
    let delay = *lock(&state.delay);
    if let Some(delay) = delay.filter(|_| api) {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}
