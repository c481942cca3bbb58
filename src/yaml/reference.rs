//! The reference reader: one document at a time, split from the stream as kubectl splits it, and
//! read by libyaml's parser as kubectl reads it.
//!
//! kubectl (apimachinery's `YAMLReader`, util/yaml/decoder.go) cuts a stream at every line that
//! starts with `---` and allows only blanks or a comment after it on that line; it then hands
//! each document alone to go-yaml v2 (through sigs.k8s.io/yaml), which reads the first YAML
//! document of it and nothing after. go-yaml v2 is a port of libyaml's scanner and parser, and
//! libyaml-safer is a port of the same C code to safe Rust: so a document reads here as it
//! reads to kubectl (no indentation checks inside flow collections or quoted scalars, a tab
//! after `key:`, YAML 1.1 scalars), which `tests/goyaml.rs` checks against go-yaml itself.
//! libyaml-safer's marks are byte offsets, so spans need no conversion.

use std::borrow::Cow;
use std::ops::Range;

use foldhash::{HashMap, HashMapExt};
use libyaml_safer::{EventData, MappingStyle, Parser, ScalarStyle, SequenceStyle};

use super::{Limits, Node, Scalar, Value, YamlError, YamlErrorKind, merge_and_check_keys};
use crate::source::Span;

/// Reads the kubectl document starting at `range.start` (a line start: the `---` line that
/// opens it, or its first line) into `docs`; returns where the next one starts.
pub(super) fn read_document<'t>(
    text: &'t str,
    range: Range<usize>,
    limits: Limits,
    budget: &mut usize,
    docs: &mut Vec<Result<Node<'t>, YamlError>>,
) -> usize {
    let split = split(text, range.clone());
    if docs.len() >= limits.max_documents {
        docs.push(Err(YamlError::error(
            split.content.start,
            format!(
                "more than {} documents in one file; the rest of the file is not read (limit `limits.max_documents`)",
                limits.max_documents
            ),
        )));
        return range.end;
    }
    if let Some(bad) = split.bad_separator {
        docs.push(Err(YamlError::error(
            bad,
            "kubectl refuses this document separator: only blanks or a comment may follow `---` on its line; this document is not read".into(),
        )));
        return split.next;
    }
    let mut content = split.content.clone();
    // kubectl hands each document to go-yaml alone, so a BOM may open any of them.
    if text[content.clone()].starts_with('\u{feff}') {
        content.start += 3;
    }
    let first_new = docs.len();
    match read_events(text, content.clone(), limits, *budget, docs) {
        Some(left) => *budget = left,
        // `---` and nothing else: an empty document, as the fast reader reads it.
        None => {
            if let Some(opened) = split.opened_at {
                // At the `---` that ends it, as the fast reader places it, or its own.
                let at = if split.next < range.end {
                    split.next
                } else {
                    opened
                };
                docs.push(Ok(Node {
                    span: Span::new(at, at + 3),
                    value: Value::Scalar(Scalar {
                        text: Cow::Borrowed(""),
                        plain: true,
                    }),
                }));
            }
        }
    }
    let failed = docs[first_new..]
        .iter()
        .any(|d| matches!(d, Err(e) if e.kind == YamlErrorKind::Invalid));
    if failed
        && text[content.clone()].contains("{{")
        && parses_without_templates(text, content, limits)
    {
        for doc in &mut docs[first_new..] {
            if let Err(e) = doc
                && e.kind == YamlErrorKind::Invalid
            {
                e.kind = YamlErrorKind::Template;
            }
        }
    }
    split.next
}

/// Whether a document that did not parse does once its Go template actions (`{{ … }}`) are
/// blanked out: then the actions are why, and it is a template not rendered yet rather than
/// broken YAML.
fn parses_without_templates(text: &str, content: Range<usize>, limits: Limits) -> bool {
    let mut blanked = String::with_capacity(content.len());
    let mut rest = &text[content];
    while let Some(open) = rest.find("{{") {
        blanked.push_str(&rest[..open]);
        let action = &rest[open..];
        let len = action.find("}}").map_or_else(
            || action.find('\n').unwrap_or(action.len()),
            |close| close + 2,
        );
        blanked.extend(
            action[..len]
                .chars()
                .map(|c| if c == '\n' { c } else { ' ' }),
        );
        rest = &action[len..];
    }
    blanked.push_str(rest);
    let mut docs = Vec::new();
    read_events(
        &blanked,
        0..blanked.len(),
        limits,
        super::node_budget(limits, blanked.len()),
        &mut docs,
    );
    docs.iter().all(|d| {
        matches!(
            d,
            Ok(_)
                | Err(YamlError {
                    kind: YamlErrorKind::Ignored,
                    ..
                })
        )
    })
}

