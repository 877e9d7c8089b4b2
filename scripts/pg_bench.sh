#!/usr/bin/env bash
# pg_bench.sh: the card-debit workload of scripts/bench.sh as SQL transactions on a local
# PostgreSQL, so the switch can be compared with it on the same box. Run by hand, never by CI.
#
# Usage: scripts/pg_bench.sh
# Installs PostgreSQL from Debian's packages if initdb/pgbench are missing (apt-get, as root),
# creates a throwaway cluster in a temp dir owned by an unprivileged user (PostgreSQL refuses to
# run as root), with fsync=on and synchronous_commit=on, and removes it at exit. The server is
# pinned to core 0 and pgbench to core 1 (taskset), as scripts/bench.sh pins the switch and its
# client. One debit = one transaction: the card account's balance lowered with a check
# (UPDATE ... WHERE balance >= amount RETURNING; the CHECK (balance >= 0) constraint backs it),
# the credited account raised, two entries and one log row inserted. Two variants:
#   merchant: each card has its own credited account (no row shared between transactions);
#   shared:   every debit credits one settlement account (one hot row, serialised by its lock).
# Settings (environment): PG_BENCH_SECONDS (15), PG_BENCH_CLIENTS (16), PG_BENCH_CARDS (10000),
# PG_BENCH_USER (cardswitch-pg), PG_BENCH_DIR (system temp dir), PG_BENCH_RESULTS
# (target/pg-bench-results.txt; a summary table also goes to target/pg-bench-table.md).
set -euo pipefail

cd "$(dirname "$0")/.."

case "${1:-}" in
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

seconds="${PG_BENCH_SECONDS:-15}"
clients="${PG_BENCH_CLIENTS:-16}"
cards="${PG_BENCH_CARDS:-10000}"
pg_user="${PG_BENCH_USER:-cardswitch-pg}"
results="${PG_BENCH_RESULTS:-target/pg-bench-results.txt}"
table="$(dirname "$results")/pg-bench-table.md"
port=54329
mkdir -p "$(dirname "$results")"

