//! What the watch says on stderr when polls fail. A repository's own trouble gets one line
//! per change of state, whatever shared trouble came between; trouble that many repositories
//! share (throttling, an endpoint that does not answer, a service failing with 5xx) gets one
//! line that counts them, repeated at most once a minute while it lasts, and one line when
//! it is over. Each repository counts in the trouble it is in now: a change of kind moves it,
//! recovery removes it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use codearts_repo::{Error, RepositoryId};

/// How often a summary is repeated while its trouble lasts.
const REPEAT: Duration = Duration::from_secs(60);

/// Trouble that is the account's or the service's rather than one repository's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Shared {
    Throttled,
    Unreachable,
    ServerError,
}

impl Shared {
    fn of(error: &Error) -> Option<Self> {
        match (error.status(), error) {
            (Some(429), _) => Some(Self::Throttled),
            (Some(500..=599), _) => Some(Self::ServerError),
            (None, Error::Transport { .. }) => Some(Self::Unreachable),
            _ => None,
        }
    }

    fn failing(self) -> &'static str {
        match self {
            Self::Throttled => {
                "throttled by the service (429: the account's quota), polled again as the \
                 watch slows down to what the account accepts"
            }
            Self::Unreachable => "getting no answer from the service, retrying with backoff",
            Self::ServerError => "failing on the service's side (5xx), retrying with backoff",
        }
    }

    /// The trouble in a few words, for the line saying that no repository is in it any more.
    fn short(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Unreachable => "getting no answer from the service",
            Self::ServerError => "failing on the service's side (5xx)",
        }
    }

    fn over(self) -> &'static str {
        match self {
            Self::Throttled => "no longer throttled",
            Self::Unreachable => "the service answers again",
            Self::ServerError => "the service no longer fails",
        }
    }
}

#[derive(Debug, Default)]
struct Said {
    /// Repositories in this trouble now.
    count: usize,
    /// The last failure seen, as one line.
    example: String,
    /// When it was last said, and whether as one repository's line rather than a summary.
    said: Option<(Instant, Option<RepositoryId>)>,
}

/// The lines to print about failures, fed with the watch's items.
#[derive(Debug, Default)]
pub(super) struct Trouble {
    failing: HashMap<RepositoryId, Shared>,
    shared: HashMap<Shared, Said>,
    /// The repository's own state last said (the status of the answer it keeps giving, 0
    /// without one), kept through shared trouble: said again only when it changes.
    own: HashMap<RepositoryId, u16>,
}

impl Trouble {
    /// A failed poll: its line now, or nothing when it is shared trouble (see [`Self::tick`]).
    pub(super) fn error(&mut self, id: RepositoryId, error: &Error) -> Option<String> {
        let line = format!("repository {id}: {error}");
        let Some(kind) = Shared::of(error) else {
            self.leave(id);
            let state = error.status().unwrap_or(0);
            return (self.own.insert(id, state) != Some(state)).then_some(line);
        };
        match self.failing.insert(id, kind) {
            Some(old) if old == kind => {}
            old => {
                // Moved from another trouble: it counts in the one it is in now only.
                if let Some(said) = old.and_then(|old| self.shared.get_mut(&old)) {
                    said.count = said.count.saturating_sub(1);
                }
                self.shared.entry(kind).or_default().count += 1;
            }
        }
        self.shared.entry(kind).or_default().example = line;
        None
    }

    /// A repository answers again: its line now if its trouble was its own.
    pub(super) fn recovered(&mut self, id: RepositoryId) -> Option<String> {
        let own = self.own.remove(&id);
        match self.leave(id) {
            Some(_) if own.is_none() => None,
            _ => Some(format!("repository {id}: answering again")),
        }
    }

    fn leave(&mut self, id: RepositoryId) -> Option<Shared> {
        let kind = self.failing.remove(&id)?;
        if let Some(said) = self.shared.get_mut(&kind) {
            said.count = said.count.saturating_sub(1);
        }
        Some(kind)
    }

