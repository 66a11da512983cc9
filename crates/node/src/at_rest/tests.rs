//! A stolen laptop or a copied home: what the files show, and what opens them.

use std::path::{Path, PathBuf};

use carelog_vault::{CardSecret, VaultError};

use super::*;
use crate::tests::{AUTHORITY_PASS, DOC_PASS, NODE_PASS, PASS, PIN, clinic};
use crate::{Node, NodeError};

/// Every file under a directory, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// The ways a secret could sit in a file: raw, hex (both cases), base64 (standard and URL-safe,
/// every alignment is covered by looking for an inner run of it).
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
            // Characters touched by the shift's padding differ; the middle is the same anywhere.
            out.push(encoded[4..encoded.len() - 4].to_vec());
        }
    }
    out
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Copies a home directory as a thief would (every file, as it is).
fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_home(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_copied_home_shows_no_name_chart_text_or_key_in_any_encoding() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let note = "Reports night sweats since the trip to Lisbon";
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            &serde_json::json!({"title": "Follow-up", "text": note}).to_string(),
            None,
        )
        .unwrap();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("node key".into(), c.node.secrets.node.seed().to_vec()),
        (
            "node signing key".into(),
            c.node.secrets.node.seed()[..32].to_vec(),
        ),
        (
            "node encryption key".into(),
            c.node.secrets.node.seed()[32..].to_vec(),
        ),
        (
            "database key".into(),
            c.node.secrets.database.expose().to_vec(),
        ),
        ("card secret".into(), c.card.secret().expose().to_vec()),
    ];
    for (who, session) in [("doctor", &doc), ("admin", &admin), ("patient", &me)] {
        secrets.push((
            format!("{who}'s private keys"),
            session.keys.seed().to_vec(),
        ));
        secrets.push((
            format!("{who}'s signing key"),
            session.keys.seed()[..32].to_vec(),
        ));
    }
    let state = c.node.ledger.state();
    let file = state.patient(&c.patient).unwrap();
    let data_key = me.opened.open_all(file, &c.patient, &[(me.user, &me.keys)]);
    for (_, key) in &data_key {
        secrets.push(("the patient's data key".into(), key.expose().to_vec()));
    }
    assert!(!data_key.is_empty());
    drop((doc, admin, me));
    // Closing saves nothing special; what a thief copies is what is on disk.
    drop(c.node);
    let copy = c.root.parent().unwrap().join("stolen");
    copy_home(&c.root, &copy);
    let files = files_under(&copy);
    assert!(files.iter().any(|(p, _)| p.ends_with("carelog.sqlite3")));
    let words = [
        "Zelda",
        "Quimby",
        "night sweats",
        "Lisbon",
        "Follow-up",
        "1980-02-29",
    ];
    for (path, bytes) in &files {
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "{} is a plain SQLite file",
            path.display()
        );
        for word in words {
            assert!(
                !contains(bytes, word.as_bytes()),
                "{} shows `{word}`",
                path.display()
            );
            let upper = word.to_uppercase();
            assert!(
                !contains(bytes, upper.as_bytes()),
                "{} shows `{upper}`",
                path.display()
            );
        }
        for (what, secret) in &secrets {
            for encoded in encodings(secret) {
                assert!(
                    !contains(bytes, &encoded),
                    "{} holds the {what}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_copy_does_not_open_without_the_node_passphrase_and_says_why() {
    let c = clinic();
    let clinic_id = c.node.clinic_id();
    drop(c.node);
    let copy = c.root.parent().unwrap().join("copy");
    copy_home(&c.root, &copy);
    let before = files_under(&copy);
    match Node::open_with(&copy, &NodeUnlock::passphrase("a guess at the passphrase")) {
        Err(NodeError::WrongNodePassphrase(path)) => {
            assert!(path.ends_with(crate::home::NODE_KEY));
            let said = NodeError::WrongNodePassphrase(path).to_string();
            assert!(said.contains("node passphrase does not open"), "{said}");
            assert!(said.contains("CARELOG_NODE_PASSPHRASE"), "{said}");
        }
        other => panic!(
            "expected a wrong node passphrase, got {:?}",
            other.map(|_| ())
        ),
    }
    // No passphrase at all (a machine without one set and without this home's keyring entry).
    let keyring = NodeUnlock::Keyring(std::sync::Arc::new(MemoryKeyring::default()));
    let said = Node::open_with(&copy, &keyring).err().unwrap().to_string();
    assert!(said.contains("sealed under a node passphrase"), "{said}");
    assert!(said.contains("$CARELOG_NODE_PASSPHRASE"), "{said}");
    assert!(said.contains("$CARELOG_NODE_PASSPHRASE_FILE"), "{said}");
    assert_eq!(files_under(&copy), before, "a refused open changes no file");
    // With the passphrase the copy is the clinic (which is why the passphrase matters).
    let opened = Node::open_with(&copy, &NodeUnlock::passphrase(NODE_PASS)).unwrap();
    assert_eq!(opened.clinic_id(), clinic_id);
}

#[test]
fn the_node_passphrase_comes_from_the_variable_or_its_file_or_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credential");
    std::fs::write(&file, "from a systemd credential\n").unwrap();
    let from = |p: Option<&str>, f: Option<&Path>| {
        NodeUnlock::from_sources(p.map(str::to_string), f, || {
            NodeUnlock::Keyring(std::sync::Arc::new(MemoryKeyring::default()))
        })
    };
    match from(Some("given"), Some(&file)).unwrap() {
        NodeUnlock::Passphrase(p) => assert_eq!(p.as_str(), "given"),
        other => panic!("{other:?}"),
    }
    match from(None, Some(&file)).unwrap() {
        NodeUnlock::Passphrase(p) => assert_eq!(p.as_str(), "from a systemd credential"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        from(Some(""), None).unwrap(),
        NodeUnlock::Keyring(_)
    ));
    assert!(matches!(from(None, None).unwrap(), NodeUnlock::Keyring(_)));
    let missing = from(None, Some(&dir.path().join("nope")))
        .err()
        .unwrap()
        .to_string();
    assert!(
        missing.contains("CARELOG_NODE_PASSPHRASE_FILE") && missing.contains("nope"),
        "{missing}"
    );
    std::fs::write(&file, "\n").unwrap();
    let empty = from(None, Some(&file)).err().unwrap().to_string();
    assert!(empty.contains("empty"), "{empty}");
}

#[test]
fn a_desktop_home_keeps_its_key_in_the_keyring_and_a_missing_entry_or_a_moved_home_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("desk");
    let keyring = std::sync::Arc::new(MemoryKeyring::default());
    let unlock = NodeUnlock::Keyring(keyring.clone());
    let (node, created) = Node::create_network_with(
        &root,
        &crate::NewNetwork {
            network: "Keyring District",
            clinic: "Desk",
            admin: "Ada Admin",
            admin_passphrase: PASS,
            authority_passphrase: AUTHORITY_PASS,
        },
        &unlock,
    )
    .unwrap();
    let home_id = node.secrets.home_id;
    drop(node);
    assert!(
        keyring
            .get(&format!("home-{}", hex::encode(home_id)))
            .unwrap()
            .is_some()
    );
    // It opens again with the keyring, and a node passphrase in the environment does not get
    // in the way (the keyring is asked, as the home was made with it).
    let node = Node::open_with(&root, &unlock).unwrap();
    node.unlock(created.admin_id, PASS).unwrap();
    drop(node);

    // The entry is gone (another computer, another account, or deleted): a clear error, and
    // nothing made in the home's place.
    keyring.clear();
    let before = files_under(&root);
    let said = Node::open_with(&root, &unlock).err().unwrap().to_string();
    assert!(said.contains("holds no key for the home"), "{said}");
    assert!(said.contains(KEYRING_SERVICE), "{said}");
    assert!(said.contains("Nothing was created"), "{said}");
    assert_eq!(files_under(&root), before);

    // Moved elsewhere, without its keyring entry: the message says where it was made.
    let moved = dir.path().join("moved-desk");
    std::fs::rename(&root, &moved).unwrap();
    let said = Node::open_with(&moved, &unlock).err().unwrap().to_string();
    assert!(said.contains("was made at"), "{said}");
    assert!(said.contains(&root.display().to_string()), "{said}");
    // Opening the old place finds no home there: it says so rather than make one.
    assert!(matches!(
        Node::open_with(&root, &unlock),
        Err(NodeError::NoHome(_))
    ));
    assert!(!root.exists(), "no new home appears at the old place");
}

