//! Connectivity under Kubernetes NetworkPolicy: "may this pod reach that pod or address on this
//! port, and by what?" (`Engine::verdict`) and the full listing of allowed connections (`graph`).
//!
//! Policies are compiled once against pod classes; the per-direction verdict keeps the policies
//! that isolate a pod and the rules that allow a flow, which is what `explain`, the lint rules
//! and the rewriter ask for.

pub mod calico;
pub mod classes;
pub mod graph;
mod isolation;
mod pieces;

use foldhash::{HashMap, HashMapExt, HashSet};
use std::net::IpAddr;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::model::{
    ContainerPort, Direction, DirectionRules, Labels, NamespaceScope, Peer, Peers, Policy,
    PortSpec, Ports, Selector, World,
};
use crate::net::{IpSet, PortSet, Protocol};
use classes::{ClassId, Classes, LabelIndex};

/// What enforces policy in the cluster the answers are for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Enforcement {
    /// Nothing (Flannel): every flow is allowed, whatever the policies say.
    None,
    /// Kubernetes NetworkPolicy only: Calico's own policies are ignored.
    Kubernetes,
    /// Calico: Kubernetes NetworkPolicies and Calico's policies, tiers and network sets.
    #[default]
    Calico,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::None => "none",
            Enforcement::Kubernetes => "kubernetes",
            Enforcement::Calico => "calico",
        }
    }
}

/// One end of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// Index into `World::workloads`.
    Workload(usize),
    /// Index into the engine's probes.
    Probe(usize),
    /// An address outside the cluster.
    External(IpAddr),
}

/// A pod the input does not contain but a check needs to reason about (the cluster DNS pods
/// when CoreDNS is not in the repository). Policies in the input apply to it as to any pod;
/// its namespace must be in the world.
#[derive(Clone, Debug)]
pub struct Probe {
    pub namespace: crate::model::Name,
    pub labels: Labels,
    pub ports: Vec<ContainerPort>,
}

/// A rule of a policy: `(policy index, rule index)` in the given direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    pub policy: usize,
    pub rule: usize,
}

/// The decision of one side (source egress or destination ingress) for one flow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideVerdict {
    /// Policies that select the pod for this direction. Empty: the pod is not isolated.
    pub isolated_by: Vec<usize>,
    /// Rules that allow the flow.
    pub allowed_by: Vec<RuleRef>,
    /// Calico's decision, when Calico policies select the pod for this direction: it decides
    /// (Kubernetes policies take part in it as policies of the default tier).
    pub calico: Option<calico::CalicoDecision>,
}

impl SideVerdict {
    pub fn allowed(&self) -> bool {
        match &self.calico {
            Some(decision) => decision.allowed,
            None => self.isolated_by.is_empty() || !self.allowed_by.is_empty(),
        }
    }

    /// Whether any policy, Kubernetes or Calico, selects the pod for this direction.
    pub fn isolated(&self) -> bool {
        !self.isolated_by.is_empty() || self.calico.is_some()
    }
}

/// Both sides of a flow; a side is `None` when its endpoint is external (no policy applies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub egress: Option<SideVerdict>,
    pub ingress: Option<SideVerdict>,
}

impl Verdict {
    /// The decision of one side: egress (at the source) or ingress (at the destination).
    pub fn side(self, direction: Direction) -> Option<SideVerdict> {
        match direction {
            Direction::Egress => self.egress,
            Direction::Ingress => self.ingress,
        }
    }

    pub fn allowed(&self) -> bool {
        self.egress.as_ref().is_none_or(SideVerdict::allowed)
            && self.ingress.as_ref().is_none_or(SideVerdict::allowed)
    }
}

/// A rule with its peers resolved to pod classes and address sets.
#[derive(Debug)]
struct CompiledRule {
    /// `None`: `from`/`to` absent or empty, every pod and address.
    peers: Option<(RoaringBitmap, IpSet)>,
}

impl CompiledRule {
    fn matches_class(&self, class: ClassId) -> bool {
        self.peers
            .as_ref()
            .is_none_or(|(pods, _)| pods.contains(class))
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        self.peers.as_ref().is_none_or(|(_, ips)| ips.contains(ip))
    }

    fn addresses(&self) -> IpSet {
        self.peers
            .as_ref()
            .map_or_else(IpSet::all, |(_, ips)| ips.clone())
    }
}

