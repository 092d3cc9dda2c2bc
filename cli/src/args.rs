//! Command-line arguments. Credentials are never flags (other users can read a command
//! line): they come from the environment or the profile file, as in the official SDKs.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use codearts_repo::{SigningAlgorithm, server::WindowQuota};

mod command_first;
mod deliver;
pub(crate) use command_first::command_first;
pub(crate) use deliver::DeliverArgs;

const AFTER_HELP: &str = "\
Connection options, before or after the command (each command's --help lists its own):
  --endpoint URL, --region REGION, --timeout DURATION (default 30s, for the whole call),
  --max-attempts N (default 3), --allow-http, --ca-file PATH, --signing-algorithm NAME;
  --project-id ID (commits); --output FORMAT (json unless said in the command's help).

Credentials (never flags), in the official SDKs' order:
  HUAWEICLOUD_SDK_TOKEN;
  OIDC federation: HUAWEICLOUD_OIDC_PROVIDER_URN + HUAWEICLOUD_OIDC_AGENCY_URN +
    HUAWEICLOUD_OIDC_ID_TOKEN or HUAWEICLOUD_OIDC_TOKEN_FILE;
  an identity provider's ID token: HUAWEICLOUD_SDK_IDP_ID + HUAWEICLOUD_SDK_ID_TOKEN_FILE;
  HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK (+ HUAWEICLOUD_SDK_PROJECT_ID,
    HUAWEICLOUD_SDK_SECURITY_TOKEN);
  the [basic] section of ~/.huaweicloud/credentials (or HUAWEICLOUD_SDK_CREDENTIALS_FILE);
  the ECS metadata service;
  CCE pod identity: HC_CONTAINER_CREDENTIALS_FULL_URI + HC_CONTAINER_AUTHORIZATION_TOKEN_FILE.
`codearts serve --keyless` plays STS, IAM and pod identity on loopback to try them.

Exit codes: 0 success, 1 spec-diff and release-gate: something breaks (or the version does
not say so), check-spec: the spec is out of date; 2 usage or invalid input (nothing sent),
3 API error, 4 transport error (connect, TLS, timeout, broken answer), 5 undecodable answer.

Examples:
  codearts demo
  codearts --region cn-north-4 push-event 2112036131
  codearts serve --port 8080      # in another terminal: the documents' examples on loopback
  codearts --endpoint http://127.0.0.1:8080 push-event 2112036131
  codearts --endpoint http://127.0.0.1:8080 --project-id demo --output table commits 3e1f6634946144c2b1ccb46fb8152b8f test --ref master --repo-auth gh-auth";

/// Latest push events (CodeArts Repo) and commits (ServiceStage) of Huawei Cloud repositories.
#[derive(Debug, Parser)]
#[command(
    name = "codearts",
    version,
    after_help = AFTER_HELP,
    override_usage = "codearts [CONNECTION OPTIONS] <COMMAND> [ARGS]"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How to reach the services, for the commands that call them.
#[derive(Clone, Debug, Args)]
pub(crate) struct Connection {
    /// Base URL for both services (overrides the region's hosts). A loopback URL (`codearts
    /// serve`) is IAM's and STS's too, unless HUAWEICLOUD_SDK_IAM_ENDPOINT,
    /// HUAWEICLOUD_SDK_STS_ENDPOINT or the profile's iam_endpoint name others (their tokens
    /// never go to loopback instead); elsewhere IAM is HUAWEICLOUD_SDK_IAM_ENDPOINT's, else
    /// the profile's, else the region's.
    #[arg(long, value_name = "URL", value_parser = endpoint_url)]
    pub(crate) endpoint: Option<String>,
    /// Huawei Cloud region, e.g. cn-north-4.
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Bound on the whole call from its start, credentials and retries included (e.g. 3s,
    /// 500ms; above 0); an attempt may use what is left of it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
    /// Attempts in all, the first included (default 3; 1: no retries). A watch backs off by
    /// itself and takes it only with --once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) max_attempts: Option<u32>,
    /// Allow plain HTTP to hosts other than loopback (credentials travel in clear text).
    #[arg(long)]
    pub(crate) allow_http: bool,
    /// Also trust the CA certificates in this PEM file (SSL_CERT_FILE replaces the system's).
    #[arg(long, value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// How AK/SK requests are signed, as the official SDKs' signing_algorithm (tokens are not
    /// signed).
    #[arg(long, value_name = "ALGORITHM", default_value = "hmac-sha256", value_parser = signing_algorithm())]
    pub(crate) signing_algorithm: SigningAlgorithm,
}

/// The algorithms' short names, listed in the help and in the error for an unknown one.
fn signing_algorithm() -> impl clap::builder::TypedValueParser<Value = SigningAlgorithm> {
    use clap::builder::TypedValueParser as _;
    let names = SigningAlgorithm::ALL.iter().map(|a| a.short_name());
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<SigningAlgorithm>())
}

impl Connection {
    /// Attempts in all: as given, else 3.
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(3)
    }
}

