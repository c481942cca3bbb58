#!/usr/bin/env python3
"""Self-tests of the differential tool (standard library unittest).

    python3 scripts/differential/test_differential.py

The parser/normalizer tests need nothing; the end-to-end tests need nca
(/tmp/nca-venv/bin/nca or `nca` on PATH) and are skipped without it.  None of
this needs the netpol-fix binary: test doubles stand in for it.
"""

import contextlib
import io
import ipaddress
import os
import shutil
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_world  # noqa: E402
import run  # noqa: E402

NCA = run.DEFAULT_NCA if os.path.exists(run.DEFAULT_NCA) else shutil.which("nca")
TESTDATA = os.path.join(HERE, "testdata")


def ip(text):
    """Return the integer value of an IPv4 address."""
    return int(ipaddress.IPv4Address(text))


def run_main(argv, env=None):
    """Run run.main(argv) with extra environment; return (exit code, stdout)."""
    old = dict(os.environ)
    os.environ.update(env or {})
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = run.main(argv)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return code, out.getvalue()


class IntervalTests(unittest.TestCase):
    """Interval-set helpers."""

    def test_norm_merges_adjacent_and_overlapping(self):
        self.assertEqual(run.iv_norm([(5, 9), (1, 3), (4, 4), (8, 12)]), ((1, 12),))

    def test_subtract(self):
        self.assertEqual(run.iv_subtract(((1, 100),), ((10, 20), (50, 50))),
                         ((1, 9), (21, 49), (51, 100)))
        self.assertEqual(run.iv_subtract(((1, 5),), ((1, 5),)), ())


