#!/usr/bin/env bash
# bench.sh: builds cardswitch in release and measures, in one run, `GET /jcard/api/echo` (the
# HTTP + authentication ceiling), balance enquiries and durable card debits, with the switch
# pinned to core 0 and the client to core 1, and the disk's own write + fdatasync latency with
# no switch running (`load disk`); then writes the table of ratios against the
# targets to target/bench-table.md and appends everything, with revision and date, to
# target/bench-results.txt (or $BENCH_RESULTS). With --core, also criterion's micro-benchmarks.
#
# Usage: scripts/bench.sh [--core]
# The client is `cardswitch load` (an external process against `cardswitch serve` on a temp data
# dir) when the release binary has that subcommand with the flags used below, else the
# in-process bench `benches/http.rs`, whose client runtime's threads (`bench-client`) are moved
# to core 1 while the rest of the process stays on core 0. Settings: BENCH_CONNECTIONS (32),
# BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1), BENCH_CLIENT (auto|load|inprocess), BENCH_CARDS
# (10000, load only), BENCH_ROUNDS (3, load only: each closed-loop workload and the 70% point run
# this many times, interleaved, and the table takes the median of each ratio, with the range of
# the rounds beside it), BENCH_SWEEP (1: with the load generator, open-loop runs at fractions of the
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
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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
rounds="${BENCH_ROUNDS:-3}"
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

# rows.tsv: kind, requests/s, p50 ms, p99 ms, round (kinds: echo, balance, debit, transfer0,
# transfer1, debit70, late70: the generator's own lateness at the 70% point, `send_late_ms`;
# steal70: the steal on the switch's core in those rounds, in percent; debit10 and steal10: the
# same at the sweep's 10% point (one round); disk99 and disk999: the disk's own sync p99 and
# p99.9, `disk_rounds`; the in-process bench has one round).
rows="$work/rows.tsv"
: >"$rows"
output="$work/output.txt"

# Reads one `cardswitch load run --json` file and prints "rps p50 p99" (tolerant of layout).
json_summary() {
    python3 "$(dirname "$0")/plot_latency.py" --summary "$1"
}

# Prints "0 p50 p99" of the generator's own lateness (`send_late_ms`) in one open-loop JSON
# file, or nothing if the generator did not write it.
json_late() {
    python3 -c 'import json, sys
late = json.load(open(sys.argv[1])).get("send_late_ms")
if late: print(0, late["p50"], late["p99"])' "$1"
}

# Appends the row "late70 0 p50 p99 ROUND" for the open-loop JSON file $1, round $2.
late_row() {
    local late
    late="$(json_late "$1")"
    if [ -n "$late" ]; then echo "late70 $late $2" >>"$rows"; fi
}

# Appends the row "KIND 0 0 PERCENT ROUND" (KIND $4, default steal70): the steal on the
# switch's core between the `core_ticks` readings $1 and $2, round $3 (time the core did not
# run at all, which the latencies include).
steal_row() {
    echo "${4:-steal70} 0 0 $(steal_percent "$1" "$2") $3" >>"$rows"
}

# Starts a switch on a fresh data directory $1 (log $2) and populates it; sets `common`, the
# generator's flags that name that switch.
start_populated_switch() {
    mkdir -p "$1"
    serve_start "$1" "$2"
    echo "switch (pid $server_pid, core $server_cpu) at $url; client on core $client_cpu"
    common=(--url "$url" --credentials "$1/admin-credentials")
    taskset -c "$client_cpu" "$binary" load populate "${common[@]}" --cards "$cards"
}

# One measured run of the generator against the switch `common` names, its results in the
# JSON file $1; the rest of the arguments say what to send (mix, connections, rate).
load_run() {
    local json="$1"
    shift
    taskset -c "$client_cpu" "$binary" load run "${common[@]}" --duration-s "$seconds" \
        --warmup-s "$warmup" --json "$json" "$@"
}

