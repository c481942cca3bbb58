//! YAML text → a small tree of nodes with byte spans (anchors, aliases and `<<` merges resolved).
//!
//! Two readers build the same tree: `fast`, for the block-style YAML of nearly every manifest,
//! and `reference` (libyaml's parser, as go-yaml v2 and so kubectl read YAML) for each document
//! the fast one does not read. Documents are split as kubectl splits a stream, so a broken one
//! never hides the others. Spans are byte offsets: every span slices the source text exactly.

use std::borrow::Cow;

use crate::source::Span;

mod fast;
mod reference;

/// A YAML node and the bytes it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node<'t> {
    pub span: Span,
    pub value: Value<'t>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'t> {
    Scalar(Scalar<'t>),
    Seq(Vec<Node<'t>>),
    Map(Vec<(Node<'t>, Node<'t>)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar<'t> {
    /// Borrowed from the source when it reads the same as written (most scalars).
    pub text: Cow<'t, str>,
    /// Plain (unquoted, untagged) scalars are the only ones that can be null, bool or int.
    pub plain: bool,
}

/// A problem in the YAML text itself at a byte span of the file, or text kubectl ignores.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
    pub kind: YamlErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The document is refused (by kubectl, or by the limits).
    Invalid,
    /// Refused, but it parses once its Go template actions (`{{ }}`) are blanked out: a
    /// template not rendered yet.
    Template,
    /// Text kubectl ignores (after a `...`): not an error, and not analysed.
    Ignored,
}

impl YamlError {
    pub fn error(at: usize, message: String) -> YamlError {
        YamlError::at(Span::new(at, at), message)
    }

    fn at(span: Span, message: String) -> YamlError {
        YamlError {
            span,
            message,
            kind: YamlErrorKind::Invalid,
        }
    }

    fn ignored(at: usize, message: String) -> YamlError {
        YamlError {
            kind: YamlErrorKind::Ignored,
            ..YamlError::error(at, message)
        }
    }
}

/// Resource limits for one file (configurable under `limits:` in `netpol-fix.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Larger files are reported and not read.
    pub max_file_bytes: u64,
    pub max_documents: usize,
    /// Nesting of mappings and lists (at most [`MAX_DEPTH_LIMIT`]).
    pub max_depth: usize,
    /// Nodes that aliases may create, per byte of the file (plus 10,000): a bound on
    /// "billion laughs" that ordinary anchors and `<<` merges stay far below.
    pub alias_expansion: usize,
}

/// The deepest nesting `limits.max_depth` may allow. Reading the model walks the tree
/// recursively; a release build overflowed a thread's stack between 2,000 and 2,500 levels.
pub const MAX_DEPTH_LIMIT: usize = 1000;

/// The largest `limits.alias_expansion`: nodes aliases may create per byte of a file. Beyond
/// it, a document of a few hundred bytes could still allocate gigabytes.
pub const MAX_ALIAS_EXPANSION: usize = 10;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 256 * 1024 * 1024,
            max_documents: 1_000_000,
            max_depth: 256,
            alias_expansion: 2,
        }
    }
}

impl<'t> Node<'t> {
    pub fn as_map(&self) -> Option<&[(Node<'t>, Node<'t>)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node<'t>]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar<'t>> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar that is not null.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar()
            .filter(|s| !s.is_null())
            .map(|s| s.text.as_ref())
    }

    /// True for `~`, `null`, an empty value, and for the absent node's usual stand-in.
    pub fn is_null(&self) -> bool {
        self.as_scalar().is_some_and(Scalar::is_null)
    }

