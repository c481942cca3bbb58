//! Workloads by namespace and by template label, built once per run: which workloads a label
//! map (a Service selector, a new policy's podSelector, the DNS pod labels) selects, found from
//! its rarest pair instead of a scan.

use std::collections::HashMap;

use super::{Labels, World};

pub struct WorkloadIndex<'w> {
    world: &'w World,
    by_namespace: HashMap<&'w str, Vec<usize>>,
    /// (namespace, key, value) → workloads with that template label.
    by_label: HashMap<(&'w str, &'w str, &'w str), Vec<usize>>,
}

impl<'w> WorkloadIndex<'w> {
    pub fn new(world: &'w World) -> WorkloadIndex<'w> {
        let mut index = WorkloadIndex {
            world,
            by_namespace: HashMap::new(),
            by_label: HashMap::new(),
        };
        for (i, w) in world.workloads.iter().enumerate() {
            let ns = w.meta.id.namespace.as_str();
            index.by_namespace.entry(ns).or_default().push(i);
            for (k, v) in &w.labels {
                index.by_label.entry((ns, k, v)).or_default().push(i);
            }
        }
        index
    }

    /// Workloads of `namespace` whose template labels include every pair of `labels` (all of
    /// the namespace when `labels` is empty), in input order.
    pub fn with_labels<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a Labels,
    ) -> impl Iterator<Item = usize> + 'a {
        let candidates = labels
            .iter()
            .map(|(k, v)| {
                self.by_label
                    .get(&(namespace, k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|list| list.len())
            .or_else(|| self.by_namespace.get(namespace).map(Vec::as_slice))
            .unwrap_or(&[]);
        candidates
            .iter()
            .copied()
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
