//! `netpol-fix.yaml`: cluster facts (DNS, API server, cluster domain), rule selection, excludes.
//!
//! Read with the project's own YAML loader so that an unknown key or a wrong type is an error
//! at its `file:line:col`.

use std::net::IpAddr;

use crate::diag::{Diagnostic, Severity};
use crate::load::Object;
use crate::model::build::Fields;
use crate::model::{Labels, Name};
use crate::net::{IpNet, Protocol};
use crate::source::{FileId, Location, Span};
use crate::yaml::{self, Limits, Node};

pub const FILE_NAME: &str = "netpol-fix.yaml";

/// Where the cluster DNS is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns {
    pub namespace: Name,
    pub labels: Labels,
    /// Service ports; CoreDNS may listen on another target port behind them.
    pub ports: Vec<(Protocol, u16)>,
    /// NodeLocal DNSCache addresses (e.g. 169.254.20.10): when set, pods reach DNS at these
    /// addresses (host network) instead of the DNS pods.
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiServer {
    /// Endpoint addresses of the API server (policy applies after Service translation).
    pub cidrs: Vec<IpNet>,
    pub ports: Vec<u16>,
}

/// Per-run rule selection; the command line adds to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSelection {
    /// Empty: every rule.
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub severity: Vec<(String, Severity)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cluster_domain: String,
    pub dns: Dns,
    pub api_server: ApiServer,
    pub rules: RuleSelection,
    /// Globs (gitignore syntax) of paths to leave out, relative to each directory given.
    pub exclude: Vec<String>,
    /// Directories of user rules, relative to the config file.
    pub rule_dirs: Vec<String>,
    /// Per-file resource limits of the loader.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            cluster_domain: "cluster.local".into(),
            dns: Dns {
                namespace: "kube-system".into(),
                labels: [(Name::from("k8s-app"), Name::from("kube-dns"))].into(),
                ports: vec![(Protocol::Udp, 53), (Protocol::Tcp, 53)],
                addresses: Vec::new(),
            },
            api_server: ApiServer {
                cidrs: Vec::new(),
                ports: vec![443, 6443],
            },
            rules: RuleSelection::default(),
            exclude: Vec::new(),
            rule_dirs: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Parses the text of a config file registered as `file`; every problem is a diagnostic.
pub fn parse(file: FileId, text: &str) -> (Config, Vec<Diagnostic>) {
    let mut config = Config::default();
    let mut errors = Vec::new();
    let docs = yaml::parse_stream(text, Limits::default());
    let root = match docs.into_iter().next() {
        None => return (config, errors),
        Some(Err(e)) => {
            errors.push(Diagnostic::error(
                Location { file, span: e.span },
                e.message,
            ));
            return (config, errors);
        }
        Some(Ok(root)) if root.is_null() => return (config, errors),
        Some(Ok(root)) => root,
    };
    let document = root.span;
    let object = Object {
        file,
        node: root,
        document,
        source: None,
    };
    let f = Fields { object: &object };
    read(f, &object.node, &mut config, &mut errors);
    (config, errors)
}

type Result<T> = std::result::Result<T, Diagnostic>;

fn unknown_key(f: Fields, key: &Node, known: &[&str], section: &str) -> Diagnostic {
    f.error(
        key,
        format!("unknown key `{}` in {section}", key.as_str().unwrap_or("?")),
    )
    .with_help(format!("known keys: {}", known.join(", ")))
}

/// Reads every `key: value` of the mapping `section` with `read`, which answers `None` for a
/// key it does not know (an error naming the known `keys`). Every error is collected and the
/// other keys are still read.
fn read_section(
    f: Fields,
    node: &Node,
    section: &str,
    keys: &[&str],
    errors: &mut Vec<Diagnostic>,
    mut read: impl FnMut(&str, &Node, &mut Vec<Diagnostic>) -> Option<Result<()>>,
) {
    let entries = match f.map(node, section) {
        Ok(entries) => entries,
        Err(e) => return errors.push(e),
    };
    for (key, value) in entries {
        let result = read(key.as_str().unwrap_or(""), value, errors)
            .unwrap_or_else(|| Err(unknown_key(f, key, keys, section)));
        if let Err(e) = result {
            errors.push(e);
        }
    }
}

