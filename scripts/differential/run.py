#!/usr/bin/env python3
"""Differential test: netpol-fix against network-config-analyzer (nca).

For every seed, a random world is generated (gen_world.py) into a temporary
directory, both tools compute its connectivity, both answers are normalized
to one common form and compared:

    facts = {(src, dst): allowed connections}

where src/dst is a workload ("wl", namespace, kind, name) or an external
address range ("ext", first, last), and "allowed connections" maps each of TCP, UDP
and SCTP to a set of destination-port intervals, plus OTHER for protocols
without ports (ICMP, ...), which Kubernetes allows only through rules without
`ports`.  External ranges of both sides are cut at the union of all range
boundaries, so "10.0.0.0-10.255.255.255" on one side and two halves on the
other compare equal.  Self-connections are dropped (nca never lists them).

Exit status: 0 when every world agrees, 1 on any disagreement, 2 when a tool
failed or printed something that could not be parsed.  See README.md.
"""

import argparse
import bisect
import concurrent.futures
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen_world  # noqa: E402  (sibling module)

PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
OTHER = "OTHER"            # all protocols without ports, as one bucket
FULL_PORTS = ((1, 65535),)
# External addresses live in one integer space: IPv4 as is, IPv6 shifted
# above it, so that a range never mixes the two families.
V6_OFFSET = 2 ** 32
ADDRESS_SPACE_END = V6_OFFSET + 2 ** 128      # exclusive
DEFAULT_NCA = "/tmp/nca-venv/bin/nca"
DEFAULT_NETPOL_FIX = os.path.join(REPO, "target", "release", "netpol-fix")


class ParseError(Exception):
    """A tool printed something this script does not understand."""


# ------------------------------------------------------------ interval sets

def iv_norm(intervals):
    """Return intervals sorted, with overlapping/adjacent ones merged."""
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def iv_subtract(left, right):
    """Return the intervals of `left` not covered by `right` (both normalized)."""
    out = []
    for lo, hi in left:
        for rlo, rhi in right:
            if rhi < lo or rlo > hi:
                continue
            if rlo > lo:
                out.append((lo, rlo - 1))
            lo = rhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def iv_format(intervals):
    """Render intervals like nca does: 80,443,1000-2000."""
    return ",".join(str(lo) if lo == hi else "%d-%d" % (lo, hi) for lo, hi in intervals)


# -------------------------------------------------------- connection sets
# A connection set is a dict {protocol: normalized intervals}; a protocol is
# absent when nothing is allowed for it.  OTHER uses the dummy interval (0, 0).

def conn_all():
    """Return the connection set allowing every protocol and port."""
    conn = {proto: FULL_PORTS for proto in PORT_PROTOCOLS}
    conn[OTHER] = ((0, 0),)
    return conn


def conn_union(left, right):
    """Return the union of two connection sets."""
    out = dict(left)
    for proto, ivs in right.items():
        out[proto] = iv_norm(out.get(proto, ()) + ivs)
    return out


def conn_subtract(left, right):
    """Return what `left` allows and `right` does not."""
    out = {}
    for proto, ivs in left.items():
        rest = iv_subtract(ivs, right.get(proto, ()))
        if rest:
            out[proto] = rest
    return out


def conn_key(conn):
    """Return a hashable, canonical form of a connection set."""
    return tuple(sorted((p, ivs) for p, ivs in conn.items() if ivs))


def conn_format(conn):
    """Render a connection set for humans: `all`, `none` or `TCP 80; UDP *`."""
    if not conn:
        return "none"
    if conn_key(conn) == conn_key(conn_all()):
        return "all"
    parts = []
    for proto in PORT_PROTOCOLS:
        if proto in conn:
            ports = conn[proto]
            parts.append("%s %s" % (proto, "*" if ports == FULL_PORTS else iv_format(ports)))
    if OTHER in conn:
        parts.append("non-port protocols (ICMP, ...)")
    return "; ".join(parts)


# ---------------------------------------------------------------- endpoints

def addr_to_int(text):
    """Map an IPv4 or IPv6 address to the common integer space."""
    addr = ipaddress.ip_address(text)
    return int(addr) + (V6_OFFSET if addr.version == 6 else 0)


def int_to_addr(value):
    """Inverse of addr_to_int."""
    if value >= V6_OFFSET:
        return ipaddress.IPv6Address(value - V6_OFFSET)
    return ipaddress.IPv4Address(value)


