//! Carelog's sync protocol: the wire frames two clinics exchange and a sans-IO state machine
//! for one peer connection.
//!
//! A [`PeerSession`] is fed events — "connected" ([`PeerSession::start`]), "frame received",
//! "blocks inserted", "block sealed or accepted", "timer fired" — and returns [`Output`]s: frames
//! to send, blocks to validate and insert, the peer's acknowledged frontier (for the outbox) and
//! closes. It does no I/O and reads no clock: the node moves the bytes (QUIC, a test harness or
//! the deterministic simulation in this crate's tests) and owns the ledger.
//!
//! The exchange: each side says Hello with its frontier (per clinic chain, the newest height and
//! hash it holds); each side sends the blocks the other lacks, parents first, in batches of
//! bounded size with a small window in flight; the receiver Acks each delivery with its new
//! frontier. Afterwards new blocks are pushed one at a time. A pushed block whose links the
//! receiver lacks makes it send Need, and the other side re-sends from the receiver's
//! frontier. A new connection starts again from Hello, so only missing blocks move.
//!
//! ```
//! use carelog_ledger::{Check, Founding, Ledger, Payload, Role, Tx};
//! use carelog_sync::{Output, PeerSession, SyncConfig};
//! use carelog_vault::ActorKeys;
//!
//! let (authority, north, admin, doctor) = (
//!     ActorKeys::from_seed([1; 64]),
//!     ActorKeys::from_seed([2; 64]),
//!     ActorKeys::from_seed([3; 64]),
//!     ActorKeys::from_seed([4; 64]),
//! );
//! let id = |k: &ActorKeys| carelog_ledger::ActorId::from_signing_key(&k.public().signing);
//! let genesis = Ledger::found(&authority, &Founding {
//!     network_name: "District",
//!     clinic_name: "North",
//!     clinic_keys: north.public(),
//!     admin_name: "Ada",
//!     admin_keys: admin.public(),
//! }, 1_700_000_000_000);
//! let mut here = Ledger::new(genesis.clone()).unwrap();
//! let mut there = Ledger::new(genesis).unwrap();
//! // North enrolls a doctor; the other replica has only the genesis block.
//! let enroll = Tx {
//!     author: id(&admin),
//!     clinic: id(&north),
//!     time_ms: 1_700_000_000_001,
//!     payload: Payload::EnrollUser {
//!         user: id(&doctor),
//!         clinic: id(&north),
//!         name: "Dr Bea".into(),
//!         role: Role::Doctor,
//!         specialty: None,
//!         keys: doctor.public(),
//!     },
//! }.sign(&admin);
//! let block = here.seal(&north, vec![enroll], 1_700_000_000_001);
//! here.insert(block, Check::Full).unwrap();
//!
//! // Two sessions wired back to back; a node would put frames on a QUIC stream instead.
//! let network = here.network_id();
//! let mut a = PeerSession::new(network, id(&north), SyncConfig::default());
//! let mut b = PeerSession::new(network, carelog_ledger::ActorId([7; 16]), SyncConfig::default());
//! let mut to_b: Vec<_> = a.start(&here);
//! let mut to_a: Vec<_> = b.start(&there);
//! while !to_a.is_empty() || !to_b.is_empty() {
//!     let mut next_a = Vec::new();
//!     for output in to_b.drain(..) {
//!         if let Output::Send(frame) = output {
//!             for out in b.on_frame(frame, &there) {
//!                 match out {
//!                     Output::Deliver(blocks) => {
//!                         there.insert_batch(blocks, Check::Full).unwrap();
//!                         next_a.extend(b.on_delivered(&there));
//!                     }
//!                     other => next_a.push(other),
//!                 }
//!             }
//!         }
//!     }
//!     for output in to_a.drain(..) {
//!         if let Output::Send(frame) = output {
//!             to_b.extend(a.on_frame(frame, &here));
//!         }
//!     }
//!     to_a = next_a;
//! }
//! assert_eq!(there.state_hash(), here.state_hash());
//! assert!(a.is_in_sync() && b.is_in_sync());
//! ```

/// A district of many clinics (hubs and mostly offline clinics) in a seeded simulation over
/// light replicas: convergence after partitions heal, bytes per clinic per new block.
#[cfg(any(test, feature = "district"))]
pub mod district;
mod frame;
mod holdings;
/// The network half: QUIC with mutually authenticated TLS 1.3 tied to enrolled clinic keys,
/// length-prefixed frames on one stream per connection, and a driver that runs a
/// [`PeerSession`] per connection against the node (see [`net::serve`] and [`net::sync_once`]).
#[cfg(feature = "net")]
pub mod net;
mod session;

pub use frame::{
    Frame, MAX_BLOCKS_PER_FRAME, MAX_FRAME_LEN, MAX_NEED, MAX_REASON_LEN, MAX_TIPS, Tip, decode,
    encode,
};
pub use holdings::Holdings;
pub use session::{Output, PeerMemory, PeerSession, SyncConfig, frontier_tips};

/// Why bytes from a peer are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A frame over the size limit; the peer is misbehaving or on an incompatible version.
    #[error("a {len} byte frame is over the {max} byte limit; closing the connection")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes that do not decode as a frame.
    #[error("malformed sync frame ({0}); the peer may run an incompatible version")]
    MalformedFrame(String),
}

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod sim;
