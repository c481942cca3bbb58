//! Progress on stderr while a large tree loads and is analysed: only on a terminal, never in
//! CI (`CI` set) or when output is redirected, and only once a run takes longer than a moment.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use netpol_fix::load::Progress;

/// Shows progress until dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The counters to hand to the loader (`None` when nothing is shown) and the display.
pub fn start() -> (Option<Arc<Progress>>, Ticker) {
    let stop = Arc::new(AtomicBool::new(false));
    let shown = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if !shown {
        return (None, Ticker { stop, thread: None });
    }
    let progress = Arc::new(Progress::default());
    let thread = {
        let (progress, stop) = (progress.clone(), stop.clone());
        std::thread::spawn(move || {
            // Quiet for short runs: the first update after half a second.
            std::thread::sleep(Duration::from_millis(500));
            while !stop.load(Ordering::Relaxed) {
                let done = progress.done.load(Ordering::Relaxed);
                let total = progress.total.load(Ordering::Relaxed);
                let line = if done < total {
                    format!("netpol-fix: reading files {done}/{total}")
                } else {
                    format!("netpol-fix: analysing {total} files")
                };
                eprint!("\r{line}\x1b[K");
                let _ = std::io::stderr().flush();
                std::thread::sleep(Duration::from_millis(200));
            }
            eprint!("\r\x1b[K");
        })
    };
    (
        Some(progress),
        Ticker {
            stop,
            thread: Some(thread),
        },
    )
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
