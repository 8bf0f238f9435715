//! What the harness asks of the operating system (Linux): CPU time, core pinning, machine load.

use std::time::Duration;

/// User and system CPU time of this whole process (every thread) so far, from `getrusage`:
/// microsecond resolution, unlike the 10 ms ticks of `/proc/self/stat`.
pub fn process_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the struct it is given; RUSAGE_SELF is always valid,
    // and an all-zero `rusage` is a valid value of that plain C struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// User + system CPU time of another process, from `/proc/PID/stat` (clock ticks); `None`
/// when it cannot be read.
pub fn other_process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is the empty set; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes into it, and CPU_ISSET reads inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Restricts the calling thread, and every thread or process it starts afterwards, to `cpu`.
/// Called before the runtime starts, it pins the whole client; called in a child between
/// `fork` and `exec`, it pins a server. Async-signal-safe (one system call).
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: the set is a local plain struct; CPU_SET writes inside it (`cpu` is below
    // CPU_SETSIZE, checked first); sched_setaffinity reads `size_of` bytes of it.
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Where the server and the client run: on separate cores when there are two.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// The core every private `redis-server` is pinned to.
    pub server: Option<usize>,
    /// The core this process (and `redis-benchmark`) is pinned to.
    pub client: Option<usize>,
}

impl Placement {
    /// Pins this process to the second allowed CPU and reserves the first for the servers,
    /// when `pin` and at least two CPUs are allowed; otherwise leaves both unpinned.
    pub fn apply(pin: bool) -> Placement {
        let cpus = allowed_cpus();
        if !pin || cpus.len() < 2 {
            return Placement {
                server: None,
                client: None,
            };
        }
        let (server, client) = (cpus[0], cpus[1]);
        match pin_to(client) {
            Ok(()) => Placement {
                server: Some(server),
                client: Some(client),
            },
            Err(e) => {
                eprintln!("could not pin the client to CPU {client} ({e}); running unpinned");
                Placement {
                    server: None,
                    client: None,
                }
            }
        }
    }

    /// One line for the report's header.
    pub fn describe(&self) -> String {
        match (self.server, self.client) {
            (Some(s), Some(c)) => format!("server pinned to CPU {s}, client to CPU {c}"),
            _ => "unpinned (fewer than two CPUs, or --no-pin)".to_string(),
        }
    }
}

/// The 1-minute load average and the machine's CPU count, for the report's header: other
/// work on the machine makes every ratio noisier.
pub fn load_line() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    format!("load average {load} (1 min) on {online} online CPUs")
}

/// CPU time stolen by the hypervisor from every vCPU so far (`steal` in `/proc/stat`): a rise
/// during a run means someone else used our cores, and that run is noisier.
pub fn steal() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let ticks: u64 = stat
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / hz)
}
