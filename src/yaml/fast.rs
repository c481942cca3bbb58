//! A fast reader for the block-style YAML that manifests are nearly always written in: block
//! mappings and lists, one-line plain and quoted scalars, literal block scalars (`|`, `|-`,
//! `|+`), one-line flow lists and mappings of scalars, comments and `---` separators.
//!
//! It builds the same nodes, with the same spans, as the event-based reader in [`super`] (the
//! reference: libyaml's parser), five to ten times faster, tree included. At the first document
//! holding anything else (anchors, aliases, tags, folded or multi-line scalars, escapes, nested
//! flow collections, tabs, errors of any kind) it stops and says where that document starts; the
//! reference reads the rest. It never guesses: what it reads it reads exactly as the reference
//! does, which the differential tests (and the `yaml` fuzz target) hold it to.

use std::borrow::Cow;
use std::ops::Range;

use super::{Limits, Node, Scalar, Value, YamlError, merge_and_check_keys};
use crate::source::Span;

/// YAML limits a key written without `?` to 1,024 characters, and the reference rejects longer
/// ones in some places: longer keys are left to it, with a margin.
const MAX_KEY_BYTES: usize = 1000;

/// Nesting the fast reader follows (it recurses; the reference keeps an explicit stack, so a
/// `limits.max_depth` set far higher cannot overflow a thread's stack here).
const MAX_DEPTH: usize = 100;

/// The fast reader gives up on the document it is in: the reference reads from its start.
struct GiveUp;

type Read<T> = Result<T, GiveUp>;

/// Reads whole documents of `text[range]` into `docs` until one it cannot read; returns where
/// that document starts (`range.end` when it read everything). `budget` is the number of
/// nodes the file may still produce (see [`Limits::alias_expansion`]); what was read is
/// charged to it, one per node, as the reference does.
pub(super) fn read<'t>(
    text: &'t str,
    range: Range<usize>,
    limits: Limits,
    budget: &mut usize,
    docs: &mut Vec<Result<Node<'t>, YamlError>>,
) -> usize {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        end: range.end,
        next: None,
        depth: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH),
        nodes: 0,
        children: Vec::new(),
    };
    reader.skip_to_content(range.start);
    // Whether a `---` opened the document being read, and where that document starts.
    let mut explicit = false;
    let mut doc_start = range.start;
    loop {
        let doc = match reader.next {
            None if !explicit => return range.end,
            None => reader.empty(doc_start, doc_start + 3),
            Some(line) if line.kind == Kind::DocumentStart && !explicit => {
                explicit = true;
                doc_start = line.start;
                reader.skip_to_content(line.next);
                continue;
            }
            Some(line) if line.kind == Kind::DocumentStart => {
                reader.empty(line.start, line.start + 3)
            }
            Some(line) if line.kind == Kind::Content && line.indent == 0 => {
                match reader.document(line) {
                    Ok(root) => root,
                    Err(GiveUp) => return doc_start,
                }
            }
            Some(_) => return doc_start,
        };
        if docs.len() >= limits.max_documents || reader.nodes > *budget {
            return doc_start;
        }
        *budget -= reader.nodes;
        reader.nodes = 0;
        docs.push(Ok(doc));
        // What ends a document is the end of the text or the `---` opening the next one.
        match reader.next {
            None => return range.end,
            Some(line) => {
                explicit = true;
                doc_start = line.start;
                reader.skip_to_content(line.next);
            }
        }
    }
}

/// Whether the fast reader may read `part` at all: bytes the reference treats specially
/// anywhere (tabs, lone carriage returns, control and non-printable characters, byte order
/// marks, Unicode line breaks) send the whole range to it. Asked once per range, not per
/// document: the answer holds for every part of it.
pub(super) fn readable(part: &str) -> bool {
    let bytes = part.as_bytes();
    // One pass (without an early exit, so that it vectorises) for controls and non-ASCII.
    let (controls, non_ascii) = bytes.iter().fold((false, false), |(controls, high), &b| {
        let control = (b < 0x20 && b != b'\n' && b != b'\r') | (b == 0x7f);
        (controls | control, high | (b >= 0x80))
    });
    if controls {
        return false;
    }
    let lone_return = memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'));
    if lone_return {
        return false;
    }
    !non_ascii
        || !part.chars().any(|c| {
            matches!(
                c,
                '\u{80}'
                    ..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
        })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Content,
    /// `---` at column 0, alone on its line.
    DocumentStart,
    /// Any other line starting with `---` (kubectl's separator, even when more follows it),
    /// or `...` and then a space or nothing: left to the reference.
    Marker,
}

/// One line of the text. `end` is before its line break (`\n` or `\r\n`), `next` after it.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    indent: usize,
    end: usize,
    next: usize,
    kind: Kind,
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    end: usize,
    /// The next line holding more than spaces and a comment, not read yet.
    next: Option<Line>,
    /// Collections open.
    depth: usize,
    max_depth: usize,
    /// Nodes made in the current document.
    nodes: usize,
    /// Children of the open collections, innermost last (as in the reference's builder).
    children: Vec<Node<'t>>,
}

