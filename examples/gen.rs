//! `gen`: writes a synthetic, deterministic Kubernetes manifest tree for benchmarking netpol-fix.
//!
//! The tree looks like a multi-team cluster waiting for its CNI migration: Zipf-sized namespaces
//! (a few big, many small) labelled with `team` and `env`; Deployments with a unique `app` label,
//! shared `component`/`tier`/`team` labels and named container ports (`http`, `grpc`,
//! `metrics`, some UDP); Services with numeric and named target ports, unique ClusterIPs and a
//! few LoadBalancers (status addresses, or MetalLB annotations from a generated
//! `IPAddressPool`); ConfigMaps full of service URLs used through `envFrom`; CoreDNS, Prometheus
//! and an MLflow tracking server; and NetworkPolicies from default-deny + allow-DNS baselines to
//! per-app ingress/egress rules with named ports, `endPort` ranges, `matchExpressions`
//! (In/NotIn/Exists) and `ipBlock`s with `except`. A share of namespaces and rules carries the
//! usual mistakes (no DNS exception, a `name` label nobody set, hardcoded addresses, clients left
//! out of an allow list), so `check` has findings.
//!
//! At `--scale 1`: 20 namespaces, 2,000 Deployments, 1,000 Services, 500 NetworkPolicies
//! (~3.55k objects, ~2.6 MB; ~10 MB with `--verbose`). Object counts grow linearly with the
//! scale, the number of namespaces with its square root. The same options and seed give a
//! byte-identical tree (`--verbose` and `--layout` do not change which objects exist).
//!
//! ```sh
//! cargo run --release --example gen -- --scale 10 --seed 1 --out /tmp/world
//! target/release/netpol-fix check /tmp/world --format json
//! ```
//!
//! Only the standard library is used: the PRNG is SplitMix64 and the YAML emitter is below.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo run --release --example gen -- --out DIR [options]

  --out DIR           directory to write (created; must be empty unless --force)
  --scale N           size factor > 0, fractions allowed (default 1: ~20 namespaces,
                      2,000 Deployments, 1,000 Services, 500 NetworkPolicies)
  --seed S            PRNG seed, an unsigned integer (default 1)
  --layout many|one   one file per namespace/app in subdirectories (default),
                      or a single multi-document all.yaml
  --verbose           Helm-style objects: extra labels, annotations, probes, volumes, ...
  --force             write into a non-empty DIR (same-named files are overwritten,
                      other files are left alone)
  -h, --help          print this help
";

/// Parses the command line and runs; exit 2 on usage errors, 1 on I/O errors.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("gen: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("gen: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Generates the world, lays it out in files, writes them and prints the summary.
pub(crate) fn run(opts: &Options) -> Result<(), String> {
    let started = Instant::now();
    prepare_out_dir(&opts.out, opts.force)?;
    let world = World::generate(opts.scale, opts.seed);
    let files = plan_files(&world, opts.layout);
    let stats = write_files(&world, &files, opts)?;
    print_summary(opts, &stats, started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Options

/// How documents are spread over files.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    /// `<namespace>/<app>.yaml`, `<namespace>/networkpolicies.yaml`, …
    Many,
    /// Everything in `all.yaml`.
    One,
}

/// Parsed command line.
pub(crate) struct Options {
    scale: f64,
    seed: u64,
    out: PathBuf,
    layout: Layout,
    verbose: bool,
    force: bool,
}

/// Parses `--flag value` and `--flag=value`; `Ok(None)` means help was asked for.
pub(crate) fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut opts = Options {
        scale: 1.0,
        seed: 1,
        out: PathBuf::new(),
        layout: Layout::Many,
        verbose: false,
        force: false,
    };
    let mut out = None;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (args[i].as_str(), None),
        };
        let value = if matches!(flag, "--scale" | "--seed" | "--out" | "--layout") {
            match inline {
                Some(v) => v.to_string(),
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{flag} needs a value"))?
                }
            }
        } else if inline.is_some() {
            return Err(format!("{flag} takes no value"));
        } else {
            String::new()
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--scale" => opts.scale = parse_scale(&value)?,
            "--seed" => {
                opts.seed = value
                    .parse()
                    .map_err(|_| format!("--seed: `{value}` is not an unsigned integer"))?;
            }
            "--out" if value.is_empty() => return Err("--out: empty path".into()),
            "--out" => out = Some(PathBuf::from(value)),
            "--layout" => {
                opts.layout = match value.as_str() {
                    "many" => Layout::Many,
                    "one" => Layout::One,
                    _ => return Err(format!("--layout: `{value}` is neither `many` nor `one`")),
                };
            }
            "--verbose" => opts.verbose = true,
            "--force" => opts.force = true,
            _ => return Err(format!("unknown argument `{flag}`")),
        }
        i += 1;
    }
    opts.out = out.ok_or("--out DIR is required")?;
    Ok(Some(opts))
}

/// A positive, finite scale factor of at most 10,000.
fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 10_000.0 => Ok(s),
        Ok(_) => Err(format!("--scale: {text} is out of range (0 < N <= 10000)")),
        Err(_) => Err(format!("--scale: `{text}` is not a number")),
    }
}

/// Creates `dir`; refuses a non-empty one unless `force`.
fn prepare_out_dir(dir: &Path, force: bool) -> Result<(), String> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(format!(
                    "{} is not empty (pass --force to write into it anyway)",
                    dir.display()
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot use {}: {e}", dir.display())),
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

// ---------------------------------------------------------------------------------------------
// PRNG

/// SplitMix64: tiny, fast and plenty for synthetic data (not for cryptography).
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An independent stream, so that one generation stage does not shift the next.
    fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// Uniform in `0..n` (`n > 0`), by widening multiplication.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Picks an item with probability proportional to its weight.
    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total as usize) as u32;
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `n` lowercase hex digits (checksums, hashes in verbose objects).
    fn hex(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n);
        while out.len() < n {
            let _ = write!(out, "{:016x}", self.next_u64());
        }
        out.truncate(n);
        out
    }
}

/// FNV-1a, to derive stable per-name values.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Splits `total` over `weights` by largest remainder; with `min_one`, every part gets at least
/// one (when `total` allows).
fn apportion(total: usize, weights: &[f64], min_one: bool) -> Vec<usize> {
    let base = if min_one && total >= weights.len() {
        1
    } else {
        0
    };
    let mut parts = vec![base; weights.len()];
    let rest = total - base * weights.len();
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 || rest == 0 {
        return parts;
    }
    let mut fractions = Vec::with_capacity(weights.len());
    let mut given = 0;
    for (i, w) in weights.iter().enumerate() {
        let exact = rest as f64 * w / sum;
        let whole = exact.floor() as usize;
        parts[i] += whole;
        given += whole;
        fractions.push((exact - whole as f64, i));
    }
    fractions.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in fractions.iter().cycle().take(rest - given) {
        parts[i] += 1;
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// YAML

/// A YAML value; mappings keep insertion order.
#[derive(Clone, Debug)]
enum Y {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
}

fn s(text: impl Into<String>) -> Y {
    Y::Str(text.into())
}

fn int(n: impl Into<i64>) -> Y {
    Y::Int(n.into())
}

fn map<const N: usize>(entries: [(&str, Y); N]) -> Y {
    Y::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn seq(items: impl IntoIterator<Item = Y>) -> Y {
    Y::Seq(items.into_iter().collect())
}

/// A string → string mapping (labels, annotations, ConfigMap data).
fn string_map(pairs: &[(String, String)]) -> Y {
    Y::Map(pairs.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

impl Y {
    /// Appends `key: value` to a mapping.
    fn push(&mut self, key: &str, value: Y) {
        if let Y::Map(entries) = self {
            entries.push((key.to_string(), value));
        }
    }

    /// The builder form of [`Y::push`].
    fn with(mut self, key: &str, value: Y) -> Y {
        self.push(key, value);
        self
    }
}

/// Writes one document (block style, 2-space indentation, sequences indented under their key).
fn emit_document(out: &mut String, doc: &Y) {
    match doc {
        Y::Map(entries) => emit_map(out, entries, 0, false),
        other => {
            emit_inline(out, other);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Mapping entries at `indent`; with `inline_first` the first key continues a `- ` line.
fn emit_map(out: &mut String, entries: &[(String, Y)], indent: usize, inline_first: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        emit_string(out, key);
        out.push(':');
        emit_after_key(out, value, indent);
    }
}

/// The value of a mapping entry whose key (at `indent`) has just been written.
fn emit_after_key(out: &mut String, value: &Y, indent: usize) {
    match value {
        Y::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            emit_map(out, entries, indent + 2, false);
        }
        Y::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(out, items, indent + 2);
        }
        Y::Str(text) if text.contains('\n') => emit_block(out, text, indent + 2),
        _ => {
            out.push(' ');
            emit_inline(out, value);
            out.push('\n');
        }
    }
}

fn emit_seq(out: &mut String, items: &[Y], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Y::Map(entries) if !entries.is_empty() => emit_map(out, entries, indent + 2, true),
            _ => {
                emit_inline(out, item);
                out.push('\n');
            }
        }
    }
}

/// A literal block scalar (`|`), for multi-line text such as a Corefile.
fn emit_block(out: &mut String, text: &str, indent: usize) {
    out.push_str(if text.ends_with('\n') {
        " |\n"
    } else {
        " |-\n"
    });
    for line in text.lines() {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// Scalars, and collections in flow style (`{}`, `[]`, `[a, b]`).
fn emit_inline(out: &mut String, value: &Y) {
    match value {
        Y::Str(text) => emit_string(out, text),
        Y::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Y::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Y::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_inline(out, item);
            }
            out.push(']');
        }
        Y::Map(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_string(out, key);
                out.push_str(": ");
                emit_inline(out, item);
            }
            out.push('}');
        }
    }
}

/// A string scalar: plain when YAML would read it back as the same string, else double-quoted.
fn emit_string(out: &mut String, text: &str) {
    if needs_quotes(text) {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                _ => out.push(c),
            }
        }
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Conservative: plain only for text made of safe characters that cannot be read as a number,
/// boolean, null, date or sexagesimal, and does not start with an indicator (IPv4 addresses
/// and `--flags` stay plain, as in most manifests).
fn needs_quotes(text: &str) -> bool {
    let Some(first) = text.bytes().next() else {
        return true;
    };
    let safe_chars = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=%+?&".contains(&b));
    let keyword = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
    );
    let numberish = (first.is_ascii_digit() || b"+-.".contains(&first))
        && text.bytes().all(|b| b"0123456789.+-_:eExXoO".contains(&b))
        && text.parse::<Ipv4Addr>().is_err();
    !safe_chars
        || keyword
        || numberish
        || b":@%+.?&".contains(&first)
        || text == "-"
        || text.starts_with("---")
        || text.ends_with(':')
}

fn match_labels(pairs: &[(&str, &str)]) -> Y {
    let labels = pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect();
    map([("matchLabels", Y::Map(labels))])
}

fn match_expressions(exprs: Vec<Y>) -> Y {
    map([("matchExpressions", Y::Seq(exprs))])
}

/// One `matchExpressions` entry; `values` is left out when empty (Exists, DoesNotExist).
fn expr(key: &str, operator: &str, values: &[&str]) -> Y {
    let e = map([("key", s(key)), ("operator", s(operator))]);
    if values.is_empty() {
        e
    } else {
        e.with("values", seq(values.iter().map(|v| s(*v))))
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const TEAMS: [&str; 10] = [
    "core", "ml", "data", "growth", "platform", "payments", "search", "identity", "commerce",
    "risk",
];

const DOMAINS: [&str; 32] = [
    "checkout",
    "catalog",
    "search",
    "identity",
    "billing",
    "shipping",
    "inventory",
    "analytics",
    "feature-store",
    "training",
    "serving",
    "notifications",
    "ledger",
    "pricing",
    "reviews",
    "media",
    "ads",
    "fraud",
    "loyalty",
    "support",
    "reporting",
    "geo",
    "orders",
    "accounts",
    "payments",
    "recommendations",
    "ingest",
    "streaming",
    "gateway",
    "cms",
    "experiments",
    "labeling",
];

const ENVS: [(&str, u32); 3] = [("prod", 5), ("staging", 3), ("dev", 2)];

const WORDS: [&str; 79] = [
    "order",
    "cart",
    "user",
    "auth",
    "ledger",
    "invoice",
    "price",
    "stock",
    "review",
    "recommend",
    "feature",
    "model",
    "notify",
    "email",
    "report",
    "session",
    "profile",
    "audit",
    "media",
    "thumbnail",
    "geo",
    "rate",
    "quote",
    "fraud",
    "risk",
    "loyalty",
    "coupon",
    "tax",
    "shipment",
    "tracking",
    "label",
    "catalog",
    "search",
    "index",
    "ranker",
    "embed",
    "train",
    "score",
    "ingest",
    "payout",
    "account",
    "balance",
    "basket",
    "billing",
    "booking",
    "campaign",
    "claim",
    "content",
    "credit",
    "dispatch",
    "document",
    "event",
    "export",
    "fulfil",
    "graph",
    "image",
    "import",
    "journal",
    "match",
    "message",
    "metric",
    "offer",
    "partner",
    "payment",
    "pipeline",
    "policy",
    "promo",
    "query",
    "refund",
    "render",
    "route",
    "segment",
    "signup",
    "store",
    "survey",
    "ticket",
    "token",
    "vendor",
    "wallet",
];

/// What kind of workload an app is: its shared labels and the ports it listens on.
struct Role {
    name: &'static str,
    component: &'static str,
    tier: &'static str,
    /// `(name, port, udp)`; a port of 0 is an HTTP port chosen per app.
    ports: &'static [(&'static str, u16, bool)],
    weight: u32,
}

const ROLES: [Role; 10] = [
    Role {
        name: "api",
        component: "backend",
        tier: "api",
        ports: &[
            ("http", 0, false),
            ("grpc", 9090, false),
            ("metrics", 9102, false),
        ],
        weight: 25,
    },
    Role {
        name: "web",
        component: "frontend",
        tier: "web",
        ports: &[("http", 0, false), ("metrics", 9102, false)],
        weight: 10,
    },
    Role {
        name: "grpc",
        component: "backend",
        tier: "api",
        ports: &[("grpc", 50051, false), ("metrics", 9102, false)],
        weight: 8,
    },
    Role {
        name: "worker",
        component: "worker",
        tier: "batch",
        ports: &[("metrics", 9102, false)],
        weight: 15,
    },
    Role {
        name: "consumer",
        component: "worker",
        tier: "batch",
        ports: &[("metrics", 9102, false)],
        weight: 10,
    },
    Role {
        name: "scheduler",
        component: "worker",
        tier: "batch",
        ports: &[("http", 0, false), ("metrics", 9102, false)],
        weight: 4,
    },
    Role {
        name: "db",
        component: "database",
        tier: "data",
        ports: &[("postgres", 5432, false), ("metrics", 9187, false)],
        weight: 8,
    },
    Role {
        name: "cache",
        component: "cache",
        tier: "data",
        ports: &[("redis", 6379, false), ("metrics", 9121, false)],
        weight: 8,
    },
    Role {
        name: "gateway",
        component: "gateway",
        tier: "edge",
        ports: &[
            ("http", 0, false),
            ("https", 8443, false),
            ("metrics", 9102, false),
        ],
        weight: 5,
    },
    Role {
        name: "exporter",
        component: "monitoring",
        tier: "ops",
        ports: &[("metrics", 9100, false), ("statsd", 8125, true)],
        weight: 3,
    },
];

const HTTP_PORTS: [u16; 5] = [8080, 8080, 8000, 5000, 3000];

/// Non-network environment noise: `(name, value)`.
const PLAIN_ENV: [(&str, &str); 8] = [
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "json"),
    ("PORT", "8080"),
    ("GOMAXPROCS", "2"),
    ("JAVA_OPTS", "-XX:MaxRAMPercentage=75"),
    ("FEATURE_FLAGS", "new-checkout,fast-search"),
    ("REQUEST_TIMEOUT", "30s"),
    ("TZ", "UTC"),
];

