//! `check` output: human (excerpts), json, sarif 2.1.0 and GitHub workflow commands.

use std::io::{self, Write};

use rayon::prelude::*;
use serde_json::{Value, json};

use super::excerpt::Excerpt;
use crate::check::CheckRun;
use crate::diag::{Diagnostic, Severity};
use crate::fix::Summary;
use crate::lint::Finding;
use crate::lint::catalog::Rule;
use crate::source::{Location, Sources};

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

fn finding_excerpt<'a>(
    sources: &'a Sources,
    f: &Finding,
    fix: &Result<Summary, String>,
) -> Excerpt<'a> {
    let mut excerpt = Excerpt::new(sources, f.loc.file, f.message.clone(), f.severity);
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
        excerpt.label_anywhere(sources, r.loc, &r.label);
    }
    excerpt
}

fn diagnostic_excerpt<'a>(sources: &'a Sources, d: &Diagnostic) -> Excerpt<'a> {
    let mut excerpt = Excerpt::new(sources, d.loc.file, d.message.clone(), d.severity);
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
    let sources = &run.analysis.sources;
    // Each excerpt is followed by an empty line.
    for diagnostic in &run.analysis.diagnostics {
        writeln!(
            out,
            "{}",
            diagnostic_excerpt(sources, diagnostic).render(color)
        )?;
    }
    in_parallel_chunks(
        sources,
        run.findings.iter().zip(fixes),
        |(f, fix)| Ok(finding_excerpt(sources, f, fix).render(color)),
        |text| writeln!(out, "{text}"),
    )?;
    let count = |s: Severity| run.findings.iter().filter(|f| f.severity == s).count();
    let errors = run.analysis.errors().count();
    write!(
        out,
        "{} findings ({} errors, {} warnings, {} info) in {} workloads; {} input errors",
        run.findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        run.analysis.world.workloads.len(),
        errors
    )?;
    if run.hidden_errors > 0 {
        write!(
            out,
            " ({} more in other files of the tree, not shown: run without --tree to see them)",
            run.hidden_errors
        )?;
    }
    let skipped = run.analysis.skipped().count();
    if skipped + run.hidden_skipped > 0 {
        write!(
            out,
            "; {skipped} not analysed (files, documents or objects: see the notices)"
        )?;
    }
    if run.hidden_skipped > 0 {
        write!(
            out,
            " ({} more in other files of the tree)",
            run.hidden_skipped
        )?;
    }
    writeln!(out)
}

/// Renders findings with their fixes a chunk at a time, in parallel within a chunk, and
/// writes them in order. Fixes come in order (their names depend on earlier ones), so the
/// next chunk's are taken while the pool renders this one; taken from this thread (as
/// `fix::in_order` makes them, in parallel chunks of its own) rather than from a task of the
/// pool, which measured ~8 MB more peak memory at 10x. A chunk bounds what is held at once,
/// and so does letting go of a file's text once the last finding in it is written (findings
/// come in file order; a text needed again is read again).
fn in_parallel_chunks<'a, R: Send>(
    sources: &Sources,
    findings: impl Iterator<Item = (&'a Finding, Result<Summary, String>)>,
    render: impl Fn(&(&'a Finding, Result<Summary, String>)) -> io::Result<R> + Sync,
    mut write: impl FnMut(R) -> io::Result<()>,
) -> io::Result<()> {
    const CHUNK: usize = 256;
    let mut pending = findings;
    let mut chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
    let mut last_file = None;
    while !chunk.is_empty() {
        let mut rendered = Ok(Vec::new());
        let mut next = Vec::new();
        rayon::in_place_scope(|s| {
            s.spawn(|_| rendered = chunk.par_iter().map(&render).collect());
            next = pending.by_ref().take(CHUNK).collect();
        });
        for (item, (finding, _)) in rendered?.into_iter().zip(&chunk) {
            write(item)?;
            if let Some(previous) = last_file.filter(|&file| file != finding.loc.file) {
                sources.get(previous).release_text();
            }
            last_file = Some(finding.loc.file);
        }
        chunk = next;
    }
    Ok(())
}

// ---------- json ----------

/// `{"version", "findings", "errors"}`, one finding at a time (a big tree has tens of
/// thousands; they are never held as one JSON value).
fn write_json(out: &mut dyn Write, run: &CheckRun, fixes: &mut Fixes) -> io::Result<()> {
    let sources = &run.analysis.sources;
    writeln!(out, "{{\n\"version\": {JSON_VERSION},\n\"findings\": [")?;
    let mut first = true;
    in_parallel_chunks(
        sources,
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
    write_positioned(out, sources, run.analysis.errors(), "message")?;
    writeln!(out, "\n],\n\"skipped\": [")?;
    write_positioned(out, sources, run.analysis.skipped(), "reason")?;
    writeln!(out, "\n]\n}}")
}

/// The items of a JSON list of diagnostics: `{"file", "line", "column", <text>}`.
fn write_positioned<'a>(
    out: &mut dyn Write,
    sources: &Sources,
    diagnostics: impl Iterator<Item = &'a Diagnostic>,
    text: &str,
) -> io::Result<()> {
    for (i, d) in diagnostics.enumerate() {
        if i > 0 {
            writeln!(out, ",")?;
        }
        let (file, line, column) = position(sources, d.loc);
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"file": file, "line": line, "column": column, text: d.message}),
        )?;
    }
    Ok(())
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
    // What was not analysed: notifications of the run, so a clean result never hides it.
    let notifications: Vec<Value> = run
        .analysis
        .skipped()
        .map(|d| {
            json!({
                "level": "note",
                "message": {"text": d.message},
                "locations": [sarif_location(sources, d.loc, None)],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
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

/// A workflow command's data: `%`, CR and LF encoded as GitHub reads them, and any other
/// character a terminal would act on (the log is one) as `�`.
fn escape_data(s: &str) -> String {
    let encoded = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    super::escape::terminal(&encoded).into_owned()
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
        } else if d.skipped {
            entries.push(entry("not-analysed", "info", &d.message, d.loc, ""));
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
