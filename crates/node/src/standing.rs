//! The standing of people, clinics and keys: disabling staff who left, suspending a clinic,
//! replacing lost or stolen keys, moving a record, and rotating the data keys of this clinic's
//! records whenever the readers who must hold them change.
//!
//! The ledger decides what each of these may do and checks every rotation's key wraps; this
//! module signs them. A clinic's node rotates the keys of the records it holds by itself
//! ([`Node::rotate_stale_keys`]): after a disabling, a suspension, a key replacement, a
//! revocation made concurrently elsewhere or a grant that ran out, its patients' next entries
//! open only for the readers who still hold access.

use carelog_ledger::{
    Action, ActorId, KeyWrap, MAX_KEY_WRAPS, MAX_TXS_PER_BLOCK, Payload, Role, Tx, authorize,
};
use carelog_vault::{ActorKeys, DataKey, PublicKeys};

use crate::at_rest::AuthorityKeys;
use crate::card::Card;
use crate::error::{NodeError, Result};
use crate::home;
use crate::keys;
use crate::{Node, OwnTx, Session, patient_file, seal_patient_keys, seal_user_keys, validate_name};

/// A patient key replacement waiting for a second party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequest {
    /// Who asked.
    pub asked_by: ActorId,
    /// The new public keys asked for.
    pub keys: PublicKeys,
}

/// Where a patient key replacement stands after a party signed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// Recorded; a second party (the admin of the clinic of record, the custodian or the health
    /// authority) must ask for the same keys.
    Asked,
    /// Two parties agreed: the new keys are the patient's.
    Done,
}

fn setting_for_pending(patient: &ActorId) -> String {
    format!("pending_keys:{patient}")
}

