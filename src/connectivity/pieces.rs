//! The connection listing when Calico policies take part. Calico's first-match rules with Deny
//! and Pass are not a union of allowed sets, and its selectors read labels the pod classes do
//! not key on, so each pair of workloads is asked of [`Engine::verdict`] once per piece of the
//! port and address space on which every rule decides the same: the spaces cut at every port,
//! named port and network that any rule or network set mentions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::graph::{Connection, GraphEndpoint};
use super::{Endpoint, Engine};
use crate::model::calico::CalicoPort;
use crate::model::{DirectionRules, PortSpec, Ports, TargetPort};
use crate::net::ports::{MAX_PORT, MIN_PORT};
use crate::net::ranges::Bound;
use crate::net::{IpNet, IpSet, PortSet, Protocol, RangeSet};

/// Cuts of a domain into pieces `[first, last]` that cover it.
fn pieces<T: Bound>(mut starts: Vec<T>, min: T, max: T) -> Vec<(T, T)> {
    starts.push(min);
    starts.sort_unstable();
    starts.dedup();
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| (start, starts.get(i + 1).map_or(max, |next| next.pred())))
        .collect()
}

/// The pieces of the port and address spaces (computed once per engine).
pub(super) struct Cuts {
    ports: Vec<(u16, u16)>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Engine<'_> {
    fn cuts(&self) -> &Cuts {
        self.cuts.get_or_init(|| self.compute_cuts())
    }

    fn compute_cuts(&self) -> Cuts {
        let mut ports: Vec<u16> = Vec::new();
        let mut cut_ports = |a: u16, b: u16| {
            ports.push(a);
            if b < MAX_PORT {
                ports.push(b + 1);
            }
        };
        let world = self.world;
        // Port names some rule or Service resolves on pods.
        let mut names: Vec<&str> = Vec::new();
        for p in &world.policies {
            for rules in [&p.ingress, &p.egress] {
                let DirectionRules::Isolates(rules) = rules else {
                    continue;
                };
                for r in rules {
                    if let Ports::Listed(list) = &r.ports {
                        for spec in list {
                            match &spec.port {
                                PortSpec::Range(a, b) => cut_ports(*a, *b),
                                PortSpec::Named(name) => names.push(name),
                                PortSpec::All => {}
                            }
                        }
                    }
                }
            }
        }
        for s in &world.services {
            for p in &s.ports {
                if let TargetPort::Name(name) = &p.target {
                    names.push(name);
                }
            }
        }
        let calico_rules = world
            .calico
            .policies
            .iter()
            .flat_map(|p| p.ingress.iter().chain(&p.egress));
        let mut nets: Vec<IpNet> = Vec::new();
        for r in calico_rules.clone() {
            for entity in [&r.source, &r.destination] {
                for port in entity.ports.iter().flatten().chain(&entity.not_ports) {
                    match port {
                        CalicoPort::Range(a, b) => cut_ports(*a, *b),
                        CalicoPort::Named(name) => names.push(name),
                    }
                }
                nets.extend(entity.nets.iter().flatten().chain(&entity.not_nets));
            }
        }
        // Named ports resolve to the container ports carrying the name.
        for w in &world.workloads {
            for p in &w.ports {
                if p.name.as_deref().is_some_and(|n| names.contains(&n)) {
                    cut_ports(p.port, p.port);
                }
            }
        }
        nets.extend(world.calico.network_sets.iter().flat_map(|s| &s.nets));
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let kubernetes_blocks = (0..2).flat_map(|d| self.rules[d].iter().flatten());
        let sets = nets
            .iter()
            .map(|n| n.to_set())
            .chain(kubernetes_blocks.map(|c| c.addresses()));
        for set in sets {
            for &(a, b) in set.v4.ranges() {
                v4.push(a);
                if b < u32::MAX {
                    v4.push(b + 1);
                }
            }
            for &(a, b) in set.v6.ranges() {
                v6.push(a);
                if b < u128::MAX {
                    v6.push(b + 1);
                }
            }
        }
        Cuts {
            ports: pieces(ports, MIN_PORT, MAX_PORT),
            v4: pieces(v4, 0, u32::MAX),
            v6: pieces(v6, 0, u128::MAX),
        }
    }

