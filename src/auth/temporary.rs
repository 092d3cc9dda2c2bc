//! Temporary access keys, for credentials that carry no long-lived key: fetched at the first
//! call from one of the keyless sources (OIDC federation, an identity provider's ID token,
//! the ECS metadata service, CCE pod identity) and fetched again when fewer than 40 minutes
//! remain, as the official SDKs do. Token files are read again at every fetch. A failed
//! refresh keeps keys that have not expired yet.

use std::{
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use super::{
    credentials::AccessKey, idp::IdpToken, metadata::Metadata, oidc::Oidc,
    pod_identity::PodIdentity,
};
use crate::{ConfigKind, Error, TransportKind};

const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(40 * 60);
/// After a background refresh failed, the next one waits this long.
const BACKOFF: Duration = Duration::from_secs(30);
/// Each exchange with a credentials service, connection included (a fetch has two at most).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a source gave no keys, and whether trying again later may work (no answer, 5xx) or
/// not (a refused token, a missing file, an answer without keys).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) transient: Option<TransportKind>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            transient: None,
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

    async fn fetch(&self, http: &reqwest::Client, place: &Place) -> Result<Keys, Failure> {
        match self {
            Self::Oidc(oidc) => oidc.fetch(http, place).await,
            Self::IdpToken(idp) => idp.fetch(http, place).await,
            Self::Metadata(metadata) => metadata.fetch(http).await,
            Self::PodIdentity(pod) => pod.fetch(http).await,
        }
    }
}

/// Where the client is: the services that hand out keys depend on it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Place {
    pub(crate) region: Option<String>,
    /// The IAM endpoint the client resolved (builder, environment, profile, or the region's).
    pub(crate) iam_endpoint: Option<String>,
    /// The client's HTTP client: its TLS settings (extra roots) and proxies apply here too.
    pub(crate) http: Option<reqwest::Client>,
}

/// Keys, when they expire, and (once fetched) which source gave them.
#[derive(Clone)]
pub(crate) struct Keys {
    pub(crate) key: Arc<AccessKey>,
    pub(crate) expires_at: SystemTime,
    pub(crate) source: &'static str,
}