impl Node {
    /// Disables a staff user of this clinic: what they sign afterwards is void everywhere, they
    /// can no longer sign in, and the records this clinic holds get new keys without them.
    /// Returns how many records were given a new key.
    pub fn disable_user(&mut self, admin: &Session, user: ActorId, reason: &str) -> Result<usize> {
        validate_name("the reason", reason)?;
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::DisableUser(user),
            None,
            self.clock(),
        )?;
        if self
            .ledger
            .state()
            .users
            .get(&user)
            .is_some_and(|u| u.disabled.is_some())
        {
            return Err(NodeError::invalid(format!(
                "{} is already disabled",
                self.describe(&user)
            )));
        }
        let tx = self.sign(
            admin,
            Payload::DisableUser {
                user,
                reason: reason.trim().into(),
            },
        );
        self.commit(vec![tx], &[])?;
        tracing::info!(%user, "staff user disabled");
        self.rotate_stale_keys()
    }

    /// A transaction by the health authority, sealed at this clinic.
    pub(crate) fn sign_as_authority(&self, authority: &ActorKeys, payload: Payload) -> OwnTx {
        OwnTx::by_authority(
            Tx {
                author: ActorId::from_signing_key(&authority.public().signing),
                clinic: self.sealer,
                time_ms: self.clock(),
                payload,
            }
            .sign(authority),
        )
    }

    /// The health authority suspends a clinic (`suspend`) or lifts its suspension: while
    /// suspended, its blocks carry nothing valid, its handshakes are refused and the records it
    /// held get new keys without it. Signed with the health authority's keys
    /// ([`Node::open_authority`]). Returns how many of this clinic's records were rotated.
    pub fn suspend_clinic(
        &mut self,
        authority: &AuthorityKeys,
        clinic: ActorId,
        suspend: bool,
        reason: &str,
    ) -> Result<usize> {
        let authority = &authority.0;
        let authority_id = ActorId::from_signing_key(&authority.public().signing);
        authorize(
            self.ledger.state(),
            authority_id,
            &Action::SuspendClinic(clinic),
            None,
            self.clock(),
        )?;
        if clinic == self.clinic {
            return Err(NodeError::invalid(
                "the founding clinic seals the health authority's own transactions and cannot \
                 suspend itself",
            ));
        }
        let suspended = self.ledger.state().is_suspended(&clinic);
        let payload = match (suspend, suspended) {
            (true, true) => {
                return Err(NodeError::invalid(format!(
                    "{} is already suspended",
                    self.describe(&clinic)
                )));
            }
            (false, false) => {
                return Err(NodeError::invalid(format!(
                    "{} is not suspended",
                    self.describe(&clinic)
                )));
            }
            (true, false) => {
                validate_name("the reason", reason)?;
                Payload::SuspendClinic {
                    clinic,
                    reason: reason.trim().into(),
                }
            }
            (false, true) => Payload::ReinstateClinic { clinic },
        };
        let tx = self.sign_as_authority(authority, payload);
        self.commit(vec![tx], &[])?;
        tracing::info!(%clinic, suspend, "clinic standing changed by the health authority");
        self.rotate_stale_keys()
    }

    /// New keys for a staff user of this clinic (a lost or stolen laptop, a forgotten
    /// passphrase), sealed under `passphrase`, which the user types themself. The old keys sign
    /// nothing valid afterwards; the records this clinic holds are wrapped for the new keys.
    pub fn replace_user_key(
        &mut self,
        admin: &Session,
        user: ActorId,
        passphrase: &str,
        reason: &str,
    ) -> Result<()> {
        validate_name("the reason", reason)?;
        let state = self.ledger.state();
        match state.users.get(&user) {
            Some(u) if u.role == Role::Patient => {
                return Err(NodeError::invalid(
                    "a patient's keys are replaced with `patient replace-key`",
                ));
            }
            Some(u) if u.clinic != self.clinic => {
                return Err(NodeError::invalid(format!(
                    "{} works at another clinic; its admins replace their keys",
                    self.describe(&user)
                )));
            }
            Some(_) => {}
            None => return Err(NodeError::UnknownUser(user.to_string())),
        }
        authorize(
            state,
            admin.user,
            &Action::ReplaceKey(user),
            None,
            self.clock(),
        )?;
        let keys = home::new_keys();
        let name = self.display_name(&user);
        let sealed = seal_user_keys(&keys, passphrase, &[&name])?;
        let tx = self.sign(
            admin,
            Payload::ReplaceKey {
                actor: user,
                keys: keys.public(),
                reason: reason.trim().into(),
            },
        );
        self.commit(vec![tx], &[(user, sealed.clone())])?;
        self.share_key_store_if_needed(user, &sealed)?;
        tracing::info!(%user, "staff keys replaced");
        self.rotate_stale_keys().map(|_| ())
    }

    /// Asks for (or agrees to) new keys for a patient whose card or keys were lost, or who
    /// forgot their PIN: the first party's node makes the keys and a new card, seals the keys
    /// under the card and the PIN the patient types, and keeps them until a second party
    /// agrees; a second party at any clinic agrees to the keys already asked for. Returns the
    /// new card when this call made it (print it for the patient: it is kept nowhere else).
    /// Neither party learns anything they could not read before: the new keys are the
    /// patient's, and the records are wrapped for them only as the ledger's rules allow.
    pub fn replace_patient_key(
        &mut self,
        party: &Session,
        patient: ActorId,
        pin: &str,
        reason: &str,
    ) -> Result<(Replacement, Option<Card>)> {
        validate_name("the reason", reason)?;
        authorize(
            self.ledger.state(),
            party.user,
            &Action::ReplaceKey(patient),
            None,
            self.clock(),
        )?;
        let file = patient_file(self.ledger.state(), &patient)?;
        let asked = file
            .key_requests
            .iter()
            .find(|(asker, _)| *asker != party.user)
            .map(|(_, keys)| *keys);
        let pending_setting = setting_for_pending(&patient);
        let mut card = None;
        let (keys, new_store) = match asked {
            // Agreeing: the keys someone else asked for. If that party's node is this one, its
            // sealed key store becomes the patient's once the replacement applies.
            Some(keys) => {
                let pending = self.store.setting(&pending_setting)?;
                let store = pending
                    .and_then(|bytes| postcard::from_bytes::<(PublicKeys, Vec<u8>)>(&bytes).ok())
                    .filter(|(public, _)| *public == keys)
                    .map(|(_, sealed)| (patient, sealed));
                (keys, store)
            }
            None => {
                let new = home::new_keys();
                let new_card = Card::issue(patient);
                let sealed = seal_patient_keys(&new, &new_card, pin)?;
                card = Some(new_card);
                let pending =
                    postcard::to_stdvec(&(new.public(), sealed)).expect("keys always encode");
                self.store.put_setting(&pending_setting, &pending)?;
                (new.public(), None)
            }
        };
        let tx = self.sign(
            party,
            Payload::ReplaceKey {
                actor: patient,
                keys,
                reason: reason.trim().into(),
            },
        );
        let new_store: Vec<(ActorId, Vec<u8>)> = new_store.into_iter().collect();
        self.commit(vec![tx], &new_store)?;
        let done = self.ledger.state().users.get(&patient).map(|u| u.keys) == Some(keys);
        if !done {
            return Ok((Replacement::Asked, card));
        }
        if !new_store.is_empty() {
            self.store.put_setting(&pending_setting, &[])?;
        }
        tracing::info!(%patient, "patient keys replaced");
        self.rotate_stale_keys()?;
        Ok((Replacement::Done, card))
    }

    /// Key replacements of a patient waiting for a second party.
    pub fn key_requests(&self, patient: ActorId) -> Result<Vec<KeyRequest>> {
        let file = patient_file(self.ledger.state(), &patient)?;
        Ok(file
            .key_requests
            .iter()
            .map(|(asked_by, keys)| KeyRequest {
                asked_by: *asked_by,
                keys: *keys,
            })
            .collect())
    }

    /// The health authority gives a clinic new node keys, from the join request the clinic's
    /// new machine wrote (`clinic request`). Returns the invite for that machine.
    pub fn replace_clinic_key(
        &mut self,
        authority: &AuthorityKeys,
        clinic: ActorId,
        request: &[u8],
        peers: &[String],
        reason: &str,
    ) -> Result<Vec<u8>> {
        validate_name("the reason", reason)?;
        let request = crate::JoinRequest::parse(request)?;
        let authority = &authority.0;
        let authority_id = ActorId::from_signing_key(&authority.public().signing);
        authorize(
            self.ledger.state(),
            authority_id,
            &Action::ReplaceKey(clinic),
            None,
            self.clock(),
        )?;
        if clinic == self.clinic {
            return Err(NodeError::invalid(
                "the founding clinic's own keys are replaced by restoring its home",
            ));
        }
        let tx = self.sign_as_authority(
            authority,
            Payload::ReplaceKey {
                actor: clinic,
                keys: request.clinic_keys,
                reason: reason.trim().into(),
            },
        );
        self.commit(vec![tx], &[])?;
        tracing::info!(%clinic, "clinic node keys replaced");
        Ok(self.invite(clinic, peers))
    }

    /// The patient moves their record to another clinic, which becomes the clinic of record
    /// (its admins manage the attention list from then on) and receives the record's keys.
    pub fn move_record(&mut self, patient: &Session, clinic: ActorId) -> Result<()> {
        let state = self.ledger.state();
        authorize(
            state,
            patient.user,
            &Action::MoveRecord(clinic),
            Some(patient.user),
            self.clock(),
        )?;
        let file = patient_file(state, &patient.user)?;
        if file.clinic == clinic {
            return Err(NodeError::invalid(
                "the record is already held by that clinic",
            ));
        }
        let clinic_key = state
            .encryption_key(&clinic)
            .ok_or_else(|| NodeError::UnknownUser(format!("no clinic {clinic}")))?;
        let key_wraps = patient
            .opened
            .open_all(file, &patient.user, &self.holders(patient))
            .iter()
            .map(|(id, key)| keys::wrap_for(key, *id, &patient.user, clinic, &clinic_key))
            .collect();
        let tx = self.sign(
            patient,
            Payload::MoveRecord {
                patient: patient.user,
                clinic,
                key_wraps,
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(())
    }

    /// Gives every record this clinic holds whose current key is not wrapped for exactly the
    /// readers who must hold it (someone disabled, suspended, re-keyed, revoked concurrently or
    /// whose grant ran out; someone assigned concurrently) a new key, signed by this clinic's
    /// node, and wraps the older keys it can open for required readers who lack them (new keys
    /// after a replacement). Returns how many records were rotated.
    pub fn rotate_stale_keys(&mut self) -> Result<usize> {
        let now = self.clock();
        let txs = self.stale_key_rotations(now);
        let rotated = txs.len();
        let per_block = MAX_TXS_PER_BLOCK.min(512);
        let mut txs = txs.into_iter().peekable();
        while txs.peek().is_some() {
            let chunk: Vec<OwnTx> = txs.by_ref().take(per_block).collect();
            self.commit(chunk, &[])?;
        }
        if rotated > 0 {
            tracing::info!(rotated, "records given new keys for their current readers");
        }
        Ok(rotated)
    }

    /// The rotations [`Node::rotate_stale_keys`] would sign now.
    fn stale_key_rotations(&self, now: i64) -> Vec<OwnTx> {
        let state = self.ledger.state();
        if state.is_suspended(&self.sealer) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut files: Vec<_> = state
            .patients
            .iter()
            .filter(|(_, f)| f.clinic == self.clinic)
            .collect();
        files.sort_unstable_by_key(|(id, _)| **id);
        let clinic_holder = [(self.sealer, &self.secrets.node)];
        for (patient, file) in files {
            let required = state.required_readers(patient, file, None, now, None);
            let current: std::collections::BTreeSet<ActorId> = file
                .current_key()
                .map(|k| k.wraps.keys().copied().collect())
                .unwrap_or_default();
            if current == required || required.len() > MAX_KEY_WRAPS {
                continue;
            }
            let opened = crate::keys::OpenedKeys::default();
            let older = opened.open_all(file, patient, &clinic_holder);
            let new_key = DataKey::from_bytes(home::random());
            let mut key_wraps: Vec<KeyWrap> = Vec::new();
            for reader in &required {
                let Some(enc) = state.encryption_key(reader) else {
                    continue;
                };
                key_wraps.push(keys::wrap_for(
                    &new_key,
                    Default::default(),
                    patient,
                    *reader,
                    &enc,
                ));
                for (epoch_id, key) in &older {
                    let holds = file
                        .key(epoch_id)
                        .is_some_and(|epoch| epoch.wraps.contains_key(reader));
                    if !holds && key_wraps.len() < MAX_KEY_WRAPS {
                        key_wraps.push(keys::wrap_for(key, *epoch_id, patient, *reader, &enc));
                    }
                }
            }
            out.push(self.sign_as_clinic(Payload::RotateKey {
                patient: *patient,
                key_wraps,
            }));
        }
        out
    }

    /// A transaction by this clinic's node itself (key rotation), signed with its node key.
    pub(crate) fn sign_as_clinic(&self, payload: Payload) -> OwnTx {
        OwnTx::by_clinic(
            Tx {
                author: self.sealer,
                clinic: self.sealer,
                time_ms: self.clock(),
                payload,
            }
            .sign(&self.secrets.node),
        )
    }
}