class NcaParseTests(unittest.TestCase):
    """Parsing of nca's txt_no_fw_rules connection strings and lines."""

    def test_all_and_none(self):
        self.assertEqual(run.conn_format(run.parse_nca_conn("All connections")), "all")
        self.assertEqual(run.parse_nca_conn("No connections"), {})

    def test_single_cube(self):
        conn = run.parse_nca_conn("{protocols:TCP,dst_ports:80-180,6379,8080}")
        self.assertEqual(conn, {"TCP": ((80, 180), (6379, 6379), (8080, 8080))})

    def test_protocol_list_without_ports(self):
        conn = run.parse_nca_conn("{protocols:TCP, UDP,dst_ports:5353}")
        self.assertEqual(conn, {"TCP": ((5353, 5353),), "UDP": ((5353, 5353),)})
        conn = run.parse_nca_conn("{protocols:TCP, UDP, SCTP}")
        self.assertEqual(set(conn), {"TCP", "UDP", "SCTP"})
        self.assertNotIn(run.OTHER, conn)

    def test_several_cubes(self):
        conn = run.parse_nca_conn("{protocols:UDP},{protocols:TCP,dst_ports:80}")
        self.assertEqual(conn, {"UDP": run.FULL_PORTS, "TCP": ((80, 80),)})

    def test_all_but(self):
        conn = run.parse_nca_conn("All but {protocols:TCP,dst_ports:80}")
        self.assertEqual(conn["TCP"], ((1, 79), (81, 65535)))
        self.assertEqual(conn["UDP"], run.FULL_PORTS)
        self.assertIn(run.OTHER, conn)

    def test_protocols_all_but(self):
        conn = run.parse_nca_conn("{protocols:all but TCP}")
        self.assertEqual(set(conn), {"UDP", "SCTP", run.OTHER})

    def test_unknown_dimension_is_an_error(self):
        with self.assertRaises(run.ParseError):
            run.parse_nca_conn("{protocols:TCP,src_ports:80}")
        with self.assertRaises(run.ParseError):
            run.parse_nca_conn("something new")

    def test_lines(self):
        text = ("0.0.0.0-9.255.255.255 => beta/db[Deployment] : All connections\n"
                "alpha/web[Deployment] => beta/db[Deployment] : {protocols:UDP,dst_ports:53}\n")
        facts = run.parse_nca_output(text)
        self.assertEqual(facts[0][0], ("ext", 0, ip("9.255.255.255")))
        self.assertEqual(facts[1][0], ("wl", "alpha", "Deployment", "web"))
        self.assertEqual(facts[1][2], {"UDP": ((53, 53),)})

    def test_ipv6_ranges(self):
        facts = run.parse_nca_output(
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff => a/b[Deployment] : All connections\n")
        src = facts[0][0]
        self.assertEqual(src, ("ext", run.V6_OFFSET, run.V6_OFFSET + 2 ** 128 - 1))
        self.assertEqual(run.ep_format(src), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        self.assertEqual(run.ep_format(("ext", 0, 255)), "0.0.0.0-0.0.0.255")


class NormalizeTests(unittest.TestCase):
    """Range cutting, self-connections and comparison."""

    WEB = ("wl", "alpha", "Deployment", "web")
    DB = ("wl", "beta", "Deployment", "db")

    def test_differently_split_ranges_agree(self):
        left = [(("ext", 0, 2 ** 32 - 1), self.WEB, run.conn_all())]
        right = [(("ext", 0, ip("9.255.255.255")), self.WEB, run.conn_all()),
                 (("ext", ip("10.0.0.0"), 2 ** 32 - 1), self.WEB, run.conn_all())]
        cuts = run.range_cuts(left, right)
        self.assertEqual(run.compare(run.normalize(left, cuts), run.normalize(right, cuts)), [])

    def test_self_connections_are_dropped(self):
        facts = [(self.WEB, self.WEB, run.conn_all())]
        self.assertEqual(run.normalize(facts, run.range_cuts(facts)), {})

    def test_report_merges_adjacent_atoms(self):
        left = [(("ext", ip("10.0.0.0"), ip("10.255.255.255")), self.WEB, {"TCP": ((80, 80),)})]
        right = [(("ext", ip("10.0.0.0"), ip("10.0.255.255")), self.WEB, {}),
                 (("ext", ip("10.1.0.0"), ip("10.255.255.255")), self.WEB, {})]
        cuts = run.range_cuts(left, right)
        groups = run.group_diffs(run.compare(run.normalize(left, cuts), run.normalize(right, cuts)))
        self.assertEqual(len(groups), 1)
        lines = run.minimal_report(groups)
        self.assertIn("10.0.0.0-10.255.255.255 -> alpha/web[Deployment]", lines[0])
        self.assertIn("only nca:          TCP 80", "\n".join(lines))

    def test_report_never_merges_ipv4_with_ipv6(self):
        left = [(self.WEB, ("ext", 0, run.ADDRESS_SPACE_END - 1), run.conn_all())]
        cuts = run.range_cuts(left)
        groups = run.group_diffs(run.compare(run.normalize(left, cuts), {}))
        self.assertEqual([run.ep_format(g[1]) for g in groups],
                         ["0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])

    def test_all_true_equals_all_connections(self):
        _, facts = run.parse_npf_output(
            '{"workloads": [], "connections": [{"src": {"namespace": "beta", "kind": "Deployment",'
            ' "name": "db"}, "dst": {"external": "1.2.3.4-1.2.3.4"}, "all": true, "ports": []}]}')
        self.assertEqual(run.conn_key(facts[0][2]), run.conn_key(run.conn_all()))

    def test_full_port_ranges_are_not_all(self):
        """Listing every port of TCP/UDP/SCTP still excludes ICMP and friends."""
        ports = [{"protocol": p, "start": 1, "end": 65535} for p in run.PORT_PROTOCOLS]
        conn = run.parse_npf_conn({"all": False, "ports": ports})
        self.assertEqual(run.conn_subtract(run.conn_all(), conn), {run.OTHER: ((0, 0),)})


class GeneratorTests(unittest.TestCase):
    """gen_world determinism and shape."""

    def test_same_seed_same_world(self):
        self.assertEqual(gen_world.to_yaml(gen_world.generate(7).policies),
                         gen_world.to_yaml(gen_world.generate(7).policies))

    def test_sizes(self):
        for seed in range(30):
            world = gen_world.generate(seed)
            self.assertTrue(2 <= len(world.namespaces) <= 4)
            self.assertTrue(3 <= len(world.deployments) <= 8)
            self.assertTrue(2 <= len(world.policies) <= 6)


@unittest.skipUnless(NCA, "nca not installed")
class EndToEndTests(unittest.TestCase):
    """run.py main() against nca with test doubles for netpol-fix."""

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="netpol-diff-test-")

    def tearDown(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def fake_binary(self, body):
        """Write an executable shell script standing in for netpol-fix."""
        path = os.path.join(self.scratch, "fake-netpol-fix")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
        return path

    def test_tiny_world_agrees_with_hand_written_answer(self):
        fake = self.fake_binary('cat "%s"' % os.path.join(TESTDATA, "tiny.json"))
        code, out = run_main(["--world", os.path.join(TESTDATA, "tiny"),
                              "--netpol-fix", fake, "--nca", NCA])
        self.assertEqual(code, 0, out)
        self.assertIn("differential: 1 worlds, 0 disagreements", out)

    def test_tiny_world_disagreement_is_reported(self):
        with open(os.path.join(TESTDATA, "tiny.json"), encoding="utf-8") as handle:
            text = handle.read().replace('"start": 8080, "end": 8080', '"start": 8080, "end": 8081')
        bad = os.path.join(self.scratch, "bad.json")
        with open(bad, "w", encoding="utf-8") as handle:
            handle.write(text)
        fake = self.fake_binary('cat "%s"' % bad)
        code, out = run_main(["--world", os.path.join(TESTDATA, "tiny"),
                              "--netpol-fix", fake, "--nca", NCA])
        self.assertEqual(code, 1, out)
        self.assertIn("beta/db[Deployment] -> alpha/web[Deployment]", out)
        self.assertIn("only netpol-fix:   TCP 8081", out)
        self.assertIn("differential: 1 worlds, 1 disagreements", out)

    def test_nca_reexpressed_as_netpol_fix_agrees(self):
        fake = self.fake_binary('exec "%s" "%s" "$@"' % (
            sys.executable, os.path.join(TESTDATA, "nca_as_netpol_fix.py")))
        code, out = run_main(["--seeds", "6", "--netpol-fix", fake, "--nca", NCA],
                             {"NCA": NCA})
        self.assertEqual(code, 0, out)
        self.assertIn("differential: 6 worlds, 0 disagreements", out)

    def test_mutation_is_caught(self):
        fake = self.fake_binary('exec "%s" "%s" "$@"' % (
            sys.executable, os.path.join(TESTDATA, "nca_as_netpol_fix.py")))
        code, out = run_main(["--seeds", "2", "--netpol-fix", fake, "--nca", NCA],
                             {"NCA": NCA, "NCA_AS_NPF_MUTATE": "1"})
        self.assertEqual(code, 1, out)
        self.assertIn("disagreement(s)", out)
        for line in out.splitlines():
            if "(world: " in line:
                shutil.rmtree(line.split("(world: ")[1].rstrip(")"), ignore_errors=True)

    def test_patched_nca_fixes_exists_selector_across_namespaces(self):
        world = os.path.join(TESTDATA, "quirks", "exists-selector-across-namespaces")
        pair = (("wl", "beta", "Deployment", "db"), ("wl", "alpha", "Deployment", "web"))
        out = os.path.join(self.scratch, "nca.txt")
        for pristine, expected in ((False, True), (True, False)):
            facts = run.run_nca(run.nca_command(NCA, pristine), world, out)
            self.assertEqual(pair in {(s, d) for s, d, _ in facts}, expected, pristine)

    def test_broken_tool_output_is_an_error(self):
        fake = self.fake_binary("echo 'not json'")
        code, out = run_main(["--world", os.path.join(TESTDATA, "tiny"),
                              "--netpol-fix", fake, "--nca", NCA])
        self.assertEqual(code, 2, out)
        self.assertIn("ERROR", out)


if __name__ == "__main__":
    unittest.main()
