//! The node's side of trusting no participant too much: bad entries set aside, people disabled,
//! clinics suspended, keys replaced, records moved, and keys rotated when readers change.

use carelog_chart::AccessLevel;
use carelog_ledger::{Payload, Role};

use super::*;

fn note(node: &mut Node, who: &Session, patient: ActorId, text: &str) -> carelog_ledger::TxId {
    node.add_entry(
        who,
        patient,
        "note",
        &format!(r#"{{"title":"Visit","text":"{text}"}}"#),
        None,
    )
    .unwrap()
}

fn texts(view: &serde_json::Value) -> Vec<String> {
    entries(view)
        .iter()
        .filter_map(|e| e["data"]["text"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn an_entry_that_does_not_open_is_set_aside_and_the_rest_of_the_chart_still_works() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    c.node
        .assign(&admin, c.patient, c.other_doctor, false)
        .unwrap();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let hostile = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    note(&mut c.node, &doc, c.patient, "Before");
    c.node
        .add_entry(
            &doc,
            c.patient,
            "allergy",
            r#"{"substance":"Penicillin","reaction":"rash"}"#,
            None,
        )
        .unwrap();
    // An attending doctor (full access, so the ledger takes it) posts noise under the
    // patient's current key.
    let key = c
        .node
        .ledger()
        .state()
        .patient(&c.patient)
        .unwrap()
        .current_key()
        .unwrap()
        .id;
    let noise = c.node.sign(
        &hostile,
        Payload::ChartEntry {
            patient: c.patient,
            kind: carelog_chart::EntryKind::Note,
            key,
            sealed: vec![0x5a; 120],
            amends: None,
        },
    );
    let noise_id = noise.id();
    c.node.commit(vec![noise], &[]).unwrap();
    note(&mut c.node, &doc, c.patient, "After");

    let view = c.node.chart(&doc, c.patient, "test").unwrap();
    assert_eq!(texts(&view), ["Before", "After"]);
    let set_aside = view["quarantined"].as_array().unwrap();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0]["entry_id"], noise_id.to_string());
    assert!(
        set_aside[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("1 entry from North at "),
        "{set_aside:?}"
    );
    assert_eq!(view["summary"]["allergies"].as_array().unwrap().len(), 1);
    // Summary changes and exports still work.
    c.node
        .add_entry(
            &doc,
            c.patient,
            "condition",
            r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
            None,
        )
        .unwrap();
    let fhir = c.node.export(&doc, c.patient, Format::Fhir).unwrap();
    assert!(fhir.contains("Type 2 diabetes"));
}

#[test]
fn a_disabled_doctor_cannot_sign_in_and_their_patients_keys_rotate_without_them() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    c.node
        .assign(&admin, c.patient, c.other_doctor, false)
        .unwrap();
    let leaving = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    note(&mut c.node, &leaving, c.patient, "Written before leaving");
    let rotated = c
        .node
        .disable_user(&admin, c.other_doctor, "left the clinic")
        .unwrap();
    assert_eq!(rotated, 1);
    let Err(err) = c.node.unlock(c.other_doctor, DOC_PASS) else {
        panic!("a disabled user signed in");
    };
    assert!(
        err.to_string().contains("disabled") && err.to_string().contains("left the clinic"),
        "{err}"
    );
    // A session opened before the disabling can neither write nor read now.
    assert!(matches!(
        c.node.add_entry(
            &leaving,
            c.patient,
            "note",
            r#"{"title":"x","text":"y"}"#,
            None
        ),
        Err(NodeError::Denied(_))
    ));
    assert!(c.node.chart(&leaving, c.patient, "test").is_err());
    // What is written afterwards is sealed with a key they were never given.
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    note(&mut c.node, &doc, c.patient, "Written after");
    let file = c.node.ledger().state().patient(&c.patient).unwrap();
    let after = file.entries().last().unwrap();
    let epoch = file.entry_key(after).unwrap();
    assert!(!epoch.wraps.contains_key(&c.other_doctor));
    assert!(epoch.wraps.contains_key(&c.doctor) && epoch.wraps.contains_key(&c.patient));
    // Disabling someone twice, or someone at another clinic, changes nothing.
    let blocks = c.node.stats().unwrap().blocks;
    assert!(
        c.node
            .disable_user(&admin, c.other_doctor, "again")
            .is_err()
    );
    assert_eq!(c.node.stats().unwrap().blocks, blocks);
}

#[test]
fn a_replaced_key_opens_nothing_written_after_the_replacement() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    note(&mut c.node, &doc, c.patient, "Before the theft");
    let stolen_keys = doc.keys.seed();
    c.node
        .replace_user_key(&admin, c.doctor, "new doctor passphrase", "laptop stolen")
        .unwrap();
    assert!(c.node.unlock(c.doctor, DOC_PASS).is_err());
    let fresh = c.node.unlock(c.doctor, "new doctor passphrase").unwrap();
    note(&mut c.node, &fresh, c.patient, "After the theft");
    // The doctor, on their new keys, reads the whole chart (the clinic re-wrapped older keys).
    let view = c.node.chart(&fresh, c.patient, "test").unwrap();
    assert_eq!(texts(&view), ["Before the theft", "After the theft"]);
    // The thief's old keys open no wrap of the key the new entry is sealed with.
    let thief = carelog_vault::ActorKeys::from_seed(*stolen_keys);
    let file = c.node.ledger().state().patient(&c.patient).unwrap();
    let last = file.entries().last().unwrap();
    let epoch = file.entry_key(last).unwrap();
    let opened = crate::keys::OpenedKeys::default();
    assert!(
        opened
            .open_epoch(file, &c.patient, &epoch.id, &[(c.doctor, &thief)])
            .is_none()
    );
    // Nor can the thief sign as the doctor: a transaction signed with the old key is refused.
    let forged = carelog_ledger::Tx {
        author: c.doctor,
        clinic: c.node.clinic_id(),
        time_ms: c.node.clock(),
        payload: Payload::AuditRead {
            patient: c.patient,
            level: AccessLevel::Full,
            purpose: "chart show".into(),
        },
    }
    .sign(&thief);
    let block = c
        .node
        .ledger()
        .seal(&c.node.secrets.node, vec![forged], now_ms());
    assert!(c.node.accept_blocks(vec![block]).unwrap().refused.is_some());
}

