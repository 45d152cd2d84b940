#!/usr/bin/env python3
"""test_fleet_keys.py - generated signing keys in fleet mode (issue 12, docs/fleet.md): a
token-issuing namespace without a configured signing_key, three nodes (fleet_util.py) started at
the same moment on an empty PostgreSQL (pg_util.py). Each generates a key; the store keeps the
first one committed (sealed with the fleet's key_file: no private key in clear in the database),
and the two others adopt it. A token issued through any node is accepted by every other; a node
restarted keeps the fleet's key. A fourth node started while the database is down signs with its
own key: it issues no token with it once the database is back (503, the fleet's key adopted into
its state_dir: at its first catch-up, or at the first token it would issue), reloads by itself
and issues tokens with the fleet's key only. `fngate keygen
--rotate` on a fleet replaces the fleet's key in the store: every node adopts it, reloads by
itself and signs with it; tokens of the old key are refused (unless configured, as on one node).

Tokens: minted by the nodes themselves (POST /v1/tokens) with the generated key."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402
import lifecycle_util as lu  # noqa: E402


def kid_of(token):
    return json.loads(it.b64u_decode(token.split(".")[0]))["kid"]


class GeneratedKeys(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.start_on_postgres("fleet-keys", generated_keys=True)

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
        # It adopts the fleet's key and reloads, at its first catch-up (the key's change is in
        # the log) or when the first token would be signed with its own (503 then): either
        # way, never a token signed with a key the fleet does not trust.
        tok = self.wait_signing("d", kid, only=True)
        with open(os.path.join(conf["state_dir"], "keys", "ns-app", "current")) as f:
            self.assertEqual(f.read().strip(), kid)
        self.assertIn("reloading %s for the fleet's signing key" % self.nodes["d"].conf_path,
                      self.nodes["d"].proc.output())
        for n in self.names:
            self.wait_status(n, tok["token"], (200, None), timeout=1.0)
        self.nodes["d"].stop()

    def test_5_rotation(self):
        old = self.fleet_kid("a")[0]
        before = self.create("b", "before the rotation")
        self.assertEqual(kid_of(before["token"]), old)
        p = subprocess.run([it.FNGATE_BIN, "keygen", "--namespace", "ns-app", "--rotate",
                            "--config", self.nodes["a"].conf_path, "--json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        new = out["kid"]
        self.assertEqual((out["previous_kid"], out["fleet"]), (old, True))
        rows = self.pg.psql("SELECT key FROM fngate_items WHERE kind = 'signing_key'").split()
        self.assertEqual(rows, [new])
        # every node adopts it, reloads by itself, and signs with it; each one's token is
        # accepted by every node
        for n in self.names:
            tok = self.wait_signing(n, new)
            for m in self.names:
                self.wait_status(m, tok["token"], (200, None), timeout=1.0)
            self.assertIn("the fleet's generated signing key is now %s" % new,
                          self.nodes[n].proc.output())
        # the old key's tokens are refused, as after a rotation on one node
        for n in self.names:
            self.assertEqual(self.status(n, before["token"])[0], 403)
        # a node restarted keeps the new key
        self.nodes["c"].stop()
        self.start_node("c")
        self.assertEqual(kid_of(self.create("c", "after restart")["token"]), new)

    def test_6_rotation_with_the_store_down(self):
        """Refused with a message and exit 1, and the key current before stays current in the
        state_dir: no key that one node would sign with and the fleet does not know."""
        path = os.path.join(self.confs["a"]["state_dir"], "keys", "ns-app", "current")
        with open(path) as f:
            before = f.read()
        self.pg.stop()
        try:
            p = subprocess.run([it.FNGATE_BIN, "keygen", "--namespace", "ns-app", "--rotate",
                                "--config", self.nodes["a"].conf_path],
                               capture_output=True, text=True, timeout=60)
        finally:
            self.pg.start()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("the fleet's store did not take the new key", p.stderr)
        self.assertIn("is current again", p.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), before)

    def wait_signing(self, node, kid, timeout=5.0, only=False):
        """Create tokens through node until one is signed with kid (the node reloaded by itself);
        a 503 meanwhile is the node refusing to sign with a key that is not the fleet's. only:
        a token signed with another key fails the test."""
        deadline = time.time() + timeout
        while True:
            st, body = self.admin(node, "POST", "/v1/tokens", {"function_id": "resize",
                                                               "description": "kid",
                                                               "expires_at": None})
            if st == 201 and kid_of(body["token"]) == kid:
                return body
            if only and st == 201:
                self.fail("node %s issued a token signed with %s, not the fleet's %s" % (
                    node, kid_of(body["token"]), kid))
            self.assertIn(st, (201, 503), body)
            if time.time() > deadline:
                self.fail("node %s never signed with %s (last: %s %s)" % (node, kid, st, body))
            time.sleep(0.1)


if __name__ == "__main__":
    it.unittest.main(verbosity=2)
