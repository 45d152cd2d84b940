#!/usr/bin/env bash
# run.sh - the fngate benchmark: fngate beside nginx and HAProxy, same upstream, same client, one run.
#
# Usage: bench/run.sh [--rounds N] [--duration S] [--quick] [--profile] [--no-fngate] [--logs]
#   --rounds N     rounds of every scenario, peers interleaved (default 3); medians are reported
#   --duration S   seconds of load per wrk run (default 10)
#   --quick        1 round of 3 s (a smoke run; figures are rough)
#   --profile      after the run, `perf record -e cpu-clock -g` fngate (1 worker) in every scenario
#                  whose target was missed; summaries go to bench/results/profile-*.txt
#   --no-fngate    measure the peers only (fngate is skipped)
#   --logs         every proxy writes its access log to a file: nginx `combined buffer=64k`, HAProxy
#                  `option httplog` to its stdout (a file), fngate its JSON lines (buffered, the
#                  default for a file). The table goes to bench/results/latest-logs.md only
#   --scenarios L  a comma-separated subset of: idle,public,warm,apikey,h2_warm,cold,notoken,badsig,body1k,body1m,
#                  tls_public,tls_warm,tls_hs_new,tls_hs_reuse,h2_tls,h2_tls_warm (a subset's table
#                  goes to bench/results/latest.md only: docs/benchmarks.md keeps the last full run)
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit (trap).
# It installs what it lacks with apt-get (Debian 12) and builds fngate (Release) into build-bench/.
set -euo pipefail

ROUNDS=3
DURATION=10
PROFILE=0
SCENARIOS=
WITH_FNGATE=1
LOGS=0
TOKENS=100000
CACHE_ENTRIES=10000
IDLE_CONNS=10000
PORT_BASE=${BENCH_PORT_BASE:-18000}
UP_KEEPALIVE=512    # idle upstream connections nginx and fngate keep (per worker and address)
CMDLINE="bench/run.sh $*"

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--quick) ROUNDS=1; DURATION=3; shift ;;
	--profile) PROFILE=1; shift ;;
	--no-fngate) WITH_FNGATE=0; shift ;;
	--logs) LOGS=1; shift ;;
	--scenarios) SCENARIOS=$2; shift 2 ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
