#!/usr/bin/env python3
"""Test double for `netpol-fix graph DIR --format json`, built from nca's answer.

It runs nca on DIR and re-expresses the result in the netpol-fix JSON
contract, deliberately differently from nca's own shape: external ranges are
cut into nca's atoms and at extra points, self-connections are added,
full port ranges are listed next to `all: true`, and each protocol becomes
its own connection entry.  run.py must still report zero disagreements, which
tests its normalization end to end.  With NCA_AS_NPF_MUTATE=1 it replaces
the first connection by TCP port 1 (to check that disagreements are caught).

Workloads are read from deployments.yaml as written by gen_world.py.
"""

import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run  # noqa: E402

EXTRA_CUTS = [run.addr_to_int(a) for a in ("10.128.0.0", "128.0.0.0", "192.168.3.0", "8000::")]


def read_workloads(world_dir):
    """Return [(namespace, kind, name)] from gen_world's deployments.yaml."""
    with open(os.path.join(world_dir, "deployments.yaml"), encoding="utf-8") as handle:
        docs = handle.read().split("---\n")
    out = []
    for doc in docs:
        name = re.search(r"^  name: (\S+)$", doc, re.M).group(1)
        namespace = re.search(r"^  namespace: (\S+)$", doc, re.M).group(1)
        out.append((namespace, "Deployment", name))
    return out


def ep_json(ep):
    """Render an endpoint in the netpol-fix JSON contract."""
    if ep[0] == "ext":
        return {"external": run.ep_format(ep)}
    return {"namespace": ep[1], "kind": ep[2], "name": ep[3]}


def conn_json(src, dst, conn):
    """Render one fact as one or more netpol-fix connection entries."""
    if run.conn_key(conn) == run.conn_key(run.conn_all()):
        ports = [{"protocol": p, "start": 1, "end": 65535} for p in run.PORT_PROTOCOLS]
        return [{"src": ep_json(src), "dst": ep_json(dst), "all": True, "ports": ports}]
    out = []
    for proto in run.PORT_PROTOCOLS:
        if proto in conn:
            ports = [{"protocol": proto, "start": lo, "end": hi} for lo, hi in conn[proto]]
            out.append({"src": ep_json(src), "dst": ep_json(dst), "all": False, "ports": ports})
    return out


def main():
    """Print nca's answer for sys.argv[2] in the netpol-fix JSON contract."""
    world_dir = sys.argv[2]
    with tempfile.TemporaryDirectory() as scratch:
        facts = run.run_nca(run.nca_command(os.environ.get("NCA", run.DEFAULT_NCA)),
                            world_dir, os.path.join(scratch, "out.txt"))
    cuts = sorted(set(run.range_cuts(facts)) | set(EXTRA_CUTS))
    facts_map = run.normalize(facts, cuts)
    workloads = read_workloads(world_dir)
    for wl in workloads:
        facts_map[(("wl",) + wl, ("wl",) + wl)] = run.conn_all()
    connections = []
    for (src, dst), conn in sorted(facts_map.items()):
        connections.extend(conn_json(src, dst, conn))
    if os.environ.get("NCA_AS_NPF_MUTATE") and connections:
        connections[0]["all"] = False
        connections[0]["ports"] = [{"protocol": "TCP", "start": 1, "end": 1}]
    json.dump({"workloads": [{"namespace": n, "kind": k, "name": m} for n, k, m in workloads],
               "connections": connections}, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
