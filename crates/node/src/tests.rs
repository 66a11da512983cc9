//! Node stories: one clinic charting offline, refusals that change nothing, restarts.

use carelog_chart::AccessLevel;
use carelog_ledger::Role;

use super::*;

mod devices;
mod directory;
mod trust;
mod worklist;

pub(crate) const PASS: &str = "admin secret";
pub(crate) const DOC_PASS: &str = "doctor secret";
pub(crate) const PIN: &str = "482916";
/// The node passphrase homes made in these tests are sealed under (see `NodeUnlock::from_env`).
pub(crate) const NODE_PASS: &str = "north clinic node passphrase";
pub(crate) const AUTHORITY_PASS: &str = "test district authority passphrase";

pub(crate) struct Clinic {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) root: std::path::PathBuf,
    pub(crate) node: Node,
    pub(crate) admin: ActorId,
    pub(crate) doctor: ActorId,
    pub(crate) other_doctor: ActorId,
    pub(crate) patient: ActorId,
    /// The patient's card.
    pub(crate) card: Card,
}

pub(crate) fn clinic() -> Clinic {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("north");
    let (mut node, created) = Node::create_network(
        &root,
        &NewNetwork {
            network: "Test District",
            clinic: "North",
            admin: "Ada Admin",
            admin_passphrase: PASS,
            authority_passphrase: AUTHORITY_PASS,
        },
    )
    .unwrap();
    let admin = node.unlock(created.admin_id, PASS).unwrap();
    let doctor = node
        .add_user(
            &admin,
            Role::Doctor,
            "Dr Demo",
            Some("family medicine"),
            DOC_PASS,
        )
        .unwrap();
    let other_doctor = node
        .add_user(&admin, Role::Doctor, "Dr Other", None, DOC_PASS)
        .unwrap();
    let (patient, card) = node
        .register_patient(&admin, "Zelda Quimby", "1980-02-29", "female", PIN)
        .unwrap();
    node.assign(&admin, patient, doctor, true).unwrap();
    Clinic {
        _dir: dir,
        root,
        node,
        admin: created.admin_id,
        doctor,
        other_doctor,
        patient,
        card,
    }
}

/// A home's database opened straight with SQLite and its key (as damage, or another tool, would
/// reach it), for a closed home whose keys are sealed under [`NODE_PASS`].
pub(crate) fn raw_database(file: &std::path::Path) -> rusqlite::Connection {
    let root = file.parent().unwrap();
    let secrets = Node::open_secrets(root, &NodeUnlock::passphrase(NODE_PASS)).unwrap();
    let conn = rusqlite::Connection::open(file).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(secrets.database.expose())
    ))
    .unwrap();
    conn
}

pub(crate) fn entries(view: &serde_json::Value) -> &Vec<serde_json::Value> {
    view["entries"]
        .as_array()
        .expect("a chart view lists entries")
}

#[test]
fn custodian_charts_and_reads_back_after_a_restart() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node
        .add_entry(
            &doc,
            c.patient,
            "vitals",
            r#"{"systolic":128,"diastolic":82,"heart_rate":71}"#,
            None,
        )
        .unwrap();
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            r#"{"title":"Visit","text":"Feeling better"}"#,
            None,
        )
        .unwrap();
    let before = c.node.stats().unwrap().state_hash;
    drop(c.node);

    let mut node = Node::open(&c.root).unwrap();
    assert_eq!(
        node.stats().unwrap().state_hash,
        before,
        "replay after restart gives the same state"
    );
    let doc = node.unlock(c.doctor, DOC_PASS).unwrap();
    let view = node.chart(&doc, c.patient, "test").unwrap();
    assert_eq!(view["level"], "full");
    let kinds: Vec<&str> = entries(&view)
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"vitals") && kinds.contains(&"note"),
        "{kinds:?}"
    );
    assert!(view.to_string().contains("Feeling better"));
    node.verify().unwrap();
}

#[test]
fn a_doctor_without_access_is_refused_and_nothing_is_stored() {
    let mut c = clinic();
    let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    let blocks = c.node.stats().unwrap().blocks;
    let write = c.node.add_entry(
        &other,
        c.patient,
        "note",
        r#"{"title":"x","text":"y"}"#,
        None,
    );
    assert!(matches!(write, Err(NodeError::Denied(_))), "{write:?}");
    let read = c.node.chart(&other, c.patient, "test");
    assert!(
        matches!(read, Err(NodeError::Denied(_))),
        "{:?}",
        read.err()
    );
    assert_eq!(
        c.node.stats().unwrap().blocks,
        blocks,
        "a refusal stores nothing"
    );
    assert_eq!(
        c.node.stats().unwrap().pending,
        c.node.store.pending_count().unwrap()
    );
}

#[test]
fn every_chart_read_is_audited() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node.chart(&doc, c.patient, "test").unwrap();
    c.node.chart(&doc, c.patient, "test").unwrap();
    let reads = c
        .node
        .audit(&doc, c.patient)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "read")
        .count();
    assert_eq!(reads, 2);
}

