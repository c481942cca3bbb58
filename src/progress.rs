//! Progress on stderr while a large tree loads and is analysed: only on a terminal, never in
//! CI (`CI` set) or when output is redirected, and only once a run takes longer than a moment.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use netpol_fix::load::Progress;

/// Shows progress until dropped (dropping it stops the display at once).
pub struct Ticker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The counters to hand to the loader (`None` when nothing is shown) and the display.
pub fn start() -> (Option<Arc<Progress>>, Ticker) {
    let shown = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if !shown {
        return (
            None,
            Ticker {
                stop: None,
                thread: None,
            },
        );
    }
    let progress = Arc::new(Progress::default());
    let (stop, stopped) = channel::<()>();
    let thread = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            // Quiet for short runs: the first update after half a second.
            let mut wait = Duration::from_millis(500);
            let mut shown = false;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                wait = Duration::from_millis(200);
                let done = progress.done.load(Ordering::Relaxed);
                let total = progress.total.load(Ordering::Relaxed);
                let line = match total {
                    0 => continue, // still walking the tree
                    t if done < t => format!("netpol-fix: reading files {done}/{t}"),
                    t => format!("netpol-fix: analysing {t} files"),
                };
                eprint!("\r{line}\x1b[K");
                let _ = std::io::stderr().flush();
                shown = true;
            }
            if shown {
                eprint!("\r\x1b[K");
            }
        })
    };
    (
        Some(progress),
        Ticker {
            stop: Some(stop),
            thread: Some(thread),
        },
    )
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
