//! Temporary access keys, for credentials that carry no long-lived key: fetched from one of
//! the keyless sources (OIDC federation, an identity provider's ID token, the ECS metadata
//! service, CCE pod identity) where the calling client is, and kept per place by the state
//! machine of [`super::lifecycle`] (when to refresh, who waits). Token files are read again
//! at every fetch.
//!
//! The place is the client's: its region and IAM endpoint (which STS and IAM to ask) and its
//! HTTP client (proxies, roots, client certificate), handed over when the client is built.
//! Clients whose sources would ask the same endpoints through the same settings share keys; a
//! client elsewhere fetches its own. A place is forgotten when no client holds it, and at most
//! [`MAX_PLACES`] are shared. The node-local agents (the metadata service, the pod-identity
//! agent) are asked directly, never through a proxy, and never shown the client's
//! certificate.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
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
/// The most places whose keys are shared; clients at further places fetch keys of their own.
pub(crate) const MAX_PLACES: usize = 64;

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
    /// With the client's roots, without any proxy or client certificate, with [`TIMEOUT`]:
    /// for the node-local agents.
    pub(crate) direct: reqwest::Client,
    /// What tells `http`'s settings (roots, client certificate, proxies) from another
    /// client's: a digest, never the settings themselves.
    pub(crate) http_settings: String,
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
    /// Keys by place (the endpoints the sources ask, and the HTTP client's settings), shared
    /// by the clients there while any holds them; at most [`MAX_PLACES`].
    places: Mutex<HashMap<String, Weak<Lifecycle>>>,
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

    /// These keys as fetched from `place` (a client's): shared with the clients at the same
    /// place, or its own once [`MAX_PLACES`] places are held.
    pub(crate) fn at(self: &Arc<Self>, place: Place) -> Located {
        let mut at: Vec<String> = self.fetchers.iter().map(|f| f.endpoint(&place)).collect();
        at.push(place.http_settings.clone());
        let at = at.join(" ");
        let mut places = crate::sync::lock(&self.places);
        // A place no client holds any more is forgotten.
        places.retain(|_, lifecycle| lifecycle.strong_count() > 0);
        let lifecycle = match places.get(&at).and_then(Weak::upgrade) {
            Some(lifecycle) => lifecycle,
            None => {
                let lifecycle = Arc::new(Lifecycle::default());
                if places.len() < MAX_PLACES {
                    places.insert(at, Arc::downgrade(&lifecycle));
                }
                lifecycle
            }
        };
        drop(places);
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
                Ok(keys) => match lifetime(&keys) {
                    Some(lifetime) => {
                        self.last_source.store(index + 1, Ordering::Relaxed);
                        return Ok(Fetched {
                            key: keys.key,
                            lifetime,
                        });
                    }
                    // Keys the service itself holds expired would be refused by the gateway.
                    None => said.push(format!(
                        "{}: refused keys that expire ({}) no later than they were issued ({}) \
                         by the service's own clock",
                        fetcher.name(),
                        utc(keys.expires_at),
                        utc(keys.issued_at)
                    )),
                },
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

/// How long `keys` last by the service's own clock; `None` when they expire no later than
/// they were issued.
fn lifetime(keys: &Keys) -> Option<Duration> {
    let lifetime = keys.expires_at.duration_since(keys.issued_at).ok()?;
    (!lifetime.is_zero()).then_some(lifetime)
}

/// A time as RFC 3339 in UTC, to the second.
fn utc(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Arc<TemporaryKeys> {
        let metadata = Metadata::new("http://127.0.0.1:9".into());
        Arc::new(TemporaryKeys::new(
            vec![Fetcher::Metadata(metadata)],
            String::new(),
        ))
    }

    fn place(http_settings: &str) -> Place {
        let http = crate::tls::reqwest_builder(&[], None)
            .unwrap()
            .build()
            .unwrap();
        Place {
            region: None,
            iam_endpoint: None,
            http: http.clone(),
            direct: http,
            http_settings: http_settings.into(),
        }
    }

    fn places(keys: &TemporaryKeys) -> usize {
        crate::sync::lock(&keys.places).len()
    }

    #[test]
    fn keys_last_only_when_they_expire_after_they_were_issued() {
        let issued_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let keys = |expires_at| Keys {
            key: Arc::new(AccessKey {
                ak: "AK".into(),
                key: crate::auth::signer::SigningKey::new("SK"),
                security_token: None,
            }),
            expires_at,
            issued_at,
        };
        let nanosecond = Duration::from_nanos(1);
        assert_eq!(lifetime(&keys(issued_at - Duration::from_secs(3600))), None);
        assert_eq!(lifetime(&keys(issued_at)), None);
        assert_eq!(lifetime(&keys(issued_at + nanosecond)), Some(nanosecond));
    }

    #[test]
    fn keys_are_shared_at_the_same_endpoints_and_http_settings_only() {
        let keys = keys();
        let (a, b, c) = (
            keys.at(place("a")),
            keys.at(place("a")),
            keys.at(place("b")),
        );
        assert!(Arc::ptr_eq(&a.lifecycle, &b.lifecycle));
        assert!(!Arc::ptr_eq(&a.lifecycle, &c.lifecycle));
    }

    #[test]
    fn places_no_client_holds_are_forgotten_and_the_others_capped() {
        let keys = keys();
        for n in 0..3 * MAX_PLACES {
            drop(keys.at(place(&n.to_string())));
        }
        assert_eq!(
            places(&keys),
            1,
            "only the last, until the next client comes"
        );
        let held: Vec<Located> = (0..2 * MAX_PLACES)
            .map(|n| keys.at(place(&n.to_string())))
            .collect();
        assert_eq!(places(&keys), MAX_PLACES);
        // Past the cap a client has keys of its own; within it, they are shared.
        let beyond = keys.at(place(&(2 * MAX_PLACES - 1).to_string()));
        assert!(!Arc::ptr_eq(
            &beyond.lifecycle,
            &held[2 * MAX_PLACES - 1].lifecycle
        ));
        let within = keys.at(place("0"));
        assert!(Arc::ptr_eq(&within.lifecycle, &held[0].lifecycle));
        drop(held);
        drop(keys.at(place("again")));
        assert_eq!(places(&keys), 2, "`within` and `again`");
    }
}
