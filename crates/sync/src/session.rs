//! One peer connection as a sans-IO state machine: frontier exchange, batched block transfer
//! with a small window, acks, push gossip, repair of missing links, and retries on a timer.
//!
//! The session keeps three frontiers (per clinic chain, a height):
//! - `peer`: what the peer is known to hold (its Hello and Acks, and blocks it sent us). Only
//!   grows; the peer never loses a block it holds.
//! - `sent`: what the peer holds or will hold once the frames in flight arrive; `sent ≥ peer`.
//!   Everything above `sent` that this replica holds is still to be sent.
//! - `local`: what this replica holds.
//!
//! Because a clinic chain is linear and its blocks are only accepted with their links, "holds
//! chain c up to height h" means holding all of c's blocks up to h, so a frontier describes a
//! causally closed set of blocks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use carelog_ledger::{ActorId, Block, BlockHash, Frontier, Ledger, MAX_ENCODED_LEN, NetworkId};

use crate::frame::{Frame, MAX_BLOCKS_PER_FRAME, MAX_NEED, MAX_REASON_LEN, MAX_TIPS, Tip};

/// How one session batches, paces and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// The most blocks in one `Blocks` frame.
    pub batch_blocks: usize,
    /// The most block bytes in one `Blocks` frame (a larger single block travels alone).
    pub batch_bytes: usize,
    /// How many `Blocks`/`Push` frames may await their Ack.
    pub window: usize,
    /// Timer ticks without progress before frames in flight count as lost and are re-sent.
    pub retry_ticks: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            batch_blocks: 512,
            batch_bytes: 4 * 1024 * 1024,
            window: 2,
            retry_ticks: 5,
        }
    }
}

/// What the node must do after feeding the session an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this frame to the peer.
    Send(Frame),
    /// Validate, store and insert these blocks (parents first), then call
    /// [`PeerSession::on_delivered`] exactly once. A `MissingLinks` refusal is expected (lost or
    /// reordered frames; the session asks for them); any other refusal means the peer sent an
    /// invalid block: report it and [`PeerSession::close`].
    Deliver(Vec<Block>),
    /// The peer acknowledged holding these heads: mark outbox blocks up to them as sent.
    PeerFrontier(Vec<Tip>),
    /// Close the connection, for this reason.
    Close(String),
}

/// The sync state of one connection to one peer.
#[derive(Clone, Debug)]
pub struct PeerSession {
    network: NetworkId,
    local_clinic: ActorId,
    config: SyncConfig,
    peer_clinic: Option<ActorId>,
    /// Whether `peer` has been learnt (from a Hello or an Ack); nothing is sent before.
    peer_known: bool,
    peer: Frontier,
    sent: Frontier,
    local: Frontier,
    /// The frontier this side last announced (Hello or Ack).
    told: Option<Frontier>,
    /// Per frame awaiting its Ack, the heights it carries up to.
    in_flight: VecDeque<Frontier>,
    /// Blocks handed to the node and not yet confirmed by `on_delivered`: hash and links.
    delivering: Vec<(BlockHash, Vec<BlockHash>)>,
    /// Ticks since the last progress (an Ack that landed frames, or the peer's first frontier).
    idle_ticks: u32,
    closed: bool,
    /// Blocks the peer asked for by hash (rival blocks of a clinic that equivocated, which
    /// transfers by height do not carry), sent before anything else.
    explicit: Vec<BlockHash>,
    /// Rival blocks the peer holds that this side lacks, asked for by hash until they come
    /// (asked again at each tick: an ask may be lost).
    wanted: BTreeSet<BlockHash>,
    /// How many rival blocks this side's last Hello or Ack listed: a fork learnt since is
    /// announced even if no height changed.
    told_rivals: usize,
    /// How many rival blocks this replica held when last looked at.
    local_rivals: usize,
}

/// The heads of a replica's chains as tips, for Hello and Ack, followed by every rival block
/// of a clinic that sealed two at one height: the evidence travels with every exchange, and a
/// peer that lacks a rival asks for it by hash, so every replica settles the fork alike.
pub fn frontier_tips(ledger: &Ledger) -> Vec<Tip> {
    let heads = ledger
        .dag()
        .heads()
        .iter()
        .map(|(clinic, (height, hash))| Tip {
            clinic: *clinic,
            height: *height,
            hash: *hash,
        });
    let mut rivals: Vec<Tip> = ledger
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
    heads.chain(rivals).take(MAX_TIPS).collect()
}

