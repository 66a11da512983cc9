//! Ledger scenarios and properties: signatures, roles, links, equivocation, order determinism,
//! and revoke-wins for concurrent grant and revoke.

use carelog_vault::ActorKeys;
use proptest::prelude::*;

use super::*;

mod devices;
mod hostile;

pub(crate) fn keys(n: u8) -> ActorKeys {
    ActorKeys::from_seed([n; 64])
}

pub(crate) fn id(k: &ActorKeys) -> ActorId {
    ActorId::from_signing_key(&k.public().signing)
}

/// A network of three clinics (A founded it; B and C enrolled by the authority through A), each
/// with an admin and a doctor, and one patient registered at A with doctor A as custodian.
pub(crate) struct World {
    pub(crate) authority: ActorKeys,
    pub(crate) clinics: Vec<ActorKeys>,
    pub(crate) admins: Vec<ActorKeys>,
    pub(crate) doctors: Vec<ActorKeys>,
    pub(crate) patient: ActorKeys,
    pub(crate) base: Ledger,
}

pub(crate) const T0: i64 = 1_700_000_000_000;

/// Enrols `user` at `clinic` under a name and role.
pub(crate) fn enroll_user(user: &ActorKeys, clinic: &ActorKeys, name: &str, role: Role) -> Payload {
    Payload::EnrollUser {
        user: id(user),
        clinic: id(clinic),
        name: name.into(),
        role,
        specialty: None,
        keys: user.public(),
    }
}

/// Wraps of a data key for readers (the ledger checks who they are for, not what they hold;
/// `key` is the epoch, or the zero id for a key the transaction itself introduces).
pub(crate) fn wraps(key: TxId, readers: &[ActorId]) -> Vec<KeyWrap> {
    readers
        .iter()
        .map(|r| KeyWrap {
            key,
            reader: *r,
            wrapped: vec![7; 80],
        })
        .collect()
}

pub(crate) fn tx(
    author: &ActorKeys,
    clinic: &ActorKeys,
    time_ms: i64,
    payload: Payload,
) -> SignedTx {
    Tx {
        author: id(author),
        clinic: id(clinic),
        time_ms,
        payload,
    }
    .sign(author)
}

impl World {
    pub(crate) fn new() -> World {
        let authority = keys(1);
        let clinics = vec![keys(10), keys(11), keys(12)];
        let admins = vec![keys(20), keys(21), keys(22)];
        let doctors = vec![keys(30), keys(31), keys(32)];
        let patient = keys(40);
        let genesis = Ledger::found(
            &authority,
            &Founding {
                network_name: "Test",
                clinic_name: "A",
                clinic_keys: clinics[0].public(),
                admin_name: "Admin A",
                admin_keys: admins[0].public(),
            },
            T0,
        );
        let mut base = Ledger::new(genesis).unwrap();
        let mut enroll = Vec::new();
        for i in 1..3 {
            enroll.push(tx(
                &authority,
                &clinics[0],
                T0 + 1,
                Payload::EnrollClinic {
                    clinic: id(&clinics[i]),
                    name: format!("Clinic {i}"),
                    keys: clinics[i].public(),
                },
            ));
            enroll.push(tx(
                &authority,
                &clinics[0],
                T0 + 1,
                enroll_user(&admins[i], &clinics[i], &format!("Admin {i}"), Role::Admin),
            ));
        }
        let block = base.seal(&clinics[0], enroll, T0 + 1);
        base.insert(block, Check::Full).unwrap();
        let mut world = World {
            authority,
            clinics,
            admins,
            doctors,
            patient,
            base,
        };
        for i in 0..3 {
            let t = tx(
                &world.admins[i],
                &world.clinics[i],
                T0 + 2,
                enroll_user(
                    &world.doctors[i],
                    &world.clinics[i],
                    &format!("Doctor {i}"),
                    Role::Doctor,
                ),
            );
            world.seal(None, i, vec![t]);
        }
        let register = tx(
            &world.admins[0],
            &world.clinics[0],
            T0 + 3,
            Payload::RegisterPatient {
                patient: id(&world.patient),
                keys: world.patient.public(),
                key_wraps: wraps(
                    TxId::default(),
                    &[id(&world.patient), id(&world.clinics[0])],
                ),
            },
        );
        let assign = tx(
            &world.admins[0],
            &world.clinics[0],
            T0 + 3,
            Payload::AssignPhysician {
                patient: id(&world.patient),
                doctor: id(&world.doctors[0]),
                custodian: true,
                key_wraps: vec![],
            },
        );
        world.seal(None, 0, vec![register, assign]);
        world
    }

    /// Seals at clinic `i` on `ledger` (the shared base when None) and inserts it there.
    pub(crate) fn seal(
        &mut self,
        ledger: Option<&mut Ledger>,
        i: usize,
        txs: Vec<SignedTx>,
    ) -> Block {
        let ledger = ledger.unwrap_or(&mut self.base);
        // Dated by its transactions and links (a block is never before either).
        let block = ledger.seal(&self.clinics[i], txs, T0);
        ledger.insert(block.clone(), Check::Full).unwrap();
        block
    }

    pub(crate) fn pid(&self) -> ActorId {
        id(&self.patient)
    }
}

/// The reason a transaction is void, if it is.
pub(crate) fn void_reason(ledger: &Ledger, id: TxId) -> Option<String> {
    ledger
        .state()
        .void
        .iter()
        .find(|(v, _)| *v == id)
        .map(|(_, why)| why.clone())
}

/// The patient's current data key epoch on `ledger` (what an honest entry is sealed with).
pub(crate) fn current_key(ledger: &Ledger, patient: ActorId) -> TxId {
    ledger
        .state()
        .patient(&patient)
        .and_then(|f| f.current_key())
        .map(|k| k.id)
        .unwrap_or_default()
}

/// The wraps an honest rotation of the patient's key carries on `ledger` at `time_ms`: one for
/// every reader who must hold the new key, leaving out `except`.
pub(crate) fn rotation_wraps(
    ledger: &Ledger,
    patient: ActorId,
    time_ms: i64,
    except: Option<ActorId>,
) -> Vec<KeyWrap> {
    let file = ledger.state().patient(&patient).unwrap();
    let readers: Vec<ActorId> = ledger
        .state()
        .required_readers(&patient, file, None, time_ms, except)
        .into_iter()
        .collect();
    wraps(TxId::default(), &readers)
}

