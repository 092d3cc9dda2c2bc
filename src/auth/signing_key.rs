//! A secret key ready to sign with any of the algorithms: each algorithm's key is made once,
//! on first use, and kept for the life of the key pair (temporary keys that rotate bring a
//! new `SigningKey`, and the old one's keys are dropped with it).

use std::{borrow::Cow, sync::Arc};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::SigningAlgorithm;
#[cfg(any(feature = "ecdsa", feature = "sm"))]
use super::derived::DerivedKey;

/// A secret key ready to sign: the HMAC key schedule is computed once, not per request, and
/// so is the private key the asymmetric algorithms derive from the AK/SK.
/// Cloned per client and per temporary key: a reference count.
#[derive(Clone)]
pub struct SigningKey {
    secret: Arc<Secret>,
}

/// Each algorithm's key, and what the others are made from: every field wipes itself when
/// dropped (the HMAC states' hash states and buffers by the `zeroize` features of `sha2`,
/// `sm3` and `digest`, the SK by `Zeroizing`, the derived keys by their curve crates', see
/// `derived.rs`), and so does each copy of an HMAC state made to sign one request.
struct Secret {
    /// HMAC-SHA256 keyed by the SK: the default algorithm, ready from the start.
    hmac_sha256: Hmac<Sha256>,
    #[cfg_attr(not(any(feature = "ecdsa", feature = "sm")), allow(dead_code))]
    sk: Zeroizing<Box<[u8]>>,
    #[cfg(feature = "sm")]
    hmac_sm3: std::sync::OnceLock<Hmac<sm3::Sm3>>,
    /// At most one key per asymmetric algorithm, with the AK it was derived with: another AK
    /// (never seen in practice, as an AK and its SK travel together) replaces the entry.
    #[cfg(any(feature = "ecdsa", feature = "sm"))]
    derived: std::sync::Mutex<Vec<DerivedEntry>>,
}

/// An algorithm, the AK its key was derived with, and the key.
#[cfg(any(feature = "ecdsa", feature = "sm"))]
type DerivedEntry = (SigningAlgorithm, Box<str>, Arc<DerivedKey>);

