//! The shared secret of the signatures: read once, never shown, wiped when dropped.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{CliError, Result};

/// The variable that holds the secret when no file is given.
pub(crate) const VARIABLE: &str = "CODEARTS_WATCH_DELIVER_SECRET";

/// HMAC-SHA256's key; `Debug` shows nothing of it.
pub(crate) struct DeliverSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for DeliverSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliverSecret(..)")
    }
}

impl DeliverSecret {
    /// From `file` (one trailing newline, or CRLF, is not part of it), else the variable.
    pub(crate) fn read(file: Option<&Path>) -> Result<Self> {
        let (text, source) = match file {
            Some(path) => {
                // The error names the file, never what it holds.
                let text = std::fs::read(path).map_err(|e| {
                    CliError::Input(format!("--deliver-secret-file {}: {e}", path.display()))
                })?;
                (text, format!("--deliver-secret-file {}", path.display()))
            }
            None => match std::env::var_os(VARIABLE) {
                Some(value) => (value.into_encoded_bytes(), VARIABLE.to_owned()),
                None => {
                    return Err(CliError::Input(format!(
                        "--deliver needs a secret to sign with: --deliver-secret-file PATH or \
                         the variable {VARIABLE}"
                    )));
                }
            },
        };
        let mut text = Zeroizing::new(text);
        for ending in [&b"\n"[..], b"\r"] {
            if text.ends_with(ending) {
                text.pop();
            }
        }
        if text.is_empty() {
            return Err(CliError::Input(format!(
                "{source}: the secret must not be empty"
            )));
        }
        Ok(Self(text))
    }

    /// `sha256=<hex>`: HMAC-SHA256 of `body`, GitHub's `X-Hub-Signature-256` form.
    pub(crate) fn sign(&self, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn signs_as_github_documents() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "It's a Secret to Everybody\n").unwrap();
        let secret = DeliverSecret::read(Some(file.path())).unwrap();
        assert_eq!(
            secret.sign(b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(format!("{secret:?}"), "DeliverSecret(..)");
    }

    #[test]
    fn an_empty_secret_is_refused_naming_its_source() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "\n").unwrap();
        let error = DeliverSecret::read(Some(file.path()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--deliver-secret-file") && error.contains("must not be empty"));
    }
}