/// What a command prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// One JSON document.
    Json,
    /// Readable text.
    Table,
    /// A pull-request comment (verdict, table, Rust API changes).
    Markdown,
}

/// What the two operations and the demo print.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum TextFormat {
    /// One JSON document.
    Json,
    /// Readable text.
    Table,
}

impl From<TextFormat> for Format {
    fn from(format: TextFormat) -> Self {
        match format {
            TextFormat::Json => Self::Json,
            TextFormat::Table => Self::Table,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the latest push event of a CodeArts Repo repository.
    #[command(
        override_usage = "codearts [CONNECTION OPTIONS] push-event [--output json|table] <REPOSITORY_ID>",
        after_help = "Example:\n  codearts --region cn-north-4 push-event 2112036131"
    )]
    PushEvent {
        /// Repository id, 1 to 2147483647.
        #[arg(value_parser = parse_repository_id, allow_negative_numbers = true)]
        repository_id: codearts_repo::RepositoryId,
        #[command(flatten)]
        connection: Connection,
        /// json: the event as the service sent it; table: one field a line.
        #[arg(long, value_enum, default_value_t = TextFormat::Json)]
        output: TextFormat,
    },
    /// Show the latest ten commits of a ServiceStage git project.
    #[command(
        override_usage = "codearts [CONNECTION OPTIONS] commits --repo-auth NAME [--ref REF] [--project-id ID] [--output json|table] <NAMESPACE> <PROJECT>",
        after_help = "Example:\n  codearts --region cn-north-4 commits my-group team/app --ref main --repo-auth gh-auth"
    )]
    Commits(CommitsArgs),
    /// Run the embedded CodeArts-compatible server on 127.0.0.1 until interrupted.
    #[command(
        override_usage = "codearts serve [--port N] [--fixtures FILE] [--tls [--write-ca PATH]] [--quota N[/min]] [--keyless]",
        after_help = "Examples:\n  codearts serve --port 8080 --fixtures fixtures.json\n  codearts serve --tls --write-ca ca.pem   # then: codearts --ca-file ca.pem --endpoint URL ...\n  codearts serve --quota 50                # an account quota: 429 APIGW.0308 past 50 requests/s\n  codearts serve --quota 3000/min          # ... or past 3000 in a minute (a fixed window)\n  codearts serve --keyless --port 18080    # STS, IAM, pod identity: the banner says what to export\n\nRUST_LOG=codearts_repo::server=info logs each request on stderr."
    )]
    Serve(ServeArgs),
    /// Watch repositories for new pushes: one JSON object per line, until interrupted.
    #[command(
        override_usage = "codearts [CONNECTION OPTIONS] watch [OPTIONS] [REPOSITORY_ID]... [--ids-file PATH]",
        after_help = "Each line: {\"repository_id\", \"ref\", \"created_at\", \"baseline\"}; errors go to stderr.\nSIGINT and SIGTERM stop it after saving --state: nothing printed is printed again.\nAfter a crash (kill -9), what was printed in the last second may be printed again;\nno push is ever missed.\n\nExamples:\n  codearts --region cn-north-4 watch 2112036131 2112036132 --interval 30s\n  codearts watch --ids-file ids.txt --shard 0/3 --state /var/lib/codearts/watch.json --listen 0.0.0.0:9100"
    )]
    Watch(WatchArgs),
    /// Compare two versions of the spec: what changed, and whether it breaks callers.
    #[command(
        override_usage = "codearts spec-diff [--output json|table|markdown] [--check-version MANIFEST [--old-version VERSION]] <OLD> <NEW>",
        after_help = "OLD and NEW are file paths or git:REV (the spec at that revision), or git:REV:PATH.\nExit codes: 0 nothing breaks (or, with --check-version, the version says what breaks), 1 something breaks (or the version is too low), 2 usage or input error.\n\nExamples:\n  codearts spec-diff git:main openapi/codearts-repo.yaml\n  codearts spec-diff git:v0.2.0 openapi/codearts-repo.yaml --check-version Cargo.toml --output markdown"
    )]
    SpecDiff {
        /// The spec before.
        old: String,
        /// The spec after.
        new: String,
        /// Also check the version in this Cargo manifest: a breaking change needs a major
        /// bump (minor while 0.x); exit 1 when it does not say so.
        #[arg(long, value_name = "MANIFEST")]
        check_version: Option<PathBuf>,
        /// The version OLD was released as (default: from OLD when it is git:vX.Y.Z).
        #[arg(long, value_name = "VERSION", requires = "check_version")]
        old_version: Option<String>,
        /// json: the report as one document; table: a line per change; markdown: a
        /// pull-request comment.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        output: Format,
    },
    /// Call each operation a few times and say where the answers go beyond the spec, with
    /// the spec edit that would describe them and its verdict. It only reads.
    #[command(
        after_help = "Exit codes: 0 the answers conform to the spec, 1 the spec is out of date, 2 usage or input error,\n3 and 4 as the operations (the service was not reached as asked: nothing to judge).\n\nExamples:\n  codearts --region cn-north-4 check-spec --repository-id 2112036131\n  codearts check-spec --repository-id 2112036131 --namespace my-group --project team/app --repo-auth gh-auth --output markdown\n  codearts check-spec --repository-id 2112036131 --write-spec edited.yaml   # then: codearts spec-diff openapi/codearts-repo.yaml edited.yaml"
    )]
    CheckSpec(CheckSpecArgs),
    /// Check the version against what changed since the last release: the spec (always) and
    /// the hand-written Rust API (with --semver-checks). CI runs it on every change.
    #[command(
        after_help = "The last release: the newest v* tag reachable from HEAD (by semantic version), else the\ncommit before the one that set the manifest's version (a shallow clone is deepened first).\nWith any change since a release tag, the version must be above it.\nExit codes: 0 the version says what changed, 1 it does not, 2 usage or input error.\n\nExample:\n  codearts release-gate --semver-checks codearts-repo"
    )]
    ReleaseGate(ReleaseGateArgs),
    /// Start the embedded server, run both operations against it, show what happened.
    #[command(
        override_usage = "codearts demo [--output json|table]",
        after_help = "Example:\n  codearts demo --output table"
    )]
    Demo {
        /// json: one document with what each step returned; table: a walk-through.
        /// [default: table on a terminal, json when piped, as gh and kubectl choose]
        #[arg(long, value_enum)]
        output: Option<TextFormat>,
    },
}

