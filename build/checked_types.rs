// Included by build/generate.rs and by the library's hidden `checked_types` module, which the
// CLI's spec-diff reads to name the Rust types a spec change touches: one list for both.

/// The spec schemas replaced by the crate's own types: `RepositoryId` (progenitor would make
/// it a `NonZeroU32`, which accepts 3,000,000,000), `Timestamp` (a `DateTime<Utc>` would lose
/// the offset and fail on odd values; the text is kept as sent), and every other constrained
/// parameter, checked once when it is made, never re-parsed into a generated newtype.
pub const CHECKED_TYPES: [&str; 7] = [
    "RepositoryId",
    "Timestamp",
    "ProjectId",
    "Namespace",
    "ProjectPath",
    "GitRef",
    "RepoAuth",
];
