//! Derived state: what the ordered transactions say about the network, its people and their records.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use carelog_vault::PublicKeys;
use carelog_vocab::AccessLevel;

use crate::ids::{ActorId, BlockHash, Hash, NetworkId, TxId};
use crate::order::{Dag, Frontier};
use crate::policy::{self, Action};
use crate::records::{
    AccessRequest, Attending, AuditAction, AuditEvent, BlockAt, Clinic, DataKeyEpoch, EntryRef,
    Grant, KeyHistory, NO_KEY, Network, PatientFile, RequestStatus, Stop, User, ViewRef,
};
use crate::tx::{KeyWrap, Payload, Role, SignedTx};

/// How long break-glass access lasts.
pub const BREAK_GLASS_MS: i64 = 24 * 60 * 60 * 1000;

/// Where the transaction being applied sits in the DAG.
#[derive(Clone, Copy, Debug)]
pub struct Position<'a> {
    /// Its block.
    pub block: BlockHash,
    /// Its index in the block.
    pub index: u32,
    /// The block's causal past.
    pub frontier: &'a Frontier,
    /// The block's (clinic, height).
    pub at: (ActorId, u64),
}

/// The replayed state of a ledger.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The network, once genesis is applied.
    pub network: Option<Network>,
    /// Enrolled clinics.
    pub clinics: BTreeMap<ActorId, Clinic>,
    /// Staff users and patients (tens of thousands on a large network; looked up several times
    /// for every transaction, so hashed rather than sorted).
    pub users: HashMap<ActorId, User>,
    /// Patients' records.
    pub patients: HashMap<ActorId, PatientFile>,
    /// Transactions applied (void ones included: they are part of history).
    pub tx_count: u64,
    /// Transactions the policy made void at their place in the order.
    pub void: Vec<(TxId, String)>,
    /// The blocks that carry chart entries, in order: an entry keeps its block's index here.
    entry_blocks: Vec<BlockHash>,
    /// The running digest of the ordered transaction ids (none before the first).
    digest: Option<Hash>,
    /// Every signing key any actor holds or held (worked out again from the actors when a
    /// saved state is read back): no enrolment or replacement may take one over.
    keys_in_use: HashSet<[u8; 32]>,
}

impl State {
    /// The digest of the ordered transaction ids: equal on converged replicas.
    pub fn state_hash(&self) -> Hash {
        self.digest.unwrap_or_default()
    }