/// What `check-spec` calls, and what it prints.
#[derive(Debug, Args)]
pub(crate) struct CheckSpecArgs {
    #[command(flatten)]
    pub(crate) connection: Connection,
    /// A repository whose latest push event is read (repeat for several).
    #[arg(long = "repository-id", value_name = "ID", value_parser = parse_repository_id)]
    pub(crate) repository_ids: Vec<codearts_repo::RepositoryId>,
    /// The namespace of a project whose commits are read (with --project).
    #[arg(long, value_name = "NAMESPACE", requires = "project")]
    pub(crate) namespace: Option<String>,
    /// The project whose commits are read (with --namespace; a `/` is sent as `:`).
    #[arg(long, value_name = "PROJECT", requires = "namespace")]
    pub(crate) project: Option<String>,
    /// Branch or tag of the commits (default: the default branch).
    #[arg(long = "ref", value_name = "REF", requires = "project")]
    pub(crate) git_ref: Option<String>,
    /// Git repository authorization name (X-Repo-Auth) for the commits.
    #[arg(long, value_name = "NAME", requires = "project")]
    pub(crate) repo_auth: Option<String>,
    /// Project id for the commits (default: from the credentials, or IAM).
    #[arg(long, value_name = "ID", requires = "project")]
    pub(crate) project_id: Option<String>,
    /// Calls per operation (per repository for push events).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) calls: u32,
    /// json: the report as one document; table: a sentence per difference; markdown: a
    /// pull-request comment.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) output: Format,
    /// When the spec is out of date, write it here with every suggested edit, for review
    /// with spec-diff (YAML; the spec's comments are not kept).
    #[arg(long, value_name = "PATH")]
    pub(crate) write_spec: Option<PathBuf>,
}