/// Private ranges excluded from "the internet" in egress ipBlocks.
const PRIVATE: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// The MetalLB pool: `(spec.addresses entry, first usable, last usable)`.
const POOL_RANGES: [(&str, [u8; 4], [u8; 4]); 2] = [
    ("192.168.240.0/22", [192, 168, 240, 1], [192, 168, 243, 254]),
    (
        "10.250.0.1-10.250.15.254",
        [10, 250, 0, 1],
        [10, 250, 15, 254],
    ),
];

/// Status addresses of cloud load balancers come from 198.18.0.0/15 (benchmarking range).
const STATUS_LB_BASE: u32 = u32::from_be_bytes([198, 18, 0, 10]);
const STATUS_LB_LAST: u32 = u32::from_be_bytes([198, 19, 255, 254]);

/// 10.96.0.0/12, the default service CIDR.
const SERVICE_CIDR_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_CIDR_SIZE: usize = 1 << 20;

const CLUSTER_DOMAIN: &str = "cluster.local";

// Fixed indices of the system objects, created first.
const KUBE_SYSTEM: usize = 0;
const METALLB_SYSTEM: usize = 1;
const MONITORING: usize = 2;
const MLFLOW_NS: usize = 3;
const FIRST_APP_NS: usize = 4;
const SYSTEM_APPS: usize = 3;
const SYSTEM_SERVICES: usize = 3;
const MLFLOW_SVC: usize = 2;

// ---------------------------------------------------------------------------------------------
// The model

/// Everything generated, before it is rendered to YAML.
struct World {
    seed: u64,
    scale: f64,
    namespaces: Vec<Namespace>,
    apps: Vec<App>,
    services: Vec<Service>,
    config_maps: Vec<ConfigMap>,
    policies: Vec<Policy>,
    used_cluster_ips: HashSet<u32>,
    next_status_ip: u32,
    pool_used: u32,
}

/// A namespace, with the indices of what lives in it.
struct Namespace {
    name: String,
    team: String,
    /// Declared labels (`kubernetes.io/metadata.name` is implicit).
    labels: Vec<(String, String)>,
    /// Whether a Namespace object is written (kube-system is created by the cluster).
    declared: bool,
    /// The policy baseline of an application namespace.
    baseline: Option<Baseline>,
    apps: Vec<usize>,
    services: Vec<usize>,
    config_maps: Vec<usize>,
}

/// How an application namespace is locked down.
#[derive(Clone, Copy)]
struct Baseline {
    default_deny: bool,
    dns: DnsMode,
    /// `allow-same-namespace`: every pod may talk to every pod of its namespace.
    same_namespace: bool,
    /// `allow-prometheus-scrape` on the named `metrics` port.
    scrape: bool,
}

/// The allow-DNS policy of a namespace, right or with a typical mistake.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DnsMode {
    Allowed,
    Missing,
    /// `namespaceSelector: {matchLabels: {name: kube-system}}`, a label kube-system lacks.
    WrongLabel,
    /// UDP 53 only: lookups with large answers fail (a warning).
    UdpOnly,
}

/// A Deployment (one container) and what its configuration points at.
struct App {
    ns: usize,
    name: String,
    /// Metadata and pod template labels.
    labels: Vec<(String, String)>,
    /// The label the Deployment and its Services select on.
    selector: (String, String),
    component: &'static str,
    tier: &'static str,
    image: String,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    env: Vec<EnvVar>,
    env_from: Vec<usize>,
    replicas: u32,
    /// CPU and memory requests, when set.
    requests: Option<(&'static str, &'static str)>,
    /// Services this app talks to (env values, ConfigMap keys, envFrom), without repeats.
    deps: Vec<usize>,
    services: Vec<usize>,
    /// System apps get no random noise.
    system: bool,
}

/// A container port; `explicit_protocol` writes `protocol:` even for TCP.
struct ContainerPort {
    name: String,
    port: u16,
    udp: bool,
    explicit_protocol: bool,
}

/// One container env entry.
struct EnvVar {
    name: String,
    value: EnvValue,
}

/// A literal value, or a `configMapKeyRef`.
enum EnvValue {
    Literal(String),
    ConfigMapKey { config_map: usize, key: String },
}

/// A Service selecting one app.
struct Service {
    ns: usize,
    name: String,
    app: usize,
    cluster_ip: Ipv4Addr,
    ports: Vec<ServicePort>,
    lb: Option<LoadBalancer>,
}

/// A Service port and where it leads on the pods.
struct ServicePort {
    name: String,
    port: u16,
    target: TargetPort,
    udp: bool,
    explicit_protocol: bool,
}

/// How a Service port names its target.
enum TargetPort {
    /// `targetPort` left out: same as `port`.
    Same,
    Number(u16),
    Name(String),
}

/// Where a LoadBalancer Service's address is recorded.
enum LoadBalancer {
    /// Assigned by a cloud controller, recorded in `status.loadBalancer.ingress`.
    Status(Ipv4Addr),
    /// Pinned with MetalLB's annotation, from the generated pool.
    MetalLb(Ipv4Addr),
}

/// A ConfigMap; its service URLs reach the apps that use it.
struct ConfigMap {
    ns: usize,
    name: String,
    data: Vec<(String, String)>,
    /// Keys that hold a service address, with the service.
    refs: Vec<(String, usize)>,
}

/// A NetworkPolicy, its spec already built.
struct Policy {
    ns: usize,
    name: String,
    /// The app whose file holds the policy (`None`: the namespace's policy file).
    app: Option<usize>,
    spec: Y,
}

/// Backend ports needed per other namespace.
type PortsByNs = BTreeMap<usize, Vec<BackendPort>>;

/// A policy to write for an application namespace.
enum Task {
    /// Ingress to a Service's pods from its clients.
    Ingress(usize),
    /// Egress from an app to the Services it uses.
    Egress(usize),
    /// Egress from the whole namespace to another one.
    ToNamespace(usize, Vec<BackendPort>),
    /// Ingress to the whole namespace from another one.
    FromNamespace(usize, Vec<BackendPort>),
}

/// Adds the ports not yet in `into`.
fn add_ports(into: &mut Vec<BackendPort>, ports: Vec<BackendPort>) {
    for port in ports {
        if !into.contains(&port) {
            into.push(port);
        }
    }
}

/// A container port as a policy sees it on the backend pods.
#[derive(Clone, PartialEq, Eq)]
struct BackendPort {
    name: String,
    number: u16,
    udp: bool,
}

/// Collects one container's environment and the Services it leads to.
#[derive(Default)]
struct EnvBuilder {
    vars: Vec<EnvVar>,
    env_from: Vec<usize>,
    deps: Vec<usize>,
    names: HashSet<String>,
}

