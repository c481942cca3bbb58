//! Truth tables from the Kubernetes documentation: every row of every `expect.tsv` under
//! `fixtures/semantics/` and `fixtures/invalid/` must get its documented verdict, and every
//! `expect-errors.tsv` row must be reported at its position.

use std::fs;
use std::path::{Path, PathBuf};

use netpol_fix::analysis::{Analysis, analyze};
use netpol_fix::connectivity::Engine;
use netpol_fix::diag::Severity;
use netpol_fix::endpoint;
use netpol_fix::load::{Input, LoadOptions};
use netpol_fix::net::Protocol;

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root.display());
    dirs
}

fn load_case(case: &Path) -> Analysis {
    analyze(
        &[Input::Path(case.join("world.yaml"))],
        LoadOptions::default(),
    )
}

/// Checks every row of `expect.tsv`; returns the failures as readable lines.
fn check_truth_table(case: &Path, analysis: &Analysis) -> Vec<String> {
    let engine = Engine::new(&analysis.world);
    let table = fs::read_to_string(case.join("expect.tsv")).expect("expect.tsv");
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
                "{}/expect.tsv:{}: {line}: got {} ({verdict:?})",
                case.file_name().unwrap().to_string_lossy(),
                n + 1,
                if verdict.allowed() { "allow" } else { "deny" }
            ));
        }
    }
    assert!(rows > 0, "{}: empty truth table", case.display());
    failures
}

#[test]
fn semantics_truth_tables() {
    let mut failures = Vec::new();
    for case in cases("semantics") {
        let analysis = load_case(&case);
        assert!(
            analysis
                .diagnostics
                .iter()
                .all(|d| d.severity != Severity::Error),
            "{}: unexpected input errors: {:?}",
            case.display(),
            analysis.diagnostics
        );
        failures.extend(check_truth_table(&case, &analysis));
    }
    assert!(
        failures.is_empty(),
        "{} rows disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_policies_are_reported_at_their_position_and_the_rest_is_analysed() {
    let mut failures = Vec::new();
    for case in cases("invalid") {
        let analysis = load_case(&case);
        let expected =
            fs::read_to_string(case.join("expect-errors.tsv")).expect("expect-errors.tsv");
        let errors: Vec<(String, String)> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| {
                let lc = analysis.sources.get(d.loc.file).line_col(d.loc.span.start);
                (lc.to_string(), d.message.to_lowercase())
            })
            .collect();
        let mut wanted = 0;
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            let (pos, keyword) = line.split_once('\t').expect("LINE:COL<TAB>keyword");
            wanted += 1;
            let keyword = keyword.trim().to_lowercase();
            if !errors.iter().any(|(p, m)| p == pos && m.contains(&keyword)) {
                failures.push(format!(
                    "{}: no error at {pos} mentioning `{keyword}`; got {errors:?}",
                    case.display()
                ));
            }
        }
        if errors.len() != wanted {
            failures.push(format!(
                "{}: expected {wanted} errors, got {errors:?}",
                case.display()
            ));
        }
        if case.join("expect.tsv").exists() {
            failures.extend(check_truth_table(&case, &analysis));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
