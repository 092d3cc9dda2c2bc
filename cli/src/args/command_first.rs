//! Options written before the command.

use std::ffi::OsString;

use clap::CommandFactory;

use super::Cli;

/// Options given before the command are the command's: `codearts --endpoint URL push-event 1`
/// is `codearts push-event --endpoint URL 1`, as the README writes it.
///
/// Which options take a value is read from clap's own definitions of each command, so that an
/// option added to a command works before it with nothing else to edit. (clap's global
/// arguments would do the moving too, but would list every command's options in every
/// command's help.)
pub(crate) fn command_first(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = Cli::command();
    // The command is the one whose options, read as it defines them, lead to its own name;
    // one that knows every option on the way goes before one that does not (in
    // `--ca-file serve push-event 1`, `serve` is push-event's CA file, not the command).
    let found: Vec<(usize, bool)> = cli
        .get_subcommands()
        .filter_map(|command| command_at(&args, command))
        .collect();
    let Some(&(at, _)) = found
        .iter()
        .find(|(_, knows_all)| *knows_all)
        .or_else(|| found.first())
    else {
        return args;
    };
    if at == 1 {
        return args;
    }
    let mut reordered = vec![args[0].clone(), args[at].clone()];
    reordered.extend_from_slice(&args[1..at]);
    reordered.extend_from_slice(&args[at + 1..]);
    reordered
}

/// Where `command`'s name is in `args`, when only options (with their values) come before
/// it, and whether the command knows each of them.
fn command_at(args: &[OsString], command: &clap::Command) -> Option<(usize, bool)> {
    let mut at = 1;
    let mut knows_all = true;
    loop {
        let arg = args.get(at)?.to_str()?;
        if command.get_name() == arg || command.get_all_aliases().any(|alias| alias == arg) {
            return Some((at, knows_all));
        }
        let long = arg.strip_prefix("--").filter(|long| !long.is_empty())?;
        if matches!(long, "help" | "version") {
            return None;
        }
        // `--name=value` carries its value; an option the command does not know is moved
        // all the same, so that clap names it in its own error.
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        let option = command
            .get_arguments()
            .find(|option| option.get_long() == Some(name));
        knows_all &= option.is_some();
        let takes_value =
            !long.contains('=') && option.is_some_and(|o| o.get_action().takes_values());
        at += 1 + usize::from(takes_value);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory, Parser};

    use super::command_first;
    use crate::args::{Cli, Command};

    fn reorder(line: &str) -> String {
        let args = line.split(' ').map(Into::into);
        let out: Vec<String> = command_first(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn options_before_the_command_move_after_it() {
        assert_eq!(
            reorder("codearts --endpoint http://x --allow-http --timeout=3s push-event 7"),
            "codearts push-event --endpoint http://x --allow-http --timeout=3s 7"
        );
        assert_eq!(
            reorder("codearts push-event 7 --region r"),
            "codearts push-event 7 --region r"
        );
        assert_eq!(reorder("codearts --help"), "codearts --help");
        assert_eq!(reorder("codearts --region r"), "codearts --region r");
    }

    /// A value that is also a command's name stays the value of the option before it, for
    /// the command that knows that option.
    #[test]
    fn a_value_named_like_a_command_is_the_options_value() {
        assert_eq!(
            reorder("codearts --ca-file serve push-event 1"),
            "codearts push-event --ca-file serve 1"
        );
    }

    /// Every option of every command, taken from clap's definitions (so an option added later
    /// is covered too), is the command's when written before it.
    #[test]
    fn every_option_of_every_command_works_before_the_command() {
        let cli = Cli::command();
        let mut checked = 0;
        for command in cli.get_subcommands() {
            let name = command.get_name();
            for option in command.get_arguments() {
                let Some(long) = option.get_long() else {
                    continue;
                };
                if matches!(long, "help" | "version") {
                    continue;
                }
                let mut written = vec![format!("--{long}")];
                if option.get_action().takes_values() {
                    written.push("VALUE".to_owned());
                }
                let before = format!("codearts {} {name} ARG", written.join(" "));
                let after = format!("codearts {name} {} ARG", written.join(" "));
                assert_eq!(reorder(&before), after, "--{long} of {name}");
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} options found");
    }

    #[test]
    fn a_watch_option_before_the_command_is_parsed() {
        let args = "codearts --interval 30s --max-rate 5 watch 1"
            .split(' ')
            .map(Into::into);
        let cli = Cli::try_parse_from(command_first(args)).unwrap();
        let Command::Watch(watch) = cli.command else {
            panic!("not a watch: {cli:?}");
        };
        assert_eq!(watch.interval, Duration::from_secs(30));
        assert_eq!(
            watch.max_rate.map(codearts_repo::Rate::per_second),
            Some(5.0)
        );
    }
}
