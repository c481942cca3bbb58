//! The flow checks: DNS, API server, and the Services the configuration names, on the client's
//! egress and at the destination's ingress.

use foldhash::{HashMap, HashMapExt};

use rayon::prelude::*;

use super::deps::{self, Destination, Holder};
use super::{Context, Finding, Peer as RemedyPeer, Placement, Related, Remedy, finding};
use crate::connectivity::calico::{Decider, PolicyRef};
use crate::connectivity::{Endpoint, SideVerdict};
use crate::diag::Severity;
use crate::lint::catalog::Rule;
use crate::model::index::includes;
use crate::model::{
    Direction, DirectionRules, Meta, Name, NamespaceScope, ObjectId, Peer, Peers, Selector,
    TargetPort, World,
};
use crate::net::{IpNet, Protocol};
use crate::source::Location;

/// A Service named by a value a client sees.
pub(crate) struct Dependency<'w> {
    pub client: usize,
    pub service: usize,
    pub port_index: usize,
    /// The env var the value feeds (None for command/args).
    pub env: Option<crate::model::Name>,
    pub value: &'w str,
    pub evidence: Location,
    pub holder: Holder,
}

/// Clients: every workload except host-network ones (policy does not apply to them).
fn clients<'a>(cx: &'a Context) -> impl Iterator<Item = usize> + 'a {
    (0..cx.world.workloads.len()).filter(|&w| !cx.world.workloads[w].host_network)
}

/// Every Service each client names, in client order (clients are read in parallel).
pub(crate) fn dependencies<'w>(cx: &Context<'w>) -> Vec<Dependency<'w>> {
    let clients: Vec<usize> = clients(cx).collect();
    let per_client: Vec<Vec<Dependency>> = clients
        .par_iter()
        .map(|&client| client_dependencies(cx, client))
        .collect();
    let mut out = Vec::with_capacity(per_client.iter().map(Vec::len).sum());
    for mut some in per_client {
        out.append(&mut some);
    }
    out
}

/// The Services one client names, once per (Service, port, env var).
fn client_dependencies<'w>(cx: &Context<'w>, client: usize) -> Vec<Dependency<'w>> {
    let mut out: Vec<Dependency> = Vec::new();
    let mut seen = foldhash::HashSet::default();
    let ns = &cx.world.workloads[client].meta.id.namespace;
    for text in deps::workload_texts(cx.world, &cx.services, client) {
        for host in crate::refs::find(text.value) {
            let Some(service) = cx.services.resolve(&host.host, ns) else {
                continue;
            };
            let Some(port_index) = deps::service_port(&cx.world.services[service], &host) else {
                continue;
            };
            if seen.insert((service, port_index, text.env)) {
                out.push(Dependency {
                    client,
                    service,
                    port_index,
                    env: text.env,
                    value: text.value,
                    evidence: text.loc,
                    holder: text.holder,
                });
            }
        }
    }
    out
}

fn name(cx: &Context, w: usize) -> String {
    cx.world.workloads[w].meta.id.to_string()
}

fn endpoint_name(cx: &Context, ep: Endpoint) -> String {
    match ep {
        Endpoint::Workload(w) => name(cx, w),
        Endpoint::Probe(p) => cx.engine.probes[p].describe(),
        Endpoint::External(ip) => ip.to_string(),
    }
}

/// Each policy's label where it isolates a pod for one direction (`egress isolated by x`),
/// made once: a big tree's findings hold hundreds of thousands of them.
pub(crate) struct IsolationLabels {
    kubernetes: Vec<Name>,
    calico: Vec<Name>,
}

impl IsolationLabels {
    pub(crate) fn new(world: &World, side: Direction) -> IsolationLabels {
        let label =
            |meta: &Meta| Name::from(&format!("{} isolated by {}", side.as_str(), meta.id.name));
        IsolationLabels {
            kubernetes: world.policies.iter().map(|p| label(&p.meta)).collect(),
            calico: world
                .calico
                .policies
                .iter()
                .map(|p| label(&p.meta))
                .collect(),
        }
    }
}

/// The policies that select a pod for a direction: Kubernetes NetworkPolicies and Calico's.
#[derive(Clone, Debug, Default)]
struct Isolators {
    kubernetes: Vec<usize>,
    calico: Vec<usize>,
}

impl Isolators {
    fn of(cx: &Context, pod: Endpoint, direction: Direction) -> Isolators {
        Isolators {
            kubernetes: cx
                .engine
                .isolating(pod, direction)
                .iter()
                .map(|&p| p as usize)
                .collect(),
            calico: cx.engine.calico_applying(pod, direction).to_vec(),
        }
    }

    fn of_side(side: &SideVerdict) -> Isolators {
        Isolators {
            kubernetes: side.isolated_by.clone(),
            calico: side
                .calico
                .as_ref()
                .map(|d| d.applying.clone())
                .unwrap_or_default(),
        }
    }

