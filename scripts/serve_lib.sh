# serve_lib.sh: starting and stopping `cardswitch serve`, a median, and a core's steal, for the
# measuring scripts (bench.sh, scale.sh, cpu_per_request.sh, thread_cpu.sh). Source it; it expects $binary (the cardswitch executable) and
# $server_cpu (the core to pin the switch to), and keeps the running switch's pid in
# $server_pid.

server_pid=""

# Starts the switch on data directory $1, logging to $2; sets $url, $server_pid and $startup_s
# (seconds until it listens). Call it in the script's own shell, not in $(...): the variables
# must reach the caller.
serve_start() {
    local data="$1" log="$2" started
    : >"$log"
    started="$(date +%s.%N)"
    # 3>&- : the switch must not hold a caller's tee pipe open, or the caller waits for it.
    taskset -c "$server_cpu" "$binary" serve --data "$data" --listen 127.0.0.1:0 >"$log" 2>&1 3>&- &
    server_pid=$!
    url=""
    while [ -z "$url" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$log" >&2
            echo "the switch did not start" >&2
            exit 1
        fi
        url="$(sed -n 's/^cardswitch listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)"
        [ -n "$url" ] || sleep 0.05
    done
    startup_s="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')"
}

# Starts the switch on a fresh data directory $1 (logging to $2) and populates it with $3 cards
# from core 1 (the populate's progress kept in $2.populate, shown if it fails); as serve_start,
# call it in the script's own shell. For the scripts that compare builds on fresh stores (cpu_per_request.sh,
# thread_cpu.sh).
serve_populated() {
    local data="$1" log="$2" cards="$3"
    rm -rf "$data"
    mkdir -p "$data"
    serve_start "$data" "$log"
    if ! taskset -c 1 "$binary" load populate --url "$url" \
        --credentials "$data/admin-credentials" --cards "$cards" >/dev/null 2>"$log.populate"; then
        cat "$log.populate" >&2
        echo "populating the switch failed" >&2
        exit 1
    fi
}

# Stops the switch started last (SIGTERM: a graceful stop), if it still runs.
serve_stop() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}

# Prints the median of the numbers given (the mean of the middle two for an even count): the
# scripts' rounds are summed up by it.
median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# Prints the tick counters of core $1 from /proc/stat (user nice system idle iowait irq softirq
# steal ...), for `steal_percent`.
core_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu {$1 = ""; print}' /proc/stat
}

# Prints the share of a core, in percent, that the hypervisor gave to others (steal) between
# two `core_ticks` readings $1 and $2: on a virtual machine, time the core did not run at all.
steal_percent() {
    awk -v before="$1" -v after="$2" 'BEGIN {
        n = split(before, b, " "); split(after, a, " "); total = 0
        for (i = 1; i <= n; i++) total += a[i] - b[i]
        printf "%.3f\n", (total > 0) ? 100 * (a[8] - b[8]) / total : 0
    }'
}
