//! Human excerpts of findings and input errors: the message, the lines each label points at
//! with a line of context around them, help, and excerpts of related files.
//!
//! Hand-written rather than a diagnostics crate's renderer: a big tree's report holds tens of
//! thousands of excerpts (miette's renderer spent 1.8 s of CPU on the 10x tree's 15,381 even
//! when given each span's lines), every label here is on one line, and text is wrapped at
//! spaces only, so names such as `kube-system` survive whole for search and copying.

use super::escape::acted_on;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::sync::Arc;

use unicode_width::UnicodeWidthChar;

use crate::diag::Severity;
use crate::source::{FileId, Location, SourceFile, Sources};

/// Columns the message and help are wrapped to.
const WIDTH: usize = 100;
/// Columns a tab takes in an excerpt.
const TAB: usize = 4;

fn symbol(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "×",
        Severity::Warning => "⚠",
        Severity::Info => "☞",
    }
}

fn style(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => RED,
        Severity::Warning => YELLOW,
        Severity::Info => CYAN,
    }
}

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const MAGENTA: &str = "\x1b[35m";
const GREEN: &str = "\x1b[32m";
const LINK: &str = "\x1b[36;4m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";
/// Label colours, one per label in turn.
const HIGHLIGHTS: [&str; 3] = [MAGENTA, YELLOW, GREEN];

/// Output with ANSI colours, or plain.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn put(self, out: &mut String, style: &str, text: &str) {
        if !text.is_empty() {
            self.with(out, style, |out| out.push_str(text));
        }
    }

    /// What `write` appends (something), in `style`.
    fn with(self, out: &mut String, style: &str, write: impl FnOnce(&mut String)) {
        if self.0 {
            out.push_str(style);
        }
        write(out);
        if self.0 {
            out.push_str(RESET);
        }
    }
}

/// A label: bytes of one line and what they are.
#[derive(Debug)]
struct Label {
    start: usize,
    end: usize,
    text: String,
}

/// One excerpt: a message, labels on one file, and excerpts of other files it relates to.
/// When the file may not be shown, the labels are positions written into the message.
#[derive(Debug)]
pub struct Excerpt<'a> {
    severity: Severity,
    pub code: Option<String>,
    message: String,
    pub help: Option<String>,
    file: FileId,
    /// The file and its text, or why it is withheld.
    shown: Result<(&'a SourceFile, Arc<str>), &'static str>,
    labels: Vec<Label>,
    related: Vec<Excerpt<'a>>,
}

impl<'a> Excerpt<'a> {
    pub fn new(sources: &'a Sources, id: FileId, message: String, severity: Severity) -> Self {
        let file = sources.get(id);
        let shown = match (file.excerpt_withheld(), file.text()) {
            (None, Some(text)) => Ok((file, text)),
            (why, _) => Err(why.unwrap_or("the file cannot be read again")),
        };
        Excerpt {
            severity,
            code: None,
            message,
            help: None,
            file: id,
            shown,
            labels: Vec::new(),
            related: Vec::new(),
        }
    }

    /// Labels the first line of `loc` (objects span whole documents), which is in this
    /// excerpt's file, with `text`.
    pub fn label(&mut self, sources: &Sources, loc: Location, text: &str) {
        match &self.shown {
            Ok((_, source)) => {
                let start = (loc.span.start as usize).min(source.len());
                let line_end = source[start..]
                    .find(['\n', '\r'])
                    .map_or(source.len(), |i| start + i);
                let end = (loc.span.end as usize).clamp(start, line_end);
                self.labels.push(Label {
                    start,
                    end,
                    text: text.to_string(),
                });
            }
            Err(why) => {
                let file = sources.get(loc.file);
                let lc = file.line_col(loc.span.start);
                self.message.push_str(&format!(
                    "\n  --> {}:{}:{}: {text} (excerpt withheld: {why})",
                    file.name, lc.line, lc.column
                ));
            }
        }
    }

