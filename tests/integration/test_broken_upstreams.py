#!/usr/bin/env python3
"""test_broken_upstreams.py - upstreams that misbehave (issue 6, "Hostile and broken peers"),
played by a raw-socket fake upstream: a head trickled a byte at a time (504 at
upstream_response_ms), a body that stalls, an endless body (relayed; fngate's memory bounded by
backpressure), malformed status lines and headers (502, nothing half-forwarded), lies about
Content-Length (shorter: the client connection is closed, never a "complete" response; longer:
the extra bytes never reach the next response), a close mid-body, a close before answering
(502), no answer (504); and the RESPONSE cases of the llhttp corpus
(../shared/vectors/llhttp/llhttp-tests.json) served as they are: strict-mode errors -> 502 or a
closed client connection, never a complete relayed response built from them; valid ones relayed."""

import base64
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402

RESPONSE_MS = 1500          # upstream_response_ms of the gateway under test
MARK = b"X-Half-Forwarded: yes"


def llhttp_response_cases():
    """The response cases of the corpus that say something about a strict reader."""
    out = []
    for i, t in enumerate(it.llhttp_vectors()):
        if not t["type"].startswith("response") or t["fixture_artifact"]:
            continue
        if t["type"] == "response-finish":
            continue        # a test of llhttp_finish() with no bytes of interest
        raw = base64.b64decode(t["raw_b64"])
        # llhttp's markdown fixtures end with the head's last header line: its test harness
        # counts a message completed there (messages_completed >= 1), so the empty line that
        # ends the head is part of the case. Add it when the head is otherwise unterminated.
        if (t["messages_completed"] >= 1 and raw.endswith(b"\r\n") and
                b"\r\n\r\n" not in raw.lstrip(b"\r\n")):
            raw += b"\r\n"
        elif (t["messages_completed"] >= 1 and raw.endswith(b"\r\n0\r\n")):
            raw += b"\r\n"    # the same for the last-chunk line of a chunked body
        out.append((i, t, raw))
    return out


CASES = {i: raw for i, t, raw in llhttp_response_cases()}