/// What the release gate compares, and how.
#[derive(Debug, Args)]
pub(crate) struct ReleaseGateArgs {
    /// The manifest whose version is checked (any path to it; it must be in HEAD).
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    pub(crate) manifest: PathBuf,
    /// The spec (any path to it; it must be in HEAD).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "openapi/codearts-repo.yaml"
    )]
    pub(crate) spec: String,
    /// Also run `cargo semver-checks` on this package against the same baseline.
    #[arg(long, value_name = "PACKAGE")]
    pub(crate) semver_checks: Option<String>,
    /// json: the spec half's report as one document; table: a line per change; markdown: a
    /// pull-request comment.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub(crate) output: Format,
}

/// What `serve` serves, and how.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Port (0 or none: an ephemeral port, printed).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// JSON fixtures file (default: the documents' examples).
    #[arg(long, value_name = "FILE")]
    pub(crate) fixtures: Option<PathBuf>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with a certificate made at start.
    #[arg(long)]
    pub(crate) tls: bool,
    /// With --tls: write the CA certificate to trust here (for --ca-file).
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub(crate) write_ca: Option<PathBuf>,
    /// Requests accepted for the whole server, as an account's quota: past it, 429 APIGW.0308
    /// as Huawei's API gateway answers. N: per second (a token bucket); N/min (or N/s,
    /// N/h): N per fixed window, as the gateway's `limit:N,time:1 minute`.
    #[arg(long, value_name = "N[/min]", value_parser = parse_quota)]
    pub(crate) quota: Option<QuotaArg>,
    /// Also play STS, IAM and the CCE pod-identity agent for the keyless flows (OIDC
    /// federation, an identity provider's ID token, pod identity); the banner says what to
    /// export for each.
    #[arg(long)]
    pub(crate) keyless: bool,
    /// Answer every success with one kind of drift from the spec, to try `check-spec` and
    /// a watch: added-field, enum-value, out-of-range, changed-type, missing-required or
    /// format (a kind the spec has no place for is refused).
    #[arg(long, value_name = "KIND", value_parser = parse_drift)]
    pub(crate) drift: Option<codearts_repo::server::AnswerDrift>,
}

fn parse_drift(text: &str) -> Result<codearts_repo::server::AnswerDrift, String> {
    let kind: codearts_repo::server::AnswerDrift = text.parse()?;
    if !kind.possible() {
        return Err(format!(
            "no answer of this client's spec has a place for `{kind}` (it needs an `enum`, a \
             range, a `required` list or a `format`, as the kind says)"
        ));
    }
    Ok(kind)
}

#[derive(Debug, Args)]
pub(crate) struct CommitsArgs {
    /// Namespace id or URL code name.
    pub(crate) namespace: String,
    /// Project id or URL code name (a `/` is sent as `:`).
    pub(crate) project: String,
    /// Branch or tag (default: the default branch).
    #[arg(long = "ref", value_name = "REF")]
    pub(crate) git_ref: Option<String>,
    /// Git repository authorization name (X-Repo-Auth); required by the API.
    #[arg(long, value_name = "NAME")]
    pub(crate) repo_auth: Option<String>,
    /// Project id (default: from the credentials, or IAM with AK/SK and --region).
    #[arg(long, value_name = "ID")]
    pub(crate) project_id: Option<String>,
    #[command(flatten)]
    pub(crate) connection: Connection,
    /// json: the commits as the service sent them; table: one commit a line.
    #[arg(long, value_enum, default_value_t = TextFormat::Json)]
    pub(crate) output: TextFormat,
}

