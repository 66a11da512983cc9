//! The patient's journey through the real binary: found at the front desk, given a card, signed
//! in by card number, reading their own record and deciding who else may.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{add_user, create_network, field as text, join_network};

const ADMIN_PW: &str = "journey admin secret";
const DOC_PW: &str = "journey doctor secret";
const PIN: &str = "482916";

/// `carelog` with a passphrase, a new secret and, when acting as a patient, their card.
fn carelog(home: &Path, pass: &str, new_pass: &str, card: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = common::carelog_with(home, pass, new_pass);
    cmd.args(args);
    if let Some(card) = card {
        cmd.env("CARELOG_CARD", card);
    }
    cmd
}

/// A command that must succeed and print one JSON object.
fn ok(home: &Path, pass: &str, new_pass: &str, card: Option<&str>, args: &[&str]) -> Value {
    common::json_ok(&mut carelog(home, pass, new_pass, card, args))
}

/// A command that must be refused: non-zero, one line on stderr, nothing on stdout.
fn refused(home: &Path, pass: &str, card: Option<&str>, args: &[&str]) -> String {
    common::refusal(&mut carelog(home, pass, "539172", card, args))
}

/// A registered patient as the front desk hands them over.
struct Patient {
    id: String,
    card: String,
    number: String,
}

/// One clinic with an admin, a family doctor and a specialist.
struct Clinic {
    _dir: tempfile::TempDir,
    home: PathBuf,
    admin: String,
    doctor: String,
    specialist: String,
}

impl Clinic {
    fn new() -> Clinic {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        let created = create_network(&home, ADMIN_PW, "Journey District", "North", "Ada Admin");
        let admin = text(&created, "admin_id");
        let staff = |name: &str, specialty: &str| {
            add_user(
                &home,
                (&admin, ADMIN_PW),
                "doctor",
                name,
                DOC_PW,
                &["--specialty", specialty],
            )
        };
        let doctor = staff("Dr Family", "family medicine");
        let specialist = staff("Dr Heart", "cardiology");
        Clinic {
            _dir: dir,
            home,
            admin,
            doctor,
            specialist,
        }
    }

    fn register(&self, name: &str, birth_date: &str, extra: &[&str]) -> Patient {
        let mut args = vec![
            "patient",
            "register",
            "--as",
            &self.admin,
            "--name",
            name,
            "--birth-date",
            birth_date,
            "--sex",
            "female",
        ];
        args.extend_from_slice(extra);
        let v = ok(&self.home, ADMIN_PW, PIN, None, &args);
        Patient {
            id: text(&v, "patient_id"),
            card: text(&v, "card"),
            number: text(&v, "card_number"),
        }
    }
}

#[test]
fn the_front_desk_prints_a_card_only_from_the_patients_own_card() {
    let c = Clinic::new();
    let pat = c.register("Zoë Example", "1980-02-29", &[]);
    let other = c.register("Olga Other", "1975-06-01", &[]);
    let pdf = c.home.parent().unwrap().join("card.pdf");
    let pdf_arg = pdf.to_str().unwrap();

    let printed = ok(
        &c.home,
        ADMIN_PW,
        "",
        Some(&pat.card),
        &[
            "patient",
            "card",
            "--as",
            &c.admin,
            "--patient",
            &pat.number,
            "--out",
            pdf_arg,
        ],
    );
    assert_eq!(text(&printed, "card_number"), pat.number);
    assert_eq!(text(&printed, "card"), pat.card);
    assert_eq!(text(&printed, "file"), pdf_arg);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF file");
    assert!(
        bytes
            .windows(pat.number.len())
            .any(|w| w == pat.number.as_bytes()),
        "the card number is printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pdf).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the card holds a secret: owner only");
    }

    // Without the card there is nothing to print the QR code from: Carelog keeps no copy.
    let elsewhere = c.home.parent().unwrap().join("none.pdf");
    let args = [
        "patient",
        "card",
        "--as",
        &c.admin,
        "--patient",
        &pat.id,
        "--out",
        elsewhere.to_str().unwrap(),
    ];
    let err = refused(&c.home, ADMIN_PW, None, &args);
    assert!(err.contains("replace-key"), "{err}");
    let err = refused(&c.home, ADMIN_PW, Some(&other.card), &args);
    assert!(err.contains("belongs to patient"), "{err}");
    // A doctor is not the front desk.
    for staff in [&c.doctor, &c.specialist] {
        let mut as_doctor = args;
        as_doctor[3] = staff;
        refused(&c.home, DOC_PW, Some(&pat.card), &as_doctor);
    }
    assert!(!elsewhere.exists(), "a refusal writes no file");
}