impl Line {
    /// Where its first character other than a space is.
    fn content(&self) -> usize {
        self.start + self.indent
    }
}

impl<'t> Reader<'t> {
    fn line_at(&self, start: usize) -> Line {
        let break_at = memchr::memchr(b'\n', &self.bytes[start..self.end]).map(|i| start + i);
        let next = break_at.map_or(self.end, |i| i + 1);
        let mut end = break_at.unwrap_or(self.end);
        if end > start && self.bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let indent = self.bytes[start..end]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
        let line = &self.bytes[start..end];
        let marker = |m: &[u8]| line.starts_with(m);
        let kind = if marker(b"---") {
            // kubectl ends a document at any line starting with `---`.
            if line == b"---" || (marker(b"--- ") && is_blank(&line[4..])) {
                Kind::DocumentStart
            } else {
                Kind::Marker
            }
        } else if marker(b"...") {
            if line.len() > 3 && line[3] != b' ' {
                Kind::Content
            } else {
                Kind::Marker
            }
        } else {
            Kind::Content
        };
        Line {
            start,
            indent,
            end,
            next,
            kind,
        }
    }

    /// Moves to the first line from `start` on that holds more than spaces and a comment.
    fn skip_to_content(&mut self, mut start: usize) {
        while start < self.end {
            let line = self.line_at(start);
            if line.content() < line.end && self.bytes[line.content()] != b'#' {
                self.next = Some(line);
                return;
            }
            start = line.next;
        }
        self.next = None;
    }

    /// Counts a node of the document.
    fn node(&mut self, span: Range<usize>, value: Value<'t>) -> Node<'t> {
        self.nodes += 1;
        Node {
            span: Span::new(span.start, span.end),
            value,
        }
    }

    fn scalar(&mut self, span: Range<usize>, text: Cow<'t, str>, plain: bool) -> Node<'t> {
        self.node(span, Value::Scalar(Scalar { text, plain }))
    }

    /// The empty plain scalar the reference makes for a missing value.
    fn empty(&mut self, start: usize, end: usize) -> Node<'t> {
        self.scalar(start..end, Cow::Borrowed(""), true)
    }

    fn document(&mut self, first: Line) -> Read<Node<'t>> {
        self.children.clear();
        self.depth = 0;
        let root = self.mapping(first, first.content())?;
        match self.next {
            None => Ok(root),
            Some(line) if line.kind == Kind::DocumentStart => Ok(root),
            Some(_) => Err(GiveUp),
        }
    }

    fn open(&mut self) -> Read<usize> {
        if self.depth >= self.max_depth {
            return Err(GiveUp);
        }
        self.depth += 1;
        Ok(self.children.len())
    }

