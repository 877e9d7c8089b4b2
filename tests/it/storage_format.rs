//! Stored record shapes: a tranlog record leaves absent optional fields out of its JSON, and a
//! record written by earlier builds, with explicit `null`s, reads back the same.

use cardswitch::core::command::Decline;
use cardswitch::core::tranlog::Tranlog;
use cardswitch::money::Amount;

fn record(decline: Option<Decline>) -> Tranlog {
    Tranlog {
        id: 7,
        date_ms: 1_700_000_000_000,
        itc: "200.00".to_owned(),
        irc: "0000".to_owned(),
        rrn: "rrn-7".to_owned(),
        approval_number: Some("000007".to_owned()),
        amount: Amount::from_whole(1).unwrap(),
        amount_with_fees: Amount::from_whole(1).unwrap(),
        fees: Vec::new(),
        currency_code: "840".to_owned(),
        layers: vec![840, 1840],
        wallet1: None,
        wallet2: None,
        customer: Some("Bench Mark".to_owned()),
        customer2: None,
        ss_data: Some("cardrest::debit".to_owned()),
        type_description: None,
        geo_location: None,
        json_request: "{}".to_owned(),
        fingerprint: "f".to_owned(),
        transaction_id: Some(3),
        decline,
        reversal_count: 0,
        reversal_id: None,
        void_count: 0,
        void_id: None,
        original_id: None,
        card: Some("token".to_owned()),
        card2: None,
        channel: None,
    }
}

#[test]
fn tranlog_records_omit_absent_fields_and_read_old_records() {
    for decline in [None, Some(Decline::InsufficientFunds)] {
        let tranlog = record(decline);
        let compact = serde_json::to_string(&tranlog).unwrap();
        assert!(!compact.contains("null"), "{compact}");
        assert!(!compact.contains("wallet1"), "{compact}");
        assert_eq!(serde_json::from_str::<Tranlog>(&compact).unwrap(), tranlog);

        // The shape earlier builds wrote: every field present, absent ones as null.
        let mut old = serde_json::to_value(&tranlog).unwrap();
        for field in [
            "approval_number",
            "wallet1",
            "wallet2",
            "customer",
            "customer2",
            "ss_data",
            "type_description",
            "geo_location",
            "transaction_id",
            "decline",
            "reversal_id",
            "void_id",
            "original_id",
            "card",
            "card2",
            "channel",
        ] {
            old.as_object_mut().unwrap().entry(field).or_insert(serde_json::Value::Null);
        }
        assert!(old.to_string().len() > compact.len());
        assert_eq!(serde_json::from_value::<Tranlog>(old).unwrap(), tranlog);
    }
}
