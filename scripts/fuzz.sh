#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ and run each for a
# bounded time; exit 1 on a crash, a leak, a timeout or a sanitizer report (the input that did it
# is left in build-fuzz/artifacts/: add it to fuzz/corpus/<target>/ once fixed). Exit 77 when
# clang and its libFuzzer runtime are missing and cannot be installed.
#   scripts/fuzz.sh [target...]        targets: http h2 response token conf admin (default: all)
# Env: FNGATE_FUZZ_SECONDS (default 60) per target, FNGATE_FUZZ_BUILD_DIR (default build-fuzz),
# JOBS. The corpus each run grows stays in build-fuzz/corpus/<target>/ (reused by the next run).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=$(cd "$ROOT/.." && pwd)/shared
BUILD="$ROOT/${FNGATE_FUZZ_BUILD_DIR:-build-fuzz}"
SECONDS_PER=${FNGATE_FUZZ_SECONDS:-60}
JOBS=${JOBS:-$(nproc)}
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
	TARGETS=(http h2 response token conf admin)
fi

# clang and its compiler-rt (libFuzzer, sanitizers): installed when missing and we may.
if ! command -v clang >/dev/null 2>&1 ||
    ! clang -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q /; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	if ! { "${sudo[@]}" apt-get update &&
	       DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends \
			clang libclang-rt-14-dev; }; then
		# 77: "skipped" for scripts/test.sh, which says so loudly.
		echo "fuzz.sh: clang with libclang-rt-14-dev is required and could not be installed" >&2
		exit 77
	fi
fi

CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFNGATE_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")
python3 "$ROOT/fuzz/seeds.py" "$BUILD/seeds"

export FNGATE_SOURCE_DIR="$ROOT" FNGATE_VECTORS="$SHARED/vectors"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
H2O="$SHARED/fuzz-seeds/http1-h2o/fuzz"
mkdir -p "$BUILD/artifacts"
failed=()
for t in "${TARGETS[@]}"; do
	corpus=("$BUILD/corpus/$t" "$ROOT/fuzz/corpus/$t")
	extra=()
	[ -d "$BUILD/seeds/$t" ] && corpus+=("$BUILD/seeds/$t")
	case "$t" in
	http) corpus+=("$H2O/http1-corpus"); extra+=(-dict="$H2O/http.dict") ;;
	response) extra+=(-dict="$H2O/http.dict") ;;
	token) extra+=(-dict="$ROOT/fuzz/token.dict") ;;
	conf) extra+=(-dict="$ROOT/fuzz/conf.dict") ;;
	esac
	mkdir -p "$BUILD/corpus/$t"
	start=$(date +%s)
	echo "fuzz.sh: fuzz_$t for ${SECONDS_PER}s"
	if "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER" -timeout=25 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" "${extra[@]}" \
	    "${corpus[@]}" >"$BUILD/fuzz-$t.log" 2>&1; then
		echo "fuzz.sh: fuzz_$t ok ($(($(date +%s) - start))s," \
		     "$(grep -o 'stat::number_of_executed_units: [0-9]*' "$BUILD/fuzz-$t.log" | awk '{print $2}') runs)"
	else
		echo "fuzz.sh: fuzz_$t FAILED; log $BUILD/fuzz-$t.log:" >&2
		grep -E 'ERROR|SUMMARY|runtime error|fuzz harness|fuzz_[a-z]*:|Test unit written' \
			"$BUILD/fuzz-$t.log" | head -20 >&2 || true
		failed+=("$t")
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz.sh: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz.sh: all targets ran ${SECONDS_PER}s without a finding"
