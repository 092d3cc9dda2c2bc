//! The Kubernetes manifests in deploy/kubernetes fit together and run as written: the names
//! they share agree, the probes and the scrape settings name the port the watch listens on,
//! and the container's arguments, with the pod's variables filled in (the ids from the
//! generated ConfigMap, the database's URL from its Secret, here a throwaway PostgreSQL),
//! run replicas that elect one active watcher (against the embedded server instead of the
//! region). Schema and policy checks are CI's (`kubernetes-validate`, `checkov`, offline).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{
    codearts,
    postgres::Cluster,
    watching::{Loopback, Watching, created_at},
};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn manifest(name: &str) -> Value {
    let path = root().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_norway::from_str(&text).unwrap()
}

/// A page of the documentation, `docs/NAME.md`.
fn page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../docs/{name}.md"));
    std::fs::read_to_string(path).unwrap()
}

/// The text of the deployment page's `sh` blocks.
fn deploying_shell() -> String {
    page("deploying")
        .split("```sh\n")
        .skip(1)
        .map(|block| &block[..block.find("```").unwrap()])
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The one ConfigMap generator: its name and the files it takes in.
fn ids_generator() -> (String, Vec<String>) {
    let generators = manifest("kustomization.yaml")["configMapGenerator"].clone();
    let [generator] = generators.as_array().unwrap().as_slice() else {
        panic!("one generator: {generators}")
    };
    let files = strings(&generator["files"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    (generator["name"].as_str().unwrap().to_owned(), files)
}

/// `--NAME=VALUE`'s value in `args`.
fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|arg| arg.strip_prefix(&format!("--{name}=")))
}

#[test]
fn the_manifests_agree() {
    let set = manifest("deployment.yaml");
    assert_eq!(set["kind"], "Deployment");
    let pod = &set["spec"]["template"];
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    let args = strings(&container["args"]);

    // One replica is active and one stands by; a new one is ready (it reaches the database)
    // before an old one stops; a drain takes one at a time.
    assert_eq!(set["spec"]["replicas"], 2);
    let rolling = &set["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(set["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(rolling["maxUnavailable"], 0);
    assert!(rolling["maxSurge"].as_u64().unwrap() >= 1, "{rolling}");
    let budget = manifest("poddisruptionbudget.yaml");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert!(budget["spec"]["minAvailable"].is_null());
    // What the selectors select is the pods.
    let labels = &pod["metadata"]["labels"];
    let service = manifest("service.yaml");
    for selector in [
        &set["spec"]["selector"]["matchLabels"],
        &budget["spec"]["selector"]["matchLabels"],
        &service["spec"]["selector"],
    ] {
        for (key, value) in selector.as_object().unwrap() {
            assert_eq!(&labels[key], value, "{selector}");
        }
    }

    // No state of its own: everything is in the database, so any replica can take over.
    let volumes = spec["volumes"].as_array().unwrap();
    for volume in volumes {
        assert!(
            volume["configMap"].is_object() || volume["secret"].is_object(),
            "{volume}"
        );
    }
    for gone in ["shard", "state", "state-dir", "once"] {
        assert!(flag(&args, gone).is_none(), "--{gone} in {args:?}");
    }
    assert_eq!(flag(&args, "fleet"), Some("codearts-watch"));

    // The "restricted" Pod Security Standard, as the image's user.
    let pod_security = &spec["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], true);
    assert_eq!(pod_security["runAsUser"], 65532);
    assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);

    // The ids: the generated ConfigMap, mounted where --ids-file reads it.
    let (generated, files) = ids_generator();
    let mounts = container["volumeMounts"].as_array().unwrap();
    let mount_of = |volume: &Value| {
        let mount = mounts
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap_or_else(|| panic!("{volume} is not mounted"));
        assert_eq!(mount["readOnly"], true, "{mount}");
        mount["mountPath"].as_str().unwrap().to_owned()
    };
    let ids = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == generated.as_str())
        .unwrap();
    assert_eq!(files, ["ids.txt"]);
    assert_eq!(
        flag(&args, "ids-file").unwrap(),
        format!("{}/ids.txt", mount_of(ids))
    );

    // The database: its URL from the Secret the component gives (required: a replica without
    // it would watch on its own), its CA from an optional Secret, where every URL shown
    // has sslrootcert.
    let example = manifest("components/database/database.secret.example.yaml");
    let url = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "CODEARTS_WATCH_DATABASE_URL")
        .expect("the URL from a Secret");
    let reference = &url["valueFrom"]["secretKeyRef"];
    assert_eq!(reference["name"], example["metadata"]["name"]);
    assert_ne!(reference["optional"], true);
    let key = reference["key"].as_str().unwrap();
    let example_url = example["stringData"][key].as_str().unwrap();
    let ca = volumes.iter().find(|v| v["secret"].is_object()).unwrap();
    assert_eq!(ca["secret"]["optional"], true);
    let items = ca["secret"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the CA only, never a key: {items:?}");
    let mounted_ca = format!("{}/{}", mount_of(ca), items[0]["path"].as_str().unwrap());
    let text = format!("{example_url} {}", deploying_shell());
    let roots: Vec<&str> = text
        .split("sslrootcert=")
        .skip(1)
        .map(|rest| rest.split(['\'', '"', ' ', '&', '\n']).next().unwrap())
        .collect();
    assert!(
        roots.len() >= 3,
        "the example, RDS, CloudNativePG: {roots:?}"
    );
    for root in roots {
        assert_eq!(root, mounted_ca);
    }
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        manifest("components/credentials/credentials.secret.example.yaml")["metadata"]["name"]
    );

    // Probes, scrape settings and the service name the port the watch listens on.
    assert_eq!(flag(&args, "listen"), Some(":9100"));
    assert_eq!(container["ports"][0]["containerPort"], 9100);
    let port_name = &container["ports"][0]["name"];
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "9100");
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/path"],
        "/metrics"
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 9100);
    assert_eq!(&service["spec"]["ports"][0]["targetPort"], port_name);
    // Liveness is the process's (/healthz), readiness reaching the database (/readyz): an
    // outage of the database or the service must not restart the fleet.
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(&container[probe]["httpGet"]["port"], port_name);
    }

    // The grace period outlasts the slowest orderly stop: a poll in flight (--timeout, 30 s
    // by default) and then the last record.
    let timeout =
        flag(&args, "timeout").map_or(30, |t| humantime::parse_duration(t).unwrap().as_secs());
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace >= timeout + 10,
        "{grace}s of grace for a {timeout}s poll and a record"
    );
}

