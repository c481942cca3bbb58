//! The rule catalogue: `rules/*.yaml` files (built in, embedded at compile time) and user rule
//! directories of the same schema.

use std::path::Path;
use std::sync::Arc;

use crate::config::parse_severity;
use crate::diag::{Diagnostic, Severity};
use crate::load::Object;
use crate::model::build::Fields;
use crate::source::{SourceFile, Sources};
use crate::yaml::{self, Limits, Node};

/// The generic check a rule runs, with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Egress-isolated pods must reach the cluster DNS; TCP-only failures get a lower severity.
    DnsEgress {
        tcp_only_severity: Severity,
    },
    /// Pods that use the Kubernetes API must reach the API server.
    ApiServerEgress,
    /// Egress to the Service named by one of these env vars.
    EnvServiceEgress {
        env: Vec<String>,
    },
    /// Egress to every other Service the configuration names.
    ServiceEgress,
    /// Ingress at the destination of every dependency (DNS included).
    ServiceIngress,
    /// IP literals used as peer addresses.
    HardcodedIp,
    UnusedSuppression,
    SuppressionWithoutReason,
}

impl Check {
    /// The check's name in rule files, with its parameters: `dns-egress (tcp_only_severity:
    /// warning)`.
    pub fn describe(&self) -> String {
        match self {
            Check::DnsEgress { tcp_only_severity } => {
                format!(
                    "dns-egress (tcp_only_severity: {})",
                    tcp_only_severity.as_str()
                )
            }
            Check::ApiServerEgress => "apiserver-egress".into(),
            Check::EnvServiceEgress { env } => {
                format!("env-service-egress (env: {})", env.join(", "))
            }
            Check::ServiceEgress => "service-egress".into(),
            Check::ServiceIngress => "service-ingress".into(),
            Check::HardcodedIp => "hardcoded-ip".into(),
            Check::UnusedSuppression => "unused-suppression".into(),
            Check::SuppressionWithoutReason => "suppression-without-reason".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Examples {
    pub triggers: String,
    pub passes: String,
}

/// One rule: what it finds, why, how bad, and which check runs it.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub summary: String,
    pub severity: Severity,
    pub check: Check,
    pub rationale: String,
    pub examples: Examples,
}

/// Version of the built-in rule set, shown by `--version`; bump it when a built-in rule's
/// behaviour, severity or text changes.
pub const RULES_VERSION: &str = "2026.11.25";

/// The built-in rules, embedded so the binary needs no data files.
const BUILTIN: [(&str, &str); 8] = [
    (
        "rules/missing-dns-egress.yaml",
        include_str!("../../rules/missing-dns-egress.yaml"),
    ),
    (
        "rules/missing-apiserver-egress.yaml",
        include_str!("../../rules/missing-apiserver-egress.yaml"),
    ),
    (
        "rules/missing-mlflow-egress.yaml",
        include_str!("../../rules/missing-mlflow-egress.yaml"),
    ),
    (
        "rules/missing-service-egress.yaml",
        include_str!("../../rules/missing-service-egress.yaml"),
    ),
    (
        "rules/missing-service-ingress.yaml",
        include_str!("../../rules/missing-service-ingress.yaml"),
    ),
    (
        "rules/hardcoded-ip.yaml",
        include_str!("../../rules/hardcoded-ip.yaml"),
    ),
    (
        "rules/unused-suppression.yaml",
        include_str!("../../rules/unused-suppression.yaml"),
    ),
    (
        "rules/suppression-without-reason.yaml",
        include_str!("../../rules/suppression-without-reason.yaml"),
    ),
];

/// Built-in rules, then the rules of each user directory (sorted by file name). A rule whose
/// id is already defined is an error; the first definition stays.
pub fn load(sources: &mut Sources, user_dirs: &[&Path]) -> (Vec<Rule>, Vec<Diagnostic>) {
    let mut files: Vec<(String, Arc<str>)> = BUILTIN
        .iter()
        .map(|(name, text)| (name.to_string(), Arc::from(*text)))
        .collect();
    let mut diags = Vec::new();
    for dir in user_dirs {
        match read_dir(dir) {
            Ok(found) => files.extend(found),
            Err(message) => {
                let file = sources.add(SourceFile::new(dir.display().to_string(), "".into()));
                diags.push(Diagnostic::error(crate::config::file_start(file), message));
            }
        }
    }
    let mut rules: Vec<Rule> = Vec::new();
    for (name, text) in files {
        let file = sources.add(SourceFile::new(name, text.clone()));
        for doc in yaml::parse_stream(&text, Limits::default()) {
            let node = match doc {
                Ok(node) if node.is_null() => continue,
                Ok(node) => node,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        crate::source::Location { file, span: e.span },
                        e.message,
                    ));
                    continue;
                }
            };
            let document = node.span;
            let object = Object {
                file,
                node,
                document,
                source: None,
            };
            match parse_rule(Fields { object: &object }) {
                Ok(rule) if rules.iter().any(|r| r.id == rule.id) => diags.push(
                    Diagnostic::error(object.loc(), format!("rule `{}` is defined twice", rule.id))
                        .with_help("give the user rule its own id"),
                ),
                Ok(rule) => rules.push(rule),
                Err(e) => diags.push(e),
            }
        }
    }
    (rules, diags)
}

