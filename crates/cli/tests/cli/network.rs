//! Three `carelog serve` processes on loopback: gossip, a stopped clinic that writes offline and
//! catches up on restart, and a clinic of another network refused before any block moves.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{
    Server, create_network, field, free_addr, join_network, json_ok, spawn_server, state_hash,
    wait_for,
};

const PW: &str = "network test passphrase";

fn carelog(home: &Path) -> Command {
    common::carelog(home, PW)
}

fn ok(home: &Path, args: &[&str]) -> Value {
    json_ok(carelog(home).args(args))
}

fn serve(home: &Path, listen: SocketAddr, peers: &[SocketAddr]) -> Server {
    let mut cmd = carelog(home);
    cmd.args(["serve", "--listen", &listen.to_string()]);
    for p in peers {
        cmd.args(["--peer", &p.to_string()]);
    }
    spawn_server(&mut cmd)
}

struct Network {
    _dir: tempfile::TempDir,
    homes: Vec<PathBuf>,
    admins: Vec<String>,
}

/// North founds the network; South and East join with invites.
fn network() -> Network {
    let dir = tempfile::tempdir().unwrap();
    let homes: Vec<PathBuf> = ["north", "south", "east"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    let mut admins = vec![field(
        &create_network(&homes[0], PW, "D", "North", "Nora"),
        "admin_id",
    )];
    for (i, name) in [(1, "South"), (2, "East")] {
        let asked = join_network(&homes[0], &homes[i], name, &format!("{name} Admin"), PW);
        admins.push(field(&asked, "admin_id"));
    }
    Network {
        _dir: dir,
        homes,
        admins,
    }
}

#[test]
fn three_clinics_converge_through_gossip_and_after_a_restart() {
    let net = network();
    let addrs: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
    // A line: north ↔ south ↔ east. East only hears north through south's gossip.
    let _north = serve(&net.homes[0], addrs[0], &[addrs[1]]);
    let south = serve(&net.homes[1], addrs[1], &[addrs[2]]);
    let _east = serve(&net.homes[2], addrs[2], &[]);
    // South learned of East's enrollment only through North's approval block: wait for it.
    ok(
        &net.homes[0],
        &[
            "user",
            "add",
            "--as",
            &net.admins[0],
            "--role",
            "doctor",
            "--name",
            "Dr North",
        ],
    );
    wait_for(
        "north's doctor to reach east",
        Duration::from_secs(30),
        || state_hash(&net.homes[0]) == state_hash(&net.homes[2]),
    );
    assert_eq!(state_hash(&net.homes[1]), state_hash(&net.homes[0]));

    // South stops; both sides write; South restarts and everyone converges.
    drop(south);
    ok(
        &net.homes[0],
        &[
            "user",
            "add",
            "--as",
            &net.admins[0],
            "--role",
            "lab",
            "--name",
            "North Lab",
        ],
    );
    ok(
        &net.homes[1],
        &[
            "user",
            "add",
            "--as",
            &net.admins[1],
            "--role",
            "doctor",
            "--name",
            "Dr South",
        ],
    );
    ok(
        &net.homes[2],
        &[
            "user",
            "add",
            "--as",
            &net.admins[2],
            "--role",
            "doctor",
            "--name",
            "Dr East",
        ],
    );
    assert_ne!(state_hash(&net.homes[1]), state_hash(&net.homes[0]));
    let pending = ok(&net.homes[1], &["status"])["pending"].as_u64().unwrap();
    assert!(pending > 0, "south's offline write waits in the outbox");
    let _south = serve(&net.homes[1], addrs[1], &[addrs[0], addrs[2]]);
    wait_for("all three to converge", Duration::from_secs(45), || {
        let h: Vec<String> = net.homes.iter().map(|h| state_hash(h)).collect();
        h[0] == h[1] && h[1] == h[2]
    });
    wait_for("south's outbox to empty", Duration::from_secs(15), || {
        ok(&net.homes[1], &["status"])["pending"] == 0
    });
    wait_for(
        "south to report itself online",
        Duration::from_secs(15),
        || ok(&net.homes[1], &["status"])["online"] == true,
    );
    for home in &net.homes {
        assert_eq!(ok(home, &["ledger", "verify"])["ok"], true);
        assert_eq!(ok(home, &["ledger", "stats"])["clinics"], 3);
    }
}

#[test]
fn a_clinic_that_was_never_approved_is_refused_before_any_block_moves() {
    let net = network();
    let addr = free_addr();
    let _north = serve(&net.homes[0], addr, &[]);
    let rogue = net.homes[0].parent().unwrap().join("rogue");
    ok(
        &rogue,
        &[
            "network",
            "create",
            "--network",
            "Elsewhere",
            "--clinic",
            "Rogue",
            "--admin",
            "Rex",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = ok(&net.homes[0], &["ledger", "stats"]);
    let out = carelog(&rogue)
        .args(["sync", "--peer", &addr.to_string()])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a clinic of no network here must be refused"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        ok(&net.homes[0], &["ledger", "stats"]),
        before,
        "no block moved"
    );
    assert_eq!(ok(&rogue, &["ledger", "stats"])["clinics"], 1);
}

#[test]
fn a_clinic_restored_from_an_old_backup_catches_up_over_quic_and_never_forks() {
    let net = network();
    let north_addr = free_addr();
    let _north = serve(&net.homes[0], north_addr, &[]);
    let add_doctor = |home: &Path, admin: &str, name: &str| {
        carelog(home)
            .args([
                "user", "add", "--as", admin, "--role", "doctor", "--name", name,
            ])
            .output()
            .unwrap()
    };
    // South backs up, then enrolls one more doctor, which reaches North.
    let backup = net.homes[1].parent().unwrap().join("south.backup");
    ok(
        &net.homes[1],
        &["backup", "--out", backup.to_str().unwrap()],
    );
    assert!(
        add_doctor(&net.homes[1], &net.admins[1], "Dr After Backup")
            .status
            .success()
    );
    ok(&net.homes[1], &["sync", "--peer", &north_addr.to_string()]);
    assert_eq!(state_hash(&net.homes[1]), state_hash(&net.homes[0]));

    // South's disk fails; the old backup is restored on a new machine.
    let restored = net.homes[1].parent().unwrap().join("south-restored");
    let done = ok(&restored, &["restore", backup.to_str().unwrap()]);
    assert_eq!(done["awaiting_catch_up"], true);
    let early = add_doctor(&restored, &net.admins[1], "Dr Too Early");
    assert!(
        !early.status.success(),
        "sealing before the sync would fork"
    );
    assert!(String::from_utf8_lossy(&early.stderr).contains("restored from a backup"));

    // One sync brings the block it sealed after the backup; then it continues its chain.
    ok(&restored, &["sync", "--peer", &north_addr.to_string()]);
    assert_eq!(state_hash(&restored), state_hash(&net.homes[0]));
    assert!(
        add_doctor(&restored, &net.admins[1], "Dr After Restore")
            .status
            .success()
    );
    let sent = ok(&restored, &["sync", "--peer", &north_addr.to_string()]);
    assert_eq!(sent["state_hash"], Value::String(state_hash(&net.homes[0])));
    assert_eq!(
        ok(&net.homes[0], &["ledger", "evidence"])["evidence"],
        Value::Array(vec![])
    );
    assert_eq!(ok(&restored, &["ledger", "verify"])["ok"], true);
}
