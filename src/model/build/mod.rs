//! Loaded objects → [`World`]: dispatch by kind, owner resolution, namespace collection.

mod calico;
pub mod fields;
mod objects;
mod policy;
mod seldon;
mod workloads;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::BTreeMap;

pub use fields::Fields;

use crate::diag::Diagnostic;
use crate::load::Object;
use crate::model::{
    AddressPool, Binding, ConfigMap, Finalized, Labels, Name, Namespace, ObjectId, Policy, Service,
    ServiceAccount, World,
};
use crate::source::Location;
use crate::yaml::{Node, Value};

/// What one object contributes to the model; built in parallel, right after parsing, so the
/// YAML tree can be dropped at once. All pieces are kept until the model is assembled, in one
/// list. Items are stored in the piece, not boxed: a box per object, freed when the model is
/// assembled, left holes the size of each box among the model's data that the rest of a run
/// never fills (about 25 MB of a 100x tree's peak). What only some objects have, and Calico's
/// items (larger than a workload, and rare), are boxed.
#[derive(Debug)]
pub struct Piece {
    item: Item,
    diagnostics: Vec<Diagnostic>,
    /// `(ClusterWorkflowTemplate name, namespace)` of each one an Argo object runs.
    cluster_template_users: Box<[(Name, Name)]>,
    finalized: Option<Box<Finalized>>,
}

#[derive(Debug)]
enum Item {
    None,
    Policy(Policy),
    Service(Service),
    ConfigMap(ConfigMap),
    ServiceAccount(ServiceAccount),
    Namespace((Name, Labels, Labels, Location)),
    Binding(Binding),
    Pool(AddressPool),
    /// One pod template (a Deployment, a Pod, …), without a list of its own.
    Workload(workloads::Owned),
    /// An Argo object's templates that run pods.
    Workloads(Vec<workloads::Owned>),
    Calico(Box<calico::CalicoItem>),
    SeldonServer(ObjectId),
    /// Kept only if a Seldon Server can use it, which assembly decides.
    StorageSecret(Box<seldon::Remote>),
}

impl From<Vec<workloads::Owned>> for Item {
    fn from(mut templates: Vec<workloads::Owned>) -> Item {
        match templates.len() {
            1 => Item::Workload(templates.remove(0)),
            _ => Item::Workloads(templates),
        }
    }
}

