//! The CLI contract of docs/cli.md, checked through the real binary on real SQLite homes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{
    NODE_PASSPHRASE, add_user, assign_custodian, carelog_with, create_network, field, json_ok,
    open_database, refusal, register,
};

const ADMIN_PW: &str = "admin secret";
const DOC_PW: &str = "doctor secret";
const PIN: &str = "135713";

/// The cards of the patients registered in these tests, by patient id: a command acting as a
/// patient gets its card in $CARELOG_CARD, as a kiosk would scan it.
static CARDS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn card_of(actor: &str) -> Option<String> {
    let cards = CARDS.lock().unwrap_or_else(|p| p.into_inner());
    cards
        .iter()
        .find(|(id, _)| id == actor)
        .map(|(_, card)| card.clone())
}

/// Keeps the card of a patient that `printed` registered.
fn remember_card(printed: &Value) {
    if let (Some(id), Some(card)) = (printed["patient_id"].as_str(), printed["card"].as_str()) {
        CARDS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id.to_string(), card.to_string()));
    }
}

struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// `carelog ARGS`, with the acting patient's card when the args act `--as` one.
fn carelog(home: &Path, pass: &str, new_pass: &str, args: &[&str]) -> Command {
    let mut cmd = carelog_with(home, pass, new_pass);
    cmd.args(args);
    let acting = args
        .iter()
        .position(|a| *a == "--as")
        .and_then(|i| args.get(i + 1));
    if let Some(card) = acting.and_then(|a| card_of(a)) {
        cmd.env("CARELOG_CARD", card);
    }
    cmd
}

/// Runs a command that must succeed and print exactly one JSON object.
fn ok(home: &Path, pass: &str, new_pass: &str, args: &[&str]) -> Value {
    let value = json_ok(&mut carelog(home, pass, new_pass, args));
    remember_card(&value);
    value
}

/// Runs a command that must be refused: non-zero exit, one line on stderr, nothing on stdout.
fn refused(home: &Path, pass: &str, args: &[&str]) -> String {
    refusal(&mut carelog(home, pass, "x-new-pass", args))
}

struct Clinic {
    home: Home,
    admin: String,
    doctor: String,
    other: String,
    patient: String,
}

fn clinic() -> Clinic {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home");
    let home = Home { _dir: dir, path };
    let h = &home.path;
    let created = create_network(h, ADMIN_PW, "D", "North", "Ada Admin");
    for name in ["network_id", "clinic_id", "admin_id"] {
        assert!(created[name].is_string(), "{created}");
    }
    let admin = field(&created, "admin_id");
    let doctor = add_user(
        h,
        ("Ada Admin", ADMIN_PW),
        "doctor",
        "Dr Demo",
        DOC_PW,
        &["--specialty", "family medicine"],
    );
    let other = add_user(h, (&admin, ADMIN_PW), "doctor", "Dr Other", DOC_PW, &[]);
    let registered = register(
        h,
        (&admin, ADMIN_PW),
        "Pat Example",
        "1980-02-29",
        "female",
        PIN,
    );
    remember_card(&registered);
    let patient = field(&registered, "patient_id");
    assign_custodian(h, (&admin, ADMIN_PW), &patient, &doctor);
    Clinic {
        home,
        admin,
        doctor,
        other,
        patient,
    }
}

