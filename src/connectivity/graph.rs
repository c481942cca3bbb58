//! The full listing of allowed connections, streamed in a deterministic order.
//!
//! Listing every pair is the one quadratic operation; it is computed per pair of classes and
//! handed to a callback, never collected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Engine;
use super::classes::ClassId;
use crate::model::Direction;
use crate::net::ranges::Bound;
use crate::net::{IpSet, PortSet, RangeSet};

/// An end of a listed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GraphEndpoint {
    Workload(usize),
    /// An inclusive range of external addresses.
    External(IpAddr, IpAddr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub src: GraphEndpoint,
    pub dst: GraphEndpoint,
    pub ports: PortSet,
}

impl Engine<'_> {
    /// Workload indices sorted by (namespace, kind, name).
    pub fn sorted_workloads(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.world.workloads.len()).collect();
        order.sort_by(|&a, &b| {
            self.world.workloads[a]
                .meta
                .id
                .cmp(&self.world.workloads[b].meta.id)
        });
        order
    }

    /// Every allowed connection: workload → workload (sources in order, then destinations),
    /// workload → external ranges, then external ranges → workload.
    pub fn for_each_connection(&self, mut emit: impl FnMut(Connection)) {
        if self.calico.is_some() || self.enforcement == super::Enforcement::None {
            return self.for_each_connection_by_verdict(emit);
        }
        let order = self.sorted_workloads();
        let mut cache: Option<(ClassId, Vec<Option<PortSet>>)> = None;
        for &src in &order {
            let s = self.class_of(src);
            if cache.as_ref().is_none_or(|(c, _)| *c != s) {
                cache = Some((s, vec![None; self.classes.classes.len()]));
            }
            let Some((_, row)) = cache.as_mut() else {
                continue;
            };
            for &dst in &order {
                let d = self.class_of(dst);
                let ports = row[d as usize].get_or_insert_with(|| {
                    self.allowed(s, Direction::Egress, d, Some(d))
                        .intersection(&self.allowed(d, Direction::Ingress, s, Some(d)))
                });
                if !ports.is_empty() {
                    emit(Connection {
                        src: GraphEndpoint::Workload(src),
                        dst: GraphEndpoint::Workload(dst),
                        ports: ports.clone(),
                    });
                }
            }
            for (first, last, ports) in self.external_ranges(s, Direction::Egress) {
                emit(Connection {
                    src: GraphEndpoint::Workload(src),
                    dst: GraphEndpoint::External(first, last),
                    ports,
                });
            }
        }
        for &dst in &order {
            for (first, last, ports) in self.external_ranges(self.class_of(dst), Direction::Ingress)
            {
                emit(Connection {
                    src: GraphEndpoint::External(first, last),
                    dst: GraphEndpoint::Workload(dst),
                    ports,
                });
            }
        }
    }

    /// Ports `own` allows in `direction` with `peer` (towards `dst` for named ports).
    fn allowed(
        &self,
        own: ClassId,
        direction: Direction,
        peer: ClassId,
        dst: Option<ClassId>,
    ) -> PortSet {
        let d = direction.index();
        let isolated_by = self.isolating.of(d, own);
        if isolated_by.is_empty() {
            return PortSet::all();
        }
        let mut set = PortSet::empty();
        for policy in isolated_by.iter().map(|&p| p as usize) {
            let rules = self.policy_rules(policy, direction);
            for (i, compiled) in self.rules[d][policy].iter().enumerate() {
                if compiled.matches_class(peer) {
                    set = set.union(&self.ports(&rules[i].ports, dst));
                }
            }
        }
        set
    }

    /// External address ranges a class may reach (egress) or be reached from (ingress), each
    /// range with one port set; adjacent ranges with equal ports are merged.
    fn external_ranges(
        &self,
        own: ClassId,
        direction: Direction,
    ) -> Vec<(IpAddr, IpAddr, PortSet)> {
        let d = direction.index();
        let isolated_by = self.isolating.of(d, own);
        // Named ports resolve on the destination pod: for egress the external side has none.
        let dst = (direction == Direction::Ingress).then_some(own);
        let parts: Vec<(IpSet, PortSet)> = if isolated_by.is_empty() {
            vec![(IpSet::all(), PortSet::all())]
        } else {
            isolated_by
                .iter()
                .flat_map(|&policy| {
                    let policy = policy as usize;
                    let rules = self.policy_rules(policy, direction);
                    self.rules[d][policy]
                        .iter()
                        .enumerate()
                        .map(move |(i, c)| (c.addresses(), self.ports(&rules[i].ports, dst)))
                })
                .filter(|(ips, ports)| !ips.is_empty() && !ports.is_empty())
                .collect()
        };
        let v4: Vec<_> = parts.iter().map(|(ips, ports)| (&ips.v4, ports)).collect();
        let v6: Vec<_> = parts.iter().map(|(ips, ports)| (&ips.v6, ports)).collect();
        let mut out: Vec<(IpAddr, IpAddr, PortSet)> = partition(&v4)
            .into_iter()
            .map(|(a, b, p)| {
                (
                    IpAddr::V4(Ipv4Addr::from(a)),
                    IpAddr::V4(Ipv4Addr::from(b)),
                    p,
                )
            })
            .collect();
        out.extend(partition(&v6).into_iter().map(|(a, b, p)| {
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                p,
            )
        }));
        out
    }
}

/// Splits the domain at every boundary of the given sets and returns the non-empty pieces with
/// the union of the ports of the sets covering them, merging neighbours with equal ports.
fn partition<T: Bound>(parts: &[(&RangeSet<T>, &PortSet)]) -> Vec<(T, T, PortSet)> {
    let mut cuts: Vec<T> = vec![T::MIN];
    for (set, _) in parts {
        for &(start, end) in set.ranges() {
            cuts.push(start);
            if end != T::MAX {
                cuts.push(end.succ());
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(T, T, PortSet)> = Vec::new();
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(T::MAX, |next| next.pred());
        let ports = parts
            .iter()
            .filter(|(set, _)| set.contains(start))
            .fold(PortSet::empty(), |acc, (_, p)| acc.union(p));
        if ports.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.2 == ports && last.1.succ() == start => last.1 = end,
            _ => out.push((start, end, ports)),
        }
    }
    out
}
