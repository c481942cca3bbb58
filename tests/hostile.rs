//! Hostile input: every kind of bad file is a positioned diagnostic, the run goes on with the
//! other files, the exit code is 2, limits say which limit, Secret values are never echoed, and
//! `--write` leaves every file untouched when the input has errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn netpol_fix(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run netpol-fix")
}

/// A namespace with a default deny and one workload: its DNS finding proves the good files are
/// still analysed next to the bad ones.
const GOOD: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
";

const SECRET_VALUE: &str = "hunter2-do-not-print";

/// (file name, contents) of every hostile input, with the message fragment its error must have.
fn hostile_files() -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let mut block_deep =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n");
    for depth in 1..300 {
        block_deep.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
    }
    vec![
        ("good.yaml", GOOD.into(), None),
        (
            "invalid-yaml.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n".to_vec(),
            Some("invalid YAML"),
        ),
        (
            // The excerpt of a UTF-8 error shows the text before the bad byte: not in a Secret,
            // even one that says its kind only after that byte.
            "secret-invalid-utf8.yaml",
            [
                format!("stringData:\n  password: {SECRET_VALUE}").as_bytes(),
                b"\xff\nkind: Secret\n",
            ]
            .concat(),
            Some("not valid UTF-8"),
        ),
        (
            "invalid-utf8.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \xff\xfe\n".to_vec(),
            Some("not valid UTF-8"),
        ),
        (
            "binary.yaml",
            (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect(),
            Some("binary file"),
        ),
        ("bomb.yaml", bomb.into_bytes(), Some("alias bomb")),
        (
            "flow-deep.yaml",
            format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            Some("nesting deeper than"),
        ),
        (
            "block-deep.yaml",
            block_deep.into_bytes(),
            Some("nesting deeper than 256 levels"),
        ),
        (
            "dupkey.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  name: e\n".to_vec(),
            Some("duplicate key `name`"),
        ),
        (
            "wrong-types.yaml",
            b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: []\n".to_vec(),
            Some("must be a mapping"),
        ),
        (
            "secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\nstringData:\n  password: {SECRET_VALUE}\n  password: {SECRET_VALUE}\n"
            )
            .into_bytes(),
            Some("duplicate key `password`"),
        ),
        (
            "big-scalar.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: shop}}\ndata:\n  blob: \"{}\"\n",
                "x".repeat(10 * 1024 * 1024)
            )
            .into_bytes(),
            None,
        ),
        (
            "helm.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n".to_vec(),
            None,
        ),
        ("empty.yaml", Vec::new(), None),
        ("comments.yaml", b"# nothing here\n# at all\n".to_vec(), None),
        (
            "compose.yaml",
            b"services:\n  web: {image: nginx, ports: [\"80:80\"]}\n".to_vec(),
            None,
        ),
        (
            "netpol-fix.yaml",
            b"cluster_domain: cluster.local\n".to_vec(),
            None,
        ),
    ]
}

/// Writes the hostile tree, with a symlink loop, a link to itself and a dangling link.
fn hostile_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, _) in hostile_files() {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let links = dir.path().join("links");
    fs::create_dir(&links).unwrap();
    std::os::unix::fs::symlink("..", links.join("up")).unwrap();
    std::os::unix::fs::symlink("self.yaml", links.join("self.yaml")).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", links.join("dangling.yaml")).unwrap();
    dir
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&path).unwrap(),
            );
        }
    }
    files
}

