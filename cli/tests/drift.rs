//! Drift from the command's side: `codearts serve --drift KIND` answers beyond the spec,
//! `codearts check-spec` reports it in spec-diff's words with the spec edit and its verdict
//! (exit 1; 0 when the answers conform), and a watch says each kind and path once on stderr
//! and counts it in `/metrics`. Over HTTP/1.1 and HTTPS with HTTP/2.

mod common;

use std::time::Duration;

use codearts_repo::server::AnswerDrift;
use common::{
    listen::{self, get},
    watching::Loopback,
    *,
};
use serde_json::Value;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/codearts-repo.yaml");

/// `codearts serve` with `args`, over plain HTTP or HTTPS (HTTP/2), and the options a client
/// needs to trust it.
struct Served {
    serve: Serve,
    client_args: Vec<String>,
    _ca: tempfile::TempDir,
}

fn serve(tls: bool, args: &[&str]) -> Served {
    let ca = tempfile::tempdir().unwrap();
    let ca_path = ca.path().join("ca.pem").to_str().unwrap().to_owned();
    let mut all: Vec<&str> = args.to_vec();
    let mut client_args = Vec::new();
    if tls {
        all.extend(["--tls", "--write-ca", &ca_path]);
        client_args.extend(["--ca-file".to_owned(), ca_path.clone()]);
    }
    let serve = Serve::with_args(&all);
    assert_eq!(serve.url.starts_with("https://"), tls, "{}", serve.url);
    Served {
        serve,
        client_args,
        _ca: ca,
    }
}

/// `codearts check-spec` on both operations against `served`, with `extra` options.
fn check_spec(served: &Served, extra: &[&str]) -> Output {
    run(served
        .serve
        .client()
        .args(&served.client_args)
        .args(["check-spec", "--repository-id", "2112036131"])
        .args([
            "--namespace",
            "3e1f6634946144c2b1ccb46fb8152b8f",
            "--project",
            "test",
        ])
        .args(["--repo-auth", "gh-auth"])
        .args(extra))
}

