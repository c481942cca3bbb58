//! The model as Kubernetes defines it: pod templates per kind, owners, namespaces, services.

use std::net::IpAddr;

use netpol_fix::analysis::{Analysis, analyze};
use netpol_fix::diag::Severity;
use netpol_fix::load::{Input, LoadOptions};
use netpol_fix::model::{EnvSource, TargetPort};
use netpol_fix::net::Protocol;

fn world(yaml: &str) -> Analysis {
    analyze(
        &[Input::Text {
            name: "test.yaml".into(),
            text: yaml.into(),
        }],
        LoadOptions::default(),
    )
}

fn ids(a: &Analysis) -> Vec<String> {
    let mut v: Vec<String> = a
        .world
        .workloads
        .iter()
        .map(|w| w.meta.id.to_string())
        .collect();
    v.sort();
    v
}

fn errors(a: &Analysis) -> Vec<String> {
    a.errors()
        .map(|d| format!("{} {}", a.sources.position(d.loc), d.message))
        .collect()
}

#[test]
fn owned_pods_collapse_into_the_top_most_owner_in_the_input() {
    let a = world(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-7d9c
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, controller: true, uid: u1}]
spec: {template: {metadata: {labels: {app: web, pod-template-hash: 7d9c}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9c-abcde
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9c}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9c, controller: true, uid: u2}]
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-5f-x1
  namespace: shop
  labels: {app: api}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-5f, controller: true, uid: u3}]
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-5f-x2
  namespace: shop
  labels: {app: api}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-5f, controller: true, uid: u4}]
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {run: debug}}
spec: {containers: [{name: c}]}
"#,
    );
    assert_eq!(
        ids(&a),
        [
            "shop/Deployment/web",
            "shop/Pod/debug",
            "shop/ReplicaSet/api-5f"
        ]
    );
    let web = a
        .world
        .workloads
        .iter()
        .find(|w| w.meta.id.name == "web")
        .unwrap();
    assert_eq!(web.labels.get("app").map(|v| v.as_str()), Some("web"));
    assert!(!web.labels.contains_key("pod-template-hash"));
}

#[test]
fn pod_templates_of_every_kind_and_never_controller_labels() {
    let a = world(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, labels: {app: wrong}}
spec:
  jobTemplate:
    metadata: {labels: {app: wrong-too}}
    spec: {template: {metadata: {labels: {app: report}}, spec: {containers: [{name: c}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops, labels: {app: wrong}}
spec: {template: {metadata: {labels: {app: agent}}, spec: {hostNetwork: true, containers: [{name: c, ports: [{name: metrics, containerPort: 9100}, {name: dns, containerPort: 53, protocol: UDP}]}]}}}
"#,
    );
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
    assert_eq!(ids(&a), ["default/CronJob/report", "ops/DaemonSet/agent"]);
    let report = &a
        .world
        .workloads
        .iter()
        .find(|w| w.meta.id.name == "report")
        .unwrap();
    assert_eq!(report.labels.get("app").unwrap(), "report");
    let agent = a
        .world
        .workloads
        .iter()
        .find(|w| w.meta.id.name == "agent")
        .unwrap();
    assert!(agent.host_network);
    assert_eq!(agent.ports.len(), 2);
    assert_eq!(agent.ports[1].protocol, Protocol::Udp);
    assert_eq!(agent.ports[1].name.as_deref(), Some("dns"));
}

/// API versions Kubernetes served before `apps/v1`, `batch/v1` and `networking.k8s.io/v1` have
/// the same pod templates and policy spec, and are analysed alike: old repositories and
/// exports still hold them.
#[test]
fn old_api_versions_are_analysed_as_the_current_ones() {
    let template = "{template: {metadata: {labels: {app: NAME}}, spec: {containers: [{name: c}]}}}";
    let mut yaml = String::new();
    for (api, kind, name) in [
        ("extensions/v1beta1", "Deployment", "ext-deploy"),
        ("extensions/v1beta1", "DaemonSet", "ext-ds"),
        ("extensions/v1beta1", "ReplicaSet", "ext-rs"),
        ("apps/v1beta1", "Deployment", "b1-deploy"),
        ("apps/v1beta1", "StatefulSet", "b1-sts"),
        ("apps/v1beta2", "DaemonSet", "b2-ds"),
        ("apps/v1beta2", "ReplicaSet", "b2-rs"),
    ] {
        // No `spec.selector`: `extensions/v1beta1` and `apps/v1beta1` defaulted it from the
        // template's labels, and the model reads pod labels from the template anyway.
        let spec = template.replace("NAME", name);
        yaml += &format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: old}}\nspec: {spec}\n---\n"
        );
    }
    for (api, name) in [("batch/v1beta1", "b1-cron"), ("batch/v2alpha1", "a1-cron")] {
        let spec = template.replace("NAME", name);
        yaml += &format!(
            "apiVersion: {api}\nkind: CronJob\nmetadata: {{name: {name}, namespace: old}}\nspec: {{schedule: '@daily', jobTemplate: {{spec: {spec}}}}}\n---\n"
        );
    }
    yaml += r#"apiVersion: extensions/v1beta1
