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
//! The criterion bench `pipeline` uses the same two functions.

use std::fs;
use std::path::Path;
use std::time::Instant;

/// The texts of every `.yaml` file under `dir`, in no particular order.
pub fn yaml_texts(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).expect("read a directory of the tree") {
            let p = e.expect("list a directory of the tree").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(fs::read_to_string(p).expect("read a file of the tree"));
            }
        }
    }
    out
}

/// Runs the event parser over every text; the number of events, so nothing is optimised away.
pub fn tokenize(texts: &[String]) -> usize {
    texts
        .iter()
        .map(|t| saphyr_parser::Parser::new_from_str(t).count())
        .sum()
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(dead_code)]
fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: tokenize DIR");
        std::process::exit(2);
    };
    let texts = yaml_texts(Path::new(&dir));
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = Instant::now();
    let events = tokenize(&texts);
    let elapsed = start.elapsed();
    println!(
        "tokenized {} files, {bytes} bytes, {events} events in {:.1} ms",
        texts.len(),
        elapsed.as_secs_f64() * 1e3
    );
}
