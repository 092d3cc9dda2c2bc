//! One verdict for each kind of spec change. For every change class in CONTRIBUTING.md's
//! table: edit the spec, run `codearts spec-diff`, rebuild the library's rustdoc JSON from the
//! edited spec, run cargo-semver-checks against the unedited crate, and compare both verdicts
//! with the table's row. The release gate runs the same two tools (semver-checks there builds
//! the rustdoc itself, with its own choice of features; the generated types do not depend on
//! features), so it agrees too.
//!
//! The library is built in a scratch copy under the target directory (its dependencies are
//! compiled once and kept); each class costs a code generation and a rustdoc run, seconds.
//! cargo-semver-checks 0.51.0 is the one CI installs; where it is missing, it is installed
//! into the target directory first (minutes, once).

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};

const SEMVER_CHECKS: &str = "0.51.0";
const COMMITS: &str = "/v1/{project_id}/git/repos/{namespace}/{project}/commits";

/// A change class: what the spec is before (most often the real one) and the edit.
struct Class {
    name: &'static str,
    before: fn(&mut Value),
    edit: fn(&mut Value),
}

fn unchanged(_: &mut Value) {}

fn schema<'a>(spec: &'a mut Value, name: &str) -> &'a mut Value {
    &mut spec["components"]["schemas"][name]
}

fn property<'a>(spec: &'a mut Value, name: &str, field: &str) -> &'a mut Value {
    &mut schema(spec, name)["properties"][field]
}

fn remove_property(spec: &mut Value, name: &str, field: &str) {
    let properties = schema(spec, name)["properties"].as_object_mut().unwrap();
    assert!(properties.remove(field).is_some(), "{name} has no {field}");
    if let Some(required) = schema(spec, name).get_mut("required") {
        required.as_array_mut().unwrap().retain(|f| f != field);
    }
}

fn commits_parameters(spec: &mut Value) -> &mut Vec<Value> {
    spec["paths"][COMMITS]["get"]["parameters"]
        .as_array_mut()
        .unwrap()
}

fn add_user_name(spec: &mut Value) {
    *property(spec, "PushEvent", "user_name") = json!({"type": "string"});
}

fn add_required_user_name(spec: &mut Value) {
    add_user_name(spec);
    schema(spec, "PushEvent")["required"] = json!(["user_name"]);
}

fn require_ref(spec: &mut Value) {
    schema(spec, "PushEvent")["required"] = json!(["ref"]);
}

fn add_per_page(spec: &mut Value) {
    commits_parameters(spec).push(json!({
        "name": "per_page", "in": "query", "required": false, "schema": {"type": "integer"}
    }));
}

fn remove_per_page(spec: &mut Value) {
    commits_parameters(spec).retain(|p| p["name"] != "per_page");
}

