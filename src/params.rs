//! Parameters checked before any I/O: each refusal names the field and the rule it broke.
//! These are the very types the generated client takes (build/generate.rs replaces the
//! spec's named parameter schemas with them), so a value is checked once, when it is made.
//!
//! The rules the spec can state (lengths, patterns, enums, ranges) come from the spec
//! (`rules.rs`); what only the documents say, and the spec cannot, is written here: the `/` of
//! a project path, `.`, `..` and control characters in path segments, visible ASCII in headers.

mod rules;

use std::{fmt, str::FromStr, sync::OnceLock};

use regex_lite::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;
use rules::{StringRules, spec};

/// A CodeArts Repo repository id: an integer in the range the spec states
/// ([`RepositoryId::MIN`] to [`RepositoryId::MAX`]).
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
    /// The smallest id: the spec's `minimum` for `RepositoryId`.
    pub const MIN: u32 = spec::REPOSITORY_ID.minimum;
    /// The largest id: the spec's `maximum` for `RepositoryId`.
    pub const MAX: u32 = spec::REPOSITORY_ID.maximum;

    /// Checks `value` against the spec's range (and `enum`, if it had one).
    pub fn new(value: impl TryInto<i64>) -> Result<Self, Error> {
        let value: i64 = value.try_into().map_err(|_| out_of_range())?;
        spec::REPOSITORY_ID
            .check(value)
            .map(Self)
            .map_err(|broken| Error::invalid("repository_id", broken.to_string()))
    }

    /// The id as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

fn out_of_range() -> Error {
    Error::invalid(
        "repository_id",
        spec::REPOSITORY_ID.out_of_range().to_string(),
    )
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
            .map_err(|_| out_of_range())
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
/// wire: empty (`//`), `.` and `..` (the URL parser normalises them away) and control
/// characters. The spec's `minLength: 1` says "not empty" too; this keeps the path safe if a
/// spec edit ever drops it.
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
    // The spec's `minLength: 1` says so too; an empty header must not go out if it is dropped.
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

/// The spec's rules for `value` (as it is sent), then the documents' own (`code`).
fn check_string(
    field: &'static str,
    value: &str,
    rules: &StringRules,
    pattern: &OnceLock<Regex>,
    empty_note: Option<&str>,
    code: fn(&'static str, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    rules
        .check(value, pattern)
        .map_err(|broken| match empty_note {
            Some(note) if broken == rules::Broken::Empty => {
                Error::invalid(field, format!("{broken} ({note})"))
            }
            _ => Error::invalid(field, broken.to_string()),
        })?;
    code(field, value)
}

macro_rules! checked_string {
    (
        $(#[$doc:meta])* $name:ident, $field:literal, rules: $rules:expr,
        empty_note: $empty_note:expr, code: $check:expr, wire: $wire:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `value`; the error names the field and the rule.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                // This type's pattern, compiled on first use.
                static PATTERN: OnceLock<Regex> = OnceLock::new();
                let wire: fn(String) -> String = $wire;
                let value = wire(value.into());
                check_string($field, &value, &$rules, &PATTERN, $empty_note, $check)?;
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

/// A ref is never empty (`?ref=` is not the default branch: leave it out), whatever the spec
/// says, and has no control characters, which the spec cannot refuse.
fn check_git_ref(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(
            field,
            "must not be empty (omit it for the default branch)",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

checked_string!(
    /// A tenant's project id (a path segment of the commits call).
    ProjectId,
    "project_id",
    rules: spec::PROJECT_ID,
    empty_note: None,
    code: check_segment,
    wire: as_given
);

checked_string!(
    /// A ServiceStage namespace id or URL code name (a path segment).
    Namespace,
    "namespace",
    rules: spec::NAMESPACE,
    empty_note: None,
    code: check_segment,
    wire: as_given
);

checked_string!(
    /// A branch or tag name; absent means the default branch.
    GitRef,
    "ref",
    rules: spec::GIT_REF,
    empty_note: Some("omit it for the default branch"),
    code: check_git_ref,
    wire: as_given
);

checked_string!(
    /// The name of a ServiceStage git repository authorization (`X-Repo-Auth`).
    RepoAuth,
    "repo_auth",
    rules: spec::REPO_AUTH,
    empty_note: None,
    code: check_header_value,
    wire: as_given
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
    rules: spec::PROJECT_PATH,
    empty_note: None,
    code: check_segment,
    wire: |value| if value.contains('/') { value.replace('/', ":") } else { value }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A ref or a header value is never empty, whatever the spec says.
    #[test]
    fn a_ref_or_a_header_value_is_never_empty() {
        assert!(
            check_git_ref("ref", "")
                .unwrap_err()
                .to_string()
                .contains("omit it")
        );
        assert!(check_header_value("repo_auth", "").is_err());
        assert!(
            check_git_ref("ref", "main").is_ok() && check_header_value("repo_auth", "a").is_ok()
        );
    }

    /// The path rules hold whatever the spec says: a spec without `minLength` must not let
    /// an empty segment turn `/a/{x}/b` into `/a//b`.
    #[test]
    fn a_path_segment_is_never_empty_dot_or_dot_dot() {
        for value in ["", ".", "..", "a\nb"] {
            let error = check_segment("namespace", value).unwrap_err().to_string();
            assert!(error.contains("namespace"), "{value:?}: {error}");
        }
        assert!(check_segment("namespace", "a.b").is_ok());
    }
}