/// What check-spec must report for each kind the spec has a place for: (schema, path,
/// kind, suggested edit, verdict).
fn expected(
    kind: &str,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    match kind {
        "added-field" => vec![
            (
                "PushEvent",
                "$.user_name",
                "added_field",
                "add it as an optional property",
                "compatible",
            ),
            (
                "CommitList",
                "$.user_name",
                "added_field",
                "add it as an optional property",
                "compatible",
            ),
        ],
        "out-of-range" => vec![
            (
                "RepositoryId",
                "$.repository.id",
                "out_of_range",
                "raise its maximum to 2147483648",
                "breaking",
            ),
            (
                "RepositoryId",
                "$.repository.id",
                "format",
                "drop `format: int32`",
                "breaking",
            ),
        ],
        "changed-type" => vec![
            (
                "PushEvent",
                "$.ref",
                "changed_type",
                "change its type from string to integer",
                "breaking",
            ),
            (
                "Commit",
                "$.commits[*].sha",
                "changed_type",
                "change its type from string to integer",
                "breaking",
            ),
        ],
        "format" => vec![(
            "Timestamp",
            "$.created_at",
            "format",
            "drop `format: date-time`",
            "breaking",
        )],
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn check_spec_reports_each_kind_with_its_edit_and_verdict_over_both_protocols() {
    let kinds: Vec<AnswerDrift> = AnswerDrift::ALL
        .into_iter()
        .filter(|k| k.possible())
        .collect();
    assert_eq!(
        kinds.len(),
        4,
        "today's spec has a place for four kinds: {kinds:?}"
    );
    for tls in [false, true] {
        for kind in &kinds {
            let served = serve(tls, &["--drift", kind.name()]);
            let out = check_spec(&served, &["--output", "json"]);
            assert_eq!(
                out.code, 1,
                "tls {tls}, {kind}: out of date\n{}",
                out.stderr
            );
            let report: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(report["conforms"], false);
            let found: Vec<(String, String, String, String, String)> = report["differences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
                    (
                        text("schema"),
                        text("path"),
                        text("kind"),
                        text("edit"),
                        text("verdict"),
                    )
                })
                .collect();
            let expected: Vec<(String, String, String, String, String)> = expected(kind.name())
                .into_iter()
                .map(|(a, b, c, d, e)| (a.into(), b.into(), c.into(), d.into(), e.into()))
                .collect();
            assert_eq!(found, expected, "tls {tls}, {kind}");
            // Three calls of each operation, each answer holding the drift once.
            for difference in report["differences"].as_array().unwrap() {
                assert_eq!(difference["times"], 3, "{difference}");
            }
        }
    }
}

#[test]
fn check_spec_says_it_in_spec_diffs_words_and_as_markdown() {
    let served = serve(false, &["--drift", "added-field"]);
    let out = check_spec(&served, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "PushEvent: the service answers `user_name` (string), which the spec lacks: add it \
             as an optional property — compatible"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("the spec is out of date: 2 difference(s) in 3 answer(s) of ShowLastPushEventInRepository, 3 answer(s) of ListCommits"),
        "{}",
        out.stdout
    );
    let out = check_spec(&served, &["--output", "markdown"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with("## Spec check: out of date\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "| PushEvent | `$.user_name` | a string of 5 characters (string) | no such field | add it as an \
             optional property | compatible |"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn conforming_answers_exit_0() {
    for tls in [false, true] {
        let served = serve(tls, &[]);
        let out = check_spec(&served, &[]);
        assert_eq!(out.code, 0, "tls {tls}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.starts_with("the answers conform to the spec: 3 answer(s) of ShowLastPushEventInRepository, 3 answer(s) of ListCommits"),
            "{}",
            out.stdout
        );
        let out = check_spec(&served, &["--output", "markdown"]);
        assert!(
            out.stdout
                .starts_with("## Spec check: the answers conform\n"),
            "{}",
            out.stdout
        );
    }
}

/// The edited spec holds the edit, and spec-diff, run on it as the maintainer would, agrees
/// with the verdict check-spec gave.
#[test]
fn write_spec_writes_the_edits_for_spec_diff() {
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("edited.yaml");
    let written = written.to_str().unwrap();

    let served = serve(false, &[]);
    let out = check_spec(&served, &["--write-spec", written]);
    assert_eq!(out.code, 0);
    assert!(
        !std::path::Path::new(written).exists(),
        "nothing to write when the answers conform"
    );

    let served = serve(false, &["--drift", "added-field"]);
    let out = check_spec(&served, &["--write-spec", written]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    out.assert_stderr_has(&[written, "spec-diff"]);
    let edited: Value = serde_norway::from_str(&std::fs::read_to_string(written).unwrap()).unwrap();
    let schemas = &edited["components"]["schemas"];
    assert_eq!(
        schemas["PushEvent"]["properties"]["user_name"]["type"],
        "string"
    );
    assert_eq!(
        schemas["CommitList"]["properties"]["user_name"]["type"],
        "string"
    );

    let out = run(codearts().args(["spec-diff", SPEC, written, "--output", "json"]));
    assert_eq!(
        out.code, 0,
        "compatible, as check-spec said: {}",
        out.stdout
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["breaking"], 0);
    let locations: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["location"].as_str())
        .collect();
    assert!(
        locations.contains(&"#/components/schemas/PushEvent/properties/user_name"),
        "{locations:?}"
    );
}

#[test]
fn nothing_to_call_and_an_impossible_drift_are_usage_errors() {
    let out = run(codearts().arg("check-spec"));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--repository-id", "--namespace"]);
    let out = run(codearts().args(["serve", "--drift", "enum-value"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["enum-value", "no answer of this client's spec"]);
    let out = run(codearts().args(["serve", "--drift", "sideways"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["sideways", "added-field"]);
}

/// Two repositories polled every 100 ms for over a second: many answers with the same
/// drift, one stderr line, and a counter that counts them all.
#[test]
fn a_watch_says_each_drift_once_and_counts_it() {
    for loopback in [Loopback::start(2), Loopback::start_https(2)] {
        loopback
            .server
            .set_drift(Some(AnswerDrift::AddedField))
            .unwrap();
        let mut watching = loopback.spawn_watch(&["1", "2", "--listen", "127.0.0.1:0"]);
        let (announced, rest) = watching.stderr_line_and_rest();
        let address = listen::announced_address(&announced);
        assert_eq!(watching.expect(2).len(), 2);
        std::thread::sleep(Duration::from_millis(1500));
        let metrics = get(&address, "/metrics");
        let drift = metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix(
                    "codearts_watch_drift_total{operation=\"ShowLastPushEventInRepository\",kind=\"added_field\"} ",
                )
            })
            .unwrap_or_else(|| panic!("{metrics}"));
        let polls = metrics
            .lines()
            .find_map(|line| line.strip_prefix("codearts_watch_polls_total "))
            .unwrap();
        let (drift, polls): (f64, f64) = (drift.parse().unwrap(), polls.parse().unwrap());
        assert!(drift >= 10.0, "{metrics}");
        // Every answer held it: a drift is counted as the answer is read, its poll once the
        // watch has it, so each of the two repositories may have one read and not counted.
        assert!(
            (polls..=polls + 2.0).contains(&drift),
            "every answer held it: {metrics}"
        );

        watching.stop("TERM");
        let rest = rest.join().unwrap();
        let said: Vec<&str> = rest
            .lines()
            .filter(|l| l.contains("beyond the spec"))
            .collect();
        assert_eq!(said.len(), 1, "once for the life of the process: {rest}");
        // As docs/drift.md shows it.
        let documented = docs_block("## In a watch", "text");
        assert_eq!(said[0], documented.lines().next().unwrap());
        let (series, _) = documented.lines().nth(1).unwrap().rsplit_once(' ').unwrap();
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}

/// The fenced block of docs/drift.md that follows `after`, of kind `fence`.
fn docs_block(after: &str, fence: &str) -> String {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/drift.md")).unwrap();
    let from = page.find(after).expect(after);
    let rest = &page[from..];
    let start = rest.find(&format!("```{fence}\n")).expect(fence) + fence.len() + 4;
    rest[start..start + rest[start..].find("```\n").unwrap()].to_owned()
}

/// docs/drift.md's check-spec example, run as written (on the port `serve` picked), prints
/// what the page shows.
#[test]
fn the_docs_check_spec_example_prints_what_the_page_shows() {
    let commands = docs_block("## `codearts check-spec`", "sh");
    let lines: Vec<&str> = commands.lines().collect();
    let serve_args: Vec<&str> = lines[0]
        .strip_prefix("codearts serve ")
        .and_then(|l| l.strip_suffix(" &"))
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(serve_args[..2], ["--port", "18090"]);
    let served = Serve::with_args(&serve_args[2..]);
    let mut command = codearts();
    for pair in lines[1].strip_prefix("export ").unwrap().split(' ') {
        let (name, value) = pair.split_once('=').unwrap();
        command.env(name, value);
    }
    let args = lines[2]
        .strip_prefix("codearts ")
        .unwrap()
        .replace("http://127.0.0.1:18090", &served.url);
    let out = run(command.args(args.split(' ')));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, docs_block("## `codearts check-spec`", "text"));
}

/// An answer this client cannot read at all is an out-of-date spec, even when the drift
/// check finds no difference to name in it.
#[test]
fn an_answer_no_client_can_read_does_not_conform() {
    let server = common::push_server::PushServer::start();
    server.answer_raw("this is not JSON");
    let out = run(codearts()
        .env("HUAWEICLOUD_SDK_TOKEN", "check-token")
        .args([
            "--endpoint",
            &server.url(),
            "check-spec",
            "--repository-id",
            "7",
        ]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("the spec is out of date")
            && out.stdout.contains("3 not readable by this client"),
        "{}",
        out.stdout
    );
}

/// A scripted server whose every answer holds 300 fields the spec lacks.
fn answering_300_new_fields() -> common::push_server::PushServer {
    let server = common::push_server::PushServer::start();
    let fields: String = (0..300).map(|n| format!(r#","field_{n}":{n}"#)).collect();
    let body = format!(r#"{{"ref":"main","created_at":"2026-01-01T00:00:00+08:00"{fields}}}"#);
    server.answer_raw(body.leak());
    server
}

/// An answer with more kinds of drift than a client keeps: the report lists the first 256
/// and says that more were answered, rather than passing for the whole list.
#[test]
fn more_kinds_of_drift_than_kept_are_said_not_silently_cut() {
    let server = answering_300_new_fields();
    let check = |output: &str| {
        run(codearts()
            .env("HUAWEICLOUD_SDK_TOKEN", "check-token")
            .args(["--endpoint", &server.url(), "check-spec"])
            .args(["--repository-id", "7", "--output", output]))
    };
    let out = check("table");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("256 difference(s)")
            && out
                .stdout
                .contains("more kinds of drift than a client keeps"),
        "{}",
        out.stdout
    );
    let out = check("json");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["differences"].as_array().unwrap().len(), 256);
    assert_eq!(report["truncated"], true);
}

/// A watch says the first 256 kinds, then once that later ones are not said.
#[test]
fn a_watch_says_when_it_stops_saying_new_kinds_of_drift() {
    let server = answering_300_new_fields();
    let mut watching = common::watching::Watching::spawn({
        let mut command = codearts();
        command
            .env("HUAWEICLOUD_SDK_TOKEN", "watch-token")
            .args(["--endpoint", &server.url(), "watch", "7"])
            .args(["--interval", "200ms"]);
        command
    });
    let lines = watching.stderr_lines();
    let said: Vec<String> = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok())
        .take_while(|line| !line.contains("more kinds of drift than a client keeps"))
        .collect();
    let kinds = said
        .iter()
        .filter(|l| l.contains("beyond the spec"))
        .count();
    assert_eq!(kinds, 256, "{said:#?}");
    assert!(
        lines.recv_timeout(Duration::from_millis(1500)).is_err(),
        "said once, and nothing after it"
    );
}
