//! Temporary access keys from CCE pod identity, last in the official chain:
//! `POST $HC_CONTAINER_CREDENTIALS_FULL_URI` with `Authorization` set to the content of
//! `$HC_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again at each fetch: the platform rotates
//! it) and the body `{}`.

use std::path::PathBuf;

use super::{
    answer::{body, parse_keys, read_token_file, unanswered},
    temporary::{Failure, Keys},
};

pub(crate) const URI_VAR: &str = "HC_CONTAINER_CREDENTIALS_FULL_URI";
pub(crate) const TOKEN_FILE_VAR: &str = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE";

#[derive(Debug)]
pub(crate) struct PodIdentity {
    uri: String,
    token_file: PathBuf,
}

impl PodIdentity {
    pub(crate) fn new(uri: String, token_file: PathBuf) -> Self {
        Self { uri, token_file }
    }

    pub(crate) async fn fetch(&self, http: &reqwest::Client) -> Result<Keys, Failure> {
        let what = format!(
            "CCE pod identity at {}",
            crate::endpoint::without_userinfo(&self.uri)
        );
        let token = read_token_file(&self.token_file, &what)?;
        let mut authorization = reqwest::header::HeaderValue::from_str(&token)
            .map_err(|_| format!("{what}: the token file does not hold a header value"))?;
        authorization.set_sensitive(true);
        let response = http
            .post(&self.uri)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .json(&serde_json::json!({}))
            .send()
            .await
            .map_err(|e| unanswered(&e, &what))?;
        Ok(parse_keys(&body(response, &what).await?, &what)?)
    }
}