    /// The lines due now: a summary of each shared trouble (or one repository's line while
    /// it is alone in it), repeated once a minute, and the end of each.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        let everyone_answers = self.failing.is_empty();
        for (kind, state) in &mut self.shared {
            match (state.count, state.said) {
                (0, Some((_, Some(alone)))) => {
                    // Moved to other trouble, it gets that trouble's line instead.
                    if !self.failing.contains_key(&alone) {
                        lines.push(format!("repository {alone}: answering again"));
                    }
                    state.said = None;
                }
                (0, Some((_, None))) if everyone_answers => {
                    lines.push(format!("{}: every repository answers again", kind.over()));
                    state.said = None;
                }
                (0, Some((_, None))) => {
                    lines.push(format!(
                        "no repository {} any more; other trouble goes on",
                        kind.short()
                    ));
                    state.said = None;
                }
                (1, None) => {
                    let alone = self
                        .failing
                        .iter()
                        .find_map(|(id, k)| (k == kind).then_some(*id));
                    lines.push(state.example.clone());
                    state.said = Some((now, alone));
                }
                (2.., said)
                    if said.is_none_or(|(at, alone)| {
                        alone.is_some() || now.duration_since(at) >= REPEAT
                    }) =>
                {
                    lines.push(format!(
                        "{} repositories {} (last: {}); said again once a minute while it lasts",
                        state.count,
                        kind.failing(),
                        state.example
                    ));
                    state.said = Some((now, None));
                }
                _ => {}
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use codearts_repo::ApiError;

    use super::*;

    fn id(n: u32) -> RepositoryId {
        RepositoryId::new(n).unwrap()
    }

    fn status(code: u16) -> Error {
        ApiError::from_body(code, None, b"{\"error_code\":\"X\",\"error_msg\":\"m\"}").into()
    }

    #[test]
    fn an_outage_of_many_is_one_line_a_minute_and_its_end_one_more() {
        let mut trouble = Trouble::default();
        let start = Instant::now();
        for round in 0..3 {
            for n in 1..=500 {
                assert_eq!(trouble.error(id(n), &status(503)), None);
            }
            let lines = trouble.tick(start + Duration::from_secs(20 * round));
            assert_eq!(lines.len(), usize::from(round == 0), "{lines:?}");
        }
        let again = trouble.tick(start + Duration::from_secs(61));
        assert_eq!(again.len(), 1);
        assert!(again[0].starts_with("500 repositories failing on the service's side"));
        for n in 1..=500 {
            assert_eq!(trouble.recovered(id(n)), None);
        }
        assert_eq!(
            trouble.tick(start + Duration::from_secs(62)),
            ["the service no longer fails: every repository answers again"]
        );
        assert!(trouble.tick(start + Duration::from_secs(200)).is_empty());
    }

    /// 503s, then 429s, then recovery: each repository counts in its current trouble only,
    /// and once every one answers no summary is said again.
    #[test]
    fn a_change_of_trouble_moves_the_count_and_recovery_ends_every_summary() {
        let mut trouble = Trouble::default();
        let start = Instant::now();
        for n in 1..=16 {
            trouble.error(id(n), &status(503));
        }
        let lines = trouble.tick(start);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("16 repositories failing on the service's side (5xx)"));
        for n in 1..=16 {
            trouble.error(id(n), &status(429));
        }
        let mut lines = trouble.tick(start + Duration::from_secs(1));
        lines.sort();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("16 repositories throttled by the service"));
        assert_eq!(
            lines[1],
            "no repository failing on the service's side (5xx) any more; other trouble goes on"
        );
        for n in 1..=16 {
            assert_eq!(trouble.recovered(id(n)), None);
        }
        assert_eq!(
            trouble.tick(start + Duration::from_secs(2)),
            ["no longer throttled: every repository answers again"]
        );
        for later in [61, 62, 200] {
            let lines = trouble.tick(start + Duration::from_secs(later));
            assert!(lines.is_empty(), "{later}s: {lines:?}");
        }
    }

    /// A 404 is said once, however many 429s come between two of its polls; said again only
    /// once it changed (answering again, then missing again).
    #[test]
    fn a_repositorys_own_state_is_said_once_whatever_shared_trouble_comes_between() {
        let mut trouble = Trouble::default();
        let now = Instant::now();
        assert!(trouble.error(id(8), &status(404)).is_some());
        for _ in 0..5 {
            assert_eq!(trouble.error(id(8), &status(429)), None);
            assert_eq!(trouble.error(id(8), &status(404)), None, "said already");
        }
        // Each 429 was its own, alone: the lines of shared trouble say it, not the 404's.
        trouble.tick(now);
        let forbidden = trouble.error(id(8), &status(403)).unwrap_or_default();
        assert!(
            forbidden.starts_with("repository 8: API error: HTTP 403"),
            "{forbidden}"
        );
        assert_eq!(
            trouble.recovered(id(8)).as_deref(),
            Some("repository 8: answering again")
        );
        assert!(trouble.error(id(8), &status(404)).is_some(), "a new change");
    }

    #[test]
    fn one_repository_in_trouble_gets_its_own_lines() {
        let mut trouble = Trouble::default();
        let now = Instant::now();
        assert_eq!(trouble.error(id(7), &status(500)), None);
        let lines = trouble.tick(now);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("repository 7: API error: HTTP 500"),
            "{lines:?}"
        );
        trouble.error(id(7), &status(500));
        assert!(trouble.tick(now + REPEAT * 2).is_empty(), "said once");
        trouble.recovered(id(7));
        assert_eq!(trouble.tick(now), ["repository 7: answering again"]);
        // Its own answer (404) is said at once, as its recovery.
        assert!(trouble.error(id(8), &status(404)).is_some());
        assert_eq!(
            trouble.recovered(id(8)).as_deref(),
            Some("repository 8: answering again")
        );
    }
}
