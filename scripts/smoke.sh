#!/usr/bin/env bash
# Starts cardswitch on a temporary data directory and sends the jCard document's GL examples
# as written, printing each answer. Stops the switch and runs `verify` at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
data=$(mktemp -d)
port=${PORT:-18081}
./target/release/cardswitch serve --data "$data" --listen "127.0.0.1:$port" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening" "$data/serve.log" 2>/dev/null && break; sleep 0.1; done
call() { scripts/jcard_call.py --url "http://127.0.0.1:$port" --credentials "$data/admin-credentials" "$@"; }
call GET /jcard/api/echo
call POST /jcard/api/gl/transactions '{
  "detail": "Detail",
  "entries": [
    {"amount": 4693.38, "accountCode": "11.001.00", "type": "credit", "layer": 840},
    {"amount": 4693.38, "accountCode": "12.001.00", "tags": "tag2", "detail": "EntryDetail", "type": "debit", "layer": 840}
  ],
  "postDate": "2015-06-22", "journalName": "jcard", "tags": "tag1"
}'
call GET '/jcard/api/gl/journals/jcard/accounts/12.001.00%20/balance?layers=&date='
call GET '/jcard/api/gl/journals/jcard/accounts/12.001.00%20/statement?layers=&start=&end='
call POST /jcard/api/gl/charts/jcard/accounts '{"code": "22.001.00", "description": "a description", "accountType": "credit", "parentCode": "11.001", "final": true}'
kill -TERM $pid; wait $pid || true
trap - EXIT
./target/release/cardswitch verify --data "$data"