    /// A state made of the parts a saved state keeps.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        network: Option<Network>,
        clinics: BTreeMap<ActorId, Clinic>,
        users: HashMap<ActorId, User>,
        patients: HashMap<ActorId, PatientFile>,
        tx_count: u64,
        void: Vec<(TxId, String)>,
        entry_blocks: Vec<BlockHash>,
        digest: Option<Hash>,
    ) -> State {
        let keys_in_use = users
            .values()
            .map(|u| (&u.keys, &u.history))
            .chain(clinics.values().map(|c| (&c.keys, &c.history)))
            .flat_map(|(keys, history)| {
                std::iter::once(keys.signing).chain(history.earlier.iter().map(|(k, _)| k.signing))
            })
            .collect();
        State {
            network,
            clinics,
            users,
            patients,
            tx_count,
            void,
            entry_blocks,
            digest,
            keys_in_use,
        }
    }

    /// The blocks that carry chart entries, as entries refer to them.
    pub(crate) fn entry_blocks(&self) -> &[BlockHash] {
        &self.entry_blocks
    }

    /// See [`State::state_hash`].
    pub(crate) fn digest(&self) -> Option<Hash> {
        self.digest
    }

    /// The health authority's id, once genesis is applied.
    pub fn authority(&self) -> Option<ActorId> {
        self.network.as_ref().map(|n| n.authority)
    }

    /// The current public keys of any actor: authority, clinic, user or patient.
    pub fn public_keys(&self, actor: &ActorId) -> Option<&PublicKeys> {
        if let Some(n) = &self.network
            && n.authority == *actor
        {
            return Some(&n.authority_keys);
        }
        self.users
            .get(actor)
            .map(|u| &u.keys)
            .or_else(|| self.clinics.get(actor).map(|c| &c.keys))
    }

    /// The signing key of any actor: authority, clinic, user or patient.
    pub fn signing_key(&self, actor: &ActorId) -> Option<[u8; 32]> {
        self.public_keys(actor).map(|k| k.signing)
    }

    /// The signing key a block whose causal past is `frontier` knows for an actor: the newest
    /// whose replacement it has seen ([`KeyHistory::keys_at`]).
    pub fn signing_key_at(&self, actor: &ActorId, frontier: &Frontier) -> Option<[u8; 32]> {
        if let Some(u) = self.users.get(actor) {
            return Some(u.history.keys_at(&u.keys, frontier).signing);
        }
        if let Some(c) = self.clinics.get(actor) {
            return Some(c.history.keys_at(&c.keys, frontier).signing);
        }
        self.signing_key(actor)
    }

    /// Whether an actor's keys were ever replaced (its signatures then depend on the causal past).
    pub fn has_key_history(&self, actor: &ActorId) -> bool {
        self.users
            .get(actor)
            .map(|u| &u.history)
            .or_else(|| self.clinics.get(actor).map(|c| &c.history))
            .is_some_and(|h| !h.earlier.is_empty())
    }

    /// The encryption key of a user, patient or clinic node.
    pub fn encryption_key(&self, actor: &ActorId) -> Option<[u8; 32]> {
        self.users
            .get(actor)
            .map(|u| u.keys.encryption)
            .or_else(|| self.clinics.get(actor).map(|c| c.keys.encryption))
    }

    /// Whether a clinic is suspended by the health authority; for a device, whether it was
    /// removed or its clinic is suspended.
    pub fn is_suspended(&self, clinic: &ActorId) -> bool {
        self.clinics.get(clinic).is_some_and(|c| {
            c.suspended.is_some()
                || c.device
                    .as_ref()
                    .is_some_and(|d| self.is_suspended_clinic(&d.clinic))
        })
    }

    fn is_suspended_clinic(&self, clinic: &ActorId) -> bool {
        self.clinics
            .get(clinic)
            .is_some_and(|c| c.suspended.is_some())
    }

    /// The clinic a sealer belongs to: itself for a clinic's own node, its clinic for a device.
    pub fn clinic_of(&self, sealer: &ActorId) -> ActorId {
        self.clinics
            .get(sealer)
            .and_then(|c| c.device.as_ref())
            .map_or(*sealer, |d| d.clinic)
    }

    /// Whether an id is an enrolled clinic of the network (not a device of one).
    pub fn is_clinic(&self, id: &ActorId) -> bool {
        self.clinics.get(id).is_some_and(|c| c.is_clinic())
    }

    /// The devices enrolled in a clinic (removed ones too), by id.
    pub fn devices_of<'a>(
        &'a self,
        clinic: &'a ActorId,
    ) -> impl Iterator<Item = (&'a ActorId, &'a crate::records::Clinic)> + 'a {
        self.clinics
            .iter()
            .filter(move |(_, c)| c.device.as_ref().is_some_and(|d| d.clinic == *clinic))
    }

    /// Whether `sealer` may seal blocks and connect now: an enrolled clinic not suspended, or a
    /// device not removed whose clinic is not suspended.
    pub fn may_seal(&self, sealer: &ActorId) -> bool {
        self.clinics.contains_key(sealer) && !self.is_suspended(sealer)
    }

    /// Whether an actor id is taken (authority, clinic, user or patient).
    pub fn is_actor(&self, id: &ActorId) -> bool {
        self.authority() == Some(*id)
            || self.users.contains_key(id)
            || self.clinics.contains_key(id)
    }

    /// Whether a signing key is, or was, any actor's.
    pub fn key_in_use(&self, signing: &[u8; 32]) -> bool {
        self.keys_in_use.contains(signing)
            || self
                .network
                .as_ref()
                .is_some_and(|n| n.authority_keys.signing == *signing)
    }

    /// Whether a reader can hold a patient's keys at all: not disabled, not a suspended clinic
    /// nor a suspended clinic's staff.
    fn may_hold_keys(&self, reader: &ActorId) -> bool {
        if let Some(u) = self.users.get(reader) {
            return u.disabled.is_none()
                && (u.role == Role::Patient || !self.is_suspended(&u.clinic));
        }
        self.may_seal(reader)
    }

    /// The readers a patient's new data key must be wrapped for at `now_ms`: the patient, the
    /// clinic of record, the attention list and live full grants, leaving out `except`, anyone
    /// disabled or suspended, and (when `frontier` is given) anyone whose assignment or grant a
    /// block with that causal past had not seen.
    pub fn required_readers(
        &self,
        patient: &ActorId,
        file: &PatientFile,
        frontier: Option<&Frontier>,
        now_ms: i64,
        except: Option<ActorId>,
    ) -> BTreeSet<ActorId> {
        let seen = |since: BlockAt| frontier.is_none_or(|f| Dag::precedes(since, f));
        let attention = file
            .attention
            .iter()
            .filter(|(_, a)| seen(a.since))
            .map(|(id, _)| *id);
        let grants = file
            .grants
            .iter()
            .filter(|(_, g)| g.level == AccessLevel::Full && g.live(now_ms) && seen(g.since))
            .map(|(id, _)| *id);
        let proxies = file
            .proxies
            .iter()
            .filter(|(_, at)| seen(at.since))
            .map(|(id, _)| *id);
        // The clinic's devices hold its records' keys like its first node does.
        let devices = self
            .devices_of(&file.clinic)
            .filter(|(_, c)| c.device.as_ref().is_some_and(|d| seen(d.since)))
            .map(|(id, _)| *id);
        [*patient, file.clinic]
            .into_iter()
            .chain(devices)
            .chain(attention)
            .chain(grants)
            .chain(proxies)
            .filter(|r| Some(*r) != except && self.may_hold_keys(r))
            .collect()
    }

    /// Whether a reader that a rotation wraps for but does not require lost their standing
    /// concurrently with it (revoked, disabled or suspended in a block it had not seen), or
    /// still holds some (a concurrent assignment or grant): an honest rotation may name them.
    fn may_be_wrapped(
        &self,
        file: &PatientFile,
        reader: &ActorId,
        frontier: &Frontier,
        now_ms: i64,
    ) -> bool {
        let unseen = |at: BlockAt| !Dag::precedes(at, frontier);
        let device_of_record = self
            .clinics
            .get(reader)
            .and_then(|c| c.device.as_ref())
            .is_some_and(|d| d.clinic == file.clinic);
        let holds = (file.attention.contains_key(reader)
            || file.proxies.contains_key(reader)
            || device_of_record
            || file
                .grants
                .get(reader)
                .is_some_and(|g| g.level == AccessLevel::Full && g.live(now_ms)))
            && self.may_hold_keys(reader);
        let revoked_unseen = file
            .revocations
            .iter()
            .any(|(r, at)| r == reader && unseen(*at));
        let stopped_unseen = match self.users.get(reader) {
            Some(u) => {
                u.disabled.as_ref().is_some_and(|d| unseen(d.at))
                    || self
                        .clinics
                        .get(&u.clinic)
                        .and_then(|c| c.suspended.as_ref())
                        .is_some_and(|s| unseen(s.at))
            }
            None => self.clinics.get(reader).is_some_and(|c| {
                let parent = c.device.as_ref().and_then(|d| self.clinics.get(&d.clinic));
                c.suspended
                    .iter()
                    .chain(parent.and_then(|p| p.suspended.as_ref()))
                    .any(|s| unseen(s.at))
            }),
        };
        holds || revoked_unseen || stopped_unseen
    }

    /// A patient's file.
    pub fn patient(&self, id: &ActorId) -> Option<&PatientFile> {
        self.patients.get(id)
    }

    /// The block that carries a chart entry.
    pub fn entry_block(&self, entry: &EntryRef) -> Option<BlockHash> {
        self.entry_blocks.get(entry.block as usize).copied()
    }

    /// The block that adds a proxy.
    pub fn proxy_block(&self, at: &crate::records::ProxyRef) -> Option<BlockHash> {
        self.entry_blocks.get(at.block as usize).copied()
    }

    /// The block that carries a patient's published key store.
    pub fn key_store_block(&self, at: &crate::records::KeyStoreRef) -> Option<BlockHash> {
        self.entry_blocks.get(at.block as usize).copied()
    }

    /// The block that carries a published view.
    pub fn view_block(&self, view: &ViewRef) -> Option<BlockHash> {
        self.entry_blocks.get(view.block as usize).copied()
    }

    /// The index of a block in the table of blocks with entries and views, added if new.
    fn block_index(&mut self, block: BlockHash) -> u32 {
        // A block's transactions apply one after another, so its entries share the last slot.
        if self.entry_blocks.last() != Some(&block) {
            self.entry_blocks.push(block);
        }
        u32::try_from(self.entry_blocks.len() - 1)
            .expect("fewer than 2^32 blocks carry chart entries")
    }

    /// Records a transaction as void at its place in the order without asking anything of it
    /// (its block is on a branch the network does not keep).
    pub(crate) fn void_tx(&mut self, id: TxId, why: &str) {
        self.chain_digest(&id);
        self.tx_count += 1;
        self.void.push((id, why.into()));
    }

    fn chain_digest(&mut self, id: &TxId) {
        // Chained, so that it is a 32-byte value a saved state can keep.
        let key = self
            .digest
            .map_or_else(|| blake3::derive_key("carelog state v2", &[]), |d| d.0);
        self.digest = Some(Hash(*blake3::keyed_hash(&key, &id.0).as_bytes()));
    }

    /// Applies one signed transaction (whose id is `id`) at its place in the total order.
    ///
    /// Role and scope checks that every replica makes alike were made when the block was
    /// accepted. Here the policy is asked again against the ordered state: a transaction it
    /// refuses is kept in history but has no effect. A chart entry refused only because of
    /// something its author could not have seen (a revocation, disabling or suspension in a
    /// concurrent block) is kept and flagged, since clinical data is never dropped; any other
    /// refused entry is void, so a writer without access cannot fill a chart with noise.
    pub fn apply(&mut self, stx: &SignedTx, id: TxId, position: Position<'_>) {
        let tx = &stx.tx;
        self.chain_digest(&id);
        self.tx_count += 1;

        if let Payload::Genesis {
            network_name,
            authority,
        } = &tx.payload
        {
            if self.network.is_none() {
                self.network = Some(Network {
                    id: Hash::default(),
                    name: network_name.clone(),
                    authority: tx.author,
                    authority_keys: *authority,
                });
            }
            return;
        }

        if let Some(why) = self.void_by_standing(tx, position) {
            self.void.push((id, why.into()));
            return;
        }
        let decision = policy::authorize(
            self,
            tx.author,
            &Action::for_tx(tx),
            tx.payload.patient(),
            tx.time_ms,
        );
        if let Err(denied) = &decision {
            let concurrent = self.stopped_concurrently(tx, position);
            match &tx.payload {
                Payload::ChartEntry { .. } if concurrent => {
                    let flag = "written concurrently with a revocation of the author's access";
                    self.record_entry(id, stx, position, Some(flag.to_string()));
                }
                // A read made with access that was revoked concurrently still happened.
                Payload::AuditRead { .. } | Payload::WorklistRead { .. } if concurrent => {
                    self.apply_effect(id, stx, position)
                }
                _ => self.void.push((id, denied.to_string())),
            }
            return;
        }
        if let Payload::GrantAccess { grantee, .. } = &tx.payload
            && self.has_concurrent_revocation(tx.payload.patient(), grantee, position)
        {
            self.void
                .push((id, "a concurrent revocation of the same reader wins".into()));
            return;
        }
        if let Err(why) = self.check_wraps(tx, id, position) {
            self.void.push((id, why));
            return;
        }
        self.apply_effect(id, stx, position);
    }

    /// Why a transaction is void whatever it does: sealed by a suspended clinic, or signed
    /// (or sealed) with keys replaced in a block its own had not seen.
    fn void_by_standing(&self, tx: &crate::tx::Tx, position: Position<'_>) -> Option<&'static str> {
        let sealer = position.at.0;
        if let Some(clinic) = self.clinics.get(&sealer) {
            if let Some(device) = &clinic.device {
                if clinic.suspended.is_some() {
                    return Some("sealed by a device removed from its clinic");
                }
                if self.is_suspended_clinic(&device.clinic) && self.authority() != Some(tx.author) {
                    return Some(
                        "sealed by a device of a clinic the health authority has suspended",
                    );
                }
                let clinician = self
                    .users
                    .get(&tx.author)
                    .is_some_and(|u| matches!(u.role, Role::Doctor | Role::Lab));
                if device.role == crate::tx::DeviceRole::Kiosk && clinician {
                    return Some("a kiosk seals no doctor's or lab's transactions");
                }
            }
            if clinic.suspended.is_some() && self.authority() != Some(tx.author) {
                return Some("sealed by a clinic the health authority has suspended");
            }
            if clinic.history.replaced_concurrently(position.frontier) {
                return Some("sealed with clinic keys replaced in a block it had not seen");
            }
        }
        let author_history = self
            .users
            .get(&tx.author)
            .map(|u| &u.history)
            .or_else(|| self.clinics.get(&tx.author).map(|c| &c.history));
        if author_history.is_some_and(|h| h.replaced_concurrently(position.frontier)) {
            return Some("signed with keys replaced in a block it had not seen");
        }
        None
    }

    /// Whether the author lost access in a block this one had not seen: revoked from the
    /// patient, disabled, or their clinic suspended.
    fn stopped_concurrently(&self, tx: &crate::tx::Tx, position: Position<'_>) -> bool {
        let unseen = |stop: Option<&crate::records::Stop>| {
            stop.is_some_and(|s| !Dag::precedes(s.at, position.frontier))
        };
        let user = self.users.get(&tx.author);
        self.has_concurrent_revocation(tx.payload.patient(), &tx.author, position)
            || unseen(user.and_then(|u| u.disabled.as_ref()))
            || unseen(
                user.and_then(|u| self.clinics.get(&u.clinic))
                    .and_then(|c| c.suspended.as_ref()),
            )
    }

    fn has_concurrent_revocation(
        &self,
        patient: Option<ActorId>,
        reader: &ActorId,
        position: Position<'_>,
    ) -> bool {
        let Some(file) = patient.and_then(|p| self.patients.get(&p)) else {
            return false;
        };
        file.revocations
            .iter()
            .any(|(r, at)| r == reader && !Dag::precedes(*at, position.frontier))
    }

    /// The checks of key wraps that depend on the record's state: a rotation (or revocation)
    /// wraps the new key for every reader who must hold it and for no one without standing,
    /// and a first key goes to the patient and the clinic of record only.
    fn check_wraps(
        &self,
        tx: &crate::tx::Tx,
        id: TxId,
        position: Position<'_>,
    ) -> Result<(), String> {
        let (patient, wraps, except) = match &tx.payload {
            Payload::RegisterPatient {
                patient, key_wraps, ..
            } => {
                let clinic = self.clinic_of(&tx.clinic);
                let device_of_clinic = |reader: &ActorId| {
                    self.clinics.get(reader).is_some_and(|c| {
                        c.device.as_ref().is_some_and(|d| d.clinic == clinic)
                            && c.suspended.is_none()
                    })
                };
                return match key_wraps.iter().find(|w| {
                    w.reader != *patient && w.reader != clinic && !device_of_clinic(&w.reader)
                }) {
                    Some(w) => Err(format!(
                        "the first key is wrapped for {}, neither the patient nor the clinic",
                        w.reader
                    )),
                    None if !key_wraps.iter().any(|w| w.reader == clinic) => {
                        Err("the first key is not wrapped for the clinic of record".into())
                    }
                    None => Ok(()),
                };
            }
            Payload::RevokeAccess {
                patient,
                reader,
                key_wraps,
            } => (patient, key_wraps, Some(*reader)),
            Payload::RotateKey { patient, key_wraps } => (patient, key_wraps, None),
            Payload::LevelView {
                patient,
                level,
                key_wraps,
                ..
            } => {
                let Some(file) = self.patients.get(patient) else {
                    return Ok(());
                };
                // Only grantees at this very level (or ones revoked in a block the publisher had
                // not seen) may receive a view's key.
                let live = file.grantees_at(*level, tx.time_ms);
                let revoked_unseen = |r: &ActorId| {
                    file.revocations
                        .iter()
                        .any(|(who, at)| who == r && !Dag::precedes(*at, position.frontier))
                };
                return match key_wraps
                    .iter()
                    .find(|w| !live.contains(&w.reader) && !revoked_unseen(&w.reader))
                {
                    Some(w) => Err(format!(
                        "it wraps a {level} view for {}, who holds no grant at that level",
                        w.reader
                    )),
                    None => Ok(()),
                };
            }
            _ => return Ok(()),
        };
        let Some(file) = self.patients.get(patient) else {
            return Ok(());
        };
        let frontier = position.frontier;
        let required = self.required_readers(patient, file, Some(frontier), tx.time_ms, except);
        // The new key's wraps cannot name it (it is this transaction's id); older keys' can.
        let new_key = |w: &KeyWrap| w.key == id || file.key(&w.key).is_none();
        let wrapped: BTreeSet<ActorId> = wraps
            .iter()
            .filter(|w| new_key(w))
            .map(|w| w.reader)
            .collect();
        if let Some(missing) = required.difference(&wrapped).next() {
            return Err(format!(
                "the new key is not wrapped for {missing}, who must hold it"
            ));
        }
        if let Some(w) = wraps.iter().find(|w| {
            !required.contains(&w.reader)
                && (Some(w.reader) == except
                    || !self.may_be_wrapped(file, &w.reader, frontier, tx.time_ms))
        }) {
            return Err(format!(
                "it wraps the key for {}, who holds no access",
                w.reader
            ));
        }
        Ok(())
    }

    fn apply_effect(&mut self, id: TxId, stx: &SignedTx, position: Position<'_>) {
        let tx = &stx.tx;
        let audit = |action, level, detail| AuditEvent {
            time_ms: tx.time_ms,
            actor: tx.author,
            action,
            level,
            tx: id,
            detail,
        };
        if let Some((actor, keys)) = tx.payload.introduces()
            && (self.is_actor(&actor) || self.key_in_use(&keys.signing))
        {
            // The first enrolment in the order keeps the id; a second cannot take it over.
            self.void.push((id, format!("{actor} is already enrolled")));
            return;
        }
        match &tx.payload {
            Payload::Genesis { .. } => {}
            Payload::EnrollClinic { clinic, name, keys } => {
                self.enroll_sealer(*clinic, name, keys, None);
            }
            Payload::EnrollDevice {
                device,
                clinic,
                name,
                role,
                keys,
            } => {
                let of = crate::records::DeviceOf {
                    clinic: *clinic,
                    role: *role,
                    since: position.at,
                    by: tx.author,
                    time_ms: tx.time_ms,
                };
                self.enroll_sealer(*device, name, keys, Some(of));
            }
            Payload::RemoveDevice { device, reason } => {
                if let Some(c) = self.clinics.get_mut(device) {
                    c.suspended.get_or_insert(Stop {
                        at: position.at,
                        time_ms: tx.time_ms,
                        reason: reason.clone(),
                    });
                }
            }
            Payload::EnrollUser {
                user,
                clinic,
                name,
                role,
                specialty,
                keys,
            } => {
                self.keys_in_use.insert(keys.signing);
                self.users.insert(
                    *user,
                    User {
                        name: name.clone(),
                        role: *role,
                        clinic: *clinic,
                        specialty: specialty.clone(),
                        keys: *keys,
                        history: KeyHistory::default(),
                        disabled: None,
                        key_store: None,
                    },
                );
            }
            Payload::RegisterPatient {
                patient,
                keys,
                key_wraps,
            } => {
                self.enroll_person(*patient, keys, &tx.clinic);
                let key = DataKeyEpoch {
                    id,
                    epoch: 0,
                    wraps: new_key_wraps(key_wraps),
                };
                let clinic = self.clinic_of(&tx.clinic);
                let file = PatientFile::new(clinic, key, audit(AuditAction::Register, None, None));
                self.patients.insert(*patient, file);
            }
            Payload::AssignPhysician {
                patient,
                doctor,
                custodian,
                key_wraps,
            } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                if *custodian {
                    for a in file.attention.values_mut() {
                        a.custodian = false;
                    }
                }
                file.attention.insert(
                    *doctor,
                    Attending {
                        custodian: *custodian,
                        since: position.at,
                    },
                );
                add_wraps(file, key_wraps);
                let role = if *custodian { "custodian" } else { "attending" };
                file.record_event(audit(
                    AuditAction::Assign,
                    Some(AccessLevel::Full),
                    Some(format!("{doctor} as {role}")),
                ));
            }
            Payload::RequestAccess {
                patient,
                level,
                reason,
            } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                file.requests.push(AccessRequest {
                    id,
                    requester: tx.author,
                    level: *level,
                    reason: reason.clone(),
                    time_ms: tx.time_ms,
                    status: RequestStatus::Pending,
                });
                file.record_event(audit(
                    AuditAction::Request,
                    Some(*level),
                    Some(reason.clone()),
                ));
            }
            Payload::GrantAccess {
                patient,
                grantee,
                level,
                expires_ms,
                key_wraps,
            } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                file.grants.insert(
                    *grantee,
                    Grant {
                        level: *level,
                        expires_ms: *expires_ms,
                        tx: id,
                        time_ms: tx.time_ms,
                        since: position.at,
                    },
                );
                for request in file.requests.iter_mut() {
                    if request.requester == *grantee && request.status == RequestStatus::Pending {
                        request.status = RequestStatus::Granted;
                    }
                }
                add_wraps(file, key_wraps);
                file.record_event(audit(
                    AuditAction::Grant,
                    Some(*level),
                    Some(format!("to {grantee}")),
                ));
            }
            Payload::RefuseAccess { patient, request } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                if let Some(r) = file.requests.iter_mut().find(|r| r.id == *request) {
                    r.status = RequestStatus::Refused;
                    let (level, detail) = (r.level, format!("request of {}", r.requester));
                    file.record_event(audit(AuditAction::Refuse, Some(level), Some(detail)));
                }
            }
            Payload::RevokeAccess {
                patient,
                reader,
                key_wraps,
            } => {
                let keep = self.with_standing(patient, tx.time_ms, Some(*reader));
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                file.grants.remove(reader);
                file.attention.remove(reader);
                file.break_glass.retain(|(r, _)| r != reader);
                file.revocations.push((*reader, position.at));
                push_epoch(file, id, key_wraps, &keep);
                file.record_event(audit(
                    AuditAction::Revoke,
                    None,
                    Some(format!("from {reader}")),
                ));
            }
            Payload::RotateKey { patient, key_wraps } => {
                let keep = self.with_standing(patient, tx.time_ms, None);
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                push_epoch(file, id, key_wraps, &keep);
                file.record_event(audit(AuditAction::Rotate, None, None));
            }
            Payload::MoveRecord {
                patient,
                clinic,
                key_wraps,
            } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                let from = std::mem::replace(&mut file.clinic, *clinic);
                add_wraps(file, key_wraps);
                file.record_event(audit(
                    AuditAction::Move,
                    None,
                    Some(format!("from {from} to {clinic}")),
                ));
            }
            Payload::ChartEntry { .. } => self.record_entry(id, stx, position, None),
            Payload::LevelView {
                patient,
                level,
                key_wraps,
                ..
            } => {
                let Some(file) = self.patients.get(patient) else {
                    return;
                };
                // Grantees who lost the level concurrently are not given this view.
                let live = file.grantees_at(*level, tx.time_ms);
                let readers: Vec<ActorId> = key_wraps
                    .iter()
                    .map(|w| w.reader)
                    .filter(|r| live.contains(r) && self.may_hold_keys(r))
                    .collect();
                let block = self.block_index(position.block);
                if let Some(file) = self.patients.get_mut(patient) {
                    let entries = u32::try_from(file.entries().len()).unwrap_or(u32::MAX);
                    file.views.push(ViewRef {
                        id,
                        level: *level,
                        block,
                        index: position.index,
                        readers,
                        entries,
                        time_ms: tx.time_ms,
                    });
                }
            }
            Payload::AuditRead {
                patient,
                level,
                purpose,
            } => {
                if let Some(file) = self.patients.get_mut(patient) {
                    file.record_event(audit(
                        AuditAction::Read,
                        Some(*level),
                        Some(purpose.clone()),
                    ));
                }
            }
            Payload::WorklistRead { patient } => {
                if let Some(file) = self.patients.get_mut(patient) {
                    file.record_event(audit(
                        AuditAction::ReadOrders,
                        None,
                        Some("outstanding orders on the lab's worklist".into()),
                    ));
                }
            }
            Payload::ReviewBreakGlass {
                patient,
                opening,
                note,
            } => {
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                let opened = file
                    .audit()
                    .any(|e| e.tx == *opening && e.action == AuditAction::BreakGlass);
                if !opened {
                    self.void.push((
                        id,
                        format!("{opening} is no break-glass opening of this record"),
                    ));
                    return;
                }
                file.reviews.push((*opening, tx.author));
                file.record_event(audit(
                    AuditAction::ReviewBreakGlass,
                    None,
                    Some(format!("break-glass {opening}: {note}")),
                ));
            }
            Payload::BreakGlass { patient, reason } => {
                if let Some(file) = self.patients.get_mut(patient) {
                    file.break_glass.push((tx.author, tx.time_ms));
                    file.record_event(audit(
                        AuditAction::BreakGlass,
                        Some(AccessLevel::Full),
                        Some(reason.clone()),
                    ));
                }
            }
            Payload::DisableUser { user, reason } => {
                if let Some(u) = self.users.get_mut(user) {
                    u.disabled.get_or_insert(Stop {
                        at: position.at,
                        time_ms: tx.time_ms,
                        reason: reason.clone(),
                    });
                }
            }
            Payload::SuspendClinic { clinic, reason } => {
                if let Some(c) = self.clinics.get_mut(clinic) {
                    c.suspended.get_or_insert(Stop {
                        at: position.at,
                        time_ms: tx.time_ms,
                        reason: reason.clone(),
                    });
                }
            }
            Payload::ReinstateClinic { clinic } => {
                if let Some(c) = self.clinics.get_mut(clinic) {
                    c.suspended = None;
                }
            }
            Payload::ReplaceKey { actor, keys, .. } => {
                self.replace_key(id, tx, *actor, keys, position);
            }
            Payload::AddProxy {
                patient,
                proxy,
                keys,
                key_wraps,
                ..
            } => {
                if !self.patients.contains_key(patient) {
                    return;
                }
                self.enroll_person(*proxy, keys, &tx.clinic);
                let block = self.block_index(position.block);
                if let Some(file) = self.patients.get_mut(patient) {
                    file.proxies.insert(
                        *proxy,
                        crate::records::ProxyRef {
                            since: position.at,
                            block,
                            index: position.index,
                        },
                    );
                    add_wraps(file, key_wraps);
                    file.record_event(audit(
                        AuditAction::AddProxy,
                        Some(AccessLevel::Full),
                        Some(format!("proxy {proxy}")),
                    ));
                }
            }
            Payload::EmergencySummary { patient, .. } => {
                if self.patients.contains_key(patient) {
                    let block = self.block_index(position.block);
                    if let Some(file) = self.patients.get_mut(patient) {
                        file.emergency = Some(crate::records::KeyStoreRef {
                            block,
                            index: position.index,
                        });
                    }
                }
            }
            Payload::StaffKeyStore {
                user, key_wraps, ..
            } => {
                let Some(clinic) = self.users.get(user).map(|u| u.clinic) else {
                    return;
                };
                // Wrapped for the machines of the user's clinic and no one else.
                let machine = |reader: &ActorId| {
                    *reader == clinic
                        || self.clinics.get(reader).is_some_and(|c| {
                            c.suspended.is_none()
                                && c.device.as_ref().is_some_and(|d| d.clinic == clinic)
                        })
                };
                if let Some(w) = key_wraps.iter().find(|w| !machine(&w.reader)) {
                    self.void.push((
                        id,
                        format!(
                            "it shares a key store with {}, no machine of the user's clinic",
                            w.reader
                        ),
                    ));
                    return;
                }
                let block = self.block_index(position.block);
                if let Some(u) = self.users.get_mut(user) {
                    u.key_store = Some(crate::records::KeyStoreRef {
                        block,
                        index: position.index,
                    });
                }
            }
            Payload::PatientKeyStore { patient, .. } => {
                if self.patients.contains_key(patient) {
                    let block = self.block_index(position.block);
                    if let Some(file) = self.patients.get_mut(patient) {
                        file.key_store = Some(crate::records::KeyStoreRef {
                            block,
                            index: position.index,
                        });
                    }
                }
            }
        }
    }

    /// Enrolls a person who signs in with a card (a patient or a proxy) at the clinic of the
    /// machine that sealed their enrolment.
    fn enroll_person(&mut self, id: ActorId, keys: &PublicKeys, sealer: &ActorId) {
        self.keys_in_use.insert(keys.signing);
        let clinic = self.clinic_of(sealer);
        self.users.insert(
            id,
            User {
                name: String::new(),
                role: Role::Patient,
                clinic,
                specialty: None,
                keys: *keys,
                history: KeyHistory::default(),
                disabled: None,
                key_store: None,
            },
        );
    }

    /// Enrolls a sealer: a clinic, or (with `device`) a device of one.
    fn enroll_sealer(
        &mut self,
        id: ActorId,
        name: &str,
        keys: &PublicKeys,
        device: Option<crate::records::DeviceOf>,
    ) {
        self.keys_in_use.insert(keys.signing);
        self.clinics.insert(
            id,
            Clinic {
                name: name.to_string(),
                keys: *keys,
                history: KeyHistory::default(),
                suspended: None,
                device,
            },
        );
    }

    /// Applies a key replacement: at once for a clinic or staff user; for a patient once a
    /// second party has asked for the same keys. The actor's wraps go (they open only for the
    /// old keys); the clinics of record rotate their records' keys for the new ones.
    fn replace_key(
        &mut self,
        id: TxId,
        tx: &crate::tx::Tx,
        actor: ActorId,
        keys: &PublicKeys,
        position: Position<'_>,
    ) {
        if self.key_in_use(&keys.signing) {
            self.void
                .push((id, "the new keys are, or were, another actor's".into()));
            return;
        }
        if let Some(file) = self.patients.get_mut(&actor) {
            let agreed = file
                .key_requests
                .iter()
                .any(|(asker, asked)| *asker != tx.author && asked == keys);
            file.record_event(AuditEvent {
                time_ms: tx.time_ms,
                actor: tx.author,
                action: AuditAction::ReplaceKey,
                level: None,
                tx: id,
                detail: Some(if agreed { "agreed" } else { "asked" }.into()),
            });
            if !agreed {
                file.key_requests.retain(|(asker, _)| *asker != tx.author);
                file.key_requests.push((tx.author, *keys));
                return;
            }
            file.key_requests.clear();
            // The published key store holds the old keys; the emergency summary is for the old
            // card.
            file.key_store = None;
            file.emergency = None;
        }
        let history = if let Some(u) = self.users.get_mut(&actor) {
            let old = std::mem::replace(&mut u.keys, *keys);
            u.history.earlier.push((old, position.at));
            true
        } else if let Some(c) = self.clinics.get_mut(&actor) {
            let old = std::mem::replace(&mut c.keys, *keys);
            c.history.earlier.push((old, position.at));
            true
        } else {
            false
        };
        if history {
            self.keys_in_use.insert(keys.signing);
            for file in self.patients.values_mut() {
                for epoch in &mut file.keys {
                    epoch.wraps.remove(&actor);
                }
            }
        }
    }

    /// The readers whose wraps of a rotation's keys are recorded: those who hold access at its
    /// time (a reader who lost it concurrently is not given the wrap the rotation carried).
    fn with_standing(
        &self,
        patient: &ActorId,
        time_ms: i64,
        except: Option<ActorId>,
    ) -> BTreeSet<ActorId> {
        self.patients
            .get(patient)
            .map(|file| self.required_readers(patient, file, None, time_ms, except))
            .unwrap_or_default()
    }

    fn record_entry(
        &mut self,
        id: TxId,
        stx: &SignedTx,
        position: Position<'_>,
        flag: Option<String>,
    ) {
        let tx = &stx.tx;
        let Payload::ChartEntry {
            patient,
            kind,
            key,
            amends,
            ..
        } = &tx.payload
        else {
            return;
        };
        match self.patients.get(patient) {
            None => return,
            Some(file) if file.key(key).is_none() => {
                // Sealed with a key the record never had: nobody it names can open it.
                self.void
                    .push((id, "sealed with a key this record does not have".into()));
                return;
            }
            Some(_) => {}
        }
        let block = self.block_index(position.block);
        let Some(file) = self.patients.get_mut(patient) else {
            return;
        };
        let key = file.key_index(key);
        debug_assert_ne!(
            key, NO_KEY,
            "every recorded entry names one of its record's keys"
        );
        file.record_entry(EntryRef {
            id,
            block,
            index: position.index,
            kind: *kind,
            author: tx.author,
            time_ms: tx.time_ms,
            key,
            amends: amends.map(Box::new),
            flag: flag.map(String::into_boxed_str),
        });
    }

    pub(crate) fn set_network_id(&mut self, id: NetworkId) {
        if let Some(n) = &mut self.network {
            n.id = id;
        }
    }
}

