//! Architecture boundaries and hygiene, checked on the source tree: who may import what,
//! every file explains itself, no unfinished markers.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    rust_files(&root.join("src"))
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(root).unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

fn offenders(allowed: impl Fn(&str) -> bool, needle: &str) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(path, text)| !allowed(path) && text.contains(needle))
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn only_the_store_knows_the_engines() {
    for engine in ["sled::", "fjall::"] {
        let found = offenders(|path| path.starts_with("src/store/"), engine);
        assert!(found.is_empty(), "{engine} used outside src/store/: {found:?}");
    }
}

/// The crate denies unsafe code; the one exception sets an allocator option in the binary.
#[test]
fn unsafe_code_only_where_the_allocator_is_set_up() {
    let found = offenders(|path| path == "src/main.rs", "allow(unsafe_code)");
    assert!(found.is_empty(), "unsafe code allowed outside src/main.rs: {found:?}");
    let found = offenders(|_| false, "unsafe_code)]");
    assert_eq!(found, ["src/main.rs"], "one allowance, in src/main.rs");
}

#[test]
fn only_http_and_server_know_hyper() {
    let found = offenders(|path| path.starts_with("src/http/") || path == "src/server.rs", "hyper");
    assert!(found.is_empty(), "hyper used outside src/http/ and src/server.rs: {found:?}");
}

#[test]
fn the_pure_layers_stay_pure() {
    for needle in [
        "serde_json",
        "crate::store",
        "crate::api",
        "crate::http",
        "tokio",
        "SystemClock",
        "Utc::now",
        "Instant::now",
    ] {
        let found =
            offenders(|path| !(path.starts_with("src/ledger/") || path == "src/money.rs"), needle);
        assert!(found.is_empty(), "`{needle}` in the pure ledger or money code: {found:?}");
    }
    for needle in ["crate::api", "crate::http", "serde_json"] {
        let found = offenders(|path| !path.starts_with("src/core/"), needle);
        assert!(found.is_empty(), "`{needle}` in the core: {found:?}");
    }
}

#[test]
fn dialects_do_not_touch_the_store_or_each_other() {
    let dialects: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
    for (path, text) in sources().into_iter().filter(|(path, _)| path.starts_with("src/api/")) {
        assert!(!text.contains("crate::store"), "{path} reaches into the store");
        for other in &dialects {
            let own = path.starts_with(&format!("src/api/{other}/"));
            assert!(
                own || !text.contains(&format!("api::{other}")),
                "{path} uses the {other} dialect"
            );
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    for (path, text) in sources() {
        assert!(text.starts_with("//!"), "{path} does not start with a //! line");
    }
}

#[test]
fn no_unfinished_markers() {
    for marker in ["FIXME", "dbg!(", "todo!(", "unimplemented!("] {
        let found = offenders(|_| false, marker);
        assert!(found.is_empty(), "`{marker}` in {found:?}");
    }
}