run_with_load() {
    local kind json max_debit fraction rate common
    start_populated_switch "$work/data" "$work/server.log"
    # Rounds, each workload once per round, so that a slow spell of this noisy machine lands in
    # one round's figures rather than in one workload's.
    for round in $(seq 1 "$rounds"); do
        echo "--- round $round of $rounds"
        for kind in echo balance debit; do
            json="$work/closed-$kind-$round.json"
            load_run "$json" --mix "$kind=1" --connections "$connections"
            echo "$kind $(json_summary "$json") $round" >>"$rows"
        done
        # The hot-merchant target: every jCard card debit already credits the one acquirer
        # account 12.001.00, so the uniform-versus-hot comparison is made with wallet
        # transfers: payees drawn uniformly over the wallets, then every transfer paid to the
        # one merchant wallet.
        for share in 0 1; do
            json="$work/closed-transfer-$share-$round.json"
            load_run "$json" --mix transfer=1 --hot-merchant-share "$share" \
                --connections "$connections"
            echo "transfer$share $(json_summary "$json") $round" >>"$rows"
        done
    done
    if [ "${BENCH_SWEEP:-1}" = 1 ]; then
        # Open loop at fractions of the closed-loop debit rate (the rounds' median): latency
        # against offered load. On a switch with a freshly populated store of its own, as the
        # closed-loop rounds had: after the rounds' writes the store carries their compaction
        # debt, and a sweep there measured that (p99 at 70% 62-298 ms against 19 ms).
        # shellcheck disable=SC2046 # one word per round's rate
        max_debit="$(median $(awk '$1 == "debit" {print $2}' "$rows"))"
        serve_stop
        start_populated_switch "$work/sweep-data" "$work/sweep-server.log"
        mkdir -p "$target_dir/bench-sweep"
        rm -f "$target_dir"/bench-sweep/*.json
        for fraction in 0.1 0.3 0.5 0.7 0.8 0.9 1.0 1.1; do
            rate="$(awk -v m="$max_debit" -v f="$fraction" 'BEGIN {printf "%d", m * f}')"
            [ "$rate" -ge 1 ] || continue
            json="$target_dir/bench-sweep/rate-$rate.json"
            # More connections than the closed loop: each one carries a single request at a
            # time, so C connections at latency L cannot offer more than C/L per second; the
            # sweep must measure the switch, not that client limit (many terminals, in life).
            stat_before="$(core_ticks "$server_cpu")"
            load_run "$json" --mix debit=1 --connections "$sweep_connections" --rate "$rate"
            if [ "$fraction" = 0.1 ]; then
                # The low-load point, with its steal: on a virtual machine a lightly loaded
                # core waits for the host at every wake-up (docs/performance.md, "The tail at
                # low load, and the disk under it").
                echo "debit10 $(json_summary "$json") 1" >>"$rows"
                steal_row "$stat_before" "$(core_ticks "$server_cpu")" 1 steal10
            fi
            if [ "$fraction" = 0.7 ]; then
                echo "debit70 $(json_summary "$json") 1" >>"$rows"
                late_row "$json" 1
                steal_row "$stat_before" "$(core_ticks "$server_cpu")" 1
                # The 70% point is a verdict, so it gets its rounds too (not plotted).
                for round in $(seq 2 "$rounds"); do
                    stat_before="$(core_ticks "$server_cpu")"
                    load_run "$work/debit70-$round.json" --mix debit=1 \
                        --connections "$sweep_connections" --rate "$rate"
                    echo "debit70 $(json_summary "$work/debit70-$round.json") $round" >>"$rows"
                    late_row "$work/debit70-$round.json" "$round"
                    steal_row "$stat_before" "$(core_ticks "$server_cpu")" "$round"
                done
            fi
        done
        python3 "$(dirname "$0")/plot_latency.py" --title "card debit, revision $revision" \
            -o docs/performance-latency.svg "$target_dir"/bench-sweep/*.json
        echo "latency against offered load: docs/performance-latency.svg"
    fi
    serve_stop
    disk_rounds
}

# The disk's own write + fdatasync on the data directories' filesystem, with no switch running
# (`cardswitch load disk`: 5,000 syncs of 4 KiB at 1,000/s, once a round): every debit waits
# for one such sync, so its tail is a floor under the debits' p99. Rows "disk99 0 p50 p99 ROUND"
# and "disk999 0 p50 p99.9 ROUND".
disk_rounds() {
    local round json
    "$binary" load disk --help >/dev/null 2>&1 || return 0
    for round in $(seq 1 "$rounds"); do
        json="$work/disk-$round.json"
        taskset -c "$server_cpu" "$binary" load disk --dir "$work" --syncs 5000 --bytes 4096 \
            --interval-us 1000 --json "$json"
        python3 -c 'import json, sys
latency = json.load(open(sys.argv[1]))["latency_ms"]
print("disk99 0", latency["p50"], latency["p99"], sys.argv[2])
print("disk999 0", latency["p50"], latency["p999"], sys.argv[2])' "$json" "$round" >>"$rows"
    done
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
    awk '/^GET echo /        {print "echo",    $(NF-3), $(NF-2), $(NF-1), 1}
         /^GET balance /     {print "balance", $(NF-3), $(NF-2), $(NF-1), 1}
         /^POST card debit / {print "debit",   $(NF-3), $(NF-2), $(NF-1), 1}' \
        "$work/inprocess.txt" >>"$rows"
}

# Not a pipeline, so the block runs in this shell and the EXIT trap sees the server.
exec 3> >(tee "$output")
tee_pid=$!
{
    echo "=== cardswitch bench, revision $revision, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "client: $client; settings: connections=$connections seconds=$seconds warmup=$warmup rounds=$rounds"
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
    # Per kind and round: requests/s, p99. Verdicts use the median over the rounds; ratios are
    # taken within a round (the targets compare workloads "in the same run").
    { rps[$1, $5] = $2; p99[$1, $5] = $4; if ($5 > rounds) rounds = $5; seen[$1] = 1 }
    function verdict(ok) { return ok ? "met" : "not met" }
    # Median, minimum and maximum of v[1..n] (into med, lo, hi); n is small.
    function stats(v, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2; lo = v[1]; hi = v[n]
    }
    # The rounds of a ratio a/b (scaled), or of one measure (b empty; field "rps" or "p99").
    function collect(a, b, field,    r, n) {
        n = 0; delete vals
        for (r = 1; r <= rounds; r++) {
            if (!((a, r) in rps)) continue
            if (b != "") { if (!((b, r) in rps) || rps[b, r] <= 0) continue; vals[++n] = rps[a, r] / rps[b, r] }
            else vals[++n] = (field == "p99") ? p99[a, r] : rps[a, r]
        }
        if (n > 0) stats(vals, n); else { med = 0; lo = 0; hi = 0 }
        return n
    }
    # "median (min-max)" when there is more than one round.
    function show(format, n) {
        if (n == 0) return "not measured"
        return n > 1 ? sprintf(format " (" format "-" format ")", med, lo, hi) : sprintf(format, med)
    }
    END {
        printf "| measure (revision %s, %s, client %s, %s connections, %s s, median of %d rounds) | target | measured | verdict |\n", rev, date, client, conn, secs, rounds
        print "|---|---|---|---|"
        n = collect("echo", "", "rps"); echo_rps = med; echo_show = show("%.0f", n)
        collect("echo", "", "p99")
        printf "| echo (HTTP + authentication ceiling) | - | %s req/s, p99 %s ms | - |\n", echo_show, med
        n = collect("balance", "", "rps"); balance_show = show("%.0f", n)
        n = collect("debit", "", "rps"); debit_rps = med; debit_show = show("%.0f", n)
        if (echo_rps > 0) {
            n = collect("balance", "echo")
            printf "| balance / echo | >= 0.90 | %s (%s req/s) | %s |\n", show("%.2f", n), balance_show, n ? verdict(med >= 0.90) : "-"
            n = collect("debit", "echo")
            printf "| durable card debit / echo | >= 0.50 | %s (%s req/s) | %s |\n", show("%.2f", n), debit_show, n ? verdict(med >= 0.50) : "-"
        }
        if (pg > 0 && debit_rps > 0) {
            r = debit_rps / pg
            printf "| card debit / PostgreSQL debit with a shared settlement account | >= 10x | %.1fx (median %.0f vs %s TPS) | %s |\n", r, debit_rps, pg, verdict(r >= 10)
        } else {
            print "| card debit / PostgreSQL debit with a shared settlement account | >= 10x | no target/pg-bench-table.md: run scripts/pg_bench.sh | - |"
        }
        if ("debit70" in seen) {
            n = collect("debit70", "", "p99")
            printf "| debit p99 at 70%% of max throughput (open loop) | <= 5 ms | %s ms | %s |\n", show("%.1f", n), verdict(med <= 5)
            if ("late70" in seen) {
                n = collect("late70", "", "p99")
                printf "| lateness of the generator itself at that point (p99, from due and connection free to sent; part of the p99 above) | - | %s ms | - |\n", show("%.2f", n)
            }
            if ("steal70" in seen) {
                n = collect("steal70", "", "p99")
                printf "| steal on the switch'"'"'s core during those rounds (the hypervisor running others; the core stands still) | - | %s%% | - |\n", show("%.1f", n)
            }
            if ("debit10" in seen && "steal10" in seen) {
                n = collect("debit10", "", "p99"); low = show("%.1f", n)
                n = collect("steal10", "", "p99")
                printf "| for comparison, debit p99 at 10%% of max (the sweep'"'"'s first point, one round) and the steal on the switch'"'"'s core then | - | %s ms, %s%% steal | - |\n", low, show("%.1f", n)
            }
        } else {
            print "| debit p99 at 70% of max throughput (open loop) | <= 5 ms | needs the load generator | - |"
        }
        if ("disk99" in seen) {
            n = collect("disk99", "", "p99"); disk99 = show("%.2f", n)
            n = collect("disk999", "", "p99")
            printf "| the disk alone: write + fdatasync p99 / p99.9, no switch running (`load disk`, 4 KiB at 1,000/s; a floor under every debit) | - | %s / %s ms | - |\n", disk99, show("%.2f", n)
        }
        if ("transfer1" in seen && "transfer0" in seen) {
            n = collect("transfer1", "", "rps"); hot_show = show("%.0f", n)
            n = collect("transfer0", "", "rps"); uniform_show = show("%.0f", n)
            n = collect("transfer1", "transfer0")
            printf "| hot merchant account / uniform (wallet transfers, every one paid to one merchant wallet vs uniform payees) | >= 0.80 | %s (%s vs %s req/s) | %s |\n", show("%.2f", n), hot_show, uniform_show, verdict(med >= 0.80)
        } else {
            print "| hot merchant account / uniform | >= 0.80 | needs the load generator | - |"
        }
        print "| flat from 10k to 1M cards | flat | scripts/scale.sh | - |"
    }' "$rows" >"$table"
cat "$table"
{ cat "$output"; echo; cat "$table"; echo; } >>"$results"
echo "table in $table; appended to $results"
