#!/usr/bin/env bash
# bench.sh: builds cardswitch in release and measures, in one run, `GET /jcard/api/echo` (the
# HTTP + authentication ceiling), balance enquiries and durable card debits, with the switch
# pinned to core 0 and the client to core 1; then writes the table of ratios against the
# targets to target/bench-table.md and appends everything, with revision and date, to
# target/bench-results.txt (or $BENCH_RESULTS). With --core, also criterion's micro-benchmarks.
#
# Usage: scripts/bench.sh [--core]
# The client is `cardswitch load` (an external process against `cardswitch serve` on a temp data
# dir) when the release binary has that subcommand with the flags used below, else the
# in-process bench `benches/http.rs`, whose client runtime's threads (`bench-client`) are moved
# to core 1 while the rest of the process stays on core 0. Settings: BENCH_CONNECTIONS (32),
# BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1), BENCH_CLIENT (auto|load|inprocess), BENCH_CARDS
# (10000, load only), BENCH_SWEEP (1: with the load generator, open-loop runs at fractions of the
# closed-loop debit rate, plotted to docs/performance-latency.svg), BENCH_SWEEP_CONNECTIONS (128,
# the open-loop runs' connections), BENCH_DIR, PG_BENCH_TABLE
# (target/pg-bench-table.md, from scripts/pg_bench.sh, for the PostgreSQL ratio). The in-process
# bench also reads BENCH_WORKLOADS (echo,balance,post,transfer,card) and
# BENCH_NONCE_CACHE_ENTRIES; see benches/http.rs. CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."

run_core=false
for argument in "$@"; do
    case "$argument" in
        --core) run_core=true ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $argument (try --help)" >&2; exit 2 ;;
    esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
results="${BENCH_RESULTS:-$target_dir/bench-results.txt}"
table="$target_dir/bench-table.md"
pg_table="${PG_BENCH_TABLE:-$target_dir/pg-bench-table.md}"
connections="${BENCH_CONNECTIONS:-32}"
sweep_connections="${BENCH_SWEEP_CONNECTIONS:-128}"
seconds="${BENCH_SECONDS:-5}"
warmup="${BENCH_WARMUP_SECONDS:-1}"
cards="${BENCH_CARDS:-10000}"
mkdir -p "$(dirname "$results")" "$target_dir"

revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi

cargo build --release --quiet
binary="$target_dir/release/cardswitch"

work="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cardswitch-bench.XXXXXX")"
# shellcheck source=scripts/serve_lib.sh
. scripts/serve_lib.sh
cleanup() {
    serve_stop
    rm -rf "$work"
}
trap cleanup EXIT

# Two cores are needed to pin server and client apart; with one, both share it.
if [ "$(nproc)" -ge 2 ]; then server_cpu=0; client_cpu=1; else server_cpu=0; client_cpu=0; fi

# --- which client ------------------------------------------------------------------------------
# The load generator's flags this script relies on; if its `load run --help` lacks one, the
# in-process bench is used instead (and the reason printed).
# (The generator's interface was being defined when this was written: adjust here if it differs.)
load_run_flags=(--url --credentials --mix --connections --duration-s --warmup-s --rate --json)
load_populate_flags=(--url --credentials --cards)
client="${BENCH_CLIENT:-auto}"
if [ "$client" = auto ]; then
    client=inprocess
    if run_help="$("$binary" load run --help 2>/dev/null)" &&
        populate_help="$("$binary" load populate --help 2>/dev/null)"; then
        missing=""
        for flag in "${load_run_flags[@]}"; do
            grep -q -- "$flag\b" <<<"$run_help" || missing="$missing (run $flag)"
        done
        for flag in "${load_populate_flags[@]}"; do
            grep -q -- "$flag\b" <<<"$populate_help" || missing="$missing (populate $flag)"
        done
        if [ -z "$missing" ]; then
            client=load
        else
            echo "cardswitch load lacks$missing: using the in-process bench" >&2
        fi
    fi
fi

# rows.tsv: kind, requests/s, p50 ms, p99 ms (kinds: echo, balance, debit).
rows="$work/rows.tsv"
: >"$rows"
output="$work/output.txt"

