//! The server's answers, shared by the handlers and the layers in front of them (quota,
//! authentication, the keyless flows): the Huawei error body, JSON with a request id.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::InjectedFailure;
use crate::error_answer::REQUEST_ID;

/// An error answer: the Huawei error body, a status the spec declares, an `X-Request-Id`.
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error_code": self.code, "error_msg": self.message });
        json(self.status, &body)
    }
}

pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let id = format!("{:032x}", fastrand::u128(..));
    headers.insert(
        REQUEST_ID,
        HeaderValue::from_str(&id).expect("hex is a header value"),
    );
    response
}

impl InjectedFailure {
    pub(crate) fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Failure::new(status, "CH.004999", "injected failure").into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}
