//! The node on the network: QUIC sync with enrolled clinics, driven by `carelog_sync::net`.
//!
//! `serve` runs until shutdown: it accepts and keeps connections, pushes blocks sealed by any
//! process on this home (it re-reads the database every few hundred milliseconds), refreshes the
//! list of enrolled clinics the TLS layer admits, and writes a status line other processes read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_ledger::{ActorId, Block, Ledger};
use carelog_sync::Tip;
use carelog_sync::net::{
    self, AllowList, Endpoint, LinkState, Replica, SyncEvent, SyncHandle, SyncReport, SyncStatus,
};
use serde::{Deserialize, Serialize};

use crate::Node;
use crate::error::{NodeError, Result};
use crate::home::{now_ms, rfc3339};

const STATUS: &str = "sync_status";
/// How often `serve` looks for blocks other processes stored, and rewrites its status.
const HOUSEKEEPING: Duration = Duration::from_millis(300);
/// A status older than this was written by a `serve` that is no longer running.
const STATUS_FRESH_MS: i64 = 5_000;

impl Replica for Node {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn accept(
        &mut self,
        _from: ActorId,
        blocks: Vec<Block>,
    ) -> std::result::Result<Vec<Block>, String> {
        let accepted = self.accept_blocks(blocks).map_err(|e| e.to_string())?;
        match accepted.refused {
            Some(reason) => Err(reason),
            None => Ok(accepted.blocks),
        }
    }

    fn peer_holds(&mut self, _peer: ActorId, frontier: &[Tip]) {
        let ours = frontier
            .iter()
            .find(|t| t.clinic == self.sealer)
            .map(|t| t.height);
        if let Err(e) = self.mark_peer_holds(ours) {
            tracing::warn!(error = %e, "could not update the outbox");
        }
    }
}

/// One peer as `status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The address.
    pub addr: String,
    /// The peer's clinic id, once authenticated.
    pub clinic: Option<String>,
    /// connecting, syncing, in-sync or offline.
    pub state: String,
    /// When the link was last in sync.
    pub last_sync: Option<String>,
}

/// What a running `serve` reports for `status` in other processes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Whether any peer is connected.
    pub online: bool,
    /// Every peer link.
    pub peers: Vec<PeerStatus>,
    /// When this was written (Unix ms).
    pub written_ms: i64,
}

fn net_err(e: net::NetError) -> NodeError {
    NodeError::Network(e.to_string())
}

impl Node {
    /// Binds this clinic's sync endpoint; it admits only clinics enrolled in this replica.
    /// Needs a running tokio runtime.
    pub fn bind_endpoint(&self, listen: SocketAddr) -> Result<Endpoint> {
        Endpoint::bind(
            listen,
            &self.secrets.node,
            AllowList::from_ledger(&self.ledger),
        )
        .map_err(net_err)
    }

    /// The link status a running `serve` on this home last wrote, if it is still running.
    pub fn link_status(&self) -> Result<Option<LinkStatus>> {
        let Some(bytes) = self.store.setting(STATUS)? else {
            return Ok(None);
        };
        let status: Option<LinkStatus> = serde_json::from_slice(&bytes).ok();
        Ok(status.filter(|s| now_ms() - s.written_ms < STATUS_FRESH_MS))
    }
}

/// How often a serving node looks for records whose keys must rotate even when nothing new
/// arrived (a grant that ran out).
const KEY_CHECK_EVERY: Duration = Duration::from_secs(60);

/// When a serving node last checked its records' keys ([`Node::rotate_stale_keys`]).
#[derive(Default)]
struct KeysChecked {
    txs: u64,
    at: Option<std::time::Instant>,
}

