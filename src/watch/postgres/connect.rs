//! Where the database is and how to reach it: a `postgres://` URL whose password never
//! reaches `Debug`, errors or logs, and TLS by rustls with the crate's provider (ring).
//!
//! `sslmode` is read here, not by tokio-postgres (which knows neither `verify-full` nor
//! `sslrootcert`): `verify-full` checks the server's certificate and name, against
//! `sslrootcert` (a PEM file: RDS's CA bundle, a CloudNativePG cluster's CA) or the system's
//! roots; `disable` sends everything in the clear. Without `sslmode`, a loopback host is
//! reached in the clear and any other with `verify-full`. The libpq modes that accept a
//! server they cannot identify (`allow`, `prefer`, `require`, `verify-ca`) are refused.

use std::{fmt, path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use rustls::{ClientConfig, RootCertStore, pki_types::CertificateDer, pki_types::pem::PemObject};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::watch::StateError;

/// How long a connection may take to be made, TLS and authentication included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Session settings that bound what the server does on the watch's behalf: a transaction
/// left open by a paused or cut-off replica ends (and frees the lease row) within 2 s, a
/// statement waits 2 s at most for a lock and runs 5 s at most, so no standby waits behind
/// a former leader and no abandoned statement lingers. Set once connected, not as startup
/// options, which poolers such as PgBouncer refuse.
const SESSION: &str = "SET idle_in_transaction_session_timeout = 2000; \
                       SET lock_timeout = 2000; SET statement_timeout = 5000";

/// A PostgreSQL database and how to reach it. `Debug` and errors name its host, port and
/// database, never its password.
#[derive(Clone)]
pub struct Database {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    described: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("at", &self.described)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A `postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=PATH`
    /// URL. Checked now; no connection is made.
    pub fn from_url(url: &str) -> Result<Self, StateError> {
        // What is wrong is said without the URL: it may hold the password.
        let refused = |reason: &str| StateError::new("database URL", reason, None);
        let mut parsed =
            url::Url::parse(url).map_err(|e| refused(&format!("not a postgres:// URL ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(refused("must start with postgres:// or postgresql://"));
        }
        let mut sslmode = None;
        let mut root = None;
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(key, value)| match &*key {
                "sslmode" => {
                    sslmode = Some(value.into_owned());
                    None
                }
                "sslrootcert" => {
                    root = Some(PathBuf::from(value.into_owned()));
                    None
                }
                _ => Some((key.into_owned(), value.into_owned())),
            })
            .collect();
        parsed.set_query(None);
        if !kept.is_empty() {
            parsed.query_pairs_mut().extend_pairs(&kept);
        }
        let mut config = tokio_postgres::Config::from_str(parsed.as_str())
            .map_err(|e| refused(&format!("{e}")))?;
        let loopback = config.get_hosts().iter().all(is_loopback);
        let tls = match sslmode.as_deref() {
            Some("disable") => None,
            None if loopback => None,
            Some("verify-full") | None => Some(tls(root.as_deref())?),
            Some(mode) => {
                return Err(refused(&format!(
                    "sslmode={mode} accepts a server it cannot identify: use sslmode=verify-full \
                     (with sslrootcert=PATH, the CA's PEM file), or sslmode=disable on a \
                     network you trust"
                )));
            }
        };
        if tls.is_some() {
            config.ssl_mode(SslMode::Require);
        } else {
            config.ssl_mode(SslMode::Disable);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("codearts-watch");
        }
        config.keepalives_idle(Duration::from_secs(30));
        let described = describe(&config);
        Ok(Self {
            config,
            tls,
            described,
        })
    }

    /// Uses `password` (from a file or a Secret) instead of the URL's.
    pub fn password(mut self, password: impl AsRef<[u8]>) -> Self {
        self.config.password(password);
        self
    }

    /// `host:port/database`, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// A new connection, whose connection task runs on the current runtime until the client
    /// is dropped or the server goes away.
    pub(crate) async fn connect(&self) -> Result<tokio_postgres::Client, StateError> {
        // tokio-postgres bounds the TCP connect only: TLS and authentication are bounded here.
        self.bounded("cannot connect", CONNECT_TIMEOUT, async {
            let client = self.connect_unbounded().await?;
            client
                .batch_execute(SESSION)
                .await
                .map_err(|e| self.error("cannot set the session up", e))?;
            Ok(client)
        })
        .await
    }

    /// `work` on this database, bounded by `time`: a database that accepts connections but
    /// does not answer fails like one that refuses them.
    pub(crate) async fn bounded<T>(
        &self,
        doing: &str,
        time: Duration,
        work: impl Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        match tokio::time::timeout(time, work).await {
            Ok(done) => done,
            Err(_) => Err(self.timed_out(doing, time)),
        }
    }

    /// `run` over `client`, connected first when it is not, bounded by `time`; a connection
    /// whose work failed or timed out is dropped (its state is unknown), and the next call
    /// connects again.
    pub(crate) async fn on<T>(
        &self,
        client: &mut Option<tokio_postgres::Client>,
        doing: &str,
        time: Duration,
        run: impl AsyncFnOnce(&mut tokio_postgres::Client) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let outcome = self
            .bounded(doing, time, async {
                if client
                    .as_ref()
                    .is_none_or(tokio_postgres::Client::is_closed)
                {
                    *client = Some(self.connect().await?);
                }
                run(client.as_mut().expect("connected just above")).await
            })
            .await;
        if outcome.is_err() {
            *client = None;
        }
        outcome
    }

    /// The error of work not done within `time`.
    pub(crate) fn timed_out(&self, doing: &str, time: Duration) -> StateError {
        StateError::new(
            format!("database {}", self.described),
            format!("{doing}: no answer within {}s", time.as_secs_f64()),
            None,
        )
    }

    async fn connect_unbounded(&self) -> Result<tokio_postgres::Client, StateError> {
        let connected = match &self.tls {
            Some(tls) => self
                .config
                .connect(tls.clone())
                .await
                .map(|(client, connection)| {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    client
                }),
            None => self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map(|(client, connection)| {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    client
                }),
        };
        connected.map_err(|e| self.error("cannot connect", e))
    }

    /// An error of this database: what was being done, and the driver's reason (which never
    /// holds the password).
    pub(crate) fn error(&self, doing: &str, error: tokio_postgres::Error) -> StateError {
        let reason = match error.as_db_error() {
            Some(db) => format!("{doing}: {} ({})", db.message(), db.code().code()),
            None => format!("{doing}: {error}"),
        };
        StateError::new(
            format!("database {}", self.described),
            reason,
            Some(Box::new(error)),
        )
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => crate::endpoint::local::loopback_name(name),
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("{host}:{port}/{database}")
}

/// rustls on the crate's provider, trusting `root` (PEM) or the system's roots.
fn tls(root: Option<&std::path::Path>) -> Result<MakeRustlsConnect, StateError> {
    let mut roots = RootCertStore::empty();
    match root {
        Some(path) => {
            let unreadable = |reason: String| {
                StateError::new(format!("sslrootcert {}", path.display()), reason, None)
            };
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|found| found.collect())
                .map_err(|e| unreadable(format!("not a readable PEM file ({e})")))?;
            if certificates.is_empty() {
                return Err(unreadable("holds no certificate".into()));
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| unreadable(format!("a certificate is not usable ({e})")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let config = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StateError::new("database TLS", e.to_string(), None))?
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::Database;

    #[test]
    fn the_password_never_shows_and_unsafe_modes_are_refused() {
        let database = Database::from_url("postgres://app:s3cr3t@db.example:6432/watch").unwrap();
        let shown = format!("{database:?} {}", database.describe());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(database.describe(), "db.example:6432/watch");
        // A remote host is reached over TLS unless told otherwise.
        assert!(format!("{database:?}").contains("tls: true"));

        let loopback = Database::from_url("postgres://app:s3cr3t@127.0.0.1/watch").unwrap();
        assert!(format!("{loopback:?}").contains("tls: false"));

        let error = Database::from_url("postgres://app:s3cr3t@db.example/w?sslmode=require")
            .unwrap_err()
            .to_string();
        assert!(error.contains("sslmode=require accepts a server it cannot identify"));
        assert!(!error.contains("s3cr3t"), "{error}");

        let error = Database::from_url("mysql://app:s3cr3t@db/w")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("s3cr3t") && error.contains("postgres://"),
            "{error}"
        );

        let error = Database::from_url("postgres://app:s3cr3t@db/w?sslrootcert=/nonexistent")
            .unwrap_err()
            .to_string();
        assert!(error.contains("sslrootcert /nonexistent"), "{error}");
    }
}
