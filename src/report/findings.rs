//! `check` output: human (miette excerpts), json, sarif 2.1.0 and GitHub workflow commands.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use miette::{
    Diagnostic as MietteDiagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan,
    MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::check::CheckRun;
use crate::diag::{Diagnostic, Severity};
use crate::fix::Summary;
use crate::lint::Finding;
use crate::lint::catalog::Rule;
use crate::source::{FileId, Location, SourceFile, Sources};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
    /// GitLab Code Quality (a Code Climate subset) for merge request widgets.
    Codequality,
}

/// JSON schema version of `--format json`.
pub const JSON_VERSION: u32 = 1;

/// The fix of each finding, in the order of `CheckRun::findings`.
pub type Fixes<'a> = dyn Iterator<Item = Result<Summary, String>> + 'a;

pub fn write(
    out: &mut dyn Write,
    run: &CheckRun,
    fixes: &mut Fixes,
    format: Format,
    color: bool,
) -> io::Result<()> {
    match format {
        Format::Human => write_human(out, run, fixes, color),
        Format::Json => write_json(out, run, fixes),
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &to_sarif(run))?;
            writeln!(out)
        }
        Format::Github => write_github(out, run),
        Format::Codequality => {
            serde_json::to_writer_pretty(&mut *out, &to_codequality(run))?;
            writeln!(out)
        }
    }
}

fn position(sources: &Sources, loc: Location) -> (String, u32, u32) {
    let file = sources.get(loc.file);
    let lc = file.line_col(loc.span.start);
    (file.name.clone(), lc.line, lc.column)
}

// ---------- human ----------

/// One excerpt: a file, labels on it, and more excerpts related to it. When the file may not be
/// shown, the labels are positions written into the message instead.
struct Excerpt<'a> {
    message: String,
    severity: miette::Severity,
    code: Option<String>,
    help: Option<String>,
    file: FileId,
    /// The file's text, or why it is withheld.
    source: Result<Shown<'a>, &'static str>,
    labels: Vec<LabeledSpan>,
    related: Vec<Excerpt<'a>>,
}

impl<'a> Excerpt<'a> {
    fn new(
        sources: &'a Sources,
        loc: Location,
        message: String,
        severity: miette::Severity,
    ) -> Self {
        Excerpt {
            message,
            severity,
            code: None,
            help: None,
            file: loc.file,
            source: shown_source(sources, loc.file),
            labels: Vec::new(),
            related: Vec::new(),
        }
    }

    /// Labels `loc` (in this excerpt's file) with `text`.
    fn label(&mut self, sources: &Sources, loc: Location, text: &str) {
        match &self.source {
            Ok(source) => self.labels.push(label(&source.text, loc, text)),
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
}

fn shown_source(sources: &Sources, file: FileId) -> Result<Shown<'_>, &'static str> {
    let file = sources.get(file);
    match (file.excerpt_withheld(), file.text()) {
        (None, Some(text)) => Ok(Shown {
            file,
            text: text.clone(),
        }),
        (why, _) => Err(why.unwrap_or("the file cannot be read again")),
    }
}

/// A shown file as miette reads it. A span's context lines come from the file's line index;
/// miette's own reader of a `str` scans the text from its start for every label, and counts
/// the lines before a span into the snippet's line count, which merges every later label of a
/// file into one excerpt of all the lines between them.
#[derive(Debug)]
struct Shown<'a> {
    file: &'a SourceFile,
    text: Arc<str>,
}

impl SourceCode for Shown<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        lines_before: usize,
        lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.file.line_index(start as u32);
        let last = self
            .file
            .line_index(end.saturating_sub(1).max(start) as u32);
        let top = first.saturating_sub(lines_before);
        let bottom = (last + lines_after).min(self.file.line_count() - 1);
        let lines = self.file.line_bytes(top, bottom);
        // Without lines before, the contents start at the span, as miette's readers do.
        let (from, column) = if lines_before == 0 {
            (start, self.file.line_col(start as u32).column as usize - 1)
        } else {
            (lines.start, 0)
        };
        let data = &self.text.as_bytes()[from..lines.end];
        Ok(Box::new(MietteSpanContents::new_named(
            self.file.name.clone(),
            data,
            (from, data.len()).into(),
            top,
            column,
            bottom - top + 1,
        )))
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Excerpt<'_> {}

impl MietteDiagnostic for Excerpt<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().ok().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn MietteDiagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn MietteDiagnostic),
        ))
    }
}

fn miette_severity(s: Severity) -> miette::Severity {
    match s {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Info => miette::Severity::Advice,
    }
}