def ep_format(ep):
    """Render an endpoint the way nca does."""
    if ep[0] == "ext":
        return "%s-%s" % (int_to_addr(ep[1]), int_to_addr(ep[2]))
    return "%s/%s[%s]" % (ep[1], ep[3], ep[2])


def parse_ip_ranges(text):
    """Parse `A-B`, `A`, or `A/len` (comma-separated, IPv4 or IPv6) into
    (first, last) pairs of the common integer space."""
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            lo, hi = addr_to_int(lo), addr_to_int(hi)
            if hi < lo or (lo < V6_OFFSET) != (hi < V6_OFFSET):
                raise ValueError("bad range")
            out.append((lo, hi))
        elif "/" in part:
            net = ipaddress.ip_network(part, strict=False)
            out.append((addr_to_int(str(net.network_address)),
                        addr_to_int(str(net.broadcast_address))))
        else:
            addr = addr_to_int(part)
            out.append((addr, addr))
    return out


# ---------------------------------------------------------------- nca side

_NCA_LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conn>.+)$")
_NCA_WORKLOAD = re.compile(r"^(?P<ns>[^/\s]+)/(?P<name>[^/\[\s]+)(?:\[(?P<kind>[A-Za-z]+)\])?$")
_NCA_CUBE_KEY = re.compile(r",(?=[a-z_]+:)")


def parse_nca_endpoint(text):
    """Return the list of endpoints for one nca endpoint."""
    match = _NCA_WORKLOAD.match(text)
    if match:
        return [("wl", match["ns"], match["kind"] or "Pod", match["name"])]
    try:
        return [("ext", lo, hi) for lo, hi in parse_ip_ranges(text)]
    except ValueError as err:
        raise ParseError("nca endpoint %r: %s" % (text, err)) from None


def parse_nca_protocols(text):
    """Parse nca's protocol list (`*`, `TCP, UDP`, `all but TCP`) to names."""
    if text == "*":
        return set(PORT_PROTOCOLS) | {OTHER}
    negate = text.startswith("all but ")
    names = {n.strip() for n in text[len("all but "):].split(",")} if negate else \
        {n.strip() for n in text.split(",")}
    protos = {OTHER if n not in PORT_PROTOCOLS else n for n in names}
    if negate:
        # "all but X": every other protocol; OTHER stays since nca's domain
        # has 253 non-port protocols and no K8s policy names any of them.
        return (set(PORT_PROTOCOLS) | {OTHER}) - (protos - {OTHER})
    return protos