impl EnvBuilder {
    /// Adds a variable unless one of that name exists; `svc` is the Service it names.
    fn add(&mut self, name: String, value: EnvValue, svc: Option<usize>) {
        if self.names.insert(name.clone()) {
            self.vars.push(EnvVar { name, value });
            if let Some(svc) = svc {
                self.depend(svc);
            }
        }
    }

    fn depend(&mut self, svc: usize) {
        if !self.deps.contains(&svc) {
            self.deps.push(svc);
        }
    }
}

/// How a client names a Service in configuration.
#[derive(Clone, Copy)]
enum HostForm {
    Short,
    Namespaced,
    Svc,
    Fqdn,
    ClusterIp,
    LoadBalancerIp,
}

/// Object counts for a scale factor.
struct Counts {
    app_namespaces: usize,
    app_deployments: usize,
    app_services: usize,
    policies: usize,
}

impl Counts {
    /// Objects grow linearly, namespaces with the square root (20 in all at scale 1).
    fn for_scale(scale: f64) -> Counts {
        let linear = |n: f64| (n * scale).round() as usize;
        let app_namespaces = ((16.0 * scale.sqrt()).round() as usize).max(2);
        let app_deployments = linear(2000.0)
            .saturating_sub(SYSTEM_APPS)
            .max(app_namespaces);
        let app_services = linear(1000.0)
            .saturating_sub(SYSTEM_SERVICES)
            .clamp(1, app_deployments);
        Counts {
            app_namespaces,
            app_deployments,
            app_services,
            policies: linear(500.0),
        }
    }
}

impl World {
    /// The whole synthetic cluster for `scale` and `seed`.
    fn generate(scale: f64, seed: u64) -> World {
        let counts = Counts::for_scale(scale);
        let mut rng = Rng::new(seed);
        let mut world = World {
            seed,
            scale,
            namespaces: Vec::new(),
            apps: Vec::new(),
            services: Vec::new(),
            config_maps: Vec::new(),
            policies: Vec::new(),
            used_cluster_ips: HashSet::new(),
            next_status_ip: STATUS_LB_BASE,
            pool_used: 0,
        };
        world.add_system();
        world.add_app_namespaces(counts.app_namespaces, &mut rng.fork());
        world.add_apps(counts.app_deployments, &mut rng.fork());
        world.add_services(counts.app_services, &mut rng.fork());
        world.add_config_maps(&mut rng.fork());
        world.add_dependencies(&mut rng.fork());
        world.add_policies(counts.policies, &mut rng.fork());
        world
    }

    fn app_namespaces(&self) -> std::ops::Range<usize> {
        FIRST_APP_NS..self.namespaces.len()
    }

    // --- system objects ------------------------------------------------------------------

    /// kube-system (CoreDNS), metallb-system (the pool), monitoring (Prometheus), mlflow.
    fn add_system(&mut self) {
        let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        self.add_namespace("kube-system", "platform", Vec::new(), false);
        self.add_namespace(
            "metallb-system",
            "platform",
            labels(&[
                ("app.kubernetes.io/name", "metallb"),
                ("pod-security.kubernetes.io/enforce", "privileged"),
            ]),
            true,
        );
        self.add_namespace(
            "monitoring",
            "platform",
            labels(&[("team", "platform"), ("env", "prod")]),
            true,
        );
        self.add_namespace(
            "mlflow",
            "ml",
            labels(&[("team", "ml"), ("env", "prod"), ("name", "mlflow")]),
            true,
        );

        let mut coredns = App::system(KUBE_SYSTEM, "coredns", ("k8s-app", "kube-dns"));
        coredns.image = "registry.k8s.io/coredns/coredns:v1.11.1".into();
        coredns.args = vec!["-conf".into(), "/etc/coredns/Corefile".into()];
        coredns.replicas = 2;
        coredns.ports = vec![
            ContainerPort::new("dns", 53, true, true),
            ContainerPort::new("dns-tcp", 53, false, true),
            ContainerPort::new("metrics", 9153, false, true),
        ];
        let coredns = self.add_app(coredns);
        let dns_ports = vec![
            ServicePort::new("dns", 53, TargetPort::Same, true),
            ServicePort::new("dns-tcp", 53, TargetPort::Same, false),
            ServicePort::new("metrics", 9153, TargetPort::Same, false),
        ];
        self.add_service(
            KUBE_SYSTEM,
            "kube-dns",
            coredns,
            dns_ports,
            None,
            [10, 96, 0, 10],
        );
        let corefile = "\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
}
";
        self.add_config_map(ConfigMap {
            ns: KUBE_SYSTEM,
            name: "coredns".into(),
            data: vec![("Corefile".into(), corefile.into())],
            refs: Vec::new(),
        });

        let mut prometheus = App::system(MONITORING, "prometheus", ("app", "prometheus"));
        prometheus
            .labels
            .push(("app.kubernetes.io/name".into(), "prometheus".into()));
        prometheus.image = "quay.io/prometheus/prometheus:v2.53.0".into();
        prometheus.ports = vec![ContainerPort::new("http", 9090, false, false)];
        let prometheus = self.add_app(prometheus);
        let ports = vec![ServicePort::new(
            "http",
            9090,
            TargetPort::Name("http".into()),
            false,
        )];
        self.add_service(
            MONITORING,
            "prometheus",
            prometheus,
            ports,
            None,
            [10, 96, 0, 20],
        );

