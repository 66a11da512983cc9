//! Enrolled participants acting against the rules with their own real keys: each attack is
//! refused when the block comes in, or void where it lands in the order, and changes nothing
//! that an honest replica relies on.

use std::collections::BTreeSet;

use super::*;

/// Seals `txs` at clinic `i` and inserts the block, returning the refusal.
fn refused(w: &mut World, i: usize, txs: Vec<SignedTx>) -> LedgerError {
    let block = w.base.seal(&w.clinics[i], txs, T0);
    w.base
        .insert(block, Check::Full)
        .expect_err("a hostile block is refused")
}

fn grant(w: &World, grantee: ActorId, level: AccessLevel, time: i64) -> SignedTx {
    tx(
        &w.patient,
        &w.clinics[0],
        time,
        Payload::GrantAccess {
            patient: w.pid(),
            grantee,
            level,
            expires_ms: None,
            key_wraps: if level == AccessLevel::Full {
                wraps(TxId::default(), &[grantee])
            } else {
                vec![]
            },
        },
    )
}

#[test]
fn an_enrolment_under_an_id_that_is_not_its_key_is_refused() {
    let mut w = World::new();
    let doctor = id(&w.doctors[0]);
    let before = w.base.state().users[&doctor].keys;
    // Admin B registers a "patient" under doctor A's id with keys it holds.
    let forged = keys(77);
    let register = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 20,
        Payload::RegisterPatient {
            patient: doctor,
            keys: forged.public(),
            key_wraps: wraps(TxId::default(), &[doctor, id(&w.clinics[1])]),
        },
    );
    let err = refused(&mut w, 1, vec![register]);
    assert!(
        err.to_string().contains("not the id of the signing key"),
        "{err}"
    );
    // The same with an enrolment of staff and of a clinic.
    for payload in [
        Payload::EnrollUser {
            user: doctor,
            clinic: id(&w.clinics[1]),
            name: "Impostor".into(),
            role: Role::Doctor,
            specialty: None,
            keys: forged.public(),
        },
        Payload::EnrollClinic {
            clinic: id(&w.clinics[0]),
            name: "Impostor".into(),
            keys: forged.public(),
        },
    ] {
        let author = if matches!(payload, Payload::EnrollClinic { .. }) {
            &w.authority
        } else {
            &w.admins[1]
        };
        let t = tx(author, &w.clinics[1], T0 + 20, payload);
        refused(&mut w, 1, vec![t]);
    }
    assert_eq!(
        w.base.state().users[&doctor].keys,
        before,
        "doctor A keeps their keys"
    );
}

#[test]
fn an_enrolment_of_an_id_already_taken_is_void_and_the_first_keeps_it() {
    let mut w = World::new();
    let doctor = id(&w.doctors[0]);
    // With the doctor's own public keys the id matches, but it is taken: void in the order.
    let register = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 20,
        Payload::RegisterPatient {
            patient: doctor,
            keys: w.doctors[0].public(),
            key_wraps: wraps(TxId::default(), &[doctor, id(&w.clinics[1])]),
        },
    );
    let reg_id = register.id();
    w.seal(None, 1, vec![register]);
    assert!(
        void_reason(&w.base, reg_id)
            .unwrap()
            .contains("already enrolled")
    );
    let state = w.base.state();
    assert_eq!(state.users[&doctor].role, Role::Doctor);
    assert!(state.patient(&doctor).is_none());
    // A clinic enrolled again under its own id by the authority changes nothing either.
    let again = tx(
        &w.authority,
        &w.clinics[0],
        T0 + 21,
        Payload::EnrollClinic {
            clinic: id(&w.clinics[1]),
            name: "Renamed".into(),
            keys: w.clinics[1].public(),
        },
    );
    let again_id = again.id();
    w.seal(None, 0, vec![again]);
    assert!(void_reason(&w.base, again_id).is_some());
    assert_eq!(w.base.state().clinics[&id(&w.clinics[1])].name, "Clinic 1");
}

#[test]
fn an_admin_acts_only_for_its_own_clinic() {
    let mut w = World::new();
    let patient = w.pid();
    let custodian = id(&w.doctors[0]);
    // Staff enrolled by admin B as members of clinic A: refused outright.
    let enroll = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 20,
        enroll_user(&keys(60), &w.clinics[0], "Mole", Role::Doctor),
    );
    let err = refused(&mut w, 1, vec![enroll]);
    assert!(matches!(
        err,
        LedgerError::Refused {
            reason: Denied::OtherClinic,
            ..
        }
    ));
    // Admin B makes its own doctor custodian of clinic A's patient: refused (B's doctor is not
    // A's) and void in the order even for a doctor of A (B does not hold the record).
    for doctor in [id(&w.doctors[1]), id(&w.doctors[0])] {
        let assign = tx(
            &w.admins[1],
            &w.clinics[1],
            T0 + 21,
            Payload::AssignPhysician {
                patient,
                doctor,
                custodian: true,
                key_wraps: vec![],
            },
        );
        let assign_id = assign.id();
        let block = w.base.seal(&w.clinics[1], vec![assign], T0);
        match w.base.insert(block, Check::Full) {
            Err(e) => assert!(e.to_string().contains("own clinic"), "{e}"),
            Ok(_) => assert!(
                void_reason(&w.base, assign_id)
                    .unwrap()
                    .contains("held by another clinic")
            ),
        }
    }
    let file = w.base.state().patient(&patient).unwrap();
    assert_eq!(
        file.custodian(),
        Some(custodian),
        "the real custodian stays"
    );
    assert_eq!(file.attention.len(), 1);
    // Admin B registering at clinic B is fine: the patient's clinic of record is B.
    let p2 = keys(61);
    let register = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 22,
        Payload::RegisterPatient {
            patient: id(&p2),
            keys: p2.public(),
            key_wraps: wraps(TxId::default(), &[id(&p2), id(&w.clinics[1])]),
        },
    );
    w.seal(None, 1, vec![register]);
    assert_eq!(
        w.base.state().patient(&id(&p2)).unwrap().clinic,
        id(&w.clinics[1])
    );
}