/// One or more sources tried in order (the metadata service, then pod identity), the keys
/// while they last, and what the earlier parts of the chain said, for the error when these
/// fail too.
pub(crate) struct TemporaryKeys {
    fetchers: Vec<Fetcher>,
    before: String,
    place: OnceLock<Place>,
    http: OnceLock<Result<reqwest::Client, String>>,
    cached: RwLock<Option<Keys>>,
    /// One fetch at a time: concurrent calls wait for it rather than each fetching.
    refreshing: tokio::sync::Mutex<()>,
    /// A refresh runs in the background (keys still valid, calls go on).
    refreshing_behind: AtomicBool,
    /// No background refresh before this, after one failed.
    backoff_until: Mutex<Option<Instant>>,
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
            place: OnceLock::new(),
            http: OnceLock::new(),
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            refreshing_behind: AtomicBool::new(false),
            backoff_until: Mutex::new(None),
        }
    }

    /// What kind of keys these are, for messages: the source that gave the current ones, or
    /// the first one to be asked.
    pub(crate) fn kind(&self) -> &'static str {
        match self.read() {
            Some(keys) => keys.source,
            None => self
                .fetchers
                .first()
                .map_or("temporary AK/SK", Fetcher::name),
        }
    }

    /// Where the client is; the first client built with these credentials decides.
    pub(crate) fn locate(&self, place: Place) {
        let _ = self.place.set(place);
    }

    /// The keys fetched last, if any.
    pub(crate) fn current(&self) -> Option<Arc<AccessKey>> {
        self.read().map(|keys| keys.key)
    }

    fn read(&self) -> Option<Keys> {
        crate::sync::read(&self.cached).clone()
    }

    fn fresh(&self) -> bool {
        self.read().is_some_and(|keys| {
            keys.expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
        })
    }

    /// Makes sure valid keys are at hand. Keys with fewer than 40 minutes left are refreshed
    /// in the background while calls go on with them; a call waits only when there are none,
    /// or they have expired.
    pub(crate) async fn ready(self: &Arc<Self>) -> Result<(), Error> {
        match self.read() {
            Some(keys) if keys.expires_at > SystemTime::now() => {
                if !self.fresh() {
                    self.refresh_behind();
                }
                return Ok(());
            }
            _ => {}
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if self
            .read()
            .is_some_and(|keys| keys.expires_at > SystemTime::now())
        {
            return Ok(());
        }
        let keys = self.fetch().await.map_err(|failure| self.error(failure))?;
        *crate::sync::write(&self.cached) = Some(keys);
        Ok(())
    }

    /// Starts one refresh in the background, unless one runs or the last one failed less
    /// than [`BACKOFF`] ago; a failure keeps the current keys.
    fn refresh_behind(self: &Arc<Self>) {
        if self.refreshing_behind.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiting =
            crate::sync::lock(&self.backoff_until).is_some_and(|until| until > Instant::now());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing_behind.store(false, Ordering::Release);
            return;
        };
        if waiting {
            self.refreshing_behind.store(false, Ordering::Release);
            return;
        }
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let _one_at_a_time = this.refreshing.lock().await;
            if !this.fresh() {
                match this.fetch().await {
                    Ok(keys) => {
                        *crate::sync::write(&this.cached) = Some(keys);
                        *crate::sync::lock(&this.backoff_until) = None;
                    }
                    Err(failure) => {
                        tracing::warn!(
                            error = %failure.message,
                            "refreshing temporary credentials failed; using the current ones"
                        );
                        *crate::sync::lock(&this.backoff_until) = Some(Instant::now() + BACKOFF);
                    }
                }
            }
            this.refreshing_behind.store(false, Ordering::Release);
        });
    }

    /// The error for a fetch that found no keys: a transport error when trying again may
    /// work, else "no credentials" with what each source (and the chain before) said.
    fn error(&self, failure: Failure) -> Error {
        let message = match self.before.as_str() {
            "" => failure.message,
            before => format!("{before}; {}", failure.message),
        };
        match failure.transient {
            Some(kind) => Error::transport(kind, format!("fetching credentials: {message}"), None),
            None => Error::config(
                ConfigKind::Credentials,
                format!("no credentials: {message}"),
            ),
        }
    }

    /// Each source in turn until one hands out keys; what each said otherwise (transient if
    /// any was).
    async fn fetch(&self) -> Result<Keys, Failure> {
        let place = self.place.get().cloned().unwrap_or_default();
        let http = match &place.http {
            Some(http) => http,
            None => self.http()?,
        };
        let mut said = Vec::new();
        let mut transient = None;
        for fetcher in &self.fetchers {
            let fetched = tokio::time::timeout(TIMEOUT * 2, fetcher.fetch(http, &place))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure {
                        message: format!(
                            "{}: no answer within {}s",
                            fetcher.name(),
                            (TIMEOUT * 2).as_secs()
                        ),
                        transient: Some(TransportKind::Timeout),
                    })
                });
            let fetched = match fetcher {
                // The metadata service is the chain's last resort, asked when nothing is
                // configured: off an ECS it never answers, which means "no credentials".
                Fetcher::Metadata(_) => fetched.map_err(|failure| Failure {
                    transient: None,
                    ..failure
                }),
                _ => fetched,
            };
            match fetched {
                Ok(keys) => {
                    return Ok(Keys {
                        source: fetcher.name(),
                        ..keys
                    });
                }
                Err(failure) => {
                    transient = transient.or(failure.transient);
                    said.push(failure.message);
                }
            }
        }
        Err(Failure {
            message: said.join("; "),
            transient,
        })
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                // Proxies from the environment apply, except to loopback and link-local hosts
                // (the metadata service): see `crate::proxy`.
                crate::tls::reqwest_builder(&[], None)
                    .map_err(|e| e.to_string())?
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