    /// The ports on which `src` may reach `dst`: every piece whose first port is allowed.
    fn allowed_ports(&self, cuts: &Cuts, src: Endpoint, dst: Endpoint) -> PortSet {
        if self.enforcement == super::Enforcement::None {
            return PortSet::all();
        }
        let mut set = PortSet::empty();
        for protocol in Protocol::ALL {
            for &(a, b) in &cuts.ports {
                if self.verdict(src, dst, protocol, a).allowed() {
                    set = set.union(&PortSet::range(protocol, a, b));
                }
            }
        }
        set
    }

    /// External address ranges with the ports `workload` may reach them on (or be reached from,
    /// for ingress), neighbours with equal ports merged.
    fn external_pieces(
        &self,
        cuts: &Cuts,
        workload: usize,
        ingress: bool,
    ) -> Vec<(IpAddr, IpAddr, PortSet)> {
        let ranges = cuts
            .v4
            .iter()
            .map(|&(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b))))
            .chain(
                cuts.v6
                    .iter()
                    .map(|&(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
            );
        let mut out: Vec<(IpAddr, IpAddr, PortSet)> = Vec::new();
        for (first, last) in ranges {
            let (pod, ip) = (Endpoint::Workload(workload), Endpoint::External(first));
            let ports = if ingress {
                self.allowed_ports(cuts, ip, pod)
            } else {
                self.allowed_ports(cuts, pod, ip)
            };
            match out.last_mut() {
                Some(prev) if prev.2 == ports && prev.0.is_ipv4() == first.is_ipv4() => {
                    prev.1 = last;
                }
                _ => out.push((first, last, ports)),
            }
        }
        out.retain(|(_, _, ports)| !ports.is_empty());
        out
    }

    /// [`Engine::egress_addresses`] by verdicts: the address pieces whose first address is
    /// allowed.
    pub(super) fn egress_addresses_by_verdict(
        &self,
        pod: Endpoint,
        protocol: Protocol,
        port: u16,
    ) -> IpSet {
        let cuts = self.cuts();
        let allowed = |ip: IpAddr| {
            self.verdict(pod, Endpoint::External(ip), protocol, port)
                .allowed()
        };
        let mut set = IpSet::empty();
        for &(a, b) in &cuts.v4 {
            if allowed(IpAddr::V4(Ipv4Addr::from(a))) {
                set.v4 = set.v4.union(&RangeSet::range(a, b));
            }
        }
        for &(a, b) in &cuts.v6 {
            if allowed(IpAddr::V6(Ipv6Addr::from(a))) {
                set.v6 = set.v6.union(&RangeSet::range(a, b));
            }
        }
        set
    }

    /// [`Engine::for_each_connection`] by verdicts, in the same order: what it does with Calico
    /// policies, and the reference its fast path is tested against.
    pub fn for_each_connection_by_verdict(&self, mut emit: impl FnMut(Connection)) {
        let cuts = self.cuts();
        let order = self.sorted_workloads();
        for &src in &order {
            for &dst in &order {
                let ports =
                    self.allowed_ports(cuts, Endpoint::Workload(src), Endpoint::Workload(dst));
                if !ports.is_empty() {
                    emit(Connection {
                        src: GraphEndpoint::Workload(src),
                        dst: GraphEndpoint::Workload(dst),
                        ports,
                    });
                }
            }
            for (first, last, ports) in self.external_pieces(cuts, src, false) {
                emit(Connection {
                    src: GraphEndpoint::Workload(src),
                    dst: GraphEndpoint::External(first, last),
                    ports,
                });
            }
        }
        for &dst in &order {
            for (first, last, ports) in self.external_pieces(cuts, dst, true) {
                emit(Connection {
                    src: GraphEndpoint::External(first, last),
                    dst: GraphEndpoint::Workload(dst),
                    ports,
                });
            }
        }
    }
}