#[test]
fn amendments_keep_the_original_visible() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let original = c
        .node
        .add_entry(
            &doc,
            c.patient,
            "vitals",
            r#"{"systolic":182,"diastolic":82}"#,
            None,
        )
        .unwrap();
    let fix = c
        .node
        .add_entry(
            &doc,
            c.patient,
            "vitals",
            r#"{"systolic":128,"diastolic":82}"#,
            Some(&original.to_string()),
        )
        .unwrap();
    let view = c.node.chart(&doc, c.patient, "test").unwrap();
    let ids: Vec<String> = entries(&view)
        .iter()
        .map(|e| e["entry_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&original.to_string()) && ids.contains(&fix.to_string()));
    let amended = entries(&view)
        .iter()
        .find(|e| e["entry_id"] == fix.to_string())
        .unwrap();
    assert_eq!(amended["amends"], original.to_string());
}

#[test]
fn an_amendment_must_name_an_entry_of_the_same_kind() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let note = c
        .node
        .add_entry(&doc, c.patient, "note", r#"{"title":"a","text":"b"}"#, None)
        .unwrap();
    let wrong_kind = c.node.add_entry(
        &doc,
        c.patient,
        "vitals",
        r#"{"systolic":120,"diastolic":80}"#,
        Some(&note.to_string()),
    );
    assert!(matches!(wrong_kind, Err(NodeError::Invalid(_))));
    let unknown = c.node.add_entry(
        &doc,
        c.patient,
        "note",
        r#"{"title":"a","text":"b"}"#,
        Some(&"ab".repeat(32)),
    );
    assert!(matches!(unknown, Err(NodeError::UnknownEntry(_))));
}

#[test]
fn wrong_passphrases_and_bad_input_are_clear_errors() {
    let mut c = clinic();
    assert!(matches!(
        c.node.unlock(c.doctor, "not it"),
        Err(NodeError::WrongPassphrase(_))
    ));
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    for (kind, data) in [
        ("xray", "{}"),
        ("vitals", "not json"),
        ("vitals", r#"{"systolic":900,"diastolic":80}"#),
        ("note", r#"{"title":"missing text"}"#),
        (
            "demographics",
            r#"{"name":"x","birth_date":"2000-01-01","sex":"other"}"#,
        ),
    ] {
        let err = c
            .node
            .add_entry(&doc, c.patient, kind, data, None)
            .unwrap_err();
        assert!(matches!(err, NodeError::Invalid(_)), "{kind} {data}: {err}");
    }
    assert!(c.node.resolve_user("Nobody").is_err());
    assert!(c.node.resolve_patient("1234").is_err());
}

#[test]
fn the_database_holds_no_plaintext_names_or_notes() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let secret = "Xylophone-shaped rash behind left ear";
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            &serde_json::json!({"title": "Skin", "text": secret}).to_string(),
            None,
        )
        .unwrap();
    c.node.chart(&doc, c.patient, "test").unwrap();
    drop(c.node);
    // Every file of the home, the mirrored key stores in keys/ included.
    let mut files = Vec::new();
    let mut dirs = vec![c.root.clone()];
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
    assert!(files.iter().any(|f| f.ends_with(home::GENESIS)));
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [
            secret.as_bytes(),
            b"Zelda Quimby".as_slice(),
            b"Xylophone".as_slice(),
            b"Quimby".as_slice(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "plaintext found on disk"
            );
        }
    }
}

#[test]
fn consent_grant_revoke_and_key_rotation() {
    let mut c = clinic();
    let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    c.node
        .request_access(&other, c.patient, AccessLevel::Sample, "referral")
        .unwrap();
    assert_eq!(c.node.pending_requests(&me, None).unwrap().len(), 1);
    c.node
        .grant(&me, c.patient, c.other_doctor, AccessLevel::Sample, None)
        .unwrap();
    assert!(
        c.node.pending_requests(&me, None).unwrap().is_empty(),
        "the grant answers the request"
    );
    let view = c.node.chart(&other, c.patient, "test").unwrap();
    assert_eq!(view["level"], "sample");
    assert!(
        !view.to_string().contains("Zelda Quimby"),
        "sample level hides the name"
    );

    let epoch = c.node.revoke(&me, c.patient, c.other_doctor).unwrap();
    assert_eq!(epoch, 1);
    assert!(matches!(
        c.node.chart(&other, c.patient, "test"),
        Err(NodeError::Denied(_))
    ));
    let file = c.node.ledger().state().patient(&c.patient).unwrap();
    let current = file.current_key().unwrap();
    assert!(
        !current.wraps.contains_key(&c.other_doctor),
        "the new key is not wrapped for the revoked reader"
    );
    assert!(current.wraps.contains_key(&c.doctor) && current.wraps.contains_key(&c.patient));
    // Revoking again: nothing to revoke, nothing stored.
    let blocks = c.node.stats().unwrap().blocks;
    assert!(c.node.revoke(&me, c.patient, c.other_doctor).is_err());
    assert_eq!(c.node.stats().unwrap().blocks, blocks);
}

