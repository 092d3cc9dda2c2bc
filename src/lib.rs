//! A typed client for two Huawei Cloud endpoints: the latest push event of a CodeArts Repo
//! repository and the latest ten commits of a ServiceStage git project.
//!
//! The low-level client is generated at build time by progenitor from
//! `openapi/codearts-repo.yaml`; this crate wraps it with validated parameters, token and
//! AK/SK authentication, endpoints per region, retries, timeouts and typed errors.
//!
//! ```no_run
//! # async fn run() -> Result<(), codearts_repo::Error> {
//! use codearts_repo::{Client, Credentials};
//!
//! let client = Client::builder()
//!     .region("cn-north-4")
//!     .credentials(Credentials::token(std::env::var("HUAWEICLOUD_SDK_TOKEN").unwrap_or_default())?)
//!     .build()?;
//! let event = client.last_push_event(2112036131).await?;
//! println!("{:?} at {:?}", event.ref_, event.created_at);
//! # Ok(()) }
//! ```
//!
//! Every parameter is checked before any I/O, and the error names the field and the rule:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use codearts_repo::{Client, Credentials, Error};
//! let client = Client::builder()
//!     .endpoint("http://127.0.0.1:9")
//!     .credentials(Credentials::token("example-token").unwrap())
//!     .build()
//!     .unwrap();
//! let error = client.last_push_event(0).await.unwrap_err();
//! assert!(matches!(error, Error::InvalidInput { field: "repository_id", .. }));
//! assert_eq!(error.to_string(), "invalid repository_id: must be an integer from 1 to 2147483647");
//! # }
//! ```

#![warn(missing_docs)]

pub mod auth;
mod builder;
mod call;
mod client;
pub mod drift;
pub mod endpoint;
mod error;
mod error_answer;
mod failover;
mod generated;
mod hooks;
// The command's webhook deliveries use the crate's TLS and proxy policy; not part of the
// library's API (it would tie the crate's semver to reqwest's).
#[doc(hidden)]
pub mod http;
mod leadership;
mod params;
mod proxy;
mod rate_limit;
mod retry;
mod retry_budget;
#[cfg(feature = "server")]
pub mod server;
mod settings;
mod sync;
mod timestamp;
mod tls;
mod transport;
pub mod watch;

/// The spec schemas the crate replaces by checked types of its own, for the `codearts`
/// command's spec-diff (which names the Rust types a spec change touches) and the build: one
/// list for both. Not part of the API, and not covered by semver.
#[doc(hidden)]
pub mod checked_types {
    include!("../build/checked_types.rs");
}

/// Where the spec's operations and parameters are offered, for the command's spec-diff. Not
/// part of the API, and not covered by semver.
#[doc(hidden)]
pub mod public_api {
    pub use crate::{ANSWER_TYPES, client::PUBLIC_API};
}

pub use auth::{Credentials, SigningAlgorithm};
pub use builder::{ClientBuilder, DEFAULT_MAX_BODY_BYTES};
pub use client::{Client, CommitsRequest};
pub use error::{ApiError, ConfigKind, Error, Fix, NoRetry, Retry, TransportKind};
// The answer types (`PushEvent`, `CommitList`, ...) and their `builders`: every type the
// spec's answers hold, chosen by build/generate.rs and named one by one, so that a spec type
// named like one of the crate's own fails the build instead of hiding behind it.
include!(concat!(env!("OUT_DIR"), "/answers.rs"));
pub use params::{GitRef, Namespace, ProjectId, ProjectPath, RepoAuth, RepositoryId};
pub use rate_limit::{Learned, Rate, RateError, RateLimit};
pub use retry::RetryPolicy;
pub use timestamp::Timestamp;
pub use watch::{StateFile, WatchHandle, WatchItem, WatchOptions, WatchStream};

/// The spec the client is generated from, for tools that diff or serve it.
pub const OPENAPI_SPEC: &str = include_str!("../openapi/codearts-repo.yaml");

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(all(doctest, feature = "server"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The Rust examples of `docs/`, compiled and run as doctests too (tests/docs.rs checks that
/// every page with one is here).
#[cfg(all(doctest, feature = "server"))]
mod docs_doctests {
    #[doc = include_str!("../docs/server.md")]
    struct Server;
    #[doc = include_str!("../docs/signing.md")]
    struct Signing;
}
