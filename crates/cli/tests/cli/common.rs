//! Helpers shared by the CLI tests that run `carelog` processes side by side.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The node passphrase the tests' homes are sealed under.
pub const NODE_PASSPHRASE: &str = "cli test homes node passphrase";
/// The health authority's passphrase in the tests' networks.
pub const AUTHORITY_PASSPHRASE: &str = "cli test district authority";

/// `carelog --home HOME --json`, with `passphrase` for every user and every new secret, and the
/// tests' node and authority passphrases.
pub fn carelog(home: &Path, passphrase: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carelog"));
    cmd.arg("--home")
        .arg(home)
        .arg("--json")
        .env("CARELOG_PASSPHRASE", passphrase)
        .env("CARELOG_NEW_PASSPHRASE", passphrase)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
        .env("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY_PASSPHRASE)
        .env_remove("CARELOG_NODE_PASSPHRASE_FILE")
        .env_remove("CARELOG_CARD")
        .env_remove("CARELOG_HOME");
    cmd
}

/// A loopback UDP address no one is listening on.
pub fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running `carelog serve`, stopped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the node closes its connections politely.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `carelog --home HOME --json` acting with `passphrase` (a user's passphrase or a patient's PIN)
/// and giving `new_secret` wherever a new passphrase or PIN is asked for.
pub fn carelog_with(home: &Path, passphrase: &str, new_secret: &str) -> Command {
    let mut cmd = carelog(home, passphrase);
    cmd.env("CARELOG_NEW_PASSPHRASE", new_secret);
    cmd
}

/// Runs a command that must succeed and print exactly one JSON object, and returns it.
pub fn json_ok(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("the carelog binary runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert_eq!(
        text.trim().lines().count(),
        1,
        "--json prints one line: {text}"
    );
    let value: serde_json::Value = serde_json::from_str(&text).expect("stdout is JSON");
    assert!(value.is_object(), "{value}");
    value
}

/// Runs a command that must be refused: non-zero exit, nothing on stdout, one line on stderr
/// (returned).
pub fn refusal(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the carelog binary runs");
    assert!(!out.status.success(), "{cmd:?} should have been refused");
    assert!(out.stdout.is_empty(), "a refusal prints nothing on stdout");
    let err = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(err.trim().lines().count(), 1, "one line on stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Every patient name and piece of chart text in the demo's synthetic patients, each with what it
/// is ("a patient name", "chart text (note)", …): none of it may appear in a file or a log.
pub fn demo_chart_text() -> Vec<(String, String)> {
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../../assets/demo-patients.json")).unwrap();
    let mut words = Vec::new();
    for clinic in sample["clinics"].as_array().unwrap() {
        for p in clinic["patients"].as_array().unwrap() {
            words.push((
                "a patient name".to_string(),
                p["name"].as_str().unwrap().to_string(),
            ));
            for visit in p["visits"].as_array().unwrap() {
                let reason = visit["reason"].as_str().unwrap().to_string();
                words.push(("chart text (visit)".to_string(), reason));
                for entry in visit["entries"].as_array().unwrap() {
                    let kind = entry["kind"].as_str().unwrap();
                    let fields: &[&str] = match kind {
                        "note" => &["text", "title"],
                        "condition" | "order" | "immunization" => &["name"],
                        "medication" => &["drug"],
                        "allergy" => &["substance"],
                        _ => continue,
                    };
                    for field in fields {
                        let text = entry["data"][field].as_str().unwrap().to_string();
                        words.push((format!("chart text ({kind})"), text));
                    }
                }
            }
        }
    }
    words
}
