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

/// One live thread's CPU time so far.
#[derive(Debug, Clone)]
pub(super) struct ThreadCpu {
    tid: u64,
    name: String,
    secs: f64,
}

/// CPU seconds of each live thread of this process, with its id and name: from `schedstat`
/// (nanoseconds on the CPU) where the kernel has it, else from `stat` (10 ms ticks).
pub(super) fn thread_cpu_seconds() -> Vec<ThreadCpu> {
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
            let tid = task.file_name().to_str()?.parse().ok()?;
            Some(ThreadCpu {
                tid,
                name: name.trim_end().to_owned(),
                secs,
            })
        })
        .collect()
}

/// CPU ms per frame that each part spent between two snapshots, by the names this program
/// gives its threads. Differences are taken per thread id: a thread that ended between
/// the snapshots (another round's, or another test's in one process) is left out rather
/// than subtracted, and a thread that started counts from zero.
pub(super) fn cpu_parts_since(now: &[ThreadCpu], before: &[ThreadCpu], frames: u64) -> CpuParts {
    let mut p = CpuParts::default();
    for t in now {
        let then = before
            .iter()
            .find(|b| b.tid == t.tid && b.name == t.name)
            .map_or(0.0, |b| b.secs);
        let secs = (t.secs - then).max(0.0);
        let name = &t.name;
        let part = if name.starts_with("decode-") {
            &mut p.decoder
        } else if name == "bench-sim" {
            &mut p.simulator
        } else if name == "bench-publish" {
            &mut p.publisher
        } else if name == "bench-io" || name == "bench-feed" {
            &mut p.client
        } else {
            &mut p.other
        };
        *part += secs * 1e3 / frames.max(1) as f64;
    }
    p
}

pub(super) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tid: u64, name: &str, secs: f64) -> ThreadCpu {
        ThreadCpu {
            tid,
            name: name.to_owned(),
            secs,
        }
    }

    /// A thread that ended between the snapshots (another test's decoder in one process)
    /// must not make a part negative; a thread that started counts from zero.
    #[test]
    fn parts_are_taken_per_thread() {
        let before = [t(1, "decode-A", 5.0), t(2, "decode-B", 1.0), t(4, "x", 2.0)];
        let now = [
            t(2, "decode-B", 1.5),
            t(3, "bench-sim", 0.2),
            t(5, "bench-io", 0.1),
            t(4, "x", 2.4),
        ];
        let p = cpu_parts_since(&now, &before, 100);
        assert!((p.decoder - 5.0).abs() < 1e-9, "{p:?}");
        assert!((p.simulator - 2.0).abs() < 1e-9, "{p:?}");
        assert!((p.client - 1.0).abs() < 1e-9, "{p:?}");
        assert!((p.other - 4.0).abs() < 1e-9, "{p:?}");
    }
}
