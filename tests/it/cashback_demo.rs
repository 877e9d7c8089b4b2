//! `scripts/cashback_demo.sh` runs as written against the built binary on a fresh data
//! directory: it sets up a group, store, point of sale and credited pass, searches, pays, and
//! ends with a clean `cardswitch verify`.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_cardswitch");

#[test]
fn the_cashback_demo_runs_on_a_fresh_data_directory() {
    // A port free right now, for the demo's switch.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cashback_demo.sh");
    let output = Command::new("bash")
        .arg(script)
        .env("CARDSWITCH_BIN", BINARY)
        .env("PORT", port.to_string())
        .output()
        .expect("bash runs the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("verify: ok"), "{stdout}");
    assert!(stdout.contains("cashback demo: ok (14.50 left on the pass)"), "{stdout}");
    assert!(stderr.contains(r#"{"code":"CARD-12""#), "{stderr}");
}
