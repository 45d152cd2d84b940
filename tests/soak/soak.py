#!/usr/bin/env python3
"""soak.py - the soak of issue 6 (driven by soak.sh; not run in CI).

A real fngate and demo backend on loopback. First the maximum throughput of the request mix
(mix.lua: public calls, private calls with a valid token, a bad signature and no token, 4 KiB
bodies) is measured with wrk; then the mix runs for SOAK_DURATION seconds at SOAK_LOAD (0.8) of
it, while a second client creates tokens through the admin API, uses them (200), deletes them and
uses them again (403 token_revoked), and fngate gets a SIGHUP every SOAK_HUP_S (30) seconds.
fngate's resident memory and open descriptors are sampled from /proc every 5 s.

Pass: no unexpected status or socket error, every answer matches its request kind, every admin
step answers as expected, every reload applied, and RSS and descriptors flat within 5% after the
warm-up (the first fifth of the run, at least 30 s): the median of the last third of the samples
within 5% of the median of the first third. Prints a summary and exits 0 / 1."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402
import lifecycle_util as lu  # noqa: E402

DURATION = int(os.environ.get("SOAK_DURATION", "600"))
LOAD = float(os.environ.get("SOAK_LOAD", "0.8"))
HUP_S = float(os.environ.get("SOAK_HUP_S", "30"))
CONNS = int(os.environ.get("SOAK_CONNECTIONS", "100"))
THREADS = int(os.environ.get("SOAK_THREADS", "2"))
FLAT = 0.05


def wrk(port, seconds, delay_ms, env):
    """Run wrk with the mix; returns its SOAK_RESULT as a dict."""
    e = dict(os.environ, SOAK_DELAY_MS="%.3f" % delay_ms, **env)
    p = subprocess.run(["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % seconds,
                        "--timeout", "10s", "-s", os.path.join(HERE, "mix.lua"),
                        "http://127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=seconds + 60)
    out = p.stdout.decode()
    m = re.search(r"SOAK_RESULT (\{.*\})", out)
    if not m:
        raise RuntimeError("wrk gave no result:\n%s\n%s" % (out, p.stderr.decode()))
    r = json.loads(m.group(1))
    r["rate"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def check_mix(r):
    """Problems in a wrk result: unexpected answers, socket errors, answers not matching the
    requests sent (in-flight requests at the end allowed)."""
    problems = []
    for k, v in r.items():
        if k.startswith("got_unexpected"):
            problems.append("%s: %d" % (k, v))
    for k in ("err_connect", "err_read", "err_write", "err_timeout"):
        if r.get(k):
            problems.append("%s: %d" % (k, r[k]))
    pairs = [(r.get("sent_public", 0) + r.get("sent_private", 0), r.get("got_ok200", 0), "200"),
             (r.get("sent_body", 0), r.get("got_body", 0), "body"),
             (r.get("sent_bad", 0), r.get("got_bad", 0), "bad signature"),
             (r.get("sent_missing", 0), r.get("got_missing", 0), "missing token")]
    for sent, got, what in pairs:
        if got > sent or sent - got > CONNS:
            problems.append("%s: %d sent, %d answered" % (what, sent, got))
    return problems


def main():
    hu.raise_nofile(65536)
    env = it.Env("soak")
    problems = []
    try:
        backend = env.backend("soak")
        key = env.key("k")
        other = env.key("other")
        admin_key, frag = lu.new_admin_key()
        conf = hu.basic_conf(env, backend.url, key=key, limits={"max_connections": 10000})
        conf["namespaces"].append(it.namespace("ns-app", "app", [], [
            it.function("app", "app", backend.url, prefix="/app")], issue_tokens=True))
        conf["admin"]["keys"] = [dict(frag, name="soak", role="owner")]
        # The access log of millions of requests would fill /tmp: the soak counts answers itself.
        conf["access_log"] = "/dev/null"
        aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        gw = env.fngate(conf, "soak.json")
        it.wait_port(aport, gw.proc)
        pid = gw.proc.pid
        tokens = {"SOAK_TOKEN": it.mint(key, it.scw_claims(function_id="priv", exp=DURATION * 10)),
                  "SOAK_BAD": it.mint(other, it.scw_claims(function_id="priv"))}

        # 1. The maximum, then the delay that gives LOAD of it.
        wrk(gw.port, 3, 0, tokens)      # warm-up
        mx = wrk(gw.port, 10, 0, tokens)
        problems += ["max run: " + p for p in check_mix(mx)]
        target = LOAD * mx["rate"]
        lat_s = CONNS / mx["rate"]      # per-request time of one connection at the maximum
        delay = max(0.0, (CONNS / target - lat_s * 0.5) * 1000.0)
        probes = []
        for _ in range(4):
            probe = wrk(gw.port, 5, delay, tokens)
            probes.append("%.2f ms -> %.0f req/s" % (delay, probe["rate"]))
            if abs(probe["rate"] - target) / target < 0.03:
                break
            # rate ~ CONNS / (service + delay): move the delay by the time difference.
            delay = max(0.0, delay + (CONNS / target - CONNS / probe["rate"]) * 1000.0)
        print("max %.0f req/s (p50 %.2f ms); target %.0f req/s (%.0f%%); think time %.2f ms "
              "per connection (probes: %s)" % (mx["rate"], mx["p50_us"] / 1e3, target, LOAD * 100,
                                              delay, "; ".join(probes)), flush=True)

        # 2. The soak: wrk in the background, the admin loop, reloads, sampling.
        stop = threading.Event()
        admin = {"cycles": 0, "bad": []}
        samples = []
        result = {}

        def admin_loop():
            while not stop.is_set():
                st, body = lu.admin_request(aport, "POST", "/v1/tokens", admin_key,
                                            {"function_id": "app", "description": "soak"})
                if st != 201:
                    admin["bad"].append(("create", st))
                    time.sleep(0.5)
                    continue
                tid, tok = body["id"], body["token"]
                s1 = lu.gateway_statuses(gw.port, "/app/soak", {tid: tok})[tid]
                st, _ = lu.admin_request(aport, "DELETE", "/v1/tokens/" + tid, admin_key)
                s2 = lu.gateway_statuses(gw.port, "/app/soak", {tid: tok})[tid]
                if s1[0] != 200 or st != 200 or s2 != (403, "token_revoked"):
                    admin["bad"].append((s1, st, s2))
                admin["cycles"] += 1
                stop.wait(0.5)

        def sampler():
            t0 = time.time()
            while not stop.is_set():
                samples.append((time.time() - t0, hu.rss_kb(pid), hu.nfds(pid)))
                stop.wait(5)

        def load():
            try:
                result.update(wrk(gw.port, DURATION, delay, tokens))
            except Exception as e:  # reported below
                result["error"] = repr(e)

        threads = [threading.Thread(target=f) for f in (admin_loop, sampler, load)]
        for t in threads:
            t.start()
        t0 = time.time()
        hups = 0
        while threads[2].is_alive():
            threads[2].join(min(HUP_S, max(0.1, DURATION - (time.time() - t0))))
            if threads[2].is_alive() and time.time() - t0 < DURATION - 1:
                gw.reload()
                hups += 1
        stop.set()
        for t in threads:
            t.join(30)
        time.sleep(0.5)
        reloads = gw.proc.output().count("reloaded: configuration generation")

        # 3. Verdict.
        if "error" in result:
            problems.append("soak wrk: " + result["error"])
        else:
            problems += ["soak: " + p for p in check_mix(result)]
        if admin["bad"]:
            problems.append("admin cycles with unexpected answers: %r" % admin["bad"][:5])
        if admin["cycles"] < DURATION // 5:
            problems.append("only %d admin cycles" % admin["cycles"])
        if reloads != hups:
            problems.append("%d SIGHUPs sent, %d reloads applied" % (hups, reloads))
        warm = max(30.0, DURATION / 5.0)
        steady = [s for s in samples if s[0] >= warm]
        if len(steady) < 3:
            problems.append("too few samples after the warm-up")
        else:
            # Flat: no trend. The median of the last third of the samples is within 5% of
            # the median of the first third (descriptors move with the upstream keep-alive
            # pool from sample to sample; a leak moves the medians).
            third = max(1, len(steady) // 3)
            for idx, what in ((1, "RSS KiB"), (2, "descriptors")):
                vals = [s[idx] for s in steady]
                first = sorted(vals[:third])[third // 2]
                last = sorted(vals[-third:])[third // 2]
                drift = (last - first) / float(first)
                print("%s after the %.0f s warm-up: min %d, max %d; median of the first third %d, "
                      "of the last third %d: drift %+.1f%%"
                      % (what, warm, min(vals), max(vals), first, last, drift * 100))
                if abs(drift) > FLAT:
                    problems.append("%s not flat: %r" % (what, vals))
        if "rate" in result:
            print("soak %d s: %d requests, %.0f req/s (%.0f%% of max), p50 %.2f ms, p99 %.2f ms; "
                  "%d admin create/use/delete/use cycles; %d reloads; answers %s"
                  % (DURATION, result["requests"], result["rate"], 100 * result["rate"] / mx["rate"],
                     result["p50_us"] / 1e3, result["p99_us"] / 1e3, admin["cycles"], reloads,
                     {k: v for k, v in sorted(result.items()) if k.startswith(("sent_", "got_"))}))
        print("samples (s, RSS KiB, fds): %s" % " ".join("%.0f/%d/%d" % s for s in samples))
        if not gw.proc.alive():
            problems.append("fngate died")
        rc = gw.stop()
        if rc != 0:
            problems.append("fngate exit code %r after SIGTERM" % rc)
    except Exception as e:
        problems.append("soak error: %r" % e)
    finally:
        env.close()
    for p in problems:
        print("PROBLEM: " + p)
    print("soak: %s" % ("PASS" if not problems else "FAIL (%d problems)" % len(problems)))
    if problems and os.environ.get("FNGATE_IT_KEEP"):
        print("kept: " + env.dir)
    else:
        it.cleanup()
    return 0 if not problems else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