kind: NetworkPolicy
metadata: {name: deny, namespace: old}
spec:
  podSelector: {matchLabels: {app: ext-deploy}}
  ingress: [{from: [{podSelector: {matchLabels: {app: b1-sts}}}], ports: [{port: 80}]}]
"#;
    let a = world(&yaml);
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics);
    assert_eq!(
        ids(&a),
        [
            "old/CronJob/a1-cron",
            "old/CronJob/b1-cron",
            "old/DaemonSet/b2-ds",
            "old/DaemonSet/ext-ds",
            "old/Deployment/b1-deploy",
            "old/Deployment/ext-deploy",
            "old/ReplicaSet/b2-rs",
            "old/ReplicaSet/ext-rs",
            "old/StatefulSet/b1-sts",
        ]
    );
    for w in &a.world.workloads {
        assert_eq!(w.labels.get("app").unwrap(), w.meta.id.name.as_str());
    }
    let policies: Vec<String> = a
        .world
        .policies
        .iter()
        .map(|p| p.meta.id.to_string())
        .collect();
    assert_eq!(policies, ["old/NetworkPolicy/deny"]);
}

/// A network policy of an API group the tool does not model (Cilium, Antrea, the
/// AdminNetworkPolicy API) filters traffic all the same: it is a notice that the object was
/// not analysed, never silence. Other kinds of those groups, and unknown workload-shaped
/// resources, stay quiet.
#[test]
fn network_policies_of_other_api_groups_are_noticed_as_not_analysed() {
    let a = world(
        r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: shop}
spec: {endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels: {app: api}}]}]}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: host}
spec: {nodeSelector: {}, ingress: [{fromEntities: [cluster]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: tenants}
spec: {priority: 10, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec: {subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: isolate}
spec: {priority: 5, appliedTo: [{podSelector: {}}], ingress: [{action: Drop, from: [{namespaceSelector: {}}]}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: antrea-np, namespace: shop}
spec: {priority: 5, appliedTo: [{podSelector: {}}], ingress: [{action: Allow}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh, namespace: shop}
spec: {action: ALLOW}
---
apiVersion: cilium.io/v2
kind: CiliumEndpoint
metadata: {name: web, namespace: shop}
---
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}}
"#,
    );
    let notices: Vec<String> = a
        .diagnostics
        .iter()
        .map(|d| {
            assert!(d.skipped && d.severity == Severity::Info, "{d:?}");
            format!("{} {}", a.sources.position(d.loc), d.message)
        })
        .collect();
    let expected = [
        ("1:1", "CiliumNetworkPolicy l7", "cilium.io"),
        ("6:1", "CiliumClusterwideNetworkPolicy host", "cilium.io"),
        (
            "11:1",
            "AdminNetworkPolicy tenants",
            "policy.networking.k8s.io",
        ),
        (
            "16:1",
            "BaselineAdminNetworkPolicy default",
            "policy.networking.k8s.io",
        ),
        ("21:1", "ClusterNetworkPolicy isolate", "crd.antrea.io"),
        ("26:1", "NetworkPolicy antrea-np", "crd.antrea.io"),
    ];
    assert_eq!(notices.len(), expected.len(), "{notices:?}");
    for (notice, (at, what, group)) in notices.iter().zip(expected) {
        assert!(
            notice.starts_with(&format!(
                "test.yaml:{at} {what} of API group `{group}` is not analysed"
            )) && notice.contains("verdicts"),
            "{notice}"
        );
    }
    assert!(a.world.policies.is_empty() && a.world.workloads.is_empty());
}

#[test]
fn argo_templates_that_run_pods_become_workloads() {
    let a = world(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: train, namespace: argo}
spec:
  serviceAccountName: runner
  podMetadata: {labels: {team: ml}}
  templates:
  - name: main
    steps: [[{name: a, template: fit}]]
  - name: fit
    metadata: {labels: {step: fit}}
    container:
      image: python
      env: [{name: MLFLOW_TRACKING_URI, value: "http://mlflow.mlflow"}]
  - name: clean
    script: {image: alpine, source: "rm -rf /tmp/x"}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata: {name: shared}
spec:
  templates: [{name: echo, container: {image: alpine}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: run-, namespace: ml}
spec:
  workflowTemplateRef: {name: shared, clusterScope: true}
"#,
    );
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
    assert_eq!(
        ids(&a),
        [
            "argo/WorkflowTemplate/train:clean",
            "argo/WorkflowTemplate/train:fit",
            "ml/ClusterWorkflowTemplate/shared:echo"
        ]
    );
    let fit = a
        .world
        .workloads
        .iter()
        .find(|w| w.meta.id.name == "train:fit")
        .unwrap();
    assert_eq!(fit.labels.get("team").unwrap(), "ml");
    assert_eq!(fit.labels.get("step").unwrap(), "fit");
    assert_eq!(fit.service_account, "runner");
    assert!(
        matches!(&fit.containers[0].env[0].source, EnvSource::Value(v) if v.value == "http://mlflow.mlflow")
    );
}

#[test]
fn every_namespace_has_its_name_label_declared_or_not() {
    let a = world(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: ml, labels: {team: ml}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: web}}}}
