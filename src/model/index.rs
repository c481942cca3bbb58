//! Workloads by namespace and by template label, built once per run: which workloads a label
//! map (a Service selector, a new policy's podSelector, the DNS pod labels) selects, found from
//! its rarest pair instead of a scan.

use std::collections::HashMap;

use rayon::slice::ParallelSliceMut;

use super::{Labels, World};

pub struct WorkloadIndex<'w> {
    world: &'w World,
    by_namespace: HashMap<&'w str, Vec<usize>>,
    /// Every template label of every workload as (workload, position in its labels), sorted by
    /// (namespace, key, value, workload): the workloads with a label are one run of it. Eight
    /// bytes a label instead of a hash map entry keyed by three strings.
    by_label: Vec<(u32, u32)>,
}

impl<'w> WorkloadIndex<'w> {
    pub fn new(world: &'w World) -> WorkloadIndex<'w> {
        let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_label = Vec::with_capacity(world.workloads.iter().map(|w| w.labels.len()).sum());
        for (i, w) in world.workloads.iter().enumerate() {
            by_namespace
                .entry(&w.meta.id.namespace)
                .or_default()
                .push(i);
            by_label.extend((0..w.labels.len() as u32).map(|label| (i as u32, label)));
        }
        let mut index = WorkloadIndex {
            world,
            by_namespace,
            by_label,
        };
        let mut by_label = std::mem::take(&mut index.by_label);
        by_label
            .par_sort_unstable_by(|&a, &b| index.label(a).cmp(&index.label(b)).then(a.0.cmp(&b.0)));
        index.by_label = by_label;
        index
    }

    /// (namespace, key, value) of an entry of `by_label`.
    fn label(&self, (workload, position): (u32, u32)) -> (&'w str, &'w str, &'w str) {
        let w = &self.world.workloads[workload as usize];
        let (key, value) = w
            .labels
            .iter()
            .nth(position as usize)
            .expect("the index holds positions of existing labels");
        (&w.meta.id.namespace, key, value)
    }

    /// The entries of workloads of `namespace` with label `key=value`.
    fn with_label(&self, namespace: &str, key: &str, value: &str) -> &[(u32, u32)] {
        let wanted = (namespace, key, value);
        let start = self.by_label.partition_point(|&e| self.label(e) < wanted);
        let len = self.by_label[start..].partition_point(|&e| self.label(e) == wanted);
        &self.by_label[start..start + len]
    }

    /// Workloads of `namespace` whose template labels include every pair of `labels` (all of
    /// the namespace when `labels` is empty), in input order.
    pub fn with_labels<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a Labels,
    ) -> impl Iterator<Item = usize> + 'a {
        let rarest = labels
            .iter()
            .map(|(k, v)| self.with_label(namespace, k, v))
            .min_by_key(|entries| entries.len());
        let all_of_namespace = match rarest {
            Some(_) => None,
            None => self.by_namespace.get(namespace),
        };
        rarest
            .into_iter()
            .flatten()
            .map(|&(w, _)| w as usize)
            .chain(all_of_namespace.into_iter().flatten().copied())
            .filter(move |&w| includes(&self.world.workloads[w].labels, labels))
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
        assert_eq!(names("ns", &labels(&[])), ["a", "b"]);
        assert_eq!(
            names("ns", &labels(&[("app", "web"), ("tier", "x")])),
            Vec::<String>::new()
        );
    }
}
