//! The figures on stdout, part by part, each part adding its rows to the table to paste into
//! a README.

use crate::{
    AFTER_TAKEOVER, clock,
    load::{LoadFigures, LoadRound},
    proc_cpu::percent,
    stats::median,
    takeover::{TakeoverFigures, burst},
};

/// (figure, value) rows.
pub type Table = Vec<(String, String)>;

pub fn takeovers(t: &TakeoverFigures, table: &mut Table) {
    let seconds: Vec<f64> = t.runs.iter().map(|r| r.seconds()).collect();
    let max = seconds.iter().copied().fold(0.0, f64::max);
    let lease = humantime::format_duration(t.lease);
    let interval = humantime::format_duration(t.interval);
    println!();
    println!(
        "1. Takeover after kill -9 of the active replica ({} replicas, lease {lease}, {} repositories every {interval}):",
        t.replicas, t.repositories
    );
    for (i, r) in t.runs.iter().enumerate() {
        println!(
            "   run {}: {} killed at {:.2}s, {} polled {:.2} s later",
            i + 1,
            r.from,
            clock(r.killed),
            r.to,
            r.seconds()
        );
    }
    let med = median(seconds.clone());
    println!(
        "   takeover time: median {med:.2} s, max {max:.2} s over {} runs (bound: lease + 1 s standby period = {:.0} s, plus the first request)",
        seconds.len(),
        t.lease.as_secs_f64() + 1.0
    );
    table.push((
        format!(
            "Takeover after `kill -9` of the active replica (lease {lease}, {} runs)",
            seconds.len()
        ),
        format!("median {med:.1} s, max {max:.1} s"),
    ));

    let e = &t.events;
    println!();
    println!("2. Events in codearts_watch_events against the pushes made during the takeovers:");
    println!("   pushes made:             {}", t.pushes);
    println!("   lost (never recorded):   {}", e.lost.len());
    println!("   duplicated (extra rows): {}", e.duplicated);
    println!("   invented (not pushed):   {}", e.invented.len());
    println!(
        "   baseline rows:           {} (one per repository: {})",
        e.baselines, t.repositories
    );
    println!(
        "   printed on stdout at least once: {} of {}",
        e.printed, t.pushes
    );
    println!(
        "   printed more than once (after a kill, allowed): {}",
        e.printed_twice
    );
    println!(
        "   switches between pollers: {} for {} lease epochs (fewer switches than epochs: never two at once)",
        t.switches, t.epochs
    );
    for push in e.lost.iter().take(20) {
        println!(
            "   lost: repository {} created_at {} pushed at {:.2}s",
            push.id,
            push.created_at,
            clock(push.at)
        );
    }
    for ((id, created), count) in e.duplicates.iter().take(20) {
        println!("   duplicated: repository {id} created_at {created}: {count} rows");
    }
    for (id, created) in e.invented.iter().take(20) {
        println!("   invented: repository {id} created_at {created}");
    }
    table.push((
        format!(
            "Events lost / duplicated in the table ({} pushes through the takeovers)",
            t.pushes
        ),
        format!("{} / {}", e.lost.len(), e.duplicated),
    ));
    table.push((
        "Pushes printed on stdout at least once".into(),
        format!("{} of {}", e.printed, t.pushes),
    ));

    let steady = t.steady_median();
    let expected = f64::from(t.repositories) / t.interval.as_secs_f64();
    let after = AFTER_TAKEOVER.as_secs();
    println!();
    println!("3. Requests per second to the service (all replicas' proxies, 1-s buckets):");
    println!(
        "   steady state: median {steady:.0} req/s over {} buckets (min {}, max {}; {} repositories / {interval} = {expected:.0} req/s)",
        t.steady.len(),
        t.steady.iter().min().unwrap_or(&0),
        t.steady.iter().max().unwrap_or(&0),
        t.repositories,
    );
    for (i, r) in t.runs.iter().enumerate() {
        println!(
            "   failover {}: from the kill to {after} s after the takeover ({:.1} s): {} requests; largest 1-s bucket after the takeover {} req/s",
            i + 1,
            (r.taken + AFTER_TAKEOVER - r.killed).as_secs_f64(),
            r.window_total,
            r.peak
        );
    }
    let peak = t.runs.iter().map(|r| r.peak).max().unwrap_or(0);
    let totals: Vec<f64> = t.runs.iter().map(|r| r.window_total as f64).collect();
    println!(
        "   failover windows: largest 1-s bucket {peak} req/s (steady median {steady:.0}); requests per window median {:.0} (a steady {after} s would be {:.0})",
        median(totals),
        steady * AFTER_TAKEOVER.as_secs_f64()
    );
    table.push((
        format!(
            "Requests/s to the service, steady ({} repositories / {interval})",
            t.repositories
        ),
        format!("median {steady:.0}"),
    ));
    table.push((
        format!(
            "Requests/s to the service, failover (largest 1-s bucket within {after} s after a takeover)"
        ),
        match burst(peak, steady) {
            true => format!("{peak} (a burst)"),
            false => format!("{peak} (no burst)"),
        },
    ));
    if !t.lingering.is_empty() {
        println!();
        for line in &t.lingering {
            println!("   note: {line}");
        }
    }
    for warning in &t.warnings {
        println!("   WARNING: {warning}");
    }
}

