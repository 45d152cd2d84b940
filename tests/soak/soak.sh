#!/bin/sh
# soak.sh - the soak of issue 6 (not in CI): fngate at ~80% of its measured maximum for ten
# minutes with a mix of valid, invalid and missing tokens, public calls, bodies, admin token
# creations and deletions, and a SIGHUP every 30 s; RSS and descriptors must stay flat (5%).
#
#   tests/soak/soak.sh [BUILD_DIR]          (default build dir: build)
#   SOAK_DURATION=180 tests/soak/soak.sh build-hostile
#
# Other knobs: SOAK_LOAD (0.8), SOAK_HUP_S (30), SOAK_CONNECTIONS (100), SOAK_THREADS (2).
# Needs python3, wrk, curl, openssl. Exit status 0 when the soak passed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
export FNGATE_SOURCE_DIR="$top"
export FNGATE_BIN="$build/fngate"
export FNGATE_BACKEND_BIN="$build/fngate-demo-backend"
export FNGATE_VECTORS="${FNGATE_VECTORS:-$top/../shared/vectors}"
for b in "$FNGATE_BIN" "$FNGATE_BACKEND_BIN"; do
	[ -x "$b" ] || { echo "soak.sh: $b missing: build first" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "soak.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }
exec python3 "$here/soak.py"
