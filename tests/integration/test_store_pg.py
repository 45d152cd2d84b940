"""test_store_pg.py - the fleet store (store_pg.c) against a real PostgreSQL (pg_util.py):
schema migration run twice and by 3 processes at once; the change feed seen by another client in
order; concurrent writers giving a gapless, commit-ordered log; a namespace's quota counted by
the store under concurrent writers (and migrated onto rows of schema 1); kill -9 of PostgreSQL, restart,
and the watch reconnecting by itself and catching up. Prints the commit-to-callback latency."""

import os
import subprocess
import threading
import time

import fngate_it as it
import pg_util

DRIVER = os.environ.get("FNGATE_STORE_DRIVER") or os.path.join(
    os.path.dirname(it.FNGATE_BIN), "tests", "store_driver")


def driver(*args, check=True):
    r = subprocess.run([DRIVER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("store_driver %s failed: %s" % (args[0], r.stderr))
    return r


class Watcher:
    """A `store_driver watch` process; its output lines collected by a thread."""

    def __init__(self, conninfo, position=0):
        self.proc = subprocess.Popen([DRIVER, "watch", conninfo, str(position)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.split())
                self.cond.notify_all()

    def wait_for(self, pred, timeout, what):
        deadline = time.time() + timeout
        with self.cond:
            while not pred(self.lines):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("timeout waiting for %s; got %s" % (what, self.lines[-5:]))
                self.cond.wait(left)

    def changes(self):
        with self.cond:
            return [(int(l[1]), l[2], int(l[3])) for l in self.lines if l[0] == "change"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def caught_up_to(n):
    return lambda lines: any(l[0] == "caughtup" and int(l[1]) >= n for l in lines)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class StoreCase(it.unittest.TestCase):
    def setUp(self):
        self.pg = pg_util.Postgres()
        self.ci = self.pg.conninfo()

    def tearDown(self):
        self.pg.close()

    def migrate(self):
        driver("migrate", self.ci)

    def write_conf(self, store):
        """A configuration with the given "store" block; returns its path."""
        d = self.pg.dir
        key = os.path.join(d, "fleet.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o600)
        path = os.path.join(d, "fngate-%d.json" % len(os.listdir(d)))
        conf = {"listen": ["127.0.0.1:%d" % it.free_port()], "namespaces": [],
                "state_dir": os.path.join(d, "state")}
        if store is not None:
            conf["store"] = dict(store, key_file=key) if store.get("type") == "postgresql" \
                else store
        with open(path, "w") as f:
            it.json.dump(conf, f)
        return path

    def fngate_migrate(self, conf):
        return subprocess.Popen([it.FNGATE_BIN, "store", "migrate", "-c", conf],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_migrate_twice_and_concurrently(self):
        conf = self.write_conf({"type": "postgresql", "conninfo": self.ci})
        procs = [self.fngate_migrate(conf) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0, 0], outs)
        # Exactly one of them migrated; the others found the schema current.
        self.assertEqual(sum("migrated to version 2" in o[1] for o in outs), 1, outs)
        self.assertTrue(all("store schema at version 2" in o[0] for o in outs), outs)
        p = self.fngate_migrate(conf)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("migrated", err)
        self.assertEqual(self.pg.psql("SELECT version FROM fngate_schema").split(), ["2"])
        # A schema newer than this fngate is refused, not downgraded.
        self.pg.psql("UPDATE fngate_schema SET version = 99")
        p = self.fngate_migrate(conf)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("newer than this fngate", err)

    def test_migrate_refusals(self):
        # No postgresql store configured; the store unreachable (a port nothing listens on).
        for store, want in ((None, 'has no "store" of type "postgresql"'),
                            ({"type": "postgresql",
                              "conninfo": "host=127.0.0.1 port=%d dbname=x" % it.free_port()},
                             "store unavailable")):
            p = self.fngate_migrate(self.write_conf(store))
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 1, err)
            self.assertIn(want, err)
        # A usage error.
        r = subprocess.run([it.FNGATE_BIN, "store", "migrate"], stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 2)

    def test_feed_in_order_with_latency(self):
        self.migrate()
        w = Watcher(self.ci)
        try:
            w.wait_for(caught_up_to(0), 10, "first catch-up")
            n = 200
            driver("write", self.ci, str(n), "t")
            w.wait_for(caught_up_to(n), 20, "%d changes" % n)
            ch = w.changes()
            self.assertEqual([c[0] for c in ch], list(range(1, n + 1)))
            self.assertEqual([c[1] for c in ch], ["t-%d" % i for i in range(n)])
            lat = [c[2] / 1000.0 for c in ch]
            print("commit-to-callback latency over %d sequential writes: p50 %.2f ms, "
                  "p99 %.2f ms, max %.2f ms" % (n, pct(lat, 50), pct(lat, 99), max(lat)))
            # Position: a new watcher from the middle gets only the rest.
            w2 = Watcher(self.ci, position=150)
            try:
                w2.wait_for(caught_up_to(n), 10, "catch-up from 150")
                self.assertEqual([c[0] for c in w2.changes()], list(range(151, n + 1)))
            finally:
                w2.close()
            # The snapshot holds every item, at the log's position.
            out = driver("snapshot", self.ci).stdout.splitlines()
            self.assertEqual(out[-1], "position %d" % n)
            self.assertEqual(len([l for l in out if l.startswith("item ")]), n)
        finally:
            w.close()

    def test_concurrent_writers_gapless_commit_order(self):
        self.migrate()
        w = Watcher(self.ci)
        try:
            w.wait_for(caught_up_to(0), 10, "first catch-up")
            writers, each = 4, 60
            procs = [subprocess.Popen([DRIVER, "write", self.ci, str(each), "w%d" % i],
                                      stderr=subprocess.PIPE, text=True) for i in range(writers)]
            for p in procs:
                self.assertEqual(p.wait(timeout=120), 0, p.stderr.read())
            total = writers * each
            w.wait_for(caught_up_to(total), 20, "%d changes" % total)
            ch = w.changes()
            # Gapless, each seen once, in order; each writer's own writes in its order.
            self.assertEqual([c[0] for c in ch], list(range(1, total + 1)))
            for i in range(writers):
                mine = [c[1] for c in ch if c[1].startswith("w%d-" % i)]
                self.assertEqual(mine, ["w%d-%d" % (i, k) for k in range(each)])
            # Commit order: a change's commit time never precedes the previous one's.
            times = self.pg.psql("SELECT committed_at FROM fngate_changes ORDER BY seq").split("\n")
            times = [t for t in times if t]
            self.assertEqual(times, sorted(times))
        finally:
            w.close()

    def quota_writers(self, ns, quota, writers, each, tag):
        """`writers` store_driver processes at once, each making `each` writes of a record of
        namespace ns under its quota; returns (written, full) summed."""
        procs = [subprocess.Popen([DRIVER, "quota", self.ci, ns, str(quota), str(each),
                                   "%s%d" % (tag, i)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(writers)]
        written = full = 0
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            w, f = out.split()[1::2]
            written += int(w)
            full += int(f)
        return written, full

    def test_quota_counted_in_the_store(self):
        """A namespace's quota counted by the store under its write lock: writers racing in
        four processes never pass it, other namespaces do not count, an expired record frees
        its place, and rows written before the schema had the count are counted once
        migrated."""
        # a store at schema 1 (as an earlier fngate left it) holding 3 records of ns-q
        self.pg.psql("SET ROLE %s;" % self.pg.user +
                     "CREATE TABLE fngate_schema (version integer NOT NULL);"
                     "INSERT INTO fngate_schema VALUES (1);"
                     "CREATE TABLE fngate_items (kind text NOT NULL, namespace_id text NOT NULL,"
                     " key text NOT NULL, body text NOT NULL, seq bigint NOT NULL,"
                     " PRIMARY KEY (kind, namespace_id, key));"
                     "CREATE TABLE fngate_changes (seq bigint PRIMARY KEY, kind text NOT NULL,"
                     " namespace_id text NOT NULL, key text NOT NULL, body text,"
                     " committed_at timestamptz NOT NULL DEFAULT clock_timestamp());" +
                     "".join("INSERT INTO fngate_items VALUES ('token', '', 'old%d',"
                             " '{\"id\":\"old%d\",\"ns\":\"ns-q\",\"expires\":0}', %d);"
                             % (i, i, i + 1) for i in range(3)) +
                     "INSERT INTO fngate_items VALUES ('signing_key', 'ns-q', 'k1', 'sealed', 4);")
        self.migrate()
        self.assertEqual(self.pg.psql("SELECT version FROM fngate_schema").split(), ["2"])
        self.assertEqual(self.quota_writers("ns-q", 25, 4, 10, "q"), (22, 18))
        self.assertEqual(self.pg.psql("SELECT count(*) FROM fngate_items WHERE "
                                      "body LIKE '%\"ns\":\"ns-q\"%'").split(), ["25"])
        self.assertEqual(self.quota_writers("ns-other", 1, 1, 2, "o"), (1, 1))
        # an expiry in the past frees the place; a later one does not
        self.pg.psql("UPDATE fngate_items SET body = replace(body, '\"expires\":0',"
                     " '\"expires\":1') WHERE key IN ('q0-0', 'q0-1');"
                     "UPDATE fngate_items SET body = replace(body, '\"expires\":0',"
                     " '\"expires\":99999999999') WHERE key = 'q1-0'")
        self.assertEqual(self.quota_writers("ns-q", 25, 2, 3, "r"), (2, 4))

    def test_kill9_reconnect_and_catch_up(self):
        self.migrate()
        w = Watcher(self.ci)
        try:
            w.wait_for(caught_up_to(0), 10, "first catch-up")
            driver("write", self.ci, "10", "before")
            w.wait_for(caught_up_to(10), 10, "10 changes")
            self.pg.kill9()
            w.wait_for(lambda ls: any(l[0] == "lost" for l in ls), 10, "lost")
            r = driver("write", self.ci, "1", "down", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("store unavailable", r.stderr)
            self.pg.start()
            back = time.time()
            driver("write", self.ci, "10", "after")
            w.wait_for(caught_up_to(20), 10, "catch-up after restart")
            print("caught up %.2f s after PostgreSQL accepted connections again"
                  % (time.time() - back))
            ch = w.changes()
            self.assertEqual([c[0] for c in ch], list(range(1, 21)))
            self.assertEqual([c[1] for c in ch[10:]], ["after-%d" % i for i in range(10)])
            self.assertEqual(sum(1 for l in w.lines if l[0] == "connected"), 2)
        finally:
            w.close()


if __name__ == "__main__":
    it.main()
