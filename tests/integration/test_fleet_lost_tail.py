#!/usr/bin/env python3
"""test_fleet_lost_tail.py - the store loses the last changes of its log (issue 12, docs/fleet.md
"A store that lost its last changes"): what a failover to an asynchronous standby that lacked
them does, or a restore from a backup. Three nodes on one real PostgreSQL (fleet_util.py).

The loss is made exactly, on the one server: the items table and the log are put back to a
point P0 after which a token was created and another revoked through the nodes; new changes
then take the lost positions again (with other commit times), as writes after a failover
would; and every connection is cut, as a failover cuts them. Each node must see at its
reconnection that the log no longer holds the change it applied last, load the store's
snapshot again without forgetting anything it applied (the revoked token stays refused at
every moment), write back what the store lost (so the store holds the revocation and the
token again), and follow the new log: a token created and one revoked after the loss reach
every node. Without the check, a node would skip the new changes at the reused positions.
API keys (issue 13) go through the same: one created and one deleted after P0 are written back."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402

SETTLE_S = 5.0 if os.environ.get("FNGATE_SANITIZER") else 2.0


class LostTail(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.start_on_postgres("fleet-lost-tail")

    def wait_everywhere(self, tokens, want, timeout):
        """Wait until every node answers want[id] (status, error) for each of tokens {id: jwt}."""
        deadline = time.time() + timeout
        while True:
            got = {n: self.statuses(n, tokens) for n in self.names}
            if all(got[n][t][0] == want[t][0] and (want[t][1] is None or got[n][t][1] == want[t][1])
                   for n in self.names for t in tokens):
                return
            if time.time() > deadline:
                self.fail("expected %s on every node, got %s" % (want, got))
            time.sleep(0.05)

    def store_item(self, key):
        return self.pg.psql("SELECT body FROM fngate_items WHERE key = '%s'" % key).strip()

    def create_key(self, node, description):
        st, body = self.admin(node, "POST", "/v1/api-keys", {"function_id": "resize",
                                                             "description": description})
        self.assertEqual(st, 201, body)
        return body

    def test_lost_tail(self):
        kept = self.create("a", "kept")            # ready before P0 and after
        revoked = self.create("a", "revoked")      # ready at P0, revoked after: the loss
        key_kept = self.create_key("a", "key kept")
        key_revoked = self.create_key("a", "key revoked")
        p0 = self.wait_same_position()
        self.pg.psql("DROP TABLE IF EXISTS items_p0; "
                     "CREATE TABLE items_p0 AS SELECT * FROM fngate_items")
        lost = self.create("b", "lost")            # created after P0: the loss
        st, _ = self.admin("c", "DELETE", "/v1/tokens/" + revoked["id"])
        self.assertEqual(st, 200)
        key_lost = self.create_key("b", "key lost")
        st, _ = self.admin("c", "DELETE", "/v1/api-keys/" + key_revoked["id"])
        self.assertEqual(st, 200)
        p1 = self.wait_same_position()
        self.assertGreater(p1, p0)
        toks = {"kept": kept["token"], "revoked": revoked["token"], "lost": lost["token"],
                "key_kept": key_kept["secret"], "key_revoked": key_revoked["secret"],
                "key_lost": key_lost["secret"]}
        want = {"kept": (200, None), "revoked": (403, "token_revoked"), "lost": (200, None),
                "key_kept": (200, None), "key_revoked": (403, "api_key_revoked"),
                "key_lost": (200, None)}
        self.wait_everywhere(toks, want, 1.0)

        # While the loss happens and is repaired, the revoked token must be refused everywhere
        # at every moment: a node never forgets a revocation it applied.
        seen = []
        seen_keys = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                for n in self.names:
                    seen.append((n, self.status(n, revoked["token"])))
                    seen_keys.append((n, self.status(n, key_revoked["secret"])))
                time.sleep(0.01)
        t = threading.Thread(target=watch)
        t.start()
        try:
            # The loss: the items and the log back to P0, then new changes at the lost positions
            # (last uses of an unknown id: applied as nothing), then every connection cut.
            self.pg.psql(
                "BEGIN; SELECT pg_advisory_xact_lock(0); "
                "TRUNCATE fngate_items; "
                "INSERT INTO fngate_items (kind, namespace_id, key, body, seq) "
                "SELECT kind, namespace_id, key, body, seq FROM items_p0; "
                "DELETE FROM fngate_changes WHERE seq > %d; "
                "INSERT INTO fngate_changes (seq, kind, namespace_id, key, body) "
                "SELECT %d + g, 'last_used', '', 'nobody-' || g, '{\"used\":1}' "
                "FROM generate_series(1, %d) g; COMMIT; "
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = 'fngate' AND pid <> pg_backend_pid()"
                % (p0, p0, p1 - p0 + 2))
            self.assertEqual(self.store_item(lost["id"]), "", "the loss took the new token")
            # Each node reconnects, finds change P1 changed, loads the snapshot again and
            # writes back what the store lost.
            deadline = time.time() + 10
            while any(self.metric(n, "fngate_store_resets_total") < 1 for n in self.names):
                if time.time() > deadline:
                    self.fail("not every node loaded the snapshot again: %s" % {
                        n: self.metric(n, "fngate_store_resets_total") for n in self.names})
                time.sleep(0.05)
            self.wait_same_position()
        finally:
            stop.set()
            t.join()
        bad = [s for s in seen if s[1] != (403, "token_revoked")]
        self.assertEqual(bad, [], "the revoked token was let through during the repair")
        bad = [s for s in seen_keys if s[1] != (403, "api_key_revoked")]
        self.assertEqual(bad, [], "the deleted API key was let through during the repair")
        self.assertGreater(len(seen), 10)
        self.wait_everywhere(toks, want, SETTLE_S)
        # The store holds again what it lost.
        self.assertIn('"status":"revoked"', self.store_item(revoked["id"]).replace(" ", ""))
        self.assertNotEqual(self.store_item(lost["id"]), "", "the lost token was written back")
        self.assertIn('"status":"revoked"', self.store_item(key_revoked["id"]).replace(" ", ""))
        self.assertNotEqual(self.store_item(key_lost["id"]), "", "the lost API key was written back")

        # The nodes follow the new log: changes after the loss reach every node.
        after = self.create("b", "after")
        st, _ = self.admin("a", "DELETE", "/v1/tokens/" + lost["id"])
        self.assertEqual(st, 200)
        toks["after"] = after["token"]
        want["after"] = (200, None)
        want["lost"] = (403, "token_revoked")
        self.wait_everywhere(toks, want, SETTLE_S)
        regs = {n: self.all_tokens(n) for n in self.names}
        self.assertEqual(regs["a"], regs["b"])
        self.assertEqual(regs["a"], regs["c"])
        for n in self.names:
            self.assertIn("the log does not hold change %d as applied here" % p1,
                          self.nodes[n].proc.output())


if __name__ == "__main__":
    it.main()
