//! Enrolling staff, registering patients and keeping attention lists.

use carelog_chart::{EntryData, EntryKind};
use carelog_ledger::{Action, ActorId, Payload, Role, authorize};
use carelog_vault::DataKey;

use crate::card::Card;
use crate::error::{NodeError, Result};
use crate::home::{self, now_ms};
use crate::keys::{self, EntryPlaintext};
use crate::{Node, Session, patient_file, seal_patient_keys, seal_user_keys, validate_name};

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
            return Err(NodeError::invalid(
                "patients are registered with `patient register`, not enrolled as staff",
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
        let clinic_name = self.display_name(&self.clinic);
        let sealed = seal_user_keys(&keys, passphrase, &[name, &clinic_name])?;
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
        self.commit(vec![tx], &[(user, sealed.clone())])?;
        self.share_key_store_if_needed(user, &sealed)?;
        tracing::info!(user = %user, role = %role, "staff enrolled");
        Ok(user)
    }

    /// Registers a patient: a new card, keys sealed under the card's secret and the patient's
    /// PIN (6 to 12 digits), data key epoch 0 wrapped for the patient and this clinic, and the
    /// identity in a sealed demographics entry. Returns the patient and their card, whose
    /// content ([`Card::content`]) is printed on the card and kept nowhere else.
    pub fn register_patient(
        &mut self,
        admin: &Session,
        name: &str,
        birth_date: &str,
        sex: &str,
        pin: &str,
    ) -> Result<(ActorId, Card)> {
        crate::card::check_pin(pin)?;
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
        let patient = ActorId::from_signing_key(&keys.public().signing);
        let card = Card::issue(patient);
        let sealed = seal_patient_keys(&keys, &card, pin)?;
        let data_key = DataKey::from_bytes(home::random());
        let mut key_wraps = vec![keys::wrap_for(
            &data_key,
            Default::default(),
            &patient,
            patient,
            &keys.public().encryption,
        )];
        key_wraps.extend(self.wraps_for_clinic(&data_key, &patient));
        let register = self.sign(
            admin,
            Payload::RegisterPatient {
                patient,
                keys: keys.public(),
                key_wraps,
            },
        );
        let key_id = register.id();
        let entry = self.entry_tx(
            admin,
            patient,
            &data,
            None,
            None,
            &data_key,
            key_id,
            Default::default(),
        );
        let publish = self.key_store_tx(&card, &keys, &sealed);
        self.commit(vec![register, entry, publish], &[(patient, sealed)])?;
        tracing::info!(patient = %patient, "patient registered");
        Ok((patient, card))
    }

    /// A staff user changes their own passphrase (the session proves they knew the old one).
    /// The key store is sealed again under the new one, in the database and its copy in
    /// `keys/`; the old passphrase no longer opens it here. The keys themselves do not change.
    pub fn change_passphrase(&mut self, session: &Session, new_passphrase: &str) -> Result<()> {
        let user = self.ledger.state().users.get(&session.user);
        let Some(user) = user.filter(|u| u.role != Role::Patient) else {
            return Err(NodeError::invalid(
                "a patient changes their PIN (`patient pin`), not a passphrase",
            ));
        };
        let name = user.name.clone();
        let clinic_name = self.display_name(&self.clinic);
        let sealed = seal_user_keys(&session.keys, new_passphrase, &[&name, &clinic_name])?;
        self.replace_key_store(session.user, &sealed)?;
        self.share_key_store_if_needed(session.user, &sealed)?;
        tracing::info!(user = %session.user, "passphrase changed");
        Ok(())
    }

    /// A patient changes their PIN (6 to 12 digits), keeping the card they signed in with. A
    /// patient whose keys were sealed under the PIN alone (registered before cards) gets a new
    /// card, returned: print it for them, as the old PIN alone no longer opens anything.
    pub fn change_pin(&mut self, session: &Session, new_pin: &str) -> Result<Option<Card>> {
        if self.ledger.state().patient(&session.user).is_none() {
            return Err(NodeError::invalid(
                "only a patient changes a PIN; staff change their passphrase (`user passphrase`)",
            ));
        }
        let (card, issued) = match &session.card {
            Some(secret) => (Card::new(session.user, secret.clone()), false),
            None => (Card::issue(session.user), true),
        };
        let sealed = seal_patient_keys(&session.keys, &card, new_pin)?;
        // Published, so the new PIN opens the keys at every clinic of the network; kept here
        // too, as `commit` keeps every key store it is given.
        let publish = self.key_store_tx(&card, &session.keys, &sealed);
        self.commit(vec![publish], &[(session.user, sealed)])?;
        self.store
            .put_setting(&crate::unlock_counter(&session.user), &[0u8; 12])?;
        tracing::info!(patient = %session.user, "PIN changed");
        Ok(issued.then_some(card))
    }

    /// The patient's key store (sealed under their card and PIN) published on the ledger, signed
    /// by the patient: any clinic that holds the ledger can then let them sign in, and none can
    /// open it without the card and the PIN.
    /// The emergency key its card derives goes with it (`emergency.rs`).
    pub(crate) fn key_store_tx(
        &self,
        card: &Card,
        keys: &carelog_vault::ActorKeys,
        sealed: &[u8],
    ) -> crate::OwnTx {
        let patient = card.patient;
        let emergency = crate::emergency::emergency_keys(card).public().encryption;
        crate::OwnTx(
            carelog_ledger::Tx {
                author: patient,
                clinic: self.sealer,
                time_ms: self.clock(),
                payload: Payload::PatientKeyStore {
                    patient,
                    sealed: sealed.to_vec(),
                    emergency,
                },
            }
            .sign(keys),
        )
    }

    /// The key store a patient published last, if the ledger holds one that is still theirs.
    pub(crate) fn published_key_store(&self, patient: &ActorId) -> Option<Vec<u8>> {
        self.published_key_store_and_emergency(patient)
            .map(|(sealed, _)| sealed)
    }

    /// [`Node::published_key_store`] and the emergency key published with it.
    pub(crate) fn published_key_store_and_emergency(
        &self,
        patient: &ActorId,
    ) -> Option<(Vec<u8>, [u8; 32])> {
        let state = self.ledger.state();
        let at = state.patient(patient)?.key_store?;
        let block = self.ledger.block(&state.key_store_block(&at)?)?;
        match &block.txs.get(at.index as usize)?.tx.payload {
            Payload::PatientKeyStore {
                patient: p,
                sealed,
                emergency,
            } if p == patient => Some((sealed.clone(), *emergency)),
            _ => None,
        }
    }

    /// Puts a new sealed key store in place of a user's (its copy in `keys/` first, as
    /// `commit` does) and clears their count of wrong tries.
    fn replace_key_store(&mut self, user: ActorId, sealed: &[u8]) -> Result<()> {
        let secrets = self.secrets.clone();
        let home = self.home.clone();
        self.store.write(|w| {
            home.mirror_sealed_keys(&secrets, &user, sealed)?;
            w.put_sealed_keys(&user.0, sealed)?;
            w.delete_setting(&crate::unlock_counter(&user))?;
            Ok::<_, NodeError>(())
        })
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
            &[(self.sealer, &self.secrets.node), (admin.user, &admin.keys)],
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
        links: crate::charting::EntryLinks,
    ) -> crate::OwnTx {
        let time_ms = self.clock();
        let plaintext = EntryPlaintext {
            data: data.to_bytes(),
            summary_change,
            summary_item,
            observed_ms: links.observed_ms,
            encounter: links.encounter,
        };
        let payload = keys::entry_payload(
            patient,
            &author.user,
            time_ms,
            (key_id, key),
            data.kind(),
            &plaintext,
            links.amends,
        );
        self.sign_at(author, payload, time_ms)
    }
}
