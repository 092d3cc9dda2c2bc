//! The client's TLS: rustls with the `ring` provider, HTTP/2 then HTTP/1.1 by ALPN, the
//! system's roots (plus the caller's) loaded once per process and only when a server's
//! certificate is first checked, and an optional client certificate.
//!
//! Why `ring` and not reqwest's default aws-lc-rs: recent aws-lc seeds its CPU-jitter
//! entropy source the first time it is used in a process, which made a one-shot command over
//! HTTPS three times as slow as curl; and aws-lc-sys builds C with cmake for every dependent.
//! `ring` draws its randomness from the operating system (`getrandom`), as most TLS stacks
//! do. The trade-off: no FIPS-validated module and no post-quantum key exchange (aws-lc-rs's
//! default provider offers X25519MLKEM768; ring offers X25519, P-256, P-384).

use std::sync::{Arc, OnceLock};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};

use crate::{ConfigKind, Error};

/// The provider every TLS connection of the crate uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(ring_provider())).clone()
}

/// rustls 0.23.48 marks `ring::default_provider` deprecated, for the post-quantum key
/// exchange ring lacks (the trade-off above), and has no other way to the ring provider
/// until 0.24 moves it to a crate of its own: the crate's choice, allowed here alone, so
/// that neither this crate nor a dependent's build warns with any 0.23 release.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    ring::default_provider()
}

/// A reqwest builder whose TLS is the crate's: every reqwest client of the crate starts here.
pub(crate) fn reqwest_builder(
    extra_roots: &[Vec<u8>],
    identity: Option<&[u8]>,
) -> Result<reqwest::ClientBuilder, Error> {
    let mut roots = Vec::new();
    for pem in extra_roots {
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .ok()
            .filter(|certificates: &Vec<_>| !certificates.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "root_certificate",
                    "must be PEM with at least one certificate",
                )
            })?;
        roots.extend(parsed);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(ConfigKind::Tls, format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LazyRoots::new(roots)));
    let mut config = match identity {
        Some(pem) => {
            // An error here would quote the PEM parser, never the key: say only what is wrong.
            let refused = || {
                Error::invalid(
                    "identity",
                    "must be PEM holding a certificate and its private key",
                )
            };
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|_| refused())?;
            let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| refused())?;
            if chain.is_empty() {
                return Err(refused());
            }
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| refused())?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    crate::proxy::from_env(reqwest::Client::builder().tls_backend_preconfigured(config))
}

/// The system's root certificates (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace them), read
/// once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(%error, "a system root certificate could not be read");
        }
        found.certs
    })
}

/// Starts reading the system's roots on a thread of its own, once per process, so that the
/// first handshake (on an async thread) finds them read, or at worst waits for a read
/// already under way, rather than reading the certificate store itself.
pub(crate) fn preload_system_roots() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("codearts-roots".into())
            .spawn(|| {
                system_roots();
            });
        if let Err(error) = spawned {
            tracing::debug!(%error, "cannot read the root certificates ahead; the first handshake will");
        }
    });
}

/// Verifies servers against the system's roots and the caller's, building the verifier on the
/// first handshake rather than when the client is built: a client that only ever speaks plain
/// HTTP (loopback, the metadata service) never reads the certificate store.
#[derive(Debug)]
struct LazyRoots {
    extra: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl LazyRoots {
    fn new(extra: Vec<CertificateDer<'static>>) -> Self {
        Self {
            extra,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                for certificate in &self.extra {
                    roots.add(certificate.clone())?;
                }
                roots.add_parsable_certificates(system_roots().iter().cloned());
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| rustls::Error::General(format!("no root certificates: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
