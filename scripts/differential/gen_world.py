#!/usr/bin/env python3
"""Seeded generator of small random Kubernetes worlds for differential testing.

A "world" is a directory of YAML manifests: Namespaces, Deployments and
networking.k8s.io/v1 NetworkPolicies.  The same seed always produces the same
world, byte for byte, so a disagreement found by run.py can be reproduced with

    python3 scripts/differential/gen_world.py --seed 17 --out /tmp/world-17

Only the Python standard library is used; YAML is emitted by a tiny block-style
writer (see `to_yaml`).

The generator deliberately avoids the few constructs on which
network-config-analyzer (nca) is known to deviate from Kubernetes (see
README.md, "Known semantic differences"), so that every disagreement reported
by run.py is worth looking at.
"""

import argparse
import ipaddress
import json
import os
import random
import re
import sys

NAMESPACE_NAMES = ["shop", "payments", "infra", "data", "edge"]
NAMESPACE_LABELS = {"env": ["prod", "staging"], "team": ["red", "blue"]}
POD_LABELS = {
    "app": ["web", "api", "db", "cache"],
    "tier": ["frontend", "backend", "data"],
    "team": ["red", "blue", "green"],
}
# (containerPort, protocol, name or None).  Names are shared on purpose:
# "http" is 80 in some pods and 8080 in others, "dns" is UDP 53 or TCP 5353.
CONTAINER_PORTS = [
    (80, "TCP", "http"),
    (8080, "TCP", "http"),
    (443, "TCP", "https"),
    (53, "UDP", "dns"),
    (5353, "TCP", "dns"),
    (5432, "TCP", "pg"),
    (6379, "TCP", "redis"),
    (9090, "TCP", "metrics"),
    (514, "UDP", "syslog"),
    (8125, "UDP", "statsd"),
    (3000, "TCP", None),
    (161, "UDP", None),
    (7000, "SCTP", "sctp-app"),
]
POLICY_PORT_NAMES = ["http", "https", "dns", "pg", "metrics", "syslog",
                     "statsd", "sctp-app", "nope"]
POLICY_PORT_NUMBERS = [22, 53, 80, 161, 443, 514, 3000, 5353, 5432, 6379,
                       7000, 8080, 8125, 9090]
IP_BASES = ["0.0.0.0/0", "10.0.0.0/8", "10.20.0.0/16", "172.16.0.0/12",
            "192.168.0.0/16", "203.0.113.0/24", "198.51.100.128/25"]


class World:
    """An in-memory world: manifests grouped by file name, plus an inventory."""

    def __init__(self, seed):
        self.seed = seed
        self.namespaces = []      # Namespace manifests
        self.deployments = []     # Deployment manifests
        self.policies = []        # NetworkPolicy manifests

    def workloads(self):
        """Return the sorted list of (namespace, kind, name) of all workloads."""
        return sorted((d["metadata"]["namespace"], d["kind"], d["metadata"]["name"])
                      for d in self.deployments)

    def files(self):
        """Return a dict {relative file name: list of manifests}."""
        out = {"namespaces.yaml": self.namespaces,
               "deployments.yaml": self.deployments}
        for policy in self.policies:
            out["netpol-%s.yaml" % policy["metadata"]["name"]] = [policy]
        return out


# ---------------------------------------------------------------- YAML output

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def yaml_scalar(value):
    """Render a scalar as YAML, quoting strings that are not plainly safe."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def _yaml_lines(value, indent):
    """Yield the block-style YAML lines of a dict or list at `indent` spaces."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                yield "%s%s:" % (pad, key)
                child = indent if isinstance(item, list) else indent + 2
                yield from _yaml_lines(item, child)
            else:
                yield "%s%s: %s" % (pad, key, _yaml_inline(item))
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                lines = list(_yaml_lines(item, indent + 2))
                first = lines[0][indent + 2:]
                yield "%s- %s" % (pad, first)
                yield from lines[1:]
            else:
                yield "%s- %s" % (pad, _yaml_inline(item))


def _yaml_inline(value):
    """Render an empty collection or a scalar on one line."""
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return yaml_scalar(value)


def to_yaml(documents):
    """Render a list of manifests as a multi-document YAML string."""
    parts = ["\n".join(_yaml_lines(doc, 0)) + "\n" for doc in documents]
    return "---\n".join(parts)


