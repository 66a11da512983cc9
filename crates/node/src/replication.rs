//! Blocks from elsewhere: peers, other processes on this home, and patient-carried bundles.

use std::collections::HashSet;

use carelog_ledger::{Action, ActorId, Block, BlockHash, Check, LedgerError, Payload, authorize};
use carelog_store::{EvidenceRow, Origin};
use serde::{Deserialize, Serialize};

use crate::error::{CarriedFile, NodeError, Result};
use crate::home::{now_ms, rfc3339};
use crate::{Node, Session, apply_stored, put_block};

const LAST_SYNC: &str = "last_sync_ms";
/// Present while a restored home waits to learn its own chain's later blocks from a peer; holds
/// the highest height of this clinic's chain a peer said it holds (8 bytes LE, or empty).
pub(crate) const CATCH_UP: &str = "restored_awaiting_catch_up";

/// After a peer's frontier (`peer_said` = the height of our chain it holds) or new blocks: a
/// restored home that now holds its own chain as far as any peer does may seal again.
fn catch_up_with(
    w: &carelog_store::Writer<'_>,
    own_head: Option<u64>,
    peer_said: Option<Option<u64>>,
) -> std::result::Result<(), carelog_store::StoreError> {
    let Some(stored) = w.setting(CATCH_UP)? else {
        return Ok(());
    };
    let known = <[u8; 8]>::try_from(stored.as_slice())
        .ok()
        .map(u64::from_le_bytes);
    // A peer's word raises the target; new blocks only ever meet a target already set (with no
    // word from a peer yet, there is nothing to compare against).
    let target = match peer_said {
        Some(said) => known.max(said),
        None if known.is_none() => return Ok(()),
        None => known,
    };
    if own_head >= target {
        w.delete_setting(CATCH_UP)
    } else {
        match target {
            Some(t) => w.set_setting(CATCH_UP, &t.to_le_bytes()),
            None => Ok(()),
        }
    }
}

const BUNDLE_FORMAT: &str = "carelog-patient-bundle-1";

/// What a batch of outside blocks did.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Blocks this replica did not have, now stored and applied (to forward to other peers).
    pub blocks: Vec<Block>,
    /// Blocks that link to blocks this replica lacks (the sender will be asked for those).
    pub missing_links: bool,
    /// Why the rest was refused: the sender sent an invalid block.
    pub refused: Option<String>,
}

/// Proof that a clinic misbehaved, kept for the health authority.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    /// What it proves: `equivocation` (two blocks at one height).
    pub kind: String,
    /// The clinic's id.
    pub clinic_id: String,
    /// The clinic's name.
    pub clinic: String,
    /// The height of the two blocks.
    pub height: u64,
    /// The block this replica held first.
    pub first: String,
    /// The conflicting block, refused.
    pub second: String,
    /// When it was recorded.
    pub recorded: String,
    /// Whether both blocks still check out against the clinic's enrolled key.
    pub proven: bool,
}

/// A chart entry that arrived from another clinic, for the user's notice.
#[derive(Clone, Debug, Serialize)]
pub struct NewRecord {
    /// The patient.
    pub patient_id: String,
    /// The entry.
    pub entry_id: String,
    /// Its kind.
    pub kind: carelog_chart::EntryKind,
    /// The clinic it was written at.
    pub clinic: String,
    /// When it was written.
    pub time: String,
}

/// A patient-carried, signed file with the blocks of a patient's record and their causal past.
#[derive(Serialize, Deserialize)]
struct Bundle {
    format: String,
    network_id: String,
    patient_id: String,
    /// Canonical block bytes (hex), parents first.
    blocks: Vec<String>,
    /// The patient's key store, sealed under their PIN (hex).
    sealed_keys: String,
    /// The patient's signature (hex) over the fields above.
    signature: String,
}

impl Bundle {
    /// The bytes the patient's signature covers: every field but the signature.
    fn signed_bytes(&self) -> Vec<u8> {
        let fields = (
            &self.format,
            &self.network_id,
            &self.patient_id,
            &self.blocks,
            &self.sealed_keys,
        );
        let mut bytes = b"carelog bundle v1".to_vec();
        bytes.extend(postcard::to_stdvec(&fields).expect("bundles always encode"));
        bytes
    }
}

/// A patient bundle read from outside bytes and checked for shape (format, ids, hex, each block's
/// own checks). Its signature and its fit with this network's record are checked on import, which
/// needs the replica ([`Node::import_bundle`]).
#[derive(Debug)]
pub struct PatientBundle {
    /// The network the bundle says it belongs to (its genesis hash, hex).
    pub network_id: String,
    /// The patient whose record it carries.
    pub patient: ActorId,
    /// The blocks, parents first.
    pub blocks: Vec<Block>,
    /// The patient's key store, sealed under their PIN.
    pub sealed_keys: Vec<u8>,
    /// The patient's signature over `signed`.
    signature: [u8; 64],
    /// The bytes the signature covers.
    signed: Vec<u8>,
}

