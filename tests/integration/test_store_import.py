#!/usr/bin/env python3
"""test_store_import.py - `fngate store import -c FILE` (issue 12, docs/fleet.md): a single node's
state_dir (token records, revocations of issued tokens and of imported jtis, privacy overrides,
its generated signing key) copied into a real PostgreSQL (pg_util.py). The node, restarted in
fleet mode, and a second, new node on the same store then serve the same registry: the valid
tokens pass on both (the new node adopted the imported key), the revoked ones and the revoked jti
are refused, the privacy override applies. A second import changes
nothing and says so; an import refuses (exit 5, nothing written) when the store holds a
different record for one of the node's items, and (exit 1) while the node runs.

Tokens: issued by node A itself (POST /v1/tokens, the key it generated); the jti revoked
by import is a token minted by the test with `ext`, a key the namespace imports (keys)."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import pg_util  # noqa: E402


class StoreImport(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("store-import")
        cls.pg = pg_util.Postgres()
        cls.backend = cls.env.backend("b")
        cls.ops = lu.new_admin_key()
        cls.keyfile = os.path.join(cls.env.dir, "fleet.key")
        with open(cls.keyfile, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(cls.keyfile, 0o600)
        cls.ext = cls.env.key("ext")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.pg.close()

    def conf(self, store):
        c = it.config(self.env, [
            it.namespace("ns-app", "app", [self.ext.conf("ext1")], [
                it.function("hello", "hello", self.backend.url, prefix="/hello"),
                it.function("resize", "resize", self.backend.url, prefix="/resize")],
                issue_tokens=True)],   # no signing_key: each node generates one
            tokens={"leeway_s": 0, "forward_token": False})
        c["admin"]["keys"] = [dict(self.ops[1], name="ops", role="owner")]
        if store:
            c["store"] = {"type": "postgresql", "key_file": self.keyfile,
                          "conninfo": self.pg.conninfo()}
        return c

    def start(self, conf, name):
        g = self.env.fngate(conf, name=name)
        it.wait_port(self.admin_port(conf), g.proc)
        return g

    @staticmethod
    def admin_port(conf):
        return int(conf["admin"]["listen"].rsplit(":", 1)[1])

    def admin(self, conf, method, path, body=None):
        return lu.admin_request(self.admin_port(conf), method, path, key=self.ops[0], body=body)

    def store_import(self, conf, name):
        path = self.env.write_config(conf, name)
        return subprocess.run([it.FNGATE_BIN, "store", "import", "-c", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)

    def listing(self, conf):
        st, body = self.admin(conf, "GET", "/v1/tokens?page_size=100")
        self.assertEqual(st, 200, body)
        return sorted((t["id"], t["status"], t.get("namespace_id")) for t in body["tokens"])

    def store_count(self):
        return int(self.pg.psql("SELECT count(*) FROM fngate_changes"))

    def test_import(self):
        # a single node, local state: 4 tokens, 2 revoked, a revoked jti, hello made public
        conf_a = self.conf(store=False)
        a = self.start(conf_a, "a.json")
        toks = []
        for i in range(4):
            st, body = self.admin(conf_a, "POST", "/v1/tokens",
                                  {"function_id": "resize", "description": "t%d" % i})
            self.assertEqual(st, 201, body)
            toks.append(body)
        for t in toks[:2]:
            st, body = self.admin(conf_a, "DELETE", "/v1/tokens/" + t["id"])
            self.assertEqual(st, 200, body)
        ext_tok = it.mint(self.ext, it.scw_claims(function_id="resize"))
        jti = it.jwt_claims(ext_tok)["jti"]
        st, body = self.admin(conf_a, "POST", "/v1/tokens/revoke",
                              {"jti": jti, "namespace_id": "ns-app"})
        self.assertEqual(st, 200, body)
        st, body = self.admin(conf_a, "PATCH", "/v1/functions/hello", {"privacy": "public"})
        self.assertEqual(st, 200, body)
        before = self.listing(conf_a)
        self.assertEqual(len(before), 5)

        # while the node runs, its state_dir is refused (its journal is locked)
        conf_a_fleet = dict(conf_a, store=self.conf(store=True)["store"])
        r = self.store_import(conf_a_fleet, "a-fleet.json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("in use by another fngate process", r.stderr)
        a.stop()

        # the import: 5 records, 1 privacy override and the signing key, in one transaction
        r = self.store_import(conf_a_fleet, "a-fleet.json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("imported 7 items", r.stdout)
        self.assertEqual(self.store_count(), 7)
        self.assertEqual(self.pg.psql("SELECT kind, count(*) FROM fngate_items GROUP BY kind "
                                      "ORDER BY kind").split(),
                         ["privacy|1", "revocation|1", "signing_key|1", "token|4"])
        with open(os.path.join(conf_a["state_dir"], "keys", "ns-app", "current")) as f:
            kid = f.read().strip()
        self.assertEqual(self.pg.psql("SELECT key FROM fngate_items WHERE kind = 'signing_key'"
                                      ).strip(), kid)
        self.assertNotIn("PRIVATE", self.pg.psql("SELECT body FROM fngate_items"))
        # again: nothing changes, and it says so
        r = self.store_import(conf_a_fleet, "a-fleet.json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("nothing to import: the store already holds all 7 items", r.stdout)
        self.assertEqual(self.store_count(), 7)

        # A in fleet mode, and a new node B on the same store: one registry
        a = self.start(conf_a_fleet, "a-fleet.json")
        conf_b = self.conf(store=True)
        b = self.start(conf_b, "b.json")
        for conf, g in ((conf_a_fleet, a), (conf_b, b)):
            self.assertEqual(self.listing(conf), before)
            got = lu.gateway_statuses(g.port, "/resize/x", dict(
                [(t["id"], t["token"]) for t in toks] + [("ext", ext_tok)]))
            self.assertEqual(got, {toks[0]["id"]: (403, "token_revoked"),
                                   toks[1]["id"]: (403, "token_revoked"),
                                   toks[2]["id"]: (200, None), toks[3]["id"]: (200, None),
                                   "ext": (403, "token_revoked")})
            self.assertForwarded(it.curl(g.url("/hello/x")))    # public, as set on A
        # a revocation through B reaches A: the imported records are the fleet's
        st, body = self.admin(conf_b, "DELETE", "/v1/tokens/" + toks[2]["id"])
        self.assertEqual(st, 200, body)
        deadline = time.time() + 2
        while lu.gateway_statuses(a.port, "/resize/x", {"t": toks[2]["token"]})["t"][0] != 403:
            self.assertLess(time.time(), deadline, "A never refused the token revoked on B")
            time.sleep(0.02)
        b.stop()
        a.stop()

        # a second single node whose state differs from the store's: refused, nothing written
        conf_d = self.conf(store=False)
        d = self.start(conf_d, "d.json")
        st, body = self.admin(conf_d, "PATCH", "/v1/functions/hello", {"privacy": "private"})
        self.assertEqual(st, 200, body)
        st, body = self.admin(conf_d, "POST", "/v1/tokens", {"function_id": "resize"})
        self.assertEqual(st, 201, body)
        d.stop()
        n = self.store_count()
        r = self.store_import(dict(conf_d, store=conf_b["store"]), "d-fleet.json")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("conflict: the store holds a different privacy override of function hello",
                      r.stderr)
        self.assertIn("conflict: the store holds another generated signing key of namespace "
                      "ns-app (%s" % kid, r.stderr)
        self.assertIn("nothing was imported", r.stderr)
        self.assertEqual(self.store_count(), n)
        # the record of a token revoked in the store since A's import: a conflict too
        r = self.store_import(conf_a_fleet, "a-fleet.json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)   # A followed it: the same
        self.pg.psql("UPDATE fngate_items SET body = replace(body, '\"ready\"', '\"revoked\"') "
                     "WHERE key = '%s'" % toks[3]["id"])
        r = self.store_import(conf_a_fleet, "a-fleet.json")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("conflict: the store holds a different token record " + toks[3]["id"],
                      r.stderr)
        self.assertEqual(self.store_count(), n)


if __name__ == "__main__":
    it.unittest.main(verbosity=2)
