//! `/metrics`: one scrape's figures in the OpenMetrics text format, which Prometheus reads.

use std::collections::BTreeMap;

use codearts_repo::{drift::Drift, watch::WatchStats};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use super::listen::{Fleet, database_trouble};

/// One scrape's figures.
#[derive(Debug)]
pub(super) struct Figures(
    pub(super) WatchStats,
    pub(super) Option<Fleet>,
    pub(super) Option<super::deliver::Figures>,
);

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let stats = &self.0;
        if let Some(fleet) = &self.1 {
            gauge(
                &mut encoder,
                "active",
                "1 while this replica is the fleet's active watcher, 0 while it stands by.",
                f64::from(u8::from(fleet.leading.is_some())),
            )?;
            let up = database_trouble(fleet).is_none();
            gauge(
                &mut encoder,
                "database_up",
                "1 while the database answers within the lease's length.",
                f64::from(u8::from(up)),
            )?;
        }
        if let Some(deliveries) = &self.2 {
            family(
                &mut encoder,
                (
                    "deliveries",
                    "Delivery attempts to the receiver, by outcome: delivered (2xx), retried \
                     (5xx, 408, 429, no answer), refused (any other 4xx, not retried).",
                ),
                "outcome",
                [
                    ("delivered", deliveries.delivered),
                    ("retried", deliveries.retried),
                    ("refused", deliveries.refused),
                ]
                .map(|(outcome, n)| (outcome, ConstCounter::new(n))),
            )?;
            gauge(
                &mut encoder,
                "delivery_backlog",
                "Deliveries waiting for the receiver (at most one per repository).",
                deliveries.backlog() as f64,
            )?;
            gauge(
                &mut encoder,
                "delivery_oldest_waiting_seconds",
                "How long the oldest delivery waiting has waited (0 when none waits).",
                deliveries.oldest(std::time::Instant::now()).as_secs_f64(),
            )?;
        }
        counter(&mut encoder, "polls", "Polls finished.", stats.polls)?;
        counter(
            &mut encoder,
            "pushes",
            "New pushes found (baselines not counted).",
            stats.pushes,
        )?;
        counter(
            &mut encoder,
            "throttled_answers",
            "Answers 429 (throttled), retries included.",
            stats.throttled_answers,
        )?;
        counter(
            &mut encoder,
            "retries_refused",
            "Polls not retried because the client's retry budget was spent.",
            stats.failures.budget_spent,
        )?;
        if let Some(rate) = stats.allowed_rate {
            gauge(
                &mut encoder,
                "allowed_rate",
                "Requests per second the rate limiter allows now.",
                rate,
            )?;
        }
        if let Some(round) = stats.round.mean() {
            gauge(
                &mut encoder,
                "round_seconds",
                "The time between two polls of a repository (recent mean).",
                round.as_secs_f64(),
            )?;
        }
        let failures = stats.failures;
        family(
            &mut encoder,
            (
                "poll_failures",
                "Polls that failed, by class: 4xx, 5xx, transport (no answer), other.",
            ),
            "class",
            [
                ("4xx", failures.status_4xx),
                ("5xx", failures.status_5xx),
                ("transport", failures.transport),
                ("other", failures.other),
            ]
            .map(|(class, n)| (class, ConstCounter::new(n))),
        )?;
        let states = stats.repositories;
        family(
            &mut encoder,
            ("repositories", "Repositories watched, by state."),
            "state",
            [
                ("unseen", states.unseen),
                ("ok", states.ok),
                ("answering_error", states.answering_error),
                ("backing_off", states.backing_off),
            ]
            .map(|(state, n)| (state, ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)))),
        )?;
        // The encoder takes each bucket's own count and accumulates them itself.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = stats
            .lag
            .buckets()
            .map(|(bound, cumulative)| {
                let bound = if bound == std::time::Duration::MAX {
                    f64::INFINITY
                } else {
                    bound.as_secs_f64()
                };
                let own = cumulative - below;
                below = cumulative;
                (bound, own)
            })
            .collect();
        encoder
            .encode_descriptor(
                "poll_lag_seconds",
                "How late polls started after their scheduled time.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                stats.lag.sum().as_secs_f64(),
                stats.lag.count(),
                &buckets,
                None,
            )?;
        drift(&mut encoder, &stats.drift)?;
        counter(
            &mut encoder,
            "state_writes",
            "State file writes that succeeded.",
            stats.state_saves,
        )?;
        counter(
            &mut encoder,
            "state_write_failures",
            "State file writes that failed.",
            stats.state_save_failures,
        )
    }
}

/// `drift_total{operation,kind}`: every time an answer held it. Described even before any
/// drift, so that an alert on it finds the family.
fn drift(encoder: &mut DescriptorEncoder, drift: &[Drift]) -> std::fmt::Result {
    let mut totals: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for d in drift {
        *totals.entry((d.operation, d.kind.name())).or_default() += d.times;
    }
    let mut family = encoder.encode_descriptor(
        "drift",
        "Answers' differences from the spec, by operation and kind (codearts check-spec says \
         which edit they call for).",
        None,
        MetricType::Counter,
    )?;
    for ((operation, kind), n) in totals {
        ConstCounter::new(n)
            .encode(family.encode_family(&[("operation", operation), ("kind", kind)])?)?;
    }
    Ok(())
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, n: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(n);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// One metric per value of `label`.
fn family<M: EncodeMetric, const N: usize>(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    label: &str,
    members: [(&str, M); N],
) -> std::fmt::Result {
    let Some(kind) = members.first().map(|(_, metric)| metric.metric_type()) else {
        return Ok(());
    };
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, metric) in &members {
        metric.encode(family.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}
