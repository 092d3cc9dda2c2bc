//! Temporary access keys, for credentials that carry no long-lived key: fetched from one of
//! the keyless sources (OIDC federation, an identity provider's ID token, the ECS metadata
//! service, CCE pod identity) where the calling client is, and kept per place by the state
//! machine of [`super::lifecycle`] (when to refresh, who waits). Token files are read again
//! at every fetch.
//!
//! The place is the client's: its region and IAM endpoint (which STS and IAM to ask) and its
//! HTTP client (proxies, roots), handed over when the client is built. Clients whose sources
//! would ask the same endpoints share keys; a client elsewhere fetches its own. The
//! node-local agents (the metadata service, the pod-identity agent) are asked directly,
//! never through a proxy.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use super::{
    credentials::AccessKey,
    idp::IdpToken,
    lifecycle::{Fetched, Lifecycle},
    metadata::Metadata,
    oidc::Oidc,
    pod_identity::PodIdentity,
};
use crate::{ApiError, ConfigKind, Error, TransportKind};

/// Each exchange with a credentials service, connection included (a fetch has two at most).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a source gave no keys, and whether trying again later may work (no answer, 5xx) or
/// not (a refused token, a missing file, an answer without keys).
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) transient: Option<TransportKind>,
    /// The service's error answer (5xx), kept for its status and code.
    pub(crate) answer: Option<Box<ApiError>>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            transient: None,
            answer: None,
        }
    }
}

/// Where temporary keys come from.
#[derive(Debug)]
pub(crate) enum Fetcher {
    Oidc(Oidc),
    IdpToken(IdpToken),
    Metadata(Metadata),
    PodIdentity(PodIdentity),
}

impl Fetcher {
    fn name(&self) -> &'static str {
        match self {
            Self::Oidc(_) => "OIDC federation AK/SK",
            Self::IdpToken(_) => "identity-provider AK/SK",
            Self::Metadata(_) => "ECS metadata AK/SK",
            Self::PodIdentity(_) => "CCE pod identity AK/SK",
        }
    }

    /// The endpoint this source asks from `place`.
    fn endpoint(&self, place: &Place) -> String {
        match self {
            Self::Oidc(oidc) => oidc.endpoint(place),
            Self::IdpToken(idp) => idp.endpoint(place),
            Self::Metadata(metadata) => metadata.endpoint().to_owned(),
            Self::PodIdentity(pod) => pod.uri().to_owned(),
        }
    }

    async fn fetch(&self, place: &Place) -> Result<Keys, Failure> {
        match self {
            Self::Oidc(oidc) => oidc.fetch(&place.http, place).await,
            Self::IdpToken(idp) => idp.fetch(&place.http, place).await,
            Self::Metadata(metadata) => metadata.fetch(&place.direct).await,
            Self::PodIdentity(pod) => pod.fetch(&place.direct).await,
        }
    }
}

/// Where a client is, as the sources need it; built by the client builder.
#[derive(Clone)]
pub(crate) struct Place {
    pub(crate) region: Option<String>,
    /// The IAM endpoint the client resolved (builder, environment, profile, or the region's).
    pub(crate) iam_endpoint: Option<String>,
    /// The client's HTTP client: its TLS settings (extra roots) and proxies apply to STS
    /// and IAM.
    pub(crate) http: reqwest::Client,
    /// With the client's roots, without any proxy, with [`TIMEOUT`]: for the node-local
    /// agents.
    pub(crate) direct: reqwest::Client,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("region", &self.region)
            .field("iam_endpoint", &self.iam_endpoint)
            .finish_non_exhaustive()
    }
}

/// Keys as a source answered them: when they expire, by the answer's clock.
pub(crate) struct Keys {
    pub(crate) key: Arc<AccessKey>,
    pub(crate) expires_at: SystemTime,
    /// When the service answered (its `Date`, else the local clock): the lifetime is
    /// counted from it, so that a skewed local clock changes nothing.
    pub(crate) issued_at: SystemTime,
}

/// One or more sources tried in order (the metadata service, then pod identity), the keys
/// at each place, and what the earlier parts of the chain said, for the error when these
/// fail too.
pub(crate) struct TemporaryKeys {
    fetchers: Vec<Fetcher>,
    before: String,
    /// Keys by the endpoints their sources ask, shared by the clients there.
    places: Mutex<HashMap<String, Arc<Lifecycle>>>,
    /// Which source gave the last keys, plus one (zero: none yet), for messages.
    last_source: AtomicUsize,
}

