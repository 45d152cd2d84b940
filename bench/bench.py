#!/usr/bin/env python3
"""bench.py - the measuring half of bench/run.sh: scenarios, rounds, medians, the report.

run.sh starts the processes and hands over a peers file (name, port, pid, whether it
authenticates, its workers and CPUs); this script drives wrk and the idle-connection client
against each peer, reads each proxy's CPU time and memory from /proc, and writes the raw results
(bench/results/*.json) and the table (docs/benchmarks.md, between the results markers).
It stops nothing and starts only wrk, the idle client and perf, each bounded in time.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_LUA = os.path.join(HERE, "wrk.lua")
IDLE_PY = os.path.join(HERE, "idle_conns.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
BEGIN = "<!-- results:begin (written by bench/run.sh; edit outside these markers) -->"
END = "<!-- results:end -->"

# name, title, path, what the request carries, needs an authenticating peer
SCENARIOS = [
    ("idle", "6. 10,000 idle keep-alive connections", "/pub/x", {}, False),
    ("public", "5. public function (plain proxying)", "/pub/x", {}, False),
    ("warm", "1. private, same valid token (warm)", "/priv/x", {"token": "warm"}, True),
    # fngate only: the peers have no API keys (issue 13: no more CPU than a warm token)
    ("apikey", "1k. private, same API key", "/priv/x", {"token": "apikey", "fngate_only": True},
     True),
    # fngate only (issue 14): HTTP/2 with prior knowledge, h2load's 4 connections x 20 streams
    ("h2_warm", "1h. private, same valid token, HTTP/2 h2c (h2load -c4 -m20)", "/priv/x",
     {"token": "warm", "h2": (4, 20), "fngate_only": True}, True),
    ("cold", "2. private, distinct valid tokens (cold)", "/priv/x", {"tokens": "valid"}, True),
    ("notoken", "3. private, no token (403)", "/priv/x", {"expect_auth": 403}, True),
    ("badsig", "4. bad-signature flood (403)", "/priv/x", {"tokens": "bad", "expect_auth": 403}, True),
    ("body1k", "7a. POST 1 KiB body, public", "/pub/x", {"body": 1024}, False),
    ("body1m", "7b. POST 1 MiB body, public", "/pub/x", {"body": 1048576}, False),
    # TLS (issue 7): peers with a "tls_port" only; one RSA-2048 certificate for all.
    ("tls_public", "T1. public function over TLS, keep-alive", "/pub/x", {"tls": True}, False),
    ("tls_warm", "T2. private, same valid token, over TLS, keep-alive", "/priv/x",
     {"tls": True, "token": "warm"}, True),
    ("tls_hs_new", "T3. full handshakes (+ one HTTP/1.0 GET each)", "/pub/x",
     {"tls": True, "handshake": "new"}, False),
    ("tls_hs_reuse", "T4. resumed handshakes (+ one HTTP/1.0 GET each)", "/pub/x",
     {"tls": True, "handshake": "reuse"}, False),
    # HTTP/2 over TLS (issue 14): h2 chosen by ALPN on each peer's TLS listener, h2load with 50
    # connections x 10 streams; upstreams stay HTTP/1.1 keep-alive. "h2": (connections, streams).
    ("h2_tls", "H1. public function, HTTP/2 over TLS (h2load -c50 -m10)", "/pub/x",
     {"tls": True, "h2": (50, 10)}, False),
    ("h2_tls_warm", "H2. private, same valid token, HTTP/2 over TLS (h2load -c50 -m10)",
     "/priv/x", {"tls": True, "h2": (50, 10), "token": "warm"}, True),
]
SCEN = {s[0]: s for s in SCENARIOS}
REPORT_ORDER = ["warm", "apikey", "h2_warm", "cold", "notoken", "badsig", "public", "body1k", "body1m"]
TLS_ORDER = ["tls_public", "tls_warm"]
HS_ORDER = ["tls_hs_new", "tls_hs_reuse"]
H2_ORDER = ["h2_tls", "h2_tls_warm"]
HS_CLIENTS = 4      # concurrent openssl s_time processes: one alone leaves the proxy idle half the time


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def proc_tree(pid):
    """pid and all its descendants (nginx's workers are children of its master)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """utime+stime of each process (all its threads), summed, in clock ticks."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def wrk_env(scen, peer, args, warm_token):
    _, _, path, opts, _ = SCEN[scen]
    env = dict(os.environ)
    env["BENCH_PATH"] = path
    env["BENCH_EXPECT"] = str(opts.get("expect_auth", 200) if peer["auth"] else 200)
    if opts.get("token") == "warm":
        env["BENCH_TOKEN"] = warm_token
    elif opts.get("token") == "apikey":
        env["BENCH_TOKEN"] = args.api_key
    if opts.get("tokens") == "valid":
        env["BENCH_TOKENS"] = args.valid
    elif opts.get("tokens") == "bad":
        env["BENCH_TOKENS"] = args.bad
    if opts.get("body"):
        env["BENCH_BODY"] = str(opts["body"])
    return env


def perf_start(peer, args, perf_out):
    """perf record of the peer for the run's duration (None without perf_out)."""
    if not perf_out:
        return None
    perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p",
                             str(peer["pid"]), "-o", perf_out, "--", "sleep", str(args.duration)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return perf


def run_wrk(scen, peer, args, warm_token, perf_out=None):
    env = wrk_env(scen, peer, args, warm_token)
    if SCEN[scen][3].get("tls"):
        url = "https://127.0.0.1:%d%s" % (peer["tls_port"], env["BENCH_PATH"])
    else:
        url = "http://127.0.0.1:%d%s" % (peer["port"], env["BENCH_PATH"])
    cmd = ["taskset", "-c", args.client_cpus, "wrk", "-t1", "-c50", "-d%ds" % args.duration,
           "--latency", "-s", WRK_LUA, url]
    pids = proc_tree(peer["pid"])
    perf = perf_start(peer, args, perf_out)
    c0 = cpu_ticks(pids)
    b0 = cpu_ticks([args.backend_pid] + proc_tree(args.backend_pid)[1:])
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=args.duration + 60)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(pids)
    b1 = cpu_ticks([args.backend_pid] + proc_tree(args.backend_pid)[1:])
    if perf:
        perf.wait(timeout=args.duration + 30)
    m = re.search(r"^BENCHJSON (.*)$", p.stdout, re.M)
    if not m:
        log("wrk gave no result for %s/%s: %s %s" % (scen, peer["name"], p.stdout[-500:],
                                                     p.stderr[-500:]))
        return None
    r = json.loads(m.group(1))
    cpu_s = (c1 - c0) / CLK_TCK
    reqs = r["requests"]
    r.update({
        "rps": reqs / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0,
        "cpu_s": cpu_s,
        "cpu_us_per_req": cpu_s * 1e6 / reqs if reqs else None,
        "backend_cpu_us_per_req": (b1 - b0) / CLK_TCK * 1e6 / reqs if reqs else None,
        "cpu_util": cpu_s / wall if wall else None,
        "socket_errors": r["errors_connect"] + r["errors_read"] + r["errors_write"]
        + r["errors_timeout"],
    })
    return r


