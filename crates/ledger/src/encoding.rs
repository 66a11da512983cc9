//! The one canonical encoding (postcard) and its bounded decoder for outside bytes.

use serde::{Serialize, de::DeserializeOwned};

use crate::LedgerError;

/// The largest encoded block or transaction this node accepts from anywhere.
pub const MAX_ENCODED_LEN: usize = 16 * 1024 * 1024;

/// Encodes a value canonically.
pub fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // postcard only fails on types it cannot represent (none of ours) or a full buffer (a Vec grows).
    postcard::to_stdvec(value).expect("ledger types always encode")
}

/// Decodes a value from outside bytes; never panics, refuses trailing bytes and oversized input.
pub fn from_bytes<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, LedgerError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(LedgerError::Malformed {
            what,
            reason: format!(
                "{} bytes is over the {} byte limit",
                bytes.len(),
                MAX_ENCODED_LEN
            ),
        });
    }
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| LedgerError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(LedgerError::Malformed {
            what,
            reason: format!("{} unexpected trailing bytes", rest.len()),
        });
    }
    Ok(value)
}
