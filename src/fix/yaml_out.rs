//! A tiny YAML emitter for the documents fixes add, in the style of the file they go into.

use crate::model::Name;

/// A YAML value to emit.
pub enum Y {
    Map(Vec<(Name, Y)>),
    Seq(Vec<Y>),
    Str(Name),
    /// A number or another scalar that is written as is.
    Raw(String),
}

/// How the surrounding file writes YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// `key:\n  - item` (true) or `key:\n- item` (false, kubectl's style).
    pub indent_sequences: bool,
    pub crlf: bool,
}

impl Style {
    /// Reads the style of `text`: CRLF line ends, and whether sequences under a key are indented.
    pub fn of(text: &str) -> Style {
        let mut indented = 0;
        let mut flush = 0;
        let mut previous_key_indent: Option<usize> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if (trimmed.starts_with("- ") || trimmed == "-")
                && let Some(key_indent) = previous_key_indent
            {
                if indent > key_indent {
                    indented += 1;
                } else {
                    flush += 1;
                }
            }
            previous_key_indent =
                (trimmed.ends_with(':') && !trimmed.starts_with('#')).then_some(indent);
        }
        Style {
            indent_sequences: indented > flush,
            crlf: text.contains("\r\n"),
        }
    }

    pub fn newline(self) -> &'static str {
        if self.crlf { "\r\n" } else { "\n" }
    }
}

/// Emits `value` as a block document (no `---`), each line ended by the style's newline.
pub fn emit(value: &Y, style: Style) -> String {
    let mut lines = Vec::new();
    block(value, 0, style, &mut lines);
    let nl = style.newline();
    lines.iter().map(|l| format!("{l}{nl}")).collect()
}

/// Emits `items` as block sequence items whose dashes stand at column `indent`.
pub fn emit_items(items: Vec<Y>, indent: usize, style: Style) -> String {
    let mut lines = Vec::new();
    block(&Y::Seq(items), indent, style, &mut lines);
    let nl = style.newline();
    lines.iter().map(|l| format!("{l}{nl}")).collect()
}

fn block(value: &Y, indent: usize, style: Style, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match value {
        Y::Map(entries) => {
            for (k, v) in entries {
                match v {
                    Y::Map(m) if !m.is_empty() => {
                        out.push(format!("{pad}{}:", scalar(k)));
                        block(v, indent + 2, style, out);
                    }
                    Y::Seq(s) if !s.is_empty() => {
                        out.push(format!("{pad}{}:", scalar(k)));
                        let inner = if style.indent_sequences {
                            indent + 2
                        } else {
                            indent
                        };
                        block(v, inner, style, out);
                    }
                    _ => out.push(format!("{pad}{}: {}", scalar(k), inline(v))),
                }
            }
        }
        Y::Seq(items) => {
            for item in items {
                let mut sub = Vec::new();
                block(item, indent + 2, style, &mut sub);
                match sub.first_mut() {
                    Some(first) if matches!(item, Y::Map(m) if !m.is_empty()) => {
                        // `- key: value` on the first line, the rest aligned under it.
                        first.replace_range(indent..indent + 2, "- ");
                        out.append(&mut sub);
                    }
                    _ => out.push(format!("{pad}- {}", inline(item))),
                }
            }
        }
        Y::Str(_) | Y::Raw(_) => out.push(format!("{pad}{}", inline(value))),
    }
}

fn inline(value: &Y) -> String {
    match value {
        Y::Map(m) if m.is_empty() => "{}".into(),
        Y::Seq(s) if s.is_empty() => "[]".into(),
        Y::Str(s) => scalar(s),
        Y::Raw(s) => s.clone(),
        Y::Map(_) | Y::Seq(_) => unreachable!("block collections are emitted by `block`"),
    }
}

/// A string as a plain scalar when that reads back as the same string, else double-quoted.
pub fn scalar(s: &str) -> String {
    let plain = crate::yaml::Scalar {
        text: s.into(),
        plain: true,
    };
    let reserved = s.is_empty()
        || !plain.is_string()
        || s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_whitespace())
        || s.ends_with(char::is_whitespace)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control());
    if !reserved {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_stream};

    fn doc() -> Y {
        Y::Map(vec![
            ("kind".into(), Y::Str("NetworkPolicy".into())),
            (
                "labels".into(),
                Y::Map(vec![
                    ("version".into(), Y::Str("1.0".into())),
                    ("on".into(), Y::Str("true".into())),
                ]),
            ),
            ("empty".into(), Y::Map(vec![])),
            (
                "egress".into(),
                Y::Seq(vec![Y::Map(vec![
                    (
                        "to".into(),
                        Y::Seq(vec![Y::Map(vec![("podSelector".into(), Y::Map(vec![]))])]),
                    ),
                    (
                        "ports".into(),
                        Y::Seq(vec![Y::Map(vec![("port".into(), Y::Raw("53".into()))])]),
                    ),
                ])]),
            ),
            ("types".into(), Y::Seq(vec![Y::Str("Egress".into())])),
        ])
    }

    #[test]
    fn emits_kubectl_style_and_indented_style_that_parse_back() {
        for indent_sequences in [false, true] {
            let text = emit(
                &doc(),
                Style {
                    indent_sequences,
                    crlf: false,
                },
            );
            let root = parse_stream(&text, Limits::default())
                .remove(0)
                .expect(&text);
            assert_eq!(
                root.get("labels").unwrap().get("version").unwrap().as_str(),
                Some("1.0")
            );
            assert!(
                !root
                    .get("labels")
                    .unwrap()
                    .get("version")
                    .unwrap()
                    .as_scalar()
                    .unwrap()
                    .plain,
                "{text}"
            );
            assert_eq!(
                root.get("labels")
                    .unwrap()
                    .get("on")
                    .unwrap()
                    .as_scalar()
                    .unwrap()
                    .as_bool(),
                None
            );
            let egress = root.get("egress").unwrap().as_seq().unwrap();
            assert_eq!(
                egress[0].get("ports").unwrap().as_seq().unwrap()[0]
                    .get("port")
                    .unwrap()
                    .as_scalar()
                    .unwrap()
                    .as_int(),
                Some(53)
            );
            assert!(root.get("empty").unwrap().as_map().unwrap().is_empty());
            assert_eq!(text.contains("\n  - to:"), indent_sequences, "{text}");
        }
    }

    #[test]
    fn style_is_read_from_the_file() {
        assert!(!Style::of("spec:\n  policyTypes:\n  - Ingress\n").indent_sequences);
        assert!(Style::of("spec:\n  policyTypes:\n    - Ingress\n").indent_sequences);
        assert!(Style::of("a: 1\r\nb: 2\r\n").crlf);
    }
}
