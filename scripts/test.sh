#!/usr/bin/env bash
# test.sh - quick start 2: install what is missing, build into build/, run the whole suite with
# ctest. `--asan` (implied when CI=true) also builds build-asan/ with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the suite there too. Idempotent: re-running rebuilds
# incrementally. FNGATE_BUILD_DIR / FNGATE_ASAN_BUILD_DIR (relative to the repository) and
# JOBS override the defaults.
# The reliability stages (docs/reliability.md), each also implied by CI=true:
#   --fuzz      scripts/fuzz.sh: the libFuzzer targets (clang) in build-fuzz/, FNGATE_FUZZ_SECONDS
#               (default 60) each; fails on a crash, leak, timeout or sanitizer report
#   --tsan      build-tsan/ (ThreadSanitizer) and the integration tests in $FNGATE_TSAN_TESTS
#   --valgrind  the integration tests in $FNGATE_VALGRIND_TESTS with fngate under valgrind
#               memcheck (FNGATE_IT_VALGRIND=1): no error, nothing definitely lost
# FNGATE_CI_STAGES="asan fuzz tsan valgrind" (a subset) chooses the CI stages when CI=true.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
ASAN=0
FUZZ=0
TSAN=0
VALGRIND=0
for arg in "$@"; do
	case "$arg" in
	--asan) ASAN=1 ;;
	--fuzz) FUZZ=1 ;;
	--tsan) TSAN=1 ;;
	--valgrind) VALGRIND=1 ;;
	-h|--help) echo "usage: scripts/test.sh [--asan] [--fuzz] [--tsan] [--valgrind]"; exit 0 ;;
	*) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done
if [ "${CI:-}" = "true" ]; then
	for st in ${FNGATE_CI_STAGES:-asan fuzz tsan valgrind}; do
		case "$st" in
		asan) ASAN=1 ;;
		fuzz) FUZZ=1 ;;
		tsan) TSAN=1 ;;
		valgrind) VALGRIND=1 ;;
		*) echo "test.sh: unknown stage $st in FNGATE_CI_STAGES" >&2; exit 2 ;;
		esac
	done
fi
# The integration tests of the TSan and valgrind stages: the ones where workers share the
# configuration, the token cache, the revocation set and the registry; no timing or memory
# measurement (TSan's shadow memory and valgrind's slowdown would fail those, not fngate).
TSAN_TESTS=${FNGATE_TSAN_TESTS:-test_gateway_auth test_gateway_proxy test_gateway_http test_lifecycle test_signals test_access_log}
VALGRIND_TESTS=${FNGATE_VALGRIND_TESTS:-test_gateway_auth test_gateway_proxy}
STAGE_TIMES=()

# Run one named stage, timing it: stage NAME COMMAND...
stage() {
	local name=$1 start rc=0
	shift
	start=$(date +%s)
	echo "test.sh: stage $name"
	"$@" || rc=$?
	STAGE_TIMES+=("$name $(($(date +%s) - start))s")
	if [ "$rc" -ne 0 ]; then
		echo "test.sh: stage $name FAILED" >&2
		exit "$rc"
	fi
}

# ctest -R for a list of integration test names.
it_regex() {
	local IFS='|'
	echo "^integration\.($*)\$"
}

# A Debian package, installed when missing (CI runs as root or with sudo).
need_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return 0
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y \
		--no-install-recommends "$1"
}

tsan_stage() {
	cmake -S "$ROOT" -B "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFNGATE_TSAN=ON
	cmake --build "$ROOT/build-tsan" -j "$JOBS" --target fngate fngate-demo-backend
	# halt_on_error: the first race stops fngate and its log carries the report, which the
	# harness (fngate_it.py) turns into a failure; second_deadlock_stack for lock-order reports.
	TSAN_OPTIONS="suppressions=$ROOT/scripts/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
		ctest --test-dir "$ROOT/build-tsan" -R "$(it_regex $TSAN_TESTS)" --output-on-failure
}

valgrind_stage() {
	need_pkg valgrind
	FNGATE_IT_VALGRIND=1 ctest --test-dir "$ROOT/${FNGATE_BUILD_DIR:-build}" \
		-R "$(it_regex $VALGRIND_TESTS)" --output-on-failure
}

bash "$ROOT/scripts/deps.sh"

run_suite() {
	local dir=$1
	shift
	cmake -S "$ROOT" -B "$ROOT/$dir" "$@"
	cmake --build "$ROOT/$dir" -j "$JOBS"
	ctest --test-dir "$ROOT/$dir" --output-on-failure
}

stage suite run_suite "${FNGATE_BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$ASAN" -eq 1 ]; then
	# Leaks are errors; a sanitizer report aborts the process (the build sets -fno-sanitize-recover).
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	stage asan run_suite "${FNGATE_ASAN_BUILD_DIR:-build-asan}" -DCMAKE_BUILD_TYPE=Debug -DFNGATE_SANITIZE=ON
fi
fuzz_stage() {
	local rc=0
	"$ROOT/scripts/fuzz.sh" || rc=$?
	if [ "$rc" -eq 77 ]; then
		echo "test.sh: WARNING: fuzz stage SKIPPED: clang / libclang-rt-14-dev not installable" >&2
		return 0
	fi
	return "$rc"
}

if [ "$FUZZ" -eq 1 ]; then
	stage fuzz fuzz_stage
fi
if [ "$TSAN" -eq 1 ]; then
	stage tsan tsan_stage
fi
if [ "$VALGRIND" -eq 1 ]; then
	stage valgrind valgrind_stage
fi
echo "test.sh: stage times: $(IFS=', '; echo "${STAGE_TIMES[*]}")"
echo "test.sh: all suites passed"