/// The compiled world.
pub struct Engine<'w> {
    pub world: &'w World,
    /// Distinct pod and namespace selectors evaluated while compiling.
    pub distinct_selectors: usize,
    /// How many verdicts were asked for (for `--timings`).
    pub verdicts: std::sync::atomic::AtomicU64,
    pub probes: Vec<Probe>,
    pub classes: Classes,
    /// Per direction, per class: the policies that isolate it.
    isolating: isolation::Isolation,
    /// Per direction, per policy: its compiled rules (empty for NotAffected).
    rules: [Vec<Vec<CompiledRule>>; 2],
    /// Calico's view of the pods, when the world has Calico policies and Calico enforces.
    pub calico: Option<calico::CalicoIndex>,
    pub enforcement: Enforcement,
    /// The pieces verdicts are asked for when listing by verdict (computed on first use).
    cuts: std::sync::OnceLock<pieces::Cuts>,
}

impl Probe {
    /// `namespace/{labels}`: how messages name a pod that is not in the input.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{}/{{{}}} (not in the input)",
            self.namespace,
            labels.join(",")
        )
    }
}

impl<'w> Engine<'w> {
    pub fn new(world: &'w World) -> Engine<'w> {
        Engine::with_probes(world, &[])
    }

    /// An engine that also answers for `probes` (as `Endpoint::Probe(i)`).
    pub fn with_probes(world: &'w World, probes: &[Probe]) -> Engine<'w> {
        Engine::configured(world, probes, Enforcement::default())
    }

    /// An engine answering for a cluster where `enforcement` enforces policy.
    pub fn configured(world: &'w World, probes: &[Probe], enforcement: Enforcement) -> Engine<'w> {
        let mut mentioned = classes::Mentioned::default();
        let mut note = |s: &'w Selector| mentioned.note(s);
        for p in &world.policies {
            note(&p.pod_selector);
            for d in [Direction::Ingress, Direction::Egress] {
                if let DirectionRules::Isolates(rules) = p.rules(d) {
                    for r in rules {
                        if let Peers::Listed(peers) = &r.peers {
                            for peer in peers {
                                if let Peer::Pods { pods, .. } = peer {
                                    note(pods);
                                }
                            }
                        }
                    }
                }
            }
        }
        let (classes, labels) = Classes::build(world, probes, &mentioned);
        // Policies are compiled in parallel, a run of them per thread, each with its own
        // selections (a selector both runs use is evaluated twice; what it selects is the same).
        let run = world
            .policies
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(1);
        let (compiled, selections): (Vec<Vec<CompiledPolicy>>, Vec<Selections>) = world
            .policies
            .par_chunks(run)
            .map(|policies| {
                let mut compiler = Compiler::new(world, &classes, &labels);
                let compiled = policies.iter().map(|p| compiler.policy(p)).collect();
                (compiled, compiler.selections())
            })
            .unzip();
        // Counting the distinct selectors (for `--timings`) overlaps with the isolation lists.
        let count_distinct = || {
            let mut distinct = Selections::default();
            for some in selections {
                distinct.pods.extend(some.pods);
                distinct.namespaces.extend(some.namespaces);
            }
            distinct.pods.len() + distinct.namespaces.len()
        };
        let isolation_and_rules = || {
            let mut isolating = isolation::IsolationBuilder::new(classes.classes.len());
            let mut rules = [Vec::new(), Vec::new()];
            for (pi, policy) in compiled.into_iter().flatten().enumerate() {
                for (d, compiled) in policy.rules.into_iter().enumerate() {
                    if compiled.is_some() {
                        isolating.add(d, pi, &policy.selected);
                    }
                    rules[d].push(compiled.unwrap_or_default());
                }
            }
            (isolating.finish(), rules)
        };
        let (distinct_selectors, (isolating, rules)) =
            rayon::join(count_distinct, isolation_and_rules);
        // The label index is not needed once every policy is compiled.
        drop(labels);
        Engine {
            world,
            distinct_selectors,
            verdicts: std::sync::atomic::AtomicU64::new(0),
            probes: probes.to_vec(),
            classes,
            isolating,
            rules,
            calico: match enforcement {
                Enforcement::Calico => calico::CalicoIndex::new(world, probes),
                Enforcement::None | Enforcement::Kubernetes => None,
            },
            enforcement,
            cuts: std::sync::OnceLock::new(),
        }
    }

    pub fn class_of(&self, workload: usize) -> ClassId {
        self.classes.class_of_pod[workload]
    }

    /// The class of a pod endpoint; `None` for an external address.
    pub fn class_of_endpoint(&self, ep: Endpoint) -> Option<ClassId> {
        match ep {
            Endpoint::Workload(w) => Some(self.classes.class_of_pod[w]),
            Endpoint::Probe(p) => Some(self.classes.class_of_pod[self.world.workloads.len() + p]),
            Endpoint::External(_) => None,
        }
    }

    /// Policies isolating a pod in a direction (empty: not isolated, or an external address).
    pub fn isolating(&self, pod: Endpoint, direction: Direction) -> &[u32] {
        match self.class_of_endpoint(pod) {
            Some(c) => self.isolating.of(direction.index(), c),
            None => &[],
        }
    }

    /// Calico policies selecting a pod for a direction (empty without Calico policies, or for an
    /// external address).
    pub fn calico_applying(&self, pod: Endpoint, direction: Direction) -> &[usize] {
        match (&self.calico, self.pod_index(pod)) {
            (Some(index), Some(pod)) => index.applying(pod, direction),
            _ => &[],
        }
    }

    /// Whether any policy, Kubernetes or Calico, selects a pod for a direction.
    pub fn isolated(&self, pod: Endpoint, direction: Direction) -> bool {
        !self.isolating(pod, direction).is_empty()
            || !self.calico_applying(pod, direction).is_empty()
    }

    /// Whether a new Kubernetes NetworkPolicy selecting the pod would leave what it may do
    /// unchanged apart from what the policy allows: a policy of the default tier (Kubernetes, or
    /// Calico's own there) already selects it for this direction, so the tier's deny already
    /// applies to it.
    pub fn default_tier_applies(&self, pod: Endpoint, direction: Direction) -> bool {
        !self.isolating(pod, direction).is_empty()
            || self
                .calico_applying(pod, direction)
                .iter()
                .any(|&p| self.world.calico.policies[p].tier == crate::model::calico::DEFAULT_TIER)
    }

    /// External addresses `pod` may send to on `protocol`/`port` (all when not egress-isolated).
    pub fn egress_addresses(&self, pod: Endpoint, protocol: Protocol, port: u16) -> IpSet {
        if !self.calico_applying(pod, Direction::Egress).is_empty() {
            return self.egress_addresses_by_verdict(pod, protocol, port);
        }
        let isolated_by = self.isolating(pod, Direction::Egress);
        if isolated_by.is_empty() {
            return IpSet::all();
        }
        let d = Direction::Egress.index();
        let mut set = IpSet::empty();
        for policy in isolated_by.iter().map(|&p| p as usize) {
            let rules = self.policy_rules(policy, Direction::Egress);
            for (i, compiled) in self.rules[d][policy].iter().enumerate() {
                if self.allows_port(&rules[i].ports, None, protocol, port) {
                    set = set.union(&compiled.addresses());
                }
            }
        }
        set
    }

    /// May `src` reach `dst` on `protocol`/`port`, and which policies and rules decide it.
    pub fn verdict(&self, src: Endpoint, dst: Endpoint, protocol: Protocol, port: u16) -> Verdict {
        self.verdicts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Verdict {
            egress: self.decide(src, dst, protocol, port, Direction::Egress),
            ingress: self.decide(src, dst, protocol, port, Direction::Ingress),
        }
    }

    /// One side of [`Engine::verdict`]: `src`'s egress or `dst`'s ingress, for the checks that
    /// look at one side only (half the work of a whole verdict).
    pub fn side_verdict(
        &self,
        src: Endpoint,
        dst: Endpoint,
        protocol: Protocol,
        port: u16,
        direction: Direction,
    ) -> Option<SideVerdict> {
        self.verdicts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.decide(src, dst, protocol, port, direction)
    }

    /// What decides the flow at the pod on its `direction` side (`None` when that side is an
    /// external address, or when nothing enforces policy): the Kubernetes policies isolating
    /// the pod and the rules that allow the flow, then Calico's decision when Calico policies
    /// select the pod.
    fn decide(
        &self,
        src: Endpoint,
        dst: Endpoint,
        protocol: Protocol,
        port: u16,
        direction: Direction,
    ) -> Option<SideVerdict> {
        if self.enforcement == Enforcement::None {
            return None;
        }
        let (own, peer) = match direction {
            Direction::Egress => (src, dst),
            Direction::Ingress => (dst, src),
        };
        let own_class = self.class_of_endpoint(own)?;
        let dst_class = self.class_of_endpoint(dst);
        let peer_class = self.class_of_endpoint(peer);
        let isolated_by: Vec<usize> = self
            .isolating
            .of(direction.index(), own_class)
            .iter()
            .map(|&p| p as usize)
            .collect();
        let mut allowed_by = Vec::new();
        for &policy in &isolated_by {
            let rules = self.policy_rules(policy, direction);
            for (rule, compiled) in self.rules[direction.index()][policy].iter().enumerate() {
                let peer_ok = match (peer, peer_class) {
                    (Endpoint::External(ip), _) => compiled.matches_ip(ip),
                    (_, Some(class)) => compiled.matches_class(class),
                    (_, None) => false,
                };
                if peer_ok && self.allows_port(&rules[rule].ports, dst_class, protocol, port) {
                    allowed_by.push(RuleRef { policy, rule });
                }
            }
        }
        let mut verdict = SideVerdict {
            isolated_by,
            allowed_by,
            calico: None,
        };
        if let (Some(index), Some(pod)) = (&self.calico, self.pod_index(own)) {
            let named = dst_class.map_or(&[][..], |c| self.classes.named_ports(c));
            verdict.calico = index.decide(
                self.world,
                &calico::Side {
                    direction,
                    own: pod,
                    src,
                    dst,
                    protocol,
                    port,
                    dst_named_ports: named,
                    kubernetes: &verdict,
                },
            );
        }
        Some(verdict)
    }

    /// The index of a pod endpoint among the world's workloads followed by the probes.
    fn pod_index(&self, ep: Endpoint) -> Option<usize> {
        match ep {
            Endpoint::Workload(w) => Some(w),
            Endpoint::Probe(p) => Some(self.world.workloads.len() + p),
            Endpoint::External(_) => None,
        }
    }

    fn policy_rules(&self, policy: usize, direction: Direction) -> &'w [crate::model::Rule] {
        match self.world.policies[policy].rules(direction) {
            DirectionRules::Isolates(rules) => rules,
            DirectionRules::NotAffected => &[],
        }
    }

    /// Whether a rule's ports include `protocol`/`port` towards `dst` (what [`Self::ports`]
    /// computes as a set, without building it: verdicts ask this for every rule).
    pub fn allows_port(
        &self,
        ports: &Ports,
        dst: Option<ClassId>,
        protocol: Protocol,
        port: u16,
    ) -> bool {
        let Ports::Listed(list) = ports else {
            return true;
        };
        list.iter()
            .filter(|p| p.protocol == protocol)
            .any(|p| match &p.port {
                PortSpec::All => true,
                PortSpec::Range(a, b) => (*a..=*b).contains(&port),
                PortSpec::Named(name) => dst.is_some_and(|c| {
                    self.classes.named_ports(c).iter().any(|cp| {
                        cp.protocol == protocol
                            && cp.port == port
                            && cp.name.as_deref() == Some(name)
                    })
                }),
            })
    }

    /// The ports a rule allows towards a destination class (named ports resolve on it;
    /// towards an external address they match nothing).
    pub fn ports(&self, ports: &Ports, dst: Option<ClassId>) -> PortSet {
        let Ports::Listed(list) = ports else {
            return PortSet::all();
        };
        let mut set = PortSet::empty();
        for p in list {
            let part = match &p.port {
                PortSpec::All => PortSet::range(
                    p.protocol,
                    crate::net::ports::MIN_PORT,
                    crate::net::ports::MAX_PORT,
                ),
                PortSpec::Range(a, b) => PortSet::range(p.protocol, *a, *b),
                PortSpec::Named(name) => {
                    let named = dst.map(|c| self.classes.named_ports(c));
                    named
                        .into_iter()
                        .flatten()
                        .filter(|cp| cp.protocol == p.protocol && cp.name.as_deref() == Some(name))
                        .fold(PortSet::empty(), |acc, cp| {
                            acc.union(&PortSet::range(p.protocol, cp.port, cp.port))
                        })
                }
            };
            set = set.union(&part);
        }
        set
    }
}

/// A policy compiled: the classes it selects, and per direction its rules (`None` when the
/// policy does not isolate that direction).
struct CompiledPolicy {
    selected: RoaringBitmap,
    rules: [Option<Vec<CompiledRule>>; 2],
}

/// The distinct pod and namespace selectors a compiler evaluated.
#[derive(Default)]
struct Selections<'a> {
    pods: HashSet<&'a Selector>,
    namespaces: HashSet<&'a Selector>,
}

/// Resolves selectors against classes, each distinct selector once.
struct Compiler<'a> {
    world: &'a World,
    classes: &'a Classes,
    labels: &'a LabelIndex,
    pod_selectors: HashMap<&'a Selector, RoaringBitmap>,
    namespace_selectors: HashMap<&'a Selector, RoaringBitmap>,
    /// The classes of each namespace a policy is in, by name.
    own_namespaces: HashMap<&'a str, RoaringBitmap>,
}