#[test]
fn the_base_network_verifies() {
    let w = World::new();
    assert_eq!(w.base.state().clinics.len(), 3);
    let (blocks, txs) = w.base.verify().unwrap();
    assert_eq!(blocks, w.base.block_count());
    assert_eq!(txs, w.base.tx_count());
    let file = w.base.state().patient(&w.pid()).unwrap();
    assert_eq!(file.custodian(), Some(id(&w.doctors[0])));
}

#[test]
fn blocks_round_trip_through_bytes_and_garbage_is_an_error() {
    let w = World::new();
    for block in w.base.blocks_in_order() {
        let bytes = block.to_bytes();
        assert_eq!(&Block::from_bytes(&bytes).unwrap(), block.as_ref());
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(Block::from_bytes(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            Block::from_bytes(&longer).is_err(),
            "trailing bytes are refused"
        );
    }
}

#[test]
fn a_forged_block_signature_is_refused() {
    let mut w = World::new();
    let mut block = w.base.seal(
        &w.clinics[1],
        vec![tx(
            &w.doctors[1],
            &w.clinics[1],
            T0 + 20,
            Payload::RequestAccess {
                patient: w.pid(),
                level: AccessLevel::Sample,
                reason: "referral".into(),
            },
        )],
        T0 + 20,
    );
    block.signature.0[0] ^= 1;
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::BadBlockSignature(_))
    ));
}

#[test]
fn a_forged_transaction_signature_is_refused() {
    let mut w = World::new();
    let mut t = tx(
        &w.doctors[1],
        &w.clinics[1],
        T0 + 20,
        Payload::RequestAccess {
            patient: w.pid(),
            level: AccessLevel::Sample,
            reason: "referral".into(),
        },
    );
    t.signature.0[5] ^= 1;
    let block = w.base.seal(&w.clinics[1], vec![t], T0 + 20);
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::BadTxSignature(_))
    ));
}

#[test]
fn unknown_authors_and_wrong_roles_are_refused() {
    let mut w = World::new();
    let stranger = keys(99);
    let block = w.base.seal(
        &w.clinics[0],
        vec![tx(
            &stranger,
            &w.clinics[0],
            T0 + 20,
            Payload::BreakGlass {
                patient: w.pid(),
                reason: "x".into(),
            },
        )],
        T0 + 20,
    );
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::Refused {
            reason: Denied::UnknownActor(_),
            ..
        })
    ));

    // A doctor may not enroll staff.
    let block = w.base.seal(
        &w.clinics[0],
        vec![tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 20,
            enroll_user(&stranger, &w.clinics[0], "Mallory", Role::Admin),
        )],
        T0 + 20,
    );
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::Refused {
            reason: Denied::WrongRole { .. },
            ..
        })
    ));

    // A node that is not an enrolled clinic cannot seal.
    let block = w.base.seal(
        &stranger,
        vec![tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 20,
            Payload::BreakGlass {
                patient: w.pid(),
                reason: "x".into(),
            },
        )],
        T0 + 20,
    );
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::UnknownClinic { .. })
    ));
}

#[test]
fn a_stored_block_that_breaks_a_role_is_refused_however_it_is_read_back() {
    let w = World::new();
    let stranger = keys(99);
    // A doctor may not enroll staff: a store holding such a block was tampered with.
    let enroll = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 20,
        enroll_user(&stranger, &w.clinics[0], "Mallory", Role::Admin),
    );
    let block = w.base.seal(&w.clinics[0], vec![enroll], T0 + 20);
    for check in [Check::Stored, Check::Full] {
        assert!(matches!(
            w.base.clone().insert(block.clone(), check),
            Err(LedgerError::Refused {
                reason: Denied::WrongRole { .. },
                ..
            })
        ));
    }
}

#[test]
fn broken_chain_links_are_refused() {
    let mut w = World::new();
    let good = w.base.seal(
        &w.clinics[1],
        vec![tx(
            &w.doctors[1],
            &w.clinics[1],
            T0 + 20,
            Payload::BreakGlass {
                patient: w.pid(),
                reason: "x".into(),
            },
        )],
        T0 + 20,
    );
    let mut header = good.header.clone();
    header.height += 5;
    let skipped = Block::seal(
        &w.clinics[1],
        header.network,
        header.height,
        header.prev,
        header.parents.clone(),
        header.time_ms,
        good.txs.clone(),
    );
    assert!(matches!(
        w.base.insert(skipped, Check::Full),
        Err(LedgerError::InvalidBlock { .. })
    ));
    let unknown_parent = Block::seal(
        &w.clinics[1],
        header.network,
        good.header.height,
        good.header.prev,
        vec![Hash([7; 32])],
        header.time_ms,
        good.txs.clone(),
    );
    assert!(matches!(
        w.base.insert(unknown_parent, Check::Full),
        Err(LedgerError::MissingLinks { .. })
    ));
    let other_network = Block::seal(
        &w.clinics[1],
        Hash([9; 32]),
        good.header.height,
        good.header.prev,
        good.header.parents.clone(),
        header.time_ms,
        good.txs.clone(),
    );
    assert!(matches!(
        w.base.insert(other_network, Check::Full),
        Err(LedgerError::WrongNetwork(_))
    ));
    w.base.insert(good, Check::Full).unwrap();
}

