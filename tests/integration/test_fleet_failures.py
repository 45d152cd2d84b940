#!/usr/bin/env python3
"""test_fleet_failures.py - fleet mode (issue 12, docs/fleet.md) when PostgreSQL fails under the
three nodes (fleet_util.py):

- Kill9InBurst: `kill -9` of PostgreSQL (the postmaster and its backends) in the middle of a burst
  of creations and deletions through the three nodes. While it is down the nodes serve their last
  known state (valid tokens pass, revoked ones are refused), writes answer 503 store_unavailable,
  and a node killed and restarted meanwhile serves exactly what it served before, from its local
  snapshot. Once PostgreSQL is started again, every write that was acknowledged (201 / 200) is in
  the store and on every node, the nodes' registries are the store's, and the nodes have caught
  up within 1 s of the server accepting connections (printed).
- Failover: a streaming standby (`pg_basebackup -R`) with synchronous replication, the nodes on a
  multi-host conninfo with target_session_attrs=read-write. The primary is killed with -9 in the
  middle of a burst of revocations through the three nodes and the standby promoted: the nodes
  reconnect to it by themselves (writes and propagation work again; times printed), and no
  acknowledged revocation is lost.

Tokens: every token is minted by the nodes themselves (POST /v1/tokens), signed with one
configured signing key shared by the three nodes (fleet_util.py)."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402
import pg_util  # noqa: E402

# the target, checked by the plain build's run; a sanitizer build (Debug, instrumented) gets slack
CATCH_UP_MAX_S = 3.0 if os.environ.get("FNGATE_SANITIZER") else 1.0
NEXT = {"a": "b", "b": "c", "c": "a"}


def store_tokens(pg):
    """{id: status} of every token record in the store."""
    out = {}
    for line in pg.psql("SELECT key, body::json->>'status' FROM fngate_items "
                        "WHERE kind = 'token'").splitlines():
        key, status = line.split("|")
        out[key] = status
    return out


class Burst:
    """Creations through every node in a loop, each second token of a node deleted through the
    next node, until stop(); every answer is recorded (self.log: (op, node, token, status,
    error), token None for a creation that was not acknowledged)."""

    def __init__(self, case):
        self.case = case
        self.log = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                        for n in case.names]
        for t in self.threads:
            t.start()

    def _record(self, *entry):
        with self.lock:
            self.log.append(entry)

    def _run(self, node):
        mine = []
        while not self.done.is_set():
            st, body = self.case.admin(node, "POST", "/v1/tokens", {
                "function_id": "resize", "description": "burst " + node, "expires_at": None})
            self._record("create", node, body if st == 201 else None, st,
                         (body or {}).get("error"))
            if st != 201:
                time.sleep(0.01)    # the store is down: no need to spin
                continue
            mine.append(body)
            if len(mine) % 2 == 0:
                victim = mine[-2]
                st, body = self.case.admin(NEXT[node], "DELETE", "/v1/tokens/" + victim["id"])
                self._record("delete", NEXT[node], victim, st, (body or {}).get("error"))

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(30)

    def acknowledged(self):
        """(created {id: (node, token)}, deleted {id: node}, doubtful ids): acknowledged
        creations and deletions, and the tokens whose deletion was not acknowledged (it may
        have committed all the same: the COMMIT's outcome unknown)."""
        created, deleted, doubtful = {}, {}, set()
        for op, node, tok, st, _ in self.log:
            if op == "create" and st == 201:
                created[tok["id"]] = (node, tok)
            elif op == "delete" and st == 200:
                deleted[tok["id"]] = node
            elif op == "delete":
                doubtful.add(tok["id"])
        return created, deleted, doubtful


class Kill9InBurst(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.start_on_postgres("fleet-kill9")

    def test_kill9_in_burst(self):
        valid = [self.create(n, "before") for n in self.names]
        revoked = [self.create(n, "before, revoked") for n in self.names]
        for i, tok in enumerate(revoked):
            st, body = self.admin(self.names[(i + 1) % 3], "DELETE", "/v1/tokens/" + tok["id"])
            self.assertEqual(st, 200, body)
        self.wait_same_position()
        before = {t["id"]: t["token"] for t in valid + revoked}

        burst = Burst(self)
        time.sleep(1.0)
        self.pg.kill9()
        killed = time.monotonic()
        time.sleep(0.5)
        burst.stop()
        created, deleted, doubtful = burst.acknowledged()
        late = [e for e in burst.log if e[3] not in (200, 201)]
        self.assertGreater(len(created), 10, "the burst acknowledged too few writes")
        self.assertGreater(len(late), 0, "no write was refused after the kill")
        for op, node, _, st, err in late:
            # a deletion through a node that had not seen the token yet, which can no longer
            # read the store's log: 404; every other refusal is the store's
            self.assertIn((st, err), [(503, "store_unavailable")] +
                          ([(404, "not_found")] if op == "delete" else []))

        try:
            # writes: 503 store_unavailable on every node
            for n in self.names:
                st, body = self.admin(n, "POST", "/v1/tokens", {"function_id": "resize"})
                self.assertEqual((st, body["error"]), (503, "store_unavailable"), body)
                st, body = self.admin(n, "DELETE", "/v1/tokens/" + valid[0]["id"])
                self.assertEqual((st, body["error"]), (503, "store_unavailable"), body)
            # the data plane: the last known state. Tokens known before the burst, everywhere;
            # the burst's, on the node that acknowledged the write (the others may not have
            # heard of it before the kill)
            for n in self.names:
                got = self.statuses(n, before)
                for tok in valid:
                    self.assertEqual(got[tok["id"]], (200, None), n)
                for tok in revoked:
                    self.assertEqual(got[tok["id"]], (403, "token_revoked"), n)
                mine = {i: c[1]["token"] for i, c in created.items()
                        if deleted.get(i) == n or (c[0] == n and i not in deleted and
                                                   i not in doubtful)}
                got = self.statuses(n, mine)
                for i in mine:
                    self.assertEqual(got[i], (403, "token_revoked") if i in deleted
                                     else (200, None), (n, i))
            # C killed and restarted while the store is down: from its local snapshot, it
            # serves exactly what it served (every token of the test) and lists what it listed
            every = dict(before, **{i: c[1]["token"] for i, c in created.items()})
            seen = self.statuses("c", every)
            listed = self.all_tokens("c")
            self.nodes["c"].proc.signal(signal.SIGKILL)
            self.nodes["c"].proc.wait(10)
            t0 = time.monotonic()
            self.start_node("c")
            restarted = time.monotonic() - t0
            self.assertEqual(self.statuses("c", every), seen)
            self.assertEqual(self.all_tokens("c"), listed)
            self.assertIn("serving the local snapshot", self.nodes["c"].proc.output())
            # long enough for the nodes' retries to reach their longest interval
            time.sleep(max(0.0, 3.0 - (time.monotonic() - killed)))
            down = time.monotonic() - killed
        finally:
            self.pg.start()
        accepting = time.monotonic()
        pos = self.wait_same_position(timeout=10, poll=0.01)
        caught = time.monotonic() - accepting

        # every acknowledged write is in the store, and every node has the store's registry
        store = store_tokens(self.pg)
        for i in created:
            self.assertIn(i, store)
            if i in deleted:
                self.assertEqual(store[i], "revoked", i)
        for tok in revoked:
            self.assertEqual(store[tok["id"]], "revoked")
        for n in self.names:
            self.assertEqual(self.all_tokens(n), store, n)
            got = self.statuses(n, {i: c[1]["token"] for i, c in created.items()})
            for i in created:
                want = (403, "token_revoked") if store[i] == "revoked" else (200, None)
                self.assertEqual(got[i], want, (n, i))
        # and writes work again
        tok = self.create("b", "after")
        for n in ("a", "c"):
            self.wait_status(n, tok["token"], (200, None), timeout=1.0)
        print("\nfleet: kill -9 of PostgreSQL during a burst through 3 nodes: %d creations and "
              "%d deletions acknowledged, %d writes refused (503) after the kill; node C "
              "restarted from its snapshot in %.2f s (store down %.1f s); after the restart "
              "every acknowledged write was in the store and on every node, all 3 nodes at "
              "change %d %.2f s after PostgreSQL accepted connections again"
              % (len(created), len(deleted), len(late), restarted, down, pos, caught))
        self.assertLessEqual(caught, CATCH_UP_MAX_S)


class Failover(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        cls.primary = pg_util.Postgres()
        cls.standby = pg_util.Postgres(primary=cls.primary)
        # synchronous replication: a COMMIT returns once the standby has flushed it
        cls.primary.reload_conf("synchronous_standby_names = '*'")
        deadline = time.time() + 10
        while cls.primary.psql("SELECT sync_state FROM pg_stat_replication").strip() != "sync":
            if time.time() > deadline:
                raise RuntimeError("the standby never became synchronous")
            time.sleep(0.1)
        cls.pg = cls.primary
        conninfo = pg_util.conninfo_multi([cls.primary, cls.standby])
        cls.start_fleet("fleet-failover", lambda name: conninfo)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.primary.close()
        cls.standby.close()

    def test_failover(self):
        # tokens to revoke, known everywhere
        tokens = [self.create(self.names[i % 3], "to revoke %d" % i) for i in range(150)]
        self.wait_same_position()
        self.assertEqual(self.standby.psql("SELECT pg_is_in_recovery()").strip(), "t")

        acked, lock = {}, threading.Lock()
        answers = []

        def revoker(node, share):
            for tok in share:
                st, body = self.admin(node, "DELETE", "/v1/tokens/" + tok["id"])
                with lock:
                    answers.append((st, (body or {}).get("error")))
                    if st == 200:
                        acked[tok["id"]] = tok["token"]

        threads = [threading.Thread(target=revoker, args=(n, tokens[i::3]), daemon=True)
                   for i, n in enumerate(self.names)]
        for t in threads:
            t.start()
        while len(acked) < 30:
            time.sleep(0.005)
        self.primary.kill9()
        killed = time.monotonic()
        time.sleep(0.3)
        self.standby.promote()
        promoted = time.monotonic()
        self.pg = self.standby

        # writes through every node work again, without a restart or a reload
        first_write = {}
        for n in self.names:
            deadline = time.time() + 10
            while True:
                st, body = self.admin(n, "POST", "/v1/tokens", {"function_id": "resize"})
                if st == 201:
                    first_write[n] = time.monotonic() - promoted
                    break
                self.assertEqual((st, body["error"]), (503, "store_unavailable"))
                self.assertLess(time.time(), deadline, "node %s never wrote again" % n)
                time.sleep(0.02)
        for t in threads:
            t.join(60)
        for st, err in answers:
            self.assertIn(st, (200, 503), err)
        refused = sum(1 for st, _ in answers if st == 503)
        self.wait_same_position(timeout=10, poll=0.01)
        following = time.monotonic() - promoted
        # propagation through the new primary: a creation and a deletion
        tok = self.create("a", "after the failover")
        for n in ("b", "c"):
            self.wait_status(n, tok["token"], (200, None), timeout=1.0)
        st, _ = self.admin("b", "DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 200)
        t0 = time.monotonic()
        for n in ("a", "c"):
            self.wait_status(n, tok["token"], (403, "token_revoked"), timeout=1.0)
        refused_after = time.monotonic() - t0

        # no acknowledged revocation is lost: in the new primary's store, refused everywhere
        store = store_tokens(self.standby)
        lost = [i for i in acked if store.get(i) != "revoked"]
        self.assertEqual(lost, [])
        for n in self.names:
            got = self.statuses(n, acked)
            for i in acked:
                self.assertEqual(got[i], (403, "token_revoked"), (n, i))
            self.assertEqual(self.all_tokens(n), store, n)
        for n in self.names:
            self.assertIn("fleet: lost the store", self.nodes[n].proc.output())
        print("\nfleet: failover (kill -9 of the primary, standby promoted %.2f s later, "
              "synchronous replication): %d revocations acknowledged around the kill, 0 lost; "
              "%d answered 503; first write through each node after the promotion: %s; all "
              "nodes following the new primary %.2f s after it; a deletion then refused on the "
              "other nodes within %.0f ms" % (
                  promoted - killed, len(acked), refused,
                  ", ".join("%s %.2f s" % (n, first_write[n]) for n in self.names),
                  following, refused_after * 1000))


if __name__ == "__main__":
    it.unittest.main(verbosity=2)
