#!/usr/bin/env python3
"""test_fleet_audit.py - the audit trail in fleet mode (docs/fleet.md, "Audit trail"): three
nodes sharing one real PostgreSQL (pg_util.py).

- Changes made through three different nodes (a token created through A, revoked through B, a
  privacy set through C) are each one event on every node's GET /v1/audit, with the actor and
  the source of the node that took them, and one "type":"audit" line in the daemon log of that
  node only.
- With the database stopped, a creation answers 503 store_unavailable and its event
  (outcome store_unavailable) is on the node that refused it at once; once the database is back
  the event reaches the other nodes, without any new admin call.
- A node restarted with kill -9 shows the fleet's events again."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_util as fu  # noqa: E402
import fngate_it as it  # noqa: E402


class FleetAudit(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.start_on_postgres("fleet-audit")

    def events(self, node, query=""):
        st, body = self.admin(node, "GET", "/v1/audit?page_size=100" + query)
        self.assertEqual(st, 200, body)
        return body["events"]

    def wait_event(self, node, pred, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            found = [e for e in self.events(node) if pred(e)]
            if found:
                return found
            if time.time() > deadline:
                self.fail("node %s: no such event in %r" % (node, self.events(node)))
            time.sleep(0.1)

    def test_1_every_node_sees_every_event(self):
        tok = self.create("a", "audit")
        st, body = self.admin("b", "DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 200, body)
        st, body = self.admin("c", "PATCH", "/v1/functions/hello", {"privacy": "private"})
        self.assertEqual(st, 200, body)
        wanted = {("token.create", tok["id"]), ("token.delete", tok["id"]),
                  ("function.privacy", "hello")}
        ids = None
        for node in self.names:
            deadline = time.time() + 10
            while True:
                evs = [e for e in self.events(node) if (e["action"], e["target_id"]) in wanted]
                if len(evs) == 3 or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(sorted((e["action"], e["target_id"]) for e in evs), sorted(wanted),
                             "node %s" % node)
            self.assertTrue(all(e["actor"] == "ops" and e["outcome"] == "ok" for e in evs))
            got = {e["id"] for e in evs}
            self.assertEqual(len(got), 3)
            self.assertTrue(ids is None or got == ids, "node %s: other event ids" % node)
            ids = got
        # each node's daemon log holds the events it recorded, once, and no other node's
        time.sleep(0.2)
        for node, action in (("a", "token.create"), ("b", "token.delete"),
                             ("c", "function.privacy")):
            for other in self.names:
                lines = [r for r in self.nodes[other].proc.json_lines()
                         if r.get("type") == "audit" and r.get("action") == action and
                         r.get("target_id") in (tok["id"], "hello")]
                self.assertEqual(len(lines), 1 if other == node else 0, (node, other, lines))
        self.assertNotIn(tok["token"], self.pg.psql("SELECT string_agg(body, ' ') FROM "
                                                    "fngate_items WHERE kind = 'audit'"))

    def test_2_store_down_event_shared_later(self):
        self.pg.stop()
        try:
            st, body = self.admin("a", "POST", "/v1/tokens", {"function_id": "resize",
                                                              "description": "down"})
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"], "store_unavailable")
            down = [e for e in self.events("a", "&action=token.create")
                    if e["outcome"] == "store_unavailable"]
            self.assertEqual(len(down), 1, down)
        finally:
            self.pg.start()
        for node in ("b", "c"):
            got = self.wait_event(node, lambda e: e["id"] == down[0]["id"], timeout=15)
            self.assertEqual(len(got), 1)

    def test_3_kill9_restart(self):
        before = {e["id"] for e in self.events("a")}
        os.killpg(self.nodes["c"].proc.pid, signal.SIGKILL)
        self.nodes["c"].proc.wait(10)
        self.nodes["c"].stop()
        self.start_node("c")
        self.wait_event("c", lambda e: True)
        after = {e["id"] for e in self.events("c")}
        self.assertTrue(before <= after, before - after)


if __name__ == "__main__":
    it.main()