#[test]
fn equivocation_is_settled_alike_on_every_replica_whichever_block_came_first() {
    let w = World::new();
    // A cloned clinic B seals two different branches from the same point, two blocks each.
    let branch = |reason: &str, t: i64| {
        let mut ledger = w.base.clone();
        let mut blocks = Vec::new();
        for step in 0..2 {
            let block = ledger.seal(
                &w.clinics[1],
                vec![tx(
                    &w.doctors[1],
                    &w.clinics[1],
                    t + step,
                    Payload::BreakGlass {
                        patient: w.pid(),
                        reason: format!("{reason} {step}"),
                    },
                )],
                t + step,
            );
            ledger.insert(block.clone(), Check::Full).unwrap();
            blocks.push(block);
        }
        blocks
    };
    let first = branch("clone one", T0 + 20);
    let second = branch("clone two", T0 + 30);
    // Clinic C linked the second clone's branch before anyone saw the first.
    let mut at_c = w.base.clone();
    at_c.insert_batch(second.clone(), Check::Full).unwrap();
    let c_block = at_c.seal(
        &w.clinics[2],
        vec![tx(
            &w.doctors[2],
            &w.clinics[2],
            T0 + 40,
            Payload::RequestAccess {
                patient: w.pid(),
                level: AccessLevel::Full,
                reason: "referral".into(),
            },
        )],
        T0 + 40,
    );
    let deliveries = [
        [first.clone(), second.clone(), vec![c_block.clone()]].concat(),
        [second.clone(), vec![c_block.clone()], first.clone()].concat(),
    ];
    let replicas: Vec<Ledger> = deliveries
        .iter()
        .map(|blocks| {
            let mut replica = w.base.clone();
            for block in blocks {
                replica.insert(block.clone(), Check::Full).unwrap();
            }
            replica
        })
        .collect();
    assert_eq!(replicas[0].state_hash(), replicas[1].state_hash());
    let kept_first = first[0].hash() < second[0].hash();
    let (kept, lost) = if kept_first {
        (&first, &second)
    } else {
        (&second, &first)
    };
    for replica in &replicas {
        let clinic = id(&w.clinics[1]);
        assert_eq!(
            replica.hash_at(&clinic, kept[0].header.height),
            Some(kept[0].hash())
        );
        assert!(lost.iter().all(|b| replica.is_shadowed(&b.hash())));
        assert!(kept.iter().all(|b| !replica.is_shadowed(&b.hash())));
        assert_eq!(
            replica.kept_head(&clinic).map(|(_, h)| h),
            Some(kept[1].hash())
        );
        // The lost branch's transactions are void; the kept branch's break-glass stands.
        let file = replica.state().patient(&w.pid()).unwrap();
        assert_eq!(file.break_glass.len(), 2);
        assert!(
            replica
                .state()
                .void
                .iter()
                .filter(|(_, why)| why.contains("does not keep"))
                .count()
                == 2
        );
        // Clinic C's honest block, which linked the lost branch, is kept and counts.
        assert!(!replica.is_shadowed(&c_block.hash()));
        assert!(
            file.requests
                .iter()
                .any(|r| r.requester == id(&w.doctors[2]))
        );
        replica.verify().unwrap();
    }
}

#[test]
fn concurrent_grant_and_revoke_of_one_reader_revoke_wins_in_either_order() {
    let mut w = World::new();
    let patient = w.pid();
    let reader = id(&w.doctors[2]);
    // The patient grants at clinic A; everyone sees it.
    let grant = |time| {
        tx(
            &w.patient,
            &w.clinics[0],
            time,
            Payload::GrantAccess {
                patient,
                grantee: reader,
                level: AccessLevel::Full,
                expires_ms: None,
                key_wraps: vec![],
            },
        )
    };
    let first_grant = grant(T0 + 20);
    w.seal(None, 0, vec![first_grant]);
    // Offline: the patient revokes at clinic B while the custodian re-grants at clinic A.
    for (revoke_time, grant_time) in [(T0 + 30, T0 + 40), (T0 + 40, T0 + 30)] {
        let mut at_a = w.base.clone();
        let mut at_b = w.base.clone();
        let regrant = tx(
            &w.doctors[0],
            &w.clinics[0],
            grant_time,
            Payload::GrantAccess {
                patient,
                grantee: reader,
                level: AccessLevel::Sample,
                expires_ms: None,
                key_wraps: vec![],
            },
        );
        let a_block = at_a.seal(&w.clinics[0], vec![regrant], grant_time);
        at_a.insert(a_block.clone(), Check::Full).unwrap();
        let revoke = tx(
            &w.patient,
            &w.clinics[1],
            revoke_time,
            Payload::RevokeAccess {
                patient,
                reader,
                key_wraps: rotation_wraps(&at_b, patient, revoke_time, Some(reader)),
            },
        );
        let b_block = at_b.seal(&w.clinics[1], vec![revoke], revoke_time);
        at_b.insert(b_block.clone(), Check::Full).unwrap();
        at_a.insert(b_block, Check::Full).unwrap();
        at_b.insert(a_block, Check::Full).unwrap();
        assert_eq!(at_a.state_hash(), at_b.state_hash());
        for replica in [&at_a, &at_b] {
            let file = replica.state().patient(&patient).unwrap();
            assert!(
                !file.grants.contains_key(&reader),
                "revoke wins (revoke at {revoke_time}, grant at {grant_time})"
            );
            assert!(
                authorize(
                    replica.state(),
                    reader,
                    &Action::Read,
                    Some(patient),
                    T0 + 50
                )
                .is_err()
            );
        }
    }
}

#[test]
fn a_write_concurrent_with_its_authors_revocation_is_kept_and_flagged() {
    let mut w = World::new();
    let patient = w.pid();
    let reader = id(&w.doctors[2]);
    let g = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 20,
        Payload::GrantAccess {
            patient,
            grantee: reader,
            level: AccessLevel::Full,
            expires_ms: None,
            key_wraps: vec![],
        },
    );
    w.seal(None, 0, vec![g]);
    let mut at_c = w.base.clone();
    let write = tx(
        &w.doctors[2],
        &w.clinics[2],
        T0 + 40,
        Payload::ChartEntry {
            patient,
            kind: EntryKind::Note,
            key: current_key(&w.base, w.pid()),
            sealed: vec![1, 2, 3],
            amends: None,
        },
    );
    let c_block = at_c.seal(&w.clinics[2], vec![write], T0 + 40);
    at_c.insert(c_block.clone(), Check::Full).unwrap();
    let revoke = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 30,
        Payload::RevokeAccess {
            patient,
            reader,
            key_wraps: rotation_wraps(&w.base, patient, T0 + 30, Some(reader)),
        },
    );
    w.seal(None, 0, vec![revoke]);
    w.base.insert(c_block, Check::Full).unwrap();
    let file = w.base.state().patient(&patient).unwrap();
    let entry = file
        .entries()
        .iter()
        .find(|e| e.author == reader)
        .expect("the write is kept");
    assert!(
        entry.flag.as_deref().unwrap_or("").contains("concurrently"),
        "{:?}",
        entry.flag
    );
}

