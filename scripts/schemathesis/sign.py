"""Request signing for the three credential kinds the switch accepts (standard library only).

- jCard: five headers; hash = Base64(HMAC-SHA256(Base64-decode(secret), timestamp + nonce + body)).
- Card-issuing API: detached JWS HS512 over base64url(header) + "." + base64url(body).
- Cashback and gift-card history: `Authorization: Bearer <token>` from `cardswitch token issue`.

Nonces and timestamps are made fresh on every call: the switch refuses a nonce it has seen.
"""
import base64
import hashlib
import hmac
import json
import time
import uuid


def jcard_headers(consumer_id: str, secret_b64: str, body: bytes) -> dict:
    """The five jCard headers for one request of `body`, with a fresh nonce."""
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    key = base64.b64decode(secret_b64)
    digest = hmac.new(key, timestamp.encode() + nonce.encode() + body, hashlib.sha256).digest()
    return {"version": "1.0", "consumer-id": consumer_id, "timestamp": timestamp, "nonce": nonce,
            "hash": base64.b64encode(digest).decode()}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jws_signature(key: bytes, auth_id: str, method: str, uri: str, params: str, body: bytes) -> str:
    """The X-JWS-Signature value of a request of `body` to `uri` with query `params`."""
    header = {"uri": uri, "auth_id": auth_id, "method": method, "params": params, "alg": "HS512"}
    encoded = b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    signing_input = (encoded + "." + b64url(body)).encode("ascii")
    return encoded + ".." + b64url(hmac.new(key, signing_input, hashlib.sha512).digest())
