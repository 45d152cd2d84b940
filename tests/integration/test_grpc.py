#!/usr/bin/env python3
"""test_grpc.py - gRPC functions (issue 14): a function with "upstream_protocol": "h2c" is
reached over HTTP/2 with prior knowledge (src/h2up.c), so gRPC calls pass through fngate with
their streaming, status and trailers. Black-box: a real fngate, a real gRPC server (grpcio,
generic handlers with raw bytes, no protoc) on loopback as the function's upstream, and a real
grpcio client on fngate's plain listener (h2c with prior knowledge).

Covered: unary, server-streaming, client-streaming and bidi calls on a private function with a
valid token; a call without a token refused before the upstream (HTTP 403, a non-OK gRPC
status); a NOT_FOUND status with its details set by the server (trailers); 2 MiB messages both
ways; 60 concurrent calls multiplexed on few upstream connections; an upstream that is down
(UNAVAILABLE, fngate stays up); trailers seen frame by frame with python3-h2, and as HTTP/1.1
chunked trailers by an HTTP/1.1 client; the identity fields and the credential's absence
upstream; an HTTP/1.1 upstream's chunked trailers passed on; a silent upstream (504,
UNAVAILABLE); an upstream GOAWAY whose unprocessed stream is retried on a new connection; a
client that does not read holding back the upstream (backpressure); an Upgrade sent as a plain
request; an HTTP/1.1 public function beside it unaffected.

Tokens: minted here with the test key (it.mint), Scaleway layout, namespace-wide
(namespace_id NS), valid an hour.

What it needs, installed here when missing (the test fails, never skips, when it cannot be):
python3-grpcio and python3-h2 (Debian).
"""

import concurrent.futures
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import tls_util  # noqa: E402


# Debian's packages live in its dist-packages, which a python3 other than Debian's own (pyenv,
# a virtualenv) does not search; grpcio is compiled for Debian's python3, so when this one
# cannot load it the test runs again under /usr/bin/python3.
DEBIAN_DIST = "/usr/lib/python3/dist-packages"
if not os.path.isdir(os.path.join(DEBIAN_DIST, "grpc")):
    it.apt_install("python3-grpcio")
if not os.path.isdir(os.path.join(DEBIAN_DIST, "h2")):
    it.apt_install("python3-h2")
try:
    import grpc  # noqa: E402
    import h2.connection  # noqa: E402
except ImportError:
    sys.path.append(DEBIAN_DIST)
    try:
        import grpc  # noqa: E402,F811
        import h2.connection  # noqa: E402,F811
    except ImportError:
        if sys.executable != "/usr/bin/python3" and os.access("/usr/bin/python3", os.X_OK):
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        raise
import h2.config  # noqa: E402
import h2.events  # noqa: E402

NS = "0b5e0000-0000-4000-8000-000000001414"
FN_GRPC = "0f000000-0000-4000-8000-000000001414"
FN_DOWN = "0f000000-0000-4000-8000-000000001415"
FN_PUB = "0f000000-0000-4000-8000-000000001416"
FN_SLOW = "0f000000-0000-4000-8000-000000001417"
FN_H1T = "0f000000-0000-4000-8000-000000001418"
FN_GOAWAY = "0f000000-0000-4000-8000-000000001419"
FN_VANISH = "0f000000-0000-4000-8000-00000000141a"
FN_TLS = "0f000000-0000-4000-8000-00000000141b"
FN_TLS_BADCA = "0f000000-0000-4000-8000-00000000141c"
FN_TLS_H1 = "0f000000-0000-4000-8000-00000000141d"
FN_MTLS = "0f000000-0000-4000-8000-00000000141e"
FN_MTLS_NOCERT = "0f000000-0000-4000-8000-00000000141f"
BIG = 2 * 1024 * 1024
OPTS = [("grpc.enable_http_proxy", 0), ("grpc.max_receive_message_length", 16 << 20),
        ("grpc.max_send_message_length", 16 << 20)]


