"""Creates, through the switch's own APIs, the things schemathesis's requests can name: card
products, a customer, wallets with money, an active card, a velocity profile, an agent, a
sysconfig entry, a partner card and a gift-card order, a cashback group with a store, a point
of sale and a credited pass. Writes what it made (ids, tokens, numbers) to a JSON fixtures
file the hooks read. Standard library only.

    seed.py URL CREDENTIALS_JSON FIXTURES_JSON
"""
import json
import sys
import urllib.error
import urllib.request
import uuid

import sign


class Switch:
    def __init__(self, url: str, credentials: dict):
        self.url = url.rstrip("/")
        self.credentials = credentials

    def send(self, method: str, path: str, body: bytes, headers: dict):
        headers = dict(headers, **({"Content-Type": "application/json"} if body else {}))
        request = urllib.request.Request(self.url + path, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        if status >= 300:
            raise SystemExit(f"seed: {method} {path} answered {status}: {answer[:500]!r}")
        return json.loads(answer) if answer else None

    def jcard(self, method: str, path: str, payload=None):
        body = json.dumps(payload).encode() if payload is not None else b""
        jcard = self.credentials["jcard"]
        headers = sign.jcard_headers(jcard["consumer_id"], jcard["secret"], body)
        return self.send(method, "/jcard/api" + path, body, headers)

    def card_api(self, method: str, payload: dict):
        payload = dict(payload, request_id=str(uuid.uuid4()))
        body = json.dumps(payload).encode()
        partner = self.credentials["partner"]
        uri = "/v5/card-api/" + method
        signature = sign.jws_signature(partner["key"].encode(), partner["auth_id"], "POST", uri, "", body)
        answer = self.send("POST", uri, body, {"X-JWS-Signature": signature})
        return payload["request_id"], answer

    def cashback_admin(self, path: str, payload: dict):
        headers = {"Authorization": "Bearer " + self.credentials["tokens"]["admin"]}
        return self.send("POST", "/cardapi/admin" + path, json.dumps(payload).encode(), headers)


def seed_jcard(switch: Switch) -> dict:
    prepaid = switch.jcard("POST", "/cardproducts", {"name": "Prepaid", "code": "PP", "issuer": 1, "bin": "455566",
                                                     "allowPos": True, "allowAtm": True, "allowEcommerce": True})
    switch.jcard("POST", "/cardproducts", {"name": "Gift", "code": "GF", "issuer": 1, "bin": "455567"})
    profile = switch.jcard("POST", f"/cardproducts/{prepaid['cardproduct']['id']}/velocityprofiles",
                           {"name": "daily", "active": True, "approvalsOnly": False, "usageLimit": 1000, "amountLimit": 100000, "currencyCode": "840",
                            "scopeEntity": "card", "scopeTime": "daily", "validOnCredit": True})
    switch.jcard("POST", "/customers", {"realId": "st-1", "firstName": "Ada", "lastName": "Lovelace",
                                       "institutionId": "1", "phone": "5981"})
    agent = switch.jcard("POST", "/agents", {"name": "Alan", "phone": "5982", "type": "PDV"})
    wallets = ["st-w1", "st-w2"]
    for code in wallets:
        switch.jcard("POST", "/wallets", {"code": code})
        switch.jcard("POST", f"/wallets/{code}/credit",
                     {"amount": 1000, "currency": "840", "rrn": "st" + code[-2:] + "c", "type": "cash"})
    # An empty wallet (one that can be deleted) and one kept for logins (wrong PINs lock it).
    switch.jcard("POST", "/wallets", {"code": "st-w3"})
    login = switch.jcard("POST", "/wallets", {"code": "st-login"})
    card = switch.jcard("POST", "/cards", {"cardHolder": "st-1", "cardProduct": "PP", "bin": "455566", "expiration": "203012", "serviceCode": "101"})
    switch.jcard("PUT", f"/cards/{card['token']}/activate")
    switch.jcard("POST", f"/cards/{card['token']}/credit", {"amount": 500, "currency": 840, "rrn": "stcardc"})
    switch.jcard("POST", "/sysconfig", {"id": "st.entry", "value": "v", "readPerm": "", "writePerm": ""})
    return {
        "walletCode": wallets + ["st-w3"],
        "destinationWalletCode": list(reversed(wallets)) + ["st-w3"],
        "login": [{"wallet": "st-login", "pin": login["pin"]}],
        "realId": ["st-1"],
        "token": [card["token"]],
        "rrn": ["st" + code[-2:] + "c" for code in wallets] + ["stcardc"],
        "journalCode": ["jcard"],
        "chartName": ["jcard"],
        "accountCode": ["11.001.00", "23.st-w1"],
        "velocityId": [str(profile["velocityprofile"]["id"])],
        "/jcard/api/cardproducts/{id}": [str(prepaid["cardproduct"]["id"])],
        "/jcard/api/agents/{id}": [str(agent["agentId"])],
        "/jcard/api/sysconfig/{id}": ["st.entry"],
    }


def seed_card_api(switch: Switch) -> dict:
    _, card = switch.card_api("cards/issue", {"first_name": "Grace", "last_name": "Hopper", "phone": "+598 99 1",
                                              "card_product": "Prepaid", "currency": 840})
    fund, _ = switch.card_api("transactions/fund", {"card_token": card["card_token"], "amount": 100, "currency": 840})
    _, order = switch.card_api("gift-cards/issue", {"card_product": "Gift", "amount": 25, "currency": 840,
                                                    "quantity": 2})
    gifts = [{"cardNumber": gift["card_number"], "pin": gift["pin"]} for gift in order["cards"]]
    return {
        "card_token": [card["card_token"]] + [gift["card_token"] for gift in order["cards"]],
        "request_id": [fund],
        "/rest/v3/order/{id}/cards": [order["order_id"]],
        "gift_cards": gifts,
    }


def seed_cashback(switch: Switch) -> dict:
    group = switch.cashback_admin("/groups", {"name": "Bakeries", "currency": "978"})
    store = switch.cashback_admin("/stores", {"group_id": group["id"], "name": "Main street"})
    pos = switch.cashback_admin("/points-of-sale", {"store_id": store["id"], "name": "Till 1"})
    created = switch.cashback_admin("/passes", {"group_id": group["id"], "holder_name": "Ada Lovelace",
                                                "nfc": "04A1B2C3D4E5F6", "barcode": "3701234567890",
                                                "manual_code": "CB-1001"})
    pass_id = created["pass"]["id"]
    switch.cashback_admin(f"/passes/{pass_id}/credit",
                          {"request_id": str(uuid.uuid4()), "amount": "20.00", "currency": "978"})
    return {"group_id": [group["id"]], "store_id": [store["id"]], "point_of_sale_id": [pos["id"]],
            "pass_id": [pass_id], "q": ["04A1B2C3D4E5F6", "3701234567890", "CB-1001"]}


def main() -> int:
    url, credentials_path, fixtures_path = sys.argv[1:4]
    switch = Switch(url, json.load(open(credentials_path)))
    fixtures = {}
    for seed in (seed_jcard, seed_card_api, seed_cashback):
        fixtures.update(seed(switch))
    with open(fixtures_path, "w") as out:
        json.dump(fixtures, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