"#,
    );
    let names: Vec<&str> = a.world.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["default", "ml"]);
    let ml = a.world.namespace("ml").unwrap();
    assert_eq!(ml.labels.get("team").unwrap(), "ml");
    assert_eq!(ml.labels.get("kubernetes.io/metadata.name").unwrap(), "ml");
    assert!(ml.declared_at.is_some());
    let default = a.world.namespace("default").unwrap();
    assert_eq!(
        default.labels.get("kubernetes.io/metadata.name").unwrap(),
        "default"
    );
    assert!(default.declared_at.is_none());
}

#[test]
fn services_keep_ports_and_every_kind_of_address() {
    let a = world(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: mlflow
  namespace: mlflow
  annotations: {metallb.universe.tf/loadBalancerIPs: "192.168.10.241"}
spec:
  type: LoadBalancer
  selector: {app: mlflow}
  clusterIP: 10.96.1.2
  clusterIPs: [10.96.1.2]
  externalIPs: [203.0.113.9]
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: grpc, port: 9000}
  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
status: {loadBalancer: {ingress: [{ip: 192.168.10.242}]}}
"#,
    );
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
    let s = &a.world.services[0];
    assert_eq!(s.service_type, "LoadBalancer");
    assert_eq!(s.ports[0].target, TargetPort::Name("http".into()));
    assert_eq!(s.ports[1].target, TargetPort::Number(9000));
    assert_eq!(
        (s.ports[2].target.clone(), s.ports[2].protocol),
        (TargetPort::Number(5353), Protocol::Udp)
    );
    let ips = |v: &[netpol_fix::model::Spanned<IpAddr>]| {
        v.iter().map(|s| s.value.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ips(&s.cluster_ips), ["10.96.1.2"]);
    assert_eq!(ips(&s.external_ips), ["203.0.113.9"]);
    assert_eq!(
        ips(&s.load_balancer_ips),
        ["192.168.10.242", "192.168.10.241"]
    );
}

#[test]
fn kubernetes_type_errors_are_positioned_and_do_not_stop_the_run() {
    let a = world(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {version: 1}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ok}
spec: {template: {metadata: {labels: {app: ok}}}}
"#,
    );
    let errs = errors(&a);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("test.yaml:5:48 "), "{errs:?}");
    assert!(
        errs[0].contains("`labels.version` must be a string"),
        "{errs:?}"
    );
    assert_eq!(ids(&a), ["default/Deployment/ok"]);
}

#[test]
fn a_second_definition_of_an_object_is_a_warning_and_the_first_wins() {
    let a = world(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: first}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: second}}}}