# Reads one `cardswitch load run --json` file and prints "rps p50 p99" (tolerant of layout).
json_summary() {
    python3 "$(dirname "$0")/plot_latency.py" --summary "$1"
}

run_with_load() {
    local data="$work/data" kind json max_debit fraction rate
    mkdir -p "$data"
    serve_start "$data" "$work/server.log"
    echo "switch (pid $server_pid, core $server_cpu) at $url; client on core $client_cpu"
    local common=(--url "$url" --credentials "$data/admin-credentials")
    taskset -c "$client_cpu" "$binary" load populate "${common[@]}" --cards "$cards"
    for kind in echo balance debit; do
        json="$work/closed-$kind.json"
        taskset -c "$client_cpu" "$binary" load run "${common[@]}" --mix "$kind=1" \
            --connections "$connections" --duration-s "$seconds" --warmup-s "$warmup" \
            --json "$json"
        echo "$kind $(json_summary "$json")" >>"$rows"
    done
    # The hot-merchant target: every jCard card debit already credits the one acquirer account
    # 12.001.00, so the uniform-versus-hot comparison is made with wallet transfers: payees
    # drawn uniformly over the wallets, then every transfer paid to the one merchant wallet.
    for share in 0 1; do
        json="$work/closed-transfer-$share.json"
        taskset -c "$client_cpu" "$binary" load run "${common[@]}" --mix transfer=1 \
            --hot-merchant-share "$share" --connections "$connections" \
            --duration-s "$seconds" --warmup-s "$warmup" --json "$json"
        echo "transfer$share $(json_summary "$json")" >>"$rows"
    done
    if [ "${BENCH_SWEEP:-1}" = 1 ]; then
        # Open loop at fractions of the closed-loop debit rate: latency against offered load.
        max_debit="$(awk '$1 == "debit" {print $2}' "$rows")"
        mkdir -p "$target_dir/bench-sweep"
        rm -f "$target_dir"/bench-sweep/*.json
        for fraction in 0.1 0.3 0.5 0.7 0.8 0.9 1.0 1.1; do
            rate="$(awk -v m="$max_debit" -v f="$fraction" 'BEGIN {printf "%d", m * f}')"
            [ "$rate" -ge 1 ] || continue
            json="$target_dir/bench-sweep/rate-$rate.json"
            # More connections than the closed loop: each one carries a single request at a
            # time, so C connections at latency L cannot offer more than C/L per second; the
            # sweep must measure the switch, not that client limit (many terminals, in life).
            taskset -c "$client_cpu" "$binary" load run "${common[@]}" --mix debit=1 \
                --connections "$sweep_connections" --duration-s "$seconds" --warmup-s "$warmup" \
                --rate "$rate" --json "$json"
            if [ "$fraction" = 0.7 ]; then
                echo "debit70 $(json_summary "$json")" >>"$rows"
            fi
        done
        python3 "$(dirname "$0")/plot_latency.py" --title "card debit, revision $revision" \
            -o docs/performance-latency.svg "$target_dir"/bench-sweep/*.json
        echo "latency against offered load: docs/performance-latency.svg"
    fi
}

run_in_process() {
    local exe pid tid moved=""
    exe="$(cargo bench --bench http --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "http":
        print(m["executable"])')"
    [ -x "$exe" ] || { echo "cannot find the http bench executable" >&2; exit 1; }
    echo "in-process bench: $exe; switch threads on core $server_cpu, bench-client threads on core $client_cpu"
    # Everything starts on the server's core; the client runtime's threads move once named.
    BENCH_DIR="$work" taskset -c "$server_cpu" "$exe" --bench >"$work/inprocess.txt" 2>"$work/inprocess.err" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        for task in /proc/"$pid"/task/*; do
            tid="${task##*/}"
            case " $moved " in *" $tid "*) continue ;; esac
            if [ "$(cat "$task/comm" 2>/dev/null)" = bench-client ]; then
                taskset -p -c "$client_cpu" "$tid" >/dev/null 2>&1 && moved="$moved $tid"
            fi
        done
        sleep 0.05
    done
    wait "$pid" || { cat "$work/inprocess.err" "$work/inprocess.txt" >&2; exit 1; }
    echo "client threads moved to core $client_cpu:${moved:- none}"
    cat "$work/inprocess.txt"
    awk '/^GET echo /        {print "echo",    $(NF-3), $(NF-2), $(NF-1)}
         /^GET balance /     {print "balance", $(NF-3), $(NF-2), $(NF-1)}
         /^POST card debit / {print "debit",   $(NF-3), $(NF-2), $(NF-1)}' \
        "$work/inprocess.txt" >>"$rows"
}

