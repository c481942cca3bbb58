//! Calico resources (`projectcalico.org/v3`, `crd.projectcalico.org/v1`): NetworkPolicy,
//! GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet and Tier, checked the way Calico's API
//! validation checks them, every problem a diagnostic at its position (inside a selector
//! expression where the selector does not parse).
//!
//! The connectivity engine does not evaluate Calico policies yet: each one gets a notice saying
//! so, so that nobody reads an answer as covering them.

use super::fields::Fields;
use crate::diag::Diagnostic;
use crate::model::calico_selector;
use crate::net::IpNet;
use crate::source::{Location, Span};
use crate::yaml::Node;

/// Whether `(group, kind)` is a Calico resource this module reads.
pub fn is_calico(group: &str, kind: &str) -> bool {
    matches!(group, "projectcalico.org" | "crd.projectcalico.org")
        && matches!(
            kind,
            "NetworkPolicy" | "GlobalNetworkPolicy" | "NetworkSet" | "GlobalNetworkSet" | "Tier"
        )
}

/// Every problem of one Calico resource, then (for policies) the notice that it is not yet
/// evaluated.
pub fn check(f: Fields, kind: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = &f.object.node;
    let Some(spec) = f.get(root, "spec") else {
        return out;
    };
    match kind {
        "NetworkPolicy" | "GlobalNetworkPolicy" => {
            policy(f, spec, &mut out);
            let name = f
                .path(root, &["metadata", "name"])
                .and_then(Node::as_str)
                .unwrap_or("?");
            out.push(Diagnostic::info(
                f.object.loc(),
                format!(
                    "Calico {kind} {name} is validated but not yet evaluated: connectivity, `explain` and the rules do not account for it"
                ),
            ));
        }
        "NetworkSet" | "GlobalNetworkSet" => nets(f, spec, "nets", &mut out),
        _ => order(f, spec, &mut out), // Tier
    }
    out
}

fn policy(f: Fields, spec: &Node, out: &mut Vec<Diagnostic>) {
    for key in ["selector", "namespaceSelector", "serviceAccountSelector"] {
        selector(f, spec, key, out);
    }
    if let Some(order) = f.get(spec, "order")
        && !order
            .as_scalar()
            .is_some_and(|s| s.as_int().is_some() || s.is_float())
    {
        out.push(f.error(order, "`order` must be a number"));
    }
    if let Some(types) = f.get(spec, "types") {
        match f.seq(types, "types") {
            Ok(items) => {
                for t in items {
                    if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
                        out.push(f.error(t, "`types` entries are `Ingress` or `Egress`"));
                    }
                }
            }
            Err(e) => out.push(e),
        }
    }
    for direction in ["ingress", "egress"] {
        let Some(rules) = f.get(spec, direction) else {
            continue;
        };
        match f.seq(rules, direction) {
            Ok(rules) => rules.iter().for_each(|r| rule(f, r, out)),
            Err(e) => out.push(e),
        }
    }
}

fn order(f: Fields, spec: &Node, out: &mut Vec<Diagnostic>) {
    if let Some(order) = f.get(spec, "order")
        && !order
            .as_scalar()
            .is_some_and(|s| s.as_int().is_some() || s.is_float())
    {
        out.push(f.error(order, "`order` must be a number"));
    }
}

fn rule(f: Fields, rule: &Node, out: &mut Vec<Diagnostic>) {
    match f.get(rule, "action") {
        None => out.push(f.error(
            rule,
            "a Calico rule needs an `action`: Allow, Deny, Pass or Log",
        )),
        Some(a) if !matches!(a.as_str(), Some("Allow" | "Deny" | "Pass" | "Log")) => {
            out.push(f.error(a, "`action` is Allow, Deny, Pass or Log"));
        }
        Some(_) => {}
    }
    for key in ["protocol", "notProtocol"] {
        if let Some(p) = f.get(rule, key)
            && !is_protocol(p)
        {
            out.push(f.error(
                p,
                format!("`{key}` is TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"),
            ));
        }
    }
    for side in ["source", "destination"] {
        let Some(entity) = f.get(rule, side) else {
            continue;
        };
        for key in ["selector", "notSelector", "namespaceSelector"] {
            selector(f, entity, key, out);
        }
        if let Some(sa) = f.get(entity, "serviceAccounts") {
            selector(f, sa, "selector", out);
        }
        nets(f, entity, "nets", out);
        nets(f, entity, "notNets", out);
        for key in ["ports", "notPorts"] {
            let Some(ports) = f.get(entity, key) else {
                continue;
            };
            match f.seq(ports, key) {
                Ok(items) => {
                    for p in items {
                        if let Err(message) = port(p) {
                            out.push(f.error(p, message));
                        }
                    }
                }
                Err(e) => out.push(e),
            }
        }
    }
}

