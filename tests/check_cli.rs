//! `netpol-fix check` as CI runs it: exit codes, the JSON contract, SARIF, GitHub annotations,
//! configuration errors, rule selection, and snapshots of the demo tree's output.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(args: &[&str]) -> (Option<i32>, Value) {
    let out = run(args);
    let value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

/// Compares with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, actual).unwrap();
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept):\n{actual}"
    );
}

#[test]
fn no_subcommand_means_check_and_findings_exit_1() {
    let plain = run(&["fixtures/demo"]);
    let explicit = run(&["check", "fixtures/demo"]);
    assert_eq!(plain.status.code(), Some(1));
    assert_eq!(stdout(&plain), stdout(&explicit));
    assert_eq!(
        run(&["fixtures/demo", "--exit-zero"]).status.code(),
        Some(0)
    );
    // A tree without problems exits 0.
    assert_eq!(
        run(&["fixtures/semantics/selector-matchlabels"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn demo_output_snapshots() {
    snapshot("demo-check.txt", &stdout(&run(&["check", "fixtures/demo"])));
    snapshot(
        "demo-check.json",
        &stdout(&run(&["check", "fixtures/demo", "--format", "json"])),
    );
    snapshot(
        "demo-check.github",
        &stdout(&run(&["check", "fixtures/demo", "--format", "github"])),
    );
}

#[test]
fn json_contract() {
    let (code, v) = json(&["check", "fixtures/demo", "--format", "json"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["version"], 1);
    assert_eq!(v["errors"], serde_json::json!([]));
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in [
            "rule",
            "severity",
            "message",
            "file",
            "line",
            "column",
            "namespace",
            "kind",
            "name",
        ] {
            assert!(!f[key].is_null(), "{key} missing in {f}");
        }
        let fix = &f["fix"];
        assert!(
            fix.is_null() || ["safe", "unsafe"].contains(&fix["applicability"].as_str().unwrap()),
            "{fix}"
        );
        assert!(
            f["file"].as_str().unwrap().starts_with("fixtures/demo/"),
            "{f}"
        );
    }
    let dns = findings
        .iter()
        .find(|f| f["rule"] == "missing-dns-egress" && f["name"] == "argo-server")
        .expect("argo-server lacks DNS");
    assert_eq!(
        (
            dns["file"].as_str(),
            dns["line"].as_u64(),
            dns["side"].as_str()
        ),
        (
            Some("fixtures/demo/argo/argo-server.yaml"),
            Some(10),
            Some("egress")
        )
    );
    assert!(
        dns["related"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["file"] == "fixtures/demo/argo/networkpolicy.yaml")
    );
}

#[test]
fn sarif_is_2_1_0_with_the_rule_catalogue() {
    let (_, v) = json(&["check", "fixtures/demo", "--format", "sarif"]);
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"missing-dns-egress") && rules.contains(&"hardcoded-ip"),
        "{rules:?}"
    );
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(result["ruleId"].as_str(), Some(rules[index]));
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn select_ignore_and_unknown_rules() {
    let (_, v) = json(&[
        "check",
        "fixtures/demo",
        "--format",
        "json",
        "--select",
        "hardcoded-ip",
    ]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] == "hardcoded-ip")
    );
    let (_, v) = json(&[
        "check",
        "fixtures/demo",
        "--format",
        "json",
        "--ignore",
        "hardcoded-ip,missing-dns-egress",
    ]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "hardcoded-ip" && f["rule"] != "missing-dns-egress")
    );
    let (code, v) = json(&[
        "check",
        "fixtures/demo",
        "--format",
        "json",
        "--select",
        "no-such-rule",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown rule `no-such-rule`")
    );
}

#[test]
fn config_unknown_keys_are_positioned_errors_and_settings_apply() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml"),
        root.join("world.yaml"),
    )
    .unwrap();
    fs::write(
        root.join("netpol-fix.yaml"),
        "dns:\n  namespace: kube-system\n  lables: {k8s-app: kube-dns}\n",
    )
    .unwrap();
    let (code, v) = json(&["check", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(2));
    let err = &v["errors"][0];
    assert_eq!(
        (err["line"].as_u64(), err["column"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("unknown key `lables` in dns"),
        "{err}"
    );

    fs::write(
        root.join("netpol-fix.yaml"),
        "rules:\n  severity: {missing-dns-egress: warning}\n",
    )
    .unwrap();
    let (code, v) = json(&["check", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(1));
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "warning")
    );
    fs::write(
        root.join("netpol-fix.yaml"),
        "rules:\n  ignore: [missing-dns-egress]\n",
    )
    .unwrap();
    assert_eq!(
        run(&["check", root.to_str().unwrap()]).status.code(),
        Some(0)
    );
}

#[test]
fn github_annotations_escape_and_point_at_files() {
    let out = stdout(&run(&["check", "fixtures/demo", "--format", "github"]));
    let line = out
        .lines()
        .find(|l| l.contains("title=missing-dns-egress"))
        .unwrap();
    assert!(line.starts_with("::error file=fixtures/demo/"), "{line}");
    assert!(line.contains(",line=") && line.contains(",col="));
    assert!(!line.contains('\n'));
    assert!(
        line.contains("%0A"),
        "message and help are joined by an escaped newline: {line}"
    );
}

#[test]
fn user_rules_extend_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    fs::write(
        rules.join("missing-vault-egress.yaml"),
        "id: missing-vault-egress\nsummary: Pods with VAULT_ADDR must reach Vault.\nseverity: error\ncheck: env-service-egress\nparameters: {env: [VAULT_ADDR]}\nrationale: Vault is needed.\nexamples: {triggers: '', passes: ''}\n",
    )
    .unwrap();
    let world = dir.path().join("world.yaml");
    fs::write(
        &world,
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: web}
spec:
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: c, env: [{name: VAULT_ADDR, value: "https://vault.vault:8200"}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: vault, namespace: vault}
spec: {template: {metadata: {labels: {app: vault}}, spec: {containers: [{name: v, ports: [{containerPort: 8200}]}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: vault, namespace: vault}
spec: {selector: {app: vault}, ports: [{port: 8200}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: web}
spec: {podSelector: {}, policyTypes: [Egress]}
"#,
    )
    .unwrap();
    let (_, v) = json(&[
        "check",
        world.to_str().unwrap(),
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        "--select",
        "missing-vault-egress,missing-service-egress",
    ]);
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["missing-vault-egress"],
        "the team rule claims VAULT_ADDR; service-egress does not repeat it"
    );
    let listed = stdout(&run(&[
        "rules",
        "--rules",
        dir.path().join("rules").to_str().unwrap(),
    ]));
    assert!(listed.contains("missing-vault-egress"));
    assert!(stdout(&run(&["rules", "missing-dns-egress"])).contains("Example that triggers it"));
}

#[test]
fn config_excludes_paths_and_adds_rule_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    fs::create_dir_all(root.join("vendor")).unwrap();
    fs::copy(&case, root.join("vendor/world.yaml")).unwrap();
    fs::create_dir_all(root.join("team-rules")).unwrap();
    fs::write(
        root.join("team-rules/no-op.yaml"),
        "id: team-no-op\nsummary: s\nseverity: info\ncheck: service-egress\nrationale: r\nexamples: {triggers: '', passes: ''}\n",
    )
    .unwrap();
    fs::write(
        root.join("netpol-fix.yaml"),
        "exclude: [\"vendor/**\"]\nrule_dirs: [team-rules]\n",
    )
    .unwrap();
    let (code, v) = json(&["check", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["findings"], serde_json::json!([]));
    let listed = stdout(&run(&[
        "rules",
        "--rules",
        root.join("team-rules").to_str().unwrap(),
    ]));
    assert!(listed.contains("team-no-op"));
    fs::write(root.join("netpol-fix.yaml"), "rule_dirs: [team-rules]\n").unwrap();
    let (code, _) = json(&["check", root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        code,
        Some(1),
        "without the exclude the vendored world is analysed"
    );
}

/// `value` against the subset of JSON Schema that `docs/check-output.schema.json` uses: type
/// (one or a list), const, enum, required, properties, additionalProperties: false, items,
/// minimum. Returns the first violation.
fn validate(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let type_ok = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "null" => value.is_null(),
        other => panic!("schema type {other} not supported by this check"),
    };
    match &schema["type"] {
        Value::String(t) if !type_ok(t) => return Err(format!("{at}: not a {t}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap())) => {
            return Err(format!("{at}: not any of {ts:?}"));
        }
        _ => {}
    }
    if let Some(c) = schema.get("const").filter(|c| *c != value) {
        return Err(format!("{at}: {value} is not {c}"));
    }
    if let Some(options) = schema["enum"].as_array().filter(|o| !o.contains(value)) {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_i64(), value.as_i64())
        && n < min
    {
        return Err(format!("{at}: {n} < {min}"));
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(key.as_str().unwrap()) {
                return Err(format!("{at}: missing {key}"));
            }
        }
        for (key, item) in object {
            match schema["properties"].get(key) {
                Some(s) => validate(s, item, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{at}: unexpected key {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn json_output_follows_the_published_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check-output.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // The demo (findings with and without fixes, both sides) and a tree with input errors.
    let (_, demo) = json(&["check", "fixtures/demo", "--format", "json"]);
    assert!(!demo["findings"].as_array().unwrap().is_empty());
    validate(&schema, &demo, "$").unwrap();
    let (_, broken) = json(&["check", "fixtures/invalid", "--format", "json"]);
    assert!(!broken["errors"].as_array().unwrap().is_empty());
    validate(&schema, &broken, "$").unwrap();
    // The check itself rejects what breaks the contract.
    let mut extra = demo.clone();
    extra["findings"][0]["surprise"] = Value::Bool(true);
    assert!(validate(&schema, &extra, "$").is_err());
    let mut bad_severity = demo;
    bad_severity["findings"][0]["severity"] = Value::from("fatal");
    assert!(validate(&schema, &bad_severity, "$").is_err());
}

#[test]
fn gitlab_code_quality_report() {
    let (_, findings) = json(&["check", "fixtures/demo", "--format", "json"]);
    let (code, report) = json(&["check", "fixtures/demo", "--format", "codequality"]);
    assert_eq!(code, Some(1));
    // The findings, then what was not analysed (the demo's unrendered chart template).
    let entries = report.as_array().unwrap();
    let not_analysed = entries
        .iter()
        .filter(|e| e["check_name"] == "not-analysed")
        .count();
    assert_eq!(not_analysed, findings["skipped"].as_array().unwrap().len());
    assert_eq!(
        entries.len() - not_analysed,
        findings["findings"].as_array().unwrap().len()
    );
    let mut fingerprints = std::collections::BTreeSet::new();
    let finding_entries = entries.iter().filter(|e| e["check_name"] != "not-analysed");
    for (entry, finding) in finding_entries.zip(findings["findings"].as_array().unwrap()) {
        assert_eq!(entry["check_name"], finding["rule"]);
        assert_eq!(entry["location"]["path"], finding["file"]);
        assert_eq!(entry["location"]["lines"]["begin"], finding["line"]);
        let expected = match finding["severity"].as_str().unwrap() {
            "error" => "critical",
            "warning" => "major",
            _ => "info",
        };
        assert_eq!(entry["severity"], expected);
        assert!(fingerprints.insert(entry["fingerprint"].as_str().unwrap().to_string()));
    }
    // Stable across runs: GitLab compares fingerprints between pipelines.
    let (_, again) = json(&["check", "fixtures/demo", "--format", "codequality"]);
    assert_eq!(again, report);
}

/// The README shows real output of the demo: its `--diff` excerpt is the beginning of the diff,
/// and its mermaid picture is the whole `graph --format mermaid`.
#[test]
fn readme_shows_the_demo_as_it_is() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = |fence: &str| {
        let start = readme.find(&format!("```{fence}\n")).unwrap() + fence.len() + 4;
        readme[start..start + readme[start..].find("```\n").unwrap()].to_string()
    };
    let diff = stdout(&run(&["--diff", "fixtures/demo"]));
    assert!(
        diff.starts_with(&block("diff")),
        "README's diff excerpt is not the start of `--diff fixtures/demo`:\n{diff}"
    );
    let mermaid = stdout(&run(&["graph", "fixtures/demo", "--format", "mermaid"]));
    assert_eq!(
        block("mermaid"),
        mermaid,
        "README's mermaid picture is stale"
    );
}

/// `--tree`: the whole tree is analysed, the report is about the given paths (findings in them
/// or pointing into them), and its input errors where they matter.
#[test]
fn tree_scopes_the_report_not_the_analysis() {
    let rules_of = |v: &Value| {
        let mut found: Vec<(String, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["file"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        found.sort();
        found
    };
    // The argo policy file holds no workload, but isolates four of them.
    let (code, policy) = json(&[
        "check",
        "--tree",
        "fixtures/demo",
        "fixtures/demo/argo/networkpolicy.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1));
    let found = rules_of(&policy);
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|(_, file)| file.contains("/argo/")),
        "{found:?}"
    );
    // A directory selects the files below it; the whole tree's findings are a superset.
    let (_, dir) = json(&[
        "check",
        "--tree",
        "fixtures/demo",
        "fixtures/demo/argo",
        "--format",
        "json",
    ]);
    let (_, all) = json(&["check", "fixtures/demo", "--format", "json"]);
    let (dir, all) = (rules_of(&dir), rules_of(&all));
    assert!(found.iter().all(|f| dir.contains(f)) && dir.iter().all(|f| all.contains(f)));
    assert!(dir.len() < all.len());
    // A path that does not exist is a usage error.
    let missing = run(&[
        "check",
        "--tree",
        "fixtures/demo",
        "fixtures/demo/nope.yaml",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    // An input error in a file that neither the given files nor their findings touch is
    // counted, not shown, and does not fail the run: a hook on one file must not fail for a
    // broken file it never touched.
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("good.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    fs::write(
        tmp.path().join("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\n",
    )
    .unwrap();
    let tree = tmp.path().to_str().unwrap();
    let good = tmp.path().join("good.yaml");
    let (code, report) = json(&[
        "check",
        "--tree",
        tree,
        good.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0));
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    let human = stdout(&run(&["check", "--tree", tree, good.to_str().unwrap()]));
    assert!(
        human.contains("0 input errors (1 more in other files of the tree"),
        "{human}"
    );
    // Passing the broken file shows its error and fails.
    let broken = tmp.path().join("broken.yaml");
    let (code, report) = json(&[
        "check",
        "--tree",
        tree,
        broken.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        report["errors"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("broken.yaml")
    );
}
