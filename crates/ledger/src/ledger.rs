//! A replica: the genesis, every accepted block, their order and the derived state.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex, mpsc};

use carelog_vault::{ActorKeys, PublicKeys, Verifier};

use crate::LedgerError;
use crate::block::{Block, Checked};
use crate::error::BlockFailure;
use crate::ids::{ActorId, BlockHash, Hash, NetworkId, TxId};
use crate::order::Dag;
use crate::policy::{self, Action, Denied};
use crate::state::{Position, State};
use crate::tx::{Payload, Role, SignedTx, Tx};

/// How much to re-check a block that is being inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Everything: seal, transaction signatures, links, roles, times. For blocks from anywhere,
    /// this node's own database included (a batch's signatures are checked on every core).
    Full,
    /// Links and roles but not signatures: for `ledger verify`, which checks the signatures on
    /// other cores meanwhile, and for building test and benchmark stores.
    Stored,
    /// Links, roles and policy but not signatures, for a block a node has just sealed from
    /// transactions it signed itself with keys it has matched to their enrolments (its node key
    /// when it opened, each user's when they signed in): a signature made with the enrolled key
    /// verifies under it. `ledger verify` and every peer still check them.
    Own,
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The block was already known.
    Known,
    /// The block extended the order at its end.
    Appended,
    /// The block arrived concurrently with known ones; the order and state were rebuilt.
    Reordered,
}

/// The first clinic and admin a network starts with.
pub struct Founding<'a> {
    /// The network's name.
    pub network_name: &'a str,
    /// The first clinic's name.
    pub clinic_name: &'a str,
    /// The first clinic's node keys.
    pub clinic_keys: PublicKeys,
    /// The first admin's name.
    pub admin_name: &'a str,
    /// The first admin's keys.
    pub admin_keys: PublicKeys,
}

/// Where a replica reads back the contents of blocks it does not keep in memory: the node's
/// own database, which stores every block before or as the replica takes it in.
pub trait BlockBodies: Send + Sync + std::fmt::Debug {
    /// The stored block with this hash, its shape checked (see [`Block::decode_checked`]);
    /// `None` if it cannot be read.
    fn load(&self, hash: &BlockHash) -> Option<Checked>;
}

/// How much block content (encoded bytes) a replica with a [`BlockBodies`] source keeps in
/// memory, the newest and those read lately: a clinic's everyday charts stay in memory, a
/// network's whole history does not.
pub const RESIDENT_BYTES: usize = 16 << 20;

/// The blocks' contents with their transaction ids: all in memory, or with a source only the
/// newest and those read lately, the rest read back when needed.
struct Bodies {
    resident: Mutex<Resident>,
    source: Option<Arc<dyn BlockBodies>>,
    /// Encoded bytes kept in memory when there is a source.
    budget: usize,
}

#[derive(Clone, Default)]
struct Resident {
    map: HashMap<BlockHash, Checked>,
    /// Oldest first, for eviction.
    queue: VecDeque<BlockHash>,
    /// Encoded bytes of the blocks in `map`.
    bytes: usize,
    /// While set, nothing is evicted (a batch whose blocks are not yet stored).
    hold: bool,
}

impl Clone for Bodies {
    fn clone(&self) -> Bodies {
        Bodies {
            resident: Mutex::new(self.lock().clone()),
            source: self.source.clone(),
            budget: self.budget,
        }
    }
}

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bodies")
            .field("resident", &self.lock().map.len())
            .field("source", &self.source)
            .finish()
    }
}

impl Bodies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Resident> {
        self.resident.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn keep(&self, checked: Checked) {
        let mut resident = self.lock();
        let (hash, len) = (checked.hash, checked.encoded_len);
        if resident.map.insert(hash, checked).is_none() {
            resident.queue.push_back(hash);
            resident.bytes += len;
        }
        self.trim(&mut resident);
    }

    fn trim(&self, resident: &mut Resident) {
        if self.source.is_none() || resident.hold {
            return;
        }
        while resident.bytes > self.budget && resident.queue.len() > 1 {
            if let Some(old) = resident.queue.pop_front()
                && let Some(gone) = resident.map.remove(&old)
            {
                resident.bytes -= gone.encoded_len;
            }
        }
    }

    fn hold(&self, hold: bool) {
        let mut resident = self.lock();
        resident.hold = hold;
        self.trim(&mut resident);
    }

    /// A block's contents, read back from the source if not in memory (and then kept a while).
    fn get(&self, hash: &BlockHash) -> Option<Checked> {
        if let Some(checked) = self.lock().map.get(hash) {
            return Some(checked.clone());
        }
        let checked = self
            .source
            .as_ref()?
            .load(hash)
            .filter(|c| c.hash == *hash)?;
        self.keep(checked.clone());
        Some(checked)
    }
}

/// A full replica of the ledger.
#[derive(Clone, Debug)]
pub struct Ledger {
    network: NetworkId,
    genesis: Arc<Block>,
    dag: Dag,
    /// Every block's contents with its transaction ids (computed once; a replay needs them).
    bodies: Bodies,
    /// A block whose contents could not be read back when the state was rebuilt: the state is
    /// incomplete, so the replica takes nothing more in until the node is opened again.
    unreadable: Option<BlockHash>,
    /// Each clinic's block at each height: the one on its chain the network keeps, when the
    /// clinic sealed two (see [`Ledger::rivals`]).
    by_height: HashMap<(ActorId, u64), BlockHash>,
    /// Every block of a (clinic, height) where the clinic sealed more than one: equivocation,
    /// kept as its own evidence and settled the same way on every replica.
    rivals: HashMap<(ActorId, u64), Vec<BlockHash>>,
    /// Blocks off the branch the network keeps of a clinic that equivocated: in the order, their
    /// transactions void.
    shadowed: HashSet<BlockHash>,
    state: State,
    /// While loading many blocks, apply in arrival order and replay once at the end.
    deferred_replay: Option<bool>,
    /// Set while a block is added or the state rebuilt: still set afterwards only if that was
    /// cut short by a panic, leaving the state half-applied.
    applying: bool,
    /// This machine's time, when the node gives it: blocks from outside sealed further ahead
    /// than [`MAX_CLOCK_SKEW_MS`] are refused until it catches up.
    clock_ms: Option<i64>,
}

