//! Pod templates of every workload kind (core controllers, bare Pods, Argo templates) → [`Workload`].

use super::fields::{Fields, Result};
use crate::diag::Diagnostic;
use crate::model::{
    Container, ContainerPort, EnvFrom, EnvSource, EnvVar, Labels, Meta, Name, ObjectId, Spanned,
    Workload,
};
use crate::net::Protocol;
use crate::yaml::{Node, Value};

/// Kinds whose pods come from `spec.template`.
const TEMPLATE_KINDS: [&str; 6] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
];

const ARGO_KINDS: [&str; 4] = [
    "Workflow",
    "WorkflowTemplate",
    "CronWorkflow",
    "ClusterWorkflowTemplate",
];

pub fn is_argo_kind(kind: &str) -> bool {
    ARGO_KINDS.contains(&kind)
}

fn is_workload_kind(kind: &str) -> bool {
    kind == "Pod"
        || kind == "CronJob"
        || TEMPLATE_KINDS.contains(&kind)
        || ARGO_KINDS.contains(&kind)
}

/// Whether objects of `kind` in API `group` run pods we read. Versions are not told apart: the
/// old ones found in old repositories and exports (`extensions/v1beta1` Deployment, DaemonSet
/// and ReplicaSet; `apps/v1beta1` and `apps/v1beta2`; `batch/v1beta1` and `batch/v2alpha1`
/// CronJob) keep the pod template where `v1` keeps it. A Deployment of `extensions/v1beta1` or
/// `apps/v1beta1` without `spec.selector` got one from the template's labels; that changes no
/// pod label, and selectors are not read here.
pub fn is_workload(group: &str, kind: &str) -> bool {
    match group {
        "" | "apps" | "batch" | "argoproj.io" => is_workload_kind(kind),
        "extensions" => matches!(kind, "Deployment" | "DaemonSet" | "ReplicaSet"),
        _ => false,
    }
}

/// A workload and the controller that owns it, when the object says so.
#[derive(Debug)]
pub struct Owned {
    pub workload: Workload,
    pub owner: Option<ObjectId>,
}

/// Every pod template of one object (Argo objects have one per template that runs a pod);
/// problems that leave the object in the analysis go to `notes`.
pub fn workloads(f: Fields, kind: &str, notes: &mut Vec<Diagnostic>) -> Result<Vec<Owned>> {
    let root = &f.object.node;
    if ARGO_KINDS.contains(&kind) {
        let meta = f.meta(kind, kind != "ClusterWorkflowTemplate")?;
        let spec = match kind {
            "CronWorkflow" => f.path(root, &["spec", "workflowSpec"]),
            _ => f.get(root, "spec"),
        };
        return match spec {
            Some(spec) => argo_templates(f, meta, spec),
            None => Ok(Vec::new()),
        };
    }
    let meta = f.meta(kind, true)?;
    let template = match kind {
        "Pod" => Some(root),
        "CronJob" => f.path(root, &["spec", "jobTemplate", "spec", "template"]),
        _ => f.path(root, &["spec", "template"]),
    };
    let Some(template) = template else {
        return Err(f.error(root, format!("{kind} without a pod template")));
    };
    let labels = match f.get(template, "metadata") {
        Some(m) => f.opt_labels(m, "labels")?,
        None => Labels::new(),
    };
    let spec = f.get(template, "spec").unwrap_or(template);
    let mut workload = Workload {
        meta,
        labels,
        ports: Vec::new(),
        containers: Vec::new(),
        service_account: service_account(f, spec)?.unwrap_or_else(|| "default".into()),
        automount_token: f.opt_bool(spec, "automountServiceAccountToken")?,
        host_network: f.opt_bool(spec, "hostNetwork")?.unwrap_or(false),
    };
    for key in ["initContainers", "containers"] {
        if let Some(list) = f.get(spec, key) {
            for c in f.seq(list, key)? {
                add_container(f, c, key, &mut workload)?;
            }
        }
    }
    // Vectors grown by pushes keep room for four or more; a large tree keeps every workload.
    workload.ports.shrink_to_fit();
    workload.containers.shrink_to_fit();
    Ok(vec![Owned {
        owner: controller_owner(f, kind, &workload.meta.id.namespace, notes)?,
        workload,
    }])
}

fn service_account(f: Fields, spec: &Node) -> Result<Option<Name>> {
    match f.opt_string(spec, "serviceAccountName")? {
        Some(sa) => Ok(Some(sa)),
        None => f.opt_string(spec, "serviceAccount"),
    }
}

