//! The YAML reader against go-yaml v2, the reader kubectl uses: every case of
//! `fixtures/goyaml/cases` must be accepted or refused as `fixtures/goyaml/expect.tsv` (written
//! by `scripts/goyaml-oracle/regenerate` from go-yaml itself) says, document by document, and an
//! accepted document must read as the same JSON. Where netpol-fix chooses to differ, the case is
//! listed in `DIFFERENCES` with the reason (and in the README's "What is read").

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use netpol_fix::yaml::{Limits, Node, Value, YamlErrorKind, parse_stream};
use serde_json::Value as Json;

/// What netpol-fix does with a document where it differs from kubectl on purpose.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ours {
    /// Refuses it (an input error).
    Refuses,
    /// Reads it, its values as written.
    Reads,
    /// Reads it as the same JSON as kubectl (which refuses it only when decoding strictly).
    ReadsTheSameJson,
}

/// Cases where netpol-fix reads otherwise than kubectl, on purpose, what it does instead, and
/// why.
const DIFFERENCES: &[(&str, Ours, &str)] = &[
    (
        "yaml11-special-floats.yaml",
        Ours::Reads,
        "kubectl cannot turn .inf or .nan into JSON and refuses the document; netpol-fix reads it (no field it analyses takes a float)",
    ),
    (
        "bom-later-document-no-marker-line.yaml",
        Ours::Refuses,
        "a BOM inside a document (not at its start) is a character of the key to go-yaml; libyaml refuses it, and so does netpol-fix, with an input error (no API server has a field named `\\u{feff}b`)",
    ),
    (
        "tag-binary.yaml",
        Ours::Reads,
        "go-yaml decodes `!!binary` base64; netpol-fix keeps the text (no field it analyses is binary)",
    ),
    (
        "anchors-merge.yaml",
        Ours::ReadsTheSameJson,
        "go-yaml v2's strict mode calls a key that a `<<` merge also provides a duplicate; kubectl decodes without it, and an explicit key overrides a merged one",
    ),
];

/// What kubectl does with one document.
#[derive(Debug)]
enum Verdict {
    Ok(Json),
    Duplicate(Json),
    Error(#[allow(dead_code)] String),
    /// apimachinery refuses a `---` line and stops: the documents it would have read before
    /// it are lost too, while netpol-fix reports the line and reads the rest.
    SeparatorError,
}

fn expectations() -> BTreeMap<String, Vec<Verdict>> {
    let table = fs::read_to_string("fixtures/goyaml/expect.tsv").expect("expect.tsv");
    let mut cases: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        let [case, _, verdict, detail] = fields[..] else {
            panic!("bad row: {line}");
        };
        let json = || serde_json::from_str(detail).unwrap_or_else(|e| panic!("{case}: {e}"));
        let verdict = match verdict {
            "ok" => Verdict::Ok(json()),
            "duplicate" => Verdict::Duplicate(json()),
            "error" => Verdict::Error(detail.to_string()),
            "separator-error" => Verdict::SeparatorError,
            "empty" => continue,
            other => panic!("{case}: verdict {other}"),
        };
        cases.entry(case.to_string()).or_default().push(verdict);
    }
    cases
}

/// A node as kubectl's JSON holds it (sigs.k8s.io/yaml: keys as strings, YAML 1.1 scalars).
fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.as_scalar().expect("scalar key").key_text().into_owned();
                    (key, to_json(v))
                })
                .collect(),
        ),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Scalar(s) if !s.plain => Json::String(s.text.to_string()),
        Value::Scalar(s) if s.is_null() => Json::Null,
        Value::Scalar(s) => match (s.as_bool(), s.as_int()) {
            (Some(b), _) => Json::Bool(b),
            (_, Some(i)) => Json::from(i),
            _ if s.is_float() => Json::from(
                s.text
                    .replace('_', "")
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("float {}", s.text)),
            ),
            _ => Json::String(s.text.to_string()),
        },
    }
}

/// JSON values equal as kubectl compares them (numbers by value: Go prints 1000 for 1e3).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn the_reader_accepts_and_refuses_what_go_yaml_v2_does() {
    let expected = expectations();
    assert!(expected.len() >= 90, "{} cases", expected.len());
    for (case, _, _) in DIFFERENCES {
        assert!(
            expected.contains_key(*case),
            "{case} is not a case any more"
        );
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for (case, verdicts) in &expected {
        let text = fs::read_to_string(Path::new("fixtures/goyaml/cases").join(case))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        // The loader skips a file's BOM before the YAML reader sees the text.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let ours: Vec<_> = parse_stream(text, Limits::default())
            .into_iter()
            .filter(|d| {
                !matches!(d, Ok(n) if n.is_null())
                    && !matches!(d, Err(e) if e.kind == YamlErrorKind::Ignored)
            })
            .collect();
        let difference = DIFFERENCES
            .iter()
            .find(|(c, _, _)| c == case)
            .map(|(_, ours, _)| *ours);
        for (i, verdict) in verdicts.iter().enumerate() {
            compared += 1;
            let mine = ours.get(i);
            let agrees = match (difference, verdict, mine) {
                (Some(Ours::Refuses), _, Some(Err(_))) => true,
                (Some(Ours::Reads), _, Some(Ok(_))) => true,
                (
                    Some(Ours::ReadsTheSameJson),
                    Verdict::Ok(json) | Verdict::Duplicate(json),
                    Some(Ok(node)),
                ) => same(json, &to_json(node)),
                (Some(_), _, _) => false,
                (None, Verdict::Ok(json), Some(Ok(node))) => same(json, &to_json(node)),
                (None, Verdict::Duplicate(_), Some(Err(e))) => e.message.contains("duplicate key"),
                (None, Verdict::Error(_), Some(Err(_))) => true,
                (None, Verdict::SeparatorError, _) => ours[i..]
                    .iter()
                    .any(|d| matches!(d, Err(e) if e.message.contains("separator"))),
                _ => false,
            };
            if !agrees {
                failures.push(format!(
                    "{case} document {i}: kubectl {verdict:?}, netpol-fix {mine:?}"
                ));
            }
            if matches!(verdict, Verdict::SeparatorError) {
                break;
            }
        }
        let last = verdicts.last();
        if !matches!(last, Some(Verdict::SeparatorError)) && ours.len() > verdicts.len() {
            failures.push(format!(
                "{case}: kubectl reads {} documents, netpol-fix {}: {:?}",
                verdicts.len(),
                ours.len(),
                &ours[verdicts.len()..]
            ));
        }
    }
    assert!(compared >= 100, "{compared} documents compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn what_follows_a_document_end_marker_is_said_to_be_ignored() {
    let text = fs::read_to_string("fixtures/goyaml/cases/marker-end-dots-then-content.yaml")
        .expect("case");
    let docs = parse_stream(&text, Limits::default());
    let notice = docs
        .iter()
        .find_map(|d| {
            d.as_ref()
                .err()
                .filter(|e| e.kind == YamlErrorKind::Ignored)
        })
        .expect("a notice");
    assert_eq!(&text[notice.span.start as usize..][..4], "b: 2");
}
