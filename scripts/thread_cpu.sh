#!/usr/bin/env bash
# thread_cpu.sh: the switch's CPU per request, thread by thread, for one or more builds taking
# turns. A closed loop's rate on this machine wanders by more than most changes move it; the
# share of the switch's CPU each of its threads takes, and the microseconds of it each spends
# per answered request, are steadier (docs/performance.md, "Card debits without a savepoint").
# Each build gets STORES fresh stores of CARDS cards, the builds taking turns; on each, ROUNDS
# runs of MIX (a 1 s warm-up, then DURATION seconds measured, CONNECTIONS connections, the
# switch on core 0 and the client on core 1), closed-loop, or open-loop at RATE/s when RATE is
# set. A thread's CPU is read from /proc/PID/task/TID/schedstat (nanoseconds on a CPU), summed
# by thread name (the HTTP workers, the writer, the syncer, fjall's threads, the index workers).
#
# Usage: scripts/thread_cpu.sh [BINARY...]   (default: builds target/release/cardswitch)
# Settings: MIX (debit=1), RATE (unset: closed loop), ROUNDS (3), STORES (2), CARDS (10000),
# DURATION (6), CONNECTIONS (32). Run from a checkout whose config.toml the builds accept (the
# switch is started from the repository's root). Prints one line per run, then per build the
# means: requests/s, us/request of each thread group and in all, each group's share, the mean
# commit group and flush in commands (from /metrics), and the steal on the switch's core (the
# share of it the hypervisor gave to other guests: CPU per request rises with it).
set -euo pipefail

cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,18p' "$0"; exit 0 ;; esac

mix="${MIX:-debit=1}"
rate="${RATE:-}"
rounds="${ROUNDS:-3}"
stores="${STORES:-2}"
cards="${CARDS:-10000}"
duration_s="${DURATION:-6}"
connections="${CONNECTIONS:-32}"
server_cpu=0
if [ "$#" -eq 0 ]; then
    cargo build --release --quiet
    set -- "${CARGO_TARGET_DIR:-target}/release/cardswitch"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cardswitch-threads.XXXXXX")"
binary=""
# shellcheck source=scripts/serve_lib.sh
. scripts/serve_lib.sh
trap 'serve_stop; rm -rf "$work"' EXIT