#[test]
fn a_home_needs_its_node_key_file_and_never_becomes_a_new_clinic_without_it() {
    let c = clinic();
    drop(c.node);
    std::fs::remove_file(c.root.join(crate::home::NODE_KEY)).unwrap();
    let said = Node::open(&c.root).err().unwrap().to_string();
    assert!(said.contains("node.key is missing"), "{said}");
    assert!(said.contains("a new clinic is not made"), "{said}");
    assert!(!c.root.join(crate::home::NODE_KEY).exists());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The home is 0700 and every file in it 0600 (and `keys/` 0700).
#[cfg(unix)]
pub(crate) fn assert_owner_only(root: &Path) {
    assert_eq!(mode(root), 0o700, "{}", root.display());
    for (path, _) in files_under(root) {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let keys = root.join(crate::home::KEYS_DIR);
    if keys.exists() {
        assert_eq!(mode(&keys), 0o700);
    }
}

#[cfg(unix)]
#[test]
fn every_file_of_a_home_is_its_owners_alone_even_after_a_restore() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node
        .add_entry(&doc, c.patient, "vitals", r#"{"systolic":120}"#, None)
        .unwrap();
    assert_owner_only(&c.root);
    let backup = c.node.backup("a backup passphrase").unwrap();
    drop(c.node);
    // Someone loosens them; the next open closes them again.
    std::fs::set_permissions(&c.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (path, _) in files_under(&c.root) {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    Node::open(&c.root).unwrap();
    assert_owner_only(&c.root);
    // A restore lands owner-only too, wherever it goes.
    let elsewhere = c.root.parent().unwrap().join("restored");
    let restored = Node::restore(&elsewhere, &backup, "a backup passphrase").unwrap();
    drop(restored);
    assert_owner_only(&elsewhere);
}

#[test]
fn a_restored_backup_opens_with_the_node_passphrase_of_the_machine_it_lands_on() {
    let c = clinic();
    let backup = c.node.backup("a backup passphrase").unwrap();
    assert!(
        !contains(&backup, &c.node.secrets.node.seed()[..]),
        "the backup seals the node key"
    );
    let elsewhere = c.root.parent().unwrap().join("restored");
    let other = NodeUnlock::passphrase("the new server's own node passphrase");
    let restored = Node::restore_with(&elsewhere, &backup, "a backup passphrase", &other).unwrap();
    assert_eq!(restored.clinic_id(), c.node.clinic_id());
    drop(restored);
    assert!(matches!(
        Node::open_with(&elsewhere, &NodeUnlock::passphrase(NODE_PASS)),
        Err(NodeError::WrongNodePassphrase(_))
    ));
    let node = Node::open_with(&elsewhere, &other).unwrap();
    node.unlock_patient(c.patient, &c.card, PIN).unwrap();
}

#[test]
fn the_authority_key_opens_only_with_its_passphrase() {
    let c = clinic();
    let file = std::fs::read(c.root.join(crate::home::AUTHORITY_KEY)).unwrap();
    assert!(legacy_key(&file).is_none(), "not a key in hex");
    let said = c.node.open_authority("").err().unwrap().to_string();
    assert!(said.contains("set $CARELOG_AUTHORITY_PASSPHRASE"), "{said}");
    let said = c
        .node
        .open_authority("not the passphrase")
        .err()
        .unwrap()
        .to_string();
    assert!(
        said.contains("is not the health authority's passphrase"),
        "{said}"
    );
    c.node.open_authority(AUTHORITY_PASS).unwrap();
    // Another clinic's home holds no authority key at all.
    let (_, south, _) = crate::tests::two_clinics();
    let said = south
        .open_authority(AUTHORITY_PASS)
        .err()
        .unwrap()
        .to_string();
    assert!(
        said.contains("only the home that created the network"),
        "{said}"
    );
}

#[test]
fn a_pin_alone_opens_no_patients_key_store_from_a_copy_or_a_bundle() {
    let c = clinic();
    // Even someone who opened the database (the node passphrase, say) holds a store that needs
    // the card: the PIN alone is refused before any key is derived, and a search over PINs
    // with a guessed card finds nothing.
    let stored = c.node.store.sealed_keys(&c.patient.0).unwrap().unwrap();
    assert!(carelog_vault::needs_card(&stored));
    assert_eq!(
        carelog_vault::open_keys(&stored, PIN).err(),
        Some(VaultError::CardNeeded)
    );
    for guess in [[0u8; 16], [0xff; 16]] {
        assert_eq!(
            carelog_vault::open_keys_with_card(&stored, &CardSecret::from_bytes(guess), PIN).err(),
            Some(VaultError::WrongPassphrase)
        );
    }
    // The copy kept in keys/ is the same store under the home's key.
    let mirrored = std::fs::read(c.node.home.sealed_keys_file(&c.patient)).unwrap();
    assert!(carelog_vault::open_keys(&mirrored, PIN).is_err());
    assert_eq!(
        c.node.secrets.open_mirror(&c.patient.0, &mirrored).unwrap(),
        stored
    );
    // The node refuses the PIN alone, and says what is needed.
    let said = c.node.unlock(c.patient, PIN).err().unwrap().to_string();
    assert!(said.contains("$CARELOG_CARD"), "{said}");
    // A bundle carries the same card-bound store.
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    let bundle = crate::PatientBundle::from_bytes(&c.node.export_bundle(&me).unwrap()).unwrap();
    assert!(carelog_vault::needs_card(&bundle.sealed_keys));
    assert_eq!(
        carelog_vault::open_keys(&bundle.sealed_keys, PIN).err(),
        Some(VaultError::CardNeeded)
    );
    assert!(carelog_vault::open_keys_with_card(&bundle.sealed_keys, c.card.secret(), PIN).is_ok());
    // Another patient's card does not open this patient's keys, and is named.
    let other = crate::Card::issue(c.doctor);
    let said = c
        .node
        .unlock_patient(c.patient, &other, PIN)
        .err()
        .unwrap()
        .to_string();
    assert!(said.contains("belongs to"), "{said}");
}

#[test]
fn wrong_pins_are_counted_and_slowed_across_processes() {
    let c = clinic();
    // Another process on the same home (a second kiosk window, the CLI).
    let other = Node::open(&c.root).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            c.node.unlock_patient(c.patient, &c.card, "000000"),
            Err(NodeError::WrongPassphrase(_))
        ));
    }
    match other.unlock_patient(c.patient, &c.card, PIN) {
        Err(NodeError::TooManyAttempts { seconds, .. }) => assert!(seconds >= 1),
        other => panic!("expected a wait, got {:?}", other.map(|s| s.user)),
    }
}

#[test]
fn a_passphrase_or_pin_change_works_and_the_old_one_stops() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let new_pass = "winter orchard lamp seventeen";
    // A weak new passphrase is refused with advice, and nothing changes.
    let said = c
        .node
        .change_passphrase(&doc, "password1")
        .err()
        .unwrap()
        .to_string();
    assert!(said.contains("too easy to guess"), "{said}");
    c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node.change_passphrase(&doc, new_pass).unwrap();
    assert!(matches!(
        c.node.unlock(c.doctor, DOC_PASS),
        Err(NodeError::WrongPassphrase(_))
    ));
    c.node.unlock(c.doctor, new_pass).unwrap();
    // A staff member has no PIN, a patient no passphrase.
    assert!(c.node.change_pin(&doc, "135791").is_err());
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    assert!(c.node.change_passphrase(&me, new_pass).is_err());
    // The patient changes the PIN at the kiosk and keeps the card.
    assert!(
        c.node.change_pin(&me, "12345").is_err(),
        "six digits at least"
    );
    assert!(c.node.change_pin(&me, "135791").unwrap().is_none());
    assert!(matches!(
        c.node.unlock_patient(c.patient, &c.card, PIN),
        Err(NodeError::WrongPassphrase(_))
    ));
    c.node.unlock_patient(c.patient, &c.card, "135791").unwrap();
    // The copies in keys/ changed with the rows, so a recovery brings the new secrets back.
    drop(c.node);
    let node = Node::open(&c.root).unwrap();
    for (actor, bytes) in node.home.mirrored_keys(&node.secrets).unwrap() {
        assert_eq!(Some(bytes), node.store.sealed_keys(&actor.0).unwrap());
    }
    node.unlock(c.doctor, new_pass).unwrap();
    node.unlock_patient(c.patient, &c.card, "135791").unwrap();
}

