//! Rendering: diagnostics, `explain` verdicts and `graph` listings, written to any `io::Write`.

pub mod escape;
mod excerpt;
pub mod explain;
pub mod findings;
pub mod graph;
pub mod readiness;
pub mod rules;

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::diag::Diagnostic;
use crate::model::ObjectId;
use crate::source::{Location, Sources};

/// `error: message` / `  --> file:line:col` / `  = help: …`, one block per diagnostic.
pub fn write_diagnostics(
    out: &mut dyn Write,
    sources: &Sources,
    diags: &[Diagnostic],
) -> io::Result<()> {
    // What the input wrote reaches a terminal: nothing it would act on.
    for d in diags {
        let message = escape::terminal_lines(&d.message);
        writeln!(out, "{}: {message}", d.severity.as_str())?;
        writeln!(out, "  --> {}", escape::terminal(&sources.position(d.loc)))?;
        if let Some(help) = &d.help {
            writeln!(out, "  = help: {}", escape::terminal_lines(help))?;
        }
    }
    Ok(())
}

/// Input that was not analysed, as the listings that carry it say so (`graph`, `--diff`).
pub struct Skipped {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub reason: String,
}

impl Skipped {
    /// The notices of input not analysed in `analysis`, in order.
    pub fn all(analysis: &crate::analysis::Analysis) -> Vec<Skipped> {
        analysis
            .skipped()
            .map(|d| {
                let file = analysis.sources.get(d.loc.file);
                let at = file.line_col(d.loc.span.start);
                Skipped {
                    file: file.name.clone(),
                    line: at.line,
                    column: at.column,
                    reason: d.message.clone(),
                }
            })
            .collect()
    }

    /// `{marker} not analysed: FILE:LINE:COLUMN: REASON` on one line, with nothing a terminal
    /// would act on (a comment of a text listing, a line patch tools pass over).
    pub fn comment(&self, marker: &str) -> String {
        let line = format!(
            "{marker} not analysed: {}:{}:{}: {}",
            self.file, self.line, self.column, self.reason
        );
        escape::terminal(&line).into_owned()
    }

    pub fn json(&self) -> Value {
        json!({"file": self.file, "line": self.line, "column": self.column, "reason": self.reason})
    }
}

/// `{"namespace", "kind", "name"}`.
pub fn object_json(id: &ObjectId) -> Value {
    json!({"namespace": id.namespace, "kind": id.kind, "name": id.name})
}

/// `{"file", "line", "column"}` of a location.
pub fn location_json(sources: &Sources, loc: Location) -> Value {
    let file = sources.get(loc.file);
    let lc = file.line_col(loc.span.start);
    json!({"file": file.name, "line": lc.line, "column": lc.column})
}
