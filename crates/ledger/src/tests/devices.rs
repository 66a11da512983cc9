//! Devices of a clinic: enrolled by the clinic's admins only, sealing their own chains for
//! their clinic, holding its records' keys, and shut out once removed; a kiosk seals no
//! clinician's transactions.

use super::*;

fn device_keys(n: u8) -> ActorKeys {
    keys(50 + n)
}

fn enroll_device(
    w: &World,
    by: usize,
    sealed_at: usize,
    clinic: usize,
    n: u8,
    role: DeviceRole,
) -> SignedTx {
    let device = device_keys(n);
    tx(
        &w.admins[by],
        &w.clinics[sealed_at],
        T0 + 10,
        Payload::EnrollDevice {
            device: id(&device),
            clinic: id(&w.clinics[clinic]),
            name: format!("Device {n}"),
            role,
            keys: device.public(),
        },
    )
}

/// Seals `txs` with a device's keys and inserts the block.
fn seal_at_device(w: &mut World, n: u8, txs: Vec<SignedTx>) -> Result<Block, LedgerError> {
    let block = w.base.seal(&device_keys(n), txs, T0);
    w.base.insert(block.clone(), Check::Full).map(|_| block)
}

fn entry(w: &World, author: &ActorKeys, device: &ActorKeys, time: i64) -> SignedTx {
    tx(
        author,
        device,
        time,
        Payload::ChartEntry {
            patient: w.pid(),
            kind: EntryKind::Note,
            key: current_key(&w.base, w.pid()),
            sealed: vec![1; 40],
            amends: None,
        },
    )
}

#[test]
fn a_device_seals_its_own_chain_for_its_clinic_and_must_hold_its_records_keys() {
    let mut w = World::new();
    let add = enroll_device(&w, 0, 0, 0, 1, DeviceRole::Staff);
    let add_id = add.id();
    w.seal(None, 0, vec![add]);
    assert_eq!(void_reason(&w.base, add_id), None);
    let device = id(&device_keys(1));
    let state = w.base.state();
    assert_eq!(state.clinic_of(&device), id(&w.clinics[0]));
    assert!(state.may_seal(&device) && !state.is_clinic(&device));
    let file = state.patient(&w.pid()).unwrap();
    assert!(
        state
            .required_readers(&w.pid(), file, None, T0 + 20, None)
            .contains(&device),
        "a device of the clinic of record must hold its records' keys"
    );

    // The doctor charts on the device; a patient registered there belongs to the clinic.
    let note = entry(&w, &w.doctors[0], &device_keys(1), T0 + 20);
    let note_id = note.id();
    let newcomer = keys(45);
    let register = tx(
        &w.admins[0],
        &device_keys(1),
        T0 + 20,
        Payload::RegisterPatient {
            patient: id(&newcomer),
            keys: newcomer.public(),
            key_wraps: wraps(TxId::default(), &[id(&newcomer), id(&w.clinics[0]), device]),
        },
    );
    seal_at_device(&mut w, 1, vec![note, register]).unwrap();
    assert_eq!(void_reason(&w.base, note_id), None);
    let state = w.base.state();
    assert_eq!(
        state.patient(&id(&newcomer)).unwrap().clinic,
        id(&w.clinics[0])
    );
    // It rotates its clinic's records' keys as the clinic's node would.
    let rotate = tx(
        &device_keys(1),
        &device_keys(1),
        T0 + 30,
        Payload::RotateKey {
            patient: w.pid(),
            key_wraps: rotation_wraps(&w.base, w.pid(), T0 + 30, None),
        },
    );
    let rotate_id = rotate.id();
    seal_at_device(&mut w, 1, vec![rotate]).unwrap();
    assert_eq!(void_reason(&w.base, rotate_id), None);
    assert_eq!(current_key(&w.base, w.pid()), rotate_id);
}

#[test]
fn only_the_clinics_own_admins_add_or_remove_its_devices() {
    let mut w = World::new();
    // Admin B adds a device to clinic A; doctor A adds one; admin A adds one to clinic B.
    let attempts = [
        enroll_device(&w, 1, 1, 0, 1, DeviceRole::Staff),
        tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 10,
            Payload::EnrollDevice {
                device: id(&device_keys(2)),
                clinic: id(&w.clinics[0]),
                name: "Doctor's own".into(),
                role: DeviceRole::Staff,
                keys: device_keys(2).public(),
            },
        ),
        enroll_device(&w, 0, 0, 1, 3, DeviceRole::Staff),
    ];
    for attempt in attempts {
        let at = if attempt.tx.clinic == id(&w.clinics[1]) {
            1
        } else {
            0
        };
        let block = w.base.seal(&w.clinics[at], vec![attempt], T0);
        assert!(w.base.insert(block, Check::Full).is_err());
    }
    assert!(w.base.state().clinics.values().all(|c| c.is_clinic()));

    // A device of a device is no device; and admin B cannot remove A's device.
    let add = enroll_device(&w, 0, 0, 0, 1, DeviceRole::Staff);
    w.seal(None, 0, vec![add]);
    let nested = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 11,
        Payload::EnrollDevice {
            device: id(&device_keys(4)),
            clinic: id(&device_keys(1)),
            name: "Nested".into(),
            role: DeviceRole::Staff,
            keys: device_keys(4).public(),
        },
    );
    let remove = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 11,
        Payload::RemoveDevice {
            device: id(&device_keys(1)),
            reason: "hostile".into(),
        },
    );
    let block = w.base.seal(&w.clinics[0], vec![nested], T0);
    assert!(w.base.insert(block, Check::Full).is_err());
    let block = w.base.seal(&w.clinics[1], vec![remove], T0);
    assert!(w.base.insert(block, Check::Full).is_err());
    assert!(w.base.state().may_seal(&id(&device_keys(1))));
    // Nor can the health authority suspend or reinstate a device as if it were a clinic.
    let reinstate = tx(
        &w.authority,
        &w.clinics[0],
        T0 + 12,
        Payload::ReinstateClinic {
            clinic: id(&device_keys(1)),
        },
    );
    let block = w.base.seal(&w.clinics[0], vec![reinstate], T0);
    assert!(w.base.insert(block, Check::Full).is_err());
}

