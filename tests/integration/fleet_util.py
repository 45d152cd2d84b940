"""fleet_util.py - the fleet tests' nodes (test_fleet.py, test_fleet_failures.py): three fngate
nodes sharing one PostgreSQL (pg_util.py), each with the same configured signing key, a
token-issuing namespace that requires registered tokens, one public and one private function;
and the admin, gateway and metrics helpers the tests use on them."""

import http.client
import os
import time

import fngate_it as it
import lifecycle_util as lu
import pg_util


class FleetCase(it.GatewayCase):
    """Base of the fleet test cases: start_fleet() in setUpClass, then the helpers below.
    cls.pg is the PostgreSQL that wait_same_position() reads the log's end from."""

    names = ("a", "b", "c")

    @classmethod
    def start_fleet(cls, env_name, conninfo, generated_keys=False, **ns_extra):
        """Start the nodes, all at once; conninfo(name) is each node's store conninfo.
        generated_keys: the namespace has no signing_key (each node generates one, and the
        store settles which the fleet uses); ns_extra: more keys of the namespace."""
        cls.env = it.Env(env_name)
        cls.backend = cls.env.backend("b")
        cls.ops = lu.new_admin_key()
        cls.keyfile = os.path.join(cls.env.dir, "fleet.key")
        with open(cls.keyfile, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(cls.keyfile, 0o600)
        signer = cls.env.key("signer")
        cls.nodes = {}
        cls.confs = {}
        for name in cls.names:
            conf = it.config(cls.env, [
                it.namespace("ns-app", "app", [], [
                    it.function("hello", "hello", cls.backend.url, privacy="public",
                                prefix="/hello"),
                    it.function("resize", "resize", cls.backend.url, prefix="/resize")],
                    issue_tokens=True, require_registered_tokens=True,
                    **({} if generated_keys else {"signing_key": signer.priv}), **ns_extra),
            ], tokens={"leeway_s": 0, "forward_token": False})
            conf["admin"]["keys"] = [dict(cls.ops[1], name="ops", role="owner")]
            conf["health"] = {"listen": "127.0.0.1:%d" % it.free_port()}
            conf["store"] = {"type": "postgresql", "key_file": cls.keyfile,
                             "conninfo": conninfo(name)}
            cls.confs[name] = conf
        for name in cls.names:
            cls.start_node(name, wait=False)
        for name in cls.names:
            cls.wait_node(name)

    @classmethod
    def start_on_postgres(cls, env_name, **kw):
        """The usual setUpClass: a PostgreSQL of the class's own (cls.pg), every node on it
        directly; kw as start_fleet's."""
        cls.pg = pg_util.Postgres()
        cls.start_fleet(env_name, lambda name: cls.pg.conninfo(), **kw)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.pg.close()

    @classmethod
    def start_node(cls, name, wait=True):
        """Start (or restart) node `name`; with wait, return once it serves (wait_node)."""
        cls.nodes[name] = cls.env.fngate(cls.confs[name], name="%s.json" % name, wait=False)
        if wait:
            cls.wait_node(name)
        return cls.nodes[name]

    @classmethod
    def wait_node(cls, name):
        """Wait until node `name` accepts on its gateway and its admin API (the gateway's socket
        may listen before the admin API does)."""
        it.wait_port(cls.nodes[name].port, cls.nodes[name].proc)
        it.wait_port(int(cls.confs[name]["admin"]["listen"].rsplit(":", 1)[1]),
                     cls.nodes[name].proc)

    def admin(self, node, method, path, body=None):
        port = int(self.confs[node]["admin"]["listen"].rsplit(":", 1)[1])
        return lu.admin_request(port, method, path, key=self.ops[0], body=body)

    def create(self, node="a", description="fleet"):
        st, body = self.admin(node, "POST", "/v1/tokens", {"function_id": "resize",
                                                           "description": description,
                                                           "expires_at": None})
        self.assertEqual(st, 201, body)
        return body

    def status(self, node, token):
        """(status, error) of one call to the private function through node."""
        return lu.gateway_statuses(self.nodes[node].port, "/resize/x", {"t": token})["t"]

    def statuses(self, node, tokens):
        """{id: (status, error)} of calls to the private function through node, one per token
        of tokens ({id: token})."""
        return lu.gateway_statuses(self.nodes[node].port, "/resize/x", tokens)

    def wait_status(self, node, token, want, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            got = self.status(node, token)
            if got[0] == want[0] and (want[1] is None or got[1] == want[1]):
                return
            if time.time() > deadline:
                self.fail("node %s: expected %s, got %s" % (node, want, got))
            time.sleep(0.02)

    def get(self, node, listener, path):
        """(status, text) of GET path on node's admin or health listener."""
        port = int(self.confs[node][listener]["listen"].rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        return r.status, text

    def metric(self, node, name):
        for line in self.get(node, "admin", "/metrics")[1].splitlines():
            if line.split(" ")[0] == name:
                return float(line.split(" ")[1])
        self.fail("node %s: no metric %s" % (node, name))

    def wait_metric(self, node, name, value, timeout=3.0):
        deadline = time.time() + timeout
        while self.metric(node, name) != value:
            if time.time() > deadline:
                self.fail("node %s: %s never became %s" % (node, name, value))
            time.sleep(0.05)

    def all_tokens(self, node):
        """{id: status} of every record node lists (every page)."""
        out, page = {}, 1
        while True:
            st, body = self.admin(node, "GET", "/v1/tokens?page_size=100&page=%d" % page)
            self.assertEqual(st, 200, body)
            out.update((t["id"], t["status"]) for t in body["tokens"])
            if page * 100 >= body["total_count"]:
                return out
            page += 1

    def wait_same_position(self, timeout=10.0, poll=0.1):
        """Wait until every node has applied the store's last change; returns its position."""
        last = int(self.pg.psql("SELECT coalesce(max(seq), 0) FROM fngate_changes"))
        deadline = time.time() + timeout
        while True:
            pos = {n: self.metric(n, "fngate_store_position") for n in self.names}
            if all(p >= last for p in pos.values()):
                return last
            if time.time() > deadline:
                self.fail("positions differ: %s (the log ends at %d)" % (pos, last))
            time.sleep(poll)

    def reload(self, node, **store):
        self.confs[node]["store"].update(store)
        lu.reload(self.env, self.nodes[node], self.confs[node], settle=0.5)
