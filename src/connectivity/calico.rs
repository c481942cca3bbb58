//! Calico's evaluation of one side of a flow: the tiers in order; in a tier, the policies that
//! select the endpoint for that direction, in order; in a policy, the first rule that matches
//! decides (Allow, Deny, Pass to the next tier; Log goes on). Kubernetes NetworkPolicies are
//! policies of the default tier at order 1000 with Allow rules only. A tier that selects the
//! endpoint ends with a deny (or passes, by `defaultAction: Pass`); a tier that does not is
//! skipped; with no decision, Calico's namespace profile allows.
//!
//! Endpoints carry the labels Calico gives them: their own, `projectcalico.org/namespace`,
//! `projectcalico.org/orchestrator`, `projectcalico.org/serviceaccount`, and their namespace's
//! and service account's labels under `pcns.` and `pcsa.`.

use foldhash::HashMap;

use super::{Endpoint, Probe, RuleRef, SideVerdict};
use std::net::IpAddr;

use crate::model::calico::{
    Action, CalicoPolicy, CalicoPort, CalicoRule, DEFAULT_TIER, DEFAULT_TIER_ORDER, EntityRule,
    KUBERNETES_POLICY_ORDER, order_key, protocol_number,
};
use crate::model::calico_selector::Expr;
use crate::model::{ContainerPort, Direction, Labels, Name, World};
use crate::net::Protocol;

/// What decided one side of a flow under Calico.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decider {
    /// Rule `rule` of `world.calico.policies[policy]`.
    Rule {
        policy: usize,
        rule: usize,
        action: Action,
    },
    /// A rule of a Kubernetes NetworkPolicy (default tier, order 1000).
    KubernetesRule(RuleRef),
    /// No rule of the tier's policies matched: its end-of-tier deny.
    EndOfTier(Name),
    /// No tier decided (none selects the endpoint, or all passed): the namespace profile allows.
    Profile,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoDecision {
    pub allowed: bool,
    pub by: Decider,
    /// Calico policies that select the endpoint for this direction.
    pub applying: Vec<usize>,
    /// Every policy that selects the endpoint for this direction, in evaluation order.
    pub evaluated: Vec<PolicyRef>,
}

/// One end of a flow as Calico's selectors see it.
struct Labelled<'a> {
    labels: &'a Labels,
    /// Index into `world.namespaces`; `None` for a GlobalNetworkSet.
    namespace: Option<usize>,
    /// For pods: the service account's name and Calico's labels of it.
    service_account: Option<(&'a Name, &'a Labels)>,
}

/// Per-endpoint facts Calico evaluation needs, built once per engine when the world has Calico
/// policies.
pub struct CalicoIndex {
    /// Per pod (workloads, then probes).
    pod_labels: Vec<Labels>,
    pod_namespace: Vec<usize>,
    pod_service_account: Vec<(Name, Labels)>,
    /// Per namespace: its labels plus `projectcalico.org/name`.
    namespace_labels: Vec<Labels>,
    /// Per network set: its labels plus its namespace's, as Calico labels them.
    set_labels: Vec<Labels>,
    set_namespace: Vec<Option<usize>>,
    /// Per direction, per pod: the Calico policies selecting it.
    applying: [Vec<Vec<usize>>; 2],
    /// Where each Calico policy, then each Kubernetes policy, stands in Calico's order.
    calico_keys: Vec<OrderKey>,
    kubernetes_keys: Vec<OrderKey>,
}

fn with_prefix<'a>(prefix: &'a str, labels: &'a Labels) -> impl Iterator<Item = (Name, Name)> + 'a {
    labels
        .iter()
        .map(move |(k, v)| (Name::from(&format!("{prefix}{k}")), *v))
}