        let mut mlflow = App::system(MLFLOW_NS, "mlflow", ("app", "mlflow"));
        mlflow.labels.push((
            "app.kubernetes.io/component".into(),
            "tracking-server".into(),
        ));
        mlflow.image = "ghcr.io/mlflow/mlflow:v2.14.1".into();
        mlflow.args = vec![
            "--host=0.0.0.0".into(),
            "--port=5000".into(),
            "--default-artifact-root=s3://mlflow/".into(),
        ];
        mlflow.ports = vec![ContainerPort::new("http", 5000, false, false)];
        let mlflow = self.add_app(mlflow);
        let lb = self.next_pool_ip().map(LoadBalancer::MetalLb);
        let ports = vec![ServicePort::new(
            "http",
            80,
            TargetPort::Name("http".into()),
            false,
        )];
        self.add_service(MLFLOW_NS, "mlflow", mlflow, ports, lb, [10, 96, 0, 30]);
    }

    /// Adds a namespace; `declared` ones get a Namespace object.
    fn add_namespace(
        &mut self,
        name: &str,
        team: &str,
        labels: Vec<(String, String)>,
        declared: bool,
    ) -> usize {
        self.namespaces.push(Namespace {
            name: name.into(),
            team: team.into(),
            labels,
            declared,
            baseline: None,
            apps: Vec::new(),
            services: Vec::new(),
            config_maps: Vec::new(),
        });
        self.namespaces.len() - 1
    }

    /// Adds an app to its namespace.
    fn add_app(&mut self, app: App) -> usize {
        let index = self.apps.len();
        self.namespaces[app.ns].apps.push(index);
        self.apps.push(app);
        index
    }

    /// Adds a Service; `fixed_ip` is used when not all zero, else a random free ClusterIP.
    fn add_service(
        &mut self,
        ns: usize,
        name: &str,
        app: usize,
        ports: Vec<ServicePort>,
        lb: Option<LoadBalancer>,
        fixed_ip: [u8; 4],
    ) -> usize {
        let index = self.services.len();
        let ip = u32::from_be_bytes(fixed_ip);
        self.used_cluster_ips.insert(ip);
        self.services.push(Service {
            ns,
            name: name.into(),
            app,
            cluster_ip: Ipv4Addr::from(ip),
            ports,
            lb,
        });
        self.namespaces[ns].services.push(index);
        self.apps[app].services.push(index);
        index
    }

    /// Adds a ConfigMap to its namespace.
    fn add_config_map(&mut self, cm: ConfigMap) -> usize {
        let index = self.config_maps.len();
        self.namespaces[cm.ns].config_maps.push(index);
        self.config_maps.push(cm);
        index
    }

    // --- address allocation --------------------------------------------------------------

    /// A random unused ClusterIP in 10.96.0.0/12 (the first 16 addresses are reserved).
    fn next_cluster_ip(&mut self, rng: &mut Rng) -> Ipv4Addr {
        loop {
            let ip = SERVICE_CIDR_BASE + (16 + rng.below(SERVICE_CIDR_SIZE - 32)) as u32;
            if self.used_cluster_ips.insert(ip) {
                return Ipv4Addr::from(ip);
            }
        }
    }

    /// The next free address of the MetalLB pool, if any is left.
    fn next_pool_ip(&mut self) -> Option<Ipv4Addr> {
        let mut n = self.pool_used;
        for (_, first, last) in POOL_RANGES {
            let (first, last) = (u32::from_be_bytes(first), u32::from_be_bytes(last));
            if n <= last - first {
                self.pool_used += 1;
                return Some(Ipv4Addr::from(first + n));
            }
            n -= last - first + 1;
        }
        None
    }

    /// The next cloud load-balancer status address, if any is left.
    fn next_status_ip(&mut self) -> Option<Ipv4Addr> {
        (self.next_status_ip <= STATUS_LB_LAST).then(|| {
            self.next_status_ip += 1;
            Ipv4Addr::from(self.next_status_ip - 1)
        })
    }

    // --- application namespaces, apps, services ------------------------------------------

    /// Application namespaces with unique names and `team`/`env` labels (some also `name`).
    fn add_app_namespaces(&mut self, count: usize, rng: &mut Rng) {
        let mut used: HashSet<String> = self.namespaces.iter().map(|n| n.name.clone()).collect();
        for i in 0..count {
            let domain = *rng.pick(&DOMAINS);
            let env = *rng.weighted(&ENVS);
            let mut name = if env != "prod" && rng.chance(0.4) {
                format!("{domain}-{env}")
            } else {
                domain.to_string()
            };
            let stem = name.clone();
            let mut k = 2;
            while used.contains(&name) {
                name = format!("{stem}-{k}");
                k += 1;
            }
            used.insert(name.clone());
            // Make sure the ML teams exist: the MLflow policy admits them.
            let team = match i {
                1 => "ml",
                2 => "data",
                _ => *rng.pick(&TEAMS),
            };
            let mut labels = vec![
                ("team".to_string(), team.to_string()),
                ("env".to_string(), env.to_string()),
            ];
            if rng.chance(0.5) {
                labels.push(("name".into(), name.clone()));
            }
            if rng.chance(0.3) {
                labels.push(("cost-center".into(), format!("cc-{}", 1000 + rng.below(60))));
            }
            self.add_namespace(&name, team, labels, true);
        }
    }

    /// Deployments spread over the application namespaces with Zipf-skewed sizes.
    fn add_apps(&mut self, total: usize, rng: &mut Rng) {
        let namespaces: Vec<usize> = self.app_namespaces().collect();
        let weights: Vec<f64> = (0..namespaces.len())
            .map(|rank| 1.0 / ((rank + 1) as f64).powf(1.1))
            .collect();
        let sizes = apportion(total, &weights, true);
        let roles: Vec<(usize, u32)> = ROLES
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.weight))
            .collect();
        let mut name_counts: HashMap<String, usize> = HashMap::new();
        for (&ns, &size) in namespaces.iter().zip(&sizes) {
            for _ in 0..size {
                let role = &ROLES[*rng.weighted(&roles)];
                let base = format!("{}-{}", rng.pick(&WORDS), role.name);
                let seen = name_counts.entry(base.clone()).or_insert(0);
                *seen += 1;
                let name = match *seen {
                    1 => base,
                    n => format!("{base}-{n}"),
                };
                let app = self.new_app(ns, name, role, rng);
                self.add_app(app);
            }
        }
    }

    /// One application Deployment with its labels, image and ports.
    fn new_app(&self, ns: usize, name: String, role: &Role, rng: &mut Rng) -> App {
        let namespace = &self.namespaces[ns];
        let team = if rng.chance(0.9) {
            namespace.team.clone()
        } else {
            rng.pick(&TEAMS).to_string()
        };
        let mut app = App::system(ns, &name, ("app", &name));
        app.system = false;
        app.component = role.component;
        app.tier = role.tier;
        for (key, value) in [
            ("component", role.component),
            ("tier", role.tier),
            ("team", &team),
        ] {
            app.labels.push((key.into(), value.into()));
        }
        if rng.chance(0.6) {
            app.labels
                .push(("app.kubernetes.io/name".into(), name.clone()));
        }
        if rng.chance(0.2) {
            app.labels
                .push(("version".into(), format!("v{}", rng.between(1, 4))));
        }
        app.image = format!(
            "ghcr.io/acme/{name}:{}.{}.{}",
            rng.between(0, 4),
            rng.below(30),
            rng.below(12)
        );
        app.replicas = *rng.pick(&[1, 2, 2, 3, 3, 5]);
        if rng.chance(0.45) {
            let cpu = *rng.pick(&["50m", "100m", "250m", "500m"]);
            let memory = *rng.pick(&["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"]);
            app.requests = Some((cpu, memory));
        }
        let http = *rng.pick(&HTTP_PORTS);
        for &(port_name, number, udp) in role.ports {
            // Not every app exposes metrics (but keep at least one port).
            if port_name == "metrics" && role.ports.len() > 1 && rng.chance(0.2) {
                continue;
            }
            let number = if number == 0 { http } else { number };
            app.ports.push(ContainerPort::new(
                port_name,
                number,
                udp,
                udp || rng.chance(0.15),
            ));
        }
        if rng.chance(0.08) {
            app.ports
                .push(ContainerPort::new("syslog", 5514, true, true));
        }
        app
    }

    /// Services for a random subset of the apps, serving apps first.
    fn add_services(&mut self, count: usize, rng: &mut Rng) {
        let (mut serving, mut rest): (Vec<usize>, Vec<usize>) = (SYSTEM_APPS..self.apps.len())
            .partition(|&a| self.apps[a].ports.iter().any(|p| p.name != "metrics"));
        rng.shuffle(&mut serving);
        rng.shuffle(&mut rest);
        let mut chosen: Vec<usize> = serving.into_iter().chain(rest).take(count).collect();
        chosen.sort_unstable();
        for app in chosen {
            self.add_app_service(app, rng);
        }
    }

    /// The Service of one app: its ports, a ClusterIP and sometimes a load balancer.
    fn add_app_service(&mut self, app: usize, rng: &mut Rng) {
        let (ns, name, tier) = {
            let a = &self.apps[app];
            let name = if rng.chance(0.1) {
                format!("{}-svc", a.name)
            } else {
                a.name.clone()
            };
            (a.ns, name, a.tier)
        };
        let mut ports = Vec::new();
        for cp in &self.apps[app].ports {
            let keep = match cp.name.as_str() {
                "metrics" => ports.is_empty() || rng.chance(0.25),
                _ if cp.udp => rng.chance(0.5),
                _ => true,
            };
            if keep {
                ports.push(service_port_for(cp, rng));
            }
        }
        let lb_chance = if tier == "edge" || tier == "web" {
            0.25
        } else {
            0.02
        };
        let lb = if rng.chance(lb_chance) {
            if rng.chance(0.5) {
                self.next_pool_ip().map(LoadBalancer::MetalLb)
            } else {
                self.next_status_ip().map(LoadBalancer::Status)
            }
        } else {
            None
        };
        let ip = self.next_cluster_ip(rng).octets();
        self.add_service(ns, &name, app, ports, lb, ip);
    }

    // --- configuration: ConfigMaps and env -----------------------------------------------

    /// Shared ConfigMaps per application namespace, holding service URLs and settings.
    fn add_config_maps(&mut self, rng: &mut Rng) {
        for ns in self.app_namespaces() {
            let count = 1 + self.namespaces[ns].apps.len() / 80;
            for c in 0..count {
                let name = match c {
                    0 => "shared-env".to_string(),
                    _ => format!("shared-env-{}", c + 1),
                };
                let cm = self.new_config_map(ns, name, rng);
                self.add_config_map(cm);
            }
        }
    }

    /// A ConfigMap with 2-5 service URLs, MLflow's URL for ML teams, and plain settings.
    fn new_config_map(&self, ns: usize, name: String, rng: &mut Rng) -> ConfigMap {
        let mut cm = ConfigMap {
            ns,
            name,
            data: Vec::new(),
            refs: Vec::new(),
        };
        let mut keys = HashSet::new();
        for _ in 0..rng.between(2, 5) {
            let Some(svc) = self.pick_target(ns, 0.5, rng) else {
                continue;
            };
            let same_ns = self.services[svc].ns == ns;
            let form = *rng.pick(if same_ns {
                &[HostForm::Short, HostForm::Namespaced, HostForm::Fqdn][..]
            } else {
                &[HostForm::Namespaced, HostForm::Svc, HostForm::Fqdn][..]
            });
            let (key, value) = self.reference(svc, form, rng);
            if keys.insert(key.clone()) {
                cm.refs.push((key.clone(), svc));
                cm.data.push((key, value));
            }
        }
        if matches!(self.namespaces[ns].team.as_str(), "ml" | "data") {
            let value = mlflow_url(self, rng);
            cm.refs.push(("MLFLOW_TRACKING_URI".into(), MLFLOW_SVC));
            cm.data.push(("MLFLOW_TRACKING_URI".into(), value));
        }
        for (key, value) in PLAIN_ENV.iter().skip(rng.below(4)).take(3) {
            cm.data.push((key.to_string(), value.to_string()));
        }
        cm
    }

    /// A random application Service to depend on: in `ns` with probability `local`.
    fn pick_target(&self, ns: usize, local: f64, rng: &mut Rng) -> Option<usize> {
        let here = &self.namespaces[ns].services;
        if !here.is_empty() && rng.chance(local) {
            return Some(*rng.pick(here));
        }
        let candidates = self.services.len() - SYSTEM_SERVICES;
        (candidates > 0).then(|| SYSTEM_SERVICES + rng.below(candidates))
    }

    /// `(env var name, value)` naming `svc` in `form`, on one of its TCP ports.
    fn reference(&self, svc: usize, form: HostForm, rng: &mut Rng) -> (String, String) {
        let service = &self.services[svc];
        let ns = &self.namespaces[service.ns].name;
        let host = match form {
            HostForm::Short => service.name.clone(),
            HostForm::Namespaced => format!("{}.{ns}", service.name),
            HostForm::Svc => format!("{}.{ns}.svc", service.name),
            HostForm::Fqdn => format!("{}.{ns}.svc.{CLUSTER_DOMAIN}", service.name),
            HostForm::ClusterIp => service.cluster_ip.to_string(),
            HostForm::LoadBalancerIp => match service.lb_ip() {
                Some(ip) => ip.to_string(),
                None => service.cluster_ip.to_string(),
            },
        };
        let tcp: Vec<&ServicePort> = service.ports.iter().filter(|p| !p.udp).collect();
        let stem = service.name.to_ascii_uppercase().replace('-', "_");
        let Some(port) = tcp.iter().find(|p| p.name != "metrics").or(tcp.first()) else {
            return (format!("{stem}_HOST"), host);
        };
        let p = port.port;
        match port.name.as_str() {
            "http" if p == 80 && rng.chance(0.5) => {
                (format!("{stem}_URL"), format!("http://{host}"))
            }
            "http" => {
                let path = rng.pick(&["", "/", "/api", "/v1"]);
                (format!("{stem}_URL"), format!("http://{host}:{p}{path}"))
            }
            "https" => (format!("{stem}_URL"), format!("https://{host}:{p}/")),
            "postgres" => {
                let db = service.name.replace('-', "_");
                let url = format!("postgresql://app@{host}:{p}/{db}?sslmode=disable");
                (format!("{stem}_DATABASE_URL"), url)
            }
            "redis" => (format!("{stem}_REDIS_URL"), format!("redis://{host}:{p}/0")),
            _ => (format!("{stem}_ADDR"), format!("{host}:{p}")),
        }
    }

    /// Env references from each application to Services, MLflow and ConfigMaps, plus noise.
    fn add_dependencies(&mut self, rng: &mut Rng) {
        for app in SYSTEM_APPS..self.apps.len() {
            let ns = self.apps[app].ns;
            let mut env = EnvBuilder::default();
            for _ in 0..*rng.pick(&[0, 0, 0, 1, 1, 1, 1, 2, 2, 3]) {
                let Some(svc) = self.pick_target(ns, 0.6, rng) else {
                    continue;
                };
                if self.services[svc].app != app {
                    let form = self.pick_form(svc, self.services[svc].ns == ns, rng);
                    let (name, value) = self.reference(svc, form, rng);
                    env.add(name, EnvValue::Literal(value), Some(svc));
                }
            }
            let ml = matches!(self.namespaces[ns].team.as_str(), "ml" | "data");
            if rng.chance(if ml { 0.3 } else { 0.02 }) {
                let value = EnvValue::Literal(mlflow_url(self, rng));
                env.add("MLFLOW_TRACKING_URI".into(), value, Some(MLFLOW_SVC));
            }
            let cms = &self.namespaces[ns].config_maps;
            if !cms.is_empty() && rng.chance(0.12) {
                let cm = *rng.pick(cms);
                env.env_from.push(cm);
                for &(_, svc) in &self.config_maps[cm].refs {
                    env.depend(svc);
                }
            } else if !cms.is_empty() && rng.chance(0.06) {
                let cm = *rng.pick(cms);
                if let Some((key, svc)) = self.config_maps[cm].refs.first().cloned() {
                    let value = EnvValue::ConfigMapKey {
                        config_map: cm,
                        key: key.clone(),
                    };
                    env.add(key, value, Some(svc));
                }
            }
            for (name, value) in PLAIN_ENV
                .iter()
                .skip(rng.below(PLAIN_ENV.len()))
                .take(usize::from(rng.chance(0.3)))
            {
                env.add(name.to_string(), EnvValue::Literal(value.to_string()), None);
            }
            let a = &mut self.apps[app];
            a.env = env.vars;
            a.env_from = env.env_from;
            a.deps = env.deps;
        }
    }

    /// How a client spells a Service: mostly names, sometimes hardcoded addresses.
    fn pick_form(&self, svc: usize, same_ns: bool, rng: &mut Rng) -> HostForm {
        if self.services[svc].lb.is_some() && !same_ns && rng.chance(0.4) {
            return HostForm::LoadBalancerIp;
        }
        let forms: &[(HostForm, u32)] = if same_ns {
            &[
                (HostForm::Short, 60),
                (HostForm::Namespaced, 20),
                (HostForm::Fqdn, 15),
                (HostForm::ClusterIp, 5),
            ]
        } else {
            &[
                (HostForm::Namespaced, 40),
                (HostForm::Svc, 8),
                (HostForm::Fqdn, 44),
                (HostForm::ClusterIp, 8),
            ]
        };
        *rng.weighted(forms)
    }

    // --- policies ------------------------------------------------------------------------

    /// Baselines per namespace, MLflow's policies, then per-app policies up to `total`.
    fn add_policies(&mut self, total: usize, rng: &mut Rng) {
        self.assign_baselines(rng);
        for ns in self.app_namespaces() {
            for (name, spec) in self.baseline_policies(ns) {
                self.add_policy(ns, name, None, spec);
            }
        }
        self.add_mlflow_policies();
        let remaining = total.saturating_sub(self.policies.len());
        let namespaces: Vec<usize> = self.app_namespaces().collect();
        let weights: Vec<f64> = namespaces
            .iter()
            .map(|&ns| self.namespaces[ns].apps.len() as f64)
            .collect();
        let quotas = apportion(remaining, &weights, false);
        let clients = self.clients_by_service();
        for (&ns, &quota) in namespaces.iter().zip(&quotas) {
            for (name, app, spec) in self.app_policies(ns, quota, &clients, rng) {
                self.add_policy(ns, name, app, spec);
            }
        }
    }

    /// Adds a policy; `app` chooses the file it is written to.
    fn add_policy(&mut self, ns: usize, name: String, app: Option<usize>, spec: Y) {
        self.policies.push(Policy {
            ns,
            name,
            app,
            spec,
        });
    }

    /// Most namespaces are locked down correctly; fixed shares carry DNS mistakes or no
    /// default-deny at all.
    fn assign_baselines(&mut self, rng: &mut Rng) {
        // Mistakes go to the smaller half of the namespaces (in random order), so that one
        // giant namespace does not drown the findings.
        let mut order: Vec<usize> = self.app_namespaces().collect();
        order.sort_by_key(|&ns| (self.namespaces[ns].apps.len(), ns));
        let small = order.len().div_ceil(2);
        rng.shuffle(&mut order[..small]);
        let n = order.len() as f64;
        let share = |p: f64, min: usize| ((n * p).round() as usize).max(min);
        let mut modes = Vec::new();
        for (default_deny, dns, p, min) in [
            (true, DnsMode::Missing, 0.10, 1),
            (true, DnsMode::WrongLabel, 0.05, 1),
            (true, DnsMode::UdpOnly, 0.05, 1),
            (false, DnsMode::Missing, 0.05, 1),
        ] {
            modes.extend(std::iter::repeat_n((default_deny, dns), share(p, min)));
        }
        for (i, ns) in order.into_iter().enumerate() {
            let (default_deny, dns) = modes.get(i).copied().unwrap_or((true, DnsMode::Allowed));
            // Big namespaces are usually open inside.
            let big = i >= small;
            self.namespaces[ns].baseline = Some(Baseline {
                default_deny,
                dns,
                same_namespace: default_deny && (big || rng.chance(0.4)),
                scrape: default_deny && rng.chance(0.6),
            });
        }
    }

    /// default-deny, allow-dns, allow-same-namespace and allow-prometheus-scrape, per baseline.
    fn baseline_policies(&self, ns: usize) -> Vec<(String, Y)> {
        let Some(b) = self.namespaces[ns].baseline else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if b.default_deny {
            out.push(("default-deny".to_string(), default_deny_spec()));
        }
        match b.dns {
            DnsMode::Missing => {}
            DnsMode::Allowed => out.push(("allow-dns".into(), allow_dns_spec(true, true))),
            DnsMode::WrongLabel => out.push(("allow-dns".into(), allow_dns_spec(false, true))),
            DnsMode::UdpOnly => out.push(("allow-dns".into(), allow_dns_spec(true, false))),
        }
        if b.same_namespace {
            let everyone = map([("podSelector", Y::Map(Vec::new()))]);
            let spec = map([
                ("podSelector", Y::Map(Vec::new())),
                ("policyTypes", seq([s("Ingress"), s("Egress")])),
                ("ingress", seq([map([("from", seq([everyone.clone()]))])])),
                ("egress", seq([map([("to", seq([everyone]))])])),
            ]);
            out.push(("allow-same-namespace".into(), spec));
        }
        if b.scrape {
            let peer = map([
                (
                    "namespaceSelector",
                    match_labels(&[("kubernetes.io/metadata.name", "monitoring")]),
                ),
                (
                    "podSelector",
                    match_labels(&[("app.kubernetes.io/name", "prometheus")]),
                ),
            ]);
            let spec = map([
                ("podSelector", Y::Map(Vec::new())),
                ("policyTypes", seq([s("Ingress")])),
                (
                    "ingress",
                    seq([map([
                        ("from", seq([peer])),
                        (
                            "ports",
                            seq([map([("protocol", s("TCP")), ("port", s("metrics"))])]),
                        ),
                    ])]),
                ),
            ]);
            out.push(("allow-prometheus-scrape".into(), spec));
        }
        out
    }

    /// MLflow: locked down, DNS allowed, the tracking server open to the ML teams only.
    fn add_mlflow_policies(&mut self) {
        self.add_policy(MLFLOW_NS, "default-deny".into(), None, default_deny_spec());
        self.add_policy(
            MLFLOW_NS,
            "allow-dns".into(),
            None,
            allow_dns_spec(true, true),
        );
        let from = map([(
            "namespaceSelector",
            match_expressions(vec![expr("team", "In", &["ml", "data"])]),
        )]);
        let spec = map([
            ("podSelector", match_labels(&[("app", "mlflow")])),
            ("policyTypes", seq([s("Ingress")])),
            (
                "ingress",
                seq([map([
                    ("from", seq([from])),
                    (
                        "ports",
                        seq([map([("protocol", s("TCP")), ("port", s("http"))])]),
                    ),
                ])]),
            ),
        ]);
        let mlflow_app = self.services[MLFLOW_SVC].app;
        self.add_policy(MLFLOW_NS, "mlflow-ingress".into(), Some(mlflow_app), spec);
    }

    /// For each Service, the apps that reference it.
    fn clients_by_service(&self) -> Vec<Vec<usize>> {
        let mut clients = vec![Vec::new(); self.services.len()];
        for (app, a) in self.apps.iter().enumerate() {
            for &svc in &a.deps {
                clients[svc].push(app);
            }
        }
        clients
    }

    /// Up to `quota` policies of one namespace: per-app ingress (for a Service's clients) and
    /// egress (for an app's dependencies), per-namespace-pair ingress and egress, topped up with
    /// namespace-wide fillers.
    fn app_policies(
        &self,
        ns: usize,
        quota: usize,
        clients: &[Vec<usize>],
        rng: &mut Rng,
    ) -> Vec<(String, Option<usize>, Y)> {
        let namespace = &self.namespaces[ns];
        let baseline = namespace.baseline;
        let same_ns_open = baseline.is_some_and(|b| b.same_namespace);
        let mut tasks = Vec::new();
        for &svc in &namespace.services {
            if !clients[svc].is_empty() {
                tasks.push(Task::Ingress(svc));
            }
        }
        for &app in &namespace.apps {
            let needs = self.apps[app]
                .deps
                .iter()
                .any(|&svc| !same_ns_open || self.services[svc].ns != ns);
            if needs {
                tasks.push(Task::Egress(app));
            }
        }
        let (to, from) = self.namespace_pairs(ns, clients);
        // Namespace-wide allows only where everything is denied anyway: elsewhere a
        // `podSelector: {}` policy would isolate every pod.
        if baseline.is_some_and(|b| b.default_deny) {
            tasks.extend(
                to.into_iter()
                    .map(|(other, ports)| Task::ToNamespace(other, ports)),
            );
            tasks.extend(
                from.into_iter()
                    .map(|(other, ports)| Task::FromNamespace(other, ports)),
            );
        }
        rng.shuffle(&mut tasks);
        let mut out = Vec::new();
        for task in tasks.into_iter().take(quota) {
            out.push(match task {
                Task::Ingress(svc) => {
                    let name = format!("{}-allow-ingress", self.services[svc].name);
                    let spec = self.ingress_spec(svc, &clients[svc], rng);
                    (name, Some(self.services[svc].app), spec)
                }
                Task::Egress(app) => {
                    let name = format!("{}-allow-egress", self.apps[app].name);
                    (name, Some(app), self.egress_spec(app, same_ns_open, rng))
                }
                Task::ToNamespace(other, ports) => {
                    let name = format!("allow-egress-to-{}", self.namespaces[other].name);
                    (name, None, self.pair_spec(false, other, &ports, rng))
                }
                Task::FromNamespace(other, ports) => {
                    let name = format!("allow-ingress-from-{}", self.namespaces[other].name);
                    (name, None, self.pair_spec(true, other, &ports, rng))
                }
            });
        }
        for k in out.len()..quota {
            let (name, spec) = self.filler_policy(ns, k, rng);
            out.push((name, None, spec));
        }
        out
    }

    /// For namespace `ns`: the other namespaces its apps use (with the backend ports) and the
    /// other namespaces whose apps use its Services (with its backend ports).
    fn namespace_pairs(&self, ns: usize, clients: &[Vec<usize>]) -> (PortsByNs, PortsByNs) {
        let mut to = PortsByNs::new();
        for &app in &self.namespaces[ns].apps {
            for &svc in &self.apps[app].deps {
                let other = self.services[svc].ns;
                if other != ns {
                    add_ports(to.entry(other).or_default(), self.backend_ports(svc));
                }
            }
        }
        let mut from = PortsByNs::new();
        for &svc in &self.namespaces[ns].services {
            for &client in &clients[svc] {
                let other = self.apps[client].ns;
                if other != ns {
                    add_ports(from.entry(other).or_default(), self.backend_ports(svc));
                }
            }
        }
        (to, from)
    }

    /// `podSelector: {}` with one rule to (`ingress` false) or from namespace `other`.
    fn pair_spec(&self, ingress: bool, other: usize, ports: &[BackendPort], rng: &mut Rng) -> Y {
        let peer = map([("namespaceSelector", self.namespace_selector(other, rng))]);
        let ports = Y::Seq(port_entries(ports, rng.below(2), rng));
        let (direction, peers_key, policy_type) = if ingress {
            ("ingress", "from", "Ingress")
        } else {
            ("egress", "to", "Egress")
        };
        map([
            ("podSelector", Y::Map(Vec::new())),
            ("policyTypes", seq([s(policy_type)])),
            (
                direction,
                seq([map([(peers_key, seq([peer])), ("ports", ports)])]),
            ),
        ])
    }

    /// Ingress to a Service's pods from the apps that use it (a few are forgotten), one rule per
    /// client namespace, in one port style.
    fn ingress_spec(&self, svc: usize, clients: &[usize], rng: &mut Rng) -> Y {
        let service = &self.services[svc];
        let ports = self.backend_ports(svc);
        let style = rng.below(3);
        let mut by_ns: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &client in clients.iter().take(24) {
            if rng.chance(0.92) {
                by_ns.entry(self.apps[client].ns).or_default().push(client);
            }
        }
        let mut rules = Vec::new();
        for (client_ns, group) in by_ns {
            let pods = self.clients_selector(&group, rng);
            let peer = if client_ns == service.ns {
                map([("podSelector", pods)])
            } else {
                map([
                    ("namespaceSelector", self.namespace_selector(client_ns, rng)),
                    ("podSelector", pods),
                ])
            };
            rules.push(map([
                ("from", seq([peer])),
                ("ports", Y::Seq(port_entries(&ports, style, rng))),
            ]));
        }
        let (key, value) = &self.apps[service.app].selector;
        let spec = map([
            ("podSelector", match_labels(&[(key, value)])),
            ("policyTypes", seq([s("Ingress")])),
        ]);
        if rules.is_empty() {
            spec
        } else {
            spec.with("ingress", Y::Seq(rules))
        }
    }

    /// Egress from an app to the pods behind the Services it uses (a few are forgotten),
    /// sometimes with an internet rule (ipBlock with except) or its own DNS rule.
    fn egress_spec(&self, app: usize, same_ns_open: bool, rng: &mut Rng) -> Y {
        let a = &self.apps[app];
        let style = rng.below(2);
        let mut rules = Vec::new();
        for &svc in &a.deps {
            let service = &self.services[svc];
            if (same_ns_open && service.ns == a.ns) || rng.chance(0.08) {
                continue;
            }
            let (key, value) = &self.apps[service.app].selector;
            let pods = match_labels(&[(key, value)]);
            let peer = if service.ns == a.ns {
                map([("podSelector", pods)])
            } else {
                map([
                    (
                        "namespaceSelector",
                        self.namespace_selector(service.ns, rng),
                    ),
                    ("podSelector", pods),
                ])
            };
            let ports = port_entries(&self.backend_ports(svc), style, rng);
            rules.push(map([("to", seq([peer])), ("ports", Y::Seq(ports))]));
        }
        if rng.chance(0.25) {
            rules.push(internet_rule(rng));
        }
        if rng.chance(0.1) {
            rules.push(dns_rule(true, true));
        }
        map([
            ("podSelector", match_labels(&[("app", &a.name)])),
            ("policyTypes", seq([s("Egress")])),
            ("egress", Y::Seq(rules)),
        ])
    }

    /// Namespace-wide extra policies: internet egress per tier, team ingress on a port range,
    /// a partner network on a named port.
    fn filler_policy(&self, ns: usize, k: usize, rng: &mut Rng) -> (String, Y) {
        let apps = &self.namespaces[ns].apps;
        let tier = if apps.is_empty() {
            "api"
        } else {
            self.apps[*rng.pick(apps)].tier
        };
        match k % 3 {
            0 => {
                let spec = map([
                    ("podSelector", match_labels(&[("tier", tier)])),
                    ("policyTypes", seq([s("Egress")])),
                    ("egress", seq([internet_rule(rng)])),
                ]);
                (format!("{tier}-allow-internet-{k}"), spec)
            }
            1 => {
                let teams = [*rng.pick(&TEAMS), *rng.pick(&TEAMS)];
                let from = map([(
                    "namespaceSelector",
                    match_expressions(vec![
                        expr("team", "In", &teams),
                        expr("env", "NotIn", &["dev"]),
                    ]),
                )]);
                let port = map([
                    ("protocol", s("TCP")),
                    ("port", int(8000)),
                    ("endPort", int(8999)),
                ]);
                let spec = map([
                    (
                        "podSelector",
                        match_expressions(vec![expr("component", "In", &["backend", "frontend"])]),
                    ),
                    ("policyTypes", seq([s("Ingress")])),
                    (
                        "ingress",
                        seq([map([("from", seq([from])), ("ports", seq([port]))])]),
                    ),
                ]);
                (format!("allow-teams-{k}"), spec)
            }
            _ => {
                let block = map([(
                    "ipBlock",
                    map([
                        ("cidr", s("10.30.0.0/16")),
                        ("except", seq([s("10.30.99.0/24")])),
                    ]),
                )]);
                let spec = map([
                    (
                        "podSelector",
                        match_expressions(vec![expr("tier", "Exists", &[])]),
                    ),
                    ("policyTypes", seq([s("Ingress")])),
                    (
                        "ingress",
                        seq([map([
                            ("from", seq([block])),
                            ("ports", seq([map([("port", s("http"))])])),
                        ])]),
                    ),
                ]);
                (format!("allow-partner-network-{k}"), spec)
            }
        }
    }

    /// The container ports behind a Service's ports (named targets resolved on its app).
    fn backend_ports(&self, svc: usize) -> Vec<BackendPort> {
        let service = &self.services[svc];
        let app = &self.apps[service.app];
        let mut out: Vec<BackendPort> = Vec::new();
        for sp in &service.ports {
            let found = app.ports.iter().find(|cp| match &sp.target {
                TargetPort::Same => cp.port == sp.port && cp.udp == sp.udp,
                TargetPort::Number(n) => cp.port == *n && cp.udp == sp.udp,
                TargetPort::Name(name) => &cp.name == name,
            });
            if let Some(cp) = found {
                let port = BackendPort {
                    name: cp.name.clone(),
                    number: cp.port,
                    udp: cp.udp,
                };
                if !out.contains(&port) {
                    out.push(port);
                }
            }
        }
        out
    }

    /// Selects client pods: one `app`, `app In [...]`, or (sometimes) a shared `component`.
    fn clients_selector(&self, clients: &[usize], rng: &mut Rng) -> Y {
        let first = &self.apps[clients[0]];
        let one_component = clients
            .iter()
            .all(|&c| self.apps[c].component == first.component);
        if one_component && rng.chance(0.2) {
            return match_labels(&[("component", first.component)]);
        }
        if clients.len() == 1 {
            return match_labels(&[("app", &first.name)]);
        }
        let mut names: Vec<&str> = clients
            .iter()
            .map(|&c| self.apps[c].name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        match_expressions(vec![expr("app", "In", &names)])
    }

    /// Selects namespace `ns` in one of the ways people write it (some too broad, some wrong).
    fn namespace_selector(&self, ns: usize, rng: &mut Rng) -> Y {
        let n = &self.namespaces[ns];
        match rng.below(20) {
            0..=8 => match_labels(&[("kubernetes.io/metadata.name", &n.name)]),
            9..=11 => {
                match_expressions(vec![expr("kubernetes.io/metadata.name", "In", &[&n.name])])
            }
            12 | 13 => match_labels(&[("team", &n.team)]),
            14 | 15 => match_expressions(vec![
                expr("team", "In", &[&n.team]),
                expr("env", "NotIn", &["dev"]),
            ]),
            16 | 17 => match_expressions(vec![expr("team", "Exists", &[])]),
            // Works only where someone added a `name` label.
            _ => match_labels(&[("name", &n.name)]),
        }
    }
}