/// A label on the first line of a location (objects span whole documents).
fn label(file: &str, loc: Location, text: &str) -> LabeledSpan {
    let start = (loc.span.start as usize).min(file.len());
    let line_end = file[start..]
        .find(['\n', '\r'])
        .map_or(file.len(), |i| start + i);
    let end = (loc.span.end as usize).clamp(start, line_end);
    LabeledSpan::new(
        Some(text.to_string()),
        start,
        end.max(start + usize::from(end == start && start < line_end)) - start,
    )
}

fn finding_excerpt<'a>(
    sources: &'a Sources,
    f: &Finding,
    fix: &Result<Summary, String>,
) -> Excerpt<'a> {
    let mut excerpt = Excerpt::new(
        sources,
        f.loc,
        f.message.clone(),
        miette_severity(f.severity),
    );
    excerpt.code = Some(f.rule.clone());
    excerpt.help = Some(match fix {
        Ok(fix) => format!(
            "{}\nfix ({}): {}",
            f.help,
            fix.applicability.as_str(),
            fix.title
        ),
        Err(why) => format!("{}\n{why}", f.help),
    });
    excerpt.label(sources, f.loc, &f.label);
    for r in &f.related {
        if r.loc.file == f.loc.file {
            excerpt.label(sources, r.loc, &r.label);
            continue;
        }
        // One excerpt per other file, with all its labels.
        let index = match excerpt.related.iter().position(|e| e.file == r.loc.file) {
            Some(i) => i,
            None => {
                let name = &sources.get(r.loc.file).name;
                excerpt.related.push(Excerpt::new(
                    sources,
                    r.loc,
                    format!("see {name}"),
                    miette::Severity::Advice,
                ));
                excerpt.related.len() - 1
            }
        };
        excerpt.related[index].label(sources, r.loc, &r.label);
    }
    excerpt
}

fn diagnostic_excerpt<'a>(sources: &'a Sources, d: &Diagnostic) -> Excerpt<'a> {
    let mut excerpt = Excerpt::new(
        sources,
        d.loc,
        d.message.clone(),
        miette_severity(d.severity),
    );
    excerpt.help = d.help.clone();
    excerpt.label(sources, d.loc, "here");
    excerpt
}

fn write_human(
    out: &mut dyn Write,
    run: &CheckRun,
    fixes: &mut Fixes,
    color: bool,
) -> io::Result<()> {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let sources = &run.analysis.sources;
    let render = |excerpt: &Excerpt| {
        let mut text = String::new();
        handler
            .render_report(&mut text, excerpt)
            .map_err(io::Error::other)?;
        text.push('\n');
        Ok(text)
    };
    for diagnostic in &run.analysis.diagnostics {
        out.write_all(render(&diagnostic_excerpt(sources, diagnostic))?.as_bytes())?;
    }
    let findings = run.findings.iter().zip(fixes);
    in_parallel_chunks(
        findings,
        |(f, fix)| render(&finding_excerpt(sources, f, fix)),
        |text| out.write_all(text.as_bytes()),
    )?;
    let count = |s: Severity| run.findings.iter().filter(|f| f.severity == s).count();
    let errors = run.analysis.errors().count();
    writeln!(
        out,
        "{} findings ({} errors, {} warnings, {} info) in {} workloads; {} input errors",
        run.findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        run.analysis.world.workloads.len(),
        errors
    )
}

/// Renders findings with their fixes a chunk at a time, in parallel within a chunk, and
/// writes them in order. Fixes come in order (their names depend on earlier ones), and a chunk
/// bounds what is held at once.
fn in_parallel_chunks<'a, R: Send>(
    findings: impl Iterator<Item = (&'a Finding, Result<Summary, String>)>,
    render: impl Fn(&(&'a Finding, Result<Summary, String>)) -> io::Result<R> + Sync,
    mut write: impl FnMut(R) -> io::Result<()>,
) -> io::Result<()> {
    const CHUNK: usize = 1024;
    let mut pending = findings;
    loop {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let rendered = chunk
            .par_iter()
            .map(&render)
            .collect::<io::Result<Vec<_>>>()?;
        rendered.into_iter().try_for_each(&mut write)?;
    }
}

// ---------- json ----------

/// `{"version", "findings", "errors"}`, one finding at a time (a big tree has tens of
/// thousands; they are never held as one JSON value).
fn write_json(out: &mut dyn Write, run: &CheckRun, fixes: &mut Fixes) -> io::Result<()> {
    let sources = &run.analysis.sources;
    writeln!(out, "{{\n\"version\": {JSON_VERSION},\n\"findings\": [")?;
    let mut first = true;
    in_parallel_chunks(
        run.findings.iter().zip(fixes),
        |(f, fix)| Ok(serde_json::to_vec_pretty(&finding_json(sources, f, fix))?),
        |json| {
            if !first {
                writeln!(out, ",")?;
            }
            first = false;
            out.write_all(&json)
        },
    )?;
    writeln!(out, "\n],\n\"errors\": [")?;
    let errors = run.analysis.errors();
    for (i, d) in errors.enumerate() {
        if i > 0 {
            writeln!(out, ",")?;
        }
        let (file, line, column) = position(sources, d.loc);
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"file": file, "line": line, "column": column, "message": d.message}),
        )?;
    }
    writeln!(out, "\n]\n}}")
}

