//! HTTPS for the embedded server, as real endpoints serve it: a throwaway CA made at start,
//! a certificate for `localhost`, `127.0.0.1` and `::1` signed by it, and HTTP/2 offered
//! before HTTP/1.1 by ALPN. Optionally a client certificate is required (mutual TLS).

use std::{io, sync::Arc, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_rustls::TlsAcceptor;

/// How the server speaks HTTPS.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Refuse clients that present no certificate signed by the server's CA
    /// (see [`super::Server::client_identity_pem`]).
    pub require_client_certificate: bool,
}

impl TlsOptions {
    /// HTTPS with HTTP/2 and HTTP/1.1, no client certificate asked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires a client certificate signed by the server's CA.
    pub fn require_client_certificate(mut self, require: bool) -> Self {
        self.require_client_certificate = require;
        self
    }
}

/// What a TLS server was started with: the CA a client must trust, and a client identity.
pub(crate) struct Material {
    pub(crate) ca_pem: String,
    /// A client certificate and its key, in one PEM (what `reqwest::Identity::from_pem` takes).
    pub(crate) client_identity_pem: String,
    pub(crate) acceptor: TlsAcceptor,
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot make the server's certificates: {error}"))
}

impl Material {
    pub(crate) fn generate(options: &TlsOptions) -> io::Result<Self> {
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "codearts-repo embedded server CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(invalid)?)
            .map_err(invalid)?;

        let issue = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().map_err(invalid)?;
            let mut params = CertificateParams::new(names).map_err(invalid)?;
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).map_err(invalid)?;
            Ok::<_, io::Error>((cert, key))
        };
        let (server_cert, server_key) = issue(
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert, client_key) = issue(
            vec!["codearts-client".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;

        let builder = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = if options.require_client_certificate {
            let mut roots = RootCertStore::empty();
            roots.add(ca.der().clone()).map_err(invalid)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots.into(), crate::tls::provider())
                    .build()
                    .map_err(invalid)?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config = builder
            .with_single_cert(vec![CertificateDer::from(server_cert.der().to_vec())], key)
            .map_err(invalid)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca.pem(),
            client_identity_pem: format!("{}{}", client_cert.pem(), client_key.serialize_pem()),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Accepts TLS connections until `stop` fires; each connection is served on its own task,
/// HTTP/2 or HTTP/1.1 as the client chose. A failed handshake ends that connection only.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or a reset before accept: the listener itself is fine.
                Err(_) => continue,
            },
            _ = &mut stop => return Ok(()),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that never finishes its handshake does not hold a task forever.
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
            let Ok(Ok(tls)) = handshake.await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                .await;
        });
    }
}
