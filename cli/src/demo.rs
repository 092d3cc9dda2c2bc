//! `codearts serve` and `codearts demo`: the embedded server, alone or driven by the client.

use std::net::SocketAddr;

use codearts_repo::{
    ClientBuilder, Credentials, Error, SigningAlgorithm,
    server::{
        DEMO_AK, DEMO_REGION, DEMO_SK, Fixtures, Keyless, Quota, Server, ServerConfig, TlsOptions,
    },
};
use serde_json::json;

use crate::{
    args::{Connection, QuotaArg, ServeArgs},
    error::{CliError, Result},
    output::{self, Output},
};

const DEMO_REPOSITORY: u32 = 2112036131;
const DEMO_NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const DEMO_PROJECT: &str = "test";

async fn start(config: ServerConfig) -> Result<Server> {
    let addr = config.addr;
    Server::start(config).await.map_err(|e| {
        let port = match addr.port() {
            0 => String::new(),
            port => format!(" on port {port}"),
        };
        CliError::Environment(format!("cannot start the embedded server{port}: {e}"))
    })
}

pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let fixtures = match &args.fixtures {
        Some(path) => Fixtures::from_file(path)?,
        None => Fixtures::documented(),
    };
    let repositories: Vec<String> = fixtures.repositories().map(|id| id.to_string()).collect();
    let projects: Vec<String> = fixtures
        .projects()
        .map(|(namespace, project)| format!("{namespace}/{project}"))
        .collect();
    let keyless = args.keyless.then(Keyless::default);
    let server = start(ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], args.port)),
        fixtures,
        tls: args.tls.then(TlsOptions::new),
        quota: match args.quota {
            Some(QuotaArg::PerSecond(rate)) => Some(Quota::per_second(rate)),
            _ => None,
        },
        keyless: keyless.clone(),
        drift: args.drift,
        ..ServerConfig::default()
    })
    .await?;
    if let Some(QuotaArg::Window(window)) = args.quota {
        server.set_quota_window(Some(window));
    }
    // Removed when this function returns, however it returns.
    let token_files = match &keyless {
        Some(keyless) => Some(crate::keyless::TokenFiles::write(
            server.addr().port(),
            keyless,
        )?),
        None => None,
    };
    if let (Some(path), Some(ca)) = (&args.write_ca, server.ca_pem()) {
        std::fs::write(path, ca).map_err(|e| {
            CliError::Input(format!("cannot write the CA to {}: {e}", path.display()))
        })?;
    }
    let mut shutdown = crate::watch::Shutdown::new()?;
    // The URL goes to stdout alone, so scripts can read it; the rest is for people.
    output::print(&format!("{}\n", server.url()))?;
    say!("serving CodeArts Repo and ServiceStage on {}", server.url());
    say!("repositories: {}", listed(&repositories));
    say!(
        "projects (namespace/project, any project id): {}",
        listed(&projects)
    );
    say!(
        "any token is accepted; AK/SK {DEMO_AK} / {DEMO_SK}, signed with any of {}",
        signing_algorithms()
    );
    say!(
        "IAM answers here too (project ids): --endpoint with a loopback URL covers it \
         (else HUAWEICLOUD_SDK_IAM_ENDPOINT={})",
        server.url()
    );
    match (&args.write_ca, server.ca_pem().is_some()) {
        (Some(path), true) => say!("clients trust it with --ca-file {}", path.display()),
        (None, true) => say!("clients trust it with --ca-file: write its CA with --write-ca PATH"),
        _ => {}
    }
    match args.quota {
        Some(QuotaArg::PerSecond(rate)) => {
            say!("account quota: {rate} requests/s, then 429 APIGW.0308")
        }
        Some(QuotaArg::Window(window)) => say!(
            "account quota: {} requests per {}, then 429 APIGW.0308 until the next window",
            window.limit,
            humantime::format_duration(window.period)
        ),
        None => {}
    }
    if let (Some(keyless), Some(files)) = (&keyless, &token_files) {
        for line in crate::keyless::banner(&server.url(), files, keyless) {
            say!("{line}");
        }
    }
    if let Some(drift) = args.drift {
        say!("every answer drifts from the spec: {drift}");
    }
    say!("press Ctrl-C to stop");
    shutdown.requested().await;
    say!("stopping");
    server
        .shutdown()
        .await
        .map_err(|e| CliError::Environment(format!("server error: {e}")))
}