case "$ROUNDS$DURATION" in *[!0-9]*) echo "run.sh: --rounds and --duration take integers" >&2; exit 2 ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] ||
	{ echo "run.sh: --rounds >= 1, 1 <= --duration <= 120" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-bench"
RESULTS="$ROOT/bench/results"
log() { printf '[bench] %s\n' "$*" >&2; }

# --- what is missing gets installed (apt-get only when something is missing) ---------------------
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have nginx || need_pkgs+=(nginx-light)
have haproxy || need_pkgs+=(haproxy)
have wrk || need_pkgs+=(wrk)
have python3 || need_pkgs+=(python3)
have openssl || need_pkgs+=(openssl)
have curl || need_pkgs+=(curl)
have cc || need_pkgs+=(gcc)
have pkg-config || need_pkgs+=(pkg-config)
have taskset || need_pkgs+=(util-linux)
pkg-config --exists libcrypto 2>/dev/null || need_pkgs+=(libssl-dev)
if [ "$WITH_FNGATE" = 1 ]; then
	have cmake || need_pkgs+=(cmake)
	have h2load || need_pkgs+=(nghttp2-client)
	for p in libevent-dev libjansson-dev libjwt-dev node-llhttp check libnghttp2-dev; do
		dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
	done
fi
if [ "$PROFILE" = 1 ] && ! have perf; then need_pkgs+=(linux-perf); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing: ${need_pkgs[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian's nginx/haproxy packages start system services; ours are separate processes on our own
# ports, so those are left alone.

# --- the temporary world and its cleanup ------------------------------------------------------------
T=$(mktemp -d /tmp/fngate-bench.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		local alive=0
		for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.3
	done
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		log "failed (exit $rc); logs kept in $T"
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Descriptors: each proxy needs two per proxied connection (HAProxy refuses to start when
# 2 x maxconn exceeds the limit), so the connection cap, the same for every peer, follows the hard
# limit, and the idle scenario holds 10,000 connections or as many as that cap allows.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
ulimit -n "$NOFILE" 2>/dev/null || NOFILE=$(ulimit -n)
MAXCONN=$(( (NOFILE - 200) / 2 ))
[ "$MAXCONN" -gt 20000 ] && MAXCONN=20000
if [ $((MAXCONN - 100)) -lt "$IDLE_CONNS" ]; then
	IDLE_CONNS=$((MAXCONN - 100))
	log "descriptor limit $NOFILE: connection cap $MAXCONN, idle scenario holds $IDLE_CONNS connections"
fi
NCPU=$(nproc)
# Placement (see docs/benchmarks.md): the client (wrk) and the function backend share CPU 0; each
# one-worker proxy runs alone on the last CPU; fngate with 2 workers gets CPUs 0 and last. On a
# 2-core machine the 2-worker figure is therefore approximate: its second worker shares CPU 0.
CPU_CLIENT=0
CPU_PROXY=$((NCPU - 1))
CPU_ALL="0-$((NCPU - 1))"

# --- build: mint_many, fngate ----------------------------------------------------------------------
mkdir -p "$BUILD" "$RESULTS"
MINT="$BUILD/mint_many"
if [ ! -x "$MINT" ] || [ "$ROOT/bench/mint_many.c" -nt "$MINT" ]; then
	log "building mint_many"
	# shellcheck disable=SC2046
	cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
		-o "$MINT" "$ROOT/bench/mint_many.c" $(pkg-config --cflags --libs libcrypto) -lpthread
fi
FNGATE="$BUILD/fngate"
VERIFY_BENCH=
BUILD_TYPE=none
if [ "$WITH_FNGATE" = 1 ]; then
	build_fngate() { # $1 build type
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$1" >>"$T/cmake.log" 2>&1 &&
		cmake --build "$BUILD" --target fngate -j2 >>"$T/cmake.log" 2>&1 && [ -x "$FNGATE" ]
	}
	log "building fngate (Release) in build-bench/"
	BUILD_TYPE=Release
	if ! build_fngate Release; then
		# Recorded in the report: a Release-only compiler diagnostic (-O3 sees more) must not
		# stop the benchmark; RelWithDebInfo (-O2 -g) is the next best thing.
		log "the Release build failed; trying RelWithDebInfo:"
		grep -m3 'error' "$T/cmake.log" >&2 || true
		BUILD_TYPE=RelWithDebInfo
		if ! build_fngate RelWithDebInfo; then
			log "fngate did not build (see below); measuring the peers only"
			tail -5 "$T/cmake.log" >&2 || true
			WITH_FNGATE=0
		fi
	fi
	# The verifier micro-benchmark is someone else's file; run it when it exists and builds.
	if [ -x "$ROOT/bench/build-verify.sh" ] && [ -f "$ROOT/bench/verify_bench.c" ] &&
	   "$ROOT/bench/build-verify.sh" "$BUILD" >>"$T/cmake.log" 2>&1; then
		VERIFY_BENCH="$BUILD/verify_bench"
	fi
fi

# --- keys and tokens ------------------------------------------------------------------------------
FUNC_ID=46aebf26-0000-4000-8000-0000000000b1
NS_ID=3a8b2c4e-0000-4000-8000-0000000000b0
mkdir -p "$T/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/keys/priv.pem" 2>/dev/null
openssl pkey -in "$T/keys/priv.pem" -pubout -out "$T/keys/pub.pem"
log "minting $TOKENS tokens (and as many with a bad signature)"
t0=$(date +%s.%N)
"$MINT" -k "$T/keys/priv.pem" -a "$FUNC_ID" -n "$TOKENS" -o "$T/valid.txt" -b "$T/bad.txt"
t1=$(date +%s.%N)
MINT_SECONDS=$(python3 -c "print(round($t1 - $t0, 1))")
log "minted in ${MINT_SECONDS}s"
WARM_TOKEN=$(head -1 "$T/valid.txt")
# One self-signed RSA-2048 certificate for every TLS listener (nginx, HAProxy, fngate), made per run.
# RSA-2048 because it is what most sites still serve; each full handshake costs the server one
# RSA-2048 signature (see docs/benchmarks.md for the arithmetic).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/keys/tls.key" -out "$T/keys/tls.crt" -days 2 \
	-subj /CN=bench.localhost -addext subjectAltName=DNS:bench.localhost,IP:127.0.0.1 2>/dev/null
cat "$T/keys/tls.crt" "$T/keys/tls.key" >"$T/keys/tls.pem"	# HAProxy wants both in one file

# --- configurations -----------------------------------------------------------------------------
P_BACKEND=$PORT_BASE
P_NGINX=$((PORT_BASE + 1))
P_HAP=$((PORT_BASE + 2))
P_HAPJWT=$((PORT_BASE + 3))
P_FN1=$((PORT_BASE + 4))
P_FN2=$((PORT_BASE + 5))
P_NGINX_TLS=$((PORT_BASE + 6))
P_HAPJWT_TLS=$((PORT_BASE + 7))
P_FN1_TLS=$((PORT_BASE + 8))
P_NGINX403=$((PORT_BASE + 20))
for p in $P_BACKEND $P_NGINX $P_HAP $P_HAPJWT $P_FN1 $P_FN2 $P_NGINX_TLS $P_HAPJWT_TLS $P_FN1_TLS $P_NGINX403; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "run.sh: port $p is in use (set BENCH_PORT_BASE)" >&2; exit 1
	fi
done

# Common limits and timeouts (the same for every peer):
#   client keep-alive idle 60 s, header read 10 s, upstream connect 2 s, upstream response 30 s,
#   headers up to 16 KiB, bodies up to 6 MiB, MAXCONN client connections, no access log (a file with
#   --logs), keep-alive without a request cap, upstream keep-alive.
# shellcheck disable=SC2034
nginx_common="
	worker_rlimit_nofile $NOFILE;
	pid PREFIX/nginx.pid;
	error_log PREFIX/error.log crit;
	daemon off;
	user root;
"
nginx_http_common='
	keepalive_timeout 60s;
	keepalive_requests 100000000;
	client_header_timeout 10s;
	large_client_header_buffers 4 16k;
	client_max_body_size 6m;
	client_body_temp_path PREFIX/body;
	proxy_temp_path PREFIX/proxy;
	fastcgi_temp_path PREFIX/fastcgi;
	uwsgi_temp_path PREFIX/uwsgi;
	scgi_temp_path PREFIX/scgi;
'
mkdir -p "$T/backend/www" "$T/nginx"
cat >"$T/backend/nginx.conf" <<EOF
# The function backend shared by every peer: a fixed 200 with a 20-byte body.
worker_processes 1;
${nginx_common//PREFIX/$T/backend}
events { worker_connections $((2 * MAXCONN)); }
http {
${nginx_http_common//PREFIX/$T/backend}
	access_log off;
	server {
		listen 127.0.0.1:$P_BACKEND backlog=4096;
		location / {
			# A body is read whole before the answer (as a function would): POST goes through
			# the mirror module, which reads the body, then answers 200 by way of error_page.
			if (\$request_method = POST) { rewrite ^ /_post last; }
			default_type text/plain;
			return 200 "hello from function\n";
		}
		location = /_post {
			internal;
			mirror /_sink;
			mirror_request_body on;
			root $T/backend/www;
			try_files /hello =405;
			error_page 405 =200 /_ok;
		}
		location = /_ok { internal; default_type text/plain; return 200 "hello from function\n"; }
		location = /_sink { internal; return 204; }
	}
}
EOF
printf 'hello from function\n' >"$T/backend/www/hello"
cat >"$T/nginx/nginx.conf" <<EOF
# nginx as a plain reverse proxy: the cost floor of proxying (no authentication).
worker_processes 1;
${nginx_common//PREFIX/$T/nginx}
events { worker_connections $((2 * MAXCONN)); }
http {
${nginx_http_common//PREFIX/$T/nginx}
	$([ "$LOGS" = 1 ] && echo "access_log $T/nginx/access.log combined buffer=64k;" || echo "access_log off;")
	upstream function {
		server 127.0.0.1:$P_BACKEND;
		# Idle upstream connections kept: the same cap as fngate's (limits.upstream_keepalive),
		# above the requests in flight of every scenario (h2_tls: 500 streams); HAProxy keeps
		# every idle connection (http-reuse always) within its server maxconn (1000).
		keepalive $UP_KEEPALIVE;
		keepalive_requests 100000000;
		keepalive_timeout 60s;
	}
	server {
		listen 127.0.0.1:$P_NGINX backlog=4096;
		# TLS, the same for every peer: TLS 1.2 and 1.3 (nginx 1.22's default lacks 1.3), OpenSSL's
		# DEFAULT cipher list in the server's order, session tickets on (nginx's default; the ticket
		# key is random per start), no server-side session cache (nginx's default, "none").
		# HTTP/2 offered by ALPN beside HTTP/1.1, as HAProxy and fngate do (1.22's syntax).
		listen 127.0.0.1:$P_NGINX_TLS ssl http2 backlog=4096;
		ssl_certificate $T/keys/tls.crt;
		ssl_certificate_key $T/keys/tls.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers DEFAULT;
		ssl_prefer_server_ciphers on;
		ssl_session_tickets on;
		location / {
			proxy_pass http://function;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_connect_timeout 2s;
			proxy_read_timeout 30s;
			proxy_send_timeout 30s;
			proxy_request_buffering off;
		}
	}
	# nginx-403: the same nginx answering fngate's 403 itself, without proxying: the floor of
	# any answer on this machine (one read and one write per request), measured in notoken only.
	server {
		listen 127.0.0.1:$P_NGINX403 backlog=4096;
		location / {
			default_type application/json;
			add_header Cache-Control no-store always;
			return 403 '{"error":"token_missing"}\n';
		}
	}
}
EOF
haproxy_cfg() { # $1 port, $2 extra frontend rules, $3 extra bind lines
	cat <<EOF
global
	nbthread 1
	maxconn $MAXCONN
	ulimit-n $NOFILE
	tune.bufsize 16384
	# TLS as for the other peers: 1.2 and 1.3, OpenSSL's DEFAULT list, the server's order; tickets
	# are on by default (HAProxy also keeps its session cache, used by TLS 1.2 session IDs).
	ssl-default-bind-options ssl-min-ver TLSv1.2
	ssl-default-bind-ciphers DEFAULT
$([ "$LOGS" = 1 ] && printf '\tlog stdout format raw local0\n')
defaults
	mode http
$([ "$LOGS" = 1 ] && printf '\tlog global\n\toption httplog\n')
	option http-keep-alive
	timeout connect 2s
	timeout client 60s
	timeout http-keep-alive 60s
	timeout http-request 10s
	timeout server 30s
	maxconn $MAXCONN
frontend fe
	bind 127.0.0.1:$1
${3:-}
$2
	default_backend function
backend function
	http-reuse always
	server fn 127.0.0.1:$P_BACKEND maxconn 1000
EOF
}
haproxy_cfg "$P_HAP" "" >"$T/haproxy-plain.cfg"
# The rules of ../shared/NOTES.md, on the private path only (the public path is plain proxying).
haproxy_cfg "$P_HAPJWT" "	acl private path_beg /priv
	http-request deny deny_status 403 if private !{ req.hdr(x-auth-token) -m found }
	http-request deny deny_status 403 if private !{ req.hdr(x-auth-token),jwt_header_query('\$.alg') -m str RS256 }
	http-request deny deny_status 403 if private !{ req.hdr(x-auth-token),jwt_verify(\"RS256\",\"$T/keys/pub.pem\") -m int 1 }" \
	"	bind 127.0.0.1:$P_HAPJWT_TLS ssl crt $T/keys/tls.pem alpn h2,http/1.1" >"$T/haproxy-jwt.cfg"

fngate_cfg() { # $1 port, $2 workers, $3 name, $4 TLS port (optional)
	mkdir -p "$T/$3/state"
	local listen="\"127.0.0.1:$1\""
	# TLS: min_version TLS1.2 (the default), OpenSSL's default suites, session tickets (fngate's only
	# resumption mechanism: process-wide keys); h2 and http/1.1 offered by ALPN (the default).
	[ -n "${4:-}" ] && listen="$listen, {\"address\": \"127.0.0.1:$4\", \"tls\": {\"cert\": \"$T/keys/tls.crt\", \"key\": \"$T/keys/tls.key\", \"min_version\": \"TLS1.2\"}}"
	cat <<EOF
{
  "listen": [$listen],
  "workers": $2,
  "state_dir": "$T/$3/state",
  "access_log": "$([ "$LOGS" = 1 ] && echo "$T/$3/access.log" || echo off)",
  "admin": {"listen": null},
  "limits":   {"max_header_bytes": 16384, "max_body_bytes": 6291456, "max_token_bytes": 8192,
               "max_connections": $MAXCONN, "upstream_keepalive": $UP_KEEPALIVE},
  "timeouts": {"client_header_ms": 10000, "client_idle_ms": 60000,
               "upstream_connect_ms": 2000, "upstream_response_ms": 30000},
  "tokens":   {"leeway_s": 60, "forward_token": false, "cache_entries": $CACHE_ENTRIES},
  "namespaces": [
    {"id": "$NS_ID", "name": "bench",
     "keys": [{"kid": "k1", "alg": "RS256", "public_key": "$T/keys/pub.pem"}],
     "functions": [
       {"id": "$FUNC_ID", "name": "priv", "privacy": "private",
        "path_prefix": "/priv", "upstreams": ["http://127.0.0.1:$P_BACKEND"]},
       {"id": "46aebf26-0000-4000-8000-0000000000b2", "name": "pub", "privacy": "public",
        "path_prefix": "/pub", "upstreams": ["http://127.0.0.1:$P_BACKEND"]}
     ]}
  ]
}
EOF
}
fngate_cfg "$P_FN1" 1 fngate1 "$P_FN1_TLS" >"$T/fngate1.json"
fngate_cfg "$P_FN2" 2 fngate2 >"$T/fngate2.json"
# One API key of the private function (scenario apikey), written into both registries as the
# journal line the admin API would have written (docs/tokens.md: "<crc32> <record JSON>"): the
# benchmark configuration has no admin listener. The secret goes to $T/apikey.txt only.
python3 - "$T/apikey.txt" "$NS_ID" "$FUNC_ID" "$T/fngate1/state" "$T/fngate2/state" <<'PY'
import base64, hashlib, json, os, sys, time, zlib
out, ns, fn, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
kid = os.urandom(10).hex()
secret = "fngak_%s_%s" % (kid, base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
rec = json.dumps({"id": kid, "ns": ns, "fn": fn, "desc": "bench", "created": int(time.time()),
                  "expires": 0, "status": "ready", "revoked": 0, "used": 0, "kid": None,
                  "imported": False, "kind": "api_key",
                  "hash": hashlib.sha256(secret.encode()).hexdigest()}, separators=(",", ":"))
for d in dirs:
    with open(os.path.join(d, "tokens.journal"), "w") as f:
        f.write("%08x %s\n" % (zlib.crc32(rec.encode()), rec))
    os.chmod(os.path.join(d, "tokens.journal"), 0o600)
with open(out, "w") as f:
    f.write(secret + "\n")
PY
API_KEY=$(head -1 "$T/apikey.txt")

# --- start everything ------------------------------------------------------------------------------
start() { # $1 name, $2 cpus, rest: command
	local name=$1 cpus=$2; shift 2
	taskset -c "$cpus" "$@" >"$T/$name.out" 2>&1 &
	PIDS+=($!)
	eval "PID_${name//-/_}=$!"
}
wait_port() { # $1 name, $2 port
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	log "$1 did not listen on $2; its output:"; cat "$T/$1.out" >&2 || true
	return 1
}
nginx -t -q -p "$T/backend" -c "$T/backend/nginx.conf"
nginx -t -q -p "$T/nginx" -c "$T/nginx/nginx.conf"
haproxy -c -q -f "$T/haproxy-plain.cfg"
haproxy -c -q -f "$T/haproxy-jwt.cfg"
start backend "$CPU_CLIENT" nginx -p "$T/backend" -c "$T/backend/nginx.conf"
start nginx-plain "$CPU_PROXY" nginx -p "$T/nginx" -c "$T/nginx/nginx.conf"
start haproxy-plain "$CPU_PROXY" haproxy -db -f "$T/haproxy-plain.cfg"
start haproxy-jwt "$CPU_PROXY" haproxy -db -f "$T/haproxy-jwt.cfg"
wait_port backend "$P_BACKEND"
wait_port nginx-plain "$P_NGINX"
wait_port haproxy-plain "$P_HAP"
wait_port haproxy-jwt "$P_HAPJWT"
wait_port nginx-plain "$P_NGINX_TLS"
wait_port haproxy-jwt "$P_HAPJWT_TLS"
if [ "$WITH_FNGATE" = 1 ]; then
	if ! "$FNGATE" check -c "$T/fngate1.json" >"$T/fngate-check.out" 2>&1; then
		log "fngate check refused the benchmark configuration (starting it anyway):"
		cat "$T/fngate-check.out" >&2
	fi
	start fngate-1w "$CPU_PROXY" "$FNGATE" serve -c "$T/fngate1.json"
	start fngate-2w "$CPU_ALL" "$FNGATE" serve -c "$T/fngate2.json"
	if ! wait_port fngate-1w "$P_FN1" || ! wait_port fngate-2w "$P_FN2" ||
	   ! wait_port fngate-1w "$P_FN1_TLS"; then
		log "fngate did not start; measuring the peers only"
		WITH_FNGATE=0
	fi
fi

# --- sanity: each peer answers as expected before anything is measured ---------------------------
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
bad_token=$(head -1 "$T/bad.txt")
check() { # $1 name, $2 port, $3 auth(0/1)
	local pub priv_ok priv_none priv_bad
	pub=$(code "http://127.0.0.1:$2/pub/x")
	priv_ok=$(code -H "X-Auth-Token: $WARM_TOKEN" "http://127.0.0.1:$2/priv/x")
	priv_none=$(code "http://127.0.0.1:$2/priv/x")
	priv_bad=$(code -H "X-Auth-Token: $bad_token" "http://127.0.0.1:$2/priv/x")
	log "$1: public $pub, private+token $priv_ok, private without token $priv_none, bad signature $priv_bad"
	case "$1" in fngate*)
		local priv_key
		priv_key=$(code -H "X-Auth-Token: $API_KEY" "http://127.0.0.1:$2/priv/x")
		log "$1: private+API key $priv_key"
		[ "$priv_key" = 200 ] || return 1 ;;
	esac
	if [ "$3" = 1 ]; then
		[ "$pub$priv_ok$priv_none$priv_bad" = 200200403403 ]
	else
		[ "$pub" = 200 ]
	fi
}
check nginx-plain "$P_NGINX" 0
check haproxy-plain "$P_HAP" 0
check haproxy-jwt "$P_HAPJWT" 1
if [ "$WITH_FNGATE" = 1 ]; then
	if ! check fngate-1w "$P_FN1" 1 || ! check fngate-2w "$P_FN2" 1; then
		log "fngate does not answer as expected (see above); its scenarios will show the errors"
	fi
fi

tls_check() { # $1 name, $2 TLS port: status over TLS, protocol and cipher, whether a ticket resumes,
	# and the HTTP version ALPN chose for a client offering h2 (the h2_tls scenarios need "2")
	local st proto reused h2
	st=$(code -k "https://127.0.0.1:$2/pub/x" || true)
	h2=$(curl -sk -o /dev/null -w '%{http_version}' --http2 --max-time 5 "https://127.0.0.1:$2/pub/x" || true)
	proto=$(echo | timeout 5 openssl s_client -connect "127.0.0.1:$2" -sess_out "$T/sess-$1.pem" 2>/dev/null |
		sed -n 's/^New, \(.*\)$/\1/p' | head -1 || true)
	# TLS 1.3 tickets arrive after the handshake: s_client reads them before it exits.
	reused=$(echo | timeout 5 openssl s_client -connect "127.0.0.1:$2" -sess_in "$T/sess-$1.pem" 2>/dev/null |
		grep -c '^Reused' || true)
	log "$1 TLS: public $st, $proto, resumed with a ticket: $([ "$reused" -ge 1 ] && echo yes || echo NO), HTTP/$h2 by ALPN"
	echo "$proto" >"$T/tls-proto-$1.txt"
}
tls_check nginx-plain "$P_NGINX_TLS"
tls_check haproxy-jwt "$P_HAPJWT_TLS"
[ "$WITH_FNGATE" = 1 ] && tls_check fngate-1w "$P_FN1_TLS"

# --- the run ----------------------------------------------------------------------------------------
peers="$T/peers.json"
{
	echo '['
	echo "{\"name\":\"nginx-plain\",\"port\":$P_NGINX,\"tls_port\":$P_NGINX_TLS,\"pid\":$PID_nginx_plain,\"auth\":false,\"workers\":1,\"cpus\":\"$CPU_PROXY\"},"
	echo "{\"name\":\"nginx-403\",\"port\":$P_NGINX403,\"pid\":$PID_nginx_plain,\"auth\":true,\"only\":[\"notoken\"],\"workers\":1,\"cpus\":\"$CPU_PROXY\"},"
	echo "{\"name\":\"haproxy-plain\",\"port\":$P_HAP,\"pid\":$PID_haproxy_plain,\"auth\":false,\"workers\":1,\"cpus\":\"$CPU_PROXY\"},"
	if [ "$WITH_FNGATE" = 1 ]; then
		echo "{\"name\":\"haproxy-jwt\",\"port\":$P_HAPJWT,\"tls_port\":$P_HAPJWT_TLS,\"pid\":$PID_haproxy_jwt,\"auth\":true,\"workers\":1,\"cpus\":\"$CPU_PROXY\"},"
		echo "{\"name\":\"fngate-1w\",\"port\":$P_FN1,\"tls_port\":$P_FN1_TLS,\"pid\":$PID_fngate_1w,\"auth\":true,\"workers\":1,\"cpus\":\"$CPU_PROXY\"},"
		echo "{\"name\":\"fngate-2w\",\"port\":$P_FN2,\"pid\":$PID_fngate_2w,\"auth\":true,\"workers\":2,\"cpus\":\"$CPU_ALL\"}"
	else
		echo "{\"name\":\"haproxy-jwt\",\"port\":$P_HAPJWT,\"tls_port\":$P_HAPJWT_TLS,\"pid\":$PID_haproxy_jwt,\"auth\":true,\"workers\":1,\"cpus\":\"$CPU_PROXY\"}"
	fi
	echo ']'
} >"$peers"

args=(--peers "$peers" --rounds "$ROUNDS" --duration "$DURATION" --client-cpus "$CPU_CLIENT"
	--valid "$T/valid.txt" --bad "$T/bad.txt" --warm-token-file "$T/valid.txt"
	--api-key-file "$T/apikey.txt"
	--idle-conns "$IDLE_CONNS" --results "$RESULTS" --doc "$ROOT/docs/benchmarks.md"
	--command "$CMDLINE" --mint-seconds "$MINT_SECONDS" --tokens "$TOKENS"
	--cache-entries "$CACHE_ENTRIES" --tls-proto-dir "$T" --backend-pid "$PID_backend" --build-type "$BUILD_TYPE")
[ "$WITH_FNGATE" = 1 ] && args+=(--fngate "$FNGATE")
[ -n "$VERIFY_BENCH" ] && args+=(--verify-bench "$VERIFY_BENCH")
[ "$PROFILE" = 1 ] && args+=(--profile)
[ -n "$SCENARIOS" ] && args+=(--scenarios "$SCENARIOS")
[ "$LOGS" = 1 ] && args+=(--logs)
python3 "$ROOT/bench/bench.py" "${args[@]}"
