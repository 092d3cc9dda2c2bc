//! The Dockerfile agrees with the workspace: its builder is a pinned Rust at least as new as
//! the packages ask, it builds a package and a binary that exist (with features that exist),
//! it copies what the workspace needs to load and nothing `.dockerignore` leaves out, and the
//! runtime stage runs that binary as the user the Deployment runs. Building the image needs
//! base images this machine cannot pull; CI lints the file with hadolint.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn toml_file(path: &str) -> toml::Table {
    read(path).parse().unwrap()
}

/// An instruction: its keyword, upper-cased, and its arguments.
type Instruction = (String, String);

/// A stage: its base image, its name, its instructions.
type Stage = (String, Option<String>, Vec<Instruction>);

/// The Dockerfile's instructions, continuation lines joined.
fn instructions() -> Vec<Instruction> {
    let text = read("Dockerfile");
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (keyword.to_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

/// The stages, in order.
fn stages() -> Vec<Stage> {
    let mut stages = Vec::new();
    for (keyword, args) in instructions() {
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                [_] => None,
                _ => panic!("FROM {args}: expected `IMAGE [AS NAME]`"),
            };
            stages.push((words[0].to_owned(), name, Vec::new()));
        } else {
            stages
                .last_mut()
                .expect("an instruction before FROM")
                .2
                .push((keyword, args));
        }
    }
    stages
}

/// A version `1.95.0` or `1.89` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    text.split('.').map(|n| n.parse().unwrap()).collect()
}

/// The value after `--flag` (or `--flag=value`) in a command line.
fn flag<'a>(words: &[&'a str], name: &str) -> Option<&'a str> {
    let with_equals = format!("{name}=");
    words.iter().enumerate().find_map(|(at, word)| {
        if *word == name {
            words.get(at + 1).copied()
        } else {
            word.strip_prefix(with_equals.as_str())
        }
    })
}

/// Whether `.dockerignore` keeps `path` out of the build context.
fn ignored(path: &str, patterns: &[String]) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('/');
        match pattern.strip_prefix("**/") {
            Some(name) => components.contains(&name),
            None => path == pattern || path.starts_with(&format!("{pattern}/")),
        }
    })
}

#[test]
fn the_dockerfile_builds_the_workspaces_codearts_binary_as_a_non_root_user() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a builder and a runtime stage");
    let (builder_image, builder_name, build) = &stages[0];
    let (runtime_image, _, runtime) = &stages[1];
    let builder_name = builder_name.as_deref().expect("the builder stage is named");

    // A pinned toolchain (major.minor.patch, never `latest`), at least every rust-version.
    let tag = builder_image
        .strip_prefix("rust:")
        .expect("the official Rust image");
    let pinned = tag.split('-').next().unwrap();
    assert_eq!(pinned.split('.').count(), 3, "pinned to a patch: {tag}");
    for manifest in ["Cargo.toml", "cli/Cargo.toml"] {
        let wanted = toml_file(manifest)["package"]["rust-version"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            version(pinned) >= version(&wanted),
            "{manifest} needs Rust {wanted}; the builder has {pinned}"
        );
    }
    // The builder's Debian is the runtime's, so the binary's glibc is there.
    assert!(tag.ends_with("-bookworm"), "{tag}");
    assert!(
        runtime_image.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "{runtime_image}"
    );

    // The build: a package of the workspace, a binary it declares, features it has.
    let run = build
        .iter()
        .find(|(k, a)| k == "RUN" && a.contains("cargo build"))
        .map(|(_, a)| a.as_str())
        .expect("a RUN with cargo build");
    let words: Vec<&str> = run.split_whitespace().collect();
    for required in ["--release", "--locked"] {
        assert!(words.contains(&required), "cargo build without {required}");
    }
    let package = flag(&words, "--package").expect("--package");
    let binary = flag(&words, "--bin").expect("--bin");
    let members = toml_file("Cargo.toml")["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let member = members
        .iter()
        .find(|m| {
            toml_file(&format!("{m}/Cargo.toml"))["package"]["name"].as_str() == Some(package)
        })
        .unwrap_or_else(|| panic!("no workspace member is package {package}"));
    let manifest = toml_file(&format!("{member}/Cargo.toml"));
    let bins: Vec<&str> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(
        bins.contains(&binary),
        "{package} has {bins:?}, not {binary}"
    );
    if let Some(features) = flag(&words, "--features") {
        let declared = manifest.get("features").and_then(|f| f.as_table());
        for feature in features.split(',') {
            assert!(
                declared.is_some_and(|d| d.contains_key(feature)),
                "{package} has no feature {feature}"
            );
        }
    }
    // Where the binary is put, taken from, and run.
    let built = format!("/src/target/release/{binary}");
    let cp = run
        .split("&&")
        .map(str::trim)
        .find(|c| c.starts_with("cp "))
        .expect("the binary copied out of the cache mount");
    let cp: Vec<&str> = cp.split_whitespace().collect();
    assert_eq!(cp[1], built, "the workdir is /src");
    let staged = cp[2];
    let (_, from) = runtime
        .iter()
        .find(|(k, a)| k == "COPY" && a.starts_with("--from="))
        .expect("COPY --from the builder");
    let from: Vec<&str> = from.split_whitespace().collect();
    assert_eq!(from[0], format!("--from={builder_name}"));
    assert_eq!(from[1], staged);
    let installed = from[2];
    let (_, entrypoint) = runtime.iter().find(|(k, _)| k == "ENTRYPOINT").unwrap();
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec form");
    assert_eq!(entrypoint, [installed]);
    assert!(installed.ends_with("/codearts"), "{installed}");

    // The user: numeric (so runAsNonRoot can check it) and the one the Deployment runs.
    let (_, user) = runtime.iter().find(|(k, _)| k == "USER").unwrap();
    let set: serde_json::Value =
        serde_norway::from_str(&read("deploy/kubernetes/deployment.yaml")).unwrap();
    let pod_user = &set["spec"]["template"]["spec"]["securityContext"]["runAsUser"];
    assert_eq!(user, &format!("{pod_user}:{pod_user}"));
    assert_ne!(pod_user, 0);
}

