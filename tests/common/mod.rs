//! A scripted HTTP server on 127.0.0.1 for faults the embedded server never makes: each
//! connection gets the next reply (the last one repeats) and the raw request is recorded.
#![allow(dead_code)]

pub mod postgres;
#[cfg(feature = "server")]
pub mod protocol;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

#[derive(Clone, Debug)]
pub enum Reply {
    /// Send these bytes, then close.
    Raw(Vec<u8>),
    /// Close without answering.
    Close,
    /// Read the request and never answer.
    Hang,
    /// Send `head`, then `chunk` `count` times with `delay` before each, then close.
    Stream {
        head: Vec<u8>,
        chunk: Vec<u8>,
        count: usize,
        delay: Duration,
    },
}

pub struct Scripted {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    /// The raw requests received (head only), in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

pub async fn scripted(replies: Vec<Reply>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = replies[next.min(replies.len() - 1)].clone();
            next += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                match reply {
                    Reply::Raw(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                        let _ = socket.shutdown().await;
                    }
                    Reply::Close => {}
                    Reply::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Reply::Stream {
                        head,
                        chunk,
                        count,
                        delay,
                    } => {
                        let _ = socket.write_all(&head).await;
                        for _ in 0..count {
                            tokio::time::sleep(delay).await;
                            if socket.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Scripted { url, requests }
}

/// A whole HTTP/1.1 response with `Connection: close`.
pub fn http(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} Status\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Raw(http(
        status,
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "req-123"),
        ],
        body.as_bytes(),
    ))
}

pub const TOKEN: &str = "MIIZtest-token-SECRET-0123456789";

/// A client with a token, no retries and short deadlines, pointed at `url`.
pub fn client(url: &str) -> codearts_repo::Client {
    builder(url).build().unwrap()
}

pub fn builder(url: &str) -> codearts_repo::ClientBuilder {
    codearts_repo::Client::builder()
        .endpoint(url)
        .credentials(codearts_repo::Credentials::token(TOKEN).unwrap())
        .project_id("3e1f6634946144c2b1ccb46fb8152b8f")
        .retry(codearts_repo::RetryPolicy::none())
        .attempt_timeout(Duration::from_secs(5))
}

/// A builder for a plain reqwest client (the tests' own, beside the crate's), on ring: the
/// crate's provider, installed as the process default the first time.
pub fn plain_http() -> reqwest::ClientBuilder {
    // Deprecated since rustls 0.23.48 (no post-quantum key exchange): ring is the choice.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Asserts that `error` is a credentials error: found before anything was sent. `context`
/// says which case failed.
#[track_caller]
pub fn assert_credentials_error(error: &codearts_repo::Error, context: &str) {
    assert!(
        matches!(
            error,
            codearts_repo::Error::Config {
                kind: codearts_repo::ConfigKind::Credentials,
                ..
            }
        ),
        "{context}: {error:?}"
    );
}
