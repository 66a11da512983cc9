//! The wire frames two clinics exchange, their postcard encoding and a bounded decoder.
//!
//! The transport (a QUIC stream) moves one frame per message; its length prefix is the
//! transport's business. [`decode`] takes bytes from the network: it never panics, refuses
//! frames over [`MAX_FRAME_LEN`], trailing bytes, and lists longer than their limits before
//! allocating them.

use std::fmt;
use std::marker::PhantomData;

use carelog_ledger::{ActorId, BlockHash, Hash, MAX_ENCODED_LEN, NetworkId};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::SyncError;

/// The largest frame accepted: one block of the ledger's largest size plus framing.
///
/// Not smaller, or a clinic that sealed a large block could never sync it.
pub const MAX_FRAME_LEN: usize = MAX_ENCODED_LEN + 64 * 1024;
/// The most tips (chains) a frontier may list.
pub const MAX_TIPS: usize = 65_536;
/// The most blocks one `Blocks` frame may carry.
pub const MAX_BLOCKS_PER_FRAME: usize = 65_536;
/// The most hashes one `Need` frame may ask for.
pub const MAX_NEED: usize = 65_536;
/// The longest `Bye` reason kept, in bytes; longer ones are refused.
pub const MAX_REASON_LEN: usize = 1_024;

/// The head of one clinic's chain as a replica holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// The chain's sealer (the health authority for the genesis chain).
    pub clinic: ActorId,
    /// The height of the newest block held.
    pub height: u64,
    /// That block's hash.
    pub hash: BlockHash,
}

/// One message of the sync protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame each side sends: which network, who, and what it holds.
    Hello {
        /// The network id (genesis hash).
        network: NetworkId,
        /// The sender's clinic id.
        clinic: ActorId,
        /// The sender's head per chain.
        #[serde(deserialize_with = "tips")]
        frontier: Vec<Tip>,
    },
    /// Canonical block bytes, parents before children.
    Blocks {
        /// Each block's `Block::to_bytes`.
        #[serde(serialize_with = "ser_byte_lists", deserialize_with = "de_byte_lists")]
        blocks: Vec<Vec<u8>>,
    },
    /// After applying delivered blocks: the receiver's frontier now.
    Ack {
        /// The receiver's head per chain.
        #[serde(deserialize_with = "tips")]
        frontier: Vec<Tip>,
    },
    /// Gossip of one newly sealed or newly received block.
    Push {
        /// The block's canonical bytes.
        #[serde(serialize_with = "ser_bytes", deserialize_with = "de_bytes")]
        block: Vec<u8>,
    },
    /// Blocks the sender lacks: ones a delivered block links to, or that could not be inserted.
    Need {
        /// Their hashes.
        #[serde(deserialize_with = "needs")]
        missing: Vec<BlockHash>,
    },
    /// The sender is closing the connection.
    Bye {
        /// Why, in words.
        #[serde(deserialize_with = "reason")]
        reason: String,
    },
    /// Protocol 2: a greeting like Hello that lists only the chains whose heads changed since
    /// the frontier the sender announced on earlier connections (named by its digest). A
    /// receiver that remembers what the sender announced takes that, raised by these tips, as
    /// a lower bound of the sender's frontier (exact when the digests agree); one that
    /// remembers nothing answers with a full Hello.
    Since {
        /// The network id (genesis hash).
        network: NetworkId,
        /// The sender's clinic id.
        clinic: ActorId,
        /// The digest of the tips the sender announced before (see `PeerSession::resume`).
        base: Hash,
        /// The sender's heads that differ from those.
        #[serde(deserialize_with = "tips")]
        frontier: Vec<Tip>,
    },
}

impl Frame {
    /// A short name of the frame kind, for logs and close reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Blocks { .. } => "blocks",
            Frame::Ack { .. } => "ack",
            Frame::Push { .. } => "push",
            Frame::Need { .. } => "need",
            Frame::Bye { .. } => "bye",
            Frame::Since { .. } => "since",
        }
    }
}

/// Encodes a frame for the wire.
pub fn encode(frame: &Frame) -> Vec<u8> {
    // postcard fails only on types it cannot represent (none here); a Vec buffer always grows.
    postcard::to_stdvec(frame).expect("frames always encode")
}

/// Decodes a frame from outside bytes; never panics.
pub fn decode(bytes: &[u8]) -> Result<Frame, SyncError> {
    if bytes.len() > MAX_FRAME_LEN {
        return Err(SyncError::FrameTooLarge {
            len: bytes.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let (frame, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| SyncError::MalformedFrame(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SyncError::MalformedFrame(format!(
            "{} unexpected trailing bytes",
            rest.len()
        )));
    }
    Ok(frame)
}

/// A sequence visitor that refuses more than `max` items before reading them.
struct Bounded<T> {
    max: usize,
    what: &'static str,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {} {}", self.max, self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let hint = seq.size_hint().unwrap_or(0);
        if hint > self.max {
            return Err(de::Error::invalid_length(hint, &self));
        }
        // The hint comes from outside bytes: preallocate only a little.
        let mut out = Vec::with_capacity(hint.min(1_024));
        while let Some(item) = seq.next_element()? {
            if out.len() == self.max {
                return Err(de::Error::invalid_length(out.len() + 1, &self));
            }
            out.push(item);
        }
        Ok(out)
    }
}

fn bounded<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    max: usize,
    what: &'static str,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(Bounded {
        max,
        what,
        item: PhantomData,
    })
}

