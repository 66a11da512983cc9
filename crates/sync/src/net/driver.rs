//! The driver: one [`PeerSession`] per QUIC connection, run against the node's [`Replica`];
//! the serve loop with its reconnect sentinels; gossip between connections; status for the UI.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use carelog_ledger::{ActorId, Block, Frontier, Ledger};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep, timeout};

use super::wire::{Incoming, read_frame, write_frame, write_heartbeat};
use super::{Endpoint, Gossip, NetError, Shared, lock, tls};
use crate::{Output, PeerSession, Tip};

/// The node as the sync driver sees it. Shared as `Arc<Mutex<R>>`; the driver locks it briefly
/// and never across an await.
pub trait Replica: Send + 'static {
    /// The node's replica of the ledger.
    fn ledger(&self) -> &Ledger;
    /// Validate, store and insert blocks from a peer (parents first). Returns the blocks newly
    /// accepted (for gossip to other peers). Err only for invalid blocks (the driver then closes
    /// that peer); `MissingLinks` must be reported as Ok with the blocks that did go in (the
    /// session asks the peer for the rest).
    fn accept(&mut self, from: ActorId, blocks: Vec<Block>) -> Result<Vec<Block>, String>;
    /// The peer has acknowledged holding this frontier (the node marks its outbox).
    fn peer_holds(&mut self, peer: ActorId, frontier: &[Tip]);
}

/// Something the node or the UI may want to show or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncEvent {
    /// A peer authenticated and said Hello.
    PeerConnected {
        /// Its clinic.
        clinic: ActorId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A connection that had said Hello ended.
    PeerDisconnected {
        /// The peer's clinic.
        clinic: ActorId,
        /// Its address.
        addr: SocketAddr,
        /// Why, in words.
        reason: String,
    },
    /// Blocks from a peer were newly accepted.
    Received {
        /// The peer's clinic.
        from: ActorId,
        /// How many.
        blocks: usize,
    },
    /// This node and the peer hold the same blocks.
    InSync {
        /// The peer's clinic.
        clinic: ActorId,
    },
    /// A handshake failed on authentication (the peer is not an enrolled clinic here, or this
    /// clinic is not one there).
    Refused {
        /// The peer's address.
        addr: SocketAddr,
        /// Why, in words.
        reason: String,
    },
}

/// The state of the link to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Dialling or handshaking.
    Connecting,
    /// Connected; blocks may be moving.
    Syncing,
    /// Connected, and both sides hold the same blocks.
    InSync,
    /// Not connected; the sentinel retries after its backoff.
    Offline,
}

/// One peer link as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// The configured address (outgoing) or the remote address (incoming).
    pub addr: SocketAddr,
    /// The peer's clinic, once authenticated.
    pub clinic: Option<ActorId>,
    /// The link's state.
    pub state: LinkState,
    /// When the link was last in sync (Unix ms).
    pub last_sync_ms: Option<i64>,
    /// Whether this node dials the peer (a configured peer) rather than the peer dialling in.
    pub outgoing: bool,
}

/// The sync status for the sync bar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Whether some peer is connected (syncing or in sync).
    pub online: bool,
    /// Every configured peer and every incoming connection.
    pub peers: Vec<PeerState>,
}

/// What [`sync_once`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// Blocks the peer newly holds (its acknowledged frontier grew by this many).
    pub sent_blocks: usize,
    /// Blocks from the peer newly accepted here.
    pub received_blocks: usize,
    /// The peer's authenticated clinic.
    pub peer_clinic: ActorId,
}

/// The node's handle on a running endpoint: announce blocks, read status, ask for a sync now.
#[derive(Clone)]
pub struct SyncHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandle").finish_non_exhaustive()
    }
}

impl SyncHandle {
    pub(super) fn new(shared: Arc<Shared>) -> SyncHandle {
        SyncHandle { shared }
    }

    /// Pushes a block this node sealed (or imported) to every connected peer. Peers that miss
    /// it get it with the next transfer anyway.
    pub fn announce(&self, block: Block) {
        // No receiver means no connection: the next session sends the block.
        let _ = self.shared.gossip.send(Gossip {
            origin: 0,
            block: Arc::new(block),
        });
    }

    /// The links and whether the node is online.
    pub fn status(&self) -> SyncStatus {
        let peers = self.shared.board.snapshot();
        SyncStatus {
            online: peers
                .iter()
                .any(|p| matches!(p.state, LinkState::Syncing | LinkState::InSync)),
            peers,
        }
    }