#[test]
fn a_clinic_charts_and_reads_after_a_restart() {
    let c = clinic();
    let h = &c.home.path;
    let vitals = ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            "Dr Demo",
            "--patient",
            &c.patient,
            "--kind",
            "vitals",
            "--data",
            r#"{"systolic":128,"diastolic":82,"heart_rate":71}"#,
        ],
    );
    assert!(vitals["entry_id"].is_string());
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "note",
            "--data",
            r#"{"title":"Visit","text":"Feeling better"}"#,
        ],
    );
    // Each command is a new process: this read is after a restart.
    let chart = ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert_eq!(chart["patient_id"], c.patient.as_str());
    assert_eq!(chart["level"], "full");
    let entries = chart["entries"].as_array().unwrap();
    for e in entries {
        for name in ["entry_id", "kind", "author", "time", "data"] {
            assert!(!e[name].is_null(), "entry without {name}: {e}");
        }
    }
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "note" && e["data"]["text"] == "Feeling better")
    );
    let verify = ok(h, "", "", &["ledger", "verify"]);
    assert_eq!(verify["ok"], true);
    assert!(verify["blocks"].as_u64().unwrap() >= 6);
    let stats = ok(h, "", "", &["ledger", "stats"]);
    assert_eq!(stats["clinics"], 1);
    assert_eq!(stats["state_hash"].as_str().unwrap().len(), 64);
    let audit = ok(
        h,
        DOC_PW,
        "",
        &["audit", "--as", &c.doctor, "--patient", &c.patient],
    );
    let events = audit["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "read"));
    for e in events {
        assert!(e["time"].is_string() && e["actor"].is_string() && e["action"].is_string());
    }
    let patients = ok(h, DOC_PW, "", &["patients", "--as", &c.doctor]);
    assert_eq!(patients["patients"][0]["patient_id"], c.patient.as_str());
    assert_eq!(patients["patients"][0]["level"], "full");
}

