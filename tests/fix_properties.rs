//! Property tests of the fix loop (`fix::apply::fix_all`) on generated worlds.
//!
//! A world is 2–3 application namespaces (`ns-a`, `ns-b`, `ns-c`, one file each) with 2–5
//! Deployments (unique `app` labels, an optional shared `tier`), Services (numeric or named
//! target ports, ClusterIPs), env vars naming Services (short name, `svc.ns`, FQDN, ClusterIP,
//! sometimes `MLFLOW_TRACKING_URI`), default-deny and allow policies, and sometimes CoreDNS in
//! `kube-system` (its own file). Values reach pods as env literals, `configMapKeyRef`,
//! `envFrom` or `--flag=` args. Files mix YAML styles (indented or flush sequences, flow or
//! block label maps, CRLF, a BOM, a leading `---`, `...` end markers, comments between
//! documents, no final newline, a trailing comment, one-line flow policies, policies with
//! `metadata` last and a block-scalar annotation).
//!
//! Properties (one proptest each, all on the same generator):
//! 1. every fixed file still loads (no error diagnostics after the fix), and no fix had to be
//!    reverted by fix_all's "would leave the file unloadable" guard;
//! 2. fixing is idempotent (fixing the fixed texts changes nothing);
//! 3. no pod's isolation changes, in either direction;
//! 4. nothing opens that no fixed finding asked for, and nothing allowed becomes denied;
//! 5. bytes outside the replaced hosts are kept: fixes only insert, except host replacements;
//! 6. findings that had a safe fix are gone afterwards (unless `problems` says why).
//!
//! Failure messages print the generated files (CRLF shown as `␍`), the findings and the diff.
//! Runs are deterministic (fixed seed, 48 cases); `PROPTEST_RNG_SEED=<n>` and
//! `PROPTEST_CASES=<n>` explore further. `generator_statistics` (ignored) shows what the
//! generator produces.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use netpol_fix::check::{CheckOptions, CheckRun, check};
use netpol_fix::connectivity::graph::GraphEndpoint;
use netpol_fix::connectivity::{Endpoint, Engine};
use netpol_fix::fix::apply::{Outcome, fix_all};
use netpol_fix::fix::{Applicability, Fix, fixes};
use netpol_fix::lint::{Finding, Peer, Remedy};
use netpol_fix::load::Input;
use netpol_fix::model::{Direction, Labels, ObjectId};
use netpol_fix::net::Protocol;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

// ---------------------------------------------------------------------------------------------
// The generator: a seed of small numbers, rendered to YAML files.
// ---------------------------------------------------------------------------------------------

const NAMESPACES: [&str; 3] = ["ns-a", "ns-b", "ns-c"];
const APPS: [&str; 5] = ["web", "api", "worker", "cache", "mlflow"];
const TIERS: [&str; 2] = ["front", "back"];
const CONTAINER_PORTS: [u16; 4] = [8080, 5000, 9000, 6379];
const SERVICE_PORTS: [u16; 4] = [80, 5000, 8080, 443];
const METRICS_SERVICE_PORT: u16 = 9100;
/// Every port the generator can write anywhere (containers, Services, policies, DNS).
const PORTS: [u16; 10] = [53, 80, 443, 1053, 5000, 6379, 8080, 9000, 9100, 6443];

#[derive(Clone, Debug)]
struct DepSeed {
    ns: usize,
    tier: Option<usize>,
    port: usize,
    /// A second container port named `metrics`.
    second_port: Option<usize>,
    /// The first container port is named `http`.
    named_http: bool,
}

#[derive(Clone, Debug)]
struct SvcSeed {
    /// Select by the `tier` label (when the Deployment has one) instead of `app`.
    by_tier: bool,
    port: usize,
    /// `targetPort: http` instead of a number.
    named_target: bool,
    /// A numeric target port: the second container port (when there is one).
    target_second: bool,
    cluster_ip: bool,
    /// A second Service port (`metrics: 9100`).
    extra_port: bool,
}

#[derive(Clone, Debug)]
struct EnvSeed {
    client: usize,
    target: usize,
    /// 0 short name, 1 `svc.ns`, 2 FQDN, 3 the ClusterIP, 4 the kube-dns ClusterIP (when
    /// the world has that Service; else the FQDN of the target).
    form: u8,
    scheme: bool,
    write_port: bool,
    mlflow: bool,
    /// 0 an env literal, 1 a `configMapKeyRef`, 2 `envFrom` a ConfigMap, 3 a `--flag=` argument.
    via: u8,
}

#[derive(Clone, Debug)]
struct NsSeed {
    /// 0 none, 1 ingress, 2 egress, 3 both.
    deny: u8,
    /// Both denies in one policy.
    combined: bool,
    /// 0 none, 1 UDP and TCP 53, 2 UDP 53 only, 3 UDP and TCP 53 to the classic dead
    /// `namespaceSelector: {name: kube-system}`.
    allow_dns: u8,
    /// A Namespace object in the file.
    declared: bool,
    /// The default-deny selects `tier: back` pods only.
    deny_tier: bool,
}

#[derive(Clone, Debug)]
struct AllowSeed {
    from: usize,
    to: usize,
    egress: bool,
    /// The port by name (`http`) when the destination has it.
    named: bool,
    /// A namespaceSelector even within one namespace.
    ns_selector: bool,
    /// The peer by its `tier` label (when it has one) instead of `app`.
    by_tier: bool,
}

#[derive(Clone, Debug)]
struct DnsSeed {
    /// CoreDNS listens on 1053 behind Service port 53.
    listen_1053: bool,
    /// The kube-dns Service targets ports by name.
    named: bool,
    service: bool,
    deny_ingress: bool,
    /// 0 none, 1 allow DNS from every namespace, 2 from ns-a only.
    allow_ingress: u8,
}

#[derive(Clone, Debug)]
struct FileStyle {
    indent_seq: bool,
    crlf: bool,
    flow: bool,
    lead_sep: bool,
    trailing_nl: bool,
    comment_tail: bool,
    quote_env: bool,
    policies_first: bool,
    /// A UTF-8 byte order mark.
    bom: bool,
    /// Between documents: 0 `---`, 1 a blank line and a comment before `---`, 2 `...` then `---`.
    between: u8,
    /// A `description` annotation on policies as a block scalar: 0 none, 1 `|`, 2 `|-`,
    /// 3 `|+`, 4 `>`.
    note: u8,
    /// Policies write `metadata` after `spec` (so a block scalar can end the document).
    metadata_last: bool,
    /// Policies as one-line flow mappings.
    flow_docs: bool,
}

#[derive(Clone, Debug)]
struct Spec {
    n_ns: usize,
    deps: Vec<DepSeed>,
    svcs: Vec<Option<SvcSeed>>,
    envs: Vec<EnvSeed>,
    nss: Vec<NsSeed>,
    allows: Vec<AllowSeed>,
    dns: Option<DnsSeed>,
    styles: Vec<FileStyle>,
}