/// One finding of `--format json`; fields in alphabetical order (the order of schema v1).
#[derive(serde::Serialize)]
struct FindingJson<'a> {
    column: u32,
    file: String,
    fix: Option<FixJson<'a>>,
    help: &'a str,
    kind: &'a str,
    line: u32,
    message: &'a str,
    name: &'a str,
    namespace: &'a str,
    related: Vec<RelatedJson<'a>>,
    rule: &'a str,
    severity: &'static str,
    side: Option<&'static str>,
}

#[derive(serde::Serialize)]
struct FixJson<'a> {
    applicability: &'static str,
    description: &'a str,
}

#[derive(serde::Serialize)]
struct RelatedJson<'a> {
    column: u32,
    file: String,
    label: &'a str,
    line: u32,
}

fn finding_json<'a>(
    sources: &Sources,
    f: &'a Finding,
    fix: &'a Result<Summary, String>,
) -> FindingJson<'a> {
    let (file, line, column) = position(sources, f.loc);
    let related = f
        .related
        .iter()
        .map(|r| {
            let (file, line, column) = position(sources, r.loc);
            RelatedJson {
                column,
                file,
                label: &r.label,
                line,
            }
        })
        .collect();
    FindingJson {
        column,
        file,
        fix: fix.as_ref().ok().map(|fix| FixJson {
            applicability: fix.applicability.as_str(),
            description: &fix.title,
        }),
        help: &f.help,
        kind: &f.object.kind,
        line,
        message: &f.message,
        name: &f.object.name,
        namespace: &f.object.namespace,
        related,
        rule: &f.rule,
        severity: f.severity.as_str(),
        side: f.side.map(|s| s.as_str()),
    }
}

// ---------- sarif ----------

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn sarif_location(sources: &Sources, loc: Location, message: Option<&str>) -> Value {
    let (file, line, column) = position(sources, loc);
    let mut v = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": repository_path(&file)},
            "region": {"startLine": line, "startColumn": column},
        }
    });
    if let Some(m) = message {
        v["message"] = json!({"text": m});
    }
    v
}

/// A file as code-scanning tools expect it: forward slashes, no leading `./`.
fn repository_path(file: &str) -> String {
    file.replace('\\', "/").trim_start_matches("./").to_string()
}

fn sarif_rule(rule: &Rule) -> Value {
    json!({
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": rule.rationale, "markdown": rule.rationale},
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
    })
}

pub fn to_sarif(run: &CheckRun) -> Value {
    let sources = &run.analysis.sources;
    let rules: Vec<Value> = run.catalog.iter().map(sarif_rule).collect();
    let mut results: Vec<Value> = run
        .findings
        .iter()
        .map(|f| {
            let related: Vec<Value> = f
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut v = sarif_location(sources, r.loc, Some(&r.label));
                    v["id"] = json!(i);
                    v
                })
                .collect();
            json!({
                "ruleId": f.rule,
                "ruleIndex": run.catalog.iter().position(|r| r.id == f.rule),
                "level": sarif_level(f.severity),
                "message": {"text": format!("{} — {}", f.message, f.help)},
                "locations": [sarif_location(sources, f.loc, None)],
                "relatedLocations": related,
            })
        })
        .collect();
    results.extend(run.analysis.errors().map(|d| {
        json!({
            "ruleId": "input-error",
            "level": "error",
            "message": {"text": d.message},
            "locations": [sarif_location(sources, d.loc, None)],
        })
    }));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "netpol-fix",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://crates.io/crates/netpol-fix",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

// ---------- github ----------

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn write_github(out: &mut dyn Write, run: &CheckRun) -> io::Result<()> {
    let sources = &run.analysis.sources;
    let command = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    for d in &run.analysis.diagnostics {
        let (file, line, col) = position(sources, d.loc);
        writeln!(
            out,
            "::{} file={},line={line},col={col}::{}",
            command(d.severity),
            escape_property(&file),
            escape_data(&d.message)
        )?;
    }
    for f in &run.findings {
        let (file, line, col) = position(sources, f.loc);
        writeln!(
            out,
            "::{} file={},line={line},col={col},title={}::{}",
            command(f.severity),
            escape_property(&file),
            escape_property(&f.rule),
            escape_data(&format!("{}\n{}", f.message, f.help))
        )?;
    }
    Ok(())
}

