//! The Carelog ledger: a permissioned, patient-owned record of who did what, shared by clinics.
//!
//! Each clinic is an authority over its own chain of Ed25519-signed, BLAKE3-hashed blocks; blocks
//! also name the heads of other clinics' chains they had seen, so together they form a DAG. Every
//! replica derives the same total order from the same set of blocks and replays it into the same
//! [`State`]; equal [`State::state_hash`] means converged replicas.
//!
//! This crate is pure: no I/O, no clock, no randomness. Times and keys are passed in.
//!
//! ```
//! use carelog_ledger::{Founding, Ledger};
//! use carelog_vault::ActorKeys;
//!
//! let authority = ActorKeys::from_seed([1; 64]);
//! let clinic = ActorKeys::from_seed([2; 64]);
//! let admin = ActorKeys::from_seed([3; 64]);
//! let genesis = Ledger::found(&authority, &Founding {
//!     network_name: "District",
//!     clinic_name: "North",
//!     clinic_keys: clinic.public(),
//!     admin_name: "Ada",
//!     admin_keys: admin.public(),
//! }, 1_700_000_000_000);
//! let ledger = Ledger::new(genesis).unwrap();
//! assert_eq!(ledger.state().clinics.len(), 1);
//! assert_eq!(ledger.verify().unwrap(), (1, 3));
//! ```

mod block;
pub mod cores;
mod encoding;
mod error;
mod ids;
mod ledger;
mod order;
mod policy;
mod records;
mod saved;
mod state;
mod tx;

pub use block::{Block, BlockHeader, Checked, MAX_PARENTS, MAX_TXS_PER_BLOCK, txs_digest};
pub use encoding::{MAX_ENCODED_LEN, from_bytes, to_bytes};
pub use error::{BlockFailure, LedgerError};
pub use ids::{ActorId, BlockHash, Hash, IdParseError, NetworkId, TxId};
pub use ledger::{
    BlockBodies, Check, Founding, Inserted, Ledger, MAX_CLOCK_SKEW_MS, RESIDENT_BYTES,
};
pub use order::{Dag, DagNode, Frontier};
pub use policy::{Action, Basis, Denied, Permit, authorize};
pub use records::{
    AccessRequest, Attending, AuditAction, AuditEvent, BlockAt, Clinic, DataKeyEpoch, DeviceOf,
    EntryRef, Grant, KeyHistory, KeyStoreRef, Network, PatientFile, ProxyRef, RequestStatus, Stop,
    User, ViewRef,
};
pub use saved::SavedPart;
pub use state::{BREAK_GLASS_MS, Position, State};
pub use tx::{
    DeviceRole, KeyWrap, MAX_EMERGENCY_LEN, MAX_KEY_STORE_LEN, MAX_KEY_WRAPS, MAX_NAME_LEN,
    MAX_REASON_LEN, MAX_SEALED_LEN, MAX_WRAPPED_LEN, Payload, Role, Signature, SignedTx, Tx,
};

pub use carelog_vocab::{AccessLevel, EntryKind};

#[cfg(test)]
mod tests;
