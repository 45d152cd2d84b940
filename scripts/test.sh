#!/usr/bin/env bash
# test.sh - quick start 2: install what is missing, build into build/, run the whole suite with
# ctest. `--asan` (implied when CI=true) also builds build-asan/ with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the suite there too. Idempotent: re-running rebuilds
# incrementally. FNGATE_BUILD_DIR / FNGATE_ASAN_BUILD_DIR (relative to the repository) and
# JOBS override the defaults.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
ASAN=0
for arg in "$@"; do
	case "$arg" in
	--asan) ASAN=1 ;;
	-h|--help) echo "usage: scripts/test.sh [--asan]"; exit 0 ;;
	*) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done
if [ "${CI:-}" = "true" ]; then
	ASAN=1
fi

bash "$ROOT/scripts/deps.sh"

run_suite() {
	local dir=$1
	shift
	cmake -S "$ROOT" -B "$ROOT/$dir" "$@"
	cmake --build "$ROOT/$dir" -j "$JOBS"
	ctest --test-dir "$ROOT/$dir" --output-on-failure
}

run_suite "${FNGATE_BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$ASAN" -eq 1 ]; then
	# Leaks are errors; a sanitizer report aborts the process (the build sets -fno-sanitize-recover).
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	run_suite "${FNGATE_ASAN_BUILD_DIR:-build-asan}" -DCMAKE_BUILD_TYPE=Debug -DFNGATE_SANITIZE=ON
fi
echo "test.sh: all suites passed"
