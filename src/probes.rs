//! `probes`: for every flow the manifests require, a Kubernetes Job that tests it from inside
//! the cluster once policies are enforced — in the client's namespace, with its pod labels and
//! service account, so the same policies apply — and a script that applies them, waits, and
//! prints expected against actual. DNS is a name lookup, a Service a TCP connect to its name
//! and port, the API server a request to `/healthz`.
//!
//! Probe pods never become Ready (their readiness check fails), so a Service selecting the
//! client's labels never sends them traffic.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::check::CheckRun;
use crate::fix::yaml_out::{Style, Y, emit};
use crate::model::{Labels, Name};

/// Images and commands of the probes (`netpol-fix probes` options); `{host}` and `{port}` are
/// filled in.
#[derive(Clone, Debug, clap::Args)]
pub struct ProbeOptions {
    /// Image of the DNS and TCP probes.
    #[arg(long, default_value = "busybox:1.36")]
    pub image: String,
    /// Image of the API server probe.
    #[arg(long, default_value = "curlimages/curl:8.11.1")]
    pub http_image: String,
    /// DNS probe command (`{host}` is filled in).
    #[arg(long, default_value = "nslookup {host}")]
    pub dns_command: String,
    /// TCP probe command (`{host}` and `{port}` are filled in).
    #[arg(long, default_value = "nc -z -w 5 {host} {port}")]
    pub tcp_command: String,
    /// API server probe command (`{host}` is filled in).
    #[arg(
        long,
        default_value = "curl -sk --max-time 5 -o /dev/null https://{host}/healthz"
    )]
    pub api_command: String,
}

/// One probe: a Job testing one flow.
struct Probe {
    namespace: Name,
    name: String,
    flow: String,
    expect: &'static str,
    labels: Labels,
    service_account: Name,
    image: String,
    command: String,
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "blocked" }
}