fn dep_seed() -> impl Strategy<Value = DepSeed> {
    (
        0usize..3,
        prop::option::of(0usize..2),
        0usize..4,
        prop::option::weighted(0.3, 0usize..3),
        any::<bool>(),
    )
        .prop_map(|(ns, tier, port, second_port, named_http)| DepSeed {
            ns,
            tier,
            port,
            second_port,
            named_http,
        })
}

fn svc_seed() -> impl Strategy<Value = SvcSeed> {
    (
        any::<bool>(),
        0usize..4,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(by_tier, port, named_target, target_second, cluster_ip, extra_port)| SvcSeed {
                by_tier,
                port,
                named_target,
                target_second,
                cluster_ip,
                extra_port,
            },
        )
}

fn env_seed() -> impl Strategy<Value = EnvSeed> {
    (
        0usize..5,
        0usize..5,
        prop_oneof![5 => 0u8..4, 1 => Just(4u8)],
        any::<bool>(),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.2),
        prop_oneof![4 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
    )
        .prop_map(
            |(client, target, form, scheme, write_port, mlflow, via)| EnvSeed {
                client,
                target,
                form,
                scheme,
                write_port,
                mlflow,
                via,
            },
        )
}

fn ns_seed() -> impl Strategy<Value = NsSeed> {
    (
        0u8..4,
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(deny, combined, allow_dns, declared, deny_tier)| NsSeed {
            deny,
            combined,
            allow_dns,
            declared,
            deny_tier,
        })
}

fn allow_seed() -> impl Strategy<Value = AllowSeed> {
    (
        0usize..5,
        0usize..5,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(from, to, egress, named, ns_selector, by_tier)| AllowSeed {
                from,
                to,
                egress,
                named,
                ns_selector,
                by_tier,
            },
        )
}

fn dns_seed() -> impl Strategy<Value = DnsSeed> {
    (
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::bool::weighted(0.7),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(
            |(listen_1053, named, service, deny_ingress, allow_ingress)| DnsSeed {
                listen_1053,
                named,
                service,
                deny_ingress,
                allow_ingress,
            },
        )
}

fn file_style() -> impl Strategy<Value = FileStyle> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.2),
        (
            prop::bool::weighted(0.1),
            prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
            prop_oneof![3 => Just(0u8), 1 => 1u8..5],
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.15),
        ),
    )
        .prop_map(
            |(
                indent_seq,
                crlf,
                flow,
                lead_sep,
                trailing_nl,
                comment_tail,
                quote_env,
                policies_first,
                (bom, between, note, metadata_last, flow_docs),
            )| FileStyle {
                indent_seq,
                crlf,
                flow,
                lead_sep,
                trailing_nl,
                comment_tail,
                quote_env,
                policies_first,
                bom,
                between,
                note,
                metadata_last,
                flow_docs,
            },
        )
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        2usize..=3,
        prop::collection::vec(dep_seed(), 2..=5),
        prop::collection::vec(prop::option::weighted(0.75, svc_seed()), 5),
        prop::collection::vec(env_seed(), 0..=5),
        prop::collection::vec(ns_seed(), 3),
        prop::collection::vec(allow_seed(), 0..=3),
        prop::option::weighted(0.6, dns_seed()),
        prop::collection::vec(file_style(), 4),
    )
        .prop_map(|(n_ns, deps, svcs, envs, nss, allows, dns, styles)| Spec {
            n_ns,
            deps,
            svcs,
            envs,
            nss,
            allows,
            dns,
            styles,
        })
}

