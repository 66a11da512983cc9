//! A stolen laptop or a copied home, through the real binary: after the demo, a copy of every
//! home shows no name, no chart text and no key; `sqlite3` cannot read the database; the copy
//! does not open without the node passphrase and says what to set. Patients sign in with their
//! card and PIN, and staff and patients change their own secrets.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::NODE_PASSPHRASE;

/// `carelog --json` with exactly the environment given (nothing inherited that matters).
fn carelog(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = common::bare(Some(home));
    cmd.args(args).envs(env.iter().copied());
    cmd
}

fn ok(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    common::json_ok(&mut carelog(home, env, args))
}

/// A refusal: non-zero exit, one line on stderr, nothing on stdout. Returns the line.
fn refused(home: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    common::refusal(&mut carelog(home, env, args))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out
}

/// A secret as a file could hold it: raw, hex in either case, base64 (standard and URL-safe) at
/// each of the three alignments (the inner run, which does not depend on what precedes it).
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
    ];
    for shift in 0..3 {
        let shifted: Vec<u8> = std::iter::repeat_n(0u8, shift)
            .chain(secret.iter().copied())
            .collect();
        for alphabet in [
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        ] {
            let encoded = base64(&shifted, alphabet);
            out.push(encoded[4..encoded.len() - 4].to_vec());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every name and chart text of the demo's synthetic patients.
/// The demo's names and chart text long enough to look for in ciphertext. A word of three
/// letters ("MMR" or "mmr") turns up by chance about once in every 8 MB of random bytes, so words under
/// `SHORTEST` bytes would fail the search on an honest file; every longer text is still sought.
fn demo_words() -> Vec<String> {
    const SHORTEST: usize = 6;
    common::demo_chart_text()
        .into_iter()
        .map(|(_, text)| text)
        .filter(|text| text.len() >= SHORTEST)
        .collect()
}

/// Every secret key of a demo home: its node and database keys, and the private keys of its
/// staff (the demo passphrase) and patients (their cards and the demo PIN).
fn demo_secrets(home: &Path, cards: &[carelog_node::Card]) -> Vec<(String, Vec<u8>)> {
    let (secrets, opened) = common::demo_keys(home, cards);
    let mut out = vec![
        ("the node key".to_string(), secrets.node.seed().to_vec()),
        (
            "the node signing key".into(),
            secrets.node.seed()[..32].to_vec(),
        ),
        (
            "the node encryption key".into(),
            secrets.node.seed()[32..].to_vec(),
        ),
        (
            "the database key".into(),
            secrets.database.expose().to_vec(),
        ),
    ];
    for keys in opened {
        out.push(("a private key".into(), keys.seed().to_vec()));
        out.push(("a private signing key".into(), keys.seed()[..32].to_vec()));
        out.push((
            "a private encryption key".into(),
            keys.seed()[32..].to_vec(),
        ));
    }
    out
}

#[test]
fn a_copy_of_every_demo_home_reveals_nothing_and_opens_only_with_the_node_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let built = ok(dir.path(), &[], &["demo", "--dir", demo.to_str().unwrap()]);
    let cards = common::demo_cards(&built);
    assert!(cards.len() >= 3);
    let words = demo_words();
    assert!(words.len() > 10, "{words:?}");
    for n in 1..=3 {
        let home = demo.join(format!("clinic-{n}"));
        let mut secrets = demo_secrets(&home, &cards);
        for card in &cards {
            secrets.push(("a card secret".into(), card.secret().expose().to_vec()));
        }
        assert!(secrets.len() > 10, "{n}: {}", secrets.len());
        // What a thief takes: a copy of the whole home.
        let copy = dir.path().join(format!("stolen-{n}"));
        copy_dir(&home, &copy);
        for file in files_under(&copy) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.starts_with(b"SQLite format 3"), "{}", file.display());
            for word in &words {
                for form in [word.clone(), word.to_uppercase(), word.to_lowercase()] {
                    assert!(
                        !contains(&bytes, form.as_bytes()),
                        "{} shows `{form}`",
                        file.display()
                    );
                }
            }
            for (what, secret) in &secrets {
                for form in encodings(secret) {
                    assert!(!contains(&bytes, &form), "{} holds {what}", file.display());
                }
            }
        }
        // SQLite itself sees no database.
        let sqlite = Command::new("sqlite3")
            .arg(copy.join("carelog.sqlite3"))
            .arg("SELECT count(*) FROM blocks;")
            .output()
            .expect("sqlite3 is installed (cargo xtask test installs it)");
        assert!(!sqlite.status.success(), "sqlite3 read the copied database");
        let said = String::from_utf8_lossy(&sqlite.stderr);
        assert!(said.contains("file is not a database"), "{said}");
        // The copy does not open without the node passphrase, and says which variables to set.
        let said = refused(&copy, &[], &["ledger", "stats"]);
        assert!(said.contains("$CARELOG_NODE_PASSPHRASE"), "{said}");
        assert!(said.contains("$CARELOG_NODE_PASSPHRASE_FILE"), "{said}");
        let said = refused(
            &copy,
            &[("CARELOG_NODE_PASSPHRASE", "a thief's guess")],
            &["ledger", "stats"],
        );
        assert!(said.contains("node passphrase does not open"), "{said}");
        // Nothing was made by the refusals.
        assert_eq!(files_under(&copy).len(), files_under(&home).len());
    }
    // With the demo's (published) node passphrase the real home opens.
    let stats = ok(
        &demo.join("clinic-1"),
        &[(
            "CARELOG_NODE_PASSPHRASE",
            carelog_node::DEMO_NODE_PASSPHRASE,
        )],
        &["ledger", "stats"],
    );
    assert!(stats["txs"].as_u64().unwrap() > 10);
}