#[test]
fn a_patient_who_moves_their_record_moves_who_manages_it() {
    let mut w = World::new();
    let patient = w.pid();
    let move_tx = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 20,
        Payload::MoveRecord {
            patient,
            clinic: id(&w.clinics[1]),
            key_wraps: wraps(
                w.base.state().patient(&patient).unwrap().keys[0].id,
                &[id(&w.clinics[1])],
            ),
        },
    );
    w.seal(None, 0, vec![move_tx]);
    let file = w.base.state().patient(&patient).unwrap();
    assert_eq!(file.clinic, id(&w.clinics[1]));
    assert!(file.keys[0].wraps.contains_key(&id(&w.clinics[1])));
    let assign = |admin: usize, doctor: usize, time| {
        tx(
            &w.admins[admin],
            &w.clinics[admin],
            time,
            Payload::AssignPhysician {
                patient,
                doctor: id(&w.doctors[doctor]),
                custodian: true,
                key_wraps: vec![],
            },
        )
    };
    let by_b = assign(1, 1, T0 + 21);
    let by_a = assign(0, 0, T0 + 22);
    let by_a_id = by_a.id();
    w.seal(None, 1, vec![by_b]);
    w.seal(None, 0, vec![by_a]);
    assert!(
        void_reason(&w.base, by_a_id).is_some(),
        "A no longer manages it"
    );
    assert_eq!(
        w.base.state().patient(&patient).unwrap().custodian(),
        Some(id(&w.doctors[1]))
    );
    // Nobody but the patient moves a record.
    let by_admin = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 23,
        Payload::MoveRecord {
            patient,
            clinic: id(&w.clinics[2]),
            key_wraps: vec![],
        },
    );
    let by_admin_id = by_admin.id();
    let block = w.base.seal(&w.clinics[1], vec![by_admin], T0);
    if w.base.insert(block, Check::Full).is_ok() {
        assert!(void_reason(&w.base, by_admin_id).is_some());
    }
    assert_eq!(
        w.base.state().patient(&patient).unwrap().clinic,
        id(&w.clinics[1])
    );
}

#[test]
fn a_rotation_must_wrap_for_every_required_reader_and_no_one_else() {
    let mut w = World::new();
    let patient = w.pid();
    let full = id(&w.doctors[1]);
    let sample = id(&w.doctors[2]);
    let g1 = grant(&w, full, AccessLevel::Full, T0 + 20);
    let g2 = grant(&w, sample, AccessLevel::Sample, T0 + 20);
    w.seal(None, 0, vec![g1, g2]);
    let epochs = |w: &World| w.base.state().patient(&patient).unwrap().keys.len();
    let before = epochs(&w);
    let required = [patient, id(&w.clinics[0]), id(&w.doctors[0]), full];
    let rotate = |w: &World, readers: &[ActorId], time| {
        tx(
            &w.doctors[0],
            &w.clinics[0],
            time,
            Payload::RotateKey {
                patient,
                key_wraps: wraps(TxId::default(), readers),
            },
        )
    };
    // The custodian leaves out the patient, then the clinic of record, then the full grantee.
    for (n, left_out) in required.iter().enumerate() {
        let readers: Vec<ActorId> = required.iter().copied().filter(|r| r != left_out).collect();
        let t = rotate(&w, &readers, T0 + 30 + n as i64);
        let t_id = t.id();
        w.seal(None, 0, vec![t]);
        assert!(
            void_reason(&w.base, t_id).unwrap().contains("must hold it"),
            "leaving out {left_out} is void"
        );
    }
    // A sample grantee or a stranger given the full key: void.
    for extra in [sample, id(&keys(99))] {
        let mut readers = required.to_vec();
        readers.push(extra);
        let t = rotate(&w, &readers, T0 + 40);
        let t_id = t.id();
        w.seal(None, 0, vec![t]);
        assert!(
            void_reason(&w.base, t_id)
                .unwrap()
                .contains("holds no access")
        );
    }
    assert_eq!(epochs(&w), before, "no void rotation added a key");
    // Exactly the required readers: a new key.
    let t = rotate(&w, &required, T0 + 50);
    w.seal(None, 0, vec![t]);
    assert_eq!(epochs(&w), before + 1);
    let current = w
        .base
        .state()
        .patient(&patient)
        .unwrap()
        .current_key()
        .unwrap();
    let wrapped: BTreeSet<ActorId> = current.wraps.keys().copied().collect();
    assert_eq!(wrapped, required.iter().copied().collect());
}

