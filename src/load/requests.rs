//! The requests of a run: which kind next, on which card or wallets, with a fresh RRN, signed;
//! and how an answer counts (approved, declined by result code, or an error).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::client::{PartnerSigner, Signer};
use super::driver::RunOptions;
use super::manifest::Manifest;
use super::mix::{Kind, KindPicker, Picker, SeededRng};
use super::populate::base36;
use super::report::Verdict;
use crate::http::client::{IncomingAnswer, OutgoingRequest};

/// Everything a connection needs to build its next request; shared by the connections.
#[derive(Debug)]
pub struct Plan {
    signer: Signer,
    partner: Option<PartnerSigner>,
    manifest: Manifest,
    kinds: KindPicker,
    cards: Picker,
    partner_cards: Picker,
    wallets: Picker,
    hot_merchant_share: f64,
    /// Five random base-36 digits naming this run in its RRNs.
    rrn_tag: String,
    rrns: AtomicU64,
}

impl Plan {
    pub fn new(
        signer: Signer,
        partner: Option<PartnerSigner>,
        manifest: Manifest,
        options: &RunOptions,
    ) -> Plan {
        let random =
            u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([0; 8]));
        Plan {
            signer,
            partner,
            partner_cards: Picker::new(manifest.partner_cards.len(), options.distribution),
            kinds: KindPicker::new(&options.mix),
            cards: Picker::new(manifest.cards.len(), options.distribution),
            wallets: Picker::new(manifest.wallets.len(), options.distribution),
            manifest,
            hot_merchant_share: options.hot_merchant_share,
            rrn_tag: base36(random % 36_u64.pow(5), 5),
            rrns: AtomicU64::new(0),
        }
    }

    /// 12 letters or digits, unique in the run (and, by the random tag, across runs).
    fn rrn(&self) -> String {
        let sequence = self.rrns.fetch_add(1, Ordering::Relaxed) % 36_u64.pow(7);
        format!("{}{}", self.rrn_tag, base36(sequence, 7))
    }

    /// The kinds of request the run sends.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.kinds.kinds()
    }

    pub fn next_request(&self, rng: &mut SeededRng) -> (Kind, OutgoingRequest) {
        let kind = self.kinds.pick(rng);
        let card = &self.manifest.cards[self.cards.pick(rng)];
        let request = match kind {
            Kind::Echo => self.signer.jcard("GET", "/jcard/api/echo".to_owned(), String::new()),
            Kind::Debit => self.card_movement(card, "debit", "pos"),
            Kind::Credit => self.card_movement(card, "credit", "jcard"),
            Kind::Balance => {
                self.signer.jcard("GET", format!("/jcard/api/cards/{card}/balance"), String::new())
            }
            Kind::Transfer => self.transfer(rng),
            Kind::IssuingDebit => self.issuing_debit(rng),
        };
        (kind, request)
    }

    fn card_movement(&self, card: &str, movement: &str, channel: &str) -> OutgoingRequest {
        let body = format!(
            r#"{{"amount":1.00,"currency":840,"rrn":"{}","channel":"{channel}"}}"#,
            self.rrn()
        );
        self.signer.jcard("POST", format!("/jcard/api/cards/{card}/{movement}"), body)
    }

    /// 1.00 from a drawn wallet to the merchant wallet (the hot share) or another drawn one.
    fn transfer(&self, rng: &mut SeededRng) -> OutgoingRequest {
        let wallets = &self.manifest.wallets;
        let source = self.wallets.pick(rng);
        let destination = if rng.next_unit() < self.hot_merchant_share {
            &self.manifest.merchant_wallet
        } else {
            let drawn = self.wallets.pick(rng);
            &wallets[if drawn == source { (drawn + 1) % wallets.len() } else { drawn }]
        };
        let body =
            format!(r#"{{"amount":1.00,"currency":"840","rrn":"{}","type":"P2P"}}"#, self.rrn());
        let path = format!("/jcard/api/wallets/{}/transfer/{destination}", wallets[source]);
        self.signer.jcard("POST", path, body)
    }

    /// 1.00 from a drawn partner card; without a partner (the run refuses such a mix) a
    /// balance enquiry instead.
    fn issuing_debit(&self, rng: &mut SeededRng) -> OutgoingRequest {
        let drawn = self.partner_cards.pick(rng);
        match (&self.partner, self.manifest.partner_cards.get(drawn)) {
            (Some(partner), Some(card)) => {
                let fields = serde_json::json!({"card_token": card, "amount": 1, "currency": 840,
                    "description": "load"});
                partner.request("transactions/debit", fields)
            }
            _ => {
                let card = &self.manifest.cards[self.cards.pick(rng)];
                self.signer.jcard("GET", format!("/jcard/api/cards/{card}/balance"), String::new())
            }
        }
    }

    /// 200 and 201 approve; 422 declines with the answer's result code (jCard's `resultCode`,
    /// the card-issuing API's `error.result_code`); anything else is an error named by status
    /// and error code.
    pub fn verdict(answer: Result<IncomingAnswer, String>) -> Verdict {
        let answer = match answer {
            Ok(answer) => answer,
            Err(_) => return Verdict::Error("transport".to_owned()),
        };
        if matches!(answer.status, 200 | 201) {
            return Verdict::Approved;
        }
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let result_code = text(&json["resultCode"]).or_else(|| text(&json["error"]["result_code"]));
        let error = text(&json["error"]).or_else(|| text(&json["error"]["code"]));
        match (answer.status, result_code) {
            (422, Some(code)) => Verdict::Declined(code),
            (status, _) => {
                Verdict::Error(format!("{status} {}", error.unwrap_or_else(|| "-".to_owned())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &'static str) -> Result<IncomingAnswer, String> {
        Ok(IncomingAnswer { status, body: Bytes::from_static(body.as_bytes()) })
    }

    #[test]
    fn answers_count_by_status_and_result_code() {
        assert_eq!(Plan::verdict(answer(201, "{}")), Verdict::Approved);
        assert_eq!(
            Plan::verdict(answer(422, r#"{"resultCode":"1016"}"#)),
            Verdict::Declined("1016".to_owned())
        );
        assert_eq!(
            Plan::verdict(answer(409, r#"{"error":"duplicate.rrn","resultCode":"1822"}"#)),
            Verdict::Error("409 duplicate.rrn".to_owned())
        );
        assert_eq!(Plan::verdict(Err("reset".to_owned())), Verdict::Error("transport".to_owned()));
        let issuing = r#"{"error":{"code":"DECLINED","result_code":"1016"}}"#;
        assert_eq!(Plan::verdict(answer(422, issuing)), Verdict::Declined("1016".to_owned()));
        let unknown = r#"{"error":{"code":"CARD_NOT_FOUND"}}"#;
        assert_eq!(
            Plan::verdict(answer(404, unknown)),
            Verdict::Error("404 CARD_NOT_FOUND".to_owned())
        );
    }
}
