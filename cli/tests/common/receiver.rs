//! A webhook receiver on loopback for `watch --deliver`, over HTTP/1.1 or HTTPS (HTTP/2 by
//! ALPN): it answers each delivery as the test says (per repository, or by default), records
//! what it received, and can be stopped and started again on the same port.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Version},
    response::{IntoResponse, Response},
    routing::post,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const SECRET: &str = "a shared secret, known to the test";

/// How the receiver answers a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    TooMany(u64),
    /// Never answers.
    Hang,
}

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub id: String,
    pub event: String,
    pub signature: String,
    /// The same signature under GitHub's header name.
    pub hub_signature: String,
    pub user_agent: String,
    pub version: Version,
    pub body: Vec<u8>,
    pub document: serde_json::Value,
    pub answered: Answer,
}

impl Received {
    pub fn repository(&self) -> u64 {
        self.document["repository_id"].as_u64().unwrap()
    }

    pub fn created_at(&self) -> String {
        self.document["created_at"].as_str().unwrap().to_owned()
    }
}

#[derive(Default)]
struct Script {
    default: Option<Answer>,
    by_repository: HashMap<u64, Answer>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<Script>>;

pub struct Receiver {
    address: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The CA to trust, for `--deliver-ca-file`.
    pub ca_file: Option<tempfile::NamedTempFile>,
    script: Shared,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    pub fn start(https: bool) -> Self {
        let (tls, ca_file) = if https { tls() } else { (None, None) };
        let mut receiver = Self {
            address: "127.0.0.1:0".parse().unwrap(),
            tls,
            ca_file,
            script: Shared::default(),
            runtime: None,
        };
        receiver.run();
        receiver
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!(
            "{scheme}://127.0.0.1:{}/hooks/codearts?token=query-secret",
            self.address.port()
        )
    }

    /// Repositories 1 to `ids`, `--deliver URL` and the options a test always gives.
    pub fn args(&self, ids: u32, secret_file: &std::path::Path) -> Vec<String> {
        let mut args: Vec<String> = (1..=ids).map(|id| id.to_string()).collect();
        args.extend([
            "--deliver".to_owned(),
            self.url(),
            "--deliver-secret-file".to_owned(),
            secret_file.to_str().unwrap().to_owned(),
            "--deliver-timeout".to_owned(),
            "1s".to_owned(),
            "--deliver-max-backoff".to_owned(),
            "1s".to_owned(),
        ]);
        if let Some(ca) = &self.ca_file {
            args.extend([
                "--deliver-ca-file".to_owned(),
                ca.path().to_str().unwrap().to_owned(),
            ]);
        }
        args
    }

    /// Answers every delivery (but those of repositories given their own answer) so.
    pub fn answer(&self, answer: Answer) {
        self.script.lock().unwrap().default = Some(answer);
    }

    /// Answers the deliveries of `repository` so.
    pub fn answer_for(&self, repository: u64, answer: Answer) {
        self.script
            .lock()
            .unwrap()
            .by_repository
            .insert(repository, answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// The deliveries answered 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        let mut received = self.received();
        received.retain(|r| r.answered == Answer::Ok);
        received
    }

    /// Waits until `done` holds of what was received, at most `within`.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let end = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < end,
                "not received within {within:?}: {received:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops answering: connections are refused until [`Receiver::restart`].
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Listens again, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn run(&mut self) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(self.address))
            .unwrap();
        self.address = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/hooks/codearts", post(receive))
            .with_state(self.script.clone());
        let tls = self.tls.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (app, tls) = (app.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = TowerToHyperService::new(app);
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(tls) => builder.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => return,
                        },
                        None => builder.serve_connection(TokioIo::new(tcp), service).await,
                    };
                });
            }
        });
        self.runtime = Some(runtime);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn receive(
    State(script): State<Shared>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let answered = {
        let mut script = script.lock().unwrap();
        let repository = document["repository_id"].as_u64().unwrap_or(0);
        let answer = script
            .by_repository
            .get(&repository)
            .copied()
            .or(script.default)
            .unwrap_or(Answer::Ok);
        script.received.push(Received {
            at: Instant::now(),
            id: header("x-codearts-delivery"),
            event: header("x-codearts-event"),
            signature: header("x-codearts-signature-256"),
            hub_signature: header("x-hub-signature-256"),
            user_agent: header("user-agent"),
            version,
            body: body.to_vec(),
            document,
            answered: answer,
        });
        answer
    };
    match answered {
        Answer::Ok => StatusCode::NO_CONTENT.into_response(),
        Answer::Status(status) => (
            StatusCode::from_u16(status).unwrap(),
            "the receiver says no",
        )
            .into_response(),
        Answer::TooMany(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}

/// Whether `signature` is `sha256=` and the HMAC-SHA256 of `body` with [`SECRET`]: the
/// `hmac` crate's own check, independent of the command's code.
pub fn verifies(body: &[u8], signature: &str) -> bool {
    verified(SECRET.as_bytes(), body, signature)
}

/// docs/delivery.md's check, verbatim (tests/delivery_docs.rs holds them equal).
fn verified(secret: &[u8], body: &[u8], header: &str) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let Some(Ok(signature)) = header.strip_prefix("sha256=").map(hex::decode) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// A throwaway CA and a certificate for 127.0.0.1 it signed; HTTP/2 offered first.
fn tls() -> (
    Option<tokio_rustls::TlsAcceptor>,
    Option<tempfile::NamedTempFile>,
) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca.pem()).unwrap();
    (
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        Some(ca_file),
    )
}
