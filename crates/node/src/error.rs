//! The node's errors: each says what went wrong and, where it can, what to do next.

use std::path::PathBuf;

use carelog_ledger::{Denied, LedgerError};
use carelog_store::StoreError;

/// What to do about a damaged database: every block it held can come back from peers.
const RECOVER_HINT: &str = "To rebuild this clinic's replica from a peer, run `carelog recover --peer ADDR`: it sets the damaged file aside (it deletes nothing) and fetches every block again";

/// Why a node command or query did not happen. A refused command changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home has no node yet.
    #[error(
        "{0} is not a Carelog home; create one with `carelog network create` or `carelog clinic request`"
    )]
    NoHome(PathBuf),
    /// The home already holds a node.
    #[error("{0} already holds a Carelog node; use another --home")]
    HomeInUse(PathBuf),
    /// The home made a join request but has not joined yet.
    #[error(
        "this clinic has asked to join a network but is not enrolled yet; run `carelog clinic join INVITE`"
    )]
    NotJoined,
    /// A restored home has not yet caught up with its peers on its own chain.
    #[error(
        "this home was restored from a backup and has not caught up with a peer yet: other clinics may hold blocks it sealed after the backup. Sync first (`carelog sync --peer ADDR`); a clinic with no peers restores with --no-peers"
    )]
    AwaitingCatchUp,
    /// A file of the home is damaged.
    #[error("the home is damaged: {0}")]
    Damaged(String),
    /// The user was disabled by an admin of their clinic (or the health authority).
    #[error("{who} is disabled and cannot sign in: {reason}")]
    Disabled {
        /// Who.
        who: String,
        /// Why, as the admin gave it.
        reason: String,
    },
    /// The user's clinic is suspended by the health authority.
    #[error(
        "{clinic} is suspended by the health authority ({reason}); its staff cannot sign in \
         until it is reinstated"
    )]
    Suspended {
        /// The clinic.
        clinic: String,
        /// Why, as the authority gave it.
        reason: String,
    },
    /// Another machine seals with this clinic's key and the network keeps its branch.
    #[error(
        "another machine seals blocks with this clinic's key (a copied machine, or an old \
         backup running beside the live one): the network keeps the other machine's blocks, so \
         what this one sealed from height {height} on is void. Stop using one of the two machines \
         and ask the health authority to give this clinic new keys (`carelog clinic \
         replace-key`) or to suspend it"
    )]
    ChainForked {
        /// The first height of this machine's branch that the network does not keep.
        height: u64,
    },
    /// A chart entry whose key this node holds does not open: it is set aside from views.
    #[error("a chart entry cannot be opened: {0}")]
    Unopenable(String),
    /// The stored ledger does not verify.
    #[error(
        "the ledger stored in {} is damaged at block {block}: {reason}. {RECOVER_HINT}",
        path.display()
    )]
    DamagedBlock {
        /// The database file.
        path: PathBuf,
        /// The first bad block (its stored hash).
        block: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database file is damaged, truncated or not a Carelog database.
    #[error("{} is damaged or not a Carelog database ({reason}). {RECOVER_HINT}", path.display())]
    DatabaseDamaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the check said.
        reason: String,
    },
    /// No such user, or the name is ambiguous.
    #[error("{0}")]
    UnknownUser(String),
    /// No such patient.
    #[error("no patient {0} in this network")]
    UnknownPatient(String),
    /// No such chart entry.
    #[error("no chart entry {0} for this patient")]
    UnknownEntry(String),
    /// The passphrase did not open the user's keys.
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(String),
    /// Too many wrong passphrases in a row.
    #[error("too many wrong passphrases for {who}; try again in {seconds} s")]
    TooManyAttempts {
        /// Whose keys.
        who: String,
        /// How long to wait.
        seconds: u64,
    },
    /// The home's own keys (node key, database key) could not be opened; the message says why
    /// and what to set. Nothing was created.
    #[error("{0}")]
    NodeLocked(String),
    /// The node passphrase given does not open the home's keys.
    #[error(
        "the node passphrase does not open {}: check $CARELOG_NODE_PASSPHRASE (or the file named by $CARELOG_NODE_PASSPHRASE_FILE); nothing was changed",
        .0.display()
    )]
    WrongNodePassphrase(PathBuf),
    /// The health authority's key did not open.
    #[error("{0}")]
    AuthorityLocked(String),
    /// A patient's keys open only with their card.
    #[error(
        "{0} is a patient, whose keys open only with their card and PIN: give the card's content (its QR code) in $CARELOG_CARD"
    )]
    CardNeeded(String),
    /// The user's keys are not on this node.
    #[error("{0} has no keys on this clinic node; sign in at the clinic where they were enrolled")]
    KeysElsewhere(String),
    /// The policy refused.
    #[error("access denied: {0}")]
    Denied(#[from] Denied),
    /// Bad input from a person or a file.
    #[error("{0}")]
    Invalid(BadInput),
    /// Another writer to this home (the sync service beside the window, or a command beside
    /// `carelog serve`) sealed a block after these transactions were signed; they are signed
    /// again and committed after it.
    #[error("the record changed while this was being saved; please try again")]
    Stale,
    /// A drug matches a recorded allergy and no override reason was given.
    #[error("allergy warning: {0}; to prescribe it anyway, give the reason (--override REASON)")]
    AllergyWarning(String),
    /// No key to open or seal a record.
    #[error("no key for this patient's record is held here: {0}")]
    NoKey(String),
    /// The network link failed.
    #[error("network: {0}")]
    Network(String),
    /// The ledger refused a block.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

impl From<carelog_chart::ChartError> for NodeError {
    fn from(e: carelog_chart::ChartError) -> Self {
        NodeError::Invalid(BadInput::Chart(e))
    }
}

impl NodeError {
    /// Bad input, in words that say what is wrong and what to give instead.
    pub(crate) fn invalid(why: impl Into<String>) -> Self {
        NodeError::Invalid(BadInput::Other(why.into()))
    }

    /// A file handed to this node is not the `document` it should be, because `why`.
    pub(crate) fn not_a(document: CarriedFile, why: impl Into<String>) -> Self {
        NodeError::Invalid(BadInput::NotA {
            document,
            why: why.into(),
        })
    }
}

/// What was wrong with input from a person or a file. Every kind is refused before anything
/// changes, and its text says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    /// A file carried between machines or clinics is not the document it should be.
    #[error("not {document}: {why}")]
    NotA {
        /// What the file should have been.
        document: CarriedFile,
        /// What is wrong with it.
        why: String,
    },
    /// A chart entry's kind or data does not hold.
    #[error("{0}")]
    Chart(carelog_chart::ChartError),
    /// Any other bad input, in words.
    #[error("{0}")]
    Other(String),
}

/// The files people carry between machines and clinics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarriedFile {
    /// A clinic's request to join a network (`carelog clinic request`).
    JoinRequest,
    /// The health authority's invite that answers it (`carelog clinic approve`).
    Invite,
    /// A machine's request to pair with its clinic (`carelog device pair`).
    PairingRequest,
    /// A patient's record carried to a clinic with no link (`carelog bundle`).
    PatientBundle,
    /// A backup of a home (`carelog backup`).
    Backup,
}

impl std::fmt::Display for CarriedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CarriedFile::JoinRequest => "a valid join request",
            CarriedFile::Invite => "a valid invite",
            CarriedFile::PairingRequest => "a valid pairing request",
            CarriedFile::PatientBundle => "a valid patient bundle",
            CarriedFile::Backup => "a Carelog backup",
        })
    }
}

/// Result of node operations.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    }
}
