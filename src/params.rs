//! Parameters checked before any I/O: each refusal names the field and the rule it broke.
//! These are the very types the generated client takes (build/generate.rs replaces the
//! spec's named parameter schemas with them), so a value is checked once, when it is made.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;

/// A CodeArts Repo repository id: an integer from 1 to 2147483647, as documented.
///
/// ```
/// use codearts_repo::RepositoryId;
/// assert!(RepositoryId::new(2112036131).is_ok());
/// assert!(RepositoryId::new(0).is_err());
/// assert!("3000000000".parse::<RepositoryId>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RepositoryId(u32);

impl RepositoryId {
    /// The documented bounds.
    pub const MIN: u32 = 1;
    /// The documented bounds (`i32::MAX`).
    pub const MAX: u32 = 2_147_483_647;

    /// Checks `value` against the documented range.
    pub fn new(value: impl TryInto<i64>) -> Result<Self, Error> {
        let value: i64 = value
            .try_into()
            .map_err(|_| out_of_range("repository_id"))?;
        u32::try_from(value)
            .ok()
            .filter(|v| (Self::MIN..=Self::MAX).contains(v))
            .map(Self)
            .ok_or_else(|| out_of_range("repository_id"))
    }

    /// The id as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

fn out_of_range(field: &'static str) -> Error {
    Error::invalid(field, "must be an integer from 1 to 2147483647")
}

impl fmt::Display for RepositoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RepositoryId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        s.trim()
            .parse::<i64>()
            .map_err(|_| out_of_range("repository_id"))
            .and_then(Self::new)
    }
}

macro_rules! repository_id_from {
    ($($int:ty),*) => {$(
        impl TryFrom<$int> for RepositoryId {
            type Error = Error;
            fn try_from(value: $int) -> Result<Self, Error> {
                Self::new(value)
            }
        }
    )*};
}

repository_id_from!(i32, u32, i64);

impl TryFrom<u64> for RepositoryId {
    type Error = Error;
    fn try_from(value: u64) -> Result<Self, Error> {
        Self::new(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl<'de> Deserialize<'de> for RepositoryId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Self::new(value).map_err(serde::de::Error::custom)
    }
}

/// Refuses what would make a path segment change the request's path or be rejected on the
/// wire: empty, `.` and `..` (the URL parser normalises them away) and control characters.
fn check_segment(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value == "." || value == ".." {
        return Err(Error::invalid(field, "must not be `.` or `..`"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Header values must be visible ASCII (and inner spaces): no CR, LF or other control
/// characters, which could split or smuggle headers.
pub(crate) fn check_header_value(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.bytes().any(|b| b.is_ascii_control()) {
        return Err(Error::invalid(
            field,
            "must not contain control characters (CR, LF, ...)",
        ));
    }
    if !value.is_ascii() {
        return Err(Error::invalid(
            field,
            "must be ASCII (it is sent as an HTTP header)",
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(Error::invalid(field, "must not start or end with a space"));
    }
    Ok(())
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr, $wire:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `value`; the error names the field and the rule.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let wire: fn(String) -> String = $wire;
                let value = wire(value.into());
                let check: fn(&'static str, &str) -> Result<(), Error> = $check;
                check($field, &value)?;
                Ok(Self(value))
            }

            /// The value as it is sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&String> for $name {
            type Error = Error;
            fn try_from(value: &String) -> Result<Self, Error> {
                Self::new(value.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Sent as given.
fn as_given(value: String) -> String {
    value
}

checked_string!(
    /// A tenant's project id (a path segment of the commits call).
    ProjectId,
    "project_id",
    check_segment,
    as_given
);

checked_string!(
    /// A ServiceStage namespace id or URL code name (a path segment).
    Namespace,
    "namespace",
    check_segment,
    as_given
);

checked_string!(
    /// A branch or tag name; absent means the default branch, so it must not be empty.
    GitRef,
    "ref",
    |field, value| {
        if value.is_empty() {
            return Err(Error::invalid(field, "must not be empty (omit it for the default branch)"));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(())
    },
    as_given
);

checked_string!(
    /// The name of a ServiceStage git repository authorization (`X-Repo-Auth`).
    RepoAuth,
    "repo_auth",
    check_header_value,
    as_given
);

checked_string!(
    /// A ServiceStage project id or URL code name. A `/` becomes `:`, as the document asks.
    ///
    /// ```
    /// use codearts_repo::ProjectPath;
    /// assert_eq!(ProjectPath::new("team/app").unwrap().as_str(), "team:app");
    /// assert!(ProjectPath::new("..").is_err());
    /// ```
    ProjectPath,
    "project",
    check_segment,
    |value| if value.contains('/') { value.replace('/', ":") } else { value }
);
