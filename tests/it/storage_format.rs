//! The stored records' layouts. Store format 2 writes structs as arrays of their fields in
//! declaration order (`src/store/codec.rs`), so a stored struct may only grow at its end: this
//! test traces every type the store keeps and compares the layouts with
//! `tests/fixtures/stored-layouts.json`, telling an append (record it) from a change that would
//! misread existing records (undo it). And a store written by a build of format 1 (JSON),
//! kept as a backup in `tests/fixtures/format1/`, is restored, read and written to by this one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cardswitch::card::{
    Card, CardKind, CardProduct, CardState, VelocityCounter, VelocityPeriod, VelocityProfile,
    VelocityScope,
};
use cardswitch::core::command::{Decline, SysConfig};
use cardswitch::core::execute_cashback::{MerchantGroup, MerchantStore, PointOfSale, TicketRecord};
use cardswitch::core::execute_giftcard::GiftPinGuard;
use cardswitch::core::execute_partner::{PartnerRecord, RequestRecord};
use cardswitch::core::keys::WrappedSecret;
use cardswitch::core::state::{ConsumerRecord, NonceRecord, VelocityKey};
use cardswitch::core::tranlog::Tranlog;
use cardswitch::ledger::post::Reject;
use cardswitch::ledger::{Account, AccountType, Chart, Journal, Layer, Side, Transaction};
use cardswitch::money::Amount;
use cardswitch::wallet::{Agent, Customer, Wallet, WalletOwner, WalletState};
use serde_json::{json, Value};
use serde_reflection::{ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig};
use uuid::Uuid;

use crate::backup::{cardswitch, read_views, restore, text, PIN_BLOCK};
use crate::support::{Credentials, TestSwitch};

const FIXTURE: &str = "tests/fixtures/stored-layouts.json";
const UPDATE_VARIABLE: &str = "CARDSWITCH_UPDATE_STORED_LAYOUTS";

/// Every type a store record holds, traced into one registry (records that are tuples, such as
/// an entry or a velocity counter, are traced as their parts).
fn stored_layouts() -> Registry {
    let mut tracer = Tracer::new(TracerConfig::default());
    let mut samples = Samples::new();
    // A UUID reads from 16 bytes, which the tracer cannot make up: these two are traced from
    // values (every optional field `Some`, so that its content is seen).
    let consumer = ConsumerRecord {
        id: Uuid::nil(),
        secret: WrappedSecret {
            salt: String::new(),
            ciphertext: String::new(),
            tag: String::new(),
        },
        permissions: vec![String::new()],
        active: true,
        created_ms: 0,
        wallet_scope: Some(String::new()),
        expires_ms: Some(0),
    };
    let nonce = NonceRecord { consumer: Uuid::nil(), nonce: String::new(), timestamp_ms: 0 };
    tracer.trace_value(&mut samples, &consumer).expect("a consumer traces");
    tracer.trace_value(&mut samples, &nonce).expect("a nonce traces");
    macro_rules! trace {
        ($($kind:ty),* $(,)?) => {
            $(tracer.trace_type::<$kind>(&samples).unwrap_or_else(|error| {
                panic!("tracing {}: {error}", stringify!($kind))
            });)*
        };
    }
    // Enums inside the records first, each on its own, so that every variant is seen.
    trace!(
        AccountType,
        CardKind,
        CardState,
        Decline,
        Reject,
        VelocityPeriod,
        VelocityScope,
        WalletState,
        WalletOwner,
    );
    trace!(
        Account,
        Chart,
        Journal,
        Transaction,
        Layer,
        Side,
        Amount,
        SysConfig,
        Wallet,
        Customer,
        Agent,
        Tranlog,
        CardProduct,
        VelocityProfile,
        VelocityKey,
        VelocityCounter,
        Card,
        PartnerRecord,
        RequestRecord,
        GiftPinGuard,
        MerchantGroup,
        MerchantStore,
        PointOfSale,
        TicketRecord,
    );
    tracer
        .registry()
        .unwrap_or_else(|error| panic!("a stored type's layout is incomplete: {error}"))
}

/// Why `now` cannot read what `pinned` wrote, if it cannot: each struct (or tuple struct) has to
/// start with the pinned fields, in their order and of their formats.
fn breaking_changes(pinned: &Registry, now: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, before) in pinned {
        let Some(after) = now.get(name) else {
            problems.push(format!("{name}: no longer traced (still stored?)"));
            continue;
        };
        match (before, after) {
            (ContainerFormat::Struct(old), ContainerFormat::Struct(new)) => {
                if !new.starts_with(old) {
                    problems.push(format!(
                        "{name}: its fields changed before its end (only appends read old records)"
                    ));
                }
            }
            (ContainerFormat::TupleStruct(old), ContainerFormat::TupleStruct(new)) => {
                if !new.starts_with(old) {
                    problems.push(format!("{name}: its elements changed before its end"));
                }
            }
            (ContainerFormat::Enum(old), ContainerFormat::Enum(new)) => {
                // Variants are stored by name: their order is free, their names and contents are not.
                let new: BTreeMap<&str, _> =
                    new.values().map(|v| (v.name.as_str(), &v.value)).collect();
                for variant in old.values() {
                    if new.get(variant.name.as_str()) != Some(&&variant.value) {
                        problems.push(format!("{name}: variant {} changed or went", variant.name));
                    }
                }
            }
            (old, new) if old == new => {}
            _ => problems.push(format!("{name}: a different kind of container")),
        }
    }
    problems
}

