//! Chart entries and chart views.

use std::str::FromStr;

use carelog_chart::{AccessLevel, ChartRecord, EntryData, EntryKind, Summary};
use carelog_ledger::{Action, ActorId, EntryRef, PatientFile, Payload, TxId, authorize};
use carelog_vault::DataKey;
use serde::Serialize;

use crate::error::{NodeError, Result};
use crate::home::{self, now_ms};
use crate::keys;
use crate::{Node, Session, current_key, patient_file};

/// A patient a user may open, as `patients` lists them.
#[derive(Clone, Debug, Serialize)]
pub struct PatientListing {
    /// The patient id.
    pub patient_id: String,
    /// The level the user holds.
    pub level: AccessLevel,
    /// The name as the level allows (initials at sample level), if this node can open it.
    pub name: Option<String>,
    /// Why the user has access (custodian, attending, grant, break-glass, patient).
    pub basis: String,
}

/// How a new entry relates to others: what it corrects, when it was observed, which visit it
/// belongs to. Sealed with the entry, except `amends`, which the ledger holds in the clear.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EntryLinks {
    pub(crate) amends: Option<TxId>,
    pub(crate) observed_ms: Option<i64>,
    pub(crate) encounter: Option<TxId>,
}

/// What a clinician may say about a new entry beyond its kind and data.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryOptions<'a> {
    /// The entry it corrects (an amendment of the same kind).
    pub amends: Option<&'a str>,
    /// The encounter (visit) it was written in.
    pub encounter: Option<&'a str>,
    /// Why a drug that matches a recorded allergy is prescribed anyway.
    pub allergy_override: Option<&'a str>,
    /// When it was observed (Unix ms), for an entry typed up after the fact; never in the future.
    pub observed_ms: Option<i64>,
}

/// Who a chart is about, shown above every chart screen so that two patients are not confused:
/// identity as the reader's level allows, allergies at a glance, and why the reader may look.
#[derive(Clone, Debug, Serialize)]
pub struct Banner {
    /// Full name (initials at sample level; absent below).
    pub name: Option<String>,
    /// Birth date, `YYYY-MM-DD` (full level only).
    pub birth_date: Option<String>,
    /// Age in whole years (full level only).
    pub age: Option<i32>,
    /// `female`, `male` or `other` (sample level and up).
    pub sex: Option<String>,
    /// The number printed on the patient's card.
    pub card_number: String,
    /// Recorded allergies (full level only).
    pub allergies: Vec<String>,
    /// Why the reader may look: patient, custodian, attending, grant, break-glass, staff…
    pub basis: String,
    /// The reader's level.
    pub level: AccessLevel,
    /// When the reader's grant ends (RFC 3339), for a grant with an end.
    pub until: Option<String>,
}

/// Who a chart is about: the latest demographics entry not corrected by another.
pub(crate) fn current_identity(records: &[ChartRecord]) -> Option<carelog_chart::Demographics> {
    let amended: std::collections::BTreeSet<&str> =
        records.iter().filter_map(|r| r.amends.as_deref()).collect();
    records
        .iter()
        .filter(|r| !amended.contains(r.entry_id.as_str()))
        .filter_map(|r| match &r.data {
            EntryData::Demographics(d) => Some((r.time_ms, d)),
            _ => None,
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, d)| d.clone())
}

/// An opened chart entry.
pub(crate) struct Opened {
    pub(crate) record: ChartRecord,
    pub(crate) summary_change: Option<Vec<u8>>,
    summary_item: Option<String>,
}

/// A chart entry whose key this node holds but which does not open (its bytes are not what its
/// author's clinic sealed, or it was written to be noise): set aside and listed, so one bad
/// entry never takes the rest of the chart down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The entry id.
    pub entry_id: String,
    /// The clinic that sealed it (id).
    pub clinic: String,
    /// The clinic's name.
    pub clinic_name: String,
    /// When it was written (RFC 3339).
    pub time: String,
    /// In words: "1 entry from South Harbour at 10:42 could not be opened".
    pub message: String,
}

/// What opening a patient's entries gave.
pub(crate) struct OpenedChart {
    /// The entries that opened, in the ledger's order.
    pub(crate) opened: Vec<Opened>,
    /// Entries sealed with keys this node does not hold.
    pub(crate) sealed_away: usize,
    /// Entries whose key it holds that did not open.
    quarantined: Vec<Quarantined>,
}

