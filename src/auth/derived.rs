//! The asymmetric algorithms' keys: derived from the AK/SK exactly as the official cores derive
//! them (`P256SHA256Signer._derive_key` in huaweicloudsdkcore), then used through RustCrypto's
//! `p256` and `sm2`. No curve arithmetic is written here: scalars, points and signatures are
//! the crates' own.

use hmac::{KeyInit, Mac};
use zeroize::Zeroize;

use super::SigningAlgorithm;

/// A private key derived from an AK/SK, with its public key. Each private scalar is kept in
/// a type of its crate that wipes it when dropped (`ZeroizeOnDrop`): `p256`'s signing key,
/// and for SM2 the curve's `SecretKey`, since `sm2`'s signing key (0.13 and 0.14) does not
/// wipe itself: one is made for each signature and lives only as long as it.
pub(crate) enum DerivedKey {
    #[cfg(feature = "ecdsa")]
    P256(p256::ecdsa::SigningKey),
    #[cfg(feature = "sm")]
    Sm2 {
        secret: sm2::SecretKey,
        public: Box<sm2::dsa::VerifyingKey>,
    },
}

/// The SM2 user id (`ENTL_A || ID_A` of GB/T 32918.2), the standard default the official
/// cores use.
#[cfg(feature = "sm")]
const SM2_USER_ID: &str = "1234567812345678";

impl DerivedKey {
    /// The key for `algorithm` (an asymmetric one) from the AK/SK; `None` for the HMAC
    /// algorithms, or when no candidate of the derivation falls in range (the official core
    /// gives up after 255 candidates too; each is out of range with odds of about 2^-32).
    pub(crate) fn derive(algorithm: SigningAlgorithm, ak: &str, sk: &[u8]) -> Option<Self> {
        match algorithm {
            #[cfg(feature = "ecdsa")]
            SigningAlgorithm::EcdsaP256Sha256 => {
                derive_scalar::<hmac::Hmac<sha2::Sha256>, _>(algorithm, ak, sk, |candidate| {
                    use p256::elliptic_curve::PrimeField;
                    let repr = p256::FieldBytes::from(*candidate);
                    let scalar = Option::<p256::Scalar>::from(p256::Scalar::from_repr(repr))?;
                    Option::<p256::NonZeroScalar>::from(p256::NonZeroScalar::new(
                        scalar + p256::Scalar::ONE,
                    ))
                })
                .map(|scalar: p256::NonZeroScalar| {
                    Self::P256(p256::ecdsa::SigningKey::from(scalar))
                })
            }
            #[cfg(feature = "sm")]
            SigningAlgorithm::Sm2Sm3 => {
                derive_scalar::<hmac::Hmac<sm3::Sm3>, _>(algorithm, ak, sk, |candidate| {
                    use sm2::elliptic_curve::PrimeField;
                    let repr = sm2::FieldBytes::from(*candidate);
                    let scalar = Option::<sm2::Scalar>::from(sm2::Scalar::from_repr(repr))?;
                    Option::<sm2::NonZeroScalar>::from(sm2::NonZeroScalar::new(
                        scalar + sm2::Scalar::ONE,
                    ))
                })
                .and_then(|scalar| {
                    let secret = sm2::SecretKey::from(scalar);
                    let public = sm2::dsa::VerifyingKey::new(SM2_USER_ID, secret.public_key());
                    Some(Self::Sm2 {
                        public: Box::new(public.ok()?),
                        secret,
                    })
                })
            }
            _ => None,
        }
    }

