#!/usr/bin/env bash
# deps.sh - install the Debian packages fngate needs to build, test and run its demo (only the
# missing ones; `apt-get update` runs once, and only when something is missing). Idempotent.
set -euo pipefail

PACKAGES=(build-essential cmake pkg-config libevent-dev libssl-dev libjansson-dev libjwt-dev
	check node-llhttp curl python3 openssl groff-base procps libpq-dev postgresql
	libnghttp2-dev nghttp2-client python3-h2 python3-grpcio)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "deps: missing packages (${missing[*]}) and neither root nor sudo: install them first" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
