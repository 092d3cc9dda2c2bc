//! The two endpoints, validated as the documents say, answering errors with the Huawei body.

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Path, Request, State as Extract, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use super::{
    InjectedFailure, RecordedRequest, State,
    answer::{Failure, json},
    delay, keyless, quota, verify,
};
use crate::RepositoryId;

type Shared = Extract<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(
            "/v4/repositories/{repository_id}/last-push-event",
            get(push_event),
        )
        .route(
            "/v1/{project_id}/git/repos/{namespace}/{project}/commits",
            get(commits),
        )
        .route("/v3/projects", get(projects))
        .route(
            "/v5/agencies/assume-with-oidc",
            post(keyless::assume_with_oidc),
        )
        .route(
            "/v3.0/OS-AUTH/id-token/tokens",
            post(keyless::id_token_tokens),
        )
        .route(
            "/v3.0/OS-CREDENTIAL/securitytokens",
            post(keyless::security_tokens),
        )
        .route(keyless::POD_IDENTITY_PATH, post(keyless::pod_identity))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(check_host))
        .layer(middleware::from_fn_with_state(state.clone(), delay::hold))
        .layer(middleware::from_fn_with_state(state.clone(), quota::gate))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        // Both operations are GETs: any body is refused past a small bound.
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(state)
}

async fn push_event(
    Extract(state): Shared,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    verify::authenticate(&state, &method, &uri, &headers)?;
    let bad = |why: &str| Failure::new(StatusCode::BAD_REQUEST, "CH.004400", why);
    declared_query("ShowLastPushEventInRepository", &uri).map_err(|why| bad(&why))?;
    let Path(raw) = path.map_err(|e| bad(&e.body_text()))?;
    let id: RepositoryId = raw.parse().map_err(|e: crate::Error| bad(&e.to_string()))?;
    if let Some(failure) = injected(&state, id) {
        return Ok(failure);
    }
    let fixtures = crate::sync::read(&state.fixtures);
    let event = fixtures.push_event(id).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "CH.004404",
            format!("repository {id} does not exist"),
        )
    })?;
    Ok(answer(&state, "show_last_push_event_in_repository", event))
}

/// A success, drifted from the spec when the server is asked to.
fn answer(state: &State, operation_id: &str, body: &impl serde::Serialize) -> Response {
    let Some(drift) = *crate::sync::lock(&state.drift) else {
        return json(StatusCode::OK, body);
    };
    let mut value = serde_json::to_value(body).unwrap_or_default();
    drift.apply(operation_id, &mut value);
    json(StatusCode::OK, &value)
}

async fn commits(
    Extract(state): Shared,
    path: Result<Path<(String, String, String)>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    verify::authenticate(&state, &method, &uri, &headers)?;
    let bad = |why: String| Failure::new(StatusCode::BAD_REQUEST, "SVCSTG.REPO.0400", why);
    declared_query("ListCommits", &uri).map_err(bad)?;
    let Path((project_id, namespace, project)) = path.map_err(|e| bad(e.body_text()))?;
    for (field, value) in [
        ("project_id", &project_id),
        ("namespace", &namespace),
        ("project", &project),
    ] {
        // The documents only ask for a non-empty string; the client is stricter than that.
        if value.is_empty() {
            return Err(bad(format!("{field} must not be empty")));
        }
    }
    check_content_type(&headers).map_err(bad)?;
    headers
        .get("x-repo-auth")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("the X-Repo-Auth header is required".into()))?;
    let git_ref = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "ref")
            .map(|(_, value)| value.into_owned())
    });
    if git_ref.as_deref() == Some("") {
        return Err(bad(
            "ref must not be empty; omit it for the default branch".into()
        ));
    }
    let fixtures = crate::sync::read(&state.fixtures);
    let list = fixtures.commits(&namespace, &project).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "SVCSTG.REPO.0404",
            format!("project {namespace}/{project} does not exist"),
        )
    })?;
    // The answer's shape (`CommitList`), written here rather than built: a field the spec
    // adds to it must not stop the server compiling.
    Ok(answer(
        &state,
        "list_commits",
        &serde_json::json!({ "commits": list }),
    ))
}

// QUERY_PARAMETERS: each operation's query parameters, from the spec at build time.
include!(concat!(env!("OUT_DIR"), "/query_parameters.rs"));

