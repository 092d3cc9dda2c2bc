//! A proxy in front of PostgreSQL that reads the frontend protocol and counts what clients
//! send: statements, round trips, prepared statements, connections and SQL texts.

use std::{
    collections::HashMap,
    net::SocketAddr,
    ops::{Add, Sub},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::proxy::proxy;

/// What clients sent through one database proxy.
#[derive(Default)]
pub struct Frontend {
    /// Execute ('E').
    execute: AtomicU64,
    /// Simple Query ('Q').
    query: AtomicU64,
    /// Sync ('S').
    sync: AtomicU64,
    /// Syncs that follow nothing but Close ('C'): a prepared statement dropped, whose answer
    /// the client does not wait for.
    close_sync: AtomicU64,
    /// Parse ('P'): statements prepared.
    parse: AtomicU64,
    /// Startup packets: connections made.
    connections: AtomicU64,
    /// How often each SQL text was sent in a Parse or a Query (its first words).
    texts: Mutex<HashMap<String, u64>>,
}

/// A [`Frontend`]'s counts at one time.
#[derive(Clone, Copy, Default)]
pub struct FrontendCounts {
    /// Execute and simple Query.
    pub statements: u64,
    /// Sync and simple Query.
    pub round_trips: u64,
    pub close_syncs: u64,
    pub parses: u64,
    pub connections: u64,
}

impl Add for FrontendCounts {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            statements: self.statements + other.statements,
            round_trips: self.round_trips + other.round_trips,
            close_syncs: self.close_syncs + other.close_syncs,
            parses: self.parses + other.parses,
            connections: self.connections + other.connections,
        }
    }
}

impl Sub for FrontendCounts {
    type Output = Self;

    fn sub(self, earlier: Self) -> Self {
        Self {
            statements: self.statements - earlier.statements,
            round_trips: self.round_trips - earlier.round_trips,
            close_syncs: self.close_syncs - earlier.close_syncs,
            parses: self.parses - earlier.parses,
            connections: self.connections - earlier.connections,
        }
    }
}

impl Frontend {
    /// A proxy to the PostgreSQL server on `port` that counts into a new `Frontend`, and the
    /// proxy's port.
    pub fn proxy(port: u16) -> Result<(Arc<Self>, u16), String> {
        let frontend = Arc::new(Self::default());
        let counts = frontend.clone();
        let address = proxy(SocketAddr::from(([127, 0, 0, 1], port)), move || {
            let mut reader = FrontendReader::new(counts.clone());
            move |data: &[u8]| reader.feed(data)
        })?;
        Ok((frontend, address.port()))
    }

    fn counts(&self) -> FrontendCounts {
        let [execute, query, sync, close_syncs, parses, connections] = [
            &self.execute,
            &self.query,
            &self.sync,
            &self.close_sync,
            &self.parse,
            &self.connections,
        ]
        .map(|counter| counter.load(Ordering::Relaxed));
        FrontendCounts {
            statements: execute + query,
            round_trips: sync + query,
            close_syncs,
            parses,
            connections,
        }
    }
}

/// The counts of all of `frontends` together.
pub fn counts(frontends: &[Arc<Frontend>]) -> FrontendCounts {
    frontends
        .iter()
        .map(|f| f.counts())
        .fold(FrontendCounts::default(), Add::add)
}

/// The SQL texts of all of `frontends` together, and how often each was sent.
pub fn texts(frontends: &[Arc<Frontend>]) -> HashMap<String, u64> {
    let mut texts = HashMap::new();
    for frontend in frontends {
        for (text, n) in frontend.texts.lock().unwrap().iter() {
            *texts.entry(text.clone()).or_default() += n;
        }
    }
    texts
}

/// The client→server stream of one connection: an untyped startup packet (length with
/// itself, then the payload; SSLRequest and GSSENCRequest are 8 bytes and another startup
/// packet follows), then messages of a type byte and a big-endian length with itself.
struct FrontendReader {
    counts: Arc<Frontend>,
    started: bool,
    header: Vec<u8>,
    /// Bytes of the current message still to pass.
    skip: usize,
    /// The current message's body, kept for Parse and Query.
    body: Option<(u8, Vec<u8>)>,
    /// Since the last Sync: a Close, and anything else.
    closed: bool,
    other: bool,
}

impl FrontendReader {
    const SSL_REQUEST: u32 = 80_877_103;
    const GSSENC_REQUEST: u32 = 80_877_104;

    fn new(counts: Arc<Frontend>) -> Self {
        Self {
            counts,
            started: false,
            header: Vec::with_capacity(8),
            skip: 0,
            body: None,
            closed: false,
            other: false,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                if let Some((_, body)) = &mut self.body {
                    body.extend_from_slice(&data[..n]);
                }
                self.skip -= n;
                data = &data[n..];
                if self.skip == 0 {
                    self.ended();
                }
                continue;
            }
            let wanted = if self.started { 5 } else { 8 };
            let n = (wanted - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() < wanted {
                return;
            }
            let word = |at: usize| {
                u32::from_be_bytes(self.header[at..at + 4].try_into().unwrap()) as usize
            };
            if self.started {
                let (kind, length) = (self.header[0], word(1));
                self.count(kind);
                self.skip = length.saturating_sub(4);
                if matches!(kind, b'P' | b'Q') {
                    self.body = Some((kind, Vec::new()));
                }
            } else {
                let (length, code) = (word(0), word(4) as u32);
                if code != Self::SSL_REQUEST && code != Self::GSSENC_REQUEST {
                    self.started = true;
                    self.counts.connections.fetch_add(1, Ordering::Relaxed);
                }
                self.skip = length.saturating_sub(8);
            }
            self.header.clear();
            if self.skip == 0 {
                self.ended();
            }
        }
    }

    /// A message of type `kind` begins.
    fn count(&mut self, kind: u8) {
        let counts = &self.counts;
        let counter = match kind {
            b'E' => Some(&counts.execute),
            b'Q' => Some(&counts.query),
            b'S' => Some(&counts.sync),
            b'P' => Some(&counts.parse),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        match kind {
            b'S' => {
                if self.closed && !self.other {
                    counts.close_sync.fetch_add(1, Ordering::Relaxed);
                }
                (self.closed, self.other) = (false, false);
            }
            b'C' => self.closed = true,
            _ => self.other = true,
        }
    }

    /// The end of a message: a Parse's or a Query's SQL is counted by its first words.
    fn ended(&mut self) {
        let Some((kind, body)) = self.body.take() else {
            return;
        };
        // Parse: the statement's name, then the SQL; Query: the SQL. Both NUL-terminated.
        let mut strings = body.split(|b| *b == 0);
        if kind == b'P' {
            strings.next();
        }
        let sql = String::from_utf8_lossy(strings.next().unwrap_or_default());
        let mut text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.len() > 70 {
            let mut end = 70;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        let text = format!("{} {text}", if kind == b'P' { "prepare" } else { "query" });
        *self.counts.texts.lock().unwrap().entry(text).or_default() += 1;
    }
}