fn parse_repository_id(text: &str) -> Result<codearts_repo::RepositoryId, String> {
    text.parse()
        .map_err(|e: codearts_repo::Error| e.to_string())
}

/// What `watch` watches, how often, and what it keeps and shows.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) connection: Connection,
    /// Repository ids, 1 to 2147483647.
    #[arg(value_parser = parse_repository_id)]
    pub(crate) repository_ids: Vec<codearts_repo::RepositoryId>,
    /// Also the ids in this file, one per line (`-`: standard input); blank lines and `#`
    /// comments are skipped.
    #[arg(long, value_name = "PATH")]
    pub(crate) ids_file: Option<PathBuf>,
    /// Watch only the ids of shard K of N (K from 0), by a stable hash: N replicas numbered
    /// 0 to N-1 cover every id exactly once.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub(crate) shard: Option<codearts_repo::watch::Shard>,
    /// Remember in this file the last event printed for each repository, so that a restart
    /// prints the pushes made while the watch was down (written atomically, every second;
    /// every tenth of a second with --deliver).
    #[arg(long, value_name = "PATH")]
    pub(crate) state: Option<PathBuf>,
    /// Keep the state in PostgreSQL, for a fleet: replicas given the same database elect one
    /// active watcher, which records every event in the table `codearts_watch_events`; the
    /// others stand by and take over within the lease (--lease). A URL such as
    /// postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full&sslrootcert=/ca.pem.
    #[arg(
        long,
        value_name = "URL",
        env = "CODEARTS_WATCH_DATABASE_URL",
        hide_env_values = true,
        conflicts_with_all = ["state", "once", "shard"],
        value_parser = |text: &str| Ok::<_, String>(SecretUrl(text.to_owned()))
    )]
    pub(crate) database: Option<SecretUrl>,
    /// The database's password, read from this file (a mounted Secret) rather than from the
    /// URL; a trailing newline is not part of it.
    #[arg(
        long,
        value_name = "PATH",
        env = "CODEARTS_WATCH_DATABASE_PASSWORD_FILE",
        requires = "database"
    )]
    pub(crate) database_password_file: Option<PathBuf>,
    /// The fleet's name: replicas with the same database and name share one lease.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        requires = "database"
    )]
    pub(crate) fleet: String,
    /// The lease's length: a standby takes over within it (plus a second) when the active
    /// watcher dies, pauses or loses the database; the active one stops polling a fifth of it
    /// before it would end.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease, requires = "database")]
    pub(crate) lease: Duration,
    /// With --listen: /readyz answers 503 when the service has answered no poll for this
    /// many intervals (/healthz reports the process only).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) unhealthy_after: u32,
    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address: 127.0.0.1:9100,
    /// localhost:9100, or :9100 (every interface, as in a container).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// Time between two polls of one repository (at least 50ms).
    #[arg(long, default_value = "60s", value_parser = parse_interval)]
    pub(crate) interval: Duration,
    /// Requests per second at most: the account's known quota (default: none; the watch
    /// slows down by itself when the service throttles). With --shard, per shard: give each
    /// replica its share of the quota; with --database, the one active watcher's.
    #[arg(long, value_name = "N")]
    pub(crate) max_rate: Option<codearts_repo::Rate>,
    /// Polls in flight at most.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// The longest wait before polling a repository in trouble (429, 5xx, no answer) again.
    #[arg(long, default_value = "10m", value_parser = parse_max_backoff)]
    pub(crate) max_backoff: Duration,
    /// Poll each repository once and exit (non-zero if any poll failed).
    #[arg(long)]
    pub(crate) once: bool,
    #[command(flatten)]
    pub(crate) delivery: Box<DeliverArgs>,
}

