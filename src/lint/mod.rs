//! `check`: the flows that break once policies are enforced, and the hardcoded addresses that
//! will not survive the migration. Rules are data ([`catalog`]); a few generic checks run them.

pub mod catalog;
pub mod deps;
mod flows;
mod hardcoded;
mod suppress;

use crate::config::Config;
use crate::connectivity::{Endpoint, Engine, Probe};
use crate::diag::Severity;
use crate::model::index::WorkloadIndex;
use crate::model::{Direction, Labels, Name, ObjectId, World};
use crate::net::{IpNet, Protocol};
use crate::source::Location;
use crate::timings::Timings;
use catalog::{Check, Rule};
use deps::ServiceIndex;
use rayon::prelude::*;

/// A problem the migration will hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    /// The workload whose flow is blocked (the client), or the object holding a value.
    pub object: ObjectId,
    /// Where to look first: the workload, or the value for `hardcoded-ip`.
    pub loc: Location,
    /// What `loc` is, as a label on the excerpt.
    pub label: String,
    /// Which side blocks the flow, for flow findings.
    pub side: Option<Direction>,
    /// What is wrong and why it matters once policies are enforced.
    pub message: String,
    /// What to do.
    pub help: String,
    /// Other places involved: isolating policies, the value naming a dependency, the Service.
    pub related: Vec<Related>,
    /// Objects whose `netpol-fix.io/ignore` annotation may suppress this finding.
    pub scope: Vec<ObjectId>,
    /// What would resolve it; empty when there is no sound remedy.
    pub remedies: Vec<Remedy>,
}

impl Finding {
    /// Hides credentials that the texts quote from the input (a URL's password, a token in a
    /// query): every output prints these texts.
    fn redact(&mut self) {
        for text in [&mut self.message, &mut self.help, &mut self.label] {
            if let std::borrow::Cow::Owned(redacted) = crate::redact::redact(text) {
                *text = redacted;
            }
        }
        for related in &mut self.related {
            if let std::borrow::Cow::Owned(redacted) = crate::redact::redact(&related.label) {
                related.label = Name::from(redacted.as_str());
            }
        }
    }

    /// Gives back the spare capacity its texts and lists grew while it was built: a large tree
    /// keeps tens of thousands of findings until the report is written.
    fn shrink_to_fit(&mut self) {
        self.label.shrink_to_fit();
        self.message.shrink_to_fit();
        self.help.shrink_to_fit();
        self.related.shrink_to_fit();
        self.scope.shrink_to_fit();
        self.remedies.shrink_to_fit();
    }
}

/// A remedy as the checks understand it; `fix` turns it into text edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Allow the pods `selected` (namespace, template labels) to send to (egress) or receive
    /// from (ingress) `peer` on `ports`, where `placement` says.
    Allow {
        direction: Direction,
        selected: (Name, Labels),
        peer: Peer,
        ports: Vec<(Protocol, u16)>,
        /// False when the peer is a guess (an API server address nobody configured).
        safe: bool,
        placement: Placement,
    },
    /// Replace `host` inside the value at `value` with `replacement` (an in-cluster name).
    ReplaceHost {
        value: Location,
        host: String,
        replacement: String,
        /// The same change as a patch of the holding object, when one can express it.
        patch: Option<ValuePatch>,
        /// Why `replacement` is not a valid DNS name (a Service name or `cluster_domain` that
        /// is not one), so there is no fix.
        invalid: Option<String>,
    },
}

/// Where an allowing change goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A new Kubernetes NetworkPolicy, after this Kubernetes NetworkPolicy's document.
    AfterPolicy(usize),
    /// A new Kubernetes NetworkPolicy, after this Calico policy's document: Calico evaluates it
    /// in its default tier, before the end-of-tier deny that drops the flow.
    AfterCalicoPolicy(usize),
    /// An Allow rule inserted at `index` of this Calico policy's rules for the direction:
    /// before the Deny rule, or at the end of the tier, that drops the flow.
    CalicoRule { policy: usize, index: usize },
}

/// A value rewrite as a strategic-merge patch: set `target` of `object` to `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValuePatch {
    pub object: ObjectId,
    pub target: deps::PatchTarget,
    pub value: String,
}

/// The other side of an allowed flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Pods { namespace: Name, labels: Labels },
    Cidrs(Vec<IpNet>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub loc: Location,
    /// Interned: the label of an isolating policy is the same in every finding it isolates.
    pub label: Name,
}

