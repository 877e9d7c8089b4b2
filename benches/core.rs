//! Micro-benchmarks of the switch's hot pieces without HTTP: the pure card authorization
//! decision, the pure posting decision, applying balances to the persistent in-memory state
//! (and the balances alone, read and changed), a durable group commit (fjall and sled), jCard
//! request signing, and request body parsing. Run with `cargo bench --bench core`.

// A benchmark is a test harness: a failed set-up should stop it loudly, not be handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cardswitch::api::jcard::{lenient, wire};
use cardswitch::card::{
    Card, CardKind, CardProduct, CardState, Channel, VelocityPeriod, VelocityProfile, VelocityScope,
};
use cardswitch::core::auth::{jcard_hash, verify_jcard_hash, NonceCache};
use cardswitch::core::authorize::{card_pin_hash, Authorizer};
use cardswitch::core::balances::Balances;
use cardswitch::core::command::{CardMovement, CardMovementKind, Decline};
use cardswitch::core::entry_index::indexed_entries;
use cardswitch::core::keys::MasterKey;
use cardswitch::core::reads::account_balance;
use cardswitch::core::rrn_index::rrn_key;
use cardswitch::core::state::State;
use cardswitch::core::tranlog_index;
use cardswitch::ledger::post::{balance_deltas, plan, EntryRequest, TransactionRequest};
use cardswitch::ledger::{
    Account, AccountId, AccountType, Chart, Chartbook, Entry, Journal, Side, Transaction,
    PENDING_LAYER_OFFSET,
};
use cardswitch::money::Amount;
use cardswitch::store::entries::{
    EntryIndex, EntryIndexSettings, IndexedEntry, OpenMode, ACCOUNT_ENTRIES, RRN_TRANLOGS,
};
use cardswitch::store::schema;
use cardswitch::store::{Batch, EngineKind, EngineSettings, Store};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const CHART: &str = "jcard";
const LAYER: i16 = 840;
const MEASUREMENT: Duration = Duration::from_secs(3);
const WARM_UP: Duration = Duration::from_secs(1);

/// The GL example body of the jCard document (`POST /gl/transactions`).
const GL_EXAMPLE: &str = include_str!("../tests/fixtures/jcard/gl_transaction_example.json");

/// The same body with the commas between members left out, as several of the document's
/// examples are written.
const GL_EXAMPLE_MISSING_COMMAS: &str = r#"{
  "detail": "Detail"
  "entries": [
    {
      "amount": 4693.38
      "accountCode": "11.001.00"
      "type": "credit"
      "layer": 840
    }
    {
      "amount": 4693.38
      "accountCode": "12.001.00"
      "tags": "tag2"
      "detail": "EntryDetail"
      "type": "debit"
      "layer": 840
    }
  ]
  "postDate": "2015-06-22"
  "journalName": "jcard"
  "tags": "tag1"
}"#;

fn account(
    id: AccountId,
    code: &str,
    account_type: AccountType,
    is_final: bool,
    parent_id: Option<AccountId>,
) -> Account {
    Account {
        id,
        code: code.to_owned(),
        chart: CHART.into(),
        description: String::new(),
        account_type,
        is_final,
        parent_id,
        currency_code: None,
        tags: String::new(),
        expiration_ms: None,
        created_ms: 0,
    }
}

/// A state with chart and journal `jcard`, the default issuer/acquirer accounts and
/// `cardholders` final cardholder accounts `21.<n>.00` under the composite `21`.
fn chartbook(cardholders: u64) -> State {
    let mut state = State { next_account_id: 1, next_transaction_id: 1, ..State::default() };
    state.insert_chart(Chart { name: CHART.into(), description: String::new(), created_ms: 0 });
    state.insert_journal(Journal::open(CHART, CHART.into()));
    let fixed = [
        (1, "11", AccountType::Debit, false, None),
        (2, "11.001", AccountType::Debit, false, Some(1)),
        (3, "11.001.00", AccountType::Debit, true, Some(2)),
        (4, "12", AccountType::Debit, false, None),
        (5, "12.001", AccountType::Debit, false, Some(4)),
        (6, "12.001.00", AccountType::Debit, true, Some(5)),
        (7, "21", AccountType::Credit, false, None),
    ];
    for (id, code, account_type, is_final, parent) in fixed {
        state.insert_account(account(id, code, account_type, is_final, parent));
    }
    for n in 0..cardholders {
        let id = state.next_account_id;
        state.insert_account(account(
            id,
            &format!("21.{n:08}.00"),
            AccountType::Credit,
            true,
            Some(7),
        ));
    }
    state
}