fn read(f: Fields, root: &Node, config: &mut Config, errors: &mut Vec<Diagnostic>) {
    const KEYS: [&str; 7] = [
        "cluster_domain",
        "dns",
        "api_server",
        "rules",
        "exclude",
        "rule_dirs",
        "limits",
    ];
    read_section(f, root, FILE_NAME, &KEYS, errors, |key, value, errors| {
        Some(match key {
            "cluster_domain" => f
                .string(value, "cluster_domain")
                .map(|d| config.cluster_domain = d.into()),
            "dns" => {
                read_dns(f, value, &mut config.dns, errors);
                Ok(())
            }
            "api_server" => {
                read_api_server(f, value, &mut config.api_server, errors);
                Ok(())
            }
            "rules" => {
                read_rules(f, value, &mut config.rules, errors);
                Ok(())
            }
            "exclude" => strings(f, value, "exclude").map(|v| config.exclude = v),
            "rule_dirs" => strings(f, value, "rule_dirs").map(|v| config.rule_dirs = v),
            "limits" => {
                read_limits(f, value, &mut config.limits, errors);
                Ok(())
            }
            _ => return None,
        })
    });
}

fn read_limits(f: Fields, node: &Node, limits: &mut Limits, errors: &mut Vec<Diagnostic>) {
    const KEYS: [&str; 4] = [
        "max_file_bytes",
        "max_documents",
        "max_depth",
        "alias_expansion",
    ];
    read_section(f, node, "limits", &KEYS, errors, |name, value, _| {
        let positive = || {
            let n = f.int(value, name)?;
            u64::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                f.error(value, format!("`limits.{name}` must be a positive integer"))
            })
        };
        // A positive integer up to `limit`, which keeps the reader within its stack or memory.
        let at_most = |limit: usize, why: &str, default: usize| {
            positive().and_then(|n| {
                usize::try_from(n).ok().filter(|&n| n <= limit).ok_or_else(|| {
                    f.error(
                        value,
                        format!("`limits.{name}` is at most {limit} ({why}); the default ({default}) stays"),
                    )
                })
            })
        };
        Some(match name {
            "max_file_bytes" => positive().map(|n| limits.max_file_bytes = n),
            "max_documents" => positive().map(|n| limits.max_documents = n as usize),
            "max_depth" => at_most(
                yaml::MAX_DEPTH_LIMIT,
                "reading deeper nesting would overflow the stack",
                Limits::default().max_depth,
            )
            .map(|n| limits.max_depth = n),
            "alias_expansion" => at_most(
                yaml::MAX_ALIAS_EXPANSION,
                "nodes per byte of a file: more lets a small alias bomb exhaust memory",
                Limits::default().alias_expansion,
            )
            .map(|n| limits.alias_expansion = n),
            _ => return None,
        })
    });
}

fn strings(f: Fields, node: &Node, what: &str) -> Result<Vec<String>> {
    f.seq(node, what)?
        .iter()
        .map(|n| f.string(n, what).map(String::from))
        .collect()
}

fn read_dns(f: Fields, node: &Node, dns: &mut Dns, errors: &mut Vec<Diagnostic>) {
    const KEYS: [&str; 4] = ["namespace", "labels", "ports", "addresses"];
    read_section(f, node, "dns", &KEYS, errors, |key, value, _| {
        Some(match key {
            // An empty namespace or port list would switch the DNS rule off without a word.
            "namespace" => f
                .string(value, "dns.namespace")
                .and_then(|v| {
                    crate::model::validate::dns1123_label(v.as_bytes())
                        .map(|()| v)
                        .map_err(|problem| {
                            f.error(value, format!("`dns.namespace` is not a namespace name: {problem}"))
                        })
                })
                .map(|v| dns.namespace = v),
            "labels" => f.labels(value, "dns.labels").map(|v| dns.labels = v),
            "ports" => ports(f, value)
                .and_then(|v| {
                    (!v.is_empty()).then_some(v).ok_or_else(|| {
                        f.error(value, "`dns.ports` is empty: pods resolve names through at least one port (the default is UDP 53 and TCP 53)")
                    })
                })
                .map(|v| dns.ports = v),
            "addresses" => f.seq(value, "dns.addresses").and_then(|items| {
                items
                    .iter()
                    .map(|n| {
                        f.string(n, "dns.addresses")?
                            .parse()
                            .map_err(|_| f.error(n, "not an IP address"))
                    })
                    .collect::<Result<_>>()
                    .map(|v| dns.addresses = v)
            }),
            _ => return None,
        })
    });
}