/// Everything a check may look at.
pub(crate) struct Context<'w> {
    pub world: &'w World,
    pub config: &'w Config,
    pub engine: Engine<'w>,
    pub services: ServiceIndex<'w>,
    /// Where clients must reach DNS: the DNS pods (or a probe standing for them) or the
    /// configured NodeLocal addresses.
    pub dns_targets: Vec<Endpoint>,
    /// (DNS target, protocol, Service port) → the port the target listens on.
    pub dns_ports: foldhash::HashMap<(Endpoint, Protocol, u16), u16>,
    /// Per NetworkPolicy, its notes on egress namespace selectors that match no namespace.
    pub dead_namespace_notes: Vec<Vec<String>>,
    /// Per direction, each policy's label as an isolating policy (`ingress isolated by x`).
    pub isolation_labels: [flows::IsolationLabels; 2],
    /// Objects with a `netpol-fix.io/ignore` annotation: the only ones worth keeping in a
    /// finding's scope.
    pub annotated: foldhash::HashSet<ObjectId>,
}

impl Context<'_> {
    /// Lets `id`'s suppression annotation, if it has one, suppress `finding`.
    pub fn let_suppress(&self, finding: &mut Finding, id: &ObjectId) {
        if self.annotated.contains(id) {
            finding.scope.push(id.clone());
        }
    }
}

/// A flow the manifests imply (a client naming a Service, to one of its pods), and whether
/// it survives enforcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// Index into `world.workloads`.
    pub client: usize,
    /// Index into `world.services`.
    pub service: usize,
    /// The Service port the client connects to.
    pub service_port: u16,
    /// The Service's pods: index into `world.workloads`.
    pub destination: usize,
    pub protocol: Protocol,
    /// The port the destination pod listens on.
    pub port: u16,
    /// The value that names the Service.
    pub evidence: Location,
    pub allowed: bool,
}

/// What `report` and `probes` need beyond the findings, recorded when asked for (empty
/// otherwise). Per-workload lists are indexed like `world.workloads`.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The implied flows.
    pub flows: Vec<FlowRecord>,
    /// Per workload: does it use the Kubernetes API?
    pub uses_api: Vec<bool>,
    /// Per workload: does DNS over UDP work once enforced?
    pub dns_resolves: Vec<bool>,
    /// Per workload: does any policy, Kubernetes or Calico, select it for [ingress, egress]?
    pub isolated: Vec<[bool; 2]>,
}

/// What a lint run found, and what the fixes need to know of the engine it used.
pub struct Lint {
    pub findings: Vec<Finding>,
    pub recorded: Recorded,
    /// Per workload (index into `world.workloads`), for [ingress, egress]: is it isolated so that
    /// a new Kubernetes NetworkPolicy selecting it would only add what it allows (some policy of
    /// Calico's default tier, where Kubernetes policies sit, already selects it)?
    pub isolated: Vec<[bool; 2]>,
}