#[test]
fn a_patient_signs_in_by_card_number_reads_their_own_record_and_the_read_is_audited() {
    let c = Clinic::new();
    let pat = c.register("Pat Example", "1980-02-29", &[]);
    let shown = ok(
        &c.home,
        PIN,
        "",
        Some(&pat.card),
        &[
            "chart",
            "show",
            "--as",
            &pat.number,
            "--patient",
            &pat.number,
        ],
    );
    assert_eq!(text(&shown, "patient_id"), pat.id);
    assert_eq!(text(&shown, "level"), "full");
    let entries = shown["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["data"]["name"].as_str() == Some("Pat Example")),
        "{shown}"
    );
    // The number typed without spaces names the same patient; without the card, no way in.
    let compact = pat.number.replace(' ', "");
    let err = refused(
        &c.home,
        PIN,
        None,
        &["chart", "show", "--as", &compact, "--patient", &compact],
    );
    assert!(err.contains("card"), "{err}");
    let audit = ok(
        &c.home,
        ADMIN_PW,
        "",
        None,
        &["audit", "--as", &c.admin, "--patient", &pat.number],
    );
    let reads: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.contains("read")))
        .collect();
    assert_eq!(reads.len(), 1, "exactly the patient's own read: {audit}");

    // The family doctor reads the record; at the patient's next visit, that is what is new.
    ok(
        &c.home,
        ADMIN_PW,
        "",
        None,
        &[
            "assign",
            "--as",
            &c.admin,
            "--patient",
            &pat.id,
            "--doctor",
            &c.doctor,
            "--custodian",
        ],
    );
    ok(
        &c.home,
        DOC_PW,
        "",
        None,
        &["chart", "show", "--as", &c.doctor, "--patient", &pat.id],
    );
    let new = |c: &Clinic| {
        ok(
            &c.home,
            PIN,
            "",
            Some(&pat.card),
            &["audit", "--as", &pat.id, "--patient", &pat.id, "--new"],
        )
    };
    let fresh = new(&c);
    let actions: Vec<(&str, &str)> = fresh["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [(c.admin.as_str(), "assign"), (c.doctor.as_str(), "read")],
        "{fresh}"
    );
    // Once the patient has read their record again, nothing is new.
    ok(
        &c.home,
        PIN,
        "",
        Some(&pat.card),
        &["chart", "show", "--as", &pat.id, "--patient", &pat.id],
    );
    assert_eq!(new(&c)["events"], serde_json::json!([]));
}

fn found_names(v: &Value) -> Vec<String> {
    v["patients"]
        .as_array()
        .unwrap_or_else(|| panic!("no patients[] in {v}"))
        .iter()
        .map(|p| text(p, "name"))
        .collect()
}

