//! Which Kubernetes NetworkPolicies isolate each pod class, per direction.
//!
//! A policy with an empty pod selector isolates every class of its namespace, so a list per
//! class would grow as classes × such policies (hundreds of megabytes at 200k workloads). Classes
//! whose lists are equal share one: lists are built by appending policies in order, as paths in
//! a tree of "this list, then that policy", so two classes reach the same node exactly when their
//! lists are equal.

use roaring::RoaringBitmap;

use super::classes::ClassId;

pub struct Isolation {
    /// Per direction (ingress, egress), per class: its list, an index into `list_starts`.
    list_of_class: [Vec<u32>; 2],
    /// Where each list starts in `policies`, and where the last ends.
    list_starts: Vec<u32>,
    /// The lists, one after the other (a large tree has millions of entries).
    policies: Vec<u32>,
}

impl Isolation {
    /// The policies isolating `class` in direction `d` (an index of `Direction`), in order.
    pub fn of(&self, d: usize, class: ClassId) -> &[u32] {
        let list = self.list_of_class[d][class as usize] as usize;
        &self.policies[self.list_starts[list] as usize..self.list_starts[list + 1] as usize]
    }
}

/// Builds an [`Isolation`] from policies given in order.
pub struct IsolationBuilder {
    /// Per direction, per class: its node.
    node_of_class: [Vec<u32>; 2],
    /// Node → (the node it extends, the policy it appends); node 0 is the empty list.
    nodes: Vec<(u32, usize)>,
    /// Node → the node that appends the current policy to it, valid when `stamp` says so.
    next: Vec<u32>,
    stamp: Vec<usize>,
}

impl IsolationBuilder {
    pub fn new(classes: usize) -> IsolationBuilder {
        IsolationBuilder {
            node_of_class: [vec![0; classes], vec![0; classes]],
            nodes: vec![(0, usize::MAX)],
            next: vec![0],
            stamp: vec![usize::MAX],
        }
    }

    /// Appends `policy` to the lists of the `selected` classes for direction `d`. Policies must
    /// come in increasing order per direction.
    pub fn add(&mut self, d: usize, policy: usize, selected: &RoaringBitmap) {
        for class in selected {
            let node = self.node_of_class[d][class as usize] as usize;
            if self.stamp[node] != policy {
                self.stamp[node] = policy;
                self.next[node] = self.nodes.len() as u32;
                self.nodes.push((node as u32, policy));
                self.next.push(0);
                self.stamp.push(usize::MAX);
            }
            self.node_of_class[d][class as usize] = self.next[node];
        }
    }

    pub fn finish(self) -> Isolation {
        let mut list_of_node = vec![u32::MAX; self.nodes.len()];
        let mut list_starts = vec![0];
        let mut policies = Vec::new();
        let list_of_class = self.node_of_class.map(|nodes| {
            nodes
                .into_iter()
                .map(|node| {
                    let slot = &mut list_of_node[node as usize];
                    if *slot == u32::MAX {
                        *slot = list_starts.len() as u32 - 1;
                        append_path(&self.nodes, node, &mut policies);
                        list_starts.push(policies.len() as u32);
                    }
                    *slot
                })
                .collect()
        });
        policies.shrink_to_fit();
        Isolation {
            list_of_class,
            list_starts,
            policies,
        }
    }
}

/// Appends the policies on the way from the root to `node`, in order.
fn append_path(nodes: &[(u32, usize)], mut node: u32, out: &mut Vec<u32>) {
    let start = out.len();
    while node != 0 {
        let (parent, policy) = nodes[node as usize];
        out.push(policy as u32);
        node = parent;
    }
    out[start..].reverse();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_get_the_policies_that_select_them_in_order_and_share_equal_lists() {
        let mut builder = IsolationBuilder::new(4);
        let set = |classes: &[u32]| classes.iter().copied().collect::<RoaringBitmap>();
        builder.add(0, 0, &set(&[0, 1, 2]));
        builder.add(1, 0, &set(&[3]));
        builder.add(0, 3, &set(&[1, 2]));
        builder.add(0, 7, &set(&[0, 2]));
        let isolation = builder.finish();
        assert_eq!(isolation.of(0, 0), [0, 7]);
        assert_eq!(isolation.of(0, 1), [0, 3]);
        assert_eq!(isolation.of(0, 2), [0, 3, 7]);
        assert_eq!(isolation.of(0, 3), [] as [u32; 0]);
        assert_eq!(isolation.of(1, 3), [0]);
        assert_eq!(isolation.of(1, 0), [] as [u32; 0]);
        // The two directions and every class with the same list share one.
        let mut builder = IsolationBuilder::new(3);
        builder.add(0, 5, &set(&[0, 1, 2]));
        builder.add(1, 5, &set(&[0, 1, 2]));
        assert_eq!(builder.finish().list_starts.len(), 2);
    }
}