    /// "Sync now": sentinels waiting out a backoff dial at once, and sessions tick at once.
    pub fn sync_now(&self) {
        self.shared.wake.notify_waiters();
    }

    /// A peer found while serving (another machine of the clinic on its LAN): the server keeps
    /// a connection to it like to a configured peer. An address it already dials is ignored.
    /// Whoever answers there must still be enrolled and allowed, as for any peer.
    pub fn add_peer(&self, addr: SocketAddr) {
        lock(&self.shared.found).push(addr);
        self.shared.found_wake.notify_one();
    }
}

/// The status board: one slot per configured peer or incoming connection.
#[derive(Default)]
pub(crate) struct Board {
    slots: Mutex<BTreeMap<u64, PeerState>>,
    next: AtomicU64,
}

impl Board {
    fn add(&self, state: PeerState) -> u64 {
        let slot = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.slots).insert(slot, state);
        slot
    }

    fn update(&self, slot: u64, change: impl FnOnce(&mut PeerState)) {
        if let Some(state) = lock(&self.slots).get_mut(&slot) {
            change(state);
        }
    }

    fn remove(&self, slot: u64) {
        lock(&self.slots).remove(&slot);
    }

    fn snapshot(&self) -> Vec<PeerState> {
        let mut peers: Vec<_> = lock(&self.slots).values().cloned().collect();
        peers.sort_by_key(|p| (!p.outgoing, p.addr));
        peers
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// QUIC application close codes.
const CLOSE_DONE: u8 = 0;
const CLOSE_ERROR: u8 = 1;

/// Aborts a task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One authenticated connection being driven.
struct Link<'a, R> {
    endpoint: &'a Endpoint,
    replica: &'a Arc<Mutex<R>>,
    events: Option<&'a mpsc::UnboundedSender<SyncEvent>>,
    conn: quinn::Connection,
    peer: ActorId,
    addr: SocketAddr,
    /// The gossip origin id of this connection.
    id: u64,
    /// The status board slot to keep current.
    slot: Option<u64>,
}

/// How a driven connection ended.
#[derive(Debug, Default)]
struct Outcome {
    /// The peer said Hello (the connection was useful).
    hello: bool,
    /// The sessions were in sync when this side closed.
    closed_in_sync: bool,
    sent: usize,
    received: usize,
    /// Why it ended, in words.
    reason: String,
    /// A failure (timeouts, bad frames, invalid blocks, refusals); None for a polite close.
    error: Option<NetError>,
}

/// Blocks in `after` beyond `before` (chains are contiguous from height 0).
fn blocks_between(before: &Frontier, after: &Frontier) -> usize {
    after
        .iter()
        .map(|(chain, height)| {
            let had = before.get(chain).map_or(0, |h| h + 1);
            (height + 1).saturating_sub(had) as usize
        })
        .sum()
}

enum Event {
    Read(Option<Result<Incoming, NetError>>),
    Tick,
    Gossip(Option<Gossip>),
    Stop,
}

async fn next_gossip(rx: &mut Option<broadcast::Receiver<Gossip>>) -> Option<Gossip> {
    let Some(receiver) = rx else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(gossip) => Some(gossip),
        // Missed pushes travel with the next tick's transfer.
        Err(broadcast::error::RecvError::Lagged(_)) => None,
        Err(broadcast::error::RecvError::Closed) => {
            *rx = None;
            None
        }
    }
}

