//! Source files and byte spans: the one place that turns byte offsets into `line:col`.

use std::fmt;
use std::sync::Arc;

/// A half-open byte range `[start, end)` into a source file's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A span in a particular file: what every diagnostic and model object points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: FileId,
    pub span: Span,
}

/// One loaded input: its name as the user should see it, where its lines start, and its text.
///
/// A file read from disk does not keep its text in memory once parsed (a large tree's texts
/// would be the run's largest allocation): positions come from the line index, and the text is
/// read again the first time an excerpt or a fix needs it, and used only if it is still the
/// text that was analysed.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given on the command line (or relative to a given directory), `-` for stdin.
    pub name: String,
    len: u32,
    line_starts: LineStarts,
    /// See [`SourceFile::excerpt_withheld`].
    withheld: Option<&'static str>,
    /// An object of kind Secret was read from the file, however its text spells the kind
    /// (`"Secr\u0065t"` in a quoted scalar escapes the text search).
    holds_secret: std::sync::atomic::AtomicBool,
    json: bool,
    text: Text,
    /// Why fixes must not be written to this file, if they must not.
    no_fix: Option<&'static str>,
}

/// Byte offsets where lines start: two bytes each in a file of at most 64 KiB (nearly every
/// manifest), four in a bigger one. A large tree has millions of lines, each kept all run.
#[derive(Debug)]
enum LineStarts {
    Short(Box<[u16]>),
    Long(Box<[u32]>),
}

impl LineStarts {
    /// The starts of `text`'s lines, and the length of its longest line (without its break),
    /// from one scan.
    fn new(text: &str) -> (LineStarts, usize) {
        let (mut longest, mut start) = (0, 0);
        let breaks = memchr::memchr_iter(b'\n', text.as_bytes());
        let starts = std::iter::once(0).chain(breaks.map(|end| {
            longest = longest.max(end - start);
            start = end + 1;
            start
        }));
        // A start is at most the length (after a final line break).
        let starts = if u16::try_from(text.len()).is_ok() {
            LineStarts::Short(starts.map(|s| s as u16).collect())
        } else {
            LineStarts::Long(starts.map(|s| s as u32).collect())
        };
        (starts, longest.max(text.len() - start))
    }

    /// Where line `line` (0-based) starts, if the text has it.
    fn get(&self, line: usize) -> Option<u32> {
        match self {
            LineStarts::Short(starts) => starts.get(line).map(|&s| u32::from(s)),
            LineStarts::Long(starts) => starts.get(line).copied(),
        }
    }

    /// The line holding `offset` (the last that starts at or before it) and its start.
    fn line_of(&self, offset: u32) -> (usize, u32) {
        match self {
            LineStarts::Short(starts) => {
                let line = starts.partition_point(|&s| u32::from(s) <= offset) - 1;
                (line, u32::from(starts[line]))
            }
            LineStarts::Long(starts) => {
                let line = starts.partition_point(|&s| s <= offset) - 1;
                (line, starts[line])
            }
        }
    }
}

#[derive(Debug)]
enum Text {
    Resident(Arc<str>),
    OnDisk {
        /// The path, when the name does not spell it (a path that is not UTF-8).
        path: Option<std::path::PathBuf>,
        fingerprint: u64,
        /// The text read again, until [`SourceFile::release_text`].
        reread: std::sync::Mutex<Option<Arc<str>>>,
    },
}

