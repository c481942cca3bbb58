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
