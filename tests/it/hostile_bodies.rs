//! The fuzz seeds, mutated, through every route of every dialect over HTTP with valid
//! credentials: the decoders' refusals must hold end to end, through the handlers and the core.
//! No request may get a server error or drop the connection (a handler panic would), and the
//! ledger still balances afterwards.

use std::path::Path;

use cardswitch::api::issuing::jws;
use cardswitch::bearer::BearerScope;
use cardswitch::http::router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{Reply, TestSwitch};

const PARTNER: &str = "123456";
const PARTNER_KEY: &[u8] = b"secret";

/// Mutated bodies sent to each route (plus one unmutated seed).
const MUTANTS_PER_ROUTE: usize = 8;

/// Bytes a mutation inserts: JSON's own, so mutants stay near the grammar.
const JSON_BYTES: &[u8] = b"{}[]\":,0123456789-.eE truefalsnul\\";

/// Values put into path parameters: existing names, odd ones, encoded spaces.
const PARAM_VALUES: [&str; 6] = ["1", "jcard", "12.001.00", "w%20x", "0000001", "%FF"];

/// Query strings tried on each route.
const QUERIES: [&str; 4] = [
    "",
    "?layers=840,1840&date=2020-01-01&start=2020-01-01&end=2020-01-31",
    "?dryRun=maybe&createWallet=yes&asc=n&balance=y&length=-1&limit=99999999999",
    "?search_mode=BARCODE&q=%00&layers=a,,b&offset=x",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut files: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|path| std::fs::read(path).unwrap()).collect()
}

/// A few random edits of `seed`: replaced, deleted, inserted and duplicated bytes, a cut.
fn mutate(seed: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut body = seed.to_vec();
    for _ in 0..rng.gen_range(1..5) {
        let at = rng.gen_range(0..=body.len());
        let byte = JSON_BYTES[rng.gen_range(0..JSON_BYTES.len())];
        match rng.gen_range(0..5) {
            0 if at < body.len() => body[at] = byte,
            1 if at < body.len() => drop(body.remove(at)),
            2 => body.insert(at, byte),
            3 => {
                let end = rng.gen_range(at..=body.len());
                let copy = body[at..end].to_vec();
                body.splice(at..at, copy);
            }
            _ => body.truncate(at),
        }
    }
    body
}

/// `template` with each `{parameter}` replaced by one of [`PARAM_VALUES`].
fn concrete(template: &str, rng: &mut StdRng) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                PARAM_VALUES[rng.gen_range(0..PARAM_VALUES.len())]
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn bodies(seeds: &[Vec<u8>], rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut bodies = vec![seeds[rng.gen_range(0..seeds.len())].clone()];
    for _ in 0..MUTANTS_PER_ROUTE {
        bodies.push(mutate(&seeds[rng.gen_range(0..seeds.len())], rng));
    }
    bodies
}

fn assert_answered(reply: &Reply, method: &str, path: &str, body: &[u8]) {
    assert!(
        reply.status < 500,
        "{method} {path} with {:?} got {}: {}",
        String::from_utf8_lossy(body),
        reply.status,
        reply.text
    );
}

async fn switch_with_partner() -> TestSwitch {
    let switch = TestSwitch::start().await;
    switch.add_partner(PARTNER, PARTNER_KEY).await;
    switch
}

#[tokio::test]
async fn mutated_bodies_on_every_route_never_get_a_server_error() {
    let switch = switch_with_partner().await;
    let mut rng = StdRng::seed_from_u64(8);
    let jcard_seeds = seeds("jcard_bodies");
    for (method, template) in router::jcard_templates() {
        let path = format!("{}{}", concrete(&template, &mut rng), QUERIES[rng.gen_range(0..4)]);
        for body in bodies(&jcard_seeds, &mut rng) {
            let text = String::from_utf8_lossy(&body).into_owned();
            let reply = switch.admin_call(method, &path, &text).await;
            assert_answered(&reply, method, &path, text.as_bytes());
        }
    }
    let issuing_seeds = seeds("issuing_bodies");
    for (method, path) in router::issuing_templates() {
        for body in bodies(&issuing_seeds, &mut rng) {
            let signature = jws::sign(PARTNER_KEY, &path, PARTNER, "", &body);
            let headers = [("x-jws-signature".to_owned(), signature)];
            let reply = switch.raw(method, &path, &headers, body.clone()).await;
            assert_answered(&reply, method, &path, &body);
        }
    }
    bearer_dialects(&switch, &mut rng).await;
    switch.assert_ledger_balances();
}

/// The gift-card history and cashback routes, with a token of the scope each route needs.
async fn bearer_dialects(switch: &TestSwitch, rng: &mut StdRng) {
    let dialects = [
        (router::giftcard_templates(), seeds("giftcard_body")),
        (router::cashback_templates(), seeds("cashback_bodies")),
    ];
    for (templates, seeds) in dialects {
        for (method, template) in templates {
            let scope = if template.starts_with("/rest/v3") {
                BearerScope::Giftcard
            } else if template.contains("/admin/") {
                BearerScope::Admin
            } else {
                BearerScope::Cashback
            };
            let token = format!("Bearer {}", switch.bearer_token(scope, None, &[]));
            let headers = [("authorization".to_owned(), token)];
            let path = format!("{}{}", concrete(&template, rng), QUERIES[rng.gen_range(0..4)]);
            for body in bodies(&seeds, rng) {
                let reply = switch.raw(method, &path, &headers, body.clone()).await;
                assert_answered(&reply, method, &path, &body);
            }
        }
    }
}