def run_h2load(scen, peer, args, warm_token, perf_out=None):
    """h2load, one thread, for the run's duration: the scenario's connections and streams per
    connection, over h2c with prior knowledge or over TLS with h2 chosen by ALPN (a peer that
    negotiates anything else gives no result). It reports no percentiles: the latency columns
    show its mean and its maximum."""
    env = wrk_env(scen, peer, args, warm_token)
    opts = SCEN[scen][3]
    conns, streams = opts["h2"]
    if opts.get("tls"):
        url = "https://127.0.0.1:%d%s" % (peer["tls_port"], env["BENCH_PATH"])
    else:
        url = "http://127.0.0.1:%d%s" % (peer["port"], env["BENCH_PATH"])
    cmd = ["taskset", "-c", args.client_cpus, "h2load", "-t1", "-c%d" % conns,
           "-m%d" % streams, "-D", str(args.duration)]
    if "BENCH_TOKEN" in env:
        cmd += ["-H", "X-Auth-Token: " + env["BENCH_TOKEN"]]
    cmd.append(url)
    pids = proc_tree(peer["pid"])
    perf = perf_start(peer, args, perf_out)
    c0 = cpu_ticks(pids)
    b0 = cpu_ticks([args.backend_pid] + proc_tree(args.backend_pid)[1:])
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(pids)
    b1 = cpu_ticks([args.backend_pid] + proc_tree(args.backend_pid)[1:])
    req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored", p.stdout)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", p.stdout)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", p.stdout)
    if perf:
        perf.wait(timeout=args.duration + 30)
    proto = re.search(r"^Application protocol: (\S+)", p.stdout, re.M)
    if not proto or proto.group(1) not in ("h2", "h2c"):
        log("h2load did not speak HTTP/2 to %s (%s): %s" % (
            peer["name"], proto.group(1) if proto else "no protocol", p.stdout[-300:]))
        return None
    if not req or not codes or not lat:
        log("h2load gave no result for %s/%s: %s %s" % (scen, peer["name"], p.stdout[-500:],
                                                        p.stderr[-500:]))
        return None

    def us(text):
        m = re.match(r"([\d.]+)(us|ms|s)$", text)
        return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else None

    done = int(req.group(2))
    expected = int(codes.group(1))
    cpu_s = (c1 - c0) / CLK_TCK
    return {
        "requests": done, "expected": expected, "unexpected": done - expected,
        "socket_errors": int(req.group(4)) + int(req.group(5)),
        "rps": done / wall if wall else 0.0,
        "cpu_s": cpu_s,
        "cpu_us_per_req": cpu_s * 1e6 / done if done else None,
        "backend_cpu_us_per_req": (b1 - b0) / CLK_TCK * 1e6 / done if done else None,
        "cpu_util": cpu_s / wall if wall else None,
        "lat_p50_us": us(lat.group(3)), "lat_p99_us": us(lat.group(2)),
    }


