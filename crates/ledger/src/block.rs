//! Blocks: a clinic's signed batch of transactions, linked to its own chain and to other clinics' heads.

use std::sync::Arc;

use carelog_vault::ActorKeys;
use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::encoding;
use crate::ids::{ActorId, BlockHash, Hash, NetworkId, TxId};
use crate::tx::{Signature, SignedTx};

/// The most transactions one block may carry.
pub const MAX_TXS_PER_BLOCK: usize = 10_000;
/// The most parents one block may name.
pub const MAX_PARENTS: usize = 1_024;

/// The signed part of a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The network (genesis hash); all zero in the genesis block itself.
    pub network: NetworkId,
    /// The sealing clinic (the health authority for genesis).
    pub clinic: ActorId,
    /// Position in the sealer's own chain, from 0.
    pub height: u64,
    /// The sealer's previous block.
    pub prev: Option<BlockHash>,
    /// Heads of other chains the sealer had seen.
    pub parents: Vec<BlockHash>,
    /// Hybrid logical time in Unix milliseconds; breaks ties in the total order.
    pub time_ms: i64,
    /// Digest of the transaction ids and signatures.
    pub txs_digest: Hash,
}

/// A block: header, transactions and the sealer's signature over the header hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The signed header.
    pub header: BlockHeader,
    /// The transactions, in the order they apply.
    pub txs: Vec<SignedTx>,
    /// The sealer's signature over `hash()`.
    pub signature: Signature,
}

/// Digest binding a block header to its transactions (ids and signatures).
pub fn txs_digest(txs: &[SignedTx]) -> Hash {
    let ids: Vec<TxId> = txs.iter().map(SignedTx::id).collect();
    digest_of(txs, &ids)
}

/// [`txs_digest`] with the transaction ids already computed.
fn digest_of(txs: &[SignedTx], ids: &[TxId]) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key("carelog block txs v1");
    hasher.update(&(txs.len() as u64).to_le_bytes());
    for (tx, id) in txs.iter().zip(ids) {
        hasher.update(&id.0);
        hasher.update(&tx.signature.0);
    }
    Hash(*hasher.finalize().as_bytes())
}

impl Checked {
    /// Checks a shared block's shape again from its contents (for `ledger verify`).
    pub fn recheck(block: Arc<Block>) -> Result<Checked, LedgerError> {
        let hash = block.hash();
        let ids: Arc<[TxId]> = block.txs.iter().map(SignedTx::id).collect();
        let encoded_len = block.check_shape_with(&hash, &ids, None)?;
        Ok(Checked {
            block,
            hash,
            ids,
            encoded_len,
        })
    }
}

/// A block whose shape is checked, with its hash and transaction ids computed once: hashing a
/// transaction means encoding it, and a block is looked at several times on its way in.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The block.
    pub block: Arc<Block>,
    /// Its hash.
    pub hash: BlockHash,
    /// The id of each transaction, in order.
    pub ids: Arc<[TxId]>,
    /// The length of its canonical encoding.
    pub encoded_len: usize,
}

impl BlockHeader {
    /// The block hash: BLAKE3 of the canonical header bytes.
    pub fn hash(&self) -> BlockHash {
        Hash::of("carelog block v1", &encoding::to_bytes(self))
    }
}

impl Block {
    /// Seals transactions into a signed block.
    pub fn seal(
        sealer: &ActorKeys,
        network: NetworkId,
        height: u64,
        prev: Option<BlockHash>,
        parents: Vec<BlockHash>,
        time_ms: i64,
        txs: Vec<SignedTx>,
    ) -> Block {
        let header = BlockHeader {
            network,
            clinic: ActorId::from_signing_key(&sealer.public().signing),
            height,
            prev,
            parents,
            time_ms,
            txs_digest: txs_digest(&txs),
        };
        let signature = Signature(sealer.sign(&header.hash().0));
        Block {
            header,
            txs,
            signature,
        }
    }

    /// The block hash.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Canonical bytes, as stored and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::to_bytes(self)
    }

    /// Decodes a block from outside bytes, checking its shape (limits, transaction digest).
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, LedgerError> {
        Block::decode_checked(bytes).map(|c| Arc::unwrap_or_clone(c.block))
    }

    /// Decodes a block from outside bytes and checks its shape, keeping its hash and ids.
    pub fn decode_checked(bytes: &[u8]) -> Result<Checked, LedgerError> {
        let block: Block = encoding::from_bytes("block", bytes)?;
        // Decoded from `bytes`, so its encoding is exactly as long as they are.
        block.checked_with_len(bytes.len())
    }

    /// Checks what needs no ledger state: limits and that the header covers these transactions.
    pub fn check_shape(&self) -> Result<(), LedgerError> {
        let ids: Vec<TxId> = self.txs.iter().map(SignedTx::id).collect();
        self.check_shape_with(&self.hash(), &ids, None).map(|_| ())
    }

    /// Checks the shape and keeps the hash and transaction ids for what follows.
    pub fn checked(self) -> Result<Checked, LedgerError> {
        self.checked_with_len(usize::MAX)
    }

    fn checked_with_len(self, encoded_len: usize) -> Result<Checked, LedgerError> {
        let hash = self.hash();
        let ids: Arc<[TxId]> = self.txs.iter().map(SignedTx::id).collect();
        let known = (encoded_len != usize::MAX).then_some(encoded_len);
        let encoded_len = self.check_shape_with(&hash, &ids, known)?;
        Ok(Checked {
            block: Arc::new(self),
            hash,
            ids,
            encoded_len,
        })
    }

    pub(crate) fn check_shape_with(
        &self,
        hash: &BlockHash,
        ids: &[TxId],
        encoded_len: Option<usize>,
    ) -> Result<usize, LedgerError> {
        let hash = *hash;
        if self.txs.is_empty() {
            return Err(LedgerError::InvalidBlock {
                block: hash,
                reason: "it carries no transactions".into(),
            });
        }
        if self.txs.len() > MAX_TXS_PER_BLOCK || self.header.parents.len() > MAX_PARENTS {
            return Err(LedgerError::InvalidBlock {
                block: hash,
                reason: "it is over the size limits".into(),
            });
        }
        // A block no peer could decode must never be sealed or stored.
        let encoded = encoded_len
            .unwrap_or_else(|| postcard::experimental::serialized_size(self).unwrap_or(usize::MAX));
        if encoded > encoding::MAX_ENCODED_LEN {
            return Err(LedgerError::InvalidBlock {
                block: hash,
                reason: format!(
                    "it is {encoded} bytes, over the {} byte limit",
                    encoding::MAX_ENCODED_LEN
                ),
            });
        }
        if digest_of(&self.txs, ids) != self.header.txs_digest {
            return Err(LedgerError::InvalidBlock {
                block: hash,
                reason: "its transactions do not match its header".into(),
            });
        }
        Ok(encoded)
    }

    /// Checks the sealer's signature.
    pub fn verify_seal(&self, sealer_signing_key: &[u8; 32]) -> Result<(), LedgerError> {
        let hash = self.hash();
        carelog_vault::verify_signature(sealer_signing_key, &hash.0, &self.signature.0)
            .map_err(|_| LedgerError::BadBlockSignature(hash))
    }
}
