//! The client: the two operations, each validated before any I/O.

use std::sync::Arc;

use crate::{
    Error, GitRef, Namespace, ProjectId, ProjectPath, RateLimit, RepoAuth, RepositoryId,
    builder::ClientBuilder,
    call::Call,
    endpoint::Service,
    error::Refusal,
    generated::{self, types},
    rate_limit::RateLimiter,
    settings::Settings,
};

use crate::{CommitList, PushEvent};

/// A client for both services. Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn run() -> Result<(), codearts_repo::Error> {
/// use codearts_repo::{Client, Credentials};
/// let client = Client::builder()
///     .region("cn-north-4")
///     .credentials(Credentials::from_env()?)
///     .build()?;
/// let event = client.last_push_event(2112036131).await?;
/// let commits = client
///     .commits("my-group", "team/app")
///     .git_ref("main")
///     .repo_auth("gh-auth")
///     .send()
///     .await?;
/// # let _ = (event, commits); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    /// The generated client of each service, or why there is none; shared by clones, so a
    /// clone (one per poll of a watch) copies three pointers.
    pub(crate) services: Arc<Services>,
    /// Shared with the hooks of both generated clients.
    pub(crate) settings: Arc<Settings>,
    /// Paces the requests of this client and its clones, if asked to.
    pub(crate) limiter: Option<Arc<RateLimiter>>,
    /// A fleet's lease that must be held when each request leaves (a watch's polls).
    pub(crate) leadership: Option<crate::leadership::Leadership>,
}

#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) codearts_repo: Result<generated::Client, Refusal>,
    pub(crate) servicestage: Result<generated::Client, Refusal>,
}

impl Client {
    /// Starts a builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Each kind of drift at each JSON path this client and its clones have seen in the
    /// answers since it was built, in the order first seen (empty when the answers
    /// conform, or without [`ClientBuilder::check_drift`]).
    pub fn drift(&self) -> Vec<crate::drift::Drift> {
        self.settings
            .drift
            .as_ref()
            .map(|log| log.summary())
            .unwrap_or_default()
    }

    /// Whether the service answered more kinds of drift than a client keeps (256, so that a
    /// long watch's memory stays bounded): [`Client::drift`] then lists the first ones, which
    /// still count their answers.
    pub fn drift_truncated(&self) -> bool {
        self.settings
            .drift
            .as_ref()
            .is_some_and(|log| log.truncated())
    }

    fn service(&self, service: Service) -> Result<&generated::Client, Error> {
        let client = match service {
            Service::CodeArtsRepo => &self.services.codearts_repo,
            Service::ServiceStage => &self.services.servicestage,
        };
        client.as_ref().map_err(Refusal::to_error)
    }