/// A YAML value to render.
enum N {
    Map(Vec<(String, N)>),
    Seq(Vec<N>),
    Scalar(String),
    /// Labels: a flow mapping in flow style, else a block mapping.
    Labels(Vec<(String, String)>),
    /// A block scalar: header (`|`, `|-`, …) and lines; a trailing blank line when `blank`.
    Block(&'static str, Vec<String>, bool),
}

fn map(entries: Vec<(&str, N)>) -> N {
    N::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn s(v: impl ToString) -> N {
    N::Scalar(v.to_string())
}

fn labels(pairs: &[(&str, &str)]) -> N {
    N::Labels(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn render(node: &N, indent: usize, style: &FileStyle, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match node {
        N::Map(entries) => {
            for (k, v) in entries {
                match v {
                    N::Map(m) if m.is_empty() => out.push(format!("{pad}{k}: {{}}")),
                    N::Labels(l) if l.is_empty() => out.push(format!("{pad}{k}: {{}}")),
                    N::Seq(items) if items.is_empty() => out.push(format!("{pad}{k}: []")),
                    N::Scalar(x) => out.push(format!("{pad}{k}: {x}")),
                    N::Block(header, lines, blank) => {
                        out.push(format!("{pad}{k}: {header}"));
                        out.extend(lines.iter().map(|l| format!("{pad}  {l}")));
                        if *blank {
                            out.push(String::new());
                        }
                    }
                    N::Labels(l) if style.flow => {
                        let pairs: Vec<String> =
                            l.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                        out.push(format!("{pad}{k}: {{{}}}", pairs.join(", ")));
                    }
                    N::Map(_) | N::Labels(_) => {
                        out.push(format!("{pad}{k}:"));
                        render(v, indent + 2, style, out);
                    }
                    N::Seq(_) => {
                        out.push(format!("{pad}{k}:"));
                        let inner = if style.indent_seq { indent + 2 } else { indent };
                        render(v, inner, style, out);
                    }
                }
            }
        }
        N::Labels(l) => {
            for (k, v) in l {
                out.push(format!("{pad}{k}: {v}"));
            }
        }
        N::Seq(items) => {
            for item in items {
                match item {
                    N::Scalar(x) => out.push(format!("{pad}- {x}")),
                    _ => {
                        let mut sub = Vec::new();
                        render(item, indent + 2, style, &mut sub);
                        sub[0].replace_range(indent..indent + 2, "- ");
                        out.append(&mut sub);
                    }
                }
            }
        }
        N::Scalar(x) => out.push(format!("{pad}{x}")),
        N::Block(..) => unreachable!("block scalars are map values"),
    }
}

/// A one-line flow rendering (block scalars become double-quoted strings).
fn flow(node: &N) -> String {
    match node {
        N::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        N::Labels(l) => {
            let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{{{}}}", parts.join(", "))
        }
        N::Seq(items) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        N::Scalar(x) => x.clone(),
        N::Block(_, lines, _) => format!("{:?}", lines.join(" ")),
    }
}

fn document(node: &N, style: &FileStyle, is_policy: bool) -> String {
    if is_policy && style.flow_docs {
        return format!("{}\n", flow(node));
    }
    let mut lines = Vec::new();
    render(node, 0, style, &mut lines);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn object(api: &str, kind: &str, name: &str, ns: &str, spec: Vec<(&str, N)>) -> N {
    let mut entries = vec![
        ("apiVersion", s(api)),
        ("kind", s(kind)),
        (
            "metadata",
            map(vec![("name", s(name)), ("namespace", s(ns))]),
        ),
    ];
    if !spec.is_empty() {
        entries.push(("spec", map(spec)));
    }
    map(entries)
}

/// The file's policy style: a block-scalar annotation, `metadata` after `spec`.
fn decorate_policy(node: N, style: &FileStyle) -> N {
    let N::Map(mut entries) = node else {
        return node;
    };
    if style.note != 0 {
        let header = ["|", "|", "|-", "|+", ">"][style.note as usize];
        let note = N::Block(
            header,
            vec![
                "Managed by the platform team.".into(),
                "Do not edit by hand.".into(),
            ],
            style.note % 2 == 1,
        );
        for (k, v) in &mut entries {
            if k == "metadata"
                && let N::Map(meta) = v
            {
                meta.push((
                    "annotations".into(),
                    N::Map(vec![("description".into(), note)]),
                ));
                break;
            }
        }
    }
    if style.metadata_last
        && let Some(i) = entries.iter().position(|(k, _)| k == "metadata")
    {
        let meta = entries.remove(i);
        entries.push(meta);
    }
    N::Map(entries)
}

fn policy(name: &str, ns: &str, spec: Vec<(&str, N)>) -> N {
    object("networking.k8s.io/v1", "NetworkPolicy", name, ns, spec)
}

fn port_rule(protocol: &str, port: impl ToString) -> N {
    map(vec![("protocol", s(protocol)), ("port", s(port))])
}

fn ns_peer(ns: &str) -> N {
    map(vec![(
        "matchLabels",
        labels(&[("kubernetes.io/metadata.name", ns)]),
    )])
}

/// One rendered Deployment's facts the rest of the world refers to.
struct Dep {
    app: &'static str,
    ns: &'static str,
    tier: Option<&'static str>,
    /// (name, port)
    ports: Vec<(Option<&'static str>, u16)>,
}

/// Renders the spec: (file name, text) per non-empty file.
fn render_world(spec: &Spec) -> Vec<(String, String)> {
    let n_ns = spec.n_ns;
    let deps: Vec<Dep> = spec
        .deps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let primary = CONTAINER_PORTS[d.port];
            let mut ports = vec![(d.named_http.then_some("http"), primary)];
            if let Some(k) = d.second_port {
                ports.push((Some("metrics"), CONTAINER_PORTS[(d.port + 1 + k) % 4]));
            }
            Dep {
                app: APPS[i],
                ns: NAMESPACES[d.ns % n_ns],
                tier: d.tier.map(|t| TIERS[t]),
                ports,
            }
        })
        .collect();
    let n = deps.len();
    // Objects per namespace index (3 = kube-system): (is_policy, node).
    let mut objects: Vec<Vec<(bool, N)>> = (0..4).map(|_| Vec::new()).collect();
    let ns_index = |ns: &str| NAMESPACES.iter().position(|n| *n == ns).unwrap();

    for (k, seed) in spec.nss.iter().take(n_ns).enumerate() {
        if seed.declared {
            objects[k].push((
                false,
                map(vec![
                    ("apiVersion", s("v1")),
                    ("kind", s("Namespace")),
                    (
                        "metadata",
                        map(vec![
                            ("name", s(NAMESPACES[k])),
                            ("labels", labels(&[("team", &format!("team-{k}"))])),
                        ]),
                    ),
                ]),
            ));
        }
    }

    // Services (one per Deployment at most, named after its app).
    struct Svc {
        dep: usize,
        port: u16,
        cluster_ip: Option<String>,
    }
    let mut svcs: Vec<Option<Svc>> = (0..n).map(|_| None).collect();
    for (i, d) in deps.iter().enumerate() {
        let Some(seed) = &spec.svcs[i] else { continue };
        let port = SERVICE_PORTS[seed.port];
        let selector = match (seed.by_tier, d.tier) {
            (true, Some(t)) => labels(&[("tier", t)]),
            _ => labels(&[("app", d.app)]),
        };
        let target = if seed.named_target {
            "http".to_string()
        } else if seed.target_second && d.ports.len() > 1 {
            d.ports[1].1.to_string()
        } else {
            d.ports[0].1.to_string()
        };
        let mut ports = vec![map(vec![
            ("name", s("web")),
            ("port", s(port)),
            ("targetPort", s(target)),
        ])];
        if seed.extra_port {
            ports.push(map(vec![
                ("name", s("metrics")),
                ("port", s(METRICS_SERVICE_PORT)),
                ("targetPort", s(METRICS_SERVICE_PORT)),
            ]));
        }
        let cluster_ip = seed.cluster_ip.then(|| format!("10.96.0.{}", 20 + i));
        let mut body = Vec::new();
        if let Some(ip) = &cluster_ip {
            body.push(("clusterIP", s(ip)));
        }
        body.push(("selector", selector));
        body.push(("ports", N::Seq(ports)));
        objects[ns_index(d.ns)].push((false, object("v1", "Service", d.app, d.ns, body)));
        svcs[i] = Some(Svc {
            dep: i,
            port,
            cluster_ip,
        });
    }

    // Env vars per client Deployment.
    // (env name, value, via) per client.
    let mut envs: Vec<Vec<(String, String, u8)>> = (0..n).map(|_| Vec::new()).collect();
    for e in &spec.envs {
        let client = e.client % n;
        let Some(svc) = &svcs[e.target % n] else {
            continue;
        };
        let target = &deps[svc.dep];
        let dns_service = spec.dns.as_ref().is_some_and(|d| d.service);
        if e.form == 4 && dns_service {
            let name = format!("DNS_SERVER_{}", envs[client].len());
            envs[client].push((name, "10.96.0.10:53".to_string(), e.via));
            continue;
        }
        let host = match (e.form, &svc.cluster_ip) {
            (0, _) => target.app.to_string(),
            (1, _) => format!("{}.{}", target.app, target.ns),
            (3, Some(ip)) => ip.clone(),
            _ => format!("{}.{}.svc.cluster.local", target.app, target.ns),
        };
        let value = if e.scheme {
            let port = if e.write_port {
                format!(":{}", svc.port)
            } else {
                String::new()
            };
            format!("http://{host}{port}/v1")
        } else {
            format!("{host}:{}", svc.port)
        };
        let used = |name: &str| envs[client].iter().any(|(n, _, _)| n == name);
        let mut name = if e.mlflow {
            "MLFLOW_TRACKING_URI".to_string()
        } else {
            format!("{}_URL", target.app.to_ascii_uppercase())
        };
        let mut k = 2;
        while used(&name) {
            name = format!("{}_URL_{k}", target.app.to_ascii_uppercase());
            k += 1;
        }
        envs[client].push((name, value, e.via));
    }

    for (i, d) in deps.iter().enumerate() {
        let style = &spec.styles[ns_index(d.ns)];
        let mut template_labels = vec![("app", d.app)];
        if let Some(t) = d.tier {
            template_labels.push(("tier", t));
        }
        let ports: Vec<N> = d
            .ports
            .iter()
            .map(|(name, port)| {
                let mut entries = Vec::new();
                if let Some(name) = name {
                    entries.push(("name", s(name)));
                }
                entries.push(("containerPort", s(port)));
                entries.push(("protocol", s("TCP")));
                map(entries)
            })
            .collect();
        let mut container = vec![
            ("name", s("main")),
            ("image", s(format!("registry.example.com/{}:1.0", d.app))),
            ("ports", N::Seq(ports)),
        ];
        let quote = |value: &str| {
            if style.quote_env {
                format!("\"{value}\"")
            } else {
                value.to_string()
            }
        };
        let config_map = format!("{}-config", d.app);
        let mut env = Vec::new();
        let mut data = Vec::new();
        let mut args = Vec::new();
        let mut env_from = false;
        for (name, value, via) in &envs[i] {
            match via {
                1 => {
                    let key = name.to_ascii_lowercase();
                    env.push(map(vec![
                        ("name", s(name)),
                        (
                            "valueFrom",
                            map(vec![(
                                "configMapKeyRef",
                                map(vec![("name", s(&config_map)), ("key", s(&key))]),
                            )]),
                        ),
                    ]));
                    data.push((key, value.clone()));
                }
                2 => {
                    env_from = true;
                    data.push((name.clone(), value.clone()));
                }
                3 => args.push(s(quote(&format!(
                    "--{}={value}",
                    name.to_ascii_lowercase().replace('_', "-")
                )))),
                _ => env.push(map(vec![("name", s(name)), ("value", s(quote(value)))])),
            }
        }
        if !args.is_empty() {
            container.push(("args", N::Seq(args)));
        }
        if !env.is_empty() {
            container.push(("env", N::Seq(env)));
        }
        if env_from {
            container.push((
                "envFrom",
                N::Seq(vec![map(vec![(
                    "configMapRef",
                    map(vec![("name", s(&config_map))]),
                )])]),
            ));
        }
        if !data.is_empty() {
            objects[ns_index(d.ns)].push((
                false,
                map(vec![
                    ("apiVersion", s("v1")),
                    ("kind", s("ConfigMap")),
                    (
                        "metadata",
                        map(vec![("name", s(&config_map)), ("namespace", s(d.ns))]),
                    ),
                    (
                        "data",
                        N::Map(data.iter().map(|(k, v)| (k.clone(), s(quote(v)))).collect()),
                    ),
                ]),
            ));
        }
        let body = vec![
            ("replicas", s(1)),
            (
                "selector",
                map(vec![("matchLabels", labels(&[("app", d.app)]))]),
            ),
            (
                "template",
                map(vec![
                    ("metadata", map(vec![("labels", labels(&template_labels))])),
                    (
                        "spec",
                        map(vec![("containers", N::Seq(vec![map(container)]))]),
                    ),
                ]),
            ),
        ];
        objects[ns_index(d.ns)].push((false, object("apps/v1", "Deployment", d.app, d.ns, body)));
    }

    // Namespace policies.
    for (k, seed) in spec.nss.iter().take(n_ns).enumerate() {
        let ns = NAMESPACES[k];
        let deny = |types: &[&str]| {
            let selected = if seed.deny_tier {
                map(vec![("matchLabels", labels(&[("tier", "back")]))])
            } else {
                N::Map(vec![])
            };
            vec![
                ("podSelector", selected),
                ("policyTypes", N::Seq(types.iter().map(s).collect())),
            ]
        };
        match (seed.deny, seed.combined) {
            (0, _) => {}
            (1, _) => objects[k].push((true, policy("deny-ingress", ns, deny(&["Ingress"])))),
            (2, _) => objects[k].push((true, policy("deny-egress", ns, deny(&["Egress"])))),
            (_, true) => objects[k].push((
                true,
                policy("default-deny", ns, deny(&["Ingress", "Egress"])),
            )),
            (_, false) => {
                objects[k].push((true, policy("deny-ingress", ns, deny(&["Ingress"]))));
                objects[k].push((true, policy("deny-egress", ns, deny(&["Egress"]))));
            }
        }
        if seed.allow_dns != 0 {
            let mut ports = vec![port_rule("UDP", 53)];
            if seed.allow_dns != 2 {
                ports.push(port_rule("TCP", 53));
            }
            let dns_namespace = if seed.allow_dns == 3 {
                map(vec![("matchLabels", labels(&[("name", "kube-system")]))])
            } else {
                ns_peer("kube-system")
            };
            objects[k].push((
                true,
                policy(
                    "allow-dns",
                    ns,
                    vec![
                        ("podSelector", N::Map(vec![])),
                        ("policyTypes", N::Seq(vec![s("Egress")])),
                        (
                            "egress",
                            N::Seq(vec![map(vec![
                                (
                                    "to",
                                    N::Seq(vec![map(vec![
                                        ("namespaceSelector", dns_namespace),
                                        (
                                            "podSelector",
                                            map(vec![(
                                                "matchLabels",
                                                labels(&[("k8s-app", "kube-dns")]),
                                            )]),
                                        ),
                                    ])]),
                                ),
                                ("ports", N::Seq(ports)),
                            ])]),
                        ),
                    ],
                ),
            ));
        }
    }

    // App-to-app allows.
    for (i, a) in spec.allows.iter().enumerate() {
        let (from, to) = (&deps[a.from % n], &deps[a.to % n]);
        let port = match to.ports.iter().find(|(name, _)| *name == Some("http")) {
            Some(_) if a.named => "http".to_string(),
            _ => to.ports[0].1.to_string(),
        };
        let (own, peer) = if a.egress { (from, to) } else { (to, from) };
        let mut peer_entries = Vec::new();
        if a.ns_selector || own.ns != peer.ns {
            peer_entries.push(("namespaceSelector", ns_peer(peer.ns)));
        }
        let peer_labels = match peer.tier {
            Some(t) if a.by_tier => labels(&[("tier", t)]),
            _ => labels(&[("app", peer.app)]),
        };
        peer_entries.push(("podSelector", map(vec![("matchLabels", peer_labels)])));
        let (kind, key, peers_key) = if a.egress {
            ("Egress", "egress", "to")
        } else {
            ("Ingress", "ingress", "from")
        };
        objects[ns_index(own.ns)].push((
            true,
            policy(
                &format!("allow-{i}-{}-to-{}", from.app, to.app),
                own.ns,
                vec![
                    (
                        "podSelector",
                        map(vec![("matchLabels", labels(&[("app", own.app)]))]),
                    ),
                    ("policyTypes", N::Seq(vec![s(kind)])),
                    (
                        key,
                        N::Seq(vec![map(vec![
                            (peers_key, N::Seq(vec![map(peer_entries)])),
                            ("ports", N::Seq(vec![port_rule("TCP", port)])),
                        ])]),
                    ),
                ],
            ),
        ));
    }

    // CoreDNS.
    if let Some(d) = &spec.dns {
        let listen: u16 = if d.listen_1053 { 1053 } else { 53 };
        let ks = &mut objects[3];
        ks.push((
            false,
            object(
                "apps/v1",
                "Deployment",
                "coredns",
                "kube-system",
                vec![
                    (
                        "selector",
                        map(vec![("matchLabels", labels(&[("k8s-app", "kube-dns")]))]),
                    ),
                    (
                        "template",
                        map(vec![
                            (
                                "metadata",
                                map(vec![("labels", labels(&[("k8s-app", "kube-dns")]))]),
                            ),
                            (
                                "spec",
                                map(vec![(
                                    "containers",
                                    N::Seq(vec![map(vec![
                                        ("name", s("coredns")),
                                        ("image", s("registry.k8s.io/coredns/coredns:v1.11.1")),
                                        (
                                            "ports",
                                            N::Seq(vec![
                                                map(vec![
                                                    ("name", s("dns")),
                                                    ("containerPort", s(listen)),
                                                    ("protocol", s("UDP")),
                                                ]),
                                                map(vec![
                                                    ("name", s("dns-tcp")),
                                                    ("containerPort", s(listen)),
                                                    ("protocol", s("TCP")),
                                                ]),
                                            ]),
                                        ),
                                    ])]),
                                )]),
                            ),
                        ]),
                    ),
                ],
            ),
        ));
        if d.service {
            let target = |name: &str| {
                if d.named { s(name) } else { s(listen) }
            };
            ks.push((
                false,
                object(
                    "v1",
                    "Service",
                    "kube-dns",
                    "kube-system",
                    vec![
                        ("clusterIP", s("10.96.0.10")),
                        ("selector", labels(&[("k8s-app", "kube-dns")])),
                        (
                            "ports",
                            N::Seq(vec![
                                map(vec![
                                    ("name", s("dns")),
                                    ("port", s(53)),
                                    ("protocol", s("UDP")),
                                    ("targetPort", target("dns")),
                                ]),
                                map(vec![
                                    ("name", s("dns-tcp")),
                                    ("port", s(53)),
                                    ("protocol", s("TCP")),
                                    ("targetPort", target("dns-tcp")),
                                ]),
                            ]),
                        ),
                    ],
                ),
            ));
        }
        if d.deny_ingress {
            ks.push((
                true,
                policy(
                    "deny-ingress",
                    "kube-system",
                    vec![
                        ("podSelector", N::Map(vec![])),
                        ("policyTypes", N::Seq(vec![s("Ingress")])),
                    ],
                ),
            ));
        }
        if d.allow_ingress != 0 {
            let from = if d.allow_ingress == 1 {
                map(vec![("namespaceSelector", N::Map(vec![]))])
            } else {
                map(vec![("namespaceSelector", ns_peer("ns-a"))])
            };
            ks.push((
                true,
                policy(
                    "allow-dns-ingress",
                    "kube-system",
                    vec![
                        (
                            "podSelector",
                            map(vec![("matchLabels", labels(&[("k8s-app", "kube-dns")]))]),
                        ),
                        ("policyTypes", N::Seq(vec![s("Ingress")])),
                        (
                            "ingress",
                            N::Seq(vec![map(vec![
                                ("from", N::Seq(vec![from])),
                                (
                                    "ports",
                                    N::Seq(vec![
                                        port_rule("UDP", listen),
                                        port_rule("TCP", listen),
                                    ]),
                                ),
                            ])]),
                        ),
                    ],
                ),
            ));
        }
    }

    let file_names = ["ns-a.yaml", "ns-b.yaml", "ns-c.yaml", "kube-system.yaml"];
    let mut files = Vec::new();
    for (k, mut objs) in objects.into_iter().enumerate() {
        if objs.is_empty() {
            continue;
        }
        let style = &spec.styles[k];
        if style.policies_first {
            objs.sort_by_key(|(is_policy, _)| !*is_policy);
        }
        let docs: Vec<String> = objs
            .into_iter()
            .map(|(is_policy, o)| {
                let o = if is_policy {
                    decorate_policy(o, style)
                } else {
                    o
                };
                document(&o, style, is_policy)
            })
            .collect();
        let separator = match style.between {
            1 => "\n# next document\n---\n",
            2 => "...\n---\n",
            _ => "---\n",
        };
        let mut text = docs.join(separator);
        if style.lead_sep {
            text.insert_str(0, "---\n");
        }
        if style.comment_tail {
            text.push_str(&format!("# end of {}\n", file_names[k]));
        }
        if !style.trailing_nl {
            text.pop();
        }
        if style.crlf {
            text = text.replace('\n', "\r\n");
        }
        if style.bom {
            text.insert(0, '\u{feff}');
        }
        files.push((file_names[k].to_string(), text));
    }
    files
}

// ---------------------------------------------------------------------------------------------
// Evaluation helpers.
// ---------------------------------------------------------------------------------------------

fn inputs(files: &[(String, String)]) -> Vec<Input> {
    files
        .iter()
        .map(|(name, text)| Input::Text {
            name: name.clone(),
            text: text.clone(),
        })
        .collect()
}

fn show_text(text: &str) -> String {
    text.replace("\r\n", "␍\n")
}

fn dump(files: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, text) in files {
        out.push_str(&format!(
            "#==== {name} ====\n{}\n",
            show_text(text).trim_end()
        ));
    }
    out
}

fn dump_findings(run: &CheckRun) -> String {
    run.findings
        .iter()
        .map(|f| {
            format!(
                "  [{}] {} {:?}: {}\n",
                f.rule,
                f.object,
                f.side.map(Direction::as_str),
                f.message
            )
        })
        .collect()
}

fn dump_outcome(outcome: &Outcome) -> String {
    let mut out = format!(
        "applied: {:#?}\nproblems: {:#?}\nfindings after:\n{}",
        outcome.applied,
        outcome.problems,
        dump_findings(&outcome.run)
    );
    for (name, (original, fixed)) in &outcome.changed {
        out.push_str(&format!("#==== {name} (fixed) ====\n"));
        let diff = similar::TextDiff::from_lines(original.as_ref(), fixed.as_str());
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            out.push_str(&format!("{sign}{}", show_text(change.value())));
            if !change.value().ends_with('\n') {
                out.push_str("⟨no newline⟩\n");
            }
        }
    }
    out
}

type Fact = (ObjectId, ObjectId, Protocol, u16);

/// Every (workload, direction) that is isolated.
fn isolation(run: &CheckRun) -> BTreeSet<(ObjectId, &'static str)> {
    let world = &run.analysis.world;
    let engine = Engine::new(world);
    let mut out = BTreeSet::new();
    for (i, w) in world.workloads.iter().enumerate() {
        for d in [Direction::Ingress, Direction::Egress] {
            if !engine.isolating(Endpoint::Workload(i), d).is_empty() {
                out.insert((w.meta.id.clone(), d.as_str()));
            }
        }
    }
    out
}

/// Every allowed workload → workload flow on the ports the generator can write.
fn facts(run: &CheckRun) -> BTreeSet<Fact> {
    let world = &run.analysis.world;
    let engine = Engine::new(world);
    let mut out = BTreeSet::new();
    engine.for_each_connection(|c| {
        if let (GraphEndpoint::Workload(src), GraphEndpoint::Workload(dst)) = (c.src, c.dst) {
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                for port in PORTS {
                    if c.ports.contains(protocol, port) {
                        out.insert((
                            world.workloads[src].meta.id.clone(),
                            world.workloads[dst].meta.id.clone(),
                            protocol,
                            port,
                        ));
                    }
                }
            }
        }
    });
    out
}

/// The findings of `run` with their safe fixes (what `fix_all` without `--unsafe-fixes` applies).
fn safe_fixes(run: &CheckRun) -> Vec<(&Finding, Fix)> {
    run.findings
        .iter()
        .zip(fixes(run))
        .filter_map(|(f, fix)| {
            let fix = fix.ok()?;
            (fix.applicability == Applicability::Safe).then_some((f, fix))
        })
        .collect()
}

fn labels_include(have: &Labels, want: &Labels) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Does an Allow remedy cover `fact`? Pods are identified by (namespace, template labels).
fn covers(remedy: &Remedy, fact: &Fact, labels_of: &BTreeMap<ObjectId, Labels>) -> bool {
    let Remedy::Allow {
        direction,
        selected,
        peer: Peer::Pods { namespace, labels },
        ports,
        ..
    } = remedy
    else {
        return false;
    };
    let (src, dst, protocol, port) = fact;
    let (own, other) = match direction {
        Direction::Egress => (src, dst),
        Direction::Ingress => (dst, src),
    };
    let matches = |id: &ObjectId, ns: &str, want: &Labels| {
        id.namespace == ns && labels_of.get(id).is_some_and(|l| labels_include(l, want))
    };
    matches(own, &selected.0, &selected.1)
        && matches(other, namespace, labels)
        && ports.contains(&(*protocol, *port))
}

/// Everything a property needs: the world, the check before, the fix outcome.
struct Case {
    files: Vec<(String, String)>,
    before: CheckRun,
    outcome: Outcome,
}

impl Case {
    fn new(spec: &Spec) -> Case {
        let files = render_world(spec);
        let options = CheckOptions::default();
        let before = check(&inputs(&files), &options);
        let outcome = fix_all(&inputs(&files), &options, false);
        Case {
            files,
            before,
            outcome,
        }
    }

