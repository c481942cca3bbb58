//! Calico resources (`projectcalico.org/v3`, `crd.projectcalico.org/v1`): NetworkPolicy,
//! GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet and Tier, checked the way Calico's API
//! validation checks them, every problem a diagnostic at its position (inside a selector
//! expression where the selector does not parse), and modelled when they are valid.

use super::fields::Fields;
use crate::diag::{Diagnostic, Severity};
use crate::model::Name;
use crate::model::calico::{
    Action, CalicoPolicy, CalicoPort, CalicoRule, DEFAULT_TIER, EntityRule, NetworkSet,
    ServiceAccountMatch, Tier,
};
use crate::model::calico_selector::{self, Expr};
use crate::net::IpNet;
use crate::source::{Location, Span};
use crate::yaml::{Node, Value};

/// A valid Calico resource.
#[derive(Debug)]
pub enum CalicoItem {
    Policy(CalicoPolicy),
    NetworkSet(NetworkSet),
    Tier(Tier),
}

/// Whether `(group, kind)` is a Calico resource this module reads.
pub fn is_calico(group: &str, kind: &str) -> bool {
    matches!(group, "projectcalico.org" | "crd.projectcalico.org")
        && matches!(
            kind,
            "NetworkPolicy" | "GlobalNetworkPolicy" | "NetworkSet" | "GlobalNetworkSet" | "Tier"
        )
}

