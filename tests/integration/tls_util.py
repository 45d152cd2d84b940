"""tls_util.py - TLS helpers for the integration tests: a test CA made with the openssl CLI at
test time, a Python TLS upstream (ssl + http.server), and small TLS clients.

Used with fngate_it.py (the harness); Python 3 standard library and the openssl/curl tools only.
"""

import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading

import fngate_it as it


class PKI:
    """A certificate authority in `directory`; every certificate it issues is EC P-256.

    issue(): valid from now (minus a minute) for `days` days, via `openssl x509 -req`.
    issue_dated(): explicit validity (YYYYMMDDHHMMSSZ), via `openssl ca`, for expired and
    not-yet-valid certificates.
    """

    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.name = name
        self.crt = os.path.join(directory, name + ".crt")
        self.key = os.path.join(directory, name + ".key")
        self.serial = 1000
        it.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.key, "-out", self.crt, "-days", "3",
                "-subj", "/CN=fngate test CA %s" % name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.cnf = os.path.join(directory, name + "-ca.cnf")
        db = os.path.join(directory, name + "-index.txt")
        open(db, "w").close()
        with open(os.path.join(directory, name + "-serial"), "w") as f:
            f.write("5000\n")
        with open(self.cnf, "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nnew_certs_dir = %s\n"
                    "serial = %s\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
                    "unique_subject = no\n[p]\ncommonName = supplied\n"
                    % (db, directory, os.path.join(directory, name + "-serial")))

    def _csr(self, name, cn, sans):
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        argv = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn]
        if sans:
            argv += ["-addext", "subjectAltName=" + ",".join(sans)]
        it.run(argv)
        os.chmod(key, 0o600)
        return key, csr

    def issue(self, name, cn, sans=(), days=1):
        """name.crt / name.key for cn with SANs like "DNS:a.test", "IP:127.0.0.1"."""
        key, csr = self._csr(name, cn, sans)
        crt = os.path.join(self.dir, name + ".crt")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
        self.serial += 1
        it.run(["openssl", "x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
                "-set_serial", str(self.serial), "-days", str(days), "-extfile", ext, "-out", crt])
        return crt, key

    def issue_dated(self, name, cn, sans, start, end):
        key, csr = self._csr(name, cn, sans)
        crt = os.path.join(self.dir, name + ".crt")
        it.run(["openssl", "ca", "-batch", "-config", self.cnf, "-cert", self.crt, "-keyfile",
                self.key, "-in", csr, "-out", crt, "-startdate", start, "-enddate", end, "-notext"])
        return crt, key


def self_signed(directory, name, cn, sans=()):
    """A certificate no test CA vouches for."""
    crt = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=" + cn]
    if sans:
        argv += ["-addext", "subjectAltName=" + ",".join(sans)]
    it.run(argv)
    return crt, key


def cert_serial(crt):
    """The serial number of a PEM certificate, as an int."""
    out = it.run(["openssl", "x509", "-in", crt, "-noout", "-serial"]).stdout.decode()
    return int(out.strip().split("=", 1)[1], 16)


def served_cert(port, sni=None, cafile=None, host="127.0.0.1"):
    """Handshake with host:port (SNI `sni`) and return the server's certificate as a dict
    (subject CN, serialNumber as an int, the TLS version and the ALPN protocol chosen)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection((host, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            c = s.getpeercert()
            cn = dict(x[0] for x in c["subject"]).get("commonName")
            return {"cn": cn, "serial": int(c["serialNumber"], 16), "version": s.version(),
                    "alpn": s.selected_alpn_protocol()}


def https(url, cacert, **kw):
    """it.curl with the test CA trusted."""
    args = ["--cacert", cacert] + list(kw.pop("args", ()))
    return it.curl(url, args=args, **kw)


def s_client(port, args=(), request=None, timeout=10):
    """openssl s_client; returns its stdout+stderr text. `request` (bytes) is sent and the output
    read until the server closes (-ign_eof), so TLS 1.3 tickets arrive before it exits."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args)
    if request is not None:
        argv.append("-ign_eof")
    p = subprocess.run(argv, input=request if request is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.stdout.decode("utf-8", "replace")


def start_fngate(env, conf, port, label="fngate-tls", name="fngate-tls.json", hosts=None):
    """fngate serve on a configuration whose listeners may be objects (it.Env.fngate reads
    conf["listen"][0] as a string); waits for `port`. hosts: see it.Fngate."""
    path = env.write_config(conf, name)
    g = it.Fngate(env, path, port, label=label, wait=False, hosts=hosts)
    env.procs.append(g.proc)
    it.wait_port(port, g.proc)
    return g


def reloads(g):
    """How many reloads this daemon finished ("reloaded" lines) and refused."""
    text = g.proc.output()
    return (len(re.findall(r'"msg":"reloaded: configuration generation', text)),
            len(re.findall(r'"msg":"reload refused', text)))


class TLSUpstream:
    """An HTTPS function endpoint: Python's ssl + http.server in a thread of the test process.

    Every GET answers 200 with JSON: the path, the headers (lowercase names), the client
    certificate's CN when one was sent, and which TCP connection carried it (its number).
    require_client_ca: a CA bundle; then the handshake requires a client certificate from it.
    """

    def __init__(self, crt, key, require_client_ca=None):
        self.port = it.free_port()
        self.conns = []
        self.lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        if require_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(require_client_ca)
        up = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with up.lock:
                    if self.client_address not in up.conns:
                        up.conns.append(self.client_address)
                    n = up.conns.index(self.client_address)
                peer = self.connection.getpeercert()
                cn = dict(x[0] for x in peer["subject"]).get("commonName") if peer else None
                body = json.dumps({
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "client_cn": cn,
                    "conn": n,
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass    # refused handshakes are what some tests are about

        self.server = Server(("127.0.0.1", self.port), Handler)
        # The handshake runs in the handler thread, not in accept(): one bad client cannot
        # stall the others.
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                             do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host="127.0.0.1", base=""):
        return "https://%s:%d%s" % (host, self.port, base)

    def connections(self):
        with self.lock:
            return len(self.conns)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
