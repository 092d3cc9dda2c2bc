//! The two ways real endpoints are reached, for wire tests that must hold over both: plain
//! HTTP/1.1, and HTTPS where ALPN settles on HTTP/2.

use codearts_repo::{
    Client, ClientBuilder,
    server::{Server, ServerConfig, TlsOptions},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Https2,
}

impl Protocol {
    pub const ALL: [Self; 2] = [Self::Http1, Self::Https2];

    /// The embedded server's configuration for this protocol, otherwise the default one.
    pub fn config(self) -> ServerConfig {
        ServerConfig {
            tls: (self == Self::Https2).then(TlsOptions::new),
            ..ServerConfig::default()
        }
    }

    pub async fn server(self) -> Server {
        Server::start(self.config()).await.unwrap()
    }

    /// A builder aimed at `server`, trusting its CA when it has one.
    pub fn builder(server: &Server) -> ClientBuilder {
        trusting(Client::builder().endpoint(server.url()), server)
    }

    /// The version the server must have seen.
    pub fn version(self) -> &'static str {
        match self {
            Self::Http1 => "HTTP/1.1",
            Self::Https2 => "HTTP/2.0",
        }
    }

    /// Snapshot suffix: what is on the wire differs (`host` is `:authority` over HTTP/2).
    pub fn name(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::Https2 => "https2",
        }
    }
}

/// `builder`, also trusting `server`'s CA when it serves HTTPS.
pub fn trusting(builder: ClientBuilder, server: &Server) -> ClientBuilder {
    match server.ca_pem() {
        Some(ca) => builder.add_root_certificate_pem(ca),
        None => builder,
    }
}
