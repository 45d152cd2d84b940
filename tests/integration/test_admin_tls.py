#!/usr/bin/env python3
"""test_admin_tls.py - issue 17 item 5: the admin listener over HTTPS (admin.tls, the listen
entries' "tls" object) and the CLI's https:// admin URLs, with the admin key read from a file or
standard input instead of argv.

- The API and /healthz answer over TLS, with the security headers; plain HTTP to that port gets
  no answer; a request is refused as before (401) without a key.
- `fngate token create|list` with --admin-url https://localhost:PORT, --admin-ca and
  --admin-key-file FILE, then with --admin-key-file - (stdin), then with $FNGATE_ADMIN_CA.
- An unknown CA: "certificate verification failed", exit 1; a certificate for another name: the
  same; a key file that is empty, or both --admin-key and --admin-key-file: a clear message and
  a non-zero exit, nothing sent; a key file readable by others: a warning.
"""

import json
import os
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import tls_util  # noqa: E402


class AdminTLS(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("admin-tls")
        cls.backend = cls.env.backend("b")
        pki = tls_util.PKI(cls.env.dir)
        cls.ca = pki.crt
        crt, key = pki.issue("admin", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        other = tls_util.PKI(cls.env.dir, "other")
        cls.other_ca = other.crt
        cls.owner = lu.new_admin_key()
        cls.conf = it.config(cls.env, [it.namespace("ns", "ns", [], [
            it.function("fn", "fn", cls.backend.url, prefix="/fn")], issue_tokens=True)])
        cls.conf["admin"]["keys"] = [dict(cls.owner[1], name="ops", role="owner")]
        cls.conf["admin"]["tls"] = {"cert": crt, "key": key}
        cls.aport = int(cls.conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = cls.env.fngate(cls.conf)
        it.wait_port(cls.aport, cls.gw.proc)
        cls.hosts = cls.env.write("hosts", "::1 localhost\n127.0.0.1 localhost\n")
        cls.keyfile = cls.env.write("admin.key", cls.owner[0] + "\n")
        os.chmod(cls.keyfile, 0o600)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def cli(self, *args, url=None, stdin=None, env=None):
        e = dict(os.environ)
        e.pop("FNGATE_ADMIN_KEY", None)
        e.pop("FNGATE_ADMIN_CA", None)
        e.update(env or {})
        argv = [it.FNGATE_BIN] + list(args) + [
            "--admin-url", url or "https://localhost:%d" % self.aport]
        # As on a standard Debian 12, `localhost` is ::1 first, where nothing listens (the admin
        # API is on 127.0.0.1): the CLI must try the name's next address. The CLI sees this
        # /etc/hosts in a private mount namespace; nothing else does.
        argv = ["unshare", "-m", "--propagation", it.unshare_propagation(), "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts] + argv
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e,
                              timeout=30)

    def test_api_over_tls(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        with socket.create_connection(("127.0.0.1", self.aport), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n"
                          b"Authorization: Bearer " + self.owner[0].encode() +
                          b"\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"X-Frame-Options: DENY", head)
        self.assertEqual(json.loads(body)["name"], "ops")
        r = tls_util.https("https://localhost:%d/healthz" % self.aport, self.ca)
        self.assertEqual(r.status, 200)
        r = tls_util.https("https://localhost:%d/v1/tokens" % self.aport, self.ca)
        self.assertEqual(r.status, 401)
        # plain HTTP to the TLS port: no HTTP answer
        with socket.create_connection(("127.0.0.1", self.aport), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(5)
            try:
                got = s.recv(100)
            except OSError:
                got = b""
            self.assertFalse(got.startswith(b"HTTP/1.1 200"), got)
        self.assertTrue(any("admin API on" in r.get("msg", "") and "with TLS" in r["msg"]
                            for r in self.gw.proc.json_lines()))

    def test_cli_https_key_file_and_stdin(self):
        p = self.cli("token", "create", "--namespace", "ns", "--description", "tls",
                     "--no-expiry", "--json", "--admin-ca", self.ca,
                     "--admin-key-file", self.keyfile)
        self.assertEqual(p.returncode, 0, p.stderr)
        tok = json.loads(p.stdout)
        self.assertEqual(lu.gateway_statuses(self.gw.port, "/fn", {"t": tok["token"]})["t"],
                         (200, None))
        p = self.cli("token", "list", "--json", "--admin-ca", self.ca, "--admin-key-file", "-",
                     stdin=self.owner[0] + "\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(tok["id"], p.stdout)
        p = self.cli("token", "get", tok["id"], "--admin-key-file", self.keyfile,
                     env={"FNGATE_ADMIN_CA": self.ca})
        self.assertEqual(p.returncode, 0, p.stderr)
        # 127.0.0.1 is in the certificate too
        p = self.cli("token", "get", tok["id"], "--admin-key-file", self.keyfile,
                     "--admin-ca", self.ca, url="https://127.0.0.1:%d" % self.aport)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_cli_refusals(self):
        p = self.cli("token", "list", "--admin-ca", self.other_ca, "--admin-key-file",
                     self.keyfile)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("certificate verification failed", p.stderr)
        p = self.cli("token", "list", "--admin-key-file", self.keyfile)   # system store
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("certificate verification failed", p.stderr)
        # a name the certificate does not carry
        p = self.cli("token", "list", "--admin-ca", self.ca, "--admin-key-file", self.keyfile,
                     url="https://[::1]:%d" % self.aport)
        self.assertNotEqual(p.returncode, 0)
        empty = self.env.write("empty.key", "\n")
        p = self.cli("token", "list", "--admin-ca", self.ca, "--admin-key-file", empty)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("expected one admin key", p.stderr)
        p = self.cli("token", "list", "--admin-ca", self.ca, "--admin-key-file", self.keyfile,
                     "--admin-key", self.owner[0])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not both", p.stderr)
        p = self.cli("token", "list", "--admin-ca", self.ca, "--admin-key-file",
                     "/nonexistent/key")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("No such file", p.stderr)
        loose = self.env.write("loose.key", self.owner[0] + "\n")
        os.chmod(loose, 0o644)
        p = self.cli("token", "list", "--admin-ca", self.ca, "--admin-key-file", loose)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("readable by other users", p.stderr)
        p = self.cli("token", "list", "--help")
        self.assertIn("visible to every local user", p.stdout)


if __name__ == "__main__":
    it.main()