    /// Hex of the DER signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        use signature::Signer;
        let (r, s) = match self {
            #[cfg(feature = "ecdsa")]
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                (signature.r().to_bytes(), signature.s().to_bytes())
            }
            #[cfg(feature = "sm")]
            Self::Sm2 { secret, .. } => {
                let key = sm2::dsa::SigningKey::new(SM2_USER_ID, secret)
                    .expect("the user id was accepted when the key was derived");
                let signature: sm2::dsa::Signature = key.sign(message);
                (signature.r_bytes(), signature.s_bytes())
            }
        };
        hex::encode(der_signature(&r, &s))
    }

    /// Whether `signature_hex` is a hex DER signature of `message` under this key's public key.
    pub(crate) fn verify(&self, message: &[u8], signature_hex: &str) -> bool {
        use signature::Verifier;
        let Some((r, s)) = hex::decode(signature_hex)
            .ok()
            .and_then(|der| scalars_of_der(&der))
        else {
            return false;
        };
        match self {
            #[cfg(feature = "ecdsa")]
            Self::P256(key) => p256::ecdsa::Signature::from_scalars(r, s)
                .is_ok_and(|signature| key.verifying_key().verify(message, &signature).is_ok()),
            #[cfg(feature = "sm")]
            Self::Sm2 { public, .. } => sm2::dsa::Signature::from_scalars(r, s)
                .is_ok_and(|signature| public.verify(message, &signature).is_ok()),
        }
    }

    /// The public key, hex of its uncompressed SEC1 encoding (`04 || x || y`).
    pub(crate) fn public_key_hex(&self) -> String {
        match self {
            #[cfg(feature = "ecdsa")]
            Self::P256(key) => hex::encode(key.verifying_key().to_encoded_point(false).as_bytes()),
            #[cfg(feature = "sm")]
            Self::Sm2 { public, .. } => {
                use sm2::elliptic_curve::sec1::ToEncodedPoint;
                hex::encode(public.as_affine().to_encoded_point(false).as_bytes())
            }
        }
    }
}

/// The official derivation: for counter 0, 1, ... 254, the candidate is
/// `HMAC(SK, 00000001 || algorithm name || 00 || AK || counter || 00000100)` (HMAC-SHA256 for
/// P-256, HMAC-SM3 for SM2), taken when at most n-2; the private key is the candidate plus one.
/// `accept` does the range check and the addition with the curve crate's scalars.
fn derive_scalar<M, K>(
    algorithm: SigningAlgorithm,
    ak: &str,
    sk: &[u8],
    accept: impl Fn(&[u8; 32]) -> Option<K>,
) -> Option<K>
where
    M: Mac + KeyInit + Clone,
    M: hmac::digest::OutputSizeUser<OutputSize = hmac::digest::consts::U32>,
{
    let keyed = <M as KeyInit>::new_from_slice(sk).ok()?;
    (0..0xffu8).find_map(|counter| {
        let mut mac = keyed.clone();
        for part in [
            &[0, 0, 0, 1][..],
            algorithm.name().as_bytes(),
            &[0],
            ak.as_bytes(),
            &[counter],
            &[0, 0, 1, 0],
        ] {
            mac.update(part);
        }
        let mut candidate: [u8; 32] = mac.finalize().into_bytes().into();
        let key = accept(&candidate);
        candidate.zeroize();
        key
    })
}

/// `SEQUENCE { INTEGER r, INTEGER s }` in DER, as the official cores write it.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    use der::{Encode, asn1::UintRef};
    let integers = [r, s].map(|bytes| UintRef::new(bytes).expect("a 32-byte scalar fits"));
    integers.to_der().expect("two integers encode")
}

/// `r` and `s` of a DER signature, each as 32 big-endian bytes; `None` for anything else.
fn scalars_of_der(der: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    use der::{Decode, asn1::UintRef};
    let [r, s] = <[UintRef<'_>; 2]>::from_der(der).ok()?;
    let padded = |integer: UintRef<'_>| {
        let bytes = integer.as_bytes();
        let mut out = [0u8; 32];
        out.get_mut(32usize.checked_sub(bytes.len())?..)?
            .copy_from_slice(bytes);
        Some(out)
    };
    Some((padded(r)?, padded(s)?))
}