/// Wraps of a key the transaction itself introduces (their `key` field cannot name it yet).
fn new_key_wraps(wraps: &[KeyWrap]) -> BTreeMap<ActorId, Vec<u8>> {
    wraps
        .iter()
        .map(|w| (w.reader, w.wrapped.clone()))
        .collect()
}

/// A new key epoch introduced by transaction `id`, with the wraps of the new key for `keep`
/// (older keys' wraps in the same transaction are added to their epochs).
fn push_epoch(file: &mut PatientFile, id: TxId, wraps: &[KeyWrap], keep: &BTreeSet<ActorId>) {
    let (old, new): (Vec<&KeyWrap>, Vec<&KeyWrap>) = wraps
        .iter()
        .partition(|w| w.key != id && file.key(&w.key).is_some());
    let epoch = file.keys.len() as u32;
    file.keys.push(DataKeyEpoch {
        id,
        epoch,
        wraps: new
            .into_iter()
            .filter(|w| keep.contains(&w.reader))
            .map(|w| (w.reader, w.wrapped.clone()))
            .collect(),
    });
    for wrap in old.into_iter().filter(|w| keep.contains(&w.reader)) {
        if let Some(epoch) = file.keys.iter_mut().find(|k| k.id == wrap.key) {
            epoch.wraps.insert(wrap.reader, wrap.wrapped.clone());
        }
    }
}

fn add_wraps(file: &mut PatientFile, wraps: &[KeyWrap]) {
    for wrap in wraps {
        if let Some(epoch) = file.keys.iter_mut().find(|k| k.id == wrap.key) {
            epoch.wraps.insert(wrap.reader, wrap.wrapped.clone());
        }
    }
}
