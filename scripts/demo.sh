#!/usr/bin/env bash
# demo.sh - quick start 1: run fngate on its embedded demo.
# Installs missing Debian packages, builds (Release, build/), generates the demo namespace key pair
# (conf/keys/, once), starts the demo function backend and `fngate serve -c conf/demo.json`,
# mints a demo token, prints and runs the three curl lines to try, then runs until Ctrl-C.
# FNGATE_BUILD_DIR (relative to the repository, default build) and JOBS override the defaults.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
CONF="$ROOT/conf/demo.json"
KEYDIR="$ROOT/conf/keys"
BUILD="$ROOT/${FNGATE_BUILD_DIR:-build}"
RUNDIR="$BUILD/demo"
BACKEND_ADDR=${FNGATE_DEMO_BACKEND:-127.0.0.1:9000}

bash "$ROOT/scripts/deps.sh"

echo "demo: building ($BUILD, ${FNGATE_BUILD_TYPE:-Release})"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="${FNGATE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fngate fngate-demo-backend
FNGATE="$BUILD/fngate"
BACKEND="$BUILD/fngate-demo-backend"

# The demo namespace key pair: RSA 2048, public key PKCS#1 (as Scaleway serves them).
mkdir -p "$KEYDIR"
if [ ! -f "$KEYDIR/demo.key.pem" ] || [ ! -f "$KEYDIR/demo.pub.pem" ]; then
	echo "demo: generating the demo key pair in conf/keys/"
	(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$KEYDIR/demo.key.pem" 2>/dev/null)
	openssl rsa -in "$KEYDIR/demo.key.pem" -RSAPublicKey_out -out "$KEYDIR/demo.pub.pem" 2>/dev/null
fi
chmod 600 "$KEYDIR/demo.key.pem"

mkdir -p "$RUNDIR"
# The demo's admin key (owner), made once with `fngate admin-key create` and kept in
# $RUNDIR/admin-key.json (mode 600): the console and the CLI need one. The configuration that
# runs is conf/demo.json plus that key's hash, with its relative paths made absolute, written to
# $RUNDIR/demo.json; max_connections is sized to the descriptor limit so that fngate has nothing
# to warn about.
ADMIN_KEY_FILE="$RUNDIR/admin-key.json"
if [ ! -s "$ADMIN_KEY_FILE" ]; then
	echo "demo: creating an admin key (owner) in $ADMIN_KEY_FILE"
	(umask 077 && "$FNGATE" admin-key create --name demo --role owner --json >"$ADMIN_KEY_FILE")
fi
ADMIN_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$ADMIN_KEY_FILE")
python3 - "$CONF" "$ADMIN_KEY_FILE" "$RUNDIR/demo.json" "$(ulimit -n)" <<'PY'
import json, os, sys
conf, keyfile, out, nofile = sys.argv[1:5]
base = os.path.dirname(os.path.abspath(conf))
c = json.load(open(conf))
def absolute(p):
    return p if p is None or os.path.isabs(p) else os.path.normpath(os.path.join(base, p))
c["state_dir"] = absolute(c["state_dir"])
for ns in c["namespaces"]:
    if ns.get("signing_key"):
        ns["signing_key"] = absolute(ns["signing_key"])
    for k in ns.get("keys", []):
        k["public_key"] = absolute(k["public_key"])
c.setdefault("admin", {})["keys"] = [json.load(open(keyfile))["config"]]
if nofile.isdigit():
    # fngate wants two descriptors per connection and some headroom (listener.c).
    c["limits"]["max_connections"] = min(c["limits"]["max_connections"],
                                         max(64, (int(nofile) - 320) // 2))
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(c, f, indent=2)
PY
CONF="$RUNDIR/demo.json"
"$FNGATE" check -c "$CONF"

# What the demo configuration serves: listen address, one private and one public function.
eval "$(python3 - "$CONF" <<'PY'
import json, shlex, sys
c = json.load(open(sys.argv[1]))
listen = c["listen"][0]
listen = listen["address"] if isinstance(listen, dict) else listen
host, port = listen.rsplit(":", 1)
if host in ("*", "0.0.0.0", "[::]", ""):
    host = "127.0.0.1"
base = "http://%s:%s" % (host, port)
admin = c.get("admin", {}).get("listen") or ""
out = {"LISTEN": listen, "BASE": base, "ADMIN": admin.replace("0.0.0.0", "127.0.0.1")}
for ns in c["namespaces"]:
    for f in ns["functions"]:
        kind = "PUBLIC" if f.get("privacy") == "public" else "PRIVATE"
        if kind + "_URL" in out:
            continue
        if f.get("path_prefix"):
            out[kind + "_URL"] = base + f["path_prefix"].rstrip("/") + "/"
            out[kind + "_HOST"] = ""
        else:
            out[kind + "_URL"] = base + "/"
            out[kind + "_HOST"] = f["hosts"][0]
        out[kind + "_FN"] = f.get("id", f["name"])
        out[kind + "_NS"] = ns.get("id", ns["name"])
for k, v in out.items():
    print("%s=%s" % (k, shlex.quote(v)))
PY
)"

BACKEND_PID=""
FNGATE_PID=""
TAIL_PID=""
stop() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for pid in $TAIL_PID $FNGATE_PID $BACKEND_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $TAIL_PID $FNGATE_PID $BACKEND_PID; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop INT TERM EXIT

wait_port() {  # URL, name, pid
	local i
	for i in $(seq 1 100); do
		if curl -s -o /dev/null "$1"; then
			return 0
		fi
		if ! kill -0 "$3" 2>/dev/null; then
			echo "demo: $2 exited; its log:" >&2
			cat "$RUNDIR/$2.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "demo: $2 does not answer on $1" >&2
	exit 1
}

"$BACKEND" --listen "$BACKEND_ADDR" --name demo 2>"$RUNDIR/backend.log" &
BACKEND_PID=$!
wait_port "http://$BACKEND_ADDR/" backend "$BACKEND_PID"
"$FNGATE" serve -c "$CONF" 2>"$RUNDIR/fngate.log" &
FNGATE_PID=$!
wait_port "$BASE/" fngate "$FNGATE_PID"

# The demo token: scoped to the private function, valid 24 hours.
EXPIRES=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
TOKEN=$("$FNGATE" token mint --key "$KEYDIR/demo.key.pem" --function "$PRIVATE_FN" \
	--expires "$EXPIRES" 2>/dev/null || true)
if [ -z "$TOKEN" ]; then
	# Minted by hand, the same way (openssl signs; Scaleway's claim layout).
	TOKEN=$(python3 - "$KEYDIR/demo.key.pem" "$PRIVATE_FN" <<'PY'
import base64, json, subprocess, sys, time, uuid
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"application_claim": [{"namespace_id": "", "application_id": sys.argv[2]}], "version": 2,
          "aud": "functions", "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 86400,
          "iss": "fngate", "sub": "token"}
si = b64u(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode()) + "." + \
     b64u(json.dumps(claims, separators=(",", ":")).encode())
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[1]], input=si.encode(),
                     stdout=subprocess.PIPE, check=True).stdout