    /// Labels `loc` here when it is in this excerpt's file, else in the related excerpt of
    /// its file (one per file, `see FILE`).
    pub fn label_anywhere(&mut self, sources: &'a Sources, loc: Location, text: &str) {
        if loc.file == self.file {
            return self.label(sources, loc, text);
        }
        let index = match self.related.iter().position(|e| e.file == loc.file) {
            Some(index) => index,
            None => {
                let name = &sources.get(loc.file).name;
                let see = Excerpt::new(sources, loc.file, format!("see {name}"), Severity::Info);
                self.related.push(see);
                self.related.len() - 1
            }
        };
        self.related[index].label(sources, loc, text);
    }

    /// The excerpt as text, ending in a line break.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, Paint(color));
        out
    }

    fn write(&self, out: &mut String, paint: Paint) {
        let colour = style(self.severity);
        if let Some(code) = &self.code {
            paint.put(out, colour, code);
            out.push_str("\n\n");
        }
        let first = format!("  {} ", symbol(self.severity));
        wrap(out, paint, colour, &self.message, &first, "  │ ");
        if let Ok((file, text)) = &self.shown {
            self.write_snippets(out, paint, file, text);
        }
        if let Some(help) = &self.help {
            wrap(out, paint, CYAN, help, "  help: ", "        ");
        }
        for related in &self.related {
            out.push('\n');
            paint.put(out, style(related.severity), "Advice:");
            out.push('\n');
            related.write(out, paint);
        }
    }

    /// The labelled lines, a line of context around each, and labels whose context lines
    /// touch or overlap in one snippet.
    fn write_snippets(&self, out: &mut String, paint: Paint, file: &SourceFile, text: &str) {
        // The last line with text: the empty line after a final line break is shown only
        // when a label is on it (say, an error at the end of the file).
        let last_line = file.line_index(text.len().saturating_sub(1) as u32);
        let mut labels: Vec<Placed> = (self.labels.iter().enumerate())
            .map(|(colour, label)| Placed {
                line: file.line_index(label.start as u32),
                colour: HIGHLIGHTS[colour % HIGHLIGHTS.len()],
                label,
            })
            .collect();
        labels.sort_by_key(|p| p.label.start);
        // Each snippet: its first and last line, and where its labels start in `labels`.
        let mut snippets: Vec<(usize, usize, usize)> = Vec::new();
        for (i, placed) in labels.iter().enumerate() {
            let line = placed.line;
            let (top, bottom) = (line.saturating_sub(1), (line + 1).min(last_line).max(line));
            match snippets.last_mut() {
                Some((_, end, _)) if top <= *end + 1 => *end = bottom.max(*end),
                _ => snippets.push((top, bottom, i)),
            }
        }
        let ends = snippets.iter().skip(1).map(|s| s.2).chain([labels.len()]);
        for (&(top, bottom, first), end) in snippets.iter().zip(ends) {
            let snippet = Snippet {
                file,
                text,
                gutter: (bottom + 1).to_string().len(),
                paint,
            };
            snippet.write(out, top..=bottom, &labels[first..end]);
        }
    }
}

/// A label, the line it is on, and its colour.
#[derive(Clone, Copy)]
struct Placed<'l> {
    line: usize,
    colour: &'static str,
    label: &'l Label,
}

/// One run of lines of a file with their labels.
struct Snippet<'t> {
    file: &'t SourceFile,
    text: &'t str,
    /// Width of the line numbers.
    gutter: usize,
    paint: Paint,
}

