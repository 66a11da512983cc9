//! Crash safety: `carelog chart add` killed with SIGKILL at random moments, 200 times. Every entry
//! whose id was printed (acknowledged) must survive, and the ledger must verify after restart.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    add_user, assign_custodian, carelog_with as carelog, create_network, field, json_ok, register,
};

#[test]
fn acknowledged_entries_survive_kill_9_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let admin = field(
        &create_network(&home, "admin secret", "N", "C", "Ada"),
        "admin_id",
    );
    let by_admin = (admin.as_str(), "admin secret");
    let doctor = add_user(&home, by_admin, "doctor", "Dr Crash", "doctor secret", &[]);
    let patient = field(
        &register(
            &home,
            by_admin,
            "Kim Crash",
            "1990-01-01",
            "other",
            "999999",
        ),
        "patient_id",
    );
    assign_custodian(&home, by_admin, &patient, &doctor);

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
    let chart = json_ok(carelog(&home, "doctor secret", "").args([
        "chart",
        "show",
        "--as",
        &doctor,
        "--patient",
        &patient,
    ]));
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
    let verify = json_ok(carelog(&home, "", "").args(["ledger", "verify"]));
    assert_eq!(verify["ok"], true);
    eprintln!(
        "{killed} writers killed, {} acknowledged entries all present",
        acknowledged.len()
    );
}
