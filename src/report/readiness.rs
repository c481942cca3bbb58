//! `report`: the migration readiness report, in the order an operator works through a move from
//! a CNI that enforces nothing (Flannel) to one that does (Calico): what runs the network today,
//! which pods become isolated, the LoadBalancer addresses, the hardcoded ones, DNS and API server
//! access, every implied flow today versus enforced, access to outside addresses, what
//! `--write` would change, and what would hang a cleanup. Markdown (with a mermaid picture),
//! HTML (with an inline SVG) or JSON; deterministic, so it can be committed and diffed.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::check::CheckRun;
use crate::fix;
use crate::model::{Direction, DirectionRules, Peer, Peers, World};
use crate::report::escape;
use crate::report::graph::{external_range, mermaid_safe};
use crate::source::Sources;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub cni: Vec<Evidence>,
    pub namespaces: Vec<NamespaceRow>,
    pub load_balancers: Vec<AddressRow>,
    pub address_pools: Vec<AddressRow>,
    pub hardcoded_addresses: Vec<FindingRow>,
    pub dns_and_api_server: Vec<FindingRow>,
    pub flows: Vec<FlowRow>,
    pub external_access: Vec<ExternalRow>,
    pub fix_plan: Vec<FilePlan>,
    pub cleanup_hazards: Vec<HazardRow>,
    /// Input that was not analysed (files, documents, objects), and why.
    pub not_analysed: Vec<SkipRow>,
}

#[derive(Debug, Serialize)]
pub struct SkipRow {
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub workloads: usize,
    pub namespaces: usize,
    /// Workloads some policy selects for ingress or egress once policies are enforced.
    pub isolated_workloads: usize,
    pub flows: usize,
    /// Flows that work today (nothing enforces) and stop once policies are enforced.
    pub flows_breaking: usize,
    pub findings: usize,
    pub input_errors: usize,
    pub not_analysed: usize,
}

