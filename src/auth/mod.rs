//! Authentication: credentials, where they come from, applying them to a request, AK/SK
//! signing, and the project id from IAM.

mod answer;
mod apply;
mod chain;
mod credentials;
pub(crate) mod iam;
mod idp;
mod lifecycle;
mod metadata;
mod oidc;
mod pod_identity;
pub mod signer;
pub(crate) mod temporary;

pub use credentials::Credentials;
pub use metadata::{DEFAULT_METADATA_ENDPOINT, METADATA_ENDPOINT_VAR};
