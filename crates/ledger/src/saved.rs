//! The derived state saved beside the blocks, so that opening a large replica reads its state
//! back instead of replaying every transaction.
//!
//! [`Ledger::saved_state`] encodes the state in parts (a head with the blocks it covers, then
//! pages of users and of patients' files); [`Ledger::restore`] rebuilds a replica from them. The
//! parts are this replica's own: whoever keeps them must make sure they come back unaltered
//! (the node seals each with a key of its own) and cover exactly the blocks it holds.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::block::Block;
use crate::ids::{ActorId, BlockHash, Hash, NetworkId, TxId};
use crate::ledger::Ledger;
use crate::records::{Clinic, Network, PatientFile, User};
use crate::state::State;

/// The layout of the parts; a replica reading another layout replays instead. 2: clinics
/// carry their devices.
const FORMAT: u32 = 2;

/// Users per page.
const USERS_PER_PART: usize = 2048;

/// Roughly how many entries and audit lines one page of patients' files holds (about a
/// megabyte encoded).
const LINES_PER_PART: usize = 16_384;

/// What a replica's state says outside its users and patients, and the blocks it covers.
#[derive(Serialize, Deserialize)]
struct Head {
    format: u32,
    network: NetworkId,
    /// Every block in the order, as the DAG knows it (it is rebuilt from them).
    blocks: Vec<SavedBlock>,
    record: Option<Network>,
    clinics: BTreeMap<ActorId, Clinic>,
    tx_count: u64,
    void: Vec<(TxId, String)>,
    entry_blocks: Vec<BlockHash>,
    digest: Option<Hash>,
    /// The parts after this one.
    pages: u32,
    users: u64,
    patients: u64,
}

/// What the order needs of one block.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedBlock {
    pub(crate) hash: BlockHash,
    pub(crate) clinic: ActorId,
    pub(crate) height: u64,
    pub(crate) time_ms: i64,
    pub(crate) links: Vec<BlockHash>,
}

/// One part as written (borrowing the state).
#[derive(Serialize)]
enum PartOut<'a> {
    Head(Box<Head>),
    Users(Vec<(&'a ActorId, &'a User)>),
    Patients(Vec<(&'a ActorId, &'a PatientFile)>),
}

/// One part as read back: the same encoding as [`PartOut`].
#[derive(Deserialize)]
enum Part {
    Head(Box<Head>),
    Users(Vec<(ActorId, User)>),
    Patients(Vec<(ActorId, PatientFile)>),
}

/// One decoded part of a saved state, ready for [`Ledger::restore`].
pub struct SavedPart(Part);

impl std::fmt::Debug for SavedPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, len) = match &self.0 {
            Part::Head(h) => ("head", h.blocks.len()),
            Part::Users(u) => ("users", u.len()),
            Part::Patients(p) => ("patients", p.len()),
        };
        write!(f, "SavedPart({kind}, {len})")
    }
}

impl SavedPart {
    /// Decodes one part; never panics on bad bytes.
    pub fn decode(bytes: &[u8]) -> Result<SavedPart, LedgerError> {
        let (part, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} unexpected trailing bytes",
                rest.len()
            )));
        }
        Ok(SavedPart(part))
    }
}

fn malformed(reason: String) -> LedgerError {
    LedgerError::Malformed {
        what: "saved state",
        reason,
    }
}

