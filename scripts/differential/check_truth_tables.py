#!/usr/bin/env python3
"""Cross-check fixture truth tables (expect.tsv) against network-config-analyzer.

For each fixture directory (default: every directory under fixtures/calico/),
nca computes the connectivity of world.yaml, and every row of expect.tsv

    FROM  TO  PORT/PROTO  allow|deny   # comment

(FROM/TO: `ns/name`, `ns/Kind/name` or an IP address) gets nca's verdict:
the row's source and destination are looked up in nca's per-pair listing
(workloads as `ns/name[Kind]`, external addresses inside nca's ranges) and the port is looked up in the connections listed
for that pair.  A pair nca does not list allows nothing.

Documented differences are accepted:

* a row whose comment contains `nca-differs` is expected to get the other
  verdict from nca (the documented verdict stays; the reason is in the
  `# nca:` comment and in fixtures/calico/README.md);
* a comment line containing `nca-unsupported` marks every row of the file,
  for worlds nca cannot evaluate at all (nca stops with an error, e.g. on
  `spec.tier`).

By default nca runs through nca_calico.py, which adds the labels Calico gives
every pod and namespace (projectcalico.org/namespace, pcns.*, ...) and lets
nca read crd.projectcalico.org/v1; --pristine-nca runs nca as installed.

Exit status: 0 when every row agrees or differs as documented, 1 when a row
disagrees without a marker (with --strict also when a marked row agrees), 2
when nca failed on a file without `nca-unsupported` or a row cannot be read.
Python 3 standard library only; nca runs as a subprocess.  See README.md.
"""

import argparse
import ipaddress
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run  # noqa: E402  (sibling module: nca invocation and output parser)

DEFAULT_FIXTURES = os.path.join(REPO, "fixtures", "calico")
MARK_ROW = "nca-differs"
MARK_FILE = "nca-unsupported"
PROTOCOLS = ("TCP", "UDP", "SCTP")
WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                  "ReplicationController", "Job", "CronJob"}


class RowError(Exception):
    """A truth-table row or the world cannot be read."""


# ------------------------------------------------------------ truth tables

class Row:
    """One expect.tsv row."""

    def __init__(self, line_no, text, src, dst, port, proto, expected, marked):
        self.line_no = line_no
        self.text = text
        self.src = src
        self.dst = dst
        self.port = port
        self.proto = proto
        self.expected = expected          # True = allow
        self.marked = marked              # documented nca difference
        self.nca = None                   # True/False, None = nca gave no answer


def parse_endpoint(text):
    """`ns/name` -> ("wl", ns, name, None); `ns/Kind/name` -> ("wl", ns, name, Kind);
    an IP address -> ("ip", int)."""
    if "/" in text:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise RowError("bad workload %r" % text)
        return ("wl", parts[0], parts[-1], parts[1] if len(parts) == 3 else None)
    try:
        return ("ip", run.addr_to_int(text))
    except ValueError:
        raise RowError("bad endpoint %r (neither ns/name nor an IP address)" % text) from None


def parse_table(path):
    """Return (rows, file_marked) of one expect.tsv."""
    rows, file_marked = [], False
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line_no, line in enumerate(lines, 1):
        main, _, comment = line.partition("#")
        if not main.strip():
            if MARK_FILE in comment:
                file_marked = True
            continue
        fields = main.split()
        if len(fields) != 4:
            raise RowError("%s:%d: expected FROM TO PORT/PROTO VERDICT" % (path, line_no))
        port, _, proto = fields[2].partition("/")
        if not port.isdigit() or proto not in PROTOCOLS:
            raise RowError("%s:%d: bad PORT/PROTO %r" % (path, line_no, fields[2]))
        if fields[3] not in ("allow", "deny"):
            raise RowError("%s:%d: bad verdict %r" % (path, line_no, fields[3]))
        try:
            src, dst = parse_endpoint(fields[0]), parse_endpoint(fields[1])
        except RowError as err:
            raise RowError("%s:%d: %s" % (path, line_no, err)) from None
        rows.append(Row(line_no, main.strip(), src, dst, int(port), proto,
                        fields[3] == "allow", MARK_ROW in comment))
    if not rows:
        raise RowError("%s: no rows" % path)
    return rows, file_marked


def world_workloads(path):
    """Return {(namespace, name, kind)} of the workloads declared in a world file.

    A light line scan, enough for the fixtures' plain block-style YAML: per
    document, the top-level `kind:` and the `name:`/`namespace:` directly
    under `metadata:`.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    found = set()
    for doc in re.split(r"(?m)^---\s*$", text):
        kind = re.search(r"(?m)^kind:\s*(\S+)", doc)
        meta = re.search(r"(?ms)^metadata:\s*\n((?:[ \t]+.*\n?)*)", doc)
        if not kind or kind.group(1) not in WORKLOAD_KINDS or not meta:
            continue
        name = re.search(r"(?m)^  name:\s*(\S+)", meta.group(1))
        namespace = re.search(r"(?m)^  namespace:\s*(\S+)", meta.group(1))
        if name:
            found.add((namespace.group(1) if namespace else "default", name.group(1), kind.group(1)))
    return found


def declared(endpoint, workloads):
    """Whether a row's workload endpoint is among the declared workloads."""
    _, namespace, name, kind = endpoint
    return any(ns == namespace and n == name and (kind is None or k.lower() == kind.lower())
               for ns, n, k in workloads)


# ----------------------------------------------------------------- nca side

def matches(endpoint, nca_endpoint):
    """Whether a row endpoint is (inside) an nca endpoint."""
    if endpoint[0] == "wl":
        return nca_endpoint[0] == "wl" and nca_endpoint[1] == endpoint[1] \
            and nca_endpoint[3] == endpoint[2] \
            and (endpoint[3] is None or nca_endpoint[2].lower() == endpoint[3].lower())
    return nca_endpoint[0] == "ext" and nca_endpoint[1] <= endpoint[1] <= nca_endpoint[2]


