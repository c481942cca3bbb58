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

/// Checks every row of `expect.tsv`; returns the failures as readable lines.
pub fn check_truth_table(table_path: &Path, analysis: &Analysis) -> Vec<String> {
    let engine = Engine::new(&analysis.world);
    let table = fs::read_to_string(table_path).expect("truth table");
    let case = table_path;
    let mut failures = Vec::new();
    let mut rows = 0;
    for (n, line) in table.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f.len(),
            4,
            "{}:{}: expected FROM TO PORT VERDICT",
            case.display(),
            n + 1
        );
        let (port, proto) = f[2].split_once('/').expect("PORT/PROTO");
        let protocol = Protocol::parse(proto).expect("protocol");
        let port: u16 = port.parse().expect("port");
        let resolve = |ep: &str| {
            endpoint::resolve(&analysis.world, ep)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", case.display(), n + 1))
        };
        let verdict = engine.verdict(resolve(f[0]), resolve(f[1]), protocol, port);
        let expected = match f[3] {
            "allow" => true,
            "deny" => false,
            other => panic!("{}:{}: verdict `{other}`", case.display(), n + 1),
        };
        rows += 1;
        if verdict.allowed() != expected {
            failures.push(format!(
                "{}:{}: {line}: got {} ({verdict:?})",
                case.display(),
                n + 1,
                if verdict.allowed() { "allow" } else { "deny" }
            ));
        }
    }
    assert!(rows > 0, "{}: empty truth table", case.display());
    failures
}
