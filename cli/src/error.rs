//! The command's own errors, and the exit code of each.

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The library refused or failed the call; its message is already one line, told in
    /// the command's words (its flags rather than the builder's methods).
    #[error("{}", in_the_commands_words(.0))]
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
        // A call that ran out of time waiting for its turn timed out as one without an answer.
        Error::Transport { .. } | Error::Paced { .. } | Error::ResponseTooLarge { .. } => 4,
        Error::Decode { .. } => 5,
        // IAM failed the way its answer says.
        Error::Iam(cause) => library_exit_code(cause),
        // Invalid input, configuration, no project id, and whatever a later version adds
        // before the call is made.
        _ => 2,
    }
}

/// The library's message, with what the command calls things: its flags where the library
/// names its builder, and the usual fix where a parser's wording would puzzle.
fn in_the_commands_words(error: &codearts_repo::Error) -> String {
    use codearts_repo::Error;
    let message = error.to_string();
    let hint = match error {
        Error::InvalidInput { field, .. } if *field == "project_id" => {
            return "no project id: give --project-id or HUAWEICLOUD_SDK_PROJECT_ID (with \
                    AK/SK and --region, IAM is asked for it)"
                .into();
        }
        Error::InvalidInput { field, .. } if *field == "repo_auth" => {
            "; give the repository authorization name with --repo-auth NAME"
        }
        _ if message.contains("builder's endpoint options") => {
            return message.replace("the builder's endpoint options", "--endpoint URL");
        }
        _ if message.contains("use https or allow HTTP explicitly") => {
            return message.replace("allow HTTP explicitly", "add --allow-http");
        }
        _ if message.contains("endpoint `") && message.contains("relative URL without a base") => {
            "; an endpoint is a URL: did you mean http://... (loopback) or https://...?"
        }
        _ => "",
    };
    format!("{message}{hint}")
}

/// `Result` with [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;
