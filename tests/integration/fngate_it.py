"""fngate_it.py - the integration-test harness: real fngate, real upstream, curl, on loopback.

Python 3 standard library only, plus the `openssl` and `curl` command-line tools.
Every process started here runs in its own process group and is killed at the end, even on
failure; the logs of every fngate (and backend) started are printed when a test failed.

Environment (set by ctest, see tests/CMakeLists.txt):
  FNGATE_BIN          the fngate binary
  FNGATE_BACKEND_BIN  the demo backend (demo/backend.c)
  FNGATE_VECTORS      ../shared/vectors
  FNGATE_IT_VALGRIND  1: run every fngate under valgrind memcheck; an error or a definite leak
                      (valgrind's ERROR SUMMARY, exit code 99) fails the test file
"""

import atexit
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FNGATE_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))


def _find_bin(env, name):
    path = os.environ.get(env)
    if path:
        return path
    # Outside ctest: the first build directory holding it.
    for d in ("build", "build-it", "build-asan"):
        p = os.path.join(SOURCE_DIR, d, name)
        if os.access(p, os.X_OK):
            return p
    return os.path.join(SOURCE_DIR, "build", name)


FNGATE_BIN = _find_bin("FNGATE_BIN", "fngate")
BACKEND_BIN = _find_bin("FNGATE_BACKEND_BIN", "fngate-demo-backend")
VECTORS = os.environ.get("FNGATE_VECTORS") or os.path.normpath(
    os.path.join(SOURCE_DIR, "..", "shared", "vectors"))

# Every log file of every process started, printed when something failed.
_LOGS = []

# valgrind memcheck around fngate (docs/reliability.md): errors and definite leaks count, and
# everything is slower under it, so waits for the port and for a graceful stop are longer.
VALGRIND = os.environ.get("FNGATE_IT_VALGRIND") == "1"
VALGRIND_ARGV = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                 "--num-callers=30"]
START_TIMEOUT = 90.0 if VALGRIND else 15.0
STOP_TIMEOUT = 60 if VALGRIND else 5
_ENVS = []


# --------------------------------------------------------------------------- small helpers

def b64u(data):
    """base64url without padding (RFC 7515 section 2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def recv_head(s, buf=b""):
    """Read socket s until an HTTP head's blank line: (head, the bytes after it), buf being
    what was read before; (None, what came) when the peer closes first."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


_PORTS_GIVEN = set()


def apt_install(*packages):
    """Debian packages, installed with apt-get (an update first only when the install fails).
    Returns apt-get's last exit status; what it prints goes to stderr."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "--no-install-recommends"] + list(packages)
    print("+ " + " ".join(argv), file=sys.stderr)
    rc = subprocess.run(argv, env=env, stdout=sys.stderr, stderr=sys.stderr).returncode
    if rc != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=sys.stderr, stderr=sys.stderr)
        rc = subprocess.run(argv, env=env, stdout=sys.stderr, stderr=sys.stderr).returncode
    return rc


def free_port():
    """A loopback TCP port nothing listens on right now, and not handed out before by this
    process: the kernel may give the same ephemeral port to two binds in a row when ports are
    scarce, and two listeners of one configuration would then collide."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise RuntimeError("no loopback port left that this test has not used")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def pattern(n, off=0):
    """The bytes the demo backend generates for _big and _chunked: the alphabet repeated."""
    alpha = b"abcdefghijklmnopqrstuvwxyz"
    reps = (n + off) // 26 + 2
    return (alpha * reps)[off:off + n]


# --------------------------------------------------------------------------- keys and tokens

class Key:
    """A key pair made with the openssl CLI. kind: rsa-pkcs1 | rsa-spki | ec."""

    def __init__(self, directory, name, kind="rsa-pkcs1"):
        self.name = name
        self.kind = kind
        self.alg = "ES256" if kind == "ec" else "RS256"
        self.priv = os.path.join(directory, name + ".key.pem")
        self.pub = os.path.join(directory, name + ".pub.pem")
        if kind == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", self.priv])
            run(["openssl", "pkey", "-in", self.priv, "-pubout", "-out", self.pub])
        else:
            run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", self.priv])
            if kind == "rsa-pkcs1":
                run(["openssl", "rsa", "-in", self.priv, "-RSAPublicKey_out", "-out", self.pub])
            else:
                run(["openssl", "pkey", "-in", self.priv, "-pubout", "-out", self.pub])
        os.chmod(self.priv, 0o600)

    def pub_pem(self):
        with open(self.pub, "rb") as f:
            return f.read()

    def sign(self, data):
        """RS256: PKCS#1 v1.5 SHA-256 signature. ES256: the DER ECDSA signature made 64-byte r||s."""
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.priv], input=data,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
        if self.alg == "ES256":
            sig = der_to_raw_ecdsa(sig, 32)
        return sig

    def conf(self, kid="k1"):
        return {"kid": kid, "alg": self.alg, "public_key": self.pub}