class Upstream:
    """The gRPC server: a service "test.Svc" of four methods on raw bytes. It records the
    metadata of each call and the peers (client address:port: one per TCP connection)."""

    def __init__(self, port, tls=None, client_ca=None):
        """tls: (certificate, key) files: served over TLS (h2 by ALPN), else h2c; client_ca:
        a CA file whose client certificate the handshake then requires (mTLS)."""
        self.lock = threading.Lock()
        self.calls = 0
        self.produced = 0
        self.peers = {}         # tag -> set of peers
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=80),
                                  options=OPTS)
        h = grpc.method_handlers_generic_handler("test.Svc", {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
        })
        self.server.add_generic_rpc_handlers((h,))
        if tls is None:
            self.server.add_insecure_port("127.0.0.1:%d" % port)
        else:
            with open(tls[0], "rb") as c, open(tls[1], "rb") as k:
                pair = [(k.read(), c.read())]
            if client_ca is None:
                creds = grpc.ssl_server_credentials(pair)
            else:
                with open(client_ca, "rb") as f:
                    creds = grpc.ssl_server_credentials(pair, root_certificates=f.read(),
                                                        require_client_auth=True)
            self.server.add_secure_port("127.0.0.1:%d" % port, creds)
        self.server.start()

    def seen(self, ctx, tag=None):
        with self.lock:
            self.calls += 1
            if tag:
                self.peers.setdefault(tag, set()).add(ctx.peer())

    def unary(self, req, ctx):
        md = dict(ctx.invocation_metadata())
        tag = md.get("x-tag")
        self.seen(ctx, tag)
        if req == b"notfound":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: widget 7")
        if req.startswith(b"sleep:"):
            time.sleep(float(req[6:]))
            return b"slept"
        if req.startswith(b"big:"):
            return bytes([65 + i % 26 for i in range(int(req[4:]))])
        if tag:
            time.sleep(0.2)     # held open: concurrent calls overlap
        if len(req) > 1024:
            return json.dumps({"len": len(req), "sha": hashlib.sha256(req).hexdigest()}).encode()
        ctx.set_trailing_metadata((("x-upstream-trailer", "t1"),))
        return json.dumps({"req": req.decode(), "md": md}).encode()

    def server_stream(self, req, ctx):
        self.seen(ctx)
        if req.startswith(b"flood:"):
            # 64 KiB messages, counted as the server produces them (backpressure)
            for i in range(int(req[6:])):
                with self.lock:
                    self.produced = i + 1
                yield b"z" * 65536
            return
        for i in range(int(req)):
            yield b"item-%d" % i

    def client_stream(self, it_req, ctx):
        self.seen(ctx)
        n = total = 0
        for m in it_req:
            n += 1
            total += len(m)
        return b"%d messages, %d bytes" % (n, total)

    def bidi(self, it_req, ctx):
        self.seen(ctx)
        for m in it_req:
            yield b"echo:" + m

    def stop(self):
        self.server.stop(0)


