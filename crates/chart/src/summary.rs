//! The patient summary (problem list, allergies, medications) as an Automerge document.
//!
//! Every replica starts from the same fixed base change, so the three section maps are one object
//! everywhere; each `record` is one Automerge change whose bytes travel inside a ledger ChartEntry.
//! Items are maps of scalar fields: two clinics editing different fields merge cleanly, and two
//! clinics setting the same field to different values stay visible as a [`Conflict`].

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutomergeError, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};

use crate::record::date_string;
use crate::{ChartError, EntryData};

/// The actor of the shared base change; reserved, never pass it to `record`.
pub const BASE_ACTOR: [u8; 16] = [0; 16];

const PROBLEMS: &str = "problems";
const ALLERGIES: &str = "allergies";
const MEDICATIONS: &str = "medications";
/// Entry id → "section:item" it was recorded into, so amendments find their item.
const SOURCES: &str = "sources";
const SECTIONS: [&str; 3] = [PROBLEMS, ALLERGIES, MEDICATIONS];

/// Field name → value an entry puts into its summary item.
type Fields = BTreeMap<&'static str, ScalarValue>;

/// A patient's summary document; wraps an `automerge::AutoCommit`.
#[derive(Clone, Debug)]
pub struct Summary {
    doc: AutoCommit,
}

/// A diagnosis on the problem list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemItem {
    /// The summary item id (the id the condition was recorded under).
    pub item: String,
    /// ICD-10 code.
    pub icd10: String,
    /// The diagnosis in words.
    pub name: String,
    /// `active` or `resolved`.
    pub status: String,
    /// Onset date, `YYYY-MM-DD`, if known.
    pub onset: Option<String>,
    /// Resolution date, `YYYY-MM-DD`, once resolved.
    pub resolved: Option<String>,
}

impl ProblemItem {
    /// Whether the problem is still present.
    pub fn is_active(&self) -> bool {
        self.status != "resolved"
    }
}

/// An allergy on the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllergyItem {
    /// The summary item id (the id the allergy was recorded under).
    pub item: String,
    /// What the patient reacts to.
    pub substance: String,
    /// How, if known.
    pub reaction: Option<String>,
    /// `mild`, `moderate` or `severe`, if known.
    pub severity: Option<String>,
    /// A code for the substance, if known.
    pub code: Option<String>,
}

/// A drug exposure on the summary, identified by drug and start date.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicationItem {
    /// The summary item id: lower-case drug, `|`, start date.
    pub item: String,
    /// Drug, strength and form.
    pub drug: String,
    /// Dose per administration.
    pub dose: Option<String>,
    /// Route.
    pub route: Option<String>,
    /// Frequency or sig.
    pub frequency: Option<String>,
    /// RxNorm concept id or ATC code, if known.
    pub code: Option<String>,
    /// Start date, `YYYY-MM-DD`.
    pub start: String,
    /// End date, `YYYY-MM-DD`, once known.
    pub end: Option<String>,
    /// Days the supply lasts.
    pub days_supply: Option<u32>,
    /// Why it was stopped.
    pub stop_reason: Option<String>,
}

impl MedicationItem {
    /// Whether the patient is still taking it on `today` (`YYYY-MM-DD`): not stopped, not ended before.
    pub fn is_current(&self, today: &str) -> bool {
        self.stop_reason.is_none() && self.end.as_deref().is_none_or(|end| end >= today)
    }
}

/// A field two replicas set concurrently to different values; every value is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// `problems`, `allergies` or `medications`.
    pub section: String,
    /// The item id within the section.
    pub item: String,
    /// The item in words, e.g. "Metformin 500 mg from 2026-01-10".
    pub label: String,
    /// The field in conflict, e.g. `end`.
    pub field: String,
    /// Every value set, sorted; the summary shows one of them until a clinician amends it.
    pub values: Vec<serde_json::Value>,
}

