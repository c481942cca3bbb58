//! The loader on `fixtures/loader`, a tree that mixes every reading case: every valid object is
//! analysed, every invalid document is an error at its position, and every piece of input that
//! is not analysed is listed and counted in every output format.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use netpol_fix::analysis::{Analysis, analyze};
use netpol_fix::diag::Severity;
use netpol_fix::load::{Input, LoadOptions};
use serde_json::Value;

const TREE: &str = "fixtures/loader";

/// Notices of input not analysed in the tree: a `$patch` document, a listed kustomize patch, an
/// unrendered template document, and a ClusterWorkflowTemplate no workflow runs.
const SKIPPED: usize = 4;

fn tree() -> Analysis {
    analyze(&[Input::Path(TREE.into())], LoadOptions::default())
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `file:line` of each diagnostic that `keep` accepts, the file relative to the tree.
fn positions(
    analysis: &Analysis,
    keep: impl Fn(&netpol_fix::diag::Diagnostic) -> bool,
) -> Vec<String> {
    analysis
        .diagnostics
        .iter()
        .filter(|d| keep(d))
        .map(|d| {
            let file = analysis.sources.get(d.loc.file);
            let name = Path::new(&file.name)
                .strip_prefix(TREE)
                .unwrap()
                .display()
                .to_string();
            format!("{name}:{}", file.line_col(d.loc.span.start).line)
        })
        .collect()
}

#[test]
fn every_valid_object_of_the_mixed_tree_is_analysed() {
    let analysis = tree();
    let namespaces: Vec<&str> = analysis
        .world
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    for declared in [
        "before-template",
        "after-template",
        "before-broken",
        "after-broken",
        "first-bom",
        "second-bom",
        "utf16",
    ] {
        assert!(
            namespaces.contains(&declared),
            "{declared} missing from {namespaces:?}"
        );
    }
    let workloads: Vec<String> = analysis
        .world
        .workloads
        .iter()
        .map(|w| w.meta.id.to_string())
        .collect();
    for expected in [
        "shop/Pod/listed",
        "shop/Deployment/templated-strings",
        "shop/Deployment/flow-args",
        "shop/Deployment/kustomized",
        // Run in `shop` through a step's `templateRef` with `clusterScope: true`.
        "shop/ClusterWorkflowTemplate/shared:run",
    ] {
        assert!(
            workloads.contains(&expected.to_string()),
            "{expected} missing from {workloads:?}"
        );
    }
    // The label after a tab (`app:<TAB>flow-args`) reads as kubectl reads it.
    let flow = analysis
        .world
        .workloads
        .iter()
        .find(|w| w.meta.id.name == "flow-args")
        .unwrap();
    assert_eq!(
        flow.labels.get("app").map(|v| v.as_str()),
        Some("flow-args")
    );
    assert!(
        analysis
            .world
            .config_maps
            .iter()
            .any(|c| c.meta.id.name == "alerts")
    );
    // Unquoted keys of ConfigMap data are strings to kubectl.
    let pages = analysis
        .world
        .config_maps
        .iter()
        .find(|c| c.meta.id.name == "error-pages");
    let keys: Vec<&str> = pages
        .unwrap()
        .data
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["404", "true"]);
}

#[test]
fn every_invalid_document_is_an_error_at_its_position() {
    let analysis = tree();
    assert_eq!(
        positions(&analysis, |d| d.severity == Severity::Error),
        [
            "broken-middle.yaml:10",
            // A real syntax error, though the document has `{{ }}` in a string.
            "broken-with-template-string.yaml:13",
            "duplicate-key.yaml:5",
            "misspelled-apiversion.yaml:1",
        ]
    );
    let duplicate = analysis
        .errors()
        .find(|d| d.message.contains("duplicate"))
        .unwrap();
    assert!(
        duplicate.message.contains("kubectl keeps the last value"),
        "{}",
        duplicate.message
    );
    let file = analysis.sources.get(duplicate.loc.file);
    assert_eq!(file.line_col(duplicate.loc.span.start).column, 3);
}

#[test]
fn every_skipped_input_is_a_notice_at_its_position() {
    let analysis = tree();
    assert_eq!(
        positions(&analysis, |d| d.skipped),
        [
            "argo-variables.yaml:29",
            "kustomize/delete.yaml:1",
            "kustomize/replicas.yaml:1",
            "unrendered-document.yaml:11",
        ]
    );
    let kustomize = analysis
        .skipped()
        .find(|d| d.message.contains("kustomize patch"))
        .unwrap();
    assert!(
        kustomize.message.contains("kustomization.yaml"),
        "{}",
        kustomize.message
    );
    // A patch is not a Deployment without a pod template.
    assert!(
        !analysis
            .diagnostics
            .iter()
            .any(|d| d.message.contains("pod template"))
    );
}

