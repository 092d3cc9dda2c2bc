//! What docs/deploying.md's commands apply and create, selected as kubectl selects it (`-f DIR`:
//! every manifest file in DIR; `-k DIR`: the kustomization's resources, components and
//! generated ConfigMaps; `kubectl create secret generic`: a Secret and its keys): the fleet
//! without Secrets by default, and the Secrets its pods read from docs/deploying.md's commands or
//! from the opt-in overlay.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An object that a command applies: its kind and name, and the file it comes from (the
/// manifest, or a generated ConfigMap's source).
#[derive(Debug)]
struct Selected {
    kind: String,
    name: String,
    from: PathBuf,
}

/// The manifest files `kubectl apply -f dir` reads: the directory's own, not its subfolders'.
fn with_f(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && is_manifest(p))
        .collect();
    files.sort();
    files
}

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

/// What a kustomization in `dir` (given as `text`) applies, through its resources,
/// components and ConfigMap generators, each of whose files must exist.
fn with_k(dir: &Path, text: &str) -> Vec<Selected> {
    let kustomization: Value = serde_norway::from_str(text).unwrap();
    let mut selected = Vec::new();
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
                selected.extend(with_k(&path, &inner));
            } else {
                let doc = yaml(&path);
                selected.push(Selected {
                    kind: doc["kind"].as_str().unwrap().to_owned(),
                    name: doc["metadata"]["name"].as_str().unwrap().to_owned(),
                    from: path,
                });
            }
        }
    }
    for generator in kustomization["configMapGenerator"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for file in generator["files"].as_array().unwrap() {
            // `files: [key=path]` or `files: [path]` (the key is then the file's name).
            let file = file.as_str().unwrap();
            let path = lexical(&dir.join(file.rsplit('=').next().unwrap()));
            assert!(
                path.is_file(),
                "{} generates from {file}: missing",
                dir.display()
            );
            selected.push(Selected {
                kind: "ConfigMap".into(),
                name: generator["name"].as_str().unwrap().to_owned(),
                from: path,
            });
        }
    }
    selected
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

fn base() -> PathBuf {
    lexical(&root().join("deploy/kubernetes"))
}

fn kustomization() -> Value {
    yaml(&base().join("kustomization.yaml"))
}

/// What `kubectl apply ARGS` would apply, from the repository's root.
fn applied(args: &str) -> Vec<Selected> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        ["-k", dir] => {
            let dir = lexical(&root().join(dir));
            with_k(
                &dir,
                &std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap(),
            )
        }
        _ => panic!("unexpected kubectl apply {args}"),
    }
}

/// docs/deploying.md, where the commands that deploy the fleet are.
fn page() -> String {
    std::fs::read_to_string(root().join("docs/deploying.md")).unwrap()
}

/// The deployment page's shell commands, continuation lines joined, without the comments after them.
fn page_commands() -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in page().lines() {
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current).trim().to_owned());
            }
        }
    }
    commands
}

/// The deployment page's `kubectl apply` arguments.
fn page_applies() -> Vec<String> {
    page_commands()
        .iter()
        .filter_map(|l| l.strip_prefix("kubectl apply "))
        .map(|l| l.split('#').next().unwrap().trim().to_owned())
        .collect()
}

fn kinds(selection: &[Selected]) -> Vec<&str> {
    let mut kinds: Vec<&str> = selection.iter().map(|s| s.kind.as_str()).collect();
    kinds.sort();
    kinds
}

fn deployment() -> Value {
    yaml(&base().join("deployment.yaml"))
}