#[test]
fn a_revocation_that_leaves_out_the_patient_is_void_and_the_reader_keeps_nothing_new() {
    let mut w = World::new();
    let patient = w.pid();
    let reader = id(&w.doctors[1]);
    let g = grant(&w, reader, AccessLevel::Full, T0 + 20);
    w.seal(None, 0, vec![g]);
    // The custodian revokes, wrapping the new key for themself and the clinic only.
    let revoke = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 30,
        Payload::RevokeAccess {
            patient,
            reader,
            key_wraps: wraps(TxId::default(), &[id(&w.doctors[0]), id(&w.clinics[0])]),
        },
    );
    let revoke_id = revoke.id();
    w.seal(None, 0, vec![revoke]);
    assert!(void_reason(&w.base, revoke_id).is_some());
    // An honest revocation by the patient rotates without the reader.
    let honest = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 31,
        Payload::RevokeAccess {
            patient,
            reader,
            key_wraps: rotation_wraps(&w.base, patient, T0 + 31, Some(reader)),
        },
    );
    w.seal(None, 0, vec![honest]);
    let file = w.base.state().patient(&patient).unwrap();
    assert!(!file.current_key().unwrap().wraps.contains_key(&reader));
    assert!(file.current_key().unwrap().wraps.contains_key(&patient));
}

#[test]
fn an_expired_grantee_is_not_wrapped_at_the_next_rotation() {
    let mut w = World::new();
    let patient = w.pid();
    let reader = id(&w.doctors[1]);
    let mut g = grant(&w, reader, AccessLevel::Full, T0 + 20);
    if let Payload::GrantAccess { expires_ms, .. } = &mut g.tx.payload {
        *expires_ms = Some(T0 + 25);
    }
    let g = g.tx.sign(&w.patient);
    w.seal(None, 0, vec![g]);
    let file = w.base.state().patient(&patient).unwrap();
    let required = w
        .base
        .state()
        .required_readers(&patient, file, None, T0 + 30, None);
    assert!(!required.contains(&reader));
    let mut with_expired: Vec<ActorId> = required.into_iter().collect();
    with_expired.push(reader);
    let rotate = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 30,
        Payload::RotateKey {
            patient,
            key_wraps: wraps(TxId::default(), &with_expired),
        },
    );
    let rotate_id = rotate.id();
    w.seal(None, 0, vec![rotate]);
    assert!(
        void_reason(&w.base, rotate_id)
            .unwrap()
            .contains("holds no access")
    );
}

#[test]
fn a_grant_below_full_carries_no_data_key() {
    let mut w = World::new();
    let mut g = grant(&w, id(&w.doctors[1]), AccessLevel::Sample, T0 + 20);
    if let Payload::GrantAccess { key_wraps, .. } = &mut g.tx.payload {
        *key_wraps = wraps(TxId::default(), &[id(&w.doctors[1])]);
    }
    let g = g.tx.sign(&w.patient);
    let err = refused(&mut w, 0, vec![g]);
    assert!(err.to_string().contains("open every entry"), "{err}");
    // Nor may a grant wrap keys for anyone but its grantee.
    let mut g = grant(&w, id(&w.doctors[1]), AccessLevel::Full, T0 + 21);
    if let Payload::GrantAccess { key_wraps, .. } = &mut g.tx.payload {
        key_wraps.extend(wraps(TxId::default(), &[id(&keys(99))]));
    }
    let g = g.tx.sign(&w.patient);
    refused(&mut w, 0, vec![g]);
}

#[test]
fn an_entry_from_a_writer_without_access_is_not_recorded() {
    let mut w = World::new();
    let patient = w.pid();
    let noise = tx(
        &w.doctors[2],
        &w.clinics[2],
        T0 + 20,
        Payload::ChartEntry {
            patient,
            kind: EntryKind::Note,
            key: current_key(&w.base, w.pid()),
            sealed: vec![0xAB; 64],
            amends: None,
        },
    );
    let noise_id = noise.id();
    w.seal(None, 2, vec![noise]);
    assert!(void_reason(&w.base, noise_id).is_some());
    let file = w.base.state().patient(&patient).unwrap();
    assert!(file.entries().iter().all(|e| e.id != noise_id));
}

#[test]
fn a_disabled_doctor_can_do_nothing_afterwards_and_a_concurrent_write_is_flagged() {
    let mut w = World::new();
    let patient = w.pid();
    let doctor = id(&w.doctors[0]);
    let key = current_key(&w.base, patient);
    let note = |time, text: u8| {
        tx(
            &keys(30),
            &keys(10),
            time,
            Payload::ChartEntry {
                patient,
                kind: EntryKind::Note,
                key,
                sealed: vec![text; 32],
                amends: None,
            },
        )
    };
    // The authority disables doctor A in a block of clinic B, while clinic A, not yet linked,
    // seals one more note by the doctor.
    let mut at_a = w.base.clone();
    let concurrent = note(T0 + 25, 1);
    let concurrent_id = concurrent.id();
    let a_block = at_a.seal(&w.clinics[0], vec![concurrent], T0 + 25);
    at_a.insert(a_block.clone(), Check::Full).unwrap();
    let disable = tx(
        &w.authority,
        &w.clinics[1],
        T0 + 20,
        Payload::DisableUser {
            user: doctor,
            reason: "left the clinic".into(),
        },
    );
    w.seal(None, 1, vec![disable]);
    w.base.insert(a_block, Check::Full).unwrap();
    assert!(w.base.state().users[&doctor].disabled.is_some());
    let file = w.base.state().patient(&patient).unwrap();
    let kept = file
        .entries()
        .iter()
        .find(|e| e.id == concurrent_id)
        .expect("a note the doctor wrote before learning of it is kept");
    assert!(kept.flag.is_some());
    // Written knowing of the disabling: void, and the doctor reads nothing.
    let late = note(T0 + 30, 2);
    let late_id = late.id();
    w.seal(None, 0, vec![late]);
    assert!(void_reason(&w.base, late_id).unwrap().contains("disabled"));
    assert!(
        authorize(
            w.base.state(),
            doctor,
            &Action::Read,
            Some(patient),
            T0 + 40
        )
        .is_err()
    );
    // Only an admin of the doctor's own clinic, or the authority, disables them.
    let by_other = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 41,
        Payload::DisableUser {
            user: id(&w.doctors[2]),
            reason: "rivalry".into(),
        },
    );
    refused(&mut w, 1, vec![by_other]);
}

