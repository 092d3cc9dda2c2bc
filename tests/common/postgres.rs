//! A throwaway PostgreSQL cluster started from the machine's own binaries, one per test (or
//! per test binary): real server, real TLS, real restarts, no mocks. Everything (port, socket,
//! data, log) is per instance, so clusters in parallel tests never meet.
#![allow(dead_code)]

use std::{
    collections::hash_map::RandomState,
    fs::Permissions,
    hash::{BuildHasher, Hasher},
    io::Write,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// The superuser every cluster is made with.
const USER: &str = "codearts";
/// How long a start may take before the test fails with the log's tail.
const READY_WITHIN: Duration = Duration::from_secs(30);

pub struct Cluster {
    /// Holds the socket, `data/`, `log` and `pwfile`; removed on drop.
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    /// The `-o` options for postgres, kept so `restart` brings back the same server.
    options: String,
}

impl Cluster {
    /// A plain cluster: what most database tests need.
    pub fn start() -> Self {
        Self::init(None)
    }

    /// A cluster with `ssl=on` using this PEM chain and key, for tests of TLS to the database.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::init(Some((cert_pem, key_pem)))
    }

    /// The `codearts` user's password, random per cluster so nothing depends on a fixed one.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A TCP URL for `database` (the password is hex, so it needs no percent-encoding).
    pub fn url(&self, database: &str) -> String {
        let (password, port) = (&self.password, self.port);
        format!("postgres://{USER}:{password}@127.0.0.1:{port}/{database}")
    }

    /// The TCP port on 127.0.0.1, for tests that build their own connection strings.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates `name` and returns its URL, so each test can have a database of its own.
    pub fn create_database(&self, name: &str) -> String {
        let quoted = name.replace('"', "\"\"");
        self.psql("postgres", &format!("CREATE DATABASE \"{quoted}\""));
        self.url(name)
    }

    /// Runs an SQL script on `database` over the unix socket (trusted, so no password) and
    /// returns its unaligned, tuples-only output, trimmed; panics with psql's stderr on failure.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let (socket, port) = (self.socket(), self.port);
        let conninfo = format!("host={socket} port={port} user={USER} dbname={database}");
        let mut child = Command::new(self.bin.join("psql"))
            .args("-X -A -t -q -v ON_ERROR_STOP=1 -f - -d".split(' '))
            .arg(conninfo)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql runs");
        // Fed from a thread: a large script and a large result could otherwise fill both pipes.
        let mut stdin = child.stdin.take().unwrap();
        let script = sql.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert!(out.status.success(), "psql {sql:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Stops the server the polite-but-quick way: connections are cut, the data stays.
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"]);
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    /// Starts the stopped server again on the same port and data, for database-restart tests.
    pub fn restart(&self) {
        assert!(self.try_start(), "restart: {}", self.log_tail());
    }

    /// Terminates every other client backend: a cheap "lost connection" fault.
    pub fn kill_connections(&self) {
        self.psql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
        );
    }

    fn init(tls: Option<(&str, &str)>) -> Self {
        let bin = binaries();
        let dir = tempfile::Builder::new().prefix("pg-").tempdir().unwrap();
        let password = random_hex();
        std::fs::write(dir.path().join("pwfile"), format!("{password}\n")).unwrap();
        // initdb and postgres refuse to run as root: hand the whole directory to `postgres`.
        own(dir.path());
        let pwfile = dir.path().join("pwfile");
        let out = as_server_user(&bin.join("initdb"), dir.path())
            .args(["-D", "data", "-U", USER, "-E", "UTF8", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb: {}", text(&out));
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
             -c shared_buffers=16MB",
            dir.path().display()
        );
        if let Some((cert, key)) = tls {
            let data = dir.path().join("data");
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).unwrap();
                // postgres rejects a key file readable by group or others.
                std::fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
            }
            own(&data);
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            password,
            options,
        };
        // The port is free when picked but another process may take it first: try a new one.
        for _ in 0..3 {
            cluster.port = free_port();
            if cluster.try_start() {
                return cluster;
            }
            if !cluster.log_tail().contains("could not bind") {
                break;
            }
        }
        panic!("PostgreSQL did not start: {}", cluster.log_tail());
    }

    /// pg_ctl start and wait (bounded) until it takes connections; false if it did not.
    fn try_start(&self) -> bool {
        let options = format!("{} -c port={}", self.options, self.port);
        let secs = READY_WITHIN.as_secs().to_string();
        let started = self.pg_ctl(&["-l", "log", "-o", &options, "-w", "-t", &secs, "start"]);
        if !started.status.success() {
            return false;
        }
        // pg_ctl -w waits for the pid file's "ready"; pg_isready confirms a real connection.
        let deadline = Instant::now() + READY_WITHIN;
        let (socket, port) = (self.socket(), self.port.to_string());
        let mut isready = Command::new(self.bin.join("pg_isready"));
        isready.args(["-q", "-h", &socket, "-p", &port]);
        while Instant::now() < deadline {
            if isready.status().is_ok_and(|status| status.success()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The cluster's directory, which also holds its unix socket (trusted, so no password).
    fn socket(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        as_server_user(&self.bin.join("pg_ctl"), self.dir.path())
            .args(["-D", "data"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("pg_ctl runs")
    }

    /// The end of the server log, for panics that say why the server did not come up.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("log {}:\n{tail}", self.dir.path().join("log").display())
    }
}

impl Drop for Cluster {
    /// Immediate stop so a failed test never leaves a server behind; TempDir removes the files.
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "10"]);
    }
}

/// The newest /usr/lib/postgresql/<version>/bin with version 15 or later (Debian's layout).
fn binaries() -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse::<u32>().ok()?, entry)))
        .filter(|(version, entry)| *version >= 15 && entry.path().join("bin/initdb").exists())
        .max_by_key(|(version, _)| *version);
    let Some((_, entry)) = newest else {
        panic!(
            "PostgreSQL 15 or later is needed for these tests: apt-get install postgresql \
             (looked in /usr/lib/postgresql/*/bin)"
        )
    };
    entry.path().join("bin")
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program` as the `postgres` user when we are root (the server refuses root), else as us;
/// run from `dir` because postgres may not be able to enter root's working directory.
fn as_server_user(program: &Path, dir: &Path) -> Command {
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let mut command = if !is_root() {
        Command::new(program)
    } else if let Some(runuser) = runuser {
        let mut command = Command::new(runuser);
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        // su takes one shell line: the program and its arguments arrive as $0 and $@, unquoted.
        let mut command = Command::new("su");
        command
            .args(["postgres", "-s", "/bin/sh", "-c", "exec \"$0\" \"$@\""])
            .arg(program);
        command
    };
    command.current_dir(dir);
    command
}

/// Gives `path` (recursively) to `postgres` when we are root, so the server can use it.
fn own(path: &Path) {
    if is_root() {
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status();
        assert!(chown.expect("chown runs").success(), "chown {path:?}");
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// 32 hex characters from std's randomly keyed hasher: URL-safe, with no extra dependency.
fn random_hex() -> String {
    let word = || format!("{:016x}", RandomState::new().build_hasher().finish());
    word() + &word()
}

/// Both streams: initdb and pg_ctl say what went wrong on either.
fn text(out: &Output) -> String {
    String::from_utf8_lossy(&[&out.stdout[..], &out.stderr[..]].concat()).into_owned()
}
