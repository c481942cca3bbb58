//! `explain` output: the verdict for one flow, side by side, with the deciding policies.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{location_json, object_json};
use crate::connectivity::calico::{CalicoDecision, Decider, PolicyRef};
use crate::connectivity::{Endpoint, Enforcement, Engine, SideVerdict, Verdict};
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
    if engine.enforcement == Enforcement::None {
        return writeln!(
            out,
            "  nothing enforces NetworkPolicy (--enforcement none, as under Flannel): every flow is allowed"
        );
    }
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
        if let Some(decision) = &side.calico {
            write_calico(out, engine, sources, direction, &label, decision)?;
            continue;
        }
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

/// A side Calico decides: the policies that apply, in evaluation order, and the deciding rule.
fn write_calico(
    out: &mut dyn Write,
    engine: &Engine,
    sources: &Sources,
    direction: Direction,
    label: &str,
    decision: &CalicoDecision,
) -> io::Result<()> {
    let evaluated: Vec<String> = decision
        .evaluated
        .iter()
        .map(|p| match *p {
            PolicyRef::Calico(p) => calico_policy_name(engine, sources, p),
            PolicyRef::Kubernetes(p) => format!(
                "{} (default tier, order 1000)",
                policy_name(engine, sources, p)
            ),
        })
        .collect();
    writeln!(
        out,
        "{label}: selected by, in evaluation order, {}",
        evaluated.join(", ")
    )?;
    let verdict = if decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    match &decision.by {
        Decider::Rule {
            policy,
            rule,
            action,
        } => {
            let p = &engine.world.calico.policies[*policy];
            writeln!(
                out,
                "    {verdict} by {} rule #{} ({}) of {} ({})",
                direction.as_str(),
                rule + 1,
                action.as_str(),
                calico_policy_name(engine, sources, *policy),
                sources.position(p.rules(direction)[*rule].loc)
            )
        }
        Decider::KubernetesRule(r) => writeln!(
            out,
            "    {verdict} by {} rule #{} of {} (default tier, order 1000; {})",
            direction.as_str(),
            r.rule + 1,
            engine.world.policies[r.policy].meta.id.name,
            rule_location(engine, direction, r.policy, r.rule)
                .map_or_else(String::new, |loc| sources.position(loc))
        ),
        Decider::EndOfTier(tier) => writeln!(
            out,
            "    {verdict}: no {} rule of tier {tier} matched (the end-of-tier deny)",
            direction.as_str()
        ),
        Decider::Profile => writeln!(
            out,
            "    {verdict}: every tier passed it on; Calico's namespace profile allows"
        ),
    }
}

fn calico_policy_name(engine: &Engine, sources: &Sources, policy: usize) -> String {
    let p = &engine.world.calico.policies[policy];
    let order = p
        .order
        .map_or("no order".to_string(), |o| format!("order {o}"));
    let name = if p.global {
        format!("{} {}", p.meta.id.kind, p.meta.id.name)
    } else {
        format!(
            "Calico {} {}/{}",
            p.meta.id.kind, p.meta.id.namespace, p.meta.id.name
        )
    };
    format!(
        "{name} (tier {}, {order}; {})",
        p.tier,
        sources.position(p.meta.loc)
    )
}

fn calico_json(
    engine: &Engine,
    sources: &Sources,
    direction: Direction,
    d: &CalicoDecision,
) -> Value {
    let policy = |p: usize| {
        let policy = &engine.world.calico.policies[p];
        let mut v = json!({
            "kind": policy.meta.id.kind,
            "namespace": policy.meta.id.namespace,
            "name": policy.meta.id.name,
            "tier": policy.tier,
            "order": policy.order,
        });
        if let (Value::Object(map), Value::Object(loc)) =
            (&mut v, location_json(sources, policy.meta.loc))
        {
            map.extend(loc);
        }
        v
    };
    let decided_by = match &d.by {
        Decider::Rule {
            policy: p,
            rule,
            action,
        } => json!({
            "decision": "rule",
            "policy": policy(*p),
            "rule": rule,
            "action": action.as_str(),
            "rule_location": location_json(
                sources,
                engine.world.calico.policies[*p].rules(direction)[*rule].loc
            ),
        }),
        Decider::KubernetesRule(r) => {
            let mut v = json!({"decision": "kubernetes-rule", "policy": policy_json(engine, sources, r.policy), "rule": r.rule});
            if let Some(loc) = rule_location(engine, direction, r.policy, r.rule) {
                v["rule_location"] = location_json(sources, loc);
            }
            v
        }
        Decider::EndOfTier(tier) => json!({"decision": "end-of-tier", "tier": tier}),
        Decider::Profile => json!({"decision": "profile"}),
    };
    json!({
        "allowed": d.allowed,
        "selected_by": d.applying.iter().map(|&p| policy(p)).collect::<Vec<_>>(),
        "decided_by": decided_by,
    })
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
            "isolated": s.isolated(),
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
            "calico": s.calico.as_ref().map(|d| calico_json(engine, sources, direction, d)),
        }),
    };
    json!({
        "allowed": v.allowed(),
        "enforcement": engine.enforcement.as_str(),
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