/// The resource when it is valid, and every problem and notice it has.
pub fn read(f: Fields, kind: &str) -> (Option<CalicoItem>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let root = &f.object.node;
    let global = kind.starts_with("Global") || kind == "Tier";
    let meta = match f.meta(kind, !global) {
        Ok(meta) => Some(meta),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    // No `spec`: every field takes its default.
    let empty = Node {
        span: root.span,
        value: Value::Map(Vec::new()),
    };
    let spec = f.get(root, "spec").unwrap_or(&empty);
    let item = match kind {
        "NetworkPolicy" | "GlobalNetworkPolicy" => policy(f, spec, global, &mut errors)
            .zip(meta)
            .map(|(build, meta)| CalicoItem::Policy(build(meta))),
        "NetworkSet" | "GlobalNetworkSet" => {
            let nets = nets(f, spec, "nets", &mut errors).unwrap_or_default();
            let labels = f
                .get(root, "metadata")
                .map(|m| f.opt_labels(m, "labels"))
                .transpose()
                .unwrap_or_else(|e| {
                    errors.push(e);
                    None
                })
                .unwrap_or_default();
            meta.map(|meta| {
                CalicoItem::NetworkSet(NetworkSet {
                    namespace: (!global).then_some(meta.id.namespace),
                    meta,
                    labels,
                    nets,
                })
            })
        }
        _ => {
            let order = order(f, spec, &mut errors);
            let pass_by_default = match f.get(spec, "defaultAction") {
                None => false,
                Some(a) => match a.as_str() {
                    Some("Deny") => false,
                    Some("Pass") => true,
                    _ => {
                        errors.push(f.error(a, "a Tier's `defaultAction` is Deny or Pass"));
                        false
                    }
                },
            };
            meta.map(|meta| {
                CalicoItem::Tier(Tier {
                    name: meta.id.name,
                    loc: meta.name_loc,
                    order,
                    pass_by_default,
                })
            })
        }
    };
    let valid = !errors.iter().any(|d| d.severity == Severity::Error);
    (item.filter(|_| valid), errors)
}

fn error_count(out: &[Diagnostic]) -> usize {
    out.iter().filter(|d| d.severity == Severity::Error).count()
}

/// A policy's spec, to be completed with its metadata.
fn policy(
    f: Fields,
    spec: &Node,
    global: bool,
    out: &mut Vec<Diagnostic>,
) -> Option<impl FnOnce(crate::model::Meta) -> CalicoPolicy> {
    let selector_or_all = selector(f, spec, "selector", out).unwrap_or(Expr::All);
    let namespace_selector = selector(f, spec, "namespaceSelector", out);
    if !global && let Some(n) = f.get(spec, "namespaceSelector") {
        out.push(f.error(
            n,
            "`namespaceSelector` belongs to a GlobalNetworkPolicy; a NetworkPolicy selects endpoints of its own namespace",
        ));
    }
    let service_account_selector = selector(f, spec, "serviceAccountSelector", out);
    let order = order(f, spec, out);
    let tier = match f.get(spec, "tier") {
        Some(t) => f.string(t, "tier").unwrap_or_else(|e| {
            out.push(e);
            Name::from(DEFAULT_TIER)
        }),
        None => Name::from(DEFAULT_TIER),
    };
    let mut rules = [Vec::new(), Vec::new()];
    for (i, direction) in ["ingress", "egress"].into_iter().enumerate() {
        let Some(list) = f.get(spec, direction) else {
            continue;
        };
        match f.seq(list, direction) {
            Ok(items) => rules[i] = items.iter().filter_map(|r| rule(f, r, out)).collect(),
            Err(e) => out.push(e),
        }
    }
    // Calico's defaulting (libcalico-go `defaultPolicyTypesField`): by the rules present.
    let mut types = [!rules[0].is_empty(), !rules[1].is_empty()];
    if types == [false, false] {
        types = [true, false];
    } else if rules[0].is_empty() {
        types = [false, true];
    }
    // An empty `types` list is defaulted like an absent one.
    if let Some(list) = f.get(spec, "types") {
        match f.seq(list, "types") {
            Ok([]) => {}
            Ok(items) => {
                types = [false, false];
                for t in items {
                    match t.as_str() {
                        Some("Ingress") => types[0] = true,
                        Some("Egress") => types[1] = true,
                        _ => out.push(f.error(t, "`types` entries are `Ingress` or `Egress`")),
                    }
                }
            }
            Err(e) => out.push(e),
        }
    }
    let host_only = ["doNotTrack", "preDNAT"].into_iter().any(|key| {
        f.get(spec, key)
            .is_some_and(|v| v.as_scalar().is_some_and(|s| s.text == "true"))
    });
    if host_only {
        out.push(Diagnostic::info(
            f.at(spec),
            "`doNotTrack`/`preDNAT` policies apply to host endpoints only: pods are not affected by this policy",
        ));
    }
    let [ingress, egress] = rules;
    Some(move |meta| CalicoPolicy {
        meta,
        global,
        tier,
        order,
        selector: selector_or_all,
        namespace_selector,
        service_account_selector,
        types,
        host_only,
        ingress,
        egress,
    })
}

fn order(f: Fields, spec: &Node, out: &mut Vec<Diagnostic>) -> Option<f64> {
    let node = f.get(spec, "order")?;
    let value = node
        .as_scalar()
        .filter(|s| s.as_int().is_some() || s.is_float())
        .and_then(|s| s.text.parse::<f64>().ok().or(s.as_int().map(|n| n as f64)));
    if value.is_none() {
        out.push(f.error(node, "`order` must be a number"));
    }
    value
}

fn rule(f: Fields, node: &Node, out: &mut Vec<Diagnostic>) -> Option<CalicoRule> {
    let before = error_count(out);
    let action = match f.get(node, "action") {
        None => {
            out.push(f.error(
                node,
                "a Calico rule needs an `action`: Allow, Deny, Pass or Log",
            ));
            None
        }
        Some(a) => match a.as_str() {
            Some("Allow") => Some(Action::Allow),
            Some("Deny") => Some(Action::Deny),
            Some("Pass") => Some(Action::Pass),
            Some("Log") => Some(Action::Log),
            _ => {
                out.push(f.error(a, "`action` is Allow, Deny, Pass or Log"));
                None
            }
        },
    };
    let mut protocols = [None, None];
    for (i, key) in ["protocol", "notProtocol"].into_iter().enumerate() {
        if let Some(p) = f.get(node, key) {
            protocols[i] = protocol(p);
            if protocols[i].is_none() {
                out.push(f.error(
                    p,
                    format!("`{key}` is TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"),
                ));
            }
        }
    }
    let [source, destination] = ["source", "destination"].map(|side| match f.get(node, side) {
        Some(entity) => entity_rule(f, entity, out),
        None => EntityRule::default(),
    });
    // Calico's validation: ports only with a protocol that has them.
    let has_ports = [&source, &destination]
        .iter()
        .any(|e| e.ports.is_some() || !e.not_ports.is_empty());
    if has_ports && !matches!(protocols[0], Some(6 | 17 | 132)) {
        out.push(f.error(
            node,
            "rules that specify ports must set `protocol` to TCP, UDP or SCTP",
        ));
    }
    let ip_version = match f.get(node, "ipVersion") {
        None => None,
        Some(v) => match v.as_scalar().and_then(|s| s.as_int()) {
            Some(n @ (4 | 6)) => Some(n as u8),
            _ => {
                out.push(f.error(v, "`ipVersion` is 4 or 6"));
                None
            }
        },
    };
    if let Some(http) = f.get(node, "http") {
        out.push(Diagnostic::info(
            f.at(http),
            "`http` matches need Calico's application layer policy: netpol-fix evaluates this rule without them (as matching any request)",
        ));
    }
    (error_count(out) == before).then(|| CalicoRule {
        action: action.unwrap_or(Action::Log),
        loc: f.at(node),
        protocol: protocols[0],
        not_protocol: protocols[1],
        ip_version,
        source,
        destination,
    })
}

fn entity_rule(f: Fields, entity: &Node, out: &mut Vec<Diagnostic>) -> EntityRule {
    // `serviceAccounts: {}` is an empty selector in Calico: it restricts nothing.
    let service_accounts = f
        .get(entity, "serviceAccounts")
        .filter(|sa| f.get(sa, "names").is_some() || f.get(sa, "selector").is_some())
        .map(|sa| ServiceAccountMatch {
            names: list(f, sa, "names", out, |n| f.string(n, "names")).unwrap_or_default(),
            selector: selector(f, sa, "selector", out),
        });
    let [ports, not_ports] = ["ports", "notPorts"]
        .map(|key| list(f, entity, key, out, |p| port(p).map_err(|m| f.error(p, m))));
    let services = f.get(entity, "services").and_then(|s| {
        let name = f.get(s, "name").map(|n| f.string(n, "services.name"));
        let namespace = f
            .get(s, "namespace")
            .map(|n| f.string(n, "services.namespace"))
            .transpose();
        match (name, namespace) {
            (Some(Ok(name)), Ok(namespace)) => Some((name, namespace)),
            (None, _) => {
                out.push(f.error(s, "`services` needs the Service's `name`"));
                None
            }
            (Some(Err(e)), _) | (_, Err(e)) => {
                out.push(e);
                None
            }
        }
    });
    EntityRule {
        services,
        nets: nets(f, entity, "nets", out),
        not_nets: nets(f, entity, "notNets", out).unwrap_or_default(),
        selector: selector(f, entity, "selector", out),
        not_selector: selector(f, entity, "notSelector", out),
        namespace_selector: selector(f, entity, "namespaceSelector", out),
        service_accounts,
        ports,
        not_ports: not_ports.unwrap_or_default(),
    }
}

/// An IP protocol by name or number.
fn protocol(node: &Node) -> Option<u8> {
    let s = node.as_scalar()?;
    match s.as_int() {
        Some(n) => u8::try_from(n).ok().filter(|&n| n > 0),
        None => match s.text.as_ref() {
            "TCP" => Some(6),
            "UDP" => Some(17),
            "ICMP" => Some(1),
            "ICMPv6" => Some(58),
            "SCTP" => Some(132),
            "UDPLite" => Some(136),
            _ => None,
        },
    }
}

/// A port: a number, a range `"8000:9000"` (first ≤ last), or a named port.
fn port(node: &Node) -> std::result::Result<CalicoPort, String> {
    let Some(s) = node.as_scalar() else {
        return Err("a port is a number, a range \"first:last\" or a port name".into());
    };
    let number = |t: &str| t.parse::<u16>().ok().filter(|&p| p > 0);
    if let Some(n) = s.as_int() {
        return match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(CalicoPort::Range(p, p)),
            _ => Err(format!("port {n} is out of range: ports are 1 to 65535")),
        };
    }
    if let Some((first, last)) = s.text.split_once(':') {
        return match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b => Ok(CalicoPort::Range(a, b)),
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
        Ok(CalicoPort::Named(Name::from(s.text.as_ref())))
    } else {
        Err(format!(
            "`{}` is neither a port, a range nor a port name",
            s.text
        ))
    }
}