# ----------------------------------------------------------------- topology

def gen_namespaces(rng):
    """Return 2-4 Namespace manifests, some with extra labels."""
    names = rng.sample(NAMESPACE_NAMES, rng.randint(2, 4))
    out = []
    for name in names:
        meta = {"name": name}
        labels = {k: rng.choice(v) for k, v in NAMESPACE_LABELS.items()
                  if rng.random() < 0.5}
        if labels:
            meta["labels"] = labels
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    return out


def gen_pod_labels(rng):
    """Return pod-template labels: always `app`, sometimes `tier`/`team`."""
    labels = {"app": rng.choice(POD_LABELS["app"])}
    for key in ("tier", "team"):
        if rng.random() < 0.6:
            labels[key] = rng.choice(POD_LABELS[key])
    return labels


def gen_container_ports(rng):
    """Return 0-3 container ports with unique names and (port, protocol)."""
    ports, names, seen = [], set(), set()
    for number, proto, name in rng.sample(CONTAINER_PORTS, rng.randint(0, 3)):
        if (number, proto) in seen or (name and name in names):
            continue
        seen.add((number, proto))
        entry = {"containerPort": number}
        if name and rng.random() < 0.8:
            entry["name"] = name
            names.add(name)
        if proto != "TCP" or rng.random() < 0.5:
            entry["protocol"] = proto
        ports.append(entry)
    return ports


def gen_deployment(rng, namespace, index):
    """Return one Deployment manifest in `namespace`."""
    labels = gen_pod_labels(rng)
    name = "%s-%d" % (labels["app"], index)
    container = {"name": "main", "image": "registry.example/%s:1" % labels["app"]}
    ports = gen_container_ports(rng)
    if ports:
        container["ports"] = ports
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": rng.randint(1, 3),
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [container]}},
        },
    }


# ---------------------------------------------------------------- selectors

def gen_requirement(rng, vocab):
    """Return one matchExpressions entry over `vocab` ({key: [values]})."""
    key = rng.choice(sorted(vocab))
    op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
    req = {"key": key, "operator": op}
    if op in ("In", "NotIn"):
        pool = vocab[key] + ["zzz"]
        req["values"] = sorted(rng.sample(pool, rng.randint(1, 2)))
    return req


def gen_selector(rng, vocab, empty_weight=0.25):
    """Return a LabelSelector: empty, matchLabels, matchExpressions or both."""
    roll = rng.random()
    if roll < empty_weight:
        return {}
    selector = {}
    style = rng.choice(["labels", "labels", "exprs", "exprs", "both"])
    if style in ("labels", "both"):
        keys = rng.sample(sorted(vocab), 1 if rng.random() < 0.75 else 2)
        selector["matchLabels"] = {k: rng.choice(vocab[k]) for k in keys}
    if style in ("exprs", "both"):
        count = 1 if rng.random() < 0.75 else 2
        selector["matchExpressions"] = [gen_requirement(rng, vocab) for _ in range(count)]
    return selector


def namespace_vocab(namespaces):
    """Return the label vocabulary usable in namespaceSelectors."""
    vocab = {k: list(v) for k, v in NAMESPACE_LABELS.items()}
    vocab["kubernetes.io/metadata.name"] = [n["metadata"]["name"] for n in namespaces]
    return vocab


# ------------------------------------------------------------ rule contents