impl CalicoIndex {
    /// `None` when the world has no Calico policy: Kubernetes semantics apply unchanged.
    pub fn new(world: &World, probes: &[Probe]) -> Option<CalicoIndex> {
        if world.calico.policies.is_empty() {
            return None;
        }
        let namespace_labels: Vec<Labels> = world
            .namespaces
            .iter()
            .map(|n| {
                let mut l = n.labels.clone();
                l.insert("projectcalico.org/name".into(), n.name);
                l
            })
            .collect();
        let accounts: HashMap<(&str, &str), &Labels> = world
            .service_accounts
            .iter()
            .map(|s| {
                (
                    (s.meta.id.namespace.as_str(), s.meta.id.name.as_str()),
                    &s.labels,
                )
            })
            .collect();
        let empty = Labels::new();
        let default_account = Name::from("default");
        let pods = world
            .workloads
            .iter()
            .map(|w| (&w.meta.id.namespace, &w.labels, &w.service_account))
            .chain(
                probes
                    .iter()
                    .map(|p| (&p.namespace, &p.labels, &default_account)),
            );
        let mut index = CalicoIndex {
            pod_labels: Vec::new(),
            pod_namespace: Vec::new(),
            pod_service_account: Vec::new(),
            namespace_labels,
            set_labels: Vec::new(),
            set_namespace: Vec::new(),
            applying: [Vec::new(), Vec::new()],
            calico_keys: Vec::new(),
            kubernetes_keys: Vec::new(),
        };
        for (namespace, labels, account) in pods {
            // Every namespace a pod is in is in the world (the model adds the ones it uses).
            let ns = world.namespace_index(namespace).unwrap_or(0);
            let mut sa_labels = accounts
                .get(&(namespace.as_str(), account.as_str()))
                .copied()
                .unwrap_or(&empty)
                .clone();
            sa_labels.insert("projectcalico.org/name".into(), *account);
            let mut calico = labels.clone();
            calico.extend([
                ("projectcalico.org/namespace".into(), *namespace),
                ("projectcalico.org/orchestrator".into(), "k8s".into()),
                ("projectcalico.org/serviceaccount".into(), *account),
            ]);
            calico.extend(with_prefix("pcns.", &index.namespace_labels[ns]));
            calico.extend(with_prefix("pcsa.", &sa_labels));
            index.pod_labels.push(calico);
            index.pod_namespace.push(ns);
            index.pod_service_account.push((*account, sa_labels));
        }
        for set in &world.calico.network_sets {
            let ns = set
                .namespace
                .as_deref()
                .and_then(|n| world.namespace_index(n));
            let mut labels = set.labels.clone();
            if let (Some(name), Some(ns)) = (&set.namespace, ns) {
                labels.insert("projectcalico.org/namespace".into(), *name);
                labels.extend(with_prefix("pcns.", &index.namespace_labels[ns]));
            }
            index.set_labels.push(labels);
            index.set_namespace.push(ns);
        }
        for d in [Direction::Ingress, Direction::Egress] {
            let per_pod = (0..index.pod_labels.len())
                .map(|pod| {
                    (0..world.calico.policies.len())
                        .filter(|&p| {
                            let policy = &world.calico.policies[p];
                            policy.applies_to(d)
                                && !policy.host_only
                                && index.selects(world, policy, pod)
                        })
                        .collect()
                })
                .collect();
            index.applying[d.index()] = per_pod;
        }
        let mut tiers: HashMap<&str, ((bool, f64), bool)> = world
            .calico
            .tiers
            .iter()
            .map(|t| (t.name.as_str(), (order_key(t.order), t.pass_by_default)))
            .collect();
        tiers
            .entry(DEFAULT_TIER)
            .or_insert((order_key(Some(DEFAULT_TIER_ORDER)), false));
        let key = |tier: &str, order: Option<f64>, name: String| {
            // A tier no Tier object declares sorts last and denies at its end.
            let (tier_order, pass_by_default) =
                tiers.get(tier).copied().unwrap_or((order_key(None), false));
            OrderKey {
                tier_order,
                tier: Name::from(tier),
                pass_by_default,
                order: order_key(order),
                name,
            }
        };
        index.calico_keys = world
            .calico
            .policies
            .iter()
            .map(|p| {
                let id = &p.meta.id;
                key(&p.tier, p.order, policy_key(&id.namespace, &id.name, false))
            })
            .collect();
        index.kubernetes_keys = world
            .policies
            .iter()
            .map(|p| {
                let id = &p.meta.id;
                key(
                    DEFAULT_TIER,
                    Some(KUBERNETES_POLICY_ORDER),
                    policy_key(&id.namespace, &id.name, true),
                )
            })
            .collect();
        Some(index)
    }

    /// Calico policies selecting pod `pod` (workloads, then probes) for `direction`.
    pub fn applying(&self, pod: usize, direction: Direction) -> &[usize] {
        &self.applying[direction.index()][pod]
    }

