//! Derived state: what the ordered transactions say about the network, its people and their records.

use std::collections::{BTreeMap, HashMap};

use carelog_chart::AccessLevel;

use crate::ids::{ActorId, BlockHash, Hash, NetworkId, TxId};
use crate::order::{Dag, Frontier};
use crate::policy::{self, Action};
use crate::records::{
    AccessRequest, AuditAction, AuditEvent, Clinic, DataKeyEpoch, EntryRef, Grant, Network,
    PatientFile, RequestStatus, User,
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
        State {
            network,
            clinics,
            users,
            patients,
            tx_count,
            void,
            entry_blocks,
            digest,
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

    /// The signing key of any actor: authority, clinic, user or patient.
    pub fn signing_key(&self, actor: &ActorId) -> Option<[u8; 32]> {
        if let Some(n) = &self.network
            && n.authority == *actor
        {
            return Some(n.authority_keys.signing);
        }
        self.users
            .get(actor)
            .map(|u| u.keys.signing)
            .or_else(|| self.clinics.get(actor).map(|c| c.keys.signing))
    }

    /// The encryption key of a user, patient or clinic node.
    pub fn encryption_key(&self, actor: &ActorId) -> Option<[u8; 32]> {
        self.users
            .get(actor)
            .map(|u| u.keys.encryption)
            .or_else(|| self.clinics.get(actor).map(|c| c.keys.encryption))
    }

    /// A patient's file.
    pub fn patient(&self, id: &ActorId) -> Option<&PatientFile> {
        self.patients.get(id)
    }

    /// The block that carries a chart entry.
    pub fn entry_block(&self, entry: &EntryRef) -> Option<BlockHash> {
        self.entry_blocks.get(entry.block as usize).copied()
    }

    /// Applies one signed transaction (whose id is `id`) at its place in the total order.
    ///
    /// Role checks were made when the block was accepted. Here the policy is asked again against
    /// the ordered state: a transaction it refuses is kept in history but has no effect, except a
    /// chart entry, which is kept and flagged (clinical data is never dropped).
    pub fn apply(&mut self, stx: &SignedTx, id: TxId, position: Position<'_>) {
        let tx = &stx.tx;
        // Chained, so that it is a 32-byte value a saved state can keep.
        let key = self
            .digest
            .map_or_else(|| blake3::derive_key("carelog state v2", &[]), |d| d.0);
        self.digest = Some(Hash(*blake3::keyed_hash(&key, &id.0).as_bytes()));
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

        let decision = policy::authorize(
            self,
            tx.author,
            &Action::for_payload(&tx.payload),
            tx.payload.patient(),
            tx.time_ms,
        );
        if let Err(denied) = &decision {
            let concurrent = self.revoked_concurrently(tx, position);
            match &tx.payload {
                Payload::ChartEntry { .. } => {
                    let flag = if concurrent {
                        "written concurrently with a revocation of the author's access".to_string()
                    } else {
                        format!("written without access: {denied}")
                    };
                    self.record_entry(id, stx, position, Some(flag));
                }
                // A read made with access that was revoked concurrently still happened.
                Payload::AuditRead { .. } => self.apply_effect(id, stx, position),
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
        self.apply_effect(id, stx, position);
    }

    fn revoked_concurrently(&self, tx: &crate::tx::Tx, position: Position<'_>) -> bool {
        self.has_concurrent_revocation(tx.payload.patient(), &tx.author, position)
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
        match &tx.payload {
            Payload::Genesis { .. } => {}
            Payload::EnrollClinic { clinic, name, keys } => {
                self.clinics.entry(*clinic).or_insert(Clinic {
                    name: name.clone(),
                    keys: *keys,
                });
            }
            Payload::EnrollUser {
                user,
                clinic,
                name,
                role,
                specialty,
                keys,
            } => {
                self.users.entry(*user).or_insert(User {
                    name: name.clone(),
                    role: *role,
                    clinic: *clinic,
                    specialty: specialty.clone(),
                    keys: *keys,
                });
            }
            Payload::RegisterPatient {
                patient,
                keys,
                key_wraps,
            } => {
                if self.patients.contains_key(patient) {
                    self.void.push((id, "patient already registered".into()));
                    return;
                }
                self.users.insert(
                    *patient,
                    User {
                        name: String::new(),
                        role: Role::Patient,
                        clinic: tx.clinic,
                        specialty: None,
                        keys: *keys,
                    },
                );
                let key = DataKeyEpoch {
                    id,
                    epoch: 0,
                    wraps: new_key_wraps(key_wraps),
                };
                let file =
                    PatientFile::new(tx.clinic, key, audit(AuditAction::Register, None, None));
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
                    for flag in file.attention.values_mut() {
                        *flag = false;
                    }
                }
                file.attention.insert(*doctor, *custodian);
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
                let Some(file) = self.patients.get_mut(patient) else {
                    return;
                };
                file.grants.remove(reader);
                file.attention.remove(reader);
                file.break_glass.retain(|(r, _)| r != reader);
                file.revocations.push((*reader, position.at));
                let epoch = file.keys.len() as u32;
                file.keys.push(DataKeyEpoch {
                    id,
                    epoch,
                    wraps: new_key_wraps(key_wraps),
                });
                file.record_event(audit(
                    AuditAction::Revoke,
                    None,
                    Some(format!("from {reader}")),
                ));
            }
            Payload::ChartEntry { .. } => self.record_entry(id, stx, position, None),
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
        }
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
        let Some(file) = self.patients.get_mut(patient) else {
            return;
        };
        // A block's transactions apply one after another, so its entries share the last slot.
        if self.entry_blocks.last() != Some(&position.block) {
            self.entry_blocks.push(position.block);
        }
        let block = u32::try_from(self.entry_blocks.len() - 1)
            .expect("fewer than 2^32 blocks carry chart entries");
        let key = file.key_index(key);
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

fn add_wraps(file: &mut PatientFile, wraps: &[KeyWrap]) {
    for wrap in wraps {
        if let Some(epoch) = file.keys.iter_mut().find(|k| k.id == wrap.key) {
            epoch.wraps.insert(wrap.reader, wrap.wrapped.clone());
        }
    }
}