impl KeysChecked {
    /// Rotates what must rotate if the ledger changed or a minute went by; returns the blocks
    /// sealed, to be announced to peers.
    fn rotate_if_due(&mut self, node: &mut Node) -> Vec<Block> {
        let txs = node.ledger.tx_count();
        if txs == self.txs && self.at.is_some_and(|at| at.elapsed() < KEY_CHECK_EVERY) {
            return Vec::new();
        }
        let before = node.ledger.dag().head_of(&node.sealer).map(|(h, _)| h);
        let rotated = match node.rotate_stale_keys() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not rotate the keys of this clinic's records");
                0
            }
        } + match node.refresh_views() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not publish the level views of this clinic's records");
                0
            }
        };
        self.txs = node.ledger.tx_count();
        self.at = Some(std::time::Instant::now());
        if rotated == 0 {
            return Vec::new();
        }
        let after = node
            .ledger
            .dag()
            .head_of(&node.sealer)
            .map_or(0, |(h, _)| h);
        let first = before.map_or(0, |h| h + 1);
        (first..=after)
            .filter_map(|h| node.ledger.block_at(&node.sealer, h))
            .map(Arc::unwrap_or_clone)
            .collect()
    }
}

/// Connects to one peer and exchanges blocks until both hold the same.
pub async fn sync_once(
    node: &Arc<Mutex<Node>>,
    peer: SocketAddr,
    limit: Duration,
) -> Result<SyncReport> {
    let listen: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let endpoint = node
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .bind_endpoint(listen)?;
    net::sync_once(&endpoint, node.clone(), peer, limit)
        .await
        .map_err(net_err)
}

/// Runs the node with QUIC sync until `shutdown` turns true; `on_event` sees every sync event
/// (for logs). Blocks sealed meanwhile by other processes on this home are pushed to peers.
pub async fn serve(
    node: Node,
    listen: SocketAddr,
    peers: Vec<SocketAddr>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    on_event: impl Fn(&SyncEvent) + Send + 'static,
) -> Result<()> {
    let endpoint = node.bind_endpoint(listen)?;
    run(
        endpoint,
        node,
        Default::default(),
        peers,
        shutdown,
        on_event,
    )
    .await
}

/// [`serve`] on an endpoint already bound by [`Node::bind_endpoint`] (to learn the port it got
/// before serving starts).
pub async fn serve_on(
    node: Node,
    endpoint: Endpoint,
    peers: Vec<SocketAddr>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    on_event: impl Fn(&SyncEvent) + Send + 'static,
) -> Result<()> {
    run(
        endpoint,
        node,
        Default::default(),
        peers,
        shutdown,
        on_event,
    )
    .await
}

/// A link kept by an app beside its own node: a second node on the same home syncing in the
/// background, with a handle for the sync bar ("Sync now", peer states). Stops when dropped.
pub struct Link {
    handle: SyncHandle,
    nudge: Arc<tokio::sync::Notify>,
    addr: SocketAddr,
    peers: Vec<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("addr", &self.addr)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Opens `node`'s home again (with the keys it holds), binds `listen` and syncs with
    /// `peers` until the link is dropped. Must be called inside a tokio runtime.
    pub fn start(node: &Node, listen: SocketAddr, peers: Vec<SocketAddr>) -> Result<Link> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NodeError::Network(
                "sync needs the app's async runtime, which is not running".into(),
            ));
        }
        let node = node.reopen()?;
        let endpoint = node.bind_endpoint(listen)?;
        let addr = endpoint.local_addr().map_err(net_err)?;
        let handle = endpoint.handle();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task_peers = peers.clone();
        let nudge: Arc<tokio::sync::Notify> = Default::default();
        let task_nudge = nudge.clone();
        tokio::spawn(async move {
            if let Err(e) = run(endpoint, node, task_nudge, task_peers, shutdown, |event| {
                tracing::debug!(?event, "sync");
            })
            .await
            {
                tracing::error!(error = %e, "the sync link stopped");
            }
        });
        Ok(Link {
            handle,
            nudge,
            addr,
            peers,
            stop,
        })
    }

    /// Where this clinic listens for peers.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peers this link dials.
    pub fn peers(&self) -> &[SocketAddr] {
        &self.peers
    }

    /// Every link's state, as it is now.
    pub fn status(&self) -> SyncStatus {
        self.handle.status()
    }

    /// Dials peers waiting out a backoff at once and runs a round with connected ones.
    pub fn sync_now(&self) {
        self.handle.sync_now();
    }

    /// The app committed on this home: the link reads the new blocks and sends them now rather
    /// than at its next housekeeping tick.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The words the sync bar and `status` use for a link state.
