//! What a session needs to know of the replica it speaks for.
//!
//! The node's replica is a full [`Ledger`]; the district simulation holds a thousand replicas
//! that share one archive of blocks and keep only their heads. Both answer the same questions:
//! which chains reach how far, whether a block is held, and the blocks to send.

use std::sync::Arc;

use carelog_ledger::{ActorId, Block, BlockHash, Frontier, Ledger, NetworkId};

use crate::frame::Tip;

/// The blocks a replica holds, as a [`PeerSession`](crate::PeerSession) reads them.
///
/// A replica holds every block of a chain up to its head, and a block only with its links, so
/// the heads describe a causally closed set (rival blocks of a clinic that sealed two at one
/// height aside).
pub trait Holdings {
    /// The network (genesis hash).
    fn network_id(&self) -> NetworkId;
    /// Each chain's head: (clinic, height, hash), in clinic order.
    fn heads(&self) -> Box<dyn Iterator<Item = (ActorId, u64, BlockHash)> + '_>;
    /// One chain's head.
    fn head_of(&self, chain: &ActorId) -> Option<(u64, BlockHash)>;
    /// Whether the replica holds this block.
    fn contains(&self, hash: &BlockHash) -> bool;
    /// The hash of the block held at `height` of `chain`.
    fn hash_at(&self, chain: &ActorId, height: u64) -> Option<BlockHash>;
    /// A held block.
    fn block(&self, hash: &BlockHash) -> Option<Arc<Block>>;
    /// The block held at `height` of `chain`.
    fn block_at(&self, chain: &ActorId, height: u64) -> Option<Arc<Block>>;
    /// Where a held block sits: its chain and height.
    fn place(&self, hash: &BlockHash) -> Option<(ActorId, u64)>;
    /// A held block's links (own chain's previous block, then other chains' heads).
    fn links(&self, hash: &BlockHash) -> Option<Vec<BlockHash>>;
    /// A held block's causal past: per chain, the highest height it reaches.
    fn causal_frontier(&self, hash: &BlockHash) -> Option<&Frontier>;
    /// Every rival block (of a clinic that sealed two at one height) as a tip, sorted.
    fn rival_tips(&self) -> Vec<Tip>;
    /// How many rival blocks the replica holds.
    fn rival_count(&self) -> usize;
    /// How many blocks the replica holds; it only grows, so an unchanged count means unchanged
    /// heads.
    fn block_count(&self) -> usize;
}

impl Holdings for Ledger {
    fn network_id(&self) -> NetworkId {
        Ledger::network_id(self)
    }

    fn heads(&self) -> Box<dyn Iterator<Item = (ActorId, u64, BlockHash)> + '_> {
        Box::new(
            self.dag()
                .heads()
                .iter()
                .map(|(clinic, (height, hash))| (*clinic, *height, *hash)),
        )
    }

    fn head_of(&self, chain: &ActorId) -> Option<(u64, BlockHash)> {
        self.dag().head_of(chain)
    }

    fn contains(&self, hash: &BlockHash) -> bool {
        Ledger::contains(self, hash)
    }

    fn hash_at(&self, chain: &ActorId, height: u64) -> Option<BlockHash> {
        Ledger::hash_at(self, chain, height)
    }

    fn block(&self, hash: &BlockHash) -> Option<Arc<Block>> {
        Ledger::block(self, hash)
    }

    fn block_at(&self, chain: &ActorId, height: u64) -> Option<Arc<Block>> {
        Ledger::block_at(self, chain, height)
    }

    fn place(&self, hash: &BlockHash) -> Option<(ActorId, u64)> {
        self.dag().node(hash).map(|n| (n.clinic, n.height))
    }

    fn links(&self, hash: &BlockHash) -> Option<Vec<BlockHash>> {
        self.dag().node(hash).map(|n| n.links.clone())
    }

    fn causal_frontier(&self, hash: &BlockHash) -> Option<&Frontier> {
        self.dag().node(hash).map(|n| &n.frontier)
    }

    fn rival_tips(&self) -> Vec<Tip> {
        let mut rivals: Vec<Tip> = self
            .rivals()
            .flat_map(|((clinic, height), blocks)| {
                blocks.iter().map(|hash| Tip {
                    clinic: *clinic,
                    height: *height,
                    hash: *hash,
                })
            })
            .collect();
        rivals.sort_unstable_by_key(|t| (t.clinic, t.height, t.hash));
        rivals
    }

    fn rival_count(&self) -> usize {
        self.rivals().map(|(_, blocks)| blocks.len()).sum()
    }

    fn block_count(&self) -> usize {
        Ledger::block_count(self)
    }
}
