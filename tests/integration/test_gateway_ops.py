#!/usr/bin/env python3
"""test_gateway_ops.py - operating the daemon: `fngate check`, `fngate version`, SIGHUP reload
under load, a refused bad reload, SIGTERM with a request in flight, and the JSON access log.

Each test that changes the daemon's life (reload, stop) starts its own fngate on a fresh port.
"""

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

NS = "0b5e0000-0000-4000-8000-000000000001"
FN1 = "0f000000-0000-4000-8000-000000000001"
FN2 = "0f000000-0000-4000-8000-000000000002"


class Ops(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("ops")
        cls.backend = env.backend("ops-backend")
        cls.key = env.key("ops", "rsa-pkcs1")

    def conf(self, functions, port=None, **top):
        return it.config(self.env, [it.namespace(NS, "ops", [self.key.conf("k1")], functions)],
                         port=port, **top)

    def fn1(self, privacy="public"):
        return it.function(FN1, "one", self.backend.url, privacy=privacy, prefix="/one")

    def fn2(self):
        return it.function(FN2, "two", self.backend.url, privacy="public", prefix="/two")

    # -- the CLI

    def test_check_good(self):
        path = self.env.write_config(self.conf([self.fn1(), self.fn2()]), "good.json")
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_check_bad(self):
        good = self.conf([self.fn1()])
        text = json.dumps(good, indent=2)
        # Line/column known: an unknown top-level key, a misspelt privacy, a wrong type.
        text = text.replace('"workers": 2,', '"workerz": 2,')
        text = text.replace('"privacy": "public"', '"privacy": "publik"')
        text = text.replace('"leeway_s": 60', '"leeway_s": "60"')
        path = self.env.write("bad.json", text)
        lines = text.split("\n")
        want = {}
        for needle in ('"workerz"', '"publik"', '"60"'):
            for n, line in enumerate(lines, 1):
                if needle in line:
                    want[needle] = n
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertEqual(p.returncode, 1, out)
        errs = re.findall(r"^(.+?):(\d+):(\d+): (.+)$", out, re.M)
        self.assertTrue(errs, "no file:line:column: lines in:\n" + out)
        self.assertTrue(all(e[0] == path for e in errs), out)
        got_lines = {int(e[1]) for e in errs}
        for needle, n in want.items():
            self.assertIn(n, got_lines, "%s (line %d) not reported:\n%s" % (needle, n, out))
        # A key file that does not exist, and a syntax error.
        conf = self.conf([self.fn1()])
        conf["namespaces"][0]["keys"][0]["public_key"] = "/nonexistent/key.pem"
        path = self.env.write_config(conf, "nokey.json")
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex((p.stdout + p.stderr).decode(), r"(?m)^%s:\d+:\d+: " % re.escape(path))
        path = self.env.write("syntax.json", '{\n  "listen": ["127.0.0.1:1"],\n  oops\n}\n')
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex((p.stdout + p.stderr).decode(), r"(?m)^%s:3:\d+: " % re.escape(path))

    def test_version_and_help(self):
        p = it.run([it.FNGATE_BIN, "version"], check=False)
        self.assertEqual(p.returncode, 0)
        self.assertRegex((p.stdout + p.stderr).decode(), r"\d+\.\d+\.\d+")
        for sub in ("serve", "check"):
            p = it.run([it.FNGATE_BIN, sub, "--help"], check=False)
            self.assertEqual(p.returncode, 0, sub)
            self.assertIn(b"-c", p.stdout + p.stderr)

    # -- reload

    def load_loop(self, gw, path, stop, results):
        """curl in a loop until `stop` is set; results collects every status."""
        while not stop.is_set():
            results.append(it.curl(gw.url(path), timeout=10).status)

    def test_sighup_adds_function_without_failures(self):
        path = os.path.join(self.env.dir, "reload.json")
        conf = self.conf([self.fn1()])
        gw = self.env.fngate(conf, "reload.json")
        self.assertEqual(it.curl(gw.url("/two/")).status, 404)
        stop = threading.Event()
        results = [[], [], []]
        threads = [threading.Thread(target=self.load_loop, args=(gw, "/one/x", stop, r)) for r in results]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            conf["namespaces"][0]["functions"].append(self.fn2())
            self.env.write_config(conf, "reload.json")
            gw.reload()
            deadline = time.time() + 10
            while time.time() < deadline and it.curl(gw.url("/two/")).status != 200:
                time.sleep(0.1)
            self.assertEqual(it.curl(gw.url("/two/")).status, 200, "the new function is not served")
            gw.reload()     # and once more for good measure, still under load
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        statuses = sum(results, [])
        self.assertGreater(len(statuses), 20)
        self.assertEqual([s for s in statuses if s != 200], [], "requests failed during reload")
        self.assertTrue(gw.proc.alive())
        self.assertTrue(os.path.exists(path))

    def test_bad_reload_keeps_old_config(self):
        conf = self.conf([self.fn1(), self.fn2()])
        gw = self.env.fngate(conf, "badreload.json")
        self.assertEqual(it.curl(gw.url("/two/")).status, 200)
        # Syntax error, then a valid JSON that is semantically wrong (unknown key).
        for bad in ('{"listen": [', json.dumps(dict(conf, bogus_key=1))):
            self.env.write("badreload.json", bad)
            gw.reload()
            time.sleep(1.0)
            self.assertTrue(gw.proc.alive(), "a bad reload killed the daemon")
            self.assertEqual(it.curl(gw.url("/one/")).status, 200)
            self.assertEqual(it.curl(gw.url("/two/")).status, 200)
        lines = gw.proc.json_lines()
        self.assertTrue(any(r.get("level") in ("error", "warn", "warning") for r in lines),
                        "the refused reload is not logged")

    # -- stop

    def test_sigterm_drains_in_flight(self):
        gw = self.env.fngate(self.conf([self.fn1()]), "term.json")
        out = {}

        def slow():
            out["r"] = it.curl(gw.url("/one/_slow?ms=1500"), timeout=15)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.4)
        gw.proc.signal(signal.SIGTERM)
        time.sleep(0.3)
        # Stopped accepting: a new connection is refused (or not answered) while draining.
        late = it.curl(gw.url("/one/late"), timeout=3)
        t.join()
        rc = gw.proc.wait(10)
        self.assertEqual(out["r"].status, 200, "the request in flight was dropped: %r" % out["r"])
        self.assertEqual(rc, 0, "exit code after SIGTERM")
        self.assertNotEqual(late.status, 200, "accepted a new request after SIGTERM")

    # -- access log

    def test_access_log(self):
        conf = self.conf([self.fn1(privacy="private"), self.fn2()])
        gw = self.env.fngate(conf, "log.json")
        tok = it.mint(self.key, it.scw_claims(function_id=FN1))
        jti = it.jwt_claims(tok)["jti"]
        expired = it.mint(self.key, it.scw_claims(function_id=FN1, exp=-3600))
        jti_x = it.jwt_claims(expired)["jti"]
        self.assertEqual(it.curl(gw.url("/one/allowed?q=1"), token=tok).status, 200)
        self.assertEqual(it.curl(gw.url("/one/expired"), token=expired).status, 403)
        self.assertEqual(it.curl(gw.url("/one/missing")).status, 403)
        self.assertEqual(it.curl(gw.url("/nowhere")).status, 404)
        time.sleep(0.5)
        log = gw.proc.output()
        for t in (tok, expired):
            self.assertNotIn(t, log, "a token is in the log")
            self.assertNotIn(t.split(".")[2][:40], log, "a token signature is in the log")
        recs = gw.access_lines()

        def find(fragment):
            m = [r for r in recs if fragment in str(r.get("path", ""))]
            self.assertEqual(len(m), 1, "access record for %s: %r" % (fragment, recs))
            return m[0]

        def field(rec, *names):
            for n in names:
                if n in rec:
                    return rec[n]
            self.fail("none of %s in %r" % (names, rec))

        ok = find("/one/allowed")
        for names in (("time", "ts"), ("request_id",), ("client", "client_addr", "remote"),
                      ("method",), ("path",), ("namespace", "namespace_id"),
                      ("function", "function_id"), ("decision",), ("reason",),
                      ("token_id", "jti"), ("status",), ("bytes_out", "bytes"),
                      ("upstream_us", "upstream_ms", "upstream_time"),
                      ("total_us", "total_ms", "total_time", "duration_us", "duration_ms")):
            field(ok, *names)
        self.assertEqual(ok["method"], "GET")
        self.assertEqual(ok["path"], "/one/allowed?q=1")
        self.assertEqual(ok["status"], 200)
        self.assertEqual(field(ok, "namespace", "namespace_id"), NS)
        self.assertEqual(field(ok, "function", "function_id"), FN1)
        self.assertEqual(field(ok, "token_id", "jti"), jti)
        self.assertTrue(str(field(ok, "client", "client_addr", "remote")).startswith("127.0.0.1"))
        self.assertRegex(ok["request_id"], r"^[A-Za-z0-9._-]{8,64}$")

        x = find("/one/expired")
        self.assertEqual(x["status"], 403)
        self.assertEqual(x["reason"], "token_expired")
        self.assertEqual(x["decision"], "deny")
        self.assertEqual(field(x, "token_id", "jti"), jti_x)
        m = find("/one/missing")
        self.assertEqual((m["status"], m["reason"]), (403, "token_missing"))
        self.assertEqual(find("/nowhere")["status"], 404)


if __name__ == "__main__":
    it.main()