impl Snippet<'_> {
    fn write(&self, out: &mut String, lines: RangeInclusive<usize>, mut labels: &[Placed]) {
        let paint = self.paint;
        let first = self.file.line_col(labels[0].label.start as u32);
        push_spaces(out, self.gutter + 2);
        paint.put(out, DIM, "╭─[");
        paint.with(out, LINK, |out| {
            push_visible(out, &self.file.name);
            _ = write!(out, ":{first}");
        });
        paint.put(out, DIM, "]");
        out.push('\n');
        for line in lines {
            let bytes = self.file.line_bytes(line);
            // A credential in the line is shown as `*`s, as long as it is.
            let content =
                crate::redact::mask(self.text[bytes.clone()].trim_end_matches(['\n', '\r']));
            let content = content.as_ref();
            paint.with(out, DIM, |out| {
                _ = write!(out, " {:>w$} │", line + 1, w = self.gutter);
            });
            if !content.is_empty() {
                out.push(' ');
                push_visible(out, content);
            }
            out.push('\n');
            // Labels are in line order.
            let on_line = labels.partition_point(|p| p.line <= line);
            self.write_labels(out, content, bytes.start, &labels[..on_line]);
            labels = &labels[on_line..];
        }
        push_spaces(out, self.gutter + 2);
        paint.put(out, DIM, "╰────");
        out.push('\n');
    }

    /// Underlines and texts of the labels on one line. Labels that overlap go to separate
    /// rows, so no underline hides another.
    fn write_labels(&self, out: &mut String, content: &str, line_start: usize, labels: &[Placed]) {
        let column = |byte: usize| columns(&content[..(byte - line_start).min(content.len())]);
        // (first column, columns, label) on screen, in rows.
        let mut rows: Vec<Vec<(usize, usize, Placed)>> = Vec::new();
        for &p in labels {
            let start = column(p.label.start);
            let shown = (start, (column(p.label.end) - start).max(1), p);
            match rows
                .iter_mut()
                .find(|row| row.last().is_some_and(|q| q.0 + q.1 <= start))
            {
                Some(row) => row.push(shown),
                None => rows.push(vec![shown]),
            }
        }
        for row in rows {
            self.margin(out);
            let mut at = 0;
            for &(start, width, p) in &row {
                push_spaces(out, start - at);
                let middle = width / 2;
                self.paint.with(out, p.colour, |out| {
                    out.extend(std::iter::repeat_n('─', middle));
                    out.push('┬');
                    out.extend(std::iter::repeat_n('─', width - middle - 1));
                });
                at = start + width;
            }
            out.push('\n');
            // The rightmost text first, so the pointers of the others pass beside it. A
            // text's further lines are indented under its first.
            for shown in (0..row.len()).rev() {
                let (start, width, p) = row[shown];
                for (i, text) in p.label.text.split('\n').enumerate() {
                    self.margin(out);
                    let mut at = 0;
                    for &(start, width, p) in &row[..shown] {
                        push_spaces(out, start + width / 2 - at);
                        self.paint.put(out, p.colour, "│");
                        at = start + width / 2 + 1;
                    }
                    push_spaces(out, start + width / 2 - at);
                    self.paint.with(out, p.colour, |out| {
                        out.push_str(if i == 0 { "╰── " } else { "    " });
                        push_visible(out, text);
                    });
                    out.push('\n');
                }
            }
        }
    }

    /// The margin of a line that is not source text.
    fn margin(&self, out: &mut String) {
        push_spaces(out, self.gutter + 2);
        self.paint.put(out, DIM, "·");
        out.push(' ');
    }
}

fn push_spaces(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = n;
    while left > 0 {
        let now = left.min(SPACES.len());
        out.push_str(&SPACES[..now]);
        left -= now;
    }
}

/// Columns `text` takes in an excerpt (see [`push_visible`]).
fn columns(text: &str) -> usize {
    if is_plain(text) {
        return text.len();
    }
    text.chars().map(visible_width).sum()
}

/// Printable ASCII and spaces only: shown as it is, a column a byte (the common case).
fn is_plain(text: &str) -> bool {
    // Without an early exit, so that it compiles to vector instructions.
    text.bytes()
        .fold(true, |plain, b| plain & matches!(b, b' '..=b'~'))
}

fn visible_width(c: char) -> usize {
    match c {
        '\t' => TAB,
        c if acted_on(c) => 1,
        c => c.width().unwrap_or(0),
    }
}