#[test]
fn only_the_patient_or_custodian_changes_access() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    for who in [&admin, &other] {
        let r = c
            .node
            .grant(who, c.patient, c.other_doctor, AccessLevel::Full, None);
        assert!(matches!(r, Err(NodeError::Denied(_))), "{:?}", r.err());
    }
    let custodian = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node
        .grant(
            &custodian,
            c.patient,
            c.other_doctor,
            AccessLevel::Full,
            None,
        )
        .unwrap();
    c.node
        .add_entry(
            &other,
            c.patient,
            "note",
            r#"{"title":"Consult","text":"Seen"}"#,
            None,
        )
        .unwrap();
}

#[test]
fn a_damaged_block_is_named_when_the_home_opens() {
    let c = clinic();
    drop(c.node);
    let db = c.root.join(home::DATABASE);
    // Damage reaches the file the way a disk fault or an editor would: straight through SQLite.
    let conn = raw_database(&db);
    let (hash, mut bytes): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT hash, bytes FROM blocks ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    conn.execute(
        "UPDATE blocks SET bytes = ?1 WHERE hash = ?2",
        rusqlite::params![bytes, hash],
    )
    .unwrap();
    drop(conn);
    match Node::open(&c.root) {
        Err(NodeError::DamagedBlock { block, .. }) => assert_eq!(block, hex::encode(&hash)),
        Err(other) => panic!("expected a damaged block error, got {other}"),
        Ok(_) => panic!("a damaged home must not open silently"),
    }
}

/// North founds the network and approves South, which joins from the invite.
pub(crate) fn two_clinics() -> (Clinic, Node, ActorId) {
    let north = clinic();
    let south_root = north.root.parent().unwrap().join("south");
    let request = north.root.parent().unwrap().join("south-request.json");
    Node::request_join(&south_root, "South", "Sam Admin", PASS, &request).unwrap();
    let mut north = north;
    let authority = north.node.open_authority(AUTHORITY_PASS).unwrap();
    let (_, invite) = north
        .node
        .approve(&authority, &std::fs::read(&request).unwrap(), &[])
        .unwrap();
    let south = Node::join(&south_root, &invite).unwrap();
    let sam = south.resolve_user("Sam Admin").unwrap();
    (north, south, sam)
}

#[test]
fn two_processes_on_one_home_never_fork_the_clinic_chain() {
    let c = clinic();
    let mut first = c.node;
    let mut second = Node::open(&c.root).unwrap();
    let doc1 = first.unlock(c.doctor, DOC_PASS).unwrap();
    let doc2 = second.unlock(c.doctor, DOC_PASS).unwrap();
    first
        .add_entry(
            &doc1,
            c.patient,
            "note",
            r#"{"title":"one","text":"first process"}"#,
            None,
        )
        .unwrap();
    second
        .add_entry(
            &doc2,
            c.patient,
            "note",
            r#"{"title":"two","text":"second process"}"#,
            None,
        )
        .unwrap();
    first.refresh().unwrap();
    assert_eq!(
        first.stats().unwrap().state_hash,
        second.stats().unwrap().state_hash
    );
    let reopened = Node::open(&c.root).unwrap();
    reopened.verify().unwrap();
    assert_eq!(
        reopened.stats().unwrap().state_hash,
        second.stats().unwrap().state_hash
    );
}

#[test]
fn a_block_sealed_by_another_writer_after_signing_is_worked_around_not_refused() {
    let c = clinic();
    let mut window = c.node;
    let mut service = Node::open(&c.root).unwrap();
    let doc1 = window.unlock(c.doctor, DOC_PASS).unwrap();
    let doc2 = service.unlock(c.doctor, DOC_PASS).unwrap();
    let note = r#"{"title":"one","text":"signed before the other writer sealed"}"#;
    let signed = window
        .entry_for(&doc1, c.patient, "note", note, None)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    service
        .add_entry(
            &doc2,
            c.patient,
            "note",
            r#"{"title":"two","text":"x"}"#,
            None,
        )
        .unwrap();
    // Committed as signed, the block would link to a block later than its transaction.
    assert!(matches!(
        window.commit(vec![signed], &[]),
        Err(NodeError::Stale)
    ));
    // Built and signed again, it goes through; and `add_entry` does that by itself.
    window
        .add_entry(&doc1, c.patient, "note", note, None)
        .unwrap();
    let view = window.chart(&doc1, c.patient, "test").unwrap();
    assert_eq!(view["entries"].as_array().unwrap().len(), 3);
    Node::open(&c.root).unwrap().verify().unwrap();
}

#[test]
fn blocks_from_a_peer_are_validated_stored_and_leave_the_outbox_when_acknowledged() {
    let (mut north, mut south, _) = two_clinics();
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "vitals",
            r#"{"systolic":120,"diastolic":80}"#,
            None,
        )
        .unwrap();
    assert!(north.node.stats().unwrap().pending > 0);
    let blocks = blocks_of(&north.node);
    let accepted = south.accept_blocks(blocks).unwrap();
    assert!(!accepted.blocks.is_empty() && accepted.refused.is_none());
    assert_eq!(
        south.stats().unwrap().state_hash,
        north.node.stats().unwrap().state_hash
    );
    let (height, _) = north
        .node
        .ledger()
        .dag()
        .head_of(&north.node.clinic_id())
        .unwrap();
    north.node.mark_peer_holds(Some(height)).unwrap();
    assert_eq!(north.node.stats().unwrap().pending, 0);
    assert!(north.node.last_sync().unwrap().is_some());
    // South restarts and still holds everything.
    let root = south.home().root().to_path_buf();
    drop(south);
    let south = Node::open(&root).unwrap();
    assert_eq!(
        south.stats().unwrap().state_hash,
        north.node.stats().unwrap().state_hash
    );
}