pub fn state_name(state: LinkState) -> &'static str {
    match state {
        LinkState::Connecting => "connecting",
        LinkState::Syncing => "syncing",
        LinkState::InSync => "in-sync",
        LinkState::Offline => "offline",
    }
}

async fn run(
    endpoint: Endpoint,
    node: Node,
    nudge: Arc<tokio::sync::Notify>,
    peers: Vec<SocketAddr>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    on_event: impl Fn(&SyncEvent) + Send + 'static,
) -> Result<()> {
    let local = endpoint.local_addr().map_err(net_err)?;
    tracing::info!(addr = %local, peers = peers.len(), "serving");
    let handle = endpoint.handle();
    // Announced on the LAN once the clinic has more than one machine, until serving ends.
    let mut _lan: Option<crate::lan::Lan> = None;
    let mut lan_tried = false;
    let allow = endpoint.allow_list().clone();
    let shared = Arc::new(Mutex::new(node));
    let (events, mut incoming) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(net::serve(
        endpoint,
        shared.clone(),
        peers,
        events,
        shutdown.clone(),
    ));
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    let mut keys_checked = KeysChecked::default();
    loop {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(event) => on_event(&event),
                None => break,
            },
            // The app on this home committed: its blocks go out now, not at the next tick.
            () = nudge.notified() => {
                let fresh = {
                    let mut node = shared.lock().unwrap_or_else(|p| p.into_inner());
                    node.refresh().unwrap_or_else(|e| {
                        tracing::error!(error = %e, "could not read new blocks from the database");
                        Vec::new()
                    })
                };
                for block in fresh {
                    handle.announce(block);
                }
            }
            _ = tick.tick() => {
                let (fresh, status) = {
                    let mut node = shared.lock().unwrap_or_else(|p| p.into_inner());
                    let fresh = match node.refresh() {
                        Ok(blocks) => blocks,
                        Err(e) => {
                            tracing::error!(error = %e, "could not read new blocks from the database");
                            Vec::new()
                        }
                    };
                    allow.refresh(node.ledger.state());
                    if !lan_tried && crate::lan::enabled() && node.has_devices() {
                        lan_tried = true;
                        match crate::lan::Lan::start(
                            &node.network_id(),
                            &node.clinic,
                            &node.sealer,
                            local.port(),
                            handle.clone(),
                        ) {
                            Ok(started) => _lan = Some(started),
                            Err(e) => tracing::warn!(error = %e, "could not announce this machine on the LAN; configured peers still sync"),
                        }
                    }
                    let mut fresh = fresh;
                    fresh.extend(keys_checked.rotate_if_due(&mut node));
                    (fresh, handle.status())
                };
                for block in fresh {
                    handle.announce(block);
                }
                let status = LinkStatus {
                    online: status.online,
                    peers: status
                        .peers
                        .iter()
                        .map(|p| PeerStatus {
                            addr: p.addr.to_string(),
                            clinic: p.clinic.map(|c| c.to_string()),
                            state: state_name(p.state).into(),
                            last_sync: p.last_sync_ms.map(rfc3339),
                        })
                        .collect(),
                    written_ms: now_ms(),
                };
                let bytes = serde_json::to_vec(&status).expect("status always encodes");
                let node = shared.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = node.store.put_setting(STATUS, &bytes) {
                    tracing::warn!(error = %e, "could not write the sync status");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    let _ = server.await;
    let node = shared.lock().unwrap_or_else(|p| p.into_inner());
    let _ = node.store.put_setting(STATUS, b"{}");
    Ok(())
}
