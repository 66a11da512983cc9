//! What the ledger records about the network, its people and each patient's file.

use std::collections::BTreeMap;

use carelog_vault::PublicKeys;
use carelog_vocab::{AccessLevel, EntryKind};
use serde::{Deserialize, Serialize};

use crate::ids::{ActorId, NetworkId, TxId};
use crate::tx::Role;

/// The network's identity and authority.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    /// The genesis hash.
    pub id: NetworkId,
    /// Its name.
    pub name: String,
    /// The health authority's id.
    pub authority: ActorId,
    /// The health authority's keys.
    pub authority_keys: PublicKeys,
}

/// Where something happened in the DAG: the (sealing clinic, height) of its block. Whether it
/// is in the causal past of another block is [`Dag::precedes`](crate::Dag::precedes).
pub type BlockAt = (ActorId, u64);

/// A standing change to an actor (disabling, suspension): when, where and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The block that carries it.
    pub at: BlockAt,
    /// When (the author's checked time).
    pub time_ms: i64,
    /// Why, in the author's words.
    pub reason: String,
}

/// An actor's keys and the keys it had before each replacement.
///
/// A transaction is checked against the key its block could know of: the newest whose
/// replacement is in the block's causal past. So a block sealed concurrently with a replacement
/// is judged the same way by every replica, and what the old key signs after the replacement is
/// void in the order ([`KeyHistory::replaced_concurrently`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeyHistory {
    /// The keys before each replacement, oldest first, with the replacement's block.
    pub earlier: Vec<(PublicKeys, BlockAt)>,
}

impl KeyHistory {
    /// The keys a block with causal past `frontier` knows, given the current `keys`.
    pub fn keys_at<'a>(
        &'a self,
        current: &'a PublicKeys,
        frontier: &crate::Frontier,
    ) -> &'a PublicKeys {
        // Walk back from the newest replacement to the newest one the block has seen.
        let mut keys = current;
        for (before, at) in self.earlier.iter().rev() {
            if crate::Dag::precedes(*at, frontier) {
                return keys;
            }
            keys = before;
        }
        keys
    }

    /// Whether the newest replacement is not in the causal past of a block (what that block
    /// signs with the actor's key was checked against an older key).
    pub fn replaced_concurrently(&self, frontier: &crate::Frontier) -> bool {
        self.earlier
            .last()
            .is_some_and(|(_, at)| !crate::Dag::precedes(*at, frontier))
    }
}

/// An enrolled clinic.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Clinic {
    /// Its name.
    pub name: String,
    /// Its node keys (block sealing and key wrapping).
    pub keys: PublicKeys,
    /// Keys it had before a replacement.
    pub history: KeyHistory,
    /// Set while the health authority has it suspended; for a device, once it is removed (for
    /// good: a removed device pairs again as a new one).
    pub suspended: Option<Stop>,
    /// Set when this is not a clinic but a device of one.
    pub device: Option<DeviceOf>,
}

impl Clinic {
    /// Whether this is a clinic of the network rather than a device of one.
    pub fn is_clinic(&self) -> bool {
        self.device.is_none()
    }
}

/// What makes a sealer a device of a clinic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceOf {
    /// The clinic.
    pub clinic: ActorId,
    /// What it is for.
    pub role: crate::tx::DeviceRole,
    /// The block that enrolled it.
    pub since: BlockAt,
    /// Who enrolled it.
    pub by: ActorId,
    /// When (the enrolment's time).
    pub time_ms: i64,
}

/// An enrolled staff user or a registered patient.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Display name (empty for patients: their names are sealed).
    pub name: String,
    /// Role.
    pub role: Role,
    /// The clinic that enrolled or registered them.
    pub clinic: ActorId,
    /// A doctor's specialty.
    pub specialty: Option<String>,
    /// Public keys.
    pub keys: PublicKeys,
    /// Keys they had before a replacement.
    pub history: KeyHistory,
    /// Set once an admin of their clinic (or the authority) disabled them.
    pub disabled: Option<Stop>,
    /// A staff user's latest key store shared with the machines of their clinic
    /// ([`Payload::StaffKeyStore`](crate::Payload::StaffKeyStore)).
    pub key_store: Option<KeyStoreRef>,
}

