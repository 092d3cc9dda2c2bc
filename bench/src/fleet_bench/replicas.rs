//! `codearts watch` processes: started on a proxy's endpoint, read as they print, stopped by
//! a signal.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// What every watch is started with.
pub struct Launcher {
    pub codearts: PathBuf,
    /// Where the logs and the state file go.
    pub dir: PathBuf,
    /// The replicas' `--lease`, when given.
    pub lease: Option<Duration>,
}

impl Launcher {
    /// `codearts --endpoint ENDPOINT watch --ids-file IDS --interval INTERVAL`: with a
    /// `database`, a replica of the fleet (with `--lease` when given); without, a watch alone
    /// with `--state FILE`.
    pub fn watch(
        &self,
        name: &str,
        endpoint: &str,
        ids: &Path,
        interval: Duration,
        database: Option<&str>,
    ) -> Result<Process, String> {
        let mut args = vec![
            "--endpoint".to_owned(),
            endpoint.to_owned(),
            "watch".to_owned(),
            "--ids-file".to_owned(),
            ids.display().to_string(),
            "--interval".to_owned(),
            humantime::format_duration(interval).to_string(),
        ];
        let extra = match database {
            Some(_) => self
                .lease
                .map(|lease| ("--lease", humantime::format_duration(lease).to_string())),
            None => Some(("--state", self.dir.join("watch.json").display().to_string())),
        };
        args.extend(
            extra
                .into_iter()
                .flat_map(|(flag, value)| [flag.to_owned(), value]),
        );
        let mut command = Command::new(&self.codearts);
        command
            .args(args)
            .env_remove("CODEARTS_WATCH_DATABASE_URL")
            .env("HUAWEICLOUD_SDK_TOKEN", "fleet-bench-token")
            .env("HOSTNAME", name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database {
            command.env("CODEARTS_WATCH_DATABASE_URL", url);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", self.codearts.display()))?;
        Process::read(name, child, self.dir.join(format!("{name}.log")))
    }
}

/// A running `codearts watch`: the pushes it printed (read as they come), its stderr in a log
/// whose lines carry this program's clock.
pub struct Process {
    pub name: String,
    child: Child,
    /// (repository, created_at) of each push printed, baselines left out.
    printed: Arc<Mutex<Vec<(u64, String)>>>,
    log: PathBuf,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    fn read(name: &str, mut child: Child, log: PathBuf) -> Result<Self, String> {
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let printed = Arc::new(Mutex::new(Vec::new()));
        let pushes = printed.clone();
        let out = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(line) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if !line["baseline"].as_bool().unwrap_or(false) {
                    let id = line["repository_id"].as_u64().unwrap_or(0);
                    let created_at = line["created_at"].as_str().unwrap_or_default();
                    pushes.lock().unwrap().push((id, created_at.to_owned()));
                }
            }
        });
        let mut file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "[{:7.2}s] {line}", crate::clock(Instant::now()));
            }
        });
        progress!("started {name} (pid {})", child.id());
        Ok(Self {
            name: name.to_owned(),
            child,
            printed,
            log,
            readers: vec![out, err],
        })
    }

    /// (repository, created_at) of each push it printed so far, baselines left out.
    pub fn printed(&self) -> Vec<(u64, String)> {
        self.printed.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits for the exit (SIGKILL after 20 s); then the readers have
    /// read everything it wrote.
    pub fn stop(&mut self, signal: i32) -> Option<ExitStatus> {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// "exited by itself" and its log's tail, if it has: a watch is only ever stopped by us.
    pub fn exited_by_itself(&mut self) -> Option<String> {
        let status = self.exited()?;
        Some(format!(
            "exited by itself ({status}):\n{}",
            self.log_tail(15)
        ))
    }

    /// Its log's lines that `keep` keeps, indented and named.
    pub fn log_lines(&self, keep: impl Fn(&str) -> bool) -> String {
        self.named_lines(keep).concat()
    }

    /// Its log's last `n` lines, indented and named.
    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.named_lines(|_| true);
        lines[lines.len().saturating_sub(n)..].concat()
    }

    fn named_lines(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|line| keep(line))
            .map(|line| format!("    {}: {line}\n", self.name))
            .collect()
    }
}

/// The last `n` lines of each one's log.
pub fn log_tails<'a>(processes: impl IntoIterator<Item = &'a Process>, n: usize) -> String {
    processes.into_iter().map(|p| p.log_tail(n)).collect()
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.stop(libc::SIGKILL);
        }
    }
}