#[test]
fn a_suspended_clinic_seals_nothing_valid_until_it_is_reinstated() {
    let mut w = World::new();
    let clinic_b = id(&w.clinics[1]);
    let suspend = tx(
        &w.authority,
        &w.clinics[0],
        T0 + 20,
        Payload::SuspendClinic {
            clinic: clinic_b,
            reason: "a cloned server".into(),
        },
    );
    w.seal(None, 0, vec![suspend]);
    let patient = w.pid();
    let request = |time| {
        tx(
            &keys(31),
            &keys(11),
            time,
            Payload::RequestAccess {
                patient,
                level: AccessLevel::Full,
                reason: "referral".into(),
            },
        )
    };
    let during = request(T0 + 30);
    let during_id = during.id();
    w.seal(None, 1, vec![during]);
    assert!(
        void_reason(&w.base, during_id)
            .unwrap()
            .contains("suspended")
    );
    let reinstate = tx(
        &w.authority,
        &w.clinics[0],
        T0 + 40,
        Payload::ReinstateClinic { clinic: clinic_b },
    );
    w.seal(None, 0, vec![reinstate]);
    let after = request(T0 + 50);
    let after_id = after.id();
    w.seal(None, 1, vec![after]);
    assert!(void_reason(&w.base, after_id).is_none());
    // Only the authority suspends.
    let by_admin = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 60,
        Payload::SuspendClinic {
            clinic: clinic_b,
            reason: "rivalry".into(),
        },
    );
    refused(&mut w, 0, vec![by_admin]);
}

#[test]
fn a_replaced_key_signs_nothing_valid_after_its_replacement() {
    let mut w = World::new();
    let patient = w.pid();
    let doctor = id(&w.doctors[0]);
    let new_keys = keys(70);
    let before = w.base.clone();
    let replace = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 20,
        Payload::ReplaceKey {
            actor: doctor,
            keys: new_keys.public(),
            reason: "laptop stolen".into(),
        },
    );
    w.seal(None, 0, vec![replace]);
    assert_eq!(w.base.state().users[&doctor].keys, new_keys.public());
    assert!(
        w.base
            .state()
            .patient(&patient)
            .unwrap()
            .keys
            .iter()
            .all(|k| !k.wraps.contains_key(&doctor)),
        "wraps for the old key go"
    );
    let clinic_a = id(&w.clinics[0]);
    let read = |signer: &ActorKeys, time| {
        Tx {
            author: doctor,
            clinic: clinic_a,
            time_ms: time,
            payload: Payload::AuditRead {
                patient,
                level: AccessLevel::Full,
                purpose: "chart show".into(),
            },
        }
        .sign(signer)
    };
    // The thief signs with the old key after the replacement: the block is refused.
    let stolen = read(&w.doctors[0], T0 + 30);
    let err = refused(&mut w, 0, vec![stolen]);
    assert!(matches!(err, LedgerError::BadTxSignature(_)), "{err}");
    // The new key works.
    let fresh = read(&new_keys, T0 + 31);
    let fresh_id = fresh.id();
    w.seal(None, 0, vec![fresh]);
    assert!(void_reason(&w.base, fresh_id).is_none());
    // A block sealed concurrently (at clinic B, which had not seen the replacement) with the
    // old key passes its signature check but is void where it lands after the replacement.
    let mut at_b = before;
    let concurrent = Tx {
        author: doctor,
        clinic: id(&w.clinics[1]),
        time_ms: T0 + 25,
        payload: Payload::RequestAccess {
            patient,
            level: AccessLevel::Full,
            reason: "from the stolen laptop".into(),
        },
    }
    .sign(&w.doctors[0]);
    let concurrent_id = concurrent.id();
    let block = at_b.seal(&w.clinics[1], vec![concurrent], T0 + 25);
    at_b.insert(block.clone(), Check::Full).unwrap();
    w.base.insert(block, Check::Full).unwrap();
    assert!(
        void_reason(&w.base, concurrent_id)
            .unwrap()
            .contains("replaced")
    );
    assert!(w.base.verify().is_ok());
}

#[test]
fn a_patients_keys_are_replaced_only_when_two_parties_agree() {
    let mut w = World::new();
    let patient = w.pid();
    let new_keys = keys(71);
    let ask = |author: &ActorKeys, clinic: u8, time| {
        tx(
            author,
            &keys(10 + clinic),
            time,
            Payload::ReplaceKey {
                actor: patient,
                keys: new_keys.public(),
                reason: "card lost".into(),
            },
        )
    };
    let by_admin = ask(&w.admins[0], 0, T0 + 20);
    w.seal(None, 0, vec![by_admin]);
    assert_eq!(
        w.base.state().users[&patient].keys,
        w.patient.public(),
        "one party is not enough"
    );
    // Admin B is not a party at all.
    let by_other = ask(&w.admins[1], 1, T0 + 21);
    let block = w.base.seal(&w.clinics[1], vec![by_other], T0);
    assert!(w.base.insert(block, Check::Full).is_err());
    let by_custodian = ask(&w.doctors[0], 0, T0 + 22);
    w.seal(None, 0, vec![by_custodian]);
    assert_eq!(w.base.state().users[&patient].keys, new_keys.public());
}