/// A physician on a patient's attention list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attending {
    /// Whether they are the custodian (family doctor).
    pub custodian: bool,
    /// The block that assigned them.
    pub since: BlockAt,
}

/// A grant of access to one reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The level granted.
    pub level: AccessLevel,
    /// When it ends (Unix ms).
    pub expires_ms: Option<i64>,
    /// The granting transaction.
    pub tx: TxId,
    /// When it was granted.
    pub time_ms: i64,
    /// The block that carries it.
    pub since: BlockAt,
}

impl Grant {
    /// Whether the grant still holds at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        self.expires_ms.is_none_or(|end| now_ms < end)
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for the patient or custodian.
    Pending,
    /// Answered with a grant.
    Granted,
    /// Refused.
    Refused,
}

/// A request for access.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessRequest {
    /// The request transaction.
    pub id: TxId,
    /// Who asked.
    pub requester: ActorId,
    /// The level asked for.
    pub level: AccessLevel,
    /// Why.
    pub reason: String,
    /// When.
    pub time_ms: i64,
    /// Where it stands.
    pub status: RequestStatus,
}

/// One data key epoch of a patient and the readers it is wrapped for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataKeyEpoch {
    /// The transaction that introduced the key.
    pub id: TxId,
    /// 0, 1, 2… in order.
    pub epoch: u32,
    /// Wrapped key bytes per reader.
    pub wraps: BTreeMap<ActorId, Vec<u8>>,
}

/// Where a chart entry's sealed payload lives, and what is known of it in the clear.
///
/// A large network's state holds hundreds of thousands of these, so the block and the data key
/// are kept as small numbers: [`State::entry_block`](crate::State::entry_block) and
/// [`PatientFile::entry_key`] give them back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryRef {
    /// The entry id (its transaction id).
    pub id: TxId,
    /// The block that carries it: an index into the state's table of blocks with entries.
    pub(crate) block: u32,
    /// Its index in that block.
    pub index: u32,
    /// Its kind.
    pub kind: EntryKind,
    /// Who wrote it.
    pub author: ActorId,
    /// When.
    pub time_ms: i64,
    /// The data key it is sealed with: an index into the file's key epochs ([`NO_KEY`] if it
    /// names none of them).
    pub(crate) key: u32,
    /// The entry it corrects (boxed: few entries are corrections).
    pub amends: Option<Box<TxId>>,
    /// Why it is flagged (e.g. written concurrently with a revocation).
    pub flag: Option<Box<str>>,
}

/// A published view of a chart at information or sample level.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewRef {
    /// The publishing transaction.
    pub id: TxId,
    /// Its level.
    pub level: AccessLevel,
    /// The block that carries it: an index into the state's table of blocks with entries.
    pub(crate) block: u32,
    /// Its index in that block.
    pub index: u32,
    /// The grantees its key is wrapped for.
    pub readers: Vec<ActorId>,
    /// How many chart entries the file held when it was published (a later entry makes it old).
    pub entries: u32,
    /// When it was published.
    pub time_ms: i64,
}

/// [`EntryRef`]'s key index when the entry names a key its patient's file does not hold.
pub(crate) const NO_KEY: u32 = u32::MAX;

/// What happened to a record, as the patient's audit shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    /// Registration.
    Register,
    /// A physician was added to the attention list.
    Assign,
    /// A chart read.
    Read,
    /// A new chart entry.
    Write,
    /// A correction of an entry.
    Amend,
    /// A request for access.
    Request,
    /// A grant.
    Grant,
    /// A refusal of a request.
    Refuse,
    /// A revocation.
    Revoke,
    /// Emergency access.
    BreakGlass,
    /// A new data key (after a disabled reader, a suspended clinic or a replaced key).
    Rotate,
    /// The record moved to another clinic.
    Move,
    /// A request for new keys for the patient (applied once two parties agree).
    ReplaceKey,
    /// A proxy was added.
    AddProxy,
    /// A lab read the outstanding orders on its worklist (appended last, so saved states
    /// keep their encoding).
    ReadOrders,
    /// The patient, a proxy or an admin of the clinic of record reviewed a break-glass opening.
    ReviewBreakGlass,
}

