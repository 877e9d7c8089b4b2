#!/usr/bin/env bash
# cpu_per_request.sh: the switch's CPU time per request at a fixed offered rate, echo against
# balance enquiries, for one or more builds. Closed-loop rates on this noisy machine wander by
# more than a handler change moves them, and the closed loop's echo is capped by the client's
# core as well; CPU per request at a rate below the maximum is steadier (docs/performance.md,
# "The balance enquiry's answer and reads"). Each build gets STORES fresh stores of CARDS cards,
# the builds taking turns; on each, ROUNDS rounds of echo then balance, each a 2 s ramp and an
# 8 s measured open-loop run at RATE/s (32 connections, the switch on core 0, the client on core
# 1). Per build: echo and balance in microseconds of the switch's CPU (utime + stime, all its
# threads) per answered request, balance's extra, and echo / balance (the target's ratio, if the
# switch were the only limit).
#
# Usage: scripts/cpu_per_request.sh [BINARY...]   (default: builds target/release/cardswitch)
# Settings: RATE (50000), ROUNDS (3), STORES (2), CARDS (10000). Run from a checkout whose
# config.toml the builds accept (the switch is started from the repository's root).
set -euo pipefail

cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,16p' "$0"; exit 0 ;; esac

rate="${RATE:-50000}"
rounds="${ROUNDS:-3}"
stores="${STORES:-2}"
cards="${CARDS:-10000}"
server_cpu=0
if [ "$#" -eq 0 ]; then
    cargo build --release --quiet
    set -- "${CARGO_TARGET_DIR:-target}/release/cardswitch"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cardswitch-cpu.XXXXXX")"
binary=""
# shellcheck source=scripts/serve_lib.sh
. scripts/serve_lib.sh
trap 'serve_stop; rm -rf "$work"' EXIT
ticks_per_s="$(getconf CLK_TCK)"

# The switch's CPU ticks so far, all threads.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$server_pid/stat"
}

# Microseconds of the switch's CPU per answered request over one run of workload $1.
measure() {
    local kind="$1" before after requests
    taskset -c 1 "$binary" load run "${common[@]}" --mix "$kind=1" --rate "$rate" \
        --duration-s 2 --warmup-s 0 >/dev/null 2>"$work/load.err" || { cat "$work/load.err" >&2; exit 1; }
    before="$(cpu_ticks)"
    taskset -c 1 "$binary" load run "${common[@]}" --mix "$kind=1" --rate "$rate" \
        --duration-s 8 --warmup-s 0 --json "$work/run.json" >/dev/null 2>"$work/load.err" \
        || { cat "$work/load.err" >&2; exit 1; }
    after="$(cpu_ticks)"
    requests="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["total"]["requests"])' "$work/run.json")"
    awk -v a="$before" -v b="$after" -v hz="$ticks_per_s" -v n="$requests" \
        'BEGIN {printf "%.3f", (b - a) / hz * 1e6 / n}'
}

for store in $(seq 1 "$stores"); do
    for build in "$@"; do
        binary="$build"
        serve_populated "$work/data" "$work/log" "$cards"
        common=(--url "$url" --credentials "$work/data/admin-credentials" --connections 32)
        for round in $(seq 1 "$rounds"); do
            echo_us="$(measure echo)"
            balance_us="$(measure balance)"
            echo "$build $store $round $echo_us $balance_us" >>"$work/rows"
        done
        serve_stop
    done
done

cat "$work/rows"
echo "build | echo us/request | balance us/request | balance - echo | echo / balance"
awk '{e[$1] += $4; b[$1] += $5; n[$1]++}
     END {for (k in n) printf "%s | %.2f | %.2f | %.2f | %.3f\n", k, e[k]/n[k], b[k]/n[k], (b[k]-e[k])/n[k], e[k]/b[k]}' \
    "$work/rows"