#[test]
fn a_forged_block_from_a_peer_is_refused_and_nothing_is_stored() {
    let (mut north, mut south, _) = two_clinics();
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "note",
            r#"{"title":"a","text":"b"}"#,
            None,
        )
        .unwrap();
    let mut blocks = blocks_of(&north.node);
    let last = blocks.last_mut().unwrap();
    last.signature.0[3] ^= 1;
    let before = south.stats().unwrap();
    let accepted = south.accept_blocks(blocks).unwrap();
    assert!(accepted.refused.is_some());
    let after = Node::open(south.home().root()).unwrap().stats().unwrap();
    assert_eq!(after.blocks, before.blocks + accepted.blocks.len());
    assert!(
        !south
            .ledger()
            .contains(&north.node.ledger().blocks_in_order().last().unwrap().hash())
    );
}

#[test]
fn a_patient_carries_their_record_to_a_clinic_with_no_link() {
    let (mut north, mut south, sam) = two_clinics();
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "allergy",
            r#"{"substance":"Latex","reaction":"hives"}"#,
            None,
        )
        .unwrap();
    let me = north
        .node
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    let bundle = north.node.export_bundle(&me).unwrap();
    assert!(
        !String::from_utf8_lossy(&bundle).contains("Latex"),
        "the bundle carries ciphertext only"
    );

    let (patient, added) = south.import_bundle(&bundle).unwrap();
    assert_eq!(patient, north.patient);
    assert!(added > 0);
    // At South's kiosk the patient signs in with the PIN and grants South's doctor full access.
    let admin = south.unlock(sam, PASS).unwrap();
    let south_doc = south
        .add_user(&admin, Role::Doctor, "Dr South", None, DOC_PASS)
        .unwrap();
    let me_south = south
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    south
        .grant(&me_south, patient, south_doc, AccessLevel::Full, None)
        .unwrap();
    let dr = south.unlock(south_doc, DOC_PASS).unwrap();
    let view = south.chart(&dr, patient, "test").unwrap();
    assert!(
        view.to_string().contains("Latex"),
        "South's doctor reads the carried record"
    );

    // A tampered bundle is refused.
    let mut text = String::from_utf8(bundle).unwrap();
    let at = text.find("\"signature\":\"").unwrap() + 14;
    let flipped = if &text[at..at + 1] == "0" { "1" } else { "0" };
    text.replace_range(at..at + 1, flipped);
    assert!(south.import_bundle(text.as_bytes()).is_err());
    assert!(south.import_bundle(b"{not a bundle").is_err());
}

#[test]
fn repeated_wrong_passphrases_slow_down_and_a_right_one_resets() {
    let c = clinic();
    for _ in 0..3 {
        assert!(matches!(
            c.node.unlock(c.doctor, "guess"),
            Err(NodeError::WrongPassphrase(_))
        ));
    }
    // The fourth try comes too soon, even with the right passphrase, and from a new process.
    let again = Node::open(&c.root).unwrap();
    match again.unlock(c.doctor, DOC_PASS) {
        Err(NodeError::TooManyAttempts { seconds, .. }) => assert!((1..=1).contains(&seconds)),
        other => panic!("expected a wait, got {:?}", other.err()),
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    again.unlock(c.doctor, DOC_PASS).unwrap();
    // The count was reset: three more free tries.
    for _ in 0..3 {
        assert!(matches!(
            again.unlock(c.doctor, "guess"),
            Err(NodeError::WrongPassphrase(_))
        ));
    }
    assert_eq!(unlock_delay_ms(3), Some(1000));
    assert_eq!(unlock_delay_ms(5), Some(4000));
    assert_eq!(unlock_delay_ms(40), Some(300_000));
    assert_eq!(unlock_delay_ms(2), None);
}

#[test]
fn a_backup_restores_into_a_home_that_verifies_and_reads() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            r#"{"title":"Kept","text":"Survives a restore"}"#,
            None,
        )
        .unwrap();
    let sealed = c.node.backup("backup passphrase").unwrap();
    assert!(
        !sealed.windows(6).any(|w| w == b"SQLite"),
        "the backup is sealed"
    );
    let elsewhere = c.root.parent().unwrap().join("restored");
    assert!(matches!(
        Node::restore(&elsewhere, &sealed, "wrong passphrase"),
        Err(NodeError::WrongPassphrase(_))
    ));
    let mut restored = Node::restore(&elsewhere, &sealed, "backup passphrase").unwrap();
    assert_eq!(
        restored.stats().unwrap().state_hash,
        c.node.stats().unwrap().state_hash
    );
    // A one-clinic network: no peer holds more of its chain than the backup.
    restored.skip_catch_up().unwrap();
    let doc = restored.unlock(c.doctor, DOC_PASS).unwrap();
    assert!(
        restored
            .chart(&doc, c.patient, "test")
            .unwrap()
            .to_string()
            .contains("Survives a restore")
    );
    assert!(
        Node::restore(&elsewhere, &sealed, "backup passphrase").is_err(),
        "restore never overwrites a home"
    );
}