def parse_nca_ports(text):
    """Parse `80,443,1000-2000` into normalized intervals."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi or lo)))
    return iv_norm(out)


def parse_nca_cube(body):
    """Parse the inside of one `{protocols:...,dst_ports:...}` cube."""
    fields = {}
    for item in _NCA_CUBE_KEY.split(body):
        key, sep, value = item.partition(":")
        if not sep:
            raise ParseError("nca cube field %r" % item)
        fields[key] = value
    unknown = set(fields) - {"protocols", "dst_ports"}
    if unknown:
        raise ParseError("nca cube with unsupported dimensions %s" % sorted(unknown))
    protos = parse_nca_protocols(fields.get("protocols", "*"))
    ports = parse_nca_ports(fields["dst_ports"]) if "dst_ports" in fields else FULL_PORTS
    return {proto: ((0, 0),) if proto == OTHER else ports for proto in protos}


def parse_nca_conn(text):
    """Parse an nca connection string into a connection set."""
    text = text.strip()
    if text == "All connections":
        return conn_all()
    if text == "No connections":
        return {}
    if text.startswith("All but "):
        return conn_subtract(conn_all(), parse_nca_conn(text[len("All but "):]))
    bodies = re.findall(r"\{([^{}]*)\}", text)
    if not bodies or ",".join("{%s}" % b for b in bodies) != text:
        raise ParseError("nca connection %r" % text)
    conn = {}
    for body in bodies:
        conn = conn_union(conn, parse_nca_cube(body))
    return conn


def parse_nca_output(text):
    """Parse nca `-o txt_no_fw_rules` output into a list of (src, dst, conn)."""
    facts = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.endswith("Connections:"):
            continue
        match = _NCA_LINE.match(line)
        if not match:
            raise ParseError("nca line %r" % line)
        conn = parse_nca_conn(match["conn"])
        for src in parse_nca_endpoint(match["src"]):
            for dst in parse_nca_endpoint(match["dst"]):
                facts.append((src, dst, conn))
    return facts


def nca_command(nca, pristine=False, wrapper="nca_patched.py"):
    """Return the command prefix running nca, patched unless `pristine`.

    The patched form runs `wrapper` (by default nca_patched.py, a fix for a
    known nca bug, see its docstring) under the Python interpreter named on the
    nca script's #! line.
    """
    if pristine:
        return [nca]
    with open(nca, "rb") as handle:
        first = handle.readline().decode("utf-8", "replace").strip()
    python = first[2:].strip() if first.startswith("#!") else ""
    if not python or "python" not in os.path.basename(python.split()[0]):
        raise SystemExit("%s is not a Python entry script; pass --pristine-nca" % nca)
    return python.split() + [os.path.join(HERE, wrapper)]


def run_nca(nca, world_dir, out_file):
    """Run nca's connectivity query on world_dir; return its parsed facts.

    `nca` is a command prefix (a list, see nca_command) or a path.

    Namespaces and pods are passed with -n/-p rather than -r: with -r, nca
    reads files in directory order and a Namespace read after the workloads
    in it loses its labels (see README.md).  --print_ipv6 makes nca list the
    IPv6 external ranges too, as netpol-fix does.
    """
    if os.path.exists(out_file):
        os.remove(out_file)        # nca -f appends to an existing file
    prefix = list(nca) if isinstance(nca, (list, tuple)) else [nca]
    cmd = prefix + ["--connectivity", world_dir, "-n", world_dir, "-p", world_dir,
                    "-o", "txt_no_fw_rules", "--print_ipv6", "-f", out_file]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not os.path.exists(out_file):
        raise ParseError("nca failed (exit %d): %s" % (
            proc.returncode, (proc.stdout + proc.stderr).strip()[-2000:]))
    with open(out_file, encoding="utf-8") as handle:
        return parse_nca_output(handle.read())


# --------------------------------------------------------- netpol-fix side

def parse_npf_endpoint(ep):
    """Parse one netpol-fix JSON endpoint."""
    if "external" in ep:
        try:
            return [("ext", lo, hi) for lo, hi in parse_ip_ranges(ep["external"])]
        except ValueError as err:
            raise ParseError("netpol-fix external %r: %s" % (ep["external"], err)) from None
    return [("wl", ep["namespace"], ep["kind"], ep["name"])]


def parse_npf_conn(conn):
    """Parse one netpol-fix JSON connection into a connection set."""
    if conn.get("all"):
        return conn_all()
    out = {}
    for port in conn.get("ports", []):
        proto = port["protocol"].upper()
        if proto not in PORT_PROTOCOLS:
            raise ParseError("netpol-fix protocol %r" % port["protocol"])
        out = conn_union(out, {proto: ((port["start"], port["end"]),)})
    return out


def parse_npf_output(text):
    """Parse `netpol-fix graph --format json`: return (workloads, facts)."""
    try:
        data = json.loads(text)
        workloads = sorted((w["namespace"], w["kind"], w["name"]) for w in data["workloads"])
        facts = []
        for conn in data["connections"]:
            allowed = parse_npf_conn(conn)
            for src in parse_npf_endpoint(conn["src"]):
                for dst in parse_npf_endpoint(conn["dst"]):
                    facts.append((src, dst, allowed))
    except (ValueError, KeyError, TypeError) as err:
        raise ParseError("netpol-fix JSON: %s: %s" % (type(err).__name__, err)) from None
    return workloads, facts


def run_netpol_fix(binary, world_dir):
    """Run `netpol-fix graph DIR --format json`; return (workloads, facts)."""
    proc = subprocess.run([binary, "graph", world_dir, "--format", "json"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ParseError("netpol-fix failed (exit %d): %s" % (
            proc.returncode, proc.stderr.strip()[-2000:]))
    return parse_npf_output(proc.stdout)


# ------------------------------------------------------------ normalization

def range_cuts(*fact_lists):
    """Return the sorted start points of the atoms of all external ranges."""
    cuts = {0, V6_OFFSET, ADDRESS_SPACE_END}
    for facts in fact_lists:
        for src, dst, _ in facts:
            for ep in (src, dst):
                if ep[0] == "ext":
                    cuts.update((ep[1], ep[2] + 1))
    return sorted(cuts)


def atomize(ep, cuts):
    """Split an endpoint at the cuts: a workload stays, a range becomes atoms."""
    if ep[0] != "ext":
        return [ep]
    first = bisect.bisect_left(cuts, ep[1])
    last = bisect.bisect_left(cuts, ep[2] + 1)
    return [("ext", cuts[i], cuts[i + 1] - 1) for i in range(first, last)]


def normalize(facts, cuts):
    """Return {(src, dst): conn} over atoms, unioned, without self-connections."""
    out = {}
    for src, dst, conn in facts:
        if not conn:
            continue
        for a in atomize(src, cuts):
            for b in atomize(dst, cuts):
                if a == b and a[0] == "wl":
                    continue
                out[(a, b)] = conn_union(out.get((a, b), {}), conn)
    return out


def compare(nca_map, npf_map):
    """Return [(src, dst, nca_conn, npf_conn)] for every pair that differs."""
    diffs = []
    for pair in sorted(set(nca_map) | set(npf_map)):
        left, right = nca_map.get(pair, {}), npf_map.get(pair, {})
        if conn_key(left) != conn_key(right):
            diffs.append((pair[0], pair[1], left, right))
    return diffs


def adjacent(first, second):
    """Whether external range `second` starts right after `first`, same family."""
    return first[0] == second[0] == "ext" and first[2] + 1 == second[1] != V6_OFFSET


def merge_ranges(diffs):
    """Merge consecutive entries whose external src (or dst) atoms are adjacent
    and whose other endpoint and both sides' connections are identical."""
    merged = []
    for src, dst, left, right in diffs:
        if merged:
            psrc, pdst, pleft, pright = merged[-1]
            same = conn_key(pleft) == conn_key(left) and conn_key(pright) == conn_key(right)
            if same and psrc == src and adjacent(pdst, dst):
                merged[-1] = (src, ("ext", pdst[1], dst[2]), left, right)
                continue
            if same and pdst == dst and adjacent(psrc, src):
                merged[-1] = (("ext", psrc[1], src[2]), dst, left, right)
                continue
        merged.append((src, dst, left, right))
    return merged