def nca_verdict(facts, row):
    """Whether nca's facts allow the row's connection."""
    for src, dst, conn in facts:
        if matches(row.src, src) and matches(row.dst, dst):
            for lo, hi in conn.get(row.proto, ()):
                if lo <= row.port <= hi:
                    return True
    return False


def run_nca_on(prefix, world):
    """Run nca on a copy of world.yaml alone; return its parsed facts."""
    with tempfile.TemporaryDirectory(prefix="netpol-truth-nca-") as scratch:
        world_dir = os.path.join(scratch, "world")
        os.mkdir(world_dir)
        shutil.copy(world, os.path.join(world_dir, "world.yaml"))
        return run.run_nca(prefix, world_dir, os.path.join(scratch, "nca.txt"))


# ------------------------------------------------------------------ driving

def ep_text(endpoint):
    """Render a row endpoint back to its table form."""
    if endpoint[0] == "wl":
        return "/".join(p for p in (endpoint[1], endpoint[3], endpoint[2]) if p)
    return str(run.int_to_addr(endpoint[1]))


def verdict_text(allowed):
    """allow / deny / ?"""
    return "?" if allowed is None else ("allow" if allowed else "deny")


def check_fixture(directory, prefix):
    """Check one fixture; return (rows, error_text)."""
    rows, file_marked = parse_table(os.path.join(directory, "expect.tsv"))
    world = os.path.join(directory, "world.yaml")
    workloads = world_workloads(world)
    for row in rows:
        for endpoint in (row.src, row.dst):
            if endpoint[0] == "wl" and not declared(endpoint, workloads):
                raise RowError("%s/expect.tsv:%d: %s is not declared in world.yaml" % (
                    directory, row.line_no, ep_text(endpoint)))
        row.marked = row.marked or file_marked
    try:
        facts = run_nca_on(prefix, world)
    except run.ParseError as err:
        return rows, str(err)
    for row in rows:
        row.nca = nca_verdict(facts, row)
    return rows, None


def classify(row):
    """agree / documented / FAIL / stale for one row."""
    if row.nca is None:
        return "documented" if row.marked else "FAIL"
    if row.nca == row.expected:
        return "stale" if row.marked else "agree"
    return "documented" if row.marked else "FAIL"


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", nargs="*",
                        help="fixture directories, or directories of fixtures "
                             "(default: fixtures/calico)")
    parser.add_argument("--nca", default=None,
                        help="nca executable (default: %s, else nca on PATH)" % run.DEFAULT_NCA)
    parser.add_argument("--pristine-nca", action="store_true",
                        help="run nca as installed, without nca_calico.py")
    parser.add_argument("--strict", action="store_true",
                        help="also fail when a row marked nca-differs agrees with nca")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every row")
    args = parser.parse_args(argv)
    if args.nca is None:
        args.nca = run.DEFAULT_NCA if os.path.exists(run.DEFAULT_NCA) else shutil.which("nca")
    if not args.nca or not os.path.exists(args.nca):
        parser.error("nca not found: install it (see README.md) or pass --nca")
    return args


def fixture_dirs(paths):
    """Expand the arguments to fixture directories (those holding expect.tsv)."""
    out = []
    for path in paths or [DEFAULT_FIXTURES]:
        path = os.path.abspath(path)
        if os.path.exists(os.path.join(path, "expect.tsv")):
            out.append(path)
            continue
        if not os.path.isdir(path):
            raise SystemExit("%s: not a fixture directory" % path)
        out.extend(sorted(os.path.join(path, d) for d in os.listdir(path)
                          if os.path.exists(os.path.join(path, d, "expect.tsv"))))
    return out


def main(argv=None):
    """Check every fixture, print per-row findings and a summary."""
    args = parse_args(argv)
    prefix = run.nca_command(args.nca, args.pristine_nca, "nca_calico.py")
    counts = {"agree": 0, "documented": 0, "FAIL": 0, "stale": 0}
    errors = 0
    for directory in fixture_dirs(args.fixtures):
        name = os.path.relpath(directory, REPO)
        try:
            rows, nca_error = check_fixture(directory, prefix)
        except (RowError, OSError) as err:
            print("%s: ERROR %s" % (name, err))
            errors += 1
            continue
        kinds = [classify(r) for r in rows]
        for kind in kinds:
            counts[kind] += 1
        if nca_error and any(k == "FAIL" for k in kinds):
            errors += 1
        summary = ", ".join("%d %s" % (kinds.count(k), k) for k in counts if kinds.count(k))
        print("%s: %s%s" % (name, summary, " (nca failed)" if nca_error else ""))
        if nca_error and (args.verbose or "FAIL" in kinds):
            print("  nca: %s" % nca_error.splitlines()[-1][:300])
        for row, kind in zip(rows, kinds):
            if kind == "agree" and not args.verbose:
                continue
            note = {"agree": "", "documented": "  (documented nca difference)",
                    "FAIL": "  <-- undocumented disagreement", "stale": "  (marked nca-differs, but nca agrees)"}[kind]
            if kind == "documented" and not args.verbose:
                continue
            print("  line %d: %-60s nca: %s%s" % (row.line_no, row.text, verdict_text(row.nca), note))
    total = sum(counts.values())
    print("truth tables: %d rows: %d agree, %d documented nca differences, %d undocumented "
          "disagreements, %d stale markers%s" % (
              total, counts["agree"], counts["documented"], counts["FAIL"], counts["stale"],
              ", %d errors" % errors if errors else ""))
    if errors:
        return 2
    if counts["FAIL"] or (args.strict and counts["stale"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