/// A kubectl document: the `---` line that opens it (if any), its text, and where the next
/// document starts.
struct Split {
    opened_at: Option<usize>,
    /// Where the opening line holds more than `---`, blanks and a comment.
    bad_separator: Option<usize>,
    content: Range<usize>,
    next: usize,
}

fn split(text: &str, range: Range<usize>) -> Split {
    let bytes = text.as_bytes();
    let line_end =
        |at: usize| memchr::memchr(b'\n', &bytes[at..range.end]).map_or(range.end, |i| at + i + 1);
    let mut at = range.start;
    let mut opened_at = None;
    let mut bad_separator = None;
    if bytes[at..range.end].starts_with(b"---") {
        opened_at = Some(at);
        let end = line_end(at);
        let rest = text[at + 3..end].trim();
        if !rest.is_empty() && !rest.starts_with('#') {
            bad_separator =
                Some(at + 3 + (text[at + 3..end].len() - text[at + 3..end].trim_start().len()));
        }
        at = end;
    }
    let start = at;
    while at < range.end && !bytes[at..range.end].starts_with(b"---") {
        at = line_end(at);
    }
    Split {
        opened_at,
        bad_separator,
        content: start..at,
        next: at,
    }
}

/// Reads the first YAML document of `text[content]` into `docs`, as go-yaml does (what follows
/// a `...` is ignored by kubectl, and said so here). Returns the node budget left, or `None`
/// when the text holds no document at all (blanks and comments).
fn read_events<'t>(
    text: &'t str,
    content: Range<usize>,
    limits: Limits,
    budget: usize,
    docs: &mut Vec<Result<Node<'t>, YamlError>>,
) -> Option<usize> {
    // kubectl's reader ends every line with a line break, the last one too (and libyaml-safer
    // panics where a block scalar or an escape runs into the end of its input): so does this.
    let part = &text[content.clone()];
    let padded;
    let mut input = if part.ends_with('\n') {
        part.as_bytes()
    } else {
        padded = format!("{part}\n");
        padded.as_bytes()
    };
    let mut parser = Parser::new();
    parser.set_encoding(libyaml_safer::Encoding::Utf8);
    parser.set_input_string(&mut input);
    let mut builder = Builder {
        text,
        content_end: content.end,
        stack: Vec::new(),
        children: Vec::new(),
        anchors: HashMap::new(),
        budget,
        limits,
        doc_error: None,
        root: None,
    };
    let at = |mark: libyaml_safer::Mark| (content.start + mark.index as usize).min(content.end);
    loop {
        // A panic of the parser is contained: the document is refused, the run goes on.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse()));
        let event = match parsed {
            Ok(Ok(event)) => event,
            Err(_) => {
                docs.push(Err(YamlError::error(
                    content.start,
                    "the YAML parser failed on this document (an internal error); it is not analysed: please report it".into(),
                )));
                return Some(builder.budget);
            }
            Ok(Err(e)) => {
                let position = e.problem_mark().map_or(content.start, at);
                let context = e.context().map(|c| format!(" ({c})")).unwrap_or_default();
                docs.push(Err(YamlError::error(
                    position,
                    format!(
                        "invalid YAML: {}{context}; kubectl refuses this document, and it is not analysed (the documents after the next `---` are)",
                        e.problem()
                    ),
                )));
                return Some(builder.budget);
            }
        };
        let (start, end) = (at(event.start_mark), at(event.end_mark));
        match event.data {
            EventData::StreamEnd => return None,
            EventData::DocumentEnd { .. } => {
                docs.push(Ok(builder.finish_document(start)));
                let rest = &text[end..content.end];
                if has_content(rest) {
                    let skipped = end + (rest.len() - rest.trim_start().len());
                    docs.push(Err(YamlError::ignored(
                        skipped,
                        "kubectl reads only the first YAML document between two `---` lines: what follows `...` here is ignored, and not analysed".into(),
                    )));
                }
                return Some(builder.budget);
            }
            data => builder.event(data, start, end),
        }
        // A refused document is not read further: the parser keeps a possible key per open
        // flow collection and looks at all of them for every token, so reading on past the
        // depth limit (`[[[[…` 100k deep) would take time quadratic in the depth.
        if let Some(err) = builder.doc_error.take() {
            docs.push(Err(err));
            return Some(builder.budget);
        }
    }
}

/// Whether a text holds more than blanks, comments and document end markers.
fn has_content(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        !(line.is_empty() || line.starts_with('#') || line == "...")
    })
}

