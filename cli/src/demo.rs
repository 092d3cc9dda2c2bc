//! `codearts serve` and `codearts demo`: the embedded server, alone or driven by the client.

use std::{net::SocketAddr, path::Path};

use codearts_repo::{
    ClientBuilder, Credentials, Error,
    server::{DEMO_AK, DEMO_REGION, DEMO_SK, Fixtures, Server, ServerConfig, TlsOptions},
};
use serde_json::json;

use crate::{
    args::Global,
    error::{CliError, Result},
    output::{self, Output},
};

const DEMO_REPOSITORY: u32 = 2112036131;
const DEMO_NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const DEMO_PROJECT: &str = "test";

async fn start(config: ServerConfig) -> Result<Server> {
    Server::start(config)
        .await
        .map_err(|e| CliError::Environment(format!("cannot start the embedded server: {e}")))
}

pub(crate) async fn serve(
    port: u16,
    fixtures: Option<&Path>,
    tls: bool,
    write_ca: Option<&Path>,
) -> Result<()> {
    let fixtures = match fixtures {
        Some(path) => Fixtures::from_file(path)?,
        None => Fixtures::documented(),
    };
    let server = start(ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        fixtures,
        tls: tls.then(TlsOptions::new),
        ..ServerConfig::default()
    })
    .await?;
    if let (Some(path), Some(ca)) = (write_ca, server.ca_pem()) {
        std::fs::write(path, ca).map_err(|e| {
            CliError::Input(format!("cannot write the CA to {}: {e}", path.display()))
        })?;
    }
    // The URL goes to stdout alone, so scripts can read it; the rest is for people.
    output::print(&format!("{}\n", server.url()))?;
    say!("serving CodeArts Repo and ServiceStage on {}", server.url());
    say!("any token is accepted; demo AK/SK: {DEMO_AK} / {DEMO_SK}");
    say!("press Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Environment(format!("cannot wait for Ctrl-C: {e}")))?;
    say!("stopping");
    server
        .shutdown()
        .await
        .map_err(|e| CliError::Environment(format!("server error: {e}")))
}

pub(crate) async fn run(global: &Global, out: Output) -> Result<()> {
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
    let global = Global {
        endpoint: Some(server.url()),
        ..global.clone()
    };
    // The global options, trusting the server's CA.
    let builder = || -> Result<ClientBuilder> {
        let builder = crate::builder(&global)?;
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

    say("\n3. What the client refuses or reports:");
    let refused = outcome(token_client.last_push_event(0).await);
    say(&format!(
        "   repository id 0      -> {refused} (nothing sent)"
    ));
    let missing = outcome(token_client.last_push_event(1).await);
    say(&format!("   unknown repository 1 -> {missing}"));

    let requests = server.requests();
    say(&format!(
        "\n{} requests reached the server:",
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