    /// Value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'t>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// Key and value nodes of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<&(Node<'t>, Node<'t>)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == key))
    }

    /// Short description of the node's kind for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) if s.is_null() => "null",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Scalar<'_> {
    pub fn is_null(&self) -> bool {
        self.plain && matches!(self.text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// A boolean as Kubernetes reads YAML (1.1: `yes`/`no`/`on`/`off` too).
    pub fn as_bool(&self) -> Option<bool> {
        if !self.plain {
            return None;
        }
        match self.text.as_ref() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                Some(true)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => Some(false),
            _ => None,
        }
    }

    /// An integer as Kubernetes reads YAML (go-yaml v2, YAML 1.1): `_` ignored, optional sign,
    /// `0x`/`0o`/`0b` prefixes and a leading `0` for octal (`0644` is 420). `None` also for
    /// integers beyond `i64` (which [`Scalar::is_string`] still counts as numbers).
    pub fn as_int(&self) -> Option<i64> {
        self.wide_int().and_then(|n| i64::try_from(n).ok())
    }

    /// The integer go-yaml reads, in its range (`i64`, or `u64` when positive).
    fn wide_int(&self) -> Option<i128> {
        if !self.plain || !starts_like_number(&self.text) {
            return None;
        }
        let text = without_underscores(&self.text);
        let (negative, digits) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, &text[..]),
        };
        let prefixed = |lower: &str, upper: &str| {
            digits
                .strip_prefix(lower)
                .or_else(|| digits.strip_prefix(upper))
        };
        let (radix, body) = if let Some(hex) = prefixed("0x", "0X") {
            (16, hex)
        } else if let Some(octal) = prefixed("0o", "0O") {
            (8, octal)
        } else if let Some(binary) = prefixed("0b", "0B") {
            (2, binary)
        } else if digits.len() > 1 && digits.starts_with('0') {
            (8, &digits[1..])
        } else {
            (10, digits)
        };
        if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let magnitude = i128::from_str_radix(body, radix).ok()?;
        let n = if negative { -magnitude } else { magnitude };
        (i128::from(i64::MIN)..=i128::from(u64::MAX))
            .contains(&n)
            .then_some(n)
    }

    /// A float (and not an integer) as Kubernetes reads YAML: go-yaml's
    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (after dropping `_`), `.inf`,
    /// `+.inf`, `-.inf` and `.nan` in their three spellings.
    pub fn is_float(&self) -> bool {
        if !self.plain || self.wide_int().is_some() {
            return false;
        }
        let t = self.text.as_ref();
        let special = matches!(
            t.strip_prefix(['+', '-']).unwrap_or(t),
            ".inf" | ".Inf" | ".INF"
        ) || matches!(t, ".nan" | ".NaN" | ".NAN");
        special || is_yaml_float(&without_underscores(t))
    }

    /// Whether Kubernetes reads this scalar as a string (not null, bool, int or float).
    pub fn is_string(&self) -> bool {
        !(self.is_null()
            || self.as_bool().is_some()
            || self.wide_int().is_some()
            || self.is_float())
    }

    /// This scalar as a mapping key reads in Kubernetes' JSON: `on:` is `"true"`, `0644:` is
    /// `"420"` (sigs.k8s.io/yaml stringifies non-string keys).
    pub fn key_text(&self) -> Cow<'_, str> {
        match (self.as_bool(), self.wide_int()) {
            (Some(b), _) => Cow::Borrowed(if b { "true" } else { "false" }),
            (None, Some(i)) => Cow::Owned(i.to_string()),
            _ => Cow::Borrowed(&self.text),
        }
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, by hand.
fn is_yaml_float(t: &str) -> bool {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let mantissa = if let Some(fraction) = t.strip_prefix('.') {
        match digits(fraction) {
            0 => return false,
            n => 1 + n,
        }
    } else {
        let whole = digits(t);
        if whole == 0 {
            return false;
        }
        match t[whole..].strip_prefix('.') {
            Some(fraction) => whole + 1 + digits(fraction),
            None => whole,
        }
    };
    let exponent = &t[mantissa..];
    exponent.is_empty()
        || exponent
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && digits(e) == e.len())
}

/// go-yaml only tries to read plain scalars starting with a digit or a sign as numbers.
fn starts_like_number(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
}

fn without_underscores(text: &str) -> Cow<'_, str> {
    if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// Parses every document of a YAML stream, split as kubectl splits it: a broken document is an
/// error and the documents after its next `---` are still read.
pub fn parse_stream(text: &str, limits: Limits) -> Vec<Result<Node<'_>, YamlError>> {
    parse_range(text, 0..text.len(), limits)
}

