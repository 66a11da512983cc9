//! Identifiers: 32-byte content hashes and 16-byte actor ids, printed as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A BLAKE3 digest: block hashes, transaction ids, the network id and state hashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Hash(pub [u8; 32]);

/// The hash of a block's canonical header.
pub type BlockHash = Hash;
/// The id of a signed transaction; a chart entry's id is the id of the transaction that carries it.
pub type TxId = Hash;
/// The network id: the hash of its genesis block.
pub type NetworkId = Hash;

/// The id of an actor (health authority, clinic, staff user or patient), derived from its signing key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ActorId(pub [u8; 16]);

impl Hash {
    /// Hashes `bytes` under a domain label so that different kinds of object never share a digest.
    pub fn of(domain: &str, bytes: &[u8]) -> Hash {
        let mut hasher = blake3::Hasher::new_derive_key(domain);
        hasher.update(bytes);
        Hash(*hasher.finalize().as_bytes())
    }
}

impl ActorId {
    /// The actor id that belongs to an Ed25519 public signing key.
    pub fn from_signing_key(signing_public: &[u8; 32]) -> ActorId {
        let digest = Hash::of("carelog actor id v1", signing_public);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest.0[..16]);
        ActorId(id)
    }
}

/// Why a printed id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid id: expected {expected} lowercase hex characters")]
pub struct IdParseError {
    text: String,
    expected: usize,
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], IdParseError> {
    let mut out = [0u8; N];
    let err = || IdParseError {
        text: text.chars().take(80).collect(),
        expected: N * 2,
    };
    if text.len() != N * 2 {
        return Err(err());
    }
    hex::decode_to_slice(text, &mut out).map_err(|_| err())?;
    Ok(out)
}

macro_rules! hex_display {
    ($ty:ident, $len:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), &hex::encode(self.0)[..12])
            }
        }
        impl FromStr for $ty {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$len>(&s.to_ascii_lowercase()).map($ty)
            }
        }
    };
}
hex_display!(Hash, 32);
hex_display!(ActorId, 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let h = Hash::of("test", b"abc");
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        let a = ActorId::from_signing_key(&[7u8; 32]);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.to_string().parse::<ActorId>().unwrap(), a);
    }

    #[test]
    fn malformed_ids_are_errors() {
        assert!("xyz".parse::<ActorId>().is_err());
        assert!("ab".repeat(15).parse::<ActorId>().is_err());
        assert!("zz".repeat(16).parse::<ActorId>().is_err());
        assert!("é".repeat(32).parse::<ActorId>().is_err());
    }

    #[test]
    fn domains_separate_digests() {
        assert_ne!(Hash::of("a", b"x"), Hash::of("b", b"x"));
    }
}
