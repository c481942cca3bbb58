//! The invariants the fuzz targets (`fuzz/`) check on arbitrary input, kept in the library so
//! the regression tests replay every input the fuzzers found with the same checks. Each function
//! panics when an invariant breaks.

use crate::check::{CheckOptions, check};
use crate::fix::{apply::fix_all, summaries};
use crate::load::Input;
use crate::yaml;

fn input(text: &str) -> [Input; 1] {
    [Input::Text {
        name: "fuzz.yaml".into(),
        text: text.into(),
    }]
}

/// Loading, modelling, linting and describing fixes never panic, and every diagnostic and
/// finding points at a character boundary inside its file.
pub fn load(text: &str) {
    let run = check(&input(text), &CheckOptions::default());
    let sources = &run.analysis.sources;
    let locations = run
        .analysis
        .diagnostics
        .iter()
        .map(|d| d.loc)
        .chain(run.findings.iter().map(|f| f.loc));
    for loc in locations {
        let file = sources
            .get(loc.file)
            .text()
            .expect("input given as text stays resident");
        let (start, end) = (loc.span.start as usize, loc.span.end as usize);
        assert!(
            start <= end && end <= file.len(),
            "span {start}..{end} outside the file"
        );
        assert!(
            file.is_char_boundary(start) && file.is_char_boundary(end),
            "span {start}..{end} splits a character"
        );
        let _ = sources.position(loc);
    }
    summaries(&run).for_each(drop);
}

/// Fixing (unsafe fixes included) only produces texts that load with no new errors, and fixing
/// the result again changes nothing.
pub fn fix(text: &str) {
    let options = CheckOptions::default();
    let outcome = fix_all(&input(text), &options, true);
    let errors = |text: &str| check(&input(text), &options).analysis.errors().count();
    for (original, fixed) in outcome.changed.values() {
        assert!(
            errors(fixed) <= errors(original),
            "a fix added errors:\n{fixed}"
        );
        let again = fix_all(&input(fixed), &options, true);
        assert!(
            again.changed.is_empty(),
            "fixing twice changed more:\n{fixed}"
        );
    }
}

/// The fast YAML reader reads every text exactly as the reference (libyaml's events) does:
/// the same documents, nodes, spans and errors.
pub fn yaml(text: &str) {
    let limits = yaml::Limits::default();
    let fast = yaml::parse_range(text, 0..text.len(), limits);
    let reference = yaml::parse_stream_reference(text, limits);
    if fast != reference {
        let (a, b) = (outline(text, &fast), outline(text, &reference));
        let i = (0..a.len().max(b.len()))
            .find(|&i| a.get(i) != b.get(i))
            .unwrap_or(0);
        panic!(
            "the YAML readers differ on\n{text}\nfast:      {:?}\nreference: {:?}\nafter {:?}",
            a.get(i),
            b.get(i),
            &a[i.saturating_sub(2)..i.min(a.len())]
        );
    }
}

/// One line per node (and error) of `docs`, in document order, with its span and source text.
fn outline(text: &str, docs: &[Result<yaml::Node, yaml::YamlError>]) -> Vec<String> {
    fn walk(text: &str, node: &yaml::Node, out: &mut Vec<String>) {
        let source = text.get(node.span.range()).unwrap_or("?");
        let span = node.span.range();
        match &node.value {
            yaml::Value::Scalar(s) => out.push(format!(
                "scalar {:?} plain {} {span:?} {source:?}",
                s.text, s.plain
            )),
            yaml::Value::Seq(items) => {
                out.push(format!("list {span:?} {source:?}"));
                items.iter().for_each(|item| walk(text, item, out));
            }
            yaml::Value::Map(entries) => {
                out.push(format!("mapping {span:?} {source:?}"));
                for (key, value) in entries {
                    walk(text, key, out);
                    walk(text, value, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Ok(node) => walk(text, node, &mut out),
            Err(error) => out.push(format!("error {error:?}")),
        }
    }
    out
}

/// A Calico selector never panics the parser (nesting included), an error points inside the
/// selector, and a selector that parses can be matched.
pub fn calico_selector(text: &str) {
    match crate::model::calico_selector::parse(text) {
        Ok(expr) => {
            let labels = crate::model::Labels::from([
                ("app".into(), "web".into()),
                ("tier".into(), "".into()),
            ]);
            let _ = expr.matches(&labels);
            let _ = expr.matches(&crate::model::Labels::new());
        }
        Err(e) => assert!(
            e.offset <= text.chars().count(),
            "error at {} past the end of {text:?}",
            e.offset
        ),
    }
}

/// Every file under `dir`, as paths relative to it (links are not followed).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                _ => out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf()),
            }
        }
    }
    out.sort();
    out
}

/// What `probes --out` and `--patches` write from any input stays inside their directory, in
/// files with safe names, and reads back: the Jobs and patches load without errors, and every
/// row of `probes.tsv` has its four fields and no control character.
pub fn probes_and_patches(text: &str) {
    let options = CheckOptions {
        record_flows: true,
        ..CheckOptions::default()
    };
    let run = check(&input(text), &options);
    let probe_options = crate::probes::ProbeOptions {
        image: "busybox:1.36".into(),
        http_image: "curlimages/curl:8.11.1".into(),
        dns_command: "nslookup {host}".into(),
        tcp_command: "nc -z -w 5 {host} {port}".into(),
        api_command: "curl -sk -o /dev/null https://{host}/healthz".into(),
    };
    let root = tempfile::tempdir().expect("a temporary directory");
    let probes_dir = root.path().join("probes");
    let patches_dir = root.path().join("patches");
    let _ = crate::probes::write(&run, &probes_dir, &probe_options);
    let outcome = fix_all(&input(text), &CheckOptions::default(), true);
    let _ = crate::fix::output::write_patches(&patches_dir, &outcome);
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '%' | '/');
    for (dir, name) in [(&probes_dir, "probes"), (&patches_dir, "patches")] {
        for file in files_under(dir) {
            let shown = file.to_string_lossy();
            assert!(
                shown.chars().all(safe),
                "{name}: unsafe file name {shown:?}"
            );
            let text = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
            if shown.ends_with(".yaml") {
                let errors = yaml::parse_stream(&text, yaml::Limits::default())
                    .into_iter()
                    .filter(|d| d.is_err())
                    .count();
                assert_eq!(errors, 0, "{name}: {shown} does not load:\n{text}");
            }
            if shown == "probes.tsv" {
                for row in text.lines() {
                    assert_eq!(row.split('\t').count(), 4, "row {row:?}");
                    assert!(
                        !row.chars().any(|c| c != '\t' && c.is_control()),
                        "row {row:?}"
                    );
                }
            }
        }
    }
    let outside: Vec<_> = files_under(root.path())
        .into_iter()
        .filter(|f| !f.starts_with("probes") && !f.starts_with("patches"))
        .collect();
    assert!(outside.is_empty(), "written outside: {outside:?}");
}
