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

/// One loaded input: its name as the user should see it and its text.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given on the command line (or relative to a given directory), `-` for stdin.
    pub name: String,
    pub text: Arc<str>,
    /// Byte offsets where lines start, computed the first time a position is asked for (most
    /// files of a big tree never are).
    line_starts: std::sync::OnceLock<Vec<u32>>,
    /// See [`SourceFile::excerpt_withheld`].
    withheld: std::sync::OnceLock<Option<&'static str>>,
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
    pub fn new(name: String, text: Arc<str>) -> SourceFile {
        SourceFile {
            name,
            text,
            line_starts: std::sync::OnceLock::new(),
            withheld: std::sync::OnceLock::new(),
        }
    }

    /// Why no excerpt of this file may be shown (computed once): Secret values are never
    /// echoed, and lines over 1,000 bytes (minified JSON, 100k-deep nesting) would drown a
    /// report.
    pub fn excerpt_withheld(&self) -> Option<&'static str> {
        *self.withheld.get_or_init(|| {
            if mentions_secret(&self.text) {
                Some("the file holds a Secret")
            } else if self.text.split('\n').any(|line| line.len() > 1000) {
                Some("the file has lines longer than 1000 bytes")
            } else {
                None
            }
        })
    }

    /// Line and character column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let line_starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(
                    self.text
                        .bytes()
                        .enumerate()
                        .filter(|&(_, b)| b == b'\n')
                        .map(|(i, _)| i as u32 + 1),
                )
                .collect()
        });
        let offset = offset.min(self.text.len() as u32);
        let line = line_starts.partition_point(|&s| s <= offset) - 1;
        let start = line_starts[line] as usize;
        let column = self.text[start..offset as usize].chars().count();
        LineCol {
            line: line as u32 + 1,
            column: column as u32 + 1,
        }
    }
}

/// All files of one run; a [`FileId`] indexes into it.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
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
    text.match_indices("Secret").any(|(i, word)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let f = SourceFile::new("x".into(), "é: 1\nab: ü2\n".into());
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        // "1" on line 1 is byte 4 (é is two bytes), character column 4.
        assert_eq!(f.line_col(4), LineCol { line: 1, column: 4 });
        // "2" on line 2: bytes "ab: ü" = 6, so offset 6+6=12, column 6.
        assert_eq!(&f.text[12..13], "2");
        assert_eq!(f.line_col(12), LineCol { line: 2, column: 6 });
    }
}
