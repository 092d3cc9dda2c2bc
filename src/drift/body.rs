//! A success body passed through unchanged to the generated code, its bytes kept (shared
//! `Bytes`, not copied) so that the drift check reads them once the body is complete. A
//! body that fails or is cut is never checked: that answer is an error, not drift.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use reqwest::Response;

use super::DriftLog;

pub(crate) fn watch_body(
    response: Response,
    operation: &'static str,
    log: Arc<DriftLog>,
) -> Response {
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let watched = reqwest::Body::wrap(Watched {
        inner: body,
        chunks: Vec::new(),
        operation,
        log: Some(log),
    });
    Response::from(http::Response::from_parts(parts, watched))
}

struct Watched {
    inner: reqwest::Body,
    chunks: Vec<Bytes>,
    operation: &'static str,
    /// Taken when the body is checked, so it is checked once.
    log: Option<Arc<DriftLog>>,
}

impl Watched {
    fn check(&mut self) {
        let Some(log) = self.log.take() else {
            return;
        };
        match self.chunks.as_slice() {
            [one] => log.check(self.operation, one),
            chunks => {
                let mut body = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                chunks
                    .iter()
                    .for_each(|chunk| body.extend_from_slice(chunk));
                log.check(self.operation, &body);
            }
        }
        self.chunks = Vec::new();
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.chunks.push(data.clone());
                }
                // A reader that stops at the announced length never polls the end.
                if this.inner.is_end_stream() {
                    this.check();
                }
            }
            Poll::Ready(None) => this.check(),
            // A failed body is the call's error; what was read is not an answer.
            Poll::Ready(Some(Err(_))) => {
                this.log = None;
                this.chunks = Vec::new();
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