    /// The world, the findings before, and what the fix did: for failure messages.
    fn explain(&self, what: &str) -> String {
        format!(
            "{what}\n\n----- world -----\n{}\n----- findings before -----\n{}----- outcome -----\n{}",
            dump(&self.files),
            dump_findings(&self.before),
            dump_outcome(&self.outcome)
        )
    }

    fn fixed_files(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .map(|(name, text)| {
                let text = self
                    .outcome
                    .changed
                    .get(name)
                    .map_or_else(|| text.clone(), |(_, fixed)| fixed.clone());
                (name.clone(), text)
            })
            .collect()
    }
}

fn errors(run: &CheckRun) -> Vec<String> {
    run.analysis
        .errors()
        .map(|d| {
            let file = run.analysis.sources.get(d.loc.file);
            format!("{}@{}: {}", file.name, d.loc.span.start, d.message)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The properties, each returning a failure description.
// ---------------------------------------------------------------------------------------------

/// 1. Every file still loads.
fn prop_loads(case: &Case) -> Result<(), String> {
    let before = errors(&case.before);
    if !before.is_empty() {
        return Err(case.explain(&format!(
            "GENERATOR BUG: the generated world does not load: {before:#?}"
        )));
    }
    let after = errors(&case.outcome.run);
    if !after.is_empty() {
        return Err(case.explain(&format!("fixed files do not load: {after:#?}")));
    }
    // fix_all's guard reverts a file that a fix would leave unloadable, which keeps the check
    // above green; but on a world that loads, every fix the tool writes must load too.
    // This caught the block-scalar bug fixed in bd768ac (regression test:
    // `block_scalar_at_document_end_regression`).
    if case
        .outcome
        .problems
        .iter()
        .any(|p| p.contains("unloadable"))
    {
        return Err(case.explain(&format!(
            "fix_all reverted a fix that would leave a file unloadable:\n{}",
            unloadable_fixes(&case.files, &case.before)
        )));
    }
    Ok(())
}

/// Each safe fix of `run` that alone leaves a file unloadable, with the edited text around it.
fn unloadable_fixes(files: &[(String, String)], run: &CheckRun) -> String {
    let mut out = String::new();
    for (finding, fix) in safe_fixes(run) {
        let mut edited: Vec<(String, String)> = files.to_vec();
        for edit in &fix.edits {
            let name = &run.analysis.sources.get(edit.file).name;
            let Some((_, text)) = edited.iter_mut().find(|(n, _)| n == name) else {
                continue;
            };
            let (a, b) = (edit.span.start as usize, edit.span.end as usize);
            text.replace_range(a..b, &edit.replacement);
        }
        let after = check(&inputs(&edited), &CheckOptions::default());
        let errs = errors(&after);
        if errs.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "the fix of [{}] {} ({}) alone gives {errs:#?}\n",
            finding.rule, finding.object, fix.title
        ));
        for edit in &fix.edits {
            let name = &run.analysis.sources.get(edit.file).name;
            let text = &files.iter().find(|(n, _)| n == name).unwrap().1;
            let at = edit.span.start as usize;
            let mut from = at.saturating_sub(100);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            out.push_str(&format!(
                "  {name}: inserted at byte {at}, right after {:?}\n",
                &text[from..at]
            ));
        }
    }
    out
}

/// 2. Fixing the fixed texts changes nothing.
fn prop_idempotent(case: &Case) -> Result<(), String> {
    let again = fix_all(
        &inputs(&case.fixed_files()),
        &CheckOptions::default(),
        false,
    );
    if again.changed.is_empty() {
        return Ok(());
    }
    Err(case.explain(&format!(
        "a second fix_all on the fixed texts changed {:?}\n----- second outcome -----\n{}",
        again.changed.keys().collect::<Vec<_>>(),
        dump_outcome(&again)
    )))
}

/// 3. No pod is newly isolated (nor un-isolated).
fn prop_isolation(case: &Case) -> Result<(), String> {
    let before = isolation(&case.before);
    let after = isolation(&case.outcome.run);
    if before == after {
        return Ok(());
    }
    let fmt = |set: BTreeSet<&(ObjectId, &str)>| -> Vec<String> {
        set.into_iter().map(|(id, d)| format!("{id} {d}")).collect()
    };
    Err(case.explain(&format!(
        "isolation changed: newly isolated {:?}, no longer isolated {:?}",
        fmt(after.difference(&before).collect()),
        fmt(before.difference(&after).collect())
    )))
}

/// 4. New flows are exactly those some fixed finding's remedy asked for; nothing closes.
fn prop_connectivity(case: &Case) -> Result<(), String> {
    let before = facts(&case.before);
    let after = facts(&case.outcome.run);
    let lost: Vec<&Fact> = before.difference(&after).collect();
    let labels_of: BTreeMap<ObjectId, Labels> = case
        .before
        .analysis
        .world
        .workloads
        .iter()
        .map(|w| (w.meta.id.clone(), w.labels.clone()))
        .collect();
    let fixed = safe_fixes(&case.before);
    let uncovered: Vec<&Fact> = after
        .difference(&before)
        .filter(|fact| {
            !fixed
                .iter()
                .flat_map(|(f, _)| &f.remedies)
                .any(|r| covers(r, fact, &labels_of))
        })
        .collect();
    if lost.is_empty() && uncovered.is_empty() {
        return Ok(());
    }
    let fmt = |facts: &[&Fact]| -> Vec<String> {
        facts
            .iter()
            .map(|(s, d, p, n)| format!("{s} -> {d} {p} {n}"))
            .collect()
    };
    Err(case.explain(&format!(
        "connectivity: flows lost {:#?}\nnew flows no fixed finding asked for {:#?}",
        fmt(&lost),
        fmt(&uncovered)
    )))
}

/// 5. Bytes outside replaced hosts are unchanged: a char diff deletes only replaced hosts.
fn prop_only_inserts(case: &Case) -> Result<(), String> {
    // The host spans the safe ReplaceHost fixes of the first run replace, per file.
    let mut hosts: BTreeMap<String, Vec<Range<usize>>> = BTreeMap::new();
    for (finding, fix) in safe_fixes(&case.before) {
        let names: BTreeSet<String> = finding
            .remedies
            .iter()
            .filter_map(|r| match r {
                Remedy::ReplaceHost { host, .. } => Some(host.clone()),
                Remedy::Allow { .. } => None,
            })
            .flat_map(|h| [format!("[{h}]"), h])
            .collect();
        for edit in &fix.edits {
            if edit.span.start == edit.span.end {
                continue;
            }
            let file = case.before.analysis.sources.get(edit.file);
            let replaced = &file.text().expect("the case is on disk unchanged")[edit.span.range()];
            if !names.contains(replaced) {
                return Err(case.explain(&format!(
                    "a fix replaces `{replaced}` in {} (bytes {:?}), which is not a host of a ReplaceHost remedy",
                    file.name,
                    edit.span.range()
                )));
            }
            hosts
                .entry(file.name.clone())
                .or_default()
                .push(edit.span.range());
        }
    }
    for (name, (original, fixed)) in &case.outcome.changed {
        // Char indices of the diff → byte offsets (a BOM is one char of three bytes).
        let mut offsets: Vec<usize> = original.char_indices().map(|(i, _)| i).collect();
        offsets.push(original.len());
        let bytes = |r: Range<usize>| offsets[r.start]..offsets[r.end];
        let allowed = hosts.get(name).map(Vec::as_slice).unwrap_or(&[]);
        // A char diff first: every deleted range must lie inside a replaced host.
        let diff = similar::TextDiff::from_chars(original.as_ref(), fixed.as_str());
        let outside: Vec<Range<usize>> = diff
            .ops()
            .iter()
            .map(|op| op.as_tag_tuple())
            .filter(|(tag, old, _)| {
                !matches!(tag, similar::DiffTag::Equal | similar::DiffTag::Insert)
                    && !old.is_empty()
            })
            .map(|(_, old, _)| bytes(old))
            .filter(|old| {
                !allowed
                    .iter()
                    .any(|h| h.start <= old.start && old.end <= h.end)
            })
            .collect();
        if outside.is_empty() {
            continue;
        }
        // `similar`'s Myers is not minimal on long inputs: it may delete and re-insert equal
        // text. Decide exactly: the original without its replaced hosts must be a subsequence
        // of the fixed text (that is, the fix only inserted, apart from the hosts).
        let mut kept = String::new();
        let mut at = 0;
        let mut spans = allowed.to_vec();
        spans.sort_by_key(|r| r.start);
        for h in &spans {
            kept.push_str(&original[at..h.start]);
            at = h.end;
        }
        kept.push_str(&original[at..]);
        if let Err(matched) = subsequence(&kept, fixed) {
            let deleted: Vec<String> = outside
                .iter()
                .map(|old| {
                    let line = original[..old.start].matches('\n').count() + 1;
                    format!("{:?} (bytes {old:?}, line {line})", &original[old.clone()])
                })
                .collect();
            return Err(case.explain(&format!(
                "{name}: the fix changed bytes outside the replaced hosts: only the first {matched} bytes \
                 of the original (hosts removed) survive in order; a char diff shows deletions {deleted:#?}"
            )));
        }
    }
    Ok(())
}

/// `Ok` if `needle` is a subsequence of `hay`, else `Err(bytes of needle matched)`.
fn subsequence(needle: &str, hay: &str) -> Result<(), usize> {
    let mut hay = hay.bytes();
    for (i, b) in needle.bytes().enumerate() {
        if !hay.any(|h| h == b) {
            return Err(i);
        }
    }
    Ok(())
}

/// 6. Findings with a safe fix are gone afterwards, unless `problems` explains it.
fn prop_findings_resolved(case: &Case) -> Result<(), String> {
    type Key = (String, ObjectId, Option<&'static str>);
    let key = |f: &Finding| -> Key {
        (
            f.rule.clone(),
            f.object.clone(),
            f.side.map(Direction::as_str),
        )
    };
    let fixed: BTreeSet<Key> = safe_fixes(&case.before)
        .into_iter()
        .map(|(f, _)| key(f))
        .filter(|k| k.0 != "hardcoded-ip")
        .collect();
    // A key shared with a finding that had no safe fix may rightly remain.
    let unfixable: BTreeSet<Key> = case
        .before
        .findings
        .iter()
        .zip(fixes(&case.before))
        .filter(|(_, fix)| {
            fix.as_ref()
                .map_or(true, |f| f.applicability != Applicability::Safe)
        })
        .map(|(f, _)| key(f))
        .collect();
    let remaining: Vec<&Finding> = case
        .outcome
        .run
        .findings
        .iter()
        .filter(|f| {
            let k = key(f);
            fixed.contains(&k) && !unfixable.contains(&k)
        })
        .filter(|f| {
            let object = f.object.to_string();
            !case.outcome.problems.iter().any(|p| {
                p.contains(&object) || p.contains("unloadable") || p.contains("newly isolate")
            })
        })
        .collect();
    if remaining.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = remaining
        .iter()
        .map(|f| {
            format!(
                "[{}] {} {:?}: {}",
                f.rule,
                f.object,
                f.side.map(Direction::as_str),
                f.message
            )
        })
        .collect();
    Err(case.explain(&format!(
        "findings with a safe fix remain after fixing: {list:#?}"
    )))
}

// ---------------------------------------------------------------------------------------------
// The proptests.
// ---------------------------------------------------------------------------------------------

fn config() -> ProptestConfig {
    ProptestConfig {
        // `PROPTEST_CASES=2000 cargo test --test fix_properties` for a longer hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        // Do not write regression files next to the tests; failures print the world.
        failure_persistence: None,
        // Deterministic unless `PROPTEST_RNG_SEED=<n>` asks for other worlds.
        rng_seed: match std::env::var("PROPTEST_RNG_SEED") {
            Ok(_) => ProptestConfig::default().rng_seed,
            Err(_) => RngSeed::Fixed(20_240_611),
        },
        ..ProptestConfig::default()
    }
}

fn run(spec: &Spec, property: fn(&Case) -> Result<(), String>) -> Result<(), TestCaseError> {
    let case = Case::new(spec);
    property(&case).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fixed_files_still_load(spec in spec()) {
        run(&spec, prop_loads)?;
    }

    #[test]
    fn fixing_is_idempotent(spec in spec()) {
        run(&spec, prop_idempotent)?;
    }

    #[test]
    fn no_pod_is_newly_isolated(spec in spec()) {
        run(&spec, prop_isolation)?;
    }

    #[test]
    fn only_flows_a_finding_asked_for_open_and_none_close(spec in spec()) {
        run(&spec, prop_connectivity)?;
    }

    #[test]
    fn fixes_only_insert_except_host_replacements(spec in spec()) {
        run(&spec, prop_only_inserts)?;
    }

    #[test]
    fn findings_with_safe_fixes_are_resolved(spec in spec()) {
        run(&spec, prop_findings_resolved)?;
    }
}

/// Regression (found by `fixed_files_still_load`, fixed in bd768ac): the anchor policy's
/// document ends with a block scalar (here a `description: |` annotation, `metadata` written
/// after `spec`) and another document follows. The document's span ended at the start of the
/// `---` line (a block scalar owns its line break), so `insert_document_after` inserted the
/// new policy after that `---` line: `---` `---` `<new policy>` `<next document>`; the new
/// policy and the ConfigMap became one document with duplicate keys, the guard reverted the
/// file ("a fix would leave ns-a.yaml unloadable") and the DNS finding stayed unfixed. Any
/// block scalar style (`|`, `|-`, `|+`, `>`) did it; plain or quoted multi-line scalars did not.
#[test]
fn block_scalar_at_document_end_regression() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns-a}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
spec:
  podSelector: {}
  policyTypes: [Egress]
metadata:
  name: deny-egress
  namespace: ns-a
  annotations:
    description: |
      Deny all egress.
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ns-a}
";
    let files = vec![("ns-a.yaml".to_string(), text.to_string())];
    let case = Case {
        before: check(&inputs(&files), &CheckOptions::default()),
        outcome: fix_all(&inputs(&files), &CheckOptions::default(), false),
        files,
    };
    assert_eq!(
        case.before
            .findings
            .iter()
            .map(|f| f.rule.as_str())
            .collect::<Vec<_>>(),
        ["missing-dns-egress"]
    );
    if let Err(e) = prop_loads(&case) {
        panic!("{e}");
    }
    if let Err(e) = prop_findings_resolved(&case) {
        panic!("{e}");
    }
    assert!(
        case.outcome.run.findings.is_empty(),
        "{}",
        case.explain("the DNS finding is still there")
    );
}