/// A 1-based line and column (column counted in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl SourceFile {
    /// A file whose text stays in memory (stdin, texts being fixed, configuration).
    pub fn new(name: String, text: Arc<str>) -> SourceFile {
        SourceFile::with_text(name, &text, Text::Resident(text.clone()))
    }

    /// A file whose text was decoded from another encoding: analysed and shown, never fixed.
    pub fn decoded(name: String, text: Arc<str>, why_no_fix: &'static str) -> SourceFile {
        SourceFile {
            no_fix: Some(why_no_fix),
            ..SourceFile::new(name, text)
        }
    }

    /// A file read from `path` as `text`. Its text is let go and read again when needed,
    /// unless it is not ASCII: columns count characters, so those files keep their text.
    pub fn on_disk(name: String, path: std::path::PathBuf, text: Arc<str>) -> SourceFile {
        if !text.is_ascii() {
            return SourceFile::new(name, text);
        }
        let stored = Text::OnDisk {
            path: (path.as_os_str() != name.as_str()).then_some(path),
            fingerprint: fingerprint(&text),
            reread: std::sync::Mutex::new(None),
        };
        SourceFile::with_text(name, &text, stored)
    }

    fn with_text(name: String, text: &str, stored: Text) -> SourceFile {
        let (line_starts, longest_line) = LineStarts::new(text);
        let withheld = if mentions_secret(text) {
            Some("the file holds a Secret")
        } else if longest_line > 1000 {
            Some("the file has lines longer than 1000 bytes")
        } else {
            None
        };
        SourceFile {
            name,
            len: text.len() as u32,
            line_starts,
            withheld,
            holds_secret: std::sync::atomic::AtomicBool::new(false),
            json: text
                .trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with(['{', '[']),
            text: stored,
            no_fix: None,
        }
    }

    /// The text as analysed, or `None` when a file read from disk can no longer be read or
    /// has changed since. A file read from disk is read again once and kept until
    /// [`SourceFile::release_text`].
    pub fn text(&self) -> Option<Arc<str>> {
        match &self.text {
            Text::Resident(text) => Some(text.clone()),
            Text::OnDisk {
                path,
                fingerprint: expected,
                reread,
            } => {
                let mut kept = reread.lock().unwrap_or_else(|e| e.into_inner());
                if kept.is_none() {
                    let path = path.as_deref().unwrap_or(std::path::Path::new(&self.name));
                    // Only a regular file of the same length is worth reading.
                    let meta = std::fs::metadata(path).ok()?;
                    if !meta.is_file() || meta.len() != u64::from(self.len) {
                        return None;
                    }
                    let text = std::fs::read_to_string(path).ok()?;
                    if text.len() != self.len as usize || fingerprint(&text) != *expected {
                        return None;
                    }
                    *kept = Some(text.into());
                }
                kept.clone()
            }
        }
    }

    /// Lets go of a text read again from disk (the next [`SourceFile::text`] reads it again):
    /// the report lets go of each file once its findings are written, so that a large tree's
    /// texts are not all held at once.
    pub fn release_text(&self) {
        if let Text::OnDisk { reread, .. } = &self.text {
            *reread.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// The text as analysed, or why a fix cannot use it.
    pub fn text_for_fix(&self) -> Result<Arc<str>, String> {
        if let Some(why) = self.no_fix {
            return Err(format!("no fix: {why}"));
        }
        self.text().ok_or_else(|| {
            format!(
                "no fix: {} changed or became unreadable since it was analysed; run netpol-fix again",
                self.name
            )
        })
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the file is JSON (where a YAML document cannot be added).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Why no excerpt of this file may be shown: Secret values are never echoed, lines over
    /// 1,000 bytes (minified JSON, 100k-deep nesting) would drown a report, and a file that
    /// changed since it was analysed would show the wrong lines.
    pub fn excerpt_withheld(&self) -> Option<&'static str> {
        let secret = self.secret_read().then_some("the file holds a Secret");
        self.withheld.or(secret).or_else(|| {
            self.text()
                .is_none()
                .then_some("the file changed or became unreadable since it was analysed")
        })
    }

    /// Whether an object of kind Secret was read from this file.
    pub fn secret_read(&self) -> bool {
        self.holds_secret.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that an object of kind Secret was read from this file: no excerpt shows it.
    pub fn mark_secret_read(&self) {
        self.holds_secret
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// 0-based index of the line holding a byte offset (clamped to the text).
    pub fn line_index(&self, offset: u32) -> usize {
        let offset = offset.min(self.len);
        self.line_starts.line_of(offset).0
    }

    /// Bytes of a line (0-based, clamped to the text), with its line break.
    pub fn line_bytes(&self, line: usize) -> std::ops::Range<usize> {
        let at = |line: usize| self.line_starts.get(line).unwrap_or(self.len) as usize;
        at(line)..at(line.saturating_add(1))
    }

    /// Line and character column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = offset.min(self.len);
        let (line, start) = self.line_starts.line_of(offset);
        let column = match &self.text {
            // Files that are not ASCII always stay resident.
            Text::Resident(text) => text[start as usize..offset as usize].chars().count() as u32,
            Text::OnDisk { .. } => offset - start,
        };
        LineCol {
            line: line as u32 + 1,
            column: column + 1,
        }
    }
}

/// What proves a text read again is the one analysed. SipHash rather than a faster hash: it
/// runs once per file, and a different text should not be easy to make hash the same.
fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// All files of one run; a [`FileId`] indexes into it.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn reserve(&mut self, additional: usize) {
        self.files.reserve_exact(additional);
    }

    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// `name:line:col` of a location, as printed in every message.
    pub fn position(&self, loc: Location) -> String {
        let file = self.get(loc.file);
        format!("{}:{}", file.name, file.line_col(loc.span.start))
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

/// Whether the text may hold a Secret: the word `Secret` anywhere (as in `kind: Secret`, also
/// with tags, aliases, comments or a line break in between; not `accessKeySecret`).
/// Deliberately broad: a false positive only costs an excerpt.
pub fn mentions_secret(text: &str) -> bool {
    const WORD: &str = "Secret";
    memchr::memmem::find_iter(text.as_bytes(), WORD).any(|i| {
        let before = text[..i].chars().next_back();
        let after = text[i + WORD.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_the_same_in_small_and_big_files() {
        // 1,638 lines of 40 bytes and one of 15: 65,535 bytes, so the start after the final
        // line break is the largest offset two bytes hold. One byte more no longer fits.
        let lines = |n: usize| (0..n).map(|i| format!("{i:>38}:\n")).collect::<String>();
        let small = lines(1_638) + "abcdefghijklmn\n";
        let just_over = lines(1_638) + "abcdefghijklmno\n";
        assert_eq!(small.len(), usize::from(u16::MAX));
        for (text, is_big) in [(small, false), (just_over, true), (lines(5_000), true)] {
            let f = SourceFile::new("x".into(), text.as_str().into());
            assert_eq!(matches!(f.line_starts, LineStarts::Long(_)), is_big);
            let count = text.lines().count();
            let last_line = &text[text.len() - 1 - text.lines().last().unwrap().len()..];
            let last_start = (text.len() - last_line.len()) as u32;
            assert_eq!(f.line_col(45), LineCol { line: 2, column: 6 });
            assert_eq!(f.line_bytes(1), 40..80);
            assert_eq!(
                f.line_col(last_start + 3),
                LineCol {
                    line: count as u32,
                    column: 4
                }
            );
            assert_eq!(f.line_bytes(count - 1), last_start as usize..text.len());
            // The end of the text is on the empty line after the final line break.
            let end = LineCol {
                line: count as u32 + 1,
                column: 1,
            };
            assert_eq!(f.line_col(text.len() as u32), end);
        }
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let f = SourceFile::new("x".into(), "é: 1\nab: ü2\n".into());
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        // "1" on line 1 is byte 4 (é is two bytes), character column 4.
        assert_eq!(f.line_col(4), LineCol { line: 1, column: 4 });
        // "2" on line 2: bytes "ab: ü" = 6, so offset 6+6=12, column 6.
        assert_eq!(&f.text().unwrap()[12..13], "2");
        assert_eq!(f.line_col(12), LineCol { line: 2, column: 6 });
    }

    fn on_disk(dir: &tempfile::TempDir, text: &str) -> (std::path::PathBuf, SourceFile) {
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, text).unwrap();
        let file = SourceFile::on_disk("a.yaml".into(), path.clone(), text.into());
        (path, file)
    }

    #[test]
    fn a_file_read_from_disk_gives_its_text_and_positions_again() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = on_disk(&dir, "a: 1\nb: 2\n");
        // Named as the walk names files: by the path itself, which is then not kept twice.
        let named_by_path = SourceFile::on_disk(
            path.display().to_string(),
            path.clone(),
            "a: 1\nb: 2\n".into(),
        );
        assert!(matches!(
            named_by_path.text,
            Text::OnDisk { path: None, .. }
        ));
        for file in [file, named_by_path] {
            assert_eq!(file.line_col(8), LineCol { line: 2, column: 4 });
            assert_eq!(file.text().as_deref(), Some("a: 1\nb: 2\n"));
            assert_eq!(file.excerpt_withheld(), None);
        }
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_neither_shown_nor_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = on_disk(&dir, "a: 1\nb: 2\n");
        // Same length, other bytes: only the fingerprint tells.
        std::fs::write(&path, "a: 1\nb: 3\n").unwrap();
        assert_eq!(file.text(), None);
        assert!(file.excerpt_withheld().unwrap().contains("changed"));
        assert!(file.text_for_fix().unwrap_err().contains("changed"));
        // Positions still come from the text that was analysed.
        assert_eq!(file.line_col(8), LineCol { line: 2, column: 4 });
    }

    #[test]
    fn a_text_read_again_is_kept_until_released_then_read_and_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = on_disk(&dir, "a: 1\nb: 2\n");
        assert_eq!(file.text().as_deref(), Some("a: 1\nb: 2\n"));
        std::fs::write(&path, "a: 1\nb: 3\n").unwrap();
        assert_eq!(file.text().as_deref(), Some("a: 1\nb: 2\n"));
        file.release_text();
        assert_eq!(file.text(), None);
        std::fs::write(&path, "a: 1\nb: 2\n").unwrap();
        assert_eq!(file.text().as_deref(), Some("a: 1\nb: 2\n"));
    }

    #[test]
    fn a_file_that_is_not_ascii_keeps_its_text_for_character_columns() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = on_disk(&dir, "é: 1\nab: ü2\n");
        std::fs::remove_file(path).unwrap();
        assert_eq!(file.line_col(12), LineCol { line: 2, column: 6 });
        assert!(file.text().is_some());
    }

    #[test]
    fn what_may_not_be_shown_is_known_without_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let (_, secret) = on_disk(&dir, "kind: Secret\n");
        assert_eq!(secret.excerpt_withheld(), Some("the file holds a Secret"));
        let long = format!("a: {}\nb: 1", "x".repeat(1000));
        let (_, long) = on_disk(&dir, &long);
        assert!(
            long.excerpt_withheld()
                .unwrap()
                .contains("longer than 1000")
        );
        let (_, fine) = on_disk(&dir, &format!("a: {}\n", "x".repeat(990)));
        assert_eq!(fine.excerpt_withheld(), None);
        // 1,000 bytes before the line break may be shown; 1,001 in the last line (without a
        // break) may not.
        let (_, at_limit) = on_disk(&dir, &format!("b: 1\na: {}\n", "x".repeat(997)));
        assert_eq!(at_limit.excerpt_withheld(), None);
        let (_, long_last) = on_disk(&dir, &format!("b: 1\na: {}", "x".repeat(998)));
        assert!(long_last.excerpt_withheld().is_some());
        let (_, json) = on_disk(&dir, "\n  {\"kind\": \"Pod\"}");
        assert!(json.is_json() && !fine.is_json());
    }
}
