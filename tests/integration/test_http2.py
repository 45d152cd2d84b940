#!/usr/bin/env python3
"""test_http2.py - the HTTP/2 front end (issue 14), black-box against a real fngate and the demo
backend: curl --http2 over TLS (ALPN) and --http2-prior-knowledge (h2c) on a plain listener,
the gate on every stream, many streams on one connection (h2load), uploads, a slow reader that
must not stall another stream, raw-frame attacks with python3-h2 (rapid reset, CONTINUATION
flood, PING flood, too many streams, a header list too large), "http2": false, and a graceful
drain that sends GOAWAY and finishes the stream in flight.

Tokens: minted here with the test key (it.mint), Scaleway layout, namespace-wide
(namespace_id NS), valid an hour.

What it needs, installed here when missing (the test fails, never skips, when it cannot be):
nghttp2-client (h2load) and python3-h2.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402
import tls_util as tu  # noqa: E402


# python3-h2 is pure Python in Debian's dist-packages, which a python3 other than Debian's own
# (a virtualenv, pyenv) does not search.
DEBIAN_DIST = "/usr/lib/python3/dist-packages"
if not os.path.isdir(os.path.join(DEBIAN_DIST, "h2")):
    it.apt_install("python3-h2")
try:
    import h2.config  # noqa: E402
except ImportError:
    sys.path.append(DEBIAN_DIST)
import h2.config  # noqa: E402,F811
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import hpack  # noqa: E402
import hyperframe.frame as hf  # noqa: E402
if not os.access("/usr/bin/h2load", os.X_OK):
    it.apt_install("nghttp2-client")

NS = "0b5e0000-0000-4000-8000-000000001401"
FN_PRIV = "0f000000-0000-4000-8000-000000001401"
FN_PUB = "0f000000-0000-4000-8000-000000001402"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class H2Client:
    """A raw HTTP/2 client (python3-h2) on a plain socket: frames as the test writes them."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def events(self, until, timeout=5.0):
        """Read and collect events until until(events) is true, the peer closes, or timeout."""
        got = []
        deadline = time.time() + timeout
        while time.time() < deadline and not until(got):
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                got.append("reset")
                break
            if not data:
                got.append("eof")
                break
            try:
                got += self.conn.receive_data(data)
            except Exception as e:  # the server's GOAWAY may make h2 refuse further frames
                got.append(e)
                break
            self.flush()
        return got

    def close(self):
        self.sock.close()