#[test]
fn the_front_desk_finds_patients_by_part_of_the_name_and_birth_date_and_is_told_of_duplicates() {
    let c = Clinic::new();
    let zoe = c.register("Zoë Ålvarez-Núñez", "1980-02-29", &[]);
    c.register("Zoltan Kiss", "1975-06-01", &[]);
    c.register("Anna Alvarsson", "1980-02-29", &[]);
    let find = |who: &str, pass: &str, args: &[&str]| {
        let mut all = vec!["patient", "find", "--as", who];
        all.extend_from_slice(args);
        ok(&c.home, pass, "", None, &all)
    };

    let v = find(&c.admin, ADMIN_PW, &["--name", "zoe alv"]);
    assert_eq!(found_names(&v), ["Zoë Ålvarez-Núñez"]);
    let row = &v["patients"][0];
    assert_eq!(text(row, "patient_id"), zoe.id);
    assert_eq!(text(row, "birth_date"), "1980-02-29");
    assert_eq!(text(row, "sex"), "female");
    assert_eq!(text(row, "card_number"), zoe.number);
    // Prefixes of any part, any case; the clinic's doctors search too.
    let mut names = found_names(&find(&c.doctor, DOC_PW, &["--name", "ZO"]));
    names.sort();
    assert_eq!(names, ["Zoltan Kiss", "Zoë Ålvarez-Núñez"]);
    let v = find(
        &c.admin,
        ADMIN_PW,
        &["--name", "alv", "--birth-date", "1980-02-29"],
    );
    assert_eq!(found_names(&v).len(), 2, "{v}");
    let v = find(&c.admin, ADMIN_PW, &["--birth-date", "1975-06-01"]);
    assert_eq!(found_names(&v), ["Zoltan Kiss"]);
    let v = find(&c.admin, ADMIN_PW, &["--name", &zoe.number]);
    assert_eq!(found_names(&v), ["Zoë Ålvarez-Núñez"]);
    assert!(found_names(&find(&c.admin, ADMIN_PW, &["--name", "nobody"])).is_empty());
    // Patients do not search other patients; a bad date is named.
    let err = refused(
        &c.home,
        PIN,
        Some(&zoe.card),
        &["patient", "find", "--as", &zoe.id, "--name", "zo"],
    );
    assert!(err.contains("staff"), "{err}");
    let err = refused(
        &c.home,
        ADMIN_PW,
        None,
        &[
            "patient",
            "find",
            "--as",
            &c.admin,
            "--name",
            "zo",
            "--birth-date",
            "29/02/1980",
        ],
    );
    assert!(err.contains("YYYY-MM-DD"), "{err}");

    // The same person again, accents and case differing: the existing record is named.
    let again = [
        "patient",
        "register",
        "--as",
        &c.admin,
        "--name",
        "zoe alvarez-nunez",
        "--birth-date",
        "1980-02-29",
        "--sex",
        "female",
    ];
    let err = refused(&c.home, ADMIN_PW, None, &again);
    assert!(
        err.contains(&zoe.number) && err.contains("--not-duplicate"),
        "{err}"
    );
    let v = find(&c.admin, ADMIN_PW, &["--name", "nunez"]);
    assert_eq!(found_names(&v).len(), 1, "nothing was registered");
    // Someone else of that name and birth date is registered on purpose.
    let mut anyway = again.to_vec();
    anyway.push("--not-duplicate");
    ok(&c.home, ADMIN_PW, PIN, None, &anyway);
    let v = find(&c.admin, ADMIN_PW, &["--name", "nunez"]);
    assert_eq!(found_names(&v).len(), 2, "{v}");
    // A different birth date is not a duplicate.
    c.register("Zoë Ålvarez-Núñez", "2001-12-24", &[]);
}