    fn len(&self) -> usize {
        self.kubernetes.len() + self.calico.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn merge(&mut self, other: &Isolators) {
        for (mine, theirs) in [
            (&mut self.kubernetes, &other.kubernetes),
            (&mut self.calico, &other.calico),
        ] {
            mine.extend(theirs);
            mine.sort_unstable();
            mine.dedup();
        }
    }

    /// (id, where it is, label) of each policy, as a policy isolating the pod for `side`.
    fn labelled<'c>(
        &self,
        cx: &'c Context,
        side: Direction,
    ) -> impl Iterator<Item = (&'c ObjectId, Location, Name)> {
        let labels = &cx.isolation_labels[side.index()];
        let kubernetes = self.kubernetes.iter().map(|&p| {
            let meta = &cx.world.policies[p].meta;
            (&meta.id, meta.name_loc, labels.kubernetes[p])
        });
        let calico = self.calico.iter().map(|&p| {
            let meta = &cx.world.calico.policies[p].meta;
            (&meta.id, meta.name_loc, labels.calico[p])
        });
        kubernetes.chain(calico)
    }

    /// The name of each policy as messages give it.
    fn names<'c>(&'c self, cx: &'c Context) -> impl Iterator<Item = String> + 'c {
        let kubernetes = self.kubernetes.iter().map(|&p| {
            let id = &cx.world.policies[p].meta.id;
            format!("{}/{}", id.namespace, id.name)
        });
        let calico = self.calico.iter().map(|&p| {
            let policy = &cx.world.calico.policies[p];
            let id = &policy.meta.id;
            if policy.global {
                format!("{} {}", id.kind, id.name)
            } else {
                format!("Calico {} {}/{}", id.kind, id.namespace, id.name)
            }
        });
        kubernetes.chain(calico)
    }
}

/// How many isolating policies a message names when there are more than one more: the rest
/// are counted. Every one of them is a related location of the finding, and a namespace of a
/// large tree has dozens.
const NAMED_POLICIES: usize = 3;

/// The policies as a message names them: `a, b, c, d`, or `a, b, c and 7 more`.
fn policy_names(cx: &Context, policies: &Isolators) -> String {
    let shown = if policies.len() > NAMED_POLICIES + 1 {
        NAMED_POLICIES
    } else {
        policies.len()
    };
    let mut names = policies
        .names(cx)
        .take(shown)
        .collect::<Vec<_>>()
        .join(", ");
    if shown < policies.len() {
        names += &format!(" and {} more", policies.len() - shown);
    }
    names
}

/// A finding about `client`, scoped so that the workload, its namespace and the given policies
/// can suppress it.
fn client_finding(
    cx: &Context,
    rule: &Rule,
    client: usize,
    side: Direction,
    policies: &Isolators,
) -> Finding {
    let w = &cx.world.workloads[client];
    let mut f = finding(rule, w.meta.id.clone(), w.meta.name_loc);
    f.side = Some(side);
    cx.let_suppress(&mut f, &ObjectId::namespace(&w.meta.id.namespace));
    // Room for the isolating policies and the Service a dependency names.
    f.related.reserve_exact(policies.len() + 1);
    for (id, loc, label) in policies.labelled(cx, side) {
        cx.let_suppress(&mut f, id);
        f.related.push(Related { loc, label });
    }
    f
}

/// Per NetworkPolicy, notes on the namespace selectors of its egress rules that match no
/// namespace (the classic `name: kube-system` mistake), once per run.
pub(crate) fn dead_namespace_notes(cx: &Context) -> Vec<Vec<String>> {
    (0..cx.world.policies.len())
        .into_par_iter()
        .map(|p| {
            let DirectionRules::Isolates(rules) = &cx.world.policies[p].egress else {
                return Vec::new();
            };
            let listed = rules.iter().filter_map(|rule| match &rule.peers {
                Peers::Listed(peers) => Some(peers),
                _ => None,
            });
            let namespace_selectors = listed.flatten().filter_map(|peer| match peer {
                Peer::Pods {
                    namespaces: NamespaceScope::Matching(sel),
                    ..
                } => Some(sel),
                _ => None,
            });
            namespace_selectors
                .filter(|sel| {
                    !sel.selects_everything()
                        && !cx.world.namespaces.iter().any(|n| sel.matches(&n.labels))
                })
                .map(|sel| {
                    let policy = Isolators {
                        kubernetes: vec![p],
                        calico: Vec::new(),
                    };
                    format!(
                        " Note: {} selects namespaces with `{sel}`, which no namespace has; every namespace carries `kubernetes.io/metadata.name=<name>` (a `name` label exists only where someone added it).",
                        policy_names(cx, &policy)
                    )
                })
                .collect()
        })
        .collect()
}