    /// Whether `policy` applies to pod `pod`.
    fn selects(&self, world: &World, policy: &CalicoPolicy, pod: usize) -> bool {
        let ns = self.pod_namespace[pod];
        let in_scope = if policy.global {
            policy
                .namespace_selector
                .as_ref()
                .is_none_or(|s| matches_namespace(s, Some(&self.namespace_labels[ns])))
        } else {
            world.namespaces[ns].name == policy.meta.id.namespace
        };
        in_scope
            && policy.selector.matches(&self.pod_labels[pod])
            && policy
                .service_account_selector
                .as_ref()
                .is_none_or(|s| s.matches(&self.pod_service_account[pod].1))
    }

    fn pod(&self, pod: usize) -> Labelled<'_> {
        let (name, labels) = &self.pod_service_account[pod];
        Labelled {
            labels: &self.pod_labels[pod],
            namespace: Some(self.pod_namespace[pod]),
            service_account: Some((name, labels)),
        }
    }
}

/// A Calico `namespaceSelector` against a namespace's labels (`None`: a non-namespaced
/// endpoint): Calico rewrites it onto `pcns.` labels, `all()` to "has a namespace" and
/// `global()` to "has none".
fn matches_namespace(expr: &Expr, namespace: Option<&Labels>) -> bool {
    match expr {
        Expr::All => namespace.is_some(),
        Expr::Global => namespace.is_none(),
        Expr::Not(e) => !matches_namespace(e, namespace),
        Expr::And(es) => es.iter().all(|e| matches_namespace(e, namespace)),
        Expr::Or(es) => es.iter().any(|e| matches_namespace(e, namespace)),
        leaf => leaf.matches(namespace.unwrap_or(&Labels::new())),
    }
}

/// One side of a flow: whose policies, and the flow itself.
pub struct Side<'a> {
    pub direction: Direction,
    /// The endpoint whose policies decide (the source for egress, the destination for ingress).
    pub own: usize,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
    pub port: u16,
    /// The destination's named ports (empty for an external address).
    pub dst_named_ports: &'a [ContainerPort],
    /// The Kubernetes side verdict of the same endpoint.
    pub kubernetes: &'a SideVerdict,
}

/// A policy of the ordered list: Calico's own or a Kubernetes NetworkPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRef {
    Calico(usize),
    Kubernetes(usize),
}

/// Where a policy stands in Calico's order: its tier (by the tier's order, then name), then its
/// order, then its name.
struct OrderKey {
    tier_order: (bool, f64),
    tier: Name,
    pass_by_default: bool,
    order: (bool, f64),
    /// The name Felix breaks ties of order with (see [`policy_key`]).
    name: String,
}