/// Builds blocks at three clinics that see each other only now and then.
fn concurrent_history(ops: &[(usize, bool)]) -> (Ledger, Vec<Block>) {
    let w = World::new();
    let mut replicas = [w.base.clone(), w.base.clone(), w.base.clone()];
    let mut made = Vec::new();
    for (n, (clinic, share)) in ops.iter().enumerate() {
        let i = clinic % 3;
        let t = tx(
            &w.doctors[i],
            &w.clinics[i],
            T0 + 100 + n as i64,
            Payload::RequestAccess {
                patient: w.pid(),
                level: AccessLevel::Information,
                reason: format!("op {n}"),
            },
        );
        // Blocks made apart often share a time: the order breaks those ties by hash.
        let block = replicas[i].seal(&w.clinics[i], vec![t], T0 + 100 + (n as i64 % 5));
        replicas[i].insert(block.clone(), Check::Full).unwrap();
        made.push(block.clone());
        if *share {
            for (j, r) in replicas.iter_mut().enumerate() {
                if j != i {
                    // Creation order puts links first.
                    r.insert_batch(made.clone(), Check::Full).unwrap();
                }
            }
        }
    }
    let _ = &w.authority;
    (w.base, made)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_delivery_order_gives_the_same_order_and_state(
        ops in proptest::collection::vec((0usize..3, any::<bool>()), 1..24),
        seed in any::<u64>(),
    ) {
        let (base, blocks) = concurrent_history(&ops);
        let mut reference = base.clone();
        reference.insert_batch(blocks.clone(), Check::Full).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Deliver in a random order that still puts links first (as sync does).
        let mut rng = seed;
        let mut pending = blocks.clone();
        let mut replica = base.clone();
        while !pending.is_empty() {
            let ready: Vec<usize> = (0..pending.len())
                .filter(|k| pending[*k].header.prev.iter().chain(&pending[*k].header.parents).all(|l| replica.contains(l)))
                .collect();
            prop_assert!(!ready.is_empty());
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let pick = ready[(rng >> 33) as usize % ready.len()];
            let block = pending.swap_remove(pick);
            replica.insert(block, Check::Full).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(replica.state_hash(), reference.state_hash());
        prop_assert_eq!(replica.dag().order(), reference.dag().order());
    }

    #[test]
    fn transactions_round_trip_and_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Block::from_bytes(&bytes);
        let _ = from_bytes::<SignedTx>("transaction", &bytes);
    }
}

#[test]
fn transactions_round_trip_through_the_canonical_encoding() {
    let w = World::new();
    for block in w.base.blocks_in_order() {
        for stx in &block.txs {
            let bytes = to_bytes(stx);
            let back: SignedTx = from_bytes("transaction", &bytes).unwrap();
            assert_eq!(&back, stx);
            assert_eq!(back.id(), stx.id());
        }
    }
}

