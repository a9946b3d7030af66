#!/usr/bin/env bash
# Install every build and test dependency of v2m on Debian 12 (bookworm).
# Idempotent: does nothing when everything is present. Needs root to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler, CMake, and the libraries of every protocol v2m speaks.
build_pkgs=(build-essential cmake pkg-config
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libjwt-dev libcrypt-dev libssl-dev
  librabbitmq-dev libmongoc-dev libbson-dev libmariadb-dev libsqlite3-dev
  libavformat-dev libavcodec-dev libswresample-dev libswscale-dev libavfilter-dev libavutil-dev libmp3lame-dev)
# Tests: real servers and peers (MariaDB, RabbitMQ, Python's JWT and GridFS
# for interoperability, the ffmpeg CLI for fixtures, Chromium for the web
# page), and Node.js for the SMTP sink.
test_pkgs=(mariadb-server mariadb-client rabbitmq-server ffmpeg mpg123 curl sqlite3 procps chromium
  python3 python3-jwt python3-bson python3-bson-ext python3-pymongo python3-gridfs)
# Benchmarks.
bench_pkgs=(wrk hyperfine nginx-light time bc)
# Fuzzing (make fuzz): clang and its libFuzzer runtime.
fuzz_pkgs=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench_pkgs[@]}")
[ "${1:-}" = "--fuzz" ] && want+=("${fuzz_pkgs[@]}")
command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packaged services (mariadb, rabbitmq, nginx) from
  # starting system-wide; the tests run their own private instances.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.v2m
  chmod +x /usr/sbin/policy-rc.d.v2m
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || cp /usr/sbin/policy-rc.d.v2m /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.v2m
fi

# Test-only Node.js tools, pinned by their lock files: the SMTP sink
# (tests/harness), the offline Kubernetes schema validator (tests/deploy) and
# playwright-core, which drives Debian's Chromium over the web page (tests/web);
# tus-js-client and @tus/server for the resumable uploads' test and benchmark
# (tests/tus).
for d in tests/harness tests/deploy tests/web tests/tus; do
  if [ -f "$d/package-lock.json" ] && [ ! -d "$d/node_modules" ]; then
    echo "deps: npm ci in $d"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
