//! Views for grantees below full access: derived here from the full chart by a reader who holds
//! it in their own right, and sealed under a key of their own wrapped only for the live grantees
//! at that level. A sample or information grantee never holds a key that opens full entries, so
//! a patched node at their clinic can show no more than their level.
//!
//! A sample view carries the records a sample reader may hold ([`carelog_chart::sample_records`]:
//! latest values, initials, truncated text), so their node renders and exports the sample view
//! as a full reader's node would; an information view carries the statistics alone. Views are
//! published when a grant below full is made, after a chart entry is written where such a grant
//! lives, and by the clinic of record's serving node whenever a view is older than the chart.

use carelog_chart::{AccessLevel, ChartRecord, EntryData, EntryKind};
use carelog_ledger::{Action, ActorId, PatientFile, Payload, TxId, authorize};
use carelog_vault::{ActorKeys, DataKey};
use serde::{Deserialize, Serialize};

use crate::error::{NodeError, Result};
use crate::home;
use crate::keys::{self, OpenedEntries, OpenedKeys};
use crate::{Node, OwnTx, Session, patient_file};

/// What a published view holds.
#[derive(Serialize, Deserialize)]
struct ViewContent {
    /// The chart as the level shows it (`carelog_chart::render`).
    rendered: serde_json::Value,
    /// At sample level, the records a sample reader holds; empty at information level.
    records: Vec<ViewRecord>,
}

/// One record of a sample view.
#[derive(Serialize, Deserialize)]
struct ViewRecord {
    entry_id: String,
    kind: EntryKind,
    time_ms: i64,
    /// `EntryData::to_bytes`.
    data: Vec<u8>,
    flagged: Option<String>,
}

/// A view as a grantee's node opened it.
pub(crate) struct OpenedView {
    /// The chart as the level shows it.
    pub(crate) rendered: serde_json::Value,
    /// The records behind it (sample level).
    pub(crate) records: Vec<ChartRecord>,
    /// When it was published.
    pub(crate) time_ms: i64,
}

/// What a view's ciphertext is bound to.
fn view_aad(patient: &ActorId, level: AccessLevel) -> Vec<u8> {
    let mut aad = b"carelog level view v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad.extend_from_slice(level.as_str().as_bytes());
    aad
}

impl Node {
    /// The views to publish for a patient's live grantees below full, derived from what the
    /// holders can open, signed by `publisher` (a session, or this clinic's node when `None`).
    /// Empty when no grantee below full is live.
    pub(crate) fn views_for(
        &self,
        publisher: Option<&Session>,
        patient: ActorId,
    ) -> Result<Vec<OwnTx>> {
        let state = self.ledger.state();
        let file = patient_file(state, &patient)?;
        let now = self.clock();
        let levels: Vec<(AccessLevel, Vec<ActorId>)> =
            [AccessLevel::Sample, AccessLevel::Information]
                .into_iter()
                .map(|level| (level, file.grantees_at(level, now)))
                .filter(|(_, grantees)| !grantees.is_empty())
                .collect();
        if levels.is_empty() {
            return Ok(Vec::new());
        }
        let author = publisher.map_or(self.sealer, |s| s.user);
        authorize(state, author, &Action::PublishView, Some(patient), now)?;
        let records = match publisher {
            Some(session) => self.opened_records(session, patient, file)?,
            None => {
                let holders = [(self.sealer, &self.secrets.node)];
                self.records_opened_by(&holders, patient, file)?
            }
        };
        let summary = carelog_chart::Summary::load_changes_lossy(
            self.summary_changes(publisher, patient, file)?
                .iter()
                .map(Vec::as_slice),
        )
        .0
        .view();
        let mut txs = Vec::new();
        for (level, grantees) in levels {
            let content = match level {
                AccessLevel::Sample => {
                    let reduced = carelog_chart::sample_records(&records);
                    ViewContent {
                        rendered: carelog_chart::render(level, &reduced, Some(&summary)),
                        records: reduced
                            .into_iter()
                            .map(|r| ViewRecord {
                                entry_id: r.entry_id,
                                kind: r.kind,
                                time_ms: r.time_ms,
                                data: r.data.to_bytes(),
                                flagged: r.flagged,
                            })
                            .collect(),
                    }
                }
                _ => ViewContent {
                    rendered: carelog_chart::render(level, &records, Some(&summary)),
                    records: Vec::new(),
                },
            };
            let bytes =
                zeroize::Zeroizing::new(serde_json::to_vec(&content).expect("views always encode"));
            let key = DataKey::from_bytes(home::random());
            let sealed =
                carelog_vault::seal(&key, home::random(), &bytes, &view_aad(&patient, level));
            let key_wraps = grantees
                .iter()
                .filter_map(|g| {
                    let enc = state.encryption_key(g)?;
                    Some(keys::wrap_for(&key, TxId::default(), &patient, *g, &enc))
                })
                .collect();
            let payload = Payload::LevelView {
                patient,
                level,
                sealed,
                key_wraps,
            };
            txs.push(match publisher {
                Some(session) => self.sign(session, payload),
                None => self.sign_as_clinic(payload),
            });
        }
        Ok(txs)
    }

