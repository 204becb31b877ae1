//! CPU time and memory from `/proc`: the whole process, and each thread by the name this
//! program gives it, summed into the pipeline's parts.

use super::CpuParts;

/// User + system CPU seconds from a `/proc/.../stat` file (process or thread).
pub(super) fn stat_cpu_seconds(path: &std::path::Path) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

pub(super) fn cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(std::path::Path::new("/proc/self/stat"))
}

/// CPU seconds of each live thread of this process, by thread name: from `schedstat`
/// (nanoseconds on the CPU) where the kernel has it, else from `stat` (10 ms ticks).
pub(super) fn thread_cpu_seconds() -> Vec<(String, f64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let from_schedstat = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .map(|ns| ns / 1e9);
            let secs = from_schedstat.or_else(|| stat_cpu_seconds(&task.path().join("stat")))?;
            Some((name.trim_end().to_owned(), secs))
        })
        .collect()
}

impl CpuParts {
    /// CPU ms per frame between two snapshots of CPU seconds.
    pub(super) fn per_frame_since(&self, before: &CpuParts, frames: u64) -> CpuParts {
        let f = |now: f64, then: f64| (now - then) * 1e3 / frames.max(1) as f64;
        CpuParts {
            simulator: f(self.simulator, before.simulator),
            client: f(self.client, before.client),
            decoder: f(self.decoder, before.decoder),
            other: f(self.other, before.other),
        }
    }
}

/// Sums thread CPU seconds into parts, by the names this program gives its threads.
pub(super) fn cpu_parts(threads: &[(String, f64)]) -> CpuParts {
    let mut p = CpuParts::default();
    for (name, secs) in threads {
        let part = if name.starts_with("decode-") {
            &mut p.decoder
        } else if name == "bench-sim" {
            &mut p.simulator
        } else if name == "bench-io" || name == "bench-feed" {
            &mut p.client
        } else {
            &mut p.other
        };
        *part += secs;
    }
    p
}

pub(super) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