def run_handshakes(scen, peer, args):
    """HS_CLIENTS `openssl s_time` clients for the run's duration, on the client CPUs.

    Each connection is a handshake (full with -new; with -reuse, the session of the first one
    resumed by its ticket) then one HTTP/1.0 GET of the public function: TLS 1.3 tickets come after
    the handshake, so a client that sends nothing never gets one and cannot resume. Every peer
    pays that request alike; the keep-alive TLS scenario gives its cost.
    """
    mode = SCEN[scen][3]["handshake"]
    cmd = ["taskset", "-c", args.client_cpus, "openssl", "s_time", "-connect",
           "127.0.0.1:%d" % peer["tls_port"], "-" + mode, "-time", str(args.duration),
           "-www", SCEN[scen][2]]
    pids = proc_tree(peer["pid"])
    c0 = cpu_ticks(pids)
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(HS_CLIENTS)]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=args.duration + 60)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0])
    wall = time.monotonic() - t0
    c1 = cpu_ticks(pids)
    conns, reused, fresh = 0, 0, 0
    for out in outs:
        m = re.search(r"(\d+) connections in [\d.]+s;", out)
        if not m:
            log("s_time gave no result for %s/%s: %s" % (scen, peer["name"], out[-300:]))
            continue
        conns += int(m.group(1))
        # -reuse prints one mark per connection: 'r' resumed, '*' full handshake.
        mk = re.search(r"starting\s*\n([r*]*)", out)
        marks = mk.group(1) if mk else ""
        reused += marks.count("r")
        fresh += marks.count("*")
    if not conns:
        return None
    cpu_s = (c1 - c0) / CLK_TCK
    return {"handshakes": conns, "hs_per_s": conns / wall, "cpu_s": cpu_s,
            "cpu_us_per_hs": cpu_s * 1e6 / conns, "cpu_util": cpu_s / wall,
            "resumed_fraction": (reused / (reused + fresh)) if mode == "reuse" and reused + fresh
            else None}


def run_idle(peer, args):
    pids = proc_tree(peer["pid"])
    time.sleep(1.0)
    before = rss_kib(pids)
    cmd = ["taskset", "-c", args.client_cpus, sys.executable, IDLE_PY, "127.0.0.1",
           str(peer["port"]), SCEN["idle"][2], str(args.idle_conns)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = ""
    try:
        line = p.stdout.readline()
        m = re.match(r"READY (\d+) failed (\d+)", line)
        opened = int(m.group(1)) if m else 0
        failed = int(m.group(2)) if m else args.idle_conns
        time.sleep(1.0)
        during = rss_kib(pids)
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    time.sleep(2.0)      # let the proxy see the closes before the next run
    after = rss_kib(pids)
    return {
        "opened": opened, "failed": failed, "rss_before_kib": before, "rss_during_kib": during,
        "rss_after_kib": after,
        "bytes_per_conn": (during - before) * 1024 / opened if opened else None,
    }


def runs_on(sc, peer):
    """Whether scenario sc applies to peer: authentication scenarios need an authenticating
    peer, TLS scenarios a TLS listener."""
    if sc[4] and not peer["auth"]:
        return False
    if sc[3].get("fngate_only") and not peer["name"].startswith("fngate"):
        return False
    if "only" in peer and sc[0] not in peer["only"]:
        return False    # a reference measured in these scenarios only (nginx-403)
    if sc[3].get("tls") and not peer.get("tls_port"):
        return False
    return True


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float) and x >= 1000:
        return "{:,.0f}".format(x)
    return "{:.{nd}f}".format(x, nd=nd) if isinstance(x, float) else "{:,}".format(x)


