//! `explain` output: the verdict for one flow, side by side, with the deciding policies.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{location_json, object_json};
use crate::connectivity::{Endpoint, Engine, SideVerdict, Verdict};
use crate::model::{Direction, DirectionRules};
use crate::net::Protocol;
use crate::source::Sources;

/// The flow being explained.
pub struct Flow {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
    pub port: u16,
}

pub fn endpoint_name(engine: &Engine, ep: Endpoint) -> String {
    match ep {
        Endpoint::Workload(w) => engine.world.workloads[w].meta.id.to_string(),
        Endpoint::Probe(p) => engine.probes[p].describe(),
        Endpoint::External(ip) => format!("{ip} (external)"),
    }
}

pub fn write_human(
    out: &mut dyn Write,
    engine: &Engine,
    sources: &Sources,
    flow: &Flow,
    v: &Verdict,
) -> io::Result<()> {
    writeln!(
        out,
        "{} -> {} on {}/{}: {}",
        endpoint_name(engine, flow.src),
        endpoint_name(engine, flow.dst),
        flow.port,
        flow.protocol,
        if v.allowed() { "ALLOWED" } else { "DENIED" }
    )?;
    let sides = [
        (Direction::Egress, flow.src, flow.dst, &v.egress),
        (Direction::Ingress, flow.dst, flow.src, &v.ingress),
    ];
    for (direction, own, peer, side) in sides {
        let label = format!("  {} of {}", direction.as_str(), endpoint_name(engine, own));
        let Some(side) = side else {
            writeln!(out, "{label}: external address, no policy applies")?;
            continue;
        };
        if side.isolated_by.is_empty() {
            writeln!(
                out,
                "{label}: allowed (not isolated: no policy selects it for {})",
                direction.as_str()
            )?;
            continue;
        }
        let isolating: Vec<String> = side
            .isolated_by
            .iter()
            .map(|&p| policy_name(engine, sources, p))
            .collect();
        writeln!(out, "{label}: isolated by {}", isolating.join(", "))?;
        if side.allowed_by.is_empty() {
            let towards = if direction == Direction::Egress {
                "to"
            } else {
                "from"
            };
            writeln!(
                out,
                "    denied: no {} rule of these policies allows {}/{} {towards} {}",
                direction.as_str(),
                flow.port,
                flow.protocol,
                endpoint_name(engine, peer)
            )?;
        }
        for r in &side.allowed_by {
            let rule = rule_location(engine, direction, r.policy, r.rule);
            writeln!(
                out,
                "    allowed by {} rule #{} of {} ({})",
                direction.as_str(),
                r.rule + 1,
                engine.world.policies[r.policy].meta.id.name,
                rule.map_or_else(String::new, |loc| sources.position(loc))
            )?;
        }
    }
    Ok(())
}

pub fn to_json(engine: &Engine, sources: &Sources, flow: &Flow, v: &Verdict) -> Value {
    let endpoint = |ep: Endpoint| match ep {
        Endpoint::Workload(w) => object_json(&engine.world.workloads[w].meta.id),
        Endpoint::Probe(p) => json!({"probe": engine.probes[p].describe()}),
        Endpoint::External(ip) => json!({"external": ip.to_string()}),
    };
    let side = |direction: Direction, s: &Option<SideVerdict>| match s {
        None => json!({"applies": false, "isolated": false, "allowed": true}),
        Some(s) => json!({
            "applies": true,
            "isolated": !s.isolated_by.is_empty(),
            "allowed": s.allowed(),
            "isolated_by": s.isolated_by.iter().map(|&p| policy_json(engine, sources, p)).collect::<Vec<_>>(),
            "allowed_by": s.allowed_by.iter().map(|r| {
                let mut v = policy_json(engine, sources, r.policy);
                v["rule"] = json!(r.rule);
                if let Some(loc) = rule_location(engine, direction, r.policy, r.rule) {
                    v["rule_location"] = location_json(sources, loc);
                }
                v
            }).collect::<Vec<_>>(),
        }),
    };
    json!({
        "allowed": v.allowed(),
        "from": endpoint(flow.src),
        "to": endpoint(flow.dst),
        "protocol": flow.protocol.as_str(),
        "port": flow.port,
        "egress": side(Direction::Egress, &v.egress),
        "ingress": side(Direction::Ingress, &v.ingress),
    })
}

fn policy_name(engine: &Engine, sources: &Sources, policy: usize) -> String {
    let p = &engine.world.policies[policy];
    format!(
        "{}/{} ({})",
        p.meta.id.namespace,
        p.meta.id.name,
        sources.position(p.meta.loc)
    )
}

fn policy_json(engine: &Engine, sources: &Sources, policy: usize) -> Value {
    let p = &engine.world.policies[policy];
    let mut v = json!({"namespace": p.meta.id.namespace, "name": p.meta.id.name});
    if let (Value::Object(map), Value::Object(loc)) = (&mut v, location_json(sources, p.meta.loc)) {
        map.extend(loc);
    }
    v
}

fn rule_location(
    engine: &Engine,
    direction: Direction,
    policy: usize,
    rule: usize,
) -> Option<crate::source::Location> {
    match engine.world.policies[policy].rules(direction) {
        DirectionRules::Isolates(rules) => rules.get(rule).map(|r| r.loc),
        DirectionRules::NotAffected => None,
    }
}