"#,
    );
    assert_eq!(a.world.workloads.len(), 1);
    assert_eq!(a.world.workloads[0].labels.get("app").unwrap(), "first");
    let warnings: Vec<_> = a
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(a.sources.position(warnings[0].loc), "test.yaml:7:1");
}

#[test]
fn non_kubernetes_networkpolicy_kinds_are_not_read_as_kubernetes_ones() {
    let a = world(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: calico, namespace: x}
spec: {selector: all(), types: [Ingress]}
"#,
    );
    assert!(a.world.policies.is_empty());
    assert!(errors(&a).is_empty());
}

#[test]
fn calico_resources_are_validated_with_positions_inside_selectors() {
    let a = world(
        r#"apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default-deny}
spec:
  order: 2000
  selector: "projectcalico.org/namespace != 'kube-system' && has(app"
  namespaceSelector: all()
  types: [Ingress, Egress, Sideways]
  egress:
  - action: Allow
    protocol: UDP
    destination:
      selector: k8s-app == kube-dns
      ports: [53, "8000:9000", "9000:8000", dns, 70000]
  - action: Accept
    notProtocol: SMTP
    destination:
      nets: [10.0.0.0/8, 10.300.0.0/16]
  - protocol: TCP
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkSet
metadata: {name: external, namespace: x}
spec:
  nets: [192.0.2.0/33]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: first}
"#,
    );
    assert_eq!(
        errors(&a),
        [
            "test.yaml:6:69 `selector` is not a valid Calico selector: expected `)` after `has(label`",
            "test.yaml:8:28 `types` entries are `Ingress` or `Egress`",
            "test.yaml:13:28 `selector` is not a valid Calico selector: expected a quoted string",
            "test.yaml:14:32 port range `9000:8000` ends before it starts",
            "test.yaml:14:50 port 70000 is out of range: ports are 1 to 65535",
            "test.yaml:15:13 `action` is Allow, Deny, Pass or Log",
            "test.yaml:16:18 `notProtocol` is TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255",
            "test.yaml:18:26 `nets`: `10.300.0.0` in `10.300.0.0/16` is not an IP address",
            "test.yaml:19:5 a Calico rule needs an `action`: Allow, Deny, Pass or Log",
            "test.yaml:25:10 `nets`: prefix `/33` in `192.0.2.0/33` must be between 0 and 32",
            "test.yaml:30:15 `order` must be a number",
        ]
    );
    // An invalid resource is left out whole (the run fails on its errors), never half-applied.
    assert!(a.world.calico.policies.is_empty());
    assert!(a.world.calico.network_sets.is_empty() && a.world.calico.tiers.is_empty());
}

#[test]
fn static_pods_owned_by_a_node_stay_separate() {
    let a = world(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-cp-01
  namespace: kube-system
  labels: {component: kube-apiserver}
  ownerReferences: [{apiVersion: v1, kind: Node, name: cp-01, controller: true, uid: u5}]
spec: {hostNetwork: true, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: etcd-cp-01
  namespace: kube-system
  labels: {component: etcd}
  ownerReferences: [{apiVersion: v1, kind: Node, name: cp-01, controller: true, uid: u6}]
spec: {hostNetwork: true, containers: [{name: c}]}
"#,
    );
    assert_eq!(
        ids(&a),
        [
            "kube-system/Pod/etcd-cp-01",
            "kube-system/Pod/kube-apiserver-cp-01"
        ]
    );
}

/// Seldon's rclone storage Secrets: the endpoint is kept without credentials, a remote missing
/// what Seldon needs is a warning at its key, and no value of the Secret reaches a message.
#[test]
fn seldon_storage_secrets_are_read_without_keeping_values() {
    let a = world(
        r#"apiVersion: mlops.seldon.io/v1alpha1
kind: Server
metadata: {name: mlserver, namespace: seldon}
spec: {serverConfig: mlserver}
---
apiVersion: v1
kind: Secret
metadata: {name: good, namespace: seldon}
stringData:
  s3: '{"name": "s3", "type": "s3", "parameters": {"provider": "minio", "access_key_id": "AKIDSECRET", "endpoint": "http://user:hunter2@minio.minio:9000"}}'
---
apiVersion: v1
kind: Secret
metadata: {name: broken, namespace: seldon}
data:
  remote: dHlwZTogczMKcGFyYW1ldGVyczoKICBwcm92aWRlcjogbWluaW8KICBzZWNyZXRfYWNjZXNzX2tleTogaHVudGVyMgo=
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: seldon}
stringData: {password: hunter2}
"#,
    );
    let endpoints: Vec<(&str, Option<&str>)> = a
        .world
        .storage_secrets
        .iter()
        .map(|s| (s.meta.id.name.as_str(), s.endpoint.as_deref()))
        .collect();
    assert_eq!(
        endpoints,
        [("good", Some("http://minio.minio:9000")), ("broken", None)]
    );
    // `broken` (base64 of `type: s3`, `parameters: {provider: minio, secret_access_key: …}`) has
    // no name and no endpoint.
    let warnings: Vec<String> = a
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| format!("{} {}", a.sources.position(d.loc), d.message))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let at = "test.yaml:16:3 Seldon storage Secret seldon/broken (key `remote`): ";
    for problem in [
        "no `name`",
        "an s3 remote with provider minio and no `parameters.endpoint`",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{at}{problem}"))),
            "{warnings:?}"
        );
    }
    let all: String = a
        .diagnostics
        .iter()
        .map(|d| format!("{} {:?}", d.message, d.help))
        .collect();
    assert!(
        !all.contains("hunter2") && !all.contains("AKIDSECRET"),
        "{all}"
    );
}