// ---------- GitLab code quality ----------

/// `[{description, check_name, fingerprint, severity, location: {path, lines: {begin}}}]`;
/// input errors are `input-error` blockers.
fn to_codequality(run: &CheckRun) -> Value {
    let sources = &run.analysis.sources;
    // Identity: check, file, object/side and message; a repeat gets its occurrence number.
    let mut seen: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let mut entry =
        |check: &str, severity: &str, description: &str, loc: Location, identity: &str| {
            let (file, line, _) = position(sources, loc);
            let path = repository_path(&file);
            let base = fnv1a(&format!("{check}\0{path}\0{identity}\0{description}"));
            let occurrence = seen.entry(base).or_default();
            *occurrence += 1;
            json!({
                "description": description,
                "check_name": check,
                "fingerprint": format!("{:016x}", fnv1a(&format!("{base:x}\0{occurrence}"))),
                "severity": severity,
                "location": {"path": path, "lines": {"begin": line}},
            })
        };
    let mut entries = Vec::new();
    for d in &run.analysis.diagnostics {
        if d.severity == Severity::Error {
            entries.push(entry("input-error", "blocker", &d.message, d.loc, ""));
        }
    }
    for f in &run.findings {
        let severity = match f.severity {
            Severity::Error => "critical",
            Severity::Warning => "major",
            Severity::Info => "info",
        };
        let identity = format!("{}\0{}", f.object, f.side.map_or("", |s| s.as_str()));
        entries.push(entry(&f.rule, severity, &f.message, f.loc, &identity));
    }
    Value::Array(entries)
}

/// FNV-1a, 64 bits: a fingerprint that stays the same across runs and versions.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    /// A file of `lines` lines `line N`, with a label on each of `labelled` (1-based) lines,
    /// rendered as one excerpt.
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
        let mut excerpt = Excerpt::new(
            &sources,
            at_line(labelled[0]),
            "m".into(),
            miette::Severity::Error,
        );
        for &n in labelled {
            excerpt.label(&sources, at_line(n), &format!("label {n}"));
        }
        let mut out = String::new();
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &excerpt)
            .unwrap();
        out
    }

    fn numbered(lines: usize) -> String {
        (1..=lines).map(|n| format!("line {n}\n")).collect()
    }

    #[test]
    fn distant_labels_of_one_file_are_separate_excerpts_of_their_own_lines() {
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
        // miette's own reader merged every label after the first few into one excerpt of all
        // the lines between them.
        for hidden in [
            "line 3\n",
            "line 7\n",
            "line 50\n",
            "line 198\n",
            "line 202\n",
        ] {
            assert!(!out.contains(hidden), "{hidden:?} shown in\n{out}");
        }
        assert!(out.contains("[f.yaml:200:1]"), "{out}");
        assert_eq!(out.matches("╭─[").count(), 4, "{out}");
    }

    #[test]
    fn labels_whose_context_lines_touch_share_one_excerpt() {
        // Lines 4-6 and 7-9: no line between them is left out, so no need for two excerpts.
        let out = rendered(&numbered(20), &[5, 8]);
        assert_eq!(out.matches("╭─[").count(), 1, "{out}");
        assert!(
            out.contains("line 9\n") && !out.contains("line 10\n"),
            "{out}"
        );
    }

    #[test]
    fn a_span_past_the_text_reads_as_out_of_bounds() {
        let mut sources = Sources::default();
        let id = sources.add(SourceFile::new("f".into(), "ab\ncd".into()));
        let shown = shown_source(&sources, id).unwrap();
        assert!(shown.read_span(&(4, 2).into(), 1, 1).is_err());
        let last = shown.read_span(&(3, 2).into(), 1, 1).unwrap();
        assert_eq!((last.line(), last.line_count()), (0, 2));
        assert_eq!(last.data(), b"ab\ncd");
        let exact = shown.read_span(&(4, 1).into(), 0, 0).unwrap();
        assert_eq!(
            (exact.line(), exact.column(), exact.data()),
            (1, 1, &b"d"[..])
        );
    }

    #[test]
    fn columns_of_a_span_count_characters() {
        let mut sources = Sources::default();
        let id = sources.add(SourceFile::new("f".into(), "é: ü1\n".into()));
        let shown = shown_source(&sources, id).unwrap();
        // `1` is byte 6 and character 4 of its line (both 0-based).
        let at = shown.read_span(&(6, 1).into(), 0, 0).unwrap();
        assert_eq!((at.line(), at.column()), (0, 4));
    }
}