#[test]
fn every_bad_input_is_a_positioned_error_and_the_rest_is_analysed() {
    let tree = hostile_tree();
    let out = netpol_fix(tree.path(), &["check", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "input errors exit 2");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON even with bad input");
    let errors = report["errors"].as_array().unwrap();
    let error_in = |file: &str| {
        errors
            .iter()
            .filter(|e| e["file"].as_str().unwrap().ends_with(file))
            .map(|e| {
                assert!(e["line"].as_u64().unwrap() >= 1 && e["column"].as_u64().unwrap() >= 1);
                e["message"].as_str().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    for (name, _, expected) in hostile_files() {
        let messages = error_in(name);
        match expected {
            Some(fragment) => assert!(
                messages.iter().any(|m| m.contains(fragment)),
                "{name}: expected an error with `{fragment}`, got {messages:?}"
            ),
            None => assert!(
                messages.is_empty(),
                "{name}: no error expected: {messages:?}"
            ),
        }
    }
    for (link, fragment) in [
        ("links/up", "symlink loop"),
        ("links/self.yaml", "cannot read this path"),
        ("links/dangling.yaml", "cannot read this path"),
    ] {
        assert!(
            error_in(link).iter().any(|m| m.contains(fragment)),
            "{link}: expected `{fragment}` in {errors:?}"
        );
    }
    // The good file is still analysed: its workload cannot resolve names.
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "missing-dns-egress" && f["name"] == "web"),
        "{findings:?}"
    );
    // Helm templates are a notice, not an error.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unrendered Helm/Go template"), "{stderr}");
}

#[test]
fn an_unreadable_file_is_an_error_and_the_rest_is_analysed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    // A FIFO given as a file is refused, not read (it would block), even for root.
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe.yaml"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut unreadable = vec!["pipe.yaml"];
    // Without read permission (root reads it anyway, so only checked as another user).
    let locked = dir.path().join("locked.yaml");
    fs::write(&locked, GOOD).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&locked).is_err() {
        unreadable.push("locked.yaml");
    }
    let mut args = vec!["check", "good.yaml", "--format", "json"];
    args.extend(&unreadable);
    let out = netpol_fix(dir.path(), &args);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for file in unreadable {
        assert!(
            report["errors"].as_array().unwrap().iter().any(|e| {
                e["file"].as_str().unwrap() == file
                    && e["message"].as_str().unwrap().contains("cannot read")
            }),
            "{file}: {report}"
        );
    }
    assert!(!report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let tree = hostile_tree();
    for format in ["human", "json", "sarif", "github", "codequality"] {
        let out = netpol_fix(tree.path(), &["check", ".", "--format", format]);
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains(SECRET_VALUE),
                "--format {format} echoed a Secret value on {stream}"
            );
        }
    }
    // A policy whose fix goes right before a Secret (tagged, so no `kind: Secret` literally):
    // the diff shows no context lines from that file.
    let mixed = tempfile::tempdir().unwrap();
    fs::write(
        mixed.path().join("mixed.yaml"),
        format!(
            "{GOOD}---\n{{apiVersion: v1, kind: !!str Secret, metadata: {{name: db, namespace: shop}}, stringData: {{password: {SECRET_VALUE}}}}}\n"
        ),
    )
    .unwrap();
    let diff = netpol_fix(mixed.path(), &["check", ".", "--diff"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("shop-allow-dns") || text.contains("allow-dns"),
        "{text}"
    );
    assert!(
        !text.contains(SECRET_VALUE),
        "--diff echoed a Secret value:\n{text}"
    );
    let human = netpol_fix(tree.path(), &["check", "secret.yaml"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("secret.yaml:6:3")
            && text.contains("excerpt withheld: the file holds a Secret"),
        "the position is still given: {text}"
    );
}

/// The JSON report in `out` has, for each `(file, text)`, an input error in that file whose
/// message holds that text.
fn assert_errors(out: &std::process::Output, expected: &[(&str, &str)]) {
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<String> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}: {}", e["file"], e["message"]))
        .collect();
    for (file, text) in expected {
        assert!(
            messages
                .iter()
                .any(|m| m.contains(file) && m.contains(text)),
            "{file}: expected {text:?} in {messages:?}"
        );
    }
}

