"""hostile_util.py - helpers of the hostile-peer, exhaustion and signal tests on top of fngate_it:
a raw-socket fake upstream that misbehaves on demand, /proc sampling of a process (RSS,
descriptors, CPU time), descriptor limits, raw HTTP/1.1 clients that trickle or never read.

Python 3 standard library only."""

import os
import resource
import select
import socket
import threading
import time

import fngate_it as it

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- /proc sampling

def rss_kb(pid):
    """Resident set size of pid in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    """Open descriptors of pid."""
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_s(pid):
    """utime + stime of pid (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def raise_nofile(n):
    """Raise our soft descriptor limit to n (bounded by the hard limit); children inherit it.
    Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------- configurations

def basic_conf(env, upstream_url, port=None, private_url=None, key=None, limits=None,
               timeouts=None, **top):
    """One namespace "ns" with a public function at /pub and, when `key` is given, a private
    one at /priv (upstream private_url or upstream_url). limits/timeouts update the defaults."""
    fns = [it.function("pub", "pub", upstream_url, privacy="public", prefix="/pub")]
    keys = []
    if key is not None:
        keys = [key.conf()]
        fns.append(it.function("priv", "priv", private_url or upstream_url, prefix="/priv"))
    c = it.config(env, [it.namespace("ns", "ns", keys, fns)], port=port, **top)
    if limits:
        c["limits"].update(limits)
    if timeouts:
        c["timeouts"].update(timeouts)
    return c


# --------------------------------------------------------------------------- a fake upstream

class FakeUpstream:
    """A raw-socket HTTP/1.1 server in threads. For each request it reads the head (and a
    Content-Length body) and calls handler(sock, path, head, body); the handler writes whatever
    it wants and returns True to read a next request on the connection, False to close it.
    Every request head received is recorded (so a test can say what reached the upstream)."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.heads = []
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def paths(self):
        with self.lock:
            return [h.split(b" ", 2)[1].decode("latin-1") for h in self.heads]

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        buf = b""
        try:
            while not self.stopping:
                head, buf = it.recv_head(s, buf)
                if head is None:
                    return
                with self.lock:
                    self.heads.append(head)
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v.strip())
                    elif k.strip().lower() == b"transfer-encoding":
                        # fngate re-chunks: read to the last chunk (tests send small bodies).
                        while b"\r\n0\r\n\r\n" not in b"\r\n" + buf:
                            d = s.recv(65536)
                            if not d:
                                return
                            buf += d
                        end = (b"\r\n" + buf).index(b"\r\n0\r\n\r\n") + 5
                        buf = buf[end:]
                while len(buf) < n:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                body, buf = buf[:n], buf[n:]
                path = head.split(b" ", 2)[1].decode("latin-1")
                if not self.handler(s, path, head, body):
                    return
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def response(status=200, body=b"ok", headers=(), reason="OK"):
    """A well-formed response with Content-Length."""
    h = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason, len(body))
    for x in headers:
        h += x + "\r\n"
    return h.encode() + b"\r\n" + body


# --------------------------------------------------------------------------- raw clients

def request_bytes(path, host="gw", headers=(), body=None, method=None, close=False):
    method = method or ("POST" if body is not None else "GET")
    h = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host)
    for x in headers:
        h += x + "\r\n"
    if body is not None:
        h += "Content-Length: %d\r\n" % len(body)
    if close:
        h += "Connection: close\r\n"
    return h.encode() + b"\r\n" + (body or b"")


def read_response(s, timeout=5.0):
    """Read one response from a keep-alive socket (Content-Length or chunked framing).
    Returns (status, headers, body, complete); complete False when the peer closed or the time
    ran out before the framing said the response ended."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout

    def more():
        nonlocal buf
        if time.time() > deadline:
            return False
        try:
            d = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return False
        if not d:
            return False
        buf += d
        return True

    while b"\r\n\r\n" not in buf:
        if not more():
            return None, {}, buf, False
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    buf = rest
    if status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", True
    if "content-length" in headers:
        n = int(headers["content-length"][0])
        while len(buf) < n:
            if not more():
                return status, headers, buf, False
        return status, headers, buf[:n], True
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        body = b""
        while True:
            while b"\r\n" not in buf:
                if not more():
                    return status, headers, body, False
            line, rest = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(rest) < size + 2:
                buf = line + b"\r\n" + rest
                if not more():
                    return status, headers, body, False
                line, rest = buf.split(b"\r\n", 1)
            if size == 0:
                return status, headers, body, True
            body += rest[:size]
            buf = rest[size + 2:]
    # close-delimited
    while more():
        pass
    return status, headers, buf, True


def get(port, path, headers=(), timeout=5.0):
    """One request on a fresh connection: (status, body) or (0, b"") on failure."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return 0, b""
    try:
        s.sendall(request_bytes(path, headers=headers, close=True))
        st, _, body, complete = read_response(s, timeout)
        return (st or 0), body if complete else b""
    except OSError:
        return 0, b""
    finally:
        s.close()


def peer_closed(s, timeout=3.0):
    """True when the peer closes s (EOF or reset) within timeout; data read meanwhile is dropped."""
    deadline = time.time() + timeout
    s.settimeout(0.2)
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not d:
            return True
    return False


class Trickler:
    """n client connections that each send a request head one byte at a time, every `period`
    seconds (slowloris). The head never ends within the test."""

    HEAD = b"GET /pub/slow HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"a" * 4000

    def __init__(self, port, n, period=1.0):
        self.socks = []
        self.pos = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            self.socks.append(s)
            self.pos.append(0)
        self.period = period
        self.closed = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            t0 = time.time()
            for i, s in enumerate(self.socks):
                if s is None:
                    continue
                try:
                    s.send(self.HEAD[self.pos[i]:self.pos[i] + 1])
                    self.pos[i] = (self.pos[i] + 1) % len(self.HEAD)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    s.close()
                    self.socks[i] = None
                    self.closed += 1
            self.stop_ev.wait(max(0.0, self.period - (time.time() - t0)))

    def alive(self):
        """Connections fngate has not closed: a readable socket means a 408 or EOF arrived."""
        socks = [s for s in self.socks if s is not None]
        p = select.poll()
        for s in socks:
            p.register(s, select.POLLIN)
        # poll, not select: descriptors here go beyond FD_SETSIZE.
        return len(socks) - len(p.poll(0))

    def close(self):
        self.stop_ev.set()
        self.t.join(5)
        for s in self.socks:
            if s is not None:
                s.close()
        self.socks = []


def memory_bound(limit):
    """A memory bound measured from /proc, or None in a sanitizer build: there freed memory waits
    in ASan's quarantine and every allocation has shadow memory and redzones, so the figure says
    nothing about fngate. The plain build's run of the same test checks the bound; the sanitizer
    run still checks that fngate stays up and behaves."""
    return None if os.environ.get("FNGATE_SANITIZER") else limit