#[test]
fn new_keys_that_are_another_actors_are_void() {
    let mut w = World::new();
    let replace = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 20,
        Payload::ReplaceKey {
            actor: id(&w.doctors[0]),
            keys: w.admins[0].public(),
            reason: "mix-up".into(),
        },
    );
    let replace_id = replace.id();
    w.seal(None, 0, vec![replace]);
    assert!(void_reason(&w.base, replace_id).is_some());
    assert_eq!(
        w.base.state().users[&id(&w.doctors[0])].keys,
        w.doctors[0].public()
    );
}

#[test]
fn times_must_agree_with_the_blocks_they_link_and_the_seal() {
    let mut w = World::new();
    let floor = w.base.latest_time();
    let patient = w.pid();
    let request = |time| {
        tx(
            &keys(31),
            &keys(11),
            time,
            Payload::RequestAccess {
                patient,
                level: AccessLevel::Full,
                reason: "referral".into(),
            },
        )
    };
    // Dated before a block it links to.
    let early = request(floor - 1);
    let block = Block::seal(
        &w.clinics[1],
        w.base.network_id(),
        w.base.dag().head_of(&id(&w.clinics[1])).unwrap().0 + 1,
        w.base.dag().head_of(&id(&w.clinics[1])).map(|(_, h)| h),
        w.base
            .dag()
            .heads()
            .iter()
            .filter(|(c, _)| **c != id(&w.clinics[1]))
            .map(|(_, (_, h))| *h)
            .collect(),
        floor + 5,
        vec![early],
    );
    let err = w.base.insert(block, Check::Full).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    // Dated after its own seal.
    let late = request(floor + 100);
    let block = Block::seal(
        &w.clinics[1],
        w.base.network_id(),
        w.base.dag().head_of(&id(&w.clinics[1])).unwrap().0 + 1,
        w.base.dag().head_of(&id(&w.clinics[1])).map(|(_, h)| h),
        vec![],
        floor + 50,
        vec![late],
    );
    assert!(w.base.insert(block, Check::Full).is_err());
    // Sealed far in this machine's future: refused while the clock lags, taken later.
    let now = floor + 1_000;
    w.base.set_clock(now);
    let ahead = request(now + MAX_CLOCK_SKEW_MS + 60_000);
    let block = w.base.seal(&w.clinics[1], vec![ahead], now);
    let err = w.base.insert(block.clone(), Check::Full).unwrap_err();
    assert!(matches!(err, LedgerError::FromTheFuture { .. }), "{err}");
    w.base.set_clock(now + 2 * MAX_CLOCK_SKEW_MS);
    w.base.insert(block, Check::Full).unwrap();
    // Within the drift clocks are allowed: taken at once.
    let near = request(w.base.latest_time() + MAX_CLOCK_SKEW_MS);
    let block = w.base.seal(&w.clinics[1], vec![near], now);
    w.base.set_clock(w.base.latest_time());
    w.base.insert(block, Check::Full).unwrap();
}

#[test]
fn texts_and_lists_over_their_limits_are_refused() {
    let mut w = World::new();
    let long = tx(
        &w.doctors[1],
        &w.clinics[1],
        T0 + 20,
        Payload::RequestAccess {
            patient: w.pid(),
            level: AccessLevel::Full,
            reason: "x".repeat(MAX_REASON_LEN + 1),
        },
    );
    let err = refused(&mut w, 1, vec![long]);
    assert!(err.to_string().contains("over"), "{err}");
    let many = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 21,
        Payload::RotateKey {
            patient: w.pid(),
            key_wraps: wraps(TxId::default(), &vec![w.pid(); MAX_KEY_WRAPS + 1]),
        },
    );
    refused(&mut w, 0, vec![many]);
}

#[test]
fn a_level_view_goes_only_to_grantees_at_its_level() {
    let mut w = World::new();
    let patient = w.pid();
    let sample = id(&w.doctors[2]);
    let full = id(&w.doctors[1]);
    let g1 = grant(&w, sample, AccessLevel::Sample, T0 + 20);
    let g2 = grant(&w, full, AccessLevel::Full, T0 + 20);
    w.seal(None, 0, vec![g1, g2]);
    let view = |readers: &[ActorId], level, time| {
        tx(
            &keys(30),
            &keys(10),
            time,
            Payload::LevelView {
                patient,
                level,
                sealed: vec![9; 64],
                key_wraps: wraps(TxId::default(), readers),
            },
        )
    };
    // The sample view wrapped for the sample grantee: recorded for them.
    let ok = view(&[sample], AccessLevel::Sample, T0 + 30);
    w.seal(None, 0, vec![ok]);
    let file = w.base.state().patient(&patient).unwrap();
    assert!(file.view_for(AccessLevel::Sample, &sample).is_some());
    // Wrapped also for a stranger, or given at the wrong level: void.
    for (readers, level) in [
        (vec![sample, id(&keys(99))], AccessLevel::Sample),
        (vec![sample], AccessLevel::Information),
    ] {
        let bad = view(&readers, level, T0 + 31);
        let bad_id = bad.id();
        w.seal(None, 0, vec![bad]);
        assert!(void_reason(&w.base, bad_id).is_some());
    }
    // Only a reader of the full chart in their own right publishes one; a sample grantee not.
    let by_sample = tx(
        &keys(32),
        &keys(12),
        T0 + 32,
        Payload::LevelView {
            patient,
            level: AccessLevel::Sample,
            sealed: vec![9; 64],
            key_wraps: wraps(TxId::default(), &[sample]),
        },
    );
    let by_sample_id = by_sample.id();
    w.seal(None, 2, vec![by_sample]);
    assert!(void_reason(&w.base, by_sample_id).is_some());
    // And no full-level view exists.
    let full_view = view(&[full], AccessLevel::Full, T0 + 33);
    refused(&mut w, 0, vec![full_view]);
}

