//! The typed subset of Kubernetes that netpol-fix analyses, with a location for every field.
//!
//! Built from loaded YAML by [`build`]; nothing here keeps the YAML tree alive.

pub mod build;
pub mod calico;
pub mod calico_selector;
pub mod index;
mod name;
pub mod selector;
pub mod validate;

use std::net::IpAddr;

pub use name::Name;
pub use selector::{Labels, Requirement, Selector};

use crate::net::{IpNet, IpSet, Protocol};
use crate::source::Location;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Location,
}

/// Identity of an object: what messages and outputs name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub namespace: Name,
    pub kind: Name,
    pub name: Name,
}

/// `namespace/Kind/name`, or `Kind/name` for cluster-scoped objects.
impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
        }
    }
}

/// Metadata every modelled object carries.
#[derive(Clone, Debug)]
pub struct Meta {
    pub id: ObjectId,
    /// The whole object (the document or `List` item).
    pub loc: Location,
    /// `metadata.name` (the object itself when it has none): where messages point.
    pub name_loc: Location,
    /// The YAML document holding the object (new documents are inserted after it).
    pub document: Location,
    pub annotations: Labels,
}

#[derive(Clone, Debug)]
pub struct Namespace {
    pub name: Name,
    /// Declared labels plus `kubernetes.io/metadata.name`.
    pub labels: Labels,
    pub annotations: Labels,
    /// Where the Namespace object is, when the input declares it.
    pub declared_at: Option<Location>,
}

/// A set of pods with one pod template: a Deployment, a bare Pod, one Argo template, …
#[derive(Clone, Debug)]
pub struct Workload {
    pub meta: Meta,
    /// Pod template labels (never the controller's own labels).
    pub labels: Labels,
    pub ports: Vec<ContainerPort>,
    pub containers: Vec<Container>,
    pub service_account: Name,
    /// `automountServiceAccountToken` of the pod spec, when written.
    pub automount_token: Option<bool>,
    pub host_network: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: Option<Name>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug)]
pub struct Container {
    pub name: Name,
    pub image: Name,
    /// The pod spec list it is in (`containers`, `initContainers`); empty for Argo templates.
    pub list: &'static str,
    pub env: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    pub command: Vec<Spanned<Name>>,
    pub args: Vec<Spanned<Name>>,
}

#[derive(Clone, Debug)]
pub struct EnvVar {
    pub name: Name,
    pub source: EnvSource,
    pub loc: Location,
}

#[derive(Clone, Debug)]
pub enum EnvSource {
    Value(Spanned<Name>),
    ConfigMapKey {
        config_map: Name,
        key: Name,
    },
    /// Secrets, field refs and resource refs: not followed.
    Other,
}

#[derive(Clone, Debug)]
pub struct EnvFrom {
    pub config_map: Name,
    pub prefix: Name,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub meta: Meta,
    /// `None` for a Service without selector (endpoints managed elsewhere).
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    pub service_type: Name,
    pub cluster_ips: Vec<Spanned<IpAddr>>,
    pub external_ips: Vec<Spanned<IpAddr>>,
    /// spec.loadBalancerIP, status.loadBalancer.ingress[].ip and MetalLB annotations.
    pub load_balancer_ips: Vec<Spanned<IpAddr>>,
}

#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: Option<Name>,
    pub port: u16,
    pub protocol: Protocol,
    pub target: TargetPort,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    Name(Name),
}

#[derive(Clone, Debug)]
pub struct ConfigMap {
    pub meta: Meta,
    pub data: Vec<(Name, Spanned<Name>)>,
}

#[derive(Clone, Debug)]
pub struct ServiceAccount {
    pub meta: Meta,
    pub labels: Labels,
    pub automount_token: Option<bool>,
}

/// A RoleBinding or ClusterRoleBinding (namespace empty for the latter).
#[derive(Clone, Debug)]
pub struct Binding {
    pub meta: Meta,
    pub subjects: Vec<Subject>,
}

#[derive(Clone, Debug)]
pub struct Subject {
    pub kind: Name,
    pub name: Name,
    pub namespace: Name,
}

/// A MetalLB IPAddressPool.
#[derive(Clone, Debug)]
pub struct AddressPool {
    pub meta: Meta,
    pub addresses: IpSet,
}