/// A replica as the kubelet starts it: the container's arguments with the pod's variables
/// expanded, its mounts on local directories, and the embedded server instead of the region.
struct Replica {
    watching: Watching,
    port: u16,
    args: Vec<String>,
}

/// The mounts, as files: the generated ConfigMap's files, and the CA's Secret, absent (a
/// loopback database needs none).
struct Mounts {
    dir: tempfile::TempDir,
}

impl Mounts {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (_, files) = ids_generator();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        for file in files {
            std::fs::copy(root().join(&file), dir.path().join("config").join(&file)).unwrap();
        }
        std::fs::create_dir(dir.path().join("secret")).unwrap();
        Self { dir }
    }

    /// Where a volume's files are.
    fn of(&self, volume: &Value) -> PathBuf {
        match volume["configMap"].is_object() {
            true => self.dir.path().join("config"),
            false => self.dir.path().join("secret"),
        }
    }
}

impl Replica {
    fn start(set: &Value, pod: &str, database: &str, loopback: &Loopback, mounts: &Mounts) -> Self {
        let spec = &set["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        // The variables as the kubelet sets them: the Secret's value is the test's database.
        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let name = e["name"].as_str().unwrap().to_owned();
                let reference = &e["valueFrom"]["secretKeyRef"];
                match (e["value"].as_str(), reference["name"].as_str()) {
                    (Some(value), _) => (name, value.to_owned()),
                    (None, Some("codearts-watch-database")) => (name, database.to_owned()),
                    _ => panic!("a variable this test cannot fill in: {e}"),
                }
            })
            .collect();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let volumes = spec["volumes"].as_array().unwrap();
        let args: Vec<String> = strings(&container["args"])
            .into_iter()
            .map(|arg| {
                let mut arg = arg.to_owned();
                for (name, value) in &env {
                    arg = arg.replace(&format!("$({name})"), value);
                }
                for mount in container["volumeMounts"].as_array().unwrap() {
                    let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
                    let local = mounts.of(volume);
                    let path = mount["mountPath"].as_str().unwrap();
                    arg = arg.replace(&format!("={path}/"), &format!("={}/", local.display()));
                }
                arg
            })
            .map(|arg| match arg.split_once('=') {
                Some(("--region", _)) => format!("--endpoint={}", loopback.server.url()),
                Some(("--listen", _)) => format!("--listen=127.0.0.1:{port}"),
                // The first polls within a second, not spread over the interval.
                Some(("--interval", _)) => "--interval=1s".into(),
                _ => arg,
            })
            .collect();
        let mut command = codearts();
        command
            .args(&args)
            .envs(env)
            .env("HOSTNAME", pod)
            .env("HUAWEICLOUD_SDK_TOKEN", "t");
        Self {
            watching: Watching::spawn(command),
            port,
            args,
        }
    }

    fn get(&self, path: &str) -> (String, String) {
        let out = Command::new("curl")
            .args(["-s", "-m", "2", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl runs");
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.to_owned(), body.to_owned())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get("/readyz");
            if status == "200" {
                return;
            }
            let args = &self.args;
            assert!(Instant::now() < deadline, "{args:?} never ready: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A gauge of /metrics.
    fn gauge(&self, name: &str) -> f64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, "200");
        body.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name}: {body}"))
            .parse()
            .unwrap()
    }
}