impl AuditAction {
    /// The lowercase word for output.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Register => "register",
            AuditAction::AddProxy => "add proxy",
            AuditAction::Assign => "assign",
            AuditAction::Read => "read",
            AuditAction::Write => "write",
            AuditAction::Amend => "amend",
            AuditAction::Request => "request",
            AuditAction::Grant => "grant",
            AuditAction::Refuse => "refuse",
            AuditAction::Revoke => "revoke",
            AuditAction::BreakGlass => "break-glass",
            AuditAction::Rotate => "rotate key",
            AuditAction::Move => "move record",
            AuditAction::ReplaceKey => "replace key",
            AuditAction::ReadOrders => "read orders",
            AuditAction::ReviewBreakGlass => "review break-glass",
        }
    }
}

/// One line of a patient's audit trail.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When (the actor's clock).
    pub time_ms: i64,
    /// Who.
    pub actor: ActorId,
    /// What.
    pub action: AuditAction,
    /// The access level involved, if any.
    pub level: Option<AccessLevel>,
    /// The transaction.
    pub tx: TxId,
    /// Extra words (reason, purpose, the other party).
    pub detail: Option<String>,
}

/// Everything the ledger knows about one patient's record.
///
/// A large network holds hundreds of thousands of entries, so a file is kept compact: the audit
/// line of a chart write is worked out from the entry when asked for instead of being stored
/// beside it, and the lists grow by a quarter at a time rather than doubling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatientFile {
    /// The clinic of record: the registering clinic, or the one the patient moved it to.
    pub clinic: ActorId,
    /// The physicians on the attention list.
    pub attention: BTreeMap<ActorId, Attending>,
    /// Active grants.
    pub grants: BTreeMap<ActorId, Grant>,
    /// Requests, newest last.
    pub requests: Vec<AccessRequest>,
    /// Revocations: reader → the revoking block.
    pub revocations: Vec<(ActorId, BlockAt)>,
    /// Data keys, oldest first; the last is current.
    pub keys: Vec<DataKeyEpoch>,
    /// Chart entries in order.
    entries: Vec<EntryRef>,
    /// Break-glass openings: reader → time.
    pub break_glass: Vec<(ActorId, i64)>,
    /// Requests for new patient keys not yet agreed by a second party: who asked, for which
    /// keys.
    pub key_requests: Vec<(ActorId, PublicKeys)>,
    /// Views published for grantees below full, oldest first.
    pub views: Vec<ViewRef>,
    /// The audit trail in order, each line pointing into `entries` or `events`.
    trail: Vec<TrailLine>,
    /// Audit events other than chart writes.
    events: Vec<AuditEvent>,
    /// Proxies who act for the patient, each with where they were added.
    pub proxies: BTreeMap<ActorId, ProxyRef>,
    /// The emergency summary published last.
    pub emergency: Option<KeyStoreRef>,
    /// The key store the patient published last (`None` before any, or after new keys).
    pub key_store: Option<KeyStoreRef>,
    /// Reviews of break-glass openings: the opening (its transaction) and who reviewed it.
    pub reviews: Vec<(TxId, ActorId)>,
}

/// Where a proxy was added: the block (for the order) and the transaction (for its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyRef {
    /// The block that added them.
    pub since: BlockAt,
    /// That block: an index into the state's table of blocks with entries.
    pub(crate) block: u32,
    /// The transaction's index in that block.
    pub index: u32,
}

/// Where a patient's published key store (or emergency summary) is: a transaction of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStoreRef {
    /// The block: an index into the state's table of blocks with entries.
    pub(crate) block: u32,
    /// The transaction's index in that block.
    pub index: u32,
}

/// One line of the audit trail: a chart write (index into the entries) or another event (index
/// into the events).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum TrailLine {
    Entry(u32),
    Event(u32),
}