#[test]
fn a_doctor_without_access_is_refused_and_nothing_is_stored() {
    let c = clinic();
    let h = &c.home.path;
    let before = ok(h, "", "", &["ledger", "stats"]);
    let err = refused(
        h,
        DOC_PW,
        &[
            "chart",
            "add",
            "--as",
            &c.other,
            "--patient",
            &c.patient,
            "--kind",
            "note",
            "--data",
            r#"{"title":"a","text":"b"}"#,
        ],
    );
    assert!(err.contains("access denied"), "{err}");
    let err = refused(
        h,
        DOC_PW,
        &["chart", "show", "--as", &c.other, "--patient", &c.patient],
    );
    assert!(err.contains("access denied"), "{err}");
    assert_eq!(
        ok(h, "", "", &["ledger", "stats"]),
        before,
        "a refusal changes nothing"
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let c = clinic();
    let h = &c.home.path;
    let add = |kind: &str, data: &str| {
        refused(
            h,
            DOC_PW,
            &[
                "chart",
                "add",
                "--as",
                &c.doctor,
                "--patient",
                &c.patient,
                "--kind",
                kind,
                "--data",
                data,
            ],
        )
    };
    assert!(add("vitals", "{not json").contains("vitals"));
    assert!(add("xray", "{}").contains("xray"));
    assert!(add("vitals", r#"{"systolic":400,"diastolic":80}"#).contains("systolic"));
    assert!(add("note", r#"{"title":"no text"}"#).contains("text"));
    assert!(
        refused(
            h,
            DOC_PW,
            &["chart", "show", "--as", "Nobody", "--patient", &c.patient]
        )
        .contains("Nobody")
    );
    assert!(
        refused(
            h,
            DOC_PW,
            &["chart", "show", "--as", &c.doctor, "--patient", "0123"]
        )
        .contains("0123")
    );
    assert!(
        refused(
            h,
            "wrong passphrase",
            &["chart", "show", "--as", &c.doctor, "--patient", &c.patient]
        )
        .contains("wrong passphrase")
    );
    assert!(
        refused(
            h,
            DOC_PW,
            &[
                "chart",
                "add",
                "--as",
                &c.doctor,
                "--patient",
                &c.patient,
                "--kind",
                "note",
                "--data",
                "@/no/such/file"
            ]
        )
        .contains("/no/such/file")
    );
    let missing = tempfile::tempdir().unwrap();
    assert!(refused(missing.path(), "", &["ledger", "stats"]).contains("not a Carelog home"));
    let junk = missing.path().join("junk.json");
    std::fs::write(&junk, b"\x00\xffnot an invite").unwrap();
    let fresh = missing.path().join("fresh");
    refused(&fresh, "", &["clinic", "join", junk.to_str().unwrap()]);
    refused(
        h,
        "",
        &[
            "clinic",
            "approve",
            junk.to_str().unwrap(),
            "--out",
            missing.path().join("inv").to_str().unwrap(),
        ],
    );
}

#[test]
fn amendments_keep_the_original() {
    let c = clinic();
    let h = &c.home.path;
    let first = field(
        &ok(
            h,
            DOC_PW,
            "",
            &[
                "chart",
                "add",
                "--as",
                &c.doctor,
                "--patient",
                &c.patient,
                "--kind",
                "condition",
                "--data",
                r#"{"icd10":"E11.9","name":"Type 1 diabetes"}"#,
            ],
        ),
        "entry_id",
    );
    let fix = field(
        &ok(
            h,
            DOC_PW,
            "",
            &[
                "chart",
                "add",
                "--as",
                &c.doctor,
                "--patient",
                &c.patient,
                "--kind",
                "condition",
                "--data",
                r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
                "--amends",
                &first,
            ],
        ),
        "entry_id",
    );
    let chart = ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    let entries = chart["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["entry_id"] == first.as_str() && e["data"]["name"] == "Type 1 diabetes")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["entry_id"] == fix.as_str() && e["amends"] == first.as_str())
    );
}

#[test]
fn changing_any_stored_byte_is_detected_and_named() {
    let c = clinic();
    let h = &c.home.path;
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "note",
            "--data",
            r#"{"title":"t","text":"x"}"#,
        ],
    );
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let conn = open_database(h, NODE_PASSPHRASE);
        let mut stmt = conn.prepare("SELECT hash, bytes FROM blocks").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // Every byte position of every block, sampled evenly so the test stays quick.
    let mut checked = 0;
    for (hash, bytes) in &rows {
        let step = (bytes.len() / 12).max(1);
        for at in (0..bytes.len()).step_by(step) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            let conn = open_database(h, NODE_PASSPHRASE);
            conn.execute(
                "UPDATE blocks SET bytes = ?1 WHERE hash = ?2",
                rusqlite::params![damaged, hash],
            )
            .unwrap();
            drop(conn);
            let err = refused(h, "", &["ledger", "verify"]);
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            assert!(err.contains(&hex), "byte {at} of block {hex}: {err}");
            let conn = open_database(h, NODE_PASSPHRASE);
            conn.execute(
                "UPDATE blocks SET bytes = ?1 WHERE hash = ?2",
                rusqlite::params![bytes, hash],
            )
            .unwrap();
            checked += 1;
        }
    }
    assert!(checked > 50);
    assert_eq!(
        ok(h, "", "", &["ledger", "verify"])["ok"],
        true,
        "restored bytes verify again"
    );
}

#[test]
fn a_corrupt_database_file_is_a_clear_error() {
    let c = clinic();
    let db = c.home.path.join("carelog.sqlite3");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::write(&db, vec![0u8; len as usize]).unwrap();
    let _ = std::fs::remove_file(c.home.path.join("carelog.sqlite3-wal"));
    let err = refused(&c.home.path, "", &["ledger", "stats"]);
    assert!(
        err.contains("damaged") || err.contains("not a Carelog"),
        "{err}"
    );
}

#[test]
fn files_on_disk_hold_no_patient_name_or_chart_text() {
    let c = clinic();
    let h = &c.home.path;
    let secret = "Quetzalcoatl-pattern bruising";
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "note",
            "--data",
            &format!(r#"{{"title":"Bruise","text":"{secret}"}}"#),
        ],
    );
    ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    // Every file of the home, the mirrored key stores in keys/ included.
    let mut files = Vec::new();
    let mut dirs = vec![h.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("genesis.block")));
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [secret, "Quetzalcoatl", "Pat Example"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "found {needle} in plaintext"
            );
        }
    }
}

