//! A `kubectl get all,networkpolicies,configmaps -A -o yaml` export: owner collapsing gives one
//! workload per controller, and the verdicts match the truth table written for it.

mod common;

use std::fs;
use std::path::Path;

use netpol_fix::analysis::analyze;
use netpol_fix::load::{Input, LoadOptions};

#[test]
fn live_cluster_export_collapses_owners_and_answers_right() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/export");
    let analysis = analyze(
        &[Input::Path(dir.join("cluster-export.yaml"))],
        LoadOptions::default(),
    );
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
    let mut workloads: Vec<String> = analysis
        .world
        .workloads
        .iter()
        .map(|w| w.meta.id.to_string())
        .collect();
    workloads.sort();
    let expected: Vec<String> = fs::read_to_string(dir.join("expect-workloads.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(workloads, expected);
    let failures = common::check_truth_table(&dir.join("expect.tsv"), &analysis);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
