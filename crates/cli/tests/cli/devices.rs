//! A clinic of three machines beside another clinic, over real QUIC on loopback: a laptop and a
//! kiosk pair with North Valley, a doctor signs in on the laptop she never used, both machines
//! chart while their link is down and converge when it is back, the kiosk turns the doctor
//! away, and a stolen laptop, once removed, is refused at the handshake.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{
    Server, add_user, assign_custodian, carelog_with, create_network, field, free_addr,
    join_network, json_ok, refusal, register, spawn_server, state_hash, sync_when_up, wait_for,
};

const PW: &str = "devices test passphrase";
const PIN: &str = "482916";
const NEW_PW: &str = "a fresh passphrase for the ward";
/// The clinic's admin, as she signs in.
const NORA: (&str, &str) = ("Nora Admin", PW);

fn carelog(home: &Path) -> Command {
    carelog_with(home, PW, PW)
}

fn ok(home: &Path, args: &[&str]) -> Value {
    json_ok(carelog(home).args(args))
}

fn serve(home: &Path, listen: SocketAddr) -> Server {
    spawn_server(carelog(home).args(["serve", "--listen", &listen.to_string()]))
}

/// Syncs `home` with the peer, retrying while the server starts.
fn sync(home: &Path, peer: SocketAddr) -> Value {
    sync_when_up(|| carelog(home), &peer.to_string())
}

/// Founds the network with North Valley at `office`, administered by Nora Admin.
fn found(office: &Path) -> Value {
    create_network(office, PW, "Valley", "North Valley", "Nora Admin")
}

fn texts(chart: &Value) -> Vec<String> {
    chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["text"].as_str().map(str::to_string))
        .collect()
}

