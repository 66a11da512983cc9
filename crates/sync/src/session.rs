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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;

use carelog_ledger::{
    ActorId, Block, BlockHash, Frontier, Hash, LedgerError, MAX_ENCODED_LEN, NetworkId,
};

use crate::frame::{Frame, MAX_BLOCKS_PER_FRAME, MAX_NEED, MAX_REASON_LEN, MAX_TIPS, Tip};
use crate::holdings::Holdings;

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
            batch_blocks: 2_048,
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
    /// How many blocks the replica held when `local` was last worked out.
    observed: Option<usize>,
    /// The block count at which a tick last found nothing to say or send; until another event
    /// or block, later ticks need not look again (a hub ticks many sessions over many chains).
    quiet_at: Option<usize>,
    /// What the last connection to this peer left both sides knowing, if this session resumes.
    memory: Option<PeerMemory>,
    /// Every tip this side announced on this connection (Hello, Since, Ack), joined.
    announced: Tips,
    /// Every tip the peer announced on this connection, joined.
    heard: Tips,
    /// Chains of blocks received since the last Ack: the next Ack names their heads even if
    /// unchanged, so a sender of duplicates learns that they are held.
    touched: BTreeSet<ActorId>,
}

/// Tips by chain: the highest height announced, and at one height the lowest hash (a join,
/// so both ends of a connection that saw the same tips hold the same map).
pub(crate) type Tips = BTreeMap<ActorId, (u64, BlockHash)>;

fn join(tips: &mut Tips, tip: &Tip) {
    let entry = tips.entry(tip.clinic).or_insert((tip.height, tip.hash));
    if (tip.height, std::cmp::Reverse(tip.hash)) > (entry.0, std::cmp::Reverse(entry.1)) {
        *entry = (tip.height, tip.hash);
    }
}

/// The digest a `Since` greeting names its base by.
fn digest(tips: &Tips) -> Hash {
    let mut bytes = Vec::with_capacity(tips.len() * 56);
    for (clinic, (height, hash)) in tips {
        bytes.extend_from_slice(&clinic.0);
        bytes.extend_from_slice(&height.to_le_bytes());
        bytes.extend_from_slice(&hash.0);
    }
    Hash::of("carelog sync memory v1", &bytes)
}

fn as_tips(tips: &Tips) -> Vec<Tip> {
    tips.iter()
        .map(|(clinic, (height, hash))| Tip {
            clinic: *clinic,
            height: *height,
            hash: *hash,
        })
        .collect()
}

/// What two clinics told each other on a connection, kept by the node when it ends so the next
/// connection's greeting ([`Frame::Since`]) lists only the chains that changed since, not every
/// chain of the network. Held in memory only: a restarted node greets in full.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerMemory {
    told: Arc<Tips>,
    heard: Arc<Tips>,
}

impl PeerMemory {
    /// The memory of two replicas that told each other these same tips.
    #[cfg(any(test, feature = "district"))]
    pub(crate) fn shared(tips: Arc<Tips>) -> PeerMemory {
        PeerMemory {
            told: tips.clone(),
            heard: tips,
        }
    }

    /// Whether nothing was exchanged (a session that never heard its peer).
    pub fn is_empty(&self) -> bool {
        self.told.is_empty() || self.heard.is_empty()
    }
}

/// The heads of a replica's chains as tips, for Hello and Ack, followed by every rival block
/// of a clinic that sealed two at one height: the evidence travels with every exchange, and a
/// peer that lacks a rival asks for it by hash, so every replica settles the fork alike.
pub fn frontier_tips<R: Holdings + ?Sized>(replica: &R) -> Vec<Tip> {
    let heads = replica.heads().map(|(clinic, height, hash)| Tip {
        clinic,
        height,
        hash,
    });
    heads.chain(replica.rival_tips()).take(MAX_TIPS).collect()
}

fn frontier_of<R: Holdings + ?Sized>(replica: &R) -> Frontier {
    replica
        .heads()
        .map(|(clinic, height, _)| (clinic, height))
        .collect()
}

