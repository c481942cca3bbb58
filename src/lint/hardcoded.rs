//! `hardcoded-ip`: IP literals used as peer addresses where an in-cluster name belongs.

use std::net::IpAddr;

use super::deps::{self, Holder, Text};
use super::{Context, Finding, Related, finding};
use crate::diag::Severity;
use crate::lint::catalog::Rule;
use crate::model::Name;
use crate::net::{IpNet, IpSet};
use crate::refs::{Host, HostRef};

/// What an address is, from the most to the least certain harm.
enum Kind {
    LoadBalancer(usize),
    InPool(usize),
    ClusterIp(usize),
    Private,
    Public,
}

/// Private and shared address space: RFC 1918, RFC 6598 (CGNAT) and IPv6 unique local.
static PRIVATE: std::sync::LazyLock<IpSet> = std::sync::LazyLock::new(|| {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    .iter()
    .map(|c| IpNet::parse(c).expect("valid CIDR").to_set())
    .fold(IpSet::empty(), |all, net| all.union(&net))
});

fn classify(cx: &Context, ip: IpAddr) -> Option<Kind> {
    if ip.is_unspecified() || ip.is_loopback() || is_link_local(ip) {
        return None;
    }
    let services = cx.services.by_ip(ip);
    let is_lb = |&&s: &&usize| {
        let svc = &cx.world.services[s];
        svc.load_balancer_ips
            .iter()
            .chain(&svc.external_ips)
            .any(|a| a.value == ip)
    };
    if let Some(&s) = services.iter().find(is_lb) {
        return Some(Kind::LoadBalancer(s));
    }
    if let Some(pool) = cx
        .world
        .address_pools
        .iter()
        .position(|p| p.addresses.contains(ip))
    {
        return Some(Kind::InPool(pool));
    }
    if let Some(&s) = services.first() {
        return Some(Kind::ClusterIp(s));
    }
    if PRIVATE.contains(ip) {
        Some(Kind::Private)
    } else {
        Some(Kind::Public)
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

pub(crate) fn hardcoded_ips(cx: &Context, rule: &Rule) -> Vec<Finding> {
    let workload_texts = (0..cx.world.workloads.len())
        .flat_map(|w| deps::workload_texts(cx.world, &cx.services, w))
        .filter(|t| matches!(t.holder, Holder::Workload(_)));
    let config_map_texts = cx.world.config_maps.iter().enumerate().flat_map(|(i, cm)| {
        cm.data.iter().map(move |(key, value)| Text {
            patch_target: Some(super::deps::PatchTarget::ConfigMapKey(*key)),
            env: Some(*key),
            value: &value.value,
            loc: value.loc,
            holder: Holder::ConfigMap(i),
        })
    });
    let mut out = Vec::new();
    for text in workload_texts.chain(config_map_texts) {
        for host in crate::refs::find(text.value) {
            let Host::Ip(ip) = host.host else { continue };
            let Some(kind) = classify(cx, ip) else {
                continue;
            };
            out.push(ip_finding(cx, rule, &text, &host, ip, kind));
        }
    }
    out
}

/// Why `<service>.<namespace>.svc.<domain>` is not a name to write into a value: each part
/// must be a DNS-1123 label (the domain a subdomain), the whole a DNS-1123 subdomain.
fn replacement_problem(
    service: &str,
    namespace: &str,
    domain: &str,
    replacement: &str,
) -> Option<String> {
    use crate::model::validate;
    let check = |what: &str, value: &str, f: fn(&[u8]) -> Result<(), String>| {
        f(value.as_bytes())
            .err()
            .map(|e| format!("{what} {value:?} is not a valid DNS name: it {e}"))
    };
    check("Service name", service, validate::dns1123_label)
        .or_else(|| check("namespace", namespace, validate::dns1123_label))
        .or_else(|| check("cluster_domain", domain, validate::dns1123_subdomain))
        .or_else(|| check("in-cluster name", replacement, validate::dns1123_subdomain))
}

fn ip_finding(
    cx: &Context,
    rule: &Rule,
    text: &Text,
    host: &HostRef,
    ip: IpAddr,
    kind: Kind,
) -> Finding {
    let (object, object_loc) = match text.holder {
        Holder::Workload(w) => (
            &cx.world.workloads[w].meta,
            cx.world.workloads[w].meta.name_loc,
        ),
        Holder::ConfigMap(c) => (
            &cx.world.config_maps[c].meta,
            cx.world.config_maps[c].meta.name_loc,
        ),
        Holder::Secret(s) => (
            &cx.world.storage_secrets[s].meta,
            cx.world.storage_secrets[s].meta.name_loc,
        ),
    };
    let mut f = finding(rule, object.id.clone(), text.loc);
    f.label = "hardcoded address".into();
    cx.let_suppress(
        &mut f,
        &crate::model::ObjectId::namespace(&object.id.namespace),
    );
    f.related.push(Related {
        loc: object_loc,
        label: Name::from(&format!("held by {}", object.id)),
    });
    let place = match &text.env {
        Some(env) => format!("`{ip}` in {env}"),
        None => format!("`{ip}` in argument `{}`", text.value),
    };
    let service_name = |s: usize| {
        let svc = &cx.world.services[s];
        format!("{}/{}", svc.meta.id.namespace, svc.meta.id.name)
    };
    let in_cluster_name = |s: usize| {
        let svc = &cx.world.services[s];
        let port = host.port.map_or(String::new(), |p| format!(":{p}"));
        format!(
            "{}.{}.svc.{}{port}",
            svc.meta.id.name, svc.meta.id.namespace, cx.config.cluster_domain
        )
    };
    let (severity, why, help) = match kind {
        Kind::LoadBalancer(s) => (
            Severity::Error,
            format!("is the LoadBalancer address of Service {}: LoadBalancer (MetalLB) addresses are announced to the LAN and may not be routable from inside the cluster, and NetworkPolicy only sees the pods behind them", service_name(s)),
            format!("use the in-cluster name {}", in_cluster_name(s)),
        ),
        Kind::InPool(p) => (
            Severity::Error,
            format!("lies in MetalLB pool {}: LoadBalancer addresses may not be routable from inside the cluster and can move to another Service", cx.world.address_pools[p].meta.id.name),
            "use the in-cluster name `<service>.<namespace>.svc` of the Service it belongs to".to_string(),
        ),
        Kind::ClusterIp(s) => (
            Severity::Warning,
            format!("is the ClusterIP of Service {}: it changes when the Service is recreated, and policies must then allow the pods behind it, not this address", service_name(s)),
            format!("use the in-cluster name {}", in_cluster_name(s)),
        ),
        Kind::Private => (
            Severity::Warning,
            "is a private address hardcoded as a peer: an ipBlock must allow it once egress is enforced, and it breaks when the address moves".to_string(),
            "use a DNS name; if it is outside the cluster, allow it with an ipBlock".to_string(),
        ),
        Kind::Public => (
            Severity::Info,
            "is a public address hardcoded as a peer; egress to it needs an ipBlock once egress is enforced".to_string(),
            "prefer a DNS name".to_string(),
        ),
    };
    if let Kind::LoadBalancer(s) | Kind::ClusterIp(s) = kind {
        let svc = &cx.world.services[s];
        let replacement = format!(
            "{}.{}.svc.{}",
            svc.meta.id.name, svc.meta.id.namespace, cx.config.cluster_domain
        );
        let invalid = replacement_problem(
            &svc.meta.id.name,
            &svc.meta.id.namespace,
            &cx.config.cluster_domain,
            &replacement,
        );
        f.remedies.push(super::Remedy::ReplaceHost {
            value: text.loc,
            patch: text.patch_target.clone().map(|target| super::ValuePatch {
                object: object.id.clone(),
                target,
                value: text.value.replacen(&ip.to_string(), &replacement, 1),
            }),
            host: ip.to_string(),
            replacement,
            invalid,
        });
    }
    f.severity = if rule.severity < severity {
        severity
    } else {
        rule.severity
    };
    f.message = format!("{place} {why}");
    f.help = format!("{help}.");
    f
}