/// The generator produces the situations the properties are about (guards against a generator
/// that silently stops producing findings, changes or CRLF files).
#[test]
fn generator_covers_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = spec();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..40 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let case = Case::new(&spec);
        let mut note = |what: &'static str, yes: bool| {
            if yes {
                *seen.entry(what).or_default() += 1;
            }
        };
        note("loads", errors(&case.before).is_empty());
        note("findings", !case.before.findings.is_empty());
        note("changed", !case.outcome.changed.is_empty());
        note("multi-file fix", case.outcome.changed.len() > 1);
        note(
            "crlf changed",
            case.outcome
                .changed
                .values()
                .any(|(o, _)| o.contains("\r\n")),
        );
        for f in &case.before.findings {
            note(
                match f.rule.as_str() {
                    "missing-dns-egress" => "missing-dns-egress",
                    "missing-service-egress" => "missing-service-egress",
                    "missing-service-ingress" => "missing-service-ingress",
                    "missing-mlflow-egress" => "missing-mlflow-egress",
                    "hardcoded-ip" => "hardcoded-ip",
                    _ => "other rule",
                },
                true,
            );
        }
        note(
            "host rewrite",
            case.outcome
                .applied
                .iter()
                .any(|t| t.starts_with("replace `")),
        );
    }
    for what in [
        "loads",
        "findings",
        "changed",
        "multi-file fix",
        "crlf changed",
        "missing-dns-egress",
        "missing-service-egress",
        "missing-service-ingress",
        "hardcoded-ip",
        "host rewrite",
    ] {
        assert!(
            seen.get(what).copied().unwrap_or(0) > 0,
            "no generated world had {what}: {seen:?}"
        );
    }
}

