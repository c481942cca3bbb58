//! The command line as users run it: output contracts, exit codes, stdin, directory walking.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn netpol_fix(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run netpol-fix");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ep(ns: &str, name: &str) -> Value {
    json!({"namespace": ns, "kind": "Deployment", "name": name})
}

fn ports(list: &[(&str, u16, u16)]) -> Value {
    list.iter()
        .map(|(p, s, e)| json!({"protocol": p, "start": s, "end": e}))
        .collect()
}

#[test]
fn graph_json_lists_exactly_the_allowed_connections() {
    let out = netpol_fix(&["graph", "fixtures/graph", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let graph: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        graph["workloads"],
        json!([ep("a", "client"), ep("a", "server")])
    );
    let all = ports(&[("TCP", 1, 65535), ("UDP", 1, 65535), ("SCTP", 1, 65535)]);
    let everything =
        |src: Value, dst: Value| json!({"src": src, "dst": dst, "all": true, "ports": all});
    let https = ports(&[("TCP", 443, 443)]);
    let expected = json!([
        // The named port `http` resolves to the server's 8080.
        {"src": ep("a", "client"), "dst": ep("a", "server"), "all": false, "ports": ports(&[("TCP", 8080, 8080)])},
        // ipBlock with except: two ranges around 10.1.0.0/16.
        {"src": ep("a", "client"), "dst": {"external": "10.0.0.0-10.0.255.255"}, "all": false, "ports": https},
        {"src": ep("a", "client"), "dst": {"external": "10.2.0.0-10.255.255.255"}, "all": false, "ports": https},
        // The server is not egress-isolated and the client not ingress-isolated.
        everything(ep("a", "server"), ep("a", "client")),
        everything(ep("a", "server"), json!({"external": "0.0.0.0-255.255.255.255"})),
        everything(ep("a", "server"), json!({"external": "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"})),
        everything(json!({"external": "0.0.0.0-255.255.255.255"}), ep("a", "client")),
        everything(json!({"external": "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}), ep("a", "client")),
    ]);
    assert_eq!(
        graph["connections"],
        expected,
        "{}",
        serde_json::to_string_pretty(&graph).unwrap()
    );
}

#[test]
fn graph_text_formats_are_deterministic() {
    for format in ["txt", "dot", "mermaid"] {
        let first = netpol_fix(&["graph", "fixtures/graph", "--format", format], None);
        let second = netpol_fix(&["graph", "fixtures/graph", "--format", format], None);
        assert_eq!(first.status.code(), Some(0));
        assert_eq!(stdout(&first), stdout(&second));
        assert!(
            stdout(&first).contains("a/Deployment/client"),
            "{format}: {}",
            stdout(&first)
        );
    }
    let txt = stdout(&netpol_fix(&["graph", "fixtures/graph"], None));
    assert!(
        txt.contains("a/Deployment/client -> a/Deployment/server: 8080/TCP\n"),
        "{txt}"
    );
}

#[test]
fn explain_says_why_and_exits_by_verdict() {
    let denied = netpol_fix(
        &[
            "explain",
            "fixtures/graph",
            "--from",
            "a/server",
            "--to",
            "a/server",
            "--port",
            "8080",
        ],
        None,
    );
    assert_eq!(denied.status.code(), Some(1));
    let text = stdout(&denied);
    assert!(
        text.starts_with("a/Deployment/server -> a/Deployment/server on 8080/TCP: DENIED\n"),
        "{text}"
    );
    assert!(
        text.contains("egress of a/Deployment/server: allowed (not isolated"),
        "{text}"
    );
    assert!(text.contains("ingress of a/Deployment/server: isolated by a/server-ingress (fixtures/graph/world.yaml:41:1)"), "{text}");
    assert!(
        text.contains(
            "denied: no ingress rule of these policies allows 8080/TCP from a/Deployment/server"
        ),
        "{text}"
    );

    let allowed = netpol_fix(
        &[
            "explain",
            "fixtures/graph",
            "--from",
            "a/client",
            "--to",
            "a/Deployment/server",
            "--port",
            "8080",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    let v: Value = serde_json::from_str(&stdout(&allowed)).unwrap();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["egress"]["isolated"], true);
    assert_eq!(v["egress"]["allowed_by"][0]["name"], "client-egress");
    assert_eq!(v["egress"]["allowed_by"][0]["rule"], 0);
    assert_eq!(v["egress"]["allowed_by"][0]["rule_location"]["line"], 35);
    assert_eq!(v["ingress"]["allowed_by"][0]["name"], "server-ingress");

    let external = netpol_fix(
        &[
            "explain",
            "fixtures/graph",
            "--from",
            "a/client",
            "--to",
            "10.1.2.3",
            "--port",
            "443",
            "--format",
            "json",
        ],
        None,
    );
    let v: Value = serde_json::from_str(&stdout(&external)).unwrap();
    assert_eq!(v["allowed"], false, "10.1.0.0/16 is excepted");
    assert_eq!(v["ingress"]["applies"], false);
}

#[test]
fn explain_names_the_deciding_calico_rule() {
    let world = "fixtures/calico/tier-pass-to-kubernetes-policy/world.yaml";
    let explain = |from: &str, format: &str| {
        netpol_fix(
            &[
                "explain",
                world,
                "--from",
                from,
                "--to",
                "shop/backend",
                "--port",
                "8080",
                "--format",
                format,
            ],
            None,
        )
    };
    let denied = explain("tools/untrusted", "human");
    assert_eq!(denied.status.code(), Some(1));
    let text = stdout(&denied);
    assert!(
        text.contains("denied by ingress rule #1 (Deny) of GlobalNetworkPolicy security.block-untrusted (tier security, order 10; fixtures/calico/tier-pass-to-kubernetes-policy/world.yaml:104:1) (fixtures/calico/tier-pass-to-kubernetes-policy/world.yaml:115:5)"),
        "{text}"
    );
    // Passed on by the security tier, allowed by the Kubernetes policy in the default tier.
    let allowed = explain("shop/frontend", "human");
    assert_eq!(allowed.status.code(), Some(0));
    assert!(
        stdout(&allowed).contains(
            "allowed by ingress rule #1 of backend-from-frontend (default tier, order 1000; "
        ),
        "{}",
        stdout(&allowed)
    );
    // Passed on, allowed by nothing in the default tier: its end-of-tier deny.
    let v: Value = serde_json::from_str(&stdout(&explain("shop/other", "json"))).unwrap();
    assert_eq!(v["allowed"], false);
    let calico = &v["ingress"]["calico"];
    assert_eq!(calico["decided_by"]["decision"], "end-of-tier");
    assert_eq!(calico["decided_by"]["tier"], "default");
    assert_eq!(calico["selected_by"][0]["name"], "security.block-untrusted");
    assert_eq!(calico["selected_by"][0]["tier"], "security");
    assert_eq!(calico["selected_by"][0]["order"], 10.0);
}

/// Today (nothing enforces), Kubernetes NetworkPolicy only, and Calico: the same flow three ways.
#[test]
fn enforcement_says_what_enforces_policy() {
    let world = "fixtures/calico/gnp-default-deny-allow-dns/world.yaml";
    let explain = |enforcement: &str| {
        netpol_fix(
            &[
                "explain",
                world,
                "--from",
                "shop/web",
                "--to",
                "203.0.113.5",
                "--port",
                "443",
                "--enforcement",
                enforcement,
            ],
            None,
        )
    };
    // The GlobalNetworkPolicy default deny binds only under Calico.
    assert_eq!(explain("calico").status.code(), Some(1));
    assert_eq!(explain("kubernetes").status.code(), Some(0));
    let none = explain("none");
    assert_eq!(none.status.code(), Some(0));
    assert!(
        stdout(&none).contains("nothing enforces NetworkPolicy (--enforcement none"),
        "{}",
        stdout(&none)
    );
    // Under none every workload reaches every workload and address on every port.
    let graph = netpol_fix(
        &["graph", world, "--format", "json", "--enforcement", "none"],
        None,
    );
    let v: Value = serde_json::from_str(&stdout(&graph)).unwrap();
    let connections = v["connections"].as_array().unwrap();
    let workloads = 5;
    // Pairs, then to and from the whole IPv4 and IPv6 spaces.
    assert_eq!(connections.len(), workloads * workloads + 4 * workloads);
    assert!(
        connections
            .iter()
            .all(|c| c["ports"] == v["connections"][0]["ports"])
    );
}

#[test]
fn explain_rejects_unknown_and_ambiguous_endpoints_with_suggestions() {
    let out = netpol_fix(
        &[
            "explain",
            "fixtures/graph",
            "--from",
            "a/nope",
            "--to",
            "a/server",
            "--port",
            "80",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no workload `a/nope` in the input (workloads in `a`: a/Deployment/client, a/Deployment/server)"), "{}", stderr(&out));
}

#[test]
fn stdin_is_read_with_a_dash() {
    let world =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/graph/world.yaml"))
            .unwrap();
    let out = netpol_fix(
        &[
            "explain", "-", "--from", "a/client", "--to", "a/server", "--port", "8080",
        ],
        Some(&world),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("allowed by ingress rule #1 of server-ingress (-:47:5)"),
        "{}",
        stdout(&out)
    );
}

/// A temporary directory holding a copy of the graph fixture, to add files next to it.
fn graph_world_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/graph/world.yaml");
    fs::copy(fixture, dir.path().join("world.yaml")).unwrap();
    dir
}

#[test]
fn bad_files_are_reported_with_position_and_the_rest_is_still_analysed() {
    let dir = graph_world_copy();
    let root = dir.path();
    fs::write(
        root.join("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata: [oops\n",
    )
    .unwrap();
    fs::write(root.join("binary.yml"), b"\x00\x01\x02").unwrap();
    let out = netpol_fix(&["graph", root.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("error: invalid YAML"), "{err}");
    assert!(err.contains("broken.yaml:4:1"), "{err}");
    assert!(err.contains("error: binary file"), "{err}");
    assert!(stdout(&out).contains("a/Deployment/client -> a/Deployment/server: 8080/TCP"));
}

#[test]
fn gitignore_is_honoured_and_helm_templates_are_a_notice() {
    let dir = graph_world_copy();
    let root = dir.path();
    fs::write(root.join(".gitignore"), "scratch/\n").unwrap();
    fs::create_dir(root.join("scratch")).unwrap();
    // Would isolate the client completely if it were read.
    fs::write(
        root.join("scratch/deny.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n",
    )
    .unwrap();
    fs::create_dir_all(root.join("chart/templates")).unwrap();
    fs::write(
        root.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    fs::write(
        root.join("chart/templates/np.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .unwrap();
    let out = netpol_fix(&["graph", root.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("a/Deployment/client -> a/Deployment/server: 8080/TCP"));
    let err = stderr(&out);
    assert!(err.contains("info: a Helm chart template"), "{err}");
    assert!(
        stdout(&out).contains("# not analysed: "),
        "{}",
        stdout(&out)
    );
    assert!(err.contains("chart/templates/np.yaml"), "{err}");
}
