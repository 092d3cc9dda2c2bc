//! A broken spec fails the build with a message naming the file and the problem, not a panic;
//! a spec's constraints become the client's rules, and a keyword the client would not honour
//! fails the build.

#[path = "../build/constraints.rs"]
mod constraints;
#[path = "../build/generate.rs"]
mod generate;

use std::io::Write;

use serde_norway::Value;

const REAL_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/codearts-repo.yaml");

/// Runs the build's two steps as build.rs does (the rules first), on `spec` in a file; an
/// error must name the file. Returns the text of constraints.rs.
fn build(spec: &str) -> Result<String, String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(spec.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();
    constraints::constraints(path)
        .and_then(|rules| generate::generate(path).map(|_| rules))
        .map_err(|message| {
            assert!(message.starts_with(path), "the file is named: {message}");
            message[path.len()..].trim_start_matches(": ").to_owned()
        })
}

/// progenitor's step alone, on `spec` in a file (for specs too small to hold the checked types).
fn generate(spec: &str) -> Result<String, String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(spec.as_bytes()).unwrap();
    generate::generate(file.path().to_str().unwrap())
        .map(|_| String::new())
        .map_err(|message| {
            assert!(
                message.starts_with(file.path().to_str().unwrap()),
                "the file is named: {message}"
            );
            message
        })
}

/// The real spec with one edit, as YAML text.
fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let mut spec: Value =
        serde_norway::from_str(&std::fs::read_to_string(REAL_SPEC).unwrap()).unwrap();
    edit(&mut spec);
    serde_norway::to_string(&spec).unwrap()
}

/// The real spec with `key: value` (YAML) set on `components/schemas/{schema}`, then `path`
/// (property names) inside it.
fn with_keyword(schema: &str, path: &[&str], key: &str, value: &str) -> String {
    edited(|spec| {
        let mut at = &mut spec["components"]["schemas"][schema];
        for step in path {
            at = &mut at[*step];
        }
        at[key] = serde_norway::from_str(value).unwrap();
    })
}

/// One `const` of constraints.rs: from its doc line to the closing `};`.
fn constant<'a>(rules: &'a str, name: &str) -> &'a str {
    let start = rules
        .find(&format!("const {name}:"))
        .unwrap_or_else(|| panic!("no {name} in {rules}"));
    let end = start + rules[start..].find("};").unwrap() + 2;
    &rules[start..end]
}

/// The embedded server's list of each operation's query parameters, as the spec declares
/// them (`ref` on the commits call; none on the push event's).
#[test]
fn each_operations_query_parameters_come_from_the_spec() {
    let listed = generate::generate(REAL_SPEC).unwrap().query_parameters;
    assert!(
        listed.contains("(\"ListCommits\", &[\"ref\"]),"),
        "{listed}"
    );
    assert!(
        listed.contains("(\"ShowLastPushEventInRepository\", &[]),"),
        "{listed}"
    );
}

#[test]
fn the_real_spec_generates() {
    let code = generate::generate(REAL_SPEC).unwrap().code;
    assert!(code.contains("pub fn list_commits(&self) -> builder::ListCommits"));
    // Its response header `Retry-After` has a `minimum`, which progenitor never sees.
    let rules = constraints::constraints(REAL_SPEC).unwrap();
    assert!(rules.contains("const NAMESPACE: StringRules"), "{rules}");
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let error = generate("openapi: 3.0.3\ninfo: [unclosed\n").unwrap_err();
    assert!(
        error.contains("line") && error.contains("column"),
        "{error}"
    );
}

#[test]
fn a_document_that_is_not_openapi_says_what_is_missing() {
    let spec = "openapi: 3.0.3\ninfo:\n  title: x\n";
    for error in [generate(spec).unwrap_err(), build(spec).unwrap_err()] {
        assert!(
            error.contains("not a valid OpenAPI 3.0 document") && error.contains("version"),
            "{error}"
        );
    }
}

#[test]
fn progenitor_refusals_are_reported_not_panicked() {
    let spec = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    get:\n      operationId: a\n      parameters:\n        - {name: id, in: path, required: true, schema: {$ref: '#/components/schemas/Missing'}}\n      responses: {'200': {description: ok}}\n";
    let error = generate(spec).unwrap_err();
    assert!(error.contains("progenitor cannot generate"), "{error}");
}

#[test]
fn a_missing_file_is_named() {
    let error = generate::generate("/nonexistent/spec.yaml").unwrap_err();
    assert!(
        error.contains("/nonexistent/spec.yaml") && error.contains("cannot read"),
        "{error}"
    );
    let error = constraints::constraints("/nonexistent/spec.yaml").unwrap_err();
    assert!(
        error.contains("/nonexistent/spec.yaml") && error.contains("cannot read"),
        "{error}"
    );
}

