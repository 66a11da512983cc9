//! The network half of sync: QUIC (quinn) with mutually authenticated TLS 1.3, length-prefixed
//! frames on one bidirectional stream per connection, and a driver that runs a [`PeerSession`]
//! per connection against the node through the [`Replica`] trait.
//!
//! - [`Endpoint::bind`] makes a UDP endpoint whose TLS certificate is self-signed by the node key.
//!   Both sides present certificates; a peer whose key is not an enrolled clinic in the
//!   [`AllowList`] is refused during the handshake, before any frame moves.
//! - [`serve`] accepts connections, keeps a connection to each configured peer address (a
//!   sentinel reconnects with exponential backoff), ticks each session, forwards blocks accepted
//!   from one peer to the others once, and pushes the node's own blocks given to
//!   [`SyncHandle::announce`]. [`SyncHandle::status`] tells the UI who is connected and in sync.
//! - [`sync_once`] connects to one peer, exchanges until both sides hold the same blocks and
//!   closes politely ("Sync now", tests, the CLI).
//!
//! ```no_run
//! # use std::net::SocketAddr;
//! # use std::sync::{Arc, Mutex};
//! # use carelog_sync::net::{AllowList, Endpoint, Replica, serve};
//! # async fn run<R: Replica>(node: Arc<Mutex<R>>, key: carelog_vault::ActorKeys,
//! #     peers: Vec<SocketAddr>) -> Result<(), carelog_sync::net::NetError> {
//! let allow = AllowList::from_ledger(node.lock().unwrap().ledger());
//! let endpoint = Endpoint::bind("0.0.0.0:7400".parse().unwrap(), &key, allow.clone())?;
//! let handle = endpoint.handle(); // announce(block) after sealing; status() for the UI
//! let (events, mut event_rx) = tokio::sync::mpsc::unbounded_channel();
//! let (stop, stop_rx) = tokio::sync::watch::channel(false);
//! let task = tokio::spawn(serve(endpoint, node, peers, events, stop_rx));
//! // … later:
//! stop.send(true).ok();
//! task.await.ok();
//! # Ok(()) }
//! ```
//!
//! [`PeerSession`]: crate::PeerSession

mod driver;
mod link;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_ledger::{ActorId, Block};
use carelog_vault::ActorKeys;

pub use driver::{
    LinkState, PeerState, Replica, SyncEvent, SyncHandle, SyncReport, SyncStatus, serve, sync_once,
};
pub use link::FrameLink;
pub use tls::{ALPN, AllowList, certificate_key, node_certificate};
pub use wire::MIN_RATE;

use crate::SyncConfig;

/// Why a connection or an endpoint failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The UDP socket could not be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's words.
        reason: String,
    },
    /// The TLS or QUIC configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The connection could not be started.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The handshake failed on authentication: one side's key is not an enrolled clinic there.
    #[error("refused during the handshake: {0}")]
    Refused(String),
    /// The peer did not answer, or sent too slowly, in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection broke.
    #[error("the connection failed: {0}")]
    Connection(String),
    /// The peer announced a frame over the size limit.
    #[error("the peer announced a {len} byte frame, over the {max} byte limit")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer sent bytes that are not a frame.
    #[error("the peer sent a malformed frame: {0}")]
    Malformed(String),
    /// The sync session ended before both sides were in sync.
    #[error("the sync session closed: {0}")]
    Closed(String),
}

fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

impl NetError {
    /// Classifies a QUIC connection error (a handshake alert is a refusal).
    fn from_connection(e: quinn::ConnectionError) -> NetError {
        match &e {
            quinn::ConnectionError::TransportError(t) if is_crypto(t.code) => {
                NetError::Refused(t.to_string())
            }
            quinn::ConnectionError::ConnectionClosed(c) if is_crypto(c.error_code) => {
                NetError::Refused(format!("the peer refused the handshake ({c})"))
            }
            quinn::ConnectionError::TimedOut => {
                NetError::Timeout("the peer stopped answering".into())
            }
            _ => NetError::Connection(e.to_string()),
        }
    }

    fn from_read(e: quinn::ReadError) -> NetError {
        match e {
            quinn::ReadError::ConnectionLost(e) => NetError::from_connection(e),
            other => NetError::Connection(format!("reading from the peer: {other}")),
        }
    }
}

/// Timings and limits of the network layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// A connection (handshake, stream, frames) silent for this long is dropped; heartbeats and
    /// QUIC keep-alives go out at a third of it.
    pub idle_timeout: Duration,
    /// How long a handshake may take.
    pub connect_timeout: Duration,
    /// How often each session's timer fires.
    pub tick: Duration,
    /// The first reconnect delay after a drop, and the delay after a good session.
    pub backoff_min: Duration,
    /// The longest reconnect delay.
    pub backoff_max: Duration,
    /// The most connections served at once (incoming and outgoing).
    pub max_connections: usize,
    /// Bytes of frames being read, across every connection at once: a frame's bytes are
    /// reserved before they are read, and a reader waits while the budget is spent, so many
    /// peers announcing large frames cannot make the node allocate more than this.
    pub read_budget: usize,
    /// Batching and retries of each session.
    pub sync: SyncConfig,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            tick: Duration::from_millis(500),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_connections: 64,
            read_budget: 64 << 20,
            sync: SyncConfig::default(),
        }
    }
}

/// A block to push, and which connection it came from (0: this node).
#[derive(Clone, Debug)]
struct Gossip {
    origin: u64,
    block: Arc<Block>,
}