impl PatientFile {
    /// A newly registered patient's file.
    pub(crate) fn new(clinic: ActorId, key: DataKeyEpoch, registered: AuditEvent) -> PatientFile {
        let mut file = PatientFile {
            clinic,
            attention: BTreeMap::new(),
            grants: BTreeMap::new(),
            requests: Vec::new(),
            revocations: Vec::new(),
            keys: vec![key],
            entries: Vec::new(),
            break_glass: Vec::new(),
            key_requests: Vec::new(),
            views: Vec::new(),
            trail: Vec::new(),
            events: Vec::new(),
            key_store: None,
            emergency: None,
            reviews: Vec::new(),
            proxies: BTreeMap::new(),
        };
        file.record_event(registered);
        file
    }

    /// The custodian (family doctor), if assigned.
    pub fn custodian(&self) -> Option<ActorId> {
        self.attention
            .iter()
            .find(|(_, a)| a.custodian)
            .map(|(id, _)| *id)
    }

    /// The current data key epoch.
    pub fn current_key(&self) -> Option<&DataKeyEpoch> {
        self.keys.last()
    }

    /// A data key epoch by id.
    pub fn key(&self, id: &TxId) -> Option<&DataKeyEpoch> {
        self.keys.iter().find(|k| k.id == *id)
    }

    /// The data key epoch an entry of this file is sealed with (`None` if it names none).
    pub fn entry_key(&self, entry: &EntryRef) -> Option<&DataKeyEpoch> {
        self.keys.get(entry.key as usize)
    }

    /// The index of a key epoch, as an [`EntryRef`] keeps it.
    pub(crate) fn key_index(&self, id: &TxId) -> u32 {
        self.keys
            .iter()
            .position(|k| k.id == *id)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(NO_KEY)
    }

    /// The chart entries, in the ledger's order.
    pub fn entries(&self) -> &[EntryRef] {
        &self.entries
    }

    /// The newest view at `level` whose key is wrapped for `reader`.
    pub fn view_for(&self, level: AccessLevel, reader: &ActorId) -> Option<&ViewRef> {
        self.views
            .iter()
            .rev()
            .find(|v| v.level == level && v.readers.contains(reader))
    }

    /// The live grantees at `level` at `now_ms`.
    pub fn grantees_at(&self, level: AccessLevel, now_ms: i64) -> Vec<ActorId> {
        self.grants
            .iter()
            .filter(|(_, g)| g.level == level && g.live(now_ms))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Entries, audit lines and other events held: a measure of the file's size.
    pub(crate) fn line_count(&self) -> usize {
        self.entries.len() + self.trail.len() + self.events.len()
    }

    /// The audit trail, oldest first.
    pub fn audit(&self) -> impl Iterator<Item = AuditEvent> + '_ {
        self.trail.iter().filter_map(|line| match *line {
            TrailLine::Entry(i) => self.entries.get(i as usize).map(EntryRef::audit_event),
            TrailLine::Event(i) => self.events.get(i as usize).cloned(),
        })
    }

    pub(crate) fn record_entry(&mut self, entry: EntryRef) {
        let line = TrailLine::Entry(index(self.entries.len()));
        push_compact(&mut self.entries, entry);
        push_compact(&mut self.trail, line);
    }

    pub(crate) fn record_event(&mut self, event: AuditEvent) {
        let line = TrailLine::Event(index(self.events.len()));
        push_compact(&mut self.events, event);
        push_compact(&mut self.trail, line);
    }
}

impl EntryRef {
    /// The entry's line in the patient's audit trail.
    pub fn audit_event(&self) -> AuditEvent {
        AuditEvent {
            time_ms: self.time_ms,
            actor: self.author,
            action: if self.amends.is_some() {
                AuditAction::Amend
            } else {
                AuditAction::Write
            },
            level: None,
            tx: self.id,
            detail: Some(match &self.flag {
                Some(flag) => format!("{} ({flag})", self.kind),
                None => self.kind.to_string(),
            }),
        }
    }
}

/// A position in one patient's lists. Four billion lines of one patient would need terabytes
/// of memory long before the index ran out.
fn index(len: usize) -> u32 {
    u32::try_from(len).expect("fewer than 2^32 lines in one patient's file")
}

/// Pushes, growing the list by a quarter (at least four) when it is full: a doubling list is
/// on average a quarter empty, which across a large network's files is tens of megabytes.
fn push_compact<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 4).max(4));
    }
    list.push(item);
}