pub fn load(l: &LoadFigures, table: &mut Table) {
    let rounds = &l.database;
    let m = |f: &dyn Fn(&LoadRound) -> f64| median(rounds.iter().map(f).collect());
    let per_poll = |n: u64, r: &LoadRound| n as f64 / r.polls.max(1) as f64;
    let polls_s = m(&|r| r.polls as f64 / r.seconds);
    let statements_poll = m(&|r| per_poll(r.active.statements, r));
    let trips_poll = m(&|r| per_poll(r.active.round_trips, r));
    let statements_s = m(&|r| r.active.statements as f64 / r.seconds);
    let trips_s = m(&|r| r.active.round_trips as f64 / r.seconds);
    let parses_s = m(&|r| r.active.parses as f64 / r.seconds);
    let connections_s = m(&|r| r.active.connections as f64 / r.seconds);
    let close_syncs_s = m(&|r| r.active.close_syncs as f64 / r.seconds);
    let waited_poll = m(&|r| per_poll(r.active.round_trips - r.active.close_syncs, r));
    let per_standby = |n: u64, r: &LoadRound| n as f64 / r.seconds / l.standbys.max(1) as f64;
    let standby_statements_s = m(&|r| per_standby(r.standbys.statements, r));
    let standby_trips_s = m(&|r| per_standby(r.standbys.round_trips, r));
    let watch_cpus: Vec<f64> = rounds
        .iter()
        .map(|r| percent(r.active_ticks, r.seconds))
        .collect();
    let server_cpus: Vec<f64> = rounds
        .iter()
        .map(|r| percent(r.server_ticks, r.seconds))
        .collect();
    let state_cpus: Vec<f64> = l
        .state
        .iter()
        .map(|s| percent(s.ticks, s.seconds))
        .collect();
    let watch_cpu = median(watch_cpus.clone());
    let server_cpu = median(server_cpus.clone());
    let state_cpu = median(state_cpus.clone());
    let state_polls = median(l.state.iter().map(|s| s.polls as f64 / s.seconds).collect());
    let load = format!(
        "{} repositories / {}, {} pushes/s",
        l.repositories,
        humantime::format_duration(l.interval),
        l.pushes_per_s
    );
    println!();
    println!(
        "4. Database statements and round trips ({load}; medians of {} windows of {}):",
        rounds.len(),
        humantime::format_duration(l.window)
    );
    println!("   active replica: {polls_s:.1} polls/s");
    println!(
        "   active replica: {statements_poll:.4} statements per poll, {trips_poll:.4} round trips per poll"
    );
    println!(
        "   active replica: {statements_s:.2} statements/s, {trips_s:.2} round trips/s ({parses_s:.2} Parse/s, {connections_s:.2} new connections/s)"
    );
    println!(
        "   of the round trips, {close_syncs_s:.2}/s are a Close+Sync of a dropped prepared statement, not waited for: {waited_poll:.4} waited round trips per poll"
    );
    println!(
        "   each standby ({}): {standby_statements_s:.2} statements/s, {standby_trips_s:.2} round trips/s",
        l.standbys
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "   window {}: {:.1} s, {} polls, active {} statements / {} round trips, standbys {} / {}",
            i + 1,
            r.seconds,
            r.polls,
            r.active.statements,
            r.active.round_trips,
            r.standbys.statements,
            r.standbys.round_trips
        );
    }
    let (active_texts, standby_texts) = &l.texts;
    println!("   SQL prepared (Parse) or queried (simple Query) per second, active replica:");
    for (text, rate) in active_texts.iter().take(12) {
        println!("     {rate:7.2}/s  {text}");
    }
    println!("   the same, per standby:");
    for (text, rate) in standby_texts.iter().take(6) {
        println!("     {rate:7.2}/s  {text}");
    }

    println!();
    println!(
        "5. CPU ({load}; % of one core; medians of {} windows):",
        rounds.len()
    );
    println!(
        "   codearts watch --database (active replica): {watch_cpu:.1}% (windows: {})",
        listed(&watch_cpus)
    );
    println!(
        "   codearts watch --state FILE (alone):        {state_cpu:.1}% (windows: {}; {state_polls:.1} polls/s)",
        listed(&state_cpus)
    );
    // The windows' spread tells a difference from noise (a tick is 10 ms of CPU).
    let noise = spread(&watch_cpus).max(spread(&state_cpus));
    let share = watch_cpu - state_cpu;
    let measurable = share.abs() > noise;
    println!(
        "   the database's share of the watch's CPU (--database minus --state): {share:+.1} points of a core ({}; the windows spread over {noise:.1} points)",
        match (measurable, share > 0.0) {
            (true, true) => format!(
                "{:.0}% of the --database watch's CPU",
                share / watch_cpu * 100.0
            ),
            (true, false) => "the --database watch used less CPU than the --state one".to_owned(),
            (false, _) => "within the noise: no measurable difference".to_owned(),
        }
    );
    println!(
        "     (the --state watch rewrites its whole file, every repository's entry, in each second with a change; the --database one writes only the changed rows)"
    );
    println!(
        "   PostgreSQL server (postmaster and its children, the standbys' queries included): {server_cpu:.1}% (windows: {})",
        listed(&server_cpus)
    );
    for warning in &l.warnings {
        println!("   WARNING: {warning}");
    }
    table.push((
        format!("DB statements per poll, active replica ({load})"),
        format!("{statements_poll:.3} ({statements_s:.1}/s)"),
    ));
    table.push((
        "DB round trips per poll, active replica".into(),
        format!("{trips_poll:.3} ({trips_s:.1}/s)"),
    ));
    table.push((
        "DB statements/s, round trips/s per standby".into(),
        format!("{standby_statements_s:.1}, {standby_trips_s:.1}"),
    ));
    table.push((
        format!(
            "Watch CPU at {} repositories: `--database` / `--state`",
            l.repositories
        ),
        format!("{watch_cpu:.1}% / {state_cpu:.1}% of a core"),
    ));
    table.push((
        "The database's share of the watch's CPU (`--database` minus `--state`)".into(),
        match measurable {
            true => format!("{share:+.1} points of a core"),
            false => format!("{share:+.1} points of a core: within the noise ({noise:.1})"),
        },
    ));
    table.push((
        "PostgreSQL server CPU (all replicas' queries)".into(),
        format!("{server_cpu:.1}% of a core"),
    ));
}

/// Each window's CPU, as the report lists them.
fn listed(percents: &[f64]) -> String {
    let listed: Vec<String> = percents.iter().map(|p| format!("{p:.1}%")).collect();
    listed.join(", ")
}

fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    max - min
}
