#!/usr/bin/env python3
"""test_audit.py - the audit trail (issue 13) through the real daemon, its admin API and CLI.

- Each change makes exactly one event with its fields (actor, action, target, namespace,
  function, source, the answer's X-Request-Id, outcome): token create / delete (and the 409 of a
  second delete), revocation by jti, privacy set and reset, the signing keys the daemon
  generates at its first start, a key rotated with `fngate keygen --rotate` and taken by a
  reload, reloads accepted and refused (with the error). No token and no admin key appears in
  the journal, the daemon log or the API; each event is one "type":"audit" line of the daemon
  log.
- GET /v1/audit: filters, paging, newest first, precise 400s; a key restricted to a namespace
  sees that namespace's events only; a key without tokens:read gets 403.
- A flood of 5000 wrong admin keys, then one each from 300 source addresses: a bounded number
  of events whose counts add up to every refusal (the last ones written at the graceful stop).
- kill -9 and a restart keep every event.
- Retention: events older than audit.retention_days (lines written into audit.journal with
  old times, in its documented format) are compacted away at start, and by a reload that
  shortens the retention.
- `fngate audit`: the table, --json, filters, a bad --since (exit 5).
"""

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402


def journal_line(event):
    body = json.dumps(event, separators=(",", ":"))
    return "%08x %s\n" % (zlib.crc32(body.encode()), body)


