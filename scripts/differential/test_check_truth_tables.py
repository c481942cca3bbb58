#!/usr/bin/env python3
"""Self-tests of check_truth_tables.py (stdlib unittest; the nca test is skipped without nca)."""

import os
import tempfile
import textwrap
import unittest

import check_truth_tables as ctt
import run

HERE = os.path.dirname(os.path.abspath(__file__))


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(text).lstrip("\n"))
    return path


WORLD = """
    apiVersion: v1
    kind: Namespace
    metadata:
      name: app
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: app
      labels:
        name: not-this
    spec:
      template:
        metadata:
          name: nor-this
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: solo
    spec: {}
    ---
    apiVersion: projectcalico.org/v3
    kind: NetworkSet
    metadata:
      name: not-a-workload
      namespace: app
    """


class ParseTable(unittest.TestCase):
    def test_rows_markers_and_comments(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write(tmp, "expect.tsv", """
                # Rule: https://example.invalid/doc   (a # inside a comment is fine)
                app/web   app/db        5432/TCP  allow   # first
                10.0.0.1  app/db        53/UDP    deny    # nca: allow (nca-differs: reason)
                app/db    2001:db8::1   9/SCTP    deny
                app/Deployment/web  app/db  80/TCP  deny
                """)
            rows, file_marked = ctt.parse_table(path)
        self.assertFalse(file_marked)
        self.assertEqual([r.line_no for r in rows], [2, 3, 4, 5])
        self.assertEqual(rows[0].src, ("wl", "app", "web", None))
        self.assertEqual((rows[0].port, rows[0].proto, rows[0].expected), (5432, "TCP", True))
        self.assertEqual(rows[1].src, ("ip", run.addr_to_int("10.0.0.1")))
        self.assertEqual([r.marked for r in rows], [False, True, False, False])
        self.assertEqual(rows[3].src, ("wl", "app", "web", "Deployment"))
        self.assertEqual(rows[2].dst, ("ip", run.addr_to_int("2001:db8::1")))

    def test_file_marker(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write(tmp, "expect.tsv", """
                # nca: nca-unsupported: tiers
                app/web  app/db  5432/TCP  allow
                """)
            _, file_marked = ctt.parse_table(path)
        self.assertTrue(file_marked)

    def test_bad_rows(self):
        for bad in ("app/web app/db 5432/TCP", "app/web app/db 5432/ICMP allow",
                    "app/web app/db x/TCP allow", "app/web app/db 80/TCP maybe",
                    "web app/db 80/TCP allow", "a/b/c/d app/db 80/TCP allow", "# only comments"):
            with tempfile.TemporaryDirectory() as tmp:
                path = write(tmp, "expect.tsv", bad + "\n")
                with self.assertRaises(ctt.RowError, msg=bad):
                    ctt.parse_table(path)


class WorldScan(unittest.TestCase):
    def test_workloads_only_metadata_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write(tmp, "world.yaml", WORLD)
            workloads = ctt.world_workloads(path)
        self.assertEqual(workloads, {("app", "web", "Deployment"), ("default", "solo", "Pod")})
        for text, found in [("app/web", True), ("app/deployment/web", True), ("app/Pod/web", False),
                            ("default/solo", True), ("app/not-a-workload", False)]:
            self.assertEqual(ctt.declared(ctt.parse_endpoint(text), workloads), found, text)


class Verdicts(unittest.TestCase):
    FACTS = run.parse_nca_output(textwrap.dedent("""
        0.0.0.0-9.255.255.255 => app/db[Deployment] : {protocols:TCP,dst_ports:5432}
        app/web[Deployment] => app/db[Deployment] : {protocols:UDP,dst_ports:53},{protocols:TCP,dst_ports:1000-2000}
        app/web[Deployment] => app/db[Deployment] : {protocols:SCTP}
        app/db[Deployment] => 10.0.0.0-10.255.255.255 : All connections
        """))

    def row(self, src, dst, port, proto):
        return ctt.Row(1, "", ctt.parse_endpoint(src), ctt.parse_endpoint(dst), port, proto, True, False)

    def test_lookup(self):
        cases = [
            (("app/web", "app/db", 53, "UDP"), True),
            (("app/web", "app/db", 53, "TCP"), False),
            (("app/web", "app/db", 1500, "TCP"), True),    # range, second cube
            (("app/web", "app/db", 7, "SCTP"), True),      # second line for the pair
            (("9.1.2.3", "app/db", 5432, "TCP"), True),     # inside the source range
            (("10.0.0.1", "app/db", 5432, "TCP"), False),   # outside it
            (("app/db", "10.9.9.9", 1, "UDP"), True),
            (("app/db", "app/web", 53, "UDP"), False),      # pair not listed
            (("other/web", "app/db", 53, "UDP"), False),    # same name, other namespace
            (("app/Deployment/web", "app/db", 53, "UDP"), True),
            (("app/StatefulSet/web", "app/db", 53, "UDP"), False),
        ]
        for (src, dst, port, proto), allowed in cases:
            self.assertEqual(ctt.nca_verdict(self.FACTS, self.row(src, dst, port, proto)), allowed,
                             (src, dst, port, proto))

    def test_classify(self):
        row = self.row("app/web", "app/db", 53, "UDP")
        for expected, marked, nca, kind in [(True, False, True, "agree"), (True, False, False, "FAIL"),
                                            (True, True, False, "documented"), (True, True, True, "stale"),
                                            (True, False, None, "FAIL"), (True, True, None, "documented")]:
            row.expected, row.marked, row.nca = expected, marked, nca
            self.assertEqual(ctt.classify(row), kind)


@unittest.skipUnless(os.path.exists(run.DEFAULT_NCA), "nca not installed at %s" % run.DEFAULT_NCA)
class WithNca(unittest.TestCase):
    def test_shim_adds_calico_labels(self):
        """namespaceSelector projectcalico.org/name == 'app' only works with nca_calico.py."""
        world = WORLD.split("---")[0] + """---
    apiVersion: v1
    kind: Namespace
    metadata:
      name: b
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: db
      namespace: b
    spec:
      selector:
        matchLabels:
          app: db
      template:
        metadata:
          labels:
            app: db
        spec:
          containers:
          - name: db
            image: db
            ports:
            - containerPort: 5432
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: app
    spec:
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          containers:
          - name: web
            image: web
    ---
    apiVersion: projectcalico.org/v3
    kind: NetworkPolicy
    metadata:
      name: db
      namespace: b
    spec:
      selector: app == 'db'
      ingress:
      - action: Allow
        source:
          namespaceSelector: projectcalico.org/name == 'app'
    """
        with tempfile.TemporaryDirectory() as tmp:
            write(tmp, "world.yaml", world)
            write(tmp, "expect.tsv", "app/web  b/db  5432/TCP  allow\n")
            rows, error = ctt.check_fixture(tmp, run.nca_command(run.DEFAULT_NCA, False, "nca_calico.py"))
            self.assertIsNone(error)
            self.assertEqual(rows[0].nca, True)
            rows, error = ctt.check_fixture(tmp, run.nca_command(run.DEFAULT_NCA, True))
            self.assertIsNone(error)
            self.assertEqual(rows[0].nca, False)


if __name__ == "__main__":
    unittest.main()
