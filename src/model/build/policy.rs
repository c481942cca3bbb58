//! NetworkPolicy (networking.k8s.io/v1) → [`Policy`], with the API server's validation.

use super::fields::{self, Fields, Result};
use crate::diag::Diagnostic;
use crate::model::validate;
use crate::model::{
    DirectionRules, Name, NamespaceScope, Peer, Peers, Policy, PortRule, PortSpec, Ports,
    Requirement, Rule, Selector,
};
use crate::net::{IpNet, Protocol};
use crate::yaml::Node;

/// The policy, or every error the API server would report for it.
pub fn policy(f: Fields) -> std::result::Result<Policy, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let policy = read_policy(f, &mut errors).map_err(|e| vec![e])?;
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// Reads the policy; errors inside rules are collected so that all of them are reported.
fn read_policy(f: Fields, errors: &mut Vec<Diagnostic>) -> Result<Policy> {
    let meta = f.meta("NetworkPolicy", true)?;
    let root = &f.object.node;
    let spec = f.get(root, "spec").unwrap_or(root);
    let pod_selector = match f.get(spec, "podSelector") {
        Some(n) => selector(f, n, "podSelector")?,
        None => Selector::everything(),
    };
    let ingress = rules(f, spec, "ingress", "from", errors)?;
    let egress = rules(f, spec, "egress", "to", errors)?;
    let (has_ingress, has_egress) = match f.get(spec, "policyTypes") {
        Some(types) => {
            let mut flags = (false, false);
            for t in f.seq(types, "policyTypes")? {
                match f.string(t, "policyTypes")?.as_str() {
                    "Ingress" => flags.0 = true,
                    "Egress" => flags.1 = true,
                    other => {
                        return Err(f
                            .error(t, format!("unknown policy type `{other}`"))
                            .with_help("policyTypes may contain `Ingress` and `Egress`"));
                    }
                }
            }
            flags
        }
        // Kubernetes' default: Ingress always, Egress only when there are egress rules.
        None => (true, !egress.is_empty()),
    };
    let direction = |affected: bool, rules: Vec<Rule>| {
        if affected {
            DirectionRules::Isolates(rules)
        } else {
            DirectionRules::NotAffected
        }
    };
    Ok(Policy {
        meta,
        pod_selector,
        ingress: direction(has_ingress, ingress),
        egress: direction(has_egress, egress),
    })
}

fn rules(
    f: Fields,
    spec: &Node,
    key: &str,
    peers_key: &str,
    errors: &mut Vec<Diagnostic>,
) -> Result<Vec<Rule>> {
    f.opt_list(spec, key, |rule| {
        f.map(rule, key)?;
        let peers = match nonempty_list(f, rule, peers_key)? {
            Some(list) => {
                Peers::Listed(keep_ok(list.iter().map(|p| peer(f, p, peers_key)), errors))
            }
            None => Peers::Any,
        };
        let ports = match nonempty_list(f, rule, "ports")? {
            Some(list) => Ports::Listed(keep_ok(list.iter().map(|p| port_rule(f, p)), errors)),
            None => Ports::Any,
        };
        Ok(Rule {
            loc: f.at(rule),
            peers,
            ports,
        })
    })
}

/// A list field that is present and has items (absent, null and `[]` all mean "any").
fn nonempty_list<'n, 't>(
    f: Fields,
    node: &'n Node<'t>,
    key: &str,
) -> Result<Option<&'n [Node<'t>]>> {
    match f.get(node, key) {
        Some(list) => Ok(Some(f.seq(list, key)?).filter(|l| !l.is_empty())),
        None => Ok(None),
    }
}

/// The successful items, in a vector of the list's length; the errors go to `errors`.
fn keep_ok<T>(
    items: impl ExactSizeIterator<Item = Result<T>>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(item) => out.push(item),
            Err(e) => errors.push(e),
        }
    }
    out
}

fn peer(f: Fields, node: &Node, what: &str) -> Result<Peer> {
    f.map(node, what)?;
    let pod = f.get(node, "podSelector");
    let ns = f.get(node, "namespaceSelector");
    let ip = f.get(node, "ipBlock");
    if let Some(ip) = ip {
        if pod.is_some() || ns.is_some() {
            return Err(f
                .error(
                    node,
                    "`ipBlock` combined with `podSelector`/`namespaceSelector` in one peer",
                )
                .with_help("the API server rejects this; make the ipBlock a separate list item"));
        }
        return ip_block(f, ip);
    }
    if pod.is_none() && ns.is_none() {
        return Err(f
            .error(node, format!("empty peer in `{what}`: it must name a podSelector, namespaceSelector or ipBlock"))
            .with_help(format!("to allow everything, remove `{what}` entirely")));
    }
    Ok(Peer::Pods {
        namespaces: match ns {
            Some(n) => NamespaceScope::Matching(selector(f, n, "namespaceSelector")?),
            None => NamespaceScope::PolicyNamespace,
        },
        pods: match pod {
            Some(n) => selector(f, n, "podSelector")?,
            None => Selector::everything(),
        },
        loc: f.at(node),
    })
}

