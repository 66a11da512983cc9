//! The logs of a full demo run, with every log level on, hold no secret: no patient name, no chart
//! text, no passphrase or PIN, and no private key of any user, patient or clinic in the forms a
//! program would print bytes (hex, or Rust's `[1, 2, …]`).
//!
//! The run: `carelog demo` (three clinics, charts, consent, a QUIC link-up), then `serve` at North
//! Valley with South Harbour charting and syncing to it, all at `RUST_LOG=trace` for Carelog's own
//! crates and `debug` for the rest.

use crate::common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const LOG_LEVELS: &str = "debug,carelog=trace,carelog_node=trace,carelog_sync=trace,carelog_ledger=trace,carelog_store=trace";

fn carelog(home: Option<&Path>, args: &[&str]) -> Output {
    common::succeeded(
        common::bare(home)
            .args(args)
            .env("RUST_LOG", LOG_LEVELS)
            .env("CARELOG_PASSPHRASE", STAFF)
            .env(
                "CARELOG_NODE_PASSPHRASE",
                carelog_node::DEMO_NODE_PASSPHRASE,
            ),
    )
}

/// What a command logged: its stderr (stdout is the answer the user asked for, e.g. a chart).
fn logged(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const STAFF: &str = carelog_node::DEMO_STAFF_PASSPHRASE;
const PIN: &str = carelog_node::DEMO_PATIENT_PIN;

/// Every private key sealed in a home's key store, opened with the demo's passphrase or a demo
/// card with the PIN; and the home's own node key and database key.
fn private_keys(home: &Path, cards: &[carelog_node::Card]) -> Vec<Vec<u8>> {
    let (secrets, opened) = common::demo_keys(home, cards);
    let mut keys = vec![
        secrets.node.seed().to_vec(),
        // Padded to the 64 bytes the printed forms below take apart.
        [
            secrets.database.expose().as_slice(),
            secrets.database.expose(),
        ]
        .concat(),
    ];
    keys.extend(opened.iter().map(|k| k.seed().to_vec()));
    keys
}

/// The forms bytes take when a program prints them.
fn printed_forms(bytes: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for part in [bytes, &bytes[..32], &bytes[32..]] {
        forms.push(hex::encode(part));
        forms.push(hex::encode_upper(part));
        forms.push(format!("{part:?}"));
    }
    // A long enough slice of the hex form is still a leak.
    forms.push(hex::encode(&bytes[8..24]));
    forms
}

#[test]
fn a_full_demo_run_logs_no_names_chart_text_or_keys() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    // The demo's story is printed for people (`cargo xtask run` shows it): it counts as a log.
    let demo_run = carelog(None, &["demo", "--dir", demo.to_str().unwrap()]);
    let mut logs = format!(
        "{}\n{}",
        logged(&demo_run),
        String::from_utf8_lossy(&demo_run.stdout)
    );

    // North Valley serves; South Harbour charts and syncs to it.
    let north = demo.join("clinic-1");
    let south = demo.join("clinic-2");
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let server = Command::new(env!("CARGO_BIN_EXE_carelog"))
        .arg("--home")
        .arg(&north)
        .args(["serve", "--listen", &addr])
        .env("RUST_LOG", LOG_LEVELS)
        .env(
            "CARELOG_NODE_PASSPHRASE",
            carelog_node::DEMO_NODE_PASSPHRASE,
        )
        .env_remove("CARELOG_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let listed: Value = serde_json::from_slice(
        &carelog(Some(&south), &["patients", "--as", "Dr Ines Duarte"]).stdout,
    )
    .unwrap();
    let grace = listed["patients"][0]["patient_id"]
        .as_str()
        .unwrap()
        .to_string();
    let note = "Tonsils swollen, prescribed rest. Distinctive phrase: amber-heron-7731";
    logs += &logged(&carelog(
        Some(&south),
        &[
            "chart",
            "add",
            "--as",
            "Dr Ines Duarte",
            "--patient",
            &grace,
            "--kind",
            "note",
            "--data",
            &serde_json::json!({"title": "Review", "text": note}).to_string(),
        ],
    ));
    logs += &logged(&carelog(Some(&south), &["sync", "--peer", &addr]));
    let shown = carelog(
        Some(&south),
        &[
            "chart",
            "show",
            "--as",
            "Dr Ines Duarte",
            "--patient",
            &grace,
        ],
    );
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(note),
        "the doctor reads the note she wrote"
    );
    logs += &logged(&shown);
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let served = server.wait_with_output().unwrap();
    logs += &logged(&served);
    logs += &String::from_utf8_lossy(&served.stdout);
    assert!(
        logs.contains("serving"),
        "the logs are on at debug level: {logs}"
    );

    // The demo announces its own published credentials on purpose (README, `cargo xtask run`).
    let logs = logs
        .replace(&format!("Staff passphrase: {STAFF}"), "")
        .replace(&format!("patient PIN: {PIN}"), "");
    let built: Value = serde_json::from_slice(&demo_run.stdout).unwrap();
    let cards = common::demo_cards(&built);
    assert!(cards.len() >= 3, "the demo prints its patients' cards");

    // What must never appear.
    let mut secrets: Vec<(String, String)> = vec![
        ("a passphrase".into(), STAFF.into()),
        ("a note".into(), note.into()),
        ("a note".into(), "amber-heron-7731".into()),
    ];
    secrets.extend(common::demo_chart_text());
    let mut keys = 0;
    for home in [&north, &south, &demo.join("clinic-3")] {
        for key in private_keys(home, &cards) {
            keys += 1;
            for form in printed_forms(&key) {
                secrets.push(("a private key".into(), form));
            }
        }
    }
    assert!(
        keys >= 10,
        "the demo's staff and patient keys open ({keys})"
    );
    for (what, secret) in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the logs hold {what}: {secret}"
        );
    }
}