print(si + "." + b64u(sig))
PY
)
fi

hostarg() { [ -n "$1" ] && printf -- ' -H "Host: %s"' "$1"; return 0; }
LINE1="curl -i$(hostarg "$PRIVATE_HOST") $PRIVATE_URL"
LINE2="curl -i$(hostarg "$PRIVATE_HOST") -H \"X-Auth-Token: $TOKEN\" $PRIVATE_URL"
LINE3="curl -i$(hostarg "$PUBLIC_HOST") $PUBLIC_URL"

status() {  # run one of the lines, print its status
	eval "${1/curl -i/curl -s -o /dev/null -w '%{http_code}'}"
}

cat <<EOT

fngate is listening on $LISTEN (log: $RUNDIR/fngate.log), the demo backend on $BACKEND_ADDR.

Without a token, the private function answers 403:
  $LINE1
With the demo token (function $PRIVATE_FN, valid until $EXPIRES), 200:
  $LINE2
The public function needs no token, 200:
  $LINE3

EOT
echo "Running them once:"
echo "  without token:   $(status "$LINE1")"
echo "  with the token:  $(status "$LINE2")"
echo "  public function: $(status "$LINE3")"
ROOT_NOTE=""
if [ "$(id -u)" = 0 ]; then
	ROOT_NOTE="
(fngate's log warns that it runs as root: the demo runs as you. In production, set \"user\" in
the configuration, as docs/deploy/ does, so that requests are never served by root.)"
fi
cat <<EOT

The web console: http://$ADMIN/  (admin key, kept in $ADMIN_KEY_FILE):
  $ADMIN_KEY
Try next:
  1. Open the console, paste the key, and open the "demo" namespace.
  2. Make "public-echo" private (Functions tab) and see
       curl -i $PUBLIC_URL
     answer 403 token_missing.
  3. Generate a token for it (Security tab), or with the CLI:
       FNGATE_ADMIN_URL=http://$ADMIN FNGATE_ADMIN_KEY=$ADMIN_KEY \\
         $FNGATE token create --function $PUBLIC_FN --description try --expires $EXPIRES
  4. Call it: curl -i -H "X-Auth-Token: TOKEN" $PUBLIC_URL
See README.md ("Tokens in five minutes") for more.$ROOT_NOTE

Access log follows; Ctrl-C stops fngate and the backend.
EOT
tail -n 0 -f "$RUNDIR/fngate.log" &
TAIL_PID=$!
wait "$FNGATE_PID" || true
