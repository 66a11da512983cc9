//! A small network for tests: clinics enrolled by the health authority through the founding
//! clinic, an admin and a doctor each, and one patient registered at the first clinic with its
//! doctor as custodian (built like the ledger crate's own tests).

use carelog_ledger::{
    AccessLevel, ActorId, Block, Check, Founding, KeyWrap, Ledger, Payload, Role, SignedTx, Tx,
};
use carelog_vault::ActorKeys;

/// The sim and the tests start time here (Unix ms).
pub const T0: i64 = 1_700_000_000_000;

pub fn keys(n: u8) -> ActorKeys {
    ActorKeys::from_seed([n; 64])
}

pub fn id(k: &ActorKeys) -> ActorId {
    ActorId::from_signing_key(&k.public().signing)
}

fn tx(author: &ActorKeys, clinic: &ActorKeys, time_ms: i64, payload: Payload) -> SignedTx {
    Tx {
        author: id(author),
        clinic: id(clinic),
        time_ms,
        payload,
    }
    .sign(author)
}

/// The people and keys of a test network, and its base replica.
pub struct World {
    pub clinics: Vec<ActorKeys>,
    pub doctors: Vec<ActorKeys>,
    pub patient: ActorId,
    /// Genesis, enrollments and the patient's registration; every replica starts from it.
    pub base: Ledger,
}

impl World {
    /// A network of `n` clinics (1 ≤ n ≤ 50).
    pub fn new(n: usize) -> World {
        assert!((1..=50).contains(&n));
        let authority = keys(1);
        let n8 = n as u8;
        let clinics: Vec<_> = (0..n8).map(|i| keys(10 + i)).collect();
        let admins: Vec<_> = (0..n8).map(|i| keys(100 + i)).collect();
        let doctors: Vec<_> = (0..n8).map(|i| keys(160 + i)).collect();
        let patient = keys(250);
        let genesis = Ledger::found(
            &authority,
            &Founding {
                network_name: "Sim",
                clinic_name: "Clinic 0",
                clinic_keys: clinics[0].public(),
                admin_name: "Admin 0",
                admin_keys: admins[0].public(),
            },
            T0,
        );
        let mut base = Ledger::new(genesis).expect("a fresh genesis is valid");
        let mut enroll = Vec::new();
        for i in 1..n {
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
                Payload::EnrollUser {
                    user: id(&admins[i]),
                    clinic: id(&clinics[i]),
                    name: format!("Admin {i}"),
                    role: Role::Admin,
                    specialty: None,
                    keys: admins[i].public(),
                },
            ));
        }
        if !enroll.is_empty() {
            let block = base.seal(&clinics[0], enroll, T0 + 1);
            base.insert(block, Check::Full)
                .expect("enrollment is valid");
        }
        for i in 0..n {
            let t = tx(
                &admins[i],
                &clinics[i],
                T0 + 2,
                Payload::EnrollUser {
                    user: id(&doctors[i]),
                    clinic: id(&clinics[i]),
                    name: format!("Doctor {i}"),
                    role: Role::Doctor,
                    specialty: None,
                    keys: doctors[i].public(),
                },
            );
            let block = base.seal(&clinics[i], vec![t], T0 + 2);
            base.insert(block, Check::Full)
                .expect("a doctor's enrollment is valid");
        }
        let register = tx(
            &admins[0],
            &clinics[0],
            T0 + 3,
            Payload::RegisterPatient {
                patient: id(&patient),
                keys: patient.public(),
                // The ledger checks who the first key is wrapped for, not what it holds.
                key_wraps: [id(&patient), id(&clinics[0])]
                    .into_iter()
                    .map(|reader| KeyWrap {
                        key: Default::default(),
                        reader,
                        wrapped: vec![7; 80],
                    })
                    .collect(),
            },
        );
        let assign = tx(
            &admins[0],
            &clinics[0],
            T0 + 3,
            Payload::AssignPhysician {
                patient: id(&patient),
                doctor: id(&doctors[0]),
                custodian: true,
                key_wraps: vec![],
            },
        );
        let block = base.seal(&clinics[0], vec![register, assign], T0 + 3);
        base.insert(block, Check::Full)
            .expect("registration is valid");
        World {
            clinics,
            doctors,
            patient: id(&patient),
            base,
        }
    }

    /// The id of clinic `i`.
    pub fn clinic_id(&self, i: usize) -> ActorId {
        id(&self.clinics[i])
    }

    /// A transaction by clinic `i`'s doctor: a chart read (custodian) or an access request.
    pub fn work(&self, i: usize, time_ms: i64, note: u64) -> SignedTx {
        let payload = if i == 0 {
            Payload::AuditRead {
                patient: self.patient,
                level: AccessLevel::Full,
                purpose: format!("chart show #{note}"),
            }
        } else {
            Payload::RequestAccess {
                patient: self.patient,
                level: AccessLevel::Sample,
                reason: format!("referral #{note}"),
            }
        };
        tx(&self.doctors[i], &self.clinics[i], time_ms, payload)
    }

    /// Seals one work transaction at clinic `i` on `ledger` and inserts it there.
    pub fn seal_work(&self, ledger: &mut Ledger, i: usize, time_ms: i64, note: u64) -> Block {
        let block = ledger.seal(&self.clinics[i], vec![self.work(i, time_ms, note)], time_ms);
        ledger
            .insert(block.clone(), Check::Full)
            .expect("a freshly sealed block is valid");
        block
    }
}
