#!/usr/bin/env bash
# A worked wallet example with signed jCard requests: starts cardswitch on a temporary data
# directory, configures a fee, creates a customer with a wallet and a second wallet, credits,
# transfers (retrying with the same RRN to show idempotency), logs in with the PIN, reads the
# balance and statement as the wallet's owner, reverses the transfer, and audits the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
data=$(mktemp -d)
port=${PORT:-18083}
./target/release/cardswitch serve --data "$data" --listen "127.0.0.1:$port" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening" "$data/serve.log" 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/jcard/api"
call() { echo "> $1 $2" >&2; scripts/jcard_call.py --url "${url%/jcard/api}" --credentials "$data/admin-credentials" "$1" "/jcard/api$2" "${3:-}"; }

call POST /sysconfig '{"id": "fee.P2PRemittances.flat.840", "value": "0.50", "readPerm": "", "writePerm": ""}'
created=$(call POST '/customers?createWallet=true' '{"realId": "1438713781889", "firstName": "Jane", "lastName": "Doe",
  "institutionId": "0000000001", "phone": "123456789", "birthDate": "1992-12-11"}')
echo "$created"
pin=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
call POST /wallets '{"code": "1234567891"}'
call POST /wallets/123456789/credit '{"amount": 200, "currency": "840", "description": "cash in", "rrn": "548715406820", "type": "cashInA2W"}'
transfer='{"amount": 10.00, "currency": "840", "description": "A description", "rrn": "1234abc", "type": "P2PRemittances"}'
call POST '/wallets/123456789/transfer?dryRun=true/1234567891' "$transfer"
call POST /wallets/123456789/transfer/1234567891 "$transfer"
echo "# the same RRN and body again: the stored answer, nothing moves twice" >&2
call POST /wallets/123456789/transfer/1234567891 "$transfer"

login=$(call POST /login "{\"wallet\": \"123456789\", \"pin\": \"$pin\"}")
echo "$login"
python3 - "$login" > "$data/session-credentials" <<'PY'
import json, sys
answer = json.loads(sys.argv[1])
print(f'consumer-id = "{answer["consumer"]}"\nsecret = "{answer["secret"]}"')
PY
owner() { echo "> (as the wallet's owner) $1 $2" >&2; scripts/jcard_call.py --url "${url%/jcard/api}" --credentials "$data/session-credentials" "$1" "/jcard/api$2" "${3:-}"; }
owner GET '/wallets/123456789/balance?layers=840,1840'
owner GET '/wallets/123456789/statement?layers=840,1840&length=5'
owner GET '/wallets/1234567891/balance?layers=840' || echo "(refused: a login only reaches its own wallet)" >&2

call POST /transactions/reverse/1234abc
call GET /transactions/1234abc
call GET '/wallets/123456789/balance?layers=840,1840'
kill -TERM $pid; wait $pid || true
trap - EXIT
./target/release/cardswitch verify --data "$data"
