#!/usr/bin/env bash
# A worked cashback example over /cardapi with bearer tokens: starts cardswitch on a temporary
# data directory, mints an admin token, creates a merchant group, a store, a point of sale and
# a pass, credits 20.00 of cashback onto the pass, mints a point-of-sale token for the store,
# searches the pass by NFC and by store + point of sale, pays 5.50 with cashback (repeating
# the same ticket to show it is spent once), shows two refusals, and audits the ledger.
# CARDSWITCH_BIN names the binary to use (built in release mode when unset); PORT the port.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CARDSWITCH_BIN:-}" ]; then
  cargo build --release --quiet
  CARDSWITCH_BIN=./target/release/cardswitch
fi
bin=$CARDSWITCH_BIN
data=$(mktemp -d)
port=${PORT:-18084}
"$bin" serve --data "$data" --listen "127.0.0.1:$port" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening" "$data/serve.log" 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/cardapi"
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
# call TOKEN METHOD PATH [BODY]: prints the answer; fails unless the status is 2xx.
call() {
  echo "> $2 /cardapi$3 ${4:-}" >&2
  local args=(-sS -X "$2" -H "Authorization: Bearer $1" -w '\n%{http_code}')
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' -d "$4")
  local answer status
  answer=$(curl "${args[@]}" "$url$3")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  echo "< $status $answer" >&2
  echo "$answer"
  [[ $status == 2* ]]
}

admin=$("$bin" token issue --data "$data" --scope admin --ttl-s 600)
group=$(call "$admin" POST /admin/groups '{"name": "Bakeries", "currency": "978"}' | field id)
store=$(call "$admin" POST /admin/stores "{\"group_id\": $group, \"name\": \"Main street\"}" | field id)
pos=$(call "$admin" POST /admin/points-of-sale "{\"store_id\": $store, \"name\": \"Till 1\"}" | field id)
pass=$(call "$admin" POST /admin/passes "{\"group_id\": $group, \"holder_name\": \"Ada Lovelace\",
  \"nfc\": \"04A1B2C3D4E5F6\", \"barcode\": \"3701234567890\", \"manual_code\": \"CB-1001\"}" | field pass.id)
credit='{"request_id": "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0001", "amount": "20.00", "currency": "978"}'
call "$admin" POST "/admin/passes/$pass/credit" "$credit" > /dev/null

pos_token=$("$bin" token issue --data "$data" --scope cashback --group-id "$group" --store-id "$store" --ttl-s 600)
call "$pos_token" GET "/cards?search_mode=NFC&q=04A1B2C3D4E5F6&group_id=$group" > /dev/null
found=$(call "$pos_token" GET "/cards?search_mode=MANUAL&q=CB-1001&store_id=$store&point_of_sale_id=$pos")
debit="{\"ticket_id\": \"9ffa8d1d-0765-11f1-88b3-0cc47a065898\", \"ticket_number\": \"T-0042\",
  \"point_of_sale_id\": $pos, \"device_id\": \"till-1\", \"pass\": $(echo "$found" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["pass"]))'),
  \"payment_row\": {\"amount\": \"5.50\", \"currency\": \"978\"}}"
first=$(call "$pos_token" POST /cards/cashback/debit "$debit")
echo "# the same ticket again: the stored answer, nothing debited twice" >&2
again=$(call "$pos_token" POST /cards/cashback/debit "$debit")
[ "$first" = "$again" ] || { echo "a repeated ticket answered differently" >&2; exit 1; }
balance=$(call "$pos_token" GET "/cards?search_mode=BARCODE&q=3701234567890&group_id=$group" | field pass.balance.amount)
[ "$balance" = "14.50" ] || { echo "expected 14.50 left, found $balance" >&2; exit 1; }
echo "# refused: more than the pass holds (CARD-12), and no token (CARD-5)" >&2
too_much=${debit/9ffa8d1d-0765-11f1-88b3-0cc47a065898/1c9a4f0e-2d3b-4c5d-8e6f-7a8b9c0d1e2f}
too_much=${too_much/\"5.50\"/\"100.00\"}
if call "$pos_token" POST /cards/cashback/debit "$too_much" > /dev/null; then exit 1; fi
if call "" GET "/cards?search_mode=NFC&q=04A1B2C3D4E5F6&group_id=$group" > /dev/null; then exit 1; fi
kill -TERM $pid; wait $pid || true
"$bin" verify --data "$data"
echo "cashback demo: ok (14.50 left on the pass)"
