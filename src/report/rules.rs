//! `rules`: the catalogue as a table, one rule in full, or JSON.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::lint::catalog::Rule;

fn rule_json(rule: &Rule) -> Value {
    json!({
        "id": rule.id,
        "summary": rule.summary,
        "severity": rule.severity.as_str(),
        "check": format!("{:?}", rule.check),
        "rationale": rule.rationale,
        "examples": {"triggers": rule.examples.triggers, "passes": rule.examples.passes},
    })
}

pub fn write_list(out: &mut dyn Write, rules: &[Rule], json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &rules.iter().map(rule_json).collect::<Vec<_>>())?;
        return writeln!(out);
    }
    let width = rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in rules {
        writeln!(
            out,
            "{:width$}  {:7}  {}",
            r.id,
            r.severity.as_str(),
            r.summary
        )?;
    }
    Ok(())
}

pub fn write_rule(out: &mut dyn Write, rule: &Rule, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &rule_json(rule))?;
        return writeln!(out);
    }
    writeln!(
        out,
        "{} ({})\n\n{}\n\n{}",
        rule.id,
        rule.severity.as_str(),
        rule.summary,
        rule.rationale.trim_end()
    )?;
    writeln!(
        out,
        "\nExample that triggers it:\n\n{}",
        rule.examples.triggers.trim_end()
    )?;
    writeln!(
        out,
        "\nExample that does not:\n\n{}",
        rule.examples.passes.trim_end()
    )
}