/// A query parameter the spec does not declare for the operation is refused, as a gateway
/// validating requests against the API's definition refuses it: a client that sends one has
/// a bug the real service may not report. A parameter added to the spec is accepted at once.
fn declared_query(operation: &str, uri: &Uri) -> Result<(), String> {
    let declared = QUERY_PARAMETERS
        .iter()
        .find(|(id, _)| *id == operation)
        .map_or(&[][..], |(_, names)| *names);
    let query = uri.query().unwrap_or_default();
    match url::form_urlencoded::parse(query.as_bytes()).find(|(key, _)| !declared.contains(&&**key))
    {
        None => Ok(()),
        Some((key, _)) if declared.is_empty() => Err(format!(
            "unknown query parameter `{key}`: this API takes none"
        )),
        Some((key, _)) => Err(format!(
            "unknown query parameter `{key}`: this API takes {}",
            declared.join(", ")
        )),
    }
}

/// IAM's `KeystoneListProjects`, filtered by `name` as the SDKs ask it for a region's id.
async fn projects(
    Extract(state): Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    verify::authenticate(&state, &method, &uri, &headers)?;
    let name = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "name")
            .map(|(_, value)| value.into_owned())
    });
    let projects: Vec<_> = state
        .projects
        .iter()
        .filter(|(region, _)| name.as_deref().is_none_or(|name| name == region))
        .map(|(region, id)| {
            serde_json::json!({
                "id": id, "name": region, "enabled": true, "is_domain": false,
                "domain_id": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "parent_id": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
                "description": "", "links": { "self": format!("/v3/projects/{id}") },
            })
        })
        .collect();
    let mut response = json(
        StatusCode::OK,
        &serde_json::json!({
            "projects": projects,
            "links": { "self": "/v3/projects", "previous": null, "next": null },
        }),
    );
    let trace = format!("{:032x}", fastrand::u128(..));
    response.headers_mut().insert(
        "x-iam-trace-id",
        HeaderValue::from_str(&trace).expect("hex is a header value"),
    );
    Ok(response)
}

fn injected(state: &State, id: RepositoryId) -> Option<Response> {
    let failures = crate::sync::read(&state.failures);
    failures.get(&id).map(InjectedFailure::response)
}

/// The document requires `Content-Type: application/json;charset=utf8`; the official SDK
/// sends `application/json`. Both are JSON, so both pass; anything else is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get("content-type")
        .ok_or("the Content-Type header is required (application/json;charset=utf8)")?;
    let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
    let mut parts = text.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    let charset_ok = parts.all(|p| matches!(p, "charset=utf8" | "charset=utf-8" | ""));
    if media == "application/json" && charset_ok {
        Ok(())
    } else {
        Err(format!(
            "unsupported Content-Type `{text}`: use application/json;charset=utf8"
        ))
    }
}

async fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment.",
    )
}

async fn method_not_allowed() -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "APIGW.0101",
        "Only GET is allowed here.",
    )
}

/// Before routing: a request a gateway would refuse for its `Host` never reaches an API.
async fn check_host(request: Request, next: Next) -> Response {
    match verify::check_host(request.version(), request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(failure) => failure.into_response(),
    }
}

const SECRET_HEADERS: [&str; 3] = ["x-auth-token", "authorization", "x-security-token"];

/// An AK/SK signature's scheme is kept, so that tests see which algorithm signed; the rest
/// (the access key and the signature) is not.
fn redacted_authorization(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.split_once(' ') {
        Some((scheme, _)) if scheme.starts_with("SDK-") && scheme.len() < 32 => {
            format!("{scheme} <redacted>")
        }
        _ => "<redacted>".to_owned(),
    }
}

/// Remembers each request with its secrets redacted, and the status it got.
async fn record(Extract(state): Shared, request: Request, next: Next) -> Response {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = if name == "authorization" {
                redacted_authorization(value.as_bytes())
            } else if SECRET_HEADERS.contains(&name.as_str()) {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    let mut recorded = RecordedRequest {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers,
        status: 0,
        version: format!("{:?}", request.version()),
    };
    let response = next.run(request).await;
    recorded.status = response.status().as_u16();
    tracing::info!(
        target: "codearts_repo::server",
        method = %recorded.method,
        path = %recorded.path,
        status = recorded.status,
        "request"
    );
    let mut log = crate::sync::lock(&state.recorded);
    if log.len() >= state.remember {
        log.pop_front();
    }
    if state.remember > 0 {
        log.push_back(recorded);
    }
    response
}
