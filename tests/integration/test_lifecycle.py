#!/usr/bin/env python3
"""test_lifecycle.py - the token lifecycle of issue 3 through the real daemon, the admin API and
the CLI: the console user's flow (private -> 403 -> token -> 200 -> listed without the secret ->
delete -> 403 token_revoked -> restart -> still refused and listed revoked), no-expiry and
namespace tokens, expiry, Scaleway's tokens on imported keys revoked by jti, admin keys (none,
wrong, lacking a permission, outside their namespaces), key rotation, kill -9 during a burst
of concurrent creations and deletions, and a privacy set through the API warned and reset.

Test data: the two Scaleway tokens used are function-scoped entries of
../shared/vectors/scaleway-tokens.json (no exp, each with its namespace's 4096-bit PKCS#1 key).
Every other token is minted by fngate itself through POST /v1/tokens.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402


class Lifecycle(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("lifecycle")
        cls.backend = cls.env.backend("b")
        cls.keys = {name: lu.new_admin_key() for name in ("ops", "ci", "ro", "fw")}
        scw = [t for t in it.scaleway_vectors() if t["scope"] == "function"][:2]
        cls.scw = scw
        ns_scw = []
        for i, t in enumerate(scw):
            pem = cls.env.write("scw%d.pub.pem" % i, t["public_key_pem"])
            ns_scw.append(it.namespace(
                "ns-scw%d" % i, "scw%d" % i, [{"kid": "scw", "alg": "RS256", "public_key": pem}],
                [it.function(t["function_id"], "scwfn%d" % i, cls.backend.url,
                             prefix="/scw%d" % i)]))
        up = cls.backend.url
        cls.conf = it.config(cls.env, [
            it.namespace("ns-app", "app", [], [
                it.function("hello", "hello", up, privacy="public", prefix="/hello"),
                it.function("resize", "resize", up, prefix="/resize")],
                issue_tokens=True),
            it.namespace("ns-other", "other", [], [
                it.function("other", "other", up, prefix="/other")], issue_tokens=True),
        ] + ns_scw, tokens={"leeway_s": 0, "forward_token": False})
        cls.conf["admin"]["keys"] = [
            dict(cls.keys["ops"][1], name="ops", role="owner"),
            dict(cls.keys["ci"][1], name="ci", permissions=["tokens:read", "tokens:write"],
                 namespaces=["ns-app"]),
            dict(cls.keys["ro"][1], name="ro", permissions=["tokens:read"]),
            dict(cls.keys["fw"][1], name="fw", permissions=["functions:write"],
                 namespaces=["ns-app"]),
        ]
        cls.admin_port = int(cls.conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.admin_url = "http://127.0.0.1:%d" % cls.admin_port
        cls.state = cls.conf["state_dir"]
        cls.start()

    @classmethod
    def start(cls):
        cls.gw = cls.env.fngate(cls.conf)
        it.wait_port(cls.admin_port, cls.gw.proc)

    @classmethod
    def restart(cls, sig=signal.SIGTERM):
        if sig == signal.SIGKILL:
            os.killpg(cls.gw.proc.pid, signal.SIGKILL)
            cls.gw.proc.wait(10)
        cls.gw.stop()
        cls.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    # -- helpers

    def cli(self, *args, key="ops"):
        """Run the fngate CLI against the admin API: (exit code, stdout, stderr)."""
        env = dict(os.environ)
        env.pop("FNGATE_ADMIN_KEY", None)
        if key is not None:
            env["FNGATE_ADMIN_KEY"] = self.keys[key][0] if key in self.keys else key
        p = subprocess.run([it.FNGATE_BIN] + list(args) + ["--admin-url", self.admin_url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def create(self, *scope, key="ops", **kw):
        rc, out, err = self.cli("token", "create", *scope, "--json", key=key, **kw)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def call(self, path, token=None):
        return it.curl(self.gw.url(path), token=token)

    # -- the console user's flow

    def test_01_console_flow(self):
        rc, out, err = self.cli("function", "set-privacy", "hello", "private")
        self.assertEqual(rc, 0, err)
        self.assertIn("private", out)
        self.assertDenied(self.call("/hello/x"), "token_missing")
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        rec = self.create("--function", "hello", "--description", "deploy bot \u00e9",
                          "--expires", expires)
        tok, tid = rec["token"], rec["id"]
        self.assertEqual(rec["expires_at"], expires)
        self.assertEqual(rec["description"], "deploy bot \u00e9")
        self.assertEqual(it.jwt_claims(tok)["jti"], tid)
        seen = self.assertForwarded(self.call("/hello/x", tok), "b")
        self.assertEqual(seen["headers"].get("x-fngate-token-id"), [tid])
        # The list shows it, never the secret; the table too.
        rc, out, err = self.cli("token", "list", "--function", "hello", "--json")
        self.assertEqual(rc, 0, err)
        listed = json.loads(out)
        self.assertEqual([t["id"] for t in listed["tokens"]], [tid])
        self.assertNotIn(tok, out)
        self.assertNotIn("token\"", out.replace("\"tokens\"", ""))
        rc, table, err = self.cli("token", "list")
        self.assertIn(tid, table)
        self.assertIn("deploy bot", table)
        self.assertNotIn(tok.split(".")[2], table)
        # Delete: refused at once, for good.
        rc, out, err = self.cli("token", "delete", tid)   # no terminal, no --yes: refused
        self.assertEqual(rc, 2, out + err)
        rc, out, err = self.cli("token", "delete", tid, "--yes")
        self.assertEqual(rc, 0, err)
        self.assertDenied(self.call("/hello/x", tok), "token_revoked")
        rc, out, err = self.cli("token", "delete", tid, "--yes")
        self.assertEqual(rc, 5, out + err)
        self.assertIn("already revoked", err)
        # Restart: still refused, listed as revoked, and the function still private.
        self.restart()
        self.assertDenied(self.call("/hello/x", tok), "token_revoked")
        self.assertDenied(self.call("/hello/x"), "token_missing")
        rc, out, err = self.cli("token", "get", tid, "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["status"], "revoked")
        self.assertNotIn(tok, out)
        rc, out, err = self.cli("function", "set-privacy", "hello", "public")
        self.assertEqual(rc, 0, err)
        self.assertForwarded(self.call("/hello/x"))

    def test_02_no_expiry_namespace_token(self):
        rec = self.create("--namespace", "ns-app", "--description", "ns wide", "--no-expiry")
        self.assertIsNone(rec["expires_at"])
        self.assertEqual(rec["scope"], "namespace")
        claims = it.jwt_claims(rec["token"])
        self.assertNotIn("exp", claims)
        self.assertEqual(claims["application_claim"],
                         [{"namespace_id": "ns-app", "application_id": ""}])
        # Every function of its namespace, none of another.
        self.assertForwarded(self.call("/resize/x", rec["token"]))
        self.assertForwarded(self.call("/hello/x", rec["token"]))
        # (ns-other does not have the kid that signed it)
        self.assertDenied(self.call("/other/x", rec["token"]), "token_kid_unknown")
        # A function token opens its function only.
        fn = self.create("--function", "resize", "--description", "fn", "--no-expiry")
        self.assertForwarded(self.call("/resize/x", fn["token"]))
        self.assertDenied(self.call("/other/x", fn["token"]), "token_kid_unknown")
        # last_used_at reaches the API (flushed within a few seconds).
        deadline = time.time() + 8
        while time.time() < deadline:
            rc, out, err = self.cli("token", "get", fn["id"], "--json")
            if json.loads(out)["last_used_at"]:
                break
            time.sleep(0.5)
        self.assertIsNotNone(json.loads(out)["last_used_at"])

    def test_03_expiry(self):
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + 3))
        rec = self.create("--function", "resize", "--description", "short", "--expires", exp)
        self.assertForwarded(self.call("/resize/x", rec["token"]))
        time.sleep(max(0, it.jwt_claims(rec["token"])["exp"] - time.time()) + 1.2)
        self.assertDenied(self.call("/resize/x", rec["token"]), "token_expired")
        # Bad inputs: exit 5 with the API's message, or 2 when the CLI can tell.
        rc, out, err = self.cli("token", "create", "--function", "resize", "--description", "x",
                                "--expires", "2001-01-01T00:00:00Z")
        self.assertEqual(rc, 5, err)
        self.assertIn("in the past", err)
        rc, out, err = self.cli("token", "create", "--function", "resize", "--description", "x",
                                "--expires", "tomorrow")
        self.assertEqual(rc, 2, err)
        rc, out, err = self.cli("token", "create", "--function", "nope", "--description", "x",
                                "--no-expiry")
        self.assertEqual(rc, 5, err)
        self.assertIn("no function", err)

    def test_04_imported_scaleway_tokens(self):
        a, b = self.scw
        self.assertForwarded(self.call("/scw0/x", a["token"]))
        self.assertForwarded(self.call("/scw1/x", b["token"]))
        # Tokens cannot be created for an imported namespace, only revoked by jti.
        rc, out, err = self.cli("token", "create", "--namespace", "ns-scw0", "--description", "x",
                                "--no-expiry")
        self.assertEqual(rc, 5, err)
        self.assertIn("does not issue tokens", err)
        jti = it.jwt_claims(a["token"])["jti"]
        rc, out, err = self.cli("token", "revoke", "--jti", jti, "--namespace", "ns-scw0")
        self.assertEqual(rc, 0, err)
        self.assertDenied(self.call("/scw0/x", a["token"]), "token_revoked")
        self.assertForwarded(self.call("/scw1/x", b["token"]))
        rc, out, err = self.cli("token", "revoke", "--jti", jti, "--namespace", "ns-scw0")
        self.assertEqual(rc, 5, err)                        # already revoked there
        rc, out, err = self.cli("token", "get", jti, "--json")
        self.assertTrue(json.loads(out)["imported"])
        self.assertEqual(json.loads(out)["revocation_scope"], "namespace")

    def test_05_admin_keys(self):
        r = it.curl(self.admin_url + "/healthz")
        self.assertEqual(r.status, 200)
        r = it.curl(self.admin_url + "/v1/tokens")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "unauthorized")
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertEqual(r.header("x-frame-options"), "DENY")
        rc, out, err = self.cli("token", "list", key=None)
        self.assertEqual(rc, 3, err)
        rc, out, err = self.cli("token", "list", key="fngk_wrong")
        self.assertEqual(rc, 3, err)
        self.assertIn("unknown admin key", err)
        rc, out, err = self.cli("token", "create", "--function", "resize", "--description", "x",
                                "--no-expiry", key="ro")
        self.assertEqual(rc, 3, err)
        self.assertIn("tokens:write", err)
        rc, out, err = self.cli("token", "create", "--function", "other", "--description", "x",
                                "--no-expiry", key="ci")
        self.assertNotEqual(rc, 0, err)
        self.assertIn("unknown_function", err)
        rc, out, err = self.cli("function", "set-privacy", "resize", "public", key="ci")
        self.assertEqual(rc, 3, err)
        rec = self.create("--function", "resize", "--description", "ci", "--no-expiry", key="ci")
        rc, out, err = self.cli("token", "list", "--json", key="ci")
        ids = [t["namespace_id"] for t in json.loads(out)["tokens"]]
        self.assertIn(rec["id"], out)
        self.assertEqual(set(ids), {"ns-app"})

    def test_05b_revocations_stay_in_their_namespace(self):
        """A jti revoked for one namespace never refuses another namespace's token of that id
        (issue 11 item 5): a key restricted to ns-app cannot refuse ns-scw1's tokens or
        ns-other's, by naming their jti; an owner's revocation without a namespace applies in
        every namespace, and says so; all of it survives a restart."""
        b = self.scw[1]
        jti_b = it.jwt_claims(b["token"])["jti"]
        other = self.create("--function", "other", "--description", "other", "--no-expiry")
        # ci (ns-app only) names ns-app: recorded for ns-app, nothing else refused
        for jti in (jti_b, other["id"]):
            st, body = lu.admin_request(self.admin_port, "POST", "/v1/tokens/revoke",
                                        key=self.keys["ci"][0],
                                        body={"jti": jti, "namespace_id": "ns-app"})
            self.assertEqual(st, 200, body)
            self.assertEqual(body["namespace_id"], "ns-app")
            self.assertEqual(body["revocation_scope"], "namespace")
        self.assertForwarded(self.call("/scw1/x", b["token"]))
        self.assertForwarded(self.call("/other/x", other["token"]))
        # ...and cannot act without naming a namespace (403), or in another one, which it
        # may not see (400 unknown_namespace, as for a namespace that does not exist)
        for body, want in (({"jti": jti_b}, 403),
                           ({"jti": jti_b, "namespace_id": "ns-scw1"}, 400),
                           ({"jti": other["id"], "namespace_id": "ns-other"}, 400)):
            st, _ = lu.admin_request(self.admin_port, "POST", "/v1/tokens/revoke",
                                     key=self.keys["ci"][0], body=body)
            self.assertEqual(st, want, body)
        self.assertForwarded(self.call("/scw1/x", b["token"]))
        self.assertForwarded(self.call("/other/x", other["token"]))
        self.restart()
        self.assertForwarded(self.call("/scw1/x", b["token"]))
        self.assertForwarded(self.call("/other/x", other["token"]))
        # the owner, without a namespace: every namespace
        st, body = lu.admin_request(self.admin_port, "POST", "/v1/tokens/revoke",
                                    key=self.keys["ops"][0], body={"jti": jti_b})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["revocation_scope"], "all_namespaces")
        self.assertIsNone(body["namespace_id"])
        self.assertDenied(self.call("/scw1/x", b["token"]), "token_revoked")
        self.restart()
        self.assertDenied(self.call("/scw1/x", b["token"]), "token_revoked")
        self.assertForwarded(self.call("/other/x", other["token"]))

    def test_06_crash_during_burst(self):
        """kill -9 in the middle of concurrent creations and deletions: after the restart every
        token answered 201 exists (and works), every token answered deleted is refused."""
        created, deleted, unanswered, lock = {}, set(), set(), threading.Lock()
        stop = threading.Event()
        ops = self.keys["ops"][0]

        def worker(n):
            mine = []
            while not stop.is_set():
                st, body = lu.admin_request(self.admin_port, "POST", "/v1/tokens", ops,
                                            {"function_id": "resize", "description": "burst %d" % n,
                                             "expires_at": None})
                if st == 201:
                    with lock:
                        created[body["id"]] = body["token"]
                    mine.append(body["id"])
                if len(mine) >= 2 and not stop.is_set():
                    victim = mine.pop(0)
                    st, body = lu.admin_request(self.admin_port, "DELETE",
                                                "/v1/tokens/" + victim, ops)
                    with lock:
                        if st == 200:
                            deleted.add(victim)
                        elif st == 0:
                            unanswered.add(victim)  # killed mid-request: either outcome

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        os.killpg(self.gw.proc.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreater(len(created), 10, "the burst created too few tokens")
        self.assertGreater(len(deleted), 3, "the burst deleted too few tokens")
        print("burst before kill -9: %d tokens answered 201, %d answered deleted"
              % (len(created), len(deleted)), file=sys.stderr)
        self.gw.proc.wait(10)
        self.gw.stop()
        self.start()
        with lock:
            created_ids, deleted_ids = dict(created), set(deleted)
        for tid, tok in created_ids.items():
            st, body = lu.admin_request(self.admin_port, "GET", "/v1/tokens/" + tid, ops)
            self.assertEqual(st, 200, "token %s answered 201 is gone after kill -9" % tid)
            if tid in deleted_ids:
                self.assertEqual(body["status"], "revoked", tid)
        statuses = lu.gateway_statuses(self.gw.port, "/resize/x", created_ids)
        for tid in created_ids:
            if tid in unanswered:
                continue
            want = 403 if tid in deleted_ids else 200
            self.assertEqual(statuses[tid][0], want, "token %s: %r" % (tid, statuses[tid]))
            if want == 403:
                self.assertEqual(statuses[tid][1], "token_revoked")

    def test_07_key_rotation(self):
        old_tok = self.create("--namespace", "ns-app", "--description", "before",
                              "--no-expiry")["token"]
        old_kid = json.loads(it.b64u_decode(old_tok.split(".")[0]))["kid"]
        p = subprocess.run([it.FNGATE_BIN, "keygen", "--namespace", "ns-app", "--state-dir",
                            self.state], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 1)   # a key exists: --rotate is required
        self.assertIn(b"--rotate", p.stderr)
        p = subprocess.run([it.FNGATE_BIN, "keygen", "--namespace", "ns-app", "--state-dir",
                            self.state, "--rotate", "--alg", "ES256", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        info = json.loads(p.stdout)
        self.assertEqual(info["previous_kid"], old_kid)
        mode = os.stat(os.path.join(self.state, "keys", "ns-app", info["kid"] + ".pem")).st_mode
        self.assertEqual(mode & 0o777, 0o600)
        # Keep the old key in the configuration while its tokens must work; reload.
        ns = self.conf["namespaces"][0]
        ns["keys"] = [{"kid": old_kid, "alg": "RS256", "public_key": os.path.join(
            self.state, "keys", "ns-app", old_kid + ".pub.pem")}]
        lu.reload(self.env, self.gw, self.conf)
        new = self.create("--namespace", "ns-app", "--description", "after", "--no-expiry")
        hdr = json.loads(it.b64u_decode(new["token"].split(".")[0]))
        self.assertEqual((hdr["kid"], hdr["alg"]), (info["kid"], "ES256"))
        self.assertForwarded(self.call("/resize/x", new["token"]))
        self.assertForwarded(self.call("/resize/x", old_tok))
        # Old public key removed from the configuration: its tokens stop working.
        ns["keys"] = []
        lu.reload(self.env, self.gw, self.conf)
        self.assertDenied(self.call("/resize/x", old_tok), "token_kid_unknown")
        self.assertForwarded(self.call("/resize/x", new["token"]))

    def test_08_description_characters(self):
        """Every character a terminal or browser acts on is refused in a description (400, one
        message, nothing created); ordinary non-ASCII text passes."""
        ops = self.keys["ops"][0]
        # (U+0000 is refused earlier, by the JSON parser: invalid_json.)
        bad = ([chr(c) for c in range(0x01, 0x20)] + ["\x7f"] +
               [chr(c) for c in range(0x80, 0xa0)] +
               ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"] +
               [chr(c) for c in range(0x202a, 0x202f)] + [chr(c) for c in range(0x2066, 0x206a)])
        for ch in bad:
            st, body = lu.admin_request(self.admin_port, "POST", "/v1/tokens", ops, {
                "function_id": "resize", "description": "a" + ch + "b", "expires_at": None})
            self.assertEqual(st, 400, "U+%04X" % ord(ch))
            self.assertEqual(body["error"], "invalid_request", "U+%04X" % ord(ch))
            self.assertIn("description contains", body["message"])
        for ok in ("caf\u00e9 \u00a0\u00ff", "\u2027\u202f\u2065\u206a \u4e2d", "\U0001f600"):
            st, body = lu.admin_request(self.admin_port, "POST", "/v1/tokens", ops, {
                "function_id": "resize", "description": ok, "expires_at": None})
            self.assertEqual(st, 201, body)
            self.assertEqual(body["description"], ok)
        rc, out, err = self.cli("token", "create", "--function", "resize", "--description",
                                "evil\u202etxt.exe", "--no-expiry")
        self.assertNotEqual(rc, 0)
        self.assertIn("description contains", err)

    def test_09_ownership_oracle(self):
        """A restricted key gets for every id of a namespace it may not see exactly the answer
        it gets for an id that does not exist; a missing permission is refused before any id
        is looked up."""
        ops = self.keys["ops"][0]
        st, other = lu.admin_request(self.admin_port, "POST", "/v1/tokens", ops, {
            "function_id": "other", "description": "other's", "expires_at": None})
        self.assertEqual(st, 201, other)
        oid, missing = other["id"], "00000000-0000-4000-8000-000000000000"
        # (key, method, path of the hidden id, path of a missing id, body(id) or None)
        table = [
            ("ci", "GET", "/v1/namespaces/ns-other", "/v1/namespaces/ns-nope", None),
            ("ci", "GET", "/v1/namespaces/ns-other/functions",
             "/v1/namespaces/ns-nope/functions", None),
            ("ci", "GET", "/v1/functions/other", "/v1/functions/nope", None),
            ("fw", "PATCH", "/v1/functions/other", "/v1/functions/nope",
             lambda i: {"privacy": "public"}),
            ("ci", "PATCH", "/v1/functions/other", "/v1/functions/nope",
             lambda i: {"privacy": "public"}),
            ("ci", "GET", "/v1/tokens/" + oid, "/v1/tokens/" + missing, None),
            ("ci", "DELETE", "/v1/tokens/" + oid, "/v1/tokens/" + missing, None),
            ("fw", "GET", "/v1/tokens/" + oid, "/v1/tokens/" + missing, None),
            ("ci", "GET", "/v1/tokens?namespace_id=ns-other", "/v1/tokens?namespace_id=ns-nope",
             None),
            ("ci", "GET", "/v1/tokens?function_id=other", "/v1/tokens?function_id=nope", None),
            ("ci", "POST", "/v1/tokens#fn", "/v1/tokens#fn-missing",
             lambda i: {"function_id": "other" if i else "nope", "description": "x"}),
            ("ci", "POST", "/v1/tokens#ns", "/v1/tokens#ns-missing",
             lambda i: {"namespace_id": "ns-other" if i else "ns-nope", "description": "x"}),
            ("ro", "POST", "/v1/tokens#ro", "/v1/tokens#ro-missing",
             lambda i: {"function_id": "other" if i else "nope", "description": "x"}),
            ("ci", "POST", "/v1/tokens/revoke#ns", "/v1/tokens/revoke#ns-missing",
             lambda i: {"jti": missing, "namespace_id": "ns-other" if i else "ns-nope"}),
            ("fw", "POST", "/v1/tokens/revoke", "/v1/tokens/revoke#missing",
             lambda i: {"jti": oid if i else missing}),
        ]
        for key, method, hidden, absent, body in table:
            answers = []
            for i, path in ((True, hidden), (False, absent)):
                st, js = lu.admin_request(self.admin_port, method, path.split("#")[0],
                                          self.keys[key][0], body(i) if body else None)
                answers.append((st, js))
            self.assertEqual(answers[0], answers[1], (key, method, hidden))
            self.assertIn(answers[0][0], (200, 400, 403, 404), (key, method, hidden))
        # What lacks the permission is 403 whatever the id; the other namespace's token lives.
        st, js = lu.admin_request(self.admin_port, "POST", "/v1/tokens", self.keys["ro"][0],
                                  {"function_id": "nope", "description": "x"})
        self.assertEqual((st, js["error"]), (403, "forbidden"))
        st, js = lu.admin_request(self.admin_port, "GET", "/v1/tokens/" + oid, ops)
        self.assertEqual((st, js["status"]), (200, "ready"))

    def test_10_privacy_override_warned_and_reset(self):
        """A privacy set through the API wins over the file (issue 16 item 4): a warning per
        contradicting function on start and on reload; reset-privacy returns to the file's
        value, durably; only a key with functions:write may reset."""
        warn = "function resize is public as set through the admin API"
        rc, out, err = self.cli("function", "set-privacy", "resize", "public")
        self.assertEqual(rc, 0, err)
        self.assertForwarded(self.call("/resize/x"))
        lu.reload(self.env, self.gw, self.conf)
        self.assertEqual(self.gw.proc.output().count(warn), 1)
        self.assertIn("fngate function reset-privacy resize", self.gw.proc.output())
        self.restart()
        self.assertEqual(self.gw.proc.output().count(warn), 1)
        self.assertNotIn("function hello is", self.gw.proc.output())   # stored = file: silent
        # The API shows the contradiction (what the console shows beside the policy).
        f = json.loads(self.cli("function", "get", "resize", "--json")[1])
        self.assertEqual((f["privacy"], f["privacy_configured"]), ("public", "private"))
        # Refusals: a key without functions:write, an unknown function, other methods.
        rc, out, err = self.cli("function", "reset-privacy", "resize", key="ci")
        self.assertEqual(rc, 3, err)
        self.assertIn("functions:write", err)
        self.assertForwarded(self.call("/resize/x"))
        rc, out, err = self.cli("function", "reset-privacy", "nosuch")
        self.assertNotEqual(rc, 0)
        auth = ("Authorization: Bearer " + self.keys["ops"][0],)
        r = it.curl(self.admin_url + "/v1/functions/resize/privacy", headers=auth)
        self.assertEqual((r.status, r.header("allow")), (405, "DELETE"))
        r = it.curl(self.admin_url + "/v1/functions/nosuch/privacy", headers=auth,
                    method="DELETE")
        self.assertEqual(r.status, 404)
        # Reset: the file's value at once, and after a reload and a restart, without warning.
        rc, out, err = self.cli("function", "reset-privacy", "resize")
        self.assertEqual(rc, 0, err)
        self.assertIn("resize is now private, as the configuration says", out)
        self.assertDenied(self.call("/resize/x"), "token_missing")
        with open(os.path.join(self.state, "privacy.json")) as fh:
            self.assertNotIn("resize", json.load(fh)["functions"])
        lu.reload(self.env, self.gw, self.conf)
        self.restart()
        self.assertNotIn(warn, self.gw.proc.output())
        self.assertDenied(self.call("/resize/x"), "token_missing")
        # Resetting a function that has no stored privacy succeeds and changes nothing.
        r = it.curl(self.admin_url + "/v1/functions/resize/privacy", headers=auth,
                    method="DELETE")
        self.assertEqual((r.status, r.json()["privacy"]), (200, "private"))

    def test_11_cli_endpoints_and_curl_line(self):
        """The CLI shows functions' names and endpoints, and token create prints the curl line
        with the token at each endpoint it opens (issue 16 item 3)."""
        fns = {f["id"]: f for f in json.loads(self.cli("function", "list", "--json")[1])
               ["functions"]}
        ep = fns["hello"]["endpoint"]
        self.assertTrue(ep.startswith("http://127.0.0.1:"), ep)
        rc, out, err = self.cli("function", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("ENDPOINT", out.splitlines()[0])
        line = [ln for ln in out.splitlines() if ln.startswith("hello ")][0]
        self.assertEqual(line.split()[:2], ["hello", "hello"])
        self.assertIn(ep, line)
        rc, out, err = self.cli("function", "get", "resize")
        self.assertIn("name          resize", out)
        self.assertIn("endpoint      " + fns["resize"]["endpoint"], out)
        rc, out, err = self.cli("token", "create", "--function", "hello", "--description",
                                "curl line", "--no-expiry")
        self.assertEqual(rc, 0, err)
        tok = out.split("token:\n", 1)[1].split("\n", 1)[0]
        self.assertIn("curl -H 'X-Auth-Token: %s' '%s'" % (tok, ep), out)
        rc, out, err = self.cli("token", "create", "--namespace", "ns-app", "--description",
                                "ns curl lines", "--no-expiry")
        self.assertEqual(rc, 0, err)
        tok = out.split("token:\n", 1)[1].split("\n", 1)[0]
        for fid in ("hello", "resize"):
            self.assertIn("curl -H 'X-Auth-Token: %s' '%s'" % (tok, fns[fid]["endpoint"]), out)
        self.assertNotIn(fns["other"]["endpoint"], out)


if __name__ == "__main__":
    it.main()