impl App {
    /// An app with the given selector label and defaults; callers fill in the rest.
    fn system(ns: usize, name: &str, selector: (&str, &str)) -> App {
        App {
            ns,
            name: name.into(),
            labels: vec![(selector.0.into(), selector.1.into())],
            selector: (selector.0.into(), selector.1.into()),
            component: "system",
            tier: "system",
            image: String::new(),
            args: Vec::new(),
            ports: Vec::new(),
            env: Vec::new(),
            env_from: Vec::new(),
            replicas: 1,
            requests: Some(("100m", "128Mi")),
            deps: Vec::new(),
            services: Vec::new(),
            system: true,
        }
    }
}

impl ContainerPort {
    fn new(name: &str, port: u16, udp: bool, explicit_protocol: bool) -> ContainerPort {
        ContainerPort {
            name: name.into(),
            port,
            udp,
            explicit_protocol,
        }
    }
}

impl ServicePort {
    fn new(name: &str, port: u16, target: TargetPort, udp: bool) -> ServicePort {
        ServicePort {
            name: name.into(),
            port,
            target,
            udp,
            explicit_protocol: true,
        }
    }
}

impl Service {
    fn lb_ip(&self) -> Option<Ipv4Addr> {
        match self.lb {
            Some(LoadBalancer::Status(ip) | LoadBalancer::MetalLb(ip)) => Some(ip),
            None => None,
        }
    }
}