/// Only Secrets a Seldon Server can use (those of its namespace) are read as storage
/// settings: Argo's webhook clients Secret has keys that look like rclone remotes (`type: …`),
/// and is none of Seldon's business in a tree without a Server in its namespace.
#[test]
fn only_secrets_in_a_seldon_server_namespace_are_storage_secrets() {
    let secret = r#"apiVersion: v1
kind: Secret
metadata: {name: argo-workflows-webhook-clients, namespace: argo}
stringData:
  github.com: |
    type: github
    secret: shh
---
"#;
    let server = |ns: &str| {
        format!(
            "apiVersion: mlops.seldon.io/v1alpha1\nkind: Server\nmetadata: {{name: mlserver, namespace: {ns}}}\n"
        )
    };
    let warnings = |a: &Analysis| -> Vec<String> {
        a.diagnostics
            .iter()
            .map(|d| format!("{} {}", a.sources.position(d.loc), d.message))
            .collect()
    };
    for tree in [secret.to_string(), format!("{secret}{}", server("seldon"))] {
        let a = world(&tree);
        assert!(warnings(&a).is_empty(), "{:?}", warnings(&a));
        assert!(a.world.storage_secrets.is_empty());
    }
    let a = world(&format!("{secret}{}", server("argo")));
    let w = warnings(&a);
    let at = "test.yaml:5:3 Seldon storage Secret argo/argo-workflows-webhook-clients (key `github.com`): ";
    assert!(
        w.len() == 2
            && w[0].starts_with(&format!("{at}no `name`"))
            && w[1].starts_with(&format!("{at}no `parameters` map")),
        "{w:?}"
    );
    assert_eq!(a.world.storage_secrets.len(), 1);
}

#[test]
fn a_container_with_several_bad_fields_reports_them_in_reading_order() {
    let a = world(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - name: c\n    image: x\n    command: 5\n    env: 7\n",
    );
    let errors = errors(&a);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`command`"), "{errors:?}");
}

/// A valid world that uses what the API server's rules allow at their edges.
const VALID_NAMES: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app.kubernetes.io/name: web, empty: ""}
  annotations: {Example.com/Owner: team-a}
spec:
  template:
    metadata: {labels: {app: web, Tier_1.x: A-b_c.9}}
    spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web.allow-1, namespace: shop}
