#!/usr/bin/env python3
"""Fills a real disk under a running cardswitch and checks what the switch does (needs root).

    sudo scripts/disk_full.py [--binary target/debug/cardswitch] [--rounds 3] [--size-kib 3072]

Each round mounts a small tmpfs, serves a switch on it and credits a wallet (1.00 per request,
one RRN each) until the disk is full and changes are refused. It checks that every failure
says the disk is full, that /health says degraded, that the switch stops; then it grows the
tmpfs, runs `cardswitch verify`, serves again, checks that every acknowledged credit is there
and that retrying every other RRN posts each exactly once, and verifies again. The long form of
tests/it/storage_faults.rs, against sled and a real ENOSPC instead of an injected one.
"""
import argparse, base64, hashlib, hmac, json, os, re, subprocess, sys, tempfile, time, urllib.error, urllib.request, uuid


class Switch:
    def __init__(self, binary, data):
        self.process = subprocess.Popen([binary, "serve", "--data", data, "--listen", "127.0.0.1:0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=dict(os.environ, RUST_LOG="error"))
        for line in self.process.stdout:
            match = re.match(r"cardswitch listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise SystemExit("serve exited: " + self.process.stderr.read())
        text = open(os.path.join(data, "admin-credentials")).read()
        self.consumer = re.search(r'consumer-id = "(.*)"', text).group(1)
        self.secret = base64.b64decode(re.search(r'secret = "(.*)"', text).group(1))

    def call(self, method, path, body=""):
        data = body.encode()
        timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
        digest = hmac.new(self.secret, timestamp.encode() + nonce.encode() + data, hashlib.sha256).digest()
        headers = {"version": "1.0", "consumer-id": self.consumer, "timestamp": timestamp, "nonce": nonce,
                   "hash": base64.b64encode(digest).decode(), "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data or None, method=method, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=30)
            status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        try:
            return status, json.loads(answer)
        except ValueError:
            return status, {"raw": answer.decode(errors="replace")}

    def credit(self, rrn):
        body = json.dumps({"amount": 1, "currency": "840", "rrn": rrn, "type": "cashInA2W"})
        return self.call("POST", "/jcard/api/wallets/full/credit", body)

    def health(self):
        try:
            return urllib.request.urlopen(self.url + "/health", timeout=10).status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        self.process.terminate()
        return self.process.wait(timeout=60)


def verify(binary, data):
    result = subprocess.run([binary, "verify", "--data", data], capture_output=True, text=True)
    if result.returncode != 0 or "verify: ok" not in result.stdout:
        raise SystemExit("verify failed:\n" + result.stdout + result.stderr)


def fill(switch, requests_max):
    """Credits until changes are refused; returns {rrn: (status, error code, message)}."""
    answers, refused_in_a_row = {}, 0
    for index in range(requests_max):
        rrn = "full%07d" % index
        status, answer = switch.credit(rrn)
        answers[rrn] = (status, answer.get("error"), answer.get("message", ""))
        if status == 200:
            refused_in_a_row = 0
            continue
        if "disk is full" not in answers[rrn][2]:
            raise SystemExit("a failure that does not say the disk is full: %r" % (answers[rrn],))
        refused_in_a_row += 1
        if refused_in_a_row >= 20:
            break
    return answers


def round_trip(binary, size_kib, requests_max):
    mount = tempfile.mkdtemp(prefix="cardswitch-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % size_kib, "tmpfs", mount], check=True)
    try:
        data = os.path.join(mount, "data")
        switch = Switch(binary, data)
        status, _ = switch.call("POST", "/jcard/api/wallets", json.dumps({"code": "full"}))
        assert status == 201, status
        answers = fill(switch, requests_max)
        acknowledged = sorted(rrn for rrn, answer in answers.items() if answer[0] == 200)
        unknown = sorted(rrn for rrn, answer in answers.items() if answer[1] == "commit.failed")
        refused = sorted(rrn for rrn, answer in answers.items() if answer[1] == "storage.unavailable")
        other = sorted(set(answers) - set(acknowledged) - set(unknown) - set(refused))
        assert not other, [answers[rrn] for rrn in other]
        assert refused, "the disk never filled: raise --requests or lower --size-kib"
        health = switch.health()
        assert health == 503, "health %d while the disk is full" % health
        code = switch.stop()
        subprocess.run(["mount", "-o", "remount,size=%dk" % (size_kib * 16), mount], check=True)
        verify(binary, data)
        switch = Switch(binary, data)
        assert switch.health() == 200
        for rrn in acknowledged[-50:] + acknowledged[:50]:
            status, answer = switch.call("GET", "/jcard/api/transactions/" + rrn)
            assert status == 200, (rrn, status, answer)
        _, balance = switch.call("GET", "/jcard/api/wallets/full/balance?layers=840")
        after_restart = float(balance["balance"])
        assert len(acknowledged) <= after_restart <= len(acknowledged) + len(unknown), after_restart
        for rrn in unknown + refused:
            status, answer = switch.credit(rrn)
            assert status == 200, (rrn, status, answer)
        _, balance = switch.call("GET", "/jcard/api/wallets/full/balance?layers=840")
        total = float(balance["balance"])
        assert total == len(answers), (total, len(answers))
        switch.stop()
        verify(binary, data)
        return dict(size_kib=size_kib, requests=len(answers), acknowledged=len(acknowledged),
                    outcome_unknown=len(unknown), refused=len(refused), unknown_that_persisted=int(after_restart) - len(acknowledged),
                    serve_exit_code=code, balance_after_retries=total)
    finally:
        subprocess.run(["umount", mount], check=False)
        os.rmdir(mount)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/debug/cardswitch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-kib", type=int, default=3072)
    parser.add_argument("--requests", type=int, default=200000, help="most credits per round")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (it mounts a tmpfs)")
    for round_index in range(args.rounds):
        size = args.size_kib + round_index * 512
        print(json.dumps(round_trip(os.path.abspath(args.binary), size, args.requests)), flush=True)
    print("disk_full: ok")


if __name__ == "__main__":
    main()
