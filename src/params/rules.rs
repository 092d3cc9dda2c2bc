//! The spec's rules for the checked parameters and their checks. build/constraints.rs reads
//! each checked type's schema and writes one `const` per type (`spec` below); editing a
//! number in the spec changes what the client refuses.

use std::{fmt, sync::OnceLock};

use regex_lite::Regex;

/// The rules as the spec states them, one `const` per checked parameter type.
pub(crate) mod spec {
    use super::{IntegerRules, StringRules};

    include!(concat!(env!("OUT_DIR"), "/constraints.rs"));
}

/// A string parameter's constraints. Lengths count characters (code points), as JSON Schema
/// does; `pattern` is unanchored, as in JSON Schema (write `^...$` to match the whole value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StringRules {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<&'static str>,
    pub one_of: Option<&'static [&'static str]>,
}

/// An integer parameter's constraints: an inclusive range (the build folds exclusive bounds
/// and the format's range in) and, when the spec has one, its `enum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntegerRules {
    pub minimum: u32,
    pub maximum: u32,
    pub one_of: Option<&'static [u32]>,
}

/// The rule a value broke; `Display` is the rule as the error states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Broken {
    Empty,
    TooShort(u64),
    TooLong(u64),
    Pattern(&'static str),
    NotOneOf(&'static [&'static str]),
    OutOfRange { minimum: u32, maximum: u32 },
    NotOneOfIntegers(&'static [u32]),
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooShort(n) => write!(f, "must be at least {n} {}", characters(*n)),
            Self::TooLong(n) => write!(f, "must be at most {n} {}", characters(*n)),
            Self::Pattern(pattern) => write!(f, "must match the pattern `{pattern}`"),
            Self::NotOneOf(values) => {
                let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                write!(f, "must be one of {}", quoted.join(", "))
            }
            Self::OutOfRange { minimum, maximum } => {
                write!(f, "must be an integer from {minimum} to {maximum}")
            }
            Self::NotOneOfIntegers(values) => {
                let numbers: Vec<String> = values.iter().map(u32::to_string).collect();
                write!(f, "must be one of {}", numbers.join(", "))
            }
        }
    }
}

fn characters(n: u64) -> &'static str {
    if n == 1 { "character" } else { "characters" }
}

impl StringRules {
    /// Checks `value`; `compiled` caches the pattern (one per type, compiled on first use).
    pub(crate) fn check(&self, value: &str, compiled: &OnceLock<Regex>) -> Result<(), Broken> {
        let length = || value.chars().count() as u64;
        if let Some(min) = self.min_length
            && length() < min
        {
            return Err(if min == 1 {
                Broken::Empty
            } else {
                Broken::TooShort(min)
            });
        }
        // Bytes bound characters from above: most values skip the count.
        if let Some(max) = self.max_length
            && value.len() as u64 > max
            && length() > max
        {
            return Err(Broken::TooLong(max));
        }
        if let Some(pattern) = self.pattern {
            let regex = compiled.get_or_init(|| {
                Regex::new(pattern)
                    .expect("build/constraints.rs compiled this pattern with regex-lite")
            });
            if !regex.is_match(value) {
                return Err(Broken::Pattern(pattern));
            }
        }
        if let Some(values) = self.one_of
            && !values.contains(&value)
        {
            return Err(Broken::NotOneOf(values));
        }
        Ok(())
    }
}

impl IntegerRules {
    /// The value as the crate holds it, if the rules allow it.
    pub(crate) fn check(&self, value: i64) -> Result<u32, Broken> {
        let value = u32::try_from(value)
            .ok()
            .filter(|v| (self.minimum..=self.maximum).contains(v))
            .ok_or(self.out_of_range())?;
        match self.one_of {
            Some(values) if !values.contains(&value) => Err(Broken::NotOneOfIntegers(values)),
            _ => Ok(value),
        }
    }