/// Every block a node holds, in order, as a peer would be sent them.
fn blocks_of(node: &Node) -> Vec<Block> {
    node.ledger()
        .blocks_in_order()
        .map(std::sync::Arc::unwrap_or_clone)
        .collect()
}

fn exchange(a: &mut Node, b: &mut Node) {
    let from_a = blocks_of(a);
    let from_b = blocks_of(b);
    assert!(b.accept_blocks(from_a).unwrap().refused.is_none());
    assert!(a.accept_blocks(from_b).unwrap().refused.is_none());
}

#[test]
fn concurrent_summary_edits_at_two_offline_clinics_merge_and_show_the_conflict() {
    let (mut north, mut south, sam) = two_clinics();
    let admin = south.unlock(sam, PASS).unwrap();
    let south_doctor = south
        .add_user(&admin, Role::Doctor, "Dr South", None, DOC_PASS)
        .unwrap();
    exchange(&mut north.node, &mut south);
    let custodian = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    let med = north
        .node
        .add_entry(
            &custodian,
            north.patient,
            "medication",
            r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30}"#,
            None,
        )
        .unwrap();
    let me = north
        .node
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    north
        .node
        .grant(&me, north.patient, south_doctor, AccessLevel::Full, None)
        .unwrap();
    exchange(&mut north.node, &mut south);

    // Offline from each other, both clinics stop the same medication, differently.
    let at_south = south.unlock(south_doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(&custodian, north.patient, "medication", r#"{"drug":"Metformin 500 mg","start":"2026-01-10","end":"2026-03-01","stop_reason":"nausea"}"#, Some(&med.to_string()))
        .unwrap();
    south
        .add_entry(&at_south, north.patient, "medication", r#"{"drug":"Metformin 500 mg","start":"2026-01-10","end":"2026-02-15","stop_reason":"switched to insulin"}"#, Some(&med.to_string()))
        .unwrap();
    exchange(&mut north.node, &mut south);
    assert_eq!(
        north.node.stats().unwrap().state_hash,
        south.stats().unwrap().state_hash
    );

    let view_north = north.node.chart(&custodian, north.patient, "test").unwrap();
    let view_south = south.chart(&at_south, north.patient, "test").unwrap();
    let conflicts = &view_north["summary"]["conflicts"];
    assert!(
        conflicts.as_array().is_some_and(|c| !c.is_empty()),
        "the conflict is shown: {}",
        view_north["summary"]
    );
    assert_eq!(
        conflicts, &view_south["summary"]["conflicts"],
        "both clinics show the same conflict"
    );
    let text = conflicts.to_string();
    assert!(
        text.contains("2026-03-01") && text.contains("2026-02-15"),
        "{text}"
    );

    // The chart lists the conflict with the entry to amend; the clinician's choice resolves it.
    let listed = view_north["conflicts"].as_array().unwrap().clone();
    assert!(!listed.is_empty(), "{}", view_north["conflicts"]);
    let writer = listed[0]["entry_id"].as_str().expect("the entry to amend");
    north
        .node
        .add_entry(
            &custodian,
            north.patient,
            "medication",
            r#"{"drug":"Metformin 500 mg","start":"2026-01-10","stop":"2026-02-15","stop_reason":"switched to insulin"}"#,
            Some(writer),
        )
        .unwrap();
    exchange(&mut north.node, &mut south);
    let after = north.node.chart(&custodian, north.patient, "test").unwrap();
    assert_eq!(
        after["conflicts"],
        serde_json::json!([]),
        "resolved by the amendment"
    );
    assert_eq!(after["past_medications"][0]["end"], "2026-02-15");
    let at_south_after = south.chart(&at_south, north.patient, "test").unwrap();
    assert_eq!(at_south_after["conflicts"], serde_json::json!([]));
}

#[test]
fn a_cloned_clinic_is_settled_alike_everywhere_the_proof_kept_and_the_losing_machine_stops() {
    let (mut north, mut south, _) = two_clinics();
    // North's machine is cloned from a backup while the original keeps working: both seal the
    // next height of North's chain with the same node key.
    let sealed = north.node.backup("backup passphrase").unwrap();
    let twin_root = north.root.parent().unwrap().join("north-twin");
    let mut twin = Node::restore(&twin_root, &sealed, "backup passphrase").unwrap();
    // Told it has no peers to catch up from, the twin seals at once.
    twin.skip_catch_up().unwrap();
    for (node, text) in [(&mut north.node, "original"), (&mut twin, "twin")] {
        let doc = node.unlock(north.doctor, DOC_PASS).unwrap();
        node.add_entry(
            &doc,
            north.patient,
            "note",
            &serde_json::json!({"title": "fork", "text": text}).to_string(),
            None,
        )
        .unwrap();
    }
    let original = blocks_of(&north.node);
    let forked = blocks_of(&twin);
    assert!(
        south
            .accept_blocks(original.clone())
            .unwrap()
            .refused
            .is_none()
    );
    assert!(south.evidence().unwrap().is_empty());
    // The twin's block is taken too: it is its own proof, and the ledger settles which branch
    // stands, the same way on every replica whichever came first.
    assert!(
        south
            .accept_blocks(forked.clone())
            .unwrap()
            .refused
            .is_none()
    );
    south.accept_blocks(forked.clone()).unwrap();
    assert!(north.node.accept_blocks(forked).unwrap().refused.is_none());
    let taken = twin.accept_blocks(original).unwrap();
    assert!(taken.refused.is_none() && !taken.missing_links, "{taken:?}");
    let hashes: Vec<_> = [&north.node, &twin, &south]
        .iter()
        .map(|n| n.stats().unwrap().state_hash)
        .collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
    // The machine whose block lost stops sealing and says why; the other goes on.
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    let twin_doc = twin.unlock(north.doctor, DOC_PASS).unwrap();
    let note = r#"{"title":"after","text":"after the fork"}"#;
    let outcomes = [
        north
            .node
            .add_entry(&doc, north.patient, "note", note, None),
        twin.add_entry(&twin_doc, north.patient, "note", note, None),
    ];
    let stopped: Vec<&NodeError> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(stopped.len(), 1, "{outcomes:?}");
    assert!(
        matches!(stopped[0], NodeError::ChainForked { .. }),
        "{}",
        stopped[0]
    );
    assert!(stopped[0].to_string().contains("replace-key"));

    let root = south.home().root().to_path_buf();
    drop(south);
    let south = Node::open(&root).unwrap();
    south.verify().unwrap();
    let evidence = south.evidence().unwrap();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let e = &evidence[0];
    assert_eq!(e.kind, "equivocation");
    assert_eq!(e.clinic, "North");
    assert_eq!(e.clinic_id, north.node.clinic_id().to_string());
    assert_ne!(e.first, e.second);
    assert!(e.proven, "both blocks carry North's seal");
}

#[test]
fn a_restored_clinic_seals_nothing_until_it_has_caught_up_with_a_peer() {
    let (mut north, mut south, _) = two_clinics();
    let sealed = north.node.backup("backup passphrase").unwrap();
    // After the backup North charts once more, and South receives it.
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "note",
            r#"{"title":"after","text":"written after the backup"}"#,
            None,
        )
        .unwrap();
    let blocks = blocks_of(&north.node);
    assert!(south.accept_blocks(blocks).unwrap().refused.is_none());
    let (north_head, _) = north
        .node
        .ledger()
        .dag()
        .head_of(&north.node.clinic_id())
        .unwrap();

    // North's disk fails; the backup is restored on a new machine.
    let new_root = north.root.parent().unwrap().join("north-restored");
    drop(north.node);
    let mut restored = Node::restore(&new_root, &sealed, "backup passphrase").unwrap();
    assert!(restored.awaiting_catch_up().unwrap());
    let doc = restored.unlock(north.doctor, DOC_PASS).unwrap();
    let refused = restored
        .add_entry(
            &doc,
            north.patient,
            "note",
            r#"{"title":"too early","text":"would fork the chain"}"#,
            None,
        )
        .unwrap_err();
    assert!(matches!(refused, NodeError::AwaitingCatchUp), "{refused}");
    assert!(refused.to_string().contains("sync"), "{refused}");
    let before = restored.stats().unwrap();

    // A sync: South says it holds North's chain up to its head, then sends its blocks.
    restored.mark_peer_holds(Some(north_head)).unwrap();
    assert!(
        restored.awaiting_catch_up().unwrap(),
        "South holds a block of North's this home lacks"
    );
    let from_south = blocks_of(&south);
    restored.accept_blocks(from_south).unwrap();
    assert!(!restored.awaiting_catch_up().unwrap());
    assert_eq!(restored.stats().unwrap().blocks, before.blocks + 1);

    // Now it continues North's chain where the network has it: South takes the new block.
    restored
        .add_entry(
            &doc,
            north.patient,
            "note",
            r#"{"title":"after restore","text":"continues the chain"}"#,
            None,
        )
        .unwrap();
    let from_restored = blocks_of(&restored);
    let accepted = south.accept_blocks(from_restored).unwrap();
    assert!(accepted.refused.is_none(), "{:?}", accepted.refused);
    assert!(south.evidence().unwrap().is_empty());
    assert_eq!(
        south.stats().unwrap().state_hash,
        restored.stats().unwrap().state_hash
    );
}

/// Runs SQL on a closed home's database (as damage or another tool would).
fn alter_database(root: &std::path::Path, sql: &str) {
    let db = raw_database(&root.join("carelog.sqlite3"));
    db.execute_batch(sql).unwrap();
}

#[test]
fn opening_reports_the_blocks_it_checks_and_applies_beyond_the_saved_state() {
    let c = clinic();
    let blocks = c.node.ledger().block_count();
    drop(c.node);
    let unlock = NodeUnlock::passphrase(NODE_PASS);
    Node::forget_saved_state(&c.root, &unlock).unwrap();
    let mut seen = Vec::new();
    let node = Node::open_with_progress(&c.root, &unlock, &mut |done, total| {
        seen.push((done, total))
    })
    .unwrap();
    // Every block but the genesis block, which opens the ledger.
    let to_apply = blocks - 1;
    assert_eq!(seen.first(), Some(&(0, to_apply)));
    assert_eq!(seen.last(), Some(&(to_apply, to_apply)));
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 < w[1].0 && w[1].1 == to_apply),
        "reports only go forward: {seen:?}"
    );
    assert_eq!(node.ledger().block_count(), blocks);

    // With a saved state that covers every block, there is nothing to apply.
    let mut node = node;
    assert!(node.save_state().unwrap());
    drop(node);
    let mut seen = Vec::new();
    Node::open_with_progress(&c.root, &unlock, &mut |done, total| {
        seen.push((done, total))
    })
    .unwrap();
    assert_eq!(seen, [(0, 0)]);
}

