//! The fleet's store against a real PostgreSQL (a throwaway cluster of the machine's
//! binaries): migrations when replicas start at once, the lease and its epoch, writes fenced
//! once another replica took over, events recorded exactly once however often they are
//! written, pending events (the outbox) passed to the next term in id order, and TLS that
//! checks the server's certificate and name.

#![cfg(all(feature = "postgres", feature = "server"))]

mod common;

use std::time::{Duration, SystemTime};

use codearts_repo::{
    Learned, RepositoryId, Timestamp,
    watch::{
        Handled, LastSeen, Pending, WatchStore,
        postgres::{
            Database, Election, Pacing, PgStore, SCHEMA_VERSION, Term, migrate, record_late,
        },
    },
};
use common::postgres::Cluster;

fn seen(second: u32) -> LastSeen {
    LastSeen {
        created_at: Some(Timestamp::from(format!(
            "2026-01-01T00:00:{second:02}+08:00"
        ))),
        git_ref: Some("main".into()),
    }
}

fn handled(id: u32, second: u32) -> Handled {
    let mut event = Handled::new(RepositoryId::new(id).unwrap(), seen(second));
    event.observed_at = SystemTime::now();
    event
}

fn id(n: u32) -> RepositoryId {
    RepositoryId::new(n).unwrap()
}

async fn database(cluster: &Cluster, name: &str) -> Database {
    let database = Database::from_url(&cluster.create_database(name)).unwrap();
    migrate(&database).await.unwrap();
    database
}

async fn take(database: &Database, holder: &str) -> Term {
    Election::new(database.clone(), "default", holder)
        .ttl(Duration::from_secs(2))
        .try_acquire()
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("{holder} did not get the lease"))
}