/// How far ahead of this machine's clock a block from outside may be sealed: a clinic laptop
/// offline for months drifts a minute or two, a clock set to the wrong zone is hours off and
/// must be fixed rather than followed (transaction times decide grant expiry and break-glass).
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// What validation knows of a block before it is placed: its links and, worked out only if
/// an actor's keys were ever replaced, its causal past.
struct BlockContext<'a> {
    links: &'a [BlockHash],
    at: (ActorId, u64),
    frontier: std::cell::OnceCell<crate::order::Frontier>,
}

impl BlockContext<'_> {
    fn frontier(&self, dag: &Dag) -> &crate::order::Frontier {
        self.frontier
            .get_or_init(|| dag.frontier_for(self.links, self.at))
    }
}

impl Ledger {
    /// Makes the genesis block of a new network, signed by the health authority.
    pub fn found(authority: &ActorKeys, founding: &Founding<'_>, time_ms: i64) -> Block {
        let authority_id = ActorId::from_signing_key(&authority.public().signing);
        let clinic = ActorId::from_signing_key(&founding.clinic_keys.signing);
        let tx = |payload| {
            Tx {
                author: authority_id,
                clinic,
                time_ms,
                payload,
            }
            .sign(authority)
        };
        let txs = vec![
            tx(Payload::Genesis {
                network_name: founding.network_name.to_string(),
                authority: authority.public(),
            }),
            tx(Payload::EnrollClinic {
                clinic,
                name: founding.clinic_name.to_string(),
                keys: founding.clinic_keys,
            }),
            tx(Payload::EnrollUser {
                user: ActorId::from_signing_key(&founding.admin_keys.signing),
                clinic,
                name: founding.admin_name.to_string(),
                role: Role::Admin,
                specialty: None,
                keys: founding.admin_keys,
            }),
        ];
        Block::seal(
            authority,
            Hash::default(),
            0,
            None,
            Vec::new(),
            time_ms,
            txs,
        )
    }

    /// Starts a replica from a genesis block, checking it fully.
    pub fn new(genesis: Block) -> Result<Ledger, LedgerError> {
        let bad = |why: &str| LedgerError::InvalidGenesis(why.to_string());
        genesis.check_shape()?;
        let header = &genesis.header;
        if header.network != Hash::default()
            || header.height != 0
            || header.prev.is_some()
            || !header.parents.is_empty()
        {
            return Err(bad("it links to other blocks"));
        }
        let Some(Payload::Genesis { authority, .. }) = genesis.txs.first().map(|t| &t.tx.payload)
        else {
            return Err(bad("its first transaction is not the network's genesis"));
        };
        let authority = *authority;
        if header.clinic != ActorId::from_signing_key(&authority.signing) {
            return Err(bad("it is not sealed by the health authority it names"));
        }
        genesis.verify_seal(&authority.signing)?;
        for (i, stx) in genesis.txs.iter().enumerate() {
            if stx.tx.author != header.clinic {
                return Err(bad("a transaction is not by the health authority"));
            }
            if i > 0 && matches!(stx.tx.payload, Payload::Genesis { .. }) {
                return Err(bad("it names two authorities"));
            }
            stx.verify(&authority.signing)?;
        }
        let network = genesis.hash();
        let genesis = genesis.checked()?;
        let mut ledger = Ledger {
            network,
            genesis: genesis.block.clone(),
            dag: Dag::default(),
            bodies: Bodies {
                resident: Mutex::new(Resident::default()),
                source: None,
                budget: RESIDENT_BYTES,
            },
            unreadable: None,
            by_height: HashMap::new(),
            rivals: HashMap::new(),
            shadowed: HashSet::new(),
            state: State::default(),
            deferred_replay: None,
            applying: false,
            clock_ms: None,
        };
        ledger.add(genesis);
        ledger.state.set_network_id(network);
        Ok(ledger)
    }

    /// The network id (genesis hash).
    pub fn network_id(&self) -> NetworkId {
        self.network
    }

    /// The genesis block.
    pub fn genesis(&self) -> &Block {
        &self.genesis
    }

    /// Reads the contents of older blocks back from `source`, keeping about `budget` encoded
    /// bytes of them in memory ([`RESIDENT_BYTES`] for a node) instead of all of them (a large
    /// replica's blocks are most of its size).
    pub fn read_bodies_from(&mut self, source: Arc<dyn BlockBodies>, budget: usize) {
        self.bodies.source = Some(source);
        self.bodies.budget = budget;
        self.bodies.hold(false);
    }

    /// Gives the replica this machine's time: blocks checked in full are then refused if they
    /// are sealed more than [`MAX_CLOCK_SKEW_MS`] ahead of it.
    pub fn set_clock(&mut self, now_ms: i64) {
        self.clock_ms = Some(now_ms);
    }

