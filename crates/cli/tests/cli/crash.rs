//! Crash safety: `carelog chart add` killed with SIGKILL at random moments, 200 times. Every entry
//! whose id was printed (acknowledged) must survive, and the ledger must verify after restart.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn carelog(home: &Path, pass: &str, new_pass: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carelog"));
    cmd.arg("--home")
        .arg(home)
        .arg("--json")
        .env("CARELOG_PASSPHRASE", pass)
        .env("CARELOG_NEW_PASSPHRASE", new_pass)
        .env("CARELOG_NODE_PASSPHRASE", "crash test node passphrase")
        .env(
            "CARELOG_AUTHORITY_PASSPHRASE",
            "crash test authority passphrase",
        )
        .env_remove("CARELOG_HOME");
    cmd
}

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn acknowledged_entries_survive_kill_9_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let created = json(
        carelog(&home, "", "admin secret")
            .args([
                "network",
                "create",
                "--network",
                "N",
                "--clinic",
                "C",
                "--admin",
                "Ada",
            ])
            .output()
            .unwrap(),
    );
    let admin = created["admin_id"].as_str().unwrap().to_string();
    let doctor = json(
        carelog(&home, "admin secret", "doctor secret")
            .args([
                "user", "add", "--as", &admin, "--role", "doctor", "--name", "Dr Crash",
            ])
            .output()
            .unwrap(),
    )["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let patient = json(
        carelog(&home, "admin secret", "999999")
            .args([
                "patient",
                "register",
                "--as",
                &admin,
                "--name",
                "Kim Crash",
                "--birth-date",
                "1990-01-01",
                "--sex",
                "other",
            ])
            .output()
            .unwrap(),
    )["patient_id"]
        .as_str()
        .unwrap()
        .to_string();
    json(
        carelog(&home, "admin secret", "")
            .args([
                "assign",
                "--as",
                &admin,
                "--patient",
                &patient,
                "--doctor",
                &doctor,
                "--custodian",
            ])
            .output()
            .unwrap(),
    );

    // How long one write takes here, start to finish (opening the home's sealed keys and the
    // doctor's key store costs two key derivations, whose time depends on the machine).
    let add = |title: &str| {
        carelog(&home, "doctor secret", "")
            .args([
                "chart",
                "add",
                "--as",
                &doctor,
                "--patient",
                &patient,
                "--kind",
                "note",
                "--data",
            ])
            .arg(format!(r#"{{"title":"{title}","text":"crash test"}}"#))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let timed = Instant::now();
    let first = add("timing").wait_with_output().unwrap();
    assert!(first.status.success(), "a write completes when left alone");
    let whole = timed.elapsed().as_micros().max(1_000) as u64;

    // A deterministic spread of kill delays, from before the process starts work to after it
    // ends (half as long again as a whole write).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for round in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % (whole * 3 / 2));
        let mut child = add(&format!("round {round}"));
        let started = Instant::now();
        let mut finished = None;
        while started.elapsed() < delay {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if finished.is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let out = child.wait_with_output().unwrap();
        if out.status.success()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && let Some(id) = v["entry_id"].as_str()
        {
            acknowledged.push(id.to_string());
        }
        if round % 25 == 24 {
            let verify = carelog(&home, "", "")
                .args(["ledger", "verify"])
                .output()
                .unwrap();
            assert!(
                verify.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&verify.stderr)
            );
        }
    }
    assert!(
        killed >= 50,
        "the test must actually interrupt writes (killed {killed})"
    );
    assert!(!acknowledged.is_empty(), "some writes must complete");
    let chart = json(
        carelog(&home, "doctor secret", "")
            .args(["chart", "show", "--as", &doctor, "--patient", &patient])
            .output()
            .unwrap(),
    );
    let present: std::collections::HashSet<&str> = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["entry_id"].as_str())
        .collect();
    for id in &acknowledged {
        assert!(
            present.contains(id.as_str()),
            "acknowledged entry {id} was lost"
        );
    }
    let verify = json(
        carelog(&home, "", "")
            .args(["ledger", "verify"])
            .output()
            .unwrap(),
    );
    assert_eq!(verify["ok"], true);
    eprintln!(
        "{killed} writers killed, {} acknowledged entries all present",
        acknowledged.len()
    );
}