/// What the summary says now, ready to show or serialize.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryView {
    /// The problem list.
    pub problems: Vec<ProblemItem>,
    /// Known allergies.
    pub allergies: Vec<AllergyItem>,
    /// Drug exposures, current and stopped (see [`MedicationItem::is_current`]).
    pub medications: Vec<MedicationItem>,
    /// Fields set concurrently to different values.
    pub conflicts: Vec<Conflict>,
}

impl SummaryView {
    /// The medications still taken on `today` (`YYYY-MM-DD`).
    pub fn current_medications(&self, today: &str) -> Vec<&MedicationItem> {
        self.medications
            .iter()
            .filter(|m| m.is_current(today))
            .collect()
    }
}

impl Default for Summary {
    fn default() -> Summary {
        Summary::new()
    }
}

/// Wraps an Automerge error as a summary error.
fn am(err: AutomergeError) -> ChartError {
    ChartError::Summary(err.to_string())
}

/// Decodes one change blob; damaged bytes are an error, never a panic.
fn decode_change(bytes: &[u8]) -> Result<Change, ChartError> {
    let unreadable =
        |why: String| ChartError::Summary(format!("a summary change is unreadable: {why}"));
    match panic::catch_unwind(|| Change::from_bytes(bytes.to_vec())) {
        Ok(Ok(change)) => Ok(change),
        Ok(Err(e)) => Err(unreadable(e.to_string())),
        Err(_) => Err(unreadable("damaged bytes".into())),
    }
}

/// Every scalar value at `prop` (more than one when concurrent writes conflict).
fn scalars(doc: &AutoCommit, obj: &ObjId, prop: &str) -> Vec<ScalarValue> {
    doc.get_all(obj, prop)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, _)| match value {
            Value::Scalar(s) => Some(s.into_owned()),
            Value::Object(_) => None,
        })
        .collect()
}

/// Every map object at `prop` (more than one when two replicas created it concurrently).
fn maps(doc: &AutoCommit, obj: &ObjId, prop: &str) -> Vec<ObjId> {
    doc.get_all(obj, prop)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, id)| matches!(value, Value::Object(ObjType::Map)).then_some(id))
        .collect()
}

/// A scalar as text: strings as they are, anything else in its JSON form.
fn text(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(s) => s.to_string(),
        other => scalar_json(other).to_string(),
    }
}

/// A scalar as a JSON value, for conflicts and views.
fn scalar_json(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        ScalarValue::Str(s) => J::from(s.as_str()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => J::from(*i),
        ScalarValue::Uint(u) => J::from(*u),
        ScalarValue::F64(f) => J::from(*f),
        ScalarValue::Counter(c) => J::from(i64::from(c)),
        ScalarValue::Boolean(b) => J::from(*b),
        ScalarValue::Null => J::Null,
        other @ (ScalarValue::Bytes(_) | ScalarValue::Unknown { .. }) => J::from(other.to_string()),
    }
}

/// The summary section, item key and fields an entry writes; `None` for kinds the summary ignores.
fn fields_of(entry_id: &str, data: &EntryData) -> Option<(&'static str, String, Fields)> {
    let s = |t: &str| ScalarValue::Str(t.into());
    let mut f = Fields::new();
    match data {
        EntryData::Condition(c) => {
            f.insert("icd10", s(&c.icd10));
            f.insert("name", s(&c.name));
            f.insert("status", s(c.status().as_str()));
            if let Some(onset) = c.onset {
                f.insert("onset", s(&date_string(onset)));
            }
            if let Some(resolved) = c.resolved {
                f.insert("resolved", s(&date_string(resolved)));
            }
            Some((PROBLEMS, entry_id.to_string(), f))
        }
        EntryData::Allergy(a) => {
            f.insert("substance", s(&a.substance));
            if let Some(r) = &a.reaction {
                f.insert("reaction", s(r));
            }
            if let Some(severity) = a.severity {
                f.insert("severity", s(severity.as_str()));
            }
            if let Some(code) = &a.code {
                f.insert("code", s(code));
            }
            Some((ALLERGIES, entry_id.to_string(), f))
        }
        EntryData::Medication(m) => {
            f.insert("drug", s(&m.drug));
            f.insert("start", s(&date_string(m.start)));
            for (field, value) in [
                ("dose", &m.dose),
                ("route", &m.route),
                ("frequency", &m.frequency),
                ("code", &m.rxnorm.clone().or_else(|| m.atc.clone())),
            ] {
                if let Some(v) = value {
                    f.insert(field, s(v));
                }
            }
            if let Some(end) = m.end {
                f.insert("end", s(&date_string(end)));
            }
            if let Some(days) = m.days_supply {
                f.insert("days_supply", ScalarValue::Uint(u64::from(days)));
            }
            if let Some(reason) = &m.stop_reason {
                f.insert("stop_reason", s(reason));
            }
            Some((MEDICATIONS, m.summary_key(), f))
        }
        _ => None,
    }
}