/// A DNS-1123 name: lower case, `-` for anything else, at most 63 characters.
fn job_name(n: usize, parts: &[&str]) -> String {
    let raw = format!("probe-{n}-{}", parts.join("-")).to_ascii_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

fn probes(run: &CheckRun, options: &ProbeOptions) -> Vec<Probe> {
    let world = &run.analysis.world;
    let domain = &run.config.cluster_domain;
    let api_blocked: std::collections::HashSet<&crate::model::ObjectId> = run
        .findings
        .iter()
        .filter(|f| f.rule == "missing-apiserver-egress")
        .map(|f| &f.object)
        .collect();
    let fill = |template: &str, host: &str, port: u16| {
        template
            .replace("{host}", host)
            .replace("{port}", &port.to_string())
    };
    let mut out: Vec<Probe> = Vec::new();
    let mut push = |w: usize, what: &str, flow: String, allowed: bool, image: &str, command| {
        let workload = &world.workloads[w];
        out.push(Probe {
            namespace: workload.meta.id.namespace,
            name: job_name(out.len() + 1, &[&workload.meta.id.name, what]),
            flow,
            expect: verdict(allowed),
            labels: workload.labels.clone(),
            service_account: workload.service_account,
            image: image.to_string(),
            command,
        });
    };
    let api_host = format!("kubernetes.default.svc.{domain}");
    for (w, workload) in world.workloads.iter().enumerate() {
        if workload.host_network {
            continue;
        }
        push(
            w,
            "dns",
            format!("{} -> DNS", workload.meta.id),
            run.recorded.dns_resolves[w],
            &options.image,
            fill(&options.dns_command, &api_host, 53),
        );
        if run.recorded.uses_api[w] {
            push(
                w,
                "api",
                format!("{} -> API server", workload.meta.id),
                !api_blocked.contains(&workload.meta.id),
                &options.http_image,
                fill(&options.api_command, &api_host, 443),
            );
        }
    }
    // One probe per client and Service port: a connection reaches one of the Service's pods,
    // so it is expected to work when every one of them admits it.
    let mut by_service: BTreeMap<(usize, usize, u16), bool> = BTreeMap::new();
    for r in &run.recorded.flows {
        *by_service
            .entry((r.client, r.service, r.service_port))
            .or_insert(true) &= r.allowed;
    }
    for ((client, service, port), allowed) in by_service {
        let id = &world.services[service].meta.id;
        let host = format!("{}.{}.svc.{domain}", id.name, id.namespace);
        push(
            client,
            &id.name,
            format!(
                "{} -> Service {}/{} port {port}",
                world.workloads[client].meta.id, id.namespace, id.name
            ),
            allowed,
            &options.image,
            fill(&options.tcp_command, &host, port),
        );
    }
    out
}

fn job(p: &Probe) -> Y {
    let mut pod_labels: Vec<(Name, Y)> = p.labels.iter().map(|(k, v)| (*k, Y::Str(*v))).collect();
    pod_labels.push(("netpol-fix.io/probe".into(), Y::Str("true".into())));
    let str = |s: &str| Y::Str(s.into());
    Y::Map(vec![
        ("apiVersion".into(), str("batch/v1")),
        ("kind".into(), str("Job")),
        (
            "metadata".into(),
            Y::Map(vec![
                ("name".into(), str(&p.name)),
                ("namespace".into(), Y::Str(p.namespace)),
                (
                    "labels".into(),
                    Y::Map(vec![("netpol-fix.io/probe".into(), str("true"))]),
                ),
                (
                    "annotations".into(),
                    Y::Map(vec![
                        ("netpol-fix.io/flow".into(), str(&p.flow)),
                        ("netpol-fix.io/expect".into(), str(p.expect)),
                    ]),
                ),
            ]),
        ),
        (
            "spec".into(),
            Y::Map(vec![
                ("backoffLimit".into(), Y::Raw("0".into())),
                ("activeDeadlineSeconds".into(), Y::Raw("60".into())),
                (
                    "template".into(),
                    Y::Map(vec![
                        (
                            "metadata".into(),
                            Y::Map(vec![("labels".into(), Y::Map(pod_labels))]),
                        ),
                        (
                            "spec".into(),
                            Y::Map(vec![
                                ("restartPolicy".into(), str("Never")),
                                ("serviceAccountName".into(), Y::Str(p.service_account)),
                                (
                                    "containers".into(),
                                    Y::Seq(vec![Y::Map(vec![
                                        ("name".into(), str("probe")),
                                        ("image".into(), str(&p.image)),
                                        (
                                            "command".into(),
                                            Y::Seq(vec![str("sh"), str("-c"), str(&p.command)]),
                                        ),
                                        (
                                            "readinessProbe".into(),
                                            Y::Map(vec![(
                                                "exec".into(),
                                                Y::Map(vec![(
                                                    "command".into(),
                                                    Y::Seq(vec![str("false")]),
                                                )]),
                                            )]),
                                        ),
                                    ])]),
                                ),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

const SCRIPT: &str = r#"#!/bin/sh
# Applies the probe Jobs netpol-fix wrote next to this script, waits for each, and prints the
# expected verdict against what happened. Exit 1 when any probe disagrees. KEEP=1 keeps the Jobs.
set -u
cd "$(dirname "$0")"
kubectl apply -f jobs/ >/dev/null || exit 2
failures=0
printf '%-8s %-8s %-8s %s\n' RESULT EXPECT ACTUAL FLOW
while IFS='	' read -r ns job expect flow; do
  actual=timeout
  for _ in $(seq 1 90); do
    status=$(kubectl -n "$ns" get job "$job" -o jsonpath='{.status.succeeded}/{.status.failed}' 2>/dev/null)
    case "$status" in
      1/*) actual=allowed; break ;;
      */1) actual=blocked; break ;;
    esac
    sleep 1
  done
  if [ "$actual" = "$expect" ]; then result=PASS; else result=FAIL; failures=$((failures + 1)); fi
  printf '%-8s %-8s %-8s %s\n' "$result" "$expect" "$actual" "$flow"
  [ "${KEEP:-0}" = 1 ] || kubectl -n "$ns" delete job "$job" --wait=false >/dev/null 2>&1
done < probes.tsv
[ "$failures" -eq 0 ]
"#;

/// Writes `jobs/<namespace>--<job>.yaml`, `probes.tsv` and `run-probes.sh` into `dir`;
/// returns how many probes.
pub fn write(run: &CheckRun, dir: &Path, options: &ProbeOptions) -> io::Result<usize> {
    let probes = probes(run, options);
    let mut out = crate::outdir::OutDir::open(dir)?;
    let style = Style {
        indent_sequences: false,
        crlf: false,
    };
    let mut table = String::new();
    for p in &probes {
        let file = format!(
            "jobs/{}--{}.yaml",
            crate::outdir::name_part(&p.namespace),
            crate::outdir::name_part(&p.name)
        );
        out.write(&file, emit(&job(p), style).as_bytes(), None)?;
        table.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            p.namespace, p.name, p.expect, p.flow
        ));
    }
    out.write("probes.tsv", table.as_bytes(), None)?;
    out.write("run-probes.sh", SCRIPT.as_bytes(), Some(0o755))?;
    Ok(probes.len())
}
