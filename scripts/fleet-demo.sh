#!/usr/bin/env bash
# fleet-demo.sh - fleet mode in one command (docs/fleet.md): a private PostgreSQL (Debian's
# package, run as the postgres user in a temporary directory, as the tests do) and three fngate
# nodes on loopback sharing it. A token is created through node A, called through B and C, deleted
# through A, and the refusal is shown on every node; then everything is stopped and removed.
# Run as root (PostgreSQL is started as the postgres user). FNGATE_BUILD_DIR and JOBS as demo.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
BUILD="$ROOT/${FNGATE_BUILD_DIR:-build}"

bash "$ROOT/scripts/deps.sh"
echo "fleet-demo: building ($BUILD, ${FNGATE_BUILD_TYPE:-Release})"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="${FNGATE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fngate fngate-demo-backend
FNGATE_BIN="$BUILD/fngate" FNGATE_BACKEND_BIN="$BUILD/fngate-demo-backend" \
	exec python3 "$ROOT/scripts/fleet_demo.py"
