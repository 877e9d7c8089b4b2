#!/usr/bin/env bash
# bench.sh: builds cardswitch in release and runs the end-to-end HTTP benchmark (and, with
# --core, the criterion micro-benchmarks), appending the output with the revision and date to
# target/bench-results.txt (or $BENCH_RESULTS).
#
# Usage: scripts/bench.sh [--core]
# The HTTP bench reads BENCH_CONNECTIONS (32), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1),
# BENCH_WORKLOADS (echo,balance,post,transfer,card), BENCH_DIR and BENCH_NONCE_CACHE_ENTRIES; see
# benches/http.rs. CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."

run_core=false
for argument in "$@"; do
    case "$argument" in
        --core) run_core=true ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument: $argument (try --help)" >&2; exit 2 ;;
    esac
done

results="${BENCH_RESULTS:-target/bench-results.txt}"
mkdir -p "$(dirname "$results")"

revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi

cargo build --release --quiet

output="$(mktemp)"
trap 'rm -f "$output"' EXIT
{
    echo "=== cardswitch bench, revision $revision, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(uname -srm)"
    echo "settings: connections=${BENCH_CONNECTIONS:-32} seconds=${BENCH_SECONDS:-5} warmup=${BENCH_WARMUP_SECONDS:-1} workloads=${BENCH_WORKLOADS:-echo,balance,post,transfer,card}"
    cargo bench --quiet --bench http 2>&1
    if $run_core; then
        # Only the result lines of criterion's report.
        cargo bench --quiet --bench core 2>&1 | grep -E '^[a-z]+/|time:|thrpt:' | grep -v '%]'
    fi
    echo
} | tee "$output"
cat "$output" >> "$results"
echo "appended to $results"