#[test]
fn a_patients_keys_change_only_when_two_parties_ask_and_the_old_pin_stops_working() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let (first, new_card) = c
        .node
        .replace_patient_key(&admin, c.patient, "864201", "card lost")
        .unwrap();
    assert_eq!(first, Replacement::Asked);
    let new_card = new_card.expect("the first party's node issues the new card");
    assert_ne!(new_card.secret(), c.card.secret());
    assert!(
        c.node.unlock_patient(c.patient, &c.card, PIN).is_ok(),
        "one party is not enough"
    );
    let (second, no_card) = c
        .node
        .replace_patient_key(&doc, c.patient, "", "card lost")
        .unwrap();
    assert_eq!(second, Replacement::Done);
    assert!(
        no_card.is_none(),
        "the keys asked for are the ones agreed to"
    );
    assert!(c.node.unlock_patient(c.patient, &c.card, PIN).is_err());
    // The new keys open only with the new card and the new PIN.
    assert!(c.node.unlock(c.patient, "864201").is_err());
    assert!(c.node.unlock_patient(c.patient, &c.card, "864201").is_err());
    let me = c
        .node
        .unlock_patient(c.patient, &new_card, "864201")
        .unwrap();
    let view = c.node.chart(&me, c.patient, "test").unwrap();
    assert_eq!(view["level"], "full");
    assert_eq!(view.get("sealed_entries"), None, "{view}");
}

