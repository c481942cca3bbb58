//! Workloads by namespace and by template label, built once per run: which workloads a label
//! map (a Service selector, a new policy's podSelector, the DNS pod labels) selects, found from
//! a rare pair instead of a scan.

use foldhash::{HashMap, HashMapExt};
use std::hash::BuildHasher;

use rayon::slice::ParallelSliceMut;

use super::{Labels, World};

pub struct WorkloadIndex<'w> {
    world: &'w World,
    by_namespace: HashMap<&'w str, Vec<usize>>,
    /// (hash of namespace, key and value, workload) of every template label of every workload,
    /// sorted: the workloads with a label are one run of it (plus, rarely, workloads whose
    /// label hashes the same, which the label test of [`WorkloadIndex::with_labels`] drops).
    /// Sixteen bytes a label instead of a hash map entry keyed by three strings.
    by_label: Vec<(u64, u32)>,
}

fn label_hash(namespace: &str, key: &str, value: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one((namespace, key, value))
}

impl<'w> WorkloadIndex<'w> {
    pub fn new(world: &'w World) -> WorkloadIndex<'w> {
        let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_label = Vec::with_capacity(world.workloads.iter().map(|w| w.labels.len()).sum());
        for (i, w) in world.workloads.iter().enumerate() {
            let namespace = &w.meta.id.namespace;
            by_namespace.entry(namespace).or_default().push(i);
            by_label.extend(
                w.labels
                    .iter()
                    .map(|(k, v)| (label_hash(namespace, k, v), i as u32)),
            );
        }
        by_label.par_sort_unstable();
        WorkloadIndex {
            world,
            by_namespace,
            by_label,
        }
    }

    /// The entries of workloads of `namespace` with label `key=value` (and of any label with
    /// the same hash).
    fn with_label(&self, namespace: &str, key: &str, value: &str) -> &[(u64, u32)] {
        let hash = label_hash(namespace, key, value);
        let start = self.by_label.partition_point(|&(h, _)| h < hash);
        let len = self.by_label[start..].partition_point(|&(h, _)| h == hash);
        &self.by_label[start..start + len]
    }

    /// Workloads of `namespace` whose template labels include every pair of `labels` (all of
    /// the namespace when `labels` is empty), in input order.
    pub fn with_labels<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a Labels,
    ) -> impl Iterator<Item = usize> + 'a {
        // A pair at most one workload has (an `app` label, typically) ends the search.
        let mut narrowest: Option<&[(u64, u32)]> = None;
        for (k, v) in labels {
            let entries = self.with_label(namespace, k, v);
            if narrowest.is_none_or(|r| entries.len() < r.len()) {
                narrowest = Some(entries);
            }
            if entries.len() <= 1 {
                break;
            }
        }
        let all_of_namespace = match narrowest {
            Some(_) => None,
            None => self.by_namespace.get(namespace),
        };
        narrowest
            .into_iter()
            .flatten()
            .map(|&(_, w)| w as usize)
            .chain(all_of_namespace.into_iter().flatten().copied())
            .filter(move |&w| {
                let w = &self.world.workloads[w];
                w.meta.id.namespace == namespace && includes(&w.labels, labels)
            })
    }
}

/// Whether `labels` has every pair of `wanted` (what a `matchLabels` selector asks).
pub fn includes(labels: &Labels, wanted: &Labels) -> bool {
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::selector::labels;

    #[test]
    fn finds_the_workloads_a_label_map_selects() {
        let analysis = crate::analysis::analyze(
            &[crate::load::Input::Text {
                name: "w.yaml".into(),
                text: ["a", "b", "c"]
                    .iter()
                    .zip(["web", "web", "db"])
                    .map(|(name, app)| {
                        format!(
                            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {}, labels: {{app: {app}, tier: t}}}}\nspec: {{containers: [{{name: c, image: i}}]}}\n---\n",
                            if *name == "c" { "other" } else { "ns" }
                        )
                    })
                    .collect(),
            }],
            crate::load::LoadOptions::default(),
        );
        let index = WorkloadIndex::new(&analysis.world);
        let names = |ns: &str, wanted: &Labels| -> Vec<String> {
            index
                .with_labels(ns, wanted)
                .map(|w| analysis.world.workloads[w].meta.id.name.to_string())
                .collect()
        };
        assert_eq!(
            names("ns", &labels(&[("app", "web"), ("tier", "t")])),
            ["a", "b"]
        );
        assert_eq!(names("ns", &labels(&[("app", "db")])), Vec::<String>::new());
        assert_eq!(names("other", &labels(&[("app", "db")])), ["c"]);
        // The one workload with the first pair must still have the others.
        assert_eq!(
            names("other", &labels(&[("app", "db"), ("tier", "t")])),
            ["c"]
        );
        assert_eq!(
            names("other", &labels(&[("app", "db"), ("tier", "x")])),
            Vec::<String>::new()
        );
        assert_eq!(names("ns", &labels(&[])), ["a", "b"]);
        assert_eq!(
            names("ns", &labels(&[("app", "web"), ("tier", "x")])),
            Vec::<String>::new()
        );
    }
}