impl Ledger {
    /// The derived state as encoded parts, the first of which says how many follow. Each part
    /// is encoded only when the iterator reaches it. `None` while the state is incomplete
    /// (a block could not be read back when it was rebuilt).
    pub fn saved_state(&self) -> Option<impl Iterator<Item = Vec<u8>> + '_> {
        if self.is_incomplete() {
            return None;
        }
        let state = self.state();
        // Sorted, so that equal states give equal parts.
        let mut users: Vec<_> = state.users.iter().collect();
        users.sort_unstable_by_key(|(id, _)| **id);
        let mut files: Vec<_> = state.patients.iter().collect();
        files.sort_unstable_by_key(|(id, _)| **id);
        let mut patients: Vec<Vec<(&ActorId, &PatientFile)>> = vec![Vec::new()];
        let mut lines = 0;
        for (id, file) in files {
            let here = file.line_count();
            if lines + here > LINES_PER_PART && !patients[patients.len() - 1].is_empty() {
                patients.push(Vec::new());
                lines = 0;
            }
            lines += here;
            let last = patients.len() - 1;
            patients[last].push((id, file));
        }
        patients.retain(|page| !page.is_empty());
        let user_pages: Vec<Vec<(&ActorId, &User)>> =
            users.chunks(USERS_PER_PART).map(<[_]>::to_vec).collect();
        let head = Head {
            format: FORMAT,
            network: self.network_id(),
            blocks: self
                .dag()
                .order()
                .iter()
                .filter_map(|hash| {
                    let node = self.dag().node(hash)?;
                    Some(SavedBlock {
                        hash: *hash,
                        clinic: node.clinic,
                        height: node.height,
                        time_ms: node.time_ms,
                        links: node.links.clone(),
                    })
                })
                .collect(),
            record: state.network.clone(),
            clinics: state.clinics.clone(),
            tx_count: state.tx_count,
            void: state.void.clone(),
            entry_blocks: state.entry_blocks().to_vec(),
            digest: state.digest(),
            pages: u32::try_from(user_pages.len() + patients.len()).unwrap_or(u32::MAX),
            users: state.users.len() as u64,
            patients: state.patients.len() as u64,
        };
        let parts = std::iter::once(PartOut::Head(Box::new(head)))
            .chain(user_pages.into_iter().map(PartOut::Users))
            .chain(patients.into_iter().map(PartOut::Patients))
            .map(|part| crate::encoding::to_bytes(&part));
        Some(parts)
    }

    /// Whether two replicas hold the same derived state (compared a part at a time).
    pub(crate) fn same_state(&self, other: &Ledger) -> bool {
        match (self.saved_state(), other.saved_state()) {
            (Some(mine), Some(theirs)) => mine.eq(theirs),
            _ => false,
        }
    }

    /// Rebuilds a replica from its genesis block and the parts [`Ledger::saved_state`] gave, in
    /// the same order. Nothing is replayed: the parts are trusted to be this replica's own, so
    /// check their seal before. Block contents are read back through
    /// [`Ledger::read_bodies_from`] when needed.
    pub fn restore(
        genesis: Block,
        parts: impl IntoIterator<Item = SavedPart>,
    ) -> Result<Ledger, LedgerError> {
        let mut parts = parts.into_iter();
        let Some(SavedPart(Part::Head(head))) = parts.next() else {
            return Err(malformed("it does not start with its head".into()));
        };
        let head = *head;
        if head.format != FORMAT {
            return Err(malformed(format!("layout {} is not {FORMAT}", head.format)));
        }
        let mut ledger = Ledger::new(genesis)?;
        if head.network != ledger.network_id() {
            return Err(malformed("it belongs to another network".into()));
        }
        match head.blocks.first() {
            Some(first) if first.hash == ledger.network_id() => {}
            _ => return Err(malformed("its blocks do not start at genesis".into())),
        }
        let mut users = HashMap::with_capacity(head.users.min(1 << 24) as usize);
        let mut patients = HashMap::with_capacity(head.patients.min(1 << 24) as usize);
        let mut pages = 0;
        for SavedPart(part) in parts.by_ref().take(head.pages as usize) {
            pages += 1;
            match part {
                Part::Head(_) => return Err(malformed("it has a second head".into())),
                Part::Users(page) => users.extend(page),
                Part::Patients(page) => patients.extend(page),
            }
        }
        if pages != head.pages || parts.next().is_some() {
            return Err(malformed(format!(
                "it has {pages} parts after its head, not {}",
                head.pages
            )));
        }
        if users.len() as u64 != head.users || patients.len() as u64 != head.patients {
            return Err(malformed("its users or patients are incomplete".into()));
        }
        ledger.restore_blocks(&head.blocks[1..])?;
        ledger.replace_state(State::from_parts(
            head.record,
            head.clinics,
            users,
            patients,
            head.tx_count,
            head.void,
            head.entry_blocks,
            head.digest,
        ));
        Ok(ledger)
    }
}