#[test]
fn every_skip_is_listed_in_every_output_format() {
    let json: Value =
        serde_json::from_str(&text(&run(&[TREE, "--format", "json"], b"").stdout)).unwrap();
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), SKIPPED, "{skipped:?}");
    for entry in skipped {
        for field in ["file", "line", "column", "reason"] {
            assert!(!entry[field].is_null(), "{field} in {entry}");
        }
    }
    let human = text(&run(&[TREE], b"").stdout);
    assert!(
        human.contains(&format!("; {SKIPPED} not analysed")),
        "{human}"
    );
    let sarif: Value =
        serde_json::from_str(&text(&run(&[TREE, "--format", "sarif"], b"").stdout)).unwrap();
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(notes.as_array().unwrap().len(), SKIPPED, "{notes}");
    let github = text(&run(&[TREE, "--format", "github"], b"").stdout);
    assert_eq!(
        github.matches("::notice file=fixtures/loader/").count(),
        SKIPPED,
        "{github}"
    );
    let quality: Value =
        serde_json::from_str(&text(&run(&[TREE, "--format", "codequality"], b"").stdout)).unwrap();
    let listed = quality
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["check_name"] == "not-analysed")
        .count();
    assert_eq!(listed, SKIPPED);
    let graph: Value = serde_json::from_str(&text(
        &run(&["graph", TREE, "--format", "json"], b"").stdout,
    ))
    .unwrap();
    assert_eq!(
        graph["skipped"].as_array().unwrap().len(),
        SKIPPED,
        "{graph}"
    );
    let diff = text(&run(&["--diff", TREE], b"").stdout);
    assert_eq!(
        diff.matches("# not analysed: fixtures/loader/").count(),
        SKIPPED,
        "{diff}"
    );
    let report = text(&run(&["report", TREE], b"").stdout);
    assert!(report.contains("Not analysed"), "{report}");
    assert!(report.contains("unrendered-document.yaml"), "{report}");
}

#[test]
fn stdin_that_is_not_utf8_is_an_error_at_its_position_and_the_rest_is_read() {
    let out = run(
        &["-", "fixtures/loader/typed-list.yaml", "--format", "json"],
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: caf\xe9\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let json: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["file"], "-");
    assert_eq!(errors[0]["line"], 4);
    let graph = text(&run(&["graph", "fixtures/loader/typed-list.yaml"], b"").stdout);
    assert!(graph.contains("shop/Pod/listed"), "{graph}");
}

#[test]
fn a_stream_of_templates_only_analyses_nothing_and_fails() {
    let chart = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n---\n{{- if .Values.x }}\nkind: Service\n{{- end }}\n";
    let out = run(&["-"], chart);
    assert_eq!(out.status.code(), Some(2));
    let human = text(&out.stdout);
    assert!(
        human.contains("nothing in the input was analysed"),
        "{human}"
    );
    assert!(human.contains("2 not analysed"), "{human}");
    // Templates of other programs inside strings and comments are data: the stream is read.
    let rule = b"# {{ .Values.x }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rule\n  annotations: {summary: '{{ $labels.instance }} down'}\n";
    let out = run(&["-"], rule);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn with_tree_only_the_errors_that_matter_are_shown_and_the_rest_counted() {
    let out = run(&["--tree", TREE, "fixtures/loader/typed-list.yaml"], b"");
    let human = text(&out.stdout);
    assert!(
        human.contains("0 input errors (4 more in other files of the tree"),
        "{human}"
    );
    assert!(
        human.contains("(4 more in other files of the tree)\n"),
        "{human}"
    );
    assert_ne!(out.status.code(), Some(2), "{human}");
    let out = run(&["--tree", TREE, "fixtures/loader/broken-middle.yaml"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("1 input errors (3 more"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_utf16_file_is_read_and_never_fixed() {
    let analysis = analyze(
        &[Input::Path("fixtures/loader/utf16.yaml".into())],
        LoadOptions::default(),
    );
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
    let (_, file) = analysis.sources.iter().next().unwrap();
    assert!(file.text_for_fix().unwrap_err().contains("UTF-16"));
}