async fn stopped(rx: &mut Option<watch::Receiver<bool>>) {
    match rx {
        // A dropped sender also means stop.
        Some(receiver) => {
            let _ = receiver.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

async fn reader(
    mut recv: quinn::RecvStream,
    idle: Duration,
    budget: Arc<tokio::sync::Semaphore>,
    frames: mpsc::Sender<Result<Incoming, NetError>>,
) {
    loop {
        let item = read_frame(&mut recv, idle, &budget).await;
        let last = !matches!(item, Ok(Incoming::Frame(_)));
        if frames.send(item).await.is_err() || last {
            break;
        }
    }
}

impl<R: Replica> Link<'_, R> {
    fn event(&self, event: SyncEvent) {
        if let Some(events) = self.events {
            let _ = events.send(event);
        }
    }

    fn board(&self, change: impl FnOnce(&mut PeerState)) {
        if let Some(slot) = self.slot {
            self.endpoint.shared.board.update(slot, change);
        }
    }

    /// Runs the session until it closes, the connection fails or (with `stop_when_in_sync`)
    /// both sides are in sync.
    async fn run(
        &self,
        mut send: quinn::SendStream,
        recv: quinn::RecvStream,
        mut gossip: Option<broadcast::Receiver<Gossip>>,
        mut shutdown: Option<watch::Receiver<bool>>,
        stop_when_in_sync: bool,
    ) -> Outcome {
        let config = &self.endpoint.config;
        let idle = config.idle_timeout;
        let (frames_tx, mut frames) = mpsc::channel(4);
        let budget = self.endpoint.shared.read_budget.clone();
        let _reader = AbortOnDrop(tokio::spawn(reader(recv, idle, budget, frames_tx)));
        let (mut session, start) = {
            let replica = lock(self.replica);
            let ledger = replica.ledger();
            let mut session = PeerSession::new(
                ledger.network_id(),
                self.endpoint.clinic,
                config.sync.clone(),
            );
            let start = session.start(ledger);
            (session, start)
        };
        let mut queue: VecDeque<Output> = start.into();
        let mut outcome = Outcome::default();
        let mut before: Option<Frontier> = None;
        let mut in_sync = false;
        let mut last_write = Instant::now();
        let mut tick = interval(config.tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut closing: Option<String> = None;

        loop {
            while let Some(output) = queue.pop_front() {
                match output {
                    Output::Send(frame) => {
                        if let Err(e) = write_frame(&mut send, &frame, idle).await {
                            self.conn.close(CLOSE_ERROR.into(), b"write failed");
                            let error = outcome.error.get_or_insert(e);
                            outcome.reason = error.to_string();
                            return self.finish(outcome, &session, before.as_ref());
                        }
                        last_write = Instant::now();
                    }
                    Output::Deliver(blocks) => {
                        let more = self.deliver(&mut session, blocks, &mut outcome);
                        queue.extend(more);
                    }
                    Output::PeerFrontier(tips) => {
                        lock(self.replica).peer_holds(self.peer, &tips);
                    }
                    Output::Close(reason) => {
                        closing.get_or_insert(reason);
                    }
                }
            }
            if before.is_none() && session.peer_clinic().is_some() {
                before = Some(session.peer_frontier().clone());
                outcome.hello = true;
                self.event(SyncEvent::PeerConnected {
                    clinic: self.peer,
                    addr: self.addr,
                });
                self.board(|p| p.state = LinkState::Syncing);
            }
            if let Some(reason) = closing.take() {
                let code = if outcome.error.is_some() {
                    CLOSE_ERROR
                } else {
                    CLOSE_DONE
                };
                self.close_politely(&mut send, &mut frames, code).await;
                outcome.reason = reason;
                return self.finish(outcome, &session, before.as_ref());
            }
            let now_in_sync = session.is_in_sync();
            if now_in_sync != in_sync {
                in_sync = now_in_sync;
                if in_sync {
                    self.event(SyncEvent::InSync { clinic: self.peer });
                    let at = now_ms();
                    self.board(|p| {
                        p.state = LinkState::InSync;
                        p.last_sync_ms = Some(at);
                    });
                } else {
                    self.board(|p| p.state = LinkState::Syncing);
                }
            }
            if in_sync && stop_when_in_sync {
                outcome.closed_in_sync = true;
                queue.extend(session.close("in sync; done"));
                continue;
            }

            let event = tokio::select! {
                read = frames.recv() => Event::Read(read),
                _ = tick.tick() => Event::Tick,
                _ = self.endpoint.shared.wake.notified() => Event::Tick,
                gossiped = next_gossip(&mut gossip) => Event::Gossip(gossiped),
                _ = stopped(&mut shutdown) => Event::Stop,
            };
            match event {
                Event::Read(Some(Ok(Incoming::Frame(frame)))) => {
                    let outputs = {
                        let replica = lock(self.replica);
                        session.on_frame(frame, replica.ledger())
                    };
                    match session.peer_clinic() {
                        Some(named) if named != self.peer && !session.is_closed() => {
                            let reason = format!(
                                "the peer authenticated as clinic {} but says it is {named}",
                                self.peer
                            );
                            outcome.error = Some(NetError::Closed(reason.clone()));
                            queue.extend(session.close(&reason));
                        }
                        _ => queue.extend(outputs),
                    }
                }
                Event::Read(Some(Ok(Incoming::End)) | None) => {
                    self.conn
                        .close(CLOSE_ERROR.into(), b"stream ended without bye");
                    let error = NetError::Connection("the peer ended the stream".into());
                    outcome.reason = error.to_string();
                    outcome.error = Some(error);
                    return self.finish(outcome, &session, before.as_ref());
                }
                Event::Read(Some(Err(error))) => {
                    tracing::info!(peer = %self.peer, addr = %self.addr, %error, "dropping a peer");
                    queue.extend(session.close(&error.to_string()));
                    outcome.error = Some(error);
                }
                Event::Tick => {
                    let outputs = {
                        let replica = lock(self.replica);
                        session.on_tick(replica.ledger())
                    };
                    queue.extend(outputs);
                    let sends = queue.iter().any(|o| matches!(o, Output::Send(_)));
                    if !sends && last_write.elapsed() >= idle / 3 {
                        if let Err(e) = write_heartbeat(&mut send, idle).await {
                            self.conn.close(CLOSE_ERROR.into(), b"write failed");
                            outcome.reason = e.to_string();
                            outcome.error = Some(e);
                            return self.finish(outcome, &session, before.as_ref());
                        }
                        last_write = Instant::now();
                    }
                }
                Event::Gossip(Some(pushed)) if pushed.origin != self.id => {
                    queue.extend(session.on_local_block(&pushed.block));
                }
                Event::Gossip(_) => {}
                Event::Stop => {
                    queue.extend(session.close("the clinic is shutting down"));
                }
            }
        }
    }

    /// Hands blocks to the node, gossips the new ones, and returns the session's next outputs.
    fn deliver(
        &self,
        session: &mut PeerSession,
        blocks: Vec<Block>,
        outcome: &mut Outcome,
    ) -> Vec<Output> {
        let result = {
            let mut replica = lock(self.replica);
            match replica.accept(self.peer, blocks) {
                Ok(new) => {
                    self.endpoint.allow.refresh(replica.ledger().state());
                    Ok((new, session.on_delivered(replica.ledger())))
                }
                Err(reason) => Err(reason),
            }
        };
        match result {
            Ok((new, more)) => {
                if !new.is_empty() {
                    outcome.received += new.len();
                    self.event(SyncEvent::Received {
                        from: self.peer,
                        blocks: new.len(),
                    });
                    for block in new {
                        let _ = self.endpoint.shared.gossip.send(Gossip {
                            origin: self.id,
                            block: Arc::new(block),
                        });
                    }
                }
                more
            }
            Err(reason) => {
                let reason = format!("the peer sent an invalid block: {reason}");
                tracing::warn!(peer = %self.peer, addr = %self.addr, %reason, "closing");
                outcome.error = Some(NetError::Closed(reason.clone()));
                session.close(&reason)
            }
        }
    }

    /// After this side's last frame (a Bye): end the stream, let the peer read it all and end
    /// its side, then close the connection.
    async fn close_politely(
        &self,
        send: &mut quinn::SendStream,
        frames: &mut mpsc::Receiver<Result<Incoming, NetError>>,
        code: u8,
    ) {
        let _ = send.finish();
        let grace = self
            .endpoint
            .config
            .idle_timeout
            .min(Duration::from_secs(5));
        let _ = timeout(grace, async {
            while let Some(Ok(Incoming::Frame(_))) = frames.recv().await {}
        })
        .await;
        self.conn.close(code.into(), b"bye");
    }

    fn finish(
        &self,
        mut outcome: Outcome,
        session: &PeerSession,
        before: Option<&Frontier>,
    ) -> Outcome {
        if let Some(before) = before {
            outcome.sent = blocks_between(before, session.peer_frontier());
        }
        if outcome.hello {
            self.event(SyncEvent::PeerDisconnected {
                clinic: self.peer,
                addr: self.addr,
                reason: outcome.reason.clone(),
            });
        }
        outcome
    }
}

/// Connects to `peer`, exchanges blocks until both sides hold the same ones, and closes
/// politely. Fails on refusal, a broken connection, or `limit` running out.
pub async fn sync_once<R: Replica>(
    endpoint: &Endpoint,
    replica: Arc<Mutex<R>>,
    peer: SocketAddr,
    limit: Duration,
) -> Result<SyncReport, NetError> {
    let exchange = async {
        let (conn, clinic) = endpoint.dial(peer).await?;
        let (send, recv) = conn.open_bi().await.map_err(NetError::from_connection)?;
        let link = Link {
            endpoint,
            replica: &replica,
            events: None,
            conn,
            peer: clinic,
            addr: peer,
            id: endpoint.shared.next_link.fetch_add(1, Ordering::Relaxed),
            slot: None,
        };
        let outcome = link.run(send, recv, None, None, true).await;
        match outcome.error {
            Some(error) => Err(error),
            None if outcome.closed_in_sync => Ok(SyncReport {
                sent_blocks: outcome.sent,
                received_blocks: outcome.received,
                peer_clinic: clinic,
            }),
            None => Err(NetError::Closed(outcome.reason)),
        }
    };
    timeout(limit, exchange)
        .await
        .map_err(|_| NetError::Timeout(format!("no sync with {peer} within {limit:?}")))?
}

/// Everything a serving task needs.
struct Ctx<R> {
    endpoint: Endpoint,
    replica: Arc<Mutex<R>>,
    events: mpsc::UnboundedSender<SyncEvent>,
    incoming: AtomicUsize,
}

/// Serves sync until `shutdown` turns true (or its sender is dropped): accepts connections from
/// enrolled clinics, keeps a connection to each of `peers` (reconnecting with backoff), and
/// moves blocks both ways. Returns after closing every connection politely.
pub async fn serve<R: Replica>(
    endpoint: Endpoint,
    replica: Arc<Mutex<R>>,
    peers: Vec<SocketAddr>,
    events: mpsc::UnboundedSender<SyncEvent>,
    shutdown: watch::Receiver<bool>,
) {
    let ctx = Arc::new(Ctx {
        endpoint: endpoint.clone(),
        replica,
        events,
        incoming: AtomicUsize::new(0),
    });
    let mut tasks = JoinSet::new();
    let mut dialled: std::collections::BTreeSet<SocketAddr> = peers.iter().copied().collect();
    for addr in peers {
        tasks.spawn(sentinel(ctx.clone(), addr, shutdown.clone()));
    }
    let mut stop = Some(shutdown.clone());
    let own = endpoint.quic.local_addr().ok();
    loop {
        tokio::select! {
            () = endpoint.shared.found_wake.notified() => {
                let found: Vec<SocketAddr> = std::mem::take(&mut *lock(&endpoint.shared.found));
                for addr in found {
                    if Some(addr) != own && dialled.insert(addr) {
                        tracing::info!(%addr, "dialling a peer found on the LAN");
                        tasks.spawn(sentinel(ctx.clone(), addr, shutdown.clone()));
                    }
                }
            }
            incoming = endpoint.quic.accept() => {
                let Some(incoming) = incoming else { break };
                // A peer proves it receives at its address (a QUIC Retry) before it takes a
                // slot or any handshake work: spoofed addresses cannot fill the node.
                if !incoming.remote_address_validated() {
                    if incoming.retry().is_ok() {
                        endpoint.shared.retries.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                if ctx.incoming.load(Ordering::Relaxed) >= endpoint.config.max_connections {
                    tracing::warn!(addr = %incoming.remote_address(), "too many connections; refusing");
                    incoming.refuse();
                    continue;
                }
                ctx.incoming.fetch_add(1, Ordering::Relaxed);
                let ctx = ctx.clone();
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    serve_incoming(&ctx, incoming, shutdown).await;
                    ctx.incoming.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    // Each task saw the signal and is closing its session; give them a moment.
    let grace = endpoint.config.idle_timeout.min(Duration::from_secs(5)) + Duration::from_secs(1);
    let _ = timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    endpoint
        .quic
        .close(CLOSE_DONE.into(), b"the clinic is shutting down");
    let _ = timeout(Duration::from_secs(2), endpoint.quic.wait_idle()).await;
}

async fn serve_incoming<R: Replica>(
    ctx: &Ctx<R>,
    incoming: quinn::Incoming,
    shutdown: watch::Receiver<bool>,
) {
    let endpoint = &ctx.endpoint;
    let addr = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(error) => {
            tracing::debug!(%addr, %error, "incoming connection failed");
            return;
        }
    };
    let conn = match timeout(endpoint.config.connect_timeout, connecting).await {
        Err(_) => {
            tracing::debug!(%addr, "handshake timed out");
            return;
        }
        Ok(Err(error)) => {
            match NetError::from_connection(error) {
                NetError::Refused(reason) => {
                    tracing::info!(%addr, %reason, "refused a connection");
                    let _ = ctx.events.send(SyncEvent::Refused { addr, reason });
                }
                other => tracing::debug!(%addr, error = %other, "handshake failed"),
            }
            return;
        }
        Ok(Ok(conn)) => conn,
    };
    let clinic = match tls::peer_clinic(conn.peer_identity(), &endpoint.allow) {
        Ok((clinic, _)) => clinic,
        Err(reason) => {
            conn.close(CLOSE_ERROR.into(), b"no certificate");
            let _ = ctx.events.send(SyncEvent::Refused { addr, reason });
            return;
        }
    };
    let (send, recv) = match timeout(endpoint.config.idle_timeout, conn.accept_bi()).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%addr, %error, "the peer left before opening a stream");
            return;
        }
        Err(_) => {
            tracing::info!(%addr, "the peer opened no stream; dropping it");
            conn.close(CLOSE_ERROR.into(), b"idle");
            return;
        }
    };
    let slot = endpoint.shared.board.add(PeerState {
        addr,
        clinic: Some(clinic),
        state: LinkState::Connecting,
        last_sync_ms: None,
        outgoing: false,
    });
    let link = Link {
        endpoint,
        replica: &ctx.replica,
        events: Some(&ctx.events),
        conn,
        peer: clinic,
        addr,
        id: endpoint.shared.next_link.fetch_add(1, Ordering::Relaxed),
        slot: Some(slot),
    };
    let gossip = endpoint.shared.gossip.subscribe();
    let outcome = link
        .run(send, recv, Some(gossip), Some(shutdown), false)
        .await;
    tracing::debug!(%addr, reason = %outcome.reason, "incoming connection ended");
    endpoint.shared.board.remove(slot);
}

/// Keeps a connection to one configured peer: dial, run, and after a drop wait out an
/// exponential backoff (reset after a connection that got as far as the peer's Hello).
async fn sentinel<R: Replica>(ctx: Arc<Ctx<R>>, addr: SocketAddr, shutdown: watch::Receiver<bool>) {
    let endpoint = &ctx.endpoint;
    let config = &endpoint.config;
    let board = &endpoint.shared.board;
    let slot = board.add(PeerState {
        addr,
        clinic: None,
        state: LinkState::Connecting,
        last_sync_ms: None,
        outgoing: true,
    });
    let mut stop = Some(shutdown.clone());
    let mut backoff = config.backoff_min;
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            break;
        }
        board.update(slot, |p| p.state = LinkState::Connecting);
        let dialled = tokio::select! {
            dialled = endpoint.dial(addr) => dialled,
            _ = stopped(&mut stop) => break,
        };
        let mut good = false;
        match dialled {
            Ok((conn, clinic)) => {
                board.update(slot, |p| p.clinic = Some(clinic));
                match conn.open_bi().await {
                    Ok((send, recv)) => {
                        let link = Link {
                            endpoint,
                            replica: &ctx.replica,
                            events: Some(&ctx.events),
                            conn,
                            peer: clinic,
                            addr,
                            id: endpoint.shared.next_link.fetch_add(1, Ordering::Relaxed),
                            slot: Some(slot),
                        };
                        let gossip = endpoint.shared.gossip.subscribe();
                        let outcome = link
                            .run(send, recv, Some(gossip), Some(shutdown.clone()), false)
                            .await;
                        good = outcome.hello;
                        if let Some(NetError::Refused(reason)) = outcome.error {
                            let _ = ctx.events.send(SyncEvent::Refused { addr, reason });
                        }
                    }
                    Err(error) => {
                        if let NetError::Refused(reason) = NetError::from_connection(error) {
                            let _ = ctx.events.send(SyncEvent::Refused { addr, reason });
                        }
                    }
                }
            }
            Err(NetError::Refused(reason)) => {
                tracing::info!(%addr, %reason, "the handshake was refused");
                let _ = ctx.events.send(SyncEvent::Refused { addr, reason });
            }
            Err(error) => tracing::debug!(%addr, %error, "cannot reach the peer"),
        }
        board.update(slot, |p| p.state = LinkState::Offline);
        if good {
            backoff = config.backoff_min;
        }
        tokio::select! {
            _ = sleep(backoff) => {}
            _ = endpoint.shared.wake.notified() => {}
            _ = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
    board.remove(slot);
}