#[test]
fn stored_layouts_only_ever_grow_at_their_end() {
    let now = stored_layouts();
    let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let pinned_text = std::fs::read_to_string(&path).expect("the pinned layouts are checked in");
    if pinned_text == text {
        return;
    }
    let pinned: Registry = serde_json::from_str(&pinned_text).expect("the pinned layouts parse");
    let problems = breaking_changes(&pinned, &now);
    assert!(
        problems.is_empty(),
        "stored layouts changed in a way existing records cannot be read with:\n{}",
        problems.join("\n")
    );
    if std::env::var_os(UPDATE_VARIABLE).is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    panic!(
        "stored layouts grew (appended fields or new types; each appended field needs \
         #[serde(default)]): record them with {UPDATE_VARIABLE}=1 cargo test storage_format"
    );
}

#[test]
fn a_reordered_struct_is_told_from_an_appended_one() {
    let pinned = stored_layouts();
    let mut appended = pinned.clone();
    let mut reordered = pinned.clone();
    let Some(ContainerFormat::Struct(fields)) = appended.get_mut("Chart") else {
        panic!("Chart is a struct");
    };
    fields.push(serde_reflection::Named { name: "added".to_owned(), value: Format::U32 });
    let Some(ContainerFormat::Struct(fields)) = reordered.get_mut("Chart") else {
        panic!("Chart is a struct");
    };
    fields.swap(0, 1);
    assert!(breaking_changes(&pinned, &appended).is_empty());
    assert_eq!(breaking_changes(&pinned, &reordered).len(), 1);
    assert_eq!(breaking_changes(&appended, &pinned).len(), 1, "a removed field breaks");
}

/// The fixture of a format-1 store: made by revision 2161be7 with `backup.rs`'s `populate`
/// (cards, wallets, movements, a reversal, a login, a partner), backed up, with its master key,
/// its admin consumer's id, its card's token and what `read_views` answered before the backup.
fn format1_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1")
}

/// An answer without what depends on the day it is read: a balance's `date` (today) and an
/// open statement's `end` (now).
fn without_today(view: &str) -> String {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("journalCode") {
                    map.remove("date");
                }
                if map.contains_key("entries") {
                    map.remove("end");
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let (path, answer) = view.split_once(" -> ").expect("a view is `path -> answer`");
    let mut answer: Value = serde_json::from_str(answer).expect("a view's answer is JSON");
    strip(&mut answer);
    format!("{path} -> {answer}")
}

#[tokio::test]
async fn a_store_of_json_records_is_restored_read_and_written_to() {
    let fixture = format1_fixture();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("master.key");
    std::fs::copy(fixture.join("master.key"), &key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let backup = std::fs::read(fixture.join("switch.backup")).unwrap();
    let json_record = br#""reversal_count":"#;
    assert!(backup.windows(json_record.len()).any(|w| w == json_record), "format-1 records");
    let target = Arc::new(tempfile::tempdir().unwrap());
    let restored = restore(&fixture.join("switch.backup"), target.path(), &key);
    assert!(restored.status.success(), "{}", text(&restored));
    let verified = cardswitch(&["verify", "--data"], &[target.path()]);
    assert!(verified.status.success(), "{}", text(&verified));

    let id = std::fs::read_to_string(fixture.join("admin-id")).unwrap();
    let admin = Credentials {
        id: Uuid::parse_str(id.trim()).unwrap(),
        key: b"test admin key bytes".to_vec(),
    };
    let card = std::fs::read_to_string(fixture.join("card")).unwrap();
    let expected: Vec<String> = std::fs::read_to_string(fixture.join("views.txt"))
        .unwrap()
        .lines()
        .map(without_today)
        .collect();
    let switch = TestSwitch::open_dir(target.clone(), admin).await;
    let read: Vec<String> =
        read_views(&switch, &card).await.iter().map(|v| without_today(v)).collect();
    assert_eq!(read, expected);

    // Old records keep their meaning: an RRN retry replays, the card's PIN hash still matches.
    let again = switch.move_money("w1/transfer/w2", "10", "wt1", "P2PRemittances").await;
    assert_eq!((again.status, &again.json["replayed"]), (200, &json!(true)), "{}", again.text);
    let debit = format!(
        r#"{{"amount": 1, "currency": 840, "rrn": "f2d1", "channel": "pos", "pinblk": "{PIN_BLOCK}"}}"#
    );
    let path = format!("/jcard/api/cards/{card}/debit");
    assert_eq!(switch.admin_call("POST", &path, &debit).await.status, 201);
    assert_eq!(
        switch.move_money("w1/debit", "5", "f2d2", "creditBankAccountW2A").await.status,
        200
    );
    switch.assert_ledger_balances();

    // After a restart the state is loaded from both formats at once.
    let switch = switch.restart().await;
    let balance = switch.admin_call("GET", &format!("/jcard/api/cards/{card}/balance"), "").await;
    assert_eq!(balance.json["balance"], json!(69), "{}", balance.text);
    assert_eq!(switch.wallet_balance("w1").await, "185.00");
    let source = switch.stop().await;
    let verified = cardswitch(&["verify", "--data"], &[source.path()]);
    assert!(verified.status.success(), "{}", text(&verified));
}