    /// A call starting now: its deadline covers credentials, the IAM lookup and attempts.
    fn call(&self) -> Call<'_> {
        Call::new(&self.settings, self.limiter.as_deref()).under(self.leadership.as_ref())
    }

    /// The rate limit this client's requests follow, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.limiter.as_ref().map(|limiter| limiter.config())
    }

    /// The rate its limiter allows now, in requests per second (`None`: no limiter, or no
    /// throttling seen yet and no ceiling).
    pub fn allowed_rate(&self) -> Option<f64> {
        self.limiter
            .as_ref()
            .and_then(|limiter| limiter.allowed_rate())
    }

    /// What its limiter learned of the account so far (`None`: no limiter), for a fleet's
    /// next watcher to [`RateLimit::resume`] from.
    pub fn learned_rate(&self) -> Option<crate::Learned> {
        self.limiter.as_ref().map(|limiter| limiter.learned())
    }

    /// A clone of this client that shares everything (connections, credentials, retry
    /// budget) but paces its requests by `limit`, with a rate limiter of its own: a fleet's
    /// next active watcher starts from what its predecessor learned ([`RateLimit::resume`]).
    /// Fails when `limit`'s ceiling is not a rate above 0.
    pub fn paced_by(&self, limit: RateLimit) -> Result<Self, Error> {
        Ok(self.with_rate_limit(limit.check()?))
    }

    /// A clone of this client that shares everything but paces by `limit` (a rate limiter of
    /// its own), for a watch over a client that has none.
    pub(crate) fn with_rate_limit(&self, limit: RateLimit) -> Self {
        Self {
            limiter: Some(Arc::new(RateLimiter::new(limit))),
            ..self.clone()
        }
    }

    /// Checks what a call to `service` needs before any is made: its endpoint, and the
    /// credentials (temporary keys from the metadata service are fetched now). Nothing is
    /// sent to the service; a long-running program (a watch) can refuse to start with the
    /// one error every call would give.
    pub async fn preflight(&self, service: Service) -> Result<(), Error> {
        self.service(service)?;
        self.call()
            .before_deadline("credentials", self.settings.credentials.ready())
            .await
    }

    /// The base URL used for `service`, or why there is none.
    pub fn endpoint(&self, service: Service) -> Result<&str, Error> {
        Ok(progenitor_client::ClientInfo::baseurl(
            self.service(service)?,
        ))
    }

    /// The latest push event of a repository (CodeArts Repo).
    ///
    /// `repository_id` must be from 1 to 2147483647; anything else is refused before I/O.
    pub async fn last_push_event<R>(&self, repository_id: R) -> Result<PushEvent, Error>
    where
        R: TryInto<RepositoryId>,
        R::Error: Into<Error>,
    {
        let repository_id = repository_id.try_into().map_err(Into::into)?;
        let client = self.service(Service::CodeArtsRepo)?;
        let call = self.call();
        call.before_deadline("credentials", self.settings.credentials.ready())
            .await?;
        call.run("ShowLastPushEventInRepository", || {
            client
                .show_last_push_event_in_repository()
                .repository_id(repository_id)
                .send()
        })
        .await
    }

    /// The latest ten commits of a project (ServiceStage). Finish with [`CommitsRequest::send`].
    ///
    /// Each parameter is a checked type ([`Namespace`], [`ProjectPath`], ...) or anything that
    /// converts into one (`&str`, `String`); a refusal is reported by `send`, before any I/O.
    /// A `/` in `project` is sent as `:`, as the document asks.
    pub fn commits<N, P>(&self, namespace: N, project: P) -> CommitsRequest<'_>
    where
        N: TryInto<Namespace>,
        N::Error: Into<Error>,
        P: TryInto<ProjectPath>,
        P::Error: Into<Error>,
    {
        CommitsRequest {
            client: self,
            namespace: checked(namespace),
            project: checked(project),
            git_ref: None,
            repo_auth: None,
            project_id: None,
        }
    }
}

/// Converts a parameter now and keeps a refusal for `send` (so that setters chain).
fn checked<T, V>(value: V) -> Result<T, Error>
where
    V: TryInto<T>,
    V::Error: Into<Error>,
{
    value.try_into().map_err(Into::into)
}

/// The parameters of one commits call, each converted when given; [`CommitsRequest::send`]
/// reports the first refusal before any I/O.
#[derive(Debug)]
#[must_use = "nothing is sent until `send` is awaited"]
pub struct CommitsRequest<'a> {
    client: &'a Client,
    namespace: Result<Namespace, Error>,
    project: Result<ProjectPath, Error>,
    git_ref: Option<Result<GitRef, Error>>,
    repo_auth: Option<Result<RepoAuth, Error>>,
    project_id: Option<Result<ProjectId, Error>>,
}