impl PatientBundle {
    /// Reads a bundle file; never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PatientBundle> {
        let bad = |why: String| NodeError::not_a(CarriedFile::PatientBundle, why);
        let bundle: Bundle = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(bad(format!("unknown format `{}`", bundle.format)));
        }
        let patient: ActorId = bundle
            .patient_id
            .parse()
            .map_err(|e: carelog_ledger::IdParseError| bad(e.to_string()))?;
        let mut blocks = Vec::with_capacity(bundle.blocks.len());
        for (i, text) in bundle.blocks.iter().enumerate() {
            let raw = hex::decode(text).map_err(|_| bad(format!("block {i} is not hex")))?;
            blocks.push(Block::from_bytes(&raw)?);
        }
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&bundle.signature, &mut signature)
            .map_err(|_| bad("the signature is not hex".into()))?;
        let sealed_keys =
            hex::decode(&bundle.sealed_keys).map_err(|_| bad("the key store is not hex".into()))?;
        Ok(PatientBundle {
            signed: bundle.signed_bytes(),
            network_id: bundle.network_id,
            patient,
            blocks,
            sealed_keys,
            signature,
        })
    }
}

impl Node {
    /// Applies blocks that another process on this home stored (e.g. a CLI command beside a
    /// running `serve`). Returns them, to be announced to peers.
    pub fn refresh(&mut self) -> Result<Vec<Block>> {
        let rows = self.store.blocks_since(self.loaded_seq)?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(Vec::new());
        };
        let added = apply_stored(&self.home.database(), &mut self.ledger, &rows)?;
        self.loaded_seq = last;
        Ok(added)
    }

    /// Validates, stores and applies blocks from a peer or a bundle (parents first), in one
    /// database transaction. Stops at the first block that does not go in.
    pub fn accept_blocks(&mut self, blocks: Vec<Block>) -> Result<Accepted> {
        self.refresh()?;
        let fresh: Vec<Block> = blocks
            .into_iter()
            .filter(|b| !self.ledger.contains(&b.hash()))
            .collect();
        if fresh.is_empty() {
            return Ok(Accepted::default());
        }
        let mut outcome = Accepted::default();
        // Blocks sealed too far in this machine's future wait until its clock catches up.
        self.ledger.set_clock(now_ms());
        let (went_in, failure) = match self.ledger.insert_batch(fresh.clone(), Check::Full) {
            Ok(_) => (fresh.len(), None),
            Err(f) => {
                let n = fresh.iter().position(|b| b.hash() == f.block).unwrap_or(0);
                (n, Some(*f.error))
            }
        };
        match failure {
            Some(LedgerError::MissingLinks { .. }) => outcome.missing_links = true,
            Some(other) => {
                tracing::warn!(error = %other, "refused a block from outside");
                outcome.refused = Some(other.to_string());
            }
            None => {}
        }
        // A block that is a rival of another at its clinic's height proves the clinic sealed two
        // (a cloned machine, an old backup): both carry its seal. Kept for the health authority
        // (`carelog ledger evidence`); the ledger itself settles which branch stands.
        let mut evidence = Vec::new();
        for block in fresh.iter().take(went_in) {
            let key = (block.header.clinic, block.header.height);
            let hash = block.hash();
            let Some(other) = self
                .ledger
                .rivals()
                .find(|(at, _)| **at == key)
                .and_then(|(_, rivals)| rivals.iter().find(|r| **r != hash).copied())
            else {
                continue;
            };
            if let Some(first) = self.ledger.block(&other) {
                evidence.push((
                    EvidenceRow {
                        clinic: key.0.0,
                        height: key.1,
                        first: first.to_bytes(),
                        second: block.to_bytes(),
                        recorded_at: now_ms(),
                    },
                    hash.0,
                ));
            }
        }
        outcome.blocks = fresh.into_iter().take(went_in).collect();
        let own_head = self.ledger.dag().head_of(&self.sealer).map(|(h, _)| h);
        let accepted = &outcome.blocks;
        let loaded_seq = &mut self.loaded_seq;
        self.store.write(|w| {
            for (row, second) in &evidence {
                if w.put_evidence(row, second)? {
                    tracing::warn!(
                        height = row.height,
                        "recorded evidence of a clinic sealing two blocks at one height"
                    );
                }
            }
            for block in accepted {
                put_block(w, block, Origin::Peer)?;
            }
            catch_up_with(w, own_head, None)?;
            w.set_setting(LAST_SYNC, &now_ms().to_le_bytes())?;
            *loaded_seq = w.max_seq()?;
            Ok::<_, NodeError>(())
        })?;
        Ok(outcome)
    }

    /// Every equivocation this replica saw, each re-checked: both blocks decode, name the same
    /// clinic and height, differ, and carry that clinic's seal.
    pub fn evidence(&self) -> Result<Vec<Evidence>> {
        let state = self.ledger.state();
        let rows = self.store.evidence()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let clinic = ActorId(row.clinic);
                let first = Block::from_bytes(&row.first).ok();
                let second = Block::from_bytes(&row.second).ok();
                let proven = match (&first, &second, state.clinics.get(&clinic)) {
                    (Some(a), Some(b), Some(enrolled)) => {
                        a.hash() != b.hash()
                            && [a, b].iter().all(|x| {
                                x.header.clinic == clinic
                                    && x.header.height == row.height
                                    && x.verify_seal(&enrolled.keys.signing).is_ok()
                            })
                    }
                    _ => false,
                };
                Evidence {
                    kind: "equivocation".into(),
                    clinic_id: clinic.to_string(),
                    clinic: self.display_name(&clinic),
                    height: row.height,
                    first: first.map(|b| b.hash().to_string()).unwrap_or_default(),
                    second: second.map(|b| b.hash().to_string()).unwrap_or_default(),
                    recorded: rfc3339(row.recorded_at),
                    proven,
                }
            })
            .collect())
    }

    /// A peer acknowledged holding blocks up to `height` of this clinic's chain: they leave the
    /// outbox.
    pub fn mark_peer_holds(&mut self, height_of_ours: Option<u64>) -> Result<()> {
        let clinic = self.sealer;
        let own_head = self.ledger.dag().head_of(&clinic).map(|(h, _)| h);
        self.store.write(|w| {
            if let Some(height) = height_of_ours {
                w.mark_acked_up_to(&clinic.0, height, now_ms())?;
            }
            catch_up_with(w, own_head, Some(height_of_ours))?;
            w.set_setting(LAST_SYNC, &now_ms().to_le_bytes())
        })?;
        Ok(())
    }

    /// Whether this home was restored from a backup and has not yet caught up with a peer on
    /// its own clinic's chain (until then it seals nothing; see [`Node::restore`]).
    pub fn awaiting_catch_up(&self) -> Result<bool> {
        Ok(self.store.setting(CATCH_UP)?.is_some())
    }

    /// Seals again without waiting to catch up: for a clinic with no peers, whose backup is the
    /// only copy of its chain.
    pub fn skip_catch_up(&mut self) -> Result<()> {
        self.store.write(|w| w.delete_setting(CATCH_UP))?;
        Ok(())
    }

    /// When this node last exchanged blocks with a peer (RFC 3339).
    pub fn last_sync(&self) -> Result<Option<String>> {
        Ok(self
            .store
            .setting(LAST_SYNC)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| rfc3339(i64::from_le_bytes(b))))
    }

    /// Chart entries that arrived from other clinics since the user last asked, for patients the
    /// user may read.
    pub fn new_records(&mut self, session: &Session) -> Result<Vec<NewRecord>> {
        let key = format!("seen:{}", session.user);
        let seen = self
            .store
            .setting(&key)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, i64::from_le_bytes);
        let rows = self.store.blocks_since(seen)?;
        let state = self.ledger.state();
        let now = now_ms();
        let mut out = Vec::new();
        for row in rows.iter().filter(|r| !r.local) {
            let Some(block) = self.ledger.block(&carelog_ledger::Hash(row.hash)) else {
                continue;
            };
            for stx in &block.txs {
                let Payload::ChartEntry { patient, kind, .. } = &stx.tx.payload else {
                    continue;
                };
                if authorize(state, session.user, &Action::Read, Some(*patient), now).is_ok() {
                    out.push(NewRecord {
                        patient_id: patient.to_string(),
                        entry_id: stx.id().to_string(),
                        kind: *kind,
                        clinic: self.display_name(&stx.tx.clinic),
                        time: rfc3339(stx.tx.time_ms),
                    });
                }
            }
        }
        if let Some(last) = rows.last() {
            let seq = last.seq;
            self.store
                .write(|w| w.set_setting(&key, &seq.to_le_bytes()))?;
        }
        Ok(out)
    }

    /// The patient-carried bundle: the blocks of the patient's record with their causal past, and
    /// the patient's keys sealed under their PIN, signed by the patient.
    pub fn export_bundle(&self, patient_session: &Session) -> Result<Vec<u8>> {
        let patient = patient_session.user;
        if self.ledger.state().patient(&patient).is_none() {
            return Err(NodeError::invalid(
                "only a patient exports their own bundle; sign in with the patient id and PIN",
            ));
        }
        // The key store kept here, or else the one the patient published on the ledger (at a
        // clinic the patient signed in at without being registered there).
        let sealed = match self.store.sealed_keys(&patient.0)? {
            Some(sealed) => sealed,
            None => self
                .published_key_store(&patient)
                .ok_or_else(|| NodeError::KeysElsewhere(patient.to_string()))?,
        };
        if !carelog_vault::needs_card(&sealed) {
            // A bundle travels: the keys in it must need the card as well as the PIN.
            return Err(NodeError::invalid(
                "this patient's keys are sealed under the PIN alone (registered before cards): \
                 change the PIN first (`patient pin`), which issues a card, then export",
            ));
        }
        let wanted = self.causal_closure(patient);
        let blocks = self
            .ledger
            .dag()
            .order()
            .iter()
            .filter(|h| wanted.contains(h))
            .map(|h| {
                self.ledger
                    .block(h)
                    .map(|b| hex::encode(b.to_bytes()))
                    .ok_or_else(|| NodeError::Ledger(LedgerError::Unreadable(*h)))
            })
            .collect::<Result<_>>()?;
        let mut bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            network_id: self.ledger.network_id().to_string(),
            patient_id: patient.to_string(),
            blocks,
            sealed_keys: hex::encode(sealed),
            signature: String::new(),
        };
        bundle.signature = hex::encode(patient_session.keys.sign(&bundle.signed_bytes()));
        Ok(serde_json::to_vec(&bundle).expect("bundles always encode"))
    }

    /// Blocks that carry the patient's transactions, and all their ancestors.
    fn causal_closure(&self, patient: ActorId) -> HashSet<BlockHash> {
        let mut stack: Vec<BlockHash> = self
            .ledger
            .blocks_in_order()
            .filter(|b| {
                b.txs
                    .iter()
                    .any(|t| t.tx.payload.patient() == Some(patient))
            })
            .map(|b| b.hash())
            .collect();
        let mut seen = HashSet::new();
        while let Some(hash) = stack.pop() {
            if !seen.insert(hash) {
                continue;
            }
            if let Some(node) = self.ledger.dag().node(&hash) {
                stack.extend(node.links.iter().copied());
            }
        }
        seen
    }

    /// Validates a bundle exactly like blocks from sync, stores it and the patient's sealed keys.
    /// Returns the patient and how many blocks were new here.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<(ActorId, usize)> {
        let bad = |why: String| NodeError::not_a(CarriedFile::PatientBundle, why);
        let PatientBundle {
            network_id,
            patient,
            blocks,
            sealed_keys: sealed,
            signature,
            signed,
        } = PatientBundle::from_bytes(bytes)?;
        if network_id != self.ledger.network_id().to_string() {
            return Err(bad("it belongs to another network".into()));
        }
        // The patient's key is in the bundle's own registration block; the signature is checked
        // against it before anything is stored.
        let key = blocks
            .iter()
            .flat_map(|b| &b.txs)
            .find_map(|t| match &t.tx.payload {
                Payload::RegisterPatient {
                    patient: p, keys, ..
                } if *p == patient => Some(keys.signing),
                _ => None,
            })
            .or_else(|| {
                self.ledger
                    .state()
                    .users
                    .get(&patient)
                    .map(|u| u.keys.signing)
            })
            .ok_or_else(|| bad("it does not hold the patient's registration".into()))?;
        carelog_vault::verify_signature(&key, &signed, &signature)
            .map_err(|_| bad("the patient's signature does not verify".into()))?;
        if !carelog_vault::needs_card(&sealed) {
            return Err(bad(
                "the patient's keys in it open with a PIN alone; Carelog takes only keys that \
                 need the patient's card too"
                    .into(),
            ));
        }
        let accepted = self.accept_blocks(blocks)?;
        if let Some(reason) = accepted.refused {
            return Err(bad(reason));
        }
        if accepted.missing_links {
            return Err(bad("it lacks blocks its record links to".into()));
        }
        if self
            .ledger
            .state()
            .users
            .get(&patient)
            .map(|u| u.keys.signing)
            != Some(key)
        {
            return Err(bad(
                "the registration does not match this network's record".into()
            ));
        }
        if self.store.sealed_keys(&patient.0)?.is_none() {
            self.home
                .mirror_sealed_keys(&self.secrets, &patient, &sealed)?;
            self.store
                .write(|w| w.put_sealed_keys(&patient.0, &sealed))?;
        }
        Ok((patient, accepted.blocks.len()))
    }
}
