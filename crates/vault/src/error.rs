//! Why a cryptographic operation failed, in plain words.

/// A vault failure. None of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The passphrase did not open the key store.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The key store is a patient's: it opens only with their card and PIN.
    #[error("this key store opens only with the patient's card and PIN")]
    CardNeeded,
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
