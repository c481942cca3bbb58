//! Pod equivalence classes and the label index that evaluates each distinct selector once.
//! The index is only needed while policies are compiled, so it is kept apart from the classes
//! and let go after that (a large tree has a label per workload).
//!
//! Two workloads are in one class when they share a namespace, their named ports, and for every
//! label key some selector mentions, whether they have it and, when it is a value some selector
//! names, its value: no policy can tell them apart. (Two values no selector names match the same
//! requirements: neither is `In` a list, both are `NotIn` every list and both `Exists`. A large
//! tree's `app` labels are mostly of that kind.) Classes are numbered namespace by namespace,
//! so "all pods of namespace N" is one contiguous range.

use foldhash::{HashMap, HashMapExt, HashSet};
use std::collections::hash_map::Entry;
use std::ops::Range;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::Probe;
use crate::model::{ContainerPort, Name, Requirement, Selector, World};

pub type ClassId = u32;

#[derive(Debug)]
pub struct Class {
    pub namespace: u32,
    /// Its container ports that have a name, as an index into `Classes::port_sets`.
    port_set: u32,
}

#[derive(Debug)]
pub struct Classes {
    pub classes: Vec<Class>,
    /// The distinct sets of named container ports (what named-port rules resolve against):
    /// most workloads of a tree name the same few ports, so classes share them.
    port_sets: Vec<Vec<ContainerPort>>,
    /// Class of each pod: the world's workloads, then the probes.
    pub class_of_pod: Vec<ClassId>,
    namespace_ranges: Vec<Range<u32>>,
}

/// The classes with each indexed label and key: what selectors are evaluated against. Keyed by
/// interned names, so a look-up hashes and compares pointers.
#[derive(Debug)]
pub struct LabelIndex {
    by_label: HashMap<(Name, Name), ClassSet>,
    by_key: HashMap<Name, ClassSet>,
    all: RoaringBitmap,
}

/// The classes with a label or key. Most labels (an `app` per workload) have one class, which
/// needs no bitmap of its own.
#[derive(Debug)]
enum ClassSet {
    One(ClassId),
    Many(RoaringBitmap),
}

impl ClassSet {
    /// Adds class `id` to a map's entry, making the set if the entry is vacant.
    fn add<K>(entry: Entry<K, ClassSet>, id: ClassId) {
        entry
            .and_modify(|set| set.insert(id))
            .or_insert(ClassSet::One(id));
    }

    fn insert(&mut self, id: ClassId) {
        match self {
            ClassSet::One(first) => {
                let first = *first;
                *self = ClassSet::Many([first, id].into_iter().collect());
            }
            ClassSet::Many(bitmap) => {
                bitmap.insert(id);
            }
        }
    }

    fn add_to(&self, bitmap: &mut RoaringBitmap) {
        match self {
            ClassSet::One(id) => {
                bitmap.insert(*id);
            }
            ClassSet::Many(set) => *bitmap |= set,
        }
    }
}

/// The label keys selectors mention, each with the values they name, and the keys they test
/// for (`Exists`, `DoesNotExist`).
#[derive(Debug, Default)]
pub struct Mentioned {
    values: HashMap<Name, HashSet<Name>>,
    tested: HashSet<Name>,
}

impl Mentioned {
    /// Notes what `selector` mentions. Every selector later evaluated against the classes must
    /// be noted: classes tell apart only what the noted selectors can.
    pub fn note(&mut self, selector: &Selector) {
        for req in selector.requirements() {
            let values = self.values.entry(req.key()).or_default();
            match req {
                Requirement::In(_, vs) | Requirement::NotIn(_, vs) => {
                    values.extend(vs.iter().copied())
                }
                Requirement::Exists(k) | Requirement::DoesNotExist(k) => {
                    self.tested.insert(*k);
                }
            }
        }
    }

    /// How label `k: v` tells pods apart: not at all (`None`), by having the key
    /// (`Some((k, None))`), or by its value (`Some((k, Some(v)))`).
    fn label(&self, k: Name, v: Name) -> Option<(Name, Option<Name>)> {
        let named = self.values.get(&k)?;
        Some((k, named.contains(&v).then_some(v)))
    }
}

/// What tells pods apart: namespace index, the labels as [`Mentioned::label`] sees them, and
/// named ports. Labels are interned names (copies of pointers) and ports are borrowed: a large
/// tree has a key per workload, and they are only compared.
type Key<'a> = (u32, Vec<(Name, Option<Name>)>, Vec<&'a ContainerPort>);

/// The pods of one class: their common key, each with its pod index.
type Run<'k, 'a> = &'k [(Key<'a>, usize)];