/// Models one object. Objects that Kubernetes would reject become error diagnostics and
/// contribute nothing; other kinds are not ours and contribute nothing either, but a network
/// policy of an API group not analysed here gets a notice. API versions are not told apart:
/// the old ones still found in repositories and exports have the shapes of the current ones.
pub fn object(object: &Object) -> Piece {
    let f = Fields { object };
    let api = object
        .node
        .get("apiVersion")
        .and_then(Node::as_str)
        .unwrap_or("");
    let kind = object.node.get("kind").and_then(Node::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let mut diagnostics = Vec::new();
    let mut cluster_template_users = Box::default();
    let finalized = match group {
        "argoproj.io" | "machinelearning.seldon.io" | "mlops.seldon.io" => {
            finalized(f, kind).map(Box::new)
        }
        _ => None,
    };
    let mut result = match (group, kind) {
        // `extensions/v1beta1` served NetworkPolicy until Kubernetes 1.16, with the same spec.
        ("networking.k8s.io" | "extensions", "NetworkPolicy") => match policy::policy(f) {
            Ok(p) => Ok(Item::Policy(p)),
            Err(mut errors) => {
                let last = errors.pop();
                diagnostics.extend(errors);
                last.map_or(Ok(Item::None), Err)
            }
        },
        ("", "Service") => objects::service(f).map(Item::Service),
        ("", "ConfigMap") => objects::config_map(f).map(Item::ConfigMap),
        // Whether a Seldon Server can use it is known at assembly, with the whole input.
        ("", "Secret") => seldon::storage_secret(f)
            .map(|s| s.map_or(Item::None, |s| Item::StorageSecret(Box::new(s)))),
        ("mlops.seldon.io", "Server") => f.meta(kind, true).map(|m| Item::SeldonServer(m.id)),
        ("", "ServiceAccount") => objects::service_account(f).map(Item::ServiceAccount),
        ("", "Namespace") => objects::namespace(f).map(|(name, labels, annotations)| {
            Item::Namespace((name, labels, annotations, object.loc()))
        }),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            objects::binding(f, kind).map(Item::Binding)
        }
        ("metallb.io", "IPAddressPool") => objects::address_pool(f).map(Item::Pool),
        (g, k) if calico::is_calico(g, k) => {
            let (item, notes) = calico::read(f, k);
            diagnostics.extend(notes);
            Ok(item.map_or(Item::None, |c| Item::Calico(Box::new(c))))
        }
        (g, k) if workloads::is_workload(g, k) => {
            cluster_template_users = cluster_templates_run_by(f, k);
            workloads::workloads(f, k, &mut diagnostics).map(Item::from)
        }
        (g, k) if is_policy_kind(k) && !is_policy_group(g) => {
            diagnostics.push(unanalysed_policy(object, g, k));
            Ok(Item::None)
        }
        _ => Ok(Item::None),
    };
    // Objects Kubernetes would reject already have their error; others get the warnings (a
    // storage Secret's go with it, shown only if a Seldon Server can use it).
    match &mut result {
        Ok(Item::None) | Err(_) => {}
        Ok(Item::StorageSecret(s)) => yaml11_surprises(f, &object.node, &mut s.warnings),
        Ok(_) => yaml11_surprises(f, &object.node, &mut diagnostics),
    }
    let item = result.unwrap_or_else(|d| {
        diagnostics.push(d);
        Item::None
    });
    Piece {
        item,
        diagnostics,
        cluster_template_users,
        finalized,
    }
}

/// Kinds of network policy, by whichever project defines them: each is enforced by some
/// network plugin and filters traffic.
fn is_policy_kind(kind: &str) -> bool {
    matches!(
        kind,
        "NetworkPolicy"
            | "GlobalNetworkPolicy"
            | "AdminNetworkPolicy"
            | "BaselineAdminNetworkPolicy"
            | "ClusterNetworkPolicy"
            | "CiliumNetworkPolicy"
            | "CiliumClusterwideNetworkPolicy"
    )
}

/// API groups whose network policies are analysed (by the arms above, when valid).
fn is_policy_group(group: &str) -> bool {
    matches!(
        group,
        "networking.k8s.io" | "extensions" | "projectcalico.org" | "crd.projectcalico.org"
    )
}

/// The notice for a network policy of an API group not analysed here (Cilium, Antrea, the
/// AdminNetworkPolicy API, …): whatever enforces it, its rules are not in the model.
fn unanalysed_policy(object: &Object, group: &str, kind: &str) -> Diagnostic {
    let name = object
        .node
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .map_or(String::new(), |n| format!(" {n}"));
    let group = if group.is_empty() { "core" } else { group };
    Diagnostic::not_analysed(
        object.loc(),
        format!(
            "{kind}{name} of API group `{group}` is not analysed: the network plugin that \
             enforces it allows or blocks traffic this model does not know of, so verdicts on \
             the pods it selects may be wrong"
        ),
    )
    .with_help(
        "netpol-fix analyses networking.k8s.io NetworkPolicies and Calico's policies; check the \
         flows this policy governs by other means",
    )
}

/// The finalizers of a controller's resource, if it has any.
fn finalized(f: Fields, kind: &str) -> Option<Finalized> {
    let list = f.path(&f.object.node, &["metadata", "finalizers"])?;
    let finalizers: Vec<Name> = f
        .seq(list, "finalizers")
        .ok()?
        .iter()
        .filter_map(|n| n.as_str().map(Name::from))
        .collect();
    let meta = f.meta(kind, true).ok()?;
    (!finalizers.is_empty()).then_some(Finalized {
        id: meta.id,
        loc: f.at(list),
        finalizers,
    })
}

