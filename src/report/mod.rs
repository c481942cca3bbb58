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
