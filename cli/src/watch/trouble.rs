//! What the watch says on stderr when polls fail. A repository's own trouble gets one line
//! per change of state, whatever shared trouble came between; trouble that many repositories
//! share (throttling, an endpoint that does not answer, a service failing with 5xx) gets one
//! line that counts them, repeated at most once a minute while it lasts, and one line when
//! it is over. Each repository counts in the trouble it is in now: a change of kind moves it,
//! recovery removes it. Whatever the order of events between two ticks, a line names the
//! repository it is about: one said alone in a trouble gets its recovery (or its next state)
//! said when it happens, and a trouble that ends and returns within a tick gets both lines.

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
    /// The summary said was over at some moment since the last tick (with whether every
    /// repository answered then): its end is said even if the trouble came back since.
    over: Option<bool>,
}

/// The lines to print about failures, fed with the watch's items.
#[derive(Debug, Default)]
pub(super) struct Trouble {
    /// The shared trouble each repository is in now, and its last failure as one line.
    failing: HashMap<RepositoryId, (Shared, String)>,
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
            // Its own state is said again after a line of its shared trouble, changed or not.
            let was_said_alone = self
                .failing
                .remove(&id)
                .is_some_and(|(old, _)| self.leave(id, old));
            let state = error.status().unwrap_or(0);
            let changed = self.own.insert(id, state) != Some(state);
            return (changed || was_said_alone).then_some(line);
        };
        self.shared
            .entry(kind)
            .or_default()
            .example
            .clone_from(&line);
        match self.failing.insert(id, (kind, line)) {
            Some((old, _)) if old == kind => {}
            old => {
                // Moved from another trouble: it counts in the one it is in now only.
                if let Some((old, _)) = old {
                    self.leave(id, old);
                }
                self.shared.entry(kind).or_default().count += 1;
            }
        }
        None
    }

    /// A repository answers again: its line now if the last line about it was its own.
    pub(super) fn recovered(&mut self, id: RepositoryId) -> Option<String> {
        let own = self.own.remove(&id).is_some();
        let was_said_alone = self
            .failing
            .remove(&id)
            .is_some_and(|(kind, _)| self.leave(id, kind));
        (own || was_said_alone).then(|| format!("repository {id}: answering again"))
    }

    /// `id` has left `kind` (already out of `failing`): whether the last line said of that
    /// trouble was `id`'s own, which the caller follows with what `id` does now.
    fn leave(&mut self, id: RepositoryId, kind: Shared) -> bool {
        let everyone_answers = self.failing.is_empty();
        let Some(said) = self.shared.get_mut(&kind) else {
            return false;
        };
        said.count = said.count.saturating_sub(1);
        match said.said {
            Some((_, Some(alone))) if alone == id => {
                said.said = None;
                true
            }
            Some((_, None)) if said.count == 0 => {
                said.said = None;
                said.over = Some(everyone_answers);
                false
            }
            _ => false,
        }
    }

    /// The lines due now: the end of each summary that ended, and a summary of each shared
    /// trouble (or one repository's line while it is alone in it), repeated once a minute.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        for (kind, state) in &mut self.shared {
            match state.over.take() {
                Some(true) => {
                    lines.push(format!("{}: every repository answers again", kind.over()))
                }
                Some(false) => lines.push(format!(
                    "no repository {} any more; other trouble goes on",
                    kind.short()
                )),
                None => {}
            }
            match (state.count, state.said) {
                (1, None) => {
                    let alone = self
                        .failing
                        .iter()
                        .find(|(_, (k, _))| k == kind)
                        .map(|(id, (_, line))| (*id, line));
                    if let Some((id, line)) = alone {
                        lines.push(line.clone());
                        state.said = Some((now, Some(id)));
                    }
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

    enum Step {
        Fails(u32, u16),
        Answers(u32),
        /// A tick, this many seconds after the start.
        Tick(u64),
    }

    use Step::{Answers, Fails, Tick};

    /// The lines said along `steps`, in order.
    fn said(trouble: &mut Trouble, steps: &[Step]) -> Vec<String> {
        let start = Instant::now();
        let mut lines = Vec::new();
        for step in steps {
            match *step {
                Fails(n, code) => lines.extend(trouble.error(id(n), &status(code))),
                Answers(n) => lines.extend(trouble.recovered(id(n))),
                Tick(second) => lines.extend(trouble.tick(start + Duration::from_secs(second))),
            }
        }
        lines
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
        assert_eq!(
            trouble.recovered(id(7)).as_deref(),
            Some("repository 7: answering again")
        );
        assert!(trouble.tick(now + REPEAT * 3).is_empty(), "said once");
        // Its own answer (404) is said at once, as its recovery.
        assert!(trouble.error(id(8), &status(404)).is_some());
        assert_eq!(
            trouble.recovered(id(8)).as_deref(),
            Some("repository 8: answering again")
        );
    }

    /// Repository 1 alone in a 503 recovers and 2 fails before the next tick: 1's recovery
    /// and 2's failure are said, each under its own name.
    #[test]
    fn a_repository_taking_anothers_place_within_a_tick_is_named() {
        let mut trouble = Trouble::default();
        let lines = said(
            &mut trouble,
            &[
                Fails(1, 503),
                Tick(0),
                Answers(1),
                Fails(2, 503),
                Tick(1),
                Answers(2),
                Tick(2),
            ],
        );
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("repository 1: API error: HTTP 503"));
        assert_eq!(lines[1], "repository 1: answering again");
        assert!(lines[2].starts_with("repository 2: API error: HTTP 503"));
        assert_eq!(lines[3], "repository 2: answering again");
    }

    /// A 404 after a 503 is said, and is not followed by "answering again"; the 404 is said
    /// after a 503 line even when it was said before the 503.
    #[test]
    fn a_404_after_a_503_is_the_last_line_until_it_answers() {
        let mut trouble = Trouble::default();
        let lines = said(
            &mut trouble,
            &[
                Fails(1, 503),
                Tick(0),
                Fails(1, 404),
                Tick(1),
                Tick(2),
                Fails(1, 503),
                Tick(3),
                Fails(1, 404),
                Tick(4),
                Answers(1),
                Tick(5),
            ],
        );
        let codes: Vec<&str> = lines
            .iter()
            .map(|line| match line.strip_prefix("repository 1: ") {
                Some(rest) if rest.starts_with("API error: HTTP 503") => "503",
                Some(rest) if rest.starts_with("API error: HTTP 404") => "404",
                Some("answering again") => "answering",
                _ => line,
            })
            .collect();
        assert_eq!(
            codes,
            ["503", "404", "503", "404", "answering"],
            "{lines:?}"
        );
    }

    /// An outage that ends and returns between two ticks is said both ways: a repository's
    /// alone, and a summary of many.
    #[test]
    fn an_outage_that_ends_and_returns_within_a_tick_is_said_both_ways() {
        let mut trouble = Trouble::default();
        let lines = said(
            &mut trouble,
            &[Fails(1, 503), Tick(0), Answers(1), Fails(1, 503), Tick(1)],
        );
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("repository 1: API error: HTTP 503"));
        assert_eq!(lines[1], "repository 1: answering again");
        assert!(lines[2].starts_with("repository 1: API error: HTTP 503"));

        let mut trouble = Trouble::default();
        let mut steps: Vec<Step> = (1..=3).map(|n| Fails(n, 503)).collect();
        steps.push(Tick(0));
        steps.extend((1..=3).map(Answers));
        steps.extend((1..=3).map(|n| Fails(n, 503)));
        steps.push(Tick(1));
        let lines = said(&mut trouble, &steps);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("3 repositories failing on the service's side"));
        assert_eq!(
            lines[1],
            "the service no longer fails: every repository answers again"
        );
        assert!(lines[2].starts_with("3 repositories failing on the service's side"));
    }
}
