//! Backups through the binary: a switch populated over HTTP is backed up, restored into a new
//! directory and served with the same balances and history (and `verify` passes); a backup
//! cut or with a flipped byte anywhere is refused before anything is written; a non-empty
//! target and a running switch are refused; no PAN, PIN, PIN block or secret is in a backup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use cardswitch::core::backup::{backup_data_dir, restore_data_dir};
use cardswitch::core::keys::{MasterKey, MASTER_KEY_FILE};
use serde_json::json;

use crate::support::TestSwitch;

const BINARY: &str = env!("CARGO_BIN_EXE_cardswitch");
pub(crate) const PIN_BLOCK: &str = "0412AC89EF67AB12";
const WALLET_PIN: &str = "867530912";
const PARTNER_KEY: &str = "backup partner key 5c1d";

pub(crate) fn cardswitch(args: &[&str], paths: &[&Path]) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args);
    for path in paths {
        command.arg(path);
    }
    command.output().expect("run cardswitch")
}

fn backup(data: &Path, out: &Path) -> Output {
    Command::new(BINARY)
        .arg("backup")
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run cardswitch backup")
}

pub(crate) fn restore(from: &Path, data: &Path, key: &Path) -> Output {
    Command::new(BINARY)
        .arg("restore")
        .arg("--from")
        .arg(from)
        .arg("--data")
        .arg(data)
        .arg("--master-key")
        .arg(key)
        .output()
        .expect("run cardswitch restore")
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// What a client can read of the populated switch: these answers must survive a restore.
fn views(card: &str) -> Vec<String> {
    vec![
        "/jcard/api/wallets/w1/balance?layers=840,1840".to_owned(),
        "/jcard/api/wallets/w2/balance?layers=840,1840".to_owned(),
        "/jcard/api/wallets/w1/statement?layers=840,1840".to_owned(),
        "/jcard/api/transactions/wt1".to_owned(),
        "/jcard/api/transactions/wd1".to_owned(),
        format!("/jcard/api/cards/{card}/balance"),
        format!("/jcard/api/cards/{card}/transactions?balance=true&length=10"),
        "/jcard/api/gl/journals/jcard/accounts/11.001.00/balance?layers=840".to_owned(),
    ]
}

pub(crate) async fn read_views(switch: &TestSwitch, card: &str) -> Vec<String> {
    let mut answers = Vec::new();
    for path in views(card) {
        let reply = switch.admin_call("GET", &path, "").await;
        assert!(reply.status < 300, "{path}: {}", reply.text);
        answers.push(format!("{path} -> {}", reply.text));
    }
    answers
}

/// What `populate` made that must never be in a backup, and the card it made.
struct Populated {
    card: String,
    secrets: Vec<Vec<u8>>,
}

/// Cards, wallets, movements, a reversal, a login and a partner, all through the switch.
async fn populate(switch: &TestSwitch) -> Populated {
    let product = r#"{"name": "Classic", "code": "4569", "issuer": 67, "allowPos": true,
        "cardNumberLength": 16, "startDate": "2019-01-01", "endDate": "2049-01-01"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    let customer = r#"{"realId": "0000001", "firstName": "John", "lastName": "Doe",
        "institutionId": "1", "phone": "099123456"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", customer).await.status, 201);
    let issue = r#"{"cardHolder": "0000001", "cardProduct": "Classic", "bin": "455566",
        "expiration": "203005", "serviceCode": "220"}"#;
    let issued = switch.admin_call("POST", "/jcard/api/cards", issue).await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let pan = issued.json["pan"].as_str().unwrap().to_owned();
    let card = issued.json["token"].as_str().unwrap().to_owned();
    let card_path = |rest: &str| format!("/jcard/api/cards/{card}{rest}");
    assert_eq!(switch.admin_call("PUT", &card_path("/activate"), "").await.status, 200);
    let pin = format!(r#"{{"newPIN": "{PIN_BLOCK}"}}"#);
    assert_eq!(switch.admin_call("PUT", &card_path("/pin"), &pin).await.status, 200);
    let credit = r#"{"amount": 100, "currency": 840, "rrn": "bc1", "channel": "jcard"}"#;
    assert_eq!(switch.admin_call("POST", &card_path("/credit"), credit).await.status, 201);
    let debit = format!(
        r#"{{"amount": 30, "currency": 840, "rrn": "bd1", "channel": "pos", "pinblk": "{PIN_BLOCK}"}}"#
    );
    assert_eq!(switch.admin_call("POST", &card_path("/debit"), &debit).await.status, 201);

    let first_pin = switch.open_wallet("w1").await;
    let second_pin = switch.open_wallet("w2").await;
    let change = format!(r#"{{"pin": "{WALLET_PIN}"}}"#);
    let changed = switch.admin_call("PUT", "/jcard/api/wallets/w1/changepin", &change).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(switch.move_money("w1/credit", "200", "wc1", "cashInA2W").await.status, 200);
    assert_eq!(
        switch.move_money("w1/transfer/w2", "10", "wt1", "P2PRemittances").await.status,
        200
    );
    assert_eq!(switch.move_money("w1/debit", "5", "wd1", "creditBankAccountW2A").await.status, 200);
    let reversed = switch.admin_call("POST", "/jcard/api/transactions/reverse/wd1", "").await;
    assert!(reversed.status < 300, "{}", reversed.text);
    let login = json!({"wallet": "w1", "pin": WALLET_PIN}).to_string();
    let login = switch.admin_call("POST", "/jcard/api/login", &login).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let login_secret = login.json["secret"].as_str().unwrap().to_owned();

    switch.add_partner("backup-partner", PARTNER_KEY.as_bytes()).await;

    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut secrets = vec![
        pan.into_bytes(),
        PIN_BLOCK.as_bytes().to_vec(),
        PIN_BLOCK.to_lowercase().into_bytes(),
        WALLET_PIN.as_bytes().to_vec(),
        format!("\"{first_pin}\"").into_bytes(),
        format!("\"{second_pin}\"").into_bytes(),
        PARTNER_KEY.as_bytes().to_vec(),
        switch.admin.key.clone(),
        base64(&switch.admin.key).into_bytes(),
        login_secret.clone().into_bytes(),
        base64::engine::general_purpose::STANDARD.decode(&login_secret).unwrap(),
    ];
    let key_text = std::fs::read_to_string(switch.dir.path().join(MASTER_KEY_FILE)).unwrap();
    secrets.push(key_text.trim().as_bytes().to_vec());
    secrets.push(base64::engine::general_purpose::STANDARD.decode(key_text.trim()).unwrap());
    Populated { card, secrets }
}

#[tokio::test]
async fn a_backup_restores_into_a_new_directory_with_the_same_balances_and_history() {
    let switch = TestSwitch::start().await;
    let populated = populate(&switch).await;
    let before = read_views(&switch, &populated.card).await;
    let admin = switch.admin.clone();
    let source = switch.stop().await;

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("switch.backup");
    let backed_up = backup(source.path(), &file);
    assert!(backed_up.status.success(), "{}", text(&backed_up));
    assert!(text(&backed_up).contains("read back: ok"), "{}", text(&backed_up));
    assert_eq!(listing(work.path()), ["switch.backup"], "no partial file is left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is private to its owner");
    }
    let bytes = std::fs::read(&file).unwrap();
    for secret in &populated.secrets {
        assert!(
            !contains(&bytes, secret),
            "the backup holds a secret: {:?}",
            String::from_utf8_lossy(secret)
        );
    }

    let target = Arc::new(tempfile::tempdir().unwrap());
    let restored = restore(&file, target.path(), &source.path().join(MASTER_KEY_FILE));
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(text(&restored).contains(": ok"), "{}", text(&restored));
    let verified = cardswitch(&["verify", "--data"], &[target.path()]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert_eq!(
        std::fs::read(target.path().join(MASTER_KEY_FILE)).unwrap(),
        std::fs::read(source.path().join(MASTER_KEY_FILE)).unwrap()
    );

    let switch = TestSwitch::open_dir(target, admin).await;
    assert_eq!(read_views(&switch, &populated.card).await, before);
    // The RRNs, keyed PIN hashes and wrapped secrets came along with the master key.
    let again = switch.move_money("w1/transfer/w2", "10", "wt1", "P2PRemittances").await;
    assert_eq!((again.status, &again.json["replayed"]), (200, &json!(true)), "{}", again.text);
    let debit = format!(
        r#"{{"amount": 1, "currency": 840, "rrn": "bd2", "channel": "pos", "pinblk": "{PIN_BLOCK}"}}"#
    );
    let path = format!("/jcard/api/cards/{}/debit", populated.card);
    assert_eq!(switch.admin_call("POST", &path, &debit).await.status, 201);
    switch.assert_ledger_balances();
}

/// A small stopped switch and its backup; the directory, the backup's bytes, the work dir.
async fn small_backup() -> (Arc<tempfile::TempDir>, Vec<u8>, tempfile::TempDir) {
    let switch = TestSwitch::start().await;
    switch.open_wallet("s").await;
    for index in 0..3 {
        let rrn = format!("s{index}");
        assert_eq!(switch.move_money("s/credit", "7", &rrn, "cashInA2W").await.status, 200);
    }
    let source = switch.stop().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("small.backup");
    backup_data_dir(source.path(), &file, 0).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    (source, bytes, work)
}

/// Offsets to damage: every byte of the header and the first records, every byte of the
/// trailer and the last record, and evenly spaced ones in between.
fn offsets(length: usize) -> Vec<usize> {
    let mut offsets: Vec<usize> = (0..length.min(160)).collect();
    offsets.extend(length.saturating_sub(80)..length);
    offsets.extend((0..200).map(|step| step * length / 200));
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

#[tokio::test]
async fn a_cut_or_flipped_backup_is_refused_before_anything_is_written() {
    let (source, bytes, work) = small_backup().await;
    let key = source.path().join(MASTER_KEY_FILE);
    let damaged_file = work.path().join("damaged.backup");
    let target = work.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let expected_listing = vec!["damaged.backup".to_owned(), "target".to_owned()];
    let mut tried = 0;
    let mut refuse = |damaged: &[u8], what: &str| {
        std::fs::write(&damaged_file, damaged).unwrap();
        let error = restore_data_dir(&damaged_file, &target, &key)
            .map(|_| ())
            .expect_err(&format!("{what} was restored"))
            .to_string();
        assert!(
            ["truncated", "damaged", "not a cardswitch backup", "format version"]
                .iter()
                .any(|kind| error.contains(kind)),
            "{what}: {error}"
        );
        assert!(listing(&target).is_empty(), "{what}: something was written");
        assert_eq!(listing(work.path()), expected_listing, "{what}: something was left beside");
        tried += 1;
    };
    for offset in offsets(bytes.len()) {
        refuse(&bytes[..offset], &format!("a cut at {offset}"));
        for flip in [0x01_u8, 0x80] {
            let mut flipped = bytes.clone();
            flipped[offset] ^= flip;
            refuse(&flipped, &format!("a flip of 0x{flip:02x} at {offset}"));
        }
    }
    assert!(tried > 900, "{tried} damaged backups tried");

    // The command line says so, and that nothing was written.
    std::fs::write(&damaged_file, &bytes[..bytes.len() / 2]).unwrap();
    let refused = restore(&damaged_file, &target, &key);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("truncated"), "{}", text(&refused));
    assert!(text(&refused).contains("nothing was written"), "{}", text(&refused));
    assert!(listing(&target).is_empty());

    // The whole file restores; the same file with another master key does not.
    std::fs::write(&damaged_file, &bytes).unwrap();
    let other_key = tempfile::tempdir().unwrap();
    MasterKey::load_or_create(other_key.path()).unwrap();
    let error = restore_data_dir(&damaged_file, &target, &other_key.path().join(MASTER_KEY_FILE))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(error.contains("not the master key"), "{error}");
    assert!(listing(&target).is_empty());
    let report = restore_data_dir(&damaged_file, &target, &key).unwrap();
    assert!(report.audit.is_clean() && report.backup.records > 0);
    assert_eq!(listing(work.path()), expected_listing);
}

#[tokio::test]
async fn a_restore_refuses_a_directory_that_is_not_empty() {
    let (source, bytes, work) = small_backup().await;
    let file = work.path().join("small.backup");
    std::fs::write(&file, &bytes).unwrap();
    let target = work.path().join("occupied");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), b"keep me").unwrap();
    let refused = restore(&file, &target, &source.path().join(MASTER_KEY_FILE));
    assert!(!refused.status.success());
    assert!(text(&refused).contains("is not empty"), "{}", text(&refused));
    assert_eq!(listing(&target), ["notes.txt"]);
    // Restoring over the source itself is refused the same way.
    let onto_source = restore(&file, source.path(), &source.path().join(MASTER_KEY_FILE));
    assert!(text(&onto_source).contains("is not empty"), "{}", text(&onto_source));
    let restored_elsewhere: PathBuf = work.path().join("fresh").join("data");
    let restored = restore(&file, &restored_elsewhere, &source.path().join(MASTER_KEY_FILE));
    assert!(restored.status.success(), "{}", text(&restored));
}

#[tokio::test]
async fn a_backup_of_a_running_switch_is_refused_until_it_stops() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("r").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("running.backup");
    let refused = backup(switch.dir.path(), &file);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("in use by a running switch"), "{}", text(&refused));
    assert!(listing(work.path()).is_empty(), "no backup and no partial file");
    let dir = switch.stop().await;
    let taken = backup(dir.path(), &file);
    assert!(taken.status.success(), "{}", text(&taken));
    let again = backup(dir.path(), &file);
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}