const ALIAS_BOMB: &str = "aliases expand to more nodes than the limit (a YAML alias bomb?); the document is not read (raise `limits.alias_expansion` in netpol-fix.yaml if it is legitimate)";

/// A collection being read. Its children so far are the builder's `children` from `first` on
/// (keys and values alternating for a mapping): one list shared by every open collection, so
/// each collection is allocated once, at its exact size, when it closes.
struct Frame {
    map: bool,
    start: usize,
    anchor: Option<String>,
    first: usize,
    /// Nodes in the collection, itself included (what an alias to it costs).
    size: usize,
    flow: bool,
}

struct Builder<'t> {
    text: &'t str,
    /// Where the document's text ends (the parser reads one line break more when it has none).
    content_end: usize,
    stack: Vec<Frame>,
    children: Vec<Node<'t>>,
    /// Anchor → the node and its size in nodes (what an alias to it costs).
    anchors: HashMap<String, (Node<'t>, usize)>,
    /// Nodes (including alias expansions) this file may still produce: bounds alias bombs.
    budget: usize,
    limits: Limits,
    doc_error: Option<YamlError>,
    root: Option<Node<'t>>,
}

impl<'t> Builder<'t> {
    fn fail(&mut self, start: usize, message: String) {
        self.doc_error = Some(YamlError::error(start, message));
    }

