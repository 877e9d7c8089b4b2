#!/usr/bin/env bash
# scale.sh: how the switch behaves as the data set grows. For each card count it populates a
# fresh data directory through the load generator, measures closed-loop card debits and balance
# enquiries, restarts the switch (timing it until it answers) and measures them again there, and
# takes the server's resident memory and the data directory's size; then writes the table (the
# restarted switch's figures, and those right after populating) to target/scale-table.md and appends
# everything, with revision and date, to target/scale-results.txt (or $SCALE_RESULTS).
#
# Usage: scripts/scale.sh [--cards "10000 100000 1000000"]
# Settings: SCALE_CONNECTIONS (32), SCALE_SECONDS (5), SCALE_WARMUP_SECONDS (1), SCALE_ROUNDS (3:
# each measurement runs debits then balance enquiries this many times and takes the medians),
# SCALE_POPULATE_CONCURRENCY (16), SCALE_DIR (where data directories go). The switch runs on
# core 0 and the generator on core 1, as in scripts/bench.sh. Populating a million cards takes
# a few million durable requests: expect 13 to 16 minutes for that step alone.
set -euo pipefail

cd "$(dirname "$0")/.."

card_counts="10000 100000 1000000"
while [ $# -gt 0 ]; do
    case "$1" in
        --cards) card_counts="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
results="${SCALE_RESULTS:-$target_dir/scale-results.txt}"
table="$target_dir/scale-table.md"
connections="${SCALE_CONNECTIONS:-32}"
seconds="${SCALE_SECONDS:-5}"
warmup="${SCALE_WARMUP_SECONDS:-1}"
rounds="${SCALE_ROUNDS:-3}"
populate_concurrency="${SCALE_POPULATE_CONCURRENCY:-16}"
mkdir -p "$target_dir"
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi

cargo build --release --quiet
binary="$target_dir/release/cardswitch"
if [ "$(nproc)" -ge 2 ]; then server_cpu=0; client_cpu=1; else server_cpu=0; client_cpu=0; fi

work="$(mktemp -d "${SCALE_DIR:-${TMPDIR:-/tmp}}/cardswitch-scale.XXXXXX")"
# shellcheck source=scripts/serve_lib.sh
. scripts/serve_lib.sh
cleanup() { serve_stop; rm -rf "$work"; }
trap cleanup EXIT

rss_mib() {
    awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$server_pid/status"
}

# Closed-loop card debits, then balance enquiries, $rounds times against the running switch;
# puts the medians of their rates and p99s in measured[<kind>_<$1>_rps] and
# measured[<kind>_<$1>_p99], and every round's rate in measured[<kind>_<$1>_rounds].
declare -A measured
measure_kinds() {
    local when="$1" kind json rps p99 round list
    local -A round_rates round_p99s
    for round in $(seq 1 "$rounds"); do
        for kind in debit balance; do
            json="$work/$kind-$cards-$when-$round.json"
            taskset -c "$client_cpu" "$binary" load run "${common[@]}" --mix "$kind=1" \
                --connections "$connections" --duration-s "$seconds" --warmup-s "$warmup" \
                --json "$json"
            read -r rps _ p99 <<<"$(python3 scripts/plot_latency.py --summary "$json")"
            round_rates[$kind]="${round_rates[$kind]:-} $rps"
            round_p99s[$kind]="${round_p99s[$kind]:-} $p99"
        done
    done
    for kind in debit balance; do
        # shellcheck disable=SC2086 # the lists are words on purpose
        measured["${kind}_${when}_rps"]="$(median ${round_rates[$kind]})"
        # shellcheck disable=SC2086
        measured["${kind}_${when}_p99"]="$(median ${round_p99s[$kind]})"
        list="${round_rates[$kind]# }"
        measured["${kind}_${when}_rounds"]="${list// /,}"
    done
}

