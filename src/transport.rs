//! What a transport failure was, told from reqwest's error and its causes: connect, timeout,
//! TLS (with what was wrong with the certificate) or a broken connection.

use std::error::Error as StdError;

use rustls::CertificateError;

use crate::TransportKind;

/// The kind of a transport failure and a one-line message with its causes.
pub(crate) fn describe(error: &reqwest::Error) -> (TransportKind, String) {
    if let Some(tls) = causes(error).find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return (TransportKind::Tls, tls_message(tls));
    }
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Connection
    };
    (kind, chain(error))
}

/// Whether `error` or one of its causes is an `E`.
pub(crate) fn source_is<E: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|e| e.is::<E>())
}

/// `error` and its causes. `io::Error::source` skips the error it wraps (it returns that
/// error's own source), which is where hyper-rustls puts the `rustls::Error`: look inside.
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut pending = vec![error];
    std::iter::from_fn(move || {
        let current = pending.pop()?;
        if let Some(source) = current.source() {
            pending.push(source);
        }
        if let Some(inner) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            pending.push(inner);
        }
        Some(current)
    })
}

/// What a user can act on, before rustls's own words.
fn tls_message(error: &rustls::Error) -> String {
    let why = match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => {
                "the server's certificate is signed by an unknown issuer \
                 (trust its CA: the builder's root certificates, --ca-file or SSL_CERT_FILE)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for the host name in the URL"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired (or the local clock is wrong)"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (or the local clock is wrong)"
            }
            CertificateError::Revoked => "the server's certificate has been revoked",
            _ => "the server's certificate was refused",
        },
        rustls::Error::AlertReceived(_) => {
            "the server refused the handshake (does it require a client certificate?)"
        }
        _ => "the TLS handshake failed",
    };
    format!("{why}: {error}")
}

/// The error and its causes on one line: reqwest's own message hides the cause.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    for cause in causes(error).skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