def sh(cmd, timeout=20):
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(args):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "nginx": sh("nginx -v").replace("nginx version: ", ""),
        "haproxy": sh("haproxy -v | head -1"),
        "wrk": sh("wrk -v 2>&1 | head -1"),
        "openssl": sh("openssl version"),
        "fngate": sh("%s version" % args.fngate) if args.fngate else "not measured",
        "fngate_rev": sh("git -C %s rev-parse --short HEAD" % os.path.dirname(HERE))
        + (" (+ uncommitted changes)"
           if sh("git -C %s status --porcelain -- src include CMakeLists.txt"
                 % os.path.dirname(HERE)) else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": open("/proc/loadavg").read().split()[:3],
    }
    return info


def summarize(runs, peers):
    """Medians per (scenario, peer), and per-round ratios against the references."""
    summ = {}
    for scen in REPORT_ORDER + TLS_ORDER + H2_ORDER + HS_ORDER + ["idle"]:
        for peer in peers:
            rs = [r for r in runs if r["scenario"] == scen and r["peer"] == peer["name"]
                  and r["result"]]
            if not rs:
                continue
            res = [r["result"] for r in rs]
            keys = (["bytes_per_conn", "rss_before_kib", "rss_during_kib", "opened", "failed"]
                    if scen == "idle" else
                    ["hs_per_s", "cpu_us_per_hs", "cpu_util", "resumed_fraction", "handshakes"]
                    if scen in HS_ORDER else
                    ["rps", "cpu_us_per_req", "lat_p50_us", "lat_p99_us", "expected",
                     "unexpected", "socket_errors", "requests", "cpu_util",
                     "backend_cpu_us_per_req"])
            s = {k: median([x.get(k) for x in res]) for k in keys}
            s["rounds"] = len(res)
            if scen in HS_ORDER:
                pass
            elif scen == "idle":
                s["first_round_bytes_per_conn"] = res[0]["bytes_per_conn"]
                s["max_bytes_per_conn"] = max((x["bytes_per_conn"] or 0) for x in res)
            else:
                s["unexpected_total"] = sum(x["unexpected"] + x["socket_errors"] for x in res)
                s["requests_total"] = sum(x["requests"] for x in res)
            summ.setdefault(scen, {})[peer["name"]] = s
    return summ


def ratio_median(runs, scen, peer, ref_scen, ref_peer, key):
    """Median over rounds of value(scen, peer) / value(ref_scen, ref_peer) in the same round."""
    by = {}
    for r in runs:
        if r["result"] and r["result"].get(key):
            by[(r["round"], r["scenario"], r["peer"])] = r["result"][key]
    rats = []
    for rnd in sorted({r["round"] for r in runs}):
        a, b = by.get((rnd, scen, peer)), by.get((rnd, ref_scen, ref_peer))
        if a and b:
            rats.append(a / b)
    return median(rats)


def targets(runs, summ):
    t = []
    F = "fngate-1w"

    def cpu_target(label, scen, ref_scen, ref_peer, limit):
        r = ratio_median(runs, scen, F, ref_scen, ref_peer, "cpu_us_per_req")
        t.append({"target": label, "value": r, "limit": limit,
                  "met": None if r is None else r <= limit,
                  "detail": "CPU µs/req fngate-1w %s ÷ %s %s" % (scen, ref_peer, ref_scen),
                  "scenario": scen})

    cpu_target("warm valid token ≤ 1.0× nginx plain proxying", "warm", "public", "nginx-plain", 1.0)
    cpu_target("API key ≤ 1.0× a warm token", "apikey", "warm", F, 1.0)
    cpu_target("cold distinct tokens ≤ 0.6× HAProxy jwt_verify", "cold", "cold", "haproxy-jwt", 0.6)
    cpu_target("403 without a token ≤ 0.3× nginx plain proxying", "notoken", "public",
               "nginx-plain", 0.3)
    # Not an issue target: how fngate's 403 compares with nginx answering the same 403 itself
    # (no proxying, no authentication), the floor the 0.3x target above has to be read against.
    cpu_target("(reference) 403 without a token vs nginx's own static 403", "notoken", "notoken",
               "nginx-403", 1.0)
    cpu_target("bad-signature flood ≤ 0.6× HAProxy jwt_verify", "badsig", "badsig",
               "haproxy-jwt", 0.6)
    cpu_target("public function ≤ 1.0× nginx plain proxying", "public", "public", "nginx-plain",
               1.0)
    cpu_target("HTTP/2 over TLS, public function ≤ 0.9× nginx (issue 14)", "h2_tls", "h2_tls",
               "nginx-plain", 0.9)
    for scen in ("public", "warm"):
        r = ratio_median(runs, scen, F, "public", "nginx-plain", "lat_p99_us")
        t.append({"target": "p99 latency at 50 connections (%s) ≤ nginx's" % scen, "value": r,
                  "limit": 1.0, "met": None if r is None else r <= 1.0,
                  "detail": "p99 fngate-1w %s ÷ nginx-plain public" % scen, "scenario": scen})
    idle = summ.get("idle", {}).get(F)
    v = idle["max_bytes_per_conn"] if idle else None
    t.append({"target": "idle keep-alive connection ≤ 4 KiB resident", "value": v,
              "limit": 4096, "met": None if v is None else v <= 4096,
              "detail": "bytes of RSS per connection, largest growth over the rounds",
              "scenario": "idle", "unit": "B"})
    for scen in ("public", "warm"):
        r = ratio_median(runs, scen, "fngate-2w", scen, F, "rps")
        t.append({"target": "2 workers ≥ 1.7× the throughput of one (%s)" % scen, "value": r,
                  "limit": 1.7, "met": None if r is None else r >= 1.7,
                  "detail": "rps fngate-2w ÷ fngate-1w, %s" % scen, "scenario": scen,
                  "approximate": True})
    return t


