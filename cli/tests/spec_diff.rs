//! `codearts spec-diff` on a set of spec mutations, each with its expected classification;
//! the reports are snapshots.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use common::FROZEN_SPEC as SPEC;

fn replace(from: &str, to: &str) -> String {
    assert!(
        SPEC.contains(from),
        "the spec no longer contains {from:?}: update the mutation"
    );
    SPEC.replacen(from, to, 1)
}

fn mutations() -> Vec<(&'static str, String, i32)> {
    let project_name = "        project_name:\n          description: Repository project name.\n";
    let commits_path = SPEC.find("  /v1/{project_id}").unwrap();
    let components = SPEC.find("components:").unwrap();
    vec![
        (
            "remove_response_field",
            replace(
                &format!("{project_name}          type: string\n          example: kanban\n"),
                "",
            ),
            1,
        ),
        (
            "rename_response_field",
            replace(
                project_name,
                "        project_title:\n          description: Repository project name.\n",
            ),
            1,
        ),
        (
            "optional_parameter_made_required",
            replace(
                "        - name: ref\n          in: query\n          required: false",
                "        - name: ref\n          in: query\n          required: true",
            ),
            1,
        ),
        (
            "tighten_a_constraint",
            replace(
                "      minLength: 1\n      example: gh-auth",
                "      minLength: 1\n      maxLength: 64\n      example: gh-auth",
            ),
            1,
        ),
        (
            "loosen_an_input_constraint",
            replace(
                "    GitRef:\n      description: Branch or tag name.\n      type: string\n      minLength: 1\n",
                "    GitRef:\n      description: Branch or tag name.\n      type: string\n",
            ),
            0,
        ),
        // The id is also a response field: a larger one would not decode, so this breaks.
        (
            "loosen_a_constraint_shared_with_a_response",
            replace(
                "      minimum: 1\n      maximum: 2147483647\n      example: 2112036131",
                "      minimum: 1\n      example: 2112036131",
            ),
            1,
        ),
        (
            "add_optional_response_field",
            replace(
                project_name,
                &format!(
                    "        web_url:\n          description: Web URL.\n          type: string\n{project_name}"
                ),
            ),
            0,
        ),
        (
            "add_status_code",
            replace(
                "          $ref: '#/components/responses/InternalServerError'\n  /v1/",
                "          $ref: '#/components/responses/InternalServerError'\n        '503':\n          $ref: '#/components/responses/InternalServerError'\n  /v1/",
            ),
            0,
        ),
        (
            "change_a_type",
            replace(
                "          description: Commit SHA value.\n          type: string",
                "          description: Commit SHA value.\n          type: integer",
            ),
            1,
        ),
        (
            "remove_an_operation",
            format!("{}{}", &SPEC[..commits_path], &SPEC[components..]),
            1,
        ),
        (
            "add_an_operation",
            replace(
                "components:\n",
                "  /v4/repositories/{repository_id}/tags:\n    get:\n      operationId: ListTags\n      summary: List tags\n      description: Lists tags.\n      tags:\n        - CodeArts Repo\n      parameters:\n        - name: repository_id\n          in: path\n          required: true\n          schema:\n            $ref: '#/components/schemas/RepositoryId'\n      responses:\n        '200':\n          description: OK\n        '404':\n          $ref: '#/components/responses/NotFound'\ncomponents:\n",
            ),
            0,
        ),
        (
            "add_a_required_header",
            replace(
                "        - name: X-Repo-Auth\n",
                "        - name: X-Trace-Id\n          in: header\n          required: true\n          schema:\n            type: string\n        - name: X-Repo-Auth\n",
            ),
            1,
        ),
        (
            "reword_a_description",
            replace(
                "Obtain the latest push event of a repository\n",
                "Get the most recent push event of a repository\n",
            ),
            0,
        ),
        ("no_change", SPEC.to_owned(), 0),
    ]
}