#[test]
fn only_the_patient_publishes_their_key_store_and_the_latest_counts() {
    let mut w = World::new();
    let patient = w.pid();
    let publish = |author: &ActorKeys, clinic: &ActorKeys, time, sealed: Vec<u8>| {
        tx(
            author,
            clinic,
            time,
            Payload::PatientKeyStore {
                patient,
                sealed,
                emergency: [9; 32],
            },
        )
    };
    // An admin of the clinic of record (or anyone else) cannot put a store in the patient's name.
    let forged = publish(&w.admins[0], &w.clinics[0], T0 + 20, vec![7; 200]);
    let err = refused(&mut w, 0, vec![forged]);
    assert!(err.to_string().contains("only the patient"), "{err}");
    let forged = publish(&w.doctors[1], &w.clinics[1], T0 + 20, vec![7; 200]);
    refused(&mut w, 1, vec![forged]);
    // Empty or oversized stores are refused on their shape.
    for size in [0, MAX_KEY_STORE_LEN + 1] {
        let odd = publish(&w.patient, &w.clinics[0], T0 + 20, vec![1; size]);
        let err = refused(&mut w, 0, vec![odd]);
        assert!(err.to_string().contains("key store"), "{err}");
    }
    assert!(
        w.base
            .state()
            .patient(&patient)
            .unwrap()
            .key_store
            .is_none()
    );
    // The patient's own, at any clinic; the latest counts.
    let first = publish(&w.patient, &w.clinics[1], T0 + 20, vec![1; 200]);
    w.seal(None, 1, vec![first]);
    let first_at = w.base.state().patient(&patient).unwrap().key_store.unwrap();
    let second = publish(&w.patient, &w.clinics[0], T0 + 21, vec![2; 200]);
    w.seal(None, 0, vec![second]);
    let latest = w.base.state().patient(&patient).unwrap().key_store.unwrap();
    assert_ne!(first_at, latest);
    let block = w.base.state().key_store_block(&latest).unwrap();
    let stx = &w.base.block(&block).unwrap().txs[latest.index as usize];
    assert!(matches!(&stx.tx.payload, Payload::PatientKeyStore { sealed, .. } if sealed[0] == 2));
}

#[test]
fn only_an_admin_of_the_clinic_of_record_adds_a_proxy_and_a_proxy_adds_none() {
    let mut w = World::new();
    let patient = w.pid();
    let key = w.base.state().patient(&patient).unwrap().keys[0].id;
    let add = |admin: &ActorKeys, clinic: &ActorKeys, proxy: &ActorKeys, time| {
        let proxy_id = id(proxy);
        tx(
            admin,
            clinic,
            time,
            Payload::AddProxy {
                patient,
                proxy: proxy_id,
                keys: proxy.public(),
                sealed_name: vec![0; 40],
                name_key: key,
                key_wraps: wraps(key, &[proxy_id]),
            },
        )
    };
    let parent = keys(91);
    // Another clinic's admin: void where it lands (the clinic of record may change).
    let elsewhere = add(&w.admins[1], &w.clinics[1], &parent, T0 + 20);
    let elsewhere_id = elsewhere.id();
    w.seal(None, 1, vec![elsewhere]);
    assert!(void_reason(&w.base, elsewhere_id).is_some());
    assert!(w.base.state().patient(&patient).unwrap().proxies.is_empty());
    // A doctor, and the patient themselves: not admins.
    let by_doctor = add(&w.doctors[0], &w.clinics[0], &keys(92), T0 + 21);
    let by_patient = add(&w.patient, &w.clinics[0], &keys(92), T0 + 21);
    for t in [by_doctor, by_patient] {
        refused(&mut w, 0, vec![t]);
    }
    // The clinic of record's admin; the proxy then reads in full and may grant, not add proxies.
    let t = add(&w.admins[0], &w.clinics[0], &parent, T0 + 22);
    w.seal(None, 0, vec![t]);
    let file = w.base.state().patient(&patient).unwrap();
    assert!(file.proxies.contains_key(&id(&parent)));
    assert!(file.keys[0].wraps.contains_key(&id(&parent)));
    let state = w.base.state();
    let read = authorize(state, id(&parent), &Action::Read, Some(patient), T0 + 30).unwrap();
    assert_eq!(read.level, AccessLevel::Full);
    assert_eq!(read.basis, Basis::Proxy);
    let doctor = id(&w.doctors[1]);
    assert!(
        authorize(
            state,
            id(&parent),
            &Action::Grant(doctor),
            Some(patient),
            T0 + 30
        )
        .is_ok()
    );
    assert!(
        authorize(
            state,
            id(&parent),
            &Action::AddProxy,
            Some(patient),
            T0 + 30
        )
        .is_err()
    );
    assert!(
        state
            .required_readers(&patient, file, None, T0 + 30, None)
            .contains(&id(&parent)),
        "a new key is wrapped for the proxy too"
    );
    let by_proxy = add(&parent, &w.clinics[0], &keys(93), T0 + 31);
    let err = refused(&mut w, 0, vec![by_proxy]);
    assert!(err.to_string().contains("admins"), "{err}");
}

