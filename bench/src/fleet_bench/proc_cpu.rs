//! Other processes' CPU time, from /proc: a replica's, and the PostgreSQL server's (its
//! postmaster and the backends under it). `../cpu.rs` measures only this process's own.

/// A process's CPU so far, in clock ticks: its own, and its waited-for children's.
struct ProcStat {
    ppid: u32,
    own: u64,
    children: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name in parentheses, from the third field (the state) on.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        ppid: field(4)? as u32,
        own: field(14)? + field(15)?,
        children: field(16)? + field(17)?,
    })
}

/// `ticks` of CPU over `seconds`, in % of one core.
pub fn percent(ticks: u64, seconds: f64) -> f64 {
    // SAFETY: sysconf reads a constant.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_s = if per_s > 0 { per_s as f64 } else { 100.0 };
    ticks as f64 / per_s / seconds * 100.0
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// The postmaster of the cluster on `port`: the harness starts it with `-c port=P`.
pub fn postmaster(port: u16) -> Option<u32> {
    let wanted = format!("port={port}");
    let matching: Vec<u32> = pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                words.first().is_some_and(|w| w.ends_with(b"postgres"))
                    && words.contains(&wanted.as_bytes())
            })
        })
        .collect();
    // The postmaster's children keep its command line only until they rename themselves.
    matching
        .iter()
        .copied()
        .find(|pid| proc_stat(*pid).is_some_and(|stat| !matching.contains(&stat.ppid)))
}

/// The PostgreSQL server's CPU in clock ticks: the postmaster, its children that live, and
/// those it has waited for (backends of connections closed meanwhile).
pub fn server_ticks(postmaster: u32) -> u64 {
    let Some(main) = proc_stat(postmaster) else {
        return 0;
    };
    let children: u64 = pids()
        .into_iter()
        .filter_map(proc_stat)
        .filter(|stat| stat.ppid == postmaster)
        .map(|stat| stat.own + stat.children)
        .sum();
    main.own + main.children + children
}

/// A process's CPU in clock ticks, its waited-for children's included.
pub fn process_ticks(pid: u32) -> u64 {
    proc_stat(pid).map_or(0, |stat| stat.own + stat.children)
}
