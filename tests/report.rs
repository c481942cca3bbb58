//! `report`: the readiness report of the demo platform (Flannel, MetalLB, CoreDNS, MLflow with
//! Postgres and MinIO, Argo, Seldon v2 with an A/B Experiment) is snapshot-tested in Markdown,
//! and the JSON and HTML forms carry the same facts.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn report(format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["report", "fixtures/demo", "--format", format])
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn markdown_report_of_the_demo_platform() {
    let out = report("markdown");
    assert_eq!(out.status.code(), Some(0));
    let actual = stdout(&out);
    assert_eq!(actual, stdout(&report("markdown")), "not deterministic");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/demo-report.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, &actual).unwrap();
    }
    assert!(
        fs::read_to_string(&path).unwrap_or_default() == actual,
        "snapshot demo-report.md differs (UPDATE_SNAPSHOTS=1 to accept):\n{actual}"
    );
}

#[test]
fn json_report_carries_each_section() {
    let v: Value = serde_json::from_str(&stdout(&report("json"))).unwrap();
    assert_eq!(v["cni"][0]["cni"], "Flannel");
    assert_eq!(v["summary"]["workloads"], 14);
    // The two flows the demo's README describes as breaking, and only those.
    let breaking: Vec<(&str, &str)> = v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["enforced"] == "blocked")
        .map(|f| (f["from"].as_str().unwrap(), f["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        breaking,
        [
            ("apps/CronJob/report", "mlflow/Deployment/mlflow"),
            ("seldon/StatefulSet/mlserver", "mlflow/Deployment/mlflow")
        ]
    );
    assert!(
        v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["today"] == "allowed")
    );
    assert_eq!(v["summary"]["flows_breaking"], 2);
    let lb: Vec<&str> = v["load_balancers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].as_str().unwrap())
        .collect();
    assert_eq!(lb, ["minio/Service/minio", "mlflow/Service/mlflow"]);
    assert_eq!(
        v["address_pools"][0]["addresses"][0],
        "192.168.10.240-192.168.10.250"
    );
    assert_eq!(v["hardcoded_addresses"].as_array().unwrap().len(), 2);
    assert_eq!(v["cleanup_hazards"][0]["object"], "seldon/Model/iris");
    // Unsafe fixes are marked: --write does not apply them.
    let plan = v["fix_plan"].to_string();
    assert!(plan.contains("allow-apiserver allowing egress to 0.0.0.0/0 on TCP 443, TCP 6443 (unsafe: only with --unsafe-fixes)"), "{plan}");
}

#[test]
fn html_report_has_the_tables_and_an_inline_svg_map() {
    let html = stdout(&report("html"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<svg ") && html.contains("</svg>"));
    // Blocked edges are red, with the flow counts as a tooltip.
    assert!(
        html.contains(
            "stroke=\"#b00020\" stroke-width=\"2\"><title>apps → mlflow: 1 flow, 1 blocked</title>"
        ),
        "{html}"
    );
    assert_eq!(
        html.matches("<table>").count(),
        html.matches("</table>").count()
    );
    assert!(html.contains("<td class=\"blocked\">blocked</td>"));
    assert!(!html.contains("<td>`"), "no Markdown leaks into HTML");
}

/// `probes`: a Job per required flow, in the client's namespace with its labels and service
/// account, annotated with the verdict expected under enforcement, and a runner script.
#[test]
fn probes_test_each_required_flow_from_the_clients_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["probes", "fixtures/demo", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = fs::read_to_string(dir.path().join("probes.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    let expect = |flow: &str| {
        rows.iter()
            .find(|r| r[3] == flow)
            .unwrap_or_else(|| panic!("no probe for {flow}:\n{table}"))[2]
    };
    // DNS for every pod-network workload (Flannel's host-network DaemonSet has none).
    assert_eq!(expect("mlflow/Deployment/mlflow -> DNS"), "blocked");
    assert_eq!(expect("seldon/StatefulSet/mlserver -> DNS"), "allowed");
    assert!(!table.contains("kube-flannel"));
    // Services by name and Service port, as clients connect.
    assert_eq!(
        expect("apps/CronJob/report -> Service mlflow/mlflow port 80"),
        "blocked"
    );
    assert_eq!(
        expect("apps/Deployment/frontend -> Service apps/backend port 8080"),
        "allowed"
    );
    // The API server for its users.
    assert_eq!(
        expect("argo/WorkflowTemplate/train-pipeline:train -> API server"),
        "blocked"
    );
    assert_eq!(
        rows.len(),
        fs::read_dir(dir.path().join("jobs")).unwrap().count()
    );

    let (ns, job) = rows
        .iter()
        .find(|r| r[3] == "apps/CronJob/report -> Service mlflow/mlflow port 80")
        .map(|r| (r[0], r[1]))
        .unwrap();
    let text =
        fs::read_to_string(dir.path().join("jobs").join(format!("{ns}--{job}.yaml"))).unwrap();
    let mut jobs = netpol_fix::yaml::parse_stream(&text, netpol_fix::yaml::Limits::default());
    let root = jobs.remove(0).unwrap();
    let get = |path: &[&str]| {
        path.iter()
            .try_fold(&root, |n, k| n.get(k))
            .and_then(|n| n.as_str())
            .map(str::to_string)
    };
    assert_eq!(get(&["metadata", "namespace"]).as_deref(), Some("apps"));
    assert_eq!(
        get(&["metadata", "annotations", "netpol-fix.io/expect"]).as_deref(),
        Some("blocked")
    );
    // The CronJob's pod labels, so the policies that select it select the probe.
    assert_eq!(
        get(&["spec", "template", "metadata", "labels", "app"]).as_deref(),
        Some("report")
    );
    // Host and port are the container's environment, never shell text.
    assert!(
        text.contains("- nc -z -w 5 \"$PROBE_HOST\" \"$PROBE_PORT\"\n"),
        "{text}"
    );
    assert!(
        text.contains("- name: PROBE_HOST\n          value: mlflow.mlflow.svc.cluster.local\n        - name: PROBE_PORT\n          value: \"80\"\n"),
        "{text}"
    );
    // Never Ready, so no Service sends it traffic.
    assert!(text.contains("readinessProbe:"), "{text}");

    let script = dir.path().join("run-probes.sh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&script).unwrap().permissions().mode() & 0o111,
            0o111
        );
    }
    assert!(
        fs::read_to_string(&script)
            .unwrap()
            .contains("kubectl apply -f jobs/")
    );
}

/// The probes' images and commands are options, `{host}` and `{port}` becoming the quoted
/// environment variables that hold them.
#[test]
fn probe_images_and_commands_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["probes", "fixtures/demo", "--image", "alpine:3.20"])
        .args([
            "--tcp-command",
            "nc -vz {host} {port}",
            "--dns-command",
            "dig +short {host}",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let jobs = dir.path().join("jobs");
    let read = |suffix: &str| {
        let name = fs::read_dir(&jobs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no job ending {suffix}"));
        fs::read_to_string(jobs.join(name)).unwrap()
    };
    let tcp = read("-report-mlflow.yaml");
    assert!(tcp.contains("image: alpine:3.20"), "{tcp}");
    assert!(
        tcp.contains("- nc -vz \"$PROBE_HOST\" \"$PROBE_PORT\"\n"),
        "{tcp}"
    );
    assert!(
        tcp.contains("value: mlflow.mlflow.svc.cluster.local\n"),
        "{tcp}"
    );
    let dns = read("-backend-dns.yaml");
    assert!(dns.contains("- dig +short \"$PROBE_HOST\"\n"), "{dns}");
    assert!(
        dns.contains("value: kubernetes.default.svc.cluster.local\n"),
        "{dns}"
    );
}