impl<'a> Compiler<'a> {
    fn new(world: &'a World, classes: &'a Classes, labels: &'a LabelIndex) -> Compiler<'a> {
        Compiler {
            world,
            classes,
            labels,
            pod_selectors: HashMap::new(),
            namespace_selectors: HashMap::new(),
            own_namespaces: HashMap::new(),
        }
    }

    /// The classes `policy` selects and its rules, resolved.
    fn policy(&mut self, policy: &'a Policy) -> CompiledPolicy {
        let namespace = &policy.meta.id.namespace;
        let mut selected = self.selected(&policy.pod_selector, namespace);
        selected.optimize();
        let rules = [Direction::Ingress, Direction::Egress].map(|d| match policy.rules(d) {
            DirectionRules::NotAffected => None,
            DirectionRules::Isolates(list) => Some(
                list.iter()
                    .map(|r| self.rule(&r.peers, namespace))
                    .collect(),
            ),
        });
        CompiledPolicy { selected, rules }
    }

    /// The distinct selectors it evaluated.
    fn selections(self) -> Selections<'a> {
        Selections {
            pods: self.pod_selectors.into_keys().collect(),
            namespaces: self.namespace_selectors.into_keys().collect(),
        }
    }

    /// Classes in `namespace` that `selector` selects (selections and namespaces are computed
    /// once each and intersected without copying them).
    fn selected(&mut self, selector: &'a Selector, namespace: &'a str) -> RoaringBitmap {
        let (world, classes, labels) = (self.world, self.classes, self.labels);
        let pods = self
            .pod_selectors
            .entry(selector)
            .or_insert_with(|| labels.select(selector));
        let own = self.own_namespaces.entry(namespace).or_insert_with(|| {
            let marks: Vec<bool> = world
                .namespaces
                .iter()
                .map(|n| n.name == namespace)
                .collect();
            classes.in_namespaces(&marks)
        });
        &*pods & &*own
    }