fn is_protocol(node: &Node) -> bool {
    let Some(s) = node.as_scalar() else {
        return false;
    };
    match s.as_int() {
        Some(n) => (1..=255).contains(&n),
        None => matches!(
            s.text.as_ref(),
            "TCP" | "UDP" | "ICMP" | "ICMPv6" | "SCTP" | "UDPLite"
        ),
    }
}

/// A port: a number, a range `"8000:9000"` (first ≤ last), or a named port.
fn port(node: &Node) -> std::result::Result<(), String> {
    let Some(s) = node.as_scalar() else {
        return Err("a port is a number, a range \"first:last\" or a port name".into());
    };
    let number = |t: &str| t.parse::<u16>().ok().filter(|&p| p > 0);
    if let Some(n) = s.as_int() {
        return if (1..=65535).contains(&n) {
            Ok(())
        } else {
            Err(format!("port {n} is out of range: ports are 1 to 65535"))
        };
    }
    if let Some((first, last)) = s.text.split_once(':') {
        return match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b => Ok(()),
            (Some(_), Some(_)) => Err(format!("port range `{}` ends before it starts", s.text)),
            _ => Err(format!(
                "port range `{}` is not \"first:last\" with ports 1 to 65535",
                s.text
            )),
        };
    }
    let name_ok = !s.text.is_empty()
        && s.text.len() <= 15
        && s.text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name_ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is neither a port, a range nor a port name",
            s.text
        ))
    }
}

fn nets(f: Fields, parent: &Node, key: &str, out: &mut Vec<Diagnostic>) {
    let Some(list) = f.get(parent, key) else {
        return;
    };
    match f.seq(list, key) {
        Ok(items) => {
            for n in items {
                let parsed = f.string(n, key).and_then(|text| {
                    IpNet::parse(&text).map_err(|e| f.error(n, format!("`{key}`: {e}")))
                });
                if let Err(e) = parsed {
                    out.push(e);
                }
            }
        }
        Err(e) => out.push(e),
    }
}

/// A selector field: an error where the expression does not parse, positioned inside it.
fn selector(f: Fields, parent: &Node, key: &str, out: &mut Vec<Diagnostic>) {
    let Some(node) = f.get(parent, key) else {
        return;
    };
    let text = match f.string(node, key) {
        Ok(text) => text,
        Err(e) => return out.push(e),
    };
    if let Err(e) = calico_selector::parse(&text) {
        out.push(
            Diagnostic::error(
                inside(f, node, &text, e.offset),
                format!("`{key}` is not a valid Calico selector: {}", e.message),
            )
            .with_help("Calico selectors read like `app == 'web' && has(tier)`; values are quoted"),
        );
    }
}

/// The position of byte `offset` of a scalar's value in the file, when the value is written
/// as is (plain, or quoted without escapes: the same length inside the quotes); otherwise the
/// scalar's start.
fn inside(f: Fields, node: &Node, value: &str, offset: usize) -> Location {
    let loc = f.at(node);
    let written = (loc.span.end - loc.span.start) as usize;
    let plain = node.as_scalar().is_some_and(|s| s.plain);
    let start = match (plain, written) {
        (true, n) if n == value.len() => loc.span.start as usize,
        (false, n) if n == value.len() + 2 => loc.span.start as usize + 1,
        _ => return loc,
    };
    Location {
        file: loc.file,
        span: Span::new(start + offset, start + offset),
    }
}