/// The notes of [`dead_namespace_notes`] on these policies, as one text.
fn dead_namespace_selectors(cx: &Context, policies: &[usize]) -> String {
    let mut notes: Vec<&str> = policies
        .iter()
        .flat_map(|&p| cx.dead_namespace_notes[p].iter().map(String::as_str))
        .collect();
    notes.dedup();
    notes.concat()
}

/// The port a DNS target listens on for the DNS Service port `(protocol, port)`, as computed
/// once per run into `Context::dns_ports`.
fn dns_target_port(cx: &Context, target: Endpoint, protocol: Protocol, port: u16) -> u16 {
    cx.dns_ports
        .get(&(target, protocol, port))
        .copied()
        .unwrap_or(port)
}

/// Every (DNS target, protocol, Service port) → the port the target listens on.
pub(crate) fn dns_target_ports(cx: &Context) -> HashMap<(Endpoint, Protocol, u16), u16> {
    let mut out = HashMap::new();
    for &target in &cx.dns_targets {
        for &(protocol, port) in &cx.config.dns.ports {
            out.insert(
                (target, protocol, port),
                resolve_dns_target_port(cx, target, protocol, port),
            );
        }
    }
    out
}

fn resolve_dns_target_port(cx: &Context, target: Endpoint, protocol: Protocol, port: u16) -> u16 {
    let labels = match target {
        Endpoint::Workload(w) => &cx.world.workloads[w].labels,
        Endpoint::Probe(p) => &cx.engine.probes[p].labels,
        Endpoint::External(_) => return port,
    };
    let service_port = cx
        .world
        .services
        .iter()
        .filter(|s| s.meta.id.namespace == cx.config.dns.namespace)
        .filter(|s| {
            s.selector
                .as_ref()
                .is_some_and(|sel| !sel.is_empty() && includes(labels, sel))
        })
        .flat_map(|s| &s.ports)
        .find(|sp| sp.port == port && sp.protocol == protocol);
    match service_port.map(|sp| &sp.target) {
        Some(TargetPort::Number(n)) => *n,
        Some(TargetPort::Name(name)) => match target {
            Endpoint::Workload(w) => cx.world.workloads[w]
                .ports
                .iter()
                .find(|p| p.protocol == protocol && p.name.as_deref() == Some(name))
                .map_or(port, |p| p.port),
            _ => port,
        },
        None => port,
    }
}