fn entry(code: &str, side: Side, units: i64) -> EntryRequest {
    EntryRequest {
        account_code: code.to_owned(),
        side,
        layer: LAYER,
        amount: Amount::from_units(units),
        detail: String::new(),
        tags: String::new(),
    }
}

/// A balanced 2-entry request: credit `credit`, debit `debit`.
fn request(credit: &str, debit: &str) -> TransactionRequest {
    TransactionRequest {
        journal: CHART.to_owned(),
        post_date_ms: 1_700_000_000_000,
        detail: "bench".to_owned(),
        tags: String::new(),
        entries: vec![entry(credit, Side::Credit, 10_000), entry(debit, Side::Debit, 10_000)],
    }
}

fn ledger_plan(c: &mut Criterion) {
    let state = chartbook(0);
    let request = request("11.001.00", "12.001.00");
    let mut group = c.benchmark_group("ledger/plan");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    group.bench_function("plan_2_entries", |b| {
        b.iter(|| plan(black_box(&state), black_box(&request), 1, 0).unwrap());
    });
    group.bench_function("plan_and_balance_deltas_2_entries", |b| {
        b.iter(|| {
            let transaction = plan(black_box(&state), black_box(&request), 1, 0).unwrap();
            balance_deltas(&state, &transaction).unwrap()
        });
    });
    group.finish();
}

/// Applies one posting's deltas the way the writer does: `balances_after`, then an insert per
/// changed balance into the persistent map.
fn apply(state: &mut State, deltas: &[cardswitch::ledger::post::BalanceDelta]) {
    let balances = state.balances_after(deltas).unwrap();
    for ((account_id, layer), balance) in balances {
        state.balances.insert(account_id, layer, balance);
    }
}

fn ledger_apply(c: &mut Criterion) {
    const CARDHOLDERS: u64 = 100_000;
    let mut state = chartbook(CARDHOLDERS);
    // Give every cardholder account a balance so the map holds ~100k entries.
    let cardholder = |n: u64| format!("21.{:08}.00", n % CARDHOLDERS);
    let mut postings = Vec::new();
    for n in 0..CARDHOLDERS {
        let transaction = plan(&state, &request(&cardholder(n), "12.001.00"), n, 0).unwrap();
        let deltas = balance_deltas(&state, &transaction).unwrap();
        apply(&mut state, &deltas);
        if n % 97 == 0 {
            postings.push(deltas);
        }
    }
    assert!(state.balances.len() > usize::try_from(CARDHOLDERS).unwrap());
    let mut group = c.benchmark_group("ledger/apply");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    // The state is owned by this thread alone: imbl updates nodes in place.
    group.bench_function("in_place_100k_accounts", |b| {
        let mut working = state.clone();
        let mut next = 0_usize;
        b.iter(|| {
            apply(&mut working, black_box(&postings[next % postings.len()]));
            next = next.wrapping_add(1);
        });
    });
    // The first posting of a commit group: the working state was just cloned from the published
    // one, so every touched path of the map is copied.
    group.bench_function("first_in_group_100k_accounts", |b| {
        let published = state.clone();
        let mut next = 0_usize;
        b.iter(|| {
            let mut working = published.clone();
            apply(&mut working, black_box(&postings[next % postings.len()]));
            next = next.wrapping_add(1);
            working
        });
    });
    group.finish();
}