/// `[{protocol: UDP, port: 53}, …]`.
fn ports(f: Fields, node: &Node) -> Result<Vec<(Protocol, u16)>> {
    f.seq(node, "dns.ports")?
        .iter()
        .map(|p| {
            let protocol = match f.opt_string(p, "protocol")? {
                Some(name) => Protocol::parse(&name)
                    .ok_or_else(|| f.error(p, format!("unknown protocol `{name}`")))?,
                None => Protocol::Tcp,
            };
            let port = f
                .get(p, "port")
                .ok_or_else(|| f.error(p, "port entry without `port`"))?;
            Ok((protocol, f.port(port, "port")?))
        })
        .collect()
}

fn read_api_server(f: Fields, node: &Node, api: &mut ApiServer, errors: &mut Vec<Diagnostic>) {
    const KEYS: [&str; 2] = ["cidrs", "ports"];
    read_section(f, node, "api_server", &KEYS, errors, |key, value, _| {
        Some(match key {
            "cidrs" => f.seq(value, "api_server.cidrs").and_then(|items| {
                items
                    .iter()
                    .map(|n| {
                        let text = f.string(n, "api_server.cidrs")?;
                        let text = if text.contains('/') {
                            text.into()
                        } else {
                            host_cidr(&text)
                        };
                        IpNet::parse(&text).map_err(|e| f.error(n, e))
                    })
                    .collect::<Result<_>>()
                    .map(|v| api.cidrs = v)
            }),
            "ports" => f.seq(value, "api_server.ports").and_then(|items| {
                items
                    .iter()
                    .map(|n| f.port(n, "api_server.ports"))
                    .collect::<Result<_>>()
                    .map(|v| api.ports = v)
            }),
            _ => return None,
        })
    });
}

/// A single address as a host CIDR (`/32` or `/128`).
fn host_cidr(addr: &str) -> String {
    if addr.contains(':') {
        format!("{addr}/128")
    } else {
        format!("{addr}/32")
    }
}

fn read_rules(f: Fields, node: &Node, rules: &mut RuleSelection, errors: &mut Vec<Diagnostic>) {
    const KEYS: [&str; 3] = ["select", "ignore", "severity"];
    read_section(f, node, "rules", &KEYS, errors, |key, value, _| {
        Some(match key {
            "select" => strings(f, value, "rules.select").map(|v| rules.select = v),
            "ignore" => strings(f, value, "rules.ignore").map(|v| rules.ignore = v),
            "severity" => f.map(value, "rules.severity").and_then(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| Ok((f.string(k, "rule id")?.into(), parse_severity(f, v)?)))
                    .collect::<Result<_>>()
                    .map(|v| rules.severity = v)
            }),
            _ => return None,
        })
    });
}

pub fn parse_severity(f: Fields, node: &Node) -> Result<Severity> {
    match f.string(node, "severity")?.as_str() {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        other => Err(f.error(
            node,
            format!("unknown severity `{other}`: use error, warning or info"),
        )),
    }
}

/// A span-less location at the start of a file (for file-level problems).
pub fn file_start(file: FileId) -> Location {
    Location {
        file,
        span: Span::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_is_an_error_and_the_other_keys_still_apply() {
        let (config, errors) = parse(
            FileId(0),
            "dns: {addresses: 5, namespace: cluster-dns}\nlimits: 3\ncluster_domain: corp.local\n",
        );
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`dns.addresses` must be a list, found a scalar",
                "`limits` must be a mapping, found a scalar"
            ]
        );
        assert_eq!(config.dns.namespace, "cluster-dns");
        assert_eq!(config.cluster_domain, "corp.local");
    }

    /// What would switch a rule off in silence, or let an alias bomb through, is an error at
    /// its value, and the default stays.
    #[test]
    fn settings_that_would_disable_a_rule_or_a_limit_are_errors() {
        let (config, errors) = parse(
            FileId(0),
            "dns: {namespace: \"\", ports: []}\nlimits: {alias_expansion: 1000000}\n",
        );
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("`dns.namespace` is not a namespace name"));
        assert!(messages[1].starts_with("`dns.ports` is empty"));
        assert!(messages[2].starts_with("`limits.alias_expansion` is at most 10"));
        let defaults = Config::default();
        assert_eq!(config.dns.namespace, defaults.dns.namespace);
        assert_eq!(config.dns.ports, defaults.dns.ports);
        assert_eq!(
            config.limits.alias_expansion,
            defaults.limits.alias_expansion
        );
    }
}