/// `{k: v, …}`: labels as a YAML flow mapping, for help texts users paste into policies.
fn flow_map(labels: &crate::model::Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn dns_description(cx: &Context) -> String {
    if cx.config.dns.addresses.is_empty() {
        let sel = Selector::matching(&cx.config.dns.labels);
        format!(
            "the DNS pods `{sel}` in namespace {}",
            cx.config.dns.namespace
        )
    } else {
        let addrs: Vec<String> = cx
            .config
            .dns
            .addresses
            .iter()
            .map(|a| a.to_string())
            .collect();
        format!("the node-local DNS cache at {}", addrs.join(", "))
    }
}

fn port_list(ports: &[(Protocol, u16)]) -> String {
    let parts: Vec<String> = ports.iter().map(|(p, n)| format!("{p} {n}")).collect();
    parts.join(" and ")
}

/// DNS ports (protocol, Service port) that a side blocks for every DNS target.
fn blocked_dns_ports(cx: &Context, client: usize, side: Direction) -> Vec<(Protocol, u16)> {
    cx.config
        .dns
        .ports
        .iter()
        .copied()
        .filter(|&(protocol, port)| {
            !cx.dns_targets.iter().any(|&t| {
                cx.engine
                    .side_verdict(
                        Endpoint::Workload(client),
                        t,
                        protocol,
                        dns_target_port(cx, t, protocol, port),
                        side,
                    )
                    .is_none_or(|s| s.allowed())
            })
        })
        .collect()
}

/// Every DNS port as the DNS targets listen on it (after Service target port translation).
fn dns_ports(cx: &Context) -> Vec<(Protocol, u16)> {
    let mut ports: Vec<(Protocol, u16)> = cx
        .config
        .dns
        .ports
        .iter()
        .flat_map(|&(protocol, port)| {
            cx.dns_targets
                .iter()
                .map(move |&t| (protocol, dns_target_port(cx, t, protocol, port)))
        })
        .collect();
    let mut seen = Vec::new();
    ports.retain(|p| {
        let new = !seen.contains(p);
        seen.push(*p);
        new
    });
    ports
}

/// An allow remedy for the pods of workload `w` (selected by its template labels).
fn allow(
    cx: &Context,
    direction: Direction,
    w: usize,
    peer: RemedyPeer,
    ports: Vec<(Protocol, u16)>,
    safe: bool,
    placement: Placement,
) -> Remedy {
    let workload = &cx.world.workloads[w];
    Remedy::Allow {
        direction,
        selected: (workload.meta.id.namespace, workload.labels.clone()),
        peer,
        ports,
        safe,
        placement,
    }
}

/// Where an allow for a flow that `side` blocks goes: a new Kubernetes NetworkPolicy wherever
/// one is enough (Kubernetes isolation, or Calico's default tier ending without a match), else
/// an Allow rule in the Calico policy before the Deny rule or at the end of the tier that drops
/// the flow.
fn placement(cx: &Context, side: &SideVerdict, direction: Direction) -> Option<Placement> {
    let Some(decision) = &side.calico else {
        return side.isolated_by.first().map(|&p| Placement::AfterPolicy(p));
    };
    let policies = &cx.world.calico.policies;
    // The Calico policies of a tier, in the order Calico evaluated them.
    let in_tier = |tier: &str| -> Vec<usize> {
        decision
            .evaluated
            .iter()
            .filter_map(|e| match *e {
                PolicyRef::Calico(p) if policies[p].tier == tier => Some(p),
                _ => None,
            })
            .collect()
    };
    match &decision.by {
        Decider::Rule {
            policy,
            rule,
            action: crate::model::calico::Action::Deny,
        } => Some(Placement::CalicoRule {
            policy: *policy,
            index: *rule,
        }),
        Decider::EndOfTier(tier) if tier == crate::model::calico::DEFAULT_TIER => side
            .isolated_by
            .first()
            .map(|&p| Placement::AfterPolicy(p))
            .or_else(|| {
                in_tier(tier)
                    .first()
                    .map(|&p| Placement::AfterCalicoPolicy(p))
            }),
        Decider::EndOfTier(tier) => {
            // No rule of the tier matched: an Allow rule at the end of any of its policies for
            // this direction comes before the tier's end; the last one that has rules to add
            // to, in Calico's order.
            let last = in_tier(tier)
                .into_iter()
                .rfind(|&p| !policies[p].rules(direction).is_empty())?;
            Some(Placement::CalicoRule {
                policy: last,
                index: policies[last].rules(direction).len(),
            })
        }
        _ => None,
    }
}

/// The pods of workload `w` as a peer: its namespace and template labels.
fn pods_of(cx: &Context, w: usize) -> RemedyPeer {
    let workload = &cx.world.workloads[w];
    RemedyPeer::Pods {
        namespace: workload.meta.id.namespace,
        labels: workload.labels.clone(),
    }
}

fn is_dns_target(cx: &Context, client: usize) -> bool {
    cx.dns_targets.contains(&Endpoint::Workload(client))
}

pub(crate) fn dns_egress(cx: &Context, rule: &Rule, tcp_only_severity: Severity) -> Vec<Finding> {
    // The same for every client: where DNS is, how to allow it, on which ports.
    let target = if cx.config.dns.addresses.is_empty() {
        format!(
            "`namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {}}}}}` AND `podSelector: {{matchLabels: {}}}`",
            cx.config.dns.namespace,
            flow_map(&cx.config.dns.labels)
        )
    } else {
        "an ipBlock for each node-local DNS address (/32)".to_string()
    };
    let peer = if cx.config.dns.addresses.is_empty() {
        RemedyPeer::Pods {
            namespace: cx.config.dns.namespace,
            labels: cx.config.dns.labels.clone(),
        }
    } else {
        RemedyPeer::Cidrs(
            cx.config
                .dns
                .addresses
                .iter()
                .map(|&a| IpNet::host(a))
                .collect(),
        )
    };
    let ports = dns_ports(cx);
    let mut out = Vec::new();
    for client in clients(cx) {
        let isolated_by = Isolators::of(cx, Endpoint::Workload(client), Direction::Egress);
        if isolated_by.is_empty() || is_dns_target(cx, client) {
            continue;
        }
        let blocked = blocked_dns_ports(cx, client, Direction::Egress);
        let Some(&(protocol, port)) = blocked.first() else {
            continue;
        };
        let mut f = client_finding(cx, rule, client, Direction::Egress, &isolated_by);
        if !blocked.iter().any(|(p, _)| *p == Protocol::Udp) {
            f.severity = tcp_only_severity.max(rule.severity);
        }
        f.message = format!(
            "{} cannot resolve names once policies are enforced: its egress is isolated by {} and no rule allows {} to {}",
            name(cx, client),
            policy_names(cx, &isolated_by),
            port_list(&blocked),
            dns_description(cx),
        );
        f.help = format!(
            "allow egress to {target} on {}.{}",
            port_list(&cx.config.dns.ports),
            dead_namespace_selectors(cx, &isolated_by.kubernetes)
        );
        let target = cx.dns_targets[0];
        let decided = cx.engine.side_verdict(
            Endpoint::Workload(client),
            target,
            protocol,
            dns_target_port(cx, target, protocol, port),
            Direction::Egress,
        );
        if let Some(at) = decided.and_then(|s| placement(cx, &s, Direction::Egress)) {
            // A new policy allows every DNS port; a rule added to a Calico policy only the
            // blocked ones (the policy already allows the others).
            let ports = match at {
                Placement::CalicoRule { .. } => blocked
                    .iter()
                    .map(|&(p, n)| (p, dns_target_port(cx, target, p, n)))
                    .collect(),
                _ => ports.clone(),
            };
            f.remedies.push(allow(
                cx,
                Direction::Egress,
                client,
                peer.clone(),
                ports,
                true,
                at,
            ));
        }
        out.push(f);
    }
    out
}

/// Who may talk to the API: ServiceAccounts bound by a binding of the input, indexed once.
struct ApiAccess<'w> {
    automount: HashMap<(&'w str, &'w str), Option<bool>>,
    /// (namespace, ServiceAccount) → first binding naming it.
    by_account: HashMap<(&'w str, &'w str), usize>,
    /// namespace → first binding of `system:serviceaccounts:<namespace>`.
    by_namespace_group: HashMap<&'w str, usize>,
    /// First binding of `system:serviceaccounts`.
    all_accounts: Option<usize>,
}