#[test]
fn two_clinics_join_through_request_and_invite() {
    let c = clinic();
    let other = tempfile::tempdir().unwrap();
    let south = other.path().join("south");
    let request = other.path().join("request.json");
    let invite = other.path().join("invite.json");
    let asked = ok(
        &south,
        "",
        "south admin pw",
        &[
            "clinic",
            "request",
            "--clinic",
            "South",
            "--admin",
            "Sam Admin",
            "--out",
            request.to_str().unwrap(),
        ],
    );
    refused(&south, "", &["ledger", "stats"]);
    let approved = ok(
        &c.home.path,
        "",
        "",
        &[
            "clinic",
            "approve",
            request.to_str().unwrap(),
            "--out",
            invite.to_str().unwrap(),
            "--peer",
            "127.0.0.1:7001",
        ],
    );
    assert_eq!(approved["clinic_id"], asked["clinic_id"]);
    let joined = ok(
        &south,
        "",
        "",
        &["clinic", "join", invite.to_str().unwrap()],
    );
    assert_eq!(joined["clinic_id"], asked["clinic_id"]);
    let sam = field(&asked, "admin_id");
    ok(
        &south,
        "south admin pw",
        "south doctor pw 2",
        &[
            "user", "add", "--as", &sam, "--role", "doctor", "--name", "Dr South",
        ],
    );
    assert_eq!(ok(&south, "", "", &["ledger", "stats"])["clinics"], 2);
    assert_eq!(ok(&south, "", "", &["ledger", "verify"])["ok"], true);
    let status = ok(&south, "", "", &["status"]);
    assert_eq!(status["peers"][0]["addr"], "127.0.0.1:7001");
    assert_eq!(status["online"], false, "no serve runs on this home");
    let _ = c.admin;
}

#[test]
fn consent_requests_grants_revocation_and_break_glass() {
    let c = clinic();
    let h = &c.home.path;
    let request = ok(
        h,
        DOC_PW,
        "",
        &[
            "access",
            "request",
            "--as",
            &c.other,
            "--patient",
            &c.patient,
            "--level",
            "sample",
            "--reason",
            "cardiology referral",
        ],
    );
    assert!(request["request_id"].is_string());
    let pending = ok(h, PIN, "", &["access", "requests", "--as", &c.patient]);
    assert_eq!(pending["requests"].as_array().unwrap().len(), 1);
    assert_eq!(pending["requests"][0]["level"], "sample");
    // Only the patient or custodian decides; an unknown level is refused.
    assert!(
        refused(
            h,
            DOC_PW,
            &[
                "access",
                "grant",
                "--as",
                &c.other,
                "--patient",
                &c.patient,
                "--to",
                &c.other,
                "--level",
                "full"
            ]
        )
        .contains("access denied")
    );
    assert!(
        refused(
            h,
            PIN,
            &[
                "access",
                "grant",
                "--as",
                &c.patient,
                "--patient",
                &c.patient,
                "--to",
                &c.other,
                "--level",
                "everything"
            ]
        )
        .contains("everything")
    );
    assert!(
        refused(
            h,
            PIN,
            &[
                "access",
                "grant",
                "--as",
                &c.patient,
                "--patient",
                &c.patient,
                "--to",
                &c.other,
                "--level",
                "full",
                "--expires",
                "2001-01-01"
            ]
        )
        .contains("past")
    );
    assert!(
        refused(
            h,
            PIN,
            &[
                "access",
                "revoke",
                "--as",
                &c.patient,
                "--patient",
                &c.patient,
                "--from",
                &c.other
            ]
        )
        .contains("no access to revoke")
    );

    assert_eq!(
        ok(
            h,
            PIN,
            "",
            &[
                "access",
                "grant",
                "--as",
                &c.patient,
                "--patient",
                &c.patient,
                "--to",
                &c.other,
                "--level",
                "sample"
            ]
        )["ok"],
        true
    );
    assert!(
        ok(h, PIN, "", &["access", "requests", "--as", &c.patient])["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let sample = ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.other, "--patient", &c.patient],
    );
    assert_eq!(sample["level"], "sample");
    assert!(
        !sample.to_string().contains("Pat Example"),
        "sample level shows initials only"
    );

    let revoked = ok(
        h,
        PIN,
        "",
        &[
            "access",
            "revoke",
            "--as",
            &c.patient,
            "--patient",
            &c.patient,
            "--from",
            &c.other,
        ],
    );
    assert_eq!(revoked["key_epoch"], 1);
    assert!(
        refused(
            h,
            DOC_PW,
            &["chart", "show", "--as", &c.other, "--patient", &c.patient]
        )
        .contains("access denied")
    );

    assert_eq!(
        ok(
            h,
            DOC_PW,
            "",
            &[
                "breakglass",
                "--as",
                &c.other,
                "--patient",
                &c.patient,
                "--reason",
                "unconscious in A&E"
            ]
        )["ok"],
        true
    );
    let full = ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.other, "--patient", &c.patient],
    );
    assert_eq!(full["level"], "full");
    let audit = ok(
        h,
        PIN,
        "",
        &["audit", "--as", &c.patient, "--patient", &c.patient],
    );
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "register",
        "assign",
        "request",
        "grant",
        "read",
        "revoke",
        "break-glass",
    ] {
        assert!(
            actions.contains(&expected),
            "audit lacks {expected}: {actions:?}"
        );
    }
    let admin_audit = ok(
        h,
        ADMIN_PW,
        "",
        &["audit", "--as", &c.admin, "--patient", &c.patient],
    );
    assert!(
        admin_audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "break-glass"),
        "the clinic admin sees break-glass"
    );
}