/// Warns where Kubernetes reads YAML 1.1 differently from what the text suggests: a number
/// with a leading `0`, `0x`/`0o`/`0b` or `_` (`0644` is 420), and a key that is a boolean or
/// number (`on:` is the key "true"). File modes (`mode`, `defaultMode`) are octal on purpose.
fn yaml11_surprises(f: Fields, node: &Node, out: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                if let Some(k) = key.as_scalar().filter(|k| k.plain && !k.is_null())
                    && k.key_text() != k.text
                {
                    out.push(
                        Diagnostic::warning(
                            f.at(key),
                            format!(
                                "the key `{}` is \"{}\" to Kubernetes (YAML 1.1)",
                                k.text,
                                k.key_text()
                            ),
                        )
                        .with_help(format!("quote it (\"{}\") if the text is meant", k.text)),
                    );
                }
                if !matches!(key.as_str(), Some("mode" | "defaultMode")) {
                    yaml11_surprises(f, value, out);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| yaml11_surprises(f, n, out)),
        Value::Scalar(s) => {
            let digits = s.text.trim_start_matches(['+', '-']);
            let decimal = !digits.starts_with('0') || digits == "0";
            // The text test first: it rules out nearly every scalar without parsing it.
            if (!decimal || digits.contains('_'))
                && let Some(n) = s.as_int()
            {
                out.push(
                    Diagnostic::warning(
                        f.at(node),
                        format!(
                            "`{}` is the number {n} to Kubernetes (YAML 1.1 reads a leading 0 as octal, 0x as hex, and ignores `_`)",
                            s.text
                        ),
                    )
                    .with_help(format!("write {n} if that is meant, or quote it (\"{}\") for a string", s.text)),
                );
            }
        }
    }
}

/// Puts the pieces together, in input order: owners, duplicates, namespaces.
pub fn assemble(pieces: Vec<Piece>) -> (World, Vec<Diagnostic>) {
    let mut world = World::default();
    let mut diags = Vec::new();
    let mut declared: BTreeMap<Name, (Labels, Labels, Location)> = BTreeMap::new();
    let mut owned = Vec::with_capacity(
        pieces
            .iter()
            .map(|p| match &p.item {
                Item::Workload(_) => 1,
                Item::Workloads(w) => w.len(),
                _ => 0,
            })
            .sum(),
    );
    let mut cluster_template_users: HashMap<Name, Vec<Name>> = HashMap::new();
    let mut remotes = Vec::new();
    for piece in pieces {
        diags.extend(piece.diagnostics);
        for (template, ns) in piece.cluster_template_users {
            let namespaces = cluster_template_users.entry(template).or_default();
            if !namespaces.contains(&ns) {
                namespaces.push(ns);
            }
        }
        world.finalized.extend(piece.finalized.map(|f| *f));
        match piece.item {
            Item::None => {}
            Item::Policy(p) => world.policies.push(p),
            Item::Service(s) => world.services.push(s),
            Item::ConfigMap(c) => world.config_maps.push(c),
            Item::ServiceAccount(s) => world.service_accounts.push(s),
            Item::Namespace(namespace) => {
                let (name, labels, annotations, loc) = namespace;
                declared.entry(name).or_insert((labels, annotations, loc));
            }
            Item::Binding(b) => world.bindings.push(b),
            Item::Pool(p) => world.address_pools.push(p),
            Item::Workload(w) => owned.push(w),
            Item::Workloads(w) => owned.extend(w),
            Item::Calico(c) => match *c {
                calico::CalicoItem::Policy(p) => world.calico.policies.push(p),
                calico::CalicoItem::NetworkSet(s) => world.calico.network_sets.push(s),
                calico::CalicoItem::Tier(t) => world.calico.tiers.push(t),
            },
            Item::SeldonServer(id) => world.seldon_servers.push(id),
            Item::StorageSecret(remote) => remotes.push(*remote),
        }
    }
    // Only Secrets in the namespace of a Seldon Server are its storage settings; others (Argo's
    // webhook clients, anything shaped like an rclone remote) are none of Seldon's business.
    let seldon: HashSet<Name> = world.seldon_servers.iter().map(|s| s.namespace).collect();
    for remote in remotes {
        if seldon.contains(&remote.secret.meta.id.namespace) {
            diags.extend(remote.warnings);
            world.storage_secrets.push(remote.secret);
        }
    }
    world.workloads = resolve_owners(owned, &cluster_template_users, &mut diags);
    dedupe(
        &mut world.workloads,
        |w| (&w.meta.id, w.meta.loc),
        &mut diags,
    );
    dedupe(
        &mut world.policies,
        |p| (&p.meta.id, p.meta.loc),
        &mut diags,
    );
    dedupe(
        &mut world.services,
        |s| (&s.meta.id, s.meta.loc),
        &mut diags,
    );
    // A ConfigMap defined twice is analysed once, like the others: its fixes would otherwise
    // reach the second definition only on a second run.
    dedupe(
        &mut world.config_maps,
        |c| (&c.meta.id, c.meta.loc),
        &mut diags,
    );
    world.namespaces = namespaces(&world, declared);
    world.shrink_to_fit();
    (world, diags)
}

