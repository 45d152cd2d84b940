#!/usr/bin/env python3
"""test_fleet.py - fleet mode (issue 12, docs/fleet.md): three fngate nodes sharing one real
PostgreSQL (pg_util.py). A token created through node A is accepted by B and C; deleted through A,
it is refused by B and C, and the time from A's DELETE answer to the first refusal on each node is
measured over ROUNDS rounds (p50 / p99 printed; p99 <= 100 ms asserted). With the database
stopped, admin writes answer 503 store_unavailable and the data plane serves the last state; a
revocation made while node C alone was cut from the database (a TCP relay the test controls)
reaches C once it reconnects; a node killed with -9 and restarted while the database is down
starts from its local snapshot and still refuses what was revoked.

Tokens: every token is minted by the nodes themselves (POST /v1/tokens), signed with one
configured signing key shared by the three nodes (fleet.md: generated keys are not shared yet)."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import pg_util  # noqa: E402

# The pollers and the relay are Python threads: switch between them often, so that neither
# waits out the default 5 ms interval while the other runs (it would show in the figures).
sys.setswitchinterval(0.0002)

ROUNDS = int(os.environ.get("FNGATE_FLEET_ROUNDS", "50"))
P99_MAX_MS = 100.0
SCALE = int(os.environ.get("FNGATE_FLEET_SCALE", "100000"))


class Relay:
    """A TCP relay from a local port to PostgreSQL that the test can cut (every connection
    closed, new ones closed at once) and restore: one node's private link to the database."""

    def __init__(self, port):
        self.target = port
        self.cut = threading.Event()
        self.lock = threading.Lock()
        self.socks = []
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.srv.accept()
            if self.cut.is_set():
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            for s in (c, u):    # relay each write at once, as a direct link would
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def disconnect(self):
        self.cut.set()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.socks = []

    def reconnect(self):
        self.cut.clear()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class Poller:
    """Polls one node with one token on a kept-alive connection, as fast as it can, until the
    first answer that is not 200; records when that answer came (time.monotonic())."""

    def __init__(self, port, path, token):
        self.port, self.path, self.token = port, path, token
        self.refused_at = None
        self.refusal = None
        self.ok = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            c.request("GET", self.path, headers={"X-Auth-Token": self.token})
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                self.refused_at = time.monotonic()
                self.refusal = (r.status, json.loads(body).get("error"))
                break
            self.ok += 1
        c.close()
        self.done.set()