/// A list field, each item read by `item`; every bad item is an error and left out.
fn list<T>(
    f: Fields,
    parent: &Node,
    key: &str,
    out: &mut Vec<Diagnostic>,
    item: impl Fn(&Node) -> Result<T, Diagnostic>,
) -> Option<Vec<T>> {
    let node = f.get(parent, key)?;
    match f.seq(node, key) {
        Ok(items) => Some(
            items
                .iter()
                .filter_map(|n| item(n).map_err(|e| out.push(e)).ok())
                .collect(),
        ),
        Err(e) => {
            out.push(e);
            None
        }
    }
}

fn nets(f: Fields, parent: &Node, key: &str, out: &mut Vec<Diagnostic>) -> Option<Vec<IpNet>> {
    list(f, parent, key, out, |n| {
        f.string(n, key)
            .and_then(|text| IpNet::parse(&text).map_err(|e| f.error(n, format!("`{key}`: {e}"))))
    })
}

/// A selector field: an error where the expression does not parse, positioned inside it.
fn selector(f: Fields, parent: &Node, key: &str, out: &mut Vec<Diagnostic>) -> Option<Expr> {
    let node = f.get(parent, key)?;
    let text = match f.string(node, key) {
        Ok(text) => text,
        Err(e) => {
            out.push(e);
            return None;
        }
    };
    match calico_selector::parse(&text) {
        Ok(expr) => Some(expr),
        Err(e) => {
            out.push(
                Diagnostic::error(
                    inside(f, node, &text, e.offset),
                    format!("`{key}` is not a valid Calico selector: {}", e.message),
                )
                .with_help(
                    "Calico selectors read like `app == 'web' && has(tier)`; values are quoted",
                ),
            );
            None
        }
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