/// The ids of the generated ConfigMap's file.
fn shipped_ids() -> Vec<u32> {
    let text = std::fs::read_to_string(root().join("ids.txt")).unwrap();
    let mut ids: Vec<u32> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.parse().unwrap())
        .collect();
    ids.sort();
    ids
}

/// `count` replicas of the Deployment, started at once as a rollout does, and ready.
fn start(
    set: &Value,
    count: u64,
    database: &str,
    loopback: &Loopback,
    mounts: &Mounts,
) -> Vec<Replica> {
    let replicas: Vec<Replica> = (0..count)
        .map(|k| Replica::start(set, &format!("pod-{k}"), database, loopback, mounts))
        .collect();
    for replica in &replicas {
        replica.wait_ready();
    }
    replicas
}

/// The Deployment's `--lease`.
fn lease(set: &Value) -> Duration {
    let args = strings(&set["spec"]["template"]["spec"]["containers"][0]["args"]);
    humantime::parse_duration(flag(&args, "lease").unwrap()).unwrap()
}

type Line = (u64, String, bool);

/// What each replica prints until `n` lines in all have come (or `within` has passed), and
/// when they had; then a little longer, so that a second printer would show.
fn printed(replicas: &[Replica], n: usize, within: Duration) -> (Vec<Vec<Line>>, Instant) {
    let mut lines = vec![Vec::new(); replicas.len()];
    let deadline = Instant::now() + within;
    while lines.iter().map(Vec::len).sum::<usize>() < n && Instant::now() < deadline {
        for (replica, lines) in replicas.iter().zip(&mut lines) {
            lines.extend(replica.watching.during(Duration::from_millis(20)));
        }
    }
    let came = Instant::now();
    for (replica, lines) in replicas.iter().zip(&mut lines) {
        lines.extend(replica.watching.during(Duration::from_millis(1500)));
    }
    (lines, came)
}

