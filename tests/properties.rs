//! Properties over generated input: loader spans slice exactly the source text (non-ASCII
//! included), and selector matching agrees with a plain reading of the Kubernetes rules.
//! (Fix application keeping every byte outside its edits is property 5 of `fix_properties.rs`.)

use netpol_fix::model::{Labels, Name, Requirement, Selector};
use netpol_fix::yaml::{Limits, Node, Value, parse_stream};
use proptest::prelude::*;

/// Text a scalar may hold: ASCII, accented, CJK, emoji and a combining mark.
fn word() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("z9"),
            Just("é"),
            Just("日本"),
            Just("🚀"),
            Just("e\u{301}"),
            Just("-"),
            Just(" ")
        ],
        1..5,
    )
    .prop_map(|parts| format!("w{}", parts.concat()).trim_end().to_string())
}

#[derive(Clone, Debug)]
enum Style {
    Plain,
    Single,
    Double,
}

#[derive(Clone, Debug)]
enum Doc {
    Scalar(String, Style),
    Map(Vec<(String, Doc)>),
    Seq(Vec<Doc>),
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = (
        word(),
        prop_oneof![Just(Style::Plain), Just(Style::Single), Just(Style::Double)],
    )
        .prop_map(|(w, s)| Doc::Scalar(w, s));
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec((word(), inner.clone()), 1..5).prop_map(|entries| {
                // Keys of one mapping are distinct (duplicates are an error by design).
                let mut seen = std::collections::BTreeSet::new();
                Doc::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .collect(),
                )
            }),
            proptest::collection::vec(inner, 1..5).prop_map(Doc::Seq),
        ]
    })
}

fn scalar(text: &str, style: &Style) -> String {
    match style {
        Style::Plain => text.to_string(),
        Style::Single => format!("'{text}'"),
        Style::Double => format!("\"{text}\""),
    }
}

/// Block YAML for a collection at `indent`; a nested collection goes on the lines below its
/// key or dash.
fn render(doc: &Doc, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let (entries, dash): (Vec<(Option<&str>, &Doc)>, bool) = match doc {
        Doc::Map(entries) => (
            entries.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
            false,
        ),
        Doc::Seq(items) => (items.iter().map(|v| (None, v)).collect(), true),
        Doc::Scalar(..) => unreachable!("scalars are written by their parent"),
    };
    for (key, value) in entries {
        let head = if dash {
            "-".to_string()
        } else {
            format!("{}:", key.unwrap())
        };
        match value {
            Doc::Scalar(text, style) => {
                out.push_str(&format!("{pad}{head} {}\n", scalar(text, style)))
            }
            _ => {
                out.push_str(&format!("{pad}{head}\n"));
                render(value, indent + 2, out);
            }
        }
    }
}

/// Every scalar's span against the source: plain scalars are exactly their text, quoted ones
/// their text inside the quotes; collections start where their first child does or before.
fn check_spans(node: &Node, doc: &Doc, source: &str) -> Result<(), String> {
    let slice = source
        .get(node.span.range())
        .ok_or_else(|| format!("span {:?} is not on character boundaries", node.span))?;
    match (&node.value, doc) {
        (Value::Scalar(s), Doc::Scalar(text, style)) => {
            let expected = scalar(text, style);
            if slice != expected || s.text != *text {
                return Err(format!(
                    "scalar {text:?}: span slices {slice:?}, text {:?}",
                    s.text
                ));
            }
        }
        (Value::Map(entries), Doc::Map(expected)) => {
            if entries.len() != expected.len() {
                return Err(format!(
                    "{} entries, expected {}",
                    entries.len(),
                    expected.len()
                ));
            }
            for ((k, v), (key, value)) in entries.iter().zip(expected) {
                check_spans(k, &Doc::Scalar(key.clone(), Style::Plain), source)?;
                check_spans(v, value, source)?;
            }
        }
        (Value::Seq(items), Doc::Seq(expected)) => {
            if items.len() != expected.len() {
                return Err(format!(
                    "{} items, expected {}",
                    items.len(),
                    expected.len()
                ));
            }
            for (item, value) in items.iter().zip(expected) {
                check_spans(item, value, source)?;
            }
        }
        (value, doc) => return Err(format!("parsed {value:?} for {doc:?}")),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn spans_slice_the_exact_source_text(root in doc(), lead in "(# é comment\n)?(---\n)?") {
        let root = match root {
            Doc::Scalar(..) => Doc::Map(vec![("k".into(), root)]),
            other => other,
        };
        let mut body = String::new();
        render(&root, 0, &mut body);
        let source = format!("{lead}{body}");
        let docs = parse_stream(&source, Limits::default());
        prop_assert_eq!(docs.len(), 1, "{}", source);
        let node = docs.into_iter().next().unwrap().map_err(|e| {
            TestCaseError::fail(format!("{}\n{source}", e.message))
        })?;
        check_spans(&node, &root, &source).map_err(|e| TestCaseError::fail(format!("{e}\n{source}")))?;
    }
}

// ---------- selectors ----------

fn key() -> impl Strategy<Value = Name> {
    prop_oneof![Just("app"), Just("tier"), Just("team")].prop_map(Name::from)
}

fn value() -> impl Strategy<Value = Name> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("")].prop_map(Name::from)
}

fn requirement() -> impl Strategy<Value = Requirement> {
    prop_oneof![
        (key(), proptest::collection::vec(value(), 1..3)).prop_map(|(k, v)| Requirement::In(k, v)),
        (key(), proptest::collection::vec(value(), 1..3))
            .prop_map(|(k, v)| Requirement::NotIn(k, v)),
        key().prop_map(Requirement::Exists),
        key().prop_map(Requirement::DoesNotExist),
    ]
}

/// The rules as the Kubernetes documentation states them, one requirement at a time: every
/// requirement must hold; `In` needs the key with one of the values; `NotIn` holds when the key
/// is absent or its value is none of them; `Exists`/`DoesNotExist` look at the key only.
fn reference_matches(requirements: &[Requirement], labels: &Labels) -> bool {
    let mut all = true;
    for r in requirements {
        let holds = match r {
            Requirement::In(k, values) => match labels.get(k) {
                Some(v) => values.iter().any(|x| x == v),
                None => false,
            },
            Requirement::NotIn(k, values) => match labels.get(k) {
                Some(v) => values.iter().all(|x| x != v),
                None => true,
            },
            Requirement::Exists(k) => labels.keys().any(|x| x == k),
            Requirement::DoesNotExist(k) => labels.keys().all(|x| x != k),
        };
        all = all && holds;
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn selector_matching_agrees_with_the_reference(
        requirements in proptest::collection::vec(requirement(), 0..4),
        labels in proptest::collection::btree_map(key(), value(), 0..3),
    ) {
        let labels: Labels = labels.into_iter().collect();
        let selector = Selector::new(requirements.clone());
        prop_assert_eq!(
            selector.matches(&labels),
            reference_matches(&requirements, &labels),
            "{:?} on {:?}", requirements, labels
        );
    }
}