def profile(args, peers, scen, warm_token, outdir):
    peer = next(p for p in peers if p["name"] == "fngate-1w")
    data = os.path.join(outdir, "perf-%s.data" % scen)
    log("profiling fngate-1w in %s" % scen)
    (run_h2load if SCEN[scen][3].get("h2") else run_wrk)(scen, peer, args, warm_token,
                                                          perf_out=data)
    txt = os.path.join(outdir, "profile-%s.txt" % scen)
    dsos = sh("perf report -i %s --stdio --no-children -g none --percent-limit 0.5 "
              "--sort dso 2>/dev/null | grep -v '^$' | grep -v '^#' | head -15" % data)
    flat = sh("perf report -i %s --stdio --no-children -g none --percent-limit 0.7 "
              "--sort dso,symbol 2>/dev/null | grep -v '^$' | head -60" % data)
    callers = sh("perf report -i %s --stdio --children --percent-limit 5 -g caller,0.5,callee "
                 "--sort symbol 2>/dev/null | grep -v '^$' | head -150" % data)
    with open(txt, "w") as f:
        f.write("# perf record -e cpu-clock -g -p <fngate-1w> during scenario %s (%d s)\n\n"
                % (scen, args.duration))
        f.write("## By library (self time)\n\n" + dsos + "\n\n## Flat profile (self time)\n\n" + flat + "\n\n## With children\n\n" + callers
                + "\n")
    try:
        os.unlink(data)
    except OSError:
        pass
    return txt


def ratio_rows(L, peers, summ, order, nginx_scen):
    """One table row per scenario of order and peer measured in it: rate, CPU, the CPU ratios
    to nginx-plain in nginx_scen and to haproxy-jwt in the same scenario, latency, errors."""
    for scen in order:
        for peer in peers:
            s = summ.get(scen, {}).get(peer["name"])
            if not s:
                continue
            rn = ratio_median(RUNS, scen, peer["name"], nginx_scen, "nginx-plain",
                              "cpu_us_per_req")
            rh = ratio_median(RUNS, scen, peer["name"], scen, "haproxy-jwt", "cpu_us_per_req")
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                SCEN[scen][1], peer["name"], fmt(s["rps"], 0), fmt(s["cpu_us_per_req"]),
                fmt(rn, 2), fmt(rh, 2), fmt(s["lat_p50_us"] / 1000, 2),
                fmt(s["lat_p99_us"] / 1000, 2), fmt(s["unexpected_total"])))


