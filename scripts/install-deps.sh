#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install everything rtcr's build, tests, fuzzing and benchmarks need on
# Debian 12 (bookworm). Non-interactive and idempotent: run it again at any
# time. Needs root (use sudo).

set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: needs root: sudo $0" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
	# build
	build-essential pkg-config make gcc
	protobuf-c-compiler libprotobuf-c-dev libxxhash-dev
	# the migration stream's cryptography
	libsodium-dev
	# fuzzing (libFuzzer) and clang's sanitizers; clang-format for `make format`
	clang libclang-rt-14-dev clang-format
	# tests: the integration harness and the real programs it checkpoints
	python3 sqlite3 procps psmisc iproute2 util-linux coreutils findutils grep gawk
	# real programs: t_jvm (javac, java), t_node, t_postgres (server 15, psql)
	default-jdk-headless nodejs postgresql-15 postgresql-client-15
	# debugging a failed restore
	gdb strace
	# benchmarks: the plot of bench/granularity.sh (bench/granularity.gp)
	gnuplot-nox
	git ca-certificates
)

apt-get update -q
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# The toolchain pieces the build relies on, checked so that a partial
# install is caught here rather than in the middle of `make`.
for tool in gcc make protoc-c pkg-config clang python3 sqlite3 pgrep timeout; do
	command -v "$tool" >/dev/null || {
		echo "install-deps.sh: $tool is still missing" >&2
		exit 1
	}
done
pkg-config --exists libprotobuf-c || {
	echo "install-deps.sh: libprotobuf-c (pkg-config) is missing" >&2
	exit 1
}
[ -e /usr/include/xxhash.h ] || {
	echo "install-deps.sh: xxhash.h is missing" >&2
	exit 1
}
[ -e /usr/include/sodium.h ] || {
	echo "install-deps.sh: sodium.h (libsodium-dev) is missing" >&2
	exit 1
}
echo "install-deps.sh: all dependencies are installed"