    /// Classes in the namespaces `namespaces` selects that `selector` selects.
    fn selected_in_matching(
        &mut self,
        selector: &'a Selector,
        namespaces: &'a Selector,
    ) -> RoaringBitmap {
        let (world, classes, labels) = (self.world, self.classes, self.labels);
        let pods = self
            .pod_selectors
            .entry(selector)
            .or_insert_with(|| labels.select(selector));
        let matching = self
            .namespace_selectors
            .entry(namespaces)
            .or_insert_with(|| {
                let marks: Vec<bool> = world
                    .namespaces
                    .iter()
                    .map(|n| namespaces.matches(&n.labels))
                    .collect();
                classes.in_namespaces(&marks)
            });
        &*pods & &*matching
    }

    fn rule(&mut self, peers: &'a Peers, policy_ns: &'a str) -> CompiledRule {
        let Peers::Listed(list) = peers else {
            return CompiledRule { peers: None };
        };
        let mut pods = RoaringBitmap::new();
        let mut ips = IpSet::empty();
        for peer in list {
            match peer {
                Peer::Pods {
                    namespaces,
                    pods: selector,
                    ..
                } => {
                    pods |= match namespaces {
                        NamespaceScope::PolicyNamespace => self.selected(selector, policy_ns),
                        NamespaceScope::Matching(s) => self.selected_in_matching(selector, s),
                    };
                }
                Peer::IpBlock { addresses, .. } => ips = ips.union(addresses),
            }
        }
        pods.optimize();
        CompiledRule {
            peers: Some((pods, ips)),
        }
    }
}
