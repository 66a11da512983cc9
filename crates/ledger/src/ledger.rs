//! A replica: the genesis, every accepted block, their order and the derived state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use carelog_vault::{ActorKeys, PublicKeys};

use crate::LedgerError;
use crate::block::Block;
use crate::error::BlockFailure;
use crate::ids::{ActorId, BlockHash, Hash, NetworkId};
use crate::order::Dag;
use crate::policy::{self, Action, Denied};
use crate::state::{Position, State};
use crate::tx::{Payload, Role, SignedTx, Tx};

/// How much to re-check a block that is being inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Everything: seal, transaction signatures, links, roles. For blocks from anywhere.
    Full,
    /// Links and roles but not signatures: for blocks read back from this node's own store,
    /// whose bytes are checked against their hash. `ledger verify` re-checks signatures.
    Stored,
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

/// A full replica of the ledger.
#[derive(Clone, Debug)]
pub struct Ledger {
    network: NetworkId,
    dag: Dag,
    blocks: HashMap<BlockHash, Arc<Block>>,
    by_height: HashMap<(ActorId, u64), BlockHash>,
    state: State,
    /// While loading many blocks, apply in arrival order and replay once at the end.
    deferred_replay: Option<bool>,
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
        let mut ledger = Ledger {
            network,
            dag: Dag::default(),
            blocks: HashMap::new(),
            by_height: HashMap::new(),
            state: State::default(),
            deferred_replay: None,
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
        &self.blocks[&self.network]
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

    /// A known block.
    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.blocks.get(hash).map(|b| b.as_ref())
    }