#[derive(Debug, Serialize)]
pub struct Evidence {
    pub cni: &'static str,
    pub what: String,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct NamespaceRow {
    pub namespace: String,
    pub workloads: usize,
    pub isolated_ingress: Vec<String>,
    pub isolated_egress: Vec<String>,
    /// Selected by no policy in either direction: stays open.
    pub open: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AddressRow {
    pub object: String,
    pub addresses: Vec<String>,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct FindingRow {
    pub rule: String,
    pub object: String,
    pub at: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct FlowRow {
    pub from: String,
    pub to: String,
    pub service: String,
    pub port: String,
    pub cross_namespace: bool,
    /// Nothing enforces policy today (Flannel): every flow works.
    pub today: &'static str,
    pub enforced: &'static str,
    pub evidence: String,
}

#[derive(Debug, Serialize)]
pub struct ExternalRow {
    pub policy: String,
    pub direction: &'static str,
    pub addresses: Vec<String>,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct FilePlan {
    pub file: String,
    pub changes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HazardRow {
    pub object: String,
    pub finalizers: Vec<String>,
    pub at: String,
    pub why: String,
}

/// The report of a check run that recorded its flows.
pub fn build(run: &CheckRun) -> Report {
    let world = &run.analysis.world;
    let sources = &run.analysis.sources;
    let at = |loc| sources.position(loc);
    let name = |w: usize| world.workloads[w].meta.id.to_string();

    let mut namespaces: BTreeMap<&str, NamespaceRow> = BTreeMap::new();
    let mut isolated_workloads = 0;
    for (i, w) in world.workloads.iter().enumerate() {
        let row = namespaces
            .entry(w.meta.id.namespace.as_str())
            .or_insert_with(|| NamespaceRow {
                namespace: w.meta.id.namespace.to_string(),
                workloads: 0,
                isolated_ingress: Vec::new(),
                isolated_egress: Vec::new(),
                open: Vec::new(),
            });
        row.workloads += 1;
        let [ingress, egress] = run.recorded.isolated[i];
        let short = format!("{}/{}", w.meta.id.kind, w.meta.id.name);
        if ingress {
            row.isolated_ingress.push(short.clone());
        }
        if egress {
            row.isolated_egress.push(short.clone());
        }
        if ingress || egress {
            isolated_workloads += 1;
        } else {
            row.open.push(short);
        }
    }

    let findings = |rules: &[&str]| -> Vec<FindingRow> {
        run.findings
            .iter()
            .filter(|f| rules.contains(&f.rule.as_str()))
            .map(|f| FindingRow {
                rule: f.rule.clone(),
                object: f.object.to_string(),
                at: at(f.loc),
                message: f.message.clone(),
            })
            .collect()
    };

    let flows: Vec<FlowRow> = run
        .recorded
        .flows
        .iter()
        .map(|r| {
            let service = &world.services[r.service].meta.id;
            FlowRow {
                from: name(r.client),
                to: name(r.destination),
                service: format!("{}/{}", service.namespace, service.name),
                port: format!("{}/{}", r.port, r.protocol),
                cross_namespace: world.workloads[r.client].meta.id.namespace
                    != world.workloads[r.destination].meta.id.namespace,
                today: "allowed",
                enforced: if r.allowed { "allowed" } else { "blocked" },
                evidence: at(r.evidence),
            }
        })
        .collect();

    let mut plan: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in fix::fixes(run).flatten() {
        let title = match f.applicability {
            fix::Applicability::Safe => f.title.clone(),
            fix::Applicability::Unsafe => format!("{} (unsafe: only with --unsafe-fixes)", f.title),
        };
        let mut files: Vec<&str> = f
            .edits
            .iter()
            .map(|e| sources.get(e.file).name.as_str())
            .collect();
        files.sort_unstable();
        files.dedup();
        for file in files {
            let changes = plan.entry(file.to_string()).or_default();
            if !changes.contains(&title) {
                changes.push(title.clone());
            }
        }
    }

    Report {
        summary: Summary {
            workloads: world.workloads.len(),
            namespaces: namespaces.len(),
            isolated_workloads,
            flows: flows.len(),
            flows_breaking: flows.iter().filter(|f| f.enforced == "blocked").count(),
            findings: run.findings.len(),
            input_errors: run.analysis.errors().count(),
            not_analysed: run.analysis.skipped().count(),
        },
        not_analysed: run
            .analysis
            .skipped()
            .map(|d| SkipRow {
                at: at(d.loc),
                reason: d.message.clone(),
            })
            .collect(),
        cni: cni_evidence(world, sources),
        namespaces: namespaces.into_values().collect(),
        load_balancers: world
            .services
            .iter()
            .filter(|s| s.service_type == "LoadBalancer" || !s.load_balancer_ips.is_empty())
            .map(|s| AddressRow {
                object: s.meta.id.to_string(),
                addresses: s
                    .load_balancer_ips
                    .iter()
                    .map(|ip| ip.value.to_string())
                    .collect(),
                at: at(s.meta.name_loc),
            })
            .collect(),
        address_pools: world
            .address_pools
            .iter()
            .map(|p| AddressRow {
                object: p.meta.id.to_string(),
                addresses: p
                    .addresses
                    .ranges()
                    .map(|(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            external_range(a, b)
                        }
                    })
                    .collect(),
                at: at(p.meta.name_loc),
            })
            .collect(),
        hardcoded_addresses: findings(&["hardcoded-ip"]),
        dns_and_api_server: findings(&["missing-dns-egress", "missing-apiserver-egress"]),
        flows,
        external_access: external_access(world, sources),
        fix_plan: plan
            .into_iter()
            .map(|(file, changes)| FilePlan { file, changes })
            .collect(),
        cleanup_hazards: world
            .finalized
            .iter()
            .map(|h| HazardRow {
                object: h.id.to_string(),
                finalizers: h.finalizers.iter().map(|f| f.to_string()).collect(),
                at: at(h.loc),
                why: "deleting its namespace waits for these finalizers, which only its controller removes: delete the resource before the controller (and while its pods can still reach the API server)".into(),
            })
            .collect(),
    }
}

/// Flannel and Calico, recognised by their workloads' images and Calico's resources.
fn cni_evidence(world: &World, sources: &Sources) -> Vec<Evidence> {
    let mut out = Vec::new();
    for w in &world.workloads {
        for c in &w.containers {
            let cni = if c.image.contains("flannel") {
                "Flannel"
            } else if ["calico/node", "calico/cni", "tigera/operator"]
                .iter()
                .any(|i| c.image.contains(i))
            {
                "Calico"
            } else {
                continue;
            };
            out.push(Evidence {
                cni,
                what: format!("{} runs {}", w.meta.id, c.image),
                at: sources.position(w.meta.name_loc),
            });
        }
    }
    out.extend(world.calico.policies.iter().map(|p| Evidence {
        cni: "Calico",
        what: format!("{} (Calico policy)", p.meta.id),
        at: sources.position(p.meta.name_loc),
    }));
    out
}

/// Policy rules that name outside addresses (ipBlocks), per policy and direction.
fn external_access(world: &World, sources: &Sources) -> Vec<ExternalRow> {
    let mut out = Vec::new();
    for p in &world.policies {
        for direction in [Direction::Egress, Direction::Ingress] {
            let DirectionRules::Isolates(rules) = p.rules(direction) else {
                continue;
            };
            for rule in rules {
                let Peers::Listed(peers) = &rule.peers else {
                    continue;
                };
                let addresses: Vec<String> = peers
                    .iter()
                    .filter_map(|peer| match peer {
                        Peer::IpBlock { cidr, except, .. } if except.is_empty() => {
                            Some(cidr.to_string())
                        }
                        Peer::IpBlock { cidr, except, .. } => Some(format!(
                            "{cidr} except {}",
                            except
                                .iter()
                                .map(|e| e.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        Peer::Pods { .. } => None,
                    })
                    .collect();
                if !addresses.is_empty() {
                    out.push(ExternalRow {
                        policy: p.meta.id.to_string(),
                        direction: direction.as_str(),
                        addresses,
                        at: sources.position(rule.loc),
                    });
                }
            }
        }
    }
    out
}

pub fn write(out: &mut dyn Write, report: &Report, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Markdown => write_markdown(out, report),
        Format::Html => write_html(out, report),
    }
}

/// The section the namespace-level picture of the flows goes into.
const DEPENDENCY_MAP: &str = "6. Dependency map: today vs enforced";

/// A table: headers and rows of cells, rendered per format.
struct Table {
    headers: &'static [&'static str],
    rows: Vec<Vec<String>>,
}

/// The report as sections of tables, shared by Markdown and HTML.
fn sections(r: &Report) -> Vec<(&'static str, &'static str, Table)> {
    let s = &r.summary;
    let mut all = vec![
        (
            "Summary",
            "",
            Table {
                headers: &["", ""],
                rows: vec![
                    vec!["workloads".into(), s.workloads.to_string()],
                    vec!["namespaces".into(), s.namespaces.to_string()],
                    vec![
                        "isolated once policies are enforced".into(),
                        s.isolated_workloads.to_string(),
                    ],
                    vec!["implied flows".into(), s.flows.to_string()],
                    vec![
                        "flows that work today and break when enforced".into(),
                        s.flows_breaking.to_string(),
                    ],
                    vec!["findings".into(), s.findings.to_string()],
                    vec!["input errors".into(), s.input_errors.to_string()],
                ],
            },
        ),
        (
            "1. Detected CNI",
            "What runs the pod network in these manifests. Flannel never enforces NetworkPolicy; Calico does.",
            Table {
                headers: &["CNI", "evidence", "where"],
                rows: r
                    .cni
                    .iter()
                    .map(|e| vec![e.cni.into(), e.what.clone(), e.at.clone()])
                    .collect(),
            },
        ),
        (
            "2. Namespaces and isolation under enforcement",
            "Workloads some policy selects: from migration day on, only what a rule allows reaches (ingress) or leaves (egress) them.",
            Table {
                headers: &[
                    "namespace",
                    "workloads",
                    "isolated for ingress",
                    "isolated for egress",
                    "stays open",
                ],
                rows: r
                    .namespaces
                    .iter()
                    .map(|n| {
                        vec![
                            n.namespace.clone(),
                            n.workloads.to_string(),
                            n.isolated_ingress.join(", "),
                            n.isolated_egress.join(", "),
                            n.open.join(", "),
                        ]
                    })
                    .collect(),
            },
        ),
        (
            "3. LoadBalancer inventory",
            "Services with LoadBalancer addresses (MetalLB), and the address pools.",
            Table {
                headers: &["object", "addresses", "where"],
                rows: r
                    .load_balancers
                    .iter()
                    .chain(&r.address_pools)
                    .map(|a| vec![a.object.clone(), a.addresses.join(", "), a.at.clone()])
                    .collect(),
            },
        ),
        (
            "4. Hardcoded addresses",
            "In-cluster addresses written as IPs: they bypass Service names and break when addresses move.",
            finding_table(&r.hardcoded_addresses),
        ),
        (
            "5. DNS and API server",
            "Workloads that lose name resolution or the Kubernetes API once enforced.",
            finding_table(&r.dns_and_api_server),
        ),
        (
            DEPENDENCY_MAP,
            "Every flow the manifests imply (a value naming a Service), as it works today (nothing enforces) and under enforcement.",
            Table {
                headers: &[
                    "from",
                    "to",
                    "via Service",
                    "port",
                    "today",
                    "enforced",
                    "named at",
                ],
                rows: r
                    .flows
                    .iter()
                    .map(|f| {
                        vec![
                            f.from.clone(),
                            f.to.clone(),
                            f.service.clone(),
                            f.port.clone(),
                            f.today.into(),
                            f.enforced.into(),
                            f.evidence.clone(),
                        ]
                    })
                    .collect(),
            },
        ),
        (
            "7. External access",
            "Policy rules that name addresses outside the cluster.",
            Table {
                headers: &["policy", "direction", "addresses", "rule"],
                rows: r
                    .external_access
                    .iter()
                    .map(|e| {
                        vec![
                            e.policy.clone(),
                            e.direction.into(),
                            e.addresses.join(", "),
                            e.at.clone(),
                        ]
                    })
                    .collect(),
            },
        ),
        (
            "8. Fix plan",
            "What `netpol-fix --write` would change, per file.",
            Table {
                headers: &["file", "change"],
                rows: r
                    .fix_plan
                    .iter()
                    .flat_map(|p| p.changes.iter().map(|c| vec![p.file.clone(), c.clone()]))
                    .collect(),
            },
        ),
        (
            "9. Cleanup hazards",
            "Resources whose finalizers would keep a namespace in Terminating.",
            Table {
                headers: &["resource", "finalizers", "where", "why"],
                rows: r
                    .cleanup_hazards
                    .iter()
                    .map(|h| {
                        vec![
                            h.object.clone(),
                            h.finalizers.join(", "),
                            h.at.clone(),
                            h.why.clone(),
                        ]
                    })
                    .collect(),
            },
        ),
    ];
    // What was not analysed comes right after the summary, and only when there is some.
    if !r.not_analysed.is_empty() {
        all[0]
            .2
            .rows
            .push(vec!["not analysed".into(), s.not_analysed.to_string()]);
        let rows = r
            .not_analysed
            .iter()
            .map(|row| vec![row.at.clone(), row.reason.clone()])
            .collect();
        all.insert(
            1,
            (
                "Not analysed",
                "Input that was not read: what this report says does not cover it.",
                Table {
                    headers: &["where", "why"],
                    rows,
                },
            ),
        );
    }
    all
}

fn finding_table(rows: &[FindingRow]) -> Table {
    Table {
        headers: &["rule", "object", "where", "what"],
        rows: rows
            .iter()
            .map(|f| {
                vec![
                    f.rule.clone(),
                    f.object.clone(),
                    f.at.clone(),
                    f.message.clone(),
                ]
            })
            .collect(),
    }
}

/// Namespace-level edges of the dependency map: (from, to) → (flows, blocked flows).
fn namespace_edges(r: &Report) -> BTreeMap<(String, String), (usize, usize)> {
    let ns = |w: &str| w.split('/').next().unwrap_or("").to_string();
    let mut edges: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for f in &r.flows {
        let e = edges.entry((ns(&f.from), ns(&f.to))).or_default();
        e.0 += 1;
        if f.enforced == "blocked" {
            e.1 += 1;
        }
    }
    edges
}

fn write_markdown(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(out, "# Migration readiness report\n")?;
    writeln!(
        out,
        "Generated by netpol-fix {} (rules {}). Enforcement modelled: Calico (Kubernetes NetworkPolicy and Calico policies).\n",
        env!("CARGO_PKG_VERSION"),
        crate::lint::catalog::RULES_VERSION
    )?;
    for (title, intro, table) in sections(r) {
        writeln!(out, "## {title}\n")?;
        if !intro.is_empty() {
            writeln!(out, "{intro}\n")?;
        }
        if title == DEPENDENCY_MAP {
            writeln!(out, "```mermaid\nflowchart LR")?;
            for ((from, to), (n, blocked)) in namespace_edges(r) {
                let arrow = if blocked > 0 { "-.->" } else { "-->" };
                let flows = if n == 1 { "flow" } else { "flows" };
                writeln!(
                    out,
                    "  ns_{}[{from}] {arrow}|{n} {flows}, {blocked} blocked| ns_{}[{to}]",
                    mermaid_safe(&from),
                    mermaid_safe(&to)
                )?;
            }
            writeln!(out, "```\n")?;
        }
        if table.rows.is_empty() {
            writeln!(out, "None.\n")?;
            continue;
        }
        writeln!(out, "| {} |", table.headers.join(" | "))?;
        writeln!(out, "|{}", " --- |".repeat(table.headers.len()))?;
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| escape::markdown_cell(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Escaped text with `code` spans (as messages write them) as `<code>`.
fn html_text(s: &str) -> String {
    escape::html(s)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

fn write_html(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Migration readiness report</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1.5em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}.blocked{{color:#b00020;font-weight:bold}}</style>\n</head>\n<body>\n<h1>Migration readiness report</h1>"
    )?;
    writeln!(
        out,
        "<p>Generated by netpol-fix {} (rules {}). Enforcement modelled: Calico (Kubernetes NetworkPolicy and Calico policies).</p>",
        env!("CARGO_PKG_VERSION"),
        crate::lint::catalog::RULES_VERSION
    )?;
    for (title, intro, table) in sections(r) {
        writeln!(out, "<h2>{}</h2>", escape::html(title))?;
        if !intro.is_empty() {
            writeln!(out, "<p>{}</p>", html_text(intro))?;
        }
        if title == DEPENDENCY_MAP {
            write_svg(out, r)?;
        }
        if table.rows.is_empty() {
            writeln!(out, "<p>None.</p>")?;
            continue;
        }
        writeln!(out, "<table>\n<tr>")?;
        for h in table.headers {
            write!(out, "<th>{}</th>", escape::html(h))?;
        }
        writeln!(out, "</tr>")?;
        for row in &table.rows {
            write!(out, "<tr>")?;
            for cell in row {
                let class = if cell == "blocked" {
                    " class=\"blocked\""
                } else {
                    ""
                };
                write!(out, "<td{class}>{}</td>", html_text(cell))?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body>\n</html>")
}

/// The namespace-level dependency map: namespaces on a column each side, sources left and
/// destinations right, an arrow per edge, red where enforcement blocks some of its flows.
fn write_svg(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let edges = namespace_edges(r);
    let mut names: Vec<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    names.sort();
    names.dedup();
    let y = |n: &String| 30 + 40 * names.iter().position(|x| *x == n).unwrap_or(0);
    let height = 40 * names.len() + 40;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{height}\" role=\"img\" aria-label=\"dependency map\">"
    )?;
    for n in &names {
        for x in [10, 470] {
            writeln!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"160\" height=\"26\" fill=\"#eef\" stroke=\"#88a\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
                y(n) - 17,
                x + 6,
                y(n),
                escape::html(n)
            )?;
        }
    }
    for ((from, to), (n, blocked)) in &edges {
        let color = if *blocked > 0 { "#b00020" } else { "#2e7d32" };
        let flows = if *n == 1 { "flow" } else { "flows" };
        writeln!(
            out,
            "<line x1=\"170\" y1=\"{}\" x2=\"470\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"2\"><title>{} → {}: {n} {flows}, {blocked} blocked</title></line>",
            y(from) - 4,
            y(to) - 4,
            escape::html(from),
            escape::html(to)
        )?;
    }
    writeln!(out, "</svg>")
}
