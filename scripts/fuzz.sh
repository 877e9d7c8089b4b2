#!/usr/bin/env bash
# fuzz.sh: runs the cargo-fuzz targets of fuzz/ one after the other, each for a bounded time,
# starting from the checked-in seeds (fuzz/seeds/<target>) and the corpus earlier runs grew
# (fuzz/corpus/<target>, not checked in). A failing input is left in fuzz/artifacts/<target>/;
# after fixing it, copy it to fuzz/regressions/<target>/ so `cargo test` replays it forever.
# Prints one summary line per target (executions, corpus size, result) and appends them, with
# revision and date, to fuzz/artifacts/fuzz-results.txt.
#
# Usage: scripts/fuzz.sh [--seconds S] [--no-build] [--list] [target...]
#   (default: every target, 120 s each; --no-build runs the binaries the last build left)
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz --locked` when missing) and a
# nightly toolchain; without one, RUSTC_BOOTSTRAP=1 lets the stable compiler build it.
# Settings: FUZZ_RSS_MB (2048), FUZZ_MAX_LEN (65536, the shipped http.body_bytes_max),
# FUZZ_TIMEOUT_S (10: one input taking longer is a hang). One target at a time, one process.
set -euo pipefail

cd "$(dirname "$0")/.."

seconds=120
list_only=false
build=true
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --list) list_only=true; shift ;;
        --no-build) build=false; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

all_targets=()
for file in fuzz/fuzz_targets/*.rs; do
    all_targets+=("$(basename "$file" .rs)")
done
if $list_only; then
    printf '%s\n' "${all_targets[@]}"
    exit 0
fi
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes nightly-only flags (-Zsanitizer); use a nightly when one is installed.
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

rss_mb="${FUZZ_RSS_MB:-2048}"
max_len="${FUZZ_MAX_LEN:-65536}"
timeout_s="${FUZZ_TIMEOUT_S:-10}"
results=fuzz/artifacts/fuzz-results.txt
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
failed=()

# Build every target once, then run the binaries directly: `cargo fuzz run` would rebuild
# whenever anything under the package changed, including this run's own corpus and logs.
if $build; then
    (cd fuzz && cargo "${toolchain[@]}" fuzz build) >&2
fi
binaries="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    log="fuzz/artifacts/$target.log"
    mkdir -p "$corpus" "$artifacts"
    echo "== $target: ${seconds}s" >&2
    status=0
    "$binaries/$target" "$corpus" "fuzz/seeds/$target" -artifact_prefix="$artifacts/" \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -max_len="$max_len" \
        -timeout="$timeout_s" -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')"
    corpus_files="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="FAILED (exit $status; see $log and fuzz/artifacts/$target/)"
        failed+=("$target")
    fi
    line="$target: ${seconds}s, $execs executions, corpus $corpus_files inputs, $result"
    echo "$line"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $revision $line" >>"$results"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failing targets: ${failed[*]}" >&2
    exit 1
fi
