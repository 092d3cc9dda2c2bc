//! The Kubernetes manifests in deploy/kubernetes fit together and run as written: the names
//! they share agree, the probes and the scrape settings name the port the watch listens on,
//! and the container's arguments, with the pod's variables filled in, run a watch of the
//! replica's shard (against the embedded server instead of the region). Schema validation
//! is CI's (`kubernetes-validate`, offline).

mod common;

use std::path::Path;

use common::{codearts, run, watching::Loopback};
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

    // The arguments as the kubelet expands them, for replica 0, with the ids and the state
    // on local paths and the embedded server instead of the region: one round (--once).
    let loopback = Loopback::start(2);
    let dir = tempfile::tempdir().unwrap();
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(
        &ids_file,
        manifest("ids.configmap.yaml")["data"]["ids.txt"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for id in [2112036131, 2112036132] {
        loopback.push(id, 1);
    }
    let expanded: Vec<String> = args
        .iter()
        .map(|arg| {
            arg.replace("$(POD_INDEX)", "0")
                .replace("$(SHARD_COUNT)", value("SHARD_COUNT").unwrap())
                .replace("/config/ids.txt", ids_file.to_str().unwrap())
                .replace(
                    "=/state",
                    &format!("={}", dir.path().join("state").display()),
                )
                .replace("--listen=:9100", "--listen=127.0.0.1:0")
        })
        .map(|arg| match arg.strip_prefix("--region=") {
            Some(_) => format!("--endpoint={}", loopback.server.url()),
            None => arg,
        })
        .collect();
    let out = run(codearts()
        .args(&expanded)
        .arg("--once")
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 0, "{expanded:?}: {}", out.stderr);
    let printed = out.stdout.lines().count();
    assert!(printed <= 2, "{}", out.stdout);
    assert!(
        dir.path().join("state/shard-0.json").exists(),
        "{}",
        out.stderr
    );
}
