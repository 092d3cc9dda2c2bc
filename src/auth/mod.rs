//! Authentication: credentials, where they come from, and AK/SK signing.

mod chain;
mod credentials;
pub mod signer;

pub(crate) use credentials::Auth;
pub use credentials::Credentials;
