//! Authentication: credentials, where they come from, applying them to a request, AK/SK
//! signing, and the project id from IAM.

mod algorithm;
mod answer;
mod apply;
mod canonical;
mod chain;
mod credentials;
#[cfg(any(feature = "ecdsa", feature = "sm"))]
mod derived;
pub(crate) mod iam;
mod idp;
mod lifecycle;
mod metadata;
mod oidc;
mod pod_identity;
pub mod signer;
mod signing_key;
pub(crate) mod temporary;

pub use algorithm::SigningAlgorithm;
pub use credentials::Credentials;
pub use metadata::{DEFAULT_METADATA_ENDPOINT, METADATA_ENDPOINT_VAR};
