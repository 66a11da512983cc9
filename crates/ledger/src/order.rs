//! The block DAG and the one total order every replica derives from it.
//!
//! Edges run from a block to its own previous block and to the other chains' heads it names.
//! The order is topological; among blocks ready at the same point the smaller (time, hash) comes
//! first. It depends only on the set of blocks, never on the order they arrived in.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use crate::block::BlockHeader;
use crate::ids::{ActorId, BlockHash};

/// For each chain, the highest height a block has in its causal past (itself included).
pub type Frontier = BTreeMap<ActorId, u64>;

/// What the order needs to know of a block.
#[derive(Clone, Debug)]
pub struct DagNode {
    /// The sealing clinic.
    pub clinic: ActorId,
    /// Height in the sealer's chain.
    pub height: u64,
    /// Tie-break time.
    pub time_ms: i64,
    /// Own chain link and other chains' heads.
    pub links: Vec<BlockHash>,
    /// The block's causal past, per chain.
    pub frontier: Frontier,
}

/// The blocks known to a replica and their derived order.
#[derive(Clone, Debug, Default)]
pub struct Dag {
    nodes: HashMap<BlockHash, DagNode>,
    heads: BTreeMap<ActorId, (u64, BlockHash)>,
    order: Vec<BlockHash>,
    /// Blocks were added by [`Dag::insert_unordered`] that the order does not yet place.
    unsettled: bool,
    /// A clinic sealed two blocks at one height. A frontier counts heights, which no longer
    /// tells whether a block descends from every other, so each insert works the order out in
    /// full (clinics that equivocate are rare, and are suspended).
    forked: bool,
}

