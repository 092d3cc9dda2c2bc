//! The global options that each command uses: one given to a command that would ignore it is
//! refused, so that the command never seems to honour what it does not.

use clap::{ArgMatches, parser::ValueSource};

use crate::error::{CliError, Result};

/// Every global option (by its id); the two operations use them all.
const ALL: &[&str] = &[
    "endpoint",
    "region",
    "project_id",
    "output",
    "timeout",
    "max_attempts",
    "allow_http",
    "ca_file",
];

/// The global options (by their ids) that `command` uses.
fn used_by(command: &str, once: bool) -> &'static [&'static str] {
    const WATCH: &[&str] = &["endpoint", "region", "timeout", "allow_http", "ca_file"];
    // A one-shot watch makes one call per repository: its attempts are the user's.
    const WATCH_ONCE: &[&str] = &[
        "endpoint",
        "region",
        "timeout",
        "max_attempts",
        "allow_http",
        "ca_file",
    ];
    match command {
        "push-event" | "commits" => ALL,
        "watch" if once => WATCH_ONCE,
        "watch" => WATCH,
        // The demo runs against its own server, with its own endpoint and credentials.
        "demo" => &["output", "timeout", "max_attempts"],
        "spec-diff" | "release-gate" => &["output"],
        _ => &[],
    }
}

/// Refuses a global option given on the command line to a command that does not use it.
pub(crate) fn check(matches: &ArgMatches) -> Result<()> {
    let Some((command, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let once = sub.try_get_one::<bool>("once").ok().flatten() == Some(&true);
    let used = used_by(command, once);
    for &option in ALL {
        let given = [matches, sub]
            .iter()
            .any(|m| m.value_source(option) == Some(ValueSource::CommandLine));
        if given && !used.contains(&option) {
            let flag = format!("--{}", option.replace('_', "-"));
            let why = match (command, option) {
                ("watch", "max_attempts") => {
                    "; the watch backs off by itself (with --once, it applies)"
                }
                ("watch", "output") => "; the watch prints one JSON object per line",
                ("watch", "project_id") => "; the watch polls push events, which need none",
                ("demo", _) => "; the demo runs against its own embedded server",
                _ => "",
            };
            return Err(CliError::Input(format!(
                "{flag} does not apply to `{command}`{why}"
            )));
        }
    }
    Ok(())
}