/// The `ownerReferences` entry with `controller: true`. An entry the API server would reject
/// (one without `apiVersion`, `kind`, `name` or `uid`) is an error in `notes`, and the object is
/// then analysed as itself, owned by nothing.
fn controller_owner(
    f: Fields,
    kind: &str,
    namespace: &str,
    notes: &mut Vec<Diagnostic>,
) -> Result<Option<ObjectId>> {
    let Some(refs) = f.path(&f.object.node, &["metadata", "ownerReferences"]) else {
        return Ok(None);
    };
    let mut owner = None;
    let mut valid = true;
    for r in f.seq(refs, "ownerReferences")? {
        f.map(r, "ownerReferences")?;
        let api_version = f.opt_string(r, "apiVersion")?.unwrap_or_default();
        let owner_kind = f.opt_string(r, "kind")?.unwrap_or_default();
        let name = f.opt_string(r, "name")?.unwrap_or_default();
        let uid = f.opt_string(r, "uid")?.unwrap_or_default();
        let controller = f.opt_bool(r, "controller")? == Some(true);
        // `group/version` or `version`: anything else has no version to the API server.
        let version = match api_version.split_once('/') {
            Some((_, v)) if !v.contains('/') => v,
            Some(_) => "",
            None => &api_version,
        };
        let missing: Vec<&str> = [
            ("`apiVersion`", version.is_empty()),
            ("`kind`", owner_kind.is_empty()),
            ("`name`", name.is_empty()),
            ("`uid`", uid.is_empty()),
        ]
        .into_iter()
        .filter_map(|(field, missing)| missing.then_some(field))
        .collect();
        if !missing.is_empty() {
            valid = false;
            notes.push(
                f.error(
                    r,
                    format!(
                        "ownerReference without {}: the API server would reject this {kind}",
                        missing.join(", ")
                    ),
                )
                .with_help(format!(
                    "give the reference the owner's `apiVersion`, `kind`, `name` and `uid`, or remove it; until then the {kind} is analysed as itself"
                )),
            );
            continue;
        }
        // Static (mirror) pods are "owned" by their Node, which runs no pod template.
        if owner.is_none() && controller && owner_kind != "Node" {
            owner = Some(ObjectId {
                namespace: namespace.into(),
                kind: owner_kind,
                name,
            });
        }
    }
    Ok(owner.filter(|_| valid))
}

fn add_container(f: Fields, c: &Node, list: &'static str, w: &mut Workload) -> Result<()> {
    f.map(c, "containers")?;
    if let Some(ports) = f.get(c, "ports") {
        for p in f.seq(ports, "ports")? {
            let port = match f.get(p, "containerPort") {
                Some(n) => f.port(n, "containerPort")?,
                None => return Err(f.error(p, "container port without `containerPort`")),
            };
            let protocol = match f.get(p, "protocol") {
                Some(n) => {
                    let name = f.string(n, "protocol")?;
                    Protocol::parse(&name).ok_or_else(|| {
                        f.error(
                            n,
                            format!("unknown protocol `{name}`: use TCP, UDP or SCTP"),
                        )
                    })?
                }
                None => Protocol::Tcp,
            };
            w.ports.push(ContainerPort {
                name: f.opt_string(p, "name")?,
                port,
                protocol,
            });
        }
    }
    let mut container = Container {
        name: f.opt_string(c, "name")?.unwrap_or_default(),
        image: f.opt_string(c, "image")?.unwrap_or_default(),
        list,
        // Fields are read in this order, which is the order their errors are reported in.
        command: strings(f, c, "command")?,
        args: strings(f, c, "args")?,
        env: f.opt_list(c, "env", |e| env_var(f, e))?,
        env_from: Vec::new(),
    };
    if let Some(env_from) = f.get(c, "envFrom") {
        for e in f.seq(env_from, "envFrom")? {
            if let Some(cm) = f.get(e, "configMapRef") {
                container.env_from.push(EnvFrom {
                    config_map: f.opt_string(cm, "name")?.unwrap_or_default(),
                    prefix: f.opt_string(e, "prefix")?.unwrap_or_default(),
                });
            }
        }
    }
    container.env_from.shrink_to_fit();
    w.containers.push(container);
    Ok(())
}

fn strings(f: Fields, c: &Node, key: &str) -> Result<Vec<crate::model::Spanned<Name>>> {
    f.opt_list(c, key, |n| f.spanned_string(n, key))
}

