#!/usr/bin/env python3
"""Sends one signed jCard request to a running cardswitch (standard library only).

    scripts/jcard_call.py [--url URL] [--credentials FILE] METHOD PATH [BODY]

Credentials default to data/admin-credentials (written at first start). The signature is
hash = Base64(HMAC-SHA256(Base64-decode(secret), timestamp + nonce + body)).
"""
import argparse, base64, hashlib, hmac, json, re, sys, time, urllib.error, urllib.request, uuid


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8081")
    parser.add_argument("--credentials", default="data/admin-credentials")
    parser.add_argument("method")
    parser.add_argument("path")
    parser.add_argument("body", nargs="?", default="")
    args = parser.parse_args()
    text = open(args.credentials).read()
    consumer = re.search(r'consumer-id = "(.*)"', text).group(1)
    secret = base64.b64decode(re.search(r'secret = "(.*)"', text).group(1))
    body = args.body.encode()
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    digest = hmac.new(secret, timestamp.encode() + nonce.encode() + body, hashlib.sha256).digest()
    headers = {"version": "1.0", "consumer-id": consumer, "timestamp": timestamp, "nonce": nonce,
               "hash": base64.b64encode(digest).decode(), "Content-Type": "application/json"}
    request = urllib.request.Request(args.url + args.path, data=body or None, method=args.method, headers=headers)
    try:
        response = urllib.request.urlopen(request)
        status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    print(status, file=sys.stderr)
    try:
        print(json.dumps(json.loads(answer), indent=2))
    except ValueError:
        print(answer.decode(errors="replace"))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