fn read_dir(dir: &Path) -> std::result::Result<Vec<(String, Arc<str>)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read rule directory: {e}"))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text =
                crate::load::read_text_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((p.display().to_string(), Arc::from(text)))
        })
        .collect()
}

type Result<T> = std::result::Result<T, Diagnostic>;

fn parse_rule(f: Fields) -> Result<Rule> {
    const KEYS: [&str; 7] = [
        "id",
        "summary",
        "severity",
        "check",
        "parameters",
        "rationale",
        "examples",
    ];
    let root = &f.object.node;
    for (key, _) in f.map(root, "rule")? {
        let k = key.as_str().unwrap_or("");
        if !KEYS.contains(&k) {
            return Err(f
                .error(key, format!("unknown key `{k}` in a rule"))
                .with_help(format!("rule keys: {}", KEYS.join(", "))));
        }
    }
    let required = |key: &str| -> Result<&Node> {
        f.get(root, key)
            .ok_or_else(|| f.error(root, format!("rule without `{key}`")))
    };
    let id = f.string(required("id")?, "id")?;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(f.error(
            required("id")?,
            format!("rule id `{id}` must be kebab-case"),
        ));
    }
    let examples = required("examples")?;
    let example = |key: &str| -> Result<String> {
        match f.get(examples, key) {
            Some(n) => f.string(n, key).map(String::from),
            None => Err(f.error(examples, format!("examples without `{key}`"))),
        }
    };
    Ok(Rule {
        summary: f.string(required("summary")?, "summary")?.into(),
        severity: parse_severity(f, required("severity")?)?,
        check: parse_check(f, required("check")?, f.get(root, "parameters"))?,
        rationale: f.string(required("rationale")?, "rationale")?.into(),
        examples: Examples {
            triggers: example("triggers")?,
            passes: example("passes")?,
        },
        id: id.into(),
    })
}

fn parse_check(f: Fields, check: &Node, params: Option<&Node>) -> Result<Check> {
    let name = f.string(check, "check")?;
    let empty = Node {
        span: check.span,
        value: yaml::Value::Map(Vec::new()),
    };
    let params = params.unwrap_or(&empty);
    let allowed: &[&str] = match name.as_str() {
        "dns-egress" => &["tcp_only_severity"],
        "env-service-egress" => &["env"],
        _ => &[],
    };
    for (key, _) in f.map(params, "parameters")? {
        let k = key.as_str().unwrap_or("");
        if !allowed.contains(&k) {
            return Err(f.error(key, format!("check `{name}` has no parameter `{k}`")));
        }
    }
    Ok(match name.as_str() {
        "dns-egress" => Check::DnsEgress {
            tcp_only_severity: match f.get(params, "tcp_only_severity") {
                Some(n) => parse_severity(f, n)?,
                None => Severity::Warning,
            },
        },
        "apiserver-egress" => Check::ApiServerEgress,
        "env-service-egress" => {
            let env = f.get(params, "env").ok_or_else(|| {
                f.error(params, "check `env-service-egress` needs `parameters.env`")
            })?;
            let env: Vec<String> = f
                .seq(env, "env")?
                .iter()
                .map(|n| f.string(n, "env").map(String::from))
                .collect::<Result<_>>()?;
            if env.is_empty() {
                return Err(f.error(check, "`parameters.env` lists no variable"));
            }
            Check::EnvServiceEgress { env }
        }
        "service-egress" => Check::ServiceEgress,
        "service-ingress" => Check::ServiceIngress,
        "hardcoded-ip" => Check::HardcodedIp,
        "unused-suppression" => Check::UnusedSuppression,
        "suppression-without-reason" => Check::SuppressionWithoutReason,
        other => {
            return Err(f.error(check, format!("unknown check `{other}`")).with_help(
                "checks: dns-egress, apiserver-egress, env-service-egress, service-egress, service-ingress, hardcoded-ip, unused-suppression, suppression-without-reason",
            ));
        }
    })
}
