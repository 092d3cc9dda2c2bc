//! `codearts serve --keyless`: the embedded server also plays STS, IAM and the CCE
//! pod-identity agent, and says, for each flow, the variables to export in another terminal.
//! The flows read their tokens from files: they are written where the banner says, and
//! removed when the server stops.

use std::path::PathBuf;

use codearts_repo::server::{Keyless, POD_IDENTITY_PATH};

use crate::error::{CliError, Result};

/// The token files of the flows that read one, in a directory named after the port.
pub(crate) struct TokenFiles {
    dir: PathBuf,
}

impl TokenFiles {
    /// Writes the ID token and the pod token the server accepts, in a directory of its own
    /// that only this user can read (made here, never one found in place: another user could
    /// have planted it, or links in it), each file new.
    pub(crate) fn write(port: u16, keyless: &Keyless) -> Result<Self> {
        Self::write_in(&std::env::temp_dir(), port, keyless)
    }

    /// As [`Self::write`], in `parent` instead of the temporary directory.
    fn write_in(parent: &std::path::Path, port: u16, keyless: &Keyless) -> Result<Self> {
        let dir = parent.join(format!("codearts-serve-{port}"));
        let cannot = |e: std::io::Error| {
            let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
                " (left by a server that did not stop cleanly? remove it, or use another --port)"
            } else {
                ""
            };
            CliError::Environment(format!(
                "cannot write the keyless token files in {}: {e}{hint}",
                dir.display()
            ))
        };
        private_dir().create(&dir).map_err(cannot)?;
        // From here on the directory is ours: dropped, it goes.
        let files = Self { dir: dir.clone() };
        let id_token = keyless.id_tokens.first().map_or("", String::as_str);
        write_new(&files.id_token(), id_token).map_err(cannot)?;
        write_new(&files.pod_token(), &keyless.pod_token).map_err(cannot)?;
        Ok(files)
    }

    fn id_token(&self) -> PathBuf {
        self.dir.join("id-token")
    }

    fn pod_token(&self) -> PathBuf {
        self.dir.join("pod-token")
    }
}

fn private_dir() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// A file that did not exist (never through a link), readable by this user only.
fn write_new(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

impl Drop for TokenFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each flow's name and the variables that select it, for a server at `url`.
pub(crate) fn flows(
    url: &str,
    files: &TokenFiles,
    keyless: &Keyless,
) -> [(&'static str, Vec<(&'static str, String)>); 3] {
    let path = |p: PathBuf| p.display().to_string();
    [
        (
            "OIDC federation (STS)",
            vec![
                (
                    "HUAWEICLOUD_OIDC_PROVIDER_URN",
                    format!("iam::demo:identity-provider:{}", keyless.idp_id),
                ),
                (
                    "HUAWEICLOUD_OIDC_AGENCY_URN",
                    "iam::demo:agency:demo-agency".into(),
                ),
                ("HUAWEICLOUD_OIDC_TOKEN_FILE", path(files.id_token())),
                ("HUAWEICLOUD_SDK_STS_ENDPOINT", url.to_owned()),
            ],
        ),
        (
            "identity provider's ID token (IAM)",
            vec![
                ("HUAWEICLOUD_SDK_IDP_ID", keyless.idp_id.clone()),
                ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", path(files.id_token())),
                ("HUAWEICLOUD_SDK_IAM_ENDPOINT", url.to_owned()),
            ],
        ),
        (
            "CCE pod identity",
            vec![
                (
                    "HC_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("{url}{POD_IDENTITY_PATH}"),
                ),
                (
                    "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    path(files.pod_token()),
                ),
                // No ECS here: the server answers the metadata service's questions with 404,
                // so the chain goes on to pod identity without asking 169.254.169.254.
                ("HUAWEICLOUD_SDK_METADATA_ENDPOINT", url.to_owned()),
            ],
        ),
    ]
}

/// The banner's lines for the keyless flows.
pub(crate) fn banner(url: &str, files: &TokenFiles, keyless: &Keyless) -> Vec<String> {
    let mut lines = vec![format!(
        "keyless: STS, IAM and the CCE pod-identity agent answer too, issuing new keys at \
         each fetch ({0}00001, {0}00002, ...); in another terminal, export one flow's \
         variables, then run e.g. `codearts --endpoint {url} \
         push-event 2112036131` (HUAWEICLOUD_SDK_TOKEN, and for pod identity AK/SK or a \
         profile, would be taken first: unset them):",
        keyless.access_key_prefix
    )];
    for (flow, vars) in flows(url, files, keyless) {
        let exports: Vec<String> = vars
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        lines.push(format!("  {flow}:"));
        lines.push(format!("    export {}", exports.join(" ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test writes in a temporary directory of its own.
    #[cfg(unix)]
    #[test]
    fn the_token_files_are_this_users_alone_and_go_with_the_server() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let files = TokenFiles::write_in(parent.path(), 1, &Keyless::default()).unwrap();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.dir), 0o700);
        assert_eq!(mode(&files.id_token()), 0o600);
        assert_eq!(mode(&files.pod_token()), 0o600);
        let dir = files.dir.clone();
        drop(files);
        assert!(!dir.exists());
    }

    #[test]
    fn a_directory_found_in_place_is_not_used_nor_removed() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("codearts-serve-2");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("someone-elses"), "x").unwrap();
        let error = TokenFiles::write_in(parent.path(), 2, &Keyless::default())
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("remove it, or use another --port"),
            "{error}"
        );
        assert!(dir.join("someone-elses").exists());
    }
}
