//! The fuzz targets' short form for CI: every checked-in seed (`fuzz/seeds/<target>/`) and
//! every input a fuzz run once found failing (`fuzz/regressions/<target>/`) goes through the
//! same property checks the targets run (`fuzz/src/lib.rs`), without a nightly compiler.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod properties;

/// A target's property checks.
type Check = fn(&[u8]);

/// Each target's name (its directory under `fuzz/seeds` and `fuzz/regressions`) and checks.
const TARGETS: [(&str, Check); 10] = [
    ("amount", properties::amount),
    ("jcard_lenient", properties::jcard_lenient),
    ("jcard_bodies", properties::jcard_bodies),
    ("issuing_bodies", properties::issuing_bodies),
    ("giftcard_body", properties::giftcard_body),
    ("cashback_bodies", properties::cashback_bodies),
    ("jcard_auth", properties::jcard_auth),
    ("jws_header", properties::jws_header),
    ("bearer_token", properties::bearer_token),
    ("request_line", properties::request_line),
];

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|name| name != "README.md"))
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file, collecting the ones that fail instead of stopping at the first.
fn failures(check: Check, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            outcome.is_err().then(|| path.display().to_string())
        })
        .collect()
}

#[test]
fn every_seed_and_regression_input_keeps_its_properties() {
    let mut failed = Vec::new();
    for (target, check) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "no seed inputs for {target}");
        failed.extend(failures(check, &seeds));
        failed.extend(failures(check, &inputs("regressions", target)));
    }
    assert!(failed.is_empty(), "inputs that break their target's properties: {failed:?}");
}

#[test]
fn every_fuzz_target_is_replayed_here() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(targets, replayed);
}