    /// The block mapping whose first key is at `key` on `line`.
    fn mapping(&mut self, line: Line, key: usize) -> Read<Node<'t>> {
        let colon = self.key_end(key, line.end).ok_or(GiveUp)?;
        self.mapping_from(line, key, colon)
    }

    /// The block mapping whose first key is at `key` on `line`, ending at `colon`; its
    /// indentation is that key's column.
    fn mapping_from(&mut self, mut line: Line, mut key: usize, mut colon: usize) -> Read<Node<'t>> {
        let first = self.open()?;
        let indent = key - line.start;
        let start = key;
        loop {
            self.entry(line, key, colon, indent)?;
            match self.next {
                Some(next) if next.kind == Kind::Content && next.indent == indent => {
                    if self.is_list_item(next) {
                        return Err(GiveUp);
                    }
                    (line, key) = (next, next.content());
                    colon = self.key_end(key, line.end).ok_or(GiveUp)?;
                }
                Some(next) if next.kind == Kind::Content && next.indent > indent => {
                    return Err(GiveUp);
                }
                _ => break,
            }
        }
        let entries = self.entries(first)?;
        let end = entries.last().map_or(start, |(_, v)| v.span.end as usize);
        self.depth -= 1;
        Ok(self.node(start..end, Value::Map(entries)))
    }

    /// The entries of the mapping whose keys and values are the children from `first` on; a
    /// duplicate key (an error) is left to the reference.
    fn entries(&mut self, first: usize) -> Read<Vec<(Node<'t>, Node<'t>)>> {
        let mut children = self.children.drain(first..);
        let mut entries = Vec::with_capacity(children.len() / 2);
        while let (Some(key), Some(value)) = (children.next(), children.next()) {
            entries.push((key, value));
        }
        drop(children);
        merge_and_check_keys(entries).map_err(|_| GiveUp)
    }

    /// One `key: value` of a mapping indented by `indent`, its key at `at` ending at `colon`.
    fn entry(&mut self, line: Line, at: usize, colon: usize, indent: usize) -> Read<()> {
        let key = self.key(at, colon)?;
        self.children.push(key);
        let value = self.value(line, colon + 1, indent, colon, true)?;
        self.children.push(value);
        Ok(())
    }

    /// Where the `:` ending a simple key at `at` is, if a key is there: a plain key of letters,
    /// digits and `._/-~$+@` (not starting with `-` or `@`; so never a `<<` merge), or a quoted
    /// key, of at most [`MAX_KEY_BYTES`], followed by `:` and a space or the end of the line.
    fn key_end(&self, at: usize, end: usize) -> Option<usize> {
        let b = self.bytes;
        let colon = match *b[..end].get(at)? {
            quote @ (b'"' | b'\'') => at + 1 + memchr::memchr(quote, &b[at + 1..end])? + 1,
            first if is_key_byte(first) && !matches!(first, b'-' | b'@') => {
                at + b[at..end].iter().position(|&c| !is_key_byte(c))?
            }
            _ => return None,
        };
        let ends_key =
            b[..end].get(colon) == Some(&b':') && (colon + 1 == end || b[colon + 1] == b' ');
        (ends_key && colon - at <= MAX_KEY_BYTES).then_some(colon)
    }

    fn key(&mut self, at: usize, colon: usize) -> Read<Node<'t>> {
        match self.bytes[at] {
            b'"' | b'\'' => {
                let text = self.quoted_text(at, colon - 1)?;
                Ok(self.scalar(at..colon, text, false))
            }
            _ => Ok(self.scalar(at..colon, Cow::Borrowed(&self.text[at..colon]), true)),
        }
    }

    /// The value after an indicator (`key:` or `-`) ending at `after` on `line`, in a
    /// collection indented by `indent`. `empty_at` is where the reference puts a missing
    /// value; `in_mapping` allows a list at the mapping's own indentation as the value.
    fn value(
        &mut self,
        line: Line,
        after: usize,
        indent: usize,
        empty_at: usize,
        in_mapping: bool,
    ) -> Read<Node<'t>> {
        let at = self.skip_spaces(after, line.end);
        if at < line.end && self.bytes[at] != b'#' {
            return self.inline(line, at, indent);
        }
        self.skip_to_content(line.next);
        match self.next {
            Some(next) if next.kind == Kind::Content && next.indent > indent => {
                self.block_collection(next)
            }
            Some(next)
                if in_mapping
                    && next.kind == Kind::Content
                    && next.indent == indent
                    && self.is_list_item(next) =>
            {
                self.list(next, true)
            }
            _ => Ok(self.empty(empty_at, empty_at)),
        }
    }

    fn block_collection(&mut self, line: Line) -> Read<Node<'t>> {
        if self.is_list_item(line) {
            self.list(line, false)
        } else {
            self.mapping(line, line.content())
        }
    }

    fn is_list_item(&self, line: Line) -> bool {
        self.is_dash(line.content(), line.end)
    }

    /// A `-` at `at` that marks a list item: followed by a space or the line's `end`.
    fn is_dash(&self, at: usize, end: usize) -> bool {
        self.bytes[at] == b'-' && (at + 1 == end || self.bytes[at + 1] == b' ')
    }

    /// A block list whose first `-` starts `line`.
    fn list(&mut self, mut line: Line, indentless: bool) -> Read<Node<'t>> {
        let first = self.open()?;
        let indent = line.indent;
        // A list at its mapping key's indentation (`indentless`) starts, as the reference has
        // it, at the first token after its first `-`: the end of that line if none is there.
        let start = if indentless {
            match self.skip_spaces(line.content() + 1, line.end) {
                at if at < line.end && self.bytes[at] != b'#' => at,
                // The reference takes a collection whose start ends right after `[` or `{` for
                // a flow one, even when the bracket ends a comment: left to it.
                _ if matches!(self.bytes[line.end - 1], b'[' | b'{') => return Err(GiveUp),
                _ => line.end,
            }
        } else {
            line.content()
        };
        loop {
            let item = self.item(line)?;
            self.children.push(item);
            match self.next {
                Some(next) if next.kind == Kind::Content && next.indent == indent => {
                    if !self.is_list_item(next) {
                        if indentless {
                            break;
                        }
                        return Err(GiveUp);
                    }
                    line = next;
                }
                Some(next) if next.kind == Kind::Content && next.indent > indent => {
                    return Err(GiveUp);
                }
                _ => break,
            }
        }
        let items: Vec<Node<'t>> = self.children.drain(first..).collect();
        let end = items.last().map_or(start, |n| n.span.end as usize);
        self.depth -= 1;
        Ok(self.node(start..end, Value::Seq(items)))
    }

    /// One `- item` of a list: a value, or a mapping starting on the same line.
    fn item(&mut self, line: Line) -> Read<Node<'t>> {
        let dash = line.content();
        let at = self.skip_spaces(dash + 1, line.end);
        if let Some(colon) = self.key_end(at, line.end) {
            return self.mapping_from(line, at, colon);
        }
        if at < line.end && self.is_dash(at, line.end) {
            return Err(GiveUp);
        }
        self.value(line, dash + 1, line.indent, line.end, false)
    }

    /// A value starting at `at` on `line` (not a comment).
    fn inline(&mut self, line: Line, at: usize, indent: usize) -> Read<Node<'t>> {
        let node = match self.bytes[at] {
            b'"' | b'\'' => {
                let close = self.closing_quote(at, line.end)?;
                let text = self.quoted_text(at, close)?;
                self.rest_is_comment(close + 1, line.end)?;
                self.scalar(at..close + 1, text, false)
            }
            b'|' => return self.literal(line, at, indent),
            b'{' => self.flow_mapping(line, at)?,
            b'[' => self.flow_list(line, at)?,
            b'-' if !self.is_dash(at, line.end) => self.plain(line, at)?,
            first if is_indicator(first) => return Err(GiveUp),
            _ => self.plain(line, at)?,
        };
        self.skip_to_content(line.next);
        Ok(node)
    }

    /// A plain scalar running to the end of its line or to a comment.
    fn plain(&mut self, line: Line, at: usize) -> Read<Node<'t>> {
        let b = self.bytes;
        let mut end = line.end;
        let mut i = at;
        while let Some(found) = memchr::memchr2(b':', b'#', &b[i..line.end]) {
            let pos = i + found;
            match b[pos] {
                b'#' if b[pos - 1] == b' ' => {
                    end = pos;
                    break;
                }
                b':' if pos + 1 == line.end || b[pos + 1] == b' ' => return Err(GiveUp),
                _ => i = pos + 1,
            }
        }
        let text = self.text[at..end].trim_end_matches(' ');
        Ok(self.scalar(at..at + text.len(), Cow::Borrowed(text), true))
    }

    /// Index of the quote closing the one at `at`, on the same line (`''` in single quotes is
    /// a quote in the text).
    fn closing_quote(&self, at: usize, end: usize) -> Read<usize> {
        let quote = self.bytes[at];
        let mut from = at + 1;
        loop {
            let close = from + memchr::memchr(quote, &self.bytes[from..end]).ok_or(GiveUp)?;
            if quote == b'\'' && close + 1 < end && self.bytes[close + 1] == b'\'' {
                from = close + 2;
                continue;
            }
            return Ok(close);
        }
    }

    /// The text between the quote at `at` and its closing quote at `close`.
    fn quoted_text(&self, at: usize, close: usize) -> Read<Cow<'t, str>> {
        let inner = &self.text[at + 1..close];
        match self.bytes[at] {
            b'"' if inner.contains('\\') => Err(GiveUp),
            b'\'' if inner.contains("''") => Ok(Cow::Owned(inner.replace("''", "'"))),
            _ => Ok(Cow::Borrowed(inner)),
        }
    }

    /// `[a, "b", c]` on one line, of scalars without `:`.
    fn flow_list(&mut self, line: Line, open: usize) -> Read<Node<'t>> {
        let (first, close) = self.flow_collection(line, open, b']', |reader, at| {
            let (item, end) = reader.flow_scalar(line, at, b']')?;
            reader.children.push(item);
            Ok(end)
        })?;
        let items: Vec<Node<'t>> = self.children.drain(first..).collect();
        Ok(self.node(open..close + 1, Value::Seq(items)))
    }

    /// `{a: b, "c": d}` on one line, of simple keys and of values as in [`Reader::flow_list`].
    fn flow_mapping(&mut self, line: Line, open: usize) -> Read<Node<'t>> {
        let (first, close) = self.flow_collection(line, open, b'}', |reader, at| {
            let colon = reader.key_end(at, line.end).ok_or(GiveUp)?;
            let key = reader.key(at, colon)?;
            reader.children.push(key);
            let value_at = reader.skip_spaces(colon + 1, line.end);
            let (value, end) = reader.flow_scalar(line, value_at, b'}')?;
            reader.children.push(value);
            Ok(end)
        })?;
        let entries = self.entries(first)?;
        Ok(self.node(open..close + 1, Value::Map(entries)))
    }

    /// Reads the items of the flow collection opened at `open` and closed by `close`, on one
    /// line, with `item` (which pushes an item's nodes and says where it ends). Returns where
    /// its children start and where its closing bracket is. After `[ ` or `{ ` the reference's
    /// spans are not those of a flow collection: left to it.
    fn flow_collection(
        &mut self,
        line: Line,
        open: usize,
        close: u8,
        mut item: impl FnMut(&mut Self, usize) -> Read<usize>,
    ) -> Read<(usize, usize)> {
        if self.byte(line, open + 1) == Some(b' ') {
            return Err(GiveUp);
        }
        let first = self.open()?;
        let mut at = open + 1;
        let closed_at = if self.byte(line, at) == Some(close) {
            at
        } else {
            loop {
                let end = item(self, at)?;
                match self.flow_next(line, end, close)? {
                    Some(next) => at = next,
                    None => break end,
                }
            }
        };
        self.rest_is_comment(closed_at + 1, line.end)?;
        self.depth -= 1;
        Ok((first, closed_at))
    }

    /// A scalar of a flow collection at `at`, ending right before `,` or `close`: quoted
    /// without escapes, or plain without `:`, brackets, braces, `#`, quotes or trailing spaces.
    /// Returns it and where it ends.
    fn flow_scalar(&mut self, line: Line, at: usize, close: u8) -> Read<(Node<'t>, usize)> {
        let b = self.bytes;
        match self.byte(line, at) {
            None => Err(GiveUp),
            Some(b'"' | b'\'') => {
                let quote = self.closing_quote(at, line.end)?;
                let text = self.quoted_text(at, quote)?;
                Ok((self.scalar(at..quote + 1, text, false), quote + 1))
            }
            Some(c) if is_indicator(c) => Err(GiveUp),
            Some(_) => {
                let len = b[at..line.end]
                    .iter()
                    .position(|&c| c == b',' || c == close)
                    .ok_or(GiveUp)?;
                let text = &self.text[at..at + len];
                // A `-` after a space right before `,` or a bracket: left to the reference.
                let refused = text.ends_with(' ') || text.ends_with(" -");
                if refused || text.bytes().any(is_flow_special) {
                    return Err(GiveUp);
                }
                Ok((
                    self.scalar(at..at + len, Cow::Borrowed(text), true),
                    at + len,
                ))
            }
        }
    }

    /// After a flow collection's item ending at `end`: where the next item starts, or `None`
    /// at the closing bracket. (After a trailing comma the next item is the closing bracket,
    /// which no item starts with: left to the reference.)
    fn flow_next(&self, line: Line, end: usize, close: u8) -> Read<Option<usize>> {
        match self.byte(line, end) {
            Some(c) if c == close => Ok(None),
            Some(b',') => match self.skip_spaces(end + 1, line.end) {
                at if at < line.end => Ok(Some(at)),
                _ => Err(GiveUp),
            },
            _ => Err(GiveUp),
        }
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose indicator is at `at`, the value of a
    /// collection indented by `indent`.
    fn literal(&mut self, line: Line, at: usize, indent: usize) -> Read<Node<'t>> {
        let (keep, strip, header_end) = match self.byte(line, at + 1) {
            Some(b'+') => (true, false, at + 2),
            Some(b'-') => (false, true, at + 2),
            _ => (false, false, at + 1),
        };
        self.rest_is_comment(header_end, line.end)?;
        // Its lines: empty ones, and those indented at least as far as the first that is not
        // (its indentation, which must be deeper than the collection's).
        let mut content_indent: Option<usize> = None;
        let mut text = String::new();
        let mut empty_lines = 0;
        let mut longest_leading_empty = 0;
        let (mut first_start, mut last_end) = (0, 0);
        let mut ends_with_break = true;
        let mut start = line.next;
        while start < self.end {
            let l = self.line_at(start);
            if l.content() == l.end {
                let spaces = l.end - l.start;
                match content_indent {
                    // Spaces beyond the indentation are text: left to the reference.
                    Some(n) if spaces > n => return Err(GiveUp),
                    Some(_) => {}
                    None => longest_leading_empty = longest_leading_empty.max(spaces),
                }
                empty_lines += 1;
            } else {
                let first_line = content_indent.is_none();
                let n = match content_indent {
                    Some(n) if l.indent < n => break,
                    Some(n) => n,
                    None if l.indent <= indent || longest_leading_empty > l.indent => break,
                    None => {
                        first_start = l.content();
                        *content_indent.insert(l.indent)
                    }
                };
                if !first_line {
                    text.push('\n');
                }
                text.extend(std::iter::repeat_n('\n', empty_lines));
                text.push_str(&self.text[l.start + n..l.end]);
                empty_lines = 0;
                last_end = l.end;
            }
            ends_with_break = l.next > l.end;
            start = l.next;
        }
        if content_indent.is_none() || !ends_with_break {
            return Err(GiveUp);
        }
        if !strip {
            text.push('\n');
        }
        if keep {
            text.extend(std::iter::repeat_n('\n', empty_lines));
        }
        let end = first_start + self.text[first_start..last_end].trim_end().len();
        let node = self.scalar(first_start..end, Cow::Owned(text), false);
        self.skip_to_content(start);
        Ok(node)
    }

    /// Nothing but spaces and a comment from `at` to `end`.
    fn rest_is_comment(&self, at: usize, end: usize) -> Read<()> {
        let after = self.skip_spaces(at, end);
        let fine = after == end || (after > at && self.bytes[after] == b'#');
        if fine { Ok(()) } else { Err(GiveUp) }
    }

    /// The byte at `at` if it is on `line` (never past the range being read).
    fn byte(&self, line: Line, at: usize) -> Option<u8> {
        (at < line.end).then(|| self.bytes[at])
    }

    fn skip_spaces(&self, at: usize, end: usize) -> usize {
        at + self.bytes[at..end]
            .iter()
            .take_while(|&&b| b == b' ')
            .count()
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b' ')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'.' | b'_' | b'/' | b'-' | b'~' | b'$' | b'+' | b'@')
        || b >= 0x80
}

