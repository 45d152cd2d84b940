#!/usr/bin/env python3
"""test_fleet_keys.py - generated signing keys in fleet mode (issue 12, docs/fleet.md): a
token-issuing namespace without a configured signing_key, three nodes (fleet_util.py) started at
the same moment on an empty PostgreSQL (pg_util.py). Each generates a key; the store keeps the
first one committed (sealed with the fleet's key_file: no private key in clear in the database),
and the two others adopt it. A token issued through any node is accepted by every other; a node
restarted keeps the fleet's key. A fourth node started while the database is down signs with its
own key: it issues no token with it once the database is back (503, the fleet's key adopted into
its state_dir), and after a reload issues tokens with the fleet's key.

Tokens: minted by the nodes themselves (POST /v1/tokens) with the generated key."""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import pg_util  # noqa: E402


def kid_of(token):
    return json.loads(it.b64u_decode(token.split(".")[0]))["kid"]


class GeneratedKeys(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg_util.Postgres()
        cls.start_fleet("fleet-keys", lambda name: cls.pg.conninfo(), generated_keys=True)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.pg.close()

    def fleet_kid(self, node):
        m = re.findall(r"namespace ns-app signs with the fleet's generated key ([A-Za-z0-9_-]+)"
                       r"( \(stored by another node first\))?",
                       self.nodes[node].proc.output())
        self.assertEqual(len(m), 1, self.nodes[node].proc.output()[-3000:])
        return m[0]

    def test_1_one_key_for_the_fleet(self):
        rows = self.pg.psql("SELECT namespace_id, key, body FROM fngate_items "
                            "WHERE kind = 'signing_key'").splitlines()
        self.assertEqual(len(rows), 1, rows)
        ns, kid, body = rows[0].split("|", 2)
        self.assertEqual(ns, "ns-app")
        self.assertEqual(list(json.loads(body)), ["sealed"])
        self.assertNotIn("PRIVATE", self.pg.psql("SELECT string_agg(body, '') FROM fngate_items "
                                                 "UNION ALL SELECT string_agg(body, '') FROM "
                                                 "fngate_changes"))
        seen = {n: self.fleet_kid(n) for n in self.names}
        self.assertEqual({k for k, _ in seen.values()}, {kid})
        # three nodes started together: one stored its key, the two others adopted it
        self.assertEqual(sorted(adopted != "" for _, adopted in seen.values()),
                         [False, True, True], seen)
        for n in self.names:
            with open(os.path.join(self.confs[n]["state_dir"], "keys", "ns-app",
                                   "current")) as f:
                self.assertEqual(f.read().strip(), kid)
        print("\nfleet: 3 nodes started together, each with a generated key: the store kept "
              "%s (from the node that committed first), the others adopted it" % kid)

    def test_2_tokens_issued_anywhere_verify_everywhere(self):
        kid = self.fleet_kid("a")[0]
        for issuer in self.names:
            tok = self.create(issuer, "issued by " + issuer)
            self.assertEqual(kid_of(tok["token"]), kid)
            for n in self.names:
                self.wait_status(n, tok["token"], (200, None), timeout=1.0)

    def test_3_restart_keeps_the_key(self):
        kid = self.fleet_kid("a")[0]
        self.nodes["b"].proc.signal(signal.SIGKILL)
        self.nodes["b"].proc.wait(10)
        self.start_node("b")
        self.assertEqual(self.fleet_kid("b")[0], kid)
        tok = self.create("b", "after the restart")
        self.assertEqual(kid_of(tok["token"]), kid)
        for n in ("a", "c"):
            self.wait_status(n, tok["token"], (200, None), timeout=1.0)

    def test_4_node_started_without_the_store(self):
        kid = self.fleet_kid("a")[0]
        conf = json.loads(json.dumps(self.confs["a"]))
        fresh = it.config(self.env, [])
        for k in ("listen", "state_dir", "admin"):
            conf[k] = fresh[k]
        conf["admin"]["keys"] = self.confs["a"]["admin"]["keys"]
        conf["health"] = {"listen": "127.0.0.1:%d" % it.free_port()}
        self.confs["d"] = conf
        self.pg.stop()
        try:
            self.start_node("d")
        finally:
            self.pg.start()
        with open(os.path.join(conf["state_dir"], "keys", "ns-app", "current")) as f:
            own = f.read().strip()
        self.assertNotEqual(own, kid)
        deadline = time.time() + 5
        while self.metric("d", "fngate_store_connected") != 1:
            self.assertLess(time.time(), deadline, "d never reached the store")
            time.sleep(0.05)
        st, body = self.admin("d", "POST", "/v1/tokens", {"function_id": "resize"})
        self.assertEqual((st, body["error"]), (503, "store_unavailable"), body)
        self.assertIn("signs with this node's generated key %s, not the fleet's (%s" % (own, kid),
                      self.nodes["d"].proc.output())
        with open(os.path.join(conf["state_dir"], "keys", "ns-app", "current")) as f:
            self.assertEqual(f.read().strip(), kid)
        lu.reload(self.env, self.nodes["d"], conf, settle=0.5)
        tok = self.create("d", "after the reload")
        self.assertEqual(kid_of(tok["token"]), kid)
        for n in self.names:
            self.wait_status(n, tok["token"], (200, None), timeout=1.0)
        self.nodes["d"].stop()


if __name__ == "__main__":
    it.unittest.main(verbosity=2)
