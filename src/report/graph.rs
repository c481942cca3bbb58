//! `graph` output: json, dot, mermaid and txt, streamed connection by connection.

use super::escape;
use std::io::{self, Write};
use std::net::IpAddr;

use serde_json::json;

use super::object_json;
use crate::connectivity::Engine;
use crate::connectivity::graph::{Connection, GraphEndpoint};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Json,
    Dot,
    Mermaid,
    Txt,
}

/// Writes every allowed connection; returns how many were written.
/// Input that was not analysed, for the listing to say so: `(file, line, column, reason)`.
pub type Skipped = (String, u32, u32, String);

/// Writes every allowed connection, then what of the input was not analysed (in JSON a
/// `skipped` list, in the other formats a comment line each).
pub fn write_graph(
    out: &mut dyn Write,
    engine: &Engine,
    format: GraphFormat,
    skipped: &[Skipped],
) -> io::Result<u64> {
    let world = engine.world;
    let order = engine.sorted_workloads();
    // Names are escaped for the sink (the text formats go to terminals).
    let name = |ep: &GraphEndpoint| match ep {
        GraphEndpoint::Workload(w) => {
            escape::terminal(&world.workloads[*w].meta.id.to_string()).into_owned()
        }
        GraphEndpoint::External(a, b) => external_range(*a, *b),
    };
    match format {
        GraphFormat::Json => {
            out.write_all(b"{\"workloads\":[")?;
            for (i, &w) in order.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, &object_json(&world.workloads[w].meta.id))?;
            }
            out.write_all(b"],\"connections\":[")?;
        }
        GraphFormat::Dot => {
            writeln!(
                out,
                "digraph connectivity {{\n  rankdir=LR;\n  node [shape=box];"
            )?;
            for &w in &order {
                writeln!(
                    out,
                    "  {};",
                    escape::dot(&world.workloads[w].meta.id.to_string())
                )?;
            }
        }
        GraphFormat::Mermaid => {
            writeln!(out, "flowchart LR")?;
        }
        GraphFormat::Txt => {}
    }
    let mut count = 0u64;
    let mut result = Ok(());
    engine.for_each_connection(|c: Connection| {
        if result.is_err() {
            return;
        }
        let ports = c.ports.to_string();
        result = match format {
            GraphFormat::Json => {
                let endpoint = |ep: &GraphEndpoint| match ep {
                    GraphEndpoint::Workload(w) => object_json(&world.workloads[*w].meta.id),
                    GraphEndpoint::External(a, b) => json!({"external": external_range(*a, *b)}),
                };
                let ranges: Vec<_> = c
                    .ports
                    .ranges()
                    .map(|(p, s, e)| json!({"protocol": p.as_str(), "start": s, "end": e}))
                    .collect();
                let value = json!({
                    "src": endpoint(&c.src),
                    "dst": endpoint(&c.dst),
                    "all": c.ports.is_all(),
                    "ports": ranges,
                });
                let sep: &[u8] = if count > 0 { b"," } else { b"" };
                out.write_all(sep)
                    .and_then(|_| serde_json::to_writer(&mut *out, &value).map_err(io::Error::from))
            }
            GraphFormat::Dot => writeln!(
                out,
                "  {} -> {} [label={}];",
                escape::dot(&name(&c.src)),
                escape::dot(&name(&c.dst)),
                escape::dot(&ports)
            ),
            GraphFormat::Mermaid => writeln!(
                out,
                "  {}[\"{}\"] -->|\"{}\"| {}[\"{}\"]",
                mermaid_id(&c.src),
                escape::mermaid(&name(&c.src)),
                ports,
                mermaid_id(&c.dst),
                escape::mermaid(&name(&c.dst))
            ),
            GraphFormat::Txt => writeln!(out, "{} -> {}: {}", name(&c.src), name(&c.dst), ports),
        };
        count += 1;
    });
    result?;
    // A comment never spans lines, and shows nothing a terminal would act on.
    let one_line = |s: &str| escape::terminal(s).into_owned();
    let comments = |out: &mut dyn Write, marker: &str| -> io::Result<()> {
        for (file, line, column, reason) in skipped {
            writeln!(
                out,
                "{marker} not analysed: {}:{line}:{column}: {}",
                one_line(file),
                one_line(reason)
            )?;
        }
        Ok(())
    };
    match format {
        GraphFormat::Json => {
            let skipped: Vec<_> = skipped
                .iter()
                .map(|(file, line, column, reason)| {
                    json!({"file": file, "line": line, "column": column, "reason": reason})
                })
                .collect();
            out.write_all(b"],\"skipped\":")?;
            serde_json::to_writer(&mut *out, &skipped)?;
            out.write_all(b"}\n")?
        }
        GraphFormat::Dot => {
            comments(out, "  //")?;
            writeln!(out, "}}")?
        }
        GraphFormat::Mermaid => comments(out, "%%")?,
        GraphFormat::Txt => comments(out, "#")?,
    }
    Ok(count)
}

/// `A.B.C.D-E.F.G.H` (inclusive).
pub fn external_range(first: IpAddr, last: IpAddr) -> String {
    format!("{first}-{last}")
}

/// Mermaid node ids allow only a safe character set: workloads by index, ranges spelled out.
fn mermaid_id(ep: &GraphEndpoint) -> String {
    match ep {
        GraphEndpoint::Workload(w) => format!("w{w}"),
        GraphEndpoint::External(a, b) => format!("x{}", mermaid_safe(&external_range(*a, *b))),
    }
}

/// `s` with every character Mermaid does not allow in an id as `_`.
pub fn mermaid_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
