//! The pre-commit hooks, for real: `pre-commit try-repo` against this checkout in a temporary git
//! repository fails on a broken manifest and passes once it is fixed.
//!
//! Ignored by default: it needs `pre-commit` (from PyPI) and builds netpol-fix in pre-commit's
//! own environment (minutes). Run it with
//! `PRE_COMMIT=/path/to/pre-commit cargo test --test precommit -- --ignored`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const WORKLOAD: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
";

const DEFAULT_DENY: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
";

const ALLOW_DNS: &str = "\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
";

fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn git(dir: &Path, args: &[&str]) {
    let out = run(dir, "git", args);
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
#[ignore = "needs pre-commit from PyPI and builds the hook (minutes)"]
fn try_repo_fails_on_a_broken_manifest_and_passes_on_a_fixed_one() {
    let pre_commit = std::env::var("PRE_COMMIT").unwrap_or_else(|_| "pre-commit".into());
    let checkout = env!("CARGO_MANIFEST_DIR");
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "test@example.com"]);
    git(dir, &["config", "user.name", "test"]);
    fs::write(dir.join("web.yaml"), WORKLOAD).unwrap();
    fs::write(dir.join("policies.yaml"), DEFAULT_DENY).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "broken"]);

    let hook = |files: &[&str]| {
        let mut args = vec!["try-repo", checkout, "netpol-fix", "--files"];
        args.extend(files);
        run(dir, &pre_commit, &args)
    };
    // The policy file alone is passed: the finding is on the workload it isolates.
    let broken = hook(&["policies.yaml"]);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "the hook must fail: {text}");
    assert!(text.contains("missing-dns-egress"), "{text}");

    fs::write(
        dir.join("policies.yaml"),
        format!("{DEFAULT_DENY}{ALLOW_DNS}"),
    )
    .unwrap();
    git(dir, &["commit", "-qam", "fixed"]);
    let fixed = hook(&["policies.yaml", "web.yaml"]);
    let text = String::from_utf8_lossy(&fixed.stdout);
    assert!(fixed.status.success(), "the hook must pass: {text}");
}
