#!/usr/bin/env python3
"""test_ops.py - running fngate in production: GET /metrics (exact values after a known
sequence of requests, a reload, metrics_auth), the combined access-log format, access-log reopen
on SIGUSR1, no token or admin key in any log, the privilege drop to "user", and the layout of
`cmake --install`.

Every test starts its own daemon on fresh ports, so counters start at zero.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

NS = "ns-ops"


def admin_key():
    key = "fngk_" + secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest()


def http(method, url, key=None, body=None, headers=None):
    """(status, body bytes) of one plain HTTP call (the admin API)."""
    h = dict(headers or {})
    data = None
    if key is not None:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def samples(text):
    """{'name{labels}': value} of every sample line of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$', line)
        assert m, "not a sample line: %r" % line
        out[m.group(1)] = float(m.group(2))
    return out


def req_series(fn, decision, reason, cls, ns=NS):
    return ('fngate_requests_total{namespace="%s",function="%s",decision="%s",reason="%s",'
            'status_class="%s"}' % (ns, fn, decision, reason, cls))


class Ops(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("opsx")
        cls.backend = cls.env.backend("ops-b")
        cls.dead_port = it.free_port()     # nothing listens there: 502

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def conf(self, **top):
        up = self.backend.url
        c = it.config(self.env, [it.namespace(NS, "ops", [], [
            it.function("pub", "pub", up, privacy="public", prefix="/pub"),
            it.function("priv", "priv", up, privacy="private", prefix="/priv"),
            it.function("dead", "dead", "http://127.0.0.1:%d" % self.dead_port, privacy="public",
                        prefix="/dead"),
        ], issue_tokens=True)], **top)
        return c

    def start(self, conf, name):
        g = self.env.fngate(conf, name=name)
        self.admin = "http://127.0.0.1:%s" % conf["admin"]["listen"].rsplit(":", 1)[1]
        it.wait_port(int(conf["admin"]["listen"].rsplit(":", 1)[1]), g.proc)
        return g

    def scrape(self, key=None):
        st, body, hdrs = http("GET", self.admin + "/metrics", key=key)
        self.assertEqual(st, 200, body)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain; version=0.0.4"), hdrs)
        return samples(body.decode())

    def wait_metric(self, name, want, key=None, timeout=5.0):
        """Scrape until series `name` has value `want` (gauges that settle: connections)."""
        deadline = time.time() + timeout
        while True:
            got = self.scrape(key).get(name)
            if got == want or time.time() > deadline:
                self.assertEqual(got, want, name)
                return
            time.sleep(0.1)

    def mint(self, key):
        st, body, _ = http("POST", self.admin + "/v1/tokens", key=key,
                           body={"namespace_id": NS, "description": "ops", "expires_at": None})
        self.assertEqual(st, 201, body)
        return json.loads(body)

    # -- metrics

    def test_metrics_exact(self):
        key, digest = admin_key()
        conf = self.conf(workers=1)
        conf["admin"]["keys"] = [{"name": "ops", "role": "owner", "sha256": digest}]
        g = self.start(conf, "metrics.json")
        tok = self.mint(key)["token"]
        # The known sequence: 3 allowed (1 public, 2 with the same token: one verification,
        # one cache hit), 2 token_missing, 1 no route, 1 upstream failure.
        self.assertEqual(it.curl(g.url("/pub/a")).status, 200)
        self.assertEqual(it.curl(g.url("/priv/a"), token=tok).status, 200)
        self.assertEqual(it.curl(g.url("/priv/b"), token=tok).status, 200)
        self.assertDenied(it.curl(g.url("/priv/c")), "token_missing")
        self.assertDenied(it.curl(g.url("/priv/d")), "token_missing")
        self.assertDenied(it.curl(g.url("/nowhere")), "no_route", 404)
        self.assertDenied(it.curl(g.url("/dead/x")), "upstream_unavailable", 502)

        # No key needed by default (metrics_auth false).
        m = self.scrape()
        want = {
            req_series("pub", "allow", "public", "2xx"): 1,
            req_series("priv", "allow", "token", "2xx"): 2,
            req_series("priv", "deny", "token_missing", "4xx"): 2,
            req_series("", "error", "no_route", "4xx", ns=""): 1,
            req_series("dead", "error", "upstream_unavailable", "5xx"): 1,
        }
        got = {k: v for k, v in m.items() if k.startswith("fngate_requests_total")}
        self.assertEqual(got, want)
        self.assertEqual(m["fngate_token_cache_hits_total"], 1)
        self.assertEqual(m["fngate_token_cache_misses_total"], 1)
        self.assertEqual(m["fngate_upstream_latency_seconds_count"], 3)
        self.assertEqual(m['fngate_upstream_latency_seconds_bucket{le="+Inf"}'], 3)
        self.assertGreater(m["fngate_upstream_latency_seconds_sum"], 0)
        self.assertLess(m["fngate_upstream_latency_seconds_sum"], 3)
        self.assertEqual(m['fngate_upstream_idle_connections{upstream="127.0.0.1:%d"}'
                           % self.backend.port], 1)
        self.assertEqual(m['fngate_upstream_idle_connections{upstream="127.0.0.1:%d"}'
                           % self.dead_port], 0)
        self.assertEqual(m["fngate_registry_tokens"], 1)
        self.assertEqual(m["fngate_workers"], 1)
        self.assertEqual(m["fngate_functions"], 3)
        self.assertEqual(m['fngate_config_reloads_total{result="success"}'], 0)
        self.assertEqual(m['fngate_config_reloads_total{result="failure"}'], 0)
        self.assertEqual(m['fngate_tls_handshakes_total{result="success"}'], 0)
        self.assertEqual(m['fngate_build_info{version="0.1.0"}'], 1)
        self.assertAlmostEqual(m["fngate_start_time_seconds"], time.time(), delta=120)

        # Open connections: one idle client connection held open, then closed.
        self.wait_metric("fngate_open_connections", 0)
        import socket
        s = socket.create_connection(("127.0.0.1", g.port))
        try:
            self.wait_metric("fngate_open_connections", 1)
        finally:
            s.close()
        self.wait_metric("fngate_open_connections", 0)

        # A reload that turns metrics_auth on: counts survive the new snapshot.
        gen = m["fngate_config_generation"]
        conf["admin"]["metrics_auth"] = True
        self.env.write_config(conf, "metrics.json")
        before = time.time()
        g.reload()
        deadline = time.time() + 10
        while http("GET", self.admin + "/metrics")[0] != 401 and time.time() < deadline:
            time.sleep(0.1)
        st, body, _ = http("GET", self.admin + "/metrics")
        self.assertEqual(st, 401, body)
        self.assertEqual(http("GET", self.admin + "/metrics", key="fngk_wrong")[0], 401)
        self.assertEqual(it.curl(g.url("/pub/b")).status, 200)
        m = self.scrape(key)
        self.assertEqual(m['fngate_config_reloads_total{result="success"}'], 1)
        self.assertGreaterEqual(m["fngate_config_last_reload_success_timestamp_seconds"],
                                int(before))
        self.assertEqual(m["fngate_config_last_reload_failure_timestamp_seconds"], 0)
        self.assertEqual(m["fngate_config_generation"], gen + 1)
        self.assertEqual(m[req_series("pub", "allow", "public", "2xx")], 2)
        self.assertEqual(m[req_series("priv", "deny", "token_missing", "4xx")], 2)

        # A refused reload.
        self.env.write("metrics.json", "{ not json")
        g.reload()
        deadline = time.time() + 10
        while time.time() < deadline:
            m = self.scrape(key)
            if m['fngate_config_reloads_total{result="failure"}'] == 1:
                break
            time.sleep(0.1)
        self.assertEqual(m['fngate_config_reloads_total{result="failure"}'], 1)
        self.assertEqual(m['fngate_config_reloads_total{result="success"}'], 1)
        self.assertGreater(m["fngate_config_last_reload_failure_timestamp_seconds"], 0)
        self.assertEqual(m["fngate_config_generation"], gen + 1)
        g.stop()

    def test_metrics_method(self):
        g = self.start(self.conf(), "method.json")
        st, _, _ = http("POST", self.admin + "/metrics", body={})
        self.assertEqual(st, 405)
        st, _, _ = http("HEAD", self.admin + "/metrics")
        self.assertEqual(st, 200)
        g.stop()

    # -- access log

    def test_access_log_combined(self):
        key, digest = admin_key()
        log = os.path.join(self.env.dir, "combined.log")
        conf = self.conf(access_log=log, log_format="combined")
        conf["admin"]["keys"] = [{"name": "ops", "role": "owner", "sha256": digest}]
        g = self.start(conf, "combined.json")
        t = self.mint(key)
        r = it.curl(g.url("/priv/x?q=1"), token=t["token"],
                    headers=['User-Agent: ops-test/1.0 "quoted"', "Referer: http://ref.example/p"])
        self.assertEqual(r.status, 200)
        self.assertDenied(it.curl(g.url("/priv/y"), args=["-0"]), "token_missing")
        self.assertDenied(it.curl(g.url("/none")), "no_route", 404)
        deadline = time.time() + 5
        lines = []
        while len(lines) < 3 and time.time() < deadline:
            with open(log) as f:
                lines = f.read().splitlines()
            time.sleep(0.05)
        self.assertEqual(len(lines), 3, lines)
        clf = re.compile(r'^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] '
                         r'"([^"]*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\x[0-9A-F]{2})*)" '
                         r'"((?:[^"\\]|\\x[0-9A-F]{2})*)"$')
        parsed = []
        for line in lines:
            m = clf.match(line)
            self.assertIsNotNone(m, "not the combined format: %r" % line)
            parsed.append(m.groups())
        # in request order (a buffered log keeps each worker's order only)
        order = ["GET /priv/x?q=1 HTTP/1.1", "GET /priv/y HTTP/1.0", "GET /none HTTP/1.1"]
        parsed.sort(key=lambda g: order.index(g[3]) if g[3] in order else 99)
        self.assertEqual(parsed[0][0], "127.0.0.1")
        self.assertEqual(parsed[0][1], t["id"])                 # the token id as the user
        self.assertEqual(parsed[0][3], "GET /priv/x?q=1 HTTP/1.1")
        self.assertEqual(parsed[0][4], "200")
        self.assertEqual(parsed[0][6], "http://ref.example/p")
        self.assertEqual(parsed[0][7], "ops-test/1.0 \\x22quoted\\x22")
        self.assertEqual(parsed[1][1], "-")
        self.assertEqual(parsed[1][3], "GET /priv/y HTTP/1.0")
        self.assertEqual(parsed[1][4], "403")
        self.assertEqual(parsed[2][4], "404")
        self.assertNotIn(t["token"], open(log).read())
        g.stop()

    def test_access_log_reopen_on_sigusr1(self):
        log = os.path.join(self.env.dir, "rotate.log")
        g = self.start(self.conf(access_log=log), "rotate.json")
        self.assertEqual(it.curl(g.url("/pub/before")).status, 200)
        os.rename(log, log + ".1")
        # Still the old file until the signal: the rename alone changes nothing.
        self.assertEqual(it.curl(g.url("/pub/between")).status, 200)
        g.proc.signal(signal.SIGUSR1)
        deadline = time.time() + 5
        while "access log reopened" not in g.proc.output() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("access log reopened", g.proc.output())
        self.assertEqual(it.curl(g.url("/pub/after")).status, 200)
        deadline = time.time() + 5
        while time.time() < deadline and not (os.path.exists(log) and "/pub/after" in open(log).read()):
            time.sleep(0.05)
        old = [json.loads(x)["path"] for x in open(log + ".1").read().splitlines()]
        new = [json.loads(x)["path"] for x in open(log).read().splitlines()]
        # buffered per worker thread, as nginx's buffer= is per worker: the order across
        # workers is not kept (each line carries its time)
        self.assertEqual(sorted(old), ["/pub/before", "/pub/between"])
        self.assertEqual(new, ["/pub/after"])
        g.stop()

    def test_no_secret_in_any_log(self):
        key, digest = admin_key()
        wrong_key = "fngk_" + secrets.token_urlsafe(32)
        logs = {}
        for fmt in ("json", "combined"):
            log = os.path.join(self.env.dir, "secrets-%s.log" % fmt)
            conf = self.conf(access_log=log, log_format=fmt)
            conf["admin"]["keys"] = [{"name": "ops", "role": "owner", "sha256": digest}]
            g = self.start(conf, "secrets-%s.json" % fmt)
            t = self.mint(key)
            tok = t["token"]
            forged = tok[:-6] + ("AAAAAA" if not tok.endswith("AAAAAA") else "BBBBBB")
            self.assertEqual(it.curl(g.url("/priv/a"), token=tok).status, 200)
            self.assertEqual(it.curl(g.url("/pub/a"), token=tok).status, 200)
            self.assertDenied(it.curl(g.url("/priv/a"), token=forged), "token_signature")
            self.assertDenied(it.curl(g.url("/priv/a"), token="not-a-jwt." + tok[-20:]),
                              "token_malformed")
            self.assertEqual(http("GET", self.admin + "/v1/tokens", key=wrong_key)[0], 401)
            self.assertEqual(http("GET", self.admin + "/v1/tokens", key=key)[0], 200)
            self.assertEqual(http("DELETE", self.admin + "/v1/tokens/" + t["id"], key=key)[0], 200)
            self.assertDenied(it.curl(g.url("/priv/a"), token=tok), "token_revoked")
            self.assertEqual(http("GET", self.admin + "/metrics", key=key)[0], 200)
            g.proc.signal(signal.SIGUSR1)
            g.reload()
            time.sleep(0.5)
            g.stop()
            logs[fmt] = (open(log).read(), g.proc.output(), tok)
        for fmt, (access, daemon, tok) in logs.items():
            self.assertGreaterEqual(len(access.splitlines()), 5, fmt)
            sig = tok.rsplit(".", 1)[1]
            for secret, what in ((tok, "token"), (sig, "token signature"), (key, "admin key"),
                                 (wrong_key, "wrong admin key"), (digest, "admin key hash")):
                self.assertNotIn(secret, access, "%s in the %s access log" % (what, fmt))
                self.assertNotIn(secret, daemon, "%s in the daemon log (%s)" % (what, fmt))

    # -- privilege drop

    def test_check_refuses_unknown_user(self):
        text = json.dumps(self.conf(), indent=2)
        text = text.replace('"workers": 2,', '"workers": 2,\n  "user": "no-such-user-fngate",\n'
                            '  "group": "no-such-group-fngate",')
        path = self.env.write("baduser.json", text)
        lines = text.split("\n")
        uline = [n for n, l in enumerate(lines, 1) if "no-such-user" in l][0]
        gline = [n for n, l in enumerate(lines, 1) if "no-such-group" in l][0]
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        out = (p.stdout + p.stderr).decode()
        self.assertEqual(p.returncode, 1, out)
        self.assertRegex(out, r'(?m)^%s:%d:\d+: user: unknown user "no-such-user-fngate"$'
                         % (re.escape(path), uline))
        self.assertRegex(out, r'(?m)^%s:%d:\d+: group: unknown group "no-such-group-fngate"$'
                         % (re.escape(path), gline))
        conf = self.conf()
        conf["group"] = "nogroup"
        path = self.env.write_config(conf, "grouponly.json")
        p = it.run([it.FNGATE_BIN, "check", "-c", path], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('group: "group" needs "user"', (p.stdout + p.stderr).decode())

    def test_privilege_drop(self):
        nobody = subprocess.run(["id", "-u", "nobody"], stdout=subprocess.PIPE, check=True)
        uid = int(nobody.stdout)
        gid = int(subprocess.run(["id", "-g", "nobody"], stdout=subprocess.PIPE, check=True).stdout)
        # The daemon must reach its state directory as nobody.
        top = tempfile.mkdtemp(prefix="privdrop-", dir=self.env.dir)
        os.chmod(self.env.dir, 0o755)
        os.chmod(top, 0o755)
        state = os.path.join(top, "state")
        conf = self.conf(user="nobody", state_dir=state)
        path = self.env.write_config(conf, "privdrop.json")
        os.chmod(path, 0o644)
        g = self.start(conf, "privdrop.json")
        self.assertEqual(it.curl(g.url("/pub/x")).status, 200)
        tasks = os.listdir("/proc/%d/task" % g.proc.pid)
        self.assertGreaterEqual(len(tasks), 3)      # main thread + 2 workers
        if os.geteuid() != 0:
            # Not root: nothing can be dropped; the daemon says so and runs as it is.
            self.assertIn("not started as root", g.proc.output())
            g.stop()
            return
        for t in tasks:
            with open("/proc/%d/task/%s/status" % (g.proc.pid, t)) as f:
                st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            self.assertEqual(st["Uid"].split(), [str(uid)] * 4, "thread %s" % t)
            self.assertEqual(st["Gid"].split(), [str(gid)] * 4, "thread %s" % t)
            self.assertEqual(st["Groups"].split(), [str(gid)], "thread %s" % t)
            self.assertEqual(int(st["CapEff"], 16), 0, "thread %s keeps capabilities" % t)
        self.assertEqual(os.stat(state).st_uid, uid)
        self.assertEqual(os.stat(os.path.join(state, "tokens.journal")).st_uid, uid)
        self.assertIn("running as nobody", g.proc.output())
        # Still serving, and a reload still works after the drop.
        g.reload()
        deadline = time.time() + 5
        while "reloaded" not in g.proc.output() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("reloaded", g.proc.output())
        self.assertEqual(it.curl(g.url("/pub/y")).status, 200)
        self.assertEqual(g.stop(), 0)

    # -- install

    def test_cmake_install_layout(self):
        build = os.path.dirname(os.path.abspath(it.FNGATE_BIN))
        self.assertTrue(os.path.exists(os.path.join(build, "CMakeCache.txt")), build)
        prefix = tempfile.mkdtemp(prefix="install-", dir=self.env.dir)
        p = it.run(["cmake", "--install", build, "--prefix", prefix], check=False)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())
        for rel in ("bin/fngate", "etc/fngate/fngate.json", "share/fngate/web/index.html",
                    "share/man/man8/fngate.8", "share/man/man5/fngate.json.5",
                    "lib/systemd/system/fngate.service"):
            self.assertTrue(os.path.isfile(os.path.join(prefix, rel)), rel)
        self.assertTrue(os.access(os.path.join(prefix, "bin/fngate"), os.X_OK))
        # The installed configuration is valid as shipped.
        p = it.run([os.path.join(prefix, "bin/fngate"), "check", "-c",
                    os.path.join(prefix, "etc/fngate/fngate.json")], check=False)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())
        # The man pages format without warnings.
        for page in ("share/man/man8/fngate.8", "share/man/man5/fngate.json.5"):
            p = it.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(prefix, page)],
                       check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(p.stderr.decode().strip(), "", page)
        unit = open(os.path.join(prefix, "lib/systemd/system/fngate.service")).read()
        for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                          "ProtectHome=yes", "ReadWritePaths=/var/lib/fngate",
                          "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                          "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                          "SystemCallFilter=@system-service", "RestrictAddressFamilies=",
                          "ExecReload=/bin/kill -HUP $MAINPID"):
            self.assertIn(directive, unit)
        self.assertRegex(unit, r"(?m)^ExecStart=\S*/fngate serve -c \S*/fngate/fngate\.json$")


if __name__ == "__main__":
    it.main()
