//! `carelog recover`: a clinic whose database is deleted or truncated rebuilds its replica from
//! a peer over real QUIC on loopback, and a peer of another network is refused.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{
    Server, add_user, assign_custodian, create_network, field, join_network, json_ok, refusal,
    register, serve_on_loopback, sync_when_up,
};

const PW: &str = "recover test passphrase";

fn carelog(home: &Path) -> Command {
    common::carelog(home, PW)
}

fn ok(home: &Path, args: &[&str]) -> Value {
    json_ok(carelog(home).args(args))
}

/// The home and every file in it are readable by their owner only.
#[cfg(unix)]
fn assert_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_owner_only(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

/// A refusal: non-zero exit, one line on stderr, nothing on stdout.
fn refused(home: &Path, args: &[&str]) -> String {
    refusal(carelog(home).args(args))
}

/// Serves a home and waits until `probe` has synced with it.
fn serve(home: &Path, probe: &Path) -> (Server, SocketAddr) {
    let (server, addr) = serve_on_loopback(carelog(home));
    sync_when_up(|| carelog(probe), &addr.to_string());
    (server, addr)
}

struct Clinics {
    _dir: tempfile::TempDir,
    north: PathBuf,
    south: PathBuf,
    network_id: String,
    doctor: String,
    patient: String,
}

/// North founds the network; South joins, enrolls a doctor and a patient and charts.
fn clinics() -> Clinics {
    let dir = tempfile::tempdir().unwrap();
    let north = dir.path().join("north");
    let south = dir.path().join("south");
    let network_id = field(
        &create_network(&north, PW, "D", "North", "Nora"),
        "network_id",
    );
    join_network(&north, &south, "South", "Sam", PW);
    let sam = ("Sam", PW);
    let doctor = add_user(&south, sam, "doctor", "Dr South", PW, &[]);
    let patient = field(
        &register(&south, sam, "Pat Ient", "1970-01-01", "other", "482916"),
        "patient_id",
    );
    assign_custodian(&south, sam, &patient, &doctor);
    chart(&south, &patient, "synced visit");
    Clinics {
        _dir: dir,
        north,
        south,
        network_id,
        doctor,
        patient,
    }
}

fn chart(home: &Path, patient: &str, title: &str) {
    ok(
        home,
        &[
            "chart",
            "add",
            "--as",
            "Dr South",
            "--patient",
            patient,
            "--kind",
            "note",
            "--data",
            &format!(r#"{{"title":"{title}","text":"{title}"}}"#),
        ],
    );
}

fn database(home: &Path) -> PathBuf {
    home.join("carelog.sqlite3")
}

fn names_containing(dir: &Path, part: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(part))
        .collect()
}

#[test]
fn a_deleted_database_comes_back_from_a_peer_and_the_clinic_charts_again() {
    let c = clinics();
    let (_north, north_addr) = serve(&c.north, &c.south);
    let synced = ok(&c.south, &["ledger", "stats"]);
    chart(&c.south, &c.patient, "never synced");

    std::fs::remove_file(database(&c.south)).unwrap();
    let err = refused(&c.south, &["ledger", "stats"]);
    assert!(err.contains("carelog recover --peer"), "{err}");
    let recovered = ok(&c.south, &["recover", "--peer", &north_addr.to_string()]);
    assert_eq!(recovered["ok"], true);
    assert_eq!(recovered["blocks"], synced["blocks"]);
    assert_eq!(recovered["txs"], synced["txs"]);
    assert!(recovered["own_height"].as_u64().is_some());
    let restored: Vec<&str> = recovered["keys_restored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(restored.contains(&c.doctor.as_str()), "{recovered}");
    assert!(restored.contains(&c.patient.as_str()), "{recovered}");
    assert_eq!(
        ok(&c.south, &["ledger", "stats"])["state_hash"],
        synced["state_hash"]
    );
    assert_eq!(ok(&c.south, &["ledger", "verify"])["ok"], true);
    // The recovered home, the damaged file set aside and the kept files: all owner-only.
    #[cfg(unix)]
    assert_owner_only(&c.south);
    let status = ok(&c.south, &["status"]);
    assert!(
        status["peers"]
            .to_string()
            .contains(&north_addr.to_string()),
        "{status}"
    );

    // Dr South signs in with the same passphrase, reads the chart and writes again.
    let shown = ok(
        &c.south,
        &["chart", "show", "--as", "Dr South", "--patient", &c.patient],
    );
    assert!(shown.to_string().contains("synced visit"));
    assert!(!shown.to_string().contains("never synced"));
    chart(&c.south, &c.patient, "after recovery");

    // North takes the new block: no fork, both hold the same.
    let sync = ok(&c.south, &["sync", "--peer", &north_addr.to_string()]);
    assert!(sync["sent"].as_u64().unwrap() >= 1, "{sync}");
    assert_eq!(
        ok(&c.north, &["ledger", "evidence"])["evidence"],
        serde_json::json!([])
    );
    assert_eq!(
        ok(&c.north, &["ledger", "stats"])["state_hash"],
        ok(&c.south, &["ledger", "stats"])["state_hash"]
    );
}

#[test]
fn a_truncated_database_names_recover_and_is_set_aside() {
    let c = clinics();
    let (_north, north_addr) = serve(&c.north, &c.south);
    let synced = ok(&c.south, &["ledger", "stats"]);
    let db = database(&c.south);
    let whole = std::fs::read(&db).unwrap();
    let cut = whole[..whole.len() / 2].to_vec();
    std::fs::write(&db, &cut).unwrap();

    let err = refused(&c.south, &["ledger", "stats"]);
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("carelog recover --peer"), "{err}");

    // A home made before genesis.block was kept: recover needs the network id.
    std::fs::remove_file(c.south.join("genesis.block")).unwrap();
    let peer = north_addr.to_string();
    let err = refused(&c.south, &["recover", "--peer", &peer]);
    assert!(err.contains("--network"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        cut,
        "a refusal changes nothing"
    );
    let id = c.network_id.clone();
    // SQLite reads nothing from a truncated file, so the genesis block cannot be salvaged from
    // it: a copy from any clinic's home will do, checked against --network.
    let err = refused(&c.south, &["recover", "--peer", &peer, "--network", &id]);
    assert!(err.contains("copy genesis.block"), "{err}");
    std::fs::copy(c.north.join("genesis.block"), c.south.join("genesis.block")).unwrap();
    let wrong = "ab".repeat(32);
    let err = refused(&c.south, &["recover", "--peer", &peer, "--network", &wrong]);
    assert!(err.contains("--network"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        cut,
        "a refusal changes nothing"
    );
    let recovered = ok(&c.south, &["recover", "--peer", &peer, "--network", &id]);
    assert_eq!(recovered["network_id"], id.as_str());
    assert_eq!(
        ok(&c.south, &["ledger", "stats"])["state_hash"],
        synced["state_hash"]
    );
    let aside = recovered["set_aside"][0].as_str().unwrap();
    assert!(aside.contains("carelog.sqlite3.damaged-"), "{aside}");
    assert_eq!(
        std::fs::read(aside).unwrap(),
        cut,
        "the damaged file is kept"
    );
    assert!(c.south.join("genesis.block").exists());
}

#[test]
fn a_peer_of_another_network_is_refused_and_the_damaged_file_stays() {
    let c = clinics();
    let elsewhere = c.north.parent().unwrap().join("elsewhere");
    create_network(&elsewhere, PW, "E", "Rogue", "Rex");
    let (_rogue, addr) = serve_on_loopback(carelog(&elsewhere));
    let db = database(&c.south);
    std::fs::write(&db, b"damage").unwrap();
    let err = refused(&c.south, &["status"]);
    assert!(
        err.contains("is damaged or not a Carelog database"),
        "{err}"
    );
    assert!(err.contains("carelog recover --peer"), "{err}");
    let err = refused(&c.south, &["recover", "--peer", &addr.to_string()]);
    assert!(err.contains("recovering from"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b"damage");
    assert!(names_containing(&c.south, "damaged-").is_empty());
    assert!(names_containing(&c.south, "recovering").is_empty());
}
