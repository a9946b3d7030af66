#!/usr/bin/env bash
# fuzz.sh - build and run the libFuzzer targets of fuzz/ (see docs/FUZZING.md).
#
#   scripts/fuzz.sh run [TARGET...]     build, then fuzz each target for
#                                       FUZZ_SECONDS (default 600), one after
#                                       the other, and print a summary
#   scripts/fuzz.sh merge [TARGET...]   minimise what the runs found into
#                                       tests/fuzz/corpus/<target>/ (-merge=1)
#   scripts/fuzz.sh build               only build
#
# Targets: token range message callback_url filename upload media jobopts (default: all).
# One fuzzing process at a time, single-threaded (libFuzzer without -jobs):
# the machine is shared. New inputs go to $FUZZ_BUILD/corpus/<target>/, the
# committed corpus is only read; crashes land in $FUZZ_BUILD/artifacts/<target>/.
# Environment: FUZZ_BUILD (build-fuzz), FUZZ_SECONDS (600), FUZZ_JOBS (build
# parallelism, 2), FUZZ_FLAGS (extra libFuzzer flags), CC (clang).
set -euo pipefail
cd "$(dirname "$0")/.."

B=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-2}
ALL=(token range message callback_url filename upload media jobopts)
CORPUS=tests/fuzz/corpus

# Longest input per target: a bit past what the code under test accepts.
max_len() {
    case $1 in
    token) echo 8192 ;;      # V2M_TOKEN_MAX is 4096
    range) echo 256 ;;
    message) echo 2048 ;;
    filename) echo 1024 ;;
    upload) echo 4096 ;;     # the harness's upload limit is 2048
    media) echo 16384 ;;     # the seeds are 1-8 KiB
    esac
}

build() {
    if [ ! -f "$B/CMakeCache.txt" ]; then
        CC=${CC:-clang} cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Debug -DV2M_FUZZ=ON \
            -DBUILD_TESTING=OFF >/dev/null
    fi
    cmake --build "$B" -j"$JOBS" --target "${ALL[@]/#/fuzz_}"
}

targets() {
    if [ $# -eq 0 ]; then
        echo "${ALL[@]}"
        return
    fi
    for t in "$@"; do
        [ -n "$(max_len "$t")" ] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
    done
    echo "$@"
}

run() {
    local summary=() failed=0
    build
    for t in $(targets "$@"); do
        local log="$B/logs/$t.log" t0 t1 rc=0
        mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/logs"
        echo "== fuzz_$t for ${SECS}s (log: $log)"
        t0=$(date +%s)
        "$B/fuzz/fuzz_$t" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=30 \
            -print_final_stats=1 -artifact_prefix="$B/artifacts/$t/" ${FUZZ_FLAGS:-} \
            "$B/corpus/$t" "$CORPUS/$t" >"$log" 2>&1 || rc=$?
        t1=$(date +%s)
        local execs cov ft
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
        ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
        if [ $rc -ne 0 ]; then
            failed=1
            grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$log" | head -20 || true
        fi
        summary+=("$(printf '%-9s %5ss  execs %-10s cov %-6s ft %-6s %s' "$t" $((t1 - t0)) \
            "${execs:-?}" "${cov:-?}" "${ft:-?}" "$([ $rc -eq 0 ] && echo ok || echo "CRASH (rc $rc)")")")
        echo "${summary[-1]}"
    done
    echo "== summary"
    printf '%s\n' "${summary[@]}"
    return $failed
}

# Named files of the committed corpus (seeds, regress-*) stay as they are;
# the merge adds the inputs, named by their SHA-1, that bring new coverage.
merge() {
    build
    for t in $(targets "$@"); do
        local tmp="$B/merge/$t" keep="$B/merge/$t.keep" f
        rm -rf "$tmp" "$keep" && mkdir -p "$tmp" "$keep" "$B/corpus/$t"
        for f in "$CORPUS/$t"/*; do
            [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]] || cp "$f" "$keep/"
        done
        "$B/fuzz/fuzz_$t" -merge=1 -max_len="$(max_len "$t")" -timeout=30 "$tmp" \
            "$CORPUS/$t" "$B/corpus/$t" >"$B/merge/$t.log" 2>&1
        for f in "$keep"/*; do
            rm -f "$tmp/$(sha1sum <"$f" | cut -c1-40)"
        done
        rm -rf "${CORPUS:?}/$t" && mkdir -p "$CORPUS/$t"
        cp "$tmp"/* "$keep"/* "$CORPUS/$t"/
        echo "$t: $(ls "$CORPUS/$t" | wc -l) files, $(cat "$CORPUS/$t"/* | wc -c) bytes"
    done
}

cmd=${1:-run}
shift || true
case $cmd in
run) run "$@" ;;
merge) merge "$@" ;;
build) build ;;
*) echo "usage: fuzz.sh run|merge|build [TARGET...]" >&2; exit 2 ;;
esac
