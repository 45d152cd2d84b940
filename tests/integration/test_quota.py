#!/usr/bin/env python3
"""test_quota.py - per-namespace quotas of the token registry (issue 17 item 4) and revocations
acknowledged only once durable, through the real daemon and its admin API.

- A namespace with "max_tokens": 3 takes three records (tokens and jti revocations together);
  the fourth creation and a new jti revocation answer 429 quota_exceeded with a message naming
  the quota, and change nothing; another namespace keeps creating; revoking a token the
  namespace holds is never refused for room; an expired token frees its place within the
  registry's flush period; a restart counts the same.
- A journal that cannot be written (the process's file size limit set to 1 byte with
  prlimit(1), as a full disk would do) makes a DELETE answer 503 store_unavailable while
  the token is already refused by the gateway; the repeat answers 503 again; once writes work
  the repeat answers 200 and the next 409; a kill -9 and restart still refuse the token.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402


class Quota(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("quota")
        cls.backend = cls.env.backend("b")
        cls.owner = lu.new_admin_key()
        cls.ci = lu.new_admin_key()
        up = cls.backend.url
        cls.conf = it.config(cls.env, [
            it.namespace("ns-q", "q", [], [it.function("fq", "fq", up, prefix="/q")],
                         issue_tokens=True, max_tokens=3),
            it.namespace("ns-r", "r", [], [it.function("fr", "fr", up, prefix="/r")],
                         issue_tokens=True),
        ], tokens={"leeway_s": 0})
        cls.conf["admin"]["keys"] = [
            dict(cls.owner[1], name="ops", role="owner"),
            dict(cls.ci[1], name="ci", permissions=["tokens:read", "tokens:write"],
                 namespaces=["ns-q"]),
        ]
        cls.admin_port = int(cls.conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = cls.env.fngate(cls.conf)
        it.wait_port(cls.admin_port, cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def api(self, method, path, body=None, key=None):
        return lu.admin_request(self.admin_port, method, path, key or self.owner[0], body)

    def create(self, ns, key=None, expires_at=None):
        body = {"namespace_id": ns, "description": "q"}
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self.api("POST", "/v1/tokens", body, key)

    def call(self, path, token):
        c = lu.gateway_statuses(self.gw.port, path, {"t": token})
        return c["t"]

    def restart(self, kill=False):
        if kill:
            os.killpg(self.gw.proc.pid, signal.SIGKILL)
            self.gw.proc.wait(10)
        self.gw.stop()
        type(self).gw = self.env.fngate(self.conf)
        it.wait_port(self.admin_port, self.gw.proc)

    def test_01_quota(self):
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        made = []
        for i in range(3):
            st, body = self.create("ns-q", self.ci[0], exp if i == 1 else None)
            self.assertEqual(st, 201, body)
            made.append(body)
        st, body = self.create("ns-q", self.ci[0])
        self.assertEqual(st, 429, body)
        self.assertEqual(body["error"], "quota_exceeded")
        self.assertIn("max_tokens", body["message"])
        self.assertIn("ns-q", body["message"])
        st, body = self.api("POST", "/v1/tokens/revoke",
                            {"jti": "foreign-jti", "namespace_id": "ns-q"}, self.ci[0])
        self.assertEqual(st, 429, body)
        self.assertEqual(body["error"], "quota_exceeded")
        self.assertEqual(self.call("/q", made[0]["token"]), (200, None))
        st, listing = self.api("GET", "/v1/tokens?namespace_id=ns-q")
        self.assertEqual(listing["total_count"], 3)
        # another namespace is not affected
        st, body = self.create("ns-r")
        self.assertEqual(st, 201, body)
        # revoking what the namespace holds takes no place
        st, body = self.api("DELETE", "/v1/tokens/" + made[0]["id"], key=self.ci[0])
        self.assertEqual(st, 200, body)
        self.assertEqual(self.call("/q", made[0]["token"]), (403, "token_revoked"))
        # a restart counts the same
        self.restart()
        st, body = self.create("ns-q", self.ci[0])
        self.assertEqual(st, 429, body)
        # the token that expired frees its place within the flush period (2 s)
        deadline = time.time() + 15
        while time.time() < deadline:
            st, body = self.create("ns-q", self.ci[0])
            if st == 201:
                break
            self.assertEqual(st, 429, body)
            time.sleep(0.5)
        self.assertEqual(st, 201, body)
        self.assertEqual(self.call("/q", body["token"]), (200, None))

    def journal(self):
        return os.path.join(self.conf["state_dir"], "tokens.journal")

    def test_02_revocation_durable(self):
        st, tok = self.create("ns-r")
        self.assertEqual(st, 201, tok)
        self.assertEqual(self.call("/r", tok["token"]), (200, None))
        size = os.path.getsize(self.journal())
        pid = str(self.gw.proc.pid)
        # 1 byte: no append and no rewrite of the journal can succeed (the daemon's own log,
        # a file here too, loses its lines meanwhile)
        subprocess.run(["prlimit", "--pid", pid, "--fsize=1:"], check=True)
        try:
            for _ in range(2):
                st, body = self.api("DELETE", "/v1/tokens/" + tok["id"])
                self.assertEqual(st, 503, body)
                self.assertEqual(body["error"], "store_unavailable")
                self.assertEqual(self.call("/r", tok["token"]), (403, "token_revoked"))
            self.assertEqual(os.path.getsize(self.journal()), size)
        finally:
            subprocess.run(["prlimit", "--pid", pid, "--fsize=unlimited:"], check=True)
        self.assertTrue(self.gw.proc.alive())
        st, body = self.api("DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 200, body)
        self.assertEqual(body["status"], "revoked")
        st, body = self.api("DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 409, body)
        self.restart(kill=True)
        self.assertEqual(self.call("/r", tok["token"]), (403, "token_revoked"))
        st, body = self.api("GET", "/v1/tokens/" + tok["id"])
        self.assertEqual(body["status"], "revoked")


if __name__ == "__main__":
    it.main()