#[test]
fn a_patient_finds_a_specialist_in_the_directory_and_grants_them_on_their_own_initiative() {
    let c = Clinic::new();
    let pat = c.register("Pat Example", "1980-02-29", &[]);
    let lab = text(
        &ok(
            &c.home,
            ADMIN_PW,
            DOC_PW,
            None,
            &[
                "user",
                "add",
                "--as",
                &c.admin,
                "--role",
                "lab",
                "--name",
                "North Lab",
            ],
        ),
        "user_id",
    );
    let directory = |args: &[&str]| {
        let mut all = vec!["directory", "--as", &pat.number];
        all.extend_from_slice(args);
        ok(&c.home, PIN, "", Some(&pat.card), &all)
    };
    let everyone = directory(&[]);
    let ids: Vec<String> = everyone["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| text(p, "id"))
        .collect();
    assert_eq!(ids.len(), 3, "two doctors and a lab, no admin: {everyone}");
    assert!(ids.contains(&lab) && !ids.contains(&c.admin), "{everyone}");
    // By specialty, by name, by clinic; accents and case ignored.
    let heart = directory(&["--name", "CARDIO"]);
    let people = heart["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{heart}");
    assert_eq!(text(&people[0], "id"), c.specialist);
    assert_eq!(text(&people[0], "name"), "Dr Heart");
    assert_eq!(text(&people[0], "role"), "doctor");
    assert_eq!(text(&people[0], "specialty"), "cardiology");
    assert_eq!(text(&people[0], "clinic"), "North");
    assert_eq!(
        directory(&["--name", "dr hé"])["people"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        directory(&["--name", "north"])["people"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Staff see it too.
    ok(&c.home, DOC_PW, "", None, &["directory", "--as", &c.doctor]);

    // No request is needed: the patient grants the specialist for 30 days, by card number.
    let expires = "2099-01-31";
    let granted = ok(
        &c.home,
        PIN,
        "",
        Some(&pat.card),
        &[
            "access",
            "grant",
            "--as",
            &pat.number,
            "--patient",
            &pat.number,
            "--to",
            &c.specialist,
            "--level",
            "sample",
            "--expires",
            expires,
        ],
    );
    assert_eq!(granted["ok"], true);
    let seen = ok(
        &c.home,
        DOC_PW,
        "",
        None,
        &["chart", "show", "--as", &c.specialist, "--patient", &pat.id],
    );
    assert_eq!(text(&seen, "level"), "sample");
    let audit = ok(
        &c.home,
        PIN,
        "",
        Some(&pat.card),
        &["audit", "--as", &pat.id, "--patient", &pat.id],
    );
    let events = audit["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"].as_str().is_some_and(|a| a.contains("grant"))),
        "{audit}"
    );
    // A disabled doctor leaves the directory.
    ok(
        &c.home,
        ADMIN_PW,
        "",
        None,
        &[
            "user",
            "disable",
            "--as",
            &c.admin,
            "--user",
            &c.specialist,
            "--reason",
            "left the clinic",
        ],
    );
    assert!(
        directory(&["--name", "cardiology"])["people"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A `carelog serve` of `home` on a free loopback port, stopped when dropped.
fn serve(home: &Path) -> (common::Server, String) {
    let (server, addr) = common::serve_on_loopback(common::carelog(home, "unused"));
    (server, addr.to_string())
}

/// Syncs `home` with the peer at `addr`, retrying while the server starts.
fn sync_with(home: &Path, addr: &str) {
    common::sync_when_up(|| common::carelog_with(home, "unused", ""), addr);
}

const SOUTH_PW: &str = "south admin secret words";

/// South asks to join North's network, North approves, South joins; South's admin enrolls a
/// dermatologist. Returns South's home and the doctor.
fn join_south(north: &Clinic) -> (PathBuf, String) {
    let south = north.home.parent().unwrap().join("south");
    let asked = join_network(&north.home, &south, "South", "Sam South", SOUTH_PW);
    let south_doctor = add_user(
        &south,
        (&text(&asked, "admin_id"), SOUTH_PW),
        "doctor",
        "Dr South",
        DOC_PW,
        &["--specialty", "dermatology"],
    );
    (south, south_doctor)
}

#[test]
fn a_patient_of_north_signs_in_at_south_after_a_sync_and_grants_and_revokes_there() {
    let north = Clinic::new();
    let (south, south_doctor) = join_south(&north);
    // Registered at North, after South joined; the two clinics sync over QUIC.
    let pat = north.register("Pat Traveller", "1990-07-14", &[]);
    let (server, addr) = serve(&north.home);
    sync_with(&south, &addr);

    // At South, with the card and PIN: the patient finds South's doctor and grants full access.
    let found = ok(
        &south,
        PIN,
        "",
        Some(&pat.card),
        &["directory", "--as", &pat.number, "--name", "derma"],
    );
    assert_eq!(text(&found["people"][0], "id"), south_doctor);
    let grant = [
        "access",
        "grant",
        "--as",
        &pat.number,
        "--patient",
        &pat.number,
        "--to",
        &south_doctor,
        "--level",
        "full",
    ];
    // A wrong PIN is refused there as anywhere.
    refused(&south, "000000", Some(&pat.card), &grant);
    ok(&south, PIN, "", Some(&pat.card), &grant);
    let chart = ok(
        &south,
        DOC_PW,
        "",
        None,
        &["chart", "show", "--as", &south_doctor, "--patient", &pat.id],
    );
    assert_eq!(text(&chart, "level"), "full");
    assert!(
        chart["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["name"].as_str() == Some("Pat Traveller")),
        "South's doctor opens what North sealed: {chart}"
    );
    // The patient reads their own record at South, and revokes there.
    ok(
        &south,
        PIN,
        "",
        Some(&pat.card),
        &[
            "chart",
            "show",
            "--as",
            &pat.number,
            "--patient",
            &pat.number,
        ],
    );
    let revoked = ok(
        &south,
        PIN,
        "",
        Some(&pat.card),
        &[
            "access",
            "revoke",
            "--as",
            &pat.number,
            "--patient",
            &pat.number,
            "--from",
            &south_doctor,
        ],
    );
    assert_eq!(revoked["ok"], true);
    // A PIN changed at South opens the keys at North once North has South's blocks.
    ok(
        &south,
        PIN,
        "739164",
        Some(&pat.card),
        &["patient", "pin", "--as", &pat.number],
    );
    sync_with(&south, &addr);
    drop(server);
    let audit = ok(
        &north.home,
        "739164",
        "",
        Some(&pat.card),
        &["audit", "--as", &pat.id, "--patient", &pat.id],
    );
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("grant")) && actions.iter().any(|a| a.contains("revoke")),
        "North sees what the patient decided at South: {actions:?}"
    );
    refused(
        &north.home,
        PIN,
        Some(&pat.card),
        &["audit", "--as", &pat.id, "--patient", &pat.id],
    );
}

#[test]
fn a_parent_acts_as_proxy_for_a_child_and_every_act_names_the_parent() {
    let c = Clinic::new();
    let child = c.register("Kim Child", "2019-05-04", &[]);
    let other = c.register("Olga Other", "1975-06-01", &[]);
    const PARENT_PIN: &str = "551903";
    let added = ok(
        &c.home,
        ADMIN_PW,
        PARENT_PIN,
        None,
        &[
            "proxy",
            "add",
            "--as",
            &c.admin,
            "--patient",
            &child.number,
            "--name",
            "Parent Example",
        ],
    );
    let proxy = text(&added, "proxy_id");
    let card = text(&added, "card");
    let number = text(&added, "card_number");
    assert_ne!(proxy, child.id);

    // The parent reads the child's record and decides who else may, signed in with their card.
    let chart = ok(
        &c.home,
        PARENT_PIN,
        "",
        Some(&card),
        &["chart", "show", "--as", &number, "--patient", &child.number],
    );
    assert_eq!(text(&chart, "level"), "full");
    let decide = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--as", &proxy, "--patient", &child.id]);
        ok(&c.home, PARENT_PIN, "", Some(&card), &all)
    };
    decide(&["access", "grant", "--to", &c.specialist, "--level", "full"]);
    let seen = ok(
        &c.home,
        DOC_PW,
        "",
        None,
        &[
            "chart",
            "show",
            "--as",
            &c.specialist,
            "--patient",
            &child.id,
        ],
    );
    assert_eq!(text(&seen, "level"), "full");
    decide(&["access", "revoke", "--from", &c.specialist]);
    refused(
        &c.home,
        DOC_PW,
        None,
        &[
            "chart",
            "show",
            "--as",
            &c.specialist,
            "--patient",
            &child.id,
        ],
    );

    // The revocation rotated the child's key: the family doctor writes, the parent still reads.
    ok(
        &c.home,
        ADMIN_PW,
        "",
        None,
        &[
            "assign",
            "--as",
            &c.admin,
            "--patient",
            &child.id,
            "--doctor",
            &c.doctor,
            "--custodian",
        ],
    );
    ok(
        &c.home,
        DOC_PW,
        "",
        None,
        &[
            "chart",
            "add",
            "--as",
            &c.doctor,
            "--patient",
            &child.id,
            "--kind",
            "note",
            "--data",
            r#"{"title":"Check-up","text":"Growing well"}"#,
        ],
    );
    let chart = ok(
        &c.home,
        PARENT_PIN,
        "",
        Some(&card),
        &["chart", "show", "--as", &proxy, "--patient", &child.id],
    );
    assert!(
        chart.to_string().contains("Growing well"),
        "the parent opens what was written after the rotation: {chart}"
    );

    // The audit says the parent did it, by name for those who may read the record.
    let audit = ok(
        &c.home,
        PIN,
        "",
        Some(&child.card),
        &["audit", "--as", &child.id, "--patient", &child.id],
    );
    let by_parent: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str() == Some(proxy.as_str()))
        .map(|e| {
            assert_eq!(e["actor_name"], "Parent Example (proxy)", "{e}");
            e["action"].as_str().unwrap()
        })
        .collect();
    for action in ["read", "grant", "revoke"] {
        assert!(by_parent.contains(&action), "{action} in {by_parent:?}");
    }

    // What a proxy may not do: read another patient, write the chart, add proxies.
    refused(
        &c.home,
        PARENT_PIN,
        Some(&card),
        &["chart", "show", "--as", &proxy, "--patient", &other.id],
    );
    refused(
        &c.home,
        PARENT_PIN,
        Some(&card),
        &[
            "chart",
            "add",
            "--as",
            &proxy,
            "--patient",
            &child.id,
            "--kind",
            "note",
            "--data",
            r#"{"title":"x","text":"y"}"#,
        ],
    );
    let add_another = |who: &str, pass: &str, card: Option<&str>| {
        refused(
            &c.home,
            pass,
            card,
            &[
                "proxy",
                "add",
                "--as",
                who,
                "--patient",
                &child.id,
                "--name",
                "Someone Else",
            ],
        )
    };
    let err = add_another(&proxy, PARENT_PIN, Some(&card));
    assert!(err.contains("admins"), "{err}");
    add_another(&c.doctor, DOC_PW, None);
    add_another(&child.id, PIN, Some(&child.card));
}

#[test]
fn a_doctor_at_a_clinic_that_never_held_the_key_breaks_the_glass_and_the_card_opens_the_emergency_summary()
 {
    let north = Clinic::new();
    let (south, south_doctor) = join_south(&north);
    let pat = north.register("Una Conscious", "1960-03-03", &[]);
    ok(
        &north.home,
        ADMIN_PW,
        "",
        None,
        &[
            "assign",
            "--as",
            &north.admin,
            "--patient",
            &pat.id,
            "--doctor",
            &north.doctor,
            "--custodian",
        ],
    );
    for (kind, data) in [
        (
            "allergy",
            r#"{"substance":"Penicillin","reaction":"anaphylaxis"}"#,
        ),
        ("condition", r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#),
        (
            "medication",
            r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":3650}"#,
        ),
        (
            "note",
            r#"{"title":"Private","text":"not for the summary"}"#,
        ),
    ] {
        ok(
            &north.home,
            DOC_PW,
            "",
            None,
            &[
                "chart",
                "add",
                "--as",
                &north.doctor,
                "--patient",
                &pat.id,
                "--kind",
                kind,
                "--data",
                data,
            ],
        );
    }
    let (server, addr) = serve(&north.home);
    sync_with(&south, &addr);

    // South never held the patient's key: break-glass alone shows nothing of the chart.
    let opened = ok(
        &south,
        DOC_PW,
        "",
        None,
        &[
            "breakglass",
            "--as",
            &south_doctor,
            "--patient",
            &pat.number,
            "--reason",
            "unconscious in the emergency room",
        ],
    );
    assert!(opened["emergency_summary"].is_null(), "{opened}");
    // With the card from the patient's wallet (no PIN), the emergency summary.
    let opened = ok(
        &south,
        DOC_PW,
        "",
        Some(&pat.card),
        &[
            "breakglass",
            "--as",
            &south_doctor,
            "--patient",
            &pat.number,
            "--reason",
            "unconscious, card in the wallet",
        ],
    );
    let summary = &opened["emergency_summary"];
    let text_of = summary.to_string();
    assert!(text_of.contains("Penicillin"), "{summary}");
    assert!(text_of.contains("Type 2 diabetes"), "{summary}");
    assert!(text_of.contains("Metformin"), "{summary}");
    assert!(
        !text_of.contains("not for the summary"),
        "notes stay sealed: {summary}"
    );
    // Another patient's card opens nothing of this one, and records nothing.
    let other = north.register("Otto Other", "1970-01-01", &[]);
    let stats = |home: &Path| text(&ok(home, "x", "", None, &["ledger", "stats"]), "state_hash");
    let before = stats(&south);
    refused(
        &south,
        DOC_PW,
        Some(&other.card),
        &[
            "breakglass",
            "--as",
            &south_doctor,
            "--patient",
            &pat.number,
            "--reason",
            "wrong card",
        ],
    );
    assert_eq!(stats(&south), before, "a refusal changes nothing");

    // North learns of it: the patient's audit shows the break-glass and the read, by whom.
    sync_with(&south, &addr);
    drop(server);
    let audit = ok(
        &north.home,
        PIN,
        "",
        Some(&pat.card),
        &["audit", "--as", &pat.id, "--patient", &pat.id],
    );
    let by_south: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str() == Some(south_doctor.as_str()))
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        by_south.contains(&"break-glass") && by_south.contains(&"read"),
        "{by_south:?} in {audit}"
    );

    // The openings wait for review; the patient reviews one, the clinic's admin the other.
    let listed = ok(
        &north.home,
        PIN,
        "",
        Some(&pat.card),
        &["review", "--as", &pat.id, "--patient", &pat.id],
    );
    let openings = listed["openings"].as_array().unwrap().clone();
    assert_eq!(openings.len(), 2, "{listed}");
    assert!(
        openings
            .iter()
            .all(|o| o["reviewed_by"] == serde_json::json!([]))
    );
    assert!(
        openings
            .iter()
            .all(|o| o["doctor"].as_str() == Some(south_doctor.as_str())),
        "{listed}"
    );
    let first = text(&openings[0], "opening");
    let second = text(&openings[1], "opening");
    ok(
        &north.home,
        PIN,
        "",
        Some(&pat.card),
        &[
            "review",
            "--as",
            &pat.id,
            "--patient",
            &pat.id,
            "--opening",
            &first,
            "--note",
            "I was in the emergency room that night",
        ],
    );
    // A doctor is not a reviewer, and an opening must be one of this record's.
    let why = refused(
        &north.home,
        DOC_PW,
        None,
        &[
            "review",
            "--as",
            &north.doctor,
            "--patient",
            &pat.id,
            "--opening",
            &second,
            "--note",
            "fine",
        ],
    );
    assert!(why.contains("review"), "{why}");
    let why = refused(
        &north.home,
        ADMIN_PW,
        None,
        &[
            "review",
            "--as",
            &north.admin,
            "--patient",
            &pat.id,
            "--opening",
            &"0".repeat(64),
            "--note",
            "fine",
        ],
    );
    assert!(why.contains("no break-glass opening"), "{why}");
    ok(
        &north.home,
        ADMIN_PW,
        "",
        None,
        &[
            "review",
            "--as",
            &north.admin,
            "--patient",
            &pat.id,
            "--opening",
            &second,
            "--note",
            "checked with the emergency team",
        ],
    );
    let listed = ok(
        &north.home,
        ADMIN_PW,
        "",
        None,
        &["review", "--as", &north.admin, "--patient", &pat.id],
    );
    let reviewers: Vec<String> = listed["openings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reviewed_by"].to_string())
        .collect();
    assert!(reviewers.iter().all(|r| r != "[]"), "{listed}");
    let audit = ok(
        &north.home,
        ADMIN_PW,
        "",
        None,
        &["audit", "--as", &north.admin, "--patient", &pat.id],
    );
    let reviews = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "review break-glass")
        .count();
    assert_eq!(reviews, 2, "{audit}");
}
