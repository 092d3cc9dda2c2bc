//! A scripted push server on loopback: each repository's latest push, as the test sets it,
//! served at CodeArts Repo's path, and a log of every push it served (what a poll was
//! answered), against which a test holds what the watch delivered.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};

#[derive(Default)]
struct Pushes {
    latest: HashMap<u64, String>,
    served: Vec<(u64, String)>,
    /// Answered in place of any push, with status 200, when set.
    raw: Option<&'static str>,
}

type Shared = Arc<Mutex<Pushes>>;

pub struct PushServer {
    address: SocketAddr,
    pushes: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl PushServer {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let pushes = Shared::default();
        let app = Router::new()
            .route("/v4/repositories/{id}/last-push-event", get(serve))
            .with_state(pushes.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            pushes,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Repository `id`'s latest push is now the one made at `created_at`.
    pub fn push(&self, id: u64, created_at: String) {
        self.pushes.lock().unwrap().latest.insert(id, created_at);
    }

    /// Every answer is `body`, with status 200, as JSON: what no client can read, or more
    /// than the spec says.
    pub fn answer_raw(&self, body: &'static str) {
        self.pushes.lock().unwrap().raw = Some(body);
    }

    /// Every push served, in the order served: (repository, `created_at`).
    pub fn served(&self) -> Vec<(u64, String)> {
        self.pushes.lock().unwrap().served.clone()
    }
}

async fn serve(State(pushes): State<Shared>, Path(id): Path<u64>) -> Response {
    let mut pushes = pushes.lock().unwrap();
    if let Some(body) = pushes.raw {
        return ([("content-type", "application/json")], body).into_response();
    }
    let Some(created_at) = pushes.latest.get(&id).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    pushes.served.push((id, created_at.clone()));
    Json(serde_json::json!({"created_at": created_at, "ref": "refs/heads/main"})).into_response()
}