/// The Service port in front of a container port: HTTP on 80/443, others on the same number;
/// the target named, numeric, or left out.
fn service_port_for(cp: &ContainerPort, rng: &mut Rng) -> ServicePort {
    let port = match cp.name.as_str() {
        "http" if rng.chance(0.7) => 80,
        "https" => 443,
        _ => cp.port,
    };
    let target = match rng.below(10) {
        0..=4 => TargetPort::Name(cp.name.clone()),
        _ if port == cp.port && rng.chance(0.4) => TargetPort::Same,
        _ => TargetPort::Number(cp.port),
    };
    ServicePort {
        name: cp.name.clone(),
        port,
        target,
        udp: cp.udp,
        explicit_protocol: cp.udp || rng.chance(0.5),
    }
}

/// An `MLFLOW_TRACKING_URI` value: mostly names, sometimes the pinned LoadBalancer address.
fn mlflow_url(world: &World, rng: &mut Rng) -> String {
    let lb = world.services[MLFLOW_SVC].lb_ip();
    match (rng.below(20), lb) {
        (0..=8, _) => format!("http://mlflow.mlflow.svc.{CLUSTER_DOMAIN}"),
        (9..=12, _) => "http://mlflow.mlflow".into(),
        (13..=15, _) => format!("http://mlflow.mlflow.svc.{CLUSTER_DOMAIN}:80/"),
        (_, Some(ip)) => format!("http://{ip}"),
        (_, None) => "http://mlflow.mlflow".into(),
    }
}

/// Policy `ports` entries: style 0 named, 1 numeric, 2 a 10-port `endPort` range.
fn port_entries(ports: &[BackendPort], style: usize, rng: &mut Rng) -> Vec<Y> {
    let mut out = Vec::new();
    for p in ports {
        let mut entry = Y::Map(Vec::new());
        if p.udp || rng.chance(0.5) {
            entry.push("protocol", s(if p.udp { "UDP" } else { "TCP" }));
        }
        match style {
            0 => entry.push("port", s(&p.name)),
            1 => entry.push("port", int(p.number)),
            _ => {
                let start = (p.number - p.number % 10).max(1);
                entry.push("port", int(start));
                entry.push("endPort", int(start.saturating_add(9)));
            }
        }
        out.push(entry);
    }
    out
}

/// `podSelector: {}` isolating both directions.
fn default_deny_spec() -> Y {
    map([
        ("podSelector", Y::Map(Vec::new())),
        ("policyTypes", seq([s("Ingress"), s("Egress")])),
    ])
}

/// Egress to CoreDNS for every pod of the namespace (see [`dns_rule`]).
fn allow_dns_spec(right_label: bool, tcp: bool) -> Y {
    map([
        ("podSelector", Y::Map(Vec::new())),
        ("policyTypes", seq([s("Egress")])),
        ("egress", seq([dns_rule(right_label, tcp)])),
    ])
}

/// Egress to `k8s-app: kube-dns` in kube-system on UDP 53 (and TCP 53); with `right_label`
/// false the namespace is selected by a `name` label kube-system does not have.
fn dns_rule(right_label: bool, tcp: bool) -> Y {
    let ns_label = if right_label {
        ("kubernetes.io/metadata.name", "kube-system")
    } else {
        ("name", "kube-system")
    };
    let peer = map([
        ("namespaceSelector", match_labels(&[ns_label])),
        ("podSelector", match_labels(&[("k8s-app", "kube-dns")])),
    ]);
    let mut ports = vec![map([("protocol", s("UDP")), ("port", int(53))])];
    if tcp {
        ports.push(map([("protocol", s("TCP")), ("port", int(53))]));
    }
    map([("to", seq([peer])), ("ports", Y::Seq(ports))])
}