/// Every document of `text` as the reference reads it, without the fast reader: what that
/// reader is held to by the tests and the `yaml` fuzz target.
pub fn parse_stream_reference(text: &str, limits: Limits) -> Vec<Result<Node<'_>, YamlError>> {
    let mut budget = node_budget(limits, text.len());
    let mut docs = Vec::new();
    let mut at = 0;
    while at < text.len() {
        at = reference::read_document(text, at..text.len(), limits, &mut budget, &mut docs);
    }
    docs
}

/// Nodes (including alias expansions) a text of `len` bytes may produce.
fn node_budget(limits: Limits, len: usize) -> usize {
    limits
        .alias_expansion
        .saturating_mul(len)
        .saturating_add(10_000)
}

/// Parses `text[range]` (whole documents) with spans that index `text` itself: with the fast
/// reader for as long as it can, the reference for each document it cannot read, then the
/// fast reader again.
pub fn parse_range(
    text: &str,
    range: std::ops::Range<usize>,
    limits: Limits,
) -> Vec<Result<Node<'_>, YamlError>> {
    let mut budget = node_budget(limits, range.len());
    let mut docs = Vec::new();
    let fast = fast::readable(&text[range.clone()]);
    let mut at = range.start;
    while at < range.end {
        if fast {
            at = fast::read(text, at..range.end, limits, &mut budget, &mut docs);
            if at >= range.end {
                break;
            }
        }
        at = reference::read_document(text, at..range.end, limits, &mut budget, &mut docs);
    }
    docs
}

/// Applies `<<` merge keys (explicit keys win) and refuses what kubectl or the API server
/// refuses: a key that is not a string, a number or a boolean (sigs.k8s.io/yaml cannot make a
/// JSON key of it), and a repeated key as Kubernetes reads keys (`on` and `yes` are both
/// "true"). Of several problems, the first in the mapping is reported. A mapping without merge
/// keys (nearly all of them) is returned as it is.
fn merge_and_check_keys<'t>(
    entries: Vec<(Node<'t>, Node<'t>)>,
) -> Result<Vec<(Node<'t>, Node<'t>)>, YamlError> {
    let unreadable = entries
        .iter()
        .position(|(k, _)| k.as_scalar().is_none_or(|s| s.is_null()))
        .map(|i| {
            let key = &entries[i].0;
            let error = YamlError::at(
                key.span,
                format!(
                    "a mapping key that is {}: kubectl cannot turn it into a JSON field and refuses the document",
                    key.kind_name()
                ),
            );
            (i, error)
        });
    let duplicate = first_repeated(&entries, explicit_key).map(|i| {
        let key = &entries[i].0;
        let written = key.as_scalar().map_or(Cow::Borrowed(""), |s| s.text.clone());
        let read = explicit_key(&entries[i]).unwrap_or_default();
        let first = entries[..i]
            .iter()
            .find(|e| explicit_key(e).as_deref() == Some(read.as_ref()))
            .and_then(|(k, _)| k.as_scalar())
            .map_or(Cow::Borrowed(""), |s| s.text.clone());
        let what = if first == written {
            format!("duplicate key `{written}`")
        } else {
            format!("duplicate key: `{first}` and `{written}` are both \"{read}\" to Kubernetes (YAML 1.1)")
        };
        let error = YamlError::at(
            key.span,
            format!(
                "{what}: kubectl keeps the last value, but the API server's strict field validation refuses a repeated field, and so does netpol-fix"
            ),
        );
        (i, error)
    });
    let bad_merge = entries
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| is_merge(k))
        .find_map(|(i, (_, v))| {
            merge_sources(v)
                .find(|source| source.as_map().is_none())
                .map(|source| {
                    let error = YamlError::at(
                        source.span,
                        "a `<<` merge key needs a mapping or a list of mappings".into(),
                    );
                    (i, error)
                })
        });
    if let Some((_, error)) = [unreadable, duplicate, bad_merge]
        .into_iter()
        .flatten()
        .min_by_key(|(i, _)| *i)
    {
        return Err(error);
    }
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return Ok(entries);
    }
    let mut seen: std::collections::HashSet<String> = entries
        .iter()
        .filter_map(explicit_key)
        .map(Cow::into_owned)
        .collect();
    let mut out: Vec<(Node<'t>, Node<'t>)> = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node<'t>, Node<'t>)> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            out.push((k, v));
            continue;
        }
        for map in merge_sources(&v).filter_map(Node::as_map) {
            merged.extend(map.iter().cloned());
        }
    }
    for (k, v) in merged {
        let new_key = k.as_scalar().map(|s| s.key_text().into_owned());
        if new_key.is_some_and(|key| seen.insert(key)) {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// What a `<<` value merges: each mapping of a list, or the one mapping.
fn merge_sources<'a, 't>(value: &'a Node<'t>) -> impl Iterator<Item = &'a Node<'t>> {
    value
        .as_seq()
        .map_or(std::slice::from_ref(value), |items| items)
        .iter()
}

fn is_merge(key: &Node) -> bool {
    key.as_scalar().is_some_and(|s| s.plain && s.text == "<<")
}

/// The key of an entry that is not a `<<` merge, as Kubernetes reads it (`on` is "true").
fn explicit_key<'a>((key, _): &'a (Node<'_>, Node<'_>)) -> Option<Cow<'a, str>> {
    key.as_scalar()
        .filter(|_| !is_merge(key))
        .map(Scalar::key_text)
}