def der_to_raw_ecdsa(der, size):
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> r||s, each `size` bytes."""
    def read_len(b, i):
        n = b[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7f
        return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k

    assert der[0] == 0x30, "not a DER sequence"
    _, i = read_len(der, 1)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02, "not a DER integer"
        n, i = read_len(der, i + 1)
        v = int.from_bytes(der[i:i + n], "big")
        out += v.to_bytes(size, "big")
        i += n
    return out


def scw_claims(namespace_id="", function_id="", exp=3600, nbf=0, iat=0, jti=None, now=None,
               omit=(), **extra):
    """Scaleway's claim layout (NOTES.md). exp/nbf/iat are offsets from now; exp=None: no expiry."""
    now = int(time.time()) if now is None else now
    claims = {
        "application_claim": [{"namespace_id": namespace_id, "application_id": function_id}],
        "version": 2,
        "aud": "functions",
        "jti": jti or str(uuid.uuid4()),
        "iat": now + iat,
        "nbf": now + nbf,
        "iss": "SCALEWAY",
        "sub": "token",
    }
    if exp is not None:
        claims["exp"] = now + exp
    claims.update(extra)
    for k in omit:
        claims.pop(k, None)
    return claims


def jwt_parts(header, claims):
    h = header if isinstance(header, (bytes, str)) else json.dumps(header, separators=(",", ":"))
    c = claims if isinstance(claims, (bytes, str)) else json.dumps(claims, separators=(",", ":"))
    return b64u(h) + "." + b64u(c)


def mint(key, claims, header=None):
    """A JWT signed with `key` (header defaults to {"alg": key.alg, "typ": "JWT"}, like Scaleway's)."""
    header = header if header is not None else {"alg": key.alg, "typ": "JWT"}
    signing_input = jwt_parts(header, claims)
    return signing_input + "." + b64u(key.sign(signing_input.encode()))


def mint_hs256_with_pem(pem, claims):
    """The algorithm-confusion forgery: HS256 whose HMAC key is the (public) PEM text."""
    signing_input = jwt_parts({"alg": "HS256", "typ": "JWT"}, claims)
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64u(mac)


def mint_none(claims, alg="none"):
    return jwt_parts({"alg": alg, "typ": "JWT"}, claims) + "."


def jwt_claims(token):
    return json.loads(b64u_decode(token.split(".")[1]))


def scaleway_vectors():
    with open(os.path.join(VECTORS, "scaleway-tokens.json")) as f:
        return json.load(f)["tokens"]


def llhttp_vectors():
    with open(os.path.join(VECTORS, "llhttp", "llhttp-tests.json")) as f:
        return json.load(f)["tests"]


# --------------------------------------------------------------------------- processes

def run(argv, check=True, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=check, **kw)