fn kind_enum(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// The classes, by the names CONTRIBUTING.md's table gives them.
fn classes() -> Vec<Class> {
    vec![
        Class {
            name: "add an optional response field",
            before: unchanged,
            edit: add_user_name,
        },
        Class {
            name: "add a required response field",
            before: unchanged,
            edit: add_required_user_name,
        },
        Class {
            name: "remove an optional response field",
            before: unchanged,
            edit: |spec| remove_property(spec, "RepositoryBrief", "project_name"),
        },
        Class {
            name: "remove a required response field",
            before: add_required_user_name,
            edit: |spec| remove_property(spec, "PushEvent", "user_name"),
        },
        Class {
            name: "make an optional response field required",
            before: unchanged,
            edit: require_ref,
        },
        Class {
            name: "make a required response field optional",
            before: require_ref,
            edit: |spec| {
                schema(spec, "PushEvent")
                    .as_object_mut()
                    .unwrap()
                    .remove("required");
            },
        },
        Class {
            name: "change a response field's type",
            before: unchanged,
            edit: |spec| *property(spec, "Commit", "sha") = json!({"type": "integer"}),
        },
        Class {
            name: "add a value to an answer's enum",
            before: |spec| *property(spec, "PushEvent", "kind") = kind_enum(&["push"]),
            edit: |spec| *property(spec, "PushEvent", "kind") = kind_enum(&["push", "tag_push"]),
        },
        Class {
            name: "remove a value from an answer's enum",
            before: |spec| *property(spec, "PushEvent", "kind") = kind_enum(&["push", "tag_push"]),
            edit: |spec| *property(spec, "PushEvent", "kind") = kind_enum(&["push"]),
        },
        Class {
            name: "add an optional query parameter",
            before: unchanged,
            edit: add_per_page,
        },
        Class {
            name: "add a required query parameter",
            before: unchanged,
            edit: |spec| {
                add_per_page(spec);
                commits_parameters(spec).last_mut().unwrap()["required"] = json!(true);
            },
        },
        Class {
            name: "remove an optional query parameter",
            before: add_per_page,
            edit: remove_per_page,
        },
        Class {
            name: "tighten a length",
            before: unchanged,
            edit: |spec| schema(spec, "Namespace")["maxLength"] = json!(64),
        },
        Class {
            name: "loosen a length",
            before: |spec| schema(spec, "Namespace")["maxLength"] = json!(64),
            edit: |spec| schema(spec, "Namespace")["maxLength"] = json!(128),
        },
        Class {
            name: "lower a maximum",
            before: unchanged,
            edit: |spec| schema(spec, "RepositoryId")["maximum"] = json!(1_000_000_000),
        },
        Class {
            name: "raise a maximum",
            before: |spec| schema(spec, "RepositoryId")["maximum"] = json!(1_000_000_000),
            edit: |spec| schema(spec, "RepositoryId")["maximum"] = json!(2_147_483_647),
        },
        Class {
            name: "add a value to a parameter's enum",
            before: unchanged,
            edit: |spec| {
                let content_type = commits_parameters(spec)
                    .iter_mut()
                    .find(|p| p["name"] == "Content-Type")
                    .unwrap();
                content_type["schema"]["enum"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("application/json"));
            },
        },
        Class {
            name: "add an operation",
            before: unchanged,
            edit: |spec| {
                spec["paths"]["/v4/repositories/{repository_id}/branches"] = json!({"get": {
                    "operationId": "ListBranches",
                    "parameters": [{
                        "name": "repository_id", "in": "path", "required": true,
                        "schema": {"$ref": "#/components/schemas/RepositoryId"}
                    }],
                    "responses": {"200": {"description": "OK", "content": {
                        "application/json": {"schema": {"type": "array", "items": {"type": "string"}}}
                    }}}
                }});
            },
        },
    ]
}

/// A verdict: does the change need a breaking release (0.x: a minor bump)?
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Verdict {
    Breaking,
    NotBreaking,
}

impl Verdict {
    fn from_word(word: &str) -> Self {
        match word {
            "breaking" => Verdict::Breaking,
            "compatible" | "nothing" => Verdict::NotBreaking,
            other => {
                panic!("CONTRIBUTING.md's table says {other:?}: breaking, compatible or nothing")
            }
        }
    }
}

/// `class → (spec-diff and the gate, cargo-semver-checks)`, from CONTRIBUTING.md's table.
fn table() -> Vec<(String, Verdict, Verdict)> {
    let text = fs::read_to_string(workspace().join("CONTRIBUTING.md")).unwrap();
    let start = text
        .find("<!-- change classes -->")
        .expect("CONTRIBUTING.md marks its table of change classes");
    let first_word = |cell: &str| {
        cell.trim()
            .trim_matches('*')
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap()
            .to_owned()
    };
    text[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            assert_eq!(cells.len(), 3, "three columns: {line}");
            (
                cells[0].trim().to_owned(),
                Verdict::from_word(&first_word(cells[1])),
                Verdict::from_word(&first_word(cells[2])),
            )
        })
        .collect()
}

