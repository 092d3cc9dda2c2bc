//! A broken spec fails the build with a message naming the file and the problem, not a panic.

#[path = "../build/generate.rs"]
mod generate;

use std::io::Write;

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

#[test]
fn the_real_spec_generates() {
    let code = generate::generate(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/codearts-repo.yaml"
    ))
    .unwrap();
    assert!(code.contains("pub fn list_commits(&self) -> builder::ListCommits"));
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
    let error = generate("openapi: 3.0.3\ninfo:\n  title: x\n").unwrap_err();
    assert!(
        error.contains("not a valid OpenAPI 3.0 document") && error.contains("version"),
        "{error}"
    );
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
}
