//! Shared by the integration tests: the truth-table format of `fixtures/**/expect.tsv`.
//!
//! Each row is `FROM TO PORT/PROTO allow|deny` (`#` starts a comment); FROM and TO are
//! endpoints as the CLI takes them.

use std::fs;
use std::path::Path;

use netpol_fix::analysis::Analysis;
use netpol_fix::connectivity::Engine;
use netpol_fix::endpoint;
use netpol_fix::net::Protocol;

/// The rows of a truth table: (line number, FROM, TO, protocol, port, allowed).
#[allow(clippy::type_complexity)]
pub fn rows(table_path: &Path) -> Vec<(usize, String, String, Protocol, u16, bool)> {
    let table = fs::read_to_string(table_path).expect("truth table");
    let mut rows = Vec::new();
    for (n, line) in table.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = format!("{}:{}", table_path.display(), n + 1);
        assert_eq!(f.len(), 4, "{at}: expected FROM TO PORT VERDICT");
        let (port, proto) = f[2].split_once('/').expect("PORT/PROTO");
        let allowed = match f[3] {
            "allow" => true,
            "deny" => false,
            other => panic!("{at}: verdict `{other}`"),
        };
        rows.push((
            n + 1,
            f[0].to_string(),
            f[1].to_string(),
            Protocol::parse(proto).expect("protocol"),
            port.parse().expect("port"),
            allowed,
        ));
    }
    assert!(
        !rows.is_empty(),
        "{}: empty truth table",
        table_path.display()
    );
    rows
}

/// Checks every row of `expect.tsv`; returns the failures as readable lines.
pub fn check_truth_table(table_path: &Path, analysis: &Analysis) -> Vec<String> {
    let engine = Engine::new(&analysis.world);
    let mut failures = Vec::new();
    for (n, from, to, protocol, port, expected) in rows(table_path) {
        let resolve = |ep: &str| {
            endpoint::resolve(&analysis.world, ep)
                .unwrap_or_else(|e| panic!("{}:{n}: {e}", table_path.display()))
        };
        let verdict = engine.verdict(resolve(&from), resolve(&to), protocol, port);
        if verdict.allowed() != expected {
            failures.push(format!(
                "{}:{n}: {from} {to} {port}/{protocol}: got {} ({verdict:?})",
                table_path.display(),
                if verdict.allowed() { "allow" } else { "deny" }
            ));
        }
    }
    failures
}
