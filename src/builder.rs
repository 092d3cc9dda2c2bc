//! Building a [`Client`]: where the services are, how to authenticate, how patient to be.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    Client, ConfigKind, Credentials, Error, ProjectId, RateLimit, RetryPolicy, SigningAlgorithm,
    auth::{
        iam::{ProjectLookup, iam_endpoint},
        temporary::Place,
    },
    client::Services,
    endpoint::{RegionsFile, Service, base_url, default_regions_file, region_endpoints},
    error::Refusal,
    failover::Endpoints,
    generated,
    hooks::Hooks,
    rate_limit::RateLimiter,
    retry_budget::RetryBudget,
    settings::Settings,
};

/// The default cap on a response body: far above any legitimate answer (ten commits), far
/// below what would hurt memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The time of an attempt when neither it nor the call has a timeout: a service that never
/// answers must not hold a call for ever.
const ATTEMPT_TIMEOUT_WITHOUT_DEADLINE: Duration = Duration::from_secs(15);

/// Configures a [`Client`]. A region or an endpoint is required; credentials come from
/// [`ClientBuilder::credentials`] or, when not given, from [`Credentials::from_env`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    region: Option<String>,
    endpoint: Option<String>,
    codearts_repo_endpoint: Option<String>,
    servicestage_endpoint: Option<String>,
    credentials: Option<Credentials>,
    project_id: Option<String>,
    allow_http: bool,
    connect_timeout: Duration,
    /// Set only when asked for: without it an attempt may use what is left of the call.
    attempt_timeout: Option<Duration>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    rate_limit: Option<RateLimit>,
    max_body_bytes: usize,
    check_drift: bool,
    root_certificates: Vec<Vec<u8>>,
    identity: Option<PrivatePem>,
    http_client: Option<reqwest::Client>,
    iam_endpoint: Option<String>,
    regions_file: Option<PathBuf>,
    signing_algorithm: SigningAlgorithm,
}

/// A client certificate's PEM, which holds its private key: never printed.
#[derive(Clone)]
struct PrivatePem(Vec<u8>);

impl std::fmt::Debug for PrivatePem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            codearts_repo_endpoint: None,
            servicestage_endpoint: None,
            credentials: None,
            project_id: None,
            allow_http: false,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: None,
            timeout: Some(Duration::from_secs(60)),
            retry: RetryPolicy::default(),
            rate_limit: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            check_drift: false,
            root_certificates: Vec::new(),
            identity: None,
            http_client: None,
            iam_endpoint: None,
            regions_file: None,
            signing_algorithm: SigningAlgorithm::default(),
        }
    }
}

impl ClientBuilder {
    /// The region (`cn-north-4`, ...): both services' hosts, from
    /// `HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>` (a comma list: several endpoints, tried in
    /// turn on connect, DNS or TLS-handshake failures), else the regions file, else the
    /// official SDKs' tables. A region one service lacks is an error for that service's
    /// calls only.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// One base URL for both services (a gateway, or the embedded server).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The CodeArts Repo base URL, over any region or shared endpoint.
    pub fn codearts_repo_endpoint(mut self, url: impl Into<String>) -> Self {
        self.codearts_repo_endpoint = Some(url.into());
        self
    }

    /// The ServiceStage base URL, over any region or shared endpoint.
    pub fn servicestage_endpoint(mut self, url: impl Into<String>) -> Self {
        self.servicestage_endpoint = Some(url.into());
        self
    }

