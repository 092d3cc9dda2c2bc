//! What the README's `kubectl apply` commands apply, selected as kubectl selects it (`-f DIR`:
//! every manifest file in DIR; `-k DIR`: the kustomization's resources and components): the
//! fleet without the placeholder Secret by default, with it only from the opt-in overlay.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The manifest files `kubectl apply -f dir` reads: the directory's own, not its subfolders'.
fn with_f(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    files
}

/// The files a kustomization in `dir` (given as `text`) takes in, through its resources and
/// components, each of which must exist.
fn with_k(dir: &Path, text: &str) -> Vec<PathBuf> {
    let kustomization: Value = serde_norway::from_str(text).unwrap();
    let mut files = Vec::new();
    for field in ["resources", "components"] {
        for entry in kustomization[field].as_array().into_iter().flatten() {
            let path = lexical(&dir.join(entry.as_str().unwrap()));
            assert!(
                path.exists(),
                "{} names {}: missing",
                dir.display(),
                path.display()
            );
            if path.is_dir() {
                let inner = std::fs::read_to_string(path.join("kustomization.yaml")).unwrap();
                files.extend(with_k(&path, &inner));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// `a/b/../c` as `a/c`, as kustomize resolves a relative path (the overlay's directory
/// need not exist).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// What `kubectl apply ARGS` would apply, as (kind, name), from the repository's root.
fn selected(args: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let files = match words.as_slice() {
        ["-f", dir] => with_f(&lexical(&root().join(dir))),
        ["-k", dir] => {
            let dir = lexical(&root().join(dir));
            with_k(
                &dir,
                &std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap(),
            )
        }
        _ => panic!("unexpected kubectl apply {args}"),
    };
    files
        .iter()
        .map(|f| {
            let doc = yaml(f);
            let kind = doc["kind"].as_str().unwrap().to_owned();
            (kind, doc["metadata"]["name"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The README's `kubectl apply` lines, without the comments after them.
fn readme_applies() -> Vec<String> {
    std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("kubectl apply "))
        .map(|l| l.split('#').next().unwrap().trim().to_owned())
        .collect()
}

fn kinds(selection: &[(String, String)]) -> Vec<&str> {
    let mut kinds: Vec<&str> = selection.iter().map(|(k, _)| k.as_str()).collect();
    kinds.sort();
    kinds
}

#[test]
fn the_readmes_command_applies_the_fleet_and_no_secret() {
    let applies = readme_applies();
    let first = applies.first().expect("the README applies the deployment");
    assert_eq!(first, "-k deploy/kubernetes/");
    let selection = selected(first);
    assert_eq!(
        kinds(&selection),
        [
            "ConfigMap",
            "PersistentVolumeClaim",
            "Service",
            "StatefulSet"
        ]
    );
    // Every manifest beside the kustomization is in it: none is forgotten by -k.
    let dir = lexical(&root().join("deploy/kubernetes"));
    let listed = with_k(
        &dir,
        &std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap(),
    );
    for file in with_f(&dir) {
        if file.file_name().unwrap() != "kustomization.yaml" {
            assert!(listed.contains(&file), "{} not listed", file.display());
        }
    }
    // Even `kubectl apply -f deploy/kubernetes/` would not take the Secret.
    let by_f: Vec<PathBuf> = with_f(&dir);
    assert!(
        by_f.iter().all(|f| yaml(f)["kind"] != "Secret"),
        "a Secret at the top of deploy/kubernetes: {by_f:?}"
    );
}

#[test]
fn the_secret_comes_only_from_the_opt_in_overlay() {
    // The overlay the README writes (`cat > my-fleet/kustomization.yaml <<'EOF'`).
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("cat > my-fleet/kustomization.yaml <<'EOF'\n")
        .expect("the README's overlay");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[..body.find("\nEOF\n").unwrap()];
    let selection = with_k(&lexical(&root().join("my-fleet")), body);
    let selection: Vec<(String, String)> = selection
        .iter()
        .map(|f| {
            let doc = yaml(f);
            (
                doc["kind"].as_str().unwrap().to_owned(),
                doc["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds(&selection),
        [
            "ConfigMap",
            "PersistentVolumeClaim",
            "Secret",
            "Service",
            "StatefulSet"
        ]
    );
    assert_eq!(
        readme_applies().get(1).map(String::as_str),
        Some("-k my-fleet/")
    );
    // The Secret's component is a Component, and the StatefulSet reads that Secret.
    let component =
        yaml(&root().join("deploy/kubernetes/components/credentials/kustomization.yaml"));
    assert_eq!(component["kind"], "Component");
    let secret = selection.iter().find(|(k, _)| k == "Secret").unwrap();
    let set = yaml(&root().join("deploy/kubernetes/statefulset.yaml"));
    assert_eq!(
        set["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"],
        secret.1.as_str()
    );
}