/// Index of the first entry whose key (per `key`, `None` for keys that do not count) equals an
/// earlier one's. Mappings are small: comparing with the earlier keys is cheaper than hashing
/// them, up to a few dozen; each key is worked out once, on the stack.
fn first_repeated<'a, E>(
    entries: &'a [E],
    key: impl Fn(&'a E) -> Option<Cow<'a, str>>,
) -> Option<usize> {
    const SMALL: usize = 32;
    if entries.len() <= SMALL {
        let keys: [Option<Cow<'a, str>>; SMALL] =
            std::array::from_fn(|i| entries.get(i).and_then(&key));
        (1..entries.len()).find(|&i| keys[i].is_some() && keys[..i].iter().any(|k| *k == keys[i]))
    } else {
        let mut seen = std::collections::HashSet::new();
        entries
            .iter()
            .position(|e| key(e).is_some_and(|k| !seen.insert(k)))
    }
}

/// Byte ranges of `text[from..]` holding whole documents, each at least `min_len` long (but the
/// last): cut only at `---`/`...` lines at column 0, which YAML forbids inside any scalar.
pub fn document_chunks(text: &str, from: usize, min_len: usize) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = from;
    let mut search = from;
    while let Some(i) = text[search..].find("\n---") {
        let line = search + i + 1;
        let after = text.as_bytes().get(line + 3);
        search = line + 3;
        let is_marker = after.is_none_or(|b| b.is_ascii_whitespace());
        if is_marker && line - start >= min_len {
            chunks.push(start..line);
            start = line;
        }
    }
    chunks.push(start..text.len());
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node<'_> {
        let mut docs = parse_stream(text, Limits::default());
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).expect("valid yaml")
    }

    fn slice<'a>(text: &'a str, node: &Node) -> &'a str {
        &text[node.span.range()]
    }

    #[test]
    fn spans_are_bytes_with_non_ascii_text() {
        let text = "name: \"é\"\nlabels:\n  app: ü-x\n  tier: web\n";
        let root = one(text);
        assert_eq!(slice(text, root.get("name").unwrap()), "\"é\"");
        let labels = root.get("labels").unwrap();
        assert_eq!(slice(text, labels.get("app").unwrap()), "ü-x");
        assert_eq!(slice(text, labels.get("tier").unwrap()), "web");
        assert_eq!(slice(text, labels), "app: ü-x\n  tier: web");
    }

    #[test]
    fn flow_collections_span_their_brackets() {
        let text = "a: {b: [1, 2], c: d}\n";
        let root = one(text);
        assert_eq!(slice(text, root.get("a").unwrap()), "{b: [1, 2], c: d}");
        assert_eq!(
            slice(text, root.get("a").unwrap().get("b").unwrap()),
            "[1, 2]"
        );
    }

    #[test]
    fn block_scalars_end_at_their_last_character() {
        let text = "a:\n  b: |\n    one\n    two\n\n---\nc: 1\n";
        let root = one_of(text, 0);
        assert_eq!(
            slice(text, root.get("a").unwrap().get("b").unwrap()),
            "one\n    two"
        );
        assert_eq!(slice(text, &root), "a:\n  b: |\n    one\n    two");
    }

    fn one_of(text: &str, i: usize) -> Node<'_> {
        parse_stream(text, Limits::default())
            .remove(i)
            .expect("valid yaml")
    }

    #[test]
    fn chunks_cut_only_at_document_markers_and_parse_like_the_whole() {
        let text = "a: é\n---\nb: \"x\n  ---\"\n---\nc: |\n  ---x\n--- \nd: 4\n";
        let chunks = document_chunks(text, 0, 1);
        assert_eq!(chunks.len(), 4, "{chunks:?}");
        let whole = parse_stream(text, Limits::default());
        let pieces: Vec<_> = chunks
            .iter()
            .flat_map(|r| parse_range(text, r.clone(), Limits::default()))
            .collect();
        let spans = |docs: &[Result<Node, YamlError>]| {
            docs.iter()
                .filter_map(|d| d.as_ref().ok())
                .filter(|n| !n.is_null())
                .map(|n| n.span)
                .collect::<Vec<_>>()
        };
        assert_eq!(spans(&whole), spans(&pieces));
        let d = pieces
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .find(|n| n.get("d").is_some())
            .unwrap();
        assert_eq!(&text[d.get("d").unwrap().span.range()], "4");
    }

    #[test]
    fn multi_document_stream_and_empty_documents() {
        let docs = parse_stream(
            "a: 1\n---\n# only a comment\n---\nb: 2\n",
            Limits::default(),
        );
        assert_eq!(docs.len(), 3);
        assert!(docs[1].as_ref().unwrap().is_null());
        assert_eq!(
            docs[2].as_ref().unwrap().get("b").unwrap().as_str(),
            Some("2")
        );
    }

    #[test]
    fn aliases_and_merge_keys_resolve_with_explicit_keys_winning() {
        let text = "base: &b {app: web, tier: x}\nlabels:\n  <<: *b\n  tier: y\n";
        let root = one(text);
        let labels = root.get("labels").unwrap();
        assert_eq!(labels.get("app").unwrap().as_str(), Some("web"));
        assert_eq!(labels.get("tier").unwrap().as_str(), Some("y"));
        assert_eq!(labels.as_map().unwrap().len(), 2);
    }

    #[test]
    fn duplicate_keys_are_an_error_at_the_second_key() {
        let text = "a: 1\nb: 2\na: 3\n";
        let err = parse_stream(text, Limits::default()).remove(0).unwrap_err();
        assert!(err.message.contains("duplicate key `a`"));
        assert_eq!(err.span.start, 10);
    }

    #[test]
    fn duplicate_keys_of_a_large_mapping_are_an_error_at_the_second_key() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        let second = text.len();
        text += "k7: again\nk9: again\n";
        let err = parse_stream(&text, Limits::default())
            .remove(0)
            .unwrap_err();
        assert!(
            err.message.contains("duplicate key `k7`"),
            "{}",
            err.message
        );
        assert_eq!(err.span.start as usize, second);
    }

    #[test]
    fn the_first_problem_of_a_mapping_is_the_one_reported() {
        let bad_merge_first = "<<: 1\na: 1\na: 2\n";
        let err = parse_stream(bad_merge_first, Limits::default())
            .remove(0)
            .unwrap_err();
        assert!(err.message.contains("`<<` merge key"), "{}", err.message);
        assert_eq!(err.span.start, 4);
        let duplicate_first = "a: 1\na: 2\n<<: 1\n";
        let err = parse_stream(duplicate_first, Limits::default())
            .remove(0)
            .unwrap_err();
        assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
    }

    #[test]
    fn merge_keys_are_not_duplicates_and_explicit_keys_win() {
        let text = "a: &a {x: 1, y: 2}\nb: &b {z: 3}\nc:\n  <<: *a\n  <<: *b\n  x: 9\n";
        let root = parse_stream(text, Limits::default()).remove(0).unwrap();
        let c = root.get("c").unwrap();
        let keys: Vec<_> = c
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(keys, [("x", "9"), ("y", "2"), ("z", "3")]);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text += &format!(
                "l{i}: &l{i} [*{n}, *{n}, *{n}, *{n}, *{n}, *{n}, *{n}, *{n}, *{n}, *{n}]\n",
                n = if p == 0 {
                    "a".to_string()
                } else {
                    format!("l{p}")
                }
            );
        }
        let err = parse_stream(&text, Limits::default())
            .remove(0)
            .unwrap_err();
        assert!(err.message.contains("alias"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        let docs = parse_stream(&text, Limits::default());
        assert!(docs.iter().any(|d| d.is_err()));
    }

    #[test]
    fn syntax_error_keeps_earlier_documents() {
        let docs = parse_stream("a: 1\n---\nb: [1, 2\n", Limits::default());
        assert!(docs[0].is_ok());
        assert!(
            docs.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .message
                .starts_with("invalid YAML")
        );
    }

    #[test]
    fn yaml_1_1_booleans_and_quoted_strings() {
        let root = one("a: yes\nb: \"yes\"\nc: off\nd: !!str 80\ne: 80\n");
        assert_eq!(
            root.get("a").unwrap().as_scalar().unwrap().as_bool(),
            Some(true)
        );
        assert_eq!(root.get("b").unwrap().as_scalar().unwrap().as_bool(), None);
        assert_eq!(
            root.get("c").unwrap().as_scalar().unwrap().as_bool(),
            Some(false)
        );
        assert_eq!(root.get("d").unwrap().as_scalar().unwrap().as_int(), None);
        fn scalar(text: &str) -> Scalar<'_> {
            Scalar {
                text: text.into(),
                plain: true,
            }
        }
        let int = |text: &str| scalar(text).as_int();
        // go-yaml v2, as Kubernetes decodes manifests.
        assert_eq!(int("0644"), Some(420));
        assert_eq!(int("0o644"), Some(420));
        assert_eq!(int("0x1F90"), Some(8080));
        assert_eq!(int("0b1010"), Some(10));
        assert_eq!(int("1_000"), Some(1000));
        assert_eq!(int("-0x10"), Some(-16));
        assert_eq!(int("+80"), Some(80));
        assert_eq!(int("0"), Some(0));
        assert_eq!(int("09"), None);
        assert_eq!(int("0x"), None);
        assert_eq!(int("_1"), None);
        assert_eq!(int("99999999999999999999"), None);
        for float in [
            "1.5", "1e3", "1.", "09", ".5", "-2.5E-3", "1_0.5", ".inf", "-.Inf", "+.INF", ".NaN",
        ] {
            assert!(scalar(float).is_float(), "{float}");
        }
        for string in [
            "inf", "+inf", "-nan", "-.nan", "+-.inf", "1.2.3", "v1", "0x1G", "1-2", "1e", ".",
        ] {
            assert!(scalar(string).is_string(), "{string}");
        }
        // Beyond i64 but within u64 is still a number to go-yaml.
        assert_eq!(int("0xFFFFFFFFFFFFFFFF"), None);
        assert!(!scalar("0xFFFFFFFFFFFFFFFF").is_string());
        assert!(scalar("0x1FFFFFFFFFFFFFFFF").is_string());
        assert_eq!(scalar("on").key_text(), "true");
        assert_eq!(scalar("N").key_text(), "false");
        assert_eq!(scalar("0644").key_text(), "420");
        assert_eq!(scalar("app").key_text(), "app");
        assert_eq!(
            root.get("e").unwrap().as_scalar().unwrap().as_int(),
            Some(80)
        );
    }
}
