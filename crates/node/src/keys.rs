//! Patient data keys: finding one this node can open, wrapping it for new readers, sealing entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use carelog_ledger::{ActorId, EntryKind, KeyWrap, PatientFile, TxId};
use carelog_vault::{ActorKeys, DataKey, WrappedKey};
use serde::{Deserialize, Serialize};

use crate::error::{NodeError, Result};
use crate::home::random;

/// The associated data binding a wrapped key to its patient.
pub fn wrap_context(patient: &ActorId) -> Vec<u8> {
    let mut context = b"patient ".to_vec();
    context.extend_from_slice(&patient.0);
    context
}

/// Wraps a data key for a reader's X25519 key.
pub fn wrap_for(
    key: &DataKey,
    key_id: TxId,
    patient: &ActorId,
    reader: ActorId,
    reader_encryption: &[u8; 32],
) -> KeyWrap {
    let wrapped = carelog_vault::wrap_key(
        key,
        reader_encryption,
        random(),
        random(),
        &wrap_context(patient),
    );
    KeyWrap {
        key: key_id,
        reader,
        wrapped: postcard::to_stdvec(&wrapped).expect("wrapped keys always encode"),
    }
}

/// What a session keeps by transaction id, at most `MAX` items (all are dropped when it is
/// full: a session that has opened that much starts afresh).
pub struct Kept<V, const MAX: usize>(Mutex<HashMap<TxId, V>>);

