//! Why a cryptographic operation failed, in plain words.

/// A vault failure. None of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The passphrase did not open the key store.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// Bytes that are not what they claim to be.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Authenticated decryption failed: wrong key, wrong context or tampered bytes.
    #[error("the data does not open with this key (wrong key or tampered)")]
    Decrypt,
    /// A key or signature that is not valid.
    #[error("invalid key or signature")]
    InvalidKey,
}
