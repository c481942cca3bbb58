//! `graph` output: json, dot, mermaid and txt, streamed connection by connection.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

use serde_json::json;

use super::{Skipped, escape, object_json};
use crate::connectivity::Engine;
use crate::connectivity::graph::{Connection, GraphEndpoint};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Json,
    Dot,
    Mermaid,
    Txt,
}

/// Writes every allowed connection, then what of the input was not analysed (in JSON a
/// `skipped` list, in the other formats a comment line each); returns how many connections
/// were written.
pub fn write_graph(
    out: &mut dyn Write,
    engine: &Engine,
    format: GraphFormat,
    skipped: &[Skipped],
) -> io::Result<u64> {
    let world = engine.world;
    let order = engine.sorted_workloads();
    // Names come from the input: escaped for the sink once per workload (the text formats go
    // to terminals), not once per connection.
    let sink: fn(&str) -> String = match format {
        GraphFormat::Json => str::to_string,
        GraphFormat::Dot => escape::dot,
        GraphFormat::Mermaid => escape::mermaid,
        GraphFormat::Txt => |s| escape::terminal(s).into_owned(),
    };
    let names: Vec<String> = match format {
        GraphFormat::Json => Vec::new(),
        _ => world
            .workloads
            .iter()
            .map(|w| sink(&w.meta.id.to_string()))
            .collect(),
    };
    let name = |ep: &GraphEndpoint| match ep {
        GraphEndpoint::Workload(w) => Cow::Borrowed(names[*w].as_str()),
        GraphEndpoint::External(a, b) => Cow::Owned(sink(&external_range(*a, *b))),
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
                writeln!(out, "  {};", names[w])?;
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
                name(&c.src),
                name(&c.dst),
                escape::dot(&ports)
            ),
            GraphFormat::Mermaid => writeln!(
                out,
                "  {}[\"{}\"] -->|\"{}\"| {}[\"{}\"]",
                mermaid_id(&c.src),
                name(&c.src),
                ports,
                mermaid_id(&c.dst),
                name(&c.dst)
            ),
            GraphFormat::Txt => writeln!(out, "{} -> {}: {}", name(&c.src), name(&c.dst), ports),
        };
        count += 1;
    });
    result?;
    let comments = |out: &mut dyn Write, marker: &str| -> io::Result<()> {
        skipped
            .iter()
            .try_for_each(|s| writeln!(out, "{}", s.comment(marker)))
    };
    match format {
        GraphFormat::Json => {
            let skipped: Vec<_> = skipped.iter().map(Skipped::json).collect();
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
