//! An embedded server that speaks the same API as CodeArts Repo and ServiceStage, for demos
//! and for tests (yours and ours). Behind the `server` feature.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use codearts_repo::{Client, Credentials, server::{Server, ServerConfig}};
//! let server = Server::start(ServerConfig::default()).await.unwrap();
//! let client = Client::builder()
//!     .endpoint(server.url())
//!     .credentials(Credentials::token("any-token").unwrap())
//!     .build()
//!     .unwrap();
//! let event = client.last_push_event(2112036131).await.unwrap();
//! assert_eq!(event.ref_.as_deref(), Some("master"));
//! # }
//! ```

mod answer;
mod delay;
mod drift;
mod fixtures;
mod handlers;
mod keyless;
mod quota;
mod tls;
mod verify;

use std::{
    collections::{HashMap, VecDeque},
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

pub use drift::AnswerDrift;
pub use fixtures::Fixtures;
pub use keyless::{Keyless, POD_IDENTITY_PATH};
pub use quota::{Outage, Quota, ServerCounts, WindowQuota};
pub use tls::TlsOptions;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{Commit, PushEvent, RepositoryId, auth::signer::SigningKey};

/// The access key the server accepts by default, printed by `codearts serve`.
pub const DEMO_AK: &str = "DEMOAK00000000000001";
/// The secret key that goes with [`DEMO_AK`]. Public on purpose: it guards nothing.
pub const DEMO_SK: &str = "demo-secret-key-not-for-production";
/// The region the server's IAM knows by default, and its project id.
pub const DEMO_REGION: &str = "cn-north-4";
/// The project id IAM gives for [`DEMO_REGION`] by default.
pub const DEMO_PROJECT_ID: &str = "0d4f1e7c2b9a4c6e8f3a5b7d9e1c2a4f";

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:0`, an ephemeral loopback port).
    pub addr: SocketAddr,
    /// What it answers with (default [`Fixtures::documented`]).
    pub fixtures: Fixtures,
    /// Access keys whose signatures it accepts (default the demo pair), with any of the four
    /// signing algorithms.
    pub keys: Vec<(String, String)>,
    /// Accept any syntactically valid token (default), or only these.
    pub tokens: Option<Vec<String>>,
    /// How many requests it remembers for [`Server::requests`].
    pub remember: usize,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate made at start, instead of
    /// plain HTTP/1.1 (default). Trust [`Server::ca_pem`] in the client.
    pub tls: Option<TlsOptions>,
    /// The projects its IAM (`GET /v3/projects?name=REGION`) lists, as (region, project id);
    /// default one, [`DEMO_PROJECT_ID`] in [`DEMO_REGION`]. A region listed twice answers
    /// with two projects, as a misconfigured account would.
    pub projects: Vec<(String, String)>,
    /// A quota for the whole server, as an account has (default none): past it, `429
    /// APIGW.0308` as Huawei's API gateway answers.
    pub quota: Option<Quota>,
    /// The keyless flows, as STS, IAM and the CCE pod-identity agent answer them (default
    /// none): the keys they issue are then accepted too, with their security token, until
    /// they expire.
    pub keyless: Option<Keyless>,
    /// Answer every success with this drift from the spec (default none: answers conform).
    /// One the spec has no place for (an `enum-value` where no answer has an `enum`) is
    /// refused by [`Server::start`].
    pub drift: Option<AnswerDrift>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            fixtures: Fixtures::documented(),
            keys: vec![(DEMO_AK.to_owned(), DEMO_SK.to_owned())],
            tokens: None,
            remember: 1000,
            tls: None,
            projects: vec![(DEMO_REGION.to_owned(), DEMO_PROJECT_ID.to_owned())],
            quota: None,
            keyless: None,
            drift: None,
        }
    }
}

