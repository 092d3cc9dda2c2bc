//! The Kubernetes manifests in deploy/kubernetes fit together and run as written: the names
//! they share agree, the probes and the scrape settings name the port the watch listens on,
//! and the container's arguments, with the pod's variables filled in, run a watch of the
//! replica's shard (against the embedded server instead of the region). Schema validation
//! is CI's (`kubernetes-validate`, offline).

mod common;

use std::path::Path;

use codearts_repo::{RepositoryId, watch::Shard};
use common::{
    codearts, run,
    watching::{Loopback, Watching},
};
use serde_json::Value;

fn manifest(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::from_str(&text).unwrap()
}

#[test]
fn the_manifests_agree_and_the_container_runs_as_written() {
    let set = manifest("statefulset.yaml");
    let pod = &set["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let env: Vec<(&str, Option<&str>)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str()))
        .collect();
    let value = |name: &str| env.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v);

    // N in the template is the replica count; K comes from the pod's index.
    assert_eq!(
        value("SHARD_COUNT").unwrap(),
        set["spec"]["replicas"].as_u64().unwrap().to_string()
    );
    let index = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_INDEX")
        .unwrap();
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    // The names the other manifests give.
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    let claim = volumes
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str());
    let pvc = manifest("state.pvc.yaml");
    assert_eq!(claim, pvc["metadata"]["name"].as_str());
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");
    let ids = volumes.iter().find_map(|v| v["configMap"]["name"].as_str());
    assert_eq!(
        ids,
        manifest("ids.configmap.yaml")["metadata"]["name"].as_str()
    );
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        manifest("components/credentials/credentials.secret.example.yaml")["metadata"]["name"]
    );
    // Probes, scrape settings and the service name the port the watch listens on.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--listen=:9100"), "{args:?}");
    assert_eq!(container["ports"][0]["containerPort"], 9100);
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "9100");
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/path"],
        "/metrics"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(manifest("service.yaml")["spec"]["ports"][0]["port"], 9100);

    // The grace period outlasts the slowest orderly stop: a poll in flight (--timeout, 30 s
    // by default) and then a save.
    let timeout = args
        .iter()
        .find_map(|arg| arg.strip_prefix("--timeout="))
        .map_or(30, |t| humantime::parse_duration(t).unwrap().as_secs());
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace >= timeout + 10,
        "{grace}s of grace for a {timeout}s poll and a save"
    );
    // Liveness is the process's (/healthz), readiness the service's (/readyz): an outage of
    // the service must not restart the fleet.
    let probed = |probe: &str| {
        container[probe]["httpGet"]["path"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(probed("livenessProbe").as_deref(), Some("/healthz"));
    assert_eq!(probed("readinessProbe").as_deref(), Some("/readyz"));

    // The arguments as the kubelet expands them, for each replica, with the ids and the
    // state on local paths and the embedded server instead of the region: one round
    // (--once). Each prints the ids of its shard, and the replicas together each id once.
    let loopback = Loopback::start(2);
    let dir = tempfile::tempdir().unwrap();
    let ids = shipped_ids(dir.path());
    for &id in &ids {
        loopback.push(id, 1);
    }
    let count: u32 = value("SHARD_COUNT").unwrap().parse().unwrap();
    let mut printed = Vec::new();
    for k in 0..count {
        let expanded = expand(&args, k, count, dir.path(), &loopback);
        let out = run(codearts()
            .args(&expanded)
            .arg("--once")
            .env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, 0, "{expanded:?}: {}", out.stderr);
        let mut mine: Vec<u32> = out
            .stdout
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .map(|line| u32::try_from(line["repository_id"].as_u64().unwrap()).unwrap())
            .collect();
        mine.sort();
        let shard: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| shard_of(id, count) == k)
            .collect();
        assert_eq!(mine, shard, "replica {k} of {count}: {}", out.stdout);
        printed.extend(mine);
        assert!(
            dir.path().join(format!("state/shard-{k}.json")).exists(),
            "{}",
            out.stderr
        );
    }
    printed.sort();
    assert_eq!(printed, ids, "every id once across the replicas");
}

/// The ids of the ConfigMap, written where `--ids-file` will read them.
fn shipped_ids(dir: &Path) -> Vec<u32> {
    let text = manifest("ids.configmap.yaml")["data"]["ids.txt"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(dir.join("ids.txt"), &text).unwrap();
    let mut ids: Vec<u32> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.parse().unwrap())
        .collect();
    ids.sort();
    ids
}

fn shard_of(id: u32, count: u32) -> u32 {
    Shard::of(RepositoryId::new(id).unwrap(), count)
}