impl OrderKey {
    fn cmp(&self, other: &OrderKey) -> std::cmp::Ordering {
        (self.tier_order, &self.tier, self.order, &self.name)
            .partial_cmp(&(other.tier_order, &other.tier, other.order, &other.name))
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// The name Felix keys a policy by, which breaks ties of order: `<namespace>/<name>` for
/// namespaced policies, Kubernetes NetworkPolicies named `knp.default.<name>`.
fn policy_key(namespace: &str, name: &str, kubernetes: bool) -> String {
    let prefix = if kubernetes { "knp.default." } else { "" };
    if namespace.is_empty() {
        format!("{prefix}{name}")
    } else {
        format!("{namespace}/{prefix}{name}")
    }
}

impl CalicoIndex {
    /// The decision for one side, or `None` when no Calico policy selects the endpoint for
    /// this direction (then the Kubernetes verdict stands as it is).
    pub fn decide(&self, world: &World, side: &Side) -> Option<CalicoDecision> {
        let applying = self.applying(side.own, side.direction);
        if applying.is_empty() {
            return None;
        }
        let mut entries: Vec<(&OrderKey, PolicyRef)> = applying
            .iter()
            .map(|&p| (&self.calico_keys[p], PolicyRef::Calico(p)))
            .chain(
                side.kubernetes
                    .isolated_by
                    .iter()
                    .map(|&p| (&self.kubernetes_keys[p], PolicyRef::Kubernetes(p))),
            )
            .collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let decision = |allowed, by| {
            Some(CalicoDecision {
                allowed,
                by,
                applying: applying.to_vec(),
                evaluated: entries.iter().map(|e| e.1).collect(),
            })
        };
        for tier in entries.chunk_by(|a, b| a.0.tier == b.0.tier) {
            let mut passed = false;
            'policies: for &(_, entry) in tier {
                match entry {
                    PolicyRef::Kubernetes(p) => {
                        if let Some(&r) = side.kubernetes.allowed_by.iter().find(|r| r.policy == p)
                        {
                            return decision(true, Decider::KubernetesRule(r));
                        }
                    }
                    PolicyRef::Calico(p) => {
                        let policy = &world.calico.policies[p];
                        for (r, rule) in policy.rules(side.direction).iter().enumerate() {
                            if !self.rule_matches(world, policy, rule, side) {
                                continue;
                            }
                            let by = Decider::Rule {
                                policy: p,
                                rule: r,
                                action: rule.action,
                            };
                            match rule.action {
                                Action::Allow => return decision(true, by),
                                Action::Deny => return decision(false, by),
                                Action::Pass => {
                                    passed = true;
                                    break 'policies;
                                }
                                Action::Log => {}
                            }
                        }
                    }
                }
            }
            let key = tier[0].0;
            if !passed && !key.pass_by_default {
                return decision(false, Decider::EndOfTier(key.tier));
            }
        }
        decision(true, Decider::Profile)
    }

    fn rule_matches(
        &self,
        world: &World,
        policy: &CalicoPolicy,
        rule: &CalicoRule,
        side: &Side,
    ) -> bool {
        let proto = protocol_number(side.protocol);
        // Pod addresses count as IPv4 (a single-stack cluster); an outside address says.
        let version = match (side.src, side.dst) {
            (Endpoint::External(IpAddr::V6(_)), _) | (_, Endpoint::External(IpAddr::V6(_))) => 6,
            _ => 4,
        };
        let destination_ports = || match (&rule.destination.ports, &rule.destination.services) {
            (Some(ports), _) => ports.iter().any(|p| port_matches(p, side)),
            // A Service named without ports: the ports its pods serve it on.
            (None, Some(service)) => self
                .service(world, policy, service)
                .is_some_and(|s| service_ports_match(&world.services[s], side)),
            (None, None) => true,
        };
        rule.protocol.is_none_or(|p| p == proto)
            && rule.not_protocol.is_none_or(|p| p != proto)
            && rule.ip_version.is_none_or(|v| v == version)
            && source_ports_match(&rule.source)
            && self.entity_matches(world, policy, &rule.source, side.src)
            && self.entity_matches(world, policy, &rule.destination, side.dst)
            && destination_ports()
            && !rule
                .destination
                .not_ports
                .iter()
                .any(|p| port_matches(p, side))
    }

    /// The Service a rule's `services` names (in the policy's namespace when it names none).
    fn service(
        &self,
        world: &World,
        policy: &CalicoPolicy,
        (name, namespace): &(Name, Option<Name>),
    ) -> Option<usize> {
        let namespace = namespace.as_ref().unwrap_or(&policy.meta.id.namespace);
        world
            .services
            .iter()
            .position(|s| s.meta.id.name == *name && s.meta.id.namespace == *namespace)
    }

    /// Calico renders a rule's selectors as address sets: the endpoint must be in the set of the
    /// positive part (selector, namespace scope, service accounts) when there is one, and not in
    /// the set of `notSelector`. Pods and the addresses of network sets are in such sets; other
    /// addresses only pass where no positive part is required.
    fn entity_matches(
        &self,
        world: &World,
        policy: &CalicoPolicy,
        entity: &EntityRule,
        endpoint: Endpoint,
    ) -> bool {
        // In a namespaced policy any selector field brings the namespace as a positive part.
        let needs_positive = entity.selector.is_some()
            || entity.namespace_selector.is_some()
            || entity.service_accounts.is_some()
            || entity.services.is_some()
            || (!policy.global && entity.not_selector.is_some());
        let excluded = |who: &Labelled| {
            entity
                .not_selector
                .as_ref()
                .is_some_and(|s| s.matches(who.labels))
        };
        match endpoint {
            Endpoint::External(ip) => {
                let sets: Vec<Labelled> = world
                    .calico
                    .network_sets
                    .iter()
                    .enumerate()
                    .filter(|(_, set)| set.nets.iter().any(|n| n.contains(ip)))
                    .map(|(i, _)| Labelled {
                        labels: &self.set_labels[i],
                        namespace: self.set_namespace[i],
                        service_account: None,
                    })
                    .collect();
                entity
                    .nets
                    .as_ref()
                    .is_none_or(|nets| nets.iter().any(|n| n.contains(ip)))
                    && !entity.not_nets.iter().any(|n| n.contains(ip))
                    && (!needs_positive
                        || sets
                            .iter()
                            .any(|set| self.positive_matches(world, policy, entity, set)))
                    && !sets.iter().any(excluded)
            }
            // Pod addresses are not known offline: listed nets match a pod only when one of them
            // is everything (`/0`).
            pod => {
                let index = match pod {
                    Endpoint::Workload(w) => w,
                    Endpoint::Probe(p) => world.workloads.len() + p,
                    Endpoint::External(_) => unreachable!("handled above"),
                };
                let who = self.pod(index);
                let everything = |nets: &[crate::net::IpNet]| nets.iter().any(|n| n.prefix == 0);
                entity.nets.as_deref().is_none_or(everything)
                    && !everything(&entity.not_nets)
                    && (!needs_positive || self.positive_matches(world, policy, entity, &who))
                    && !excluded(&who)
            }
        }
    }

    /// The positive part of a rule's selectors against a labelled endpoint. In a namespaced
    /// policy it is limited to the policy's namespace unless the rule has its own
    /// `namespaceSelector`.
    fn positive_matches(
        &self,
        world: &World,
        policy: &CalicoPolicy,
        entity: &EntityRule,
        who: &Labelled,
    ) -> bool {
        let namespace_ok = match (&entity.namespace_selector, who.namespace) {
            (Some(s), ns) => matches_namespace(s, ns.map(|n| &self.namespace_labels[n])),
            (None, _) if policy.global => true,
            (None, Some(n)) => world.namespaces[n].name == policy.meta.id.namespace,
            (None, None) => false,
        };
        // `services`: the pods the Service selects (a pod is what has a service account).
        let backs_service = entity.services.as_ref().is_none_or(|named| {
            who.service_account.is_some()
                && self
                    .service(world, policy, named)
                    .and_then(|s| {
                        let service = &world.services[s];
                        let selector = service.selector.as_ref()?;
                        Some(
                            who.namespace.is_some_and(|n| {
                                world.namespaces[n].name == service.meta.id.namespace
                            }) && selector.iter().all(|(k, v)| who.labels.get(k) == Some(v)),
                        )
                    })
                    .unwrap_or(false)
        });
        namespace_ok
            && backs_service
            && entity
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(who.labels))
            && entity.service_accounts.as_ref().is_none_or(|sa| {
                who.service_account.is_some_and(|(name, labels)| {
                    (sa.names.is_empty() || sa.names.contains(name))
                        && sa.selector.as_ref().is_none_or(|s| s.matches(labels))
                })
            })
    }
}