# One line per thread of the running switch: its name (spaces made underscores) and its
# nanoseconds on a CPU so far.
thread_ns() {
    local task name
    for task in /proc/"$server_pid"/task/*; do
        name="$(tr ' ' '_' 2>/dev/null <"$task/comm")" || continue
        echo "$name $(cut -d' ' -f1 "$task/schedstat" 2>/dev/null || echo 0)"
    done
}

# Runs the mix once, measured: one row per thread group into $work/rows.
measure() {
    local build="$1" store="$2" round="$3" load=(--mix "$mix" --connections "$connections")
    local stat_before steal
    [ -z "$rate" ] || load+=(--rate "$rate")
    taskset -c 1 "$binary" load run --url "$url" --credentials "$work/data/admin-credentials" \
        "${load[@]}" --duration-s 1 --warmup-s 0 >/dev/null 2>"$work/load.err" \
        || { cat "$work/load.err" >&2; exit 1; }
    thread_ns >"$work/before"
    curl -s "$url/metrics" >"$work/metrics.before"
    stat_before="$(core_ticks "$server_cpu")"
    taskset -c 1 "$binary" load run --url "$url" --credentials "$work/data/admin-credentials" \
        "${load[@]}" --duration-s "$duration_s" --warmup-s 0 --json "$work/run.json" \
        >/dev/null 2>"$work/load.err" || { cat "$work/load.err" >&2; exit 1; }
    thread_ns >"$work/after"
    curl -s "$url/metrics" >"$work/metrics.after"
    steal="$(steal_percent "$stat_before" "$(core_ticks "$server_cpu")")"
    python3 - "$work/before" "$work/after" "$work/run.json" "$build" "$store" "$round" \
        "$work/metrics.before" "$work/metrics.after" "$steal" \
        >>"$work/rows" <<'EOF'
import collections, json, sys

def read(path):
    ns = collections.Counter()
    for line in open(path):
        name, value = line.split()
        ns[name] += int(value)
    return ns

def group(name):
    # Thread names as /proc shows them, cut to 15 bytes.
    for prefix, label in (("tokio-", "http"), ("cardswitch-writ", "writer"),
                          ("cardswitch-sync", "syncer"), ("cardswitch-bala", "snapshots"),
                          ("cardswitch-", "indexes"), ("compactor", "fjall"),
                          ("flusher", "fjall"), ("monitor", "fjall")):
        if name.startswith(prefix):
            return label
    return "other"

before, after = read(sys.argv[1]), read(sys.argv[2])
total = json.load(open(sys.argv[3]))["total"]
requests = total["requests"]
groups = collections.Counter()
for name, value in after.items():
    groups[group(name)] += value - before.get(name, 0)
build, store, round_ = sys.argv[4:7]
rate = total["throughput_per_s"]
for label, ns in sorted(groups.items()):
    print(build, store, round_, f"{rate:.0f}", label, f"{ns / 1000 / requests:.3f}")

def metric(path, name):
    for line in open(path):
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0

def delta(name):
    return metric(sys.argv[8], name) - metric(sys.argv[7], name)

# Not CPU: the mean commit group and flush, in commands, as rows of their own.
commands = delta("cardswitch_commit_group_commands_sum")
for label, count in (("cmds/group", delta("cardswitch_commit_group_commands_count")),
                     ("cmds/flush", delta("cardswitch_commit_flushes_total"))):
    print(build, store, round_, f"{rate:.0f}", label, f"{commands / count if count else 0:.3f}")

# The share of the switch's core the hypervisor gave to others (steal, `steal_percent`): CPU
# per request rises with it, so runs with much of it compare badly.
print(build, store, round_, f"{rate:.0f}", "steal%", sys.argv[9])
EOF
}

for store in $(seq 1 "$stores"); do
    for build in "$@"; do
        binary="$build"
        serve_populated "$work/data" "$work/log" "$cards"
        for round in $(seq 1 "$rounds"); do
            measure "$build" "$store" "$round"
        done
        serve_stop
    done
done

python3 - "$work/rows" <<'EOF'
import collections, sys

runs = collections.defaultdict(dict)   # (build, store, round) -> {group: us}
rates = {}
for line in open(sys.argv[1]):
    build, store, round_, rate, group, us = line.split()
    runs[(build, store, round_)][group] = float(us)
    rates[(build, store, round_)] = float(rate)
sizes = ["cmds/group", "cmds/flush", "steal%"]
groups = sorted({g for run in runs.values() for g in run} - set(sizes))
print("build store round requests/s " + " ".join(groups) + " all (us/request) " + " ".join(sizes))
for key, run in runs.items():
    print(*key, f"{rates[key]:.0f}", *(f"{run.get(g, 0):.1f}" for g in groups),
          f"{sum(run.get(g, 0) for g in groups):.1f}", *(f"{run.get(g, 0):.1f}" for g in sizes))
print()
print("build | requests/s | " + " | ".join(groups) + " | all (us/request; share of all) | "
      + " | ".join(sizes))
for build in dict.fromkeys(k[0] for k in runs):
    keys = [k for k in runs if k[0] == build]
    mean = {g: sum(runs[k].get(g, 0) for k in keys) / len(keys) for g in groups + sizes}
    total = sum(mean[g] for g in groups)
    rate = sum(rates[k] for k in keys) / len(keys)
    print(build, f"| {rate:.0f} | " + " | ".join(
        f"{mean[g]:.1f} ({100 * mean[g] / total:.1f}%)" for g in groups) + f" | {total:.1f} | "
        + " | ".join(f"{mean[g]:.1f}" for g in sizes))
EOF
