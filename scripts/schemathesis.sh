#!/usr/bin/env bash
# Hostile input from schemathesis: every OpenAPI document the switch serves, run against a
# switch on loopback with valid credentials injected by scripts/schemathesis/hooks.py.
#
#   scripts/schemathesis.sh [--examples N] [--seed S] [--workers W] [--only NAME]... [-- ARGS]
#
# (ARGS go to every `schemathesis run`, e.g. `-- --continue-on-failure`.)
# Builds the binary, creates a temporary data directory with a jCard consumer (`consumer
# add`), a card-issuing partner (`partner add`) and bearer tokens (`token issue`), serves it
# on 127.0.0.1 (a free port), seeds it with things requests can name (seed.py), then runs
# schemathesis (pinned below, installed into a venv under target/) on /openapi/jcard.json,
# card-api.json, giftcard.json and cashback.json: positive and negative cases, up to N examples
# per operation (default 100), with the checks listed below. It stops the switch, audits the
# ledger with `cardswitch verify`, and exits non-zero if any check failed. Reports (JUnit)
# go to target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
examples=100
seed=1
workers=2
only=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) examples=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --only) only+=("$2"); shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [--examples N] [--seed S] [--workers W] [--only jcard|card-api|giftcard|cashback]..." >&2; exit 2 ;;
    esac
done
documents=(jcard card-api giftcard cashback)
[ ${#only[@]} -gt 0 ] && documents=("${only[@]}")

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --locked
bin=target/debug/cardswitch
work=$(mktemp -d)
data=$work/data
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

consumer=$(python3 -c 'import uuid; print(uuid.uuid4())')
secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
partner_key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
"$bin" consumer add --data "$data" --id "$consumer" --secret "$secret" --permissions admin > /dev/null
"$bin" partner add --data "$data" --auth-id schemathesis --key "$partner_key" > /dev/null
token() { "$bin" token issue --data "$data" --scope "$1" --ttl-s 86400; }
python3 - "$work/credentials.json" "$consumer" "$secret" "$partner_key" \
    "$(token cashback)" "$(token giftcard)" "$(token admin)" <<'PY'
import json, sys
path, consumer, secret, key, cashback, giftcard, admin = sys.argv[1:]
json.dump({"jcard": {"consumer_id": consumer, "secret": secret},
           "partner": {"auth_id": "schemathesis", "key": key},
           "tokens": {"cashback": cashback, "giftcard": giftcard, "admin": admin}}, open(path, "w"))
PY

RUST_LOG=warn "$bin" serve --data "$data" --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.log" &
pid=$!
url=
for _ in $(seq 200); do
    url=$(sed -n 's/^cardswitch listening on //p' "$work/serve.out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
done
[ -n "$url" ] || { echo "the switch did not start" >&2; exit 1; }
echo "schemathesis $SCHEMATHESIS_VERSION against $url, $examples examples per operation, seed $seed"

export PYTHONDONTWRITEBYTECODE=1 CARDSWITCH_ST_CREDENTIALS=$work/credentials.json CARDSWITCH_ST_FIXTURES=$work/fixtures.json
"$venv/bin/python" scripts/schemathesis/seed.py "$url" "$CARDSWITCH_ST_CREDENTIALS" "$CARDSWITCH_ST_FIXTURES"

# What a response must satisfy: no 5xx, a documented status, content type, headers and body.
# Plus: invalid input is refused, a missing required header is refused, an undocumented
# method is refused, and a request without (or with wrong) credentials is refused.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks+=,response_schema_conformance,negative_data_rejection,missing_required_header
checks+=,unsupported_method,ignored_auth
# schemathesis keeps a cache in its working directory: run it in target/schemathesis.
reports=target/schemathesis
mkdir -p "$reports"
root=$(pwd)
failed=()
for document in "${documents[@]}"; do
    echo "== /openapi/$document.json"
    if ! (cd "$reports" && PYTHONPATH="$root/scripts/schemathesis" SCHEMATHESIS_HOOKS=hooks \
        "$root/$venv/bin/schemathesis" run \
        "$url/openapi/$document.json" --url "$url" \
        --checks "$checks" --max-examples "$examples" --seed "$seed" --workers "$workers" \
        --phases examples,coverage,fuzzing --suppress-health-check all --request-timeout 10 \
        --report junit --report-junit-path "$document.xml" --no-color "${extra[@]}"); then
        failed+=("$document")
    fi
done

kill -TERM "$pid"
wait "$pid" || { echo "the switch did not stop cleanly" >&2; cat "$work/serve.log" >&2; failed+=(stop); }
pid=
if grep -q "ERROR\|panicked" "$work/serve.log"; then
    echo "the switch logged errors:" >&2
    grep "ERROR\|panicked" "$work/serve.log" | head -20 >&2
    failed+=(log)
fi
"$bin" verify --data "$data" || failed+=(verify)
if [ ${#failed[@]} -gt 0 ]; then
    echo "schemathesis: FAILED (${failed[*]})" >&2
    exit 1
fi
echo "schemathesis: ok (${documents[*]})"