def group_diffs(diffs):
    """Return the differing pairs with adjacent external atoms merged."""
    by_dst = merge_ranges(sorted(diffs, key=lambda d: (d[1], d[0])))
    return merge_ranges(sorted(by_dst, key=lambda d: (d[0], d[1])))


def minimal_report(groups):
    """Return report lines: per pair, what each side allows and what differs."""
    lines = []
    for src, dst, left, right in groups:
        lines.append("  %s -> %s" % (ep_format(src), ep_format(dst)))
        lines.append("      nca allows:        %s" % conn_format(left))
        lines.append("      netpol-fix allows: %s" % conn_format(right))
        only_left, only_right = conn_subtract(left, right), conn_subtract(right, left)
        if only_left:
            lines.append("      only nca:          %s" % conn_format(only_left))
        if only_right:
            lines.append("      only netpol-fix:   %s" % conn_format(only_right))
    return lines


def inventory_report(expected, npf_workloads, nca_facts):
    """Return lines for workloads missing/extra in netpol-fix or unknown to nca."""
    lines = []
    expected = set(expected)
    for wl in sorted(expected - set(npf_workloads)):
        lines.append("  workload %s missing from netpol-fix `workloads`" % ep_format(("wl",) + wl))
    for wl in sorted(set(npf_workloads) - expected):
        lines.append("  netpol-fix lists unknown workload %s" % ep_format(("wl",) + wl))
    seen = {ep[1:] for s, d, _ in nca_facts for ep in (s, d) if ep[0] == "wl"}
    for wl in sorted(seen - expected):
        lines.append("  nca lists unknown workload %s" % ep_format(("wl",) + wl))
    return lines


# ---------------------------------------------------------------- driving

class Result:
    """Outcome of one world: disagreement count, report lines, error text."""

    def __init__(self, label, world_dir):
        self.label = label
        self.world_dir = world_dir
        self.disagreements = 0
        self.lines = []
        self.error = None
        self.facts = (0, 0)