#[test]
fn weak_passphrases_are_refused_with_a_reason_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    for (admin, authority, node) in [
        ("password", AUTHORITY_PASS, NODE_PASS),
        ("Ada Admin", AUTHORITY_PASS, NODE_PASS),
        (PASS, "authority", NODE_PASS),
        (PASS, AUTHORITY_PASS, "carelog123"),
    ] {
        let root = dir.path().join("weak");
        let said = Node::create_network_with(
            &root,
            &crate::NewNetwork {
                network: "Weak District",
                clinic: "North",
                admin: "Ada Admin",
                admin_passphrase: admin,
                authority_passphrase: authority,
            },
            &NodeUnlock::passphrase(node),
        )
        .err()
        .unwrap_or_else(|| panic!("{admin} / {authority} / {node} were taken"))
        .to_string();
        assert!(said.contains("too easy to guess"), "{said}");
        assert!(!root.exists(), "nothing is made for a refused passphrase");
    }
}

#[test]
fn a_card_number_names_the_patient_wherever_an_id_does() {
    let c = clinic();
    let number = c.card.number();
    assert_eq!(c.node.resolve_patient(&number).unwrap(), c.patient);
    assert_eq!(c.node.resolve_user(&number).unwrap(), c.patient);
    assert_eq!(
        c.node.resolve_patient(&number.replace(' ', "")).unwrap(),
        c.patient
    );
    // A typo is not taken for another patient.
    let mut typo: Vec<char> = number.chars().collect();
    typo[0] = if typo[0] == '1' { '2' } else { '1' };
    let typo: String = typo.into_iter().collect();
    assert!(c.node.resolve_patient(&typo).is_err());
}

