//! A synthetic network written straight into a home: many clinics, doctors and patients and as
//! many transactions as asked, for measuring the node with a ledger far larger than any test's
//! (`cargo xtask bench` uses it for its million-transaction rows).
//!
//! Every block and transaction is real: signed by its author, sealed by its clinic, checked by the
//! ledger's rules as it goes in, chart entries encrypted under each patient's own data key and
//! wrapped for the patient, the clinic and the custodian doctor exactly as the node does it. Only
//! the people and the values are made up. One doctor of the home's clinic has a key store under a
//! known passphrase, so a measurement can sign in and open a chart like a user would.

use std::path::Path;
use std::rc::Rc;

use carelog_chart::{AccessLevel, EntryData, EntryKind};
use carelog_ledger::{ActorId, Check, Payload, Role, SignedTx, Tx, TxId};
use carelog_store::Origin;
use carelog_vault::{ActorKeys, DataKey};

use crate::error::Result;
use crate::home::{self, now_ms};
use crate::keys::{self, EntryPlaintext};
use crate::{NewNetwork, Node, put_block, seal_user_keys};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    /// Transactions in all, genesis and enrolments included (at least the set-up needs).
    pub transactions: u64,
    /// Clinics, the home's own among them.
    pub clinics: usize,
    /// Doctors enrolled at each clinic.
    pub doctors_per_clinic: usize,
    /// Patients, spread evenly over the clinics.
    pub patients: usize,
    /// Transactions per block (the node's group commit seals up to 256).
    pub block_size: usize,
    /// Passphrase of the home's admin, of the health authority and of the probe doctor.
    pub passphrase: &'a str,
    /// How the home's own keys are sealed.
    pub unlock: &'a crate::NodeUnlock,
}

/// What was generated.
#[derive(Clone, Copy, Debug)]
pub struct Generated {
    /// The home's clinic.
    pub clinic: ActorId,
    /// A doctor of the home's clinic whose key store is in the home (under `Spec::passphrase`).
    pub doctor: ActorId,
    /// A patient in that doctor's care, with a typical number of entries.
    pub patient: ActorId,
    /// Blocks, genesis included.
    pub blocks: usize,
    /// Transactions.
    pub transactions: u64,
    /// The state hash of the ledger as built.
    pub state_hash: carelog_ledger::Hash,
}

/// A clinic of the synthetic network.
struct Clinic {
    keys: Rc<ActorKeys>,
    admin: Rc<ActorKeys>,
    doctors: Vec<Rc<ActorKeys>>,
    /// Indexes into `Builder::patients` of the patients registered here.
    patients: Vec<usize>,
}

/// A patient, with the data key the generator holds for it.
struct Patient {
    id: ActorId,
    key: DataKey,
    key_id: TxId,
    doctor: usize,
}

struct Builder {
    node: Node,
    clinics: Vec<Clinic>,
    patients: Vec<Patient>,
    time_ms: i64,
    step_ms: i64,
    txs: u64,
}

const SEXES: [&str; 3] = ["female", "male", "other"];

fn id(keys: &ActorKeys) -> ActorId {
    ActorId::from_signing_key(&keys.public().signing)
}