/// The files the builder copies are what the workspace needs: loaded from a context holding
/// only them, cargo finds the package and its binary (as `docker build` would give it).
#[test]
fn the_build_context_holds_the_whole_workspace_and_nothing_ignored() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(ignored("target", &patterns), "the build output stays out");
    assert!(ignored(".git", &patterns));
    let stages = stages();
    let mut copied = Vec::new();
    for (keyword, args) in &stages[0].2 {
        if keyword == "COPY" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let (sources, _) = words.split_at(words.len() - 1);
            copied.extend(sources.iter().map(|s| s.trim_end_matches('/').to_owned()));
        }
    }
    let context = tempfile::tempdir().unwrap();
    for path in &copied {
        assert!(!ignored(path, &patterns), ".dockerignore drops {path}");
        copy(&root().join(path), &context.path().join(path));
    }
    for member in toml_file("Cargo.toml")["workspace"]["members"]
        .as_array()
        .unwrap()
    {
        let member = member.as_str().unwrap();
        if member != "." {
            assert!(copied.iter().any(|c| c == member), "{member} not copied");
        }
    }
    for needed in ["Cargo.lock", "build.rs", "build", "openapi", "src"] {
        assert!(copied.iter().any(|c| c == needed), "{needed} not copied");
    }
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version=1",
            "--no-deps",
            "--locked",
            "--offline",
        ])
        .current_dir(context.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = metadata["packages"].as_array().unwrap().iter().any(|p| {
        p["name"] == "codearts-cli"
            && p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "codearts" && t["kind"][0] == "bin")
    });
    assert!(found, "the copied workspace has no codearts binary");
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        if from.file_name().is_some_and(|n| n == "target") {
            return;
        }
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// docs/deploying.md builds, tags and pushes the image the Deployment runs, at the command's
/// version.
#[test]
fn the_deployment_page_pushes_the_image_the_deployment_runs() {
    let set: serde_json::Value =
        serde_norway::from_str(&read("deploy/kubernetes/deployment.yaml")).unwrap();
    let image = set["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    let version = toml_file("cli/Cargo.toml")["package"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(image.ends_with(&format!("/codearts:{version}")), "{image}");
    let readme = read("docs/deploying.md");
    let pushed: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("docker push "))
        .collect();
    assert_eq!(pushed, [image]);
    let tagged = format!("docker tag codearts:{version} {image}");
    assert!(readme.contains(&tagged), "no `{tagged}`");
    assert!(readme.contains(&format!("docker build -t codearts:{version} .")));
    // Every image a page shows in a manifest is that one.
    let readme = format!("{readme}{}", read("docs/credentials.md"));
    for line in readme.lines().filter(|l| l.trim().starts_with("image:")) {
        assert_eq!(line.trim(), format!("image: {image}"));
    }
}
