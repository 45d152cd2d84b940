#!/usr/bin/env python3
"""idle_conns.py - open N keep-alive connections, one request each, then hold them idle.

Usage: idle_conns.py HOST PORT PATH COUNT

Each connection sends one GET and reads its whole response, so what the proxy keeps afterwards
is an idle keep-alive connection (not a half-read request). At most 256 connections are in
progress at a time so no listen backlog overflows. Prints "READY <open>" on stdout once every
connection is idle (or failed: "READY" reports how many are open), then holds them until stdin
closes or 120 s pass, whichever is first.
"""
import resource
import selectors
import socket
import sys
import time

MAX_INFLIGHT = 256
DEADLINE_S = 60


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, count + 256) if hard != resource.RLIM_INFINITY else count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    req = ("GET %s HTTP/1.1\r\nHost: bench.localhost\r\n\r\n" % path).encode()
    sel = selectors.DefaultSelector()
    idle, failed, started, inflight = [], 0, 0, 0
    bufs = {}
    deadline = time.monotonic() + DEADLINE_S

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        bufs[s] = b""
        sel.register(s, selectors.EVENT_WRITE, "connect")

    while (started < count or inflight > 0) and time.monotonic() < deadline:
        while started < count and inflight < MAX_INFLIGHT:
            try:
                start_one()
            except OSError:
                failed += 1
            started += 1
            inflight += 1
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if key.data == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    sel.unregister(s)
                    s.close()
                    failed += 1
                    inflight -= 1
                    continue
                try:
                    s.send(req)
                except OSError:
                    sel.unregister(s)
                    s.close()
                    failed += 1
                    inflight -= 1
                    continue
                sel.modify(s, selectors.EVENT_READ, "read")
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                failed += 1
                inflight -= 1
                continue
            bufs[s] += data
            b = bufs[s]
            end = b.find(b"\r\n\r\n")
            if end < 0:
                continue
            clen = 0
            for line in b[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    clen = int(value.strip())
            if len(b) >= end + 4 + clen:
                sel.unregister(s)
                del bufs[s]
                idle.append(s)
                inflight -= 1
    print("READY %d failed %d" % (len(idle), count - len(idle)), flush=True)
    sel.close()
    # Hold until the runner has measured (it closes our stdin) or 120 s pass.
    end = time.monotonic() + 120
    rs = selectors.DefaultSelector()
    rs.register(sys.stdin, selectors.EVENT_READ)
    while time.monotonic() < end:
        if rs.select(timeout=1.0):
            if not sys.stdin.readline():
                break
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