/// `(template name, namespace)` of every ClusterWorkflowTemplate an Argo object runs: through
/// `workflowTemplateRef`, or a step's or DAG task's `templateRef`, with `clusterScope: true`.
fn cluster_templates_run_by(f: Fields, kind: &str) -> Box<[(Name, Name)]> {
    let root = &f.object.node;
    let spec = match kind {
        "Workflow" | "WorkflowTemplate" => f.get(root, "spec"),
        "CronWorkflow" => f.path(root, &["spec", "workflowSpec"]),
        _ => None,
    };
    let Some(spec) = spec else {
        return Box::default();
    };
    let cluster_ref = |reference: Option<&Node>| {
        let r = reference?;
        let cluster = r.get("clusterScope").and_then(Node::as_scalar)?.as_bool()?;
        let name = r.get("name").and_then(Node::as_str)?;
        cluster.then(|| Name::from(name))
    };
    let mut names: Vec<Name> = cluster_ref(spec.get("workflowTemplateRef"))
        .into_iter()
        .collect();
    for template in spec
        .get("templates")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        let steps = template
            .get("steps")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .flat_map(|group| group.as_seq().unwrap_or(std::slice::from_ref(group)));
        let tasks = template
            .get("dag")
            .and_then(|d| d.get("tasks"))
            .and_then(Node::as_seq)
            .unwrap_or_default();
        for call in steps.chain(tasks) {
            names.extend(cluster_ref(call.get("templateRef")));
        }
    }
    let ns = Name::from(
        f.path(root, &["metadata", "namespace"])
            .and_then(Node::as_str)
            .unwrap_or("default"),
    );
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|name| (name, ns)).collect()
}

