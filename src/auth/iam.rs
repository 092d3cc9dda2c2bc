//! The project id from IAM, as the official SDKs find it when AK/SK credentials carry none and
//! a region is known: a signed `GET /v3/projects?name=REGION`, exactly one match expected,
//! cached per (AK, region) for the life of the process.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::{
    ApiError, Credentials, Error, ProjectId, TransportKind,
    endpoint::{base_url, host_port},
    error_answer::read_capped,
};

/// The environment variable naming the IAM endpoint, as in the official SDKs.
pub(crate) const IAM_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
/// The largest IAM answer read: a list of a few projects.
const MAX_BODY_BYTES: usize = 1024 * 1024;

type Key = (String, String);
/// One cell per (AK, region): concurrent first calls share one lookup; a failure is not kept.
static CACHE: LazyLock<Mutex<HashMap<Key, Arc<OnceCell<ProjectId>>>>> =
    LazyLock::new(Default::default);

/// Where and for which region to ask.
#[derive(Debug)]
pub(crate) struct ProjectLookup {
    url: reqwest::Url,
    host: Box<str>,
    region: String,
    http: reqwest::Client,
    timeout: Duration,
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
        let endpoint = endpoint
            .map(str::to_owned)
            .or_else(|| {
                std::env::var(IAM_ENDPOINT_VAR)
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .or_else(|| credentials.iam_endpoint.clone())
            .unwrap_or_else(|| format!("https://iam.{region}.myhuaweicloud.com"));
        let base = base_url("IAM", &endpoint, allow_http)?;
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/v3/projects"), [("name", region)])
                .map_err(|e| Error::Config(format!("IAM endpoint `{endpoint}`: {e}")))?;
        Ok(Self {
            host: host_port(&url),
            url,
            region: region.to_owned(),
            http,
            timeout,
        })
    }

    /// The region's project id, from the cache or from IAM.
    pub(crate) async fn project_id(&self, credentials: &Credentials) -> Result<ProjectId, Error> {
        let ak = credentials.access_key_id().unwrap_or_default();
        let cell = crate::sync::lock(&CACHE)
            .entry((ak, self.region.clone()))
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.ask(credentials))
            .await
            .cloned()
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
                let message = format!("IAM gave no complete answer within {:?}", self.timeout);
                Error::transport(TransportKind::Timeout, message, None)
            })?
            .map_err(|e| {
                let (kind, message) = crate::transport::describe(&e);
                let message = format!("asking IAM for the project id: {message}");
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
