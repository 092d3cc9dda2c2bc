//! A time as the server sent it: kept verbatim, parsed only when asked.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The text of a time field exactly as the server sent it (`2025-06-19T21:27:31.000+08:00`).
///
/// Decoding never fails on an unusual value; [`Timestamp::parse`] reads it leniently, keeping
/// the offset.
///
/// ```
/// use codearts_repo::Timestamp;
/// let t = Timestamp::from("2025-06-19T21:27:31.000+08:00");
/// assert_eq!(t.parse().unwrap().offset().local_minus_utc(), 8 * 3600);
/// assert!(Timestamp::from("Fix all the bugs").parse().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 3339, or the same without an offset (read as UTC); `None` when it is not a time.
    pub fn parse(&self) -> Option<DateTime<FixedOffset>> {
        let text = self.0.trim();
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|naive| naive.and_utc().fixed_offset())
            })
    }
}

impl From<&str> for Timestamp {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Timestamp {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
