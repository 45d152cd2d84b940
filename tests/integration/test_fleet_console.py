#!/usr/bin/env python3
"""test_fleet_console.py - the web console against a fleet (issue 12: the console works against
any node). Three fngate nodes on one real PostgreSQL (fleet_util.py, pg_util.py), each serving
the console from the source tree; tests/browser/fleet-console.test.js drives Debian's chromium:
a token generated in node A's console opens the private function through every node; node B's
console lists it and deletes it, after which every node refuses it (the time from the console's
delete to each node's first 403 is printed); node A's console shows it revoked; node C's console
makes the public function private (every node answers 403 without a token) and resets it (200).

Needs chromium, node and playwright-core: installed when missing, as test_console.py does (the
test fails, never skips, when they cannot be)."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import fleet_util as fu  # noqa: E402
from test_console import (BROWSER_DIR, CHROMIUM, WEB_DIR, build_dir, ensure_chromium,  # noqa: E402
                          ensure_playwright)

# Deletion to refusal on every node: fleet.md's target is 100 ms (test_fleet.py measures its
# p99 over many rounds); here the browser's own timing is in the figure, so the bound is loose.
REFUSE_MAX_MS = 1000 if os.environ.get("FNGATE_SANITIZER") else 500


class FleetConsole(fu.FleetCase):
    @classmethod
    def setUpClass(cls):
        os.environ["FNGATE_WEB_ROOT"] = WEB_DIR
        cls.start_on_postgres("fleet-console")

    def test_console_on_every_node(self):
        err = ensure_chromium()
        self.assertIsNone(err, err)
        node_dir = os.path.join(build_dir(), "console-node")
        err = ensure_playwright(node_dir)
        self.assertIsNone(err, err)
        admin = [int(self.confs[n]["admin"]["listen"].rsplit(":", 1)[1]) for n in self.names]
        calls = lambda path: ",".join(self.nodes[n].url(path) for n in self.names)  # noqa: E731
        env = dict(os.environ,
                   NODE_PATH=os.path.join(node_dir, "node_modules"),
                   CONSOLES=",".join("http://127.0.0.1:%d/" % p for p in admin),
                   OWNER_KEY=self.ops[0],
                   PRIVATE_FN="resize", PRIVATE_CALLS=calls("/resize/x"),
                   PUBLIC_FN="hello", PUBLIC_CALLS=calls("/hello"),
                   ARTIFACT_DIR=os.path.join(build_dir(), "artifacts", "fleet-console"),
                   CHROMIUM=CHROMIUM)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "fleet-console.test.js")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        text = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "the browser run failed:\n" + text)
        out = json.loads(text.strip().splitlines()[-1])
        self.assertEqual(out["pageErrors"], [])
        self.assertTrue(out["tokenShape"], "node A's console showed a JWT")

        def check(what, results, want, limit_ms):
            for node, r in zip(self.names, results):
                self.assertEqual(r["status"], want, "%s: node %s answered %s" % (what, node, r))
                self.assertLessEqual(r["ms"], limit_ms, "%s: node %s after %s ms" % (what, node, r["ms"]))
            print("%s: %s" % (what, ", ".join("%s %d ms" % (n, r["ms"])
                                               for n, r in zip(self.names, results))),
                  file=sys.stderr)

        check("created on A, accepted", out["accepted"], 200, 1000 if not os.environ.get(
            "FNGATE_SANITIZER") else 3000)
        self.assertTrue(out["listedOnB"], "node B's console lists the token as ready")
        check("deleted on B, refused", out["refused"], 403, REFUSE_MAX_MS)
        self.assertTrue(out["revokedOnA"], "node A's console lists the token as revoked")
        check("made private on C, refused without a token", out["madePrivate"], 403, REFUSE_MAX_MS)
        check("reset on C, public again", out["resetPublic"], 200, REFUSE_MAX_MS)


if __name__ == "__main__":
    it.main()