/// The container's arguments as the kubelet expands them for replica `k` of `count`, with
/// the ids and state under `dir`, the embedded server instead of the region, and a port of
/// its own.
fn expand(args: &[&str], k: u32, count: u32, dir: &Path, loopback: &Loopback) -> Vec<String> {
    args.iter()
        .map(|arg| {
            arg.replace("$(POD_INDEX)", &k.to_string())
                .replace("$(SHARD_COUNT)", &count.to_string())
                .replace("/config/ids.txt", dir.join("ids.txt").to_str().unwrap())
                .replace("=/state", &format!("={}", dir.join("state").display()))
                .replace("--listen=:9100", "--listen=127.0.0.1:0")
        })
        .map(|arg| match arg.strip_prefix("--region=") {
            Some(_) => format!("--endpoint={}", loopback.server.url()),
            None => arg,
        })
        .collect()
}

/// The README's scaling command, as written: `kubectl patch` with its patch.
fn readme_patch() -> (String, Value) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("kubectl patch statefulset codearts-watch")
        .expect("the README's scaling command");
    let command = &readme[start..];
    let open = command.find('\'').unwrap();
    let close = open + 1 + command[open + 1..].find('\'').unwrap();
    let patch = serde_json::from_str(&command[open + 1..close]).unwrap();
    (command[..open].to_owned(), patch)
}

/// `kubectl patch`'s default, a strategic merge patch, for what a StatefulSet's patch
/// touches: objects merged key by key, lists of named objects (containers, env) merged by
/// name.
fn strategic_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                strategic_merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (Value::Array(target), Value::Array(patch))
            if patch.iter().all(|item| item["name"].is_string()) =>
        {
            for item in patch {
                match target.iter_mut().find(|t| t["name"] == item["name"]) {
                    Some(existing) => strategic_merge(existing, item),
                    None => target.push(item.clone()),
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The README's scaling command names what it changes (SHARD_COUNT by name, not by its place
/// in the list), changes the replica count and N together, and, applied to the shipped
/// manifest, gives 3 replicas that all become ready with the shipped ids, although one
/// shard holds none of them (with OrderedReady, a replica never ready stops the rollout).
#[test]
fn the_readmes_scaling_command_changes_replicas_and_shard_count_by_name_and_every_replica_gets_ready()
 {
    let (command, patch) = readme_patch();
    assert!(
        !command.contains("--type") || command.contains("--type=strategic"),
        "a strategic merge patch merges env by name: {command}"
    );
    let mut set = manifest("statefulset.yaml");
    let before = set["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    strategic_merge(&mut set, &patch);
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().unwrap();
    let shard_count = env.iter().find(|e| e["name"] == "SHARD_COUNT").unwrap();
    assert_eq!(set["spec"]["replicas"], 3);
    assert_eq!(shard_count["value"], "3");
    assert_eq!(env.len(), before.as_array().unwrap().len(), "{env:?}");
    for (after, before) in env.iter().zip(before.as_array().unwrap()) {
        if after["name"] != "SHARD_COUNT" {
            assert_eq!(after, before);
        }
    }

    let loopback = Loopback::start(0);
    let dir = tempfile::tempdir().unwrap();
    let ids = shipped_ids(dir.path());
    for &id in &ids {
        loopback.push(id, 1);
    }
    assert!(
        (0..3).any(|k| ids.iter().all(|&id| shard_of(id, 3) != k)),
        "the case this test is for: a shard without ids"
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let probe = &container["readinessProbe"]["httpGet"]["path"];
    for k in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let expanded: Vec<String> = expand(&args, k, 3, dir.path(), &loopback)
            .into_iter()
            .map(|arg| match arg.as_str() {
                "--listen=127.0.0.1:0" => format!("--listen=127.0.0.1:{port}"),
                // Its first polls within a second, not spread over a minute.
                "--interval=60s" => "--interval=1s".into(),
                _ => arg,
            })
            .collect();
        let mut command = codearts();
        command.args(&expanded).env("HUAWEICLOUD_SDK_TOKEN", "t");
        let watching = Watching::spawn(command);
        let url = format!("http://127.0.0.1:{port}{}", probe.as_str().unwrap());
        let mut status = String::new();
        for _ in 0..100 {
            let out = std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
                .output()
                .unwrap();
            status = String::from_utf8(out.stdout).unwrap();
            if status == "200" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(status, "200", "replica {k} of 3 never ready: {expanded:?}");
        assert_eq!(watching.stop("TERM"), Some(0));
    }
}