#[test]
fn spec_diff_the_gate_and_semver_checks_give_contributings_verdict_for_every_change_class() {
    let table = table();
    let classes = classes();
    let named: Vec<&str> = classes.iter().map(|c| c.name).collect();
    let listed: Vec<&str> = table.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(
        named, listed,
        "the table's rows are the classes this test makes"
    );

    let scratch = Scratch::new();
    let real: Value = serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap();
    let unedited = scratch.rustdoc(&real, "unedited");
    let mut wrong = Vec::new();
    for (class, (_, expected, expected_semver)) in classes.iter().zip(&table) {
        let mut before = real.clone();
        (class.before)(&mut before);
        let mut after = before.clone();
        (class.edit)(&mut after);
        assert_ne!(before, after, "{}: the edit changes the spec", class.name);
        let baseline = if before == real {
            unedited.clone()
        } else {
            scratch.rustdoc(&before, "before")
        };
        let edited = scratch.rustdoc(&after, "after");
        let spec_diff = scratch.spec_diff(&before, &after);
        let semver = scratch.semver_checks(&baseline, &edited);
        eprintln!(
            "{}: spec-diff {spec_diff:?}, cargo-semver-checks {semver:?}",
            class.name
        );
        if spec_diff != *expected || semver != *expected_semver {
            wrong.push(format!(
                "{}: the table says {expected:?} / semver-checks {expected_semver:?}; \
                 spec-diff says {spec_diff:?}, cargo-semver-checks {semver:?}",
                class.name
            ));
        }
        // The gate fails on either half: semver-checks must never ask for more than the
        // spec half, or the tools disagree where a maintainer reads them.
        if semver == Verdict::Breaking && spec_diff != Verdict::Breaking {
            wrong.push(format!(
                "{}: cargo-semver-checks calls it breaking, spec-diff does not",
                class.name
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A copy of the library package, built alone, with the spec this test writes.
struct Scratch {
    root: PathBuf,
    semver_checks: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("change-classes");
        let package = root.join("crate");
        let _ = fs::remove_dir_all(&package);
        fs::create_dir_all(&package).unwrap();
        // What the published package holds (Cargo.toml's `include`), and the lock file.
        let from = workspace();
        for dir in ["build", "src", "openapi"] {
            copy_dir(&from.join(dir), &package.join(dir));
        }
        for file in ["build.rs", "README.md", "Cargo.lock"] {
            fs::copy(from.join(file), package.join(file)).unwrap();
        }
        // The package alone: its `[workspace]` keeps no other members.
        let manifest = fs::read_to_string(from.join("Cargo.toml")).unwrap();
        let alone: String = manifest
            .lines()
            .filter(|line| !line.starts_with("members = "))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_ne!(
            alone, manifest,
            "Cargo.toml lists the workspace's members on one line"
        );
        fs::write(package.join("Cargo.toml"), alone).unwrap();
        Self {
            semver_checks: semver_checks(&root),
            root,
        }
    }

    fn write_spec(&self, spec: &Value, name: &str) -> PathBuf {
        let text = serde_json::to_string_pretty(spec).unwrap();
        let file = self.root.join(format!("{name}.json"));
        fs::write(&file, &text).unwrap();
        // JSON is YAML: the build reads it as it reads the real spec.
        fs::write(self.root.join("crate/openapi/codearts-repo.yaml"), &text).unwrap();
        file
    }

    /// The library's rustdoc JSON (as cargo-semver-checks makes it) for `spec`.
    fn rustdoc(&self, spec: &Value, name: &str) -> PathBuf {
        self.write_spec(spec, name);
        let target = self.root.join("target");
        let status = Command::new(env!("CARGO"))
            .current_dir(self.root.join("crate"))
            .args(["rustdoc", "--lib", "--offline", "--quiet", "--target-dir"])
            .arg(&target)
            .args([
                "--",
                "-Z",
                "unstable-options",
                "--document-private-items",
                "--document-hidden-items",
                "--output-format=json",
                "--cap-lints=allow",
            ])
            // What cargo-semver-checks does on a stable toolchain: rustdoc's JSON is unstable.
            .env("RUSTC_BOOTSTRAP", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the library builds from the {name} spec");
        let json = self.root.join(format!("{name}.rustdoc.json"));
        fs::copy(target.join("doc/codearts_repo.json"), &json).unwrap();
        json
    }

    fn spec_diff(&self, before: &Value, after: &Value) -> Verdict {
        let (old, new) = (
            self.write_spec(before, "spec-before"),
            self.write_spec(after, "spec-after"),
        );
        let output = common::codearts()
            .arg("spec-diff")
            .args([&old, &new])
            .args(["--output", "json"])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "spec-diff's JSON: {e}: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert!(report["compatible"].as_u64().unwrap() + report["breaking"].as_u64().unwrap() > 0);
        if report["breaking"].as_u64().unwrap() > 0 {
            Verdict::Breaking
        } else {
            Verdict::NotBreaking
        }
    }

    /// cargo-semver-checks' verdict on `current` against `baseline`, asked as for a patch
    /// release, so that anything it sees as needing more says so.
    fn semver_checks(&self, baseline: &Path, current: &Path) -> Verdict {
        let output = Command::new(&self.semver_checks)
            .args(["semver-checks", "check-release", "--release-type", "patch"])
            .arg("--baseline-rustdoc")
            .arg(baseline)
            .arg("--current-rustdoc")
            .arg(current)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("Summary "))
            .unwrap_or_else(|| panic!("no summary from cargo-semver-checks: {text}"));
        if summary.starts_with("semver requires new major version") {
            Verdict::Breaking
        } else {
            // "no semver update required", or a minor-level lint (a 0.x patch).
            assert!(
                output.status.success() || summary.contains("minor"),
                "{text}"
            );
            Verdict::NotBreaking
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &path);
        } else {
            fs::copy(entry.path(), path).unwrap();
        }
    }
}

/// The pinned cargo-semver-checks: the one on PATH when it is that version (CI installs it),
/// else one installed under the target directory.
fn semver_checks(root: &Path) -> PathBuf {
    let on_path = Command::new("cargo-semver-checks")
        .args(["semver-checks", "--version"])
        .output();
    if let Ok(output) = on_path
        && String::from_utf8_lossy(&output.stdout).contains(SEMVER_CHECKS)
    {
        return PathBuf::from("cargo-semver-checks");
    }
    let tools = root.join("tools");
    let installed = tools.join("bin/cargo-semver-checks");
    let version = Command::new(&installed)
        .args(["semver-checks", "--version"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if !version.contains(SEMVER_CHECKS) {
        eprintln!(
            "installing cargo-semver-checks {SEMVER_CHECKS} into {}",
            tools.display()
        );
        let status = Command::new(env!("CARGO"))
            .args([
                "install",
                "cargo-semver-checks",
                "--locked",
                "--quiet",
                "--force",
            ])
            .args(["--version", SEMVER_CHECKS, "--root"])
            .arg(&tools)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cargo install cargo-semver-checks {SEMVER_CHECKS}"
        );
    }
    installed
}
