//! The answers' schemas as build/answer_schemas.rs compiles them for the drift check, and
//! answer enums and formats kept open: the generated type holds any value the service sends,
//! and the drift check, not the decoder, says when a value goes beyond the spec.

#[path = "../build/answer_schemas.rs"]
mod answer_schemas;
// Only the generated code is read here.
#[allow(dead_code)]
#[path = "../build/generate.rs"]
mod generate;

use std::io::Write;

use serde_norway::Value;

const REAL_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/codearts-repo.yaml");

fn real_spec() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(REAL_SPEC).unwrap()).unwrap()
}

fn property<'a>(spec: &'a mut Value, schema: &str, name: &str) -> &'a mut Value {
    &mut spec["components"]["schemas"][schema]["properties"][name]
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

/// The generated code for `spec`; no new answer type is made for an open enum.
fn generated(spec: &Value) -> String {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(serde_norway::to_string(spec).unwrap().as_bytes())
        .unwrap();
    let generated = generate::generate(file.path().to_str().unwrap()).unwrap();
    assert!(!generated.answers.contains("Kind"), "{}", generated.answers);
    generated.code
}

/// A closed enum or a `format` on an answer's field would fail a whole answer on a value the
/// service adds (progenitor makes a closed enum, a chrono type, an i32): they are kept open
/// as the value sent, and the drift check holds them.
#[test]
fn answer_enums_and_formats_are_kept_open_and_checked_as_drift() {
    let mut spec = real_spec();
    *property(&mut spec, "PushEvent", "kind") = yaml("{type: string, enum: [push, tag_push]}");
    *property(&mut spec, "PushEvent", "pushed_at") = yaml("{type: string, format: date-time}");
    *property(&mut spec, "Commit", "size") = yaml("{type: integer, format: int32}");
    let code = generated(&spec);
    let field = |name: &str| {
        code.lines()
            .find(|line| line.trim_start().starts_with(&format!("pub {name}:")))
            .unwrap_or_else(|| panic!("no field {name} in the generated code"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        field("kind"),
        "pub kind: ::std::option::Option<::std::string::String>,"
    );
    assert_eq!(
        field("pushed_at"),
        "pub pushed_at: ::std::option::Option<::std::string::String>,"
    );
    assert_eq!(field("size"), "pub size: ::std::option::Option<i64>,");
    assert!(!code.contains("enum PushEventKind"), "no closed enum");

    let schemas = answer_schemas::answer_schemas(&spec).unwrap();
    let schemas = schemas.split_whitespace().collect::<Vec<_>>().join(" ");
    for held in [
        r#"EnumValue::Text("push"), EnumValue::Text("tag_push")"#,
        "format: Some(Format::DateTime)",
        "format: Some(Format::Int32)",
    ] {
        assert!(
            schemas.contains(held),
            "the drift check holds {held}: {schemas}"
        );
    }
}

/// A parameter's enum is the caller's rule, and stays one.
#[test]
fn a_parameters_enum_stays_closed() {
    let code = generated(&real_spec());
    assert!(code.contains("application/json;charset=utf8"), "{code}");
}

/// Each operation's answer, references resolved, each schema named by its place in the spec.
#[test]
fn the_real_spec_compiles_an_answer_per_operation() {
    let schemas = answer_schemas::answer_schemas(&real_spec()).unwrap();
    let schemas = schemas.split_whitespace().collect::<Vec<_>>().join(" ");
    for held in [
        r#""show_last_push_event_in_repository" => { Some( &Answer { operation: "ShowLastPushEventInRepository""#,
        r#""list_commits" => { Some( &Answer { operation: "ListCommits""#,
        r##"at: "#/components/schemas/RepositoryId""##,
        "minimum: Some(1.0), maximum: Some(2147483647.0), exclusive_minimum: false",
        r##"at: "#/components/schemas/Commit/properties/authored_date""##,
    ] {
        assert!(schemas.contains(held), "{held} in {schemas}");
    }
}

/// A keyword the check would not honour, an unknown format and a schema that holds itself
/// fail the build, naming the schema.
#[test]
fn what_the_check_cannot_honour_fails_the_build() {
    let failed = |edit: &dyn Fn(&mut Value)| {
        let mut spec = real_spec();
        edit(&mut spec);
        answer_schemas::answer_schemas(&spec).unwrap_err()
    };
    let error = failed(&|spec| {
        *property(spec, "PushEvent", "ref") = yaml("{type: string, nullable: true}");
    });
    assert!(
        error.contains("#/components/schemas/PushEvent/properties/ref")
            && error.contains("`nullable`"),
        "{error}"
    );
    let error = failed(&|spec| {
        *property(spec, "PushEvent", "ref") = yaml("{type: string, format: uuid}");
    });
    assert!(error.contains("`format: uuid`"), "{error}");
    let error = failed(&|spec| {
        *property(spec, "RepositoryBrief", "parent") =
            yaml("{$ref: '#/components/schemas/RepositoryBrief'}");
    });
    assert!(error.contains("holds itself"), "{error}");
}