impl CommitsRequest<'_> {
    /// Branch or tag; without it the default branch.
    pub fn git_ref<R>(mut self, git_ref: R) -> Self
    where
        R: TryInto<GitRef>,
        R::Error: Into<Error>,
    {
        self.git_ref = Some(checked(git_ref));
        self
    }

    /// The git repository authorization name (`X-Repo-Auth`); required.
    pub fn repo_auth<A>(mut self, name: A) -> Self
    where
        A: TryInto<RepoAuth>,
        A::Error: Into<Error>,
    {
        self.repo_auth = Some(checked(name));
        self
    }

    /// The tenant's project id; without it, the client's or the credentials' project id, or
    /// IAM's for the region.
    pub fn project_id<I>(mut self, project_id: I) -> Self
    where
        I: TryInto<ProjectId>,
        I::Error: Into<Error>,
    {
        self.project_id = Some(checked(project_id));
        self
    }

    /// Reports the first refused parameter, or sends the request. Without a project id from
    /// the call, the builder or the credentials, AK/SK credentials and a region ask IAM first.
    pub async fn send(self) -> Result<CommitList, Error> {
        let client = self.client;
        let given_project_id = self.project_id.transpose()?;
        let settings = &client.settings;
        if given_project_id.is_none() && settings.project_id.is_none() && settings.iam.is_none() {
            return Err(missing_project_id());
        }
        let namespace = self.namespace?;
        let project = self.project?;
        let git_ref = self.git_ref.transpose()?;
        let repo_auth = self
            .repo_auth
            .ok_or_else(|| Error::invalid("repo_auth", "is required (X-Repo-Auth)"))??;

        let service = client.service(Service::ServiceStage)?;
        let call = client.call();
        call.before_deadline("credentials", settings.credentials.ready())
            .await?;
        let looked_up;
        let project_id = match (&given_project_id, &settings.project_id, &settings.iam) {
            (Some(id), _, _) | (None, Some(id), _) => id,
            (None, None, Some(iam)) => {
                let lookup = iam.project_id(&settings.credentials, &settings.retry);
                looked_up = call.before_deadline("the IAM project id", lookup).await?;
                &looked_up
            }
            (None, None, None) => return Err(missing_project_id()),
        };
        call.run("ListCommits", || {
            let request = service
                .list_commits()
                .project_id(project_id.clone())
                .namespace(namespace.clone())
                .project(project.clone())
                .content_type(types::ListCommitsContentType::ApplicationJsonCharsetUtf8)
                .x_repo_auth(repo_auth.clone());
            // One line per optional parameter: given, it is set; left out, it is not sent.
            request
                .set_if(git_ref.clone(), |request, value| request.ref_(value))
                .send()
        })
        .await
    }
}

/// Where each of the spec's operations and parameters is offered to callers, by
/// `operationId` and parameter name: spec-diff's Rust column reads it, and says "not
/// exposed" for what is not here. A parameter the hand-written calls start to offer gets a
/// line here beside its setter.
#[doc(hidden)]
#[rustfmt::skip] // a table: one line each
pub const PUBLIC_API: &[(&str, Option<&str>, &str)] = &[
    ("ShowLastPushEventInRepository", None, "Client::last_push_event"),
    ("ShowLastPushEventInRepository", Some("repository_id"), "Client::last_push_event (its argument)"),
    ("ListCommits", None, "Client::commits"),
    ("ListCommits", Some("namespace"), "Client::commits (its argument)"),
    ("ListCommits", Some("project"), "Client::commits (its argument)"),
    ("ListCommits", Some("project_id"), "CommitsRequest::project_id"),
    ("ListCommits", Some("ref"), "CommitsRequest::git_ref"),
    ("ListCommits", Some("X-Repo-Auth"), "CommitsRequest::repo_auth"),
];

/// Sets an optional parameter on a generated builder only when it was given, so that each
/// optional parameter is one line of the call, not a `match` per combination.
trait SetIf: Sized {
    fn set_if<T>(self, value: Option<T>, set: impl FnOnce(Self, T) -> Self) -> Self {
        match value {
            Some(value) => set(self, value),
            None => self,
        }
    }
}

impl<B> SetIf for B {}

fn missing_project_id() -> Error {
    Error::invalid(
        "project_id",
        "is required: pass it to the call, the builder or the credentials \
         (HUAWEICLOUD_SDK_PROJECT_ID), or use AK/SK with a region to ask IAM",
    )
}
