//! The project id from IAM, as the official SDKs find it when AK/SK credentials carry none and
//! a region is known: a signed `GET /v3/projects?name=REGION`, exactly one match expected,
//! kept by the client (shared by its clones, never by other clients, which may name another
//! IAM endpoint). A client has one region and one identity (a user's AK/SK, or one source of
//! temporary keys, whose access keys rotate but whose user does not), so it keeps one
//! project id: looked up once, whatever the rotations.

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::{
    ApiError, ConfigKind, Credentials, Error, ProjectId, RetryPolicy, TransportKind,
    endpoint::{base_url, host_port},
    error_answer::read_capped,
};

/// The environment variable naming the IAM endpoint, as in the official SDKs.
pub(crate) const IAM_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
/// The largest IAM answer read: a list of a few projects.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The IAM endpoint: the builder's, else `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the profile's
/// `iam_endpoint`, else the region's; `None` with none of these.
pub(crate) fn iam_endpoint(
    builder: Option<&str>,
    credentials: &Credentials,
    region: Option<&str>,
) -> Option<String> {
    builder
        .map(str::to_owned)
        .or_else(|| {
            std::env::var(IAM_ENDPOINT_VAR)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| credentials.iam_endpoint.clone())
        .or_else(|| region.map(|region| format!("https://iam.{region}.myhuaweicloud.com")))
}

/// Where and for which region to ask.
#[derive(Debug)]
pub(crate) struct ProjectLookup {
    url: reqwest::Url,
    host: Box<str>,
    region: String,
    http: reqwest::Client,
    timeout: Duration,
    /// Concurrent first calls share one lookup; a failure is not kept.
    project_id: OnceCell<ProjectId>,
}

#[derive(Deserialize)]
struct Projects {
    #[serde(default)]
    projects: Vec<Project>,
}

#[derive(Deserialize)]
struct Project {
    id: String,
}

impl ProjectLookup {
    /// `endpoint`: the builder's, else `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the profile's
    /// `iam_endpoint`, else `https://iam.{region}.myhuaweicloud.com`.
    pub(crate) fn new(
        endpoint: Option<&str>,
        credentials: &Credentials,
        region: &str,
        allow_http: bool,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let endpoint = iam_endpoint(endpoint, credentials, Some(region))
            .unwrap_or_else(|| format!("https://iam.{region}.myhuaweicloud.com"));
        let base = base_url("IAM", &endpoint, allow_http)?;
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/v3/projects"), [("name", region)])
                .map_err(|e| {
                    Error::config(
                        ConfigKind::Endpoint,
                        format!("IAM endpoint `{endpoint}`: {e}"),
                    )
                })?;
        Ok(Self {
            host: host_port(&url),
            url,
            region: region.to_owned(),
            http,
            timeout,
            project_id: OnceCell::new(),
        })
    }

    /// The region's project id, from the cache or from IAM, asked with the call's retry
    /// policy.
    pub(crate) async fn project_id(
        &self,
        credentials: &Credentials,
        policy: &RetryPolicy,
    ) -> Result<ProjectId, Error> {
        self.project_id
            .get_or_try_init(|| self.ask_until_answered(credentials, policy))
            .await
            .cloned()
            .map_err(|error| match error {
                Error::ProjectId { .. } => error,
                other => Error::Iam(Box::new(other)),
            })
    }

    async fn ask_until_answered(
        &self,
        credentials: &Credentials,
        policy: &RetryPolicy,
    ) -> Result<ProjectId, Error> {
        let mut rng = policy.rng();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.ask(credentials).await {
                Ok(id) => return Ok(id),
                Err(error) => error,
            };
            match policy.delay(attempt, error.retry(), &mut rng) {
                Ok(wait) if attempt < policy.attempts() => tokio::time::sleep(wait).await,
                _ => return Err(error),
            }
        }
    }

    async fn ask(&self, credentials: &Credentials) -> Result<ProjectId, Error> {
        let mut request = reqwest::Request::new(Method::GET, self.url.clone());
        request.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        credentials.apply(&mut request, &self.host);
        let exchange = async {
            let mut response = self.http.execute(request).await?;
            let body = read_capped(&mut response, MAX_BODY_BYTES).await?;
            Ok::<_, reqwest::Error>((response.status(), response.headers().clone(), body))
        };
        let (status, headers, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                let message = format!(
                    "no complete answer within {}",
                    crate::error::human(self.timeout)
                );
                Error::transport(TransportKind::Timeout, message, None)
            })?
            .map_err(|e| {
                let (kind, message) = crate::transport::describe(&e);
                Error::transport(kind, message, Some(Box::new(e)))
            })?;
        let trace_id = trace_id(&headers);
        if status != StatusCode::OK {
            let mut error = ApiError::from_body(status.as_u16(), trace_id, &body);
            error.note_clock_skew(crate::error_answer::date(&headers));
            return Err(error.into());
        }
        let Projects { projects } =
            serde_json::from_slice(&body).map_err(|e| Error::decode(e, &body))?;
        match projects.as_slice() {
            [one] => ProjectId::new(one.id.clone()),
            _ => Err(Error::ProjectId {
                region: self.region.clone(),
                found: projects.into_iter().map(|p| p.id).collect(),
                trace_id,
            }),
        }
    }
}

fn trace_id(headers: &HeaderMap) -> Option<String> {
    ["x-iam-trace-id", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::to_owned)
}