def gen_ip_block(rng):
    """Return an IPv4 ipBlock, sometimes with 1-2 `except` subnets."""
    base = ipaddress.ip_network(rng.choice(IP_BASES))
    block = {"cidr": str(base)}
    if base.prefixlen < 30 and rng.random() < 0.6:
        excepts = set()
        for _ in range(rng.randint(1, 2)):
            prefix = rng.randint(base.prefixlen + 1, min(base.prefixlen + 8, 32))
            size = 1 << (32 - prefix)
            offset = rng.randrange(base.num_addresses // size) * size
            net = ipaddress.ip_network((int(base.network_address) + offset, prefix))
            excepts.add(str(net))
        block["except"] = sorted(excepts)
    return block


def gen_peer(rng, ns_vocab):
    """Return one NetworkPolicyPeer."""
    kind = rng.choice(["pod", "ns", "both", "ip", "ip"])
    if kind == "ip":
        return {"ipBlock": gen_ip_block(rng)}
    peer = {}
    if kind in ("ns", "both"):
        peer["namespaceSelector"] = gen_selector(rng, ns_vocab, 0.3)
    if kind in ("pod", "both"):
        peer["podSelector"] = gen_selector(rng, POD_LABELS, 0.2)
    return peer


def gen_port(rng):
    """Return one NetworkPolicyPort: numeric, named, range or protocol-only."""
    style = rng.choice(["number", "number", "named", "named", "range", "proto"])
    port = {}
    if style == "number":
        port["port"] = rng.choice(POLICY_PORT_NUMBERS)
    elif style == "named":
        port["port"] = rng.choice(POLICY_PORT_NAMES)
    elif style == "range":
        start = rng.choice(POLICY_PORT_NUMBERS + [1, 1000, 5000])
        port["port"] = start
        port["endPort"] = min(65535, start + rng.choice([0, 1, 100, 3000, 9000]))
    proto = rng.choice([None, None, "TCP", "UDP", "UDP", "SCTP"])
    if style == "proto" and proto is None:
        proto = "UDP"
    if proto:
        port["protocol"] = proto
    return port


def gen_rule(rng, peer_key, ns_vocab):
    """Return one ingress/egress rule (peer_key is "from" or "to")."""
    rule = {}
    roll = rng.random()
    if roll < 0.1:
        rule[peer_key] = []                      # empty list: all peers
    elif roll < 0.8:
        rule[peer_key] = [gen_peer(rng, ns_vocab) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.65:
        rule["ports"] = [gen_port(rng) for _ in range(rng.randint(1, 3))]
    return rule


# ----------------------------------------------------------------- policies

def gen_policy(rng, name, namespaces):
    """Return one NetworkPolicy manifest of a randomly chosen flavour."""
    namespace = rng.choice(namespaces)["metadata"]["name"]
    ns_vocab = namespace_vocab(namespaces)
    spec = {"podSelector": gen_selector(rng, POD_LABELS, 0.3)}
    flavour = rng.choice(["random", "random", "random", "deny", "allow-all"])
    if flavour == "deny":
        spec["podSelector"] = {}
        spec["policyTypes"] = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
    elif flavour == "allow-all":
        if rng.random() < 0.5:
            spec["policyTypes"] = ["Ingress"]
        spec["ingress"] = [{}]
    else:
        directions = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        if rng.random() < 0.7:
            spec["policyTypes"] = directions
        elif "Egress" in directions:
            # policyTypes absent: Egress is implied only by a non-empty egress
            # list (nca also counts `egress: []`, so never emit that here).
            directions = ["Ingress", "Egress"]
        for direction, peer_key in (("Ingress", "from"), ("Egress", "to")):
            if direction not in directions:
                continue
            rules = [gen_rule(rng, peer_key, ns_vocab) for _ in range(rng.randint(0, 3))]
            if direction == "Egress" and "policyTypes" not in spec and not rules:
                rules = [gen_rule(rng, peer_key, ns_vocab)]
            if rules or rng.random() < 0.5:
                spec[direction.lower()] = rules
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def generate(seed):
    """Build the World for `seed` (deterministic)."""
    rng = random.Random(seed)
    world = World(seed)
    world.namespaces = gen_namespaces(rng)
    for index in range(rng.randint(3, 8)):
        ns = rng.choice(world.namespaces)["metadata"]["name"]
        world.deployments.append(gen_deployment(rng, ns, index))
    for index in range(rng.randint(2, 6)):
        world.policies.append(gen_policy(rng, "np-%d" % index, world.namespaces))
    return world


def write_world(world, directory):
    """Write the world's manifests into `directory` (created if needed)."""
    os.makedirs(directory, exist_ok=True)
    for name, documents in world.files().items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(to_yaml(documents))


def main(argv=None):
    """Command line: write the world of --seed into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="directory to write YAML into")
    args = parser.parse_args(argv)
    world = generate(args.seed)
    write_world(world, args.out)
    print("seed %d: %d namespaces, %d deployments, %d policies -> %s" % (
        args.seed, len(world.namespaces), len(world.deployments),
        len(world.policies), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