/// Egress to addresses outside the cluster: the internet minus private ranges on 443, or a
/// corporate network minus one subnet on Postgres.
fn internet_rule(rng: &mut Rng) -> Y {
    let (cidr, except, port): (&str, &[&str], u16) = if rng.chance(0.7) {
        ("0.0.0.0/0", &PRIVATE, 443)
    } else {
        ("10.20.0.0/16", &["10.20.5.0/24", "10.20.6.0/24"], 5432)
    };
    let block = map([(
        "ipBlock",
        map([
            ("cidr", s(cidr)),
            ("except", seq(except.iter().map(|e| s(*e)))),
        ]),
    )]);
    map([
        ("to", seq([block])),
        (
            "ports",
            seq([map([("protocol", s("TCP")), ("port", int(port))])]),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// One document of the output.
#[derive(Clone, Copy)]
enum Doc {
    Namespace(usize),
    Deployment(usize),
    Service(usize),
    ConfigMap(usize),
    Policy(usize),
    Pool,
}

impl Doc {
    fn kind(self) -> &'static str {
        match self {
            Doc::Namespace(_) => "Namespace",
            Doc::Deployment(_) => "Deployment",
            Doc::Service(_) => "Service",
            Doc::ConfigMap(_) => "ConfigMap",
            Doc::Policy(_) => "NetworkPolicy",
            Doc::Pool => "IPAddressPool",
        }
    }
}

/// Renders documents; `noise` feeds the random details of verbose objects.
struct Renderer<'w> {
    world: &'w World,
    verbose: bool,
    noise: Rng,
    noise_seed: u64,
}

impl Renderer<'_> {
    fn render(&mut self, doc: Doc) -> Y {
        match doc {
            Doc::Namespace(i) => self.namespace(i),
            Doc::Deployment(i) => self.deployment(i),
            Doc::Service(i) => self.service(i),
            Doc::ConfigMap(i) => self.config_map(i),
            Doc::Policy(i) => self.policy(i),
            Doc::Pool => self.pool(),
        }
    }

    /// `metadata` with name, namespace (when given), labels and annotations (when any).
    fn metadata(
        &self,
        name: &str,
        namespace: Option<&str>,
        labels: &[(String, String)],
        annotations: &[(String, String)],
    ) -> Y {
        let mut meta = map([("name", s(name))]);
        if let Some(ns) = namespace {
            meta.push("namespace", s(ns));
        }
        if !labels.is_empty() {
            meta.push("labels", string_map(labels));
        }
        if !annotations.is_empty() {
            meta.push("annotations", string_map(annotations));
        }
        meta
    }

    /// Helm's standard labels for a release named after `app` in chart `chart` (the chart
    /// version follows from the release name, so all objects of a release agree).
    fn helm_labels(&self, labels: &mut Vec<(String, String)>, app: &str, chart: &str) {
        let mut release = Rng::new(self.noise_seed ^ fnv1a(app.as_bytes()));
        let version = format!(
            "{}.{}.{}",
            release.below(5),
            release.below(20),
            release.below(10)
        );
        for (key, value) in [
            ("helm.sh/chart", format!("{chart}-{version}")),
            ("app.kubernetes.io/name", app.to_string()),
            ("app.kubernetes.io/instance", app.to_string()),
            ("app.kubernetes.io/version", version.clone()),
            ("app.kubernetes.io/managed-by", "Helm".to_string()),
        ] {
            set_pair(labels, key, value);
        }
    }

    /// Helm's release annotations.
    fn helm_annotations(&self, release: &str, ns: &str) -> Vec<(String, String)> {
        vec![
            ("meta.helm.sh/release-name".into(), release.into()),
            ("meta.helm.sh/release-namespace".into(), ns.into()),
        ]
    }

    fn namespace(&mut self, i: usize) -> Y {
        let n = &self.world.namespaces[i];
        let mut labels = n.labels.clone();
        let mut annotations = Vec::new();
        if self.verbose {
            set_pair(
                &mut labels,
                "pod-security.kubernetes.io/enforce",
                "baseline".into(),
            );
            set_pair(
                &mut labels,
                "pod-security.kubernetes.io/warn",
                "restricted".into(),
            );
            set_pair(&mut labels, "app.kubernetes.io/managed-by", "argocd".into());
            annotations.push((
                "argocd.argoproj.io/sync-wave".to_string(),
                "-10".to_string(),
            ));
            annotations.push(("owner".to_string(), format!("{}@example.com", n.team)));
        }
        map([
            ("apiVersion", s("v1")),
            ("kind", s("Namespace")),
            (
                "metadata",
                self.metadata(&n.name, None, &labels, &annotations),
            ),
        ])
    }

    fn deployment(&mut self, i: usize) -> Y {
        let world = self.world;
        let app = &world.apps[i];
        let ns = &world.namespaces[app.ns].name;
        let mut labels = app.labels.clone();
        // Plain objects carry the full label set on the pods only; Helm charts put it on both.
        let mut meta_labels: Vec<(String, String)> = labels
            .iter()
            .filter(|(k, _)| *k == app.selector.0 || k == "team")
            .cloned()
            .collect();
        let mut annotations = Vec::new();
        let verbose = self.verbose && !app.system;
        if verbose {
            self.helm_labels(&mut labels, &app.name, app.component);
            set_pair(
                &mut labels,
                "app.kubernetes.io/component",
                app.component.into(),
            );
            set_pair(&mut labels, "app.kubernetes.io/part-of", ns.clone());
            meta_labels = labels.clone();
            annotations = self.helm_annotations(&app.name, ns);
            annotations.push((
                "deployment.kubernetes.io/revision".into(),
                self.noise.between(1, 40).to_string(),
            ));
        }
        let (key, value) = &app.selector;
        let mut spec = map([
            ("replicas", int(app.replicas)),
            ("selector", match_labels(&[(key, value)])),
        ]);
        if verbose {
            spec.push("revisionHistoryLimit", int(10));
            spec.push("progressDeadlineSeconds", int(600));
            spec.push(
                "strategy",
                map([
                    ("type", s("RollingUpdate")),
                    (
                        "rollingUpdate",
                        map([("maxSurge", s("25%")), ("maxUnavailable", int(0))]),
                    ),
                ]),
            );
        }
        let mut template_meta = map([("labels", string_map(&labels))]);
        if verbose {
            let metrics = app.ports.iter().find(|p| p.name == "metrics");
            let mut pod_annotations = vec![("checksum/config".to_string(), self.noise.hex(64))];
            if let Some(m) = metrics {
                pod_annotations.push(("prometheus.io/scrape".into(), "true".into()));
                pod_annotations.push(("prometheus.io/port".into(), m.port.to_string()));
            }
            pod_annotations.push((
                "kubectl.kubernetes.io/default-container".into(),
                app.name.clone(),
            ));
            template_meta.push("annotations", string_map(&pod_annotations));
        }
        spec.push(
            "template",
            map([
                ("metadata", template_meta),
                ("spec", self.pod_spec(app, verbose)),
            ]),
        );
        map([
            ("apiVersion", s("apps/v1")),
            ("kind", s("Deployment")),
            (
                "metadata",
                self.metadata(&app.name, Some(ns), &meta_labels, &annotations),
            ),
            ("spec", spec),
        ])
    }

    fn pod_spec(&mut self, app: &App, verbose: bool) -> Y {
        let mut spec = Y::Map(Vec::new());
        if app.ns == KUBE_SYSTEM {
            spec.push("priorityClassName", s("system-cluster-critical"));
            spec.push("dnsPolicy", s("Default"));
        }
        if verbose {
            spec.push("automountServiceAccountToken", Y::Bool(false));
            spec.push("terminationGracePeriodSeconds", int(30));
            spec.push(
                "imagePullSecrets",
                seq([map([("name", s("registry-credentials"))])]),
            );
            spec.push(
                "securityContext",
                map([
                    ("runAsNonRoot", Y::Bool(true)),
                    ("runAsUser", int(10001)),
                    ("runAsGroup", int(10001)),
                    ("fsGroup", int(10001)),
                    ("seccompProfile", map([("type", s("RuntimeDefault"))])),
                ]),
            );
        }
        spec.push("containers", seq([self.container(app, verbose)]));
        if verbose {
            let (key, value) = &app.selector;
            let selector = match_labels(&[(key, value)]);
            spec.push(
                "affinity",
                map([(
                    "podAntiAffinity",
                    map([(
                        "preferredDuringSchedulingIgnoredDuringExecution",
                        seq([map([
                            ("weight", int(100)),
                            (
                                "podAffinityTerm",
                                map([
                                    ("labelSelector", selector.clone()),
                                    ("topologyKey", s("kubernetes.io/hostname")),
                                ]),
                            ),
                        ])]),
                    )]),
                )]),
            );
            spec.push(
                "topologySpreadConstraints",
                seq([map([
                    ("maxSkew", int(1)),
                    ("topologyKey", s("topology.kubernetes.io/zone")),
                    ("whenUnsatisfiable", s("ScheduleAnyway")),
                    ("labelSelector", selector),
                ])]),
            );
            spec.push(
                "tolerations",
                seq([map([
                    ("key", s("workload")),
                    ("operator", s("Equal")),
                    ("value", s("general")),
                    ("effect", s("NoSchedule")),
                ])]),
            );
            spec.push(
                "volumes",
                seq([
                    map([("name", s("tmp")), ("emptyDir", Y::Map(Vec::new()))]),
                    map([
                        ("name", s("config")),
                        (
                            "configMap",
                            map([("name", s(format!("{}-config", app.name)))]),
                        ),
                    ]),
                    map([
                        ("name", s("tls")),
                        (
                            "secret",
                            map([("secretName", s(format!("{}-tls", app.name)))]),
                        ),
                    ]),
                ]),
            );
        }
        spec
    }

    fn container(&mut self, app: &App, verbose: bool) -> Y {
        let world = self.world;
        let mut c = map([("name", s(&app.name)), ("image", s(&app.image))]);
        if verbose {
            c.push("imagePullPolicy", s("IfNotPresent"));
        }
        if !app.args.is_empty() {
            c.push("args", seq(app.args.iter().map(s)));
        }
        let ports = app.ports.iter().map(|p| {
            let entry = map([("name", s(&p.name)), ("containerPort", int(p.port))]);
            if p.explicit_protocol {
                entry.with("protocol", s(if p.udp { "UDP" } else { "TCP" }))
            } else {
                entry
            }
        });
        c.push("ports", seq(ports));
        let mut env: Vec<Y> = app.env.iter().map(|e| env_entry(world, e)).collect();
        if verbose {
            env.push(field_ref("POD_NAME", "metadata.name"));
            env.push(field_ref("POD_NAMESPACE", "metadata.namespace"));
            env.push(map([
                ("name", s("OTEL_SERVICE_NAME")),
                ("value", s(&app.name)),
            ]));
        }
        if !env.is_empty() {
            c.push("env", Y::Seq(env));
        }
        if !app.env_from.is_empty() {
            let refs = app.env_from.iter().map(|&cm| {
                map([(
                    "configMapRef",
                    map([("name", s(&world.config_maps[cm].name))]),
                )])
            });
            c.push("envFrom", seq(refs));
        }
        let requests = app.requests.or(verbose.then_some(("100m", "256Mi")));
        if let Some((cpu, memory)) = requests {
            let mut resources = map([("requests", map([("cpu", s(cpu)), ("memory", s(memory))]))]);
            if verbose {
                resources.push("limits", map([("cpu", s("1")), ("memory", s(memory))]));
            }
            c.push("resources", resources);
        }
        if verbose {
            for (key, probe) in probes(app) {
                c.push(key, probe);
            }
        }
        if verbose {
            c.push(
                "securityContext",
                map([
                    ("allowPrivilegeEscalation", Y::Bool(false)),
                    ("readOnlyRootFilesystem", Y::Bool(true)),
                    ("capabilities", map([("drop", seq([s("ALL")]))])),
                ]),
            );
            c.push(
                "volumeMounts",
                seq([
                    map([("name", s("tmp")), ("mountPath", s("/tmp"))]),
                    map([
                        ("name", s("config")),
                        ("mountPath", s("/etc/app")),
                        ("readOnly", Y::Bool(true)),
                    ]),
                    map([
                        ("name", s("tls")),
                        ("mountPath", s("/etc/tls")),
                        ("readOnly", Y::Bool(true)),
                    ]),
                ]),
            );
        }
        c
    }

    fn service(&mut self, i: usize) -> Y {
        let world = self.world;
        let svc = &world.services[i];
        let app = &world.apps[svc.app];
        let ns = &world.namespaces[svc.ns].name;
        let mut labels = vec![app.selector.clone()];
        if let Some(team) = app.labels.iter().find(|(k, _)| k == "team") {
            labels.push(team.clone());
        }
        let mut annotations = Vec::new();
        if let Some(LoadBalancer::MetalLb(ip)) = svc.lb {
            annotations.push(("metallb.universe.tf/loadBalancerIPs".into(), ip.to_string()));
        }
        let verbose = self.verbose && !app.system;
        if verbose {
            self.helm_labels(&mut labels, &app.name, app.component);
            annotations.extend(self.helm_annotations(&app.name, ns));
        }
        let mut spec = Y::Map(Vec::new());
        if svc.lb.is_some() {
            spec.push("type", s("LoadBalancer"));
            spec.push("externalTrafficPolicy", s("Local"));
        }
        let (key, value) = &app.selector;
        spec.push("selector", string_map(&[(key.clone(), value.clone())]));
        spec.push("clusterIP", s(svc.cluster_ip.to_string()));
        if verbose {
            spec.push("clusterIPs", seq([s(svc.cluster_ip.to_string())]));
            spec.push("ipFamilies", seq([s("IPv4")]));
            spec.push("ipFamilyPolicy", s("SingleStack"));
            spec.push("sessionAffinity", s("None"));
            spec.push("internalTrafficPolicy", s("Cluster"));
        }
        spec.push("ports", seq(svc.ports.iter().map(service_port_entry)));
        let mut doc = map([
            ("apiVersion", s("v1")),
            ("kind", s("Service")),
            (
                "metadata",
                self.metadata(&svc.name, Some(ns), &labels, &annotations),
            ),
            ("spec", spec),
        ]);
        if let Some(LoadBalancer::Status(ip)) = svc.lb {
            let ingress = seq([map([("ip", s(ip.to_string()))])]);
            doc.push(
                "status",
                map([("loadBalancer", map([("ingress", ingress)]))]),
            );
        }
        doc
    }

    fn config_map(&mut self, i: usize) -> Y {
        let cm = &self.world.config_maps[i];
        let ns = &self.world.namespaces[cm.ns].name;
        let mut labels = Vec::new();
        if self.verbose && cm.ns != KUBE_SYSTEM {
            self.helm_labels(&mut labels, &cm.name, "shared-config");
        }
        map([
            ("apiVersion", s("v1")),
            ("kind", s("ConfigMap")),
            ("metadata", self.metadata(&cm.name, Some(ns), &labels, &[])),
            ("data", string_map(&cm.data)),
        ])
    }

    fn policy(&mut self, i: usize) -> Y {
        let p = &self.world.policies[i];
        let ns = &self.world.namespaces[p.ns].name;
        let mut labels = Vec::new();
        let mut annotations = Vec::new();
        if self.verbose {
            let owner = p
                .app
                .map_or("network-policies", |a| self.world.apps[a].name.as_str());
            self.helm_labels(&mut labels, owner, "network-policies");
            annotations = self.helm_annotations(owner, ns);
            annotations.push(("policy.example.com/reviewed-by".into(), "secops".into()));
        }
        map([
            ("apiVersion", s("networking.k8s.io/v1")),
            ("kind", s("NetworkPolicy")),
            (
                "metadata",
                self.metadata(&p.name, Some(ns), &labels, &annotations),
            ),
            ("spec", p.spec.clone()),
        ])
    }

    fn pool(&mut self) -> Y {
        let addresses = POOL_RANGES.iter().map(|(text, _, _)| s(*text));
        map([
            ("apiVersion", s("metallb.io/v1beta1")),
            ("kind", s("IPAddressPool")),
            (
                "metadata",
                self.metadata("lab-pool", Some("metallb-system"), &[], &[]),
            ),
            (
                "spec",
                map([("addresses", seq(addresses)), ("autoAssign", Y::Bool(true))]),
            ),
        ])
    }
}

/// Sets `key` in a label list, replacing an existing value (YAML keys must not repeat).
fn set_pair(pairs: &mut Vec<(String, String)>, key: &str, value: String) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key.to_string(), value)),
    }
}