#[test]
fn an_unknown_keyword_on_a_checked_type_is_named() {
    let error = build(&with_keyword("Namespace", &[], "multipleOf", "2")).unwrap_err();
    assert_eq!(
        error,
        "#/components/schemas/Namespace: the keyword `multipleOf` is not understood by \
         build/constraints.rs, so the client would not enforce it"
    );
    for (schema, key, value) in [
        ("GitRef", "nullable", "true"),
        ("RepoAuth", "default", "gh-auth"),
        ("ProjectId", "format", "uuid"),
        ("RepositoryId", "format", "uint8"),
        ("RepositoryId", "maxLength", "3"),
    ] {
        let error = build(&with_keyword(schema, &[], key, value)).unwrap_err();
        assert!(
            error.starts_with(&format!("#/components/schemas/{schema}: "))
                && error.contains(&format!("`{key}"))
                && error.contains("not understood by build/constraints.rs"),
            "{schema} {key}: {error}"
        );
    }
}

#[test]
fn a_constraint_outside_the_checked_parameters_fails() {
    let cases = [
        // A response field, a checked type kept as sent, an inline parameter schema.
        (
            with_keyword("Commit", &["properties", "sha"], "maxLength", "40"),
            "#/components/schemas/Commit/properties/sha",
            "maxLength",
        ),
        (
            with_keyword("CommitList", &["properties", "commits"], "maxItems", "10"),
            "#/components/schemas/CommitList/properties/commits",
            "maxItems",
        ),
        (
            with_keyword("Timestamp", &[], "pattern", "'^[0-9]'"),
            "#/components/schemas/Timestamp",
            "pattern",
        ),
        (
            edited(|spec| {
                let commits = "/v1/{project_id}/git/repos/{namespace}/{project}/commits";
                spec["paths"][commits]["get"]["parameters"][4]["schema"]["minLength"] =
                    Value::from(1);
            }),
            "#/paths/~1v1~1{project_id}~1git~1repos~1{namespace}~1{project}~1commits/get/parameters/4/schema",
            "minLength",
        ),
    ];
    for (spec, pointer, key) in cases {
        let error = build(&spec).unwrap_err();
        assert!(
            error.starts_with(&format!("{pointer}: the keyword `{key}` is a constraint"))
                && error.contains("only the checked parameter types")
                && error.contains("fails the whole answer"),
            "{pointer}: {error}"
        );
    }
    // Not a constraint, but a keyword whose effect on the generated code nobody reviewed.
    let error = build(&with_keyword(
        "Commit",
        &[],
        "additionalProperties",
        "false",
    ))
    .unwrap_err();
    assert!(
        error.starts_with("#/components/schemas/Commit: the keyword `additionalProperties`")
            && error.contains("not understood"),
        "{error}"
    );
}

#[test]
fn a_pattern_the_client_cannot_run_fails_naming_it() {
    for pattern in ["'[a-z'", "'^(?=x)'"] {
        let error = build(&with_keyword("Namespace", &[], "pattern", pattern)).unwrap_err();
        let shown = pattern.trim_matches('\'');
        assert!(
            error.starts_with(&format!(
                "#/components/schemas/Namespace: the pattern `{shown}` does not compile"
            )),
            "{error}"
        );
    }
}

#[test]
fn a_type_the_crates_type_does_not_match_fails() {
    for (schema, key, value, expected) in [
        (
            "Namespace",
            "type",
            "integer",
            "the type is `integer`, but the crate's `Namespace` is a string",
        ),
        (
            "RepositoryId",
            "type",
            "string",
            "the type is `string`, but the crate's `RepositoryId` is an integer",
        ),
        (
            "Timestamp",
            "type",
            "object",
            "the type is `object`, but the crate's `Timestamp` is a string",
        ),
    ] {
        let error = build(&with_keyword(schema, &[], key, value)).unwrap_err();
        assert!(
            error.starts_with(&format!("#/components/schemas/{schema}: "))
                && error.contains(expected),
            "{schema}: {error}"
        );
    }
    // format: int32 bounds the id within a u32; without it the spec's maximum is all there is.
    let spec = edited(|spec| {
        let id = spec["components"]["schemas"]["RepositoryId"]
            .as_mapping_mut()
            .unwrap();
        id.remove("format");
        id.insert("maximum".into(), Value::from(5_000_000_000_u64));
    });
    let error = build(&spec).unwrap_err();
    assert!(
        error.contains("allows values from 1 to 5000000000")
            && error.contains("is a u32 (0 to 4294967295)"),
        "{error}"
    );
    let without_minimum = edited(|spec| {
        let id = spec["components"]["schemas"]["RepositoryId"]
            .as_mapping_mut()
            .unwrap();
        id.remove("minimum");
    });
    let error = build(&without_minimum).unwrap_err();
    assert!(error.contains("allows values from -2147483648"), "{error}");
}