class Proc:
    """A child process in its own process group, stderr (and stdout) captured to a log file."""

    def __init__(self, argv, log, label):
        self.argv = argv
        self.log = log
        self.label = label
        self.logf = open(log, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        _LOGS.append((label, log))

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def wait(self, timeout):
        """Exit code, or None when still running after `timeout` seconds."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=None):
        """SIGTERM, then SIGKILL of the whole group. Returns the exit code."""
        if timeout is None:
            timeout = STOP_TIMEOUT
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        else:
            # The leader exited; make sure nothing else in its group survives.
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not self.logf.closed:
            if VALGRIND and self.p.returncode == 99 and self.argv[0] == "valgrind":
                # valgrind's --error-exitcode: make sure the log says so even if its summary
                # did not make it there (sanitizer_reports reads the logs).
                self.logf.write(b"==0== ERROR SUMMARY: 1 (valgrind exited with 99)\n")
            self.logf.close()
        return self.p.returncode

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def json_lines(self):
        """Every line of the log that parses as a JSON object."""
        out = []
        for line in self.output().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def wait_port(port, proc=None, timeout=None, host="127.0.0.1"):
    """Wait until something accepts on host:port; raise if `proc` died or time ran out."""
    if timeout is None:
        timeout = START_TIMEOUT
    deadline = time.time() + timeout
    while time.time() < deadline:
        if port_open(port, host):
            return
        if proc is not None and not proc.alive():
            raise RuntimeError("%s exited (%s) before listening on %d:\n%s" % (
                proc.label, proc.p.returncode, port, proc.output()[-4000:]))
        time.sleep(0.05)
    raise RuntimeError("nothing listening on port %d after %.0fs" % (port, timeout))


class Backend:
    """The demo backend on host:port (host "127.0.0.1", or "::1" for an IPv6-only one)."""

    def __init__(self, env, name, port=None, host="127.0.0.1"):
        self.name = name
        self.port = port or free_port()
        hp = ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.port)
        self.url = "http://" + hp
        self.proc = Proc([BACKEND_BIN, "--listen", hp, "--name", name],
                         os.path.join(env.dir, "backend-%s.log" % name), "backend " + name)
        wait_port(self.port, self.proc, host=host)

    def requests(self):
        """How many requests reached the backend so far (asked directly, not through fngate)."""
        r = curl(self.url + "/_stats")
        return r.json()["requests"]

    def stats(self):
        return curl(self.url + "/_stats").json()

    def stop(self):
        return self.proc.stop()


_PROPAGATION = []


def unshare_propagation():
    """The mount propagation for `unshare -m`: "private" (the default: nothing mounted in the
    new namespace reaches the others), or "unchanged" where "/" is not a mount point, as in a
    chroot (../shared/fresh-machine.sh), and private cannot be set; there the machines this
    project runs on (gVisor) do not propagate mounts between namespaces either."""
    if not _PROPAGATION:
        ok = subprocess.run(["unshare", "-m", "true"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode == 0
        _PROPAGATION.append("private" if ok else "unchanged")
    return _PROPAGATION[0]


class Fngate:
    """`fngate serve -c conf_path`. hosts: a file that fngate sees as /etc/hosts (and no other
    process does): it runs in a private mount namespace (unshare -m) where the file is bound
    over /etc/hosts, so that tests can give names any addresses without touching the system."""

    def __init__(self, env, conf_path, port, label="fngate", wait=True, hosts=None):
        self.conf_path = conf_path
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        argv = (VALGRIND_ARGV if VALGRIND else []) + [FNGATE_BIN, "serve", "-c", conf_path]
        if hosts is not None:
            argv = ["unshare", "-m", "--propagation", unshare_propagation(), "sh", "-c",
                    'mount --bind "$0" /etc/hosts && exec "$@"', hosts] + argv
        self.proc = Proc(argv, os.path.join(env.dir, "%s-%d.log" % (label, len(_LOGS))), label)
        if wait:
            wait_port(port, self.proc)

    def url(self, path):
        return self.base + path

    def reload(self):
        self.proc.signal(signal.SIGHUP)

    def access_lines(self):
        """Access-log records: JSON lines that carry a status."""
        return [r for r in self.proc.json_lines() if "status" in r]

    def stop(self):
        return self.proc.stop()


class Env:
    """One temporary directory holding keys, configurations, logs; every process started from it."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="fngate-it-%s-" % name)
        self.procs = []
        self.keys = {}
        _ENVS.append(self)

    def key(self, name, kind="rsa-pkcs1"):
        if name not in self.keys:
            self.keys[name] = Key(self.dir, name, kind)
        return self.keys[name]

    def backend(self, name="backend", port=None, host="127.0.0.1"):
        b = Backend(self, name, port, host)
        self.procs.append(b.proc)
        return b

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def write_config(self, conf, name="fngate.json"):
        return self.write(name, json.dumps(conf, indent=2) + "\n")

    def fngate(self, conf, name="fngate.json", wait=True, hosts=None):
        """Write `conf` (a dict) and start `fngate serve -c` on it; returns an Fngate.
        hosts: the text of the /etc/hosts that this fngate alone sees (Fngate)."""
        path = self.write_config(conf, name)
        port = int(conf["listen"][0].rsplit(":", 1)[1])
        if hosts is not None:
            hosts = self.write(name + ".hosts", hosts)
        g = Fngate(self, path, port, wait=False, hosts=hosts)
        self.procs.append(g.proc)
        if wait:
            wait_port(port, g.proc)
        return g

    def close(self):
        for p in self.procs:
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print("stopping %s: %s" % (p.label, e), file=sys.stderr)


def config(env, namespaces, port=None, **top):
    """A complete configuration in the shape of issue 2; `top` overrides/extends top-level keys.
    The admin API gets its own free port so tests never collide on the default 9090."""
    port = port or free_port()
    # One state directory per daemon: the token registry in it has a single writer.
    state = tempfile.mkdtemp(prefix="state-", dir=env.dir)
    c = {
        "listen": ["127.0.0.1:%d" % port],
        "workers": 2,
        "state_dir": state,
        "limits": {"max_header_bytes": 16384, "max_body_bytes": 64 * 1024 * 1024,
                   "max_token_bytes": 8192, "max_connections": 1000},
        "timeouts": {"client_header_ms": 10000, "client_idle_ms": 60000,
                     "upstream_connect_ms": 2000, "upstream_response_ms": 30000},
        "tokens": {"leeway_s": 60, "forward_token": False},
        "admin": {"listen": "127.0.0.1:%d" % free_port()},
        "namespaces": namespaces,
    }
    for k, v in top.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def function(fid, name, upstream, privacy="private", prefix=None, hosts=None, **kw):
    f = {"id": fid, "name": name, "privacy": privacy,
         "upstreams": upstream if isinstance(upstream, list) else [upstream]}
    if prefix is not None:
        f["path_prefix"] = prefix
    if hosts is not None:
        f["hosts"] = hosts
    f.update(kw)
    return f


def namespace(nid, name, keys, functions, **kw):
    n = {"id": nid, "name": name, "issuer": None, "keys": keys, "functions": functions}
    n.update(kw)
    return n


# --------------------------------------------------------------------------- clients

class Response:
    def __init__(self, status, headers, body, stderr=b"", raw_headers=""):
        self.status = status
        self.headers = headers      # lowercase name -> [values] (last response only)
        self.body = body
        self.stderr = stderr
        self.raw_headers = raw_headers

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[-1] if v else None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %r>" % (self.status, self.body[:300])


def _parse_header_block(text):
    """curl -D output may hold several responses (100-continue...): keep the last block."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    headers = {}
    if not blocks:
        return headers
    for line in blocks[-1].split("\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    return headers


_curl_seq = [0]
_curl_lock = threading.Lock()


def curl(url, token=None, headers=(), method=None, data=None, data_file=None, args=(),
         timeout=30, tmpdir=None):
    """Run curl as a caller would: curl -s -o BODY -w '%{http_code}' -H "X-Auth-Token: T" URL.
    Returns a Response (status 0 when no HTTP response came back)."""
    with _curl_lock:
        _curl_seq[0] += 1
        seq = _curl_seq[0]
    d = tmpdir or tempfile.gettempdir()
    body_path = os.path.join(d, "curl-%d-%d.body" % (os.getpid(), seq))
    hdr_path = os.path.join(d, "curl-%d-%d.hdr" % (os.getpid(), seq))
    argv = ["curl", "-s", "-o", body_path, "-D", hdr_path, "-w", "%{http_code}",
            "--max-time", str(timeout)]
    if token is not None:
        argv += ["-H", "X-Auth-Token: " + token]
    for h in headers:
        argv += ["-H", h]
    if method:
        argv += ["-X", method]
    if data is not None:
        argv += ["--data-binary", "@-"]
    if data_file is not None:
        argv += ["--data-binary", "@" + data_file]
    argv += list(args)
    argv.append(url)
    try:
        p = subprocess.run(argv, input=data if isinstance(data, bytes) else (
            data.encode() if data is not None else None),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
        try:
            status = int(p.stdout.decode().strip()[-3:] or 0)
        except ValueError:
            status = 0
        body = b""
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        raw_headers = ""
        if os.path.exists(hdr_path):
            with open(hdr_path, "rb") as f:
                raw_headers = f.read().decode("latin-1")
        return Response(status, _parse_header_block(raw_headers), body, p.stderr, raw_headers)
    finally:
        for path in (body_path, hdr_path):
            try:
                os.unlink(path)
            except OSError:
                pass


def raw(port, data, timeout=3.0, chunks=None, half_close=False, half_close_after=None):
    """Send raw bytes on a fresh connection; read until the peer closes or `timeout` passes
    without new data. half_close: shut our write side right after sending. half_close_after:
    if nothing at all came back after that many seconds, shut our write side then (a truncated
    request must end in a close) and keep reading. Returns (received bytes, closed_by_peer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    closed = False
    try:
        for piece in (chunks if chunks is not None else [data]):
            s.sendall(piece)
            if chunks is not None:
                time.sleep(0.05)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        pending_half_close = half_close_after is not None and not half_close
        s.settimeout(half_close_after if pending_half_close else timeout)
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                if pending_half_close and not got:
                    pending_half_close = False
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(timeout)
                    continue
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
            if pending_half_close:
                pending_half_close = False
                s.settimeout(timeout)
    finally:
        s.close()
    return got, closed


def parse_responses(data):
    """Split raw HTTP/1.1 response bytes into [(status, headers, body)]. Bodies framed by
    Content-Length or chunked; anything else runs to the end."""
    out = []
    i = 0
    while i < len(data):
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            break
        head = data[i:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            break
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
        i = end + 4
        body = b""
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif "content-length" in headers:
            n = int(headers["content-length"][0])
            body = data[i:i + n]
            i += n
        elif "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
            while True:
                le = data.find(b"\r\n", i)
                if le < 0:
                    i = len(data)
                    break
                n = int(data[i:le].split(b";")[0], 16)
                i = le + 2
                if n == 0:
                    te = data.find(b"\r\n\r\n", i - 2)
                    i = (te + 4) if te >= 0 else len(data)
                    break
                body += data[i:i + n]
                i += n + 2
        else:
            body = data[i:]
            i = len(data)
        out.append((status, headers, body))
    return out


# --------------------------------------------------------------------------- running

def print_logs():
    for label, path in _LOGS:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = text.splitlines()
        print("----- log of %s (%s), last %d of %d lines -----" % (
            label, path, min(len(lines), 300), len(lines)), file=sys.stderr)
        print("\n".join(lines[-300:]), file=sys.stderr)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


# valgrind's summary at exit (--quiet prints it only when there are errors).
VALGRIND_ERRORS = re.compile(r"==\d+== ERROR SUMMARY: [1-9]")


def sanitizer_reports():
    """[(label, path)] of every log holding a sanitizer report (they appear at exit too)."""
    out = []
    for label, path in _LOGS:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if any(m in text for m in SANITIZER_MARKS) or VALGRIND_ERRORS.search(text):
            out.append((label, path))
    return out


def cleanup():
    for e in _ENVS:
        e.close()
    for e in _ENVS:
        shutil.rmtree(e.dir, ignore_errors=True)


def main():
    """Run the unittest cases of the calling script; print "N passed, N failed"; exit 0 / 1."""
    missing = [b for b in (FNGATE_BIN, BACKEND_BIN) if not os.access(b, os.X_OK)]
    if missing:
        print("missing binaries: %s" % ", ".join(missing), file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    # ctest's timeout (SIGTERM) or Ctrl-C must still stop every process group we started.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    atexit.register(lambda: [e.close() for e in _ENVS])
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    # Count tests, not sub-tests: a test with failing sub-tests is one failed test.
    failed_ids = set()
    for test, _ in result.failures + result.errors:
        failed_ids.add(getattr(test, "test_case", test).id())
    for test in result.unexpectedSuccesses:
        failed_ids.add(test.id())
    failed = len(failed_ids)
    passed = max(0, result.testsRun - len([i for i in failed_ids if "setUpClass" not in i])
                 - len(result.skipped))
    try:
        for e in _ENVS:
            e.close()
        # A sanitizer report in any process (leaks show at exit) fails the run.
        reports = sanitizer_reports()
        for label, path in reports:
            print("sanitizer report in the log of %s (%s)" % (label, path), file=sys.stderr)
        if reports:
            failed += 1
        if failed:
            print_logs()
    finally:
        if failed and os.environ.get("FNGATE_IT_KEEP"):
            print("kept: %s" % " ".join(e.dir for e in _ENVS), file=sys.stderr)
        else:
            cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


class GatewayCase(unittest.TestCase):
    """Assertions shared by the test files."""
    maxDiff = 4000

    def assertDenied(self, r, reason, status=403):
        """A refusal: the status, a JSON body whose "error" is `reason` (or one of a tuple)."""
        self.assertEqual(r.status, status, "expected %d %s, got %r" % (status, reason, r))
        try:
            body = r.json()
        except ValueError:
            self.fail("refusal body is not JSON: %r" % r.body[:300])
        reasons = reason if isinstance(reason, tuple) else (reason,)
        self.assertIn(body.get("error"), reasons, "body %r" % body)
        ct = r.header("content-type") or ""
        self.assertTrue(ct.startswith("application/json"), "content-type %r" % ct)
        return body

    def assertForwarded(self, r, backend_name=None):
        """A 200 produced by the demo backend; returns what the backend saw (its JSON)."""
        self.assertEqual(r.status, 200, "expected 200 from the upstream, got %r" % r)
        seen = r.json()
        if backend_name is not None:
            self.assertEqual(seen.get("name"), backend_name)
        return seen


def curl_multi(urls, args=(), timeout=30):
    """One curl process, several URLs (curl reuses the connection when it can).
    Returns ([status per URL], curl's stderr); pass "-v" in args to see connection reuse."""
    argv = ["curl", "-s", "--max-time", str(timeout), "-w", "%{http_code}\\n"] + list(args)
    for u in urls:
        argv += ["-o", os.devnull, u]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    statuses = [int(x) for x in p.stdout.decode().split() if x.isdigit()]
    return statuses, p.stderr
