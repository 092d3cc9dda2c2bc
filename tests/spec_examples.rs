//! Every example in the spec validates against the schema beside it, and the spec keeps the
//! facts the documents state.

use serde_json::{Value, json};

fn spec() -> Value {
    serde_norway::from_str(codearts_repo::OPENAPI_SPEC).expect("the spec is YAML")
}

/// Every `(location, example, schema)` in the spec: parameters, media types and schemas.
fn examples(spec: &Value) -> Vec<(String, Value, Value)> {
    fn walk(node: &Value, path: String, found: &mut Vec<(String, Value, Value)>) {
        match node {
            Value::Object(map) => {
                if let (Some(example), Some(schema)) = (map.get("example"), map.get("schema")) {
                    found.push((path.clone(), example.clone(), schema.clone()));
                }
                if let (Some(examples), Some(schema)) = (map.get("examples"), map.get("schema")) {
                    for (name, example) in examples.as_object().into_iter().flatten() {
                        found.push((
                            format!("{path}/examples/{name}"),
                            example["value"].clone(),
                            schema.clone(),
                        ));
                    }
                }
                // A schema's own example (`type` marks a schema object, not a parameter).
                if let (Some(example), true) = (map.get("example"), map.contains_key("type")) {
                    let mut schema = node.clone();
                    schema.as_object_mut().unwrap().remove("example");
                    found.push((path.clone(), example.clone(), schema));
                }
                for (key, value) in map {
                    walk(value, format!("{path}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    walk(value, format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(spec, String::new(), &mut found);
    found
}

#[test]
fn every_example_validates_against_its_schema() {
    let spec = spec();
    let found = examples(&spec);
    // 2 success bodies, 6 error bodies, 6 parameters, and the schemas' own examples.
    assert!(found.len() >= 20, "only {} examples found", found.len());
    for (location, example, schema) in found {
        // OpenAPI 3.0 schemas are JSON Schema for these keywords; $refs resolve against the spec.
        let root = json!({ "allOf": [schema], "components": spec["components"] });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{location}: schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{location}: example {example} is invalid: {errors:?}"
        );
    }
}

#[test]
fn the_validator_rejects_a_wrong_example() {
    let spec = spec();
    let root =
        json!({ "$ref": "#/components/schemas/RepositoryId", "components": spec["components"] });
    let validator = jsonschema::validator_for(&root).unwrap();
    assert!(validator.is_valid(&json!(2147483647)));
    assert!(!validator.is_valid(&json!(2147483648u64)));
    assert!(!validator.is_valid(&json!(0)));
}

#[test]
fn spec_keeps_the_documented_facts() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.0.3");
    let commits = &spec["paths"]["/v1/{project_id}/git/repos/{namespace}/{project}/commits"]["get"];
    let param = |name: &str| {
        commits["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    assert_eq!(param("ref")["required"], false);
    assert_eq!(param("ref")["in"], "query");
    assert_eq!(param("X-Repo-Auth")["required"], true);
    assert_eq!(
        param("Content-Type")["schema"]["default"],
        "application/json;charset=utf8"
    );
    assert!(
        param("project")["description"]
            .as_str()
            .unwrap()
            .contains("colon")
    );
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["name"], "X-Auth-Token");
    assert!(
        schemes["token"]["description"]
            .as_str()
            .unwrap()
            .contains("100,000")
    );
    assert_eq!(schemes["aksk"]["name"], "Authorization");
    for path in spec["paths"].as_object().unwrap().values() {
        let responses = path["get"]["responses"].as_object().unwrap();
        for status in ["200", "400", "401", "403", "404", "429", "500"] {
            assert!(responses.contains_key(status), "missing {status}");
        }
    }
}

/// The bench's nginx configs (plain and TLS) serve the spec's documented success bodies, so
/// the bench decodes what the API documents.
#[test]
fn bench_nginx_serves_the_documented_examples() {
    let spec = spec();
    let documented = |path: &str| {
        spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"]
            .clone()
    };
    for conf in [
        include_str!("../bench/bench-nginx.conf"),
        include_str!("../bench/bench-nginx-tls.conf"),
    ] {
        let served: Vec<Value> = conf
            .lines()
            .filter_map(|line| line.trim().strip_prefix("return 200 '"))
            .map(|body| serde_json::from_str(body.trim_end_matches("';")).expect("a JSON body"))
            .collect();
        assert_eq!(
            served,
            [
                documented("/v4/repositories/{repository_id}/last-push-event"),
                documented("/v1/{project_id}/git/repos/{namespace}/{project}/commits"),
            ]
        );
    }
}
