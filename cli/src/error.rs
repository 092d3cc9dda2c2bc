//! The command's own errors, and the exit code of each.

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The library refused or failed the call; its message is already one line.
    #[error(transparent)]
    Library(#[from] codearts_repo::Error),
    /// Something the user named cannot be used: a file, a revision, a spec.
    #[error("{0}")]
    Input(String),
    /// The machine would not do what the command needs: a port, a signal handler, git.
    #[error("{0}")]
    Environment(String),
}

impl CliError {
    /// The documented exit codes: 2 usage, input or configuration (nothing sent), 3 API
    /// error, 4 transport, 5 an answer that does not decode. 1 is `spec-diff`'s "breaks".
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) | Self::Environment(_) => 2,
            Self::Library(error) => library_exit_code(error),
        }
    }
}

fn library_exit_code(error: &codearts_repo::Error) -> u8 {
    use codearts_repo::Error;
    match error {
        Error::Api(_) => 3,
        Error::Transport { .. } | Error::ResponseTooLarge { .. } => 4,
        Error::Decode { .. } => 5,
        // IAM failed the way its answer says.
        Error::Iam(cause) => library_exit_code(cause),
        // Invalid input, configuration, no project id, and whatever a later version adds
        // before the call is made.
        _ => 2,
    }
}

/// `Result` with [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;