class LoopbackServer:
    """A raw TCP server on a free loopback port: each accepted connection (counted in conns,
    numbered from 1) goes to serve(sock, n) on a thread of its own."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(s, self.conns), daemon=True).start()


class Http1TrailerUpstream(LoopbackServer):
    """An HTTP/1.1 upstream answering every request with a chunked body and trailers (one
    allowed, one that may not be a trailer), then closing."""

    @staticmethod
    def serve(s, n):
        it.recv_head(s)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                  b"X-Checksum: abc123\r\nContent-Length: 99\r\n\r\n")
        s.close()


class H2Upstream(LoopbackServer):
    """A raw HTTP/2 upstream (python3-h2): each request of connection n (its number) goes to
    request(c, stream_id, path, n, state), state being the connection's own dict; a request()
    that returns False makes it close the socket at once (no GOAWAY, no answer)."""

    @staticmethod
    def respond(c, sid, body):
        c.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
        c.send_data(sid, body, end_stream=True)

    def serve(self, s, n):
        c = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        state = {}
        while True:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived) and self.request(
                        c, ev.stream_id, dict(ev.headers).get(":path", ""), n, state) is False:
                    s.close()
                    return
            s.sendall(c.data_to_send())


class GoawayUpstream(H2Upstream):
    """On its first connection it holds the first request until a second one arrives, answers
    the first, then sends GOAWAY with the first's id as the last processed; every later
    connection answers at once ("retried"). A path ending in /reset-early is reset before its
    head, /reset-late after its head and a piece of body; a /redirect is answered 302 at once."""

    def request(self, c, sid, path, n, state):
        if path.endswith("/reset-late"):
            # a head and part of a body, then RST_STREAM
            c.send_headers(sid, [(":status", "200")])
            c.send_data(sid, b"partial")
            c.reset_stream(sid, error_code=2)
        elif path.endswith("/reset-early"):
            c.reset_stream(sid, error_code=2)
        elif path.endswith("/redirect"):
            # a redirect into the upstream's path space, its own request id and a framing
            # field's '_' alias (test_16)
            c.send_headers(sid, [
                (":status", "302"), ("location", "/next?a=1"), ("refresh", "0; url=/after"),
                ("x-request-id", "upstream-id"), ("content_length", "999"),
                ("content-length", "0")], end_stream=True)
        elif n > 1:
            self.respond(c, sid, b"retried")
        else:
            held = state.setdefault("held", [])
            held.append(sid)
            if len(held) == 2:
                self.respond(c, held[0], b"first")
                c.close_connection(last_stream_id=held[0])


class VanishUpstream(H2Upstream):
    """Answers every request at once with the number of its connection, except that a /vanish
    request on a connection that answered before, and any /vanish-always request, make it close
    the socket without GOAWAY or answer."""

    def request(self, c, sid, path, n, state):
        if path.endswith("/vanish-always") or (path.endswith("/vanish") and state.get("answered")):
            return False
        self.respond(c, sid, b"conn %d" % n)
        state["answered"] = True
        return True


class GRPC(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("grpc")
        cls.key = env.key("grpc", "rsa-pkcs1")
        cls.backend = env.backend("grpc-pub")
        cls.up_port = it.free_port()
        cls.up = Upstream(cls.up_port)
        cls.h1t = Http1TrailerUpstream()
        cls.goaway = GoawayUpstream()
        cls.vanish = VanishUpstream()
        # h2 over TLS: the gRPC server with a certificate of a test CA; an https endpoint that
        # speaks HTTP/1.1 only (no ALPN h2)
        pki = tls_util.PKI(env.dir)
        crt, key = pki.issue("grpc-up", "127.0.0.1", ["IP:127.0.0.1"])
        cls.tls_port = it.free_port()
        cls.tls_up = Upstream(cls.tls_port, tls=(crt, key))
        cls.h1_tls = tls_util.TLSUpstream(crt, key)
        # mTLS: a server that requires a client certificate of the same CA
        client = pki.issue("grpc-client", "fngate-client")
        cls.mtls_port = it.free_port()
        cls.mtls_up = Upstream(cls.mtls_port, tls=(crt, key), client_ca=pki.crt)
        cls.port = it.free_port()
        down = "http://127.0.0.1:%d" % it.free_port()
        fns = [it.function(FN_GRPC, "grpc", "http://127.0.0.1:%d" % cls.up_port,
                           privacy="private", prefix="/test.Svc", strip_prefix=False,
                           upstream_protocol="h2c"),
               it.function(FN_DOWN, "down", down, privacy="public", prefix="/down.Svc",
                           strip_prefix=False, upstream_protocol="h2c"),
               it.function(FN_PUB, "pub", cls.backend.url, privacy="public", prefix="/pub"),
               it.function(FN_SLOW, "slow", "http://127.0.0.1:%d/test.Svc" % cls.up_port,
                           privacy="public", prefix="/slow.Svc", upstream_protocol="h2c",
                           timeouts={"upstream_response_ms": 1000}),
               it.function(FN_H1T, "h1t", "http://127.0.0.1:%d" % cls.h1t.port,
                           privacy="public", prefix="/h1t"),
               it.function(FN_GOAWAY, "goaway", "http://127.0.0.1:%d" % cls.goaway.port,
                           privacy="public", prefix="/goaway", upstream_protocol="h2c"),
               it.function(FN_VANISH, "vanish", "http://127.0.0.1:%d" % cls.vanish.port,
                           privacy="public", prefix="/vanish", upstream_protocol="h2c"),
               it.function(FN_TLS, "tls", "https://127.0.0.1:%d" % cls.tls_port,
                           privacy="private", prefix="/tlsgw", upstream_protocol="h2",
                           upstream_tls={"ca": pki.crt}),
               it.function(FN_TLS_BADCA, "tlsbad", "https://127.0.0.1:%d" % cls.tls_port,
                           privacy="public", prefix="/tlsbad", upstream_protocol="h2"),
               it.function(FN_TLS_H1, "tlsh1", cls.h1_tls.url(), privacy="public",
                           prefix="/tlsh1", upstream_protocol="h2",
                           upstream_tls={"ca": pki.crt}),
               it.function(FN_MTLS, "mtls", "https://127.0.0.1:%d" % cls.mtls_port,
                           privacy="public", prefix="/mtls", upstream_protocol="h2",
                           upstream_tls={"ca": pki.crt, "cert": client[0], "key": client[1]}),
               it.function(FN_MTLS_NOCERT, "mtlsno", "https://127.0.0.1:%d" % cls.mtls_port,
                           privacy="public", prefix="/mtlsno", upstream_protocol="h2",
                           upstream_tls={"ca": pki.crt})]
        conf = it.config(env, [it.namespace(NS, "grpcns", [cls.key.conf()], fns)], port=cls.port,
                         workers=1)
        conf["limits"]["max_tunnels"] = 1     # test_15: a slot held past its request refuses the next
        cls.admin_port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = env.fngate(conf)
        cls.token = it.mint(cls.key, it.scw_claims(namespace_id=NS))
        cls.md = (("x-auth-token", cls.token),)
        cls.chan = grpc.insecure_channel("127.0.0.1:%d" % cls.port, options=OPTS)

    @classmethod
    def tearDownClass(cls):
        cls.tls_up.stop()
        cls.mtls_up.stop()
        cls.h1_tls.close()
        cls.chan.close()
        cls.up.stop()
        cls.env.close()

    def unary(self, req, md=None, path="/test.Svc/Unary", timeout=20):
        return self.chan.unary_unary(path)(req, metadata=self.md if md is None else md,
                                          timeout=timeout)

    def test_01_unary_with_identity(self):
        out, call = self.chan.unary_unary("/test.Svc/Unary").with_call(
            b"hello", metadata=self.md + (("x-request-id", "grpc-req-1"),), timeout=20)
        seen = json.loads(out)
        self.assertEqual(seen["req"], "hello")
        md = seen["md"]
        # the credential stays at the gate; fngate's identity fields reach the function
        self.assertNotIn("x-auth-token", md)
        self.assertEqual(md.get("x-fngate-function"), FN_GRPC)
        self.assertEqual(md.get("x-fngate-namespace"), NS)
        self.assertEqual(md.get("x-fngate-credential"), "jwt")
        self.assertEqual(md.get("x-forwarded-for"), "127.0.0.1")
        self.assertEqual(md.get("x-request-id"), "grpc-req-1")
        # the server's trailing metadata passed (trailers)
        self.assertIn(("x-upstream-trailer", "t1"), tuple(call.trailing_metadata()))
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_02_streaming(self):
        items = list(self.chan.unary_stream("/test.Svc/ServerStream")(
            b"50", metadata=self.md, timeout=20))
        self.assertEqual(items, [b"item-%d" % i for i in range(50)])
        r = self.chan.stream_unary("/test.Svc/ClientStream")(
            iter([b"x" * 1000] * 40), metadata=self.md, timeout=20)
        self.assertEqual(r, b"40 messages, 40000 bytes")
        # bidi: each answer comes back before the next message is sent
        q = []
        ev = threading.Event()

        def gen():
            for i in range(20):
                q.append(b"m%d" % i)
                yield b"m%d" % i
                ev.wait(5)
                ev.clear()

        got = []
        for m in self.chan.stream_stream("/test.Svc/Bidi")(gen(), metadata=self.md, timeout=20):
            got.append(m)
            ev.set()
        self.assertEqual(got, [b"echo:" + m for m in q])

    def test_03_no_token_refused_before_upstream(self):
        before = self.up.calls
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary(b"hello", md=())
        self.assertIn(cm.exception.code(), (grpc.StatusCode.PERMISSION_DENIED,
                                            grpc.StatusCode.UNAUTHENTICATED,
                                            grpc.StatusCode.UNKNOWN), cm.exception)
        with self.assertRaises(grpc.RpcError):
            self.unary(b"hello", md=(("x-auth-token", "not.a.token"),))
        self.assertEqual(self.up.calls, before)

    def test_04_error_status_and_details(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary(b"notfound")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(cm.exception.details(), "no such thing: widget 7")

    def test_05_large_messages(self):
        out = self.unary(b"big:%d" % BIG)
        self.assertEqual(len(out), BIG)
        self.assertEqual(out, bytes([65 + i % 26 for i in range(BIG)]))
        req = os.urandom(BIG)
        seen = json.loads(self.unary(req))
        self.assertEqual(seen, {"len": BIG, "sha": hashlib.sha256(req).hexdigest()})
        # many large messages in a stream, each way
        r = self.chan.stream_unary("/test.Svc/ClientStream")(
            iter([b"y" * (1 << 20)] * 8), metadata=self.md, timeout=30)
        self.assertEqual(r, b"8 messages, %d bytes" % (8 << 20))

    def test_06_multiplexed(self):
        md = self.md + (("x-tag", "mux"),)
        with concurrent.futures.ThreadPoolExecutor(max_workers=60) as ex:
            futs = [ex.submit(self.unary, b"c%d" % i, md) for i in range(60)]
            outs = [json.loads(f.result()) for f in futs]
        self.assertEqual(sorted(o["req"] for o in outs), sorted("c%d" % i for i in range(60)))
        # 60 calls held open together: one worker, at most 100 streams per connection
        self.assertLessEqual(len(self.up.peers["mux"]), 2, self.up.peers["mux"])

    def test_07_upstream_down(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary(b"x", md=(), path="/down.Svc/Unary")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE, cm.exception)
        self.assertTrue(self.gw.proc.alive())
        self.assertEqual(json.loads(self.unary(b"after"))["req"], "after")

    def h2_call(self, msg, path="/test.Svc/Unary"):
        """A gRPC call written frame by frame (python3-h2): returns (headers, data, trailers)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        c = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        c.initiate_connection()
        c.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", path),
                           (":authority", "127.0.0.1:%d" % self.port),
                           ("content-type", "application/grpc"), ("te", "trailers"),
                           ("x-auth-token", self.token)])
        c.send_data(1, b"\0" + len(msg).to_bytes(4, "big") + msg, end_stream=True)
        s.sendall(c.data_to_send())
        heads, data, trailers = None, b"", None
        deadline = time.time() + 10
        done = False
        while not done and time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            for ev in c.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    heads = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers = dict(ev.headers)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(c.data_to_send())
        s.close()
        return heads, data, trailers

    def test_08_trailers_frame_by_frame(self):
        heads, data, trailers = self.h2_call(b"frames")
        self.assertEqual(heads[":status"], "200")
        self.assertTrue(heads["content-type"].startswith("application/grpc"), heads)
        self.assertIn("x-request-id", heads)
        self.assertEqual(json.loads(data[5:])["req"], "frames")
        self.assertIsNotNone(trailers, "no trailers")
        self.assertEqual(trailers.get("grpc-status"), "0", trailers)
        self.assertEqual(trailers.get("x-upstream-trailer"), "t1", trailers)
        heads, data, trailers = self.h2_call(b"notfound")
        # a status without a message: "trailers-only", the status in the head
        status = (trailers or {}).get("grpc-status") or heads.get("grpc-status")
        self.assertEqual(status, "5", (heads, trailers))

    def test_09_http1_client_gets_chunked_trailers(self):
        msg = b"\0" + (3).to_bytes(4, "big") + b"h11"
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /test.Svc/Unary HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/grpc\r\nTE: trailers\r\nConnection: TE\r\n"
                  b"X-Auth-Token: " + self.token.encode() + b"\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(msg) + msg)
        buf = b""
        while not buf.endswith(b"\r\n\r\n") or b"\r\n0\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), buf)
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        tail = rest[rest.index(b"\r\n0\r\n") + 5:].lower()
        self.assertIn(b"grpc-status: 0\r\n", tail)
        self.assertIn(b"x-upstream-trailer: t1\r\n", tail)

    def test_10_http1_function_unaffected(self):
        seen = self.assertForwarded(it.curl(self.gw.url("/pub/plain")), "grpc-pub")
        self.assertEqual(seen["uri"], "/plain")
        r = it.curl(self.gw.url("/pub/h2"), args=["--http2-prior-knowledge"])
        self.assertForwarded(r, "grpc-pub")


    def test_11_http1_upstream_trailers(self):
        # an HTTP/2 client gets an HTTP/1.1 upstream's trailers, without Content-Length
        heads, data, trailers = self.h2_call(b"", path="/h1t/x")
        self.assertEqual(heads[":status"], "200")
        self.assertEqual(data, b"hello")
        self.assertEqual(trailers, {"x-checksum": "abc123"})
        # and so does an HTTP/1.1 client, in its chunked body
        r = it.curl(self.gw.url("/h1t/y"), args=["--raw"])
        self.assertEqual(r.status, 200)
        self.assertIn(b"\r\n0\r\nX-Checksum: abc123\r\n\r\n", r.body)
        self.assertNotIn(b"99", r.body)

    def test_12_upstream_timeout(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary(b"sleep:3", md=(), path="/slow.Svc/Unary")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE, cm.exception)
        self.assertEqual(self.unary(b"sleep:0", md=(), path="/slow.Svc/Unary"), b"slept")
        time.sleep(0.3)
        recs = [a for a in self.gw.access_lines() if a.get("path") == "/slow.Svc/Unary"]
        self.assertEqual([a["status"] for a in recs], [504, 200], recs)
        self.assertEqual(recs[0]["reason"], "upstream_timeout")

    def test_13_goaway_retries_unprocessed_stream(self):
        out = {}

        def get(name):
            out[name] = it.curl(self.gw.url("/goaway/" + name))

        t1 = threading.Thread(target=get, args=("a",))
        t1.start()
        time.sleep(0.3)
        get("b")
        t1.join(10)
        self.assertEqual((out["a"].status, out["a"].body), (200, b"first"), out)
        self.assertEqual((out["b"].status, out["b"].body), (200, b"retried"), out)
        self.assertEqual(self.goaway.conns, 2)

    def test_13b_upstream_resets(self):
        # before the head: 502 upstream_closed; after it: the client's response is cut
        r = it.curl(self.gw.url("/goaway/reset-early"))
        self.assertDenied(r, "upstream_closed", status=502)
        r = it.curl(self.gw.url("/goaway/reset-late"))
        self.assertNotEqual(r.status, 502, r)
        self.assertIn(b"partial", r.body)
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", self.gw.url("/goaway/reset-late")])
        self.assertNotEqual(p.returncode, 0, "a cut response must not look complete to curl")
        heads, data, _ = self.h2_call(b"", path="/goaway/reset-late")
        self.assertEqual(heads[":status"], "200")
        time.sleep(0.3)
        recs = [a for a in self.gw.access_lines() if a.get("path", "").startswith("/goaway/reset")]
        self.assertEqual([a["reason"] for a in recs],
                         ["upstream_closed"] + ["upstream_closed_mid_response"] * 3, recs)

    def test_14_response_backpressure(self):
        # a client that does not read: fngate stops taking the stream's DATA, and the server
        # stops producing well before the end
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        c = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        c.initiate_connection()
        c.send_headers(1, [(":method", "POST"), (":scheme", "http"),
                           (":path", "/test.Svc/ServerStream"),
                           (":authority", "127.0.0.1:%d" % self.port),
                           ("content-type", "application/grpc"), ("te", "trailers"),
                           ("x-auth-token", self.token)])
        msg = b"flood:400"
        c.send_data(1, b"\0" + len(msg).to_bytes(4, "big") + msg, end_stream=True)
        s.sendall(c.data_to_send())
        time.sleep(2)
        produced = self.up.produced
        self.assertLess(produced, 200, "the server produced %d of 400 64 KiB messages" % produced)
        # reading now, the whole stream arrives with its status
        got, status = 0, None
        deadline = time.time() + 30
        while status is None and time.time() < deadline:
            data = s.recv(1 << 20)
            if not data:
                break
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    got += len(ev.data)
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    status = dict(ev.headers).get("grpc-status")
            s.sendall(c.data_to_send())
        s.close()
        self.assertEqual(status, "0")
        self.assertEqual(got, 400 * (65536 + 5))


    def test_16_response_fields_as_for_http1(self):
        # response_field, shared with HTTP/1.1 upstreams: the Location and Refresh of a
        # function whose prefix is stripped come back under it, fngate's X-Request-Id replaces
        # the upstream's, a framing field's '_' alias is dropped
        r = it.curl(self.gw.url("/goaway/redirect"))
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("location"), "/goaway/next?a=1", r)
        self.assertEqual(r.header("refresh"), "0; url=/goaway/after", r)
        self.assertNotEqual(r.header("x-request-id"), "upstream-id", r)
        self.assertEqual(len(r.headers.get("x-request-id", [])), 1, r)
        self.assertIsNone(r.header("content_length"), r)

    def test_17_close_without_goaway(self):
        """A connection closed without GOAWAY: a bodiless call on a connection that had
        answered before (the race with an idle close) is sent again on a new connection; a
        call with a body, or on a connection never proven, fails 502 upstream_closed."""
        r = it.curl(self.gw.url("/vanish/warm"))
        self.assertEqual((r.status, r.body), (200, b"conn 1"), r)
        r = it.curl(self.gw.url("/vanish/vanish"))
        self.assertEqual((r.status, r.body), (200, b"conn 2"), r)
        # connection 2 answered: a call with a body there is not sent twice
        r = it.curl(self.gw.url("/vanish/vanish"), method="POST", data=b"once")
        self.assertDenied(r, "upstream_closed", status=502)
        self.assertEqual(self.vanish.conns, 2)
        # connection 3 is new: its first call is not retried
        r = it.curl(self.gw.url("/vanish/vanish-always"))
        self.assertDenied(r, "upstream_closed", status=502)
        self.assertEqual(self.vanish.conns, 3)

    def h2c_gauges(self):
        """{family: value} of the h2c pool gauges of the gRPC upstream's endpoint."""
        text = it.curl("http://127.0.0.1:%d/metrics" % self.admin_port).body.decode()
        label = '{upstream="127.0.0.1:%d"} ' % self.up_port
        out = {}
        for name in ("fngate_upstream_idle_connections", "fngate_upstream_h2_connections",
                     "fngate_upstream_h2_streams"):
            for line in text.splitlines():
                if line.startswith(name + label):
                    out[name] = float(line.rsplit(" ", 1)[1])
        return out

    def test_18_pool_gauges(self):
        # three calls held 1.5 s: counted as streams of the endpoint's h2c connection(s)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
            futs = [ex.submit(self.unary, b"sleep:1.5") for _ in range(3)]
            time.sleep(0.7)
            during = self.h2c_gauges()
            self.assertEqual([f.result() for f in futs], [b"slept"] * 3)
        self.assertEqual(during.get("fngate_upstream_h2_streams"), 3, during)
        self.assertGreaterEqual(during.get("fngate_upstream_h2_connections", 0), 1, during)
        after = self.h2c_gauges()
        self.assertEqual(after.get("fngate_upstream_h2_streams"), 0, after)
        conns = after.get("fngate_upstream_h2_connections", 0)
        self.assertGreaterEqual(conns, 1, after)
        self.assertEqual(after.get("fngate_upstream_idle_connections"), conns, after)

    def test_19_h2_over_tls(self):
        """An https endpoint with "upstream_protocol": "h2": TLS verified against the
        function's CA, h2 by ALPN, the gate first; unary and streaming calls through it."""
        out = json.loads(self.unary(b"over tls", path="/tlsgw/test.Svc/Unary"))
        self.assertEqual(out["req"], "over tls")
        items = list(self.chan.unary_stream("/tlsgw/test.Svc/ServerStream")(
            b"5", metadata=self.md, timeout=20))
        self.assertEqual(items, [b"item-%d" % i for i in range(5)])
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary(b"x", md=(), path="/tlsgw/test.Svc/Unary")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(self.tls_up.calls, 2)

    def test_19b_h2_over_tls_refusals(self):
        # a certificate the system store does not trust; an endpoint that does not choose h2
        calls = self.tls_up.calls
        for path in ("/tlsbad/test.Svc/Unary", "/tlsh1/test.Svc/Unary"):
            r = it.curl(self.gw.url(path), method="POST", data=b"x")
            self.assertDenied(r, "upstream_tls_failed", status=502)
        self.assertEqual(self.tls_up.calls, calls)
        self.assertEqual(self.h1_tls.connections(), 0)     # no request went to it

    def test_19c_h2_over_mtls(self):
        # the function's client certificate opens a server that requires one; without it, 502
        self.assertEqual(json.loads(self.unary(b"mtls", md=(), path="/mtls/test.Svc/Unary"))["req"],
                         "mtls")
        r = it.curl(self.gw.url("/mtlsno/test.Svc/Unary"), method="POST", data=b"x")
        self.assertDenied(r, "upstream_tls_failed", status=502)
        self.assertEqual(self.mtls_up.calls, 1)
        out = self.gw.proc.output()
        self.assertIn("certificate verification failed", out)
        self.assertIn("did not choose h2 by ALPN", out)

    def test_15_upgrade_goes_as_plain_request(self):
        # an Upgrade to an h2c function is sent as a plain request (HTTP/2 has no Upgrade):
        # whatever the upstream answers comes back, never a 101, and no tunnel slot stays held
        for _ in range(3):
            r = it.curl(self.gw.url("/test.Svc/Unary"), token=self.token,
                        headers=["Connection: Upgrade", "Upgrade: websocket",
                                 "Sec-WebSocket-Version: 13",
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
            self.assertNotIn(r.status, (0, 101), r)
            self.assertIsNotNone(r.header("x-request-id"), r)


if __name__ == "__main__":
    it.main()
