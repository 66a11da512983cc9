//! The ledger's derived state, saved in the home's database so that opening a large home reads
//! it back instead of replaying every transaction (a million take seconds).
//!
//! The saved state is a cache: the blocks stay the record. It is written when a node closes
//! with many transactions applied since the last save, and read back only if each part carries
//! the node's seal (a keyed BLAKE3 digest under a key derived from the node's own secret key,
//! so it cannot be altered without that key, as blocks cannot be forged without it) and it
//! covers exactly the blocks stored up to the point it names. Anything else (no saved state,
//! another layout, a broken seal, other blocks) is logged and the node replays from its blocks
//! as before. `ledger verify` always re-checks from the blocks.

use std::sync::mpsc::sync_channel;

use carelog_ledger::{Block, Hash, Ledger, SavedPart};
use carelog_store::{Store, StoreError};
use carelog_vault::ActorKeys;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Result;

/// How many transactions a node applies beyond its saved state before closing saves it again.
pub(crate) const SAVE_EVERY: u64 = 10_000;

/// The node's layout of part 0.
const FORMAT: u32 = 2;

/// Parts read per query.
const PAGE: usize = 4;

/// Part 0: what the node needs to know of the ledger's parts that follow.
#[derive(Serialize, Deserialize)]
struct Cover {
    format: u32,
    /// The newest stored block the state covers (arrival position).
    through_seq: i64,
    /// Blocks stored up to there.
    blocks: u64,
    /// Transactions the state has applied.
    txs: u64,
    /// A random id of this save, in every part's seal: parts of different saves never mix.
    save: [u8; 16],
}

pub(crate) fn seal_key(keys: &ActorKeys) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(
        "carelog saved state seal v1",
        &keys.seed()[..],
    ))
}

pub(crate) fn seal(key: &[u8; 32], save: &[u8; 16], part: i64, bytes: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(save);
    hasher.update(&part.to_le_bytes());
    hasher.update(bytes);
    *hasher.finalize().as_bytes()
}

/// The id of the save whose first part these are (for tests that forge parts).
#[cfg(test)]
pub(crate) fn save_of(first_part: &[u8]) -> [u8; 16] {
    carelog_ledger::from_bytes::<Cover>("saved state", first_part)
        .expect("a first part")
        .save
}

/// A replica restored from the saved state, and what it covers: (ledger, newest block's
/// arrival position, transactions applied). `None` when there is no usable saved state.
pub(crate) fn restore(
    store: &Store,
    keys: &ActorKeys,
    genesis: &Block,
) -> Option<(Ledger, i64, u64)> {
    match try_restore(store, keys, genesis) {
        Ok(restored) => restored,
        Err(reason) => {
            tracing::warn!(%reason, "the saved state was not used; replaying every block");
            None
        }
    }
}

fn try_restore(
    store: &Store,
    keys: &ActorKeys,
    genesis: &Block,
) -> std::result::Result<Option<(Ledger, i64, u64)>, String> {
    let key = seal_key(keys);
    let first = store.saved_state_page(-1, 1).map_err(|e| e.to_string())?;
    let Some(part) = first.into_iter().next() else {
        return Ok(None);
    };
    // The save's id is inside part 0, which its seal then covers.
    let cover: Cover = carelog_ledger::from_bytes("saved state", &part.bytes)
        .map_err(|_| "its first part is not of this layout".to_string())?;
    if part.part != 0 || seal(&key, &cover.save, 0, &part.bytes) != part.seal {
        return Err("its first part does not carry this node's seal".into());
    }
    if cover.format != FORMAT {
        return Err(format!("layout {} is not {FORMAT}", cover.format));
    }
    let save = cover.save;
    // The ledger's parts are read, checked and decoded on another thread while this one
    // builds the state from those before.
    let (ledger, read) = std::thread::scope(|scope| {
        let (send, receive) = sync_channel::<SavedPart>(PAGE);
        let key = &key;
        let save = &save;
        let reader = scope.spawn(move || -> std::result::Result<(), String> {
            let mut after = 0;
            loop {
                let page = store
                    .saved_state_page(after, PAGE)
                    .map_err(|e: StoreError| e.to_string())?;
                if page.is_empty() {
                    return Ok(());
                }
                for part in page {
                    if part.part != after + 1 {
                        return Err(format!("part {} is missing", after + 1));
                    }
                    after = part.part;
                    if seal(key, save, part.part, &part.bytes) != part.seal {
                        return Err(format!(
                            "part {} does not carry this node's seal",
                            part.part
                        ));
                    }
                    let decoded = SavedPart::decode(&part.bytes).map_err(|e| e.to_string())?;
                    if send.send(decoded).is_err() {
                        return Ok(());
                    }
                }
            }
        });
        let ledger = Ledger::restore(genesis.clone(), receive);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err("its parts could not be read".into()));
        (ledger, read)
    });
    read?;
    let ledger = ledger.map_err(|e| e.to_string())?;
    if ledger.tx_count() != cover.txs || ledger.block_count() as u64 != cover.blocks {
        return Err("it does not hold what its first part says".into());
    }
    let stored = store
        .block_hashes_through(cover.through_seq)
        .map_err(|e| e.to_string())?;
    if !holds_exactly(&ledger, &stored) {
        return Err("it does not cover the blocks stored in the database".into());
    }
    Ok(Some((ledger, cover.through_seq, cover.txs)))
}

/// Whether the replica holds exactly these stored blocks (their hashes are unique in the
/// database).
fn holds_exactly(ledger: &Ledger, stored: &[[u8; 32]]) -> bool {
    stored.len() == ledger.block_count() && stored.iter().all(|h| ledger.contains(&Hash(*h)))
}

/// Saves the ledger's state, if it holds exactly the blocks stored (it may not: another
/// process on the same home may have stored more). Returns whether it saved.
pub(crate) fn save(store: &mut Store, keys: &ActorKeys, ledger: &Ledger) -> Result<bool> {
    let key = seal_key(keys);
    store.write(|w| {
        let through_seq = w.max_seq()?;
        let stored = w.block_hashes_through(through_seq)?;
        if !holds_exactly(ledger, &stored) {
            w.clear_saved_state()?;
            return Ok(false);
        }
        let save = crate::home::random::<16>();
        let cover = Cover {
            format: FORMAT,
            through_seq,
            blocks: ledger.block_count() as u64,
            txs: ledger.tx_count(),
            save,
        };
        let Some(state) = ledger.saved_state() else {
            w.clear_saved_state()?;
            return Ok(false);
        };
        let parts = std::iter::once(carelog_ledger::to_bytes(&cover))
            .chain(state)
            .enumerate()
            .map(|(n, bytes)| {
                let sealed = seal(&key, &save, n as i64, &bytes);
                (bytes, sealed)
            });
        w.replace_saved_state(parts)?;
        Ok(true)
    })
}
