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
        Error::Transport { .. }
        | Error::CredentialsService { .. }
        | Error::ResponseTooLarge { .. } => 4,
        // The deadline passed in the client's own wait: as a timeout, though nothing was sent.
        Error::Paced { .. } => 4,
        Error::Decode { .. } => 5,
        // IAM failed the way its answer says.
        Error::Iam(cause) => library_exit_code(cause),
        // Invalid input, configuration, no project id, and whatever a later version adds
        // before the call is made.
        _ => 2,
    }
}

/// The library's message, with what the command calls things: its flags where the library
/// names its builder, and the usual fix where a parser's wording would puzzle. Read from the
/// error's data (its field, its fix), never from its text, so that a rewording in the library
/// cannot lose a hint.
fn in_the_commands_words(error: &codearts_repo::Error) -> String {
    use codearts_repo::Error;
    let message = error.to_string();
    match error {
        Error::InvalidInput { field, .. } if *field == "project_id" => {
            "no project id: give --project-id or HUAWEICLOUD_SDK_PROJECT_ID (with AK/SK and \
             --region, IAM is asked for it)"
                .into()
        }
        Error::ProjectId { region, found, .. } => format!(
            "no project id: IAM lists {} for region {region}; give it with --project-id ID or \
             HUAWEICLOUD_SDK_PROJECT_ID",
            match found.as_slice() {
                [] => "no project".to_owned(),
                ids => format!("several projects ({})", ids.join(", ")),
            }
        ),
        Error::InvalidInput { field, .. } if *field == "repo_auth" => {
            format!("{message}; give the repository authorization name with --repo-auth NAME")
        }
        _ => match error.fix() {
            // The library's message ends with the fix in its builder's words: say it in ours.
            Some(fix) => match message.strip_suffix(&fix.to_string()) {
                Some(what) => format!("{what}{}", the_commands_fix(fix)),
                None => message,
            },
            None => message,
        },
    }
}

/// A fix the library names, as the command's flags make it.
fn the_commands_fix(fix: codearts_repo::Fix) -> String {
    use codearts_repo::Fix;
    match fix {
        Fix::GiveEndpoint => "give one with --endpoint URL".into(),
        Fix::UseHttpsOrAllowHttp => "use https or add --allow-http".into(),
        Fix::AbsoluteUrl => {
            "an endpoint is a URL: did you mean http://... (loopback) or https://...?".into()
        }
        // A fix a later version of the library adds: in its words until the command has its own.
        other => other.to_string(),
    }
}

/// `Result` with [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use codearts_repo::{
        Client, Credentials, RateLimit,
        server::{Server, ServerConfig},
    };

    use super::CliError;

    /// A call whose deadline passed while the client waited for its own rate limiter exits
    /// as a timeout does, though nothing was sent.
    #[tokio::test]
    async fn a_call_paced_out_exits_as_a_timeout() {
        let server = Server::start(ServerConfig::default()).await.unwrap();
        let client = Client::builder()
            .endpoint(server.url())
            .credentials(Credentials::token("cli-token").unwrap())
            // One request every 2 s: the second call's turn comes after its deadline.
            .rate_limit(RateLimit::fixed(0.5))
            .timeout(Some(Duration::from_millis(200)))
            .build()
            .unwrap();
        client.last_push_event(2112036131).await.unwrap();
        let error = client.last_push_event(2112036131).await.unwrap_err();
        assert!(error.is_paced(), "{error:?}");
        assert_eq!(CliError::from(error).exit_code(), 4);
        assert_eq!(server.requests().len(), 1);
    }
}