#[test]
fn a_saved_state_opens_the_same_node_and_later_blocks_apply_on_top() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let vitals = r#"{"systolic":128,"diastolic":82,"heart_rate":71}"#;
    c.node
        .add_entry(&doc, c.patient, "vitals", vitals, None)
        .unwrap();
    assert!(c.node.save_state().unwrap());
    let saved = c.node.ledger.tx_count();
    // Written after the save: the next open reads it from the blocks.
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            r#"{"title":"Later","text":"After the save"}"#,
            None,
        )
        .unwrap();
    let state = c.node.stats().unwrap().state_hash;
    drop(c.node);

    let mut node = Node::open(&c.root).unwrap();
    assert_eq!(node.saved_txs, saved, "opened from the saved state");
    assert_eq!(node.stats().unwrap().state_hash, state);
    let doc = node.unlock(c.doctor, DOC_PASS).unwrap();
    let view = node.chart(&doc, c.patient, "follow-up").unwrap();
    // Registration's demographics, the vitals from the saved state, the note from a block.
    assert_eq!(entries(&view).len(), 3, "{view}");
    assert!(view.to_string().contains("After the save"));
    let state = node.stats().unwrap().state_hash;
    node.verify().unwrap();
    drop(node);

    // A part altered, cut or missing is not used: the node replays its blocks instead.
    let damage = [
        "UPDATE saved_state SET bytes = zeroblob(length(bytes)) WHERE part = 1",
        "UPDATE saved_state SET bytes = substr(bytes, 1, 3) WHERE part = 3",
        "DELETE FROM saved_state WHERE part = 2",
        "UPDATE saved_state SET seal = zeroblob(32) WHERE part = 0",
    ];
    for sql in damage {
        let mut node = Node::open(&c.root).unwrap();
        assert!(node.save_state().unwrap());
        drop(node);
        alter_database(&c.root, sql);
        let node = Node::open(&c.root).unwrap();
        assert_eq!(node.saved_txs, 0, "after `{sql}` the blocks are replayed");
        assert_eq!(node.stats().unwrap().state_hash, state, "after `{sql}`");
    }
}

