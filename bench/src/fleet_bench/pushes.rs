//! Pushes on the embedded server, each with a `created_at` of its own, so that the events
//! recorded can be matched with the pushes made.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use codearts_repo::{PushEvent, RepositoryId, Timestamp, server::Server};

/// The `n`-th second of January 2026.
pub fn created_at(n: u32) -> String {
    let (day, second) = (1 + n / 86_400, n % 86_400);
    let (hour, minute, second) = (second / 3600, second / 60 % 60, second % 60);
    format!("2026-01-{day:02}T{hour:02}:{minute:02}:{second:02}+08:00")
}

pub fn push_event(created_at: &str) -> PushEvent {
    PushEvent::builder()
        .ref_("main".to_owned())
        .created_at(Timestamp::from(created_at))
        .try_into()
        .unwrap()
}

/// A push made: (repository, created_at) and when.
#[derive(Clone)]
pub struct Push {
    pub id: u64,
    pub created_at: String,
    pub at: Instant,
}

/// Makes pushes on the server; the `created_at` 0 is the one it started with.
#[derive(Clone)]
pub struct Pusher {
    server: Arc<Server>,
    next: Arc<AtomicU32>,
}

impl Pusher {
    pub fn new(server: Server) -> Self {
        Self {
            server: Arc::new(server),
            next: Arc::new(AtomicU32::new(1)),
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.server.addr()
    }

    fn push(&self, id: u32) -> Push {
        let created_at = created_at(self.next.fetch_add(1, Ordering::Relaxed));
        self.server
            .set_push_event(RepositoryId::new(id).unwrap(), push_event(&created_at));
        Push {
            id: u64::from(id),
            created_at,
            at: Instant::now(),
        }
    }

    /// Pushes in the background, one every `every` on the repository `pick` gives, until
    /// stopped.
    pub fn pushing(
        &self,
        every: Duration,
        mut pick: impl FnMut(u64) -> u32 + Send + 'static,
    ) -> Pushing {
        let stop = Arc::new(AtomicBool::new(false));
        let (pusher, stopped) = (self.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut pushes = Vec::new();
            let start = Instant::now();
            for k in 0u64.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                pushes.push(pusher.push(pick(k)));
                // On a schedule from the start, so that a slow push does not slow the rate.
                let next = start + every.mul_f64((k + 1) as f64);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            pushes
        });
        Pushing { stop, thread }
    }
}

pub struct Pushing {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Push>>,
}

impl Pushing {
    /// Stops, and gives the pushes made.
    pub fn stop(self) -> Vec<Push> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the pushing thread")
    }
}