/// A one-clinic network under a node passphrase kept in a file (as systemd passes credentials).
struct Clinic {
    _dir: tempfile::TempDir,
    home: PathBuf,
    credential: PathBuf,
    admin: String,
}

const ADMIN: &str = "ada's admin passphrase";
const AUTHORITY: &str = "river district authority";

impl Clinic {
    fn env<'a>(&'a self, pass: &'a str, new: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            (
                "CARELOG_NODE_PASSPHRASE_FILE",
                self.credential.to_str().unwrap(),
            ),
            ("CARELOG_PASSPHRASE", pass),
            ("CARELOG_NEW_PASSPHRASE", new),
        ]
    }
}

fn clinic() -> Clinic {
    let dir = tempfile::tempdir().unwrap();
    let credential = dir.path().join("node-passphrase");
    std::fs::write(&credential, format!("{NODE_PASSPHRASE}\n")).unwrap();
    let home = dir.path().join("home");
    let mut c = Clinic {
        home,
        credential,
        admin: String::new(),
        _dir: dir,
    };
    // Without the authority passphrase a network is not founded, and nothing is made.
    let mut env = c.env("", ADMIN);
    let said = refused(
        &c.home,
        &env,
        &[
            "network",
            "create",
            "--network",
            "River",
            "--clinic",
            "North",
            "--admin",
            "Ada",
        ],
    );
    assert!(said.contains("CARELOG_AUTHORITY_PASSPHRASE"), "{said}");
    assert!(!c.home.join("node.key").exists());
    env.push(("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY));
    let created = ok(
        &c.home,
        &env,
        &[
            "network",
            "create",
            "--network",
            "River",
            "--clinic",
            "North",
            "--admin",
            "Ada",
        ],
    );
    c.admin = created["admin_id"].as_str().unwrap().to_string();
    c
}

#[test]
fn weak_passphrases_and_short_pins_are_refused_with_a_reason() {
    let c = clinic();
    let said = refused(
        &c.home,
        &c.env(ADMIN, "password1"),
        &[
            "user", "add", "--as", &c.admin, "--role", "doctor", "--name", "Dr Weak",
        ],
    );
    assert!(said.contains("too easy to guess"), "{said}");
    let said = refused(
        &c.home,
        &c.env(ADMIN, "1234"),
        &[
            "patient",
            "register",
            "--as",
            &c.admin,
            "--name",
            "Pat Short",
            "--birth-date",
            "1990-01-01",
            "--sex",
            "other",
        ],
    );
    assert!(said.contains("6 to 12 digits"), "{said}");
    let dir = tempfile::tempdir().unwrap();
    let said = refused(
        &dir.path().join("weak"),
        &[
            ("CARELOG_NODE_PASSPHRASE", "secret"),
            ("CARELOG_NEW_PASSPHRASE", ADMIN),
            ("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY),
        ],
        &[
            "network",
            "create",
            "--network",
            "W",
            "--clinic",
            "W",
            "--admin",
            "W",
        ],
    );
    assert!(
        said.contains("node passphrase is too easy to guess"),
        "{said}"
    );
}

#[test]
fn a_patient_signs_in_with_card_and_pin_and_both_people_change_their_secrets() {
    let c = clinic();
    let doctor = ok(
        &c.home,
        &c.env(ADMIN, "dr oak's own passphrase"),
        &[
            "user", "add", "--as", &c.admin, "--role", "doctor", "--name", "Dr Oak",
        ],
    )["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let registered = ok(
        &c.home,
        &c.env(ADMIN, "482916"),
        &[
            "patient",
            "register",
            "--as",
            &c.admin,
            "--name",
            "Pat Card",
            "--birth-date",
            "1990-01-01",
            "--sex",
            "other",
        ],
    );
    let patient = registered["patient_id"].as_str().unwrap().to_string();
    let card = registered["card"].as_str().unwrap().to_string();
    let number = registered["card_number"].as_str().unwrap().to_string();
    assert!(card.starts_with("CL1:"), "{card}");
    assert_eq!(number.chars().filter(char::is_ascii_digit).count(), 13);
    ok(
        &c.home,
        &c.env(ADMIN, ""),
        &[
            "assign",
            "--as",
            &c.admin,
            "--patient",
            &number,
            "--doctor",
            &doctor,
            "--custodian",
        ],
    );

    // The PIN alone is not enough, and the refusal says what is.
    let said = refused(
        &c.home,
        &c.env("482916", ""),
        &["chart", "show", "--as", &patient, "--patient", &patient],
    );
    assert!(said.contains("$CARELOG_CARD"), "{said}");
    let with_card = |pin: &'static str| {
        let mut env = c.env(pin, "");
        env.push(("CARELOG_CARD", card.as_str()));
        env
    };
    // Card and PIN open the patient's own record, by card number as well as by id.
    let own = ok(
        &c.home,
        &with_card("482916"),
        &["chart", "show", "--as", &number, "--patient", &number],
    );
    assert_eq!(own["patient_id"], patient.as_str());
    // A card that does not read is named as such.
    let mut damaged = c.env("482916", "");
    // Its last character changed (to one it is not already).
    let last = if card.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{last}", &card[..card.len() - 1]);
    damaged.push(("CARELOG_CARD", bad.as_str()));
    let said = refused(
        &c.home,
        &damaged,
        &["chart", "show", "--as", &patient, "--patient", &patient],
    );
    assert!(said.contains("not a readable Carelog card"), "{said}");

    // The patient changes the PIN: the old one stops working, the new one works.
    let mut env = with_card("482916");
    env.retain(|(k, _)| *k != "CARELOG_NEW_PASSPHRASE");
    env.push(("CARELOG_NEW_PASSPHRASE", "935171"));
    ok(&c.home, &env, &["patient", "pin", "--as", &patient]);
    let said = refused(
        &c.home,
        &with_card("482916"),
        &["chart", "show", "--as", &patient, "--patient", &patient],
    );
    assert!(said.contains("wrong passphrase"), "{said}");
    ok(
        &c.home,
        &with_card("935171"),
        &["chart", "show", "--as", &patient, "--patient", &patient],
    );

    // The doctor changes the passphrase: the old one stops working.
    ok(
        &c.home,
        &c.env("dr oak's own passphrase", "maple syrup at dawn twice"),
        &["user", "passphrase", "--as", "Dr Oak"],
    );
    let said = refused(
        &c.home,
        &c.env("dr oak's own passphrase", ""),
        &["patients", "--as", "Dr Oak"],
    );
    assert!(said.contains("wrong passphrase"), "{said}");
    ok(
        &c.home,
        &c.env("maple syrup at dawn twice", ""),
        &["patients", "--as", "Dr Oak"],
    );
    // A wrong old passphrase changes nothing.
    refused(
        &c.home,
        &c.env("not the passphrase", "a fresh passphrase nobody knows"),
        &["user", "passphrase", "--as", "Dr Oak"],
    );
    ok(
        &c.home,
        &c.env("maple syrup at dawn twice", ""),
        &["patients", "--as", "Dr Oak"],
    );
}

#[test]
fn approving_a_clinic_needs_the_authority_passphrase() {
    let c = clinic();
    let dir = tempfile::tempdir().unwrap();
    let south = dir.path().join("south");
    let request = dir.path().join("south.request");
    let invite = dir.path().join("south.invite");
    ok(
        &south,
        &c.env("", "sam's admin passphrase"),
        &[
            "clinic",
            "request",
            "--clinic",
            "South",
            "--admin",
            "Sam",
            "--out",
            request.to_str().unwrap(),
        ],
    );
    let approve = [
        "clinic",
        "approve",
        request.to_str().unwrap(),
        "--out",
        invite.to_str().unwrap(),
    ];
    let said = refused(&c.home, &c.env("", ""), &approve);
    assert!(said.contains("CARELOG_AUTHORITY_PASSPHRASE"), "{said}");
    let mut env = c.env("", "");
    env.push((
        "CARELOG_AUTHORITY_PASSPHRASE",
        "not the authority's passphrase",
    ));
    let said = refused(&c.home, &env, &approve);
    assert!(
        said.contains("is not the health authority's passphrase"),
        "{said}"
    );
    assert!(!invite.exists());
    let mut env = c.env("", "");
    env.push(("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY));
    ok(&c.home, &env, &approve);
    ok(
        &south,
        &c.env("", ""),
        &["clinic", "join", invite.to_str().unwrap()],
    );
}