#[test]
fn a_large_home_saves_its_state_when_it_closes_and_opens_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let made = synthetic::build(
        &root,
        &synthetic::Spec {
            transactions: saved::SAVE_EVERY + 2_000,
            clinics: 4,
            doctors_per_clinic: 2,
            patients: 200,
            block_size: 256,
            passphrase: PASS,
            unlock: &NodeUnlock::passphrase(NODE_PASS),
        },
        &mut |_, _| {},
    )
    .unwrap();
    let restored = Node::open(&root).unwrap();
    assert_eq!(
        restored.saved_txs, made.transactions,
        "the builder's node saved on closing"
    );
    assert_eq!(restored.stats().unwrap().state_hash, made.state_hash);
    assert_eq!(restored.ledger.dag().order(), {
        alter_database(&root, "DELETE FROM saved_state");
        let replayed = Node::open(&root).unwrap();
        assert_eq!(replayed.saved_txs, 0);
        assert_eq!(replayed.stats().unwrap().state_hash, made.state_hash);
        replayed.ledger.dag().order().to_vec()
    });
    let mut restored = restored;
    let doctor = restored.unlock(made.doctor, PASS).unwrap();
    let view = restored.chart(&doctor, made.patient, "check").unwrap();
    assert!(!entries(&view).is_empty(), "{view}");
}