spec:
  podSelector:
    matchLabels: {example.com/app: web}
    matchExpressions: [{key: Tier_1.x, operator: In, values: [A-b_c.9, ""]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:basic-user"}
subjects: [{kind: Group, name: "system:authenticated"}]
"#;

/// One object per case, each with one thing the API server refuses: (document, text on the
/// error's line, what the message says is wrong).
fn refused_cases() -> Vec<(String, String, &'static str)> {
    let long = "a".repeat(254);
    let long_cron = "c".repeat(53);
    let deployment = |metadata: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n{metadata}\n\
             spec: {{template: {{spec: {{containers: [{{name: c}}]}}}}}}\n"
        )
    };
    let object =
        |api: &str, kind: &str, rest: &str| format!("apiVersion: {api}\nkind: {kind}\n{rest}");
    let policy = |spec: &str| {
        object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &format!("metadata: {{name: p2}}\nspec:\n{spec}"),
        )
    };
    let upper = "contains the uppercase letter";
    vec![
        (
            deployment(&format!("  name: {long}")),
            long.clone(),
            "is 254 characters long, over 253",
        ),
        (
            deployment("  name: \"a b\""),
            "\"a b\"".into(),
            "contains ' '",
        ),
        (deployment("  name: Shop"), "Shop".into(), upper),
        (deployment("  name: ../x"), "../x".into(), "contains '/'"),
        (deployment("  name: a/b"), "a/b".into(), "contains '/'"),
        (
            deployment("  name: \"a\\0b\""),
            "a\\0b".into(),
            "contains '\\0'",
        ),
        (
            deployment("  name: \"a\\nb\""),
            "a\\nb".into(),
            "contains '\\n'",
        ),
        (
            deployment("  name: web2\n  namespace: Shop"),
            "Shop".into(),
            upper,
        ),
        (
            deployment("  name: web2\n  labels: {\"a b\": x}"),
            "a b".into(),
            "contains ' '",
        ),
        (
            deployment("  name: web2\n  labels: {a: x_}"),
            "x_".into(),
            "does not start and end",
        ),
        (
            deployment("  name: web2\n  annotations: {\"-x\": y}"),
            "-x".into(),
            "does not start and end",
        ),
        (
            object(
                "apps/v1",
                "Deployment",
                "metadata: {name: web2}\nspec:\n  template:\n    metadata:\n      labels: {app: -web}\n",
            ),
            "-web".into(),
            "does not start and end",
        ),
        (
            object(
                "batch/v1",
                "CronJob",
                &format!("metadata:\n  name: {long_cron}\n"),
            ),
            long_cron.clone(),
            "is 53 characters long, over 52",
        ),
        (
            object("v1", "Pod", "metadata:\n  name: Shop\n"),
            "Shop".into(),
            upper,
        ),
        (
            object("v1", "Service", "metadata:\n  name: 1web\n"),
            "1web".into(),
            "starts with a digit",
        ),
        (
            object(
                "v1",
                "Service",
                "metadata: {name: web2}\nspec:\n  selector: {app@b: web}\n",
            ),
            "app@b".into(),
            "contains '@'",
        ),
        (
            object("v1", "Namespace", "metadata:\n  name: a.b\n"),
            "a.b".into(),
            "contains '.'",
        ),
        (
            object("v1", "ConfigMap", "metadata:\n  name: Settings\n"),
            "Settings".into(),
            upper,
        ),
        (
            object("v1", "Secret", "metadata:\n  name: Creds\n"),
            "Creds".into(),
            upper,
        ),
        (
            object(
                "argoproj.io/v1alpha1",
                "Workflow",
                "metadata:\n  name: Steps\n",
            ),
            "Steps".into(),
            upper,
        ),
        (
            object(
                "projectcalico.org/v3",
                "GlobalNetworkPolicy",
                "metadata:\n  name: deny_all\n",
            ),
            "deny_all".into(),
            "contains '_'",
        ),
        (
            object(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                "metadata:\n  name: a/b\n",
            ),
            "a/b".into(),
            "contains '/'",
        ),
        (
            policy("  podSelector:\n    matchLabels: {app@b: web}\n"),
            "app@b".into(),
            "contains '@'",
        ),
        (
            policy("  podSelector:\n    matchExpressions:\n    - {key: app@b, operator: Exists}\n"),
            "app@b".into(),
            "contains '@'",
        ),
        (
            policy(
                "  ingress:\n  - from:\n    - podSelector:\n        matchExpressions:\n        \
                 - {key: app, operator: NotIn, values: [web,\n            \"a b\"]}\n",
            ),
            "\"a b\"".into(),
            "contains ' '",
        ),
    ]
}