fn ip_block(f: Fields, node: &Node) -> Result<Peer> {
    let cidr_node = f
        .get(node, "cidr")
        .ok_or_else(|| f.error(node, "`ipBlock` without `cidr`"))?;
    let cidr = IpNet::parse(&f.string(cidr_node, "cidr")?)
        .map_err(|e| f.error(cidr_node, format!("invalid ipBlock cidr: {e}")))?;
    let mut except = Vec::new();
    if let Some(list) = f.get(node, "except") {
        for item in f.seq(list, "except")? {
            let net = IpNet::parse(&f.string(item, "except")?)
                .map_err(|e| f.error(item, format!("invalid ipBlock except: {e}")))?;
            if !cidr.strictly_contains(&net) {
                return Err(f
                    .error(
                        item,
                        format!("except `{net}` is not strictly inside cidr `{cidr}`"),
                    )
                    .with_help("each except entry must be a smaller network within the cidr"));
            }
            except.push(net);
        }
    }
    let addresses = except
        .iter()
        .fold(cidr.to_set(), |set, net| set.difference(&net.to_set()));
    Ok(Peer::IpBlock {
        cidr,
        except,
        addresses,
        loc: f.at(node),
    })
}

fn port_rule(f: Fields, node: &Node) -> Result<PortRule> {
    f.map(node, "ports")?;
    let protocol = match f.get(node, "protocol") {
        Some(p) => {
            let name = f.string(p, "protocol")?;
            Protocol::parse(&name)
                .filter(|proto| proto.as_str() == name)
                .ok_or_else(|| {
                    f.error(
                        p,
                        format!("unknown protocol `{name}`: use TCP, UDP or SCTP"),
                    )
                })?
        }
        None => Protocol::Tcp,
    };
    let end_port = f.get(node, "endPort");
    let port = match f.get(node, "port") {
        None => {
            if let Some(end) = end_port {
                return Err(f.error(end, "`endPort` without `port`"));
            }
            PortSpec::All
        }
        Some(p) if p.as_scalar().is_some_and(|s| s.as_int().is_some()) => {
            let start = f.port(p, "port")?;
            let end = match end_port {
                Some(e) => {
                    let end = f.port(e, "endPort")?;
                    if end < start {
                        return Err(f.error(e, format!("endPort {end} is less than port {start}")));
                    }
                    end
                }
                None => start,
            };
            PortSpec::Range(start, end)
        }
        Some(p) => {
            let name = f.string(p, "port")?;
            check_port_name(&name)
                .map_err(|why| f.error(p, format!("invalid port name `{name}`: {why}")))?;
            if let Some(e) = end_port {
                return Err(f
                    .error(
                        e,
                        format!("`endPort` cannot be used with the named port `{name}`"),
                    )
                    .with_help("use a numeric `port` with `endPort`, or drop `endPort`"));
            }
            PortSpec::Named(name)
        }
    };
    Ok(PortRule { protocol, port })
}

/// Kubernetes' IANA_SVC_NAME rule for named ports.
fn check_port_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 15 {
        return Err("a port name has 1 to 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("a port name has only lowercase letters, digits and `-`");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err("a port name needs at least one letter (a quoted number is not a port number)");
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err("a port name cannot start or end with `-` or contain `--`");
    }
    Ok(())
}

/// A label selector: `matchLabels` AND `matchExpressions`.
pub fn selector(f: Fields, node: &Node, what: &str) -> Result<Selector> {
    f.map(node, what)?;
    let mut reqs: Vec<Requirement> = f
        .opt_labels(node, "matchLabels")?
        .into_iter()
        .map(|(k, v)| Requirement::In(k, vec![v]))
        .collect();
    if let Some(exprs) = f.get(node, "matchExpressions") {
        for expr in f.seq(exprs, "matchExpressions")? {
            reqs.push(requirement(f, expr)?);
        }
    }
    Ok(Selector::new(reqs))
}

fn requirement(f: Fields, expr: &Node) -> Result<Requirement> {
    let key = match f.get(expr, "key") {
        Some(k) => {
            let key = f.str_of(k, "key")?;
            validate::qualified_name(key.as_bytes()).map_err(|problem| {
                let rule = fields::label_key_rule();
                f.refused(
                    k,
                    "label key",
                    " in `matchExpressions`",
                    key,
                    &problem,
                    &rule,
                )
            })?;
            Name::from(key)
        }
        None => return Err(f.error(expr, "match expression without `key`")),
    };
    let op_node = f
        .get(expr, "operator")
        .ok_or_else(|| f.error(expr, "match expression without `operator`"))?;
    let values: Vec<Name> = f.opt_list(expr, "values", |x| {
        let value = f.str_of(x, "values")?;
        validate::label_value(value.as_bytes()).map_err(|problem| {
            let place = format!(" in the `values` of `{key}`");
            let rule = fields::label_value_rule();
            f.refused(x, "label value", &place, value, &problem, &rule)
        })?;
        Ok(Name::from(value))
    })?;
    let op = f.string(op_node, "operator")?;
    let needs_values = match op.as_str() {
        "In" | "NotIn" => true,
        "Exists" | "DoesNotExist" => false,
        _ => {
            return Err(f
                .error(op_node, format!("unknown selector operator `{op}`"))
                .with_help("use In, NotIn, Exists or DoesNotExist (case matters)"));
        }
    };
    if needs_values && values.is_empty() {
        return Err(f.error(
            expr,
            format!("operator `{op}` needs a non-empty `values` list"),
        ));
    }
    if !needs_values && !values.is_empty() {
        return Err(f.error(expr, format!("operator `{op}` takes no `values`")));
    }
    Ok(match op.as_str() {
        "In" => Requirement::In(key, values),
        "NotIn" => Requirement::NotIn(key, values),
        "Exists" => Requirement::Exists(key),
        _ => Requirement::DoesNotExist(key),
    })
}
