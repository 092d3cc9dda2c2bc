//! The client: the two operations, each validated before any I/O.

use std::{borrow::Cow, sync::Arc};

use crate::{
    Error, GitRef, Namespace, ProjectId, ProjectPath, RepoAuth, RepositoryId,
    auth::iam::ProjectLookup,
    builder::ClientBuilder,
    call::CallSettings,
    endpoint::Service,
    generated::{self, types},
    hooks::HookConfig,
};

pub use generated::types::{Commit, CommitList, PushEvent, RepositoryBrief};

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
    pub(crate) codearts_repo: Result<generated::Client, Arc<str>>,
    pub(crate) servicestage: Result<generated::Client, Arc<str>>,
    pub(crate) settings: Arc<CallSettings>,
    /// The default project id, converted once.
    pub(crate) project_id: Option<types::ListCommitsProjectId>,
    /// The hooks' settings; their credentials are made ready (metadata keys fetched)
    /// before each call.
    pub(crate) hooks: Arc<HookConfig>,
    /// Where the project id comes from when neither the call, the builder nor the
    /// credentials give one.
    pub(crate) iam: Option<Arc<ProjectLookup>>,
}

impl Client {
    /// Starts a builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    fn service(&self, service: Service) -> Result<&generated::Client, Error> {
        let client = match service {
            Service::CodeArtsRepo => &self.codearts_repo,
            Service::ServiceStage => &self.servicestage,
        };
        client
            .as_ref()
            .map_err(|why| Error::Config(why.to_string()))
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
        self.hooks.credentials.ready().await?;
        self.settings
            .run("ShowLastPushEventInRepository", || {
                client.show_last_push_event_in_repository(&repository_id)
            })
            .await
    }

    /// The latest ten commits of a project (ServiceStage). Finish with [`CommitsRequest::send`].
    ///
    /// A `/` in `project` is sent as `:`, as the document asks.
    pub fn commits<'a>(
        &'a self,
        namespace: impl Into<Cow<'a, str>>,
        project: impl Into<Cow<'a, str>>,
    ) -> CommitsRequest<'a> {
        CommitsRequest {
            client: self,
            namespace: namespace.into(),
            project: project.into(),
            git_ref: None,
            repo_auth: None,
            project_id: None,
        }
    }
}

/// The parameters of one commits call; every one is checked by [`CommitsRequest::send`]
/// before any I/O. Borrowed values are not copied until the request is built.
#[derive(Debug)]
#[must_use = "nothing is sent until `send` is awaited"]
pub struct CommitsRequest<'a> {
    client: &'a Client,
    namespace: Cow<'a, str>,
    project: Cow<'a, str>,
    git_ref: Option<Cow<'a, str>>,
    repo_auth: Option<Cow<'a, str>>,
    project_id: Option<Cow<'a, str>>,
}

impl<'a> CommitsRequest<'a> {
    /// Branch or tag; without it the default branch.
    pub fn git_ref(mut self, git_ref: impl Into<Cow<'a, str>>) -> Self {
        self.git_ref = Some(git_ref.into());
        self
    }

    /// The git repository authorization name (`X-Repo-Auth`); required.
    pub fn repo_auth(mut self, name: impl Into<Cow<'a, str>>) -> Self {
        self.repo_auth = Some(name.into());
        self
    }

    /// The tenant's project id; without it, the client's or the credentials' project id.
    pub fn project_id(mut self, project_id: impl Into<Cow<'a, str>>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// Checks every parameter, then sends the request. Without a project id from the call,
    /// the builder or the credentials, AK/SK credentials and a region ask IAM for it first.
    pub async fn send(self) -> Result<CommitList, Error> {
        if let Some(id) = &self.project_id {
            ProjectId::check(id)?;
        } else if self.client.project_id.is_none() && self.client.iam.is_none() {
            return Err(missing_project_id());
        }
        Namespace::check(&self.namespace)?;
        let project = ProjectPath::wire(&self.project)?;
        if let Some(git_ref) = &self.git_ref {
            GitRef::check(git_ref)?;
        }
        let repo_auth = self
            .repo_auth
            .as_deref()
            .ok_or_else(|| Error::invalid("repo_auth", "is required (X-Repo-Auth)"))?;
        RepoAuth::check(repo_auth)?;

        let namespace: types::ListCommitsNamespace = to_generated("namespace", &self.namespace)?;
        let project: types::ListCommitsProject = to_generated("project", &project)?;
        let git_ref: Option<types::ListCommitsRef> = self
            .git_ref
            .as_deref()
            .map(|r| to_generated("ref", r))
            .transpose()?;
        let repo_auth: types::ListCommitsXRepoAuth = to_generated("repo_auth", repo_auth)?;

        let client = self.client.service(Service::ServiceStage)?;
        self.client.hooks.credentials.ready().await?;
        let project_id = match (&self.project_id, &self.client.project_id, &self.client.iam) {
            (Some(id), _, _) => Cow::Owned(to_generated("project_id", id)?),
            (None, Some(id), _) => Cow::Borrowed(id),
            (None, None, Some(iam)) => {
                let id = iam.project_id(&self.client.hooks.credentials).await?;
                Cow::Owned(to_generated("project_id", id.as_str())?)
            }
            (None, None, None) => return Err(missing_project_id()),
        };
        self.client
            .settings
            .run("ListCommits", || {
                client.list_commits(
                    &project_id,
                    &namespace,
                    &project,
                    git_ref.as_ref(),
                    types::ListCommitsContentType::ApplicationJsonCharsetUtf8,
                    &repo_auth,
                )
            })
            .await
    }
}

fn missing_project_id() -> Error {
    Error::invalid(
        "project_id",
        "is required: pass it to the call, the builder or the credentials \
         (HUAWEICLOUD_SDK_PROJECT_ID), or use AK/SK with a region to ask IAM",
    )
}

/// The generated newtypes only re-check what the crate's own checks already guarantee.
pub(crate) fn to_generated<T>(field: &'static str, value: &str) -> Result<T, Error>
where
    T: std::str::FromStr<Err = types::error::ConversionError>,
{
    value
        .parse()
        .map_err(|e: T::Err| Error::invalid(field, e.to_string()))
}
