//! Calico's own policy resources (`projectcalico.org/v3`, `crd.projectcalico.org/v1`) as the
//! engine evaluates them: tiers of ordered policies whose rules Allow, Deny, Pass or Log, with
//! selectors in Calico's expression language.

use super::calico_selector::Expr;
use super::{Direction, Labels, Meta, Name};
use crate::net::{IpNet, Protocol};
use crate::source::Location;

/// The tier Kubernetes NetworkPolicies and tier-less Calico policies belong to.
pub const DEFAULT_TIER: &str = "default";
/// The default tier's order when no Tier object says otherwise.
pub const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;
/// Where Kubernetes NetworkPolicies sit in the default tier.
pub const KUBERNETES_POLICY_ORDER: f64 = 1000.0;

#[derive(Clone, Debug, Default)]
pub struct Calico {
    pub policies: Vec<CalicoPolicy>,
    pub network_sets: Vec<NetworkSet>,
    pub tiers: Vec<Tier>,
}

/// A NetworkPolicy (namespaced) or GlobalNetworkPolicy.
#[derive(Clone, Debug)]
pub struct CalicoPolicy {
    pub meta: Meta,
    /// GlobalNetworkPolicy: selects endpoints of every namespace; rule selectors span them all.
    pub global: bool,
    pub tier: Name,
    /// `None`: after every ordered policy of the tier.
    pub order: Option<f64>,
    /// The endpoints it applies to (`all()` when absent).
    pub selector: Expr,
    /// GlobalNetworkPolicy only: the namespaces of the endpoints it applies to.
    pub namespace_selector: Option<Expr>,
    pub service_account_selector: Option<Expr>,
    /// Applies to [ingress, egress] traffic (`types`, or Calico's default from the rules).
    pub types: [bool; 2],
    /// `doNotTrack` or `preDNAT`: Felix applies it to host endpoints only, never to pods.
    pub host_only: bool,
    pub ingress: Vec<CalicoRule>,
    pub egress: Vec<CalicoRule>,
}

impl CalicoPolicy {
    pub fn rules(&self, direction: Direction) -> &[CalicoRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub fn applies_to(&self, direction: Direction) -> bool {
        self.types[direction.index()]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Pass,
    Log,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Deny => "Deny",
            Action::Pass => "Pass",
            Action::Log => "Log",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CalicoRule {
    pub action: Action,
    pub loc: Location,
    /// IP protocol numbers.
    pub protocol: Option<u8>,
    pub not_protocol: Option<u8>,
    /// `ipVersion`: 4 or 6.
    pub ip_version: Option<u8>,
    pub source: EntityRule,
    pub destination: EntityRule,
}

/// What a rule's `source` or `destination` requires of that end of the flow.
#[derive(Clone, Debug, Default)]
pub struct EntityRule {
    pub nets: Option<Vec<IpNet>>,
    pub not_nets: Vec<IpNet>,
    pub selector: Option<Expr>,
    pub not_selector: Option<Expr>,
    pub namespace_selector: Option<Expr>,
    pub service_accounts: Option<ServiceAccountMatch>,
    /// `services`: the pods behind a Kubernetes Service (name, namespace; the policy's
    /// namespace when absent).
    pub services: Option<(Name, Option<Name>)>,
    pub ports: Option<Vec<CalicoPort>>,
    pub not_ports: Vec<CalicoPort>,
}

#[derive(Clone, Debug, Default)]
pub struct ServiceAccountMatch {
    /// Empty: any name.
    pub names: Vec<Name>,
    pub selector: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CalicoPort {
    Range(u16, u16),
    Named(Name),
}

/// A NetworkSet (namespaced) or GlobalNetworkSet: addresses that rule selectors can name.
#[derive(Clone, Debug)]
pub struct NetworkSet {
    pub meta: Meta,
    /// `None` for a GlobalNetworkSet.
    pub namespace: Option<Name>,
    pub labels: Labels,
    pub nets: Vec<IpNet>,
}

#[derive(Clone, Debug)]
pub struct Tier {
    pub name: Name,
    pub loc: Location,
    /// `None`: after every ordered tier.
    pub order: Option<f64>,
    /// `defaultAction: Pass` instead of the end-of-tier deny.
    pub pass_by_default: bool,
}

/// The IP protocol number of a flow's protocol.
pub fn protocol_number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// Sorts by order, unordered last, then by name: how Calico orders tiers and the policies of a
/// tier.
pub fn order_key(order: Option<f64>) -> (bool, f64) {
    (order.is_none(), order.unwrap_or(0.0))
}