/// The rows of the events table: (repository, created_at second, baseline, epoch).
fn events(cluster: &Cluster, database: &str) -> Vec<String> {
    let text = cluster.psql(
        database,
        "SELECT repository_id, right(created_at, 8), baseline, epoch
         FROM codearts_watch_events ORDER BY id",
    );
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_start_at_once_migrate_the_schema_once() {
    let cluster = Cluster::start();
    let database = Database::from_url(&cluster.create_database("migrate")).unwrap();
    let starts = (0..6).map(|_| {
        let database = database.clone();
        tokio::spawn(async move { migrate(&database).await })
    });
    for start in starts {
        start.await.unwrap().unwrap();
    }
    migrate(&database).await.unwrap();
    assert_eq!(
        cluster.psql("migrate", "SELECT max(version) FROM codearts_watch_schema"),
        SCHEMA_VERSION.to_string()
    );
    assert_eq!(
        cluster.psql("migrate", "SELECT count(*) FROM codearts_watch_schema"),
        SCHEMA_VERSION.to_string(),
        "each version once"
    );
    // A database that a newer build migrated further is refused, by name and version.
    cluster.psql(
        "migrate",
        "INSERT INTO codearts_watch_schema VALUES (99, now())",
    );
    let error = migrate(&database).await.unwrap_err().to_string();
    assert!(
        error.contains("version 99, newer than this build's"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_taken_once_it_expires_and_each_taking_raises_the_epoch() {
    let cluster = Cluster::start();
    let database = database(&cluster, "lease").await;
    let first = take(&database, "a").await;
    assert_eq!(first.epoch(), 1);
    // Held and renewed: another replica cannot take it, however long it tries.
    let mut standby = Election::new(database.clone(), "default", "b").ttl(Duration::from_secs(2));
    for _ in 0..4 {
        standby = standby
            .try_acquire()
            .await
            .unwrap()
            .expect_err("taken while held");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(first.leadership().is_held());
    // The holder dies (its renewals stop): the lease is taken once it expired, not before.
    drop(first);
    let died = std::time::Instant::now();
    let second = loop {
        match standby.try_acquire().await.unwrap() {
            Ok(term) => break term,
            Err(back) => standby = back,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let waited = died.elapsed();
    assert!(waited <= Duration::from_millis(2500), "took {waited:?}");
    assert_eq!(second.epoch(), 2);
    // A holder that lets go (a rolling update) is replaced at the next try.
    let election = second.release().await;
    let third = Election::new(database.clone(), "default", "c")
        .try_acquire()
        .await
        .unwrap()
        .expect("released, yet not taken");
    assert_eq!(third.epoch(), 3);
    drop(election);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_former_holder_writes_nothing_once_another_took_over() {
    let cluster = Cluster::start();
    let database = database(&cluster, "fenced").await;
    let former = take(&database, "a").await;
    let store = PgStore::open(&former).await.unwrap();
    // Partitioned or paused: the lease expires in the database while it still runs.
    cluster.psql(
        "fenced",
        "UPDATE codearts_watch_lease SET expires_at = now()",
    );
    let current = take(&database, "b").await;
    assert_eq!(current.epoch(), 2);
    let written = tokio::task::spawn_blocking(move || {
        let mut store = store;
        let outcome = store.save_handled(&Default::default(), &[handled(1, 1)]);
        (store, outcome)
    })
    .await
    .unwrap();
    let error = written.1.unwrap_err().to_string();
    assert!(
        error.contains("refused, the lease was taken over (epoch 2 since 1)"),
        "{error}"
    );
    assert!(
        !former.leadership().is_held(),
        "a fenced holder still polls"
    );
    assert_eq!(events(&cluster, "fenced"), Vec::<String>::new());
    assert_eq!(
        cluster.psql("fenced", "SELECT count(*) FROM codearts_watch_repositories"),
        "0"
    );
    // What it printed and could not write is recorded late, as events only (the rows are
    // the current holder's), a baseline as a baseline, and once however often.
    let mut baseline = handled(3, 1);
    baseline.baseline = true;
    let late = [baseline, handled(1, 1)];
    assert_eq!(
        record_late(&database, "default", 1, &late).await.unwrap(),
        2
    );
    assert_eq!(
        record_late(&database, "default", 1, &late).await.unwrap(),
        0
    );
    assert_eq!(
        events(&cluster, "fenced"),
        ["3|01+08:00|t|1", "1|01+08:00|f|1"]
    );
    assert_eq!(
        cluster.psql("fenced", "SELECT count(*) FROM codearts_watch_repositories"),
        "0"
    );
    // Its renewals find a later epoch: it knows, even without writing.
    let former = take_back_check(former).await;
    drop((former, current));
}

/// Waits for a former holder's renewal to learn of the takeover.
async fn take_back_check(term: Term) -> Term {
    for _ in 0..40 {
        if !term.leadership().is_held() {
            return term;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the former holder still believes it holds the lease");
}

fn pending(id: u32, second: u32) -> Pending {
    let seen = seen(second);
    let event = codearts_repo::PushEvent::builder()
        .ref_(seen.git_ref)
        .created_at(seen.created_at)
        .repository(Some(
            codearts_repo::RepositoryBrief::builder()
                .name(Some(format!("repository {id}")))
                .try_into()
                .unwrap(),
        ))
        .try_into()
        .unwrap();
    let observed_at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_765_000_000_123_456);
    Pending::new(RepositoryId::new(id).unwrap(), event, observed_at, false)
}

/// The outbox: pending events pass to the next term in id order, whole; handled or given
/// up, they are no longer pending and the table says which; a former holder records none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_events_pass_to_the_next_term_in_order_until_handled_or_given_up() {
    let cluster = Cluster::start();
    let database = database(&cluster, "outbox").await;
    let term = take(&database, "a").await;
    let store = PgStore::open(&term).await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut store = store;
        store.load().unwrap();
        assert!(store.load_pending().unwrap().is_empty());
        store
            .record_pending(&[pending(2, 5), pending(1, 7)])
            .unwrap();
        // Recorded again (a retry, a takeover observing it anew): one row, still pending.
        store
            .record_pending(&[pending(2, 5), pending(3, 1)])
            .unwrap();
    })
    .await
    .unwrap();
    let term = term.release().await.try_acquire().await.unwrap().unwrap();
    let store = PgStore::open(&term).await.unwrap();
    let store = tokio::task::spawn_blocking(move || {
        let mut store = store;
        store.load().unwrap();
        let loaded = store.load_pending().unwrap();
        let order: Vec<_> = loaded
            .iter()
            .map(|p| (p.repository_id.get(), p.seen()))
            .collect();
        assert_eq!(order, [(2, seen(5)), (1, seen(7)), (3, seen(1))]);
        let first = &loaded[0];
        let name = first
            .event
            .repository
            .as_ref()
            .and_then(|r| r.name.as_deref());
        assert_eq!(name, Some("repository 2"), "the whole event");
        assert_eq!(first.observed_at, pending(2, 5).observed_at);
        store
            .save_handled(&Default::default(), &[handled(2, 5)])
            .unwrap();
        let (one, seen) = (id(1), seen(7));
        store.give_up(&[Handled::new(one, seen)]).unwrap();
        store
    })
    .await
    .unwrap();
    assert_eq!(
        cluster.psql(
            "outbox",
            "SELECT repository_id, pending, handled_at IS NOT NULL, given_up_at IS NOT NULL
             FROM codearts_watch_events ORDER BY id"
        ),
        "2|f|t|f\n1|f|f|t\n3|t|f|f"
    );
    // Taken over: the former holder's records are refused, the pending one passes on.
    cluster.psql(
        "outbox",
        "UPDATE codearts_watch_lease SET expires_at = now()",
    );
    let current = take(&database, "b").await;
    let refused = tokio::task::spawn_blocking(move || {
        let mut store = store;
        store
            .record_pending(&[pending(4, 1)])
            .unwrap_err()
            .to_string()
    })
    .await
    .unwrap();
    assert!(refused.contains("lease was taken over"), "{refused}");
    let mut next = PgStore::open(&current).await.unwrap();
    let left: Vec<_> = next
        .load_pending()
        .unwrap()
        .iter()
        .map(|p| p.repository_id.get())
        .collect();
    assert_eq!(left, [3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_recorded_once_however_often_it_is_written() {
    let cluster = Cluster::start();
    let database = database(&cluster, "events").await;
    let term = take(&database, "a").await;
    let store = PgStore::open(&term).await.unwrap();
    let store = tokio::task::spawn_blocking(move || {
        let mut store = store;
        assert!(store.load().unwrap().is_empty());
        store
            .record_new(&[(id(1), seen(1)), (id(2), seen(1))])
            .unwrap();
        // A recording repeated (a retry) records nothing more.
        store.record_new(&[(id(1), seen(1))]).unwrap();
        // Handled in order, a repository twice in one save; then the same save again, as
        // after a failure whose commit did happen.
        let batch = [handled(1, 2), handled(2, 2), handled(1, 3)];
        store.save_handled(&Default::default(), &batch).unwrap();
        store.save_handled(&Default::default(), &batch).unwrap();
        // The baseline's event, handled (printed) later, is no new event.
        store
            .save_handled(&Default::default(), &[handled(2, 2)])
            .unwrap();
        store
    })
    .await
    .unwrap();
    assert_eq!(
        events(&cluster, "events"),
        [
            "1|01+08:00|t|1",
            "2|01+08:00|t|1",
            "1|02+08:00|f|1",
            "2|02+08:00|f|1",
            "1|03+08:00|f|1",
        ]
    );
    drop(store);
    // The next holder starts from the rows: the latest event of each repository.
    let next = term.release().await;
    let term = next.try_acquire().await.unwrap().unwrap();
    let mut store = PgStore::open(&term).await.unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.get(&id(1)), Some(&seen(3)));
    assert_eq!(loaded.get(&id(2)), Some(&seen(2)));
    // Ids increase in the order events were written.
    let ids = cluster.psql(
        "events",
        "SELECT string_agg(id::text, ',' ORDER BY id) FROM codearts_watch_events",
    );
    assert_eq!(ids, "1,2,3,4,5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_servers_certificate_and_name_and_no_error_shows_the_password() {
    let (ca_pem, cert_pem, key_pem) = certificates();
    let other_ca = certificates().0;
    let cluster = Cluster::start_tls(&cert_pem, &key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let other = dir.path().join("other.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    std::fs::write(&other, other_ca).unwrap();
    let url = |host: &str, root: &std::path::Path| {
        format!(
            "postgres://codearts:{}@{host}:{}/postgres?sslmode=verify-full&sslrootcert={}",
            cluster.password(),
            cluster.port(),
            root.display()
        )
    };
    // The certificate names localhost: reached by that name, with its CA, it is trusted.
    let trusted = Database::from_url(&url("localhost", &ca)).unwrap();
    migrate(&trusted).await.unwrap();
    // Another CA, or another name (the address, which the certificate does not name here):
    // refused, and the errors never quote the password.
    for (host, root) in [("localhost", &other), ("127.0.0.1", &ca)] {
        let database = Database::from_url(&url(host, root)).unwrap();
        let error = migrate(&database).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("cannot connect"), "{shown}");
        assert!(!shown.contains(cluster.password()), "{shown}");
    }
    // A wrong password is refused by the server, and not quoted either.
    let wrong = url("localhost", &ca).replace(cluster.password(), "not-the-password");
    let error = migrate(&Database::from_url(&wrong).unwrap())
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(!shown.contains("not-the-password"), "{shown}");
}

/// A CA, and a server certificate it signed for `localhost` only: (CA, certificate, key).
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_limiter_learned_passes_to_the_next_term_while_it_is_fresh() {
    let cluster = Cluster::start();
    let database = database(&cluster, "pacing").await;
    let mut pacing = Pacing::new(database.clone(), "default");
    assert_eq!(pacing.load().await.unwrap(), None);
    let first = take(&database, "a").await;
    let learned = Learned::new(Some(12.5), Some(50.0));
    assert!(pacing.save(first.epoch(), learned).await.unwrap());
    assert_eq!(pacing.load().await.unwrap(), Some(learned));
    // Taken over: the former term's save is refused, the new one's is kept.
    cluster.psql(
        "pacing",
        "UPDATE codearts_watch_lease SET expires_at = now()",
    );
    let second = take(&database, "b").await;
    let stale = Learned::new(Some(1.0), None);
    assert!(!pacing.save(first.epoch(), stale).await.unwrap());
    assert_eq!(pacing.load().await.unwrap(), Some(learned));
    assert!(pacing.save(second.epoch(), stale).await.unwrap());
    assert_eq!(pacing.load().await.unwrap(), Some(stale));
    // Older than an hour: a quota may have been raised since; not used.
    cluster.psql(
        "pacing",
        "UPDATE codearts_watch_pacing SET updated_at = now() - interval '61 minutes'",
    );
    assert_eq!(pacing.load().await.unwrap(), None);
}