#[test]
fn a_suspended_clinic_is_dropped_from_the_handshake_and_its_staff_cannot_sign_in() {
    let (mut north, mut south, sam) = two_clinics();
    exchange(&mut north.node, &mut south);
    let south_id = south.clinic_id();
    let allow = carelog_sync::net::AllowList::from_ledger(north.node.ledger());
    let south_key = south.secrets.node.public().signing;
    assert_eq!(allow.clinic_of(&south_key), Some(south_id));
    let authority = north.node.open_authority(AUTHORITY_PASS).unwrap();
    north
        .node
        .suspend_clinic(&authority, south_id, true, "a cloned server")
        .unwrap();
    allow.refresh(north.node.ledger().state());
    assert_eq!(allow.clinic_of(&south_key), None);
    exchange(&mut north.node, &mut south);
    let Err(err) = south.unlock(sam, PASS) else {
        panic!("a suspended clinic's admin signed in");
    };
    assert!(err.to_string().contains("suspended"), "{err}");
    // Whatever South seals now carries nothing valid anywhere.
    north
        .node
        .suspend_clinic(&authority, south_id, false, "")
        .unwrap();
    allow.refresh(north.node.ledger().state());
    assert_eq!(allow.clinic_of(&south_key), Some(south_id));
    // Only the founding home holds the authority's key.
    assert!(south.open_authority(AUTHORITY_PASS).is_err());
}

#[test]
fn a_clinic_given_new_node_keys_works_on_its_new_machine_and_the_old_key_is_refused() {
    let (mut north, mut south, _) = two_clinics();
    exchange(&mut north.node, &mut south);
    let south_id = south.clinic_id();
    let old_key = south.secrets.node.public().signing;
    let dir = north.root.parent().unwrap().to_path_buf();
    let request = dir.join("south-again.json");
    let (new_id, _) =
        Node::request_join(&dir.join("south-2"), "South", "Sam Again", PASS, &request).unwrap();
    assert_ne!(new_id, south_id);
    let authority = north.node.open_authority(AUTHORITY_PASS).unwrap();
    let invite = north
        .node
        .replace_clinic_key(
            &authority,
            south_id,
            &std::fs::read(&request).unwrap(),
            &[],
            "server stolen",
        )
        .unwrap();
    let mut replaced = Node::join(&dir.join("south-2"), &invite).unwrap();
    assert_eq!(replaced.clinic_id(), south_id, "the clinic keeps its id");
    drop(replaced);
    replaced = Node::open(&dir.join("south-2")).unwrap();
    assert_eq!(replaced.clinic_id(), south_id);
    let allow = carelog_sync::net::AllowList::from_ledger(north.node.ledger());
    assert_eq!(allow.clinic_of(&old_key), None);
    // The old machine, which never saw the replacement, goes on sealing with the old key: what
    // it seals carries nothing valid on any replica that has the replacement.
    let admin = south
        .unlock(south.resolve_user("Sam Admin").unwrap(), PASS)
        .unwrap();
    south
        .add_user(&admin, Role::Doctor, "Dr Late", None, DOC_PASS)
        .unwrap();
    let late: Vec<Block> = blocks_of(&south)
        .into_iter()
        .filter(|b| !north.node.ledger().contains(&b.hash()))
        .collect();
    assert_eq!(late.len(), 1);
    let late_tx = late[0].txs[0].id();
    let accepted = north.node.accept_blocks(late).unwrap();
    assert!(accepted.refused.is_none());
    assert!(north.node.resolve_user("Dr Late").is_err());
    assert!(
        north
            .node
            .ledger()
            .state()
            .void
            .iter()
            .any(|(id, why)| *id == late_tx && why.contains("replaced")),
    );
}