# Where llhttp 8.1 (Debian's, compiled into fngate) and the corpus (a later llhttp) differ, the
# behaviour fngate shows instead, checked as such. Keyed by the case's title.
def bad_transfer_coding(raw):
    """True when the response head has a Transfer-Encoding other than one bare "chunked"
    (several headers, other codings, an obs-fold continuing it). llhttp reads such a body to the
    close; fngate refuses it with 502 instead, as nginx does: relaying it would drop the coding."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    tes = []
    for i, line in enumerate(lines[1:], 1):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"transfer-encoding":
            folded = i + 1 < len(lines) and lines[i + 1][:1] in (b" ", b"\t")
            tes.append(b"?" if folded else value.strip().lower())
    return bool(tes) and tes != [b"chunked"]


KNOWN = {
}


def send_slowly(s, data, gap):
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(gap)


def handler(s, path, head, body):
    """The fake upstream's behaviours, chosen by the request path."""
    if path.startswith("/llhttp/"):
        s.sendall(CASES[int(path.split("/")[2])])
        time.sleep(0.05)
        return False
    if path == "/fold":
        s.sendall(b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nContent-Length: 2\r\n\r\nhi")
        return False
    if path == "/bare-cr":
        s.sendall(b"HTTP/1.1 200 OK\r\nX-A: one\rX-B: two\r\nContent-Length: 2\r\n\r\nhi")
        return False
    if path == "/ok":
        s.sendall(hu.response(body=b"fine"))
        return True
    if path == "/trickle-head":
        try:
            send_slowly(s, b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n\r\n", 0.1)
        except OSError:
            pass
        return False
    if path == "/stall-body":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100)
        time.sleep(RESPONSE_MS / 1000.0 * 3)
        return False
    if path == "/trickle-body":
        # A byte every 0.3 s: never a stall of upstream_response_ms; the client sees it stream.
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        try:
            send_slowly(s, b"0123456789", 0.3)
        except OSError:
            pass
        return True
    if path in ("/endless", "/endless-chunked"):
        chunked = path.endswith("chunked")
        s.sendall(b"HTTP/1.1 200 OK\r\n" +
                  (b"Transfer-Encoding: chunked\r\n" if chunked else b"") + b"\r\n")
        piece = it.pattern(65536)
        if chunked:
            piece = b"10000\r\n" + piece + b"\r\n"
        try:
            while True:
                s.sendall(piece)
        except OSError:
            pass
        return False
    if path == "/bad-status":
        s.sendall(b"HTTP/1.1 2OO OK\r\n" + MARK + b"\r\nContent-Length: 2\r\n\r\nhi")
        return False
    if path == "/bad-header":
        s.sendall(b"HTTP/1.1 200 OK\r\n" + MARK + b"\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nhi")
        return False
    if path == "/bad-header-late":
        # The error comes in a second packet after a plausible start.
        s.sendall(b"HTTP/1.1 200 OK\r\n" + MARK + b"\r\n")
        time.sleep(0.1)
        s.sendall(b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi")
        return False
    if path == "/cl-te":
        s.sendall(b"HTTP/1.1 200 OK\r\n" + MARK + b"\r\nContent-Length: 2\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        return False
    if path == "/bad-chunk":
        s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nZZ\r\nxx\r\n")
        time.sleep(0.5)
        return False
    if path == "/short":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"s" * 50)
        return False
    if path in ("/long", "/long-later"):
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"0123456789" +
                  (b"" if path == "/long-later" else
                   b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE"))
        if path == "/long-later":
            time.sleep(0.1)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE")
        return True     # keep the connection: whatever comes next gets "SECOND"
    if path == "/second":
        s.sendall(hu.response(body=b"SECOND"))
        return True
    if path == "/close-mid-body":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"m" * 300)
        return False
    if path == "/close-mid-chunked":
        s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        return False
    if path == "/close-early":
        return False
    if path == "/close-mid-head":
        s.sendall(b"HTTP/1.1 200 OK\r\n" + MARK + b"\r\nContent-Len")
        return False
    if path == "/silent":
        time.sleep(RESPONSE_MS / 1000.0 * 3)
        return False
    s.sendall(hu.response(404, b"unknown behaviour", reason="Not Found"))
    return True


class BrokenUpstreams(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("broken-upstreams")
        cls.fake = hu.FakeUpstream(handler)
        conf = hu.basic_conf(cls.env, cls.fake.url,
                             timeouts={"upstream_response_ms": RESPONSE_MS, "client_idle_ms": 4000})
        cls.gw = cls.env.fngate(conf)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.env.close()

    def exchange(self, path, timeout=8.0, extra=None):
        """One request on a fresh keep-alive connection: (status, headers, body, complete,
        closed, elapsed). status None: the connection closed before a response head. `extra`
        (a list) receives any bytes that came after the response."""
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=timeout)
        t0 = time.time()
        s.sendall(hu.request_bytes("/pub" + path))
        st, hdrs, body, complete = hu.read_response(s, timeout)
        el = time.time() - t0
        closed = not complete
        if complete:
            more = b""
            s.settimeout(0.5)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed = True
                        break
                    more += d
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
            if extra is not None:
                extra.append(more)
        s.close()
        return st, hdrs, body, complete, closed, el

    def assertCut(self, st, body, complete, closed, want_status, want_prefix):
        """A response that broke after its head: the client connection is closed and the
        response is not complete. What was queued but not yet written when the upstream failed
        may be dropped (the close is what tells the client), so the client sees either nothing
        or the head and a prefix of the body."""
        self.assertFalse(complete, "a cut response was presented as complete: %r" % body[:200])
        self.assertTrue(closed)
        if st is not None:
            self.assertEqual(st, want_status)
            self.assertTrue(want_prefix.startswith(body), "relayed body %r" % body[:200])

    def assertNothingHalfForwarded(self, st, hdrs, body):
        self.assertNotIn("x-half-forwarded", hdrs, "a header of a broken response was relayed")

    # -- timing

    def test_01_trickled_head_bounded(self):
        """A head arriving a byte every 0.1 s (never a stall) is still bounded: 504 at
        upstream_response_ms, which counts from the request to the end of the response head."""
        st, hdrs, body, complete, closed, el = self.exchange("/trickle-head")
        print("trickled upstream head: %s after %.2f s" % (st, el), file=sys.stderr)
        self.assertEqual(st, 504, "trickled head: %r %r" % (st, body[:200]))
        self.assertLess(el, RESPONSE_MS / 1000.0 + 1.5)

    def test_02_stalled_body_cut(self):
        """A body that stops for longer than upstream_response_ms: the client connection is
        closed, the response is not complete."""
        st, hdrs, body, complete, closed, el = self.exchange("/stall-body")
        self.assertEqual(st, 200)
        self.assertCut(st, body, complete, closed, 200, b"a" * 100)
        self.assertEqual(body, b"a" * 100, "what arrived before the stall was not relayed")
        self.assertLess(el, RESPONSE_MS / 1000.0 + 2.0)

    def test_03_trickled_body_streams(self):
        """A body trickled a byte every 0.3 s never stalls long enough: it is relayed whole."""
        st, hdrs, body, complete, closed, el = self.exchange("/trickle-body")
        self.assertEqual((st, body, complete), (200, b"0123456789", True))

    def test_04_never_answers(self):
        st, hdrs, body, complete, closed, el = self.exchange("/silent")
        self.assertEqual(st, 504)
        self.assertLess(el, RESPONSE_MS / 1000.0 + 1.5)
        self.assertGreater(el, RESPONSE_MS / 1000.0 - 0.2)

    # -- endless body

    def endless(self, path):
        pid = self.gw.proc.pid
        rss0 = hu.rss_kb(pid)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.connect(("127.0.0.1", self.gw.port))
        s.sendall(hu.request_bytes("/pub" + path))
        s.settimeout(5)
        got = b""
        while len(got) < 20 << 20:
            d = s.recv(1 << 20)
            self.assertTrue(d, "the stream ended early")
            got += d
        # Stop reading for 2 s while the upstream keeps sending as fast as it can.
        peak = rss0
        for _ in range(10):
            time.sleep(0.2)
            peak = max(peak, hu.rss_kb(pid))
        more = s.recv(1 << 20)
        s.close()
        head, body = got.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head[:100])
        # No length: relayed chunked to an HTTP/1.1 client either way.
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        sample = body[body.index(b"\r\n") + 2:][:1000]
        self.assertEqual(sample, it.pattern(1000), "the streamed body differs")
        self.assertTrue(more)
        growth = (peak - rss0) / 1024.0
        print("endless body %s: 20 MB relayed, RSS +%.1f MB while the client paused"
              % (path, growth), file=sys.stderr)
        bound = hu.memory_bound(20.0)
        if bound is not None:
            self.assertLess(growth, bound, "fngate buffered the endless body")

    def test_05_endless_body(self):
        self.endless("/endless")

    def test_06_endless_chunked_body(self):
        self.endless("/endless-chunked")

    # -- malformed

    def test_07_malformed_status_and_headers(self):
        for path in ("/bad-status", "/bad-header", "/bad-header-late", "/cl-te", "/close-mid-head"):
            with self.subTest(path=path):
                st, hdrs, body, complete, closed, el = self.exchange(path)
                self.assertEqual(st, 502, "%s: %r %r" % (path, st, body[:200]))
                self.assertNothingHalfForwarded(st, hdrs, body)
                self.assertNotIn(b"hi", body)

    def test_08_bad_chunk_after_head(self):
        """The head was relayed, then the chunking breaks: the client connection is closed and
        the response is not complete."""
        st, hdrs, body, complete, closed, el = self.exchange("/bad-chunk")
        self.assertCut(st, body, complete, closed, 200, b"abcd")

    # -- lies and closes

    def test_09_content_length_shorter(self):
        st, hdrs, body, complete, closed, el = self.exchange("/short")
        self.assertCut(st, body, complete, closed, 200, b"s" * 50)

    def test_10_content_length_longer(self):
        """Bytes beyond Content-Length (at once or a bit later) never become the response to
        the next request, on the same client connection or another."""
        for path in ("/long", "/long-later"):
            with self.subTest(path=path):
                s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
                s.sendall(hu.request_bytes("/pub" + path))
                st, hdrs, body, complete = hu.read_response(s)
                self.assertEqual((st, body, complete), (200, b"0123456789", True))
                time.sleep(0.3)
                for _ in range(3):
                    s.sendall(hu.request_bytes("/pub/second"))
                    st, hdrs, body, complete = hu.read_response(s)
                    self.assertEqual((st, body), (200, b"SECOND"))
                s.close()
                for _ in range(3):
                    self.assertEqual(hu.get(self.gw.port, "/pub/second"), (200, b"SECOND"))

    def test_11_close_mid_body(self):
        for path, want in (("/close-mid-body", b"m" * 300), ("/close-mid-chunked", b"hello")):
            with self.subTest(path=path):
                st, hdrs, body, complete, closed, el = self.exchange(path)
                self.assertCut(st, body, complete, closed, 200, want)

    def test_11b_close_mid_body_http10_client(self):
        # An HTTP/1.0 client gets the body delimited by the close: a clean close would pass a
        # truncated body off as complete, so fngate resets the connection instead (after sending
        # what it had: "hello" may or may not arrive before the reset).
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=8)
        s.sendall(b"GET /pub/close-mid-chunked HTTP/1.0\r\nHost: x\r\n\r\n")
        got, reset = b"", False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            reset = True
        s.close()
        self.assertTrue(reset, "the truncated close-delimited body ended with a clean close: %r"
                        % got[:200])
        if got:
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
            self.assertNotIn(b"transfer-encoding", got.lower())

    def test_12_close_before_answering(self):
        st, hdrs, body, complete, closed, el = self.exchange("/close-early")
        self.assertEqual(st, 502, body[:200])
        self.assertIn(b"upstream", body)

    # -- the llhttp corpus

    def test_13_llhttp_response_corpus(self):
        """Every response case of the corpus served raw (then the upstream closes). A strict
        error (or a lenient-only case) is answered 502, or cut (connection closed, response not
        complete); a complete response reaches the client only when llhttp completed a final
        message before the error, and nothing after it is relayed. A valid, complete case is
        relayed with its status."""
        counts = {"502": 0, "cut": 0, "relayed": 0, "relayed-before-error": 0}
        for i, t, raw in llhttp_response_cases():
            lenient = t["type"] != "response"
            n1xx = sum(1 for m in raw.split(b"\r\n")
                       if m.startswith(b"HTTP/1.") and m[9:10] == b"1")
            final_done = t["messages_completed"] - n1xx >= 1
            valid_complete = (not lenient and t["outcome"] == "ok" and
                              (final_done or is_close_delimited(raw)))
            complete_allowed = valid_complete or (
                not lenient and t["outcome"] == "error" and final_done) or (
                t["type"] in ("response-lenient-keep-alive", "response-lenient-data-after-close"))
            with self.subTest(case=i, title=t["title"], raw=t["raw_repr"][:120]):
                extra = []
                st, hdrs, body, complete, closed, el = self.exchange("/llhttp/%d" % i,
                                                                      extra=extra)
                known = KNOWN.get(t["title"])
                if not lenient and bad_transfer_coding(raw) and final_done is False:
                    self.assertEqual(st, 502, "%r %r" % (st, body[:100]))
                    counts["502"] += 1
                    continue
                if known == "cut":
                    self.assertTrue(closed and not complete, "%r %r" % (st, body[:100]))
                    counts["cut"] += 1
                    continue
                if known == "relayed":
                    self.assertTrue(complete and st == first_final_status(raw))
                    self.assertEqual(extra, [b""])
                    counts["relayed-before-error"] += 1
                    continue
                if st == 502 and b"upstream" in body:
                    self.assertFalse(valid_complete, "a valid response was answered 502")
                    counts["502"] += 1
                elif st is None or not complete:
                    self.assertFalse(valid_complete, "a valid response was cut: %r" % body[:200])
                    self.assertTrue(closed)
                    if st is not None:
                        self.assertEqual(st, first_final_status(raw))
                    counts["cut"] += 1
                else:
                    self.assertEqual(st, first_final_status(raw))
                    self.assertTrue(complete_allowed,
                                    "a broken response was relayed as complete: %r" % body[:200])
                    self.assertEqual(extra, [b""], "bytes after the response were relayed")
                    self.assertNothingHalfForwarded(st, hdrs, body)
                    counts["relayed" if valid_complete else "relayed-before-error"] += 1
        print("llhttp response corpus: %r" % counts, file=sys.stderr)
        self.assertGreater(counts["502"], 15)
        self.assertGreater(counts["relayed"], 15)

    def test_14_still_serving(self):
        self.assertEqual(hu.get(self.gw.port, "/pub/ok"), (200, b"fine"))
        self.assertTrue(self.gw.proc.alive())