class RawH2:
    """Frames written by hand (hyperframe, hpack), for what a well-behaved client library
    refuses to send: more streams than allowed, endless CONTINUATIONs, reset storms."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, port, timeout=5.0, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.enc = hpack.Encoder()
        self.buf = b""
        self.send(self.PREFACE + hf.SettingsFrame(0, settings=settings or {}).serialize())

    def send(self, data):
        self.sock.sendall(data)

    def headers(self, sid, path, end_stream=True, end_headers=True, extra=(), method="GET"):
        block = self.enc.encode([(":method", method), (":scheme", "http"), (":path", path),
                                 (":authority", "localhost")] + list(extra))
        f = hf.HeadersFrame(sid, data=block)
        f.flags = set((["END_STREAM"] if end_stream else []) +
                      (["END_HEADERS"] if end_headers else []))
        return f.serialize()

    def take_frames(self):
        """The whole frames waiting in the receive buffer, parsed, in order."""
        while len(self.buf) >= 9:
            f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            yield f

    def frames(self, until, timeout=5.0):
        """Frames received until until(frames) is true, the peer closes ("eof"), or timeout."""
        got = []
        deadline = time.time() + timeout
        while time.time() < deadline and not until(got):
            for f in self.take_frames():
                got.append(f)
                if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                    ack = hf.SettingsFrame(0)
                    ack.flags.add("ACK")
                    self.send(ack.serialize())
            if until(got):
                break
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                got.append("eof")
                break
            if not data:
                got.append("eof")
                break
            self.buf += data
        return got

    def close(self):
        self.sock.close()


def goaways(frames):
    return [f for f in frames if isinstance(f, hf.GoAwayFrame)]


def goaway(evs):
    return [e for e in evs if isinstance(e, h2.events.ConnectionTerminated)]


def closed(evs):
    return bool(goaway(evs)) or "eof" in evs or "reset" in evs


class HTTP2(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("http2")
        cls.pki = tu.PKI(env.dir)
        cls.cert = cls.pki.issue("a", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        cls.key = env.key("h2", "rsa-pkcs1")
        cls.backend = env.backend("h2-backend")
        cls.port = it.free_port()
        cls.tls_port = it.free_port()
        cls.off_port = it.free_port()
        cls.own_port = it.free_port()
        fns = [it.function(FN_PRIV, "priv", cls.backend.url, privacy="private", prefix="/priv"),
               it.function(FN_PUB, "pub", cls.backend.url, privacy="public", prefix="/pub")]
        conf = it.config(env, [it.namespace(NS, "h2ns", [cls.key.conf()], fns)], port=cls.port,
                         workers=1)
        conf["listen"] = ["127.0.0.1:%d" % cls.port,
                          {"address": "127.0.0.1:%d" % cls.tls_port,
                           "tls": {"cert": cls.cert[0], "key": cls.cert[1]}},
                          {"address": "127.0.0.1:%d" % cls.off_port, "http2": False},
                          {"address": "127.0.0.1:%d" % cls.own_port,
                           "http2": {"max_concurrent_streams": 10}}]
        conf["http2"] = {"max_concurrent_streams": 100, "max_resets_per_s": 50}
        conf["timeouts"]["client_idle_ms"] = 5000
        cls.admin = conf["admin"]["listen"]
        cls.gw = tu.start_fngate(env, conf, cls.port)
        it.wait_port(cls.tls_port, cls.gw.proc)
        it.wait_port(cls.off_port, cls.gw.proc)
        it.wait_port(cls.own_port, cls.gw.proc)
        cls.token = it.mint(cls.key, it.scw_claims(namespace_id=NS))

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def h2c(self, path, **kw):
        args = list(kw.pop("args", ())) + ["--http2-prior-knowledge"]
        return it.curl("http://127.0.0.1:%d%s" % (self.port, path), args=args, **kw)

    def h2tls(self, path, **kw):
        args = list(kw.pop("args", ())) + ["--http2", "--cacert", self.pki.crt]
        return it.curl("https://localhost:%d%s" % (self.tls_port, path), args=args, **kw)

    def metric(self, line_start):
        r = it.curl("http://%s/metrics" % self.admin)
        for line in r.body.decode().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        self.fail("no metric %s" % line_start)

    def assertMemoryBounded(self, before_kb):
        """fngate's resident memory grew less than 8 MB under an attack of tens of MB (a
        sanitizer build's figure says nothing: hu.memory_bound)."""
        bound = hu.memory_bound(8 * 1024)
        if bound is not None:
            self.assertLess(rss_kb(self.gw.proc.pid) - before_kb, bound)

    def assertHealthy(self):
        self.assertTrue(self.gw.proc.alive())
        r = self.h2c("/pub/after")
        self.assertForwarded(r)

    def test_01_prior_knowledge_public(self):
        r = self.h2c("/pub/hello")
        seen = self.assertForwarded(r)
        self.assertTrue(r.raw_headers.startswith("HTTP/2 200"), r.raw_headers)
        self.assertEqual(seen["uri"], "/hello")
        self.assertTrue(r.header("x-request-id"))

    def test_02_gate_on_every_stream(self):
        r = self.h2c("/priv/x")
        self.assertDenied(r, "token_missing")
        self.assertTrue(r.raw_headers.startswith("HTTP/2 403"), r.raw_headers)
        r = self.h2c("/priv/x", token=self.token)
        self.assertForwarded(r)
        r = self.h2c("/priv/x", token="not.a.token")
        self.assertDenied(r, "token_malformed")
        r = self.h2c("/nowhere")
        self.assertDenied(r, "no_route", status=404)

    def test_03_tls_alpn(self):
        r = self.h2tls("/priv/tls", token=self.token)
        seen = self.assertForwarded(r)
        self.assertTrue(r.raw_headers.startswith("HTTP/2 200"), r.raw_headers)
        self.assertEqual(seen["headers"].get("x-forwarded-proto"), ["https"])
        r = self.h2tls("/priv/tls")
        self.assertDenied(r, "token_missing")
        # HTTP/1.1 still offered by ALPN
        r = it.curl("https://localhost:%d/pub/one" % self.tls_port,
                    args=["--http1.1", "--cacert", self.pki.crt])
        self.assertForwarded(r)
        self.assertTrue(r.raw_headers.startswith("HTTP/1.1 200"), r.raw_headers)

    def test_04_upload(self):
        body = it.pattern(3 * 1024 * 1024 + 17)
        r = self.h2c("/priv/upload", token=self.token, method="POST", data=body,
                     headers=["Content-Type: application/octet-stream"])
        seen = self.assertForwarded(r)
        self.assertEqual(seen.get("body_bytes"), len(body), seen)
        self.assertEqual(seen.get("body_sha256"), it.sha256_hex(body), seen)
        # unknown length (no content-length: curl sends chunked-style streaming upload)
        r = self.h2c("/priv/upload2", token=self.token, method="POST", data=body[:100000],
                     headers=["Transfer-Encoding:", "Content-Length:"])
        seen = self.assertForwarded(r)
        self.assertEqual(seen.get("body_bytes"), 100000, seen)

    def test_05_many_streams(self):
        p = subprocess.run(["h2load", "-n1000", "-c4", "-m20", "-H", "X-Auth-Token: " + self.token,
                            "http://127.0.0.1:%d/priv/load" % self.port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode()
        self.assertIn("1000 succeeded, 0 failed, 0 errored", out, out)
        self.assertIn("status codes: 1000 2xx", out, out)
        # and the gate holds on each of them
        p = subprocess.run(["h2load", "-n200", "-c2", "-m20",
                            "http://127.0.0.1:%d/priv/load" % self.port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode()
        self.assertIn("status codes: 0 2xx, 0 3xx, 200 4xx", out, out)

    def test_06_http2_off(self):
        r = it.curl("http://127.0.0.1:%d/pub/x" % self.off_port, args=["--http2-prior-knowledge"])
        self.assertNotEqual(r.status, 200)
        r = it.curl("http://127.0.0.1:%d/pub/x" % self.off_port)
        self.assertForwarded(r)

    def test_08_slow_reader_does_not_stall_others(self):
        """Stream 1 asks for 20 MB and never opens its window; stream 3 is answered at once,
        and fngate holds a bounded part of stream 1's body (its queue, not the 20 MB)."""
        before = rss_kb(self.gw.proc.pid)
        c = H2Client(self.port)
        hdrs = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost")]
        c.conn.send_headers(1, hdrs + [(":path", "/pub/_big?bytes=20000000")], end_stream=True)
        c.flush()
        slow = c.events(lambda evs: sum(len(e.data) for e in evs
                                        if isinstance(e, h2.events.DataReceived)) >= 60000)
        got = sum(len(e.data) for e in slow if isinstance(e, h2.events.DataReceived))
        # the connection window is given back, stream 1's is not
        c.conn.increment_flow_control_window(got)
        c.conn.send_headers(3, hdrs + [(":path", "/pub/fast")], end_stream=True)
        c.flush()
        t0 = time.time()
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 3
                                       for e in evs))
        self.assertTrue(any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 3
                            for e in evs), evs)
        self.assertLess(time.time() - t0, 3)
        resp = [e for e in evs if isinstance(e, h2.events.ResponseReceived) and e.stream_id == 3]
        self.assertEqual(dict(resp[0].headers)[":status"], "200")
        time.sleep(0.5)
        self.assertMemoryBounded(before)
        c.close()
        self.assertHealthy()

    def test_09_rapid_reset(self):
        r = RawH2(self.port)
        data = b""
        for i in range(1000):
            sid = 2 * i + 1
            data += r.headers(sid, "/pub/_slow?ms=1000") + hf.RstStreamFrame(sid, 8).serialize()
        try:
            r.send(data)
        except OSError:
            pass
        frames = r.frames(lambda fs: bool(goaways(fs)) or "eof" in fs, timeout=10)
        ga = goaways(frames)
        self.assertTrue(ga, frames[-5:])
        self.assertEqual(ga[0].error_code, 11)     # ENHANCE_YOUR_CALM
        r.close()
        self.assertHealthy()
        self.assertGreaterEqual(
            self.metric('fngate_http2_defences_total{defence="rapid_reset"}'), 1)
        self.assertGreaterEqual(self.metric("fngate_http2_connections_total"), 2)

    def test_10_continuation_flood(self):
        before = rss_kb(self.gw.proc.pid)
        r = RawH2(self.port)
        r.send(r.headers(1, "/pub/flood", end_headers=False))
        block = r.enc.encode([("x-flood-%d" % i, "v" * 4000) for i in range(4)])
        sent = 0
        try:
            for i in range(2000):
                r.send(hf.ContinuationFrame(1, data=block).serialize())
                sent += 1
        except OSError:
            pass
        frames = r.frames(lambda fs: bool(goaways(fs)) or "eof" in fs, timeout=10)
        self.assertTrue(goaways(frames), frames[-5:])
        r.close()
        self.assertMemoryBounded(before)
        self.assertHealthy()

    def test_11_ping_flood(self):
        before = rss_kb(self.gw.proc.pid)
        r = RawH2(self.port)
        r.sock.settimeout(5)
        ping = hf.PingFrame(0, opaque_data=b"12345678").serialize()
        try:
            for i in range(200):
                r.send(ping * 1000)
        except OSError:
            pass
        # the client never read: fngate either ended the session (too many acks unsent) or
        # stopped reading it; either way the connection goes, and memory stayed bounded
        self.assertMemoryBounded(before)
        frames = r.frames(lambda fs: bool(goaways(fs)) or "eof" in fs, timeout=15)
        self.assertTrue(goaways(frames) or "eof" in frames)
        r.close()
        self.assertHealthy()

    def test_12_too_many_streams(self):
        r = RawH2(self.port)
        r.frames(lambda fs: any(isinstance(f, hf.SettingsFrame) for f in fs), timeout=2)
        data = b""
        for i in range(130):
            data += r.headers(2 * i + 1, "/pub/_slow?ms=2000")
        r.send(data)
        # Our SETTINGS were acknowledged: going past them is a connection error
        # (PROTOCOL_ERROR, RFC 9113 5.1.2), and the streams it opened are dropped.
        frames = r.frames(lambda fs: bool(goaways(fs)) or "eof" in fs, timeout=5)
        ga = goaways(frames)
        self.assertTrue(ga, frames[-5:])
        self.assertEqual(ga[0].error_code, 1)
        self.assertIn(b"max concurrent streams", ga[0].additional_data)
        r.close()
        self.assertHealthy()

    def test_13_header_list_too_large(self):
        c = H2Client(self.port)
        hdrs = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"),
                (":path", "/pub/big-head"), ("x-big", "b" * 20000)]
        c.conn.send_headers(1, hdrs, end_stream=True)
        c.flush()
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs)
                       or closed(evs))
        resp = [e for e in evs if isinstance(e, h2.events.ResponseReceived)]
        self.assertTrue(resp, evs)
        self.assertEqual(dict(resp[0].headers)[":status"], "431")
        # the connection goes on
        c.conn.send_headers(3, hdrs[:4], end_stream=True)
        c.flush()
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
        resp = [e for e in evs if isinstance(e, h2.events.ResponseReceived)]
        self.assertEqual(dict(resp[0].headers)[":status"], "200")
        c.close()

    def test_14_drain_sends_goaway_and_finishes(self):
        """SIGTERM: GOAWAY with the last stream id; the stream in flight completes."""
        env = self.env
        port = it.free_port()
        fns = [it.function(FN_PUB, "pub", self.backend.url, privacy="public", prefix="/pub")]
        conf = it.config(env, [it.namespace(NS, "h2ns", [self.key.conf()], fns)], port=port,
                         workers=1)
        g = env.fngate(conf, name="drain.json")
        r = RawH2(port)
        r.send(r.headers(1, "/pub/_slow?ms=1500"))
        time.sleep(0.3)
        g.proc.signal(signal.SIGTERM)
        frames = r.frames(lambda fs: any(isinstance(f, hf.DataFrame) and "END_STREAM" in f.flags
                                         for f in fs) or "eof" in fs, timeout=10)
        ga = goaways(frames)
        self.assertTrue(ga, frames)
        self.assertEqual((ga[0].last_stream_id, ga[0].error_code), (1, 0))
        heads = [f for f in frames if isinstance(f, hf.HeadersFrame) and f.stream_id == 1]
        self.assertTrue(heads, frames)
        self.assertEqual(dict(hpack.Decoder().decode(heads[0].data))[":status"], "200")
        self.assertTrue(any(isinstance(f, hf.DataFrame) and "END_STREAM" in f.flags
                            for f in frames), frames)
        r.close()
        self.assertEqual(g.proc.wait(10), 0)

    def test_15_cookies_joined(self):
        """RFC 9113 8.2.3: crumbs of Cookie reach the HTTP/1.1 upstream as one field."""
        c = H2Client(self.port)
        c.conn.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                                (":authority", "localhost"), (":path", "/pub/cookies"),
                                ("cookie", "a=1"), ("x-other", "o"), ("cookie", "b=2"),
                                ("cookie", "c=3")], end_stream=True)
        c.flush()
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
        body = b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived))
        seen = json.loads(body)
        self.assertEqual(seen["headers"]["cookie"], ["a=1; b=2; c=3"])
        self.assertEqual(seen["headers"]["x-other"], ["o"])
        c.close()

    def test_16_settings(self):
        """The limits announced: the top-level block, and a listener's own over it."""
        def settings(port):
            r = RawH2(port)
            fs = r.frames(lambda fs: any(isinstance(f, hf.SettingsFrame) for f in fs), timeout=3)
            r.close()
            return [f for f in fs if isinstance(f, hf.SettingsFrame)][0].settings
        s = settings(self.port)
        self.assertEqual(s[hf.SettingsFrame.MAX_CONCURRENT_STREAMS], 100)
        self.assertEqual(s[hf.SettingsFrame.INITIAL_WINDOW_SIZE], 65535)
        self.assertEqual(s[hf.SettingsFrame.HEADER_TABLE_SIZE], 4096)
        self.assertEqual(s[hf.SettingsFrame.MAX_HEADER_LIST_SIZE], 16384)
        self.assertEqual(s[hf.SettingsFrame.ENABLE_PUSH], 0)
        s = settings(self.own_port)
        self.assertEqual(s[hf.SettingsFrame.MAX_CONCURRENT_STREAMS], 10)

    def test_17_stalled_streams_reset(self):
        """client_idle_ms (5 s here): a stream whose body never comes, and one whose response
        the client never lets through (a zero window), are reset with CANCEL; the connection
        and its other streams go on."""
        r = RawH2(self.port, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 0})
        r.send(r.headers(1, "/pub/_big?bytes=100000"))
        r.send(r.headers(3, "/pub/upload", method="POST", end_stream=False))
        t0 = time.time()
        frames = r.frames(lambda fs: len([f for f in fs if isinstance(f, hf.RstStreamFrame)]) >= 2
                          or "eof" in fs, timeout=12)
        rst = {f.stream_id: f.error_code for f in frames if isinstance(f, hf.RstStreamFrame)}
        self.assertEqual(rst, {1: 8, 3: 8}, frames[-5:])
        self.assertGreater(time.time() - t0, 4)
        self.assertFalse(goaways(frames))
        r.send(r.headers(5, "/pub/after-stall"))
        frames = r.frames(lambda fs: any(isinstance(f, hf.HeadersFrame) and f.stream_id == 5
                                         for f in fs), timeout=3)
        self.assertTrue(any(isinstance(f, hf.HeadersFrame) and f.stream_id == 5 for f in frames))
        r.close()
        time.sleep(0.3)
        recs = {a["path"]: a for a in self.gw.access_lines()
                if a.get("path") in ("/pub/_big?bytes=100000", "/pub/upload")}
        self.assertEqual(recs["/pub/upload"]["reason"], "client_timeout")
        self.assertGreaterEqual(
            self.metric('fngate_http2_defences_total{defence="stream_stalled"}'), 2)

    def test_18_same_refusals_as_http1(self):
        """The checks HTTP/1 makes on a head, made on a stream: same status, same reason."""
        for args, status, reason in (
                (["--path-as-is"], 400, "bad_target"),
                (["-H", "Expect: something"], 417, "expectation_failed"),
                (["-H", "X-Big: " + "b" * 20000], 431, "headers_too_large")):
            path = "/pub/../x" if "--path-as-is" in args else "/pub/x"
            r = self.h2c(path, args=args)
            self.assertDenied(r, reason, status=status)
        # CONNECT: no tunnels, 405 as on HTTP/1
        r = RawH2(self.port)
        f = hf.HeadersFrame(1, data=r.enc.encode([(":method", "CONNECT"),
                                                  (":authority", "example.com:443")]))
        f.flags = {"END_HEADERS"}
        r.send(f.serialize())
        frames = r.frames(lambda fs: any(isinstance(x, hf.HeadersFrame) for x in fs), timeout=3)
        heads = [x for x in frames if isinstance(x, hf.HeadersFrame)]
        self.assertTrue(heads, frames)
        self.assertEqual(dict(hpack.Decoder().decode(heads[0].data))[":status"], "405")
        r.close()
        # a field with '_' is dropped on its way upstream, as for HTTP/1
        seen = self.assertForwarded(self.h2c("/pub/u", headers=["X_Fngate_Namespace: forged"]))
        self.assertNotIn("x_fngate_namespace", seen["headers"])

    def test_07_access_log(self):
        self.h2c("/priv/logged")
        time.sleep(0.5)
        recs = [a for a in self.gw.access_lines() if a.get("path") == "/priv/logged"]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0]["status"], 403)
        self.assertEqual(recs[0]["reason"], "token_missing")
        self.assertEqual(recs[0]["protocol"], "HTTP/2.0")


if __name__ == "__main__":
    it.main()