impl SigningKey {
    /// Prepares `sk` for signing.
    pub fn new(sk: &str) -> Self {
        Self {
            secret: Arc::new(Secret {
                hmac_sha256: Hmac::new_from_slice(sk.as_bytes())
                    .expect("HMAC takes keys of any length"),
                sk: Zeroizing::new(sk.as_bytes().into()),
                #[cfg(feature = "sm")]
                hmac_sm3: std::sync::OnceLock::new(),
                #[cfg(any(feature = "ecdsa", feature = "sm"))]
                derived: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// The public key a gateway verifies `algorithm`'s signatures with, for access key `ak`:
    /// hex of its uncompressed SEC1 encoding (`04 || x || y`). `None` for the HMAC algorithms,
    /// which have none.
    pub fn public_key_hex(&self, algorithm: SigningAlgorithm, ak: &str) -> Option<String> {
        let _ = (algorithm, ak);
        #[cfg(any(feature = "ecdsa", feature = "sm"))]
        if let Some(key) = self.derived(algorithm, ak) {
            return Some(key.public_key_hex());
        }
        None
    }

    /// The signature of `{algorithm}\n{date}\n{hash}`, the string to sign, in hex: written into
    /// `buffer` for the HMACs (no allocation on the default path). `None` only when no key can
    /// be derived for an asymmetric algorithm.
    pub(crate) fn sign_string<'a>(
        &self,
        algorithm: SigningAlgorithm,
        ak: &str,
        date: &str,
        hash: &str,
        buffer: &'a mut [u8; 64],
    ) -> Option<Cow<'a, str>> {
        let _ = ak;
        let parts = [algorithm.name(), "\n", date, "\n", hash];
        match algorithm {
            SigningAlgorithm::HmacSha256 => Some(Cow::Borrowed(hmac_hex(
                &self.secret.hmac_sha256,
                parts,
                buffer,
            ))),
            #[cfg(feature = "sm")]
            SigningAlgorithm::HmacSm3 => {
                Some(Cow::Borrowed(hmac_hex(self.hmac_sm3(), parts, buffer)))
            }
            #[cfg(any(feature = "ecdsa", feature = "sm"))]
            _ => {
                let key = self.derived(algorithm, ak)?;
                Some(Cow::Owned(key.sign(parts.concat().as_bytes())))
            }
        }
    }

    /// Whether `signature` (hex) signs `string_to_sign` with this key pair and `algorithm`.
    /// The HMACs are compared in constant time.
    pub(crate) fn verify_string(
        &self,
        algorithm: SigningAlgorithm,
        ak: &str,
        string_to_sign: &str,
        signature: &str,
    ) -> bool {
        let _ = ak;
        let mut buffer = [0u8; 64];
        let expected = match algorithm {
            SigningAlgorithm::HmacSha256 => {
                hmac_hex(&self.secret.hmac_sha256, [string_to_sign], &mut buffer)
            }
            #[cfg(feature = "sm")]
            SigningAlgorithm::HmacSm3 => hmac_hex(self.hmac_sm3(), [string_to_sign], &mut buffer),
            #[cfg(any(feature = "ecdsa", feature = "sm"))]
            _ => {
                return self
                    .derived(algorithm, ak)
                    .is_some_and(|key| key.verify(string_to_sign.as_bytes(), signature));
            }
        };
        constant_time_eq(expected.as_bytes(), signature.as_bytes())
    }

    #[cfg(feature = "sm")]
    fn hmac_sm3(&self) -> &Hmac<sm3::Sm3> {
        self.secret.hmac_sm3.get_or_init(|| {
            Hmac::new_from_slice(&self.secret.sk).expect("HMAC takes keys of any length")
        })
    }

    /// `algorithm`'s key for `ak`, derived on first use and kept.
    #[cfg(any(feature = "ecdsa", feature = "sm"))]
    fn derived(&self, algorithm: SigningAlgorithm, ak: &str) -> Option<Arc<DerivedKey>> {
        let mut derived = crate::sync::lock(&self.secret.derived);
        if let Some((_, _, key)) = derived
            .iter()
            .find(|(a, k, _)| *a == algorithm && **k == *ak)
        {
            return Some(key.clone());
        }
        let key = Arc::new(DerivedKey::derive(algorithm, ak, &self.secret.sk)?);
        derived.retain(|(a, _, _)| *a != algorithm);
        derived.push((algorithm, ak.into(), key.clone()));
        Some(key)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Hex HMAC of `parts` fed one after the other (no string is built), into `buffer`.
fn hmac_hex<'p, 'b, M: Mac + Clone>(
    keyed: &M,
    parts: impl IntoIterator<Item = &'p str>,
    buffer: &'b mut [u8; 64],
) -> &'b str {
    let mut mac = keyed.clone();
    for part in parts {
        mac.update(part.as_bytes());
    }
    super::signer::hex_digest(&mac.finalize().into_bytes(), buffer)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod wiped {
    use hmac::digest::{
        block_api::{BlockSizeUser, EagerHash},
        block_buffer::{BlockBuffer, Eager},
    };

    /// Compiles only for types that wipe themselves when dropped.
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    /// An HMAC state is two hash states keyed by the SK and a block buffer, each of which
    /// wipes itself (`hmac` 0.13 does not mark the whole, though every part is).
    fn hmac_parts_wiped_on_drop<D: EagerHash>()
    where
        D::Core: zeroize::ZeroizeOnDrop,
    {
        wiped_on_drop::<D::Core>();
        wiped_on_drop::<BlockBuffer<<D::Core as BlockSizeUser>::BlockSize, Eager>>();
    }

    #[test]
    fn every_secret_a_signing_key_holds_wipes_itself() {
        hmac_parts_wiped_on_drop::<sha2::Sha256>();
        // What signing one request leaves behind besides its copy of the state: the MAC.
        wiped_on_drop::<hmac::digest::CtOutput<hmac::Hmac<sha2::Sha256>>>();
        wiped_on_drop::<zeroize::Zeroizing<Box<[u8]>>>();
        #[cfg(feature = "sm")]
        hmac_parts_wiped_on_drop::<sm3::Sm3>();
        #[cfg(feature = "sm")]
        wiped_on_drop::<sm2::SecretKey>();
        #[cfg(feature = "ecdsa")]
        wiped_on_drop::<p256::ecdsa::SigningKey>();
    }
}

#[cfg(all(test, feature = "ecdsa", feature = "sm"))]
mod tests {
    use super::*;

    fn cached(key: &SigningKey) -> Vec<(SigningAlgorithm, String)> {
        let derived = crate::sync::lock(&key.secret.derived);
        derived
            .iter()
            .map(|(a, ak, _)| (*a, ak.to_string()))
            .collect()
    }

    #[test]
    fn each_algorithms_key_is_derived_once_per_ak_and_replaced_when_the_ak_changes() {
        let key = SigningKey::new("sk");
        let clone = key.clone();
        let first = key.derived(SigningAlgorithm::Sm2Sm3, "AK1").unwrap();
        // Every later request, and every clone of the credentials, gets the same key.
        for signer in [&key, &clone] {
            let again = signer.derived(SigningAlgorithm::Sm2Sm3, "AK1").unwrap();
            assert!(Arc::ptr_eq(&first, &again));
        }
        let ecdsa = key
            .derived(SigningAlgorithm::EcdsaP256Sha256, "AK1")
            .unwrap();
        assert_eq!(cached(&key).len(), 2);
        // Another AK replaces its algorithm's entry rather than growing the cache.
        let rotated = key.derived(SigningAlgorithm::Sm2Sm3, "AK2").unwrap();
        assert!(!Arc::ptr_eq(&first, &rotated));
        assert_eq!(
            cached(&key),
            [
                (SigningAlgorithm::EcdsaP256Sha256, "AK1".to_owned()),
                (SigningAlgorithm::Sm2Sm3, "AK2".to_owned())
            ]
        );
        assert!(Arc::ptr_eq(
            &ecdsa,
            &key.derived(SigningAlgorithm::EcdsaP256Sha256, "AK1")
                .unwrap()
        ));
    }

    #[test]
    fn the_hmacs_derive_nothing() {
        let key = SigningKey::new("sk");
        let mut buffer = [0u8; 64];
        for algorithm in [SigningAlgorithm::HmacSha256, SigningAlgorithm::HmacSm3] {
            key.sign_string(algorithm, "AK", "20260102T030405Z", "00", &mut buffer)
                .unwrap();
        }
        assert!(cached(&key).is_empty());
    }
}