fn tips<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Tip>, D::Error> {
    bounded(d, MAX_TIPS, "tips")
}

fn needs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BlockHash>, D::Error> {
    bounded(d, MAX_NEED, "needed blocks")
}

fn reason<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.len() > MAX_REASON_LEN {
        return Err(de::Error::invalid_length(
            text.len(),
            &"a reason of at most 1024 bytes",
        ));
    }
    Ok(text)
}

/// Block bytes travel as one byte string (the same wire form postcard gives a `Vec<u8>`),
/// so encoding and decoding copy them at once instead of byte by byte.
struct ByteString(Vec<u8>);

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("block bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(Bytes).map(ByteString)
    }
}

fn ser_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    ByteString::deserialize(d).map(|b| b.0)
}

fn ser_byte_lists<S: Serializer>(lists: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    struct AsBytes<'a>(&'a [u8]);
    impl Serialize for AsBytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    let mut seq = s.serialize_seq(Some(lists.len()))?;
    for bytes in lists {
        seq.serialize_element(&AsBytes(bytes))?;
    }
    seq.end()
}

fn de_byte_lists<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    let lists: Vec<ByteString> = bounded(d, MAX_BLOCKS_PER_FRAME, "blocks")?;
    Ok(lists.into_iter().map(|b| b.0).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tip(n: u8) -> Tip {
        Tip {
            clinic: ActorId([n; 16]),
            height: u64::from(n) * 1_000,
            hash: Hash([n; 32]),
        }
    }

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello {
                network: Hash([9; 32]),
                clinic: ActorId([3; 16]),
                frontier: vec![tip(1), tip(2)],
            },
            Frame::Hello {
                network: Hash::default(),
                clinic: ActorId::default(),
                frontier: vec![],
            },
            Frame::Blocks {
                blocks: vec![vec![1, 2, 3], vec![], vec![0xff; 300]],
            },
            Frame::Ack {
                frontier: vec![tip(7)],
            },
            Frame::Push {
                block: (0..=255).collect(),
            },
            Frame::Need {
                missing: vec![Hash([1; 32]), Hash([2; 32])],
            },
            Frame::Bye {
                reason: "closing: the clinic is shutting down".into(),
            },
            Frame::Since {
                network: Hash([9; 32]),
                clinic: ActorId([3; 16]),
                base: Hash([4; 32]),
                frontier: vec![tip(5)],
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        for frame in samples() {
            let bytes = encode(&frame);
            assert_eq!(decode(&bytes).unwrap(), frame, "{}", frame.kind());
        }
    }

    #[test]
    fn block_bytes_have_the_wire_form_of_a_plain_vec() {
        // Peers that encode `Vec<u8>` the default way must read the same frames.
        #[derive(Serialize)]
        enum Plain {
            _Hello,
            Blocks { blocks: Vec<Vec<u8>> },
            _Ack,
            Push { block: Vec<u8> },
        }
        let plain = postcard::to_stdvec(&Plain::Blocks {
            blocks: vec![vec![5, 6], vec![7]],
        })
        .unwrap();
        let ours = encode(&Frame::Blocks {
            blocks: vec![vec![5, 6], vec![7]],
        });
        assert_eq!(plain, ours);
        let plain = postcard::to_stdvec(&Plain::Push {
            block: vec![1; 200],
        })
        .unwrap();
        assert_eq!(
            plain,
            encode(&Frame::Push {
                block: vec![1; 200]
            })
        );
    }

    #[test]
    fn truncated_and_extended_frames_are_errors() {
        for frame in samples() {
            let bytes = encode(&frame);
            for cut in 0..bytes.len() {
                assert!(
                    decode(&bytes[..cut]).is_err(),
                    "{} cut at {cut}",
                    frame.kind()
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(decode(&longer), Err(SyncError::MalformedFrame(_))));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for bytes in [
            &[][..],
            &[6],
            &[0xff; 16],
            &[4, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_decoding() {
        let bytes = vec![0u8; MAX_FRAME_LEN + 1];
        assert!(matches!(
            decode(&bytes),
            Err(SyncError::FrameTooLarge { len, max }) if len == MAX_FRAME_LEN + 1 && max == MAX_FRAME_LEN
        ));
    }

    #[test]
    fn a_largest_block_fits_in_a_frame() {
        let frame = Frame::Blocks {
            blocks: vec![vec![0; MAX_ENCODED_LEN]],
        };
        assert_eq!(decode(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn lists_over_their_limit_are_refused_before_allocation() {
        // A `Blocks` frame claiming u32::MAX empty blocks, then one: refused from the length alone.
        let mut bytes = vec![1];
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        assert!(decode(&bytes).is_err());
        // Exactly over the limit with real items.
        let missing = vec![Hash::default(); MAX_NEED + 1];
        let bytes = postcard::to_stdvec(&(4u8, missing)).unwrap();
        assert!(decode(&bytes).is_err());
        let ok = Frame::Need {
            missing: vec![Hash::default(); MAX_NEED],
        };
        assert_eq!(decode(&encode(&ok)).unwrap(), ok);
        let long = Frame::Bye {
            reason: "x".repeat(MAX_REASON_LEN + 1),
        };
        assert!(decode(&encode(&long)).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_mutated_frames(
            which in 0usize..8,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = encode(&samples()[which]);
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            if let Ok(frame) = decode(&bytes) {
                prop_assert_eq!(decode(&encode(&frame)).unwrap(), frame);
            }
        }
    }
}
