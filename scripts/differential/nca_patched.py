"""Run nca with a workaround for a known nca 2.1.0 bug; arguments as for nca.

Must run under the Python of nca's venv (run.py takes it from the `nca`
script's #! line):

    /tmp/nca-venv/bin/python3 scripts/differential/nca_patched.py --connectivity DIR ...

The bug: for a pod selector's matchExpressions with Exists/DoesNotExist,
nca only considers pods in the *policy's* namespace
(`get_peers_with_key(self.namespace, ...)` in K8sPolicyYamlParser), so a peer

    - namespaceSelector: {}
      podSelector: {matchExpressions: [{key: app, operator: Exists}]}

selects no pod of any other namespace.  In/NotIn and matchLabels are not
affected.  The patch evaluates those requirements over all pods; the
surrounding code already intersects with the right namespaces (the policy's
own for `spec.podSelector` and peers without namespaceSelector).  Reproducer:
testdata/quirks/exists-selector-across-namespaces (run.py --pristine-nca).
"""

import sys

from nca.Parsers.K8sPolicyYamlParser import K8sPolicyYamlParser
from nca.nca_cli import nca_main

_ORIGINAL = K8sPolicyYamlParser.parse_label_selector_requirement


def parse_label_selector_requirement(self, requirement, namespace_selector):
    """Evaluate a pod-selector requirement over the pods of every namespace."""
    if namespace_selector:
        return _ORIGINAL(self, requirement, namespace_selector)
    saved, self.namespace = self.namespace, None
    try:
        return _ORIGINAL(self, requirement, namespace_selector)
    finally:
        self.namespace = saved


K8sPolicyYamlParser.parse_label_selector_requirement = parse_label_selector_requirement

if __name__ == "__main__":
    sys.exit(nca_main())