    /// The latest time of any block this replica holds: a node dates what it signs no earlier,
    /// so that its transactions are never before the blocks they will link to.
    pub fn latest_time(&self) -> i64 {
        self.dag
            .heads()
            .values()
            .filter_map(|(_, hash)| self.dag.node(hash))
            .map(|n| n.time_ms)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// The derived state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state hash: equal on converged replicas.
    pub fn state_hash(&self) -> Hash {
        self.state.state_hash()
    }

    /// The DAG and its order.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// A known block (read back from the source if it is not in memory; `None` if unknown or
    /// unreadable).
    pub fn block(&self, hash: &BlockHash) -> Option<Arc<Block>> {
        if *hash == self.network {
            return Some(self.genesis.clone());
        }
        if !self.contains(hash) {
            return None;
        }
        self.bodies.get(hash).map(|c| c.block)
    }

    /// Whether a block is known.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.dag.node(hash).is_some()
    }

    /// Blocks in total order, genesis first (any that cannot be read back are left out).
    pub fn blocks_in_order(&self) -> impl Iterator<Item = Arc<Block>> + '_ {
        self.dag.order().iter().filter_map(|h| self.block(h))
    }

    /// The number of blocks, genesis included.
    pub fn block_count(&self) -> usize {
        self.dag.order().len()
    }

    /// The number of transactions.
    pub fn tx_count(&self) -> u64 {
        self.state.tx_count
    }

    /// The hash of a clinic's block at a height.
    pub fn hash_at(&self, clinic: &ActorId, height: u64) -> Option<BlockHash> {
        self.by_height.get(&(*clinic, height)).copied()
    }

    /// The block of a clinic at a height.
    pub fn block_at(&self, clinic: &ActorId, height: u64) -> Option<Arc<Block>> {
        self.by_height
            .get(&(*clinic, height))
            .and_then(|h| self.block(h))
    }

    /// Checks a block against this replica without inserting it.
    pub fn validate(&self, block: &Block, check: Check) -> Result<(), LedgerError> {
        let hash = block.hash();
        let ids: Vec<TxId> = block.txs.iter().map(SignedTx::id).collect();
        block.check_shape_with(&hash, &ids, None)?;
        self.validate_checked(block, hash, &ids, check, Sigs::Inline)
    }

    /// [`Ledger::validate`] of a block whose shape is checked; `sigs` says how its signatures
    /// are checked when `check` is [`Check::Full`].
    fn validate_checked(
        &self,
        block: &Block,
        hash: BlockHash,
        ids: &[TxId],
        check: Check,
        mut sigs: Sigs<'_>,
    ) -> Result<(), LedgerError> {
        if let Some(unreadable) = self.unreadable {
            return Err(LedgerError::Unreadable(unreadable));
        }
        let header = &block.header;
        if header.network != self.network {
            return Err(LedgerError::WrongNetwork(hash));
        }
        let clinic = self
            .state
            .clinics
            .get(&header.clinic)
            .ok_or(LedgerError::UnknownClinic {
                block: hash,
                clinic: header.clinic,
            })?;
        // A second block of this clinic at this height (equivocation) is checked like any
        // other and kept: which branch the network keeps is settled alike on every replica.
        let invalid = |reason: &str| LedgerError::InvalidBlock {
            block: hash,
            reason: reason.to_string(),
        };
        let links: Vec<BlockHash> = header.prev.iter().chain(&header.parents).copied().collect();
        let missing: Vec<BlockHash> = links
            .iter()
            .filter(|l| !self.contains(l))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(LedgerError::MissingLinks {
                block: hash,
                missing,
            });
        }
        match (header.height, header.prev) {
            (0, None) if header.parents.is_empty() => {
                return Err(invalid("a clinic's first block must name the heads it saw"));
            }
            (0, None) => {}
            (0, Some(_)) | (_, None) => return Err(invalid("its chain link is broken")),
            (height, Some(prev)) => {
                let node = self
                    .dag
                    .node(&prev)
                    .ok_or_else(|| invalid("missing prev"))?;
                if node.clinic != header.clinic || node.height + 1 != height {
                    return Err(invalid("its chain link is broken"));
                }
            }
        }
        self.check_times(block, hash, &links, check)?;
        // Keys are the ones the block's causal past knows: a block sealed concurrently with a
        // key replacement is judged the same way by every replica.
        let context = BlockContext {
            links: &links,
            at: (header.clinic, header.height),
            frontier: std::cell::OnceCell::new(),
        };
        let seal_key = if self.state.has_key_history(&header.clinic) {
            clinic
                .history
                .keys_at(&clinic.keys, context.frontier(&self.dag))
                .signing
        } else {
            clinic.keys.signing
        };
        if let Sigs::Defer(jobs) = &mut sigs {
            jobs.push(SigJob {
                key: seal_key,
                tx: None,
            });
        } else if check == Check::Full && !sigs.good(0, &seal_key) {
            block.verify_seal(&seal_key)?;
        }
        self.validate_txs(hash, block, ids, check, sigs, &context)
    }

    /// Times must be consistent with the block: the block no earlier than any block it links
    /// to, each transaction between those and the block's own time, and (for a block from
    /// outside, when this replica is given a clock) the block no further in the future than
    /// clocks may drift.
    fn check_times(
        &self,
        block: &Block,
        hash: BlockHash,
        links: &[BlockHash],
        check: Check,
    ) -> Result<(), LedgerError> {
        let sealed = block.header.time_ms;
        let floor = self.dag.latest_time(links).unwrap_or(i64::MIN);
        let invalid = |reason: String| LedgerError::InvalidBlock {
            block: hash,
            reason,
        };
        if sealed < floor {
            return Err(invalid(format!(
                "it is sealed at {sealed}, before a block it links to ({floor})"
            )));
        }
        if let Some(stx) = block
            .txs
            .iter()
            .find(|stx| stx.tx.time_ms < floor || stx.tx.time_ms > sealed)
        {
            return Err(invalid(format!(
                "a transaction is dated {}, outside {floor}..={sealed} (the blocks it links to \
                 and its own seal)",
                stx.tx.time_ms
            )));
        }
        if check == Check::Full
            && let Some(now) = self.clock_ms
            && sealed > now.saturating_add(MAX_CLOCK_SKEW_MS)
        {
            return Err(LedgerError::FromTheFuture {
                block: hash,
                ahead_ms: sealed - now,
            });
        }
        Ok(())
    }

    /// Signatures and role checks of each transaction, allowing for actors and patients that
    /// earlier transactions of the same block introduce.
    fn validate_txs(
        &self,
        hash: BlockHash,
        block: &Block,
        ids: &[TxId],
        check: Check,
        mut sigs: Sigs<'_>,
        context: &BlockContext<'_>,
    ) -> Result<(), LedgerError> {
        let mut introduced: HashMap<ActorId, [u8; 32]> = HashMap::new();
        let mut new_patients: HashSet<ActorId> = HashSet::new();
        let mut verifiers: HashMap<[u8; 32], Verifier> = HashMap::new();
        for (index, (stx, &id)) in block.txs.iter().zip(ids).enumerate() {
            let tx = &stx.tx;
            let refuse = |reason: Denied| LedgerError::Refused {
                block: hash,
                tx: id,
                reason,
            };
            if tx.clinic != block.header.clinic {
                return Err(LedgerError::InvalidBlock {
                    block: hash,
                    reason: format!("transaction {id} was made at another clinic"),
                });
            }
            if matches!(tx.payload, Payload::Genesis { .. }) {
                return Err(LedgerError::InvalidBlock {
                    block: hash,
                    reason: "only the genesis block may found a network".into(),
                });
            }
            tx.payload
                .check_shape()
                .map_err(|reason| LedgerError::InvalidBlock {
                    block: hash,
                    reason: format!("transaction {id} is malformed: {reason}"),
                })?;
            let key = if self.state.has_key_history(&tx.author) {
                self.state
                    .signing_key_at(&tx.author, context.frontier(&self.dag))
            } else {
                self.state.signing_key(&tx.author)
            }
            .or_else(|| introduced.get(&tx.author).copied())
            .ok_or_else(|| refuse(Denied::UnknownActor(tx.author)))?;
            if let Sigs::Defer(jobs) = &mut sigs {
                jobs.push(SigJob {
                    key,
                    tx: Some(index),
                });
            } else if check == Check::Full && !sigs.good(index + 1, &key) {
                let verifier = match verifiers.get(&key) {
                    Some(v) => v,
                    None => {
                        let v = Verifier::new(&key).map_err(|_| LedgerError::BadTxSignature(id))?;
                        verifiers.entry(key).or_insert(v)
                    }
                };
                stx.verify_as(&id, verifier)?;
            }
            let decision = policy::authorize(
                &self.state,
                tx.author,
                &Action::for_tx(tx),
                tx.payload.patient(),
                tx.time_ms,
            )
            .map(|_| ());
            if let Err(denied) = decision {
                let introduced_here = match &denied {
                    Denied::UnknownPatient(p) => new_patients.contains(p),
                    Denied::UnknownActor(a) | Denied::NotADoctor(a) | Denied::UnknownClinic(a) => {
                        introduced.contains_key(a)
                    }
                    // An admin enrolled in this very block acts for its clinic.
                    Denied::WrongRole { .. } | Denied::OtherClinic => {
                        introduced.contains_key(&tx.author)
                    }
                    _ => false,
                };
                if !denied.is_dynamic() && !introduced_here {
                    return Err(refuse(denied));
                }
            }
            if let Some((actor, keys)) = tx.payload.introduces() {
                introduced.entry(actor).or_insert(keys.signing);
                if matches!(tx.payload, Payload::RegisterPatient { .. }) {
                    new_patients.insert(actor);
                }
            }
        }
        Ok(())
    }

    /// Validates and inserts a block.
    pub fn insert(&mut self, block: Block, check: Check) -> Result<Inserted, LedgerError> {
        if self.contains(&block.hash()) {
            return Ok(Inserted::Known);
        }
        self.insert_checked(block.checked()?, check)
    }

    /// Validates and inserts a block whose shape is already checked.
    pub fn insert_checked(
        &mut self,
        block: Checked,
        check: Check,
    ) -> Result<Inserted, LedgerError> {
        if self.contains(&block.hash) {
            return Ok(Inserted::Known);
        }
        // A large block's signatures (a group commit's, say) are checked on every core first.
        let good = match check {
            Check::Full => self.precheck(&[&block]).pop(),
            Check::Stored | Check::Own => None,
        };
        let sigs = good.as_deref().map_or(Sigs::Inline, Sigs::Good);
        self.validate_checked(&block.block, block.hash, &block.ids, check, sigs)?;
        Ok(self.add(block))
    }

    fn add(&mut self, checked: Checked) -> Inserted {
        self.applying = true;
        let inserted = self.add_applying(checked);
        self.applying = false;
        inserted
    }

    fn add_applying(&mut self, checked: Checked) -> Inserted {
        let hash = checked.hash;
        let header = &checked.block.header;
        let clinic = header.clinic;
        let key = (clinic, header.height);
        match self.by_height.get(&key) {
            Some(first) if *first != hash => {
                let first = *first;
                self.rivals
                    .entry(key)
                    .or_insert_with(|| vec![first])
                    .push(hash);
            }
            _ => {
                self.by_height.insert(key, hash);
            }
        }
        let appended = if self.deferred_replay.is_some() {
            self.dag.insert_unordered(hash, header)
        } else {
            self.dag.insert(hash, header)
        };
        self.bodies.keep(checked.clone());
        // Equivocation settled: when a clinic has rival blocks, its kept branch is worked out
        // again; if that changes what was applied, everything is replayed.
        let settled_differently = self.settle_chain(clinic, hash);
        if settled_differently {
            if let Some(pending) = &mut self.deferred_replay {
                *pending = true;
            } else {
                self.replay();
                return Inserted::Reordered;
            }
        }
        if appended {
            self.apply_block(&checked);
            Inserted::Appended
        } else if let Some(pending) = &mut self.deferred_replay {
            // Roles and enrollments never change, so applying in arrival order is enough to
            // validate the blocks that follow; the order-dependent state is rebuilt at the end.
            *pending = true;
            self.apply_block(&checked);
            Inserted::Reordered
        } else {
            self.replay();
            Inserted::Reordered
        }
    }

    /// Inserts many blocks (parents before children), rebuilding the state at most once.
    /// Stops at the first block that fails, returning it with its error.
    pub fn insert_batch(
        &mut self,
        blocks: impl IntoIterator<Item = Block>,
        check: Check,
    ) -> Result<usize, BlockFailure> {
        self.insert_batch_checked(
            blocks.into_iter().map(|b| {
                let hash = b.hash();
                b.checked().map_err(|e| BlockFailure::new(hash, e))
            }),
            check,
        )
    }

    /// [`Ledger::insert_batch`] of blocks whose shape is checked (or the first that was not).
    ///
    /// With [`Check::Full`], the batch's signatures are first checked on every core against
    /// the keys the ledger and the batch's own enrolments name; each block is then checked in
    /// order as usual, skipping only a signature already found good under the very key that
    /// check would use (any other is checked there and then).
    pub fn insert_batch_checked(
        &mut self,
        blocks: impl IntoIterator<Item = Result<Checked, BlockFailure>>,
        check: Check,
    ) -> Result<usize, BlockFailure> {
        let mut blocks = blocks.into_iter();
        let batch: Vec<Result<Checked, BlockFailure>>;
        let mut good: Vec<Good> = Vec::new();
        let blocks: &mut dyn Iterator<Item = Result<Checked, BlockFailure>> =
            if check == Check::Full {
                batch = blocks.collect();
                let ready: Vec<&Checked> = batch.iter().map_while(|b| b.as_ref().ok()).collect();
                good = self.precheck(&ready);
                &mut batch.into_iter()
            } else {
                &mut blocks
            };
        self.deferred_replay = Some(false);
        // A peer's blocks are stored only after the batch: keep them all in memory till then.
        self.bodies.hold(check == Check::Full);
        let mut added = 0;
        let mut failure = None;
        for (at, block) in blocks.enumerate() {
            let outcome = block.and_then(|b| {
                let hash = b.hash;
                let sigs = good.get(at).map_or(Sigs::Inline, |g| Sigs::Good(g));
                self.insert_with(b, check, sigs)
                    .map_err(|e| BlockFailure::new(hash, e))
            });
            match outcome {
                Ok(Inserted::Known) => {}
                Ok(_) => added += 1,
                Err(f) => {
                    failure = Some(f);
                    break;
                }
            }
        }
        if self.deferred_replay.take() == Some(true) {
            self.replay();
        }
        self.bodies.hold(false);
        match failure {
            Some(f) => Err(f),
            None => Ok(added),
        }
    }

    fn insert_with(
        &mut self,
        block: Checked,
        check: Check,
        sigs: Sigs<'_>,
    ) -> Result<Inserted, LedgerError> {
        if self.contains(&block.hash) {
            return Ok(Inserted::Known);
        }
        self.validate_checked(&block.block, block.hash, &block.ids, check, sigs)?;
        Ok(self.add(block))
    }

    /// Checks the signatures of a batch on every core, each against the key this replica or an
    /// earlier enrolment in the batch names for its signer. Returns, per block, the key each
    /// signature was found good under (slot 0: the seal; slot i + 1: transaction i); nothing
    /// for a batch too small to be worth the threads (its signatures are checked inline).
    fn precheck(&self, blocks: &[&Checked]) -> Vec<Good> {
        let signatures: usize = blocks.iter().map(|c| c.ids.len() + 1).sum();
        if signatures <= PRECHECK_FROM {
            return Vec::new();
        }
        let mut introduced: HashMap<ActorId, [u8; 32]> = HashMap::new();
        let mut jobs: Vec<Vec<Option<[u8; 32]>>> = Vec::with_capacity(blocks.len());
        for checked in blocks {
            let key_of = |actor: &ActorId, introduced: &HashMap<ActorId, [u8; 32]>| {
                self.state
                    .signing_key(actor)
                    .or_else(|| introduced.get(actor).copied())
            };
            let mut keys = vec![key_of(&checked.block.header.clinic, &introduced)];
            for stx in &checked.block.txs {
                keys.push(key_of(&stx.tx.author, &introduced));
                if let Some((actor, keys)) = stx.tx.payload.introduces() {
                    introduced.entry(actor).or_insert(keys.signing);
                }
            }
            jobs.push(keys);
        }
        // Runs of one block's signatures, each no longer than a core's share: a batch of small
        // blocks and one large block spread over the cores alike.
        let share = signatures.div_ceil(crate::cores::workers()).max(1);
        let runs: Vec<(usize, Range<usize>)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(b, keys)| {
                (0..keys.len())
                    .step_by(share)
                    .map(move |start| (b, start..(start + share).min(keys.len())))
            })
            .collect();
        let found = crate::cores::map(runs.clone(), |(b, slots)| {
            good_signatures(blocks[b], &jobs[b], slots)
        });
        let mut good: Vec<Good> = jobs.iter().map(|keys| vec![None; keys.len()]).collect();
        for ((b, slots), found) in runs.into_iter().zip(found) {
            // A check that could not finish proves nothing: those signatures are checked inline.
            if let Some(found) = found {
                good[b][slots].copy_from_slice(&found);
            }
        }
        good
    }

    /// The block a block of a clinic links as its own previous one.
    fn prev_of(&self, hash: &BlockHash) -> Option<BlockHash> {
        let node = self.dag.node(hash)?;
        let prev = *node.links.first()?;
        let prev_node = self.dag.node(&prev)?;
        (prev_node.clinic == node.clinic && prev_node.height + 1 == node.height).then_some(prev)
    }

    /// Works out which branch of a clinic's chain the network keeps, if it sealed rival blocks:
    /// from its first block up, at each height the rival with the lowest hash among those
    /// extending the kept block below; every other block of the clinic, and whatever extends
    /// it, is shadowed. Every replica holding the same blocks settles the same way, whatever
    /// came first. Returns whether a block other than `new` changed side (the state must be
    /// replayed).
    fn settle_chain(&mut self, clinic: ActorId, new: BlockHash) -> bool {
        let forked = self.rivals.keys().any(|(c, _)| *c == clinic);
        if !forked {
            // An ordinary chain: a block is shadowed only if it extends a shadowed one.
            if self
                .prev_of(&new)
                .is_some_and(|p| self.shadowed.contains(&p))
            {
                self.shadowed.insert(new);
            }
            return false;
        }
        let top = self
            .by_height
            .keys()
            .filter(|(c, _)| *c == clinic)
            .map(|(_, h)| *h)
            .chain(
                self.rivals
                    .keys()
                    .filter(|(c, _)| *c == clinic)
                    .map(|(_, h)| *h),
            )
            .max()
            .unwrap_or(0);
        let mut kept_below: Option<BlockHash> = None;
        let mut shadowed = Vec::new();
        for height in 0..=top {
            let at: Vec<BlockHash> = match self.rivals.get(&(clinic, height)) {
                Some(rivals) => rivals.clone(),
                None => self
                    .by_height
                    .get(&(clinic, height))
                    .copied()
                    .into_iter()
                    .collect(),
            };
            let kept = at
                .iter()
                .filter(|h| height == 0 || (kept_below.is_some() && self.prev_of(h) == kept_below))
                .min()
                .copied();
            for block in &at {
                if Some(*block) != kept {
                    shadowed.push(*block);
                }
            }
            if let Some(kept) = kept {
                self.by_height.insert((clinic, height), kept);
            }
            kept_below = kept;
        }
        let before: HashSet<BlockHash> = self
            .shadowed
            .iter()
            .filter(|h| self.dag.node(h).is_some_and(|n| n.clinic == clinic))
            .copied()
            .collect();
        let after: HashSet<BlockHash> = shadowed.into_iter().collect();
        let changed = before.symmetric_difference(&after).any(|h| *h != new);
        self.shadowed.retain(|h| !before.contains(h));
        self.shadowed.extend(after);
        changed
    }

    /// Whether a block is off the branch the network keeps of an equivocating clinic.
    pub fn is_shadowed(&self, hash: &BlockHash) -> bool {
        self.shadowed.contains(hash)
    }

    /// Every (clinic, height) at which a clinic sealed more than one block, with those blocks.
    pub fn rivals(&self) -> impl Iterator<Item = (&(ActorId, u64), &Vec<BlockHash>)> {
        self.rivals.iter()
    }

    /// The newest block of a clinic's kept chain (its own head, for a clinic that sealed rival
    /// blocks, may be on a shadowed branch).
    pub fn kept_head(&self, clinic: &ActorId) -> Option<(u64, BlockHash)> {
        let (height, hash) = self.dag.head_of(clinic)?;
        if !self.shadowed.contains(&hash) {
            return Some((height, hash));
        }
        (0..=height).rev().find_map(|h| {
            let kept = *self.by_height.get(&(*clinic, h))?;
            (!self.shadowed.contains(&kept)).then_some((h, kept))
        })
    }

    fn apply_block(&mut self, checked: &Checked) {
        let Some(node) = self.dag.node(&checked.hash) else {
            return;
        };
        let block = &checked.block;
        if self.shadowed.contains(&checked.hash) {
            for id in checked.ids.iter() {
                self.state.void_tx(
                    *id,
                    "sealed on a branch the network does not keep: its clinic sealed another \
                     block at the same height",
                );
            }
            return;
        }
        for (index, (stx, id)) in block.txs.iter().zip(checked.ids.iter()).enumerate() {
            self.state.apply(
                stx,
                *id,
                Position {
                    block: checked.hash,
                    index: index as u32,
                    frontier: &node.frontier,
                    at: (block.header.clinic, block.header.height),
                },
            );
        }
    }

    /// Block contents in memory, and dropping one (for tests of reading back).
    #[cfg(test)]
    pub(crate) fn resident(&self) -> (usize, usize) {
        let resident = self.bodies.lock();
        (resident.map.len(), resident.bytes)
    }

    /// As if a panic had cut an update short.
    #[cfg(test)]
    pub(crate) fn cut_short_while_applying(&mut self) {
        self.applying = true;
    }

    #[cfg(test)]
    pub(crate) fn drop_resident(&self, hash: &BlockHash) {
        let mut resident = self.bodies.lock();
        if let Some(gone) = resident.map.remove(hash) {
            resident.bytes -= gone.encoded_len;
        }
    }

    /// Whether the state is not what the blocks say: a block could not be read back when it
    /// was last rebuilt, a batch is half-way (applied in arrival order), or a panic cut an
    /// update short.
    pub(crate) fn is_incomplete(&self) -> bool {
        self.unreadable.is_some() || self.deferred_replay.is_some() || self.applying
    }

    /// Adds saved blocks (in order, genesis left out) to the DAG, without their contents.
    pub(crate) fn restore_blocks(
        &mut self,
        blocks: &[crate::saved::SavedBlock],
    ) -> Result<(), LedgerError> {
        let mut forked = HashSet::new();
        for block in blocks {
            let known = self.dag.contains(&block.hash);
            if known || !block.links.iter().all(|l| self.dag.contains(l)) {
                return Err(LedgerError::Malformed {
                    what: "saved state",
                    reason: format!("block {} is out of place", block.hash),
                });
            }
            let key = (block.clinic, block.height);
            match self.by_height.get(&key) {
                Some(first) => {
                    let first = *first;
                    self.rivals
                        .entry(key)
                        .or_insert_with(|| vec![first])
                        .push(block.hash);
                    forked.insert(block.clinic);
                }
                None => {
                    self.by_height.insert(key, block.hash);
                }
            }
            self.dag.insert_saved(
                block.hash,
                (block.clinic, block.height),
                block.time_ms,
                block.links.clone(),
            );
        }
        self.dag.settle();
        for clinic in forked {
            self.settle_chain(clinic, BlockHash::default());
        }
        // Blocks extending a shadowed branch of a clinic that forked are shadowed too.
        for hash in self.dag.order().to_vec() {
            if self
                .prev_of(&hash)
                .is_some_and(|p| self.shadowed.contains(&p))
            {
                self.shadowed.insert(hash);
            }
        }
        Ok(())
    }

    /// Puts a saved state in place of the replayed one.
    pub(crate) fn replace_state(&mut self, mut state: State) {
        state.set_network_id(self.network);
        self.state = state;
    }

    /// Rebuilds the state from scratch in the current order.
    pub(crate) fn replay(&mut self) {
        self.applying = true;
        self.dag.settle();
        self.state = State::default();
        let order = self.dag.order().to_vec();
        let mut applied: u64 = 0;
        for hash in order {
            let Some(checked) = self.bodies.get(&hash) else {
                self.unreadable = Some(hash);
                break;
            };
            self.apply_block(&checked);
            applied += checked.ids.len() as u64;
        }
        debug_assert!(
            self.unreadable.is_some() || self.state.tx_count == applied,
            "the digest chain covers exactly the transactions of the ordered blocks"
        );
        self.state.set_network_id(self.network);
        self.applying = false;
    }

    /// Seals transactions into this clinic's next block, linking the heads it has not yet linked.
    ///
    /// The block is dated no earlier than `now_ms`, its own previous block, the heads it links
    /// and its transactions; a head sealed after the earliest transaction is left for the next
    /// block, since a transaction may not be dated before a block it links to.
    pub fn seal(&self, clinic: &ActorKeys, txs: Vec<SignedTx>, now_ms: i64) -> Block {
        let id = ActorId::from_signing_key(&clinic.public().signing);
        let own = self.kept_head(&id);
        let own_node = own.and_then(|(_, h)| self.dag.node(&h));
        let earliest = txs.iter().map(|t| t.tx.time_ms).min().unwrap_or(i64::MAX);
        let parents: Vec<BlockHash> = self
            .dag
            .heads()
            .iter()
            .filter(|(chain, (height, hash))| {
                **chain != id
                    && own_node.is_none_or(|n| !Dag::precedes((**chain, *height), &n.frontier))
                    && self.dag.node(hash).is_none_or(|n| n.time_ms <= earliest)
            })
            .map(|(_, (_, hash))| *hash)
            .collect();
        let latest_tx = txs.iter().map(|t| t.tx.time_ms).max().unwrap_or(i64::MIN);
        let time_ms = now_ms
            .max(own_node.map_or(i64::MIN, |n| n.time_ms))
            .max(self.dag.latest_time(&parents).unwrap_or(i64::MIN))
            .max(latest_tx);
        Block::seal(
            clinic,
            self.network,
            own.map_or(0, |(h, _)| h + 1),
            own.map(|(_, h)| h),
            parents,
            time_ms,
            txs,
        )
    }

    /// Re-checks every block and transaction from genesis, as a new replica would.
    /// Returns (blocks, transactions) or the first block that fails, with why.
    ///
    /// One thread re-applies the blocks in order on a fresh replica (links, roles, policy),
    /// noting for every seal and transaction the key its signature must verify under; the other
    /// cores check those signatures meanwhile. The first failure in the order is reported.
    pub fn verify(&self) -> Result<(usize, u64), BlockFailure> {
        self.verify_with(&mut |_, _| {})
    }

    /// [`Ledger::verify`], telling `progress(done, total)` how many blocks are re-checked (every
    /// few hundred blocks and at the end): the caller shows it, this crate does no I/O.
    pub fn verify_with(
        &self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(usize, u64), BlockFailure> {
        let mut fresh =
            Ledger::new(self.genesis().clone()).map_err(|e| BlockFailure::new(self.network, e))?;
        fresh.bodies.source = self.bodies.source.clone();
        fresh.bodies.budget = self.bodies.budget;
        let order = &self.dag.order()[1..];
        let workers = crate::cores::workers();
        let first_bad: Mutex<Option<(usize, BlockFailure)>> = Mutex::new(None);
        let note = |at: usize, failure: BlockFailure| {
            let mut first = first_bad.lock().unwrap_or_else(|p| p.into_inner());
            if first.as_ref().is_none_or(|(i, _)| at < *i) {
                *first = Some((at, failure));
            }
        };
        let (send, receive) = mpsc::sync_channel::<(usize, Checked, Vec<SigJob>)>(64);
        let receive = Mutex::new(receive);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let next = receive.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((at, checked, jobs)) = next else { break };
                        if let Err(e) = check_signatures(&checked, &jobs) {
                            note(at, BlockFailure::new(checked.hash, e));
                        }
                    }
                });
            }
            fresh.deferred_replay = Some(false);
            let total = order.len();
            for (at, hash) in order.iter().enumerate() {
                if at % 256 == 0 {
                    progress(at, total);
                }
                let outcome = self
                    .block(hash)
                    .ok_or(LedgerError::Unreadable(*hash))
                    .and_then(Checked::recheck)
                    .and_then(|checked| {
                        let mut jobs = Vec::with_capacity(checked.ids.len() + 1);
                        fresh.insert_deferred(checked.clone(), &mut jobs)?;
                        Ok((checked, jobs))
                    });
                match outcome {
                    Ok((checked, jobs)) => {
                        if send.send((at, checked, jobs)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        note(at, BlockFailure::new(*hash, e));
                        break;
                    }
                }
            }
            drop(send);
        });
        progress(order.len(), order.len());
        if let Some((_, failure)) = first_bad.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(failure);
        }
        if fresh.deferred_replay.take() == Some(true) {
            fresh.replay();
        }
        // The state in use may have been read back rather than replayed: it must be the same.
        if !fresh.same_state(self) {
            return Err(BlockFailure::new(self.network, LedgerError::StateDiffers));
        }
        Ok((fresh.block_count(), fresh.tx_count()))
    }

    /// Inserts a block checking everything but signatures, which are listed in `jobs`.
    fn insert_deferred(
        &mut self,
        block: Checked,
        jobs: &mut Vec<SigJob>,
    ) -> Result<(), LedgerError> {
        if self.contains(&block.hash) {
            return Ok(());
        }
        self.validate_checked(
            &block.block,
            block.hash,
            &block.ids,
            Check::Stored,
            Sigs::Defer(jobs),
        )?;
        self.add(block);
        Ok(())
    }
}

