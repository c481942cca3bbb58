//! What the ecosystem pipes in: `helm template … | netpol-fix check -`,
//! `kustomize build … | netpol-fix check -` and
//! `kubectl get all,networkpolicies,configmaps -A -o yaml | netpol-fix check -`, each with a
//! realistic sample (Helm's `# Source:` comments and chart labels, kustomize's hashed ConfigMap
//! names and sorted kinds, kubectl's `List` with owners, status and managed fields).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// `(rule, namespace, name)` of every finding of `check -` on `sample`, and the input errors.
fn check_stdin(sample: &str) -> (BTreeSet<(String, String, String)>, Vec<Value>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(sample);
    let text = std::fs::read(path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(["check", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["file"], "-", "stdin findings point into `-`");
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("rule"), s("namespace"), s("name"))
        })
        .collect();
    (findings, report["errors"].as_array().unwrap().clone())
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn helm_template_output() {
    // The chart's default deny isolates both Deployments' egress and allows none of it.
    let (findings, errors) = check_stdin("fixtures/ecosystem/helm-template.yaml");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        findings,
        set(&[
            ("missing-dns-egress", "default", "shop-catalog"),
            ("missing-dns-egress", "default", "shop-web"),
            ("missing-service-egress", "default", "shop-web"),
        ])
    );
}

#[test]
fn kustomize_build_output() {
    // The trainer's egress allows DNS only; MLflow comes from the hashed ConfigMap via envFrom.
    let (findings, errors) = check_stdin("fixtures/ecosystem/kustomize-build.yaml");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        findings,
        set(&[("missing-mlflow-egress", "ml-prod", "prod-trainer")])
    );
}

#[test]
fn kubectl_get_export() {
    // A live export: pods and ReplicaSets collapse into their Deployments (no duplicate
    // findings); the only finding is the address hardcoded in the Alloy config.
    let (findings, errors) = check_stdin("fixtures/export/cluster-export.yaml");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        findings,
        set(&[("hardcoded-ip", "monitoring", "alloy-config")])
    );
}
