#!/usr/bin/env bash
# crash.sh: the long form of the kill -9 test (tests/it/crash.rs). Builds the integration tests
# in release and runs the ignored `crash::kill_9_under_load_long_run`: the real `cardswitch
# serve` on a temporary data directory under concurrent signed card debits, card credits and
# wallet transfers, killed with SIGKILL at a random moment and restarted, N times, with every
# check after every cycle (verify, each request by RRN, replays, balances against the model).
# Prints the seed first and the counts (cycles, requests sent, acknowledged, declined, in
# doubt and how each resolved) at the end; a failure names the seed and cycle and keeps the
# data directory and the switch's log.
#
# Usage: scripts/crash.sh [--cycles N] [--seed S] [--load-ms MS]
#   --cycles N    cycles to run (default 1000)
#   --seed S      seed of every draw (default: a random one, printed)
#   --load-ms MS  the kill comes uniformly within MS milliseconds of the load starting (300)
# CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."

cycles=1000
seed=""
load_ms=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) cycles="${2:?--cycles needs a number}"; shift 2 ;;
        --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
        --load-ms) load_ms="${2:?--load-ms needs a number}"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
for value in "$cycles" "$seed" "$load_ms"; do
    if [ -n "$value" ] && ! [[ "$value" =~ ^[0-9]+$ ]]; then
        echo "not a whole number: $value" >&2
        exit 2
    fi
done

export CRASH_CYCLES="$cycles"
[ -n "$seed" ] && export CRASH_SEED="$seed"
[ -n "$load_ms" ] && export CRASH_LOAD_MS_MAX="$load_ms"
exec cargo test --release --test it crash::kill_9_under_load_long_run -- \
    --ignored --exact --nocapture