    /// Publishes fresh views of a patient's chart for grantees below full, if there are any.
    pub(crate) fn publish_views(
        &mut self,
        publisher: Option<&Session>,
        patient: ActorId,
    ) -> Result<()> {
        let txs = self.views_for(publisher, patient)?;
        if !txs.is_empty() {
            self.commit(txs, &[])?;
        }
        Ok(())
    }

    /// Republishes, as this clinic's node, the views of records it holds that are older than
    /// the chart or not wrapped for exactly the live grantees at their level. Returns how many
    /// records got new views.
    pub fn refresh_views(&mut self) -> Result<usize> {
        let now = self.clock();
        let state = self.ledger.state();
        let mut stale: Vec<ActorId> = state
            .patients
            .iter()
            .filter(|(_, f)| f.clinic == self.clinic && views_are_stale(f, now))
            .map(|(id, _)| *id)
            .collect();
        stale.sort_unstable();
        let mut txs = Vec::new();
        for patient in &stale {
            match self.views_for(None, *patient) {
                Ok(views) => txs.extend(views),
                Err(e) => tracing::warn!(%patient, error = %e, "could not derive a level view"),
            }
        }
        for chunk in txs.chunks(256) {
            self.commit(chunk.to_vec(), &[])?;
        }
        Ok(stale.len())
    }

    /// The newest view at `level` published for the session's user, opened with their key.
    pub(crate) fn open_view(
        &self,
        session: &Session,
        patient: ActorId,
        file: &PatientFile,
        level: AccessLevel,
    ) -> Result<Option<OpenedView>> {
        let Some(view) = file.view_for(level, &session.user) else {
            return Ok(None);
        };
        let damaged =
            || NodeError::Damaged(format!("level view {} is missing from its block", view.id));
        let hash = self.ledger.state().view_block(view).ok_or_else(damaged)?;
        let block = self.ledger.block(&hash).ok_or_else(damaged)?;
        let stx = block.txs.get(view.index as usize).ok_or_else(damaged)?;
        let Payload::LevelView {
            sealed, key_wraps, ..
        } = &stx.tx.payload
        else {
            return Err(damaged());
        };
        let Some(wrap) = key_wraps.iter().find(|w| w.reader == session.user) else {
            return Ok(None);
        };
        let wrapped: carelog_vault::WrappedKey = postcard::from_bytes(&wrap.wrapped)
            .map_err(|e| NodeError::Unopenable(format!("a view's key does not decode: {e}")))?;
        let key = carelog_vault::unwrap_key(&wrapped, &session.keys, &keys::wrap_context(&patient))
            .map_err(|e| NodeError::Unopenable(format!("a view's key does not open: {e}")))?;
        let bytes = carelog_vault::open(&key, sealed, &view_aad(&patient, level))
            .map_err(|e| NodeError::Unopenable(format!("a view does not open: {e}")))?;
        let content: ViewContent = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Unopenable(format!("a view does not decode: {e}")))?;
        let records = content
            .records
            .into_iter()
            .filter_map(|r| {
                Some(ChartRecord {
                    entry_id: r.entry_id,
                    kind: r.kind,
                    author: String::new(),
                    time_ms: r.time_ms,
                    data: EntryData::from_bytes(&r.data).ok()?,
                    amends: None,
                    flagged: r.flagged,
                    encounter: None,
                })
            })
            .collect();
        Ok(Some(OpenedView {
            rendered: content.rendered,
            records,
            time_ms: view.time_ms,
        }))
    }

    /// Every entry of a patient `holders` can open, with no session caches (this clinic's node
    /// deriving a view by itself).
    fn records_opened_by(
        &self,
        holders: &[(ActorId, &ActorKeys)],
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<Vec<ChartRecord>> {
        let chart = self.open_entries_with(
            holders,
            &OpenedKeys::default(),
            &OpenedEntries::default(),
            patient,
            file,
        )?;
        Ok(chart.opened.into_iter().map(|o| o.record).collect())
    }

    /// The summary changes in the entries `publisher` (or this clinic's node) can open.
    fn summary_changes(
        &self,
        publisher: Option<&Session>,
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<Vec<Vec<u8>>> {
        let chart = match publisher {
            Some(session) => self.open_entries(session, patient, file)?,
            None => self.open_entries_with(
                &[(self.sealer, &self.secrets.node)],
                &OpenedKeys::default(),
                &OpenedEntries::default(),
                patient,
                file,
            )?,
        };
        Ok(chart
            .opened
            .into_iter()
            .filter_map(|o| o.summary_change)
            .collect())
    }
}

/// Whether a record's views for grantees below full must be published again: a level has live
/// grantees and its newest view is older than the chart or not wrapped for exactly them.
pub(crate) fn views_are_stale(file: &PatientFile, now_ms: i64) -> bool {
    [AccessLevel::Sample, AccessLevel::Information]
        .into_iter()
        .any(|level| {
            let mut grantees = file.grantees_at(level, now_ms);
            if grantees.is_empty() {
                return false;
            }
            grantees.sort_unstable();
            let newest = file.views.iter().rev().find(|v| v.level == level);
            match newest {
                None => true,
                Some(view) => {
                    let mut readers = view.readers.clone();
                    readers.sort_unstable();
                    readers != grantees || (view.entries as usize) < file.entries().len()
                }
            }
        })
}