fn env_var(f: Fields, e: &Node) -> Result<EnvVar> {
    let name = match f.get(e, "name") {
        Some(n) => f.string(n, "env name")?,
        None => return Err(f.error(e, "env entry without `name`")),
    };
    let source = if let Some(v) = f.get(e, "value") {
        EnvSource::Value(f.spanned_string(v, "env value")?)
    } else if let Some(r) = f.path(e, &["valueFrom", "configMapKeyRef"]) {
        EnvSource::ConfigMapKey {
            config_map: f.opt_string(r, "name")?.unwrap_or_default(),
            key: f.opt_string(r, "key")?.unwrap_or_default(),
        }
    } else {
        EnvSource::Other
    };
    Ok(EnvVar {
        name,
        source,
        loc: f.at(e),
    })
}

/// The env values an Argo `podSpecPatch` (a YAML or JSON pod spec in a string) gives the
/// template's containers. The patch is parsed on its own, so each value is located at the whole
/// patch, which holds it as written.
fn patched_env(f: Fields, patch: &Node, workload: &mut Workload) {
    let Some(text) = patch.as_scalar() else {
        return;
    };
    let loc = f.at(patch);
    let Some(Ok(root)) = crate::yaml::parse_stream(&text.text, crate::yaml::Limits::default())
        .into_iter()
        .next()
    else {
        return;
    };
    let Some(Value::Seq(containers)) = root.get("containers").map(|n| &n.value) else {
        return;
    };
    for c in containers {
        let name = Name::from(c.get("name").and_then(Node::as_str).unwrap_or("main"));
        let Some(Value::Seq(env)) = c.get("env").map(|n| &n.value) else {
            continue;
        };
        let vars = env.iter().filter_map(|e| {
            Some(EnvVar {
                name: Name::from(e.get("name")?.as_str()?),
                source: EnvSource::Value(Spanned {
                    value: Name::from(e.get("value")?.as_str()?),
                    loc,
                }),
                loc,
            })
        });
        match workload.containers.iter_mut().find(|k| k.name == name) {
            Some(container) => container.env.extend(vars),
            None => {
                let env = vars.collect();
                workload.containers.push(Container {
                    name,
                    image: Name::default(),
                    list: "",
                    env,
                    env_from: Vec::new(),
                    command: Vec::new(),
                    args: Vec::new(),
                });
            }
        }
    }
}

/// Argo: every template that runs a pod becomes a workload `<object>:<template>`.
fn argo_templates(f: Fields, meta: Meta, spec: &Node) -> Result<Vec<Owned>> {
    let pod_labels = match f.get(spec, "podMetadata") {
        Some(m) => f.opt_labels(m, "labels")?,
        None => Labels::new(),
    };
    let Some(templates) = f.get(spec, "templates") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for t in f.seq(templates, "templates")? {
        let runs_pod = ["container", "script", "containerSet", "resource"]
            .iter()
            .any(|k| f.get(t, k).is_some());
        if !runs_pod {
            continue;
        }
        let template_name = f.opt_string(t, "name")?.unwrap_or_default();
        let mut labels = pod_labels.clone();
        if let Some(m) = f.get(t, "metadata") {
            labels.extend(f.opt_labels(m, "labels")?);
        }
        let mut meta = meta.clone();
        meta.id.name = Name::from(&format!("{}:{template_name}", meta.id.name));
        let mut workload = Workload {
            meta,
            labels,
            ports: Vec::new(),
            containers: Vec::new(),
            service_account: match service_account(f, t)? {
                Some(sa) => sa,
                None => service_account(f, spec)?.unwrap_or_else(|| "default".into()),
            },
            automount_token: match f.opt_bool(t, "automountServiceAccountToken")? {
                Some(b) => Some(b),
                None => f.opt_bool(spec, "automountServiceAccountToken")?,
            },
            host_network: f.opt_bool(spec, "hostNetwork")?.unwrap_or(false),
        };
        for key in ["container", "script"] {
            if let Some(c) = f.get(t, key) {
                add_container(f, c, "", &mut workload)?;
            }
        }
        for key in ["initContainers", "sidecars"] {
            if let Some(list) = f.get(t, key) {
                for c in f.seq(list, key)? {
                    add_container(f, c, "", &mut workload)?;
                }
            }
        }
        if let Some(list) = f.path(t, &["containerSet", "containers"]) {
            for c in f.seq(list, "containers")? {
                add_container(f, c, "", &mut workload)?;
            }
        }
        for patch in [f.get(spec, "podSpecPatch"), f.get(t, "podSpecPatch")]
            .into_iter()
            .flatten()
        {
            patched_env(f, patch, &mut workload);
        }
        out.push(Owned {
            workload,
            owner: None,
        });
    }
    Ok(out)
}