#[test]
fn a_bundle_carries_a_record_to_a_clinic_with_no_link() {
    let c = clinic();
    let h = &c.home.path;
    let other = tempfile::tempdir().unwrap();
    let south = other.path().join("south");
    let request = other.path().join("request.json");
    let invite = other.path().join("invite.json");
    ok(
        &south,
        "",
        "south admin pw",
        &[
            "clinic",
            "request",
            "--clinic",
            "South",
            "--admin",
            "Sam Admin",
            "--out",
            request.to_str().unwrap(),
        ],
    );
    ok(
        h,
        "",
        "",
        &[
            "clinic",
            "approve",
            request.to_str().unwrap(),
            "--out",
            invite.to_str().unwrap(),
        ],
    );
    ok(
        &south,
        "",
        "",
        &["clinic", "join", invite.to_str().unwrap()],
    );

    // Written after South joined: only the bundle can bring it there.
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "note",
            "--data",
            r#"{"title":"Travel","text":"Carried note"}"#,
        ],
    );
    let bundle = other.path().join("bundle.json");
    assert!(
        refused(
            h,
            DOC_PW,
            &[
                "bundle",
                "export",
                "--as",
                &c.doctor,
                "--out",
                bundle.to_str().unwrap()
            ]
        )
        .contains("patient")
    );
    ok(
        h,
        PIN,
        "",
        &[
            "bundle",
            "export",
            "--as",
            &c.patient,
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    let merged = ok(
        &south,
        "",
        "",
        &["bundle", "import", bundle.to_str().unwrap()],
    );
    assert_eq!(merged["patient_id"], c.patient.as_str());
    assert!(merged["blocks_added"].as_u64().unwrap() > 0);
    assert_eq!(ok(&south, "", "", &["ledger", "verify"])["ok"], true);
    // At South the patient signs in with the same PIN and sees the records that arrived.
    let status = ok(&south, PIN, "", &["status", "--as", &c.patient]);
    let kinds: Vec<&str> = status["new_records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"note"), "{status}");
    let again = ok(&south, PIN, "", &["status", "--as", &c.patient]);
    assert!(
        again["new_records"].as_array().unwrap().is_empty(),
        "records are new only once"
    );
    let mut damaged = std::fs::read(&bundle).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x01;
    std::fs::write(&bundle, damaged).unwrap();
    refused(&south, "", &["bundle", "import", bundle.to_str().unwrap()]);
}

#[test]
fn backup_and_restore_give_a_home_that_verifies() {
    let c = clinic();
    let h = &c.home.path;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("north.backup");
    ok(
        h,
        "",
        "backup passphrase",
        &["backup", "--out", file.to_str().unwrap()],
    );
    let restored = dir.path().join("restored");
    assert!(
        refused(
            &restored,
            "not the passphrase",
            &["restore", file.to_str().unwrap()]
        )
        .contains("wrong passphrase")
    );
    let done = ok(
        &restored,
        "backup passphrase",
        "",
        &["restore", file.to_str().unwrap()],
    );
    assert_eq!(done["ok"], true);
    assert_eq!(done["awaiting_catch_up"], true);
    // The restored home and every file in it are readable by their owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&restored), 0o700);
        let mut dirs = vec![restored.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    assert_eq!(mode(&path), 0o700, "{}", path.display());
                    dirs.push(path);
                } else {
                    assert_eq!(mode(&path), 0o600, "{}", path.display());
                }
            }
        }
    }
    // The backup file itself holds no plain database.
    let sealed = std::fs::read(&file).unwrap();
    assert!(!sealed.windows(15).any(|w| w == b"SQLite format 3"));
    assert_eq!(
        ok(&restored, "", "", &["ledger", "stats"])["state_hash"],
        ok(h, "", "", &["ledger", "stats"])["state_hash"]
    );
    // Until a sync, the restored home seals nothing, not even the audit of a read.
    let said = refused(
        &restored,
        DOC_PW,
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert!(said.contains("restored from a backup"), "{said}");
    assert!(said.contains("carelog sync --peer"), "{said}");
    // A clinic with no peers says so when it restores, and works at once.
    let alone = dir.path().join("restored-alone");
    let done = ok(
        &alone,
        "backup passphrase",
        "",
        &["restore", file.to_str().unwrap(), "--no-peers"],
    );
    assert_eq!(done["awaiting_catch_up"], false);
    let chart = ok(
        &alone,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert_eq!(chart["level"], "full");
}

#[test]
fn the_demo_builds_three_linked_clinics() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = ok(
        &dir.path().join("unused"),
        "",
        "",
        &["demo", "--dir", demo.to_str().unwrap()],
    );
    let homes = out["homes"].as_array().unwrap();
    assert_eq!(homes.len(), 3);
    let hashes: Vec<Value> = homes
        .iter()
        .map(|h| {
            ok(
                Path::new(h["home"].as_str().unwrap()),
                "",
                "",
                &["ledger", "stats"],
            )["state_hash"]
                .clone()
        })
        .collect();
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "the demo's clinics converge: {hashes:?}"
    );
    let story = out["story"].to_string();
    assert!(
        story.contains("opens her chart at North Valley: level \\\"full\\\""),
        "{story}"
    );
}