def check_world(label, world_dir, args, expected_workloads=None):
    """Run both tools on world_dir and compare them; return a Result."""
    result = Result(label, world_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="netpol-diff-nca-") as scratch:
            nca_facts = run_nca(args.nca_cmd, world_dir, os.path.join(scratch, "nca.txt"))
        if args.nca_only:
            result.facts = (len(normalize(nca_facts, range_cuts(nca_facts))), 0)
            return result
        npf_workloads, npf_facts = run_netpol_fix(args.netpol_fix, world_dir)
    except ParseError as err:
        result.error = str(err)
        return result
    cuts = range_cuts(nca_facts, npf_facts)
    nca_map, npf_map = normalize(nca_facts, cuts), normalize(npf_facts, cuts)
    result.facts = (len(nca_map), len(npf_map))
    groups = group_diffs(compare(nca_map, npf_map))
    inventory = inventory_report(expected_workloads, npf_workloads, nca_facts) \
        if expected_workloads is not None else []
    result.lines = inventory + minimal_report(groups)
    result.disagreements = len(inventory) + len(groups)
    return result


def check_seed(seed, args):
    """Generate the world of `seed` in a temp dir and check it."""
    world_dir = tempfile.mkdtemp(prefix="netpol-diff-seed%d-" % seed)
    world = gen_world.generate(seed)
    gen_world.write_world(world, world_dir)
    result = check_world("seed %d" % seed, world_dir, args, world.workloads())
    if not args.keep and not result.disagreements and not result.error:
        shutil.rmtree(world_dir, ignore_errors=True)
    return result


def print_result(result, verbose):
    """Print one world's outcome (silent for agreement unless verbose)."""
    if result.error:
        print("%s: ERROR (world: %s)\n  %s" % (result.label, result.world_dir, result.error))
    elif result.disagreements:
        print("%s: %d disagreement(s) (world: %s)" % (
            result.label, result.disagreements, result.world_dir))
        print("\n".join(result.lines))
    elif verbose:
        print("%s: agree (%d nca facts, %d netpol-fix facts)" % ((result.label,) + result.facts))
    sys.stdout.flush()


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="number of worlds (default 20)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--world", action="append", default=[],
                        help="check this existing directory instead of generated worlds "
                             "(repeatable; no workload-inventory check)")
    parser.add_argument("--netpol-fix", default=DEFAULT_NETPOL_FIX,
                        help="netpol-fix binary (default: target/release/netpol-fix)")
    parser.add_argument("--nca", default=None,
                        help="nca executable (default: %s, else nca on PATH)" % DEFAULT_NCA)
    parser.add_argument("--pristine-nca", action="store_true",
                        help="run nca as installed, without nca_patched.py's bug fix")
    parser.add_argument("--jobs", type=int, default=2, help="worlds checked in parallel")
    parser.add_argument("--keep", action="store_true", help="keep every world directory")
    parser.add_argument("--nca-only", action="store_true",
                        help="only run and parse nca (smoke test without netpol-fix)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list agreeing worlds")
    args = parser.parse_args(argv)
    if args.nca is None:
        args.nca = DEFAULT_NCA if os.path.exists(DEFAULT_NCA) else shutil.which("nca")
    if not args.nca or not os.path.exists(args.nca):
        parser.error("nca not found: install it (see README.md) or pass --nca")
    args.nca_cmd = nca_command(args.nca, args.pristine_nca)
    if not args.nca_only and not os.path.exists(args.netpol_fix):
        parser.error("netpol-fix binary %s not found: run `cargo build --release` "
                     "or pass --netpol-fix" % args.netpol_fix)
    return args


def main(argv=None):
    """Check all worlds, print the report and the summary line."""
    args = parse_args(argv)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.world:
            futures = [pool.submit(check_world, d, os.path.abspath(d), args) for d in args.world]
        else:
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            futures = [pool.submit(check_seed, s, args) for s in seeds]
        results = [f.result() for f in futures]
    for result in results:
        print_result(result, args.verbose)
    worlds = len(results)
    total = sum(r.disagreements for r in results)
    bad = sum(1 for r in results if r.disagreements)
    errors = sum(1 for r in results if r.error)
    summary = "differential: %d worlds, %d disagreements" % (worlds, total)
    if bad:
        summary += " (in %d worlds)" % bad
    if errors:
        summary += ", %d errors" % errors
    if args.nca_only:
        summary += " (nca only: %d facts parsed)" % sum(r.facts[0] for r in results)
    print(summary)
    if errors:
        return 2
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