#[test]
fn a_part_of_an_older_save_spliced_into_the_newer_one_is_not_used() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    assert!(c.node.save_state().unwrap());
    let part = |root: &std::path::Path, n: i64| -> (Vec<u8>, Vec<u8>) {
        let db = raw_database(&root.join("carelog.sqlite3"));
        db.query_row(
            "SELECT bytes, seal FROM saved_state WHERE part = ?1",
            [n],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let last: i64 = 3;
    let (old_bytes, old_seal) = part(&c.root, last);
    c.node.chart(&doc, c.patient, "visit").unwrap();
    assert!(c.node.save_state().unwrap());
    drop(c.node);
    // Each part carries the seal of its own save; a writer without the node key can still
    // copy rows from an older save of the same home.
    alter_database(
        &c.root,
        &format!(
            "UPDATE saved_state SET bytes = X'{}', seal = X'{}' WHERE part = {last}",
            hex::encode(&old_bytes),
            hex::encode(&old_seal)
        ),
    );
    let node = Node::open(&c.root).unwrap();
    assert_eq!(
        node.saved_state_txs(),
        0,
        "the spliced save is replayed instead"
    );
    node.verify().unwrap();
}

#[test]
fn verify_drops_a_saved_state_that_differs_from_the_blocks() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    assert!(c.node.save_state().unwrap());
    let part = |root: &std::path::Path, n: i64| -> Vec<u8> {
        let db = raw_database(&root.join("carelog.sqlite3"));
        db.query_row("SELECT bytes FROM saved_state WHERE part = ?1", [n], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let last: i64 = 3;
    let before_the_read = part(&c.root, last);
    c.node.chart(&doc, c.patient, "visit").unwrap();
    assert!(c.node.save_state().unwrap());
    // A patient's page from before the audited read, under a good seal of this save (made
    // with the node key): only a replay tells.
    let key = saved::seal_key(&c.node.secrets.node);
    let save = saved::save_of(&part(&c.root, 0));
    let seal = saved::seal(&key, &save, last, &before_the_read);
    drop(c.node);
    let db = raw_database(&c.root.join("carelog.sqlite3"));
    db.execute(
        "UPDATE saved_state SET bytes = ?1, seal = ?2 WHERE part = ?3",
        rusqlite::params![before_the_read, &seal[..], last],
    )
    .unwrap();
    drop(db);

    let node = Node::open(&c.root).unwrap();
    assert!(
        node.saved_state_txs() > 0,
        "the altered state was read back"
    );
    let err = node.verify().unwrap_err().to_string();
    assert!(
        err.contains("differs from a replay of its blocks, which verify; it has been dropped"),
        "{err}"
    );
    drop(node);
    let node = Node::open(&c.root).unwrap();
    assert_eq!(
        node.saved_state_txs(),
        0,
        "dropped: the blocks are replayed"
    );
    node.verify().unwrap();
}

#[test]
fn a_sessions_opened_keys_serve_only_the_holder_that_opened_them() {
    let c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    let file = c.node.ledger.state().patient(&c.patient).unwrap();
    let epoch = file.current_key().unwrap().id;
    let mine = [(doc.user, &doc.keys)];
    let first = doc.opened.open_epoch(file, &c.patient, &epoch, &mine);
    assert!(first.is_some(), "the custodian holds a wrap");
    assert_eq!(doc.opened.0.len(), 1, "kept for the next view");
    let again = doc.opened.open_epoch(file, &c.patient, &epoch, &mine);
    assert_eq!(format!("{again:?}"), format!("{first:?}"));
    // The other doctor holds no wrap of this key: what the session opened is not theirs.
    let theirs = [(other.user, &other.keys)];
    assert!(
        doc.opened
            .open_epoch(file, &c.patient, &epoch, &theirs)
            .is_none()
    );
    assert!(
        other
            .opened
            .open_epoch(file, &c.patient, &epoch, &theirs)
            .is_none()
    );
}

#[test]
fn a_session_opens_each_entry_once_and_still_sees_what_changes() {
    let mut c = clinic();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let vitals = r#"{"systolic":118,"diastolic":76,"heart_rate":64}"#;
    let first_id = c
        .node
        .add_entry(&doc, c.patient, "vitals", vitals, None)
        .unwrap();
    let first = c.node.chart(&doc, c.patient, "visit").unwrap();
    let opened = doc.read.0.len();
    assert_eq!(
        opened,
        entries(&first).len(),
        "each entry opened once, and kept"
    );
    // Another session's correction: the next view shows it and marks what it amends.
    let other = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let fixed = r#"{"systolic":128,"diastolic":76,"heart_rate":64}"#;
    c.node
        .add_entry(
            &other,
            c.patient,
            "vitals",
            fixed,
            Some(&first_id.to_string()),
        )
        .unwrap();
    let second = c.node.chart(&doc, c.patient, "visit").unwrap();
    assert_eq!(entries(&second).len(), entries(&first).len() + 1);
    assert_eq!(
        doc.read.0.len(),
        opened + 1,
        "only the new entry was opened"
    );
    let amended = entries(&second)
        .iter()
        .find(|e| e["entry_id"] == first_id.to_string())
        .unwrap();
    assert!(amended.get("amended_by").is_some(), "{amended}");
    // A fresh session shows exactly the same chart.
    let fresh = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    assert_eq!(
        c.node.chart(&fresh, c.patient, "visit").unwrap()["entries"],
        second["entries"]
    );
}