    /// The credentials; without this, [`Credentials::from_env`] at [`Self::build`].
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// How AK/SK requests are signed (default `SDK-HMAC-SHA256`, as in the official SDKs):
    /// both operations, the IAM project-id lookup, and temporary keys from every keyless
    /// source alike. Tokens are not signed. The asymmetric algorithms derive their private
    /// key from the AK/SK once per access key, on first use.
    pub fn signing_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.signing_algorithm = algorithm;
        self
    }

    /// The project id for the commits call, over the credentials' one.
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// A regions file in the official SDKs' format, read instead of
    /// `HUAWEICLOUD_SDK_REGIONS_FILE` or `~/.huaweicloud/regions.yaml`.
    pub fn regions_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.regions_file = Some(path.into());
        self
    }

    /// The IAM endpoint asked for the project id when AK/SK credentials carry none and a
    /// region is set; default `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the profile's
    /// `iam_endpoint`, else `https://iam.{region}.myhuaweicloud.com`.
    pub fn iam_endpoint(mut self, url: impl Into<String>) -> Self {
        self.iam_endpoint = Some(url.into());
        self
    }

    /// Allows plain HTTP to hosts other than loopback (the token or signature travels in
    /// clear text). Off by default.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Time to establish a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time for one attempt, from sending to the last byte of the body. Without it an attempt
    /// may use all that is left of the call's [`Self::timeout`], so that a slow service that
    /// answers within the call's time is heard (15 s when the call has no timeout).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Time for a whole call, counted once from its start: credentials, the IAM lookup, the
    /// rate limiter's waits, every attempt and the waits between them (default 60 s; `None`:
    /// unbounded).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Paces every request of the client and its clones (default: none): slow down when the
    /// service throttles ([`RateLimit::adaptive`]) and/or stay under a known quota
    /// ([`RateLimit::max_rate`]). A `Retry-After` on a `429` then pauses every request, not
    /// only the call that got it. A watch adds an adaptive limit of its own to a client
    /// without one.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The largest response body read (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Compares each successful answer with the spec (default: off; `codearts watch` and
    /// `codearts check-spec` turn it on) and says, once per kind and JSON path, what the
    /// service answered beyond it: a `tracing` event with target `codearts_repo::drift`, and
    /// [`Client::drift`](crate::Client::drift). The answers themselves are read as before
    /// either way. Off by default: it costs 8 to 14% more instructions per request
    /// (`docs/drift.md`).
    pub fn check_drift(mut self, on: bool) -> Self {
        self.check_drift = on;
        self
    }

    /// Trusts the CA certificates in `pem` (one or several) besides the system's roots
    /// (which `SSL_CERT_FILE` and `SSL_CERT_DIR` can replace).
    pub fn add_root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// A client certificate and its private key, in one PEM (PKCS#8, RSA or SEC1 key), for
    /// endpoints that ask for mutual TLS.
    pub fn identity_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.identity = Some(PrivatePem(pem.as_ref().to_vec()));
        self
    }

    /// Sends through this `reqwest::Client` (proxies, DNS, TLS, anything reqwest offers); the
    /// crate's signing, retries, timeouts and checks still apply. Its own settings stay as
    /// they are: turn off its redirects (the crate never follows one) and set TLS on it,
    /// not here.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Checks the configuration and builds the client. Nothing is sent.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(region) = &self.region
            && (region.is_empty() || region.contains(|c: char| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::invalid(
                "region",
                "must be a region id such as cn-north-4: not empty, no spaces",
            ));
        }
        if self.region.is_none()
            && self.endpoint.is_none()
            && (self.codearts_repo_endpoint.is_none() || self.servicestage_endpoint.is_none())
        {
            return Err(Error::config(
                ConfigKind::Endpoint,
                "no endpoint: set a region or an endpoint (for both services or for each)",
            ));
        }
        let limiter = match self.rate_limit {
            Some(limit) => Some(Arc::new(RateLimiter::new(limit.check()?))),
            None => None,
        };
        let mut credentials = match self.credentials.clone() {
            Some(credentials) => credentials,
            None => Credentials::from_env()?,
        };
        // The client's copy signs as the client was asked to, IAM's lookup included.
        credentials.algorithm = self.signing_algorithm;
        let project_id = match &self.project_id {
            Some(id) => Some(ProjectId::new(id.clone())?),
            None => credentials.project_id().cloned(),
        };
        let http = self.http()?;
        // Keyless credentials exchange a token with STS or IAM: in this client's region, over
        // its HTTP client; the node-local agents directly.
        let credentials = if credentials.fetches_keys() {
            let place = Place {
                region: self.region.clone(),
                iam_endpoint: iam_endpoint(
                    self.iam_endpoint.as_deref(),
                    &credentials,
                    self.region.as_deref(),
                ),
                http: http.clone(),
                direct: self.direct_http()?,
                http_settings: self.http_settings(),
            };
            credentials.located(place)
        } else {
            credentials
        };
        // As the official SDKs: with AK/SK, a region and no project id, IAM is asked for it.
        let iam = match &self.region {
            Some(region) if project_id.is_none() && credentials.signs() => {
                Some(ProjectLookup::new(
                    self.iam_endpoint.as_deref(),
                    &credentials,
                    region,
                    self.allow_http,
                    http.clone(),
                    self.attempt_timeout
                        .unwrap_or(ATTEMPT_TIMEOUT_WITHOUT_DEADLINE),
                )?)
            }
            _ => None,
        };
        let settings = Arc::new(Settings {
            credentials,
            project_id,
            iam,
            retry: self.retry.clone(),
            budget: self.retry.budget().map(RetryBudget::new),
            attempt_timeout: self.attempt_timeout.or(self
                .timeout
                .is_none()
                .then_some(ATTEMPT_TIMEOUT_WITHOUT_DEADLINE)),
            overall_timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            drift: self.check_drift.then(crate::drift::DriftLog::new),
        });
        let regions_file = self.load_regions_file()?;
        let service = |service: Service| -> Result<generated::Client, Refusal> {
            let urls = self
                .service_urls(service, regions_file.as_ref())
                .map_err(Error::into_refusal)?;
            if self.http_client.is_none() && urls.iter().any(|url| url.starts_with("https:")) {
                crate::tls::preload_system_roots();
            }
            let endpoints = Endpoints::new(&urls).map_err(Error::into_refusal)?;
            Ok(generated::Client::new_with_client(
                &urls[0],
                http.clone(),
                Hooks::new(settings.clone(), endpoints),
            ))
        };
        Ok(Client {
            services: Arc::new(Services {
                codearts_repo: service(Service::CodeArtsRepo),
                servicestage: service(Service::ServiceStage),
            }),
            settings,
            limiter,
            leadership: None,
        })
    }

    /// The caller's `reqwest::Client`, or one built with the crate's settings.
    fn http(&self) -> Result<reqwest::Client, Error> {
        if let Some(client) = &self.http_client {
            if !self.root_certificates.is_empty() || self.identity.is_some() {
                return Err(Error::config(
                    ConfigKind::HttpClient,
                    "root certificates and client identity go on the reqwest::Client passed to \
                     http_client, not on this builder",
                ));
            }
            return Ok(client.clone());
        }
        let identity = self.identity.as_ref().map(|PrivatePem(pem)| pem.as_slice());
        crate::tls::reqwest_builder(&self.root_certificates, identity)?
            // A redirect would carry the credentials to another host: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            // The client retries by its own policy (`RetryPolicy`, which covers HTTP/2's
            // refused streams as transport errors). reqwest's layer would copy every request
            // in case it retries one: with no retries allowed it copies none.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("codearts-repo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::config(
                    ConfigKind::HttpClient,
                    format!("cannot build the HTTP client: {e}"),
                )
            })
    }

    /// What tells this client's HTTP settings from another's, for sharing temporary keys:
    /// a digest of its roots, client certificate and the environment's proxies (which may
    /// hold a password); a caller's own HTTP client is a place of its own.
    fn http_settings(&self) -> String {
        use sha2::{Digest, Sha256};
        static CALLERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if self.http_client.is_some() {
            let n = CALLERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return format!("caller-http-client-{n}");
        }
        let mut digest = Sha256::new();
        let identity = self.identity.iter().map(|PrivatePem(pem)| pem.as_slice());
        let proxies = crate::proxy::settings();
        for part in self
            .root_certificates
            .iter()
            .map(Vec::as_slice)
            .chain([b"identity".as_slice()])
            .chain(identity)
            .chain([b"proxies".as_slice()])
            .chain(proxies.iter().map(String::as_bytes))
        {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        hex::encode(digest.finalize())
    }

    /// For the node-local credentials agents (metadata service, pod identity): the
    /// builder's roots, never a proxy (the environment's or the caller's HTTP client's), and
    /// never the client certificate, which is for the services.
    fn direct_http(&self) -> Result<reqwest::Client, Error> {
        crate::tls::reqwest_builder(&self.root_certificates, None)?
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(crate::auth::temporary::TIMEOUT)
            .connect_timeout(crate::auth::temporary::TIMEOUT)
            .build()
            .map_err(|e| {
                Error::config(
                    ConfigKind::HttpClient,
                    format!("cannot build the HTTP client: {e}"),
                )
            })
    }

    /// The base URLs of `service`, in the order to try them: its own endpoint, then the
    /// shared one, then the region's (environment list, regions file, built-in table).
    fn service_urls(
        &self,
        service: Service,
        regions_file: Option<&RegionsFile>,
    ) -> Result<Vec<String>, Error> {
        let explicit = match service {
            Service::CodeArtsRepo => &self.codearts_repo_endpoint,
            Service::ServiceStage => &self.servicestage_endpoint,
        };
        let urls = match explicit.as_ref().or(self.endpoint.as_ref()) {
            Some(url) => vec![url.clone()],
            None => region_endpoints(
                service,
                self.region.as_deref().unwrap_or_default(),
                regions_file,
                env_var,
            )?,
        };
        urls.iter()
            .map(|url| base_url(service, url, self.allow_http))
            .collect()
    }

    /// The regions file given to the builder, else the official SDKs' one if present; only
    /// read when a region is to be resolved.
    fn load_regions_file(&self) -> Result<Option<RegionsFile>, Error> {
        if self.region.is_none() {
            return Ok(None);
        }
        match &self.regions_file {
            Some(path) => RegionsFile::load(path).map(Some),
            None => default_regions_file(env_var),
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