/// How often the generator hits each situation (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn generator_statistics() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = spec();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let n = 300;
    for _ in 0..n {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let case = Case::new(&spec);
        let mut note = |what: String| *seen.entry(what).or_default() += 1;
        let new_facts = facts(&case.outcome.run).len() - facts(&case.before).len();
        note(format!("new facts>0: {}", new_facts > 0));
        note(format!("changed files: {}", case.outcome.changed.len()));
        note(format!("problems: {}", case.outcome.problems.len()));
        for p in &case.outcome.problems {
            note(format!(
                "problem: {}",
                p.split(' ').take(4).collect::<Vec<_>>().join(" ")
            ));
        }
        note(format!(
            "findings after: {}",
            case.outcome.run.findings.len().min(3)
        ));
        for f in &case.before.findings {
            note(format!("rule before: {}", f.rule));
        }
        for f in &case.outcome.run.findings {
            note(format!("rule after: {}", f.rule));
        }
        for (f, fix) in case.before.findings.iter().zip(fixes(&case.before)) {
            match fix {
                Ok(fix) => note(format!("fix {} {}", f.rule, fix.applicability.as_str())),
                Err(e) => note(format!(
                    "no fix {}: {}",
                    f.rule,
                    e.split(':').next().unwrap_or("")
                )),
            }
        }
    }
    for (k, v) in &seen {
        println!("{v:5}  {k}");
    }
}
