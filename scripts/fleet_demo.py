#!/usr/bin/env python3
"""fleet_demo.py - the body of scripts/fleet-demo.sh: PostgreSQL and three fngate nodes on
loopback (through the integration tests' helpers, tests/integration/pg_util.py and fngate_it.py),
one token created through A, called through B and C, deleted through A, refused everywhere."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import pg_util  # noqa: E402


def main():
    env = it.Env("fleet-demo")
    pg = pg_util.Postgres()
    try:
        print("PostgreSQL on 127.0.0.1:%d (data in %s)" % (pg.port, pg.dir))
        backend = env.backend("demo")
        ops = lu.new_admin_key()
        keyfile = os.path.join(env.dir, "fleet.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(keyfile, 0o600)
        signer = env.key("signer")
        nodes, admin = {}, {}
        for name in ("A", "B", "C"):
            conf = it.config(env, [it.namespace(
                "ns-demo", "demo", [], [it.function("hello", "hello", backend.url,
                                                    prefix="/hello")],
                issue_tokens=True, signing_key=signer.priv, require_registered_tokens=True)])
            conf["admin"]["keys"] = [dict(ops[1], name="ops", role="owner")]
            conf["store"] = {"type": "postgresql", "key_file": keyfile,
                             "conninfo": pg.conninfo()}
            nodes[name] = env.fngate(conf, name="%s.json" % name)
            admin[name] = int(conf["admin"]["listen"].rsplit(":", 1)[1])
            print("node %s: gateway %s, admin API 127.0.0.1:%d" % (name, nodes[name].base,
                                                                  admin[name]))

        def show(token):
            for name in ("A", "B", "C"):
                r = it.curl(nodes[name].url("/hello/"), token=token)
                reason = "" if r.status == 200 else " " + r.json().get("error", "")
                print("  %s: GET %s -> %d%s" % (name, nodes[name].url("/hello/"), r.status,
                                                  reason))

        st, tok = lu.admin_request(admin["A"], "POST", "/v1/tokens", ops[0],
                                   {"function_id": "hello", "description": "fleet demo"})
        assert st == 201, tok
        print("\ncreated token %s through node A" % tok["id"])
        time.sleep(0.05)    # B and C follow the store's log: a few ms
        show(tok["token"])
        st, _ = lu.admin_request(admin["A"], "DELETE", "/v1/tokens/" + tok["id"], ops[0])
        assert st == 200
        print("\ndeleted it through node A")
        show(tok["token"])
        print("(how fast a deletion reaches the other nodes: docs/fleet.md, test_fleet.py)")
    finally:
        env.close()
        pg.close()


if __name__ == "__main__":
    main()
