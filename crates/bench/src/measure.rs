//! Latency summaries and this process's memory and CPU time, read from `/proc`.

use std::time::Duration;

use serde_json::json;

/// Latencies of one kind of request.
#[derive(Clone, Debug, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p`th percentile in milliseconds (nearest rank); NaN when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self.0.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[rank.min(v.len() - 1)]
    }

    /// The mean in milliseconds; NaN when empty.
    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / self.0.len() as f64
    }

    /// Count, mean, p50, p99 and max, for the report.
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "count": self.0.len(),
            "avg_ms": self.mean(),
            "p50_ms": self.percentile(50.0),
            "p99_ms": self.percentile(99.0),
            "max_ms": self.percentile(100.0),
        })
    }
}

/// This process's resident memory and CPU time at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Resident set (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set since start or the last [`reset_peak`] (VmHWM), KiB.
    pub peak_kib: u64,
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
}

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, which the ABI fixes at 100 per second.
const TICKS_PER_S: f64 = 100.0;

impl Usage {
    /// Reads `/proc/self/status` and `/proc/self/stat`; zeros where they cannot be read.
    pub fn now() -> Usage {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15; `fields` starts at field 3.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Usage {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
            cpu_s: (ticks(11) + ticks(12)) as f64 / TICKS_PER_S,
        }
    }
}

/// Hands the allocator's free pages back to the kernel, so that the next reading counts live
/// memory only: preparing the clinic runs Argon2id (19 MiB) for every account, and glibc keeps
/// those pages, fragmented, long after they are freed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim takes no pointers; it only returns free heap pages to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Restarts the peak resident set count (VmHWM); false where the kernel does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Logical CPUs of this machine.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let l = Latencies((1..=100).map(Duration::from_millis).collect());
        assert_eq!(l.percentile(50.0), 51.0);
        assert_eq!(l.percentile(99.0), 99.0);
        assert_eq!(l.percentile(100.0), 100.0);
        assert!((l.mean() - 50.5).abs() < 1e-9);
        assert!(Latencies::default().mean().is_nan());
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        release_free_memory();
        let usage = Usage::now();
        assert!(
            usage.rss_kib > 0 && usage.peak_kib >= usage.rss_kib,
            "{usage:?}"
        );
    }
}