/// Text from the input as shown: tabs as spaces, and characters a terminal would act on as
/// `�`. Everything from the input passes through here: source lines, names in messages,
/// labels and file names.
fn push_visible(out: &mut String, text: &str) {
    if is_plain(text) {
        return out.push_str(text);
    }
    for c in text.chars() {
        match c {
            '\t' => push_spaces(out, TAB),
            c if acted_on(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Appends `text` wrapped at spaces to [`WIDTH`] columns, one line per line of `text`, with
/// `first` before the first line and `rest` before the others (both in `style`). A word
/// longer than a line is not broken.
fn wrap(out: &mut String, paint: Paint, style: &str, text: &str, first: &str, rest: &str) {
    // A prefix is painted without its trailing spaces; they lead the first word instead.
    let start_line = |out: &mut String, prefix: &str| {
        let mark = prefix.trim_end();
        paint.put(out, style, mark);
        (columns(mark), prefix.len() - mark.len())
    };
    let mut prefix = first;
    for paragraph in text.split('\n') {
        let indent = paragraph.len() - paragraph.trim_start_matches(' ').len();
        let (mut column, spaces) = start_line(out, prefix);
        let mut gap = spaces + indent;
        let mut empty = true;
        // Spaces between words are kept as they are (names may hold runs of them), except
        // where the line breaks.
        for word in paragraph[indent..].split(' ') {
            if word.is_empty() {
                gap += 1;
                continue;
            }
            let width = columns(word);
            if !empty && column + gap + width > WIDTH {
                out.push('\n');
                (column, gap) = start_line(out, rest);
            }
            push_spaces(out, gap);
            push_visible(out, word);
            column += gap + width;
            gap = 1;
            empty = false;
        }
        out.push('\n');
        prefix = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn numbered(lines: usize) -> String {
        (1..=lines).map(|n| format!("line {n}\n")).collect()
    }

    /// `text` as file `f.yaml`, with a label `label N` on the first word of each of the
    /// `labelled` (1-based) lines, rendered as one excerpt.
    fn rendered(text: &str, labelled: &[usize]) -> String {
        let mut sources = Sources::default();
        let file = sources.add(SourceFile::new("f.yaml".into(), text.into()));
        let at_line = |n: usize| {
            let start: usize = text.split_inclusive('\n').take(n - 1).map(str::len).sum();
            Location {
                file,
                span: Span::new(start, start + 4),
            }
        };
        let mut excerpt = Excerpt::new(&sources, file, "m".into(), Severity::Error);
        for &n in labelled {
            excerpt.label(&sources, at_line(n), &format!("label {n}"));
        }
        excerpt.render(false)
    }

    /// `file` (name, text) with the label `label` on bytes `span`, as an error with `message`,
    /// made into text by `finish`.
    fn one_label(
        (name, text): (&str, &str),
        span: std::ops::Range<usize>,
        label: &str,
        message: &str,
        finish: impl FnOnce(Excerpt<'_>) -> String,
    ) -> String {
        let mut sources = Sources::default();
        let file = sources.add(SourceFile::new(name.into(), text.into()));
        let loc = Location {
            file,
            span: Span::new(span.start, span.end),
        };
        let mut excerpt = Excerpt::new(&sources, file, message.into(), Severity::Error);
        excerpt.label(&sources, loc, label);
        finish(excerpt)
    }

    #[test]
    fn distant_labels_of_one_file_are_separate_snippets_of_their_own_lines() {
        let out = rendered(&numbered(300), &[5, 40, 60, 200]);
        let shown = [
            "line 4\n",
            "line 6\n",
            "line 39\n",
            "line 41\n",
            "line 59\n",
            "line 201\n",
        ];
        for shown in shown {
            assert!(out.contains(shown), "{shown:?} missing from\n{out}");
        }
        for hidden in [
            "line 3\n",
            "line 7\n",
            "line 50\n",
            "line 198\n",
            "line 202\n",
        ] {
            assert!(!out.contains(hidden), "{hidden:?} shown in\n{out}");
        }
        assert!(out.contains("╭─[f.yaml:200:1]"), "{out}");
        assert_eq!(out.matches("╭─[").count(), 4, "{out}");
    }

    #[test]
    fn labels_whose_context_lines_touch_share_one_snippet() {
        // Lines 4-6 and 7-9: no line between them is left out, so no need for two snippets.
        let out = rendered(&numbered(20), &[5, 8]);
        assert_eq!(out.matches("╭─[").count(), 1, "{out}");
        assert!(
            out.contains("line 9\n") && !out.contains("line 10\n"),
            "{out}"
        );
    }

    #[test]
    fn a_snippet_is_line_numbers_source_and_an_underline_pointing_at_the_label() {
        let out = rendered("a: 1\nname: web\nc: 3\n", &[2]);
        let expected = "  × m
   ╭─[f.yaml:2:1]
 1 │ a: 1
 2 │ name: web
   · ──┬─
   ·   ╰── label 2
 3 │ c: 3
   ╰────
";
        assert_eq!(out, expected);
    }

    #[test]
    fn the_last_line_has_no_empty_line_after_it_and_line_numbers_share_a_width() {
        let out = rendered(&numbered(10), &[9, 10]);
        assert!(out.ends_with("    ·   ╰── label 10\n    ╰────\n"), "{out}");
        assert!(
            out.contains("  8 │ line 8\n") && out.contains(" 10 │ line 10\n"),
            "{out}"
        );
    }

    #[test]
    fn labels_on_one_line_point_from_the_rightmost_and_overlapping_ones_get_rows() {
        let mut sources = Sources::default();
        let file = sources.add(SourceFile::new("f".into(), "key: some value\n".into()));
        let at = |start, end| Location {
            file,
            span: Span::new(start, end),
        };
        let mut excerpt = Excerpt::new(&sources, file, "m".into(), Severity::Warning);
        excerpt.label(&sources, at(0, 3), "key");
        excerpt.label(&sources, at(5, 15), "value");
        excerpt.label(&sources, at(10, 15), "word");
        let out = excerpt.render(false);
        let expected = "  ⚠ m
   ╭─[f:1:1]
 1 │ key: some value
   · ─┬─  ─────┬────
   ·  │        ╰── value
   ·  ╰── key
   ·           ──┬──
   ·             ╰── word
   ╰────
";
        assert_eq!(out, expected);
    }

    #[test]
    fn text_wraps_at_spaces_only_and_keeps_hyphenated_names_whole() {
        let name = "kube-system/allow-egress-to-the-kubernetes-api-server-on-443";
        let message = format!("{} {name} and more", "word ".repeat(17).trim_end());
        let mut out = String::new();
        wrap(&mut out, Paint(false), "", &message, "  × ", "  │ ");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.iter().all(|l| columns(l) <= WIDTH), "{out}");
        assert_eq!(lines[1], format!("  │ {name} and more"), "{out}");
        // Each line of the text starts a line; an over-long word stays whole.
        let long = "x".repeat(120);
        let mut out = String::new();
        wrap(
            &mut out,
            Paint(false),
            "",
            &format!("a\n{long}"),
            "  help: ",
            "        ",
        );
        assert_eq!(out, format!("  help: a\n        {long}\n"));
    }

    #[test]
    fn wrapping_keeps_runs_of_spaces_inside_a_line() {
        let mut out = String::new();
        wrap(
            &mut out,
            Paint(false),
            "",
            "Service apps/d   b:  x",
            "  × ",
            "  │ ",
        );
        assert_eq!(out, "  × Service apps/d   b:  x\n");
    }

    #[test]
    fn a_label_of_several_lines_keeps_its_further_lines_under_its_first() {
        let label = "held by a/back\nend";
        let out = one_label(("f", "name: web\n"), 6..9, label, "m", |e| e.render(false));
        assert!(
            out.contains("   ·        ╰── held by a/back\n   ·            end\n"),
            "{out}"
        );
    }

    #[test]
    fn what_a_terminal_would_act_on_is_shown_as_a_replacement_character() {
        let file = ("e\u{1b}[31mvil.yaml", "name: x\u{1b}[2J\n");
        let message = "Service apps/d\u{1b}]0;pwned\u{7}b and \u{202e}cba";
        let label = "held by a/back\u{1b}[2Jend";
        let out = one_label(file, 6..7, label, message, |mut e| {
            e.help = Some("see \u{2066}x".into());
            e.render(false)
        });
        for acted_on in ['\u{1b}', '\u{7}', '\u{202e}', '\u{2066}'] {
            assert!(!out.contains(acted_on), "{acted_on:?} in\n{out}");
        }
        assert!(out.contains("╭─[e�[31mvil.yaml:1:7]"), "{out}");
        assert!(out.contains("│ name: x�[2J\n"), "{out}");
        assert!(out.contains("apps/d�]0;pwned�b and �cba"), "{out}");
        assert!(out.contains("╰── held by a/back�[2Jend"), "{out}");
        assert!(out.contains("help: see �x"), "{out}");
    }

    #[test]
    fn a_label_after_the_final_line_break_is_on_the_empty_last_line() {
        let text = "a: 1\nb: [1, 2\n";
        let end = text.len()..text.len();
        let out = one_label(("f", text), end, "here", "m", |e| e.render(false));
        assert!(
            out.contains("╭─[f:3:1]\n 2 │ b: [1, 2\n 3 │\n   · ┬\n   · ╰── here\n   ╰────\n"),
            "{out}"
        );
    }

    #[test]
    fn tabs_and_wide_characters_keep_underlines_under_their_text() {
        let text = "\tkey: 値値 x\n";
        let x = text.find('x').unwrap();
        let out = one_label(("f", text), x..x + 1, "x", "m", |e| e.render(false));
        // Tab 4 + `key: ` 5 + two wide characters 4 + space 1: `x` is at column 14.
        assert!(
            out.contains(" 1 │     key: 値値 x\n   ·               ┬\n"),
            "{out}"
        );
    }

    #[test]
    fn labels_in_other_files_go_to_one_related_excerpt_per_file() {
        let mut sources = Sources::default();
        let a = sources.add(SourceFile::new("a".into(), "x: 1\n".into()));
        let b = sources.add(SourceFile::new("b".into(), "y: 1\nz: 2\n".into()));
        let at = |file, start| Location {
            file,
            span: Span::new(start, start + 1),
        };
        let mut excerpt = Excerpt::new(&sources, a, "m".into(), Severity::Error);
        excerpt.label_anywhere(&sources, at(a, 0), "here");
        excerpt.label_anywhere(&sources, at(b, 0), "y");
        excerpt.label_anywhere(&sources, at(b, 5), "z");
        let out = excerpt.render(false);
        assert_eq!(out.matches("Advice:\n  ☞ see b\n").count(), 1, "{out}");
        // The label in the excerpt's own file stays in it, before the related excerpt.
        assert!(!out.contains("see a"), "{out}");
        let (own, related) = out.split_once("Advice:").unwrap();
        assert!(
            own.contains("╭─[a:1:1]") && own.contains("╰── here"),
            "{out}"
        );
        assert!(
            related.contains("╰── y") && related.contains("╰── z"),
            "{out}"
        );
    }

    #[test]
    fn colour_is_only_added_when_asked_for() {
        let plain = one_label(("f", "a: 1\n"), 0..1, "a", "m", |e| e.render(false));
        assert!(!plain.contains('\u{1b}'), "{plain}");
        let coloured = one_label(("f", "a: 1\n"), 0..1, "a", "m", |e| e.render(true));
        assert!(
            coloured.contains(&format!("{RED}  ×{RESET} m")),
            "{coloured}"
        );
    }
}