/// Turns a home into one as Carelog kept it before encryption: a plain SQLite file in WAL mode,
/// `node.key` and `authority.key` in hex, the copies in `keys/` as the rows, and the patient's
/// key store sealed under the PIN alone.
fn make_it_an_older_home(
    c: crate::tests::Clinic,
) -> (tempfile::TempDir, PathBuf, carelog_ledger::ActorId) {
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    let pin_only = carelog_vault::seal_keys(
        &me.keys,
        PIN,
        carelog_vault::KdfParams::TEST_ONLY_FAST,
        [3; 16],
        [4; 12],
    );
    let mut node = c.node;
    node.store
        .write(|w| w.put_sealed_keys(&c.patient.0, &pin_only))
        .unwrap();
    let node_hex = hex::encode(node.secrets.node.seed());
    let authority_hex = hex::encode(node.open_authority(AUTHORITY_PASS).unwrap().0.seed());
    let key = *node.secrets.database.expose();
    let rows: Vec<([u8; 16], Vec<u8>)> = node
        .store
        .local_actors()
        .unwrap()
        .into_iter()
        .map(|a| (a, node.store.sealed_keys(&a).unwrap().unwrap()))
        .collect();
    drop((me, node));
    let root = c.root.clone();
    let database = root.join(crate::home::DATABASE);
    let plain = root.join("plain.sqlite3");
    {
        let conn = rusqlite::Connection::open(&database).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key)))
            .unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS plain KEY ''",
            [plain.to_str().unwrap()],
        )
        .unwrap();
        conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
            .unwrap();
        let version: i64 = conn
            .query_row("PRAGMA main.user_version", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(Some("plain"), "user_version", version)
            .unwrap();
        conn.execute_batch("DETACH DATABASE plain").unwrap();
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    std::fs::rename(&plain, &database).unwrap();
    {
        let conn = rusqlite::Connection::open(&database).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let names: i64 = conn
            .query_row("SELECT count(*) FROM blocks", [], |r| r.get(0))
            .unwrap();
        assert!(names > 0, "the plain copy holds the blocks");
    }
    assert!(carelog_store::is_plain(&database));
    std::fs::write(root.join(crate::home::NODE_KEY), node_hex).unwrap();
    std::fs::write(root.join(crate::home::AUTHORITY_KEY), authority_hex).unwrap();
    let keys = root.join(crate::home::KEYS_DIR);
    for (actor, row) in rows {
        std::fs::write(keys.join(format!("{}.sealed", hex::encode(actor))), row).unwrap();
    }
    (c._dir, root, c.patient)
}

