//! The partner guide's signing example (`docs/card-api.md`) works as written: its one Python
//! block, run by `python3`, reproduces the source document's signature exactly and, pointed at
//! a switch, sends a signed `request/status` that the switch accepts and answers.

use std::path::Path;
use std::process::{Command as Process, Output};
use std::time::Duration;

use crate::support::TestSwitch;

/// The guide as it is in the repository.
const GUIDE: &str = include_str!("../../docs/card-api.md");

/// The document's example: partner 123456, key `secret`, this body to this uri.
const AUTH_ID: &str = "123456";
const KEY: &str = "secret";
const URI: &str = "/v5/card-api/request/status";
const BODY: &str = r#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197ca"}"#;
const SIGNATURE: &str = "eyJ1cmkiOiIvdjUvY2FyZC1hcGkvcmVxdWVzdC9zdGF0dXMiLCJhdXRoX2lkIjoiMTIzNDU2IiwibWV0aG9kIjoiUE9TVCIsInBhcmFtcyI6IiIsImFsZyI6IkhTNTEyIn0..f1sQoeIpX_ZjOaykQzSeylvvKaVrEQV4gNM2ACFbEMkFDUV9Zk5WO1yQGEWez-vnQMVHodLBDVEyh5Xm2-3MjQ";

/// The one ```python block of the guide.
fn python_block() -> String {
    let blocks: Vec<&str> = GUIDE
        .split("```python\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap_or_default())
        .collect();
    assert_eq!(blocks.len(), 1, "docs/card-api.md has exactly one ```python block");
    format!("{}\n", blocks[0])
}

/// The block saved as `snippet.py` in a fresh directory.
fn snippet() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("snippet.py"), python_block()).expect("write snippet.py");
    dir
}

fn python3(dir: &Path, arguments: &[&str]) -> Output {
    Process::new("python3")
        .current_dir(dir)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("python3 could not be run: {error}"))
}

fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_snippets_sign_reproduces_the_documents_example() {
    let dir = snippet();
    let driver = format!(
        "import snippet\nprint(snippet.sign({KEY:?}.encode(), {URI:?}, {AUTH_ID:?}, {BODY:?}.encode()))\n"
    );
    let output = python3(dir.path(), &["-c", &driver]);
    let printed = stdout_of(&output, "the signing driver");
    assert_eq!(printed.trim(), SIGNATURE, "sign() of the document's example");
}

#[tokio::test]
async fn the_snippet_asks_a_switch_for_a_request_status() {
    let switch = TestSwitch::start().await;
    switch.add_partner(AUTH_ID, KEY.as_bytes()).await;
    let dir = snippet();
    let url = switch.url("");
    let path = dir.path().to_owned();
    // The switch runs on this test's runtime: wait for python off it.
    let run =
        tokio::task::spawn_blocking(move || python3(&path, &["snippet.py", &url, AUTH_ID, KEY]));
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the snippet answered within a minute")
        .expect("the snippet's thread");
    let printed = stdout_of(&output, "snippet.py");
    let mut lines = printed.lines();
    assert_eq!(lines.next(), Some("404"), "the HTTP status first:\n{printed}");
    let answer: serde_json::Value = serde_json::from_str(&lines.collect::<Vec<_>>().join("\n"))
        .unwrap_or_else(|error| panic!("the snippet printed no JSON answer ({error}):\n{printed}"));
    assert_eq!(answer["error"]["code"], "REQUEST_NOT_FOUND", "{printed}");
    switch.stop().await;
}
