#!/usr/bin/env python3
"""seeds.py - write the fuzz targets' seed corpora from ../shared (never copied into the repo).

usage: fuzz/seeds.py OUTDIR
Writes OUTDIR/<target>/ for response, token and conf (the http target reads the h2o corpus
directory in place, the admin target starts from fuzz/corpus/admin). Input layouts are those of
the targets: fuzz_response.c and fuzz_token.c take one selector byte before the data."""
import base64
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.environ.get("FNGATE_VECTORS") or os.path.join(ROOT, "..", "shared", "vectors")


def write(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def llhttp_cases(outdir):
    """Requests go to the http target as they are; responses to the response target, once as
    one write and once split in two (selector 0x08: the upstream closes after answering)."""
    with open(os.path.join(VECTORS, "llhttp", "llhttp-tests.json")) as f:
        tests = json.load(f)["tests"]
    n = 0
    for t in tests:
        raw = base64.b64decode(t["raw_b64"])
        if t["type"].startswith("request"):
            write(outdir, "http", raw)
        elif t["type"].startswith("response"):
            write(outdir, "response", b"\x08" + raw)
            half = len(raw) // 2
            write(outdir, "response", b"\x00" + raw[:half] + b"\n--MARK--\n" + raw[half:])
        n += 1
    return n


def tokens(outdir):
    """Selector byte: bits 0-1 namespace (0 Scaleway, 1 RFC 7515, 2 Wycheproof, 3 demo),
    bits 2-4 function, bits 5-6 clock (fuzz_token.c)."""
    n = 0
    with open(os.path.join(VECTORS, "scaleway-tokens.json")) as f:
        sw = json.load(f)["tokens"]
    key0 = sw[0]["public_key_pem"]
    fn = 0
    for t in sw:
        ns = 0 if t["public_key_pem"] == key0 else 3
        sel = ns
        if ns == 0 and t["scope"] != "namespace":
            sel |= (fn & 7) << 2
            fn += 1
        for clock in (1, 2):
            write(outdir, "token", bytes([sel | clock << 5]) + t["token"].encode())
            n += 1
    with open(os.path.join(VECTORS, "rfc7515", "rfc7515_A2_A3.json")) as f:
        for v in json.load(f)["vectors"]:
            write(outdir, "token", bytes([1]) + v["compact"].encode())
            n += 1
    with open(os.path.join(VECTORS, "wycheproof", "json_web_signature_test.json")) as f:
        for g in json.load(f)["testGroups"]:
            for t in g["tests"]:
                if isinstance(t.get("jws"), str):
                    write(outdir, "token", bytes([2]) + t["jws"].encode())
                    n += 1
    return n


def confs(outdir):
    n = 0
    pats = [os.path.join(ROOT, "conf", "*.json"), os.path.join(ROOT, "tests", "unit", "conf", "*"),
            os.path.join(ROOT, "fuzz", "corpus", "conf", "*")]
    for pat in pats:
        for p in sorted(glob.glob(pat)):
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    write(outdir, "conf", f.read())
                n += 1
    return n


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    counts = {"llhttp cases": llhttp_cases(out), "tokens": tokens(out), "configurations": confs(out)}
    print("seeds:", ", ".join("%d %s" % (v, k) for k, v in counts.items()), "->", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