#[test]
fn a_patient_moves_their_record_and_the_new_clinic_manages_it() {
    let (mut north, mut south, sam) = two_clinics();
    exchange(&mut north.node, &mut south);
    let me = north
        .node
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    let south_id = south.clinic_id();
    north.node.move_record(&me, south_id).unwrap();
    exchange(&mut north.node, &mut south);
    let file = south.ledger().state().patient(&north.patient).unwrap();
    assert_eq!(file.clinic, south_id);
    // South's admin now assigns South's doctor; North's admin no longer can.
    let sam = south.unlock(sam, PASS).unwrap();
    let dr_south = south
        .add_user(&sam, Role::Doctor, "Dr South", None, DOC_PASS)
        .unwrap();
    south.assign(&sam, north.patient, dr_south, true).unwrap();
    let dr = south.unlock(dr_south, DOC_PASS).unwrap();
    let view = south.chart(&dr, north.patient, "test").unwrap();
    assert_eq!(view["level"], "full");
    assert!(view.to_string().contains("Zelda Quimby"));
    exchange(&mut north.node, &mut south);
    let ada = north.node.unlock(north.admin, PASS).unwrap();
    assert!(
        north
            .node
            .assign(&ada, north.patient, north.other_doctor, false)
            .is_err()
    );
}

#[test]
fn an_expired_grant_rotates_the_key_at_the_clinic_of_record() {
    let (mut north, mut south, sam) = two_clinics();
    let sam = south.unlock(sam, PASS).unwrap();
    let specialist = south
        .add_user(&sam, Role::Doctor, "Dr Heart", None, DOC_PASS)
        .unwrap();
    exchange(&mut north.node, &mut south);
    let me = north
        .node
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    let end = now_ms() + 1_500;
    north
        .node
        .grant(&me, north.patient, specialist, AccessLevel::Full, Some(end))
        .unwrap();
    assert_eq!(north.node.rotate_stale_keys().unwrap(), 0, "still live");
    std::thread::sleep(std::time::Duration::from_millis(1_600));
    assert_eq!(north.node.rotate_stale_keys().unwrap(), 1);
    let file = north.node.ledger().state().patient(&north.patient).unwrap();
    assert!(!file.current_key().unwrap().wraps.contains_key(&specialist));
    assert_eq!(north.node.rotate_stale_keys().unwrap(), 0, "once is enough");
}

#[test]
fn a_block_planted_in_the_database_without_the_keys_is_refused_when_the_home_opens() {
    let c = clinic();
    let clinic_id = c.node.clinic_id();
    // Someone who can write the database file but holds neither the node key nor the admin's
    // keys plants an enrolment of an admin of their own, signing with keys they made.
    let forger = carelog_vault::ActorKeys::from_seed([42; 64]);
    let mallory = carelog_vault::ActorKeys::from_seed([43; 64]);
    let enrol = carelog_ledger::Tx {
        author: c.admin,
        clinic: clinic_id,
        time_ms: c.node.clock(),
        payload: Payload::EnrollUser {
            user: ActorId::from_signing_key(&mallory.public().signing),
            clinic: clinic_id,
            name: "Mallory".into(),
            role: Role::Admin,
            specialty: None,
            keys: mallory.public(),
        },
    }
    .sign(&forger);
    let mut block = c.node.ledger().seal(&forger, vec![enrol], now_ms());
    // Claimed as this clinic's next block.
    block.header.clinic = clinic_id;
    let height = block.header.height + c.node.ledger().dag().head_of(&clinic_id).unwrap().0 + 1;
    block.header.height = height;
    block.header.prev = c.node.ledger().dag().head_of(&clinic_id).map(|(_, h)| h);
    block.signature = carelog_ledger::Signature(forger.sign(&block.header.hash().0));
    let hash = block.hash();
    let root = c.root.clone();
    drop(c.node);
    alter_database(
        &root,
        &format!(
            "INSERT INTO blocks (hash, clinic, height, bytes, received_at) \
             VALUES (X'{}', X'{}', {height}, X'{}', 0)",
            hex::encode(hash.0),
            hex::encode(clinic_id.0),
            hex::encode(block.to_bytes())
        ),
    );
    let err = Node::open(&root).err().expect("the planted block is found");
    assert!(err.to_string().contains(&hash.to_string()), "{err}");
}