# --- PostgreSQL binaries ---------------------------------------------------------------------
find_bindir() {
    local dir
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pgbench" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}
if ! bindir="$(find_bindir)"; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed and this is not root: apt-get install postgresql postgresql-contrib" >&2
        exit 1
    fi
    echo "installing PostgreSQL from Debian's packages ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    bindir="$(find_bindir)"
fi
pg_version="$("$bindir/postgres" --version)"

# --- an unprivileged user to own the throwaway cluster ------------------------------------------
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    if ! id "$pg_user" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    as_pg() { runuser -u "$pg_user" -- "$@"; }
fi

work="$(mktemp -d "${PG_BENCH_DIR:-${TMPDIR:-/tmp}}/cardswitch-pg.XXXXXX")"
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown "$pg_user" "$work"
data="$work/data"
cleanup() {
    if [ -f "$data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

as_pg "$bindir/initdb" -D "$data" -U bench --auth=trust --no-instructions >/dev/null
cat >>"$data/postgresql.conf" <<EOF
# cardswitch pg_bench.sh: durable commits, as the switch's (fsync before acknowledging).
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = $((clients + 10))
shared_buffers = 512MB
EOF
# The server on core 0; pgbench on core 1 (below). taskset is inherited by every backend.
as_pg taskset -c 0 "$bindir/pg_ctl" -D "$data" -l "$work/server.log" -w start >/dev/null

psql_run() { as_pg "$bindir/psql" -h "$work" -p "$port" -U bench -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- schema and data ---------------------------------------------------------------------------
# accounts 1..cards are cards (funded), cards+1..2*cards their merchants' accounts,
# 2*cards+1 the shared settlement account. Amounts in minor units (bigint), as the switch.
psql_run <<EOF
CREATE TABLE accounts (
    id      bigint PRIMARY KEY,
    balance bigint NOT NULL CHECK (balance >= 0)
);
CREATE TABLE entries (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    amount     bigint NOT NULL,
    tran_id    bigint NOT NULL,
    created    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tranlog (
    id       bigserial PRIMARY KEY,
    card_id  bigint NOT NULL,
    amount   bigint NOT NULL,
    rrn      text NOT NULL,
    result   text NOT NULL,
    created  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO accounts SELECT g, 1000000000 FROM generate_series(1, $cards) g;
INSERT INTO accounts SELECT g, 0 FROM generate_series($cards + 1, 2 * $cards + 1) g;
VACUUM ANALYZE;
CHECKPOINT;
EOF

# One debit of 1.00 (100 minor units). The card's balance is lowered only if it covers the
# amount (the RETURNING gives the new balance; no row means declined), then the credited account,
# two entries (debit, credit) and one log row, all in one transaction.
debit_script() { # $1: the SQL expression of the credited account
    cat <<EOF
\\set card random(1, $cards)
\\set amount 100
BEGIN;
UPDATE accounts SET balance = balance - :amount WHERE id = :card AND balance >= :amount RETURNING balance;
UPDATE accounts SET balance = balance + :amount WHERE id = $1;
INSERT INTO tranlog (card_id, amount, rrn, result) VALUES (:card, :amount, md5(random()::text), '0000') RETURNING id AS tran \\gset
INSERT INTO entries (account_id, amount, tran_id) VALUES (:card, - :amount, :tran), ($1, :amount, :tran);
COMMIT;
EOF
}
debit_script ":card + $cards" >"$work/merchant.sql"
debit_script "$((2 * cards + 1))" >"$work/shared.sql"
chmod 644 "$work"/*.sql

revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
    echo "=== pg_bench, revision $revision, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -srm)"
    echo "server: $pg_version, fsync=on, synchronous_commit=on, pinned to core 0; pgbench pinned to core 1"
    echo "settings: clients=$clients threads=1 seconds=$seconds cards=$cards"
} >"$work/report.txt"

declare -A tps p50 p99 avg
for variant in merchant shared; do
    echo "running $variant ($seconds s, $clients clients) ..." >&2
    # -n: no vacuum of pgbench's own tables; -l: per-transaction latencies for percentiles.
    (cd "$work" && as_pg taskset -c 1 "$bindir/pgbench" -h "$work" -p "$port" -U bench -n \
        -f "$work/$variant.sql" -c "$clients" -j 1 -T "$seconds" -P 5 -r -l \
        --log-prefix="$work/log-$variant" postgres) >"$work/out-$variant.txt" 2>&1 || {
        cat "$work/out-$variant.txt" >&2
        exit 1
    }
    tps[$variant]="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/out-$variant.txt" | tail -1)"
    avg[$variant]="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$work/out-$variant.txt")"
    # pgbench -l lines: client transaction latency_us script epoch epoch_us
    read -r p50[$variant] p99[$variant] < <(cat "$work"/log-"$variant".* | awk '{print $3}' | sort -n |
        awk '{a[NR]=$1} END {i50=int(NR*0.50); i99=int(NR*0.99); if (i50<1) i50=1; if (i99<1) i99=1;
             printf "%.3f %.3f\n", a[i50]/1000, a[i99]/1000}')
    {
        echo "--- variant $variant"
        grep -v '^pgbench (' "$work/out-$variant.txt"
        echo "percentiles from the transaction log: p50 ${p50[$variant]} ms, p99 ${p99[$variant]} ms"
    } >>"$work/report.txt"
done

# The ledger balanced: total money is what was put in, no balance below zero.
check="$(psql_run -At -c "SELECT sum(balance), count(*) FILTER (WHERE balance < 0) FROM accounts")"
entries="$(psql_run -At -c "SELECT count(*), coalesce(sum(amount), 0) FROM entries")"
echo "check: sum(balance)|negative = $check (expected $((cards * 1000000000))|0); entries count|sum = $entries (sum expected 0)" >>"$work/report.txt"

{
    echo "| PostgreSQL debit workload ($clients clients, $seconds s, revision $revision, $(date -u +%Y-%m-%d)) | TPS | avg ms | p50 ms | p99 ms |"
    echo "|---|---:|---:|---:|---:|"
    echo "| per-card merchant account (no shared row) | ${tps[merchant]%.*} | ${avg[merchant]} | ${p50[merchant]} | ${p99[merchant]} |"
    echo "| one shared settlement account (hot row) | ${tps[shared]%.*} | ${avg[shared]} | ${p50[shared]} | ${p99[shared]} |"
} >"$table"
{ cat "$work/report.txt"; echo; cat "$table"; echo; } | tee -a "$results"
echo "appended to $results; table in $table" >&2