#[test]
fn hl7_and_fhir_export_and_import_through_the_cli() {
    let c = clinic();
    let h = &c.home.path;
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "vitals",
            "--data",
            r#"{"systolic":131,"diastolic":84}"#,
        ],
    );
    ok(
        h,
        DOC_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &c.patient,
            "--kind",
            "condition",
            "--data",
            r#"{"icd10":"I10","name":"Essential hypertension"}"#,
        ],
    );
    let hl7 = ok(
        h,
        DOC_PW,
        "",
        &["export", "hl7", "--as", &c.doctor, "--patient", &c.patient],
    );
    let message = hl7["message"].as_str().unwrap();
    assert!(message.starts_with("MSH|^~\\&|Carelog|"), "{message}");
    assert!(message.contains(&format!("PID|1||{}", c.patient)));
    assert!(message.contains("OBX|1|NM|8480-6^Systolic blood pressure^LN||131|"));
    assert!(
        message.split('\r').count() > 4,
        "segments are separated by CR"
    );
    let fhir = ok(
        h,
        DOC_PW,
        "",
        &["export", "fhir", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert_eq!(fhir["resourceType"], "Bundle");
    assert_eq!(fhir["type"], "collection");
    let types: Vec<&str> = fhir["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(
        types.contains(&"Patient")
            && types.contains(&"Observation")
            && types.contains(&"Condition"),
        "{types:?}"
    );
    // Exports are reads: audited.
    let audit = ok(
        h,
        DOC_PW,
        "",
        &["audit", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert!(audit.to_string().contains("export hl7") && audit.to_string().contains("export fhir"));
    // A doctor without access exports nothing.
    refused(
        h,
        DOC_PW,
        &["export", "hl7", "--as", &c.other, "--patient", &c.patient],
    );

    // A lab analyzer's result for this patient.
    let dir = tempfile::tempdir().unwrap();
    let oru = dir.path().join("result.hl7");
    let text = format!(
        "MSH|^~\\&|ANALYZER|LAB|Carelog|North|20261122101500||ORU^R01|MSG0001|P|2.5\rPID|1||{}^^^North^PI||\rOBR|1|||24323-8^Comprehensive metabolic panel^LN|||20261122100000\rOBX|1|NM|2345-7^Glucose^LN||6.1|mmol/L|3.9-5.6|H|||F\rOBX|2|NM|2823-3^Potassium^LN||4.2|mmol/L|3.5-5.1|N|||F|||20261122100700\r",
        c.patient
    );
    std::fs::write(&oru, &text).unwrap();
    let before = ok(h, "", "", &["ledger", "stats"]);
    let imported = ok(
        h,
        DOC_PW,
        "",
        &["import", "hl7", "--as", &c.doctor, oru.to_str().unwrap()],
    );
    assert_eq!(imported["entry_ids"].as_array().unwrap().len(), 2);
    let chart = ok(
        h,
        DOC_PW,
        "",
        &["chart", "show", "--as", &c.doctor, "--patient", &c.patient],
    );
    assert!(
        chart["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["loinc"] == "2345-7" && e["data"]["value"] == 6.1)
    );
    // Each result keeps the time it was observed (OBX-14, else the order's OBR-7), not the
    // time it was imported.
    let time_of = |loinc: &str| {
        chart["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["data"]["loinc"] == loinc)
            .map(|e| e["time"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        time_of("2345-7").starts_with("2026-11-22T10:00:00"),
        "{chart}"
    );
    assert!(
        time_of("2823-3").starts_with("2026-11-22T10:07:00"),
        "{chart}"
    );
    let exported = ok(
        h,
        DOC_PW,
        "",
        &["export", "hl7", "--as", &c.doctor, "--patient", &c.patient],
    );
    let message = exported["message"].as_str().unwrap();
    let potassium = message
        .split('\r')
        .find(|seg| seg.starts_with("OBX|") && seg.contains("2823-3^"))
        .expect("the potassium result is exported");
    assert_eq!(
        potassium.split('|').nth(14).map(|t| &t[..12.min(t.len())]),
        Some("202611221007"),
        "OBX-14 carries the observation time: {potassium}"
    );
    assert_ne!(ok(h, "", "", &["ledger", "stats"]), before);

    // A malformed message names the segment and field, and stores nothing.
    std::fs::write(&oru, text.replace("||6.1|", "||six|")).unwrap();
    let before = ok(h, "", "", &["ledger", "stats"]);
    let err = refused(
        h,
        DOC_PW,
        &["import", "hl7", "--as", &c.doctor, oru.to_str().unwrap()],
    );
    assert!(err.contains("OBX-5"), "{err}");
    assert_eq!(ok(h, "", "", &["ledger", "stats"]), before);

    // The FHIR bundle imports back into the chart.
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, fhir.to_string()).unwrap();
    let back = ok(
        h,
        DOC_PW,
        "",
        &[
            "import",
            "fhir",
            "--as",
            &c.doctor,
            bundle.to_str().unwrap(),
        ],
    );
    assert!(back["entry_ids"].as_array().unwrap().len() >= 2);
}