class Fleet(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg_util.Postgres()
        # C alone reaches the database through a relay the test can cut (test_3); A and B
        # directly, so that B's figures carry no relay delay
        cls.relays = {"c": Relay(cls.pg.port)}
        cls.start_fleet("fleet", lambda name: cls.pg.conninfo(
            port=cls.relays[name].port if name in cls.relays else cls.pg.port))

    # -- the tests, in order

    def test_1_create_and_delete_propagate(self):
        """Created on A: accepted by B and C within 1 s. Deleted on A: refused by B and C; the
        time from A's DELETE answer to the first refusal, over ROUNDS rounds."""
        lat = {"b": [], "c": []}
        accept = []
        for i in range(ROUNDS):
            tok = self.create(description="round %d" % i)
            t0 = time.monotonic()
            for node in ("b", "c"):
                self.wait_status(node, tok["token"], (200, None), timeout=1.0)
            accept.append((time.monotonic() - t0) * 1000)
            pollers = {n: Poller(self.nodes[n].port, "/resize/x", tok["token"])
                       for n in ("b", "c")}
            while not all(p.ok > 0 for p in pollers.values()):
                time.sleep(0.001)
            st, body = self.admin("a", "DELETE", "/v1/tokens/" + tok["id"])
            answered = time.monotonic()
            self.assertEqual(st, 200, body)
            self.assertEqual(body["status"], "revoked")
            for n, p in pollers.items():
                self.assertTrue(p.done.wait(10), "node %s never refused" % n)
                self.assertEqual(p.refusal, (403, "token_revoked"))
                lat[n].append(max(0.0, (p.refused_at - answered) * 1000))
        allv = lat["b"] + lat["c"]
        print("\nfleet: create on A -> accepted by B and C: p50 %.1f ms, max %.1f ms (%d rounds)"
              % (pct(accept, 50), max(accept), ROUNDS))
        print("fleet: delete on A -> refused: B p50 %.1f p99 %.1f ms; C p50 %.1f p99 %.1f ms; "
              "both p50 %.1f p99 %.1f max %.1f ms (%d rounds)" % (
                  pct(lat["b"], 50), pct(lat["b"], 99), pct(lat["c"], 50), pct(lat["c"], 99),
                  pct(allv, 50), pct(allv, 99), max(allv), ROUNDS))
        self.assertLessEqual(max(accept), 1000.0)
        self.assertLessEqual(pct(allv, 99), P99_MAX_MS)
        # every node lists the revoked records, and A's registry equals B's and C's
        lists = {}
        for n in ("a", "b", "c"):
            st, body = self.admin(n, "GET", "/v1/tokens?page_size=100")
            self.assertEqual(st, 200, body)
            lists[n] = sorted((t["id"], t["status"]) for t in body["tokens"])
        self.assertEqual(len(lists["a"]), ROUNDS)
        self.assertEqual(lists["a"], lists["b"])
        self.assertEqual(lists["a"], lists["c"])

    def test_2_store_down_and_back(self):
        """DB stopped: writes 503 store_unavailable with nothing applied, the data plane serves
        the last state. DB back: writes work again and the nodes follow."""
        keep = self.create(description="kept")
        gone = self.create(description="revoked before the outage")
        st, _ = self.admin("a", "DELETE", "/v1/tokens/" + gone["id"])
        self.assertEqual(st, 200)
        for n in ("b", "c"):
            self.wait_status(n, keep["token"], (200, None))
            self.wait_status(n, gone["token"], (403, "token_revoked"))
        self.pg.stop()
        try:
            st, body = self.admin("a", "POST", "/v1/tokens", {"function_id": "resize"})
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"], "store_unavailable")
            st, body = self.admin("b", "DELETE", "/v1/tokens/" + keep["id"])
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"], "store_unavailable")
            st, body = self.admin("b", "GET", "/v1/tokens/" + keep["id"])
            self.assertEqual((st, body["status"]), (200, "ready"))   # nothing applied on B
            for n in ("a", "b", "c"):
                self.assertEqual(self.status(n, keep["token"]), (200, None))
                self.assertEqual(self.status(n, gone["token"]), (403, "token_revoked"))
                self.assertForwarded(it.curl(self.nodes[n].url("/hello/x")))
        finally:
            self.pg.start()
        # the watch retries every half second at most: writes work at once, nodes follow
        st, body = self.admin("b", "DELETE", "/v1/tokens/" + keep["id"])
        self.assertEqual(st, 200, body)
        for n in ("a", "c"):
            self.wait_status(n, keep["token"], (403, "token_revoked"), timeout=3.0)

    def test_3_partitioned_node_catches_up(self):
        """A revocation made while C alone is cut from the database reaches C once it
        reconnects; meanwhile C serves its last state."""
        tok = self.create(description="partition")
        self.wait_status("c", tok["token"], (200, None))
        self.relays["c"].disconnect()
        try:
            time.sleep(0.3)
            st, body = self.admin("a", "DELETE", "/v1/tokens/" + tok["id"])
            self.assertEqual(st, 200, body)
            self.wait_status("b", tok["token"], (403, "token_revoked"))
            time.sleep(0.5)
            self.assertEqual(self.status("c", tok["token"]), (200, None))   # cut off: stale
            st, body = self.admin("c", "POST", "/v1/tokens", {"function_id": "resize"})
            self.assertEqual((st, body["error"]), (503, "store_unavailable"))
        finally:
            self.relays["c"].reconnect()
        t0 = time.monotonic()
        self.wait_status("c", tok["token"], (403, "token_revoked"), timeout=5.0)
        print("\nfleet: partitioned node caught up %.2f s after its link returned"
              % (time.monotonic() - t0))

    def test_4_kill9_restart_with_store_down(self):
        """kill -9 of C, the database down, C restarted: it starts from its local snapshot and
        refuses every revoked token (and accepts the valid ones)."""
        valid = self.create(description="valid across the restart")
        revoked = self.create(description="revoked before the crash")
        # at once: B reads the store's log before it would answer 404
        st, _ = self.admin("b", "DELETE", "/v1/tokens/" + revoked["id"])
        self.assertEqual(st, 200)
        self.wait_status("c", valid["token"], (200, None))
        self.wait_status("c", revoked["token"], (403, "token_revoked"))
        self.nodes["c"].proc.signal(signal.SIGKILL)
        self.nodes["c"].proc.wait(10)
        self.pg.stop()
        try:
            self.start_node("c")
            self.assertEqual(self.status("c", revoked["token"]), (403, "token_revoked"))
            self.assertEqual(self.status("c", valid["token"]), (200, None))
            st, body = self.admin("c", "GET", "/v1/tokens?page_size=100")
            self.assertEqual(st, 200, body)
            self.assertGreaterEqual(body["total_count"], ROUNDS + 2)
        finally:
            self.pg.start()
        # back in the fleet: a revocation through A reaches the restarted C
        st, _ = self.admin("a", "DELETE", "/v1/tokens/" + valid["id"])
        self.assertEqual(st, 200)
        self.wait_status("c", valid["token"], (403, "token_revoked"), timeout=3.0)


    def test_5_max_staleness(self):
        """max_staleness_s 1: once the store is unheard from for longer, B (refuse) answers
        private calls 503 revocation_state_stale and is not ready; C (serve) serves them and
        counts them; public functions and known refusals are unaffected; A (no cap) serves.
        The store back: fresh again, everywhere."""
        valid = self.create(description="staleness")
        revoked = self.create(description="staleness, revoked")
        st, _ = self.admin("a", "DELETE", "/v1/tokens/" + revoked["id"])
        self.assertEqual(st, 200)
        for n in ("b", "c"):
            self.wait_status(n, revoked["token"], (403, "token_revoked"))
            self.wait_status(n, valid["token"], (200, None))
        self.reload("b", max_staleness_s=1, stale_policy="refuse")
        self.reload("c", max_staleness_s=1, stale_policy="serve")
        for n in ("a", "b", "c"):
            self.assertEqual(self.get(n, "health", "/readyz")[0], 200)
            self.assertEqual(self.metric(n, "fngate_store_connected"), 1)
            self.assertEqual(self.metric(n, "fngate_store_stale"), 0)
        self.assertGreater(self.metric("b", "fngate_store_changes_applied_total"), 0)
        self.pg.stop()
        try:
            # within the cap: served as before
            self.assertEqual(self.status("b", valid["token"]), (200, None))
            self.wait_status("b", valid["token"], (503, "revocation_state_stale"), timeout=3.0)
            self.assertEqual(self.status("b", revoked["token"]), (403, "token_revoked"))
            self.assertForwarded(it.curl(self.nodes["b"].url("/hello/x")))
            st, text = self.get("b", "health", "/readyz")
            self.assertEqual(st, 503, text)
            self.assertIn("stale", text)
            self.assertEqual(self.metric("b", "fngate_store_stale"), 1)
            self.assertGreater(self.metric("b", "fngate_store_last_heard_seconds"), 1.0)
            # C serves from its last state, and counts it
            self.wait_metric("c", "fngate_store_stale", 1)
            self.assertEqual(self.status("c", valid["token"]), (200, None))
            self.assertEqual(self.status("c", revoked["token"]), (403, "token_revoked"))
            self.assertGreaterEqual(self.metric("c", "fngate_store_stale_served_total"), 1)
            self.assertEqual(self.get("c", "health", "/readyz")[0], 503)
            # A has no cap
            self.assertEqual(self.status("a", valid["token"]), (200, None))
            self.assertEqual(self.get("a", "health", "/readyz")[0], 200)
        finally:
            self.pg.start()
        self.wait_status("b", valid["token"], (200, None), timeout=3.0)
        self.assertEqual(self.get("b", "health", "/readyz")[0], 200)
        self.assertEqual(self.metric("b", "fngate_store_stale"), 0)
        self.assertIn("stale_policy refuse", self.nodes["b"].proc.output())
        self.assertIn("private calls served from a stale state",
                      self.nodes["c"].proc.output())


    def test_6_privacy(self):
        """A privacy set through A applies on B and C; reset through B while C is stopped, C
        restarted follows the store (not its own stale copy); with the database down, 503."""
        def call(node):
            return it.curl(self.nodes[node].url("/resize/x"))

        def wait_call(node, status, timeout=2.0):
            deadline = time.time() + timeout
            while call(node).status != status:
                if time.time() > deadline:
                    self.fail("node %s: /resize without a token is not %d" % (node, status))
                time.sleep(0.05)

        for n in ("a", "b", "c"):
            self.assertDenied(call(n), "token_missing")
        st, body = self.admin("a", "PATCH", "/v1/functions/resize", {"privacy": "public"})
        self.assertEqual((st, body["privacy"]), (200, "public"), body)
        for n in ("a", "b", "c"):
            wait_call(n, 200)
        self.nodes["c"].stop()
        st, body = self.admin("b", "DELETE", "/v1/functions/resize/privacy")
        self.assertEqual((st, body["privacy"]), (200, "private"), body)
        wait_call("a", 403)
        self.start_node("c")
        self.assertDenied(call("c"), "token_missing")
        self.pg.stop()
        try:
            st, body = self.admin("a", "PATCH", "/v1/functions/resize", {"privacy": "public"})
            self.assertEqual((st, body["error"]), (503, "store_unavailable"), body)
            self.assertDenied(call("a"), "token_missing")
        finally:
            self.pg.start()


    def test_7_last_used_shared(self):
        """A token used through B only: its last_used_at reaches A and C (B shares its last uses
        in one write per flush, every 2 s at most)."""
        tok = self.create(description="used on B")
        self.wait_status("b", tok["token"], (200, None))
        st, body = self.admin("a", "GET", "/v1/tokens/" + tok["id"])
        self.assertIsNone(body.get("last_used_at"))
        deadline = time.time() + 6
        while True:
            seen = [self.admin(n, "GET", "/v1/tokens/" + tok["id"])[1].get("last_used_at")
                    for n in ("a", "c")]
            if all(seen):
                break
            if time.time() > deadline:
                self.fail("last_used_at not shared: %s" % seen)
            time.sleep(0.2)


    def test_8_concurrent_writes(self):
        """Creations and deletions through the three nodes at once (each token deleted through
        another node than the one that created it): identical registries everywhere."""
        created, lock = [], threading.Lock()

        def creator(node):
            for i in range(12):
                st, body = self.admin(node, "POST", "/v1/tokens", {"function_id": "resize",
                                                                   "description": node})
                if st == 201:
                    with lock:
                        created.append((node, body))

        def deleter(node, items):
            for _, tok in items:
                # the node reads the log to its end before a 404: no retry needed
                st, body = self.admin(node, "DELETE", "/v1/tokens/" + tok["id"])
                self.assertIn(st, (200, 409), body)

        threads = [threading.Thread(target=creator, args=(n,)) for n in ("a", "b", "c") * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(created), 72)
        victims = created[::2]
        nxt = {"a": "b", "b": "c", "c": "a"}
        threads = [threading.Thread(target=deleter, args=(
            n, [v for v in victims if nxt[v[0]] == n])) for n in ("a", "b", "c")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pos = self.wait_same_position()
        regs = {n: self.all_tokens(n) for n in ("a", "b", "c")}
        self.assertEqual(regs["a"], regs["b"])
        self.assertEqual(regs["a"], regs["c"])
        for _, tok in victims:
            self.assertEqual(regs["a"][tok["id"]], "revoked")
        for _, tok in created[1::2]:
            self.assertEqual(regs["a"][tok["id"]], "ready")
        print("\nfleet: 72 concurrent creations and 36 deletions through 3 nodes: identical "
              "registries (%d records) at change %d" % (len(regs["a"]), pos))


    def rss_kib(self, proc):
        with open("/proc/%d/status" % proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def wait_count(self, node, want, timeout):
        deadline = time.time() + timeout
        while True:
            st, body = self.admin(node, "GET", "/v1/tokens?page_size=1")
            if st == 200 and body["total_count"] >= want:
                return
            if time.time() > deadline:
                self.fail("node %s: %s records, not %d" % (node, body, want))
            time.sleep(0.02)

    def test_85_cli_against_any_node(self):
        """The CLI works against any node: a token created with `fngate token create` through
        A is listed by B, deleted with `fngate token delete` through C, refused by all three,
        and `fngate token get` through A shows it revoked; privacy set through B with `fngate
        function set-privacy` applies on C."""
        def cli(node, *args):
            env = dict(os.environ, FNGATE_ADMIN_KEY=self.ops[0],
                       FNGATE_ADMIN_URL="http://" + self.confs[node]["admin"]["listen"])
            p = subprocess.run([it.FNGATE_BIN] + list(args), capture_output=True, text=True,
                               env=env, timeout=30)
            self.assertEqual(p.returncode, 0, (node, args, p.stderr))
            return p.stdout

        made = json.loads(cli("a", "token", "create", "--function", "resize", "--description",
                              "cli fleet", "--no-expiry", "--json"))
        for n in self.names:
            self.wait_status(n, made["token"], (200, None), timeout=2.0)
        listed = json.loads(cli("b", "token", "list", "--function", "resize", "--json",
                                "--page-size", "100", "--desc"))
        self.assertIn(made["id"], [t["id"] for t in listed["tokens"]])
        cli("c", "token", "delete", made["id"], "--yes")
        for n in self.names:
            self.wait_status(n, made["token"], (403, "token_revoked"), timeout=1.0)
        got = json.loads(cli("a", "token", "get", made["id"], "--json"))
        self.assertEqual(got["status"], "revoked")
        cli("b", "function", "set-privacy", "hello", "private")
        deadline = time.time() + 2
        while time.time() < deadline and it.curl(self.nodes["c"].url("/hello/x")).status == 200:
            time.sleep(0.05)
        self.assertDenied(it.curl(self.nodes["c"].url("/hello/x")), "token_missing")
        cli("a", "function", "reset-privacy", "hello")
        deadline = time.time() + 2
        while time.time() < deadline and it.curl(self.nodes["c"].url("/hello/x")).status != 200:
            time.sleep(0.05)
        self.assertEqual(it.curl(self.nodes["c"].url("/hello/x")).status, 200)

    def test_9_scale(self):
        """SCALE records written straight into the store (one transaction): the three nodes
        catch up; a fourth node starts from the store's snapshot, and again (kill -9, database
        down) from its local snapshot. Start times and memory per record printed."""
        n = SCALE
        before = {x: self.rss_kib(self.nodes[x].proc) for x in ("a", "b", "c")}
        had = len(self.all_tokens("a"))
        body = ("format('{\"id\":\"scale-%s\",\"ns\":\"ns-app\",\"fn\":\"resize\",'"
                " || '\"desc\":\"scale\",\"created\":%s,\"expires\":0,\"status\":\"ready\",'"
                " || '\"revoked\":0,\"used\":0,\"kid\":null,\"imported\":false}', g, "
                "1700000000 + g)")
        t0 = time.monotonic()
        self.pg.psql(
            "WITH base AS (SELECT coalesce(max(seq), 0) AS b FROM fngate_changes) "
            "INSERT INTO fngate_changes (seq, kind, namespace_id, key, body) "
            "SELECT b + g, 'token', '', 'scale-' || g, %s "
            "FROM base, generate_series(1, %d) g; "
            "INSERT INTO fngate_items (kind, namespace_id, key, body, seq) "
            "SELECT kind, namespace_id, key, body, seq FROM fngate_changes "
            "WHERE key LIKE 'scale-%%'; NOTIFY fngate_changes;" % (body, n))
        pos = self.wait_same_position(timeout=120)
        caught = time.monotonic() - t0
        after = {x: self.rss_kib(self.nodes[x].proc) for x in ("a", "b", "c")}
        per = [(after[x] - before[x]) * 1024.0 / n for x in after]
        for x in ("a", "b", "c"):
            self.wait_count(x, had + n, 5)
        st, _ = self.admin("a", "DELETE", "/v1/tokens/scale-7")
        self.assertEqual(st, 200)
        self.wait_same_position()
        # a fourth node, new: from the store's snapshot
        conf = json.loads(json.dumps(self.confs["a"]))
        fresh = it.config(self.env, [])
        for k in ("listen", "state_dir", "admin", "health"):
            conf[k] = fresh[k] if k != "health" else {"listen": "127.0.0.1:%d" % it.free_port()}
        conf["admin"]["keys"] = self.confs["a"]["admin"]["keys"]
        self.confs["d"] = conf
        t0 = time.monotonic()
        self.nodes["d"] = self.env.fngate(conf, name="d.json")
        self.wait_count("d", had + n, 30)
        start_store = time.monotonic() - t0
        st, body = self.admin("d", "GET", "/v1/tokens/scale-7")
        self.assertEqual(body["status"], "revoked")
        self.nodes["d"].proc.signal(signal.SIGKILL)
        self.nodes["d"].proc.wait(10)
        self.pg.stop()
        try:
            t0 = time.monotonic()
            self.nodes["d"] = self.env.fngate(conf, name="d.json")
            self.wait_count("d", had + n, 30)
            start_local = time.monotonic() - t0
            st, body = self.admin("d", "GET", "/v1/tokens/scale-7")
            self.assertEqual(body["status"], "revoked")
        finally:
            self.pg.start()
        self.nodes["d"].stop()
        print("\nfleet: %d records written into the store: 3 nodes caught up in %.2f s "
              "(change %d); memory per record %.0f-%.0f bytes; a new node started and loaded them "
              "from the store in %.2f s, from its local snapshot (store down) in %.2f s"
              % (n, caught, pos, min(per), max(per), start_store, start_local))
        # The issue's target is 2 s; on this shared 2-core machine, with three other nodes and
        # PostgreSQL on it, a start varies from about 1.5 to 3 s (docs/fleet.md): the assertion
        # is a bound on regressions, the printed figures are the measurement.
        # A time bound says something of the plain build only (the suite stage checks it): a
        # sanitizer build is a Debug build with every allocation instrumented (hostile_util's
        # memory_bound makes the same choice for memory).
        if not os.environ.get("FNGATE_SANITIZER"):
            self.assertLessEqual(start_store, 6.0)
            self.assertLessEqual(start_local, 6.0)
        for line in self.nodes["d"].proc.output().splitlines():
            self.assertTrue(line.startswith("{"), "not a JSON log line: %r" % line)



class FirstStartStoreDown(it.GatewayCase):
    """A node whose first start finds the database down, before any schema exists: it serves
    (nothing is registered yet), and once the database answers it creates the schema itself and
    follows the log: writes work, with no `fngate store migrate` run by anybody."""

    def test_first_start_with_store_down(self):
        env = it.Env("fleet-first")
        pg = pg_util.Postgres()
        try:
            ops = lu.new_admin_key()
            keyfile = os.path.join(env.dir, "fleet.key")
            with open(keyfile, "wb") as f:
                f.write(os.urandom(32))
            os.chmod(keyfile, 0o600)
            backend = env.backend("b")
            conf = it.config(env, [it.namespace(
                "ns-app", "app", [], [it.function("resize", "resize", backend.url,
                                                  prefix="/resize")],
                issue_tokens=True, signing_key=env.key("signer").priv)])
            conf["admin"]["keys"] = [dict(ops[1], name="ops", role="owner")]
            conf["store"] = {"type": "postgresql", "key_file": keyfile,
                             "conninfo": pg.conninfo()}
            pg.stop()
            g = env.fngate(conf)
            port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
            self.assertDenied(it.curl(g.url("/resize/x")), "token_missing")
            st, body = lu.admin_request(port, "POST", "/v1/tokens", ops[0],
                                        {"function_id": "resize"})
            self.assertEqual((st, body["error"]), (503, "store_unavailable"))
            pg.start()
            # no write through the node: its watch makes the schema once the server answers
            deadline = time.time() + 5
            while pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'fngate_changes'"
                          ).strip() != "1":
                self.assertLess(time.time(), deadline, "the node never created the schema")
                time.sleep(0.1)
            st, body = lu.admin_request(port, "POST", "/v1/tokens", ops[0],
                                        {"function_id": "resize"})
            self.assertEqual(st, 201, body)
            self.assertForwarded(it.curl(g.url("/resize/x"), token=body["token"]))
            self.assertEqual(pg.psql("SELECT version FROM fngate_schema").strip(), "2")
            self.assertIn("fleet: following the store", g.proc.output())
        finally:
            env.close()
            pg.close()


if __name__ == "__main__":
    it.unittest.main(verbosity=2)