# Not a pipeline, so the block runs in this shell and the EXIT trap sees the server.
exec 3> >(tee "$output")
tee_pid=$!
{
    echo "=== cardswitch bench, revision $revision, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "client: $client; settings: connections=$connections seconds=$seconds warmup=$warmup"
    if [ "$client" = load ]; then run_with_load; else run_in_process; fi
    if $run_core; then
        # Only the result lines of criterion's report.
        cargo bench --quiet --bench core 2>&1 | grep -E '^[a-z]+/|time:|thrpt:' | grep -v '%]'
    fi
} >&3 2>&1
exec 3>&-
wait "$tee_pid" 2>/dev/null || true

# --- the table of ratios -----------------------------------------------------------------------
pg_shared=""
if [ -f "$pg_table" ]; then
    pg_shared="$(awk -F'|' '/shared settlement/ {gsub(/ /, "", $3); print $3}' "$pg_table")"
fi
awk -v rev="$revision" -v date="$(date -u +%Y-%m-%d)" -v client="$client" -v pg="$pg_shared" \
    -v conn="$connections" -v secs="$seconds" '
    { rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
    function verdict(ok) { return ok ? "met" : "not met" }
    END {
        printf "| measure (revision %s, %s, client %s, %s connections, %s s) | target | measured | verdict |\n", rev, date, client, conn, secs
        print "|---|---|---|---|"
        printf "| echo (HTTP + authentication ceiling) | - | %.0f req/s, p99 %s ms | - |\n", rps["echo"], p99["echo"]
        if (rps["echo"] > 0) {
            r = rps["balance"] / rps["echo"]
            printf "| balance / echo | >= 0.90 | %.2f (%.0f req/s, p99 %s ms) | %s |\n", r, rps["balance"], p99["balance"], verdict(r >= 0.90)
            r = rps["debit"] / rps["echo"]
            printf "| durable card debit / echo | >= 0.50 | %.2f (%.0f req/s, p99 %s ms) | %s |\n", r, rps["debit"], p99["debit"], verdict(r >= 0.50)
        }
        if (pg > 0) {
            r = rps["debit"] / pg
            printf "| card debit / PostgreSQL debit with a shared settlement account | >= 10x | %.1fx (%.0f vs %s TPS) | %s |\n", r, rps["debit"], pg, verdict(r >= 10)
        } else {
            print "| card debit / PostgreSQL debit with a shared settlement account | >= 10x | no target/pg-bench-table.md: run scripts/pg_bench.sh | - |"
        }
        if ("debit70" in rps) {
            printf "| debit p99 at 70%% of max throughput (open loop) | <= 5 ms | %s ms | %s |\n", p99["debit70"], verdict(p99["debit70"] <= 5)
        } else {
            print "| debit p99 at 70% of max throughput (open loop) | <= 5 ms | needs the load generator | - |"
        }
        if ("transfer1" in rps && rps["transfer0"] > 0) {
            r = rps["transfer1"] / rps["transfer0"]
            printf "| hot merchant account / uniform (wallet transfers, every one paid to one merchant wallet vs uniform payees) | >= 0.80 | %.2f (%.0f vs %.0f req/s; p99 %s vs %s ms) | %s |\n", r, rps["transfer1"], rps["transfer0"], p99["transfer1"], p99["transfer0"], verdict(r >= 0.80)
        } else {
            print "| hot merchant account / uniform | >= 0.80 | needs the load generator | - |"
        }
        print "| flat from 10k to 1M cards | flat | scripts/scale.sh | - |"
    }' "$rows" >"$table"
cat "$table"
{ cat "$output"; echo; cat "$table"; echo; } >>"$results"
echo "table in $table; appended to $results"
