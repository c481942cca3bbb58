//! What the manifests say a workload talks to: host references in env values, the ConfigMap
//! data it uses and its command/args, resolved to Services of the input and their pods.

use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;

use crate::model::index::WorkloadIndex;
use crate::model::{EnvSource, Name, Service, TargetPort, World};
use crate::net::Protocol;
use crate::refs::{Host, HostRef};
use crate::source::Location;

/// Who holds a piece of configuration text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    Workload(usize),
    ConfigMap(usize),
    /// A Seldon storage Secret (index into `world.storage_secrets`): never rewritten or shown.
    Secret(usize),
}

/// A configuration value and where it came from.
#[derive(Clone, Debug)]
pub struct Text<'w> {
    /// The env var it feeds, when it is one (ConfigMap keys via envFrom get prefix + key).
    pub env: Option<Name>,
    /// Where a value rewrite would go as a patch, when it can be expressed as one.
    pub patch_target: Option<PatchTarget>,
    pub value: &'w str,
    pub loc: Location,
    pub holder: Holder,
}

/// A field a strategic-merge patch can set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchTarget {
    ConfigMapKey(Name),
    /// An env var's `value` in a container of a core workload's pod spec.
    Env {
        list: &'static str,
        container: Name,
        name: Name,
    },
}

/// Every value a workload's containers see: env literals, ConfigMap keys referenced through
/// `configMapKeyRef` and `envFrom`, and command/args; for a Seldon model server, the storage
/// endpoints of the rclone Secrets of its namespace.
pub fn workload_texts<'w>(
    world: &'w World,
    index: &ServiceIndex<'w>,
    workload: usize,
) -> Vec<Text<'w>> {
    let w = &world.workloads[workload];
    let ns = &w.meta.id.namespace;
    let mut out = Vec::new();
    for c in &w.containers {
        for e in &c.env {
            match &e.source {
                EnvSource::Value(v) => out.push(Text {
                    patch_target: (!c.list.is_empty()).then_some(PatchTarget::Env {
                        list: c.list,
                        container: c.name,
                        name: e.name,
                    }),
                    env: Some(e.name),
                    value: &v.value,
                    loc: v.loc,
                    holder: Holder::Workload(workload),
                }),
                EnvSource::ConfigMapKey { config_map, key } => {
                    if let Some((cm, value)) = index.config_map_key(world, ns, config_map, key) {
                        out.push(Text {
                            patch_target: Some(PatchTarget::ConfigMapKey(*key)),
                            env: Some(e.name),
                            value: &value.value,
                            loc: value.loc,
                            holder: Holder::ConfigMap(cm),
                        });
                    }
                }
                EnvSource::Other => {}
            }
        }
        for from in &c.env_from {
            if let Some(&cm) = index
                .config_maps
                .get(&(ns.as_str(), from.config_map.as_str()))
            {
                for (key, value) in &world.config_maps[cm].data {
                    out.push(Text {
                        patch_target: Some(PatchTarget::ConfigMapKey(*key)),
                        env: Some(Name::from(&format!("{}{key}", from.prefix))),
                        value: &value.value,
                        loc: value.loc,
                        holder: Holder::ConfigMap(cm),
                    });
                }
            }
        }
        for arg in c.command.iter().chain(&c.args) {
            out.push(Text {
                patch_target: None,
                env: None,
                value: &arg.value,
                loc: arg.loc,
                holder: Holder::Workload(workload),
            });
        }
    }
    let seldon_server = w.meta.id.kind == "StatefulSet"
        && world
            .seldon_servers
            .iter()
            .any(|s| s.namespace == *ns && s.name == w.meta.id.name);
    if seldon_server {
        for (i, secret) in world.storage_secrets.iter().enumerate() {
            if let (true, Some(endpoint)) = (secret.meta.id.namespace == *ns, &secret.endpoint) {
                out.push(Text {
                    patch_target: None,
                    env: None,
                    value: endpoint,
                    loc: secret.key_loc,
                    holder: Holder::Secret(i),
                });
            }
        }
    }
    out
}

/// Lookups from names and addresses to Services, and from names to ConfigMaps.
pub struct ServiceIndex<'w> {
    by_name: HashMap<(&'w str, &'w str), usize>,
    /// Per Service: the workloads its selector selects (its backends).
    backends: Vec<Vec<usize>>,
    by_ip: HashMap<IpAddr, Vec<usize>>,
    config_maps: HashMap<(&'w str, &'w str), usize>,
    cluster_domain: String,
}