/// The policy as a table: every kind of actor against every action on one patient's record.
#[test]
fn the_policy_table() {
    let mut w = World::new();
    let patient = w.pid();
    let lab_a = keys(50);
    let lab_b = keys(51);
    let attending = keys(33);
    let grantee_full = id(&w.doctors[1]);
    let grantee_sample = id(&w.doctors[2]);
    let grantee_expired = keys(34);
    let disabled = keys(35);
    let stranger = keys(99);
    let (clinic_d, admin_d, doctor_d) = (keys(13), keys(23), keys(36));
    let mut setup = Vec::new();
    for (k, role, name) in [
        (&lab_a, Role::Lab, "Lab A"),
        (&attending, Role::Doctor, "Attending"),
        (&grantee_expired, Role::Doctor, "Expired"),
        (&disabled, Role::Doctor, "Disabled"),
    ] {
        setup.push(tx(
            &w.admins[0],
            &w.clinics[0],
            T0 + 20,
            enroll_user(k, &w.clinics[0], name, role),
        ));
    }
    for doctor in [&attending, &disabled] {
        setup.push(tx(
            &w.admins[0],
            &w.clinics[0],
            T0 + 21,
            Payload::AssignPhysician {
                patient,
                doctor: id(doctor),
                custodian: false,
                key_wraps: vec![],
            },
        ));
    }
    setup.push(tx(
        &w.admins[0],
        &w.clinics[0],
        T0 + 21,
        Payload::DisableUser {
            user: id(&disabled),
            reason: "left the clinic".into(),
        },
    ));
    for (who, level, expires) in [
        (grantee_full, AccessLevel::Full, None),
        (grantee_sample, AccessLevel::Sample, Some(T0 + 1_000_000)),
        (id(&grantee_expired), AccessLevel::Full, Some(T0 + 500)),
    ] {
        setup.push(tx(
            &w.patient,
            &w.clinics[0],
            T0 + 22,
            Payload::GrantAccess {
                patient,
                grantee: who,
                level,
                expires_ms: expires,
                key_wraps: vec![],
            },
        ));
    }
    // A fourth clinic, whose doctor the patient trusted, is suspended by the authority.
    setup.push(tx(
        &w.authority,
        &w.clinics[0],
        T0 + 22,
        Payload::EnrollClinic {
            clinic: id(&clinic_d),
            name: "Clinic D".into(),
            keys: clinic_d.public(),
        },
    ));
    setup.push(tx(
        &w.authority,
        &w.clinics[0],
        T0 + 22,
        enroll_user(&admin_d, &clinic_d, "Admin D", Role::Admin),
    ));
    w.seal(None, 0, setup);
    let lab_b_enroll = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 23,
        enroll_user(&lab_b, &w.clinics[1], "Lab B", Role::Lab),
    );
    w.seal(None, 1, vec![lab_b_enroll]);
    let doctor_d_enroll = tx(
        &admin_d,
        &clinic_d,
        T0 + 24,
        enroll_user(&doctor_d, &clinic_d, "Doctor D", Role::Doctor),
    );
    let block = w.base.seal(&clinic_d, vec![doctor_d_enroll], T0 + 24);
    w.base.insert(block, Check::Full).unwrap();
    let grant_d = tx(
        &w.patient,
        &w.clinics[0],
        T0 + 25,
        Payload::GrantAccess {
            patient,
            grantee: id(&doctor_d),
            level: AccessLevel::Full,
            expires_ms: None,
            key_wraps: vec![],
        },
    );
    let suspend = tx(
        &w.authority,
        &w.clinics[0],
        T0 + 25,
        Payload::SuspendClinic {
            clinic: id(&clinic_d),
            reason: "a stolen server".into(),
        },
    );
    w.seal(None, 0, vec![grant_d, suspend]);
    let state = w.base.state();
    assert!(state.is_suspended(&id(&clinic_d)));
    let now = T0 + 10_000;

    let (clinic_a, clinic_b) = (id(&w.clinics[0]), id(&w.clinics[1]));
    let doctor_b = id(&w.doctors[1]);
    let actions: Vec<(&str, Action)> = vec![
        ("enroll clinic", Action::EnrollClinic),
        (
            "enroll staff at A",
            Action::EnrollUser {
                role: Role::Doctor,
                clinic: clinic_a,
            },
        ),
        (
            "enroll staff at B",
            Action::EnrollUser {
                role: Role::Doctor,
                clinic: clinic_b,
            },
        ),
        (
            "register at A",
            Action::RegisterPatient { clinic: clinic_a },
        ),
        (
            "register at B",
            Action::RegisterPatient { clinic: clinic_b },
        ),
        ("assign A's doctor", Action::AssignPhysician(id(&attending))),
        ("assign B's doctor", Action::AssignPhysician(doctor_b)),
        ("request", Action::RequestAccess),
        ("grant", Action::Grant(id(&w.doctors[2]))),
        ("revoke", Action::Revoke(grantee_full)),
        ("write note", Action::Write(EntryKind::Note)),
        ("write lab", Action::Write(EntryKind::Lab)),
        ("read", Action::Read),
        ("break-glass", Action::BreakGlass),
        ("audit", Action::ViewAudit),
        ("disable A's doctor", Action::DisableUser(id(&attending))),
        ("disable B's doctor", Action::DisableUser(doctor_b)),
        ("suspend B", Action::SuspendClinic(clinic_b)),
        ("new keys, A's doctor", Action::ReplaceKey(id(&attending))),
        ("new keys, patient", Action::ReplaceKey(patient)),
        ("new keys, clinic B", Action::ReplaceKey(clinic_b)),
        ("rotate key", Action::RotateKey),
        ("move record to B", Action::MoveRecord(clinic_b)),
        ("publish a level view", Action::PublishView),
        ("A's lab worklist", Action::Worklist { clinic: clinic_a }),
        ("read orders", Action::ReadOrders),
        ("the network's directory", Action::Directory),
    ];
    let actors: Vec<(&str, ActorId)> = vec![
        ("health authority", state.authority().unwrap()),
        ("admin, patient's clinic", id(&w.admins[0])),
        ("admin, other clinic", id(&w.admins[1])),
        ("custodian", id(&w.doctors[0])),
        ("attending doctor", id(&attending)),
        ("full grantee, clinic B", grantee_full),
        ("sample grantee", grantee_sample),
        ("expired grantee", id(&grantee_expired)),
        ("lab, patient's clinic", id(&lab_a)),
        ("lab, other clinic", id(&lab_b)),
        ("patient", patient),
        ("clinic of record's node", clinic_a),
        ("another clinic's node", clinic_b),
        ("disabled doctor", id(&disabled)),
        ("suspended clinic's doctor", id(&doctor_d)),
        ("suspended clinic's admin", id(&admin_d)),
        ("suspended clinic's node", id(&clinic_d)),
        ("not enrolled", id(&stranger)),
    ];
    // One letter per action above, in groups: enrol, register, assign | care | standing |
    // views | lab worklist | directory. - refused, N allowed with no chart access, I/S/F allowed at
    // information / sample / full level.
    let table = "
        health authority          | NNN---- | -------- | NNNNNN-- | - | -- | N
        admin, patient's clinic   | -N-N-N- | -------N | N--NN--- | - | -- | N
        admin, other clinic       | --N-N-- | -------- | -N------ | - | -- | N
        custodian                 | ------- | NFFFFFNF | ----N-F- | F | -- | N
        attending doctor          | ------- | N--FFFNF | -------- | F | -- | N
        full grantee, clinic B    | ------- | N--FFFN- | -------- | F | -- | N
        sample grantee            | ------- | N----SN- | -------- | - | -- | N
        expired grantee           | ------- | N-----N- | -------- | - | -- | N
        lab, patient's clinic     | ------- | N---N--- | -------- | - | NN | N
        lab, other clinic         | ------- | N------- | -------- | - | -- | N
        patient                   | ------- | -FF--F-F | ------FF | F | -- | N
        clinic of record's node   | ------- | -------- | ------N- | N | -- | -
        another clinic's node     | ------- | -------- | -------- | - | -- | -
        disabled doctor           | ------- | -------- | -------- | - | -- | -
        suspended clinic's doctor | ------- | -------- | -------- | - | -- | -
        suspended clinic's admin  | ------- | -------- | -------- | - | -- | -
        suspended clinic's node   | ------- | -------- | -------- | - | -- | -
        not enrolled              | ------- | -------- | -------- | - | -- | -
    ";
    let rows: Vec<(&str, ActorId, String)> = table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (who, letters) = line.split_once('|').unwrap();
            let who = who.trim();
            let actor = actors.iter().find(|(name, _)| *name == who).unwrap().1;
            let letters: String = letters
                .chars()
                .filter(|c| !matches!(c, ' ' | '|'))
                .collect();
            (who, actor, letters)
        })
        .collect();
    assert_eq!(rows.len(), actors.len(), "one row per actor");
    let mut mismatches = Vec::new();
    for (who, actor, expected) in &rows {
        let expected: Vec<char> = expected.chars().collect();
        assert_eq!(
            expected.len(),
            actions.len(),
            "row {who} has one letter per action"
        );
        for ((name, action), want) in actions.iter().zip(expected) {
            let got = match authorize(state, *actor, action, Some(patient), now) {
                Err(_) => '-',
                Ok(permit) => match permit.level {
                    AccessLevel::None => 'N',
                    AccessLevel::Information => 'I',
                    AccessLevel::Sample => 'S',
                    AccessLevel::Full => 'F',
                },
            };
            if got != want {
                mismatches.push(format!("{who} / {name}: expected {want}, got {got}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "policy table mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn break_glass_and_grants_expire() {
    let mut w = World::new();
    let patient = w.pid();
    let doctor = id(&w.doctors[1]);
    let glass = tx(
        &w.doctors[1],
        &w.clinics[1],
        T0 + 100,
        Payload::BreakGlass {
            patient,
            reason: "unconscious in A&E".into(),
        },
    );
    w.seal(None, 1, vec![glass]);
    let state = w.base.state();
    let at = |t| authorize(state, doctor, &Action::Read, Some(patient), t).map(|p| p.basis);
    assert_eq!(at(T0 + 100 + BREAK_GLASS_MS - 1), Ok(Basis::BreakGlass));
    assert!(
        at(T0 + 100 + BREAK_GLASS_MS).is_err(),
        "break-glass ends after 24 hours"
    );
    let file = state.patient(&patient).unwrap();
    assert!(
        file.audit()
            .any(|e| e.action == AuditAction::BreakGlass && e.actor == doctor),
        "the patient sees it"
    );
}

#[test]
fn a_block_too_large_for_any_peer_is_refused_before_it_is_stored() {
    let mut w = World::new();
    let huge = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 20,
        Payload::ChartEntry {
            patient: w.pid(),
            kind: EntryKind::Note,
            key: current_key(&w.base, w.pid()),
            sealed: vec![7; MAX_ENCODED_LEN + 1],
            amends: None,
        },
    );
    let block = w.base.seal(&w.clinics[0], vec![huge], T0 + 20);
    assert!(matches!(
        w.base.insert(block, Check::Full),
        Err(LedgerError::InvalidBlock { .. })
    ));
}

/// A peer's batch: clinic B's admin enrols a doctor, the new doctor asks for access (signed by a
/// key the batch itself introduces), then two more requests. With `forge`, the third block
/// carries a transaction whose signature was altered (`tx`) or a bad seal (`seal`).
fn peer_batch(w: &World, forge: Option<&str>) -> (Ledger, Vec<Block>) {
    let mut sender = w.base.clone();
    let newcomer = keys(33);
    let request = |author: &ActorKeys, time| {
        tx(
            author,
            &w.clinics[1],
            time,
            Payload::RequestAccess {
                patient: id(&w.patient),
                level: AccessLevel::Sample,
                reason: "referral".into(),
            },
        )
    };
    let enrol = tx(
        &w.admins[1],
        &w.clinics[1],
        T0 + 20,
        enroll_user(&newcomer, &w.clinics[1], "Dr New", Role::Doctor),
    );
    let mut blocks = Vec::new();
    for (i, t) in [
        enrol,
        request(&newcomer, T0 + 21),
        request(&w.doctors[1], T0 + 22),
        request(&newcomer, T0 + 23),
    ]
    .into_iter()
    .enumerate()
    {
        let mut t = t;
        if i == 2 && forge == Some("tx") {
            t.signature.0[7] ^= 1;
        }
        let mut block = sender.seal(&w.clinics[1], vec![t], T0 + 20 + i as i64);
        if i == 2 && forge == Some("seal") {
            block.signature.0[3] ^= 1;
        }
        sender.insert(block.clone(), Check::Stored).unwrap();
        blocks.push(block);
    }
    (sender, blocks)
}

#[test]
fn a_batch_from_a_peer_is_checked_signature_by_signature() {
    let w = World::new();
    let (sender, blocks) = peer_batch(&w, None);
    let mut receiver = w.base.clone();
    assert_eq!(receiver.insert_batch(blocks, Check::Full).unwrap(), 4);
    assert_eq!(receiver.state_hash(), sender.state_hash());

    for (forge, bad_seal) in [("tx", false), ("seal", true)] {
        let (_, blocks) = peer_batch(&w, Some(forge));
        let mut receiver = w.base.clone();
        let failure = receiver
            .insert_batch(blocks.clone(), Check::Full)
            .unwrap_err();
        assert_eq!(
            failure.block,
            blocks[2].hash(),
            "{forge}: the forged block is named"
        );
        match *failure.error {
            LedgerError::BadBlockSignature(_) => assert!(bad_seal, "{forge}"),
            LedgerError::BadTxSignature(_) => assert!(!bad_seal, "{forge}"),
            ref other => panic!("{forge}: {other}"),
        }
        assert!(receiver.contains(&blocks[0].hash()) && receiver.contains(&blocks[1].hash()));
        assert!(!receiver.contains(&blocks[2].hash()) && !receiver.contains(&blocks[3].hash()));
    }
}

#[test]
fn a_large_block_is_checked_on_every_core_and_one_forged_signature_is_found() {
    let w = World::new();
    let block = |forge: Option<&str>| {
        let mut txs: Vec<SignedTx> = (0..40)
            .map(|i| {
                tx(
                    &w.doctors[0],
                    &w.clinics[0],
                    T0 + 20 + i,
                    Payload::RequestAccess {
                        patient: w.pid(),
                        level: AccessLevel::Sample,
                        reason: format!("request {i}"),
                    },
                )
            })
            .collect();
        if forge == Some("tx") {
            txs[27].signature.0[9] ^= 1;
        }
        let mut block = w.base.seal(&w.clinics[0], txs, T0 + 60);
        if forge == Some("seal") {
            block.signature.0[5] ^= 1;
        }
        block
    };
    let mut good = w.base.clone();
    assert_eq!(
        good.insert(block(None), Check::Full).unwrap(),
        Inserted::Appended
    );
    assert_eq!(good.tx_count(), w.base.tx_count() + 40);

    let forged = block(Some("tx"));
    let forged_id = forged.txs[27].id();
    let mut receiver = w.base.clone();
    assert!(matches!(
        receiver.insert(forged.clone(), Check::Full),
        Err(LedgerError::BadTxSignature(id)) if id == forged_id
    ));
    assert!(!receiver.contains(&forged.hash()));
    assert!(matches!(
        receiver.insert(block(Some("seal")), Check::Full),
        Err(LedgerError::BadBlockSignature(_))
    ));
    assert_eq!(
        receiver.state_hash(),
        w.base.state_hash(),
        "nothing was taken in"
    );
}

/// Blocks kept by hash, standing in for a node's database; `lose` makes one unreadable.
#[derive(Debug, Default)]
struct Shelf {
    blocks: std::sync::Mutex<std::collections::HashMap<BlockHash, Block>>,
}

impl BlockBodies for Shelf {
    fn load(&self, hash: &BlockHash) -> Option<Checked> {
        let block = self.blocks.lock().unwrap().get(hash).cloned()?;
        block.checked().ok()
    }
}

#[test]
fn a_replica_reading_blocks_back_keeps_few_in_memory_and_stops_if_one_is_lost() {
    let w = World::new();
    let shelf = std::sync::Arc::new(Shelf::default());
    let mut replica = Ledger::new(w.base.genesis().clone()).unwrap();
    const BUDGET: usize = 8 * 1024;
    replica.read_bodies_from(shelf.clone(), BUDGET);
    let mut sender = w.base.clone();
    let mut sent = Vec::new();
    for i in 0..120 {
        let t = tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 100 + i as i64,
            Payload::AuditRead {
                patient: w.pid(),
                level: AccessLevel::Full,
                purpose: format!("visit {i}"),
            },
        );
        let block = sender.seal(&w.clinics[0], vec![t], T0 + 100 + i as i64);
        sender.insert(block.clone(), Check::Full).unwrap();
        sent.push(block);
    }
    let all: Vec<Block> = sender
        .blocks_in_order()
        .map(std::sync::Arc::unwrap_or_clone)
        .collect();
    for block in &all {
        shelf
            .blocks
            .lock()
            .unwrap()
            .insert(block.hash(), block.clone());
    }
    replica
        .insert_batch(all[1..].to_vec(), Check::Full)
        .unwrap();
    assert_eq!(replica.state_hash(), sender.state_hash());
    let (blocks, bytes) = replica.resident();
    assert!(
        blocks < 100 && bytes <= BUDGET,
        "{blocks} blocks, {bytes} bytes in memory"
    );
    // Old blocks come back from the shelf, whole, and the replica still verifies.
    assert_eq!(replica.block(&all[2].hash()).as_deref(), Some(&all[2]));
    assert_eq!(
        replica.verify().unwrap(),
        (sender.block_count(), sender.tx_count())
    );

    // A block that cannot be read back while the state is rebuilt stops the replica.
    let lost = all[3].hash();
    shelf.blocks.lock().unwrap().remove(&lost);
    replica.drop_resident(&lost);
    replica.replay();
    let next = sender.seal(&w.clinics[0], sent[0].txs.clone(), T0 + 900);
    assert!(matches!(
        replica.insert(next, Check::Full),
        Err(LedgerError::Unreadable(h)) if h == lost
    ));
    assert!(replica.block(&lost).is_none());
    assert!(
        replica.saved_state().is_none(),
        "an incomplete state is never saved"
    );
}

/// A replica's files, users and order as text, to compare two replicas whole.
fn described(ledger: &Ledger) -> String {
    let state = ledger.state();
    let mut patients: Vec<_> = state.patients.iter().collect();
    patients.sort_by_key(|(id, _)| **id);
    let mut users: Vec<_> = state
        .users
        .iter()
        .map(|(id, u)| (id, &u.name, u.role))
        .collect();
    users.sort();
    let files: Vec<String> = patients
        .iter()
        .map(|(id, file)| {
            let entries: Vec<_> = file
                .entries()
                .iter()
                .map(|e| (e, state.entry_block(e), file.entry_key(e).map(|k| k.id)))
                .collect();
            let audit: Vec<_> = file.audit().collect();
            format!(
                "{id}: {entries:?} {audit:?} {:?} {:?} {:?}",
                file.grants, file.keys, file.revocations
            )
        })
        .collect();
    format!(
        "{:?}\n{users:?}\n{files:?}\n{:?}\n{:?}\n{}",
        ledger.dag().order(),
        state.clinics,
        state.void,
        state.tx_count
    )
}

/// A replica restored from `parts`, reading its blocks' contents from `from`.
fn restore(from: &Ledger, parts: Vec<SavedPart>) -> Ledger {
    let shelf = std::sync::Arc::new(Shelf::default());
    for block in from.blocks_in_order() {
        shelf
            .blocks
            .lock()
            .unwrap()
            .insert(block.hash(), (*block).clone());
    }
    let mut restored = Ledger::restore(from.genesis().clone(), parts).unwrap();
    restored.read_bodies_from(shelf, RESIDENT_BYTES);
    restored
}

/// A saved state's parts, decoded, optionally with one changed by `edit`.
fn saved_parts(
    ledger: &Ledger,
    edit: impl FnOnce(&mut Vec<Vec<u8>>),
) -> Result<Vec<SavedPart>, LedgerError> {
    let mut parts: Vec<Vec<u8>> = ledger.saved_state().unwrap().collect();
    edit(&mut parts);
    parts.iter().map(|p| SavedPart::decode(p)).collect()
}

#[test]
fn a_saved_state_restores_the_same_replica_which_goes_on_like_the_original() {
    let (base, blocks) =
        concurrent_history(&[(0, true), (1, false), (2, true), (1, true), (0, false)]);
    let mut w = World::new();
    w.base = base;
    w.base.insert_batch(blocks, Check::Full).unwrap();
    let patient = w.pid();
    for i in 0..5 {
        let entry = tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 200 + i,
            Payload::ChartEntry {
                patient,
                kind: EntryKind::Vitals,
                key: current_key(&w.base, w.pid()),
                sealed: vec![i as u8; 8],
                amends: None,
            },
        );
        w.seal(None, 0, vec![entry]);
    }
    let original = w.base.clone();

    let mut restored = restore(&original, saved_parts(&original, |_| {}).unwrap());
    assert_eq!(described(&restored), described(&original));
    assert_eq!(restored.state_hash(), original.state_hash());
    assert_eq!(restored.block_count(), original.block_count());
    assert_eq!(restored.verify().unwrap(), original.verify().unwrap());

    // Both take the same next blocks alike: one at the end of the order, and one concurrent
    // block that sorts earlier, so the restored replica replays from blocks read back.
    let mut original = original;
    let elsewhere = original.clone();
    let next = original.seal(
        &w.clinics[0],
        vec![tx(
            &w.doctors[0],
            &w.clinics[0],
            T0 + 300,
            Payload::AuditRead {
                patient,
                level: AccessLevel::Full,
                purpose: "visit".into(),
            },
        )],
        T0 + 300,
    );
    let early = elsewhere.seal(
        &w.clinics[1],
        vec![tx(
            &w.admins[1],
            &w.clinics[1],
            T0 + 250,
            enroll_user(&keys(50), &w.clinics[1], "Lab", Role::Lab),
        )],
        T0 + 250,
    );
    for ledger in [&mut original, &mut restored] {
        assert_eq!(
            ledger.insert(next.clone(), Check::Full).unwrap(),
            Inserted::Appended
        );
        assert_eq!(
            ledger.insert(early.clone(), Check::Full).unwrap(),
            Inserted::Reordered
        );
    }
    assert_eq!(described(&restored), described(&original));
    assert_eq!(restored.state_hash(), original.state_hash());
}

#[test]
fn a_saved_state_that_is_incomplete_or_not_this_networks_is_refused() {
    let w = World::new();
    let genesis = w.base.genesis().clone();
    let refused = |parts: Result<Vec<SavedPart>, LedgerError>, genesis: &Block| {
        let err = parts
            .and_then(|p| Ledger::restore(genesis.clone(), p))
            .unwrap_err();
        assert!(
            matches!(
                err,
                LedgerError::Malformed {
                    what: "saved state",
                    ..
                }
            ),
            "{err}"
        );
        err.to_string()
    };
    assert!(
        refused(
            saved_parts(&w.base, |p| {
                p.pop();
            }),
            &genesis
        )
        .contains("parts")
    );
    assert!(
        refused(
            saved_parts(&w.base, |p| {
                p.remove(0);
            }),
            &genesis
        )
        .contains("head")
    );
    assert!(
        refused(
            saved_parts(&w.base, |p| {
                let head = p[0].clone();
                p.push(head);
            }),
            &genesis
        )
        .contains("head")
    );
    let other = Ledger::found(
        &keys(2),
        &Founding {
            network_name: "Other",
            clinic_name: "Z",
            clinic_keys: keys(3).public(),
            admin_name: "Zed",
            admin_keys: keys(4).public(),
        },
        T0,
    );
    assert!(refused(saved_parts(&w.base, |_| {}), &other).contains("another network"));
    // Bytes cut short or garbled never decode into a part, and never panic.
    let whole: Vec<Vec<u8>> = w.base.saved_state().unwrap().collect();
    for part in &whole {
        for cut in [0, 1, part.len() / 2, part.len() - 1] {
            assert!(SavedPart::decode(&part[..cut]).is_err());
        }
    }
    assert!(SavedPart::decode(&[0xff; 64]).is_err());
}

proptest! {
    #[test]
    fn saved_state_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = SavedPart::decode(&bytes);
    }
}

#[test]
fn verify_finds_a_restored_state_that_differs_from_its_blocks() {
    let w = World::new();
    let mut later = w.base.clone();
    let read = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 50,
        Payload::AuditRead {
            patient: w.pid(),
            level: AccessLevel::Full,
            purpose: "a read the blocks do not hold".into(),
        },
    );
    let block = later.seal(&w.clinics[0], vec![read], T0 + 50);
    later.insert(block, Check::Full).unwrap();
    // The base's head and users with the patient's file of a later state: each part decodes
    // and the counts agree, so only a replay can tell.
    let later_parts: Vec<Vec<u8>> = later.saved_state().unwrap().collect();
    let parts = saved_parts(&w.base, |parts| {
        let last = parts.len() - 1;
        parts[last] = later_parts[later_parts.len() - 1].clone();
    })
    .unwrap();
    let failure = restore(&w.base, parts).verify().unwrap_err();
    assert!(
        matches!(*failure.error, LedgerError::StateDiffers),
        "{failure:?}"
    );
    // The true parts verify.
    let restored = restore(&w.base, saved_parts(&w.base, |_| {}).unwrap());
    assert_eq!(restored.verify().unwrap(), w.base.verify().unwrap());
}