impl Classes {
    /// Groups the world's workloads and the probes, and indexes the classes by label;
    /// `mentioned` holds what every selector evaluated against them mentions. Keys are built and
    /// sorted in parallel, and the classes and their label index are built side by side.
    pub fn build<'a>(
        world: &'a World,
        probes: &'a [Probe],
        mentioned: &Mentioned,
    ) -> (Classes, LabelIndex) {
        let ns_index = |name: &str| world.namespace_index(name).map_or(u32::MAX, |i| i as u32);
        let pod = |i: usize| match world.workloads.get(i) {
            Some(w) => (&w.meta.id.namespace, &w.labels, &w.ports),
            None => {
                let p = &probes[i - world.workloads.len()];
                (&p.namespace, &p.labels, &p.ports)
            }
        };
        let mut keyed: Vec<(Key, usize)> = (0..world.workloads.len() + probes.len())
            .into_par_iter()
            .map(|i| {
                let (namespace, labels, ports) = pod(i);
                let labels = labels
                    .iter()
                    .filter_map(|(k, v)| mentioned.label(*k, *v))
                    .collect();
                let mut ports: Vec<&ContainerPort> =
                    ports.iter().filter(|p| p.name.is_some()).collect();
                ports.sort();
                ports.dedup();
                ((ns_index(namespace), labels, ports), i)
            })
            .collect();
        keyed.par_sort_unstable();
        let runs: Vec<Run> = keyed.chunk_by(|a, b| a.0 == b.0).collect();
        rayon::join(
            || Classes::of_runs(&runs, world.namespaces.len()),
            || LabelIndex::of_runs(&runs, mentioned),
        )
    }

    /// One class per run, numbered in order.
    fn of_runs(runs: &[Run], namespaces: usize) -> Classes {
        let mut classes = Vec::with_capacity(runs.len());
        let mut port_sets = Vec::new();
        let mut port_set_ids: HashMap<&[&ContainerPort], u32> = HashMap::new();
        let mut class_of_pod = vec![0; runs.iter().map(|run| run.len()).sum()];
        let mut namespace_ranges = vec![0..0; namespaces];
        for (id, run) in runs.iter().enumerate() {
            let id = id as ClassId;
            let key = &run[0].0;
            if let Some(r) = namespace_ranges.get_mut(key.0 as usize) {
                if r.start == r.end {
                    *r = id..id;
                }
                r.end = id + 1;
            }
            for (_, pod) in *run {
                class_of_pod[*pod] = id;
            }
            let port_set = *port_set_ids.entry(&key.2).or_insert_with(|| {
                port_sets.push(key.2.iter().map(|&p| p.clone()).collect());
                port_sets.len() as u32 - 1
            });
            classes.push(Class {
                namespace: key.0,
                port_set,
            });
        }
        port_sets.shrink_to_fit();
        Classes {
            classes,
            port_sets,
            class_of_pod,
            namespace_ranges,
        }
    }

    /// The container ports of `class`'s pods that have a name.
    pub fn named_ports(&self, class: ClassId) -> &[ContainerPort] {
        &self.port_sets[self.classes[class as usize].port_set as usize]
    }

    /// Classes of the namespaces marked in `namespaces` (indexed like `World::namespaces`).
    pub fn in_namespaces(&self, namespaces: &[bool]) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (i, r) in self.namespace_ranges.iter().enumerate() {
            if namespaces.get(i) == Some(&true) && !r.is_empty() {
                out.insert_range(r.clone());
            }
        }
        out
    }
}

impl LabelIndex {
    /// The classes (numbered as the runs) with each named label and each tested key of their
    /// runs' keys.
    fn of_runs(runs: &[Run], mentioned: &Mentioned) -> LabelIndex {
        let mut by_label: HashMap<(Name, Name), ClassSet> = HashMap::new();
        let mut by_key: HashMap<Name, ClassSet> = HashMap::new();
        for (id, run) in runs.iter().enumerate() {
            let id = id as ClassId;
            for &(k, v) in &run[0].0.1 {
                if let Some(v) = v {
                    ClassSet::add(by_label.entry((k, v)), id);
                }
                if mentioned.tested.contains(&k) {
                    ClassSet::add(by_key.entry(k), id);
                }
            }
        }
        by_label.shrink_to_fit();
        by_key.shrink_to_fit();
        let mut all = RoaringBitmap::new();
        all.insert_range(0..runs.len() as u32);
        LabelIndex {
            by_label,
            by_key,
            all,
        }
    }

    /// Classes whose labels match `selector`, one of the selectors the classes were built for.
    pub fn select(&self, selector: &Selector) -> RoaringBitmap {
        let mut out = self.all.clone();
        for req in selector.requirements() {
            let with_value = |vs: &[Name]| {
                let mut m = RoaringBitmap::new();
                for v in vs {
                    if let Some(set) = self.by_label.get(&(req.key(), *v)) {
                        set.add_to(&mut m);
                    }
                }
                m
            };
            let with_key = || {
                let mut m = RoaringBitmap::new();
                if let Some(set) = self.by_key.get(&req.key()) {
                    set.add_to(&mut m);
                }
                m
            };
            match req {
                Requirement::In(_, vs) => out &= with_value(vs),
                Requirement::NotIn(_, vs) => out -= with_value(vs),
                Requirement::Exists(_) => out &= with_key(),
                Requirement::DoesNotExist(_) => out -= with_key(),
            }
            if out.is_empty() {
                break;
            }
        }
        out
    }
}