/// What an endpoint's driver tasks share.
struct Shared {
    /// Bytes of frames being read now, across connections ([`NetConfig::read_budget`]).
    read_budget: Arc<tokio::sync::Semaphore>,
    /// Incoming connections sent a Retry to prove their address first.
    retries: std::sync::atomic::AtomicU64,
    gossip: tokio::sync::broadcast::Sender<Gossip>,
    board: driver::Board,
    wake: tokio::sync::Notify,
    next_link: std::sync::atomic::AtomicU64,
    /// Peers found while serving (on the clinic's LAN), waiting for the server to dial them.
    found: std::sync::Mutex<Vec<std::net::SocketAddr>>,
    found_wake: tokio::sync::Notify,
}

/// A QUIC endpoint of one clinic node: its socket, TLS identity and allow-list.
#[derive(Clone)]
pub struct Endpoint {
    quic: quinn::Endpoint,
    client: quinn::ClientConfig,
    allow: AllowList,
    clinic: ActorId,
    config: NetConfig,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("clinic", &self.clinic)
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

fn transport(config: &NetConfig) -> Result<Arc<quinn::TransportConfig>, NetError> {
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(config.idle_timeout)
        .map_err(|e| NetError::Tls(format!("idle timeout: {e}")))?;
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(config.idle_timeout / 3))
        .max_concurrent_bidi_streams(1u8.into())
        .max_concurrent_uni_streams(0u8.into());
    Ok(Arc::new(transport))
}

impl Endpoint {
    /// Binds a UDP socket for a node (default timings); needs a running tokio runtime.
    pub fn bind(
        listen: SocketAddr,
        node_key: &ActorKeys,
        allow: AllowList,
    ) -> Result<Endpoint, NetError> {
        Endpoint::bind_with(listen, node_key, allow, NetConfig::default())
    }

    /// Binds with explicit timings and limits.
    pub fn bind_with(
        listen: SocketAddr,
        node_key: &ActorKeys,
        allow: AllowList,
        config: NetConfig,
    ) -> Result<Endpoint, NetError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NetError::Bind {
                addr: listen,
                reason: "no tokio runtime is running".into(),
            });
        }
        let tls = tls::configs(node_key, &allow)?;
        let transport = transport(&config)?;
        let server_crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.server)
            .map_err(|e| NetError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(transport.clone());
        let client_crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.client)
            .map_err(|e| NetError::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_crypto));
        client.transport_config(transport);
        let quic = quinn::Endpoint::server(server, listen).map_err(|e| NetError::Bind {
            addr: listen,
            reason: e.to_string(),
        })?;
        let (gossip, _) = tokio::sync::broadcast::channel(1_024);
        let read_budget = config.read_budget.min(tokio::sync::Semaphore::MAX_PERMITS);
        Ok(Endpoint {
            quic,
            client,
            allow,
            clinic: ActorId::from_signing_key(&node_key.public().signing),
            config,
            shared: Arc::new(Shared {
                read_budget: Arc::new(tokio::sync::Semaphore::new(read_budget)),
                retries: std::sync::atomic::AtomicU64::new(0),
                gossip,
                board: driver::Board::default(),
                wake: tokio::sync::Notify::new(),
                next_link: std::sync::atomic::AtomicU64::new(1),
                found: std::sync::Mutex::new(Vec::new()),
                found_wake: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The address the socket is bound to (the port, when bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.quic
            .local_addr()
            .map_err(|e| NetError::Connection(e.to_string()))
    }

    /// This node's clinic id (from its key).
    pub fn clinic(&self) -> ActorId {
        self.clinic
    }

    /// The allow-list the handshake checks (shared: refreshing it affects this endpoint).
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// The timings and limits in force.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// How many incoming connections were asked to prove their address (a QUIC Retry)
    /// before they could take a slot.
    pub fn retries(&self) -> u64 {
        self.shared
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes of frames being read right now, across every connection (never over
    /// [`NetConfig::read_budget`]).
    pub fn reading_bytes(&self) -> usize {
        self.config
            .read_budget
            .min(tokio::sync::Semaphore::MAX_PERMITS)
            .saturating_sub(self.shared.read_budget.available_permits())
    }

    /// A handle for the node: announce sealed blocks, read the sync status, "sync now".
    pub fn handle(&self) -> SyncHandle {
        SyncHandle::new(self.shared.clone())
    }

    /// Connects and authenticates: the connection and the peer's clinic id.
    pub(crate) async fn dial(
        &self,
        addr: SocketAddr,
    ) -> Result<(quinn::Connection, ActorId), NetError> {
        let connecting = self
            .quic
            .connect_with(self.client.clone(), addr, tls::SERVER_NAME)
            .map_err(|e| NetError::Connect(e.to_string()))?;
        let conn = tokio::time::timeout(self.config.connect_timeout, connecting)
            .await
            .map_err(|_| NetError::Timeout(format!("no handshake with {addr}")))?
            .map_err(NetError::from_connection)?;
        let (clinic, _) = tls::peer_clinic(conn.peer_identity(), &self.allow).map_err(|e| {
            conn.close(1u8.into(), b"no certificate");
            NetError::Refused(e)
        })?;
        Ok((conn, clinic))
    }
}

/// Locks the node, recovering from a poisoned lock (a panicked holder left it consistent or the
/// node's own checks will say so).
fn lock<R>(replica: &Mutex<R>) -> std::sync::MutexGuard<'_, R> {
    replica.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
