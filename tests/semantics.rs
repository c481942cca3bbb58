//! Truth tables from the Kubernetes and Calico documentation: every row of every `expect.tsv`
//! under `fixtures/semantics/`, `fixtures/calico/` and `fixtures/invalid/` must get its
//! documented verdict, and every `expect-errors.tsv` row must be reported at its position.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::check_truth_table;
use netpol_fix::analysis::{Analysis, analyze};
use netpol_fix::connectivity::graph::{Connection, GraphEndpoint};
use netpol_fix::connectivity::{Endpoint, Engine};
use netpol_fix::diag::Severity;
use netpol_fix::endpoint;
use netpol_fix::load::{Input, LoadOptions};

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

#[test]
fn semantics_truth_tables() {
    truth_tables("semantics");
}

/// Calico scenarios: truth tables from the Calico documentation and source, cross-checked with
/// network-config-analyzer (`fixtures/calico/README.md`).
#[test]
fn calico_truth_tables() {
    truth_tables("calico");
}

/// The connection listing by verdicts (what `graph` does with Calico policies) lists exactly
/// what the fast path lists for Kubernetes policies, on every documented world.
#[test]
fn graph_by_verdict_lists_what_the_fast_path_lists() {
    for case in cases("semantics") {
        let analysis = load_case(&case);
        let engine = Engine::new(&analysis.world);
        let (mut fast, mut by_verdict) = (Vec::new(), Vec::new());
        engine.for_each_connection(|c| fast.push(c));
        engine.for_each_connection_by_verdict(|c| by_verdict.push(c));
        assert!(!fast.is_empty(), "{}", case.display());
        assert_eq!(fast, by_verdict, "{}", case.display());
    }
}

/// A one-sided verdict (what the flow checks ask for) is exactly that side of the whole
/// verdict, for every pair of pods and an outside address, on every documented world; and
/// where nothing enforces policy, neither side decides anything (every flow is allowed).
#[test]
fn side_verdicts_are_the_sides_of_whole_verdicts() {
    use netpol_fix::connectivity::Enforcement;
    use netpol_fix::model::Direction;
    use netpol_fix::net::Protocol;
    let outside = Endpoint::External("203.0.113.9".parse().unwrap());
    let (mut compared, mut denied) = (0, 0);
    for case in cases("semantics").into_iter().chain(cases("calico")) {
        let analysis = load_case(&case);
        let engine = Engine::new(&analysis.world);
        let unenforced = Engine::configured(&analysis.world, &[], Enforcement::None);
        let pods = (0..analysis.world.workloads.len()).map(Endpoint::Workload);
        let ends: Vec<Endpoint> = pods.chain([outside]).collect();
        for &src in &ends {
            for &dst in &ends {
                for (protocol, port) in [
                    (Protocol::Tcp, 80),
                    (Protocol::Tcp, 443),
                    (Protocol::Udp, 53),
                ] {
                    let whole = engine.verdict(src, dst, protocol, port);
                    denied += usize::from(!whole.allowed());
                    let today = unenforced.verdict(src, dst, protocol, port);
                    assert!(today.egress.is_none() && today.ingress.is_none());
                    for direction in [Direction::Egress, Direction::Ingress] {
                        assert_eq!(
                            engine.side_verdict(src, dst, protocol, port, direction),
                            whole.clone().side(direction),
                            "{}: {src:?} -> {dst:?} {protocol:?} {port} {direction:?}",
                            case.display()
                        );
                        let today = unenforced.side_verdict(src, dst, protocol, port, direction);
                        assert_eq!(today, None);
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(
        compared > 1000 && denied > 100,
        "{compared} compared, {denied} denied"
    );
}

/// Pods are told apart only by what some selector could tell apart: label values no selector
/// names share a class, but having a key or not, and a named value, keep pods apart.
#[test]
fn classes_tell_pods_apart_only_by_what_selectors_name() {
    let pod = |name: &str, labels: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {labels}}}\nspec: {{containers: [{{name: c, image: i}}]}}\n---\n"
        )
    };
    let text = [
        pod("a", "{app: a, tier: web}"),
        pod("b", "{app: b, tier: web}"),
        pod("named", "{app: named, tier: web}"),
        pod("keyless", "{tier: web}"),
        pod("db", "{app: c, tier: db}"),
    ]
    .concat()
        + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [named]}]}\n  ingress: [{from: [{podSelector: {matchLabels: {tier: web}}}]}]\n";
    let analysis = analyze(
        &[Input::Text {
            name: "world.yaml".into(),
            text,
        }],
        LoadOptions::default(),
    );
    assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
    let engine = Engine::new(&analysis.world);
    let ep = |name: &str| endpoint::resolve(&analysis.world, &format!("shop/{name}")).unwrap();
    let class = |name: &str| engine.class_of_endpoint(ep(name));
    assert_eq!(class("a"), class("b"), "app values no selector names");
    assert_ne!(class("a"), class("named"), "a value a selector names");
    assert_ne!(class("a"), class("keyless"), "having the key or not");
    assert_ne!(class("a"), class("db"), "a value of another mentioned key");
    // And the verdicts follow: the policy selects a, b and keyless (NotIn matches a missing
    // key), not named; the others (a, b, named, keyless) may reach it, db may not.
    use netpol_fix::net::Protocol;
    let allowed = |src: &str, dst: &str| {
        engine
            .verdict(ep(src), ep(dst), Protocol::Tcp, 80)
            .allowed()
    };
    assert!(allowed("named", "a") && allowed("keyless", "b"));
    assert!(!allowed("db", "a") && !allowed("db", "b") && !allowed("db", "keyless"));
    assert!(
        allowed("db", "named"),
        "named is not selected, so not isolated"
    );
}

