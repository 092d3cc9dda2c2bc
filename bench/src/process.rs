//! Another process's usage so far, from /proc (Linux): CPU, peak memory, bytes written.

/// What a running process has used so far.
pub struct Usage {
    /// User and system CPU.
    pub cpu_seconds: f64,
    /// Peak resident memory (VmHWM).
    pub peak_rss_kib: u64,
    /// Bytes it caused to be written to storage (`write_bytes`): counted by page as pages
    /// turn dirty (a 60-byte append after an fsync counts 4 KiB), never for pipes, and
    /// not at all on tmpfs.
    pub written_bytes: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command's name in parentheses, from the third field (the state) on.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let ticks = field(14)? + field(15)?;
        // SAFETY: sysconf reads a constant.
        let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let per_s = if per_s > 0 { per_s as f64 } else { 100.0 };
        let value = |file: &str, key: &str| -> Option<u64> {
            let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
            let line = text.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].split_whitespace().next()?.parse().ok()
        };
        Some(Self {
            cpu_seconds: ticks as f64 / per_s,
            peak_rss_kib: value("status", "VmHWM:")?,
            written_bytes: value("io", "write_bytes:")?,
        })
    }
}