/// `blocks` ordered so that each comes after any of them it links to (as the ledger takes them).
fn parents_first<R: Holdings + ?Sized>(blocks: &[BlockHash], replica: &R) -> Vec<BlockHash> {
    let wanted: BTreeSet<BlockHash> = blocks.iter().copied().collect();
    let mut placed = BTreeSet::new();
    let mut out = Vec::with_capacity(blocks.len());
    while out.len() < wanted.len() {
        let before = out.len();
        for hash in &wanted {
            if placed.contains(hash) {
                continue;
            }
            let ready = replica.links(hash).is_none_or(|links| {
                links
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

/// Why a session closes on its peer: the reason the Bye frame carries, as text, to the peer.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// The peer greets from another network.
    #[error("the peer is on network {peer}, this clinic on {ours}")]
    OtherNetwork { peer: NetworkId, ours: NetworkId },
    /// The peer greets with this clinic's own id.
    #[error("the peer is this clinic itself")]
    ItselfAsPeer,
    /// The peer greets again under another clinic's id.
    #[error("the peer changed its clinic id mid-connection")]
    ClinicChanged,
    /// A block of a Blocks frame does not decode.
    #[error("block {number} of {of} the peer sent is malformed: {why}")]
    MalformedBlock {
        number: usize,
        of: usize,
        why: LedgerError,
    },
    /// The block of a Push frame does not decode.
    #[error("the block the peer pushed is malformed: {0}")]
    MalformedPush(LedgerError),
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
            observed: None,
            quiet_at: None,
            memory: None,
            announced: Tips::new(),
            heard: Tips::new(),
            touched: BTreeSet::new(),
        }
    }

    /// A session for a new connection to a peer this node spoke with before, greeting with only
    /// what changed since (`Frame::Since`). Use it only with a peer that speaks `Since` (protocol
    /// 2); a peer whose memory differs answers with a full Hello, as a new session would.
    pub fn resume(
        network: NetworkId,
        local_clinic: ActorId,
        config: SyncConfig,
        memory: PeerMemory,
    ) -> Self {
        let mut session = PeerSession::new(network, local_clinic, config);
        if !memory.is_empty() {
            // Start from the memory, so a connection that drops before the peer greets leaves
            // it as it was rather than empty.
            session.announced = Tips::clone(&memory.told);
            session.heard = Tips::clone(&memory.heard);
            session.memory = Some(memory);
        }
        session
    }

    /// What this connection left both sides knowing, for [`resume`](Self::resume) next time.
    pub fn memory(&self) -> PeerMemory {
        // Two equal maps (the usual end of a connection in sync) are kept once.
        let told = Arc::new(self.announced.clone());
        let heard = if self.heard == self.announced {
            told.clone()
        } else {
            Arc::new(self.heard.clone())
        };
        PeerMemory { told, heard }
    }

    /// The connection is up: say Hello with this replica's frontier.
    pub fn start<R: Holdings + ?Sized>(&mut self, ledger: &R) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        debug_assert_eq!(
            ledger.network_id(),
            self.network,
            "a session serves one network"
        );
        vec![Output::Send(self.greeting(ledger))]
    }

    /// A frame arrived from the peer.
    pub fn on_frame<R: Holdings + ?Sized>(&mut self, frame: Frame, ledger: &R) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.observe(ledger);
        self.quiet_at = None;
        let mut out = Vec::new();
        match frame {
            Frame::Hello {
                network,
                clinic,
                frontier,
            } => {
                if let Err(why) = self.greeted_by(network, clinic) {
                    return self.refuse(why);
                }
                self.learn(&frontier, ledger, &mut out);
                // Answer with our whole frontier even though our greeting carried it: that
                // greeting may be lost, or based on a memory the peer does not share.
                self.acknowledge(ledger, true, &mut out);
            }
            Frame::Since {
                network,
                clinic,
                base,
                frontier,
            } => {
                let again = self.peer_clinic.is_some();
                if let Err(why) = self.greeted_by(network, clinic) {
                    return self.refuse(why);
                }
                let Some(memory) = self.memory.as_ref() else {
                    // This side remembers nothing of the peer (it restarted): greet in full,
                    // which the peer answers with its whole frontier.
                    out.push(Output::Send(self.hello(ledger)));
                    return out;
                };
                // What the peer announced before it still holds (a memory never outlives the
                // replica it describes), so the remembered tips raised by these are a lower
                // bound of its frontier, exact when the digests agree. Where announcements were
                // lost as the last connection dropped, this side thinks the peer holds less and
                // may send it a few blocks it has; its Acks then set that right. (`base` tells
                // whether the bound is exact; nothing here needs to know.)
                let _ = base;
                let mut now = Tips::clone(&memory.heard);
                for tip in &frontier {
                    join(&mut now, tip);
                }
                self.learn(&as_tips(&now), ledger, &mut out);
                // A greeting seen twice means the peer has not heard ours: answer in full.
                self.acknowledge(ledger, again, &mut out);
            }
            Frame::Ack { frontier } => {
                self.learn(&frontier, ledger, &mut out);
                self.pump(ledger, &mut out);
            }
            Frame::Blocks { blocks } => {
                let mut decoded = Vec::with_capacity(blocks.len());
                for (index, bytes) in blocks.iter().enumerate() {
                    match Block::from_bytes(bytes) {
                        Ok(block) => decoded.push(block),
                        Err(why) => {
                            return self.refuse(Refusal::MalformedBlock {
                                number: index + 1,
                                of: blocks.len(),
                                why,
                            });
                        }
                    }
                }
                self.receive(decoded, ledger, &mut out);
            }
            Frame::Push { block } => match Block::from_bytes(&block) {
                Ok(block) => self.receive(vec![block], ledger, &mut out),
                Err(why) => return self.refuse(Refusal::MalformedPush(why)),
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
        // The next batch goes out before the node records what the peer holds: that record is
        // a durable write (the outbox), and the transfer should not wait on it.
        out.sort_by_key(|o| matches!(o, Output::PeerFrontier(_)));
        out
    }

    /// The node inserted the blocks of the last `Deliver`: ask for what is still missing and
    /// acknowledge with the new frontier.
    pub fn on_delivered<R: Holdings + ?Sized>(&mut self, ledger: &R) -> Vec<Output> {
        if self.closed {
            return Vec::new();
        }
        self.observe(ledger);
        self.quiet_at = None;
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
        self.acknowledge(ledger, false, &mut out);
        out
    }

    /// This replica sealed or newly accepted `block`: push it unless the peer holds it or will
    /// receive it with the transfer under way. Not called for the peer that sent the block.
    pub fn on_local_block(&mut self, block: &Block) -> Vec<Output> {
        let (chain, height) = (block.header.clinic, block.header.height);
        raise(&mut self.local, chain, height);
        self.quiet_at = None;
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
    pub fn on_tick<R: Holdings + ?Sized>(&mut self, ledger: &R) -> Vec<Output> {
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
                out.push(Output::Send(self.greeting(ledger)));
            }
            return out;
        }
        let nothing_pending = self.in_flight.is_empty() && self.wanted.is_empty();
        if nothing_pending && self.quiet_at.is_some() && self.quiet_at == self.observed {
            self.idle_ticks = 0;
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
            let ack = self.ack_frame(ledger, false);
            out.push(Output::Send(ack));
        }
        self.pump(ledger, &mut out);
        if out.is_empty() && nothing_pending && self.in_flight.is_empty() {
            self.quiet_at = self.observed;
        }
        out
    }

    /// Closes the connection because the peer broke the protocol; the peer is told why.
    fn refuse(&mut self, why: Refusal) -> Vec<Output> {
        self.close(&why.to_string())
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

    /// What the session believes of one chain, for a failing simulation's message.
    #[cfg(any(test, feature = "district"))]
    pub(crate) fn explain(&self, chain: &ActorId) -> String {
        format!(
            "peer {:?} sent {:?} local {:?} told {:?}; {} in flight {:?}, idle {}, quiet at {:?}, \
             observed {:?}, known {}, wanted {}, explicit {}",
            self.peer.get(chain),
            self.sent.get(chain),
            self.local.get(chain),
            self.told.as_ref().map(|t| t.get(chain)),
            self.in_flight.len(),
            self.in_flight.iter().map(|t| t.len()).collect::<Vec<_>>(),
            self.idle_ticks,
            self.quiet_at,
            self.observed,
            self.peer_known,
            self.wanted.len(),
            self.explicit.len()
        )
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
    fn observe<R: Holdings + ?Sized>(&mut self, ledger: &R) {
        // Blocks are only ever added: the same count is the same heads, and a session of a
        // network of a thousand chains need not walk them for every frame.
        let count = ledger.block_count();
        if self.observed == Some(count) {
            return;
        }
        self.observed = Some(count);
        self.local = frontier_of(ledger);
        self.local_rivals = ledger.rival_count();
    }

    fn window(&self) -> usize {
        self.config.window.max(1)
    }

    fn hello<R: Holdings + ?Sized>(&mut self, ledger: &R) -> Frame {
        self.observe(ledger);
        self.told = Some(self.local.clone());
        self.told_rivals = self.local_rivals;
        let frontier = frontier_tips(ledger);
        for tip in &frontier {
            join(&mut self.announced, tip);
        }
        Frame::Hello {
            network: self.network,
            clinic: self.local_clinic,
            frontier,
        }
    }

    /// The first frame: `Since` (the chains changed since the memory of the last connection) when
    /// this session resumes one and holds no rival blocks, else a full Hello.
    fn greeting<R: Holdings + ?Sized>(&mut self, ledger: &R) -> Frame {
        self.observe(ledger);
        let Some(memory) = self.memory.as_ref().filter(|_| self.local_rivals == 0) else {
            return self.hello(ledger);
        };
        let told = &memory.told;
        let changed: Vec<Tip> = frontier_tips(ledger)
            .into_iter()
            .filter(|tip| told.get(&tip.clinic) != Some(&(tip.height, tip.hash)))
            .collect();
        let base = digest(told);
        let mut announced = Tips::clone(told);
        for tip in &changed {
            join(&mut announced, tip);
        }
        self.announced = announced;
        self.told = Some(self.local.clone());
        self.told_rivals = self.local_rivals;
        Frame::Since {
            network: self.network,
            clinic: self.local_clinic,
            base,
            frontier: changed,
        }
    }

    /// Checks the network and clinic a greeting names.
    fn greeted_by(&mut self, network: NetworkId, clinic: ActorId) -> Result<(), Refusal> {
        if network != self.network {
            return Err(Refusal::OtherNetwork {
                peer: network,
                ours: self.network,
            });
        }
        if clinic == self.local_clinic {
            return Err(Refusal::ItselfAsPeer);
        }
        if self.peer_clinic.is_some_and(|known| known != clinic) {
            return Err(Refusal::ClinicChanged);
        }
        self.peer_clinic = Some(clinic);
        Ok(())
    }

    /// An Ack of this replica's frontier: in full, or (after the greeting) only the chains that
    /// changed since this side last announced and those of blocks just received, so an Ack
    /// costs what changed, not the network's size. The whole frontier goes again when rival
    /// blocks appeared (the evidence travels complete).
    fn ack_frame<R: Holdings + ?Sized>(&mut self, ledger: &R, full: bool) -> Frame {
        self.observe(ledger);
        let rivals_changed = self.told_rivals != self.local_rivals;
        let frontier = match &self.told {
            Some(told) if !full && !rivals_changed => ledger
                .heads()
                .filter(|(clinic, height, _)| {
                    told.get(clinic) != Some(height) || self.touched.contains(clinic)
                })
                .map(|(clinic, height, hash)| Tip {
                    clinic,
                    height,
                    hash,
                })
                .take(MAX_TIPS)
                .collect(),
            _ => frontier_tips(ledger),
        };
        for tip in &frontier {
            join(&mut self.announced, tip);
        }
        self.touched.clear();
        self.told = Some(self.local.clone());
        self.told_rivals = self.local_rivals;
        Frame::Ack { frontier }
    }

    /// Blocks sent also tell the peer this replica holds them.
    fn told_also(&mut self, sent: &Frontier) {
        if let Some(told) = &mut self.told {
            for (chain, height) in sent {
                raise(told, *chain, *height);
            }
        }
    }

    fn acknowledge<R: Holdings + ?Sized>(&mut self, ledger: &R, full: bool, out: &mut Vec<Output>) {
        let ack = self.ack_frame(ledger, full);
        out.push(Output::Send(ack));
        self.pump(ledger, out);
    }

    /// Takes in the peer's frontier. A tip that names another block at a height this replica
    /// holds means a clinic sealed two (equivocation): this side asks for the peer's block, and
    /// the ledger settles which branch to keep the same way everywhere.
    fn learn<R: Holdings + ?Sized>(&mut self, tips: &[Tip], ledger: &R, out: &mut Vec<Output>) {
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
            let head = ledger.head_of(&tip.clinic);
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
            join(&mut self.heard, tip);
        }
        let before = self.in_flight.len();
        let peer = &self.peer;
        self.in_flight
            .retain(|target| !target.iter().all(|(c, h)| holds(peer, c, *h)));
        if self.in_flight.len() < before {
            self.idle_ticks = 0;
        }
        out.push(Output::PeerFrontier(tips.to_vec()));
    }

    /// Blocks from the peer: the peer holds them; hand the unknown ones to the node.
    fn receive<R: Holdings + ?Sized>(
        &mut self,
        blocks: Vec<Block>,
        ledger: &R,
        out: &mut Vec<Output>,
    ) {
        let mut unknown = Vec::with_capacity(blocks.len());
        for block in blocks {
            raise(&mut self.peer, block.header.clinic, block.header.height);
            raise(&mut self.sent, block.header.clinic, block.header.height);
            self.touched.insert(block.header.clinic);
            let hash = block.hash();
            if !ledger.contains(&hash) {
                let links = block.header.prev.iter().chain(&block.header.parents);
                self.delivering.push((hash, links.copied().collect()));
                unknown.push(block);
            }
        }
        if unknown.is_empty() {
            // Duplicates only: acknowledge at once so the peer's window moves.
            self.acknowledge(ledger, false, out);
        } else {
            out.push(Output::Deliver(unknown));
        }
    }

    /// The peer lacks these blocks: re-send, from its acknowledged frontier, every chain their
    /// causal past reaches beyond it.
    fn resend_for<R: Holdings + ?Sized>(&mut self, missing: &[BlockHash], ledger: &R) {
        let mut chains = BTreeSet::new();
        for hash in missing {
            if let Some(frontier) = ledger.causal_frontier(hash) {
                chains.extend(
                    frontier
                        .iter()
                        .filter(|(c, h)| !holds(&self.peer, c, **h))
                        .map(|(c, _)| *c),
                );
            }
        }
        if chains.is_empty() {
            return;
        }
        // A frame in flight that carries any of these chains is no longer waited for, so every
        // chain it carries is sent again too; otherwise a lost frame's other chains would count
        // as sent with nothing left to retry them (found by the district simulation).
        loop {
            let before = chains.len();
            for target in &self.in_flight {
                if target.keys().any(|c| chains.contains(c)) {
                    chains.extend(target.keys().copied());
                }
            }
            if chains.len() == before {
                break;
            }
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
    fn pump<R: Holdings + ?Sized>(&mut self, ledger: &R, out: &mut Vec<Output>) {
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
    ///
    /// Ready blocks wait in a heap; a block with a link the peer will not yet hold waits on
    /// that link's chain and is looked at again only when that chain moves, so a batch costs
    /// about its blocks' links, not blocks × chains × links (a network of a thousand chains).
    fn next_batch<R: Holdings + ?Sized>(&self, ledger: &R) -> (Vec<Vec<u8>>, Frontier) {
        let max_blocks = self.config.batch_blocks.clamp(1, MAX_BLOCKS_PER_FRAME);
        let max_bytes = self.config.batch_bytes.min(MAX_ENCODED_LEN);
        // Heights this batch takes beyond `sent`.
        let mut cursor = Frontier::new();
        let sent = &self.sent;
        let reaches = |cursor: &Frontier, chain: &ActorId, height: u64| {
            cursor
                .get(chain)
                .or_else(|| sent.get(chain))
                .is_some_and(|h| *h >= height)
        };
        let next_of = |chain: &ActorId, cursor: &Frontier| {
            let height = cursor
                .get(chain)
                .or_else(|| sent.get(chain))
                .map_or(0, |h| h + 1);
            ledger.block_at(chain, height)
        };
        let mut candidates: BTreeMap<ActorId, Arc<Block>> = BTreeMap::new();
        for (chain, height, _) in ledger.heads() {
            if !holds(sent, &chain, height)
                && let Some(block) = next_of(&chain, &cursor)
            {
                candidates.insert(chain, block);
            }
        }
        let mut ready: BinaryHeap<Reverse<(i64, ActorId)>> = BinaryHeap::new();
        // Per chain, the candidates waiting for it to reach a height: (height, their chain).
        let mut waiting: BTreeMap<ActorId, Vec<(u64, ActorId)>> = BTreeMap::new();
        let consider =
            |chain: ActorId,
             block: &Block,
             cursor: &Frontier,
             ready: &mut BinaryHeap<Reverse<(i64, ActorId)>>,
             waiting: &mut BTreeMap<ActorId, Vec<(u64, ActorId)>>| {
                for link in block.header.prev.iter().chain(&block.header.parents) {
                    match ledger.place(link) {
                        Some((c, h)) if reaches(cursor, &c, h) => {}
                        Some((c, h)) => {
                            waiting.entry(c).or_default().push((h, chain));
                            return;
                        }
                        // A link this replica lacks: never ready here.
                        None => return,
                    }
                }
                ready.push(Reverse((block.header.time_ms, chain)));
            };
        for (chain, block) in &candidates {
            consider(*chain, block, &cursor, &mut ready, &mut waiting);
        }
        let mut blocks = Vec::new();
        let mut target = Frontier::new();
        let mut bytes_used = 0;
        while blocks.len() < max_blocks {
            let Some(Reverse((_, chain))) = ready.pop() else {
                // Transfers go by height; around a clinic's rival blocks a height can name a
                // block whose links wait on another chain's rival, which the peer then asks for
                // by hash.
                debug_assert!(
                    candidates.is_empty() || ledger.rival_count() > 0,
                    "some block above the frontier is ready"
                );
                break;
            };
            let Some(block) = candidates.remove(&chain) else {
                continue;
            };
            let encoded = block.to_bytes();
            // Each block also costs its length prefix (at most 5 bytes) in the frame.
            let cost = encoded.len() + 5;
            if !blocks.is_empty() && bytes_used + cost > max_bytes {
                break;
            }
            bytes_used += cost;
            blocks.push(encoded);
            let height = block.header.height;
            cursor.insert(chain, height);
            target.insert(chain, height);
            if let Some(next) = next_of(&chain, &cursor) {
                consider(chain, &next, &cursor, &mut ready, &mut waiting);
                candidates.insert(chain, next);
            }
            if let Some(waiters) = waiting.remove(&chain) {
                for (needed, waiter) in waiters {
                    if needed > height {
                        waiting.entry(chain).or_default().push((needed, waiter));
                    } else if let Some(block) = candidates.get(&waiter) {
                        consider(waiter, block, &cursor, &mut ready, &mut waiting);
                    }
                }
            }
        }
        (blocks, target)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