impl std::fmt::Debug for TemporaryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryKeys")
            .field("sources", &self.fetchers)
            .finish_non_exhaustive()
    }
}

impl TemporaryKeys {
    pub(crate) fn new(fetchers: Vec<Fetcher>, before: String) -> Self {
        Self {
            fetchers,
            before,
            places: Mutex::default(),
            last_source: AtomicUsize::new(0),
        }
    }

    /// What kind of keys these are, for messages: the source that gave the last ones, or
    /// the first one to be asked.
    pub(crate) fn kind(&self) -> &'static str {
        let last = self.last_source.load(Ordering::Relaxed);
        self.fetchers
            .get(last.saturating_sub(1))
            .map_or("temporary AK/SK", Fetcher::name)
    }

    /// These keys as fetched from `place` (a client's).
    pub(crate) fn at(self: &Arc<Self>, place: Place) -> Located {
        let endpoints: Vec<String> = self.fetchers.iter().map(|f| f.endpoint(&place)).collect();
        let lifecycle = crate::sync::lock(&self.places)
            .entry(endpoints.join(" "))
            .or_default()
            .clone();
        Located {
            keys: self.clone(),
            place: Arc::new(place),
            lifecycle,
        }
    }

    /// The error for a fetch that found no keys: the service's answer or a transport error
    /// when trying again may work, else "no credentials" with what each source (and the
    /// chain before) said.
    fn error(&self, failure: Failure) -> Error {
        let message = match self.before.as_str() {
            "" => failure.message,
            before => format!("{before}; {}", failure.message),
        };
        match (failure.answer, failure.transient) {
            (Some(answer), _) => Error::CredentialsService {
                message: format!("fetching credentials: {message}"),
                answer,
            },
            (None, Some(kind)) => {
                Error::transport(kind, format!("fetching credentials: {message}"), None)
            }
            (None, None) => Error::config(
                ConfigKind::Credentials,
                format!("no credentials: {message}"),
            ),
        }
    }

    /// Each source in turn until one hands out keys; what each said otherwise (transient if
    /// any was).
    async fn fetch(&self, place: &Place) -> Result<Fetched, Failure> {
        let mut said = Vec::new();
        let mut transient = None;
        let mut answer = None;
        for (index, fetcher) in self.fetchers.iter().enumerate() {
            let fetched = tokio::time::timeout(TIMEOUT * 2, fetcher.fetch(place))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure {
                        message: format!(
                            "{}: no answer within {}s",
                            fetcher.name(),
                            (TIMEOUT * 2).as_secs()
                        ),
                        transient: Some(TransportKind::Timeout),
                        answer: None,
                    })
                });
            let fetched = match fetcher {
                // The metadata service is the chain's last resort, asked when nothing is
                // configured: off an ECS it never answers, which means "no credentials".
                Fetcher::Metadata(_) => fetched.map_err(|failure| Failure {
                    transient: None,
                    answer: None,
                    ..failure
                }),
                _ => fetched,
            };
            match fetched {
                Ok(keys) => {
                    self.last_source.store(index + 1, Ordering::Relaxed);
                    let lifetime = keys
                        .expires_at
                        .duration_since(keys.issued_at)
                        .unwrap_or_default();
                    return Ok(Fetched {
                        key: keys.key,
                        lifetime,
                    });
                }
                Err(failure) => {
                    transient = transient.or(failure.transient);
                    answer = answer.or(failure.answer);
                    said.push(failure.message);
                }
            }
        }
        Err(Failure {
            message: said.join("; "),
            transient,
            answer,
        })
    }
}

/// Temporary keys as one client fetches them: its place, and the keys kept there.
#[derive(Clone)]
pub(crate) struct Located {
    keys: Arc<TemporaryKeys>,
    place: Arc<Place>,
    lifecycle: Arc<Lifecycle>,
}

impl std::fmt::Debug for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Located")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl Located {
    /// Makes sure usable keys are at hand (see [`Lifecycle::ready`]).
    pub(crate) async fn ready(&self) -> Result<(), Error> {
        let (keys, place) = (self.keys.clone(), self.place.clone());
        self.lifecycle
            .ready(move || {
                let (keys, place) = (keys.clone(), place.clone());
                async move { keys.fetch(&place).await }
            })
            .await
            .map(drop)
            .map_err(|failure| self.keys.error(failure))
    }

    /// The keys held at this place, if any.
    pub(crate) fn current(&self) -> Option<Arc<AccessKey>> {
        self.lifecycle.current()
    }
}