impl Dag {
    /// Whether the block is known.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.nodes.contains_key(hash)
    }

    /// The node of a known block.
    pub fn node(&self, hash: &BlockHash) -> Option<&DagNode> {
        self.nodes.get(hash)
    }

    /// The latest block of each chain.
    pub fn heads(&self) -> &BTreeMap<ActorId, (u64, BlockHash)> {
        &self.heads
    }

    /// The block of `clinic` at `height`, if known and on the current head's chain.
    pub fn head_of(&self, clinic: &ActorId) -> Option<(u64, BlockHash)> {
        self.heads.get(clinic).copied()
    }

    /// Blocks in total order.
    pub fn order(&self) -> &[BlockHash] {
        &self.order
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `ancestor` (clinic, height) is in the causal past of a block with `frontier`.
    pub fn precedes(ancestor: (ActorId, u64), frontier: &Frontier) -> bool {
        frontier.get(&ancestor.0).is_some_and(|h| *h >= ancestor.1)
    }

    /// Adds a block whose links are all known. Returns true when it extends the order at its end
    /// (it descends from every known block), false when the order was recomputed.
    pub fn insert(&mut self, hash: BlockHash, header: &BlockHeader) -> bool {
        self.settle();
        let extends_all = self.add_node(hash, header);
        if extends_all {
            debug_assert!(
                self.nodes[&hash]
                    .links
                    .iter()
                    .all(|l| self.nodes.contains_key(l)),
                "a block placed at the end has every link in the order before it"
            );
            self.order.push(hash);
        } else {
            self.order = self.compute_order();
        }
        extends_all
    }

    /// [`Dag::insert`] for many blocks in a row: a block that does not extend the order at its
    /// end leaves the order to be worked out once, by [`Dag::settle`], instead of once per block.
    /// Returns true when the block was placed at the end of a settled order.
    pub(crate) fn insert_unordered(&mut self, hash: BlockHash, header: &BlockHeader) -> bool {
        let extends_all = self.add_node(hash, header);
        self.place(hash, extends_all)
    }

    /// Puts a just-added block at the end of a settled order if it extends every head, or
    /// leaves the order unsettled; returns whether it was placed.
    fn place(&mut self, hash: BlockHash, extends_all: bool) -> bool {
        if extends_all && !self.unsettled {
            self.order.push(hash);
            true
        } else {
            self.unsettled = true;
            false
        }
    }

    /// Works out the order after [`Dag::insert_unordered`] left it unsettled.
    pub(crate) fn settle(&mut self) {
        if self.unsettled {
            self.order = self.compute_order();
            self.unsettled = false;
        }
    }

    /// [`Dag::insert_unordered`] of a block known by what the order needs of it (links: its
    /// own chain's previous block first, then the other heads it names).
    pub(crate) fn insert_saved(
        &mut self,
        hash: BlockHash,
        (clinic, height): (ActorId, u64),
        time_ms: i64,
        links: Vec<BlockHash>,
    ) {
        let extends_all = self.add_links(hash, (clinic, height), time_ms, links);
        self.place(hash, extends_all);
    }

    /// Adds the node and moves its chain's head; returns whether it descends from every head.
    fn add_node(&mut self, hash: BlockHash, header: &BlockHeader) -> bool {
        let mut links = Vec::with_capacity(header.parents.len() + 1);
        links.extend(header.prev);
        links.extend(header.parents.iter().copied());
        self.add_links(hash, (header.clinic, header.height), header.time_ms, links)
    }

    /// The causal past of a block of `clinic` at `height` with these links (those known).
    pub fn frontier_for(&self, links: &[BlockHash], (clinic, height): (ActorId, u64)) -> Frontier {
        let mut frontier = Frontier::new();
        for link in links {
            if let Some(parent) = self.nodes.get(link) {
                for (chain, height) in &parent.frontier {
                    let entry = frontier.entry(*chain).or_insert(*height);
                    *entry = (*entry).max(*height);
                }
            }
        }
        frontier.insert(clinic, height);
        frontier
    }

    /// The latest time among these blocks (those known); `None` when there are none.
    pub fn latest_time(&self, links: &[BlockHash]) -> Option<i64> {
        links
            .iter()
            .filter_map(|l| self.nodes.get(l))
            .map(|n| n.time_ms)
            .max()
    }

    fn add_links(
        &mut self,
        hash: BlockHash,
        (clinic, height): (ActorId, u64),
        time_ms: i64,
        links: Vec<BlockHash>,
    ) -> bool {
        let frontier = self.frontier_for(&links, (clinic, height));
        // A frontier counts heights: a rival of a block its clinic already sealed at this height
        // (equivocation) looks as if it extended that block, and must be ordered afresh.
        let rival = self.heads.get(&clinic).is_some_and(|(h, _)| *h >= height);
        self.forked |= rival;
        let extends_all = !self.forked
            && self
                .heads
                .iter()
                .all(|(chain, (height, _))| Self::precedes((*chain, *height), &frontier));
        let replace_head = self.heads.get(&clinic).is_none_or(|(h, _)| height > *h);
        if replace_head {
            self.heads.insert(clinic, (height, hash));
        }
        self.nodes.insert(
            hash,
            DagNode {
                clinic,
                height,
                time_ms,
                links,
                frontier,
            },
        );
        extends_all
    }

    /// Kahn's algorithm with a (time, hash) priority among ready blocks.
    fn compute_order(&self) -> Vec<BlockHash> {
        let mut waiting: HashMap<BlockHash, usize> = HashMap::with_capacity(self.nodes.len());
        let mut children: HashMap<BlockHash, Vec<BlockHash>> = HashMap::new();
        let mut ready = BinaryHeap::new();
        for (hash, node) in &self.nodes {
            let known: Vec<_> = node
                .links
                .iter()
                .filter(|l| self.nodes.contains_key(l))
                .collect();
            if known.is_empty() {
                ready.push(Reverse((node.time_ms, *hash)));
            } else {
                waiting.insert(*hash, known.len());
                for link in known {
                    children.entry(*link).or_default().push(*hash);
                }
            }
        }
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(Reverse((_, hash))) = ready.pop() {
            order.push(hash);
            for child in children.get(&hash).into_iter().flatten() {
                if let Some(count) = waiting.get_mut(child) {
                    *count -= 1;
                    if *count == 0 {
                        waiting.remove(child);
                        ready.push(Reverse((self.nodes[child].time_ms, *child)));
                    }
                }
            }
        }
        debug_assert_eq!(
            order.len(),
            self.nodes.len(),
            "the block graph has no cycles"
        );
        debug_assert!(self.is_topological(&order), "the order puts links first");
        order
    }

    /// Whether every block of `order` comes after every known block it links to.
    fn is_topological(&self, order: &[BlockHash]) -> bool {
        let place: HashMap<&BlockHash, usize> =
            order.iter().enumerate().map(|(i, h)| (h, i)).collect();
        order.iter().enumerate().all(|(i, hash)| {
            self.nodes[hash]
                .links
                .iter()
                .all(|link| place.get(link).is_none_or(|at| *at < i))
        })
    }
}
