//! Several endpoints for one service (an environment list or a regions file's `endpoints`):
//! a request moves to the next one when it could not reach the current one (DNS, connect,
//! TLS handshake), never after an HTTP answer. The last endpoint that answered is tried first.

use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Request, Response, Url};

use crate::{ConfigKind, Credentials, Error, endpoint::host_port};

/// A service's endpoints, in order.
#[derive(Debug)]
pub(crate) struct Endpoints {
    list: Vec<Endpoint>,
    preferred: AtomicUsize,
}

#[derive(Debug)]
struct Endpoint {
    /// The base URL, without a trailing slash; request URLs start with the first one's.
    base: String,
    /// `host[:port]`, as AK/SK signs it.
    host: Box<str>,
}

impl Endpoints {
    /// `bases` are checked base URLs (at least one).
    pub(crate) fn new(bases: &[String]) -> Result<Self, Error> {
        let list = bases
            .iter()
            .map(|base| {
                let url = Url::parse(base)
                    .map_err(|e| Error::config(ConfigKind::Endpoint, format!("`{base}`: {e}")))?;
                Ok(Endpoint {
                    base: base.clone(),
                    host: host_port(&url),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if list.is_empty() {
            return Err(Error::config(ConfigKind::Endpoint, "no endpoint"));
        }
        Ok(Self {
            list,
            preferred: AtomicUsize::new(0),
        })
    }

    /// Authenticates and sends `request` (whose URL is on the first endpoint), moving on to
    /// the next endpoint when one cannot be reached.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        mut request: Request,
        credentials: &Credentials,
    ) -> reqwest::Result<Response> {
        if self.list.len() == 1 {
            credentials.apply(&mut request, &self.list[0].host);
            return http.execute(request).await;
        }
        // Cold path, boxed: it keeps a copy of the request for the next endpoint.
        Box::pin(self.send_with_failover(http, request, credentials)).await
    }

    async fn send_with_failover(
        &self,
        http: &reqwest::Client,
        template: Request,
        credentials: &Credentials,
    ) -> reqwest::Result<Response> {
        let count = self.list.len();
        let start = self.preferred.load(Ordering::Relaxed) % count;
        let mut last_error = None;
        for offset in 0..count {
            let index = (start + offset) % count;
            let endpoint = &self.list[index];
            let Some(mut request) = self.on(index, &template) else {
                continue;
            };
            credentials.apply(&mut request, &endpoint.host);
            match http.execute(request).await {
                Ok(response) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                // Connect errors include DNS and TLS-handshake failures: nothing was sent.
                Err(error) if error.is_connect() => {
                    tracing::debug!(endpoint = %endpoint.base, error = %error, "endpoint unreachable, trying the next");
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        match last_error {
            Some(error) => Err(error),
            // No copy could be made (a GET without a body always can): send it as it is.
            None => {
                let mut request = template;
                credentials.apply(&mut request, &self.list[0].host);
                http.execute(request).await
            }
        }
    }

    /// A copy of `template` addressed to endpoint `index`.
    fn on(&self, index: usize, template: &Request) -> Option<Request> {
        let mut request = template.try_clone()?;
        if index != 0 {
            let rest = template.url().as_str().strip_prefix(&self.list[0].base)?;
            *request.url_mut() = Url::parse(&format!("{}{rest}", self.list[index].base)).ok()?;
        }
        Some(request)
    }
}