/// Per block: the key each signature was found good under (slot 0: the seal; i + 1: tx i).
type Good = Vec<Option<[u8; 32]>>;

/// Up to how many signatures checking them inline beats starting threads to check them first.
const PRECHECK_FROM: usize = 8;

/// How a block's signatures are checked under [`Check::Full`].
enum Sigs<'a> {
    /// Each one there and then.
    Inline,
    /// Not at all: listed, with the key each must verify under, for checking elsewhere.
    Defer(&'a mut Vec<SigJob>),
    /// Those found good ahead under the same key are not checked again; the rest inline.
    Good(&'a [Option<[u8; 32]>]),
}

impl Sigs<'_> {
    fn good(&self, slot: usize, key: &[u8; 32]) -> bool {
        matches!(self, Sigs::Good(g) if g.get(slot) == Some(&Some(*key)))
    }
}

/// Checks some of a block's signatures against candidate keys (slot 0: the seal; i + 1: tx i),
/// returning, for each slot of `slots`, the key it was found good under.
fn good_signatures(
    checked: &Checked,
    keys: &[Option<[u8; 32]>],
    slots: Range<usize>,
) -> Vec<Option<[u8; 32]>> {
    let mut verifiers = Verifiers::default();
    slots
        .map(|slot| {
            let key = (*keys.get(slot)?)?;
            let tx = slot.checked_sub(1);
            verifiers.check(checked, &key, tx).is_ok().then_some(key)
        })
        .collect()
}

