#!/usr/bin/env python3
"""test_api_keys.py - API keys (issue 13) through the real daemon, the admin API and the CLI:
create, call a private function with the key (the function sees the key's id and the kind of
credential, never the secret), a wrong secret with a valid id, an unknown id, a malformed key,
a deleted key refused as soon as DELETE answers while many requests are in flight on both
workers, expiry, scope (function and namespace keys), JWTs beside keys, kill -9 and restart,
admin permissions and namespace restriction, malformed bodies, the quota shared with tokens, and
no secret in the logs or state_dir.

Test data: every key and token is made by fngate itself through the admin API or the CLI. The
hand-made secrets are built from a real key's id with another random part (the wrong secret), a
random id (unknown), and the prefix followed by something of the wrong shape (malformed).
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402

PREFIX = "fngak_"


def other_secret(key_id):
    """The shape of a key with key_id, with a random part that is not its secret."""
    return PREFIX + key_id + "_" + secrets.token_urlsafe(32)


class ApiKeys(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("apikeys")
        cls.backend = cls.env.backend("b")
        cls.keys = {name: lu.new_admin_key() for name in ("ops", "ci", "ro", "fw")}
        up = cls.backend.url
        # forward_token on: a JWT goes on to the function, an API key's secret never does.
        cls.conf = it.config(cls.env, [
            it.namespace("ns-app", "app", [], [
                it.function("hello", "hello", up, privacy="public", prefix="/hello"),
                it.function("resize", "resize", up, prefix="/resize"),
                it.function("thumb", "thumb", up, prefix="/thumb")],
                issue_tokens=True),
            it.namespace("ns-other", "other", [], [
                it.function("other", "other", up, prefix="/other")],
                issue_tokens=True, max_tokens=3),
        ], tokens={"leeway_s": 0, "forward_token": True})
        cls.conf["admin"]["keys"] = [
            dict(cls.keys["ops"][1], name="ops", role="owner"),
            dict(cls.keys["ci"][1], name="ci", permissions=["tokens:read", "tokens:write"],
                 namespaces=["ns-app"]),
            dict(cls.keys["ro"][1], name="ro", permissions=["tokens:read"]),
            dict(cls.keys["fw"][1], name="fw", permissions=["functions:write"]),
        ]
        cls.admin_port = int(cls.conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.admin_url = "http://127.0.0.1:%d" % cls.admin_port
        cls.state = cls.conf["state_dir"]
        cls.secrets = []        # every secret handed out, looked for in logs and state_dir
        cls.start()

    @classmethod
    def start(cls):
        cls.gw = cls.env.fngate(cls.conf)
        it.wait_port(cls.admin_port, cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    # -- helpers

    def api(self, method, path, body=None, key="ops"):
        return lu.admin_request(self.admin_port, method, path,
                                self.keys[key][0] if key else None, body)

    def create(self, key="ops", **body):
        body.setdefault("description", "test key")
        st, js = self.api("POST", "/v1/api-keys", body, key=key)
        self.assertEqual(st, 201, js)
        self.secrets.append(js["secret"])
        return js

    def call(self, path, token=None, headers=()):
        return it.curl(self.gw.url(path), token=token, headers=headers)

    def cli(self, *args, key="ops"):
        env = dict(os.environ)
        env["FNGATE_ADMIN_KEY"] = self.keys[key][0]
        p = subprocess.run([it.FNGATE_BIN] + list(args) + ["--admin-url", self.admin_url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    # -- tests

    def test_01_create_and_call(self):
        """A function key: 201 with the secret once; the function answers 200 and sees the
        key's id and kind, never the secret; another function refuses it (token_scope)."""
        k = self.create(function_id="resize", description="deploy bot")
        self.assertTrue(k["secret"].startswith(PREFIX + k["id"] + "_"), k)
        self.assertEqual(len(k["secret"]), 70)
        for field, want in (("namespace_id", "ns-app"), ("function_id", "resize"),
                            ("scope", "function"), ("status", "ready"), ("expires_at", None),
                            ("revoked_at", None), ("last_used_at", None),
                            ("description", "deploy bot")):
            self.assertEqual(k[field], want, field)
        self.assertNotIn("hash", k)
        self.assertNotIn("kid", k)
        self.assertDenied(self.call("/resize/x"), "token_missing")
        r = self.call("/resize/x", token=k["secret"])
        seen = self.assertForwarded(r)
        h = seen["headers"]
        self.assertEqual(h.get("x-fngate-token-id"), [k["id"]])
        self.assertEqual(h.get("x-fngate-credential"), ["api_key"])
        self.assertNotIn("x-auth-token", h)
        self.assertNotIn(k["secret"][len(PREFIX) + 21:], json.dumps(seen))
        self.assertDenied(self.call("/thumb/x", token=k["secret"]), "token_scope")
        self.assertDenied(self.call("/other/x", token=k["secret"]), "token_scope")
        # a public function does not look at it
        self.assertForwarded(self.call("/hello/x", token=k["secret"]))
        # read back: never the secret
        st, js = self.api("GET", "/v1/api-keys/" + k["id"])
        self.assertEqual(st, 200)
        self.assertNotIn("secret", js)
        self.assertEqual(js["id"], k["id"])
        st, js = self.api("GET", "/v1/api-keys?function_id=resize")
        self.assertEqual(st, 200)
        self.assertIn(k["id"], [x["id"] for x in js["api_keys"]])
        self.assertEqual(js["total_count"], len(js["api_keys"]))
        self.assertNotIn("secret", json.dumps(js))
        # keys are not tokens: neither endpoint shows the other's records
        st, js = self.api("GET", "/v1/tokens/" + k["id"])
        self.assertEqual(st, 404)
        st, js = self.api("GET", "/v1/tokens?function_id=resize")
        self.assertNotIn(k["id"], [x["id"] for x in js["tokens"]])
        # the use is recorded (written every 2 s)
        time.sleep(2.5)
        st, js = self.api("GET", "/v1/api-keys/" + k["id"])
        self.assertIsNotNone(js["last_used_at"])

    def test_02_refusals(self):
        """Wrong secret with a valid id and an unknown id: api_key_unknown; malformed:
        token_malformed; expired: api_key_expired; a namespace key opens its namespace only."""
        k = self.create(namespace_id="ns-app")
        self.assertForwarded(self.call("/resize/x", token=k["secret"]))
        self.assertForwarded(self.call("/thumb/x", token=k["secret"]))
        self.assertDenied(self.call("/other/x", token=k["secret"]), "token_scope")
        self.assertDenied(self.call("/resize/x", token=other_secret(k["id"])), "api_key_unknown")
        self.assertDenied(self.call("/resize/x", token=other_secret(secrets.token_hex(10))),
                          "api_key_unknown")
        for bad in (PREFIX, PREFIX + k["id"], k["secret"] + "A", k["secret"][:-1],
                    k["secret"].upper(), "garbage", "a.b", k["secret"][:-1] + "="):
            self.assertDenied(self.call("/resize/x", token=bad), "token_malformed")
        # two X-Auth-Token headers, one of them the key: ambiguous
        r = self.call("/resize/x", token=k["secret"], headers=["X-Auth-Token: " + k["secret"]])
        self.assertDenied(r, "token_malformed")
        # expiry: RFC 3339 with an offset
        exp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 2))
        e = self.create(namespace_id="ns-app", expires_at=exp)
        self.assertIsNotNone(e["expires_at"])
        self.assertForwarded(self.call("/resize/x", token=e["secret"]))
        time.sleep(3.2)
        self.assertDenied(self.call("/resize/x", token=e["secret"]), "api_key_expired")
        st, js = self.api("GET", "/v1/api-keys/" + e["id"])
        self.assertTrue(js["expired"])

    def test_03_jwt_and_key_side_by_side(self):
        """A JWT and a key for the same function, both in X-Auth-Token: each is let through and
        named to the function as what it is; the JWT is forwarded (forward_token), the key not."""
        k = self.create(function_id="resize")
        st, t = self.api("POST", "/v1/tokens", {"function_id": "resize", "description": "jwt"})
        self.assertEqual(st, 201, t)
        for _ in range(2):
            sk = self.assertForwarded(self.call("/resize/x", token=k["secret"]))["headers"]
            sj = self.assertForwarded(self.call("/resize/x", token=t["token"]))["headers"]
            self.assertEqual(sk.get("x-fngate-credential"), ["api_key"])
            self.assertEqual(sk.get("x-fngate-token-id"), [k["id"]])
            self.assertNotIn("x-auth-token", sk)
            self.assertEqual(sj.get("x-fngate-credential"), ["jwt"])
            self.assertEqual(sj.get("x-fngate-token-id"), [t["id"]])
            self.assertEqual(sj.get("x-auth-token"), [t["token"]])
        # a client cannot claim a kind of credential
        r = self.call("/resize/x", token=t["token"], headers=["X-Fngate-Credential: api_key"])
        self.assertEqual(self.assertForwarded(r)["headers"].get("x-fngate-credential"), ["jwt"])
        # the access log names the outcome and the id
        time.sleep(0.3)
        lines = [x for x in self.gw.access_lines() if x.get("token_id") == k["id"]]
        self.assertTrue(lines and all(x.get("reason") == "api_key" for x in lines), lines[-3:])
        # revoking the token leaves the key working, and the reverse
        st, _ = self.api("DELETE", "/v1/tokens/" + t["id"])
        self.assertEqual(st, 200)
        self.assertDenied(self.call("/resize/x", token=t["token"]), "token_revoked")
        self.assertForwarded(self.call("/resize/x", token=k["secret"]))

    def test_04_delete_refused_at_once_under_load(self):
        """Many requests in flight on both workers (keep-alive connections, several threads):
        every request sent after DELETE answered is refused with api_key_revoked."""
        k = self.create(namespace_id="ns-app")
        stop = threading.Event()
        deleted_at = [None]
        late = []           # (status, error) of requests started after the DELETE answered
        counts = {"ok": 0, "refused": 0}
        lock = threading.Lock()

        def hammer():
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
            while not stop.is_set():
                started = time.monotonic()
                try:
                    c.request("GET", "/resize/x", headers={"X-Auth-Token": k["secret"]})
                    r = c.getresponse()
                    raw = r.read()
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
                    continue
                with lock:
                    counts["ok" if r.status == 200 else "refused"] += 1
                    if deleted_at[0] is not None and started > deleted_at[0]:
                        err = None
                        try:
                            err = json.loads(raw).get("error")
                        except ValueError:
                            pass
                        late.append((r.status, err))
            c.close()

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        st, js = self.api("DELETE", "/v1/api-keys/" + k["id"])
        deleted_at[0] = time.monotonic()
        self.assertEqual(st, 200, js)
        self.assertEqual(js["status"], "revoked")
        self.assertIsNotNone(js["revoked_at"])
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(20)
        print("load: %d allowed before the deletion, %d refused, %d sent after it"
              % (counts["ok"], counts["refused"], len(late)))
        self.assertGreater(counts["ok"], 50)
        self.assertGreater(len(late), 50)
        self.assertEqual(set(late), {(403, "api_key_revoked")})
        # the second DELETE: 409, irreversible
        st, js = self.api("DELETE", "/v1/api-keys/" + k["id"])
        self.assertEqual(st, 409)
        self.assertEqual(js["error"], "already_revoked")

    def test_05_kill9_restart(self):
        """kill -9, restart: the deleted key is still refused, the live one still works."""
        live = self.create(function_id="resize")
        gone = self.create(function_id="resize")
        st, _ = self.api("DELETE", "/v1/api-keys/" + gone["id"])
        self.assertEqual(st, 200)
        os.killpg(self.gw.proc.pid, signal.SIGKILL)
        self.gw.proc.wait(10)
        self.gw.stop()
        type(self).start()
        self.assertForwarded(self.call("/resize/x", token=live["secret"]))
        self.assertDenied(self.call("/resize/x", token=gone["secret"]), "api_key_revoked")
        st, js = self.api("GET", "/v1/api-keys/" + gone["id"])
        self.assertEqual((st, js["status"]), (200, "revoked"))
        st, js = self.api("DELETE", "/v1/api-keys/" + gone["id"])
        self.assertEqual(st, 409)

    def test_06_admin_permissions(self):
        """tokens:read / tokens:write and the namespace restriction, as for tokens."""
        mine = self.create(namespace_id="ns-app")
        theirs = self.create(namespace_id="ns-other")
        st, js = self.api("GET", "/v1/api-keys", key=None)
        self.assertEqual(st, 401)
        # read-only: reads, but writes nothing
        st, js = self.api("GET", "/v1/api-keys/" + theirs["id"], key="ro")
        self.assertEqual(st, 200)
        st, js = self.api("POST", "/v1/api-keys", {"namespace_id": "ns-app"}, key="ro")
        self.assertEqual((st, js["error"]), (403, "forbidden"))
        self.assertIn("tokens:write", js["message"])
        st, js = self.api("DELETE", "/v1/api-keys/" + mine["id"], key="ro")
        self.assertEqual((st, js["error"]), (403, "forbidden"))
        # no tokens permission at all
        st, js = self.api("GET", "/v1/api-keys", key="fw")
        self.assertEqual((st, js["error"]), (403, "forbidden"))
        # restricted to ns-app: the other namespace's keys do not exist for it
        st, js = self.api("GET", "/v1/api-keys", key="ci")
        self.assertEqual(st, 200)
        ids = {x["id"] for x in js["api_keys"]}
        self.assertIn(mine["id"], ids)
        self.assertNotIn(theirs["id"], ids)
        self.assertTrue(all(x["namespace_id"] == "ns-app" for x in js["api_keys"]))
        for method in ("GET", "DELETE"):
            st, js = self.api(method, "/v1/api-keys/" + theirs["id"], key="ci")
            self.assertEqual((st, js["error"]), (404, "not_found"), method)
        st, js = self.api("POST", "/v1/api-keys", {"namespace_id": "ns-other"}, key="ci")
        self.assertEqual((st, js["error"]), (400, "unknown_namespace"))
        st, js = self.api("POST", "/v1/api-keys", {"function_id": "other"}, key="ci")
        self.assertEqual((st, js["error"]), (400, "unknown_function"))
        k = self.create(key="ci", function_id="thumb")
        self.assertForwarded(self.call("/thumb/x", token=k["secret"]))
        st, js = self.api("DELETE", "/v1/api-keys/" + k["id"], key="ci")
        self.assertEqual(st, 200)
        self.assertForwarded(self.call("/other/x", token=theirs["secret"]))

    def test_07_malformed_requests(self):
        """Every malformed request: 400 (404, 405) with a JSON error, and nothing created."""
        st, before = self.api("GET", "/v1/api-keys?page_size=1")
        cases = [
            ({"namespace_id": "ns-app", "function_id": "resize"}, "invalid_request"),
            ({"description": "neither"}, "invalid_request"),
            ({"namespace_id": "ns-app", "bogus": 1}, "invalid_request"),
            ({"namespace_id": 5}, "invalid_request"),
            ({"namespace_id": "ns-app", "expires_at": "tomorrow"}, "invalid_request"),
            ({"namespace_id": "ns-app", "expires_at": "2001-01-01T00:00:00Z"}, "invalid_request"),
            ({"namespace_id": "ns-app", "expires_at": 1893456000}, "invalid_request"),
            ({"namespace_id": "ns-app", "description": "a\nb"}, "invalid_request"),
            ({"namespace_id": "ns-app", "description": "x" * 513}, "invalid_request"),
            ({"namespace_id": "nope"}, "unknown_namespace"),
            ({"function_id": "nope"}, "unknown_function"),
        ]
        for body, err in cases:
            st, js = self.api("POST", "/v1/api-keys", body)
            self.assertEqual((st, js and js.get("error")), (400, err), body)
            self.assertIn("message", js)
        for raw in (b"", b"{", b"[]", b'{"namespace_id":"ns-app","namespace_id":"ns-app"}'):
            r = it.curl(self.admin_url + "/v1/api-keys", method="POST", data=raw,
                        headers=["Authorization: Bearer " + self.keys["ops"][0],
                                 "Content-Type: application/json"])
            self.assertEqual(r.status, 400, raw)
            self.assertEqual(r.json()["error"], "invalid_json", raw)
        for q in ("page=0", "page_size=101", "page_size=x", "colour=red", "namespace_id=%00"):
            st, js = self.api("GET", "/v1/api-keys?" + q)
            self.assertEqual((st, js["error"]), (400, "invalid_request"), q)
        for path in ("/v1/api-keys/nope", "/v1/api-keys/" + "0" * 20,
                     "/v1/api-keys/" + "A" * 20):
            st, js = self.api("GET", path)
            self.assertEqual((st, js["error"]), (404, "not_found"), path)
        st, js = self.api("PATCH", "/v1/api-keys", {})
        self.assertEqual((st, js["error"]), (405, "method_not_allowed"))
        st, js = self.api("PUT", "/v1/api-keys/" + "0" * 20, {})
        self.assertEqual(st, 405)
        st, after = self.api("GET", "/v1/api-keys?page_size=1")
        self.assertEqual(before["total_count"], after["total_count"])

    def test_08_quota_shared_with_tokens(self):
        """ns-other's max_tokens (3) counts its tokens and its keys together: 429 past it."""
        st, js = self.api("GET", "/v1/api-keys?namespace_id=ns-other")
        held = js["total_count"]
        st, js = self.api("GET", "/v1/tokens?namespace_id=ns-other")
        held += js["total_count"]
        while held < 2:
            self.create(namespace_id="ns-other")
            held += 1
        if held < 3:
            st, js = self.api("POST", "/v1/tokens", {"namespace_id": "ns-other"})
            self.assertEqual(st, 201, js)
        st, js = self.api("POST", "/v1/api-keys", {"namespace_id": "ns-other"})
        self.assertEqual((st, js["error"]), (429, "quota_exceeded"), js)
        st, js = self.api("POST", "/v1/tokens", {"namespace_id": "ns-other"})
        self.assertEqual((st, js["error"]), (429, "quota_exceeded"), js)

    def test_09_cli_round_trip(self):
        """fngate api-key create / list / get / delete, in tables and --json."""
        rc, out, err = self.cli("api-key", "create", "--function", "thumb", "--namespace",
                                "ns-app", "--description", "from the CLI", "--no-expiry",
                                "--json")
        self.assertEqual(rc, 0, err)
        k = json.loads(out)
        self.secrets.append(k["secret"])
        self.assertEqual(k["function_id"], "thumb")
        self.assertForwarded(self.call("/thumb/x", token=k["secret"]))
        rc, out, err = self.cli("api-key", "create", "--namespace", "ns-app", "--description",
                                "table", "--expires", "2099-01-01T00:00:00Z")
        self.assertEqual(rc, 0, err)
        self.assertIn("secret:\n" + PREFIX, out)
        self.assertIn("curl -H 'X-Auth-Token: " + PREFIX, out)
        self.assertIn("only time the API key is shown", err)
        self.secrets.append(out.split("secret:\n", 1)[1].split("\n", 1)[0])
        rc, out, err = self.cli("api-key", "list", "--function", "thumb")
        self.assertEqual(rc, 0, err)
        self.assertIn(k["id"], out)
        self.assertIn("from the CLI", out)
        self.assertTrue(out.splitlines()[0].startswith("ID"), out)
        rc, out, err = self.cli("api-key", "list", "--json", "--namespace", "ns-app")
        self.assertEqual(rc, 0, err)
        self.assertIn(k["id"], [x["id"] for x in json.loads(out)["api_keys"]])
        rc, out, err = self.cli("api-key", "get", k["id"])
        self.assertEqual(rc, 0, err)
        self.assertIn("from the CLI", out)
        self.assertNotIn(PREFIX, out)
        rc, out, err = self.cli("api-key", "delete", k["id"])
        self.assertEqual(rc, 2, "not a terminal: --yes is required")
        rc, out, err = self.cli("api-key", "delete", k["id"], "--yes")
        self.assertEqual(rc, 0, err)
        self.assertIn("deleted", out)
        self.assertDenied(self.call("/thumb/x", token=k["secret"]), "api_key_revoked")
        rc, out, err = self.cli("api-key", "delete", k["id"], "--yes")
        self.assertEqual(rc, 5, err)
        rc, out, err = self.cli("api-key", "get", "0" * 20)
        self.assertEqual(rc, 4, err)
        rc, out, err = self.cli("api-key", "create", "--namespace", "ns-app", "--description",
                                "x", "--no-expiry", key="ro")
        self.assertEqual(rc, 3, err)
        rc, out, err = self.cli("api-key", "revoke", "--jti", "x")
        self.assertEqual(rc, 2, err)

    def test_10_audit_events(self):
        """Creation and deletion of a key are in the audit trail (issue 13), once each, with
        the key's id and the outcome answered; a second DELETE records already_revoked."""
        made = self.create(function_id="hello", description="audited")
        self.assertEqual(self.api("DELETE", "/v1/api-keys/" + made["id"])[0], 200)
        self.assertEqual(self.api("DELETE", "/v1/api-keys/" + made["id"])[0], 409)
        for action, outcomes in (("api_key.create", ["ok"]),
                                 ("api_key.delete", ["already_revoked", "ok"])):
            st, js = self.api("GET", "/v1/audit?action=%s&page_size=100" % action)
            self.assertEqual(st, 200, js)
            mine = [e for e in js["events"] if e["target_id"] == made["id"]]
            self.assertEqual([e["outcome"] for e in mine], outcomes, mine)
            for e in mine:
                self.assertEqual((e["actor"], e["namespace_id"], e["function_id"]),
                                 ("ops", made["namespace_id"], "hello"))

    def test_99_no_secret_at_rest_or_in_logs(self):
        """No secret handed out in this run is in the daemon's log (access log included) nor
        anywhere in state_dir."""
        self.assertGreater(len(self.secrets), 10)
        time.sleep(2.5)     # the last-use flush
        log = self.gw.proc.output()
        for name in os.listdir(self.state):
            path = os.path.join(self.state, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    log += f.read().decode("latin-1")
        for s in self.secrets:
            rnd = s[len(PREFIX) + 21:]
            self.assertNotIn(rnd, log)
            self.assertIn(s[len(PREFIX):len(PREFIX) + 20], log)   # the ids are there


if __name__ == "__main__":
    unittest.main(verbosity=2)
