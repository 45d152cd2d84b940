#!/usr/bin/env python3
"""test_backup.py - issue 16 item 9: `fngate state backup -c CONF DIR` while fngate creates and
deletes tokens under load: every backup loads, holds every token confirmed before it began, and
a fngate restored from it (stopped, state_dir replaced) accepts those tokens and refuses the
deleted ones; bad usage and a non-empty DIR fail with a message."""

import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402


class Backup(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("backup")
        cls.backend = cls.env.backend("b")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_backup_under_write_load_and_restore(self):
        admin_key, frag = lu.new_admin_key()
        conf = it.config(self.env, [
            it.namespace("ns-app", "app", [], [
                it.function("fn", "fn", self.backend.url, prefix="/fn")], issue_tokens=True,
                require_registered_tokens=True)])
        conf["admin"]["keys"] = [dict(frag, name="ops", role="owner")]
        aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        path = self.env.write_config(conf, "backup.json")
        g = self.env.fngate(conf, "backup.json")
        it.wait_port(aport, g.proc)
        created, deleted = {}, set()
        lock = threading.Lock()
        stop = threading.Event()

        def writer(n):
            mine = []
            while not stop.is_set():
                st, body = lu.admin_request(aport, "POST", "/v1/tokens", admin_key,
                                            {"function_id": "fn", "description": "w%d" % n},
                                            timeout=5)
                self.assertEqual(st, 201, body)
                with lock:
                    created[body["id"]] = body["token"]
                mine.append(body["id"])
                if len(mine) % 3 == 0:
                    victim = mine.pop(0)
                    st, _ = lu.admin_request(aport, "DELETE", "/v1/tokens/" + victim,
                                             admin_key, timeout=5)
                    self.assertEqual(st, 200)
                    with lock:
                        deleted.add(victim)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        backups = []
        try:
            for i in range(5):
                time.sleep(0.4)
                with lock:
                    before = (dict(created), set(deleted))
                d = os.path.join(self.env.dir, "bk%d" % i)
                p = subprocess.run([it.FNGATE_BIN, "state", "backup", "-c", path, d],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("backed up to", p.stdout)
                backups.append((d, before))
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        self.assertGreater(len(created), 20, "too little write load")
        # A non-empty DIR and bad usage are refused.
        p = subprocess.run([it.FNGATE_BIN, "state", "backup", "-c", path, backups[0][0]],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not empty", p.stderr)
        p = subprocess.run([it.FNGATE_BIN, "state", "backup", "-c", path],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(g.stop(), 0)
        # Restore the last backup: stop, replace state_dir, start.
        d, (ok, gone) = backups[-1]
        shutil.rmtree(conf["state_dir"])
        shutil.copytree(d, conf["state_dir"])
        g = self.env.fngate(conf, "backup.json")
        it.wait_port(aport, g.proc)
        port = int(conf["listen"][0].rsplit(":", 1)[1])
        for tid, token in ok.items():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/fn/x", headers={"X-Auth-Token": token})
            st = c.getresponse().status
            c.close()
            if tid in gone:
                self.assertEqual(st, 403, tid)
            elif tid not in deleted:    # deleted while the backup ran: either is right
                self.assertEqual(st, 200, tid)
        st, body = lu.admin_request(aport, "GET", "/v1/tokens?page_size=100", admin_key)
        self.assertEqual(st, 200)
        self.assertEqual(g.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