def first_final_status(raw):
    """The status of the first non-1xx response in raw bytes (None when unparseable)."""
    for line in raw.split(b"\r\n"):
        parts = line.split(b" ")
        if line.startswith(b"HTTP/") and len(parts) > 1 and parts[1].isdigit():
            st = int(parts[1])
            if not 100 <= st < 200:
                return st
    return None


def is_close_delimited(raw):
    """The final response's body ends only at the close: no Content-Length, and no
    Transfer-Encoding whose last coding is chunked (RFC 9112 section 6.3)."""
    st = first_final_status(raw)
    if st is None or st in (204, 304):
        return False
    heads = [h for h in raw.split(b"\r\n\r\n")[:-1] if h.lstrip(b"\r\n").startswith(b"HTTP/")]
    head = None
    for h in heads:
        line = h.lstrip(b"\r\n").split(b"\r\n", 1)[0].split(b" ")
        if len(line) > 1 and line[1].isdigit() and not 100 <= int(line[1]) < 200:
            head = h.lower()
            break
    if head is None:
        return False
    te = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
          if ln.startswith(b"transfer-encoding:")]
    if te:
        return b",".join(te).split(b",")[-1].strip() != b"chunked"
    return b"\r\ncontent-length:" not in head


if __name__ == "__main__":
    it.main()