impl<V, const MAX: usize> Default for Kept<V, MAX> {
    fn default() -> Self {
        Kept(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone, const MAX: usize> Kept<V, MAX> {
    /// The item kept under `id`.
    pub fn get(&self, id: &TxId) -> Option<V> {
        self.lock().get(id).cloned()
    }

    /// Keeps an item under `id`.
    pub fn keep(&self, id: TxId, item: V) {
        let mut kept = self.lock();
        if kept.len() >= MAX {
            kept.clear();
        }
        kept.insert(id, item);
    }

    /// Items kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TxId, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Data keys a signed-in user's session has unwrapped, by key epoch and the holder whose key
/// opened it. Unwrapping is an X25519 agreement, most of the cost of a chart view or save; a
/// wrap on the ledger never changes, so a key once opened stays the key. The cache goes (and
/// its keys are zeroized) with the session; it never decides access, which the policy does
/// before any key is asked for.
/// At most 4,096 keys (a doctor's day of patients many times over; 32 bytes each).
#[derive(Default)]
pub struct OpenedKeys(pub(crate) Kept<(ActorId, DataKey), 4096>);

impl OpenedKeys {
    /// Opens one of a patient's data key epochs with whichever of `holders` it is wrapped for.
    pub fn open_epoch(
        &self,
        file: &PatientFile,
        patient: &ActorId,
        key_id: &TxId,
        holders: &[(ActorId, &ActorKeys)],
    ) -> Option<DataKey> {
        let epoch = file.key(key_id)?;
        if let Some((holder, key)) = self.0.get(key_id)
            && holders.iter().any(|(id, _)| *id == holder)
            && epoch.wraps.contains_key(&holder)
        {
            return Some(key);
        }
        let (holder, key) = holders.iter().find_map(|(id, keys)| {
            let bytes = epoch.wraps.get(id)?;
            let wrapped: WrappedKey = postcard::from_bytes(bytes).ok()?;
            let key = carelog_vault::unwrap_key(&wrapped, keys, &wrap_context(patient)).ok()?;
            Some((*id, key))
        })?;
        self.0.keep(*key_id, (holder, key.clone()));
        Some(key)
    }

    /// Every epoch of a patient's key that `holders` can open, oldest first.
    pub fn open_all(
        &self,
        file: &PatientFile,
        patient: &ActorId,
        holders: &[(ActorId, &ActorKeys)],
    ) -> Vec<(TxId, DataKey)> {
        file.keys
            .iter()
            .filter_map(|epoch| {
                self.open_epoch(file, patient, &epoch.id, holders)
                    .map(|k| (epoch.id, k))
            })
            .collect()
    }
}

/// Chart entries a signed-in user's session has opened, decoded. An entry's id names its sealed
/// bytes, so what they open to never changes; a view opens only the entries it has not opened
/// before. Only entries whose data key the session holds are ever looked up here (the key is
/// asked for first, as the policy is before it), and the cache goes with the session. At most
/// 32,768 entries (a few megabytes).
#[derive(Default)]
pub struct OpenedEntries(pub(crate) Kept<Arc<OpenedEntry>, 32_768>);

/// One entry's contents, as it opened.
pub struct OpenedEntry {
    /// The entry's data.
    pub data: carelog_chart::EntryData,
    /// See [`EntryPlaintext::observed_ms`].
    pub observed_ms: Option<i64>,
    /// See [`EntryPlaintext::summary_change`].
    pub summary_change: Option<Vec<u8>>,
    /// See [`EntryPlaintext::summary_item`].
    pub summary_item: Option<String>,
    /// See [`EntryPlaintext::encounter`].
    pub encounter: Option<TxId>,
}

impl OpenedEntries {
    /// The entry, opened before or now by `open`.
    pub fn get_or_open(
        &self,
        id: &TxId,
        open: impl FnOnce() -> Result<OpenedEntry>,
    ) -> Result<Arc<OpenedEntry>> {
        if let Some(opened) = self.0.get(id) {
            return Ok(opened);
        }
        let opened = Arc::new(open()?);
        self.0.keep(*id, opened.clone());
        Ok(opened)
    }
}

/// The plaintext sealed inside a chart entry.
#[derive(Serialize, Deserialize)]
pub struct EntryPlaintext {
    /// `EntryData::to_bytes`.
    pub data: Vec<u8>,
    /// An Automerge change to the patient summary, if the entry changes it.
    pub summary_change: Option<Vec<u8>>,
    /// The summary item (problem, allergy, medication) the change is about.
    pub summary_item: Option<String>,
    /// When the observation was made (Unix ms), when it differs from when it was recorded:
    /// imported lab results keep the analyzer's time (OBX-14, effectiveDateTime).
    pub observed_ms: Option<i64>,
    /// The encounter (visit) the entry was written in.
    pub encounter: Option<TxId>,
}

/// An entry's plaintext as written before entries named their encounter; read, never written.
#[derive(Deserialize)]
struct EntryPlaintextV1 {
    data: Vec<u8>,
    summary_change: Option<Vec<u8>>,
    summary_item: Option<String>,
    observed_ms: Option<i64>,
}

impl EntryPlaintext {
    /// Decodes the plaintext, in its current layout or the first one (which ends one field
    /// earlier, so the two are never mistaken for each other).
    fn decode(bytes: &[u8]) -> std::result::Result<EntryPlaintext, postcard::Error> {
        postcard::from_bytes(bytes).or_else(|e| {
            let old: EntryPlaintextV1 = postcard::from_bytes(bytes).map_err(|_| e)?;
            Ok(EntryPlaintext {
                data: old.data,
                summary_change: old.summary_change,
                summary_item: old.summary_item,
                observed_ms: old.observed_ms,
                encounter: None,
            })
        })
    }
}

/// What an entry's ciphertext is bound to: everything the transaction says about it in the clear.
pub fn entry_aad(
    patient: &ActorId,
    kind: EntryKind,
    key: &TxId,
    author: &ActorId,
    time_ms: i64,
    amends: Option<&TxId>,
) -> Vec<u8> {
    let mut aad = b"carelog entry v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad.extend_from_slice(kind.to_string().as_bytes());
    aad.extend_from_slice(&key.0);
    aad.extend_from_slice(&author.0);
    aad.extend_from_slice(&time_ms.to_le_bytes());
    if let Some(a) = amends {
        aad.extend_from_slice(&a.0);
    }
    aad
}

/// A new chart entry's payload: what it says in the clear, and its plaintext sealed under the
/// patient's data key `key` (epoch `key_id`) bound to all of that. The one way entries are made.
pub fn entry_payload(
    patient: ActorId,
    author: &ActorId,
    time_ms: i64,
    (key_id, key): (TxId, &DataKey),
    kind: EntryKind,
    plaintext: &EntryPlaintext,
    amends: Option<TxId>,
) -> carelog_ledger::Payload {
    let aad = entry_aad(&patient, kind, &key_id, author, time_ms, amends.as_ref());
    carelog_ledger::Payload::ChartEntry {
        patient,
        kind,
        key: key_id,
        sealed: seal_entry(key, plaintext, &aad),
        amends,
    }
}

/// Seals an entry's plaintext.
pub fn seal_entry(key: &DataKey, plaintext: &EntryPlaintext, aad: &[u8]) -> Vec<u8> {
    let bytes =
        zeroize::Zeroizing::new(postcard::to_stdvec(plaintext).expect("entries always encode"));
    carelog_vault::seal(key, random(), &bytes, aad)
}

/// Opens an entry's ciphertext.
pub fn open_entry(key: &DataKey, sealed: &[u8], aad: &[u8]) -> Result<EntryPlaintext> {
    let bytes = carelog_vault::open(key, sealed, aad)
        .map_err(|e| NodeError::Unopenable(format!("it does not open: {e}")))?;
    EntryPlaintext::decode(&bytes)
        .map_err(|e| NodeError::Unopenable(format!("it does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct FirstLayout {
        data: Vec<u8>,
        summary_change: Option<Vec<u8>>,
        summary_item: Option<String>,
        observed_ms: Option<i64>,
    }

    #[test]
    fn entries_sealed_before_encounters_existed_still_open() {
        let key = DataKey::from_bytes(random());
        let old = FirstLayout {
            data: b"{}".to_vec(),
            summary_change: Some(vec![1, 2]),
            summary_item: Some("item".into()),
            observed_ms: Some(42),
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        let sealed = carelog_vault::seal(&key, random(), &bytes, b"aad");
        let opened = open_entry(&key, &sealed, b"aad").unwrap();
        assert_eq!(
            (
                opened.summary_item.as_deref(),
                opened.observed_ms,
                opened.encounter
            ),
            (Some("item"), Some(42), None)
        );

        let encounter = carelog_ledger::Hash([7; 32]);
        let new = EntryPlaintext {
            encounter: Some(encounter),
            ..opened
        };
        let sealed = seal_entry(&key, &new, b"aad");
        assert_eq!(
            open_entry(&key, &sealed, b"aad").unwrap().encounter,
            Some(encounter)
        );

        let truncated = &postcard::to_stdvec(&new).unwrap()[..3];
        assert!(EntryPlaintext::decode(truncated).is_err());
    }
}