/// With Calico policies `graph` lists a connection exactly where the truth table allows one.
#[test]
fn graph_agrees_with_the_calico_truth_tables() {
    let mut failures = Vec::new();
    for case in cases("calico") {
        let analysis = load_case(&case);
        let engine = Engine::new(&analysis.world);
        let mut listed = Vec::new();
        engine.for_each_connection(|c| listed.push(c));
        failures.extend(check_listing(&case.join("expect.tsv"), &analysis, &listed));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks every row of a truth table against a connection listing: a row is allowed exactly
/// when a listed connection between its endpoints (or the address range holding its address)
/// includes its port.
fn check_listing(table_path: &Path, analysis: &Analysis, listed: &[Connection]) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, from, to, protocol, port, expected) in common::rows(table_path) {
        let resolve = |ep: &str| {
            endpoint::resolve(&analysis.world, ep)
                .unwrap_or_else(|e| panic!("{}:{n}: {e}", table_path.display()))
        };
        let covers = |g: &GraphEndpoint, ep: Endpoint| match (*g, ep) {
            (GraphEndpoint::Workload(a), Endpoint::Workload(b)) => a == b,
            (GraphEndpoint::External(first, last), Endpoint::External(ip)) => {
                first <= ip && ip <= last
            }
            _ => false,
        };
        let (src, dst) = (resolve(&from), resolve(&to));
        let found = listed.iter().any(|c| {
            covers(&c.src, src) && covers(&c.dst, dst) && c.ports.contains(protocol, port)
        });
        if found != expected {
            failures.push(format!(
                "{}:{n}: {from} {to} {port}/{protocol}: listed {found}, table says {expected}",
                table_path.display()
            ));
        }
    }
    failures
}

fn truth_tables(dir: &str) {
    let mut failures = Vec::new();
    for case in cases(dir) {
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
        failures.extend(check_truth_table(&case.join("expect.tsv"), &analysis));
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
            .errors()
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
            failures.extend(check_truth_table(&case.join("expect.tsv"), &analysis));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
