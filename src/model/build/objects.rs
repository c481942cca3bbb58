//! Services, ConfigMaps, ServiceAccounts, bindings, MetalLB pools and Namespaces → the model.

use std::net::IpAddr;

use super::fields::{Fields, Result};
use crate::model::{
    AddressPool, Binding, ConfigMap, Labels, Name, Service, ServiceAccount, ServicePort, Spanned,
    Subject, TargetPort,
};
use crate::net::{IpNet, IpSet, Protocol, RangeSet};
use crate::yaml::Node;

const METALLB_IP_ANNOTATIONS: [&str; 2] = [
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/loadBalancerIPs",
];

pub fn service(f: Fields) -> Result<Service> {
    let meta = f.meta("Service", true)?;
    let root = &f.object.node;
    let spec = f.get(root, "spec").unwrap_or(root);
    let selector = f
        .get(spec, "selector")
        .map(|s| f.labels(s, "selector"))
        .transpose()?;
    let ports = f.opt_list(spec, "ports", |p| {
        let port = match f.get(p, "port") {
            Some(n) => f.port(n, "port")?,
            None => return Err(f.error(p, "service port without `port`")),
        };
        let protocol = match f.opt_string(p, "protocol")? {
            Some(name) => Protocol::parse(&name)
                .ok_or_else(|| f.error(p, format!("unknown protocol `{name}`")))?,
            None => Protocol::Tcp,
        };
        let target = match f.get(p, "targetPort") {
            None => TargetPort::Number(port),
            Some(t) if t.as_scalar().is_some_and(|s| s.as_int().is_some()) => {
                TargetPort::Number(f.port(t, "targetPort")?)
            }
            Some(t) => TargetPort::Name(f.string(t, "targetPort")?),
        };
        Ok(ServicePort {
            name: f.opt_string(p, "name")?,
            port,
            protocol,
            target,
        })
    })?;
    let mut cluster_ips = Vec::new();
    for key in ["clusterIP", "clusterIPs"] {
        if let Some(n) = f.get(spec, key) {
            addresses(f, n, key, &mut cluster_ips)?;
        }
    }
    cluster_ips.dedup_by(|a, b| a.value == b.value);
    let mut external_ips = Vec::new();
    if let Some(n) = f.get(spec, "externalIPs") {
        addresses(f, n, "externalIPs", &mut external_ips)?;
    }
    let mut load_balancer_ips = Vec::new();
    if let Some(n) = f.get(spec, "loadBalancerIP") {
        addresses(f, n, "loadBalancerIP", &mut load_balancer_ips)?;
    }
    if let Some(ingress) = f.path(root, &["status", "loadBalancer", "ingress"]) {
        for item in f.seq(ingress, "ingress")? {
            if let Some(ip) = f.get(item, "ip") {
                addresses(f, ip, "ip", &mut load_balancer_ips)?;
            }
        }
    }
    if let Some(annotations) = f.path(root, &["metadata", "annotations"]) {
        for key in METALLB_IP_ANNOTATIONS {
            if let Some(n) = f.get(annotations, key) {
                addresses(f, n, key, &mut load_balancer_ips)?;
            }
        }
    }
    Ok(Service {
        meta,
        selector,
        ports,
        service_type: f
            .opt_string(spec, "type")?
            .unwrap_or_else(|| "ClusterIP".into()),
        cluster_ips,
        external_ips,
        load_balancer_ips,
    })
}

/// IP addresses from a scalar (comma-separated, as MetalLB's annotation) or a list.
/// `None` and empty clusterIPs (headless services) are skipped.
fn addresses(f: Fields, node: &Node, what: &str, out: &mut Vec<Spanned<IpAddr>>) -> Result<()> {
    let items: Vec<&Node> = match node.as_seq() {
        Some(items) => items.iter().collect(),
        None => vec![node],
    };
    for item in items {
        for part in f.string(item, what)?.split(',').map(str::trim) {
            if part.is_empty() || part == "None" {
                continue;
            }
            let ip = part
                .parse()
                .map_err(|_| f.error(item, format!("`{what}`: `{part}` is not an IP address")))?;
            out.push(Spanned {
                value: ip,
                loc: f.at(item),
            });
        }
    }
    Ok(())
}

