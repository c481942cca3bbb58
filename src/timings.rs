//! `--timings`: wall time per pipeline phase, the peak memory at its end, and the counters
//! that explain them.

use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone)]
pub struct Timings {
    /// Name, wall time, and the process's peak RSS in KiB at the end of the phase (if known).
    phases: Vec<(&'static str, Duration, Option<u64>)>,
    counters: Vec<(&'static str, u64)>,
}

impl Timings {
    /// Runs `f` as the phase `name` and records its wall time.
    pub fn phase<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.record(name, start.elapsed());
        out
    }

    /// Records a phase measured elsewhere.
    pub fn record(&mut self, name: &'static str, duration: Duration) {
        self.phases.push((name, duration, peak_rss_kib()));
    }

    pub fn count(&mut self, name: &'static str, value: u64) {
        self.counters.push((name, value));
    }

    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, d, _)| *d).sum()
    }
}

/// The process's peak resident set so far (`VmHWM`), where the OS tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl fmt::Display for Timings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total().as_secs_f64().max(1e-9);
        writeln!(f, "timings:")?;
        for (name, d, peak) in &self.phases {
            let s = d.as_secs_f64();
            write!(
                f,
                "  {name:<22} {:>9.1} ms {:>5.1}%",
                s * 1000.0,
                100.0 * s / total
            )?;
            match peak {
                Some(kib) => writeln!(f, "  peak RSS {:>5} MB", kib / 1024)?,
                None => writeln!(f)?,
            }
        }
        writeln!(f, "  {:<22} {:>9.1} ms", "total", total * 1000.0)?;
        for (name, v) in &self.counters {
            writeln!(f, "  {name:<22} {v:>9}")?;
        }
        Ok(())
    }
}
