"""Run nca with Calico's built-in labels added; arguments as for nca.

Must run under the Python of nca's venv (check_truth_tables.py takes it from
the `nca` script's #! line):

    /tmp/nca-venv/bin/python3 scripts/differential/nca_calico.py --connectivity DIR ...

nca 2.1.0 evaluates Calico selectors against the labels written in the YAML
only.  Calico itself gives every endpoint more labels, and the fixtures under
fixtures/calico/ use them as documented.  This wrapper adds exactly those
labels before nca evaluates anything (sources: libcalico-go
lib/backend/k8s/conversion/conversion.go and
lib/backend/syncersv1/updateprocessors/networksetprocessor.go):

* every Namespace: `projectcalico.org/name: <name>` (NamespaceToProfile puts
  it on the namespace profile, so a namespaceSelector can match by name);
* every pod: `projectcalico.org/namespace`, `projectcalico.org/orchestrator:
  k8s`, `projectcalico.org/serviceaccount` (the pod converter), and
  `pcns.<key>: <value>` for each label of its namespace, including the two
  above (labels the pod inherits from its namespace profile);
* every namespaced NetworkSet: `projectcalico.org/namespace` and the same
  `pcns.` labels.

It also lets nca read `crd.projectcalico.org/v1` policies (the CRD storage
form of the same resources; nca accepts `projectcalico.org/v3` only), reads a
fractional policy `order` such as 5.5 as a number (nca's YAML reader keeps
every non-integer scalar as a string, and comparing the string with an
integer order stops nca with "'<' not supported between instances of 'str'
and 'int'"), and it includes nca_patched.py's fix for nca's Kubernetes
Exists/DoesNotExist bug.

What it does not emulate (nca rejects the world, see fixtures/calico/README.md):
tiers (`spec.tier`), `serviceAccounts` in rules, `serviceAccountSelector`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nca_patched  # noqa: E402,F401  (applies the Kubernetes selector fix on import)
from nca.CoreDS.Peer import IpBlock, Pod  # noqa: E402
from nca.NetworkConfig.TopologyObjectsFinder import PodsFinder  # noqa: E402
from nca.Parsers.CalicoPolicyYamlParser import CalicoPolicyYamlParser  # noqa: E402
from nca.Resources.OtherResources.K8sNamespace import K8sNamespace  # noqa: E402
from nca.nca_cli import nca_main  # noqa: E402

NAMESPACE_NAME = "projectcalico.org/name"
NAMESPACE = "projectcalico.org/namespace"
ORCHESTRATOR = "projectcalico.org/orchestrator"
SERVICE_ACCOUNT = "projectcalico.org/serviceaccount"
NAMESPACE_PREFIX = "pcns."

_namespace_init = K8sNamespace.__init__
_add_peer = PodsFinder._add_peer
_parser_init = CalicoPolicyYamlParser.__init__


def namespace_init(self, name):
    """A namespace also carries projectcalico.org/name (Calico's namespace profile)."""
    _namespace_init(self, name)
    self.labels[NAMESPACE_NAME] = self.name


def add_peer(self, peer):
    """Give pods and namespaced network sets Calico's labels, then add them."""
    namespace = peer.namespace
    if namespace is not None and isinstance(peer, (Pod, IpBlock)):
        peer.set_label(NAMESPACE, namespace.name)
        for key, value in namespace.labels.items():
            peer.set_label(NAMESPACE_PREFIX + key, value)
        peer.set_label(NAMESPACE_PREFIX + NAMESPACE_NAME, namespace.name)
        if isinstance(peer, Pod):
            peer.set_label(ORCHESTRATOR, "k8s")
            if peer.service_account_name:
                peer.set_label(SERVICE_ACCOUNT, peer.service_account_name)
    return _add_peer(self, peer)


def parser_init(self, policy, peer_container, policy_file_name=""):
    """Read crd.projectcalico.org/v1 policies as projectcalico.org/v3 ones, and a
    fractional `order` as a number."""
    if isinstance(policy, dict):
        if policy.get("apiVersion") == "crd.projectcalico.org/v1":
            policy["apiVersion"] = "projectcalico.org/v3"
        spec = policy.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("order"), str):
            try:
                spec["order"] = float(spec["order"])
            except ValueError:
                pass
    _parser_init(self, policy, peer_container, policy_file_name)


K8sNamespace.__init__ = namespace_init
PodsFinder._add_peer = add_peer
CalicoPolicyYamlParser.__init__ = parser_init

if __name__ == "__main__":
    sys.exit(nca_main())