/// The state's balances alone (`core::balances::Balances`), two layers for each of N
/// accounts: reading one account's two layers (the balance enquiry's read), and three changes
/// after a snapshot (one account drawn at random, two hot ones, as a card debit changes the
/// card's account, the acquirer's and a parent; each command's savepoint is such a snapshot, so
/// every touched path is copied).
fn ledger_balances(c: &mut Criterion) {
    let layers = [LAYER, LAYER.saturating_add(PENDING_LAYER_OFFSET)];
    let mut group = c.benchmark_group("ledger/balances");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    for accounts in [10_000_u64, 1_000_000] {
        let mut balances = Balances::default();
        for account in 1..=accounts {
            for layer in layers {
                balances.insert(account, layer, Amount::from_units(5));
            }
        }
        assert_eq!(balances.len(), usize::try_from(accounts * 2).unwrap());
        // A xorshift walk: each read or change far from the one before, as live traffic is.
        let mut state = 0x2545_f491_u64;
        let mut scattered = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + state % accounts
        };
        group.bench_function(BenchmarkId::new("read_two_layers", accounts), |b| {
            b.iter(|| {
                let account = black_box(scattered());
                layers.map(|layer| balances.get(account, layer))
            });
        });
        group.bench_function(BenchmarkId::new("three_changes_after_a_snapshot", accounts), |b| {
            let mut working = balances.clone();
            b.iter(|| {
                let snapshot = working.clone();
                for account in [scattered(), 1, 2] {
                    working.insert(black_box(account), LAYER, Amount::from_units(7));
                }
                snapshot
            });
        });
    }
    group.finish();
}

/// A decided 2-entry transaction as the writer stores it.
fn transaction(id: u64) -> Transaction {
    let entry = |account_id, side| Entry {
        account_id,
        side,
        layer: LAYER,
        amount: Amount::from_units(10_000),
        detail: String::new(),
        tags: String::new(),
    };
    Transaction {
        id,
        journal: CHART.to_owned(),
        timestamp_ms: 1_700_000_000_000,
        post_date_ms: 1_700_000_000_000,
        detail: "bench".to_owned(),
        tags: String::new(),
        entries: vec![entry(3, Side::Credit), entry(6, Side::Debit)],
        reversal_of: None,
        reversal_count: 0,
        reference: None,
    }
}

/// Adds one posting's records: the transaction and 2 balances (its entries reach the
/// account-entry index from the transaction, outside the store).
fn add_posting(batch: &mut Batch, id: u64) {
    let transaction = transaction(id);
    batch.put(schema::transaction_key(id), &transaction).unwrap();
    for entry in &transaction.entries {
        batch
            .put(
                schema::balance_key(entry.account_id, entry.layer),
                &Amount::from_units(i64::try_from(id).unwrap()),
            )
            .unwrap();
    }
}

/// A commit group's records applied and made durable, on each engine: fjall (the switch's)
/// and sled (older data directories). One `fsync` a group whatever its size, so the cost a
/// posting falls as groups grow.
fn store_group_commit(c: &mut Criterion) {
    for (engine, name) in [(EngineKind::Fjall, "fjall"), (EngineKind::Sled, "sled")] {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::with_engine(engine.open(dir.path(), EngineSettings::SHORT_OPEN).unwrap());
        group_commit_on(c, &format!("store/group_commit/{name}"), &store);
    }
}