#[test]
fn names_and_labels_the_api_server_rejects_are_input_errors_and_their_objects_are_left_out() {
    let base = world(VALID_NAMES);
    assert!(errors(&base).is_empty(), "{:?}", errors(&base));
    let counts = |a: &Analysis| {
        let w = &a.world;
        [
            w.workloads.len(),
            w.services.len(),
            w.policies.len(),
            w.config_maps.len(),
            w.bindings.len(),
            w.calico.policies.len(),
            w.namespaces.len(),
            w.storage_secrets.len(),
        ]
    };
    for (doc, on_line, problem) in refused_cases() {
        let text = format!("{VALID_NAMES}---\n{doc}");
        let a = world(&text);
        let errors: Vec<_> = a.errors().collect();
        assert_eq!(errors.len(), 1, "{doc}\n{:?}", a.diagnostics);
        let e = errors[0];
        let at = a.sources.get(e.loc.file).line_col(e.loc.span.start);
        let line = text.lines().nth(at.line as usize - 1).unwrap();
        assert!(
            line.contains(&on_line),
            "{doc}\nerror at {line:?}: {}",
            e.message
        );
        assert!(
            e.message.contains(&format!("is not valid: it {problem}")),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("the API server would reject this"),
            "{}",
            e.message
        );
        assert!(
            e.help
                .as_deref()
                .is_some_and(|h| h.starts_with("change it: a")),
            "{:?}",
            e.help
        );
        // The object is left out, and with it any namespace only it names.
        assert_eq!(counts(&a), counts(&base), "{doc}");
    }
    // The API server takes an Argo template's pod labels as they are, but not its pods.
    let a = world(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: steps}\nspec:\n  \
         templates: [{name: main, metadata: {labels: {app: -x}}, container: {image: a}}]\n",
    );
    assert_eq!(
        errors(&a),
        [
            "test.yaml:5:53 label value \"-x\" of `app` in `labels` is not valid: it does not start and end with a letter or digit; the API server would reject the pods this Workflow runs"
        ]
    );
}

#[test]
fn an_owner_reference_without_kind_is_an_error_and_the_pod_stays_itself() {
    let a = world(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web-abc
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/v1, name: gone, uid: u1, controller: true}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-def
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/v1, kind: "", name: gone, uid: u2, controller: true}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-ghi
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/, kind: ReplicaSet, name: gone, controller: true}
spec: {containers: [{name: c}]}
"#,
    );
    assert_eq!(
        ids(&a),
        ["shop/Pod/web-abc", "shop/Pod/web-def", "shop/Pod/web-ghi"]
    );
    assert_eq!(
        errors(&a),
        [
            "test.yaml:7:5 ownerReference without `kind`: the API server would reject this Pod",
            "test.yaml:16:5 ownerReference without `kind`: the API server would reject this Pod",
            "test.yaml:25:5 ownerReference without `apiVersion`, `uid`: the API server would reject this Pod",
        ]
    );
}

#[test]
fn generate_name_objects_are_each_their_own_named_after_their_position() {
    let workflow = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: steps-, namespace: shop}\nspec: {templates: [{name: main, container: {image: alpine}}]}\n";
    let job = "{apiVersion: batch/v1, kind: Job, metadata: {generateName: load-, namespace: shop}, spec: {template: {spec: {containers: [{name: c}]}}}}";
    let a = analyze(
        &[
            Input::Text {
                name: "wf.yaml".into(),
                text: format!(
                    "{workflow}---\n{workflow}---\n{job}\n---\napiVersion: v1\nkind: List\nitems:\n- {job}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: fixed, generateName: load-, namespace: shop}}\nspec: {{template: {{spec: {{containers: [{{name: c}}]}}}}}}\n"
                ),
            },
            Input::Text {
                name: "./argo/more wf.yaml".into(),
                text: workflow.into(),
            },
        ],
        LoadOptions::default(),
    );
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics);
    assert_eq!(
        ids(&a),
        [
            "shop/Job/fixed",
            "shop/Job/load-@wf.yaml#11",
            "shop/Job/load-@wf.yaml#16.3",
            "shop/Workflow/steps-@argo+more%20wf.yaml#1:main",
            "shop/Workflow/steps-@wf.yaml#1:main",
            "shop/Workflow/steps-@wf.yaml#6:main",
        ]
    );
    // generateName is checked as the prefix of a name.
    let a = world(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: Load-\nspec: {template: {spec: {containers: [{name: c}]}}}\n",
    );
    assert_eq!(
        errors(&a),
        [
            "test.yaml:4:17 `metadata.generateName` \"Load-\" is not valid: it contains the uppercase letter 'L'; the API server would reject this Job"
        ]
    );
    assert!(ids(&a).is_empty());
}
