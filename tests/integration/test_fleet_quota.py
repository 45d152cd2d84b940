#!/usr/bin/env python3
"""test_fleet_quota.py - a namespace's quota (max_tokens) in fleet mode: three fngate nodes
sharing one real PostgreSQL (pg_util.py, fleet_util.py). Tokens and API keys created through
the three nodes at once never pass the quota, counted by the store under its write lock (each
node's own count lags the others' creations): exactly max_tokens creations succeed, the others
are 429 quota_exceeded, and every node and the store hold exactly that many records.

Tokens and keys: every one is made by the nodes themselves (POST /v1/tokens, /v1/api-keys)."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_util as fu  # noqa: E402

QUOTA = 20


class FleetQuota(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.start_on_postgres("fleet-quota", max_tokens=QUOTA)

    def test_concurrent_creations_never_pass_the_quota(self):
        results, lock = [], threading.Lock()
        start = threading.Barrier(6)

        def creator(node, path):
            start.wait()
            for i in range(8):
                st, body = self.admin(node, "POST", path, {"function_id": "resize",
                                                           "description": "%s %d" % (node, i)})
                with lock:
                    results.append((st, body))

        threads = [threading.Thread(target=creator, args=(n, p))
                   for n in ("a", "b", "c") for p in ("/v1/tokens", "/v1/api-keys")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        made = [b for st, b in results if st == 201]
        refused = [b for st, b in results if st != 201]
        self.assertEqual(len(results), 48)
        self.assertEqual(len(made), QUOTA, [b for b in refused if b.get("error") !=
                                             "quota_exceeded"])
        self.assertTrue(all(b.get("error") == "quota_exceeded" for b in refused), refused)
        # every node and the store agree: exactly the quota
        self.wait_same_position()
        for node in ("a", "b", "c"):
            st, toks = self.admin(node, "GET", "/v1/tokens?page_size=1")
            st2, keys = self.admin(node, "GET", "/v1/api-keys?page_size=1")
            self.assertEqual(toks["total_count"] + keys["total_count"], QUOTA, (node, toks, keys))
        self.assertEqual(self.pg.psql("SELECT count(*) FROM fngate_items WHERE kind IN "
                                      "('token', 'api_key')").split(), [str(QUOTA)])
        # full: one more through any node is refused, and nothing is written
        st, body = self.admin("c", "POST", "/v1/tokens", {"function_id": "resize"})
        self.assertEqual((st, body.get("error")), (429, "quota_exceeded"), body)


if __name__ == "__main__":
    fu.it.main()