fn env_entry(world: &World, e: &EnvVar) -> Y {
    match &e.value {
        EnvValue::Literal(value) => map([("name", s(&e.name)), ("value", s(value))]),
        EnvValue::ConfigMapKey { config_map, key } => map([
            ("name", s(&e.name)),
            (
                "valueFrom",
                map([(
                    "configMapKeyRef",
                    map([
                        ("name", s(&world.config_maps[*config_map].name)),
                        ("key", s(key)),
                    ]),
                )]),
            ),
        ]),
    }
}

fn field_ref(name: &str, path: &str) -> Y {
    map([
        ("name", s(name)),
        (
            "valueFrom",
            map([("fieldRef", map([("fieldPath", s(path))]))]),
        ),
    ])
}

/// Readiness, liveness and startup probes on the `http` port, else a TCP liveness probe.
fn probes(app: &App) -> Vec<(&'static str, Y)> {
    if let Some(http) = app.ports.iter().find(|p| p.name == "http") {
        vec![
            ("readinessProbe", http_probe("/ready", &http.name, 10)),
            ("livenessProbe", http_probe("/healthz", &http.name, 20)),
            ("startupProbe", http_probe("/healthz", &http.name, 5)),
        ]
    } else if let Some(tcp) = app.ports.iter().find(|p| !p.udp) {
        let probe = map([
            ("tcpSocket", map([("port", s(&tcp.name))])),
            ("periodSeconds", int(15)),
        ]);
        vec![("livenessProbe", probe)]
    } else {
        Vec::new()
    }
}

fn http_probe(path: &str, port: &str, period: i64) -> Y {
    map([
        ("httpGet", map([("path", s(path)), ("port", s(port))])),
        ("periodSeconds", int(period)),
    ])
}

fn service_port_entry(p: &ServicePort) -> Y {
    let mut entry = map([("name", s(&p.name)), ("port", int(p.port))]);
    match &p.target {
        TargetPort::Same => {}
        TargetPort::Number(n) => entry.push("targetPort", int(*n)),
        TargetPort::Name(name) => entry.push("targetPort", s(name)),
    }
    if p.explicit_protocol {
        entry.push("protocol", s(if p.udp { "UDP" } else { "TCP" }));
    }
    entry
}

// ---------------------------------------------------------------------------------------------
// Layout and output

/// A file to write and its documents, in order.
struct FilePlan {
    path: PathBuf,
    docs: Vec<Doc>,
}

/// Files per namespace: `namespace.yaml`, `configmaps.yaml`, one file per app (Deployment,
/// its Services, its policies), `networkpolicies.yaml`; or all of it in `all.yaml`.
fn plan_files(world: &World, layout: Layout) -> Vec<FilePlan> {
    let mut app_policies: Vec<Vec<usize>> = vec![Vec::new(); world.apps.len()];
    let mut ns_policies: Vec<Vec<usize>> = vec![Vec::new(); world.namespaces.len()];
    for (i, p) in world.policies.iter().enumerate() {
        match p.app {
            Some(app) => app_policies[app].push(i),
            None => ns_policies[p.ns].push(i),
        }
    }
    let mut files = Vec::new();
    for (i, ns) in world.namespaces.iter().enumerate() {
        let dir = PathBuf::from(&ns.name);
        if ns.declared {
            files.push(FilePlan {
                path: dir.join("namespace.yaml"),
                docs: vec![Doc::Namespace(i)],
            });
        }
        if i == METALLB_SYSTEM {
            files.push(FilePlan {
                path: dir.join("ipaddresspool.yaml"),
                docs: vec![Doc::Pool],
            });
        }
        if !ns.config_maps.is_empty() {
            files.push(FilePlan {
                path: dir.join("configmaps.yaml"),
                docs: ns.config_maps.iter().map(|&c| Doc::ConfigMap(c)).collect(),
            });
        }
        for &app in &ns.apps {
            let mut docs = vec![Doc::Deployment(app)];
            docs.extend(world.apps[app].services.iter().map(|&s| Doc::Service(s)));
            docs.extend(app_policies[app].iter().map(|&p| Doc::Policy(p)));
            files.push(FilePlan {
                path: dir.join(format!("{}.yaml", world.apps[app].name)),
                docs,
            });
        }
        if !ns_policies[i].is_empty() {
            files.push(FilePlan {
                path: dir.join("networkpolicies.yaml"),
                docs: ns_policies[i].iter().map(|&p| Doc::Policy(p)).collect(),
            });
        }
    }
    match layout {
        Layout::Many => files,
        Layout::One => vec![FilePlan {
            path: PathBuf::from("all.yaml"),
            docs: files.into_iter().flat_map(|f| f.docs).collect(),
        }],
    }
}

/// What was written.
#[derive(Default)]
struct Stats {
    files: usize,
    bytes: u64,
    kinds: BTreeMap<&'static str, usize>,
}

/// Renders and writes every file (documents separated by `---`, a header comment on top).
fn write_files(world: &World, files: &[FilePlan], opts: &Options) -> Result<Stats, String> {
    let noise_seed = opts.seed ^ 0x6E6F_6973_655F_5F5F;
    let mut renderer = Renderer {
        world,
        verbose: opts.verbose,
        noise: Rng::new(noise_seed),
        noise_seed,
    };
    let header = format!(
        "# generated by examples/gen.rs (seed {}, scale {}{})\n",
        world.seed,
        world.scale,
        if opts.verbose { ", verbose" } else { "" }
    );
    let mut stats = Stats::default();
    let mut text = String::new();
    for file in files {
        let path = opts.out.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
        let mut out = BufWriter::new(File::create(&path).map_err(fail)?);
        text.clear();
        text.push_str(&header);
        for (i, &doc) in file.docs.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            emit_document(&mut text, &renderer.render(doc));
            *stats.kinds.entry(doc.kind()).or_default() += 1;
            if text.len() > 1 << 20 {
                out.write_all(text.as_bytes()).map_err(fail)?;
                stats.bytes += text.len() as u64;
                text.clear();
            }
        }
        out.write_all(text.as_bytes()).map_err(fail)?;
        out.flush().map_err(fail)?;
        stats.bytes += text.len() as u64;
        stats.files += 1;
    }
    Ok(stats)
}

/// Files, objects by kind, bytes and time, on stderr.
fn print_summary(opts: &Options, stats: &Stats, elapsed: Duration) {
    let objects: usize = stats.kinds.values().sum();
    eprintln!(
        "gen: wrote {} files, {} objects, {} bytes ({:.2} MB) to {} in {:.2}s",
        stats.files,
        objects,
        stats.bytes,
        stats.bytes as f64 / 1e6,
        opts.out.display(),
        elapsed.as_secs_f64()
    );
    for (kind, count) in &stats.kinds {
        eprintln!("  {kind:<14} {count:>8}");
    }
}