    /// The rule a value that is not an integer at all breaks.
    pub(crate) fn out_of_range(&self) -> Broken {
        Broken::OutOfRange {
            minimum: self.minimum,
            maximum: self.maximum,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_norway::Value;

    use super::*;

    const NAMESPACE_AT_MOST_64: StringRules = StringRules {
        min_length: Some(1),
        max_length: Some(64),
        pattern: None,
        one_of: None,
    };

    fn check(rules: &StringRules, value: &str) -> Result<(), String> {
        rules
            .check(value, &OnceLock::new())
            .map_err(|broken| broken.to_string())
    }

    #[test]
    fn max_length_counts_characters_not_bytes() {
        // The value tests/build_errors.rs gets from the spec with `maxLength: 64` on Namespace.
        let rules = NAMESPACE_AT_MOST_64;
        assert_eq!(check(&rules, &"a".repeat(64)), Ok(()));
        assert_eq!(
            check(&rules, &"a".repeat(65)),
            Err("must be at most 64 characters".to_owned())
        );
        // 64 characters of two bytes each: 128 bytes, within the rule.
        assert_eq!(check(&rules, &"é".repeat(64)), Ok(()));
        assert!(check(&rules, &"é".repeat(65)).is_err());
    }

    #[test]
    fn min_length_one_says_not_empty_and_more_says_how_many() {
        assert_eq!(
            check(&NAMESPACE_AT_MOST_64, ""),
            Err("must not be empty".to_owned())
        );
        let rules = StringRules {
            min_length: Some(3),
            ..NAMESPACE_AT_MOST_64
        };
        assert_eq!(
            check(&rules, "ab"),
            Err("must be at least 3 characters".to_owned())
        );
        assert_eq!(check(&rules, "東京都"), Ok(()));
    }

    #[test]
    fn patterns_are_unanchored_as_in_json_schema() {
        let rules = StringRules {
            pattern: Some("[0-9a-f]{4}"),
            ..NAMESPACE_AT_MOST_64
        };
        assert_eq!(check(&rules, "xx3e1fxx"), Ok(()));
        assert_eq!(
            check(&rules, "xyz"),
            Err("must match the pattern `[0-9a-f]{4}`".to_owned())
        );
        let anchored = StringRules {
            pattern: Some("^[0-9a-f]{4}$"),
            ..NAMESPACE_AT_MOST_64
        };
        assert!(check(&anchored, "xx3e1fxx").is_err());
        assert_eq!(check(&anchored, "3e1f"), Ok(()));
    }

    #[test]
    fn enums_name_the_allowed_values() {
        let rules = StringRules {
            one_of: Some(&["main", "dev"]),
            ..NAMESPACE_AT_MOST_64
        };
        assert_eq!(check(&rules, "dev"), Ok(()));
        assert_eq!(
            check(&rules, "Dev"),
            Err("must be one of `main`, `dev`".to_owned())
        );
    }

    #[test]
    fn integers_keep_to_the_range_and_the_enum() {
        let rules = IntegerRules {
            minimum: 1,
            maximum: 10,
            one_of: None,
        };
        assert_eq!(rules.check(1), Ok(1));
        assert_eq!(rules.check(10), Ok(10));
        for outside in [0, 11, -1, i64::MAX, i64::MIN] {
            assert_eq!(
                rules.check(outside).unwrap_err().to_string(),
                "must be an integer from 1 to 10"
            );
        }
        let rules = IntegerRules {
            one_of: Some(&[2, 4]),
            ..rules
        };
        assert_eq!(rules.check(4), Ok(4));
        assert_eq!(
            rules.check(3).unwrap_err().to_string(),
            "must be one of 2, 4"
        );
    }

    /// The compiled-in rules are the spec's numbers, read here without build/constraints.rs.
    #[test]
    fn the_compiled_in_rules_are_the_specs() {
        let spec: Value = serde_norway::from_str(crate::OPENAPI_SPEC).unwrap();
        let schema = |name: &str| spec["components"]["schemas"][name].clone();
        for (name, rules) in [
            ("ProjectId", spec::PROJECT_ID),
            ("Namespace", spec::NAMESPACE),
            ("ProjectPath", spec::PROJECT_PATH),
            ("GitRef", spec::GIT_REF),
            ("RepoAuth", spec::REPO_AUTH),
        ] {
            let schema = schema(name);
            assert_eq!(rules.min_length, schema["minLength"].as_u64(), "{name}");
            assert_eq!(rules.max_length, schema["maxLength"].as_u64(), "{name}");
            assert_eq!(rules.pattern, schema["pattern"].as_str(), "{name}");
            let one_of: Option<Vec<&str>> = schema["enum"]
                .as_sequence()
                .map(|values| values.iter().map(|v| v.as_str().unwrap()).collect());
            assert_eq!(rules.one_of.map(<[_]>::to_vec), one_of, "{name}");
        }
        let id = schema("RepositoryId");
        // The spec states both bounds, inclusive, so they are the rules' numbers as written.
        assert!(id["exclusiveMinimum"].is_null() && id["exclusiveMaximum"].is_null());
        assert_eq!(
            Some(u64::from(spec::REPOSITORY_ID.minimum)),
            id["minimum"].as_u64()
        );
        assert_eq!(
            Some(u64::from(spec::REPOSITORY_ID.maximum)),
            id["maximum"].as_u64()
        );
        assert_eq!(spec::REPOSITORY_ID.one_of, None);
        assert!(id["enum"].is_null());
    }
}