#[test]
fn a_nodes_own_block_is_checked_for_roles_and_links_and_verify_rechecks_its_signatures() {
    let mut w = World::new();
    // A doctor enrolling a user breaks a role: refused without any signature being checked.
    let by_doctor = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 20,
        enroll_user(&keys(60), &w.clinics[0], "Someone", Role::Doctor),
    );
    let block = w.base.seal(&w.clinics[0], vec![by_doctor], T0 + 20);
    assert!(matches!(
        w.base.insert(block, Check::Own),
        Err(LedgerError::Refused { .. })
    ));
    // A stranger is unknown.
    let stranger = tx(
        &keys(99),
        &w.clinics[0],
        T0 + 20,
        Payload::RequestAccess {
            patient: w.pid(),
            level: AccessLevel::Sample,
            reason: "curious".into(),
        },
    );
    let block = w.base.seal(&w.clinics[0], vec![stranger], T0 + 20);
    assert!(w.base.insert(block, Check::Own).is_err());
    // Signatures are the node's own and are not checked again; verify still finds a bad one.
    let mut t = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 21,
        Payload::AuditRead {
            patient: w.pid(),
            level: AccessLevel::Full,
            purpose: "visit".into(),
        },
    );
    t.signature.0[5] ^= 1;
    let block = w.base.seal(&w.clinics[0], vec![t], T0 + 21);
    assert_eq!(
        w.base.insert(block, Check::Own).unwrap(),
        Inserted::Appended
    );
    assert!(matches!(
        *w.base.verify().unwrap_err().error,
        LedgerError::BadTxSignature(_)
    ));
}

#[test]
fn a_state_left_half_updated_by_a_panic_is_never_saved() {
    let w = World::new();
    let mut ledger = w.base.clone();
    let next = tx(
        &w.doctors[0],
        &w.clinics[0],
        T0 + 30,
        Payload::AuditRead {
            patient: w.pid(),
            level: AccessLevel::Full,
            purpose: "visit".into(),
        },
    );
    let block = ledger.seal(&w.clinics[0], vec![next], T0 + 30);
    ledger.insert(block, Check::Full).unwrap();
    assert!(
        ledger.saved_state().is_some(),
        "a finished update leaves it savable"
    );
    let mut torn = ledger.clone();
    torn.cut_short_while_applying();
    assert!(
        torn.saved_state().is_none(),
        "a half-updated state is not saved"
    );
}