#[test]
fn an_emergency_summary_comes_only_from_someone_who_holds_the_chart_in_their_own_right() {
    let mut w = World::new();
    let patient = w.pid();
    let summary = |author: &ActorKeys, clinic: &ActorKeys, time, size: usize| {
        tx(
            author,
            clinic,
            time,
            Payload::EmergencySummary {
                patient,
                sealed: vec![3; size],
                key_wrap: vec![4; 100],
            },
        )
    };
    // A doctor of another clinic with no access: void where it lands.
    let stranger = summary(&w.doctors[1], &w.clinics[1], T0 + 20, 300);
    let stranger_id = stranger.id();
    w.seal(None, 1, vec![stranger]);
    assert!(void_reason(&w.base, stranger_id).is_some());
    assert!(
        w.base
            .state()
            .patient(&patient)
            .unwrap()
            .emergency
            .is_none()
    );
    // An oversized one is refused on its shape.
    let huge = summary(&w.patient, &w.clinics[0], T0 + 21, MAX_EMERGENCY_LEN + 1);
    refused(&mut w, 0, vec![huge]);
    // The patient (and the clinic of record, the custodian) may; the latest counts.
    let own = summary(&w.patient, &w.clinics[0], T0 + 22, 300);
    w.seal(None, 0, vec![own]);
    assert!(
        w.base
            .state()
            .patient(&patient)
            .unwrap()
            .emergency
            .is_some()
    );
}

/// A lab's worklist read of the patient's orders, signed by `author` and sealed at `clinic`.
fn worklist_read(w: &World, author: &ActorKeys, clinic: usize, time: i64) -> SignedTx {
    tx(
        author,
        &w.clinics[clinic],
        time,
        Payload::WorklistRead { patient: w.pid() },
    )
}

/// Who read the orders, as the patient's audit shows it.
fn order_readers(ledger: &Ledger, patient: ActorId) -> Vec<ActorId> {
    ledger
        .state()
        .patient(&patient)
        .unwrap()
        .audit()
        .filter(|e| e.action == AuditAction::ReadOrders)
        .map(|e| e.actor)
        .collect()
}

#[test]
fn only_a_lab_of_the_clinic_of_record_reads_orders_on_its_worklist() {
    let mut w = World::new();
    let patient = w.pid();
    let (lab_a, lab_b, gone) = (keys(50), keys(51), keys(52));
    let enrol_a = vec![
        tx(
            &w.admins[0],
            &w.clinics[0],
            T0 + 20,
            enroll_user(&lab_a, &w.clinics[0], "Lab A", Role::Lab),
        ),
        tx(
            &w.admins[0],
            &w.clinics[0],
            T0 + 20,
            enroll_user(&gone, &w.clinics[0], "Lab A, left", Role::Lab),
        ),
    ];
    w.seal(None, 0, enrol_a);
    let enrol_b = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 20,
        enroll_user(&lab_b, &w.clinics[1], "Lab B", Role::Lab),
    );
    w.seal(None, 1, vec![enrol_b]);
    let disable = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 21,
        Payload::DisableUser {
            user: id(&gone),
            reason: "left the clinic".into(),
        },
    );
    w.seal(None, 0, vec![disable]);

    // The lab of the clinic of record reads the orders: the patient sees it.
    let honest = worklist_read(&w, &lab_a, 0, T0 + 30);
    let honest_id = honest.id();
    w.seal(None, 0, vec![honest]);
    assert_eq!(void_reason(&w.base, honest_id), None);
    assert_eq!(order_readers(&w.base, patient), [id(&lab_a)]);

    // Staff who are not labs cannot sign one at all: the block is refused.
    let forgeries = [(&w.doctors[0], 0), (&w.admins[0], 0), (&w.doctors[1], 1)]
        .map(|(who, clinic)| (worklist_read(&w, who, clinic, T0 + 31), clinic));
    for (forged, clinic) in forgeries {
        let err = refused(&mut w, clinic, vec![forged]);
        assert!(err.to_string().contains("only labs"), "{err}");
    }
    // Nor the patient, nor a clinic's node.
    let forgeries = [&w.patient, &w.clinics[0]].map(|who| worklist_read(&w, who, 0, T0 + 31));
    for forged in forgeries {
        refused(&mut w, 0, vec![forged]);
    }

    // Another clinic's lab and a disabled lab: kept in history, void, seen by no one.
    let other = worklist_read(&w, &lab_b, 1, T0 + 32);
    let other_id = other.id();
    w.seal(None, 1, vec![other]);
    assert!(
        void_reason(&w.base, other_id)
            .unwrap()
            .contains("only that clinic's labs"),
        "{:?}",
        void_reason(&w.base, other_id)
    );
    let late = worklist_read(&w, &gone, 0, T0 + 33);
    let late_id = late.id();
    w.seal(None, 0, vec![late]);
    assert!(void_reason(&w.base, late_id).unwrap().contains("disabled"));
    assert_eq!(order_readers(&w.base, patient), [id(&lab_a)]);
    // A saved state keeps the line, and a replica that replays every block agrees.
    let restored = restore(&w.base, saved_parts(&w.base, |_| {}).unwrap());
    assert_eq!(order_readers(&restored, patient), [id(&lab_a)]);
    let mut replayed = Ledger::new(w.base.genesis().clone()).unwrap();
    let blocks: Vec<Block> = w
        .base
        .blocks_in_order()
        .skip(1)
        .map(|b| (*b).clone())
        .collect();
    replayed.insert_batch(blocks, Check::Full).unwrap();
    assert_eq!(described(&replayed), described(&w.base));

    // The policy gives a lab the orders, never the chart, and the worklist of its own clinic.
    let state = w.base.state();
    let now = T0 + 40;
    let ask =
        |who: &ActorKeys, action: &Action| authorize(state, id(who), action, Some(patient), now);
    assert!(ask(&lab_a, &Action::ReadOrders).is_ok());
    assert!(ask(&lab_a, &Action::Read).is_err());
    let own = Action::Worklist {
        clinic: id(&w.clinics[0]),
    };
    assert!(authorize(state, id(&lab_a), &own, None, now).is_ok());
    assert!(authorize(state, id(&lab_b), &own, None, now).is_err());
    assert!(authorize(state, id(&gone), &own, None, now).is_err());
    assert!(authorize(state, id(&w.doctors[0]), &own, None, now).is_err());
}