def render_tls(L, peers, summ, info):
    """The TLS tables (issue 7): keep-alive requests, then handshakes per second."""
    if not any(summ.get(s) for s in TLS_ORDER + HS_ORDER):
        return
    L.append("### TLS (one RSA-2048 self-signed certificate for all; TLS 1.2 and 1.3 allowed)")
    L.append("")
    if info.get("tls_proto"):
        L.append("Negotiated by `openssl s_client` (OpenSSL 3 defaults): " + "; ".join(
            "%s %s" % (k, v or "?") for k, v in info["tls_proto"].items()) + ".")
        L.append("")
    L.append("Keep-alive requests over TLS (wrk -t1 -c50 https://..., one handshake per "
             "connection at the start). × nginx-TLS: CPU per request ÷ nginx-plain's on the "
             "public function over TLS, same round.")
    L.append("")
    L.append("| scenario | peer | req/s | CPU µs/req | × nginx-TLS | × HAProxy-jwt-TLS | "
             "p50 ms | p99 ms | unexpected + socket errors (all rounds) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ratio_rows(L, peers, summ, TLS_ORDER, "tls_public")
    L.append("")
    L.append("Handshakes: %d concurrent `openssl s_time -new` (full) or `-reuse` (resumed with "
             "the peer's session ticket) clients on the client CPU, each connection a handshake "
             "then one `GET /pub/x HTTP/1.0` (needed for TLS 1.3 tickets to arrive); CPU µs per "
             "handshake: the proxy's utime+stime ÷ connections. × nginx: ÷ nginx-plain's in "
             "the same scenario and round." % HS_CLIENTS)
    L.append("")
    L.append("| scenario | peer | handshakes/s | CPU µs/handshake | × nginx | × HAProxy-jwt | "
             "proxy CPU busy | resumed |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for scen in HS_ORDER:
        for peer in peers:
            s = summ.get(scen, {}).get(peer["name"])
            if not s:
                continue
            rn = ratio_median(RUNS, scen, peer["name"], scen, "nginx-plain", "cpu_us_per_hs")
            rh = ratio_median(RUNS, scen, peer["name"], scen, "haproxy-jwt", "cpu_us_per_hs")
            rf = s.get("resumed_fraction")
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                SCEN[scen][1], peer["name"], fmt(s["hs_per_s"], 0), fmt(s["cpu_us_per_hs"]),
                fmt(rn, 2), fmt(rh, 2),
                "–" if s.get("cpu_util") is None else "%.0f%%" % (100 * s["cpu_util"]),
                "–" if rf is None else "%.1f%%" % (100 * rf)))
    L.append("")