#[test]
fn a_number_in_the_spec_is_the_clients_rule() {
    let real = constraints::constraints(REAL_SPEC).unwrap();
    let rules = build(&with_keyword("Namespace", &[], "maxLength", "64")).unwrap();
    // The value src/params/rules.rs's tests check refuses 65 characters.
    assert_eq!(
        constant(&rules, "NAMESPACE"),
        "const NAMESPACE: StringRules = StringRules {\n    min_length: Some(1),\n    \
         max_length: Some(64),\n    pattern: None,\n    one_of: None,\n};"
    );
    assert_eq!(constant(&rules, "GIT_REF"), constant(&real, "GIT_REF"));

    let rules = build(&with_keyword("GitRef", &[], "pattern", "'^[a-z\\\\/]+$'")).unwrap();
    assert!(
        constant(&rules, "GIT_REF").contains(r#"pattern: Some("^[a-z\\\\/]+$"),"#),
        "{rules}"
    );
    let rules = build(&with_keyword("RepoAuth", &[], "enum", "[gh-auth, \"o'k\"]")).unwrap();
    assert!(
        constant(&rules, "REPO_AUTH").contains(r#"one_of: Some(&["gh-auth", "o'k"]),"#),
        "{rules}"
    );

    let rules = build(&edited(|spec| {
        let id = &mut spec["components"]["schemas"]["RepositoryId"];
        id["minimum"] = Value::from(0);
        id["exclusiveMinimum"] = Value::from(true);
        id["maximum"] = Value::from(1000.5);
        id["enum"] = serde_norway::from_str("[1, 7, 1000]").unwrap();
    }))
    .unwrap();
    assert_eq!(
        constant(&rules, "REPOSITORY_ID"),
        "const REPOSITORY_ID: IntegerRules = IntegerRules {\n    minimum: 1,\n    \
         maximum: 1000,\n    one_of: Some(&[1, 7, 1000]),\n};"
    );
}

/// The public answer types are what the answers hold, found through arrays and named
/// newtypes, never through words in a description; builders only where typify makes them.
#[test]
fn the_answer_types_are_every_type_an_answer_holds_and_nothing_else() {
    let spec = edited(|spec| {
        let schemas = &mut spec["components"]["schemas"];
        schemas["Sha"] = serde_norway::from_str("{type: string}").unwrap();
        // `kind`'s enum is kept open: a String, no type of its own.
        schemas["Bough"] = serde_norway::from_str(
            "{type: object, properties: {kind: {type: string, enum: [head, tag]}, \
             sha: {$ref: '#/components/schemas/Sha'}}}",
        )
        .unwrap();
        // Named in descriptions ("Branch or tag name"), held by no answer.
        schemas["Branch"] = serde_norway::from_str("{type: object}").unwrap();
        // A second operation answering with a type another one answers with.
        spec["paths"]["/v1/commits"] = serde_norway::from_str(
            "{get: {operationId: AllCommits, responses: {'200': {description: OK, content: \
             {application/json: {schema: {$ref: '#/components/schemas/CommitList'}}}}}}}",
        )
        .unwrap();
        spec["paths"]["/v4/repositories/{repository_id}/boughs"] = serde_norway::from_str(
            "{get: {operationId: ListBoughs, parameters: [{name: repository_id, in: path, \
             required: true, schema: {$ref: '#/components/schemas/RepositoryId'}}], \
             responses: {'200': {description: OK, content: {application/json: {schema: \
             {type: array, items: {$ref: '#/components/schemas/Bough'}}}}}}}}",
        )
        .unwrap();
    });
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(spec.as_bytes()).unwrap();
    let generated = generate::generate(file.path().to_str().unwrap()).unwrap();
    assert_eq!(
        generated.answers.lines().nth(1).unwrap(),
        "pub use generated::answers::{builders, Bough, Commit, CommitList, \
         PushEvent, RepositoryBrief, Sha};"
    );
    let builders = generated.code.split("pub mod builders").nth(1).unwrap();
    let builders = &builders[..builders.find('}').unwrap()];
    assert!(
        builders.contains("Bough") && !builders.contains("Sha"),
        "{builders}"
    );
}

/// What OpenAPI 3.0 ignores, or what a type kept as sent cannot honour, is named, not
/// dropped: a keyword beside a `$ref`, an `enum` on `Timestamp`.
#[test]
fn a_keyword_beside_a_ref_or_on_timestamp_fails_the_build() {
    let beside_ref = edited(|spec| {
        let commits = "/v1/{project_id}/git/repos/{namespace}/{project}/commits";
        spec["paths"][commits]["get"]["parameters"][3]["schema"]["enum"] =
            serde_norway::from_str("[main, dev]").unwrap();
    });
    let error = build(&beside_ref).unwrap_err();
    assert!(error.contains("`enum` sits next to `$ref`"), "{error}");
    let error = build(&with_keyword(
        "Timestamp",
        &[],
        "enum",
        "['2025-01-01T00:00:00Z']",
    ))
    .unwrap_err();
    assert!(
        error.contains("#/components/schemas/Timestamp") && error.contains("`enum`"),
        "{error}"
    );
}