fn frontier_of(ledger: &Ledger) -> Frontier {
    ledger
        .dag()
        .heads()
        .iter()
        .map(|(clinic, (height, _))| (*clinic, *height))
        .collect()
}

/// How many rival blocks a replica holds (of clinics that sealed two at one height).
fn rival_count(ledger: &Ledger) -> usize {
    ledger.rivals().map(|(_, blocks)| blocks.len()).sum()
}

/// `blocks` ordered so that each comes after any of them it links to (as the ledger takes them).
fn parents_first(blocks: &[BlockHash], ledger: &Ledger) -> Vec<BlockHash> {
    let dag = ledger.dag();
    let wanted: BTreeSet<BlockHash> = blocks.iter().copied().collect();
    let mut placed = BTreeSet::new();
    let mut out = Vec::with_capacity(blocks.len());
    while out.len() < wanted.len() {
        let before = out.len();
        for hash in &wanted {
            if placed.contains(hash) {
                continue;
            }
            let ready = dag.node(hash).is_none_or(|node| {
                node.links
                    .iter()
                    .all(|l| !wanted.contains(l) || placed.contains(l))
            });
            if ready {
                placed.insert(*hash);
                out.push(*hash);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Whether a frontier covers block `height` of `chain`.
fn holds(frontier: &Frontier, chain: &ActorId, height: u64) -> bool {
    frontier.get(chain).is_some_and(|h| *h >= height)
}

fn raise(frontier: &mut Frontier, chain: ActorId, height: u64) {
    let entry = frontier.entry(chain).or_insert(height);
    *entry = (*entry).max(height);
}

fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

impl PeerSession {
    /// A session for a new connection; call [`start`](Self::start) next.
    pub fn new(network: NetworkId, local_clinic: ActorId, config: SyncConfig) -> Self {
        PeerSession {
            network,
            local_clinic,
            config,
            peer_clinic: None,
            peer_known: false,
            peer: Frontier::new(),
            sent: Frontier::new(),
            local: Frontier::new(),
            told: None,
            in_flight: VecDeque::new(),
            delivering: Vec::new(),
            idle_ticks: 0,
            closed: false,
            explicit: Vec::new(),
            wanted: BTreeSet::new(),
            told_rivals: 0,
            local_rivals: 0,
        }
    }

    /// The connection is up: say Hello with this replica's frontier.
    pub fn start(&mut self, ledger: &Ledger) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        debug_assert_eq!(
            ledger.network_id(),
            self.network,
            "a session serves one network"
        );
        vec![Output::Send(self.hello(ledger))]
    }

    /// A frame arrived from the peer.
    pub fn on_frame(&mut self, frame: Frame, ledger: &Ledger) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.observe(ledger);
        let mut out = Vec::new();
        match frame {
            Frame::Hello {
                network,
                clinic,
                frontier,
            } => {
                if network != self.network {
                    return self.close(&format!(
                        "the peer is on network {network}, this clinic on {}",
                        self.network
                    ));
                }
                if clinic == self.local_clinic {
                    return self.close("the peer is this clinic itself");
                }
                if self.peer_clinic.is_some_and(|known| known != clinic) {
                    return self.close("the peer changed its clinic id mid-connection");
                }
                self.peer_clinic = Some(clinic);
                if let Err(reason) = self.learn(&frontier, ledger, &mut out) {
                    return self.close(&reason);
                }
                // Answer with our frontier even though our Hello carried it: that Hello may be lost.
                self.acknowledge(ledger, &mut out);
            }
            Frame::Ack { frontier } => {
                if let Err(reason) = self.learn(&frontier, ledger, &mut out) {
                    return self.close(&reason);
                }
                self.pump(ledger, &mut out);
            }
            Frame::Blocks { blocks } => {
                let mut decoded = Vec::with_capacity(blocks.len());
                for (index, bytes) in blocks.iter().enumerate() {
                    match Block::from_bytes(bytes) {
                        Ok(block) => decoded.push(block),
                        Err(e) => {
                            return self.close(&format!(
                                "block {} of {} the peer sent is malformed: {e}",
                                index + 1,
                                blocks.len()
                            ));
                        }
                    }
                }
                self.receive(decoded, ledger, &mut out);
            }
            Frame::Push { block } => match Block::from_bytes(&block) {
                Ok(block) => self.receive(vec![block], ledger, &mut out),
                Err(e) => {
                    return self.close(&format!("the block the peer pushed is malformed: {e}"));
                }
            },
            Frame::Need { missing } => {
                for hash in &missing {
                    if ledger.contains(hash) && !self.explicit.contains(hash) {
                        self.explicit.push(*hash);
                    }
                }
                self.resend_for(&missing, ledger);
                self.pump(ledger, &mut out);
            }
            Frame::Bye { reason } => {
                self.closed = true;
                out.push(Output::Close(format!(
                    "the peer closed the connection: {}",
                    truncate(&reason)
                )));
            }
        }
        out
    }

    /// The node inserted the blocks of the last `Deliver`: ask for what is still missing and
    /// acknowledge with the new frontier.
    pub fn on_delivered(&mut self, ledger: &Ledger) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.observe(ledger);
        let mut missing = BTreeSet::new();
        for (hash, links) in self.delivering.drain(..) {
            if !ledger.contains(&hash) {
                missing.insert(hash);
                missing.extend(links.into_iter().filter(|l| !ledger.contains(l)));
            }
        }
        let mut out = Vec::new();
        if !missing.is_empty() {
            let missing = missing.into_iter().take(MAX_NEED).collect();
            out.push(Output::Send(Frame::Need { missing }));
        }
        self.acknowledge(ledger, &mut out);
        out
    }

    /// This replica sealed or newly accepted `block`: push it unless the peer holds it or will
    /// receive it with the transfer under way. Not called for the peer that sent the block.
    pub fn on_local_block(&mut self, block: &Block) -> Vec<Output> {
        let (chain, height) = (block.header.clinic, block.header.height);
        raise(&mut self.local, chain, height);
        if self.closed || !self.peer_known || holds(&self.sent, &chain, height) {
            return Vec::new();
        }
        // Push only a chain's next block, and only with room in the window; otherwise the
        // transfer sends it, parents first, when acks make room.
        let next_of_chain = height == 0 || holds(&self.sent, &chain, height - 1);
        if !next_of_chain || self.in_flight.len() >= self.window() {
            return Vec::new();
        }
        self.sent.insert(chain, height);
        self.in_flight.push_back(Frontier::from([(chain, height)]));
        self.told_also(&Frontier::from([(chain, height)]));
        vec![Output::Send(Frame::Push {
            block: block.to_bytes(),
        })]
    }

    /// The node's timer fired (e.g. each second): retry what seems lost, announce a changed
    /// frontier, and send anything not sent yet.
    pub fn on_tick(&mut self, ledger: &Ledger) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.observe(ledger);
        let mut out = Vec::new();
        self.wanted.retain(|hash| !ledger.contains(hash));
        if !self.wanted.is_empty() {
            out.push(Output::Send(Frame::Need {
                missing: self.wanted.iter().take(MAX_NEED).copied().collect(),
            }));
        }
        if !self.peer_known {
            self.idle_ticks += 1;
            if self.idle_ticks >= self.config.retry_ticks {
                self.idle_ticks = 0;
                out.push(Output::Send(self.hello(ledger)));
            }
            return out;
        }
        if self.in_flight.is_empty() {
            self.idle_ticks = 0;
        } else {
            self.idle_ticks += 1;
            if self.idle_ticks >= self.config.retry_ticks {
                // Frames or their acks were lost: send again from what the peer acknowledged.
                self.idle_ticks = 0;
                self.in_flight.clear();
                self.sent = self.peer.clone();
            }
        }
        if self.told.as_ref() != Some(&self.local) || self.told_rivals != self.local_rivals {
            self.told = Some(self.local.clone());
            self.told_rivals = self.local_rivals;
            out.push(Output::Send(Frame::Ack {
                frontier: frontier_tips(ledger),
            }));
        }
        self.pump(ledger, &mut out);
        out
    }

    /// Closes the session, telling the peer why.
    pub fn close(&mut self, reason: &str) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        vec![
            Output::Send(Frame::Bye {
                reason: truncate(reason),
            }),
            Output::Close(reason.to_string()),
        ]
    }

    /// What the peer is known to hold: per clinic chain, the highest height.
    pub fn peer_frontier(&self) -> &BTreeMap<ActorId, u64> {
        &self.peer
    }

    /// The peer's clinic id, once its Hello arrived.
    pub fn peer_clinic(&self) -> Option<ActorId> {
        self.peer_clinic
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether both sides are known to hold the same blocks: the peer acknowledged this
    /// replica's frontier, nothing is in flight, and this side announced its frontier.
    pub fn is_in_sync(&self) -> bool {
        !self.closed
            && self.peer_known
            && self.in_flight.is_empty()
            && self.delivering.is_empty()
            && self.wanted.is_empty()
            && self.told_rivals == self.local_rivals
            && self.peer == self.local
            && self.told.as_ref() == Some(&self.local)
    }

    /// Looks at the replica: its frontier and how many rival blocks it holds.
    fn observe(&mut self, ledger: &Ledger) {
        self.local = frontier_of(ledger);
        self.local_rivals = rival_count(ledger);
    }

    fn window(&self) -> usize {
        self.config.window.max(1)
    }

    fn hello(&mut self, ledger: &Ledger) -> Frame {
        self.observe(ledger);
        self.told = Some(self.local.clone());
        self.told_rivals = self.local_rivals;
        Frame::Hello {
            network: self.network,
            clinic: self.local_clinic,
            frontier: frontier_tips(ledger),
        }
    }

    /// Blocks sent also tell the peer this replica holds them.
    fn told_also(&mut self, sent: &Frontier) {
        if let Some(told) = &mut self.told {
            for (chain, height) in sent {
                raise(told, *chain, *height);
            }
        }
    }

    fn acknowledge(&mut self, ledger: &Ledger, out: &mut Vec<Output>) {
        self.observe(ledger);
        self.told = Some(self.local.clone());
        self.told_rivals = self.local_rivals;
        out.push(Output::Send(Frame::Ack {
            frontier: frontier_tips(ledger),
        }));
        self.pump(ledger, out);
    }

    /// Takes in the peer's frontier. A tip that names another block at a height this replica
    /// holds means a clinic sealed two (equivocation): this side asks for the peer's block, and
    /// the ledger settles which branch to keep the same way everywhere.
    fn learn(
        &mut self,
        tips: &[Tip],
        ledger: &Ledger,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        // A (clinic, height) named twice is a fork the peer knows of (its rival blocks follow its
        // heads in the tips): each rival this side lacks is asked for by hash.
        let mut named: BTreeMap<(ActorId, u64), usize> = BTreeMap::new();
        for tip in tips {
            *named.entry((tip.clinic, tip.height)).or_default() += 1;
        }
        for tip in tips {
            if ledger.contains(&tip.hash) {
                continue;
            }
            let rival = named.get(&(tip.clinic, tip.height)).is_some_and(|n| *n > 1);
            let head = ledger.dag().head_of(&tip.clinic);
            let ours = match head {
                Some((height, hash)) if height == tip.height => Some(hash),
                _ => ledger.hash_at(&tip.clinic, tip.height),
            };
            let conflicts = ours.is_some_and(|ours| ours != tip.hash);
            if (conflicts || rival) && self.wanted.insert(tip.hash) {
                out.push(Output::Send(Frame::Need {
                    missing: vec![tip.hash],
                }));
            }
        }
        if !self.peer_known {
            self.peer_known = true;
            self.idle_ticks = 0;
        }
        for tip in tips {
            raise(&mut self.peer, tip.clinic, tip.height);
            raise(&mut self.sent, tip.clinic, tip.height);
        }
        let before = self.in_flight.len();
        let peer = &self.peer;
        self.in_flight
            .retain(|target| !target.iter().all(|(c, h)| holds(peer, c, *h)));
        if self.in_flight.len() < before {
            self.idle_ticks = 0;
        }
        out.push(Output::PeerFrontier(tips.to_vec()));
        Ok(())
    }

    /// Blocks from the peer: the peer holds them; hand the unknown ones to the node.
    fn receive(&mut self, blocks: Vec<Block>, ledger: &Ledger, out: &mut Vec<Output>) {
        let mut unknown = Vec::with_capacity(blocks.len());
        for block in blocks {
            raise(&mut self.peer, block.header.clinic, block.header.height);
            raise(&mut self.sent, block.header.clinic, block.header.height);
            let hash = block.hash();
            if !ledger.contains(&hash) {
                let links = block.header.prev.iter().chain(&block.header.parents);
                self.delivering.push((hash, links.copied().collect()));
                unknown.push(block);
            }
        }
        if unknown.is_empty() {
            // Duplicates only: acknowledge at once so the peer's window moves.
            self.acknowledge(ledger, out);
        } else {
            out.push(Output::Deliver(unknown));
        }
    }

    /// The peer lacks these blocks: re-send, from its acknowledged frontier, every chain their
    /// causal past reaches beyond it.
    fn resend_for(&mut self, missing: &[BlockHash], ledger: &Ledger) {
        let mut chains = BTreeSet::new();
        for hash in missing {
            if let Some(node) = ledger.dag().node(hash) {
                chains.extend(
                    node.frontier
                        .iter()
                        .filter(|(c, h)| !holds(&self.peer, c, **h))
                        .map(|(c, _)| *c),
                );
            }
        }
        if chains.is_empty() {
            return;
        }
        for chain in &chains {
            match self.peer.get(chain) {
                Some(height) => self.sent.insert(*chain, *height),
                None => self.sent.remove(chain),
            };
        }
        self.in_flight
            .retain(|target| !target.keys().any(|c| chains.contains(c)));
    }

    /// Sends batches of what the peer lacks while the window has room.
    fn pump(&mut self, ledger: &Ledger, out: &mut Vec<Output>) {
        if self.closed || !self.peer_known {
            return;
        }
        if !self.explicit.is_empty() {
            let wanted: Vec<BlockHash> = self.explicit.drain(..).collect();
            let blocks: Vec<Vec<u8>> = parents_first(&wanted, ledger)
                .into_iter()
                .take(MAX_BLOCKS_PER_FRAME)
                .filter_map(|hash| ledger.block(&hash).map(|b| b.to_bytes()))
                .collect();
            if !blocks.is_empty() {
                self.in_flight.push_back(Frontier::new());
                out.push(Output::Send(Frame::Blocks { blocks }));
            }
        }
        while self.in_flight.len() < self.window() {
            let (blocks, target) = self.next_batch(ledger);
            if blocks.is_empty() {
                break;
            }
            for (chain, height) in &target {
                raise(&mut self.sent, *chain, *height);
            }
            self.told_also(&target);
            self.in_flight.push_back(target);
            out.push(Output::Send(Frame::Blocks { blocks }));
        }
    }

    /// The next batch above `sent`, parents first: a merge of the chains that takes, among the
    /// chains' next blocks whose links the peer will hold, the least (time, clinic) — close to
    /// the ledger's order without hashing every candidate.
    fn next_batch(&self, ledger: &Ledger) -> (Vec<Vec<u8>>, Frontier) {
        let max_blocks = self.config.batch_blocks.clamp(1, MAX_BLOCKS_PER_FRAME);
        let max_bytes = self.config.batch_bytes.min(MAX_ENCODED_LEN);
        let dag = ledger.dag();
        let mut cursor = self.sent.clone();
        let next_of = |chain: &ActorId, cursor: &Frontier| {
            let height = cursor.get(chain).map_or(0, |h| h + 1);
            ledger
                .block_at(chain, height)
                .map(|block| (block.header.time_ms, block))
        };
        let mut candidates: BTreeMap<ActorId, (i64, Arc<Block>)> = dag
            .heads()
            .keys()
            .filter_map(|chain| next_of(chain, &cursor).map(|c| (*chain, c)))
            .collect();
        let mut blocks = Vec::new();
        let mut target = Frontier::new();
        let mut bytes_used = 0;
        while blocks.len() < max_blocks {
            let ready = candidates
                .iter()
                .filter(|(_, (_, block))| {
                    let mut links = block.header.prev.iter().chain(&block.header.parents);
                    links.all(|link| {
                        dag.node(link)
                            .is_some_and(|n| holds(&cursor, &n.clinic, n.height))
                    })
                })
                .min_by_key(|(chain, (time, _))| (*time, **chain))
                .map(|(_, (_, block))| block.clone());
            let Some(block) = ready else {
                // Transfers go by height; around a clinic's rival blocks a height can name a
                // block whose links wait on another chain's rival, which the peer then asks for
                // by hash.
                debug_assert!(
                    candidates.is_empty() || ledger.rivals().next().is_some(),
                    "some block above the frontier is ready"
                );
                break;
            };
            let encoded = block.to_bytes();
            // Each block also costs its length prefix (at most 5 bytes) in the frame.
            let cost = encoded.len() + 5;
            if !blocks.is_empty() && bytes_used + cost > max_bytes {
                break;
            }
            bytes_used += cost;
            blocks.push(encoded);
            let (chain, height) = (block.header.clinic, block.header.height);
            cursor.insert(chain, height);
            target.insert(chain, height);
            match next_of(&chain, &cursor) {
                Some(next) => candidates.insert(chain, next),
                None => candidates.remove(&chain),
            };
        }
        (blocks, target)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