def render_h2(L, peers, summ):
    """The HTTP/2-over-TLS table (issue 14): per peer, its ratio to nginx on the same scenario."""
    if not any(summ.get(s) for s in H2_ORDER):
        return
    L.append("### HTTP/2 over TLS (h2 by ALPN, the TLS listeners above; upstreams HTTP/1.1 "
             "keep-alive)")
    L.append("")
    L.append("h2load -t1 -c50 -m10 -D <duration> https://... on the client CPU: 50 connections, "
             "10 concurrent streams each, one handshake per connection at the start. haproxy-jwt "
             "proxies /pub without rules (plain proxying). × nginx-h2: CPU per request ÷ "
             "nginx-plain's on the public function over HTTP/2, same round. h2load reports no "
             "percentiles: mean and max instead.")
    L.append("")
    L.append("| scenario | peer | req/s | CPU µs/req | × nginx-h2 | × HAProxy-jwt | mean ms | "
             "max ms | unexpected + socket errors (all rounds) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ratio_rows(L, peers, summ, H2_ORDER, "h2_tls")
    L.append("")


def render(info, args, peers, summ, tgts, verify_out, profiles):
    L = []
    L.append("Run: `%s` (rounds %d, %d s per wrk run, wrk -t1 -c50), %s." %
             (args.command, args.rounds, args.duration, info["date"]))
    L.append("")
    L.append("Machine: %d CPUs, %s, kernel %s, %s; load average %s before the run, %s after "
             "(the machine is shared: other builds and tests ran meanwhile)." %
             (info["nproc"], info["cpu"], info["kernel"], info["os"],
              " ".join(info["load_before"]), " ".join(info.get("load_after", ["?"]))))
    L.append("Versions: nginx %s; %s; %s; %s; fngate %s, git %s, %s build." %
             (info["nginx"], info["haproxy"], info["wrk"], info["openssl"], info["fngate"],
              info["fngate_rev"], args.build_type))
    L.append("Tokens: RSA-2048 RS256, %d distinct valid and %d forged minted in %s s; fngate "
             "cache_entries %d per worker." % (args.tokens, args.tokens, args.mint_seconds,
                                              args.cache_entries))
    L.append("")
    L.append("### Throughput, CPU and latency (medians over rounds)")
    L.append("")
    L.append("CPU µs/req: user+system time of the proxy process (all threads, all its processes) "
             "÷ requests completed. × nginx / × HAProxy-jwt: the CPU ratio of this peer to "
             "nginx-plain on the public function and to haproxy-jwt in the same scenario "
             "(median of per-round ratios).")
    L.append("")
    L.append("HTTP/2 (1h): h2load reports no percentiles; its p50 column is the mean, its p99 "
             "column the maximum.")
    L.append("")
    L.append("| scenario | peer | req/s | CPU µs/req | × nginx | × HAProxy-jwt | p50 ms | p99 ms "
             "| expected | unexpected + socket errors (all rounds) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for scen in REPORT_ORDER:
        for peer in peers:
            s = summ.get(scen, {}).get(peer["name"])
            if not s:
                continue
            rn = ratio_median(RUNS, scen, peer["name"],
                              "public" if SCEN[scen][4] else scen, "nginx-plain",
                              "cpu_us_per_req")
            rh = (ratio_median(RUNS, scen, peer["name"], scen, "haproxy-jwt", "cpu_us_per_req")
                  if scen in summ and "haproxy-jwt" in summ[scen] else None)
            exp = (SCEN[scen][3].get("expect_auth", 200) if peer["auth"] else 200)
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                SCEN[scen][1], peer["name"], fmt(s["rps"], 0), fmt(s["cpu_us_per_req"]),
                fmt(rn, 2), fmt(rh, 2), fmt(s["lat_p50_us"] / 1000, 2),
                fmt(s["lat_p99_us"] / 1000, 2), exp, fmt(s["unexpected_total"])))
    L.append("")
    render_tls(L, peers, summ, info)
    render_h2(L, peers, summ)
    L.append("### Idle keep-alive connections (%d held, one request each)" % args.idle_conns)
    L.append("")
    L.append("| peer | opened | RSS before MiB | RSS while held MiB | bytes per connection "
             "(round 1, fresh process) | largest over rounds | median |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for peer in peers:
        s = summ.get("idle", {}).get(peer["name"])
        if not s:
            continue
        L.append("| %s | %s | %.1f | %.1f | %s | %s | %s |" % (
            peer["name"], fmt(int(s["opened"])), s["rss_before_kib"] / 1024,
            s["rss_during_kib"] / 1024, fmt(s["first_round_bytes_per_conn"], 0),
            fmt(s["max_bytes_per_conn"], 0), fmt(s["bytes_per_conn"], 0)))
    L.append("")
    if tgts:
        L.append("### Targets (issue 4; fngate with one worker unless stated)")
        L.append("")
        L.append("| target | measured | limit | verdict | how |")
        L.append("|---|---:|---:|---|---|")
        for t in tgts:
            unit = t.get("unit", "×")
            val = ("–" if t["value"] is None else
                   ("%.0f B" % t["value"] if unit == "B" else "%.2f×" % t["value"]))
            lim = "%d B" % t["limit"] if unit == "B" else "%.1f×" % t["limit"]
            verdict = ("not measured" if t["met"] is None else ("met" if t["met"] else
                                                                 "**missed**"))
            if t.get("approximate") and t["met"] is not None:
                verdict += " (approximate: 2 cores shared with wrk and the backend)"
            L.append("| %s | %s | %s | %s | %s |" % (t["target"], val, lim, verdict,
                                                     t["detail"]))
        L.append("| verifier alone ≥ 0.9× OpenSSL's raw verification rate | see below | 0.9× | "
                 "%s | bench/verify_bench |" % ("see below" if verify_out else "not measured "
                                                "(bench/verify_bench not available)"))
        L.append("")
    if verify_out:
        L.append("### Verifier micro-benchmark (bench/verify_bench, its own output)")
        L.append("")
        L.append("```")
        L.append(verify_out.strip())
        L.append("```")
        L.append("")
    if profiles:
        L.append("### Profiles of missed targets")
        L.append("")
        for scen, path in profiles:
            L.append("- %s: `bench/results/%s`" % (scen, os.path.basename(path)))
        L.append("")
    return "\n".join(L)


def write_doc(path, block):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if BEGIN in text and END in text:
        head = text[:text.index(BEGIN)]
        tail = text[text.index(END) + len(END):]
    else:
        head = text or "# Benchmarks\n\n"
        head += "\n## Latest results\n\n"
        tail = "\n"
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n\n" + block + "\n\n" + END + tail)


RUNS = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--client-cpus", default="0")
    ap.add_argument("--valid", required=True)
    ap.add_argument("--bad", required=True)
    ap.add_argument("--warm-token-file", required=True)
    ap.add_argument("--api-key-file", help="an API key fngate's registries hold (apikey)")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--results", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--mint-seconds", default="?")
    ap.add_argument("--tokens", type=int, default=0)
    ap.add_argument("--cache-entries", type=int, default=0)
    ap.add_argument("--backend-pid", type=int, required=True)
    ap.add_argument("--tls-proto-dir")
    ap.add_argument("--fngate")
    ap.add_argument("--build-type", default="?")
    ap.add_argument("--verify-bench")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--logs", action="store_true")
    ap.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    args = ap.parse_args()

    with open(args.peers) as f:
        peers = json.load(f)
    with open(args.warm_token_file) as f:
        warm_token = f.readline().strip()
    args.api_key = None
    if args.api_key_file:
        with open(args.api_key_file) as f:
            args.api_key = f.readline().strip()
    info = machine_info(args)
    info["tls_proto"] = {}
    for peer in peers:
        fn = os.path.join(args.tls_proto_dir or "", "tls-proto-%s.txt" % peer["name"])
        if args.tls_proto_dir and os.path.exists(fn):
            info["tls_proto"][peer["name"]] = open(fn).read().strip()
    wanted = args.scenarios.split(",")
    total = sum(1 for s in SCENARIOS if s[0] in wanted
                for p in peers if runs_on(s, p))
    log("%d rounds x %d runs of %d s" % (args.rounds, total, args.duration))
    for rnd in range(args.rounds):
        for sc in SCENARIOS:
            scen = sc[0]
            if scen not in wanted:
                continue
            # Interleave: every scenario visits every peer, in an order rotated each round.
            order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
            for peer in order:
                if not runs_on(sc, peer):
                    continue
                if scen in HS_ORDER:
                    res = run_handshakes(scen, peer, args)
                    if res:
                        log("round %d %-12s %-14s %8.0f handshakes/s %7.1f µs/handshake%s" % (
                            rnd + 1, scen, peer["name"], res["hs_per_s"], res["cpu_us_per_hs"],
                            "" if res["resumed_fraction"] is None else
                            " resumed %.0f%%" % (100 * res["resumed_fraction"])))
                elif scen == "idle":
                    res = run_idle(peer, args)
                    log("round %d %-8s %-14s %s B/conn (%d open)" % (
                        rnd + 1, scen, peer["name"], fmt(res["bytes_per_conn"], 0),
                        res["opened"]))
                else:
                    res = (run_h2load(scen, peer, args, warm_token) if sc[3].get("h2") else
                           run_wrk(scen, peer, args, warm_token))
                    if res:
                        log("round %d %-8s %-14s %8.0f req/s %6.1f µs/req p99 %.2f ms "
                            "unexpected %d errors %d" % (
                                rnd + 1, scen, peer["name"], res["rps"],
                                res["cpu_us_per_req"] or 0, (res["lat_p99_us"] or 0) / 1000,
                                res["unexpected"], res["socket_errors"]))
                RUNS.append({"round": rnd + 1, "scenario": scen, "peer": peer["name"],
                             "result": res})

    info["load_after"] = open("/proc/loadavg").read().split()[:3]
    summ = summarize(RUNS, peers)
    have_fngate = any(p["name"] == "fngate-1w" for p in peers)
    tgts = targets(RUNS, summ) if have_fngate else []

    verify_out = ""
    if args.verify_bench:
        log("running %s" % args.verify_bench)
        verify_out = sh(args.verify_bench, timeout=600)

    profiles = []
    if args.profile and have_fngate and shutil.which("perf"):
        for scen in dict.fromkeys(t["scenario"] for t in tgts
                                  if t["met"] is False and t["scenario"] != "idle"):
            profiles.append((scen, profile(args, peers, scen, warm_token, args.results)))

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = {"info": info, "args": vars(args), "peers": peers, "runs": RUNS, "summary": summ,
           "targets": tgts, "verify_bench": verify_out}
    os.makedirs(args.results, exist_ok=True)
    for name in ("run-%s.json" % stamp, "latest.json"):
        with open(os.path.join(args.results, name), "w") as f:
            json.dump(raw, f, indent=1)
    block = render(info, args, peers, summ, tgts, verify_out, profiles)
    if args.logs:
        # the access-log variant: its own table, beside the doc's logs-off run
        block = ("Access logs on for every proxy: nginx `combined buffer=64k`, HAProxy "
                 "`option httplog` to stdout (a file), fngate JSON lines to a file (buffered).\n\n"
                 + block)
        with open(os.path.join(args.results, "latest-logs.md"), "w") as f:
            f.write(block + "\n")
        print(block)
        log("raw results: %s; table: %s" % (os.path.join(args.results, "latest.json"),
                                             os.path.join(args.results, "latest-logs.md")))
        return
    with open(os.path.join(args.results, "latest.md"), "w") as f:
        f.write(block + "\n")
    if set(args.scenarios.split(",")) != set(sc[0] for sc in SCENARIOS):
        # A subset is not the full run the doc's results section describes: leave it there.
        print(block)
        log("raw results: %s; table: %s (a subset of scenarios: docs/benchmarks.md left as it was)"
            % (os.path.join(args.results, "latest.json"), os.path.join(args.results, "latest.md")))
        return
    write_doc(args.doc, block)
    print(block)
    log("raw results: %s; table: %s" % (os.path.join(args.results, "latest.json"), args.doc))


if __name__ == "__main__":
    main()
