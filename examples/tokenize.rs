//! `tokenize`: the baseline the performance targets are stated against, as a command: reads
//! every `.yaml` file under a directory into memory, then runs saphyr-parser's event stream
//! over each on one thread and prints how long that took (reading excluded).
//!
//! It exists so that the baseline and `netpol-fix check` can be run alternately in the same
//! minutes on a machine whose speed moves with its neighbours' load:
//!
//! ```sh
//! cargo run --release --example tokenize -- /tmp/world
//! ```
//!
//! The criterion bench `pipeline` runs the same baseline (`shared/baseline.rs`).

use std::path::Path;
use std::time::Instant;

#[path = "shared/baseline.rs"]
mod baseline;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: tokenize DIR");
        std::process::exit(2);
    };
    let texts = baseline::yaml_texts(Path::new(&dir));
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = Instant::now();
    let events = baseline::tokenize(&texts);
    let elapsed = start.elapsed();
    println!(
        "tokenized {} files, {bytes} bytes, {events} events in {:.1} ms",
        texts.len(),
        elapsed.as_secs_f64() * 1e3
    );
}
