//! Which of the official SDKs' four AK/SK signing algorithms a client uses
//! (`HttpConfig.signing_algorithm` in huaweicloudsdkcore).

use std::{fmt, str::FromStr};

use crate::Error;

/// How AK/SK requests are signed. All four share the canonical request; they differ in the
/// hash, and in how the string to sign is signed.
///
/// The default is `SDK-HMAC-SHA256`, as in the official SDKs. The others are behind crate
/// features, so that users of the default compile no curve code: `sm` for
/// [`HmacSm3`](Self::HmacSm3) and [`Sm2Sm3`](Self::Sm2Sm3), `ecdsa` for
/// [`EcdsaP256Sha256`](Self::EcdsaP256Sha256).
///
/// ```
/// use codearts_repo::auth::SigningAlgorithm;
/// let algorithm: SigningAlgorithm = "hmac-sha256".parse().unwrap();
/// assert_eq!(algorithm, SigningAlgorithm::default());
/// assert_eq!(algorithm.name(), "SDK-HMAC-SHA256");
/// assert!("hmac-md5".parse::<SigningAlgorithm>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// `SDK-HMAC-SHA256`: SHA-256 hashes, an HMAC-SHA256 keyed by the SK.
    #[default]
    HmacSha256,
    /// `SDK-HMAC-SM3`: as HMAC-SHA256 with SM3 in place of SHA-256 (feature `sm`).
    #[cfg(feature = "sm")]
    HmacSm3,
    /// `SDK-ECDSA-P256-SHA256`: SHA-256 hashes; the string to sign signed with an ECDSA P-256
    /// key derived from the AK/SK (feature `ecdsa`).
    #[cfg(feature = "ecdsa")]
    EcdsaP256Sha256,
    /// `SDK-SM2-SM3`: SM3 hashes; the string to sign signed with an SM2 key derived from the
    /// AK/SK, user id `1234567812345678` (feature `sm`).
    #[cfg(feature = "sm")]
    Sm2Sm3,
}

/// Every algorithm with its two names; the features decide which are compiled.
const NAMES: &[(&str, &str, Option<&str>)] = &[
    ("hmac-sha256", "SDK-HMAC-SHA256", None),
    ("hmac-sm3", "SDK-HMAC-SM3", Some("sm")),
    ("ecdsa-p256-sha256", "SDK-ECDSA-P256-SHA256", Some("ecdsa")),
    ("sm2-sm3", "SDK-SM2-SM3", Some("sm")),
];

impl SigningAlgorithm {
    /// Every algorithm this build offers, the default first.
    pub const ALL: &'static [SigningAlgorithm] = &[
        Self::HmacSha256,
        #[cfg(feature = "sm")]
        Self::HmacSm3,
        #[cfg(feature = "ecdsa")]
        Self::EcdsaP256Sha256,
        #[cfg(feature = "sm")]
        Self::Sm2Sm3,
    ];

    /// The name in the `Authorization` header and the string to sign (`SDK-HMAC-SHA256`, ...).
    pub fn name(self) -> &'static str {
        NAMES[self.index()].1
    }

    /// The short name the `codearts` command takes (`hmac-sha256`, `hmac-sm3`,
    /// `ecdsa-p256-sha256`, `sm2-sm3`).
    pub fn short_name(self) -> &'static str {
        NAMES[self.index()].0
    }

    fn index(self) -> usize {
        match self {
            Self::HmacSha256 => 0,
            #[cfg(feature = "sm")]
            Self::HmacSm3 => 1,
            #[cfg(feature = "ecdsa")]
            Self::EcdsaP256Sha256 => 2,
            #[cfg(feature = "sm")]
            Self::Sm2Sm3 => 3,
        }
    }

    /// Whether the canonical request and body are hashed with SM3 (else SHA-256).
    pub(crate) fn hashes_with_sm3(self) -> bool {
        match self {
            #[cfg(feature = "sm")]
            Self::HmacSm3 | Self::Sm2Sm3 => true,
            _ => false,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = Error;

    /// The short name or the header name, in any case.
    fn from_str(text: &str) -> Result<Self, Error> {
        let Some(known) = NAMES.iter().position(|(short, long, _)| {
            text.eq_ignore_ascii_case(short) || text.eq_ignore_ascii_case(long)
        }) else {
            let names: Vec<&str> = NAMES.iter().map(|(short, ..)| *short).collect();
            let rule = format!("must be one of {}", names.join(", "));
            return Err(Error::invalid("signing_algorithm", rule));
        };
        match Self::ALL.iter().find(|a| a.index() == known) {
            Some(algorithm) => Ok(*algorithm),
            None => {
                let (_, name, feature) = NAMES[known];
                let feature = feature.unwrap_or_default();
                let rule = format!("{name} needs the crate feature `{feature}`");
                Err(Error::invalid("signing_algorithm", rule))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_parses_from_both_its_names() {
        for algorithm in SigningAlgorithm::ALL {
            for name in [algorithm.short_name(), algorithm.name()] {
                assert_eq!(name.parse::<SigningAlgorithm>().unwrap(), *algorithm);
                assert_eq!(
                    name.to_lowercase().parse::<SigningAlgorithm>().unwrap(),
                    *algorithm
                );
            }
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let error = "hmac-md5".parse::<SigningAlgorithm>().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("hmac-sha256, hmac-sm3, ecdsa-p256-sha256, sm2-sm3"),
            "{error}"
        );
    }
}
