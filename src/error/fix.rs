//! What a person can do about a configuration error, as data: a program says it in its own
//! words (the `codearts` command names its flags) without reading the message. And the
//! configuration error a client keeps for a service it cannot call, given again by each call.

use std::{fmt, sync::Arc};

use super::{ConfigKind, Error};

/// The fix a configuration error names ([`Error::fix`]). Its `Display` is the builder's
/// words, which end the error's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// Give the endpoint (the builder's `endpoint` and per-service endpoint options): the
    /// region has none in the official SDK's table.
    GiveEndpoint,
    /// Use https, or allow plain HTTP to a host other than loopback (the builder's
    /// `allow_http`).
    UseHttpsOrAllowHttp,
    /// Write the endpoint as an absolute URL, with its scheme.
    AbsoluteUrl,
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GiveEndpoint => "give one with the builder's endpoint options",
            Self::UseHttpsOrAllowHttp => "use https or allow HTTP explicitly",
            Self::AbsoluteUrl => "an endpoint is an absolute URL, e.g. https://host",
        })
    }
}

/// `; FIX` after a configuration error's message, when it names one.
pub(super) fn note(fix: &Option<Fix>) -> String {
    fix.map(|fix| format!("; {fix}")).unwrap_or_default()
}

/// Why a service has no client: a configuration error, kept to be given by every call.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    kind: ConfigKind,
    message: Arc<str>,
    fix: Option<Fix>,
}

impl Refusal {
    /// The error each call gives.
    pub(crate) fn to_error(&self) -> Error {
        Error::Config {
            kind: self.kind,
            message: self.message.to_string(),
            fix: self.fix,
        }
    }
}

impl Error {
    /// A configuration error's kind, message and fix (the message without its
    /// `configuration error:` prefix), to be kept and given again by every call.
    pub(crate) fn into_refusal(self) -> Refusal {
        match self {
            Self::Config { kind, message, fix } => Refusal {
                kind,
                message: message.into(),
                fix,
            },
            other => Refusal {
                kind: ConfigKind::Endpoint,
                message: other.to_string().into(),
                fix: None,
            },
        }
    }
}