#[test]
fn a_grantee_below_full_holds_no_key_that_opens_an_entry_and_sees_their_level() {
    let (mut north, mut south, sam) = two_clinics();
    let sam = south.unlock(sam, PASS).unwrap();
    let cardio = south
        .add_user(&sam, Role::Doctor, "Dr Heart", Some("cardiology"), DOC_PASS)
        .unwrap();
    let stats_only = south
        .add_user(&sam, Role::Doctor, "Dr Stats", None, DOC_PASS)
        .unwrap();
    exchange(&mut north.node, &mut south);
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    for (sys, text) in [(150, "Headaches"), (138, "Better on treatment")] {
        north
            .node
            .add_entry(
                &doc,
                north.patient,
                "vitals",
                &format!(r#"{{"systolic":{sys},"diastolic":90,"heart_rate":70}}"#),
                None,
            )
            .unwrap();
        note(&mut north.node, &doc, north.patient, text);
    }
    let me = north
        .node
        .unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    north
        .node
        .grant(&me, north.patient, cardio, AccessLevel::Sample, None)
        .unwrap();
    north
        .node
        .grant(
            &me,
            north.patient,
            stats_only,
            AccessLevel::Information,
            None,
        )
        .unwrap();
    exchange(&mut north.node, &mut south);

    // No data key epoch of the patient is wrapped for either grantee: a patched node at South
    // has nothing that opens an entry.
    let file = south.ledger().state().patient(&north.patient).unwrap();
    for reader in [cardio, stats_only] {
        assert!(file.keys.iter().all(|k| !k.wraps.contains_key(&reader)));
    }
    let dr = south.unlock(cardio, DOC_PASS).unwrap();
    let opened = crate::keys::OpenedKeys::default();
    assert!(
        opened
            .open_all(file, &north.patient, &[(cardio, &dr.keys)])
            .is_empty()
    );

    // The sample view: latest values and initials, no full name, notes truncated.
    let view = south.chart(&dr, north.patient, "referral").unwrap();
    assert_eq!(view["level"], "sample");
    assert_eq!(view["latest"][0]["value"], 138.0, "{view}");
    assert!(!view.to_string().contains("Zelda Quimby"));
    assert!(view.to_string().contains("Z. Q."));
    let hl7 = south.export(&dr, north.patient, Format::Hl7).unwrap();
    // Only the latest systolic value leaves (OBX-5); timestamps and ids may hold any digits.
    let values: Vec<&str> = hl7
        .split('\r')
        .filter(|segment| segment.starts_with("OBX|"))
        .filter_map(|segment| segment.split('|').nth(5))
        .collect();
    assert!(values.contains(&"138"), "{hl7}");
    assert!(!values.contains(&"150"), "{hl7}");
    assert!(!hl7.contains("Zelda"), "{hl7}");
    // The information view: statistics only.
    let stats = south.unlock(stats_only, DOC_PASS).unwrap();
    let info = south.chart(&stats, north.patient, "research").unwrap();
    assert_eq!(info["level"], "information");
    assert!(info["entries"].as_array().unwrap().is_empty());
    assert!(!info.to_string().contains("Headaches"));

    // A new entry at North refreshes the views; a revoked grantee is left out of the next one.
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "vitals",
            r#"{"systolic":121,"diastolic":80,"heart_rate":66}"#,
            None,
        )
        .unwrap();
    let views_before = north
        .node
        .ledger()
        .state()
        .patient(&north.patient)
        .unwrap()
        .views
        .len();
    north.node.revoke(&me, north.patient, stats_only).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "vitals",
            r#"{"systolic":119,"diastolic":79,"heart_rate":64}"#,
            None,
        )
        .unwrap();
    exchange(&mut north.node, &mut south);
    let view = south.chart(&dr, north.patient, "referral").unwrap();
    assert_eq!(view["latest"][0]["value"], 119.0, "{view}");
    let file = south.ledger().state().patient(&north.patient).unwrap();
    assert!(file.views.len() > views_before);
    assert!(
        file.views[views_before..]
            .iter()
            .all(|v| !v.readers.contains(&stats_only)),
        "no view after the revocation is for the revoked grantee"
    );
    assert!(south.chart(&stats, north.patient, "research").is_err());
}