#[test]
fn a_worklist_read_made_as_the_lab_is_disabled_elsewhere_is_kept_alike_on_every_replica() {
    let mut w = World::new();
    let patient = w.pid();
    let lab = keys(50);
    let enrol = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 20,
        enroll_user(&lab, &w.clinics[0], "Lab A", Role::Lab),
    );
    w.seal(None, 0, vec![enrol]);
    let before = w.base.clone();
    // Clinic A, not yet linked, seals the lab's read while the authority disables the lab in a
    // block of clinic B.
    let mut at_a = w.base.clone();
    let read = worklist_read(&w, &lab, 0, T0 + 25);
    let a_block = at_a.seal(&w.clinics[0], vec![read], T0 + 25);
    at_a.insert(a_block.clone(), Check::Full).unwrap();
    let disable = tx(
        &w.authority,
        &w.clinics[1],
        T0 + 22,
        Payload::DisableUser {
            user: id(&lab),
            reason: "a stolen badge".into(),
        },
    );
    let b_block = w.seal(None, 1, vec![disable]);
    w.base.insert(a_block.clone(), Check::Full).unwrap();
    // The read happened: the patient sees it, whichever block a replica took first.
    assert_eq!(order_readers(&w.base, patient), [id(&lab)]);
    let mut other_way = before;
    other_way.insert(a_block, Check::Full).unwrap();
    other_way.insert(b_block, Check::Full).unwrap();
    assert_eq!(other_way.state_hash(), w.base.state_hash());
    assert_eq!(order_readers(&other_way, patient), [id(&lab)]);
    // Once it is known, the lab reads nothing more.
    let after = worklist_read(&w, &lab, 0, T0 + 40);
    let after_id = after.id();
    w.seal(None, 0, vec![after]);
    assert!(void_reason(&w.base, after_id).unwrap().contains("disabled"));
}

#[test]
fn a_break_glass_review_comes_from_the_patient_or_the_clinic_and_names_a_real_opening() {
    let mut w = World::new();
    let open = tx(
        &w.doctors[1],
        &w.clinics[1],
        T0 + 20,
        Payload::BreakGlass {
            patient: w.pid(),
            reason: "unconscious".into(),
        },
    );
    let opening = open.id();
    w.seal(None, 1, vec![open]);
    // The world's keys, by their seeds (clinic A, its admin; doctor and admin of B; the patient).
    let (clinic_a, admin_a, doctor_b, admin_b, patient) =
        (keys(10), keys(20), keys(31), keys(21), keys(40));
    let pid = w.pid();
    let review = |author: &ActorKeys, opening: TxId| {
        tx(
            author,
            &clinic_a,
            T0 + 30,
            Payload::ReviewBreakGlass {
                patient: pid,
                opening,
                note: "seen".into(),
            },
        )
    };
    // The doctor who broke the glass, or another clinic's admin, does not review it.
    for author in [&doctor_b, &admin_b] {
        let t = review(author, opening);
        let id = t.id();
        let block = w.base.seal(&w.clinics[0], vec![t], T0);
        match w.base.insert(block, Check::Full) {
            Err(_) => {}
            Ok(_) => assert!(void_reason(&w.base, id).is_some(), "{id} took effect"),
        }
    }
    assert!(w.base.state().patient(&w.pid()).unwrap().reviews.is_empty());
    // Naming something that is no opening of this record is void.
    let bogus = review(&patient, TxId::default());
    let bogus_id = bogus.id();
    w.seal(None, 0, vec![bogus]);
    assert!(void_reason(&w.base, bogus_id).is_some_and(|why| why.contains("no break-glass")));
    // The patient and the admin of the clinic of record do.
    let by_patient = review(&patient, opening);
    let by_admin = review(&admin_a, opening);
    w.seal(None, 0, vec![by_patient, by_admin]);
    let reviews = &w.base.state().patient(&w.pid()).unwrap().reviews;
    assert_eq!(
        reviews,
        &vec![(opening, id(&patient)), (opening, id(&admin_a))]
    );
}