/// A database URL, which may hold a password: never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct SecretUrl(pub(crate) String);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl(..)")
    }
}

fn parse_lease(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text).map_err(|e| e.to_string())? {
        lease if lease < Duration::from_secs(2) => {
            Err("must be at least 2s: the active watcher renews it five times per length".into())
        }
        lease if lease > Duration::from_secs(600) => {
            Err("must be at most 10m: a standby waits that long to take over".into())
        }
        lease => Ok(lease),
    }
}

/// A year: the longest wait the watch keeps (longer ones are a typo, not a plan).
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text).map_err(|e| e.to_string())? {
        Duration::ZERO => Err("must be above 0: a call with no time can never answer".into()),
        timeout if timeout > Duration::from_secs(24 * 3600) => {
            Err("must be at most 1day: a call that long is a hung call".into())
        }
        timeout => Ok(timeout),
    }
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if interval < Duration::from_millis(50) {
        return Err("must be at least 50ms: each repository is polled once per interval".into());
    }
    if interval > YEAR {
        return Err("must be at most 365days".into());
    }
    Ok(interval)
}

fn parse_max_backoff(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text).map_err(|e| e.to_string())? {
        backoff if backoff > YEAR => Err("must be at most 365days".into()),
        backoff => Ok(backoff),
    }
}

fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let wanted = "an address and a port: 127.0.0.1:9100, localhost:9100, [::1]:9100 or :9100";
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("expected {wanted}"))?;
        return Ok(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
    }
    let mut found = text
        .to_socket_addrs()
        .map_err(|e| format!("expected {wanted} ({e})"))?;
    found
        .next()
        .ok_or_else(|| format!("`{text}` names no address; expected {wanted}"))
}

fn parse_shard(text: &str) -> Result<codearts_repo::watch::Shard, String> {
    text.parse()
        .map_err(|e: codearts_repo::Error| e.to_string())
}

/// `--endpoint` is a URL: `localhost:8080` would be read as the scheme `localhost:` and
/// `127.0.0.1:8080` as a relative URL, so say what was meant before anything else runs.
fn endpoint_url(given: &str) -> Result<String, String> {
    if given.contains("://") {
        Ok(given.to_owned())
    } else {
        Err(format!(
            "an endpoint is a URL: did you mean http://{given} (loopback) or https://{given}?"
        ))
    }
}

/// `serve --quota`: a rate per second, or a count per fixed window.
#[derive(Clone, Copy, Debug)]
pub(crate) enum QuotaArg {
    PerSecond(f64),
    Window(WindowQuota),
}

/// `50` (per second), `3000/min`, `10/s`, `100000/h`.
pub(crate) fn parse_quota(text: &str) -> Result<QuotaArg, String> {
    let wanted = "must be a number of requests per second above 0 (e.g. 50), or a whole \
                  number per window: 3000/min, 10/s, 100000/h";
    let Some((count, per)) = text.split_once('/') else {
        return match text.trim().parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(QuotaArg::PerSecond(rate)),
            _ => Err(wanted.into()),
        };
    };
    let seconds = match per.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        _ => return Err(wanted.into()),
    };
    match count.trim().parse::<u64>() {
        Ok(limit) if limit > 0 => Ok(QuotaArg::Window(WindowQuota::new(
            limit,
            std::time::Duration::from_secs(seconds),
        ))),
        _ => Err(wanted.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_is_a_rate_per_second_or_a_count_per_window() {
        assert!(matches!(parse_quota("50"), Ok(QuotaArg::PerSecond(50.0))));
        let Ok(QuotaArg::Window(window)) = parse_quota("3000/min") else {
            panic!("a window")
        };
        assert_eq!((window.limit, window.period.as_secs()), (3000, 60));
        assert!(matches!(parse_quota("10/s"), Ok(QuotaArg::Window(w)) if w.period.as_secs() == 1));
        for bad in ["0", "-1", "x", "0/min", "1.5/min", "3000/fortnight", "/min"] {
            let error = parse_quota(bad).unwrap_err();
            assert!(error.contains("3000/min"), "{bad}: {error}");
        }
    }
}
