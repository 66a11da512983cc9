//! Enrolling staff, registering patients and keeping attention lists.

use carelog_chart::{EntryData, EntryKind};
use carelog_ledger::{Action, ActorId, Payload, Role, authorize};
use carelog_vault::DataKey;

use crate::error::{NodeError, Result};
use crate::home::{self, now_ms};
use crate::keys::{self, EntryPlaintext};
use crate::{Node, Session, patient_file, seal_user_keys, validate_name};

impl Node {
    /// Enrolls a staff user at this clinic; their keys are sealed under `passphrase` here.
    pub fn add_user(
        &mut self,
        admin: &Session,
        role: Role,
        name: &str,
        specialty: Option<&str>,
        passphrase: &str,
    ) -> Result<ActorId> {
        validate_name("the user's name", name)?;
        if let Some(s) = specialty {
            validate_name("the specialty", s)?;
        }
        if role == Role::Patient {
            return Err(NodeError::Invalid(
                "patients are registered with `patient register`, not enrolled as staff".into(),
            ));
        }
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::EnrollUser {
                role,
                clinic: self.clinic,
            },
            None,
            now_ms(),
        )?;
        let keys = home::new_keys();
        let sealed = seal_user_keys(&keys, passphrase)?;
        let user = ActorId::from_signing_key(&keys.public().signing);
        let tx = self.sign(
            admin,
            Payload::EnrollUser {
                user,
                clinic: self.clinic,
                name: name.trim().to_string(),
                role,
                specialty: specialty.map(|s| s.trim().to_string()),
                keys: keys.public(),
            },
        );
        self.commit(vec![tx], &[(user, sealed)])?;
        tracing::info!(user = %user, role = %role, "staff enrolled");
        Ok(user)
    }

    /// Registers a patient: keys sealed under the patient's PIN, data key epoch 0 wrapped for the
    /// patient and this clinic, and the identity in a sealed demographics entry.
    pub fn register_patient(
        &mut self,
        admin: &Session,
        name: &str,
        birth_date: &str,
        sex: &str,
        pin: &str,
    ) -> Result<ActorId> {
        let demographics =
            serde_json::json!({"name": name.trim(), "birth_date": birth_date, "sex": sex});
        let data = EntryData::parse(EntryKind::Demographics, &demographics.to_string())?;
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::RegisterPatient {
                clinic: self.clinic,
            },
            None,
            now_ms(),
        )?;
        let keys = home::new_keys();
        let sealed = seal_user_keys(&keys, pin)?;
        let patient = ActorId::from_signing_key(&keys.public().signing);
        let data_key = DataKey::from_bytes(home::random());
        let node_public = self.node_keys.public();
        let register = self.sign(
            admin,
            Payload::RegisterPatient {
                patient,
                keys: keys.public(),
                key_wraps: vec![
                    keys::wrap_for(
                        &data_key,
                        Default::default(),
                        &patient,
                        patient,
                        &keys.public().encryption,
                    ),
                    keys::wrap_for(
                        &data_key,
                        Default::default(),
                        &patient,
                        self.clinic,
                        &node_public.encryption,
                    ),
                ],
            },
        );
        let key_id = register.id();
        let entry = self.entry_tx(
            admin, patient, &data, None, None, &data_key, key_id, None, None,
        );
        self.commit(vec![register, entry], &[(patient, sealed)])?;
        tracing::info!(patient = %patient, "patient registered");
        Ok(patient)
    }

    /// Adds a doctor to a patient's attention list (as custodian: the family doctor), giving
    /// them every data key epoch this clinic holds.
    pub fn assign(
        &mut self,
        admin: &Session,
        patient: ActorId,
        doctor: ActorId,
        custodian: bool,
    ) -> Result<()> {
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::AssignPhysician(doctor),
            Some(patient),
            now_ms(),
        )?;
        let state = self.ledger.state();
        let file = patient_file(state, &patient)?;
        let doctor_key = state
            .encryption_key(&doctor)
            .ok_or_else(|| NodeError::UnknownUser(format!("no user {doctor}")))?;
        let held = admin.opened.open_all(
            file,
            &patient,
            &[(self.clinic, &self.node_keys), (admin.user, &admin.keys)],
        );
        if held.is_empty() {
            return Err(NodeError::NoKey(
                "the patient was registered at another clinic; ask the patient or custodian to grant access".into(),
            ));
        }
        let key_wraps = held
            .iter()
            .map(|(id, key)| keys::wrap_for(key, *id, &patient, doctor, &doctor_key))
            .collect();
        let tx = self.sign(
            admin,
            Payload::AssignPhysician {
                patient,
                doctor,
                custodian,
                key_wraps,
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(())
    }

    /// A signed chart entry, possibly correcting an earlier one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn entry_tx(
        &self,
        author: &Session,
        patient: ActorId,
        data: &EntryData,
        summary_change: Option<Vec<u8>>,
        summary_item: Option<String>,
        key: &DataKey,
        key_id: carelog_ledger::TxId,
        amends: Option<carelog_ledger::TxId>,
        observed_ms: Option<i64>,
    ) -> crate::OwnTx {
        let time_ms = self.clock();
        let plaintext = EntryPlaintext {
            data: data.to_bytes(),
            summary_change,
            summary_item,
            observed_ms,
        };
        let payload = keys::entry_payload(
            patient,
            &author.user,
            time_ms,
            (key_id, key),
            data.kind(),
            &plaintext,
            amends,
        );
        self.sign_at(author, payload, time_ms)
    }
}