/// A networking.k8s.io/v1 NetworkPolicy after `policyTypes` defaulting.
#[derive(Clone, Debug)]
pub struct Policy {
    pub meta: Meta,
    pub pod_selector: Selector,
    pub ingress: DirectionRules,
    pub egress: DirectionRules,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// 0 for ingress, 1 for egress: the index of per-direction arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a policy does in one direction.
#[derive(Clone, Debug)]
pub enum DirectionRules {
    /// The policy's `policyTypes` (explicit or defaulted) do not include this direction.
    NotAffected,
    /// Selected pods are isolated in this direction; these rules allow traffic (maybe none).
    Isolates(Vec<Rule>),
}

impl Policy {
    pub fn rules(&self, direction: Direction) -> &DirectionRules {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// One `ingress`/`egress` entry.
#[derive(Clone, Debug)]
pub struct Rule {
    pub loc: Location,
    pub peers: Peers,
    pub ports: Ports,
}

/// `from`/`to`.
#[derive(Clone, Debug)]
pub enum Peers {
    /// Absent or empty: every pod and every address.
    Any,
    Listed(Vec<Peer>),
}

#[derive(Clone, Debug)]
pub enum Peer {
    Pods {
        namespaces: NamespaceScope,
        /// Absent `podSelector` = every pod of the selected namespaces.
        pods: Selector,
        loc: Location,
    },
    /// Addresses outside the cluster (pod IPs are unknown offline and never match).
    IpBlock {
        cidr: IpNet,
        except: Vec<IpNet>,
        addresses: IpSet,
        loc: Location,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NamespaceScope {
    /// No `namespaceSelector`: the policy's own namespace.
    PolicyNamespace,
    Matching(Selector),
}

/// `ports`.
#[derive(Clone, Debug)]
pub enum Ports {
    /// Absent or empty: every port of every protocol.
    Any,
    Listed(Vec<PortRule>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRule {
    pub protocol: Protocol,
    pub port: PortSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    /// No `port`: every port of the protocol.
    All,
    /// `port` (with `endPort`, inclusive).
    Range(u16, u16),
    /// A container port name, resolved on each destination pod.
    Named(Name),
}

/// Everything the analysis knows about the input.
#[derive(Debug, Default)]
pub struct World {
    /// Sorted by name; includes namespaces only referenced by objects.
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    pub services: Vec<Service>,
    pub policies: Vec<Policy>,
    pub config_maps: Vec<ConfigMap>,
    pub service_accounts: Vec<ServiceAccount>,
    pub bindings: Vec<Binding>,
    pub address_pools: Vec<AddressPool>,
    /// Calico's own policies, network sets and tiers.
    pub calico: calico::Calico,
    /// Seldon and Argo resources with finalizers.
    pub finalized: Vec<Finalized>,
    /// Seldon Core v2 Servers: each runs as the StatefulSet of its name.
    pub seldon_servers: Vec<ObjectId>,
    /// rclone remotes in Secrets of namespaces that run a Seldon Server, where its model
    /// servers fetch models from.
    pub storage_secrets: Vec<StorageSecret>,
}

/// An rclone remote in a Secret (the format Seldon Core v2 reads storage settings in). Nothing
/// of the Secret is kept but the endpoint, without credentials.
#[derive(Clone, Debug)]
pub struct StorageSecret {
    pub meta: Meta,
    /// The data key holding the remote (values themselves are never located or shown).
    pub key: Name,
    pub key_loc: Location,
    /// `parameters.endpoint`, user information removed.
    pub endpoint: Option<Name>,
}

/// A Seldon or Argo resource whose finalizers only its controller removes: deleting its
/// namespace hangs while the controller is gone or cannot reach the API server.
#[derive(Clone, Debug)]
pub struct Finalized {
    pub id: ObjectId,
    pub loc: Location,
    pub finalizers: Vec<Name>,
}

impl ObjectId {
    /// The id of the Namespace object `name` (cluster-scoped).
    pub fn namespace(name: &str) -> ObjectId {
        ObjectId {
            namespace: Name::default(),
            kind: "Namespace".into(),
            name: name.into(),
        }
    }
}

impl Namespace {
    /// The id suppression and messages use for a Namespace object.
    pub fn id(&self) -> ObjectId {
        ObjectId::namespace(&self.name)
    }
}

impl World {
    /// Gives back the room its lists grew while objects were added one by one: a large tree
    /// keeps the model until the end of the run.
    pub fn shrink_to_fit(&mut self) {
        self.namespaces.shrink_to_fit();
        self.workloads.shrink_to_fit();
        self.services.shrink_to_fit();
        self.policies.shrink_to_fit();
        self.config_maps.shrink_to_fit();
        self.service_accounts.shrink_to_fit();
        self.bindings.shrink_to_fit();
        self.address_pools.shrink_to_fit();
        self.finalized.shrink_to_fit();
        self.seldon_servers.shrink_to_fit();
        self.storage_secrets.shrink_to_fit();
    }

    /// Adds a namespace the input does not mention (with its `kubernetes.io/metadata.name`).
    pub fn ensure_namespace(&mut self, name: &str) {
        if let Err(i) = self
            .namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
        {
            let labels = [(Name::from("kubernetes.io/metadata.name"), Name::from(name))].into();
            self.namespaces.insert(
                i,
                Namespace {
                    name: name.into(),
                    labels,
                    annotations: Labels::new(),
                    declared_at: None,
                },
            );
        }
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespace_index(name).map(|i| &self.namespaces[i])
    }

    /// The index of namespace `name` in `namespaces` (sorted by name).
    pub fn namespace_index(&self, name: &str) -> Option<usize> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
    }
}
