//! `codearts serve --keyless`, docs/credentials.md's two-terminal recipe: the server plays STS, IAM and
//! the pod-identity agent, its banner says what to export for each flow, and a command run
//! with exactly those variables is signed with the keys the flow obtained.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::*;

/// `codearts serve --keyless` with its request log, and the lines of its stderr as they come.
struct KeylessServer {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
    banner: Vec<String>,
}

impl KeylessServer {
    fn start() -> Self {
        let mut child = codearts()
            .args(["serve", "--keyless"])
            .env("RUST_LOG", "codearts_repo::server=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = first_stdout_line(&mut child).trim().to_owned();
        let (send, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        for line in lines.iter() {
            let done = line.contains("press Ctrl-C to stop");
            banner.push(line);
            if done {
                break;
            }
        }
        Self {
            child,
            url,
            lines,
            banner,
        }
    }

    /// Each flow's name and the `NAME=value` pairs of its `export` line.
    fn flows(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut flows = Vec::new();
        let mut name = None;
        for line in &self.banner {
            let line = line.trim_start_matches("codearts: ");
            if let Some(exports) = line.trim().strip_prefix("export ") {
                let vars = exports
                    .split(' ')
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').unwrap();
                        (name.to_owned(), value.to_owned())
                    })
                    .collect();
                flows.push((name.take().expect("a flow's name first"), vars));
            } else if let Some(flow) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                name = Some(flow.to_owned());
            }
        }
        flows
    }

    /// Waits until the server logged a request to `path` with `status`.
    fn saw(&self, path: &str, status: u16) {
        let wanted = format!("path={path} status={status}");
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(&wanted) => return,
                Ok(_) => {}
                Err(e) => panic!("no {wanted} in the server's log: {e}"),
            }
        }
    }
}

impl Drop for KeylessServer {
    /// SIGTERM, so that it removes its token files; SIGKILL if that cannot be sent.
    fn drop(&mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !terminated {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn each_flow_runs_with_exactly_the_variables_the_banner_says() {
    let server = KeylessServer::start();
    let flows = server.flows();
    let names: Vec<&str> = flows.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "OIDC federation (STS)",
            "identity provider's ID token (IAM)",
            "CCE pod identity"
        ],
        "{:#?}",
        server.banner
    );
    let exchanges = [
        "/v5/agencies/assume-with-oidc",
        "/v3.0/OS-CREDENTIAL/securitytokens",
        "/pod-identity/credentials",
    ];
    for ((flow, vars), exchange) in flows.iter().zip(exchanges) {
        let out = run(codearts()
            .args(["--endpoint", &server.url, "push-event", "2112036131"])
            .envs(vars.iter().map(|(n, v)| (n, v))));
        assert_eq!(out.code, 0, "{flow}: {}", out.stderr);
        assert!(out.stdout.contains("master"), "{flow}: {}", out.stdout);
        // The flow's exchange was made, then the call was signed with what it issued (the
        // server accepts the temporary keys only with their security token).
        server.saw(exchange, 200);
        server.saw("/v4/repositories/2112036131/last-push-event", 200);
    }
    // The commits call, signed with the temporary keys and no project id: IAM on loopback.
    let (_, pod) = &flows[2];
    let out = run(codearts()
        .args(["--endpoint", &server.url, "--region", "cn-north-4"])
        .args(["commits", "3e1f6634946144c2b1ccb46fb8152b8f", "test"])
        .args(["--repo-auth", "gh-auth"])
        .envs(pod.iter().map(|(n, v)| (n, v))));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn the_credentials_page_starts_its_keyless_section_with_the_banners_recipe() {
    let server = KeylessServer::start();
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/credentials.md"
    ))
    .unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Keyless credentials"))
        .expect("a keyless section");
    let first_block = section.split("```").nth(1).expect("a block first");
    let first_text = section.split("```").next().unwrap();
    assert!(
        !first_text.contains("\n- ") && first_text.lines().count() < 8,
        "the recipe comes first: {first_text}"
    );
    assert!(first_block.contains("codearts serve --keyless --port 18080"));
    // The page's export lines are the banner's, on port 18080.
    let readme_exports: Vec<&str> = first_block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("export "))
        .collect();
    let banner_exports: Vec<String> = server
        .banner
        .iter()
        .filter_map(|l| {
            l.trim_start_matches("codearts: ")
                .trim()
                .strip_prefix("export ")
        })
        .map(|l| format!("export {}", l.replace(&port, "18080")))
        .collect();
    assert_eq!(readme_exports, banner_exports);
    assert!(
        first_block.contains("codearts --endpoint http://127.0.0.1:18080 push-event 2112036131")
    );
}

/// The token files the banner names exist while the server runs, and go with it.
#[test]
fn the_token_files_go_when_the_server_stops() {
    let mut server = KeylessServer::start();
    let (_, pod) = &server.flows()[2];
    let file = pod
        .iter()
        .find(|(n, _)| n == "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        .map(|(_, v)| std::path::PathBuf::from(v))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "demo-pod-token");
    let sent = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    assert!(!file.exists(), "{} left behind", file.display());
}

/// A loopback `--endpoint` stands in for IAM only where nothing names it: a profile whose
/// identity provider's tokens go to its own IAM (`iam_endpoint`) keeps it, and the ID token
/// never goes to loopback instead.
#[test]
fn a_loopback_endpoint_never_takes_a_token_exchange_the_profile_points_elsewhere() {
    use std::io::{Read, Write};
    let api = Serve::with_args(&["--keyless"]);
    // The profile's IAM: says what it was asked first, and answers 503.
    let iam = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let iam_url = format!("http://{}", iam.local_addr().unwrap());
    iam.set_nonblocking(true).unwrap();
    let asked = std::thread::spawn(move || {
        for _ in 0..500 {
            if let Ok((mut socket, _)) = iam.accept() {
                socket.set_nonblocking(false).unwrap();
                let mut head = [0u8; 4096];
                let read = socket.read(&mut head).unwrap_or(0);
                let answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(answer.as_bytes());
                let head = String::from_utf8_lossy(&head[..read]).into_owned();
                return head.lines().next().map(str::to_owned);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    let home = tempfile::tempdir().unwrap();
    let token = home.path().join("id-token");
    std::fs::write(&token, "demo-id-token").unwrap();
    std::fs::create_dir(home.path().join(".huaweicloud")).unwrap();
    std::fs::write(
        home.path().join(".huaweicloud/credentials"),
        format!(
            "[basic]\nidp_id = demo-idp\nid_token_file = {}\niam_endpoint = {iam_url}\n",
            token.display()
        ),
    )
    .unwrap();
    let out = run(codearts()
        .env("HOME", home.path())
        .env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .args(["--endpoint", &api.url, "--max-attempts", "1"])
        .args(["push-event", "2112036131"]));
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("with IAM at {iam_url}")),
        "{}",
        out.stderr
    );
    assert_eq!(
        asked.join().unwrap().as_deref(),
        Some("POST /v3.0/OS-AUTH/id-token/tokens HTTP/1.1")
    );
}