/// The first few names, and how many more.
fn listed(names: &[String]) -> String {
    const SHOWN: usize = 10;
    match names.len() {
        0 => "none".into(),
        n if n <= SHOWN => names.join(", "),
        n => format!("{}, and {} more", names[..SHOWN].join(", "), n - SHOWN),
    }
}

pub(crate) async fn run(out: Output) -> Result<()> {
    // HTTPS with HTTP/2, as real endpoints: the certificate is made now, its CA trusted below.
    let server = start(ServerConfig {
        tls: Some(TlsOptions::new()),
        ..ServerConfig::default()
    })
    .await?;
    let say = |line: &str| {
        if !out.is_json() {
            let _ = output::print(&format!("{line}\n"));
        }
    };
    say(&format!(
        "Embedded server on {} (both services and IAM; HTTPS, HTTP/2)",
        server.url()
    ));
    let connection = Connection {
        endpoint: Some(server.url()),
        region: None,
        timeout: std::time::Duration::from_secs(30),
        max_attempts: None,
        allow_http: false,
        ca_file: None,
        signing_algorithm: Default::default(),
    };
    // A client of the server, trusting its CA.
    let builder = || -> Result<ClientBuilder> {
        let builder = crate::builder(&connection)?;
        Ok(match server.ca_pem() {
            Some(ca) => builder.add_root_certificate_pem(ca),
            None => builder,
        })
    };

    say(&format!(
        "\n1. Latest push event of repository {DEMO_REPOSITORY}, with a token:"
    ));
    let token_client = builder()?
        .credentials(Credentials::token("demo-token")?)
        .build()?;
    let event = token_client.last_push_event(DEMO_REPOSITORY).await?;
    if !out.is_json() {
        out.push_event(&event)?;
    }

    say(&format!(
        "\n2. Latest commits of {DEMO_NAMESPACE}/{DEMO_PROJECT}, signed with AK/SK ({DEMO_AK}); \
         no project id given, so IAM is asked for {DEMO_REGION}'s:"
    ));
    let aksk_client = builder()?
        .region(DEMO_REGION)
        .iam_endpoint(server.url())
        .credentials(Credentials::aksk(DEMO_AK, DEMO_SK)?)
        .build()?;
    let commits = aksk_client
        .commits(DEMO_NAMESPACE, DEMO_PROJECT)
        .repo_auth("demo-auth")
        .send()
        .await?;
    if !out.is_json() {
        out.commits(&commits)?;
    }
    say(
        "   (a date of \"Fix all the bugs\" is the example in Huawei's document, served as written)",
    );

    say("\n3. What the client refuses, and an error the server answers:");
    let refused = outcome(token_client.last_push_event(0).await);
    say(&format!(
        "   repository id 0      -> {refused} (nothing sent)"
    ));
    let missing = outcome(token_client.last_push_event(1).await);
    say(&format!("   unknown repository 1 -> {missing}"));

    let requests = server.requests();
    say(&format!(
        "\n4. What reached the server: {} requests (not the refused one):",
        requests.len()
    ));
    for r in &requests {
        let query = r
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        say(&format!(
            "   {} {}{} -> {} ({})",
            r.method, r.path, query, r.status, r.version
        ));
    }
    if out.is_json() {
        output::json(&json!({
            "server": server.url(),
            "push_event": event,
            "commits": commits,
            "refused": refused,
            "not_found": missing,
            "requests": requests,
        }))?;
    }
    Ok(())
}

/// What a call the demo expects to fail did, as text (a success is reported, not a panic).
fn outcome<T>(result: Result<T, Error>) -> String {
    match result {
        Ok(_) => "unexpectedly succeeded".to_owned(),
        Err(error) => error.to_string(),
    }
}

/// The algorithms the server verifies, by their `--signing-algorithm` names.
fn signing_algorithms() -> String {
    let names: Vec<&str> = SigningAlgorithm::ALL
        .iter()
        .map(|a| a.short_name())
        .collect();
    names.join(", ")
}
