//! `watch --deliver URL`: each push POSTed to a receiver, signed, and handled (saved) only
//! once the receiver answers 2xx.
//!
//! The shape: the watch holds a repository's polls while its push waits for the receiver
//! (`WatchOptions::hold_until_handled`), so each repository has at most one delivery
//! waiting, in order, and the service never serves a newer push of it that a later one
//! could supersede unsent; once delivered, the next poll finds the latest push. Each push is
//! recorded (the state file's or the database's outbox) before it is sent, so a watch killed
//! mid-delivery, or a takeover, sends it again (same id, same document) before anything newer
//! of its repository, however the service moved on meanwhile. The other
//! repositories go on at their pace, their deliveries in parallel up to `--deliver-parallel`.
//! A delivery is retried until it succeeds (5xx, 408, 429, no answer; `backoff.rs`), or
//! refused for good by any other 4xx: said once, kept (`--deliver-rejected`), not saved as
//! handled, and its repository polled again.

mod attempt;
mod backoff;
mod document;
mod secret;

use std::{
    collections::HashMap,
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use codearts_repo::{
    PushEvent, RepositoryId,
    watch::{Deferred, Leadership},
};
use serde_json::json;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    args::DeliverArgs,
    error::{CliError, Result},
};
use attempt::Outcome;
pub(crate) use document::Document;
use secret::DeliverSecret;

/// How soon a delivered push is saved as handled (the watch's flush period).
pub(crate) const RECORDED_WITHIN: Duration = Duration::from_millis(100);

/// How long a connection to the receiver may take, at most (and at most the attempt's).
const CONNECT: Duration = Duration::from_secs(5);

/// The receiver, how to reach it, and what its deliveries came to. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Receiver(Arc<Inner>);

struct Inner {
    client: reqwest::Client,
    url: url::Url,
    /// The URL as said on stderr: no credentials, no query.
    shown: String,
    secret: DeliverSecret,
    baselines: bool,
    parallel: usize,
    timeout: Duration,
    max_backoff: Duration,
    rejected: Option<PathBuf>,
    figures: Mutex<Figures>,
}

/// The URL as given may carry credentials (user info, a token in the query): only the one
/// shown on stderr is.
impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("url", &self.shown)
            .field("parallel", &self.parallel)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the deliveries came to so far, for /metrics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Figures {
    pub(crate) delivered: u64,
    /// Attempts that failed and are tried again.
    pub(crate) retried: u64,
    /// Refused for good by the receiver.
    pub(crate) refused: u64,
    /// Deliveries not ended yet, by number: since when.
    waiting: HashMap<u64, Instant>,
    next: u64,
    /// The receiver's trouble, as last said.
    trouble: Option<String>,
}

impl Figures {
    pub(crate) fn backlog(&self) -> usize {
        self.waiting.len()
    }

    /// How long the oldest delivery not ended yet has waited.
    pub(crate) fn oldest(&self, now: Instant) -> Duration {
        self.waiting.values().min().map_or(Duration::ZERO, |since| {
            now.saturating_duration_since(*since)
        })
    }
}

impl Receiver {
    /// From the command's options, read and checked before anything is sent: `None`
    /// without `--deliver`.
    pub(crate) fn from_args(args: &DeliverArgs) -> Result<Option<Self>> {
        let Some(url) = &args.deliver else {
            return Ok(None);
        };
        let secret = DeliverSecret::read(args.deliver_secret_file.as_deref())?;
        let roots = match &args.deliver_ca_file {
            Some(path) => vec![std::fs::read(path).map_err(|e| {
                CliError::Input(format!("--deliver-ca-file {}: {e}", path.display()))
            })?],
            None => Vec::new(),
        };
        let client = codearts_repo::http::client(
            &roots,
            CONNECT.min(args.deliver_timeout),
            args.deliver_timeout,
        )
        .map_err(|e| CliError::Input(format!("--deliver: {e}")))?;
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        Ok(Some(Self(Arc::new(Inner {
            client,
            url: url.clone(),
            shown: shown.to_string(),
            secret,
            baselines: args.deliver_baselines,
            parallel: args.deliver_parallel as usize,
            timeout: args.deliver_timeout,
            max_backoff: args.deliver_max_backoff,
            rejected: args.deliver_rejected.clone(),
            figures: Mutex::new(Figures::default()),
        }))))
    }