pub fn config_map(f: Fields) -> Result<ConfigMap> {
    let meta = f.meta("ConfigMap", true)?;
    let mut data = Vec::new();
    if let Some(d) = f.get(&f.object.node, "data") {
        for (k, v) in f.map(d, "data")? {
            let value = if v.is_null() {
                Spanned {
                    value: Name::default(),
                    loc: f.at(v),
                }
            } else {
                f.spanned_string(v, "data")?
            };
            // A key reads as kubectl reads it: `404:` is the key "404", `on:` is "true".
            let key = match k.as_scalar().filter(|s| !s.is_null()) {
                Some(s) => Name::from(s.key_text().as_ref()),
                None => f.string(k, "data key")?,
            };
            data.push((key, value));
        }
    }
    Ok(ConfigMap { meta, data })
}

pub fn service_account(f: Fields) -> Result<ServiceAccount> {
    Ok(ServiceAccount {
        meta: f.meta("ServiceAccount", true)?,
        labels: match f.get(&f.object.node, "metadata") {
            Some(m) => f.opt_labels(m, "labels")?,
            None => Labels::new(),
        },
        automount_token: f.opt_bool(&f.object.node, "automountServiceAccountToken")?,
    })
}

pub fn binding(f: Fields, kind: &str) -> Result<Binding> {
    let meta = f.meta(kind, kind == "RoleBinding")?;
    let subjects = f.opt_list(&f.object.node, "subjects", |s| {
        Ok(Subject {
            kind: f.opt_string(s, "kind")?.unwrap_or_default(),
            name: f.opt_string(s, "name")?.unwrap_or_default(),
            namespace: f.opt_string(s, "namespace")?.unwrap_or_default(),
        })
    })?;
    Ok(Binding { meta, subjects })
}

/// MetalLB `IPAddressPool`: `spec.addresses` holds CIDRs and `first-last` ranges.
pub fn address_pool(f: Fields) -> Result<AddressPool> {
    let meta = f.meta("IPAddressPool", true)?;
    let mut set = IpSet::empty();
    if let Some(list) = f.path(&f.object.node, &["spec", "addresses"]) {
        for item in f.seq(list, "addresses")? {
            let text = f.string(item, "addresses")?;
            let part = address_range(&text).map_err(|e| f.error(item, e))?;
            set = set.union(&part);
        }
    }
    Ok(AddressPool {
        meta,
        addresses: set,
    })
}

fn address_range(text: &str) -> std::result::Result<IpSet, String> {
    if text.contains('/') {
        return IpNet::parse(text).map(IpNet::to_set);
    }
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is neither a CIDR nor a `first-last` range"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("`{s}` is not an IP address"))
    };
    match (parse(a)?, parse(b)?) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Ok(IpSet {
            v4: RangeSet::range(u32::from(a), u32::from(b)),
            v6: RangeSet::empty(),
        }),
        (IpAddr::V6(a), IpAddr::V6(b)) => Ok(IpSet {
            v4: RangeSet::empty(),
            v6: RangeSet::range(u128::from(a), u128::from(b)),
        }),
        _ => Err(format!("`{text}` mixes IPv4 and IPv6")),
    }
}

/// A declared Namespace: its name, labels and annotations.
pub fn namespace(f: Fields) -> Result<(Name, Labels, Labels)> {
    let meta = f.meta("Namespace", false)?;
    let labels = match f.get(&f.object.node, "metadata") {
        Some(m) => f.opt_labels(m, "labels")?,
        None => Labels::new(),
    };
    Ok((meta.id.name, labels, meta.annotations))
}
