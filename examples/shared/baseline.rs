//! The baseline the performance targets are stated against: saphyr-parser's event stream over
//! every `.yaml` file of a tree, on one thread. Shared by the `tokenize` example and the
//! `pipeline` bench, which include this file.

use std::fs;
use std::path::Path;

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