    /// Whether a block is known.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// Blocks in total order, genesis first.
    pub fn blocks_in_order(&self) -> impl Iterator<Item = &Block> + '_ {
        self.dag.order().iter().map(|h| self.blocks[h].as_ref())
    }

    /// The number of blocks, genesis included.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The number of transactions.
    pub fn tx_count(&self) -> u64 {
        self.state.tx_count
    }

    /// The block of a clinic at a height.
    pub fn block_at(&self, clinic: &ActorId, height: u64) -> Option<&Block> {
        self.by_height
            .get(&(*clinic, height))
            .and_then(|h| self.block(h))
    }

    /// Checks a block against this replica without inserting it.
    pub fn validate(&self, block: &Block, check: Check) -> Result<(), LedgerError> {
        let hash = block.hash();
        let header = &block.header;
        block.check_shape()?;
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
        if check == Check::Full {
            block.verify_seal(&clinic.keys.signing)?;
        }
        if let Some(first) = self.by_height.get(&(header.clinic, header.height))
            && *first != hash
        {
            return Err(LedgerError::Equivocation {
                clinic: header.clinic,
                height: header.height,
                first: *first,
                second: hash,
            });
        }
        let invalid = |reason: &str| LedgerError::InvalidBlock {
            block: hash,
            reason: reason.to_string(),
        };
        let missing: Vec<BlockHash> = header
            .prev
            .iter()
            .chain(&header.parents)
            .filter(|l| !self.blocks.contains_key(l))
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
        self.validate_txs(hash, block, check)
    }

    /// Signatures and role checks of each transaction, allowing for actors and patients that
    /// earlier transactions of the same block introduce.
    fn validate_txs(
        &self,
        hash: BlockHash,
        block: &Block,
        check: Check,
    ) -> Result<(), LedgerError> {
        let mut introduced: HashMap<ActorId, [u8; 32]> = HashMap::new();
        let mut new_patients: HashSet<ActorId> = HashSet::new();
        for stx in &block.txs {
            let tx = &stx.tx;
            let id = stx.id();
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
            let key = self
                .state
                .signing_key(&tx.author)
                .or_else(|| introduced.get(&tx.author).copied())
                .ok_or_else(|| refuse(Denied::UnknownActor(tx.author)))?;
            if check == Check::Full {
                stx.verify(&key)?;
            }
            let decision = policy::authorize(
                &self.state,
                tx.author,
                &Action::for_payload(&tx.payload),
                tx.payload.patient(),
                tx.time_ms,
            );
            if let Err(denied) = decision {
                let introduced_here = match &denied {
                    Denied::UnknownPatient(p) => new_patients.contains(p),
                    Denied::UnknownActor(a) | Denied::NotADoctor(a) => introduced.contains_key(a),
                    _ => false,
                };
                if !denied.is_dynamic() && !introduced_here {
                    return Err(refuse(denied));
                }
            }
            match &tx.payload {
                Payload::EnrollClinic { clinic, keys, .. } => {
                    introduced.insert(*clinic, keys.signing);
                }
                Payload::EnrollUser { user, keys, .. } => {
                    introduced.insert(*user, keys.signing);
                }
                Payload::RegisterPatient { patient, keys, .. } => {
                    introduced.insert(*patient, keys.signing);
                    new_patients.insert(*patient);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates and inserts a block.
    pub fn insert(&mut self, block: Block, check: Check) -> Result<Inserted, LedgerError> {
        if self.blocks.contains_key(&block.hash()) {
            return Ok(Inserted::Known);
        }
        self.validate(&block, check)?;
        Ok(self.add(block))
    }

    fn add(&mut self, block: Block) -> Inserted {
        let hash = block.hash();
        let block = Arc::new(block);
        self.by_height
            .insert((block.header.clinic, block.header.height), hash);
        self.blocks.insert(hash, block.clone());
        if self.dag.insert(hash, &block.header) {
            self.apply_block(hash, &block);
            Inserted::Appended
        } else if let Some(pending) = &mut self.deferred_replay {
            // Roles and enrollments never change, so applying in arrival order is enough to
            // validate the blocks that follow; the order-dependent state is rebuilt at the end.
            *pending = true;
            self.apply_block(hash, &block);
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
        self.deferred_replay = Some(false);
        let mut added = 0;
        let mut failure = None;
        for block in blocks {
            let hash = block.hash();
            match self.insert(block, check) {
                Ok(Inserted::Known) => {}
                Ok(_) => added += 1,
                Err(e) => {
                    failure = Some(BlockFailure::new(hash, e));
                    break;
                }
            }
        }
        if self.deferred_replay.take() == Some(true) {
            self.replay();
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(added),
        }
    }

    fn apply_block(&mut self, hash: BlockHash, block: &Block) {
        let Some(node) = self.dag.node(&hash) else {
            return;
        };
        for (index, stx) in block.txs.iter().enumerate() {
            self.state.apply(
                stx,
                Position {
                    block: hash,
                    index: index as u32,
                    frontier: &node.frontier,
                    at: (block.header.clinic, block.header.height),
                },
            );
        }
    }

    /// Rebuilds the state from scratch in the current order.
    fn replay(&mut self) {
        self.state = State::default();
        let order = self.dag.order().to_vec();
        for hash in order {
            let block = self.blocks[&hash].clone();
            self.apply_block(hash, &block);
        }
        self.state.set_network_id(self.network);
    }

    /// Seals transactions into this clinic's next block, linking the heads it has not yet linked.
    pub fn seal(&self, clinic: &ActorKeys, txs: Vec<SignedTx>, now_ms: i64) -> Block {
        let id = ActorId::from_signing_key(&clinic.public().signing);
        let own = self.dag.head_of(&id);
        let own_node = own.and_then(|(_, h)| self.dag.node(&h));
        let parents = self
            .dag
            .heads()
            .iter()
            .filter(|(chain, (height, _))| {
                **chain != id
                    && own_node.is_none_or(|n| !Dag::precedes((**chain, *height), &n.frontier))
            })
            .map(|(_, (_, hash))| *hash)
            .collect();
        let time_ms = own_node.map_or(now_ms, |n| now_ms.max(n.time_ms));
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
    pub fn verify(&self) -> Result<(usize, u64), BlockFailure> {
        let mut fresh =
            Ledger::new(self.genesis().clone()).map_err(|e| BlockFailure::new(self.network, e))?;
        let rest = self.dag.order()[1..]
            .iter()
            .map(|h| self.blocks[h].as_ref().clone());
        fresh.insert_batch(rest, Check::Full)?;
        Ok((fresh.block_count(), fresh.tx_count()))
    }
}