rows="$work/rows.tsv"
: >"$rows"
output="$work/output.txt"
{
    echo "=== cardswitch scale, revision $revision, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "settings: cards=[$card_counts] connections=$connections seconds=$seconds warmup=$warmup rounds=$rounds"
    for cards in $card_counts; do
        data="$work/data-$cards"
        mkdir -p "$data"
        serve_start "$data" "$data.log"
        empty_rss="$(rss_mib)"
        common=(--url "$url" --credentials "$data/admin-credentials")
        populate_started="$(date +%s)"
        taskset -c "$client_cpu" "$binary" load populate "${common[@]}" --cards "$cards" \
            --concurrency "$populate_concurrency"
        populate_s=$(( $(date +%s) - populate_started ))
        populated_rss="$(rss_mib)"
        # Right after populating, the store still compacts what was just written (at a million
        # cards, over a gigabyte): these figures carry that debt, the 10,000-card ones hardly.
        measure_kinds fresh
        serve_stop
        data_mib="$(du -sm "$data" | cut -f1)"
        serve_start "$data" "$data.log"
        restart_s="$startup_s"
        restarted_rss="$(rss_mib)"
        common=(--url "$url" --credentials "$data/admin-credentials")
        # A switch restarted on its data: what it runs like day to day, and the table's ratios.
        measure_kinds restarted
        serve_stop
        rates="after restart (medians of $rounds rounds): debit ${measured[debit_restarted_rps]}/s (${measured[debit_restarted_rounds]}) p99 ${measured[debit_restarted_p99]} ms, balance ${measured[balance_restarted_rps]}/s (${measured[balance_restarted_rounds]}) p99 ${measured[balance_restarted_p99]} ms; right after populating: debit ${measured[debit_fresh_rps]}/s p99 ${measured[debit_fresh_p99]} ms, balance ${measured[balance_fresh_rps]}/s p99 ${measured[balance_fresh_p99]} ms"
        echo "cards $cards: populate ${populate_s} s; $rates; RSS empty ${empty_rss} MiB, populated ${populated_rss} MiB, after restart ${restarted_rss} MiB; data ${data_mib} MiB; restart ${restart_s} s"
        echo "$cards $populate_s ${measured[debit_restarted_rps]} ${measured[debit_restarted_p99]} ${measured[balance_restarted_rps]} ${measured[balance_restarted_p99]} $empty_rss $populated_rss $restarted_rss $data_mib $restart_s ${measured[debit_fresh_rps]} ${measured[balance_fresh_rps]}" >>"$rows"
        rm -rf "$data"
    done
} 2>&1 | tee "$output"

awk -v rev="$revision" -v date="$(date -u +%Y-%m-%d)" -v rounds="$rounds" '
    NR == 1 { base_debit = $3; base_debit_p99 = $4; base_balance = $5 }
    {
        per_card = ($9 - $7) * 1048576 / $1
        rows[NR] = sprintf("| %d | %d s | %.0f/s (%.2f) | %s ms (%.2f) | %.0f/s (%.2f) | %s ms | %.0f/s, %.0f/s | %s MiB | %.0f B | %s MiB | %s s |",
            $1, $2, $3, $3 / base_debit, $4, $4 / base_debit_p99, $5, $5 / base_balance, $6, $12, $13, $9, per_card, $10, $11)
    }
    END {
        printf "Revision %s, %s. Measured on the restarted switch, medians of %s rounds; ratios in brackets against the first row.\n\n", rev, date, rounds
        print "| cards | populate | card debit (ratio) | debit p99 (ratio) | balance (ratio) | balance p99 | debit, balance right after populating | RSS after restart | memory per card | data dir | restart until listening |"
        print "|---|---|---|---|---|---|---|---|---|---|---|"
        for (i = 1; i <= NR; i++) print rows[i]
    }' "$rows" >"$table"
cat "$table"
{ cat "$output"; echo; cat "$table"; echo; } >>"$results"
echo "table in $table; appended to $results"