impl Summary {
    /// An empty summary: just the shared base change, identical on every replica.
    pub fn new() -> Summary {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(BASE_ACTOR));
        for name in [PROBLEMS, ALLERGIES, MEDICATIONS, SOURCES] {
            let made = doc.put_object(ROOT, name, ObjType::Map);
            debug_assert!(made.is_ok(), "a fresh document takes any root key");
        }
        doc.commit_with(CommitOptions::default().with_time(0));
        Summary { doc }
    }

    /// A summary from change blobs (as `record` returned them) in any order; changes whose
    /// dependencies have not arrived yet wait inside the document until they do.
    pub fn load_changes<'a>(
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Summary, ChartError> {
        let mut summary = Summary::new();
        summary.apply_changes(changes)?;
        Ok(summary)
    }

    /// Like `load_changes`, but skips changes that are unreadable or clash, returning why each was skipped.
    pub fn load_changes_lossy<'a>(
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Summary, Vec<ChartError>) {
        let mut summary = Summary::new();
        let mut skipped = Vec::new();
        for bytes in changes {
            if let Err(e) = summary.apply_changes([bytes]) {
                skipped.push(e);
            }
        }
        (summary, skipped)
    }

    /// Applies more change blobs (duplicates are ignored); on any error the summary is unchanged.
    pub fn apply_changes<'a>(
        &mut self,
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), ChartError> {
        let decoded = changes
            .into_iter()
            .map(decode_change)
            .collect::<Result<Vec<Change>, ChartError>>()?;
        // Automerge 0.12 can panic on some damaged changes; they come from other clinics, so the
        // work happens on a copy and a panic becomes a refusal instead of taking the node down.
        let mut trial = self.doc.clone();
        let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
            trial.apply_changes(decoded).map(|()| trial)
        }));
        match outcome {
            Ok(Ok(doc)) => {
                self.doc = doc;
                Ok(())
            }
            Ok(Err(e)) => Err(am(e)),
            Err(_) => Err(ChartError::Summary(
                "a summary change is damaged and was refused".into(),
            )),
        }
    }

    /// Hashes of changes other changes depend on but which have not arrived yet (hex).
    pub fn missing_changes(&mut self) -> Vec<String> {
        self.doc
            .get_missing_deps(&[])
            .iter()
            .map(|h| h.to_string())
            .collect()
    }

    /// The document's current heads (hex); equal heads mean equal summaries.
    pub fn heads(&mut self) -> Vec<String> {
        self.doc.get_heads().iter().map(|h| h.to_string()).collect()
    }

    /// Records a condition, allergy or medication entry; returns the change bytes, or `None`
    /// for kinds the summary does not hold. `actor` must be unique to this writer.
    pub fn record(&mut self, actor: [u8; 16], entry_id: &str, data: &EntryData) -> Option<Vec<u8>> {
        let (section, key, fields) = fields_of(entry_id, data)?;
        self.doc.set_actor(ActorId::from(actor));
        let written = self
            .write_item(section, &key, &fields, false)
            .and_then(|()| self.set_source(entry_id, section, &key));
        self.finish(written)
    }

    /// Records an amendment: the summary item of `original_entry_id` is replaced by `data`
    /// (fields `data` leaves out are removed; a medication whose drug or start changed moves).
    pub fn record_amend(
        &mut self,
        actor: [u8; 16],
        original_entry_id: &str,
        data: &EntryData,
    ) -> Option<Vec<u8>> {
        let (section, key, fields) = fields_of(original_entry_id, data)?;
        self.doc.set_actor(ActorId::from(actor));
        let written = (|| {
            if let Some((old_section, old_key)) = self.source(original_entry_id)
                && (old_section != section || old_key != key)
                && let Some(old) = self.section_for_write(&old_section)?
            {
                self.doc.delete(&old, old_key.as_str())?;
            }
            self.write_item(section, &key, &fields, true)?;
            self.set_source(original_entry_id, section, &key)
        })();
        self.finish(written)
    }

    /// Commits the pending operations and returns the change bytes; rolls back on error.
    fn finish(&mut self, written: Result<(), AutomergeError>) -> Option<Vec<u8>> {
        if written.is_err() {
            self.doc.rollback();
            return None;
        }
        let hash = self
            .doc
            .commit_with(CommitOptions::default().with_time(0))?;
        self.doc
            .get_change_by_hash(&hash)
            .map(|mut c| c.bytes().into_owned())
    }

    /// Where an entry was recorded: (section, item key).
    fn source(&self, entry_id: &str) -> Option<(String, String)> {
        let sources = self.doc.get(ROOT, SOURCES).ok().flatten()?.1;
        let value = scalars(&self.doc, &sources, entry_id).pop()?;
        let (section, key) = text(&value)
            .split_once(':')
            .map(|(s, k)| (s.to_string(), k.to_string()))?;
        Some((section, key))
    }

    fn set_source(
        &mut self,
        entry_id: &str,
        section: &str,
        key: &str,
    ) -> Result<(), AutomergeError> {
        let Some(sources) = self.section_for_write(SOURCES)? else {
            return Ok(());
        };
        let location = format!("{section}:{key}");
        if self
            .source(entry_id)
            .is_none_or(|(s, k)| s != section || k != key)
        {
            self.doc.put(&sources, entry_id, location)?;
        }
        Ok(())
    }

    /// The section map writes go to (the winning one, should there ever be several); recreated if gone.
    fn section_for_write(&mut self, section: &str) -> Result<Option<ObjId>, AutomergeError> {
        match self.doc.get(ROOT, section)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(Some(id)),
            Some(_) | None if SECTIONS.contains(&section) || section == SOURCES => {
                self.doc.put_object(ROOT, section, ObjType::Map).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Writes `fields` into every copy of an item, creating it if absent. With `replace`, fields
    /// not given are removed; without, they are left alone (so their conflicts stay visible).
    fn write_item(
        &mut self,
        section: &str,
        key: &str,
        fields: &Fields,
        replace: bool,
    ) -> Result<(), AutomergeError> {
        let Some(section_obj) = self.section_for_write(section)? else {
            return Ok(());
        };
        let mut items = maps(&self.doc, &section_obj, key);
        if items.is_empty() {
            items.push(self.doc.put_object(&section_obj, key, ObjType::Map)?);
        }
        for item in &items {
            for (&field, value) in fields {
                if scalars(&self.doc, item, field) != [value.clone()] {
                    self.doc.put(item, field, value.clone())?;
                }
            }
            if replace {
                let stale: Vec<String> = self
                    .doc
                    .keys(item)
                    .filter(|k| !fields.contains_key(k.as_str()))
                    .collect();
                for field in stale {
                    self.doc.delete(item, field.as_str())?;
                }
            }
        }
        Ok(())
    }

    /// What the summary says now, with every concurrent conflict listed.
    pub fn view(&self) -> SummaryView {
        let mut view = SummaryView::default();
        for section in SECTIONS {
            let section_objs = maps(&self.doc, &ROOT, section);
            let keys: BTreeSet<String> =
                section_objs.iter().flat_map(|s| self.doc.keys(s)).collect();
            for key in keys {
                let items: Vec<ObjId> = section_objs
                    .iter()
                    .flat_map(|s| maps(&self.doc, s, &key))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                let fields = self.read_item(&items);
                let shown = |f: &str| fields.get(f).map(|(v, _)| text(v));
                let label = match section {
                    PROBLEMS => {
                        let p = ProblemItem {
                            item: key.clone(),
                            icd10: shown("icd10").unwrap_or_default(),
                            name: shown("name").unwrap_or_default(),
                            status: shown("status").unwrap_or_else(|| "active".into()),
                            onset: shown("onset"),
                            resolved: shown("resolved"),
                        };
                        let label = format!("{} ({})", p.name, p.icd10);
                        view.problems.push(p);
                        label
                    }
                    ALLERGIES => {
                        let a = AllergyItem {
                            item: key.clone(),
                            substance: shown("substance").unwrap_or_default(),
                            reaction: shown("reaction"),
                            severity: shown("severity"),
                            code: shown("code"),
                        };
                        let label = a.substance.clone();
                        view.allergies.push(a);
                        label
                    }
                    _ => {
                        let days_supply = fields.get("days_supply").and_then(|(v, _)| match v {
                            ScalarValue::Uint(u) => u32::try_from(*u).ok(),
                            ScalarValue::Int(i) => u32::try_from(*i).ok(),
                            _ => None,
                        });
                        let m = MedicationItem {
                            item: key.clone(),
                            drug: shown("drug").unwrap_or_default(),
                            dose: shown("dose"),
                            route: shown("route"),
                            frequency: shown("frequency"),
                            code: shown("code"),
                            start: shown("start").unwrap_or_default(),
                            end: shown("end"),
                            days_supply,
                            stop_reason: shown("stop_reason"),
                        };
                        let label = format!("{} from {}", m.drug, m.start);
                        view.medications.push(m);
                        label
                    }
                };
                for (field, (_, all)) in &fields {
                    if all.len() > 1 {
                        view.conflicts.push(Conflict {
                            section: section.to_string(),
                            item: key.clone(),
                            label: label.clone(),
                            field: field.clone(),
                            values: all.clone(),
                        });
                    }
                }
            }
        }
        view.problems
            .sort_by(|a, b| (&a.name, &a.item).cmp(&(&b.name, &b.item)));
        view.allergies
            .sort_by(|a, b| (&a.substance, &a.item).cmp(&(&b.substance, &b.item)));
        view.medications
            .sort_by(|a, b| (&a.start, &a.drug, &a.item).cmp(&(&b.start, &b.drug, &b.item)));
        view
    }

    /// Field → (the value shown, every distinct value sorted) across all copies of an item.
    fn read_item(
        &self,
        items: &[ObjId],
    ) -> BTreeMap<String, (ScalarValue, Vec<serde_json::Value>)> {
        let mut out: BTreeMap<String, (ScalarValue, Vec<serde_json::Value>)> = BTreeMap::new();
        for item in items {
            for field in self.doc.keys(item) {
                let values = scalars(&self.doc, item, &field);
                // Automerge's own pick within one copy; the last copy wins across copies (op order).
                let Ok(Some((Value::Scalar(winner), _))) = self.doc.get(item, field.as_str())
                else {
                    continue;
                };
                let entry = out
                    .entry(field)
                    .or_insert_with(|| (winner.clone().into_owned(), Vec::new()));
                entry.0 = winner.into_owned();
                for v in values {
                    let json = scalar_json(&v);
                    if !entry.1.contains(&json) {
                        entry.1.push(json);
                    }
                }
            }
        }
        for (_, all) in out.values_mut() {
            all.sort_by_key(|v| v.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests;