class Audit(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("audit")
        cls.backend = cls.env.backend("b")
        cls.owner = lu.new_admin_key()
        cls.ci = lu.new_admin_key()
        cls.fw = lu.new_admin_key()
        up = cls.backend.url
        cls.conf = it.config(cls.env, [
            it.namespace("ns-a", "a", [], [it.function("fa", "fa", up, prefix="/a")],
                         issue_tokens=True),
            it.namespace("ns-b", "b", [], [it.function("fb", "fb", up, prefix="/b")],
                         issue_tokens=True),
        ])
        cls.conf["admin"]["keys"] = [
            dict(cls.owner[1], name="ops", role="owner"),
            dict(cls.ci[1], name="ci", permissions=["tokens:read", "tokens:write",
                                                    "functions:write"], namespaces=["ns-a"]),
            dict(cls.fw[1], name="fw", permissions=["functions:write"]),
        ]
        cls.admin_port = int(cls.conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.secrets = [cls.owner[0], cls.ci[0], cls.fw[0]]
        cls.logs = []
        cls.start()

    @classmethod
    def start(cls):
        cls.gw = cls.env.fngate(cls.conf)
        it.wait_port(cls.admin_port, cls.gw.proc)
        cls.logs.append(cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def restart(self, kill=False):
        if kill:
            os.killpg(self.gw.proc.pid, signal.SIGKILL)
            self.gw.proc.wait(10)
        self.gw.stop()
        type(self).start()

    def api(self, method, path, body=None, key=None, source="127.0.0.1"):
        """(status, JSON body, X-Request-Id)."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10,
                                       source_address=(source, 0))
        headers = {"Authorization": "Bearer " + (key or self.owner[0])}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        rid = r.getheader("X-Request-Id")
        c.close()
        return r.status, (json.loads(raw) if raw else None), rid

    def events(self, query="", key=None):
        st, body, _ = self.api("GET", "/v1/audit?page_size=100" + query, key=key)
        self.assertEqual(st, 200, body)
        return body

    def one(self, action, rid):
        """The only event of this action with this request id."""
        evs = [e for e in self.events("&action=" + action)["events"] if e["request_id"] == rid]
        self.assertEqual(len(evs), 1, "events of %s %s: %r" % (action, rid, evs))
        return evs[0]

    def assertEvent(self, ev, **want):
        want.setdefault("source", "127.0.0.1")
        for k, v in want.items():
            self.assertEqual(ev[k], v, "%s of %r" % (k, ev))

    def journal(self):
        with open(os.path.join(self.conf["state_dir"], "audit.journal")) as f:
            return f.read()

    def test_01_actions(self):
        # The first start generated one signing key per namespace.
        for ns in ("ns-a", "ns-b"):
            evs = self.events("&action=signing_key.generate&namespace_id=" + ns)["events"]
            self.assertEqual(len(evs), 1, evs)
            self.assertEqual(evs[0]["actor"], "fngate")
            self.assertTrue(evs[0]["target_id"].startswith("k"), evs)
            self.assertIsNone(evs[0]["source"])
        tokens = []
        st, tok, rid = self.api("POST", "/v1/tokens", {"namespace_id": "ns-a",
                                                       "description": "t1"})
        self.assertEqual(st, 201, tok)
        tokens.append(tok["token"])
        ev = self.one("token.create", rid)
        self.assertEvent(ev, actor="ops", target_id=tok["id"], namespace_id="ns-a",
                         function_id=None, outcome="ok", count=1)
        self.assertRegex(ev["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        st, ftok, rid = self.api("POST", "/v1/tokens", {"function_id": "fa",
                                                        "description": "t2"}, key=self.ci[0])
        self.assertEqual(st, 201, ftok)
        tokens.append(ftok["token"])
        self.assertEvent(self.one("token.create", rid), actor="ci", target_id=ftok["id"],
                         namespace_id="ns-a", function_id="fa", outcome="ok")
        st, body, rid = self.api("DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 200, body)
        self.assertEvent(self.one("token.delete", rid), actor="ops", target_id=tok["id"],
                         namespace_id="ns-a", outcome="ok")
        st, body, rid = self.api("DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 409, body)
        self.assertEvent(self.one("token.delete", rid), target_id=tok["id"],
                         outcome="already_revoked")
        st, body, rid = self.api("POST", "/v1/tokens/revoke", {"jti": "foreign-1",
                                                               "namespace_id": "ns-b"})
        self.assertEqual(st, 200, body)
        self.assertEvent(self.one("token.revoke", rid), target_id="foreign-1",
                         namespace_id="ns-b", outcome="ok")
        st, body, rid = self.api("PATCH", "/v1/functions/fa", {"privacy": "public"},
                                 key=self.ci[0])
        self.assertEqual(st, 200, body)
        self.assertEvent(self.one("function.privacy", rid), actor="ci", target_id="fa",
                         namespace_id="ns-a", function_id="fa", detail="public", outcome="ok")
        st, body, rid = self.api("DELETE", "/v1/functions/fa/privacy", key=self.fw[0])
        self.assertEqual(st, 200, body)
        self.assertEvent(self.one("function.reset_privacy", rid), actor="fw", target_id="fa",
                         detail="private", outcome="ok")
        # A refused request (400) changes nothing and records nothing.
        before = self.events()["total_count"]
        st, body, _ = self.api("POST", "/v1/tokens", {"namespace_id": "nope"})
        self.assertEqual(st, 400, body)
        self.assertEqual(self.events()["total_count"], before)
        # Reloads: accepted, refused with the first error, accepted again.
        lu.reload(self.env, self.gw, self.conf)
        ev = self.events("&action=config.reload")["events"][0]
        self.assertEqual((ev["actor"], ev["outcome"]), ("fngate", "ok"))
        self.assertIn("generation", ev["detail"])
        path = self.gw.conf_path
        good = open(path).read()
        with open(path, "w") as f:
            f.write(good.replace('"workers": 2', '"workers": "two"'))
        self.gw.reload()
        time.sleep(1)
        ev = self.events("&action=config.reload")["events"][0]
        self.assertEqual(ev["outcome"], "config_invalid", ev)
        self.assertIn("workers", ev["detail"])
        with open(path, "w") as f:
            f.write(good)
        # A key rotated offline is taken by the next reload.
        r = subprocess.run([it.FNGATE_BIN, "keygen", "--namespace", "ns-b", "--rotate",
                            "--state-dir", self.conf["state_dir"]], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        old = self.events("&action=signing_key.generate&namespace_id=ns-b")["events"][0]
        lu.reload(self.env, self.gw, self.conf)
        evs = self.events("&action=signing_key.rotate")["events"]
        self.assertEqual(len(evs), 1, evs)
        self.assertEqual((evs[0]["namespace_id"], evs[0]["detail"]), ("ns-b", old["target_id"]))
        self.assertNotEqual(evs[0]["target_id"], old["target_id"])
        self.assertEqual(self.events("&action=config.reload")["events"][0]["outcome"], "ok")
        # No secret anywhere; each event is one "type":"audit" line of the daemon log.
        time.sleep(0.3)
        listing = json.dumps(self.events())
        for secret in tokens + self.secrets:
            self.assertNotIn(secret, self.journal())
            self.assertNotIn(secret, self.gw.proc.output())
            self.assertNotIn(secret, listing)
        logged = [r for r in self.gw.proc.json_lines() if r.get("type") == "audit"]
        ids = [r["id"] for r in logged]
        self.assertEqual(len(ids), len(set(ids)))
        for ev in self.events()["events"]:
            self.assertIn(ev["id"], ids)
            line = [r for r in logged if r["id"] == ev["id"]][0]
            self.assertEqual({k: line[k] for k in ev}, ev)

    def test_02_listing(self):
        all_ = self.events()
        evs = all_["events"]
        times = [e["time"] for e in evs]
        self.assertEqual(times, sorted(times, reverse=True), "newest first")
        # a restricted key: its namespace only, nothing without a namespace
        mine = self.events(key=self.ci[0])
        self.assertGreater(mine["total_count"], 0)
        self.assertTrue(all(e["namespace_id"] == "ns-a" for e in mine["events"]), mine)
        self.assertEqual(mine["total_count"],
                         len([e for e in evs if e["namespace_id"] == "ns-a"]))
        self.assertEqual(self.events("&namespace_id=ns-b", key=self.ci[0])["total_count"], 0)
        st, body, _ = self.api("GET", "/v1/audit", key=self.fw[0])
        self.assertEqual((st, body["error"]), (403, "forbidden"), body)
        self.assertIn("tokens:read", body["message"])
        # filters and paging
        self.assertTrue(all(e["actor"] == "ci" for e in self.events("&actor=ci")["events"]))
        mid = evs[len(evs) // 2]["time"]
        newer = self.events("&since=" + mid)["events"]
        older = self.events("&until=" + mid)["events"]
        self.assertTrue(all(e["time"] >= mid for e in newer) and newer)
        self.assertTrue(all(e["time"] <= mid for e in older) and older)
        st, p2, _ = self.api("GET", "/v1/audit?page_size=2&page=2")
        self.assertEqual((st, p2["total_count"]), (200, all_["total_count"]))
        self.assertEqual([e["id"] for e in p2["events"]], [e["id"] for e in evs[2:4]])
        for q, msg in (("since=yesterday", "since is not an RFC 3339"),
                       ("until=2026-13-01T00:00:00Z", "until is not an RFC 3339"),
                       ("page_size=0", "page_size must be an integer from 1 to 100"),
                       ("page_size=101", "page_size must be an integer from 1 to 100"),
                       ("page=0", "page must be"),
                       ("action=token.steal", "action must be one of"),
                       ("actor=a%20b", "actor is not a valid"),
                       ("namespace_id=a%2Fb", "namespace_id is not a valid id"),
                       ("since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z",
                        "since is after until"),
                       ("colour=red", 'unknown query parameter "colour"')):
            st, body, _ = self.api("GET", "/v1/audit?" + q)
            self.assertEqual((st, (body or {}).get("error")), (400, "invalid_request"),
                             "%s: %r" % (q, body))
            self.assertIn(msg, body["message"], q)

    def test_03_flood(self):
        def bad(source):
            c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10,
                                           source_address=(source, 0))
            c.connect()
            # closed with a reset: 5300 connections must not leave as many ports in TIME_WAIT
            # (the machine's other tests need free ports)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.request("GET", "/v1/whoami", headers={"Authorization": "Bearer wrong-" +
                                                    uuid.uuid4().hex})
            st = c.getresponse().status
            c.close()
            return st

        with ThreadPoolExecutor(8) as pool:
            self.assertEqual(set(pool.map(bad, ["127.0.0.1"] * 5000)), {401})
            sources = ["127.0.%d.%d" % (1 + i // 200, 1 + i % 200) for i in range(300)]
            self.assertEqual(set(pool.map(bad, sources)), {401})
        now = self.events("&action=admin.auth_failed")
        # one event for 127.0.0.1 at once, then at most AUDIT_AUTH_EVENTS_MAX (60) in all, and
        # the overflow's event if a tick (every 2 s) came meanwhile
        self.assertLessEqual(now["total_count"], 61, now["total_count"])
        self.assertGreaterEqual(now["total_count"], 1)
        self.gw.stop()      # a graceful stop writes the refusals counted since
        type(self).start()
        evs = self.events("&action=admin.auth_failed")["events"]
        self.assertLessEqual(len(evs), 63, len(evs))
        self.assertEqual(sum(e["count"] for e in evs), 5300)
        local = [e for e in evs if e["source"] == "127.0.0.1"]
        self.assertEqual(sum(e["count"] for e in local), 5000)
        self.assertLessEqual(len(local), 2)
        self.assertTrue(all(e["actor"] == "unknown" and e["outcome"] == "unauthorized"
                            for e in evs))
        self.assertLess(len(self.journal()), 100 * 1024)
        self.assertNotIn("wrong-", self.journal())

    def test_04_kill9(self):
        before = self.events()["events"]
        st, tok, rid = self.api("POST", "/v1/tokens", {"namespace_id": "ns-b"})
        self.assertEqual(st, 201, tok)
        self.restart(kill=True)
        after = self.events()
        self.assertEqual(after["events"][0]["request_id"], rid)
        self.assertEqual(after["events"][0]["action"], "token.create")
        ids = {e["id"] for e in self.events("&page_size=100")["events"]}
        self.assertTrue({e["id"] for e in before[:50]} <= ids)

    def test_05_retention(self):
        self.gw.stop()
        day = 86400
        old = [{"id": str(uuid.uuid4()), "time": time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - age * day)),
            "actor": "ops", "action": "token.create", "target_id": "t%d" % age,
            "namespace_id": "ns-a", "function_id": None, "source": "127.0.0.1",
            "request_id": None, "outcome": "ok", "detail": None, "count": 1}
            for age in (200, 100, 10)]
        # as written by an older fngate: appended in time order after the current ones would be
        # out of order, so the old ones go first
        text = "".join(journal_line(e) for e in old) + self.journal()
        with open(os.path.join(self.conf["state_dir"], "audit.journal"), "w") as f:
            f.write(text)
        self.conf["audit"] = {"retention_days": 30}
        self.env.write_config(self.conf)
        type(self).start()
        total = self.events()["total_count"]
        self.assertNotIn(old[0]["id"], self.journal())
        self.assertNotIn(old[1]["id"], self.journal())
        self.assertIn(old[2]["id"], self.journal())
        self.assertIn(old[2]["id"], {e["id"] for e in self.events(
            "&until=" + old[2]["time"])["events"]})
        self.conf["audit"] = {"retention_days": 5}
        lu.reload(self.env, self.gw, self.conf)
        self.assertNotIn(old[2]["id"], self.journal())
        self.assertEqual(self.events()["total_count"], total)   # -1 old, +1 reload event
        self.assertTrue(any("compacted away" in r.get("msg", "")
                            for r in self.gw.proc.json_lines()))
        st, body, _ = self.api("GET", "/v1/audit?until=" + old[2]["time"])
        self.assertEqual(body["total_count"], 0)

    def test_06_cli(self):
        env = dict(os.environ, FNGATE_ADMIN_KEY=self.owner[0],
                   FNGATE_ADMIN_URL="http://" + self.conf["admin"]["listen"])
        r = subprocess.run([it.FNGATE_BIN, "audit", "--action", "token.create"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["TIME", "ACTOR", "ACTION", "TARGET", "NAMESPACE",
                                            "SOURCE", "OUTCOME", "COUNT"])
        self.assertTrue(all("token.create" in ln for ln in lines[1:-1]), r.stdout)
        self.assertRegex(lines[-1], r"^\d+ shown, \d+ in total$")
        r = subprocess.run([it.FNGATE_BIN, "audit", "--json", "--namespace", "ns-a",
                            "--actor", "ci"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        body = json.loads(r.stdout)
        self.assertGreater(body["total_count"], 0)
        self.assertTrue(all(e["actor"] == "ci" and e["namespace_id"] == "ns-a"
                            for e in body["events"]))
        r = subprocess.run([it.FNGATE_BIN, "audit", "--since", "soon"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("since is not an RFC 3339", r.stderr)
        for secret in self.secrets:
            self.assertNotIn(secret, r.stdout + r.stderr)


if __name__ == "__main__":
    it.main()