/// The source ports of a connection are ephemeral (Linux: 32768–60999): a rule's source
/// `ports` match when they cover that whole range, its `notPorts` when they miss all of it;
/// anything in between cannot be known offline and does not match.
fn source_ports_match(source: &EntityRule) -> bool {
    const EPHEMERAL: (u16, u16) = (32768, 60999);
    let overlaps = |p: &CalicoPort| match p {
        CalicoPort::Range(a, b) => *a <= EPHEMERAL.1 && *b >= EPHEMERAL.0,
        CalicoPort::Named(_) => true,
    };
    let covers = source.ports.as_ref().is_none_or(|ports| {
        ports
            .iter()
            .any(|p| matches!(p, CalicoPort::Range(a, b) if *a <= EPHEMERAL.0 && *b >= EPHEMERAL.1))
    });
    covers && !source.not_ports.iter().any(overlaps)
}

/// Whether the flow's destination port is one a Service's pods serve it on.
fn service_ports_match(service: &crate::model::Service, side: &Side) -> bool {
    service.ports.iter().any(|sp| {
        sp.protocol == side.protocol
            && match &sp.target {
                crate::model::TargetPort::Number(n) => *n == side.port,
                crate::model::TargetPort::Name(name) => side.dst_named_ports.iter().any(|cp| {
                    cp.protocol == side.protocol
                        && cp.port == side.port
                        && cp.name.as_deref() == Some(name.as_str())
                }),
            }
    })
}

/// A destination port of a rule: a number or range, or a named port of the destination with
/// the flow's protocol (never an external address's).
fn port_matches(port: &CalicoPort, side: &Side) -> bool {
    match port {
        CalicoPort::Range(a, b) => (*a..=*b).contains(&side.port),
        CalicoPort::Named(name) => side.dst_named_ports.iter().any(|cp| {
            cp.protocol == side.protocol
                && cp.port == side.port
                && cp.name.as_deref() == Some(name.as_str())
        }),
    }
}