    pub(crate) fn figures(&self) -> Figures {
        lock(&self.0.figures).clone()
    }

    /// Deliveries for one watch's stream; dropping them abandons those not ended.
    pub(crate) fn deliveries(&self) -> Deliveries {
        Deliveries {
            receiver: self.clone(),
            tasks: JoinSet::new(),
            permits: Arc::new(Semaphore::new(self.0.parallel)),
            leadership: None,
        }
    }

    fn say_trouble(&self, why: Option<&str>) {
        let mut figures = lock(&self.0.figures);
        if figures.trouble.as_deref() == why {
            return;
        }
        figures.trouble = why.map(str::to_owned);
        let waiting = figures.backlog();
        drop(figures);
        match why {
            Some(why) => say!(
                "receiver {}: {why}; deliveries wait and are retried with backoff ({waiting} waiting)",
                self.0.shown
            ),
            None => say!("receiver {}: answering again", self.0.shown),
        }
    }

    /// Says a refusal once, and keeps the document.
    fn refused(&self, document: &Document, status: u16, answer: &str) {
        let kept = match &self.0.rejected {
            Some(path) => match keep(path, document, status, answer) {
                Ok(()) => format!("kept in {}", path.display()),
                Err(error) => format!(
                    "not kept ({}: {error}); its document: {}",
                    path.display(),
                    String::from_utf8_lossy(&document.body)
                ),
            },
            None => format!("its document: {}", String::from_utf8_lossy(&document.body)),
        };
        say!(
            "delivery {} (repository {}) refused by the receiver: HTTP {status} {answer}; not \
             retried and not saved as handled, {kept}",
            document.id,
            document.repository_id
        );
    }
}