impl Node {
    /// The keys this node can use for a session: the user's own, then this clinic's.
    pub(crate) fn holders<'a>(
        &'a self,
        session: &'a Session,
    ) -> [(ActorId, &'a carelog_vault::ActorKeys); 2] {
        [
            (session.user, &session.keys),
            (self.sealer, &self.secrets.node),
        ]
    }

    /// Opens every entry of a patient this node holds a key for; the rest are counted, and
    /// those that do not open are set aside.
    pub(crate) fn open_entries(
        &self,
        session: &Session,
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<OpenedChart> {
        self.open_entries_with(
            &self.holders(session),
            &session.opened,
            &session.read,
            patient,
            file,
        )
    }

    /// [`Node::open_entries`] with the keys of `holders`, keeping what opens in `opened` and
    /// `read`.
    pub(crate) fn open_entries_with(
        &self,
        holders: &[(ActorId, &carelog_vault::ActorKeys)],
        opened: &keys::OpenedKeys,
        read: &keys::OpenedEntries,
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<OpenedChart> {
        let opened_keys = opened.open_all(file, &patient, holders);
        let mut chart = OpenedChart {
            opened: Vec::with_capacity(file.entries().len()),
            sealed_away: 0,
            quarantined: Vec::new(),
        };
        for entry in file.entries() {
            let key = file
                .entry_key(entry)
                .and_then(|epoch| opened_keys.iter().find(|(id, _)| *id == epoch.id));
            let Some((key_id, key)) = key else {
                chart.sealed_away += 1;
                continue;
            };
            match self.open_entry(read, patient, entry, key_id, key) {
                Ok(o) => chart.opened.push(o),
                Err(NodeError::Unopenable(why)) => {
                    tracing::warn!(entry = %entry.id, %why, "a chart entry does not open; set aside");
                    chart.quarantined.push(self.quarantined(entry));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(chart)
    }

    /// How a set-aside entry is listed.
    fn quarantined(&self, entry: &EntryRef) -> Quarantined {
        let clinic = self
            .ledger
            .state()
            .entry_block(entry)
            .and_then(|hash| self.ledger.dag().node(&hash))
            .map_or(ActorId::default(), |node| node.clinic);
        let clinic_name = self.display_name(&clinic);
        let time = home::rfc3339(entry.time_ms);
        let clock = time.get(11..16).unwrap_or(&time).to_string();
        Quarantined {
            entry_id: entry.id.to_string(),
            clinic: clinic.to_string(),
            message: format!("1 entry from {clinic_name} at {clock} could not be opened"),
            clinic_name,
            time,
        }
    }

    /// Opens an entry sealed with the data key `key_id` (opened: `key`), unless the session
    /// has opened it before.
    pub(crate) fn open_entry(
        &self,
        read: &keys::OpenedEntries,
        patient: ActorId,
        entry: &EntryRef,
        key_id: &TxId,
        key: &DataKey,
    ) -> Result<Opened> {
        let plain = read.get_or_open(&entry.id, || {
            let damaged = || {
                NodeError::Damaged(format!(
                    "chart entry {} is missing from its block",
                    entry.id
                ))
            };
            let hash = self.ledger.state().entry_block(entry).ok_or_else(damaged)?;
            let block = self.ledger.block(&hash).ok_or_else(damaged)?;
            let stx = block.txs.get(entry.index as usize).ok_or_else(damaged)?;
            let Payload::ChartEntry { sealed, .. } = &stx.tx.payload else {
                return Err(damaged());
            };
            let aad = keys::entry_aad(
                &patient,
                entry.kind,
                key_id,
                &entry.author,
                entry.time_ms,
                entry.amends.as_deref(),
            );
            let plain = keys::open_entry(key, sealed, &aad)?;
            Ok(keys::OpenedEntry {
                data: EntryData::from_bytes(&plain.data)
                    .map_err(|e| NodeError::Unopenable(format!("its data does not decode: {e}")))?,
                observed_ms: plain.observed_ms,
                summary_change: plain.summary_change,
                summary_item: plain.summary_item,
                encounter: plain.encounter,
            })
        })?;
        Ok(Opened {
            record: ChartRecord {
                entry_id: entry.id.to_string(),
                kind: entry.kind,
                author: self.display_name(&entry.author),
                // The clinical time: when it was observed, if that was recorded apart.
                time_ms: plain.observed_ms.unwrap_or(entry.time_ms),
                data: plain.data.clone(),
                amends: entry.amends.as_ref().map(|a| a.to_string()),
                flagged: entry.flag.as_deref().map(str::to_string),
                encounter: plain.encounter.map(|e| e.to_string()),
            },
            summary_change: plain.summary_change.clone(),
            summary_item: plain.summary_item.clone(),
        })
    }

    /// The opened entries of a patient, as chart records.
    pub(crate) fn opened_records(
        &self,
        session: &Session,
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<Vec<ChartRecord>> {
        Ok(self
            .open_entries(session, patient, file)?
            .opened
            .into_iter()
            .map(|o| o.record)
            .collect())
    }

    /// The patient summary as this user can open it (damaged changes skipped).
    pub(crate) fn current_summary(&self, session: &Session, patient: ActorId) -> Result<Summary> {
        let file = patient_file(self.ledger.state(), &patient)?;
        let opened = self.open_entries(session, patient, file)?.opened;
        Ok(
            Summary::load_changes_lossy(opened.iter().filter_map(|o| o.summary_change.as_deref()))
                .0,
        )
    }

    /// Adds a chart entry (`amends`: the entry it corrects). Returns the new entry's id.
    pub fn add_entry(
        &mut self,
        session: &Session,
        patient: ActorId,
        kind: &str,
        data_json: &str,
        amends: Option<&str>,
    ) -> Result<TxId> {
        let options = EntryOptions {
            amends,
            ..EntryOptions::default()
        };
        self.add_entry_with(session, patient, kind, data_json, &options)
    }

    /// Adds a chart entry with its links (amended entry, encounter) and, for a drug that
    /// matches a recorded allergy, the prescriber's reason. Returns the new entry's id.
    pub fn add_entry_with(
        &mut self,
        session: &Session,
        patient: ActorId,
        kind: &str,
        data_json: &str,
        options: &EntryOptions<'_>,
    ) -> Result<TxId> {
        let (_, id) = self.commit_fresh(|node| {
            let tx = node.entry_for_with(session, patient, kind, data_json, options)?;
            let id = tx.id();
            Ok((vec![tx], id))
        })?;
        // Grantees below full see the new entry in a fresh view; a writer who may not derive
        // one (a lab) leaves it to the clinic of record's node.
        match self.publish_views(Some(session), patient) {
            Ok(()) | Err(NodeError::Denied(_)) => {}
            Err(e) => tracing::warn!(error = %e, "could not publish the level views"),
        }
        // The emergency summary follows allergies, problems and medications.
        if matches!(kind.trim(), "allergy" | "condition" | "medication") {
            match self.publish_emergency_summary(session, patient) {
                Ok(_) | Err(NodeError::Denied(_)) => {}
                Err(e) => tracing::warn!(error = %e, "could not publish the emergency summary"),
            }
        }
        Ok(id)
    }

    /// Checks a new chart entry against the policy and seals it into a signed transaction, ready
    /// to be committed in a block.
    pub(crate) fn entry_for(
        &self,
        session: &Session,
        patient: ActorId,
        kind: &str,
        data_json: &str,
        amends: Option<&str>,
    ) -> Result<crate::OwnTx> {
        let options = EntryOptions {
            amends,
            ..EntryOptions::default()
        };
        self.entry_for_with(session, patient, kind, data_json, &options)
    }

    /// The entry `text` names in this patient's file, which must be of `kind`.
    fn linked_entry(file: &PatientFile, text: &str, kind: EntryKind, role: &str) -> Result<TxId> {
        let id = TxId::from_str(text.trim()).map_err(|e| NodeError::invalid(e.to_string()))?;
        let entry = file
            .entries()
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| NodeError::UnknownEntry(text.to_string()))?;
        if entry.kind != kind {
            let article = if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return Err(NodeError::invalid(format!(
                "entry {text} is a {} entry; {role} must name {article} {kind} entry",
                entry.kind
            )));
        }
        Ok(id)
    }

    /// [`Node::entry_for`] with every option.
    pub(crate) fn entry_for_with(
        &self,
        session: &Session,
        patient: ActorId,
        kind: &str,
        data_json: &str,
        options: &EntryOptions<'_>,
    ) -> Result<crate::OwnTx> {
        let kind = EntryKind::from_str(kind).map_err(|e| NodeError::invalid(e.to_string()))?;
        if kind == EntryKind::Demographics && options.amends.is_none() {
            return Err(NodeError::invalid(
                "demographics are recorded at registration and corrected by amending that entry (--amends ENTRY); to chart, choose vitals, lab, note, condition, allergy, medication, encounter, order or immunization",
            ));
        }
        let mut data = EntryData::parse(kind, data_json)?;
        let state = self.ledger.state();
        let file = patient_file(state, &patient)?;
        authorize(
            state,
            session.user,
            &Action::Write(kind),
            Some(patient),
            now_ms(),
        )?;
        let amends = options
            .amends
            .map(|text| Self::linked_entry(file, text, kind, "an amendment"))
            .transpose()?;
        let encounter = options
            .encounter
            .map(|text| Self::linked_entry(file, text, EntryKind::Encounter, "--encounter"))
            .transpose()?;
        if let EntryData::Lab(lab) = &data
            && let Some(order) = &lab.order
        {
            Self::linked_entry(file, order, EntryKind::Order, "a result's order")?;
        }
        let observed_ms = match options.observed_ms {
            Some(ms) if ms > now_ms() => {
                return Err(NodeError::invalid("an entry cannot be dated in the future"));
            }
            other => other,
        };
        let current = current_key(file)?;
        let key_id = current.id;
        let key = session
            .opened
            .open_epoch(file, &patient, &key_id, &self.holders(session))
            .ok_or_else(|| {
                NodeError::NoKey(
                    "the current key is not wrapped for this user or this clinic".into(),
                )
            })?;
        let summary = if matches!(
            kind,
            EntryKind::Condition | EntryKind::Allergy | EntryKind::Medication
        ) {
            let opened = self.open_entries(session, patient, file)?.opened;
            // A damaged change from elsewhere must not block charting: it is skipped here and
            // reported when the chart is shown.
            let (mut summary, _) = Summary::load_changes_lossy(
                opened.iter().filter_map(|o| o.summary_change.as_deref()),
            );
            if let EntryData::Medication(med) = &mut data {
                let amended_drug = amends.and_then(|a| {
                    opened.iter().find_map(|o| match &o.record.data {
                        EntryData::Medication(m) if o.record.entry_id == a.to_string() => {
                            Some(m.drug.to_lowercase())
                        }
                        _ => None,
                    })
                });
                // Stopping or changing the dose of a drug already given is not a new exposure.
                if amended_drug.as_deref() != Some(med.drug.to_lowercase().as_str()) {
                    let warnings = carelog_chart::allergy_warnings(med, &summary.view().allergies);
                    match (warnings.is_empty(), options.allergy_override) {
                        (true, _) => {}
                        (false, Some(reason)) if !reason.trim().is_empty() => {
                            med.allergy_override = Some(reason.trim().to_string());
                            data = EntryData::Medication(med.clone()).normalized()?;
                        }
                        (false, _) => {
                            let text: Vec<String> =
                                warnings.into_iter().map(|w| w.message).collect();
                            return Err(NodeError::AllergyWarning(text.join("; ")));
                        }
                    }
                }
            }
            // Each change gets its own Automerge actor: one user may edit at two clinics at once.
            match amends {
                Some(original) => {
                    let original = original.to_string();
                    let item = opened
                        .iter()
                        .find(|o| o.record.entry_id == original)
                        .and_then(|o| o.summary_item.clone())
                        .unwrap_or(original);
                    summary
                        .record_amend(home::random(), &item, &data)
                        .map(|c| (c, item))
                }
                None => {
                    let item = hex::encode(home::random::<16>());
                    summary
                        .record(home::random(), &item, &data)
                        .map(|c| (c, item))
                }
            }
        } else {
            None
        };
        let (summary_change, summary_item) = summary.unzip();
        Ok(self.entry_tx(
            session,
            patient,
            &data,
            summary_change,
            summary_item,
            &key,
            key_id,
            EntryLinks {
                amends,
                observed_ms,
                encounter,
            },
        ))
    }

    /// The chart as the session's user may see it, recorded on the ledger as a read.
    pub fn chart(
        &mut self,
        session: &Session,
        patient: ActorId,
        purpose: &str,
    ) -> Result<serde_json::Value> {
        let (_, view) = self.commit_fresh(|node| {
            let (view, audit) = node.chart_view(session, patient, purpose)?;
            Ok((vec![audit], view))
        })?;
        Ok(view)
    }

    /// The chart as the session's user may see it, and the signed read that must be committed
    /// before the view is shown.
    pub(crate) fn chart_view(
        &self,
        session: &Session,
        patient: ActorId,
        purpose: &str,
    ) -> Result<(serde_json::Value, crate::OwnTx)> {
        let state = self.ledger.state();
        let file = patient_file(state, &patient)?;
        let permit = authorize(state, session.user, &Action::Read, Some(patient), now_ms())?;
        let audit = self.sign(
            session,
            Payload::AuditRead {
                patient,
                level: permit.level,
                purpose: purpose.to_string(),
            },
        );
        if permit.level < AccessLevel::Full {
            // Below full, the reader holds no key to the entries: only the view published for
            // their level.
            let mut view = match self.open_view(session, patient, file, permit.level)? {
                Some(opened) => {
                    let mut view = opened.rendered;
                    if let Some(object) = view.as_object_mut() {
                        object.insert("view_time".into(), home::rfc3339(opened.time_ms).into());
                    }
                    view
                }
                None => serde_json::json!({
                    "entries": [],
                    "message": "No view of this chart has been published for this grant yet; it \
                                appears once the patient's clinic or family doctor is next online.",
                }),
            };
            let banner = self.banner(session.user, patient, file, permit, None, &[], &view);
            if let Some(object) = view.as_object_mut() {
                object.insert("level".into(), serde_json::json!(permit.level));
                object.insert("patient_id".into(), patient.to_string().into());
                object.insert("banner".into(), serde_json::json!(banner));
            }
            return Ok((view, audit));
        }
        let OpenedChart {
            opened,
            sealed_away,
            quarantined,
        } = self.open_entries(session, patient, file)?;
        let (summary, skipped) =
            Summary::load_changes_lossy(opened.iter().filter_map(|o| o.summary_change.as_deref()));
        // Summary item → the latest entry that wrote it, so a conflict can be resolved by
        // amending that entry.
        let mut writers = std::collections::BTreeMap::new();
        for o in &opened {
            if let Some(item) = &o.summary_item {
                writers.insert(item.clone(), o.record.entry_id.clone());
            }
            if let EntryData::Medication(m) = &o.record.data {
                writers.insert(m.summary_key(), o.record.entry_id.clone());
            }
        }
        let records: Vec<ChartRecord> = opened.into_iter().map(|o| o.record).collect();
        let summary_view = summary.view();
        let mut view = carelog_chart::render(permit.level, &records, Some(&summary_view));
        let today = home::rfc3339(now_ms()).chars().take(10).collect::<String>();
        let lists = carelog_chart::ClinicalLists::new(&records, &summary_view, &today);
        let banner = self.banner(
            session.user,
            patient,
            file,
            permit,
            Some(&records),
            &summary_view.allergies,
            &view,
        );
        if let Some(object) = view.as_object_mut() {
            object.insert("patient_id".into(), patient.to_string().into());
            object.insert("banner".into(), serde_json::json!(banner));
            if let Ok(serde_json::Value::Object(lists)) = serde_json::to_value(&lists) {
                object.extend(lists);
            }
            if let Some(conflicts) = object
                .get_mut("conflicts")
                .and_then(serde_json::Value::as_array_mut)
            {
                for conflict in conflicts {
                    let writer = conflict["item"]
                        .as_str()
                        .and_then(|i| writers.get(i))
                        .cloned();
                    if let (Some(c), Some(entry)) = (conflict.as_object_mut(), writer) {
                        c.insert("entry_id".into(), entry.into());
                    }
                }
            }
            if sealed_away > 0 {
                object.insert("sealed_entries".into(), sealed_away.into());
            }
            if !skipped.is_empty() {
                object.insert("summary_changes_skipped".into(), skipped.len().into());
            }
            object.insert(
                "quarantined".into(),
                serde_json::to_value(&quarantined).unwrap_or_default(),
            );
        }
        Ok((view, audit))
    }

    /// The banner of a chart the reader holds at `permit`: from the records at full level, from
    /// the rendered view's initials at sample level.
    #[allow(clippy::too_many_arguments)]
    fn banner(
        &self,
        reader: ActorId,
        patient: ActorId,
        file: &PatientFile,
        permit: carelog_ledger::Permit,
        records: Option<&[ChartRecord]>,
        allergies: &[carelog_chart::AllergyItem],
        view: &serde_json::Value,
    ) -> Banner {
        let identity = records.and_then(current_identity);
        let today = time::OffsetDateTime::from_unix_timestamp(now_ms() / 1000)
            .map(|t| t.date())
            .ok();
        let sampled = &view["demographics"];
        let until = (permit.basis == carelog_ledger::Basis::Grant)
            .then(|| file.grants.get(&reader).and_then(|g| g.expires_ms))
            .flatten()
            .map(home::rfc3339);
        Banner {
            name: identity
                .as_ref()
                .map(|d| d.name.clone())
                .or_else(|| sampled["initials"].as_str().map(str::to_string)),
            birth_date: identity
                .as_ref()
                .map(|d| carelog_chart::date_string(d.birth_date)),
            age: identity.as_ref().zip(today).map(|(d, t)| d.age_on(t)),
            sex: identity
                .as_ref()
                .map(|d| d.sex.clone())
                .or_else(|| sampled["sex"].as_str().map(str::to_string)),
            card_number: crate::card::card_number(&patient),
            allergies: allergies.iter().map(|a| a.substance.clone()).collect(),
            basis: match permit.basis {
                carelog_ledger::Basis::BreakGlass => "break-glass".to_string(),
                other => format!("{other:?}").to_lowercase(),
            },
            level: permit.level,
            until,
        }
    }

    /// Patients the session's user may open, with level.
    pub fn patients(&self, session: &Session) -> Result<Vec<PatientListing>> {
        let now = now_ms();
        // In id order, so the list reads the same on every call.
        let mut ids: Vec<ActorId> = self.ledger.state().patients.keys().copied().collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .filter_map(|id| self.listing(session, id, now))
            .collect())
    }

    /// One patient as [`Node::patients`] lists them, if the session's user may open the record.
    pub fn patient_listing(&self, session: &Session, patient: ActorId) -> Option<PatientListing> {
        self.listing(session, patient, now_ms())
    }

    fn listing(&self, session: &Session, patient: ActorId, now: i64) -> Option<PatientListing> {
        let state = self.ledger.state();
        let file = state.patient(&patient)?;
        let permit = authorize(state, session.user, &Action::Read, Some(patient), now).ok()?;
        Some(PatientListing {
            patient_id: patient.to_string(),
            level: permit.level,
            name: self.patient_name(session, patient, file, permit.level),
            basis: format!("{:?}", permit.basis).to_lowercase(),
        })
    }

    /// The patient's name as the level allows, if the demographics entry opens here.
    fn patient_name(
        &self,
        session: &Session,
        patient: ActorId,
        file: &PatientFile,
        level: AccessLevel,
    ) -> Option<String> {
        if level < AccessLevel::Sample {
            return None;
        }
        if level < AccessLevel::Full {
            let view = self.open_view(session, patient, file, level).ok()??;
            return view.records.iter().rev().find_map(|r| match &r.data {
                EntryData::Demographics(d) => Some(d.initials()),
                _ => None,
            });
        }
        let entry = file
            .entries()
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::Demographics)?;
        let key_id = file.entry_key(entry)?.id;
        let key = session
            .opened
            .open_epoch(file, &patient, &key_id, &self.holders(session))?;
        let opened = self
            .open_entry(&session.read, patient, entry, &key_id, &key)
            .ok()?;
        let EntryData::Demographics(d) = opened.record.data else {
            return None;
        };
        Some(if level == AccessLevel::Full {
            d.name
        } else {
            d.name
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .map(|c| format!("{c}."))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}