/// A signature a block's check needs: the seal (`tx: None`) or a transaction's, and the key.
#[derive(Clone, Copy, Debug)]
struct SigJob {
    key: [u8; 32],
    tx: Option<usize>,
}

fn check_signatures(checked: &Checked, jobs: &[SigJob]) -> Result<(), LedgerError> {
    let mut verifiers = Verifiers::default();
    jobs.iter()
        .try_for_each(|job| verifiers.check(checked, &job.key, job.tx))
}

/// Decoded public keys, each decoded once, for checking one block's signatures.
#[derive(Default)]
struct Verifiers(HashMap<[u8; 32], Option<Verifier>>);

impl Verifiers {
    /// Checks a block's seal (`tx: None`) or transaction `tx`'s signature under `key`.
    fn check(
        &mut self,
        checked: &Checked,
        key: &[u8; 32],
        tx: Option<usize>,
    ) -> Result<(), LedgerError> {
        let bad = || match tx {
            None => LedgerError::BadBlockSignature(checked.hash),
            Some(i) => checked
                .ids
                .get(i)
                .map_or(LedgerError::BadBlockSignature(checked.hash), |id| {
                    LedgerError::BadTxSignature(*id)
                }),
        };
        let verifier = self
            .0
            .entry(*key)
            .or_insert_with(|| Verifier::new(key).ok())
            .as_ref()
            .ok_or_else(bad)?;
        match tx {
            None => verifier
                .verify(&checked.hash.0, &checked.block.signature.0)
                .map_err(|_| bad()),
            Some(i) => match (checked.block.txs.get(i), checked.ids.get(i)) {
                (Some(stx), Some(id)) => stx.verify_as(id, verifier),
                _ => Err(bad()),
            },
        }
    }
}
