#!/bin/sh
# build-verify.sh - build bench/verify_bench (standalone: not part of the CMake build).
# Usage: bench/build-verify.sh [outdir]   then   <outdir>/verify_bench [seconds [rounds]]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$here/build-bench"}
mkdir -p "$out"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-prototypes \
	-I"$here/include" -o "$out/verify_bench" "$here/bench/verify_bench.c" \
	"$here/src/util.c" "$here/src/b64url.c" "$here/src/keys.c" "$here/src/token.c" \
	"$here/src/tcache.c" "$here/src/revoke.c" "$here/src/gate.c" \
	$(pkg-config --cflags --libs jansson libcrypto) -lpthread
echo "$out/verify_bench"