    /// Adds an event's node to the document; a problem is left in `doc_error`, after which
    /// [`read_events`] reads no further event.
    fn event(&mut self, event: EventData, start: usize, end: usize) {
        match event {
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                // A block scalar's end mark is the next token, past trailing blank lines.
                let end = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let end = end.min(self.content_end);
                        start + self.text[start..end.max(start)].trim_end().len()
                    }
                    _ => end,
                };
                // A block scalar's span is its text: from its first line's content on.
                let start = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let source = &self.text[start..end];
                        let body = source.find('\n').map_or(source.len(), |i| i + 1);
                        start + body + (source[body..].len() - source[body..].trim_start().len())
                    }
                    _ => start,
                };
                let (start, end) = if value.is_empty()
                    && start == end
                    && style == ScalarStyle::Plain
                    && anchor.is_none()
                    && tag.is_none()
                {
                    let at = self.missing_value_at(start);
                    (at, at)
                } else {
                    (start, end)
                };
                let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
                let inner = if quoted && end >= start + 2 {
                    start + 1..end - 1
                } else {
                    start..end
                };
                // Keep the source slice when it reads the same (plain and simple quoted
                // scalars), so the file holds few small strings.
                let text = match self.text.get(inner) {
                    Some(written) if written == value => Cow::Borrowed(written),
                    _ => Cow::Owned(value),
                };
                let plain = match tag.as_deref() {
                    None => style == ScalarStyle::Plain,
                    // `!!int "8080"` is the number to go-yaml; `!!str 8080` the string.
                    Some(tag) => {
                        matches!(
                            tag,
                            "tag:yaml.org,2002:int"
                                | "tag:yaml.org,2002:bool"
                                | "tag:yaml.org,2002:null"
                                | "tag:yaml.org,2002:float"
                        ) || (style == ScalarStyle::Plain && !tag.starts_with("tag:yaml.org,2002:"))
                    }
                };
                let node = Node {
                    span: Span::new(start, end),
                    value: Value::Scalar(Scalar { text, plain }),
                };
                self.complete(node, anchor, 1, 1, start);
            }
            EventData::SequenceStart { anchor, style, .. } => {
                self.open(false, anchor, start, style == SequenceStyle::Flow)
            }
            EventData::MappingStart { anchor, style, .. } => {
                self.open(true, anchor, start, style == MappingStyle::Flow)
            }
            EventData::SequenceEnd | EventData::MappingEnd => self.close(end),
            EventData::Alias { anchor } => match self.anchors.get(&anchor) {
                Some((_, size)) if *size > self.budget => self.fail(start, ALIAS_BOMB.into()),
                Some((node, size)) => {
                    let (node, size) = (node.clone(), *size);
                    self.complete(node, None, size, size, start);
                }
                None => self.fail(start, format!("alias `*{anchor}` to an unknown anchor")),
            },
            EventData::StreamStart { .. }
            | EventData::StreamEnd
            | EventData::DocumentStart { .. }
            | EventData::DocumentEnd { .. } => {}
        }
    }

    /// Where a missing value is placed (libyaml puts it at the next token, which may be lines
    /// below): at the `:` after its key, or at the end of the line of its `-`.
    fn missing_value_at(&self, next_token: usize) -> usize {
        let Some(frame) = self.stack.last().filter(|f| !f.flow) else {
            return next_token;
        };
        let bytes = self.text.as_bytes();
        let placed = self.children.len() - frame.first;
        if frame.map {
            let Some(key) = self.children.last().filter(|_| placed % 2 == 1) else {
                return next_token;
            };
            let mut at = key.span.end as usize;
            while matches!(bytes.get(at), Some(b' ' | b'\t')) {
                at += 1;
            }
            return if bytes.get(at) == Some(&b':') {
                at
            } else {
                next_token
            };
        }
        let mut at = self.children[frame.first..]
            .last()
            .map_or(frame.start, |c| c.span.end as usize);
        while at < next_token {
            match bytes[at] {
                b' ' | b'\t' | b'\r' | b'\n' => at += 1,
                b'#' => {
                    at += memchr::memchr(b'\n', &bytes[at..next_token]).unwrap_or(next_token - at)
                }
                b'-' => {
                    let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
                    return if end > at && bytes[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                }
                _ => break,
            }
        }
        next_token
    }

    /// The first token after the `-` at `dash` on its line, or the end of that line.
    fn after_dash(&self, dash: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut at = dash + 1;
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        match bytes.get(at) {
            Some(b'#' | b'\n' | b'\r') | None => {
                let end = memchr::memchr(b'\n', &bytes[dash..]).map_or(bytes.len(), |i| dash + i);
                if end > dash && bytes[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                }
            }
            Some(_) => at,
        }
    }

    fn column(&self, at: usize) -> usize {
        at - self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    fn open(&mut self, map: bool, anchor: Option<String>, start: usize, flow: bool) {
        if self.stack.len() >= self.limits.max_depth {
            self.fail(
                start,
                format!(
                    "nesting deeper than {} levels; the document is not read (limit `limits.max_depth`)",
                    self.limits.max_depth
                ),
            );
            return;
        }
        self.stack.push(Frame {
            map,
            start,
            anchor,
            first: self.children.len(),
            size: 1,
            flow,
        });
    }

    fn close(&mut self, end_event: usize) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let last_child_end = self.children[frame.first..].last().map(|n| n.span.end);
        let end = collection_end(frame.flow, end_event, frame.start, last_child_end);
        // A list at its key's indentation (`key:` then `- item` below it) spans from the first
        // token after its first `-` (the end of that line if none is there), not from its
        // `-`, as the fast reader reads it.
        let indentless = !frame.flow
            && !frame.map
            && self.stack.last().is_some_and(|parent| {
                parent.map && !parent.flow && self.column(parent.start) == self.column(frame.start)
            });
        let start = if indentless {
            self.after_dash(frame.start)
        } else {
            frame.start
        };
        let mut children = self.children.drain(frame.first..);
        let value = if frame.map {
            let mut entries = Vec::with_capacity(children.len() / 2);
            while let (Some(key), Some(value)) = (children.next(), children.next()) {
                entries.push((key, value));
            }
            drop(children);
            match merge_and_check_keys(entries) {
                Ok(entries) => Value::Map(entries),
                Err(err) => {
                    self.fail(err.span.start as usize, err.message);
                    return;
                }
            }
        } else {
            Value::Seq(children.collect())
        };
        let node = Node {
            span: Span::new(start, end),
            value,
        };
        self.complete(node, frame.anchor, frame.size, 1, start);
    }

    /// Attaches a finished node of `size` nodes to its parent (or makes it the document root),
    /// charging `charge` newly created nodes to the file's budget.
    fn complete(
        &mut self,
        node: Node<'t>,
        anchor: Option<String>,
        size: usize,
        charge: usize,
        start: usize,
    ) {
        if charge > self.budget {
            self.fail(start, ALIAS_BOMB.into());
            return;
        }
        self.budget -= charge;
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(parent) => {
                parent.size += size;
                self.children.push(node);
            }
        }
    }

    fn finish_document(&mut self, at: usize) -> Node<'t> {
        self.root.take().unwrap_or(Node {
            span: Span::new(at, at),
            value: Value::Scalar(Scalar {
                text: Cow::Borrowed(""),
                plain: true,
            }),
        })
    }
}

/// Flow collections end after their closing bracket; block collections end where their last
/// child ends (the parser's end mark points at the next token).
fn collection_end(
    flow: bool,
    end_event: usize,
    start: usize,
    last_child_end: Option<u32>,
) -> usize {
    match (flow, last_child_end) {
        (true, _) => end_event.max(start),
        (false, Some(child_end)) => child_end as usize,
        (false, None) => start,
    }
}