/// A request as the server saw it, secrets redacted (for wire tests).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordedRequest {
    /// `GET`, ...
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query as sent.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercased; token, signature and security token
    /// replaced by `<redacted>` (an AK/SK `Authorization` keeps its algorithm:
    /// `SDK-SM2-SM3 <redacted>`).
    pub headers: Vec<(String, String)>,
    /// The status the server answered.
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/2.0` (not serialized: snapshots hold what both protocols share).
    #[serde(skip)]
    pub version: String,
}

/// An error the server answers for one repository until cleared, to test clients under
/// failure (429 with `Retry-After`, 500, 503, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedFailure {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, if any.
    pub retry_after: Option<u64>,
}

pub(crate) struct State {
    pub(crate) fixtures: RwLock<Fixtures>,
    pub(crate) failures: RwLock<HashMap<RepositoryId, InjectedFailure>>,
    /// Access keys and their secrets, ready to verify with (each algorithm's key derived once).
    pub(crate) keys: Vec<(String, SigningKey)>,
    pub(crate) tokens: Option<Vec<String>>,
    pub(crate) recorded: Mutex<VecDeque<RecordedRequest>>,
    pub(crate) remember: usize,
    pub(crate) projects: Vec<(String, String)>,
    pub(crate) gate: quota::Gate,
    pub(crate) keyless: Option<Keyless>,
    /// The temporary keys the keyless flows issued.
    pub(crate) issued: Mutex<keyless::Issued>,
    /// How long every API answer is held back ([`Server::set_delay`]).
    pub(crate) delay: Mutex<Option<Duration>>,
    /// How every success drifts from the spec ([`Server::set_drift`]).
    pub(crate) drift: Mutex<Option<AnswerDrift>>,
}

pub(crate) type SharedState = axum::extract::State<Arc<State>>;

/// A running server; stops when dropped or on [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    tls: Option<(String, String)>,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds and starts serving in the background.
    pub async fn start(config: ServerConfig) -> std::io::Result<Self> {
        if let Some(kind) = config.drift {
            impossible(kind)?;
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            fixtures: RwLock::new(config.fixtures),
            failures: RwLock::new(HashMap::new()),
            keys: config
                .keys
                .into_iter()
                .map(|(ak, sk)| {
                    let key = SigningKey::new(&sk);
                    (ak, key)
                })
                .collect(),
            tokens: config.tokens,
            recorded: Mutex::new(VecDeque::new()),
            remember: config.remember,
            projects: config.projects,
            gate: quota::Gate::new(config.quota),
            keyless: config.keyless,
            issued: Mutex::default(),
            delay: Mutex::new(None),
            drift: Mutex::new(config.drift),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = handlers::router(state.clone());
        let (task, tls) = match &config.tls {
            Some(options) => {
                let material = tls::Material::generate(options)?;
                let task = tokio::spawn(tls::serve(listener, material.acceptor, app, stopped));
                (task, Some((material.ca_pem, material.client_identity_pem)))
            }
            None => {
                let task = tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                });
                (task, None)
            }
        };
        Ok(Self {
            addr,
            tls,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for both services, e.g. `http://127.0.0.1:41234` (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// With TLS: the PEM certificate of the CA that signed the server's certificate, for the
    /// client to trust ([`crate::ClientBuilder::add_root_certificate_pem`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(ca, _)| ca.as_str())
    }

    /// With TLS: a client certificate and key (one PEM) signed by the same CA, accepted when
    /// [`TlsOptions::require_client_certificate`] is set.
    pub fn client_identity_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, identity)| identity.as_str())
    }

    /// Sets the latest push event of a repository.
    pub fn set_push_event(&self, repository_id: RepositoryId, event: PushEvent) {
        self.fixtures().set_push_event(repository_id, event);
    }

    /// Sets the commits of a project.
    pub fn set_commits(&self, namespace: &str, project: &str, commits: Vec<Commit>) {
        self.fixtures().set_commits(namespace, project, commits);
    }

    /// Makes `repository_id` answer `failure` until called again with `None`.
    pub fn set_failure(&self, repository_id: RepositoryId, failure: Option<InjectedFailure>) {
        let mut failures = crate::sync::write(&self.state.failures);
        match failure {
            Some(failure) => failures.insert(repository_id, failure),
            None => failures.remove(&repository_id),
        };
    }

    /// Makes every API request fail (or a share of them, at random) until called again with
    /// `None`: a service in trouble, for all repositories at once.
    pub fn set_outage(&self, outage: Option<Outage>) {
        *crate::sync::lock(&self.state.gate.outage) = outage;
    }

    /// Holds every API answer back by `delay` until called again with `None`: a slow service,
    /// or with a delay longer than the test, one that never answers. IAM and STS answer at
    /// once.
    pub fn set_delay(&self, delay: Option<Duration>) {
        *crate::sync::lock(&self.state.delay) = delay;
    }

    /// Replaces the account quota (the one of [`ServerConfig::quota`], or an earlier window)
    /// with one counted in fixed windows, the first starting now; `None` removes any quota.
    pub fn set_quota_window(&self, quota: Option<WindowQuota>) {
        self.state.gate.set_window(quota);
    }

    /// Answers every success from now on with this drift from the spec (`None`: answers
    /// conform again). A kind the spec has no place for is refused, and nothing changes.
    pub fn set_drift(&self, drift: Option<AnswerDrift>) -> std::io::Result<()> {
        if let Some(kind) = drift {
            impossible(kind)?;
        }
        *crate::sync::lock(&self.state.drift) = drift;
        Ok(())
    }

    /// How many API requests arrived, were throttled by the quota, or failed by an outage,
    /// and how many temporary keys the keyless flows issued.
    pub fn counts(&self) -> ServerCounts {
        ServerCounts {
            keys_issued: crate::sync::lock(&self.state.issued).count(),
            ..self.state.gate.counts()
        }
    }

    fn fixtures(&self) -> std::sync::RwLockWriteGuard<'_, Fixtures> {
        crate::sync::write(&self.state.fixtures)
    }

    /// The requests received so far (the last [`ServerConfig::remember`]), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        crate::sync::lock(&self.state.recorded)
            .iter()
            .cloned()
            .collect()
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A drift the spec has no place for, as the error `start` and `set_drift` return.
fn impossible(kind: AnswerDrift) -> std::io::Result<()> {
    if kind.possible() {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "drift `{kind}`: no answer of the spec has a place for it (an `enum`, a range, a \
             `required` list or a `format`, as the kind needs)"
        ),
    ))
}