#[test]
fn an_older_home_is_sealed_and_encrypted_in_place_on_its_first_open() {
    let c = clinic();
    let (doctor, card) = (c.doctor, c.card.clone());
    let (_dir, root, patient) = make_it_an_older_home(c);
    let before = std::fs::read(root.join(crate::home::NODE_KEY)).unwrap();
    let old_seed = legacy_key(&before).unwrap().seed();

    let mut node = Node::open(&root).unwrap();
    // node.key is sealed (no hex of the key), the database encrypted (no plain -wal left),
    // the copies in keys/ sealed under the home's key, the authority key not in the clear.
    assert_eq!(
        *node.secrets.node.seed(),
        *old_seed,
        "the clinic keeps its key"
    );
    let after = std::fs::read(root.join(crate::home::NODE_KEY)).unwrap();
    assert!(legacy_key(&after).is_none());
    assert!(!contains(&after, hex::encode(*old_seed).as_bytes()));
    assert!(!carelog_store::is_plain(&root.join(crate::home::DATABASE)));
    for (path, bytes) in files_under(&root) {
        assert!(!bytes.starts_with(b"SQLite format 3"), "{}", path.display());
        assert!(!contains(&bytes, b"Zelda"), "{}", path.display());
        assert!(
            !contains(&bytes, hex::encode(*old_seed).as_bytes()),
            "{}",
            path.display()
        );
    }
    for actor in node.home.mirrored_actors().unwrap() {
        let bytes = std::fs::read(node.home.sealed_keys_file(&actor)).unwrap();
        assert!(!mirror_is_unsealed(&bytes), "{actor}");
    }
    let authority = std::fs::read(root.join(crate::home::AUTHORITY_KEY)).unwrap();
    assert!(legacy_key(&authority).is_none());
    #[cfg(unix)]
    assert_owner_only(&root);
    // Everything is still there and verifies.
    node.verify().unwrap();
    let doc = node.unlock(doctor, DOC_PASS).unwrap();
    let view = node.chart(&doc, patient, "after sealing").unwrap();
    assert!(view.to_string().contains("Zelda"));
    // The first authority passphrase given seals the authority key; later ones must match.
    node.open_authority(AUTHORITY_PASS).unwrap();
    assert!(node.open_authority("another authority passphrase").is_err());
    node.open_authority(AUTHORITY_PASS).unwrap();
    // The patient whose keys were sealed under the PIN alone signs in with it once more, and
    // the PIN change that follows issues a card: from then on the PIN alone opens nothing.
    let me = node.unlock(patient, PIN).unwrap();
    let card_now = node.change_pin(&me, "975310").unwrap().expect("a new card");
    assert_ne!(card_now.secret(), card.secret());
    assert!(matches!(
        node.unlock(patient, "975310"),
        Err(NodeError::CardNeeded(_))
    ));
    node.unlock_patient(patient, &card_now, "975310").unwrap();
    // A second open finds nothing left to do.
    drop(node);
    let again = std::fs::read(root.join(crate::home::NODE_KEY)).unwrap();
    Node::open(&root).unwrap();
    assert_eq!(
        std::fs::read(root.join(crate::home::NODE_KEY)).unwrap(),
        again
    );
}

#[test]
fn an_older_home_interrupted_half_way_is_finished_by_the_next_open() {
    let c = clinic();
    let doctor = c.doctor;
    let (_dir, root, patient) = make_it_an_older_home(c);
    // The key was sealed, then the process stopped before the database was encrypted.
    let node = Node::open_secrets(&root, &NodeUnlock::passphrase(NODE_PASS)).unwrap();
    drop(node);
    assert!(carelog_store::is_plain(&root.join(crate::home::DATABASE)));
    let node = Node::open(&root).unwrap();
    assert!(!carelog_store::is_plain(&root.join(crate::home::DATABASE)));
    let doc = node.unlock(doctor, DOC_PASS).unwrap();
    drop(doc);
    assert!(node.ledger.state().patient(&patient).is_some());
}