fn spec_diff(dir: &std::path::Path, old: &str, new: &str) -> (i32, String, String) {
    let output = Command::cargo_bin("codearts")
        .unwrap()
        .current_dir(dir)
        .args(["spec-diff", old, new])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (
        output.status.code().unwrap(),
        stdout,
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn every_mutation_is_classified() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.yaml"), SPEC).unwrap();
    for (name, spec, expected) in mutations() {
        let file = format!("{name}.yaml");
        std::fs::write(dir.path().join(&file), spec).unwrap();
        let (code, stdout, stderr) = spec_diff(dir.path(), "old.yaml", &file);
        assert_eq!(code, expected, "{name}: {stdout}{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            report["breaking"].as_u64().unwrap() > 0,
            expected == 1,
            "{name}"
        );
        if name != "no_change" {
            assert!(
                !report["changes"].as_array().unwrap().is_empty(),
                "{name}: a change is listed"
            );
        }
        insta::assert_json_snapshot!(name, report);
    }
}

#[test]
fn git_revisions_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    common::spec_repository(dir.path(), SPEC);
    let spec = dir.path().join("openapi/codearts-repo.yaml");
    std::fs::write(&spec, mutations().remove(0).1).unwrap();

    let (code, stdout, _) = spec_diff(dir.path(), "git:HEAD", "openapi/codearts-repo.yaml");
    assert_eq!(code, 1, "{stdout}");
    let (code, _, _) = spec_diff(
        dir.path(),
        "git:HEAD:openapi/codearts-repo.yaml",
        "git:HEAD",
    );
    assert_eq!(code, 0);

    for (old, why) in [
        ("git:no-such-rev", "no-such-rev"),
        ("missing.yaml", "cannot read"),
        ("git:", "give a revision"),
    ] {
        let (code, stdout, stderr) = spec_diff(dir.path(), old, "openapi/codearts-repo.yaml");
        assert_eq!(code, 2, "{old}");
        assert!(stdout.is_empty() && stderr.contains(why), "{old}: {stderr}");
    }
    std::fs::write(dir.path().join("broken.yaml"), "openapi: 3.0.3\npaths: [").unwrap();
    let (code, _, stderr) = spec_diff(dir.path(), "broken.yaml", "openapi/codearts-repo.yaml");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("broken.yaml") && stderr.contains("line"),
        "{stderr}"
    );
}

/// The changes of a report, as (class, kind, rust) for each.
fn changes(old: &str, new: &str) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.yaml"), old).unwrap();
    std::fs::write(dir.path().join("new.yaml"), new).unwrap();
    let (_, stdout, stderr) = spec_diff(dir.path(), "old.yaml", "new.yaml");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap().to_owned();
            (text("class"), text("kind"), text("rust"))
        })
        .collect()
}

const REF: &str = "            $ref: '#/components/schemas/GitRef'\n          example: master\n";
const SINCE: &str = "        - name: since\n          in: query\n          required: false\n          \
                     description: Only commits after this date.\n          schema:\n            \
                     type: string\n";

/// Parameters are matched by name and location: one inserted in the middle of the list is
/// one change, as one appended is, and moves no other parameter's description.
#[test]
fn an_inserted_parameter_is_one_change_wherever_it_goes() {
    let middle = replace(REF, &format!("{REF}{SINCE}"));
    let last = "            $ref: '#/components/schemas/RepoAuth'\n          example: gh-auth\n";
    let end = replace(last, &format!("{last}{SINCE}"));
    for new in [middle, end] {
        assert_eq!(
            changes(SPEC, &new),
            [(
                "compatible".into(),
                "Added".into(),
                "not exposed (`Client::commits` does not offer `since`)".into()
            )]
        );
    }
}

/// The Rust column names what callers use: the setter, the method, the exported type.
#[test]
fn the_rust_column_names_the_public_api() {
    let described = replace(
        "description: Branch or tag name. If it is not provided, the default branch is used.",
        "description: Branch or tag.",
    );
    assert_eq!(
        changes(SPEC, &described)[0].2,
        "doc comments of `CommitsRequest::git_ref`"
    );
    let field = replace(
        "        project_name:\n          description: Repository project name.\n",
        "        project_name:\n          description: The project's name.\n",
    );
    assert_eq!(
        changes(SPEC, &field)[0].2,
        "doc comments of field `project_name` of `codearts_repo::RepositoryBrief`"
    );
    let required = replace(
        "        - name: ref\n          in: query\n          required: false",
        "        - name: ref\n          in: query\n          required: true",
    );
    assert_eq!(changes(SPEC, &required)[0].2, "`CommitsRequest::git_ref`");
}

/// Operations are matched by operationId first: a new path for the same operation is one
/// compatible move, not a removal and an addition.
#[test]
fn a_moved_operation_is_matched_by_its_operation_id() {
    let moved = replace(
        "  /v4/repositories/{repository_id}/last-push-event:",
        "  /v5/repositories/{repository_id}/last-push-event:",
    );
    assert_eq!(
        changes(SPEC, &moved),
        [(
            "compatible".into(),
            "Moved".into(),
            "`Client::last_push_event`".into()
        )]
    );
}
