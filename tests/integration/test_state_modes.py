#!/usr/bin/env python3
"""test_state_modes.py - issue 17 item 5: state_dir files whose modes were loosened (a copy, a
restore or an umask left the journal and private keys 0644, directories 0755) are tightened at
start, each with a warning, and everything still loads; a symlink in state_dir is not followed
(its target's mode is left alone)."""

import glob
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402


class StateModes(it.GatewayCase):
    def test_loose_modes_tightened(self):
        env = it.Env("state-modes")
        self.addCleanup(env.close)
        backend = env.backend("b")
        owner = lu.new_admin_key()
        conf = it.config(env, [it.namespace("ns", "ns", [], [
            it.function("fn", "fn", backend.url, prefix="/fn")], issue_tokens=True)])
        conf["admin"]["keys"] = [dict(owner[1], name="ops", role="owner")]
        aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        gw = env.fngate(conf)
        it.wait_port(aport, gw.proc)
        st, tok = lu.admin_request(aport, "POST", "/v1/tokens", owner[0],
                                   {"namespace_id": "ns", "description": "m"})
        self.assertEqual(st, 201, tok)
        gw.stop()

        sd = conf["state_dir"]
        journal = os.path.join(sd, "tokens.journal")
        keys = glob.glob(os.path.join(sd, "keys", "ns", "*.pem"))
        self.assertTrue(keys)
        loose = {sd: 0o755, os.path.join(sd, "keys"): 0o750, journal: 0o644}
        for k in keys:
            loose[k] = 0o644
        for path, mode in loose.items():
            os.chmod(path, mode)
        outside = env.write("outside.txt", "not fngate's")
        os.chmod(outside, 0o644)
        os.symlink(outside, os.path.join(sd, "link"))

        gw = env.fngate(conf)
        it.wait_port(aport, gw.proc)
        for path, mode in loose.items():
            got = stat.S_IMODE(os.stat(path).st_mode)
            self.assertEqual(got, mode & 0o700, "%s is %o" % (path, got))
        self.assertEqual(stat.S_IMODE(os.stat(outside).st_mode), 0o644)
        warned = [r["msg"] for r in gw.proc.json_lines()
                  if r.get("level") == "warn" and r.get("msg", "").startswith("state_dir:")]
        for path in loose:
            self.assertTrue(any(path in m and "set to" in m for m in warned), (path, warned))
        self.assertEqual(len(warned), len(loose), warned)
        self.assertEqual(lu.gateway_statuses(gw.port, "/fn", {"t": tok["token"]})["t"],
                         (200, None))
        # a second start has nothing to say
        gw.stop()
        gw = env.fngate(conf)
        it.wait_port(aport, gw.proc)
        self.assertFalse([r for r in gw.proc.json_lines()
                          if r.get("msg", "").startswith("state_dir:")])
        gw.stop()


if __name__ == "__main__":
    it.main()
