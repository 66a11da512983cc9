//! Why the ledger refuses a block, a transaction or some bytes.

use crate::ids::{ActorId, BlockHash, TxId};
use crate::policy::Denied;

/// A refusal by the ledger. Each names the block or transaction at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Bytes that do not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's words.
        reason: String,
    },
    /// A block that breaks a structural rule.
    #[error("block {block} is invalid: {reason}")]
    InvalidBlock {
        /// The block.
        block: BlockHash,
        /// The rule it breaks.
        reason: String,
    },
    /// A block whose seal does not verify.
    #[error("block {0} has a bad signature")]
    BadBlockSignature(BlockHash),
    /// A transaction whose signature does not verify.
    #[error("transaction {0} has a bad signature")]
    BadTxSignature(TxId),
    /// A block of another network.
    #[error("block {0} belongs to another network")]
    WrongNetwork(BlockHash),
    /// A block sealed by a node that is not an enrolled clinic.
    #[error("block {block} is sealed by {clinic}, which is not an enrolled clinic")]
    UnknownClinic {
        /// The block.
        block: BlockHash,
        /// Its sealer.
        clinic: ActorId,
    },
    /// A block whose previous block or parents are not known yet.
    #[error("block {block} links to {} blocks this replica does not have yet", missing.len())]
    MissingLinks {
        /// The block.
        block: BlockHash,
        /// What it links to that is missing.
        missing: Vec<BlockHash>,
    },
    /// A transaction the policy refuses outright (wrong role, unknown author).
    #[error("block {block} carries transaction {tx} that is refused: {reason}")]
    Refused {
        /// The block.
        block: BlockHash,
        /// The transaction.
        tx: TxId,
        /// The policy's reason.
        reason: Denied,
    },
    /// A block sealed further ahead of this machine's clock than clocks may drift: refused for
    /// now, and taken once the clock has caught up (or the sealer's clock is fixed).
    #[error(
        "block {block} is sealed {} s ahead of this machine's clock, more than clocks may drift \
         ({} min): check the date and time here and at the clinic that sealed it",
        ahead_ms / 1000, crate::ledger::MAX_CLOCK_SKEW_MS / 60_000
    )]
    FromTheFuture {
        /// The block.
        block: BlockHash,
        /// How far ahead of this clock it is sealed.
        ahead_ms: i64,
    },
    /// A genesis block that is not well formed.
    #[error("invalid genesis block: {0}")]
    InvalidGenesis(String),
    /// A known block whose contents could not be read back from this node's database.
    #[error(
        "block {0} could not be read back from this node's database; open the node again, or \
         run `carelog ledger verify`"
    )]
    Unreadable(BlockHash),
    /// The state a replica holds is not what replaying its blocks gives (a saved state that
    /// was read back is wrong).
    #[error("the state this replica holds differs from a replay of its blocks")]
    StateDiffers,
}

impl LedgerError {
    /// The block the error is about, if it names one.
    pub fn block(&self) -> Option<BlockHash> {
        match self {
            LedgerError::InvalidBlock { block, .. }
            | LedgerError::UnknownClinic { block, .. }
            | LedgerError::MissingLinks { block, .. }
            | LedgerError::Refused { block, .. }
            | LedgerError::FromTheFuture { block, .. } => Some(*block),
            LedgerError::BadBlockSignature(block)
            | LedgerError::WrongNetwork(block)
            | LedgerError::Unreadable(block) => Some(*block),
            LedgerError::Malformed { .. }
            | LedgerError::StateDiffers
            | LedgerError::BadTxSignature(_)
            | LedgerError::InvalidGenesis(_) => None,
        }
    }
}

/// A block that failed to insert or verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct BlockFailure {
    /// The block.
    pub block: BlockHash,
    /// Why it failed.
    pub error: Box<LedgerError>,
}

impl BlockFailure {
    /// A failure of `block`.
    pub fn new(block: BlockHash, error: LedgerError) -> BlockFailure {
        BlockFailure {
            block,
            error: Box::new(error),
        }
    }
}
