//! Endpoints as users write them (`ns/name`, `ns/Kind/name`, an IP address) → model endpoints.

use std::net::IpAddr;

use crate::connectivity::Endpoint;
use crate::model::World;

/// Resolves `namespace/name`, `namespace/Kind/name` (kind case-insensitive) or an IP address.
pub fn resolve(world: &World, text: &str) -> Result<Endpoint, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Endpoint::External(ip));
    }
    let parts: Vec<&str> = text.splitn(3, '/').collect();
    let (namespace, kind, name) = match parts.as_slice() {
        [ns, name] => (*ns, None, *name),
        [ns, kind, name] => (*ns, Some(*kind), *name),
        _ => {
            return Err(format!(
                "`{text}` is not an endpoint: write namespace/name, namespace/Kind/name or an IP address"
            ));
        }
    };
    let matches: Vec<usize> = world
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            w.meta.id.namespace == namespace
                && w.meta.id.name == name
                && kind.is_none_or(|k| w.meta.id.kind.eq_ignore_ascii_case(k))
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(Endpoint::Workload(*one)),
        [] => {
            let in_ns: Vec<String> = world
                .workloads
                .iter()
                .filter(|w| w.meta.id.namespace == namespace)
                .map(|w| format!("{}/{}/{}", namespace, w.meta.id.kind, w.meta.id.name))
                .take(10)
                .collect();
            let hint = if in_ns.is_empty() {
                format!("no workloads in namespace `{namespace}`")
            } else {
                format!("workloads in `{namespace}`: {}", in_ns.join(", "))
            };
            Err(format!("no workload `{text}` in the input ({hint})"))
        }
        many => {
            let kinds: Vec<String> = many
                .iter()
                .map(|&i| format!("{namespace}/{}/{name}", world.workloads[i].meta.id.kind))
                .collect();
            Err(format!(
                "`{text}` is ambiguous; name the kind: {}",
                kinds.join(" or ")
            ))
        }
    }
}