impl<'w> ServiceIndex<'w> {
    pub fn new(
        world: &'w World,
        workloads: &WorkloadIndex,
        cluster_domain: &str,
    ) -> ServiceIndex<'w> {
        let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (i, s) in world.services.iter().enumerate() {
            for ip in s
                .cluster_ips
                .iter()
                .chain(&s.external_ips)
                .chain(&s.load_balancer_ips)
            {
                let list = by_ip.entry(ip.value).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        let backends = world
            .services
            .iter()
            .map(
                |s| match s.selector.as_ref().filter(|sel| !sel.is_empty()) {
                    None => Vec::new(),
                    Some(selector) => workloads
                        .with_labels(&s.meta.id.namespace, selector)
                        .collect(),
                },
            )
            .collect();
        ServiceIndex {
            backends,
            by_name: world
                .services
                .iter()
                .enumerate()
                .map(|(i, s)| ((s.meta.id.namespace.as_str(), s.meta.id.name.as_str()), i))
                .collect(),
            by_ip,
            config_maps: world
                .config_maps
                .iter()
                .enumerate()
                .map(|(i, c)| ((c.meta.id.namespace.as_str(), c.meta.id.name.as_str()), i))
                .collect(),
            cluster_domain: cluster_domain.trim_matches('.').to_ascii_lowercase(),
        }
    }

    fn config_map_key(
        &self,
        world: &'w World,
        ns: &str,
        name: &str,
        key: &str,
    ) -> Option<(usize, &'w crate::model::Spanned<crate::model::Name>)> {
        let &cm = self.config_maps.get(&(ns, name))?;
        world.config_maps[cm]
            .data
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| (cm, v))
    }

    /// Services an address belongs to.
    pub fn by_ip(&self, ip: IpAddr) -> &[usize] {
        self.by_ip.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// The Service a host names, seen from a pod in `client_ns`: `svc`, `svc.ns`, `svc.ns.svc`,
    /// `svc.ns.svc.<cluster domain>`, or one of its addresses (when only one Service has it).
    pub fn resolve(&self, host: &Host, client_ns: &str) -> Option<usize> {
        match host {
            Host::Ip(ip) => match self.by_ip(*ip) {
                [one] => Some(*one),
                _ => None,
            },
            Host::Name(name) => {
                let name = name.trim_end_matches('.');
                let name = name
                    .strip_suffix(&self.cluster_domain)
                    .and_then(|n| n.strip_suffix('.'))
                    .unwrap_or(name);
                let name = name.strip_suffix(".svc").unwrap_or(name);
                let parts: Vec<&str> = name.split('.').collect();
                match parts.as_slice() {
                    [svc] => self.by_name.get(&(client_ns, *svc)).copied(),
                    [svc, ns] => self.by_name.get(&(*ns, *svc)).copied(),
                    _ => None,
                }
            }
        }
    }
}

/// The Service port a reference uses: the written port (or the scheme's), else the only port.
pub fn service_port(service: &Service, host: &HostRef) -> Option<usize> {
    let wanted = host.effective_port();
    wanted
        .and_then(|p| service.ports.iter().position(|sp| sp.port == p))
        .or_else(|| (service.ports.len() == 1).then_some(0))
}

/// A flow to one destination pod of a Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub workload: usize,
    pub protocol: Protocol,
    pub port: u16,
}

/// The Service's pods in the input and the port each listens on for `port_index`
/// (named target ports resolved per pod; pods without that name are left out).
pub fn destinations(
    world: &World,
    index: &ServiceIndex,
    service: usize,
    port_index: usize,
) -> Vec<Destination> {
    let sp = &world.services[service].ports[port_index];
    index.backends[service]
        .iter()
        .filter_map(|&i| {
            let w = &world.workloads[i];
            let port = match &sp.target {
                TargetPort::Number(n) => *n,
                TargetPort::Name(name) => {
                    w.ports
                        .iter()
                        .find(|p| p.protocol == sp.protocol && p.name.as_deref() == Some(name))?
                        .port
                }
            };
            Some(Destination {
                workload: i,
                protocol: sp.protocol,
                port,
            })
        })
        .collect()
}
