//! `--timings`: wall time per pipeline phase and the counters that explain it.

use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone)]
pub struct Timings {
    phases: Vec<(&'static str, Duration)>,
    counters: Vec<(&'static str, u64)>,
}

impl Timings {
    /// Runs `f` as the phase `name` and records its wall time.
    pub fn phase<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.phases.push((name, start.elapsed()));
        out
    }

    /// Records a phase measured elsewhere.
    pub fn record(&mut self, name: &'static str, duration: Duration) {
        self.phases.push((name, duration));
    }

    pub fn count(&mut self, name: &'static str, value: u64) {
        self.counters.push((name, value));
    }

    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, d)| *d).sum()
    }
}

impl fmt::Display for Timings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total().as_secs_f64().max(1e-9);
        writeln!(f, "timings:")?;
        for (name, d) in &self.phases {
            let s = d.as_secs_f64();
            writeln!(
                f,
                "  {name:<22} {:>9.1} ms {:>5.1}%",
                s * 1000.0,
                100.0 * s / total
            )?;
        }
        writeln!(f, "  {:<22} {:>9.1} ms", "total", total * 1000.0)?;
        for (name, v) in &self.counters {
            writeln!(f, "  {name:<22} {v:>9}")?;
        }
        Ok(())
    }
}