impl<'w> ApiAccess<'w> {
    fn new(world: &'w crate::model::World) -> ApiAccess<'w> {
        let mut access = ApiAccess {
            automount: world
                .service_accounts
                .iter()
                .map(|s| {
                    (
                        (s.meta.id.namespace.as_str(), s.meta.id.name.as_str()),
                        s.automount_token,
                    )
                })
                .collect(),
            by_account: HashMap::new(),
            by_namespace_group: HashMap::new(),
            all_accounts: None,
        };
        for (i, b) in world.bindings.iter().enumerate() {
            for s in &b.subjects {
                match s.kind.as_str() {
                    "ServiceAccount" => {
                        let ns = if s.namespace.is_empty() {
                            &b.meta.id.namespace
                        } else {
                            &s.namespace
                        };
                        access
                            .by_account
                            .entry((ns.as_str(), s.name.as_str()))
                            .or_insert(i);
                    }
                    "Group" if s.name == "system:serviceaccounts" => {
                        access.all_accounts.get_or_insert(i);
                    }
                    "Group" => {
                        if let Some(ns) = s.name.strip_prefix("system:serviceaccounts:") {
                            access.by_namespace_group.entry(ns).or_insert(i);
                        }
                    }
                    _ => {}
                }
            }
        }
        access
    }
}

/// Why a workload needs the Kubernetes API, if it does (and where that is written).
fn api_reason(
    cx: &Context,
    access: &ApiAccess,
    client: usize,
) -> Option<(String, Option<Location>)> {
    let w = &cx.world.workloads[client];
    let id = &w.meta.id;
    if matches!(
        id.kind.as_str(),
        "Workflow" | "WorkflowTemplate" | "CronWorkflow" | "ClusterWorkflowTemplate"
    ) {
        return Some((
            "Argo workflow pods report their progress to the Kubernetes API".into(),
            None,
        ));
    }
    let key = (id.namespace.as_str(), w.service_account.as_str());
    let sa_automount = access.automount.get(&key).copied().flatten();
    if w.automount_token.or(sa_automount) == Some(false) {
        return None;
    }
    let binding = [
        access.by_account.get(&key).copied(),
        access
            .by_namespace_group
            .get(id.namespace.as_str())
            .copied(),
        access.all_accounts,
    ]
    .into_iter()
    .flatten()
    .min()?;
    let b = &cx.world.bindings[binding];
    let name = if b.meta.id.namespace.is_empty() {
        format!("{} {}", b.meta.id.kind, b.meta.id.name)
    } else {
        format!(
            "{} {}/{}",
            b.meta.id.kind, b.meta.id.namespace, b.meta.id.name
        )
    };
    Some((
        format!(
            "its ServiceAccount `{}` is bound by {name}",
            w.service_account
        ),
        Some(b.meta.name_loc),
    ))
}

pub(crate) fn apiserver_egress(cx: &Context, rule: &Rule) -> Vec<Finding> {
    let api = &cx.config.api_server;
    let access = ApiAccess::new(cx.world);
    let mut out = Vec::new();
    for client in clients(cx) {
        let isolated_by = Isolators::of(cx, Endpoint::Workload(client), Direction::Egress);
        if isolated_by.is_empty() {
            continue;
        }
        let Some((why, binding)) = api_reason(cx, &access, client) else {
            continue;
        };
        let missing: Vec<u16> = api
            .ports
            .iter()
            .copied()
            .filter(|&port| {
                let allowed =
                    cx.engine
                        .egress_addresses(Endpoint::Workload(client), Protocol::Tcp, port);
                if api.cidrs.is_empty() {
                    allowed.is_empty()
                } else {
                    !api.cidrs.iter().all(|c| c.to_set().is_subset(&allowed))
                }
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let ports: Vec<String> = missing.iter().map(|p| format!("TCP {p}")).collect();
        let (target, help) = if api.cidrs.is_empty() {
            (
                "any address".to_string(),
                "set `api_server.cidrs` in netpol-fix.yaml to the API server endpoint addresses (`kubectl get endpoints kubernetes`) and allow egress to them"
                    .to_string(),
            )
        } else {
            let cidrs: Vec<String> = api.cidrs.iter().map(|c| c.to_string()).collect();
            (
                format!("the API server ({})", cidrs.join(", ")),
                format!("allow egress to ipBlock {}", cidrs.join(", ")),
            )
        };
        let all_ports: Vec<String> = api.ports.iter().map(u16::to_string).collect();
        let mut f = client_finding(cx, rule, client, Direction::Egress, &isolated_by);
        f.message = format!(
            "{} uses the Kubernetes API ({why}) but its egress, isolated by {}, does not allow {} to {target}",
            name(cx, client),
            policy_names(cx, &isolated_by),
            ports.join(" or "),
        );
        f.help = format!("{help} on TCP {}.", all_ports.join(" and "));
        if let Some(loc) = binding {
            f.related.push(Related {
                loc,
                label: Name::from("grants API access"),
            });
        }
        let (cidrs, safe) = if api.cidrs.is_empty() {
            (vec![IpNet::parse("0.0.0.0/0").expect("valid CIDR")], false)
        } else {
            (api.cidrs.clone(), true)
        };
        let ports = api.ports.iter().map(|&p| (Protocol::Tcp, p)).collect();
        let decided = cx.engine.side_verdict(
            Endpoint::Workload(client),
            Endpoint::External(cidrs[0].addr),
            Protocol::Tcp,
            missing[0],
            Direction::Egress,
        );
        if let Some(at) = decided.and_then(|s| placement(cx, &s, Direction::Egress)) {
            f.remedies.push(allow(
                cx,
                Direction::Egress,
                client,
                RemedyPeer::Cidrs(cidrs),
                ports,
                safe,
                at,
            ));
        }
        out.push(f);
    }
    out
}

/// Per workload: can it resolve names over UDP (the way resolvers ask first) once enforced?
pub(crate) fn dns_resolves(cx: &Context) -> Vec<bool> {
    (0..cx.world.workloads.len())
        .map(|w| {
            [Direction::Egress, Direction::Ingress].iter().all(|&side| {
                !blocked_dns_ports(cx, w, side)
                    .iter()
                    .any(|(p, _)| *p == Protocol::Udp)
            })
        })
        .collect()
}

/// Per workload: does it use the Kubernetes API (host-network ones included: they need it too)?
pub(crate) fn uses_api(cx: &Context) -> Vec<bool> {
    let access = ApiAccess::new(cx.world);
    (0..cx.world.workloads.len())
        .map(|w| api_reason(cx, &access, w).is_some())
        .collect()
}

/// Dependencies grouped by (client, Service), groups in that order, dependencies in theirs:
/// one sorted list of references, each group a run of it.
fn by_client_and_service<'d, 'w>(
    deps: impl Iterator<Item = &'d Dependency<'w>>,
) -> Vec<&'d Dependency<'w>>
where
    'w: 'd,
{
    let mut sorted: Vec<&Dependency> = deps.collect();
    sorted.sort_by_key(|d| (d.client, d.service));
    sorted
}

fn same_client_and_service(a: &&Dependency, b: &&Dependency) -> bool {
    (a.client, a.service) == (b.client, b.service)
}

/// Destinations of a dependency group that `side` blocks, with that side's verdict.
fn blocked(
    cx: &Context,
    group: &[&Dependency],
    side: Direction,
) -> Vec<(Destination, SideVerdict)> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for d in group {
        for dest in deps::destinations(cx.world, &cx.services, d.service, d.port_index) {
            if seen.contains(&dest) {
                continue;
            }
            seen.push(dest);
            let decided = cx.engine.side_verdict(
                Endpoint::Workload(d.client),
                Endpoint::Workload(dest.workload),
                dest.protocol,
                dest.port,
                side,
            );
            if let Some(s) = decided.filter(|s| !s.allowed()) {
                out.push((dest, s));
            }
        }
    }
    out
}

/// Every destination of every dependency, with whether both sides allow it.
pub(crate) fn records(cx: &Context, deps: &[Dependency]) -> Vec<super::FlowRecord> {
    let mut out = Vec::new();
    for d in deps {
        for dest in deps::destinations(cx.world, &cx.services, d.service, d.port_index) {
            let allowed = cx
                .engine
                .verdict(
                    Endpoint::Workload(d.client),
                    Endpoint::Workload(dest.workload),
                    dest.protocol,
                    dest.port,
                )
                .allowed();
            out.push(super::FlowRecord {
                client: d.client,
                service: d.service,
                service_port: cx.world.services[d.service].ports[d.port_index].port,
                destination: dest.workload,
                protocol: dest.protocol,
                port: dest.port,
                evidence: d.evidence,
                allowed,
            });
        }
    }
    out.sort_by_key(|r| (r.client, r.service, r.destination, r.protocol, r.port));
    out.dedup_by_key(|r| (r.client, r.service, r.destination, r.protocol, r.port));
    out
}

/// Where a dependency is written, as messages say it (a Secret's value is never shown).
fn evidence_text(cx: &Context, d: &Dependency) -> String {
    match (&d.env, d.holder) {
        (_, Holder::Secret(s)) => {
            let secret = &cx.world.storage_secrets[s];
            format!(
                "the model storage endpoint in Secret {}/{} key `{}`",
                secret.meta.id.namespace, secret.meta.id.name, secret.key
            )
        }
        (Some(env), _) => format!("{env}={}", d.value),
        (None, _) => format!("argument `{}`", d.value),
    }
}

fn dependency_finding(
    cx: &Context,
    rule: &Rule,
    group: &[&Dependency],
    side: Direction,
    blocked: &[(Destination, SideVerdict)],
) -> Finding {
    let first = group[0];
    let service = &cx.world.services[first.service];
    let mut policies = Isolators::default();
    for (_, s) in blocked {
        policies.merge(&Isolators::of_side(s));
    }
    let mut f = client_finding(cx, rule, first.client, side, &policies);
    if let Holder::ConfigMap(cm) = first.holder {
        cx.let_suppress(&mut f, &cx.world.config_maps[cm].meta.id);
    }
    f.related.insert(
        0,
        Related {
            loc: first.evidence,
            label: Name::from(&format!(
                "names Service {}/{}",
                service.meta.id.namespace, service.meta.id.name
            )),
        },
    );
    let flows: Vec<String> = blocked
        .iter()
        .map(|(d, _)| format!("{} {} to {}", d.protocol, d.port, name(cx, d.workload)))
        .collect();
    let svc = format!("{}/{}", service.meta.id.namespace, service.meta.id.name);
    let client = name(cx, first.client);
    let client_selector = Selector::matching(&cx.world.workloads[first.client].labels);
    let service_selector = Selector::matching(&service.selector.clone().unwrap_or_default());
    f.remedies = dependency_remedies(cx, first, side, blocked);
    let ports = blocked
        .iter()
        .map(|(d, _)| format!("{} {}", d.protocol, d.port))
        .collect::<Vec<_>>()
        .join(", ");
    match side {
        Direction::Egress => {
            f.message = format!(
                "{client} depends on Service {svc} ({}) but its egress, isolated by {}, does not allow {}",
                evidence_text(cx, first),
                policy_names(cx, &policies),
                flows.join(", ")
            );
            f.help = format!(
                "allow egress from pods `{client_selector}` to namespace {} pods `{service_selector}` on {}.{}",
                service.meta.id.namespace,
                ports,
                dead_namespace_selectors(cx, &policies.kubernetes)
            );
        }
        Direction::Ingress => {
            f.message = format!(
                "{client} depends on Service {svc} ({}) but the ingress of its pods, isolated by {}, does not allow {client}: {}",
                evidence_text(cx, first),
                policy_names(cx, &policies),
                flows.join(", ")
            );
            f.help = format!(
                "allow ingress to pods `{service_selector}` in {} from namespace {} pods `{client_selector}` on {}",
                service.meta.id.namespace,
                cx.world.workloads[first.client].meta.id.namespace,
                ports
            );
        }
    }
    f
}

/// Egress: one policy for the client towards the Service's pods on every blocked port.
/// Ingress: one policy per blocked destination workload admitting the client's pods.
fn dependency_remedies(
    cx: &Context,
    d: &Dependency,
    side: Direction,
    blocked: &[(Destination, SideVerdict)],
) -> Vec<Remedy> {
    let service = &cx.world.services[d.service];
    match side {
        Direction::Egress => {
            let mut ports: Vec<(Protocol, u16)> =
                blocked.iter().map(|(b, _)| (b.protocol, b.port)).collect();
            ports.sort();
            ports.dedup();
            let peer = RemedyPeer::Pods {
                namespace: service.meta.id.namespace,
                labels: service.selector.clone().unwrap_or_default(),
            };
            placement(cx, &blocked[0].1, Direction::Egress)
                .map(|at| allow(cx, Direction::Egress, d.client, peer, ports, true, at))
                .into_iter()
                .collect()
        }
        Direction::Ingress => blocked
            .iter()
            .filter_map(|(dest, side)| {
                Some(allow(
                    cx,
                    Direction::Ingress,
                    dest.workload,
                    pods_of(cx, d.client),
                    vec![(dest.protocol, dest.port)],
                    true,
                    placement(cx, side, Direction::Ingress)?,
                ))
            })
            .collect(),
    }
}

/// Egress to the Services named by dependencies whose env var `claims` accepts.
pub(crate) fn service_egress(
    cx: &Context,
    rule: &Rule,
    deps: &[Dependency],
    claims: impl Fn(Option<&str>) -> bool,
) -> Vec<Finding> {
    let claimed = deps.iter().filter(|d| claims(d.env.as_deref()));
    dependency_findings(cx, rule, claimed, Direction::Egress)
}

/// A finding per (client, Service) whose flows `side` blocks, in that order; the groups are
/// checked in parallel (most findings of a large tree come from here).
fn dependency_findings<'d, 'w: 'd>(
    cx: &Context,
    rule: &Rule,
    deps: impl Iterator<Item = &'d Dependency<'w>>,
    side: Direction,
) -> Vec<Finding> {
    let sorted = by_client_and_service(deps);
    let groups: Vec<&[&Dependency]> = sorted.chunk_by(same_client_and_service).collect();
    groups
        .par_iter()
        .filter_map(|group| {
            let blocked = blocked(cx, group, side);
            (!blocked.is_empty()).then(|| dependency_finding(cx, rule, group, side, &blocked))
        })
        .collect()
}

/// Ingress at the destinations of every dependency, and at the DNS pods.
pub(crate) fn service_ingress(cx: &Context, rule: &Rule, deps: &[Dependency]) -> Vec<Finding> {
    let mut out = dependency_findings(cx, rule, deps.iter(), Direction::Ingress);
    let dns_pods: Vec<Endpoint> = cx
        .dns_targets
        .iter()
        .copied()
        .filter(|t| !matches!(t, Endpoint::External(_)))
        .collect();
    if dns_pods.is_empty() {
        return out;
    }
    // The same for every client: the DNS pods' isolating policies, and per DNS pod the pods a
    // new policy selects and the ports they listen on.
    let mut policies = Isolators::default();
    for &t in &dns_pods {
        policies.merge(&Isolators::of(cx, t, Direction::Ingress));
    }
    let targets: Vec<String> = dns_pods.iter().map(|&t| endpoint_name(cx, t)).collect();
    let admissions: Vec<_> = dns_pods
        .iter()
        .map(|&t| {
            let selected = match t {
                Endpoint::Workload(w) => (
                    cx.world.workloads[w].meta.id.namespace,
                    cx.world.workloads[w].labels.clone(),
                ),
                _ => (cx.config.dns.namespace, cx.config.dns.labels.clone()),
            };
            let ports: Vec<(Protocol, u16)> = cx
                .config
                .dns
                .ports
                .iter()
                .map(|&(p, n)| (p, dns_target_port(cx, t, p, n)))
                .collect();
            (t, selected, ports)
        })
        .collect();
    for client in clients(cx) {
        if is_dns_target(cx, client) {
            continue;
        }
        let blocked = blocked_dns_ports(cx, client, Direction::Ingress);
        // Reported when lookups over UDP fail; the fix goes where that is decided.
        let Some(&(udp, service_port)) = blocked.iter().find(|(p, _)| *p == Protocol::Udp) else {
            continue;
        };
        let mut f = client_finding(cx, rule, client, Direction::Ingress, &policies);
        f.message = format!(
            "{} cannot resolve names once policies are enforced: the ingress of {}, isolated by {}, does not allow it on {}",
            name(cx, client),
            targets.join(", "),
            policy_names(cx, &policies),
            port_list(&blocked)
        );
        f.help = format!(
            "allow ingress to the DNS pods from {} pods `{}` on {}",
            cx.world.workloads[client].meta.id.namespace,
            Selector::matching(&cx.world.workloads[client].labels),
            port_list(&cx.config.dns.ports)
        );
        for (target, selected, ports) in &admissions {
            let port = dns_target_port(cx, *target, udp, service_port);
            let decided = cx.engine.side_verdict(
                Endpoint::Workload(client),
                *target,
                udp,
                port,
                Direction::Ingress,
            );
            let blocking = decided.filter(|s| !s.allowed());
            if let Some(at) = blocking.and_then(|s| placement(cx, &s, Direction::Ingress)) {
                f.remedies.push(Remedy::Allow {
                    direction: Direction::Ingress,
                    selected: selected.clone(),
                    peer: pods_of(cx, client),
                    ports: ports.clone(),
                    safe: true,
                    placement: at,
                });
            }
        }
        out.push(f);
    }
    out
}