fn note(home: &Path, pw: &str, patient: &str, text: &str) -> String {
    let data = serde_json::json!({"title": "Visit", "text": text}).to_string();
    json_ok(carelog_with(home, pw, pw).args([
        "chart",
        "add",
        "--as",
        "Dr Ada Quist",
        "--patient",
        patient,
        "--kind",
        "note",
        "--data",
        &data,
    ]))["entry_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The chart as Dr Ada Quist reads it at `home` with passphrase `pw`.
fn show(home: &Path, pw: &str, patient: &str) -> Value {
    json_ok(carelog_with(home, pw, pw).args([
        "chart",
        "show",
        "--as",
        "Dr Ada Quist",
        "--patient",
        patient,
    ]))
}

/// Pairs a new machine at `home` with the clinic at `clinic` in `role`; returns its id.
fn pair(dir: &Path, clinic: &Path, home: &Path, name: &str, role: &str) -> String {
    let request = dir.join(format!("{name}.request"));
    let invite = dir.join(format!("{name}.invite"));
    let asked = ok(
        home,
        &[
            "device",
            "pair",
            "--out",
            request.to_str().unwrap(),
            "--name",
            name,
        ],
    );
    let code = asked["code"].as_str().unwrap();
    assert_eq!(code.len(), 7, "six digits in two groups: {code}");
    let approved = ok(
        clinic,
        &[
            "device",
            "approve",
            request.to_str().unwrap(),
            "--as",
            "Nora Admin",
            "--out",
            invite.to_str().unwrap(),
            "--role",
            role,
        ],
    );
    assert_eq!(approved["device_id"], asked["device_id"]);
    assert_eq!(
        approved["code"], asked["code"],
        "both screens show one code"
    );
    let joined = ok(home, &["device", "join", invite.to_str().unwrap()]);
    assert_eq!(joined["device_id"], asked["device_id"]);
    assert_eq!(
        joined["clinic_id"],
        ok(clinic, &["device", "list"])["devices"][0]["device_id"]
    );
    asked["device_id"].as_str().unwrap().to_string()
}

#[test]
fn three_machines_of_one_clinic_chart_apart_converge_and_a_removed_one_is_shut_out() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| -> PathBuf { dir.path().join(name) };
    let (office, laptop, kiosk, south) = (at("office"), at("laptop"), at("kiosk"), at("south"));
    let created = found(&office);
    let north = created["clinic_id"].as_str().unwrap().to_string();
    // Another clinic of the network.
    join_network(&office, &south, "South", "Sam Admin", PW);
    // Staff and a patient, on the office PC.
    add_user(&office, NORA, "doctor", "Dr Ada Quist", PW, &[]);
    let patient = field(
        &register(&office, NORA, "Lena Farr", "1961-04-12", "female", PIN),
        "patient_id",
    );
    assign_custodian(&office, NORA, &patient, "Dr Ada Quist");
    note(&office, PW, &patient, "Seen in the office");

    let laptop_id = pair(dir.path(), &office, &laptop, "Bedside laptop", "staff");
    let kiosk_id = pair(dir.path(), &office, &kiosk, "Front desk", "kiosk");
    let listed = ok(&office, &["device", "list"]);
    let devices = listed["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3, "{listed}");
    assert_eq!(devices[0]["device_id"], north.as_str());
    assert_eq!(devices[0]["this"], true);
    let roles: Vec<&str> = devices
        .iter()
        .map(|d| d["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["staff", "staff", "kiosk"]);
    assert!(devices.iter().all(|d| d["status"] == "active"));
    // One clinic, however many machines.
    assert_eq!(ok(&office, &["ledger", "stats"])["clinics"], 2);
    assert_eq!(ok(&laptop, &["device", "list"])["devices"][1]["this"], true);

    // The doctor signs in on the laptop, which she never used, with her usual passphrase, and
    // reads what was written on the office PC.
    let chart = ok(
        &laptop,
        &[
            "chart",
            "show",
            "--as",
            "Dr Ada Quist",
            "--patient",
            &patient,
        ],
    );
    assert_eq!(texts(&chart), ["Seen in the office"]);
    note(&laptop, PW, &patient, "Seen at the bedside");

    // An admin enrols a lab user on the laptop: their key store reaches the office PC too.
    ok(
        &laptop,
        &[
            "user",
            "add",
            "--as",
            "Nora Admin",
            "--role",
            "lab",
            "--name",
            "Lab Lee",
        ],
    );

    // The clinic's LAN: the office serves, the others sync with it.
    let office_addr = free_addr();
    {
        let _office = serve(&office, office_addr);
        for home in [&laptop, &kiosk, &south] {
            sync(home, office_addr);
        }
        sync(&laptop, office_addr);
    }
    let chart = ok(
        &office,
        &[
            "chart",
            "show",
            "--as",
            "Dr Ada Quist",
            "--patient",
            &patient,
        ],
    );
    assert_eq!(texts(&chart), ["Seen in the office", "Seen at the bedside"]);
    ok(&office, &["patients", "--as", "Lab Lee"]);
    // The doctor changes her passphrase at the office; after the next sync the laptop takes the
    // new one too (until then it knows only the old one, and charts with it).
    json_ok(carelog_with(&office, PW, NEW_PW).args(["user", "passphrase", "--as", "Dr Ada Quist"]));

    // The LAN is down: both machines keep charting.
    note(&office, NEW_PW, &patient, "Written in the office, offline");
    note(&laptop, PW, &patient, "Written at the bedside, offline");
    // The link is back: every machine and the other clinic reach one state.
    {
        let _office = serve(&office, office_addr);
        for home in [&laptop, &kiosk, &south, &laptop, &kiosk, &south] {
            sync(home, office_addr);
        }
    }
    let hashes: Vec<String> = [&office, &laptop, &kiosk, &south]
        .iter()
        .map(|h| state_hash(h))
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    let err = refusal(carelog(&laptop).args([
        "chart",
        "show",
        "--as",
        "Dr Ada Quist",
        "--patient",
        &patient,
    ]));
    assert!(
        err.contains("passphrase"),
        "the old passphrase no longer opens: {err}"
    );
    let chart = show(&laptop, NEW_PW, &patient);
    assert_eq!(texts(&chart).len(), 4, "{:?}", texts(&chart));

    // The kiosk is for patients: the doctor is turned away there.
    let err = refusal(carelog(&kiosk).args([
        "chart",
        "show",
        "--as",
        "Dr Ada Quist",
        "--patient",
        &patient,
    ]));
    assert!(err.contains("kiosk"), "{err}");

    // The laptop is stolen: removed from the office PC, it is refused at the handshake.
    let removed = ok(
        &office,
        &[
            "device",
            "remove",
            "--as",
            "Nora Admin",
            "--device",
            &laptop_id,
            "--reason",
            "stolen from the ward",
        ],
    );
    assert!(removed["rotated"].as_u64().unwrap() >= 1, "{removed}");
    let listed = ok(&office, &["device", "list"]);
    let gone = listed["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == laptop_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(gone["status"], "removed");
    assert_eq!(gone["removed_reason"], "stolen from the ward");
    note(&office, NEW_PW, &patient, "Written after the theft");
    let _office = serve(&office, office_addr);
    sync(&kiosk, office_addr);
    let out = carelog(&laptop)
        .args(["sync", "--peer", &office_addr.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the removed laptop is refused");
    assert_eq!(
        texts(&show(&laptop, NEW_PW, &patient)).len(),
        4,
        "nothing written after the theft reached it"
    );
    // The kiosk still syncs; nobody can remove a device twice.
    assert_eq!(state_hash(&kiosk), state_hash(&office));
    let err = refusal(carelog(&office).args([
        "device",
        "remove",
        "--as",
        "Nora Admin",
        "--device",
        &laptop_id,
        "--reason",
        "again",
    ]));
    assert!(err.contains("already removed"), "{err}");
    let _ = kiosk_id;
}

#[test]
fn bad_pairing_files_and_roles_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    found(&office);
    add_user(&office, NORA, "doctor", "Dr Ada Quist", PW, &[]);
    let laptop = dir.path().join("laptop");
    let request = dir.path().join("laptop.request");
    let invite = dir.path().join("laptop.invite");
    ok(
        &laptop,
        &["device", "pair", "--out", request.to_str().unwrap()],
    );
    let approve = |who: &str, role: &str, file: &Path| {
        let mut cmd = carelog(&office);
        cmd.args([
            "device",
            "approve",
            file.to_str().unwrap(),
            "--as",
            who,
            "--out",
            invite.to_str().unwrap(),
            "--role",
            role,
        ]);
        cmd
    };
    let err = refusal(&mut approve("Nora Admin", "printer", &request));
    assert!(err.contains("staff, kiosk, gateway"), "{err}");
    let err = refusal(&mut approve("Dr Ada Quist", "staff", &request));
    assert!(err.contains("admin"), "{err}");
    // A request whose key was swapped on the way no longer verifies.
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&request).unwrap()).unwrap();
    forged["name"] = "Someone else's".into();
    let forged_file = dir.path().join("forged.request");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let err = refusal(&mut approve("Nora Admin", "staff", &forged_file));
    assert!(err.contains("signature"), "{err}");
    std::fs::write(&forged_file, b"\x00\xffnot json").unwrap();
    let err = refusal(&mut approve("Nora Admin", "staff", &forged_file));
    assert!(err.contains("not a valid pairing request"), "{err}");
    assert!(!invite.exists(), "a refusal writes no invite");
    // A home that is not empty cannot pair; an invite for another device does not join.
    let err = refusal(carelog(&office).args([
        "device",
        "pair",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]));
    assert!(!err.is_empty());
    ok(
        &office,
        &[
            "device",
            "approve",
            request.to_str().unwrap(),
            "--as",
            "Nora Admin",
            "--out",
            invite.to_str().unwrap(),
        ],
    );
    let other = dir.path().join("other");
    ok(
        &other,
        &[
            "device",
            "pair",
            "--out",
            dir.path().join("other.request").to_str().unwrap(),
        ],
    );
    let err = refusal(carelog(&other).args(["device", "join", invite.to_str().unwrap()]));
    assert!(err.contains("invite"), "{err}");
    ok(&laptop, &["device", "join", invite.to_str().unwrap()]);
}

/// `carelog serve` on every interface with no peers configured: what it finds, it finds on the
/// LAN.
fn serve_alone(home: &Path) -> Server {
    spawn_server(carelog(home).args(["serve", "--listen", "0.0.0.0:0"]))
}

#[test]
fn machines_of_a_clinic_find_each_other_on_the_lan_and_say_they_are_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    let laptop = dir.path().join("laptop");
    found(&office);
    pair(dir.path(), &office, &laptop, "Bedside laptop", "staff");
    assert!(
        ok(&laptop, &["status"])["peers"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no peer is configured"
    );
    let _office = serve_alone(&office);
    let _laptop = serve_alone(&laptop);
    // Written at the office while both serve: it reaches the laptop with no address given.
    add_user(&office, NORA, "doctor", "Dr Ada Quist", PW, &[]);
    wait_for(
        "the machines to find each other on the LAN",
        Duration::from_secs(40),
        || state_hash(&laptop) == state_hash(&office),
    );
    let mut status = Value::Null;
    wait_for(
        "the office to count the laptop in sync",
        Duration::from_secs(20),
        || {
            status = ok(&office, &["status"]);
            status["devices"]["in_sync"] == 1
        },
    );
    assert_eq!(status["devices"]["total"], 2, "{status}");
    let out = common::for_people(&office, PW)
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 devices of this clinic, in sync"), "{text}");
}