/// A depth limit raised past what the stack holds is refused and the default stays: a file
/// nested 3,000 levels deep (which overflowed the stack before) is an error, not a crash.
#[test]
fn the_depth_limit_cannot_be_raised_past_what_the_stack_holds() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("netpol-fix.yaml"),
        "limits:\n  max_depth: 100000\n",
    )
    .unwrap();
    let deep: String = (0..3000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    fs::write(dir.path().join("deep.yaml"), deep).unwrap();
    let out = netpol_fix(dir.path(), &["check", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_errors(
        &out,
        &[
            ("netpol-fix.yaml", "`limits.max_depth` is at most 1000"),
            ("deep.yaml", "nesting deeper than 256 levels"),
        ],
    );
}

#[test]
fn limits_are_configurable_and_named_in_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("netpol-fix.yaml"),
        "limits:\n  max_file_bytes: 4096\n  max_documents: 2\n  max_depth: 5\n  alias_expansion: 1\n",
    )
    .unwrap();
    fs::write(dir.path().join("big.yaml"), "# padding\n".repeat(500)).unwrap();
    fs::write(
        dir.path().join("many.yaml"),
        "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("deep.yaml"),
        "a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g: 1\n",
    )
    .unwrap();
    let out = netpol_fix(dir.path(), &["check", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_errors(
        &out,
        &[
            ("big.yaml", "`limits.max_file_bytes`"),
            ("many.yaml", "`limits.max_documents`"),
            ("deep.yaml", "`limits.max_depth`"),
        ],
    );
    // The loader settings apply to every command, not only `check`.
    let graph = netpol_fix(dir.path(), &["graph", "."]);
    let stderr = String::from_utf8_lossy(&graph.stderr);
    assert!(stderr.contains("`limits.max_file_bytes`"), "{stderr}");
    // With the defaults the same files are fine.
    fs::remove_file(dir.path().join("netpol-fix.yaml")).unwrap();
    let out = netpol_fix(dir.path(), &["check", ".", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn yaml_1_1_numbers_and_keys_are_read_as_kubernetes_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("world.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, on: \"x\"}}
    spec:
      containers: [{name: api, image: api, ports: [{containerPort: 0x1F90}]}]
      volumes: [{name: cfg, configMap: {name: cfg, defaultMode: 0440}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: client, image: client}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {\"true\": x}}
  ingress: [{ports: [{port: 0644}]}]
",
    )
    .unwrap();
    let explain = |port: &str| {
        netpol_fix(
            dir.path(),
            &[
                "explain",
                ".",
                "--from",
                "shop/client",
                "--to",
                "shop/api",
                "--port",
                port,
            ],
        )
    };
    // `on:` is the label key "true", so the policy selects api; `0644` is port 420.
    assert_eq!(explain("420").status.code(), Some(0), "420 is allowed");
    assert_eq!(explain("644").status.code(), Some(1), "644 is not");
    let out = netpol_fix(dir.path(), &["check", ".", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for warning in [
        "`0644` is the number 420 to Kubernetes",
        "`0x1F90` is the number 8080 to Kubernetes",
        "the key `on` is \"true\" to Kubernetes",
    ] {
        assert!(stderr.contains(warning), "{warning}: {stderr}");
    }
    // File modes are octal on purpose: no warning.
    assert!(!stderr.contains("0440"), "{stderr}");
}

#[test]
fn write_leaves_every_file_untouched_when_the_input_has_errors() {
    let tree = hostile_tree();
    let before = snapshot(tree.path());
    let out = netpol_fix(tree.path(), &["check", ".", "--write"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(snapshot(tree.path()), before, "no file changed, none added");
}

/// The fuzz targets' invariants (`netpol_fix::fuzzing`) over every input the fuzzers turned up
/// (`fuzz/regressions/`) and over the rule fixtures, so CI runs what the fuzzers check.
#[test]
fn fuzz_invariants_hold_on_regressions_and_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut regressions: Vec<_> = fs::read_dir(root.join("fuzz/regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    regressions.sort();
    assert!(!regressions.is_empty());
    for path in &regressions {
        let bytes = fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        netpol_fix::fuzzing::load(&text);
        netpol_fix::fuzzing::fix(&text);
        netpol_fix::fuzzing::yaml(&text);
        netpol_fix::fuzzing::calico_selector(&text);
        netpol_fix::fuzzing::probes_and_patches(&text);
    }
    // Seeds for the Calico selector target: nesting, operators, unterminated strings.
    let deep = format!("{}a == 'b'{}", "(".repeat(5000), ")".repeat(5000));
    for selector in [
        deep.as_str(),
        "!!!has(a) && (b in {'x', 'y'} || c != \"d\")",
        "a contains 'x' && b starts with 'y' && c ends with 'z'",
        "all() || global()",
        "a == 'unterminated",
        "((((",
        "é == 'ü'",
    ] {
        netpol_fix::fuzzing::calico_selector(selector);
    }
    for entry in fs::read_dir(root.join("fixtures/rules")).unwrap() {
        for case in fs::read_dir(entry.unwrap().path()).unwrap() {
            let world = case.unwrap().path().join("world.yaml");
            if let Ok(text) = fs::read_to_string(&world) {
                netpol_fix::fuzzing::load(&text);
                netpol_fix::fuzzing::probes_and_patches(&text);
            }
        }
    }
}

/// No network access, no subprocesses, no template rendering: the source never reaches for
/// them and no dependency brings them.
#[test]
fn the_tool_only_reads_and_writes_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src")];
    let mut offences = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for api in [
                "process::Command",
                "TcpStream",
                "TcpListener",
                "UdpSocket",
                "ToSocketAddrs",
                "Command::new",
            ] {
                if text.contains(api) {
                    offences.push(format!("{} uses {api}", path.display()));
                }
            }
        }
    }
    let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap();
    for network_or_templates in [
        "\"reqwest\"",
        "\"ureq\"",
        "\"hyper\"",
        "\"curl\"",
        "\"tokio\"",
        "\"handlebars\"",
        "\"tera\"",
        "\"minijinja\"",
        "\"gtmpl\"",
    ] {
        if lock.contains(&format!("name = {network_or_templates}")) {
            offences.push(format!("Cargo.lock has {network_or_templates}"));
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

/// Files that are not manifests are read within bounds too: a rule file that is a link to a
/// device or a FIFO is refused (it would never end, or block), and standard input stops at the
/// size limit instead of growing until the machine runs out of memory.
#[cfg(unix)]
#[test]
fn rule_files_and_standard_input_are_read_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    fs::create_dir(&rules).unwrap();
    std::os::unix::fs::symlink("/dev/zero", rules.join("zero.yaml")).unwrap();
    let status = Command::new("mkfifo")
        .arg(rules.join("fifo.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(tmp.path().join("good.yaml"), GOOD).unwrap();
    let out = netpol_fix(tmp.path(), &["check", "good.yaml", "--rules", "rules"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    // The first of them (in path order, the FIFO) stops the rule directory.
    assert!(
        text.contains("fifo.yaml: cannot read: not a regular file"),
        "{text}"
    );
    fs::remove_file(rules.join("fifo.yaml")).unwrap();
    let out = netpol_fix(tmp.path(), &["check", "good.yaml", "--rules", "rules"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("zero.yaml: cannot read: not a regular file"),
        "{text}"
    );
    // Standard input over the configured limit is an error; what fits is read.
    fs::write(
        tmp.path().join("small.yaml"),
        "limits: {max_file_bytes: 100}\n",
    )
    .unwrap();
    for (input, over) in [(GOOD.repeat(2), true), ("# a comment\n".to_string(), false)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
            .args(["check", "-", "--config", "small.yaml"])
            .current_dir(tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.contains("standard input is over the limit of 100 bytes"),
            over,
            "{text}"
        );
    }
}

/// Credentials quoted from the input are hidden in every output: a URL's password and a
/// token in a query (`***` in messages, `*`s in excerpts); and a Secret whose kind is spelled
/// with an escape (`"Secr\u0065t"`) is still a Secret, whose values no diff context shows.
#[test]
fn credentials_in_values_and_escaped_secrets_are_never_printed() {
    const PASSWORD: &str = "s3cret-pw-4711";
    const TOKEN: &str = "tok-0815-abc";
    let tmp = tempfile::tempdir().unwrap();
    let app = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
      - name: app
        image: app
        env:
        - name: DB_URL
          value: postgresql://app:{PASSWORD}@db.shop:5432/main?token={TOKEN}
---
apiVersion: v1
kind: Service
metadata: {{name: db, namespace: shop}}
spec:
  selector: {{app: db}}
  ports: [{{port: 5432}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: db, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: postgres}}]
"
    );
    fs::write(tmp.path().join("app.yaml"), format!("{GOOD}---\n{app}")).unwrap();
    let mut seen_redacted = false;
    for format in ["human", "json", "sarif", "github", "codequality"] {
        let out = netpol_fix(tmp.path(), &["check", ".", "--format", format]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("db.shop"), "--format {format}: {text}");
        for secret in [PASSWORD, TOKEN] {
            assert!(
                !text.contains(secret),
                "--format {format} printed {secret}:\n{text}"
            );
        }
        seen_redacted |= text.contains("app:***@db.shop:5432/main?token=***");
    }
    assert!(seen_redacted, "no message names the redacted URL");
    // The fix of this file's policy shows its lines masked, and says the diff is no patch.
    let diff = netpol_fix(tmp.path(), &["check", ".", "--diff"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("credentials are masked in this diff"),
        "{text}"
    );
    for secret in [PASSWORD, TOKEN] {
        assert!(!text.contains(secret), "--diff printed {secret}:\n{text}");
    }
    // A fix that rewrites the line holding the credential (the Service's address written
    // where its name belongs) shows that line masked too.
    let pinned = tempfile::tempdir().unwrap();
    let app_by_address = app.replace("@db.shop:5432", "@10.96.55.12:5432").replace(
        "  selector: {app: db}\n",
        "  clusterIP: 10.96.55.12\n  selector: {app: db}\n",
    );
    fs::write(pinned.path().join("app.yaml"), &app_by_address).unwrap();
    let diff = netpol_fix(pinned.path(), &["check", ".", "--diff"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("+          value: postgresql://app:"),
        "{text}"
    );
    assert!(text.contains("@db.shop.svc.cluster.local:5432"), "{text}");
    for secret in [PASSWORD, TOKEN] {
        assert!(!text.contains(secret), "--diff printed {secret}:\n{text}");
    }
    let report = netpol_fix(tmp.path(), &["report", "."]);
    assert!(!String::from_utf8_lossy(&report.stdout).contains(PASSWORD));
    // The escaped kind: the fix of the policy in this file shows no context lines.
    let mixed = tempfile::tempdir().unwrap();
    fs::write(
        mixed.path().join("mixed.yaml"),
        format!(
            "{GOOD}---\n{{\"apiVersion\": \"v1\", \"kind\": \"Secr\\u0065t\", \"metadata\": {{\"name\": \"db\", \"namespace\": \"shop\"}}, \"stringData\": {{\"password\": \"{SECRET_VALUE}\"}}}}\n"
        ),
    )
    .unwrap();
    let diff = netpol_fix(mixed.path(), &["check", ".", "--diff"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("allow-dns"), "{text}");
    assert!(
        !text.contains(SECRET_VALUE),
        "--diff echoed a Secret value:\n{text}"
    );
}

/// An Argo template's name is checked by no API server, and reaches every listing of
/// workloads: no sink gets a character it would act on (an OSC 52 sequence writes the
/// terminal's clipboard; a quote ends a mermaid label; `<` opens HTML in markdown).
#[test]
fn names_from_unchecked_fields_are_escaped_for_every_sink() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("wf.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t, namespace: shop}\nspec:\n  templates:\n  - name: \"x\\e]52;c;ZXZpbA==\\a\\\"] --> y[\\\"<img src=x>\"\n    container: {image: busybox}\n",
    )
    .unwrap();
    // (JSON escapes control characters itself.)
    for format in ["txt", "mermaid", "dot"] {
        let out = netpol_fix(tmp.path(), &["graph", ".", "--format", format]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("shop/WorkflowTemplate/t:x"),
            "--format {format}: {text}"
        );
        for acted_on in ['\u{1b}', '\u{7}'] {
            assert!(!text.contains(acted_on), "--format {format}: {text:?}");
        }
        if format == "mermaid" {
            assert!(!text.contains("\"] --> y["), "{text}");
        }
    }
    let report = netpol_fix(tmp.path(), &["report", "."]);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(!text.contains('\u{1b}') && !text.contains("<img"), "{text}");
    let name = "shop/WorkflowTemplate/t:x\u{1b}]52;c;ZXZpbA==\u{7}\"] --> y[\"<img src=x>";
    let explain = netpol_fix(
        tmp.path(),
        &[
            "explain",
            ".",
            "--from",
            name,
            "--to",
            "192.0.2.1",
            "--port",
            "80",
        ],
    );
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(text.contains("shop/WorkflowTemplate/t:x"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
}