fn container() -> Value {
    deployment()["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The Secrets the pods read and must find, as (name, key): the database's URL, and the keys
/// of the CA volume (which may be missing as a whole, but holds only these keys).
fn secrets_read() -> Vec<(String, String)> {
    let mut read = Vec::new();
    for env in container()["env"].as_array().unwrap() {
        let secret = &env["valueFrom"]["secretKeyRef"];
        if secret.is_object() {
            assert_ne!(secret["optional"], true, "{env}");
            read.push((
                secret["name"].as_str().unwrap().to_owned(),
                secret["key"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for volume in deployment()["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
    {
        let secret = &volume["secret"];
        for item in secret["items"].as_array().into_iter().flatten() {
            read.push((
                secret["secretName"].as_str().unwrap().to_owned(),
                item["key"].as_str().unwrap().to_owned(),
            ));
        }
    }
    read.sort();
    read
}

#[test]
fn the_pages_command_applies_the_fleet_and_no_secret() {
    let applies = page_applies();
    let first = applies.first().expect("the page applies the deployment");
    assert_eq!(first, "-k deploy/kubernetes/");
    let selection = applied(first);
    assert_eq!(
        kinds(&selection),
        ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    );
    // Every manifest beside the kustomization is in it: none is forgotten by -k.
    let dir = base();
    for file in with_f(&dir) {
        if file.file_name().unwrap() != "kustomization.yaml" {
            assert!(
                selection.iter().any(|s| s.from == file),
                "{} not listed",
                file.display()
            );
        }
    }
    // Even `kubectl apply -f deploy/kubernetes/` would not take a Secret.
    let by_f: Vec<PathBuf> = with_f(&dir);
    assert!(
        by_f.iter().all(|f| yaml(f)["kind"] != "Secret"),
        "a Secret at the top of deploy/kubernetes: {by_f:?}"
    );

    // The ids' ConfigMap is generated, from a file that is no manifest (CI validates every
    // *.yaml as one, and `kubectl apply -f` would take it for one), under a name that
    // carries a hash of the file: an edit changes the pod template, so the pods roll.
    let ids = selection.iter().find(|s| s.kind == "ConfigMap").unwrap();
    assert!(!is_manifest(&ids.from), "{}", ids.from.display());
    let kustomization = kustomization();
    assert_ne!(
        kustomization["generatorOptions"]["disableNameSuffixHash"],
        true
    );
    for generator in kustomization["configMapGenerator"].as_array().unwrap() {
        assert_ne!(generator["options"]["disableNameSuffixHash"], true);
    }
    // The Deployment mounts it by that name, which kustomize suffixes in both places.
    let volumes = deployment()["spec"]["template"]["spec"]["volumes"].clone();
    let mounted = volumes
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap()
        .to_owned();
    assert_eq!(mounted, ids.name);
    // The page says where the list is edited.
    let text = page();
    let file = ids.from.file_name().unwrap().to_str().unwrap();
    assert!(
        text.contains(&format!("after editing {file}")),
        "the page names {file}"
    );
}

/// The Secrets the pods read come from the deployment page's `kubectl create secret` commands, or from
/// the components of the deployment page's overlay: the same names and keys either way.
#[test]
fn the_secrets_come_from_the_pages_commands_or_the_opt_in_overlay() {
    let read = secrets_read();
    assert!(
        read.contains(&("codearts-watch-database".into(), "url".into())),
        "{read:?}"
    );

    // `kubectl create secret generic NAME --from-literal=KEY=... --from-file=KEY=PATH`.
    let mut created: Vec<(String, String)> = Vec::new();
    for command in page_commands() {
        let Some(rest) = command.strip_prefix("kubectl create secret generic ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap().to_owned();
        for word in words {
            let key = word
                .strip_prefix("--from-literal=")
                .or_else(|| word.strip_prefix("--from-file="))
                .and_then(|given| given.split_once('='))
                .map(|(key, _)| key.to_owned())
                .unwrap_or_else(|| panic!("a key of its own for each value: {command}"));
            created.push((name.clone(), key));
        }
    }
    created.sort();
    created.dedup();
    assert_eq!(created, read, "what the page creates is what the pods read");

    // The overlay the page writes (`cat > my-fleet/kustomization.yaml <<'EOF'`).
    let text = page();
    let start = text
        .find("cat > my-fleet/kustomization.yaml <<'EOF'\n")
        .expect("the deployment page's overlay");
    let body = &text[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[..body.find("\nEOF\n").unwrap()];
    let selection = with_k(&lexical(&root().join("my-fleet")), body);
    assert_eq!(
        kinds(&selection),
        [
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Secret",
            "Secret",
            "Service"
        ]
    );
    assert_eq!(
        page_applies().get(1).map(String::as_str),
        Some("-k my-fleet/")
    );
    let overlay: Value = serde_norway::from_str(body).unwrap();
    for component in overlay["components"].as_array().unwrap() {
        let dir = lexical(&root().join("my-fleet").join(component.as_str().unwrap()));
        assert_eq!(yaml(&dir.join("kustomization.yaml"))["kind"], "Component");
    }
    // The Deployment reads both Secrets: the keys (envFrom, optional), the URL (by key).
    let secrets: Vec<&Selected> = selection.iter().filter(|s| s.kind == "Secret").collect();
    let container = container();
    let credentials = container["envFrom"][0]["secretRef"].clone();
    assert_eq!(credentials["optional"], true);
    let database = secrets
        .iter()
        .find(|s| s.name != credentials["name"])
        .unwrap();
    assert!(secrets.iter().any(|s| s.name == credentials["name"]));
    let keys: Vec<String> = yaml(&database.from)["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for (name, key) in read.iter().filter(|(name, _)| *name == database.name) {
        assert!(keys.contains(key), "{name} has no {key}: {keys:?}");
    }
    assert!(
        read.iter().any(|(name, _)| *name == database.name),
        "{} is read by no pod",
        database.name
    );
}