/// Builds a synthetic network in an empty home. `progress(done, total)` is called after every
/// block with transactions so far and in all.
pub fn build(
    root: &Path,
    spec: &Spec<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Generated> {
    let year_ms = 365 * 24 * 60 * 60 * 1000;
    let (node, created) = Node::create_network_at(
        root,
        &NewNetwork {
            network: "Synthetic district",
            clinic: "Clinic 1",
            admin: "Admin 1",
            admin_passphrase: spec.passphrase,
            authority_passphrase: spec.passphrase,
        },
        spec.unlock,
        now_ms() - year_ms,
    )?;
    let authority = node.open_authority(spec.passphrase)?.0;
    let node_keys = Rc::new(ActorKeys::from_seed(*node.secrets.node.seed()));
    let admin = Rc::new(node.unlock(created.admin_id, spec.passphrase)?.keys);
    let clinics = spec.clinics.max(1);
    let doctors = spec.doctors_per_clinic.max(1);
    let mut b = Builder {
        clinics: (0..clinics)
            .map(|i| Clinic {
                keys: if i == 0 {
                    node_keys.clone()
                } else {
                    Rc::new(home::new_keys())
                },
                admin: if i == 0 {
                    admin.clone()
                } else {
                    Rc::new(home::new_keys())
                },
                doctors: (0..doctors).map(|_| Rc::new(home::new_keys())).collect(),
                patients: Vec::new(),
            })
            .collect(),
        node,
        patients: Vec::new(),
        time_ms: now_ms() - year_ms,
        step_ms: (year_ms / spec.transactions.max(1) as i64).max(1),
        txs: 3,
    };
    let block_size = spec.block_size.clamp(1, carelog_ledger::MAX_TXS_PER_BLOCK);

    // The health authority enrols every other clinic and its first admin through clinic 1.
    let others: Vec<_> = b
        .clinics
        .iter()
        .map(|c| (c.keys.public(), c.admin.public()))
        .enumerate()
        .skip(1)
        .collect();
    let mut enrol = Vec::new();
    for (i, (clinic_keys, admin_keys)) in others {
        let clinic = ActorId::from_signing_key(&clinic_keys.signing);
        enrol.push(b.tx(
            &authority,
            0,
            Payload::EnrollClinic {
                clinic,
                name: format!("Clinic {}", i + 1),
                keys: clinic_keys,
            },
        ));
        enrol.push(b.tx(
            &authority,
            0,
            Payload::EnrollUser {
                user: ActorId::from_signing_key(&admin_keys.signing),
                clinic,
                name: format!("Admin {}", i + 1),
                role: Role::Admin,
                specialty: None,
                keys: admin_keys,
            },
        ));
    }
    for chunk in enrol.chunks(block_size) {
        b.seal(0, chunk.to_vec())?;
    }

    // Each clinic's admin enrols its doctors.
    for c in 0..clinics {
        let admin = b.clinics[c].admin.clone();
        let clinic = id(&b.clinics[c].keys);
        let mut txs = Vec::with_capacity(doctors);
        for d in 0..doctors {
            let doctor = b.clinics[c].doctors[d].public();
            let payload = Payload::EnrollUser {
                user: ActorId::from_signing_key(&doctor.signing),
                clinic,
                name: format!("Dr {} {}", c + 1, d + 1),
                role: Role::Doctor,
                specialty: Some("family medicine".into()),
                keys: doctor,
            };
            txs.push(b.tx(&admin, c, payload));
        }
        for chunk in txs.chunks(block_size) {
            b.seal(c, chunk.to_vec())?;
        }
    }

    // Patients: registered by their clinic's admin, demographics charted, a custodian assigned.
    let patients = spec.patients.max(1);
    let mut pending: Vec<Vec<SignedTx>> = vec![Vec::new(); clinics];
    for p in 0..patients {
        let c = p % clinics;
        let txs = b.register(c, p / clinics % doctors)?;
        pending[c].extend(txs);
        if pending[c].len() + 3 > block_size {
            let txs = std::mem::take(&mut pending[c]);
            b.seal(c, txs)?;
            progress(b.txs, spec.transactions);
        }
    }
    for (c, txs) in pending.into_iter().enumerate() {
        if !txs.is_empty() {
            b.seal(c, txs)?;
        }
    }

    // The bulk: doctors chart vitals and notes for their patients and read charts (audited).
    let mut n: u64 = 0;
    while b.txs < spec.transactions {
        let c = (n as usize) % clinics;
        let room = (spec.transactions - b.txs).min(block_size as u64) as usize;
        let txs = (0..room)
            .map(|_| {
                n += 1;
                b.activity(c, n)
            })
            .collect::<Result<Vec<_>>>()?;
        b.seal(c, txs)?;
        if n % 4096 < block_size as u64 {
            progress(b.txs, spec.transactions);
        }
    }
    progress(b.txs, spec.transactions);

    // The probe: clinic 1's first doctor signs in with the passphrase; patient 1 is theirs.
    let doctor_keys = b.clinics[0].doctors[0].clone();
    let sealed = seal_user_keys(&doctor_keys, spec.passphrase, &[])?;
    b.node.loaded_seq = b.node.store.write(|w| {
        w.put_sealed_keys(&id(&doctor_keys).0, &sealed)?;
        w.max_seq()
    })?;
    Ok(Generated {
        clinic: b.node.clinic,
        doctor: id(&doctor_keys),
        patient: b.patients[0].id,
        blocks: b.node.ledger.block_count(),
        transactions: b.node.ledger.tx_count(),
        state_hash: b.node.ledger.state_hash(),
    })
}

impl Builder {
    /// A transaction by `author` at clinic `c`, one step later than the last.
    fn tx(&mut self, author: &ActorKeys, c: usize, payload: Payload) -> SignedTx {
        self.time_ms += self.step_ms;
        Tx {
            author: id(author),
            clinic: id(&self.clinics[c].keys),
            time_ms: self.time_ms,
            payload,
        }
        .sign(author)
    }

    /// Seals `txs` into clinic `c`'s next block, stores it and applies it, checked as the node
    /// checks its own. Stored first: a block applied as [`Check::Stored`] may be read back from
    /// the database at once (when a later block reorders the replica, say).
    fn seal(&mut self, c: usize, txs: Vec<SignedTx>) -> Result<()> {
        let count = txs.len() as u64;
        let block = self
            .node
            .ledger
            .seal(&self.clinics[c].keys, txs, self.time_ms);
        self.node
            .store
            .write(|w| put_block(w, &block, Origin::Peer))?;
        self.node.ledger.insert(block, Check::Stored)?;
        self.txs += count;
        Ok(())
    }

    /// Registers a new patient at clinic `c` in the care of its doctor `d`.
    fn register(&mut self, c: usize, d: usize) -> Result<Vec<SignedTx>> {
        let keys = home::new_keys();
        let patient = id(&keys);
        let key = DataKey::from_bytes(home::random());
        let clinic = &self.clinics[c];
        let clinic_id = id(&clinic.keys);
        let wraps = vec![
            keys::wrap_for(
                &key,
                TxId::default(),
                &patient,
                patient,
                &keys.public().encryption,
            ),
            keys::wrap_for(
                &key,
                TxId::default(),
                &patient,
                clinic_id,
                &clinic.keys.public().encryption,
            ),
        ];
        let admin = clinic.admin.clone();
        let doctor = clinic.doctors[d].clone();
        let register = self.tx(
            &admin,
            c,
            Payload::RegisterPatient {
                patient,
                keys: keys.public(),
                key_wraps: wraps,
            },
        );
        let key_id = register.id();
        let n = self.patients.len();
        let demographics = serde_json::json!({
            "name": format!("Patient {}", n + 1),
            "birth_date": format!("19{:02}-{:02}-{:02}", 30 + n % 70, 1 + n % 12, 1 + n % 28),
            "sex": SEXES[n % 3],
        });
        let data = EntryData::parse(EntryKind::Demographics, &demographics.to_string())?;
        let entry = self.entry(&admin, c, patient, &data, &key, key_id);
        let assign = self.tx(
            &admin,
            c,
            Payload::AssignPhysician {
                patient,
                doctor: id(&doctor),
                custodian: true,
                key_wraps: vec![keys::wrap_for(
                    &key,
                    key_id,
                    &patient,
                    id(&doctor),
                    &doctor.public().encryption,
                )],
            },
        );
        self.clinics[c].patients.push(n);
        self.patients.push(Patient {
            id: patient,
            key,
            key_id,
            doctor: d,
        });
        Ok(vec![register, entry, assign])
    }

    /// The `n`th piece of everyday work at clinic `c`: four in five are chart entries (vitals,
    /// now and then a note), the rest audited chart reads.
    fn activity(&mut self, c: usize, n: u64) -> Result<SignedTx> {
        let mine = &self.clinics[c].patients;
        let p = mine[(n.wrapping_mul(2_654_435_761) % mine.len() as u64) as usize];
        let patient = self.patients[p].id;
        let doctor = self.clinics[c].doctors[self.patients[p].doctor].clone();
        if n % 5 == 4 {
            return Ok(self.tx(
                &doctor,
                c,
                Payload::AuditRead {
                    patient,
                    level: AccessLevel::Full,
                    purpose: "treatment".into(),
                },
            ));
        }
        let data = if n % 10 == 3 {
            EntryData::parse(
                EntryKind::Note,
                r#"{"title":"Follow-up","text":"Seen in clinic; plan unchanged, review in three months."}"#,
            )?
        } else {
            let json = format!(
                r#"{{"systolic":{},"diastolic":{},"heart_rate":{}}}"#,
                105 + n % 40,
                65 + n % 25,
                55 + n % 40
            );
            EntryData::parse(EntryKind::Vitals, &json)?
        };
        let key = self.patients[p].key.clone();
        let key_id = self.patients[p].key_id;
        Ok(self.entry(&doctor, c, patient, &data, &key, key_id))
    }

    /// A chart entry sealed as the node seals one.
    fn entry(
        &mut self,
        author: &ActorKeys,
        c: usize,
        patient: ActorId,
        data: &EntryData,
        key: &DataKey,
        key_id: TxId,
    ) -> SignedTx {
        let time_ms = self.time_ms + self.step_ms;
        let plaintext = EntryPlaintext {
            data: data.to_bytes(),
            summary_change: None,
            summary_item: None,
            observed_ms: None,
            encounter: None,
        };
        let payload = keys::entry_payload(
            patient,
            &id(author),
            time_ms,
            (key_id, key),
            data.kind(),
            &plaintext,
            None,
        );
        let tx = self.tx(author, c, payload);
        debug_assert_eq!(tx.tx.time_ms, time_ms);
        tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_home_opens_verifies_and_shows_its_charts() {
        let dir = tempfile::tempdir().unwrap();
        let mut calls = 0;
        let spec = Spec {
            transactions: 3_000,
            clinics: 4,
            doctors_per_clinic: 3,
            patients: 40,
            // Small blocks, so opening reads several pages of them.
            block_size: 12,
            passphrase: "synthetic district passphrase",
            unlock: &crate::NodeUnlock::passphrase(crate::tests::NODE_PASS),
        };
        let made = build(dir.path(), &spec, &mut |done, total| {
            assert!(done <= total);
            calls += 1;
        })
        .unwrap();
        assert!(calls > 0, "progress was reported");
        assert_eq!(made.transactions, 3_000);

        let mut node = Node::open(dir.path()).unwrap();
        assert!(made.blocks > 3 * 64, "{} blocks", made.blocks);
        assert_eq!(node.ledger().tx_count(), 3_000);
        assert_eq!(node.ledger().state_hash(), made.state_hash);
        assert_eq!(node.ledger().state().clinics.len(), 4);
        assert_eq!(node.ledger().state().patients.len(), 40);
        assert_eq!(node.verify().unwrap(), (made.blocks, 3_000));

        let doctor = node
            .unlock(made.doctor, "synthetic district passphrase")
            .unwrap();
        let chart = node.chart(&doctor, made.patient, "treatment").unwrap();
        let entries = chart["entries"].as_array().unwrap();
        assert!(entries.len() > 10, "the probe patient has a chart");
        assert!(
            entries.iter().any(|e| e["kind"] == "vitals"
                && e["author"] == "Dr 1 1"
                && e["data"]["systolic"].is_number()),
            "its entries open with the doctor's keys"
        );
    }
}