/// The one replica that printed, and what it printed, sorted.
fn one_printer(printed: Vec<Vec<Line>>) -> (usize, Vec<Line>) {
    let printers: Vec<usize> = (0..printed.len())
        .filter(|&k| !printed[k].is_empty())
        .collect();
    let [active] = printers.as_slice() else {
        panic!("not one replica printing: {printed:?}")
    };
    let mut lines = printed[*active].clone();
    lines.sort();
    (*active, lines)
}

fn each(ids: &[u32], push: u32, baseline: bool) -> Vec<Line> {
    ids.iter()
        .map(|&id| (u64::from(id), created_at(push), baseline))
        .collect()
}

/// The Deployment's replicas, started from its own arguments: one becomes the active watcher
/// (it prints the baselines and records them, with a NOTIFY for each), the other stands by,
/// and both are ready. Killed (a node lost), the active one is replaced by the standby
/// within the lease (+1 s), which prints the push made meanwhile as a push.
#[test]
fn the_deployments_replicas_elect_one_active_watcher_and_the_standby_takes_over() {
    let (cluster, database, loopback, ids) = pushed_once();
    let set = manifest("deployment.yaml");
    let count = set["spec"]["replicas"].as_u64().unwrap();
    let mounts = Mounts::new();
    let mut replicas = start(&set, count, &database, &loopback, &mounts);

    let (lines, _) = printed(&replicas, ids.len(), Duration::from_secs(15));
    let (active, lines) = one_printer(lines);
    assert_eq!(lines, each(&ids, 1, true));
    for (k, replica) in replicas.iter().enumerate() {
        let expected = f64::from(u8::from(k == active));
        assert_eq!(replica.gauge("codearts_watch_active"), expected, "{k}");
        assert_eq!(replica.gauge("codearts_watch_database_up"), 1.0, "{k}");
        assert_eq!(replica.get("/readyz").0, "200", "{k}");
        assert_eq!(replica.get("/healthz").0, "200", "{k}");
    }

    // Recorded in the table docs/watch.md names, with the columns it names, in its order.
    let recorded = |sql: &str, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = cluster.psql("watch", sql);
            if rows.lines().count() >= n || Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let rows = recorded(
        "SELECT repository_id, created_at, baseline FROM codearts_watch_events ORDER BY id",
        ids.len(),
    );
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    let expected: Vec<String> = ids
        .iter()
        .map(|id| format!("{id}|{}|t", created_at(1)))
        .collect();
    assert_eq!(rows, expected);
    let columns = cluster.psql(
        "watch",
        "SELECT column_name FROM information_schema.columns \
         WHERE table_name = 'codearts_watch_events' ORDER BY ordinal_position",
    );
    let watch = page("watch");
    let start = watch
        .find("The events are in the table `codearts_watch_events`")
        .expect("the watch page's events table");
    let named = &watch[start..];
    let named = &named[named.find(':').unwrap()..named.find("Fleets of other names").unwrap()];
    let named: Vec<&str> = named
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| !word.contains(' '))
        .collect();
    assert_eq!(named, columns.lines().collect::<Vec<_>>());

    // NOTIFY codearts_watch_events carries the id of each row inserted.
    let heard = std::thread::scope(|scope| {
        let listener = scope
            .spawn(|| cluster.psql("watch", "LISTEN codearts_watch_events; SELECT pg_sleep(5);"));
        std::thread::sleep(Duration::from_millis(500));
        loopback.push(ids[0], 2);
        let (lines, _) = printed(&replicas, 1, Duration::from_secs(4));
        assert_eq!(one_printer(lines), (active, each(&ids[..1], 2, false)));
        listener.join().unwrap()
    });
    let last = recorded(
        &format!(
            "SELECT id FROM codearts_watch_events WHERE created_at = '{}'",
            created_at(2)
        ),
        1,
    );
    assert!(
        heard.contains(&format!(
            "notification \"codearts_watch_events\" with payload \"{last}\""
        )),
        "{heard}"
    );

    // The active replica killed, its node lost: a push made then is printed, as a push, by
    // the standby within the lease (+1 s), and one poll.
    let lease = lease(&set);
    let killed = replicas.remove(active);
    assert_eq!(killed.watching.stop("KILL"), None);
    let killed_at = Instant::now();
    for &id in &ids {
        loopback.push(id, 3);
    }
    // The lease and a second, then the first polls, spread over the interval (1 s here),
    // and slack for a busy machine.
    let within = lease + Duration::from_secs(1) + Duration::from_secs(1) + Duration::from_secs(3);
    let (lines, came) = printed(&replicas, ids.len(), within + Duration::from_secs(5));
    assert_eq!(one_printer(lines).1, each(&ids, 3, false));
    let took = came.duration_since(killed_at);
    assert!(took < within, "taken over after {took:?}");
    // Active for longer than a lease: still ready (its renewals are the database answering).
    std::thread::sleep(lease);
    for replica in replicas {
        assert_eq!(replica.gauge("codearts_watch_active"), 1.0);
        assert_eq!(replica.get("/readyz").0, "200");
        assert_eq!(replica.watching.stop("TERM"), Some(0));
    }
}