/// One JSON line: the refusal and the exact body sent, to replay as docs/delivery.md says.
fn keep(path: &PathBuf, document: &Document, status: u16, answer: &str) -> std::io::Result<()> {
    let line = json!({
        "id": document.id,
        "repository_id": document.repository_id,
        "kind": document.kind,
        "status": status,
        "answer": answer,
        "refused_at": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        "body": String::from_utf8_lossy(&document.body),
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

/// The deliveries of one watch's stream.
pub(crate) struct Deliveries {
    receiver: Receiver,
    tasks: JoinSet<()>,
    permits: Arc<Semaphore>,
    /// A fleet's lease: no attempt starts once it is lost.
    leadership: Option<Leadership>,
}

impl Deliveries {
    /// Under a fleet's lease: an attempt whose turn comes once the lease is lost is not made,
    /// and its push is left pending for the next active watcher (only an attempt already
    /// under way at the takeover may reach the receiver twice, with its id).
    pub(crate) fn lead_with(&mut self, leadership: Leadership) {
        self.leadership = Some(leadership);
    }

    /// Whether this item is delivered (a baseline only with `--deliver-baselines`).
    pub(crate) fn wants(&self, baseline: bool) -> bool {
        !baseline || self.receiver.0.baselines
    }

    /// Delivers a push in the background; `deferred` is handled once the receiver answers
    /// 2xx, and given up (its repository polled again, nothing saved) once it refuses.
    pub(crate) fn start(
        &mut self,
        repository_id: RepositoryId,
        event: &PushEvent,
        baseline: bool,
        deferred: Deferred,
    ) {
        while self.tasks.try_join_next().is_some() {}
        // An item of an earlier watch, returned again, keeps its time: the same document.
        let document = Document::new(repository_id, event, baseline, deferred.observed_at());
        let waiting = Waiting::new(&self.receiver);
        let (receiver, permits) = (self.receiver.clone(), self.permits.clone());
        let leadership = self.leadership.clone();
        self.tasks.spawn(async move {
            let _waiting = waiting;
            let inner = &receiver.0;
            let mut rng = fastrand::Rng::new();
            let mut failures = 0;
            loop {
                // A slot per attempt, not per delivery: a delivery waiting out a backoff (or an
                // hour's Retry-After) holds none, so it never stalls the others.
                let outcome = {
                    let Ok(_permit) = permits.acquire().await else {
                        return;
                    };
                    if leadership.as_ref().is_some_and(|lease| !lease.is_held()) {
                        return; // abandoned: pending for the next active watcher
                    }
                    attempt::send(&inner.client, &inner.url, &inner.secret, &document).await
                };
                match outcome {
                    Outcome::Delivered => {
                        lock(&inner.figures).delivered += 1;
                        deferred.handled();
                        receiver.say_trouble(None);
                        return;
                    }
                    Outcome::Refused { status, answer } => {
                        lock(&inner.figures).refused += 1;
                        receiver.say_trouble(None);
                        receiver.refused(&document, status, &answer);
                        deferred.give_up();
                        return;
                    }
                    Outcome::Again { why, asked } => {
                        lock(&inner.figures).retried += 1;
                        receiver.say_trouble(Some(&why));
                        failures += 1;
                        let wait = backoff::wait(failures, asked, inner.max_backoff, &mut rng);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        });
    }

    /// At a stop: lets the deliveries under way end, for as long as one attempt may take,
    /// then abandons the others (the next watch delivers them again, with the same ids).
    pub(crate) async fn finish(mut self) {
        let grace = self.receiver.0.timeout;
        let _ = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

/// A delivery counted in the backlog from its start until it ends, however it ends.
struct Waiting(Receiver, u64);

impl Waiting {
    fn new(receiver: &Receiver) -> Self {
        let mut figures = lock(&receiver.0.figures);
        let number = figures.next;
        figures.next += 1;
        figures.waiting.insert(number, Instant::now());
        Self(receiver.clone(), number)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        lock(&self.0.0.figures).waiting.remove(&self.1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    /// The receiver `codearts watch 1 --deliver URL` delivers to, with its secret in `dir`.
    fn receiver(url: &str, dir: &tempfile::TempDir) -> Receiver {
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "the shared secret").unwrap();
        let cli = Cli::try_parse_from([
            "codearts",
            "watch",
            "1",
            "--deliver",
            url,
            "--deliver-secret-file",
            secret.to_str().unwrap(),
        ])
        .unwrap();
        let Command::Watch(args) = cli.command else {
            panic!("a watch")
        };
        Receiver::from_args(&args.delivery).unwrap().unwrap()
    }

    /// A URL's user info and query may be credentials: `Debug` shows the URL as stderr does.
    #[test]
    fn debug_shows_no_credentials_of_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let receiver = receiver("https://ci:hunter2@ci.example/hook?token=abc123", &dir);
        let shown = format!("{receiver:?}");
        assert!(shown.contains("https://ci.example/hook"), "{shown}");
        for secret in ["hunter2", "abc123", "the shared secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    /// Under a fleet's lease, a delivery whose turn comes once the lease is lost makes no
    /// attempt: the receiver hears nothing from this watcher, and the push stays pending for
    /// the one that took over. While the lease is held, the same delivery is attempted.
    #[tokio::test]
    async fn no_attempt_starts_once_the_lease_is_lost() {
        use codearts_repo::{
            Client, Credentials, WatchItem, WatchOptions,
            server::{Server, ServerConfig},
        };
        let server = Server::start(ServerConfig::default()).await.unwrap();
        let client = Client::builder()
            .endpoint(server.url())
            .credentials(Credentials::token("cli-token").unwrap())
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for lost in [true, false] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            let options = WatchOptions::default().once(true).hold_until_handled(true);
            let (_, mut stream) = client.watch(options, [RepositoryId::new(2112036131).unwrap()]);
            let Some(WatchItem::Push {
                repository_id,
                event,
                baseline,
                ..
            }) = stream.next().await
            else {
                panic!("the repository's push")
            };
            let deferred = stream.defer().expect("held");
            let lease =
                Leadership::held_until(tokio::time::Instant::now() + Duration::from_secs(60));
            if lost {
                lease.revoke();
            }
            let mut deliveries = receiver(&url, &dir).deliveries();
            deliveries.lead_with(lease);
            deliveries.start(repository_id, &event, baseline, deferred);
            // Lost: once its delivery ended, a connection it made would wait to be accepted.
            let wait = match lost {
                true => {
                    deliveries.finish().await;
                    Duration::from_millis(100)
                }
                false => Duration::from_secs(10),
            };
            let connected = tokio::time::timeout(wait, listener.accept()).await.is_ok();
            assert_eq!(connected, !lost, "lease lost: {lost}");
        }
    }
}