/// Runs the active `rules` over the world; `known` lists every rule id of the catalogue (for
/// suppressions of rules that are not active). The world gains the DNS namespace if it lacked it.
pub fn run(
    world: &mut World,
    config: &Config,
    rules: &[Rule],
    known: &[String],
    record_flows: bool,
    timings: &mut Timings,
) -> Lint {
    world.ensure_namespace(&config.dns.namespace);
    let world: &World = world;
    let workloads = WorkloadIndex::new(world);
    let dns_pods: Vec<usize> = workloads
        .with_labels(&config.dns.namespace, &config.dns.labels)
        .collect();
    let probes = if dns_pods.is_empty() && config.dns.addresses.is_empty() {
        vec![Probe {
            namespace: config.dns.namespace,
            labels: config.dns.labels.clone(),
            ports: Vec::new(),
        }]
    } else {
        Vec::new()
    };
    let dns_targets = if !config.dns.addresses.is_empty() {
        config
            .dns
            .addresses
            .iter()
            .map(|&ip| Endpoint::External(ip))
            .collect()
    } else if dns_pods.is_empty() {
        vec![Endpoint::Probe(0)]
    } else {
        dns_pods.into_iter().map(Endpoint::Workload).collect()
    };
    let engine = timings.phase("classes and selectors", || {
        Engine::with_probes(world, &probes)
    });
    let services = timings.phase("service index", || {
        ServiceIndex::new(world, &workloads, &config.cluster_domain)
    });
    // Only needed to find the DNS pods and the Services' backends.
    drop(workloads);
    let mut cx = Context {
        world,
        config,
        engine,
        services,
        dns_targets,
        dns_ports: Default::default(),
        dead_namespace_notes: Vec::new(),
        isolation_labels: [Direction::Ingress, Direction::Egress]
            .map(|side| flows::IsolationLabels::new(world, side)),
        annotated: suppress::annotated(world),
    };
    cx.dns_ports = flows::dns_target_ports(&cx);
    cx.dead_namespace_notes = flows::dead_namespace_notes(&cx);
    timings.count("classes", cx.engine.classes.classes.len() as u64);
    timings.count("distinct selectors", cx.engine.distinct_selectors as u64);
    let check_start = std::time::Instant::now();
    let dependencies = flows::dependencies(&cx);
    // Variables an env-named rule claims; `service-egress` leaves their dependencies to it.
    let claimed_env: Vec<&[String]> = rules
        .iter()
        .filter_map(|r| match &r.check {
            Check::EnvServiceEgress { env } => Some(env.as_slice()),
            _ => None,
        })
        .collect();
    let names = |env: &[String], var: Option<&str>| var.is_some_and(|v| env.iter().any(|n| n == v));
    // One rule's findings; `dependencies` is only read by the rules `reads_dependencies` names.
    let check = |rule: &Rule, dependencies: &[flows::Dependency]| {
        let mut findings = match &rule.check {
            Check::DnsEgress { tcp_only_severity } => {
                flows::dns_egress(&cx, rule, *tcp_only_severity)
            }
            Check::ApiServerEgress => flows::apiserver_egress(&cx, rule),
            Check::EnvServiceEgress { env } => {
                flows::service_egress(&cx, rule, dependencies, |var| names(env, var))
            }
            Check::ServiceEgress => flows::service_egress(&cx, rule, dependencies, |var| {
                !claimed_env.iter().any(|env| names(env, var))
            }),
            Check::ServiceIngress => flows::service_ingress(&cx, rule, dependencies),
            Check::HardcodedIp => hardcoded::hardcoded_ips(&cx, rule),
            Check::UnusedSuppression | Check::SuppressionWithoutReason => Vec::new(),
        };
        for f in &mut findings {
            // The finding's own object (the rest went through `let_suppress`).
            f.scope.retain(|id| cx.annotated.contains(id));
            f.shrink_to_fit();
        }
        findings
    };
    let reads_dependencies = |rule: &Rule| {
        matches!(
            rule.check,
            Check::EnvServiceEgress { .. } | Check::ServiceEgress | Check::ServiceIngress
        )
    };
    // Rules are independent and checked in parallel: first those that read the dependencies
    // (a large tree has hundreds of thousands), then the others once those are let go. The
    // order they are gathered in does not matter: findings are sorted below, and one rule's
    // come out in the order it made them.
    let mut per_rule: Vec<Vec<Finding>> = rules
        .par_iter()
        .filter(|rule| reads_dependencies(rule))
        .map(|rule| check(rule, &dependencies))
        .collect();
    // What `report` and `probes` need of the dependencies, taken before they are let go.
    let recorded = if record_flows {
        Recorded {
            flows: flows::records(&cx, &dependencies),
            uses_api: flows::uses_api(&cx),
            dns_resolves: flows::dns_resolves(&cx),
            isolated: (0..world.workloads.len())
                .map(|i| {
                    [Direction::Ingress, Direction::Egress]
                        .map(|d| cx.engine.isolated(Endpoint::Workload(i), d))
                })
                .collect(),
        }
    } else {
        Recorded::default()
    };
    timings.count("dependencies", dependencies.len() as u64);
    drop(dependencies);
    per_rule.par_extend(
        rules
            .par_iter()
            .filter(|rule| !reads_dependencies(rule))
            .map(|rule| check(rule, &[])),
    );
    let mut findings = Vec::with_capacity(per_rule.iter().map(Vec::len).sum());
    for mut some in per_rule {
        findings.append(&mut some);
    }
    let mut findings = suppress::apply(world, rules, known, findings);
    findings.iter_mut().for_each(Finding::redact);
    timings.count(
        "flows checked",
        cx.engine
            .verdicts
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    timings.record("flow checks", check_start.elapsed());
    findings.sort_by(|a, b| {
        (
            a.loc,
            &a.rule,
            &a.object,
            a.side.map(Direction::as_str),
            &a.message,
        )
            .cmp(&(
                b.loc,
                &b.rule,
                &b.object,
                b.side.map(Direction::as_str),
                &b.message,
            ))
    });
    let isolated = (0..world.workloads.len())
        .map(|i| {
            [Direction::Ingress, Direction::Egress]
                .map(|d| cx.engine.default_tier_applies(Endpoint::Workload(i), d))
        })
        .collect();
    Lint {
        findings,
        recorded,
        isolated,
    }
}

/// A finding of `rule` with the fields every check fills the same way.
pub(crate) fn finding(rule: &Rule, object: ObjectId, loc: Location) -> Finding {
    Finding {
        rule: rule.id.clone(),
        severity: rule.severity,
        label: object.to_string(),
        scope: vec![object.clone()],
        object,
        loc,
        side: None,
        message: String::new(),
        help: String::new(),
        related: Vec::new(),
        remedies: Vec::new(),
    }
}