#[test]
fn a_removed_device_seals_nothing_valid_and_no_longer_holds_the_records_keys() {
    let mut w = World::new();
    let add = enroll_device(&w, 0, 0, 0, 1, DeviceRole::Staff);
    w.seal(None, 0, vec![add]);
    let device = id(&device_keys(1));
    let remove = tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 20,
        Payload::RemoveDevice {
            device,
            reason: "stolen".into(),
        },
    );
    w.seal(None, 0, vec![remove]);
    let state = w.base.state();
    assert!(!state.may_seal(&device));
    let file = state.patient(&w.pid()).unwrap();
    assert!(
        !state
            .required_readers(&w.pid(), file, None, T0 + 30, None)
            .contains(&device)
    );
    // What it seals after its removal is void, even with a doctor's real signature.
    let note = entry(&w, &w.doctors[0], &device_keys(1), T0 + 30);
    let note_id = note.id();
    let _ = seal_at_device(&mut w, 1, vec![note]);
    assert!(
        w.base
            .state()
            .patient(&w.pid())
            .unwrap()
            .entries()
            .iter()
            .all(|e| e.id != note_id),
        "the removed device's entry is not in the chart"
    );
    // A rotation that still wraps the new key for it is void.
    let mut key_wraps = rotation_wraps(&w.base, w.pid(), T0 + 40, None);
    key_wraps.extend(wraps(TxId::default(), &[device]));
    let rotate = tx(
        &w.clinics[0],
        &w.clinics[0],
        T0 + 40,
        Payload::RotateKey {
            patient: w.pid(),
            key_wraps,
        },
    );
    let rotate_id = rotate.id();
    w.seal(None, 0, vec![rotate]);
    assert!(
        void_reason(&w.base, rotate_id).is_some_and(|why| why.contains("holds no access")),
        "{:?}",
        void_reason(&w.base, rotate_id)
    );
}

#[test]
fn a_kiosk_seals_patients_transactions_but_no_doctors() {
    let mut w = World::new();
    let add = enroll_device(&w, 0, 0, 0, 1, DeviceRole::Kiosk);
    w.seal(None, 0, vec![add]);
    let note = entry(&w, &w.doctors[0], &device_keys(1), T0 + 20);
    let note_id = note.id();
    let grant = tx(
        &w.patient,
        &device_keys(1),
        T0 + 20,
        Payload::GrantAccess {
            patient: w.pid(),
            grantee: id(&w.doctors[1]),
            level: AccessLevel::Information,
            expires_ms: None,
            key_wraps: vec![],
        },
    );
    let grant_id = grant.id();
    seal_at_device(&mut w, 1, vec![note, grant]).unwrap();
    assert!(
        void_reason(&w.base, note_id).is_some_and(|why| why.contains("kiosk")),
        "{:?}",
        void_reason(&w.base, note_id)
    );
    assert_eq!(void_reason(&w.base, grant_id), None);
    assert!(
        w.base
            .state()
            .patient(&w.pid())
            .unwrap()
            .grants
            .contains_key(&id(&w.doctors[1]))
    );
}

#[test]
fn a_staff_key_store_is_shared_only_by_its_clinics_machines_and_only_with_them() {
    let mut w = World::new();
    let add = enroll_device(&w, 0, 0, 0, 1, DeviceRole::Staff);
    w.seal(None, 0, vec![add]);
    let doctor = id(&w.doctors[0]);
    let device = id(&device_keys(1));
    let share = |author: &ActorKeys, readers: &[ActorId]| {
        tx(
            author,
            author,
            T0 + 20,
            Payload::StaffKeyStore {
                user: doctor,
                sealed: vec![3; 200],
                key_wraps: wraps(TxId::default(), readers),
            },
        )
    };
    // Clinic B's node shares clinic A's doctor's key store: refused.
    let hostile = share(&w.clinics[1], &[id(&w.clinics[1])]);
    let block = w.base.seal(&w.clinics[1], vec![hostile], T0);
    assert!(w.base.insert(block, Check::Full).is_err());
    // A's device shares it with clinic B too: void, nothing recorded.
    let leaky = share(
        &device_keys(1),
        &[id(&w.clinics[0]), device, id(&w.clinics[1])],
    );
    let leaky_id = leaky.id();
    seal_at_device(&mut w, 1, vec![leaky]).unwrap();
    assert!(void_reason(&w.base, leaky_id).is_some_and(|why| why.contains("no machine")));
    assert!(w.base.state().users[&doctor].key_store.is_none());
    // With the clinic's machines only: recorded.
    let honest = share(&device_keys(1), &[id(&w.clinics[0]), device]);
    seal_at_device(&mut w, 1, vec![honest]).unwrap();
    assert!(w.base.state().users[&doctor].key_store.is_some());
}
