//! The credential chain, and secrets kept out of every `Debug`, `Display`, error and log line.

#![cfg(feature = "server")]

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
};

use codearts_repo::{
    Client, Credentials, Error, RetryPolicy,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig},
};

const SK: &str = "SK-SECRET-should-never-leak-0001";
const TOKEN: &str = "TOKEN-SECRET-should-never-leak-0002";
const SECURITY_TOKEN: &str = "SECURITY-TOKEN-should-never-leak-0003";

fn from(vars: &[(&str, &str)]) -> Result<Credentials, Error> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Credentials::from_vars(|name| vars.get(name).cloned())
}

#[test]
fn the_environment_comes_first() {
    let keys = from(&[
        ("HUAWEICLOUD_SDK_AK", "AK1"),
        ("HUAWEICLOUD_SDK_SK", SK),
        ("HUAWEICLOUD_SDK_PROJECT_ID", "p1"),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN),
    ])
    .unwrap();
    assert_eq!(keys.kind(), "AK/SK");
    assert_eq!(keys.project_id().unwrap().as_str(), "p1");
    assert_eq!(
        from(&[("HUAWEICLOUD_SDK_TOKEN", TOKEN)]).unwrap().kind(),
        "token"
    );
}

#[test]
fn partial_or_ambiguous_credentials_are_an_error_that_says_what_is_missing() {
    let error = from(&[("HUAWEICLOUD_SDK_AK", "AK1")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("HUAWEICLOUD_SDK_AK is set") && error.contains("HUAWEICLOUD_SDK_SK is not"),
        "{error}"
    );
    let error = from(&[("HUAWEICLOUD_SDK_SK", SK)]).unwrap_err().to_string();
    assert!(error.contains("HUAWEICLOUD_SDK_AK"), "{error}");
    assert!(!error.contains(SK));
    let error = from(&[
        ("HUAWEICLOUD_SDK_AK", "A"),
        ("HUAWEICLOUD_SDK_SK", SK),
        ("HUAWEICLOUD_SDK_TOKEN", TOKEN),
    ])
    .unwrap_err()
    .to_string();
    assert!(error.contains("keep one"), "{error}");
}

#[test]
fn the_profile_file_comes_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "[basic]\nak = AK2\nsk = {SK}\nproject_id = p2\n\n[other]\nak = X"
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let keys = from(&[("HUAWEICLOUD_SDK_CREDENTIALS_FILE", path)]).unwrap();
    assert_eq!(
        (keys.kind(), keys.project_id().unwrap().as_str()),
        ("AK/SK", "p2")
    );

    // The default place is ~/.huaweicloud/credentials.
    std::fs::create_dir(dir.path().join(".huaweicloud")).unwrap();
    std::fs::copy(path, dir.path().join(".huaweicloud/credentials")).unwrap();
    let home = dir.path().to_str().unwrap();
    assert_eq!(
        from(&[("HOME", home)])
            .unwrap()
            .project_id()
            .unwrap()
            .as_str(),
        "p2"
    );
    // The environment wins over the profile.
    assert_eq!(
        from(&[("HOME", home), ("HUAWEICLOUD_SDK_TOKEN", TOKEN)])
            .unwrap()
            .kind(),
        "token"
    );
}

#[test]
fn a_missing_or_broken_profile_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    // No profile: the chain goes on to the metadata service (tests/metadata.rs), whose
    // failure at the first call lists what each source said.
    let fallback = from(&[("HOME", home)]).unwrap();
    assert_eq!(fallback.kind(), "ECS metadata AK/SK");

    let missing = dir.path().join("nope");
    let error = from(&[(
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        missing.to_str().unwrap(),
    )])
    .unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");

    let partial = dir.path().join("partial");
    std::fs::write(&partial, format!("[basic]\nsk = {SK}\n")).unwrap();
    let error = from(&[(
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        partial.to_str().unwrap(),
    )])
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("sk is set") && !error.contains(SK),
        "{error}"
    );
}

/// Collects everything `tracing` writes, at the most verbose level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_debug_display_errors_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start(ServerConfig {
        keys: vec![
            (DEMO_AK.into(), DEMO_SK.into()),
            ("AK-LEAK".into(), SK.into()),
        ],
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let mut seen = String::new();
    let credentials = [
        Credentials::token(TOKEN).unwrap(),
        Credentials::aksk("AK-LEAK", SK)
            .unwrap()
            .with_security_token(SECURITY_TOKEN)
            .unwrap(),
        Credentials::aksk("AK-LEAK", format!("{SK}-wrong")).unwrap(),
    ];
    for credentials in credentials {
        let client = Client::builder()
            .endpoint(server.url())
            .credentials(credentials.clone())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        seen.push_str(&format!("{credentials:?} {client:?}\n"));
        let outcomes = [
            client.last_push_event(2112036131).await.map(|_| ()),
            client.last_push_event(1).await.map(|_| ()),
            client
                .commits("n", "p")
                .repo_auth("a")
                .send()
                .await
                .map(|_| ()),
        ];
        for outcome in outcomes {
            if let Err(error) = outcome {
                seen.push_str(&format!("{error} {error:?}\n"));
            }
        }
    }
    seen.push_str(&format!("{:?}", server.requests()));
    seen.push_str(&String::from_utf8_lossy(&captured.0.lock().unwrap()));
    assert!(
        seen.contains("attempt"),
        "tracing output was captured: {seen}"
    );
    for secret in [SK, TOKEN, SECURITY_TOKEN] {
        assert!(!seen.contains(secret), "{secret} leaked");
    }
}