/// Characters that give a scalar's first character another meaning.
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Characters a plain scalar in a flow list may not hold (here: to stay simple).
fn is_flow_special(b: u8) -> bool {
    matches!(b, b'[' | b']' | b'{' | b'}' | b'#' | b':' | b'"' | b'\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the fast reader stops in `text`.
    fn read_to(text: &str) -> usize {
        let limits = Limits::default();
        let mut budget = super::super::node_budget(limits, text.len());
        if !readable(text) {
            return 0;
        }
        read(text, 0..text.len(), limits, &mut budget, &mut Vec::new())
    }

    fn files(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push(text);
            }
        }
    }

    fn inputs(dir: &str) -> Vec<String> {
        let mut texts = Vec::new();
        files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
            &mut texts,
        );
        assert!(!texts.is_empty(), "no inputs under {dir}");
        texts
    }

    #[test]
    fn agrees_with_the_reference_on_every_fixture_and_fuzz_regression() {
        for dir in ["fixtures", "fuzz/regressions"] {
            inputs(dir)
                .iter()
                .for_each(|text| crate::fuzzing::yaml(text));
        }
    }

    /// Pieces of YAML syntax (and of what breaks it) spliced into the fixtures.
    const SPLICES: &[&str] = &[
        " ",
        "  ",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "#",
        " #",
        ": ",
        ":",
        "- ",
        "-",
        "'",
        "\"",
        "''",
        "\\",
        "|",
        "|-",
        "|+",
        "|2",
        ">",
        "[",
        "]",
        "{",
        "}",
        ",",
        ", ",
        "&a ",
        "*a",
        "!!str ",
        "---\n",
        "...\n",
        "--- ",
        "? ",
        "<<: ",
        "é",
        "\u{85}",
        "\u{feff}",
        "\u{2028}",
        "%YAML 1.2\n",
        "~",
        "@",
        "`",
        "\n  ",
        "\n- ",
        "\n    x\n",
        "a: b\n",
        "- a\n",
        "\n\n",
        "  # c\n",
        "x: |\n  y\n",
        "[a, b]",
        "{}",
        "[]",
        "\"q\"",
        "'q'",
    ];

    /// A deterministic stream of numbers (xorshift), so that a failure replays.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }

        fn boundary(&mut self, text: &str) -> usize {
            let mut at = self.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        }
    }

    fn mutate(text: &str, rng: &mut Rng) -> String {
        let mut out = text.to_string();
        for _ in 0..1 + rng.below(3) {
            let at = rng.boundary(&out);
            match rng.below(4) {
                0 => {
                    let mut end = rng.boundary(&out).max(at).min(at + 8);
                    while !out.is_char_boundary(end) {
                        end -= 1;
                    }
                    out.replace_range(at..end, "");
                }
                1 => {
                    // Move a line's start to another indentation.
                    let line = out[..at].rfind('\n').map_or(0, |i| i + 1);
                    match rng.below(2) {
                        0 => out.insert_str(line, &" ".repeat(1 + rng.below(3))),
                        _ if out[line..].starts_with(' ') => out.replace_range(line..line + 1, ""),
                        _ => {}
                    }
                }
                _ => out.insert_str(at, SPLICES[rng.below(SPLICES.len())]),
            }
        }
        out
    }

    #[test]
    fn agrees_with_the_reference_on_mutated_fixtures() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for text in inputs("fixtures").iter().filter(|t| t.len() < 16 * 1024) {
            for _ in 0..40 {
                crate::fuzzing::yaml(&mutate(text, &mut rng));
            }
        }
    }

    /// Manifest syntax the fast reader reads to the end, each exactly as the reference does.
    const READ_WHOLE: &[&str] = &[
        // Nested mappings; lists indented and at their key's indentation; mappings in lists.
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app.kubernetes.io/name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        ports:\n          - name: http\n            containerPort: 8080\n          -   name: grpc\n              containerPort: 9090\n      - name: side\n",
        // Comments at any indentation, after values, quoted scalars and flow collections.
        "# head\na: 1 # one\n  # inside\nb:   # nested\n  c: \"q\"  # after\n# between\n  d: {}  # empty\n  e: [x, y] # list\n  f: 'it''s'   \n",
        // Missing values in mappings and lists, with and without comments and spaces.
        "a:\nb:  \nc: # c\nd:\n-\n-  \n- # c\n- x\ne:\n  - # first\n  -\nf:",
        "a:\n- x\n- y\nb:\n-\n- z\nc:\n- k: v\n  l: w\n",
        // Plain scalars holding `:`, `#`, `-` and brackets where they are not indicators.
        "url: http://example.com:8080/a#b\nneg: -1\ndash: -x\nmarker: ---\nidx: a[0]\npair: a, b\nenv: ${X}\n",
        // Quoted scalars and keys, empty and non-ASCII.
        "\"a\": \"\"\n'b': ''\nc: \"é ü\"\nd: 'x''y''z'\nlist:\n- \"q\"\n- 'r'  # c\n",
        // Keys of every kind the fast reader takes.
        "on: 1\n0644: x\n$v: z\nk-8.s_/x: w\n+1: v\nü: u\n",
        // Literal block scalars: chomping, empty lines inside, before and after, comments after.
        "a: |\n  one\n\n  two\n\nb: |-\n    x\n     y\n\n  # less indented comment\nc: |+\n  keep\n\n\nd: 1\n",
        "a: |\n\n  after an empty line\nlist:\n- |\n  item\n- k: |-\n    in a mapping\n  l: 2\n",
        "a: |\n  last\n",
        // One-line flow mappings of scalars, as in `valueFrom`.
        "a: {name: x, key: \"y\"}  # c\nb: {k: v}\nc: {k: 1,l: 2}\ne: {\"q\": v, 'r': 's'}\nf:\n- {a: b}\n- secretKeyRef: {name: root, key: user}\n",
        // Flow lists of scalars, empty flow collections.
        "a: []\nc: {}\nd: [1,2, 3]\ne: [\"x\", 'y', z]\nf:\n- []\n- {}\n",
        // Documents: leading comments, separators, empty documents, a separator at the end.
        "# c\n---\na: 1\n---\n# only a comment\n---\n---\nb: 2\n---   \nc: 3\n---\n",
        "a: 1\n---\nb: 2",
        "---\n",
        "",
        "# nothing but a comment\n",
        // Windows line endings.
        "a: b\r\nc:\r\n  - \"d\"\r\n  - e: |\r\n      f\r\n\r\n      g\r\n",
    ];

    #[test]
    fn reads_usual_manifest_syntax_itself_and_exactly() {
        let long_keys = [
            "k".repeat(MAX_KEY_BYTES),
            format!("\"{}\"", "k".repeat(MAX_KEY_BYTES - 2)),
        ]
        .map(|key| format!("{key}: v\nlist:\n- {key}: w\n"));
        for text in READ_WHOLE
            .iter()
            .copied()
            .chain(long_keys.iter().map(String::as_str))
        {
            assert_eq!(
                read_to(text),
                text.len(),
                "the fast reader gave up on\n{text}"
            );
            crate::fuzzing::yaml(text);
        }
    }

    /// Syntax left to the reference: the document holding it, and every later one.
    const LEFT_TO_THE_REFERENCE: &[&str] = &[
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: >\n  folded\n",
        "a: |2\n   indented\n",
        "a: multi\n  line\n",
        "a: \"multi\n  line\"\n",
        "a: \"esc\\\"aped\"\n",
        "a: {b: {c: d}}\n",
        "a: { b: c}\n",
        "a: {b: c }\n",
        "a: {b: c,}\n",
        "a: {b:c}\n",
        "a: {b: }\n",
        "a: {b: c, b: d}\n",
        "a: {b: [c]}\n",
        "a: {b: c\n  , d: e}\n",
        "a: [{}]\n",
        "a: [b,\n  c]\n",
        "a: [ ]\n",
        "a: [ b]\n",
        "a: [b,]\n",
        "a:\n- # [\n- x\n",
        "a:\n- # {\n",
        "a: [x -]\n",
        "a: {k: x -, j: y}\n",
        "a: {",
        "a: [",
        "? a\n: b\n",
        "<<: {a: 1}\n",
        "- root list\n",
        "root scalar\n",
        "a: 1\na: 2\n",
        "a:\n- - nested\n",
        "key with spaces: 1\n",
        "a: b: c\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n...\n",
        "  indented: root\n",
        "a: 1\n  b: 2\n",
        "a: |\n",
        "a: |\n    \n  longer empty line before\n",
        "a: |\n  x\n     \n  longer empty line inside\n",
        "a: |\n  no final break",
    ];

    #[test]
    fn leaves_other_syntax_to_the_reference_from_its_document_on() {
        for case in LEFT_TO_THE_REFERENCE {
            assert_eq!(read_to(case), 0, "the fast reader took\n{case}");
            crate::fuzzing::yaml(case);
            let second = format!("first: document\n---\n{case}");
            assert_eq!(read_to(&second), "first: document\n".len(), "{second}");
            crate::fuzzing::yaml(&second);
        }
    }

    /// A range that ends inside a line reads as the text cut there (`load` cuts only after a
    /// line break, but `parse_range` is public).
    #[test]
    fn a_range_reads_as_the_text_cut_at_its_end() {
        let texts = [
            "a: []\n",
            "a: |-\n  x\n",
            "a: {k: v}\n",
            "a: [x, y]\nb: 'c'\n",
        ];
        for text in texts {
            for end in 0..=text.len() {
                let limits = Limits::default();
                assert_eq!(
                    super::super::parse_range(text, 0..end, limits),
                    super::super::parse_stream_reference(&text[..end], limits),
                    "{:?}",
                    &text[..end]
                );
            }
        }
    }

    #[test]
    fn leaves_deep_nesting_to_the_reference() {
        let nested = |levels: usize| {
            (0..levels)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect::<String>()
        };
        let shallow = nested(MAX_DEPTH);
        assert_eq!(read_to(&shallow), shallow.len());
        crate::fuzzing::yaml(&shallow);
        let deep = nested(MAX_DEPTH + 1);
        assert_eq!(read_to(&deep), 0);
        crate::fuzzing::yaml(&deep);
        // Raised limits do not take the fast reader deeper.
        let limits = Limits {
            max_depth: 100_000,
            ..Limits::default()
        };
        let deeper = nested(1_000);
        let mut budget = super::super::node_budget(limits, deeper.len());
        assert_eq!(
            read(
                &deeper,
                0..deeper.len(),
                limits,
                &mut budget,
                &mut Vec::new()
            ),
            0
        );
        let docs = super::super::parse_range(&deeper, 0..deeper.len(), limits);
        assert_eq!(docs, super::super::parse_stream_reference(&deeper, limits));
    }

    #[test]
    fn leaves_keys_near_yamls_length_limit_to_the_reference() {
        for key in [
            "k".repeat(MAX_KEY_BYTES + 1),
            format!("\"{}\"", "k".repeat(1100)),
        ] {
            let text = format!("{key}: v\nlist:\n- {key}: w\n");
            assert_eq!(read_to(&text), 0, "{text}");
            crate::fuzzing::yaml(&text);
        }
    }

    #[test]
    fn leaves_texts_with_unusual_characters_to_the_reference_entirely() {
        for c in [
            "\t", "\r", "\u{1}", "\u{7f}", "\u{85}", "\u{2028}", "\u{feff}",
        ] {
            let text = format!("a: b\n---\nc: d{c}e\n");
            assert_eq!(read_to(&text), 0, "{text:?}");
            crate::fuzzing::yaml(&text);
        }
    }
}