/// Pods and ReplicaSets owned by a controller collapse into the top-most owner in the input
/// (an export of a live cluster shows each Deployment once); a Pod whose owner is not in the
/// input stands for that owner (`ReplicaSet/web-7d9c…`). ClusterWorkflowTemplates run in the
/// namespaces of the workflows that reference them.
fn resolve_owners(
    owned: Vec<workloads::Owned>,
    cluster_template_users: &HashMap<Name, Vec<Name>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<crate::model::Workload> {
    /// What becomes of an owned workload.
    enum Fate {
        /// A ClusterWorkflowTemplate: copied into each namespace whose workflows run it.
        Template,
        Kept,
        /// It stands for its top owner, which is not in the input.
        StandsFor(ObjectId),
        /// Its top owner, or a workload before it, stands for it.
        Dropped,
    }
    // Decided over borrowed ids: a large tree has hundreds of thousands of workloads.
    let fates: Vec<Fate> = {
        let owners: HashMap<&ObjectId, Option<&ObjectId>> = owned
            .iter()
            .map(|o| (&o.workload.meta.id, o.owner.as_ref()))
            .collect();
        let mut seen_groups = HashSet::new();
        owned
            .iter()
            .map(|o| {
                let id = &o.workload.meta.id;
                if id.kind == "ClusterWorkflowTemplate" {
                    return Fate::Template;
                }
                let mut top = id;
                let mut next = o.owner.as_ref();
                let mut hops = 0;
                while let Some(owner) = next.take() {
                    hops += 1;
                    if hops > 8 {
                        break;
                    }
                    next = owners.get(owner).copied().flatten();
                    top = owner;
                }
                if top == id {
                    Fate::Kept
                } else if !owners.contains_key(top) && seen_groups.insert(top) {
                    Fate::StandsFor(top.clone())
                } else {
                    Fate::Dropped
                }
            })
            .collect()
    };
    let mut out = Vec::with_capacity(owned.len());
    let mut unused_templates = HashSet::new();
    for (o, fate) in owned.into_iter().zip(fates) {
        let mut w = o.workload;
        match fate {
            Fate::Template => {
                let template = Name::from(w.meta.id.name.split(':').next().unwrap_or(""));
                let users = cluster_template_users.get(&template);
                if users.is_none() && unused_templates.insert(template) {
                    diags.push(Diagnostic::not_analysed(
                        w.meta.loc,
                        format!(
                            "ClusterWorkflowTemplate {template} is run by no Workflow, WorkflowTemplate or CronWorkflow in the input (`workflowTemplateRef`, or a step's or task's `templateRef`, with `clusterScope: true`), so no namespace runs its pods: not analysed"
                        ),
                    ));
                }
                for ns in users.into_iter().flatten() {
                    let mut copy = w.clone();
                    copy.meta.id.namespace = *ns;
                    out.push(copy);
                }
            }
            Fate::Kept => out.push(w),
            Fate::StandsFor(top) => {
                w.meta.id = top;
                out.push(w);
            }
            Fate::Dropped => {}
        }
    }
    out
}

/// Keeps the first definition of each object id and warns about the others.
fn dedupe<T>(
    items: &mut Vec<T>,
    key: impl Fn(&T) -> (&ObjectId, Location),
    diags: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<ObjectId, Location> = HashMap::new();
    let mut keep = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (id, loc) = key(item);
        match first.get(id) {
            Some(_) => {
                keep.push(false);
                diags.push(
                    Diagnostic::warning(
                        loc,
                        format!("{id} is defined more than once; only the first definition is analysed"),
                    )
                    .with_help("keep one definition per object in the analysed tree (exclude overlays or render them)"),
                );
            }
            None => {
                first.insert(id.clone(), loc);
                keep.push(true);
            }
        }
    }
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(true));
}

/// Declared namespaces plus every namespace an object lives in; each carries
/// `kubernetes.io/metadata.name`.
fn namespaces(
    world: &World,
    declared: BTreeMap<Name, (Labels, Labels, Location)>,
) -> Vec<Namespace> {
    let mut all: BTreeMap<Name, Namespace> = declared
        .into_iter()
        .map(|(name, (labels, annotations, loc))| {
            let ns = Namespace {
                name,
                labels,
                annotations,
                declared_at: Some(loc),
            };
            (name, ns)
        })
        .collect();
    let used = world
        .workloads
        .iter()
        .map(|w| &w.meta.id.namespace)
        .chain(world.policies.iter().map(|p| &p.meta.id.namespace))
        .chain(world.services.iter().map(|s| &s.meta.id.namespace))
        .chain(
            world
                .calico
                .policies
                .iter()
                .filter(|p| !p.global)
                .map(|p| &p.meta.id.namespace),
        )
        .chain(
            world
                .calico
                .network_sets
                .iter()
                .filter_map(|s| s.namespace.as_ref()),
        );
    for ns in used {
        all.entry(*ns).or_insert_with(|| Namespace {
            name: *ns,
            labels: Labels::new(),
            annotations: Labels::new(),
            declared_at: None,
        });
    }
    all.into_values()
        .map(|mut ns| {
            ns.labels
                .insert("kubernetes.io/metadata.name".into(), ns.name);
            ns
        })
        .collect()
}
