//! Lint rules: every case under `fixtures/rules/<rule>/<case>/` reports exactly the findings of
//! its `expect.tsv` (`RULE SEVERITY OBJECT SIDE`), and every rule's documented examples behave
//! as documented.

use std::fs;
use std::path::{Path, PathBuf};

use netpol_fix::check::{CheckOptions, check};
use netpol_fix::diag::Severity;
use netpol_fix::load::Input;

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rules");
    let mut cases = Vec::new();
    for rule in fs::read_dir(&root).unwrap() {
        for case in fs::read_dir(rule.unwrap().path()).unwrap() {
            let case = case.unwrap().path();
            if case.join("world.yaml").is_file() {
                cases.push(case);
            }
        }
    }
    cases.sort();
    assert!(!cases.is_empty());
    cases
}

fn severity(s: Severity) -> &'static str {
    s.as_str()
}

#[test]
fn rule_fixtures_report_exactly_the_expected_findings() {
    let mut failures = Vec::new();
    for case in case_dirs() {
        let options = CheckOptions {
            config_root: Some(case.clone()),
            ..CheckOptions::default()
        };
        let run = check(&[Input::Path(case.join("world.yaml"))], &options);
        let errors: Vec<_> = run.analysis.errors().collect();
        if !errors.is_empty() {
            failures.push(format!("{}: input errors {errors:?}", case.display()));
            continue;
        }
        let mut got: Vec<String> = run
            .findings
            .iter()
            .map(|f| {
                let side = f.side.map_or("-", |s| s.as_str());
                format!("{} {} {} {side}", f.rule, severity(f.severity), f.object)
            })
            .collect();
        got.sort();
        let text = fs::read_to_string(case.join("expect.tsv")).unwrap();
        let mut want: Vec<String> = text
            .lines()
            .map(|l| {
                l.split('#')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|l| !l.is_empty())
            .collect();
        want.sort();
        if got != want {
            let detail: Vec<String> = run
                .findings
                .iter()
                .map(|f| format!("    {}: {}", f.rule, f.message))
                .collect();
            failures.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}\n{}",
                case.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap()
                    .display(),
                detail.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_example_behaves_as_documented() {
    let catalog = check(&[], &CheckOptions::default()).catalog;
    assert!(catalog.len() >= 8);
    let mut failures = Vec::new();
    for rule in &catalog {
        for (example, should_fire) in [
            (&rule.examples.triggers, true),
            (&rule.examples.passes, false),
        ] {
            let run = check(
                &[Input::Text {
                    name: format!("{}-example.yaml", rule.id),
                    text: example.clone(),
                }],
                &CheckOptions::default(),
            );
            let fired = run.findings.iter().filter(|f| f.rule == rule.id).count();
            let errors: Vec<_> = run.analysis.errors().collect();
            if !errors.is_empty() || (fired > 0) != should_fire {
                failures.push(format!(
                    "{} {}: fired {fired}, errors {errors:?}",
                    rule.id,
                    if should_fire { "triggers" } else { "passes" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `docs/rules/` is what `netpol-fix rules --format markdown` generates from `rules/`
/// (`UPDATE_SNAPSHOTS=1` regenerates it).
#[test]
fn rule_pages_are_generated_from_the_rule_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let generate = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let mut pages = vec![(
        "README.md".to_string(),
        generate(&["rules", "--format", "markdown"]),
    )];
    for file in std::fs::read_dir(root.join("rules")).unwrap() {
        let name = file.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".yaml") {
            pages.push((
                format!("{id}.md"),
                generate(&["rules", id, "--format", "markdown"]),
            ));
        }
    }
    for (page, text) in pages {
        let path = root.join("docs/rules").join(&page);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "docs/rules/{page} is stale: run UPDATE_SNAPSHOTS=1 cargo test --test rules"
        );
    }
}

/// A message names the first three policies that isolate the blocked side and counts the rest
/// (all four when there are four); every one of them is a related location.
#[test]
fn messages_name_three_isolating_policies_and_relate_them_all() {
    let mut yaml = String::from(
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        env: [{name: DB_URL, value: 'postgresql://db.data:5432/shop'}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: data}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: db:1, ports: [{containerPort: 5432}]}]
",
    );
    let isolate = |count: usize, yaml: &mut String| {
        for i in 0..count {
            yaml.push_str(&format!(
                "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-{i}, namespace: shop}}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
"
            ));
        }
    };
    let egress_finding = |yaml: &str| {
        let run = check(
            &[Input::Text {
                name: "world.yaml".into(),
                text: yaml.into(),
            }],
            &CheckOptions::default(),
        );
        run.findings
            .into_iter()
            .find(|f| f.rule == "missing-service-egress")
            .expect("the egress to db is blocked")
    };
    let isolated_by = |f: &netpol_fix::lint::Finding| {
        f.related
            .iter()
            .filter(|r| r.label.starts_with("egress isolated by"))
            .count()
    };
    let mut four = yaml.clone();
    isolate(4, &mut four);
    let f = egress_finding(&four);
    assert!(
        f.message.contains(
            "isolated by shop/deny-0, shop/deny-1, shop/deny-2, shop/deny-3, does not allow"
        ),
        "{}",
        f.message
    );
    assert_eq!(isolated_by(&f), 4);
    isolate(5, &mut yaml);
    let f = egress_finding(&yaml);
    assert!(
        f.message
            .contains("isolated by shop/deny-0, shop/deny-1, shop/deny-2 and 2 more, does not"),
        "{}",
        f.message
    );
    assert_eq!(isolated_by(&f), 5);
}