/// A throwaway database, and the embedded server with one push to each shipped id.
fn pushed_once() -> (Cluster, String, Loopback, Vec<u32>) {
    let cluster = Cluster::start();
    let database = cluster.create_database("watch");
    let loopback = Loopback::start(0);
    let ids = shipped_ids();
    for &id in &ids {
        loopback.push(id, 1);
    }
    (cluster, database, loopback, ids)
}

/// docs/deploying.md's scaling command, as written: `kubectl scale deployment/NAME --replicas N`.
fn readme_scale() -> (String, u64) {
    let deploying = page("deploying");
    let line = deploying
        .lines()
        .find_map(|line| line.strip_prefix("kubectl scale "))
        .expect("the scaling command");
    let words: Vec<&str> = line.split_whitespace().collect();
    let [target, "--replicas", n] = words.as_slice() else {
        panic!("kubectl scale {line}")
    };
    let name = target.strip_prefix("deployment/").expect("a Deployment");
    (name.to_owned(), n.parse().unwrap())
}

/// docs/deploying.md's scaling command scales the Deployment, and only adds standbys: of the N
/// replicas, one is active and all are ready. Stopped as a rollout or a scale-down stops a
/// pod (SIGTERM), the active one gives up its lease, and another takes over at once, not
/// after the lease, going on from what was recorded (no baseline again).
#[test]
fn the_pages_scaling_command_adds_standbys_and_a_stopped_active_watcher_hands_over() {
    let set = manifest("deployment.yaml");
    let (name, count) = readme_scale();
    assert_eq!(set["metadata"]["name"], name.as_str());
    assert_ne!(set["spec"]["replicas"], count, "the page scales it");

    // The cluster lives as long as the test.
    let (_cluster, database, loopback, ids) = pushed_once();
    let mounts = Mounts::new();
    let mut replicas = start(&set, count, &database, &loopback, &mounts);
    let (lines, _) = printed(&replicas, ids.len(), Duration::from_secs(15));
    let (active, lines) = one_printer(lines);
    assert_eq!(lines, each(&ids, 1, true));
    let actives: f64 = replicas
        .iter()
        .map(|r| r.gauge("codearts_watch_active"))
        .sum();
    assert_eq!(actives, 1.0);

    let stopped = replicas.remove(active);
    let (code, lines) = stopped.watching.stop_with_lines("TERM");
    assert_eq!(code, Some(0));
    assert_eq!(lines, []);
    let stopped_at = Instant::now();
    for &id in &ids {
        loopback.push(id, 2);
    }
    let lease = lease(&set);
    let (lines, came) = printed(&replicas, ids.len(), lease * 2);
    assert_eq!(one_printer(lines).1, each(&ids, 2, false));
    let took = came.duration_since(stopped_at);
    assert!(took < lease / 2, "taken over after {took:?}, not at once");
    for replica in replicas {
        assert_eq!(replica.watching.stop("TERM"), Some(0));
    }
}