fn group_commit_on(c: &mut Criterion, name: &str, store: &Store) {
    let mut next_id = 1_u64;
    let mut group = c.benchmark_group(name);
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).sample_size(10);
    for postings in [1_u64, 64, 256] {
        group.throughput(Throughput::Elements(postings));
        // Encoding the records is part of the writer's work, so it is measured too.
        group.bench_with_input(
            BenchmarkId::new("encode_apply_flush", postings),
            &postings,
            |b, &postings| {
                b.iter(|| {
                    let mut batch = Batch::new();
                    for _ in 0..postings {
                        add_posting(&mut batch, next_id);
                        next_id += 1;
                    }
                    store.apply(&batch).unwrap();
                    store.flush().unwrap();
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("apply_flush", postings),
            &postings,
            |b, &postings| {
                b.iter_batched(
                    || {
                        let mut batch = Batch::new();
                        for _ in 0..postings {
                            add_posting(&mut batch, next_id);
                            next_id += 1;
                        }
                        batch
                    },
                    |batch| {
                        store.apply(&batch).unwrap();
                        store.flush().unwrap();
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

/// The account-entry index: a commit group's entries added as the syncer adds them (256
/// postings, 512 entries), and a run of 65,536 entries sorted, written and synced.
fn entry_index(c: &mut Criterion) {
    let entries = |postings: u64, first: u64| -> Vec<IndexedEntry> {
        (first..first + postings)
            .flat_map(|id| indexed_entries(&transaction(id)).collect::<Vec<_>>())
            .map(|mut entry| {
                // Spread over 10,000 card accounts, as debits are.
                entry.position.account_id = entry.position.transaction_id * 7_919 % 10_000;
                entry
            })
            .collect()
    };
    let mut group = c.benchmark_group("store/entry_index");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    group.throughput(Throughput::Elements(256));
    group.bench_function("add_group_256_postings", |b| {
        let settings = EntryIndexSettings { run_entries: usize::MAX, runs_per_merge: 8 };
        b.iter_batched(
            || {
                let missing = dir.path().join("never-written");
                let (index, _) =
                    EntryIndex::open(&missing, ACCOUNT_ENTRIES, 0, settings, OpenMode::ReadOnly)
                        .unwrap();
                (index, entries(256, 1))
            },
            |(index, group)| {
                index.add(group);
                index
            },
            BatchSize::PerIteration,
        );
    });
    group.throughput(Throughput::Elements(65_536));
    group.bench_function("write_run_65536_entries", |b| {
        let settings = EntryIndexSettings { run_entries: 65_536, runs_per_merge: 64 };
        b.iter_batched(
            || {
                let run_dir = tempfile::tempdir_in(dir.path()).unwrap();
                let (index, _) =
                    EntryIndex::open(run_dir.path(), ACCOUNT_ENTRIES, 0, settings, OpenMode::Serve)
                        .unwrap();
                index.add(entries(32_768, 1));
                (run_dir, index)
            },
            |(run_dir, index)| {
                index.spill_while_full().unwrap();
                assert_eq!(index.sizes().0, 1);
                (run_dir, index)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// The RRN index as every movement reads it: eight runs of 65,536 RRNs (with key filters) and
/// 10,000 in memory, looked up by an RRN it does not hold (a new movement) and by one it does
/// (a retry).
fn rrn_lookup(c: &mut Criterion) {
    const RUN: u64 = 65_536;
    let dir = tempfile::tempdir().unwrap();
    let settings = EntryIndexSettings { run_entries: 65_536, runs_per_merge: 64 };
    let (index, _) =
        EntryIndex::open(dir.path(), RRN_TRANLOGS, 0, settings, OpenMode::Serve).unwrap();
    let rrn = |n: u64| format!("{n:012}");
    for id in 0..RUN * 8 + 10_000 {
        index.add([tranlog_index::record(rrn_key(&rrn(id)), id)]);
        index.spill_while_full().unwrap();
    }
    assert_eq!(index.sizes(), (8, 10_000));
    let absent: Vec<u64> = (0..1_024).map(|n| rrn_key(&format!("new{n:09}"))).collect();
    let present: Vec<u64> = (0..1_024).map(|n| rrn_key(&rrn(n * 511))).collect();
    let mut group = c.benchmark_group("store/rrn_index");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    for (name, keys) in [("lookup_absent_8_runs", &absent), ("lookup_present_8_runs", &present)] {
        group.bench_function(name, |b| {
            let mut at = 0;
            b.iter(|| {
                at = (at + 1) % keys.len();
                index.entries_of(keys[at]).unwrap().len()
            });
        });
    }
    group.finish();
}

fn auth_sign_and_verify(c: &mut Criterion) {
    let key = b"bench consumer key of 32 bytes!!".to_vec();
    let body = GL_EXAMPLE.replace('\n', "").into_bytes();
    let body = &body[..body.len().min(300)];
    let timestamp = "1700000000000";
    let nonce = "n123456-789";
    let hash = jcard_hash(&key, timestamp, nonce, body);
    assert!(verify_jcard_hash(&key, timestamp, nonce, body, &hash));
    let mut group = c.benchmark_group("auth/sign_and_verify");
    group
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .throughput(Throughput::Bytes(u64::try_from(body.len()).unwrap()));
    group.bench_function(format!("sign_{}_bytes", body.len()), |b| {
        b.iter(|| jcard_hash(black_box(&key), timestamp, nonce, black_box(body)));
    });
    group.bench_function(format!("verify_{}_bytes", body.len()), |b| {
        b.iter(|| {
            verify_jcard_hash(black_box(&key), timestamp, nonce, black_box(body), black_box(&hash))
        });
    });
    group.finish();
}

fn wire_parse(c: &mut Criterion) {
    assert!(wire::parse_body::<wire::GlTransaction>(GL_EXAMPLE.as_bytes()).is_ok());
    assert!(serde_json::from_str::<serde_json::Value>(GL_EXAMPLE_MISSING_COMMAS).is_err());
    assert_eq!(
        lenient::parse(GL_EXAMPLE_MISSING_COMMAS.as_bytes()).unwrap(),
        lenient::parse(GL_EXAMPLE.as_bytes()).unwrap()
    );
    let mut group = c.benchmark_group("wire/parse_gl_transaction");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    group.bench_function("parse_body_spec_example", |b| {
        b.iter(|| {
            wire::parse_body::<wire::GlTransaction>(black_box(GL_EXAMPLE.as_bytes())).is_ok()
        });
    });
    group.bench_function("lenient_valid_json", |b| {
        b.iter(|| lenient::parse(black_box(GL_EXAMPLE.as_bytes())).unwrap());
    });
    group.bench_function("lenient_missing_commas", |b| {
        b.iter(|| lenient::parse(black_box(GL_EXAMPLE_MISSING_COMMAS.as_bytes())).unwrap());
    });
    group.finish();
}

/// A payment card on cardholder account `21.<n>.00` of [`chartbook`], product 1.
fn payment_card(state: &State, n: u64, pin_hash: Option<String>) -> Card {
    let account = state.account_by_code(&format!("21.{n:08}.00")).expect("cardholder account");
    Card {
        id: n,
        token: format!("token{n:08}"),
        pan_hash: String::new(),
        bin: "455566".to_owned(),
        last_four: "0000".to_owned(),
        pan_length: 16,
        expiration: "209912".to_owned(),
        service_code: "101".to_owned(),
        embossing_name: None,
        is_virtual: false,
        product_id: 1,
        cardholder: None,
        account_id: account.id,
        state: CardState::Active,
        pin_hash,
        created_ms: 0,
        partner: None,
        kind: CardKind::Payment,
        pass: None,
    }
}

/// `cards` funded cards on an open product with a daily velocity profile, as the decision
/// meets them on the writer.
fn card_state(cards: u64, keys: &MasterKey) -> State {
    let mut state = chartbook(cards);
    state.card_products.insert(
        1,
        Arc::new(CardProduct {
            bin: Some("455566".to_owned()),
            card_number_length: Some(16),
            allow_atm: true,
            allow_ecommerce: true,
            allow_moto: true,
            allow_pos: true,
            allow_tips: true,
            ..CardProduct::blank(1, "bench".to_owned(), "bench".to_owned())
        }),
    );
    state.velocity_profiles.insert(
        1,
        Arc::new(VelocityProfile {
            id: 1,
            product_id: 1,
            name: "daily".to_owned(),
            active: true,
            approvals_only: true,
            scope: VelocityScope::Card,
            period: VelocityPeriod::Daily,
            currency_code: "840".to_owned(),
            usage_limit: Some(1_000),
            amount_limit: Amount::from_units(10_000_000_000),
            valid_on_purchase: true,
            valid_on_withdrawal: true,
            valid_on_transfer: true,
            valid_on_credit: false,
        }),
    );
    for n in 0..cards {
        let token = format!("token{n:08}");
        let pin_hash = card_pin_hash(keys, &token, "1234ABCD1234ABCD");
        let card = payment_card(&state, n, Some(pin_hash));
        let account_id = card.account_id;
        state.insert_card(card);
        state.balances.insert(account_id, LAYER, Amount::from_units(1_000_000_000));
    }
    state
}

fn card_debit(token: &str, pin_block: Option<&str>) -> CardMovement {
    CardMovement {
        kind: CardMovementKind::Debit,
        token: token.to_owned(),
        recipient: None,
        amount: Amount::from_units(10_000),
        currency: 840,
        channel: Channel::Pos,
        channel_name: Some("POS".to_owned()),
        rrn: "000000000001".to_owned(),
        fingerprint: String::new(),
        description: String::new(),
        json_request: String::new(),
        pin_block: pin_block.map(str::to_owned),
    }
}

/// The whole card authorization decision on 10,000 cards: an approval with and without a PIN
/// block (the PIN block check is an HMAC), and a decline for funds.
fn card_authorization(c: &mut Criterion) {
    let keys = MasterKey::from_bytes([7; 32]);
    let state = card_state(10_000, &keys);
    let authorizer = Authorizer { state: &state, keys: &keys, now_ms: 1_800_000_000_000 };
    let card = authorizer.card("token00004242").unwrap();
    let profiles = authorizer.applicable_profiles(&card, &card_debit(&card.token, None));
    assert_eq!(profiles.len(), 1);
    let plain = card_debit(&card.token, None);
    let with_pin = card_debit(&card.token, Some("1234ABCD1234ABCD"));
    let mut too_much = card_debit(&card.token, None);
    too_much.amount = Amount::from_units(2_000_000_000);
    assert!(authorizer.decide(&with_pin, &card, &profiles).is_ok());
    assert!(matches!(
        authorizer.decide(&too_much, &card, &profiles),
        Err(Decline::InsufficientFunds)
    ));
    let mut group = c.benchmark_group("authorize/card_debit");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    group.bench_function("approve", |b| {
        b.iter(|| authorizer.decide(black_box(&plain), &card, &profiles).is_ok());
    });
    group.bench_function("approve_with_pin_block", |b| {
        b.iter(|| authorizer.decide(black_box(&with_pin), &card, &profiles).is_ok());
    });
    group.bench_function("decline_insufficient_funds", |b| {
        b.iter(|| authorizer.decide(black_box(&too_much), &card, &profiles).is_err());
    });
    group.bench_function("lookup_card_and_profiles_then_approve", |b| {
        b.iter(|| {
            let card = authorizer.card(black_box("token00004242")).unwrap();
            let profiles = authorizer.applicable_profiles(&card, &plain);
            authorizer.decide(&plain, &card, &profiles).is_ok()
        });
    });
    group.finish();
}

/// What a balance enquiry looks up in the state, over 100,000 cards taken in a scattered
/// order as live traffic takes them: the card by its token, its account, and the account's
/// balance on the currency's two layers (the jCard handler's reads).
fn state_balance_enquiry(c: &mut Criterion) {
    const CARDS: u64 = 100_000;
    let keys = MasterKey::from_bytes([7; 32]);
    let state = card_state(CARDS, &keys);
    // A stride coprime with the card count visits every card, each far from the one before.
    let tokens: Vec<String> =
        (0..CARDS).map(|n| format!("token{:08}", n.wrapping_mul(7_919) % CARDS)).collect();
    let layers = [LAYER, LAYER.saturating_add(PENDING_LAYER_OFFSET)];
    let enquire = |token: &str| {
        let card = state.cards.get(token).expect("card");
        let found = account_balance(&state, CHART, card.account_id, &layers).expect("account");
        found.expect("balance").1
    };
    assert_eq!(enquire(&tokens[0]), Amount::from_units(1_000_000_000));
    let mut group = c.benchmark_group("state/balance_enquiry");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    group.bench_function("card_account_two_layers_100k_cards", |b| {
        let mut next = tokens.iter().cycle();
        b.iter(|| enquire(black_box(next.next().expect("cycle"))));
    });
    group.finish();
}

/// The replay check of a request under sustained load: a full nonce cache (1M nonces; request
/// timestamps a millisecond apart per hundred) taking one new nonce, which evicts the oldest.
fn nonce_cache_full(c: &mut Criterion) {
    const ENTRIES: u64 = 1_000_000;
    let cache = NonceCache::new(usize::try_from(ENTRIES).unwrap(), 300_000);
    let consumer = uuid::Uuid::from_u128(7);
    let at_ms = |n: u64| 1_800_000_000_000 + i64::try_from(n / 100).unwrap();
    for n in 0..ENTRIES {
        cache.check_and_insert(consumer, &n.to_string(), at_ms(n), at_ms(n)).unwrap();
    }
    // Measured is the accepted path: a new nonce is taken, not refused as below the floor.
    assert!((ENTRIES..ENTRIES + 1000).all(|n| {
        cache.check_and_insert(consumer, &format!("p{n}"), at_ms(n), at_ms(n)).is_ok()
    }));
    let mut group = c.benchmark_group("auth/nonce_cache");
    group.warm_up_time(WARM_UP).measurement_time(MEASUREMENT).throughput(Throughput::Elements(1));
    group.bench_function("new_nonce_into_a_full_cache_1m", |b| {
        let mut n = ENTRIES;
        b.iter(|| {
            n += 1;
            cache.check_and_insert(consumer, &n.to_string(), at_ms(n), at_ms(n)).is_ok()
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    card_authorization,
    state_balance_enquiry,
    nonce_cache_full,
    ledger_plan,
    ledger_apply,
    ledger_balances,
    store_group_commit,
    entry_index,
    rrn_lookup,
    auth_sign_and_verify,
    wire_parse
);
criterion_main!(benches);
