//! The lists a clinician reads a full chart by: current and past medications, the problem list
//! with status, conflicts, visits with what was written in them, and orders still waiting.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::view::{date_text, time_text};
use crate::{ChartRecord, Conflict, EntryData, MedicationItem, Priority, ProblemItem, SummaryView};

/// A visit and the entries written in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EncounterItem {
    /// The encounter entry's id.
    pub entry_id: String,
    /// The day of the visit, `YYYY-MM-DD`.
    pub date: String,
    /// Why the patient came.
    pub reason: String,
    /// Who wrote it.
    pub clinician: String,
    /// Entries that name this encounter, in time order.
    pub entries: Vec<String>,
}

/// An order no result has answered yet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutstandingOrder {
    /// The order entry's id.
    pub entry_id: String,
    /// LOINC code of the test.
    pub loinc: String,
    /// The test in words.
    pub name: String,
    /// Who ordered it.
    pub ordered_by: String,
    /// When (RFC 3339).
    pub time: String,
    /// How soon (routine when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// The orderer's note for the lab (fasting, clinical question).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The orders of a chart that no result answers yet, oldest first (an amended order counts
/// by its amendment).
pub fn outstanding_orders(records: &[ChartRecord]) -> Vec<OutstandingOrder> {
    ClinicalLists::new(records, &SummaryView::default(), "").outstanding_orders
}

/// What `chart show` lists beside the entries at full level.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClinicalLists {
    /// Medications still taken today.
    pub current_medications: Vec<MedicationItem>,
    /// Medications stopped or ended.
    pub past_medications: Vec<MedicationItem>,
    /// The problem list, active first.
    pub problems: Vec<ProblemItem>,
    /// Fields two replicas set concurrently to different values.
    pub conflicts: Vec<Conflict>,
    /// Visits, newest first.
    pub encounters: Vec<EncounterItem>,
    /// Orders waiting for a result.
    pub outstanding_orders: Vec<OutstandingOrder>,
}

impl ClinicalLists {
    /// The lists of a chart on `today` (`YYYY-MM-DD`).
    pub fn new(records: &[ChartRecord], summary: &SummaryView, today: &str) -> ClinicalLists {
        let (current, past): (Vec<_>, Vec<_>) = summary
            .medications
            .iter()
            .cloned()
            .partition(|m| m.is_current(today));
        let mut problems = summary.problems.clone();
        problems.sort_by_key(|p| !p.is_active());

        let mut ordered: Vec<&ChartRecord> = records.iter().collect();
        ordered.sort_by(|a, b| (a.time_ms, &a.entry_id).cmp(&(b.time_ms, &b.entry_id)));
        let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut answered: BTreeSet<&str> = BTreeSet::new();
        for r in &ordered {
            if let Some(e) = r.encounter.as_deref() {
                members.entry(e).or_default().push(r.entry_id.clone());
            }
            if let EntryData::Lab(lab) = &r.data
                && let Some(order) = lab.order.as_deref()
            {
                answered.insert(order);
            }
        }
        let amended: BTreeSet<&str> = ordered.iter().filter_map(|r| r.amends.as_deref()).collect();
        let mut encounters = Vec::new();
        let mut outstanding_orders = Vec::new();
        for r in &ordered {
            if amended.contains(r.entry_id.as_str()) {
                continue;
            }
            match &r.data {
                EntryData::Encounter(e) => encounters.push(EncounterItem {
                    entry_id: r.entry_id.clone(),
                    date: e
                        .date
                        .map(crate::date_string)
                        .unwrap_or_else(|| date_text(r.time_ms)),
                    reason: e.reason.clone(),
                    clinician: r.author.clone(),
                    entries: members.remove(r.entry_id.as_str()).unwrap_or_default(),
                }),
                EntryData::Order(o) if !answered.contains(r.entry_id.as_str()) => {
                    outstanding_orders.push(OutstandingOrder {
                        entry_id: r.entry_id.clone(),
                        loinc: o.loinc.clone(),
                        name: o.name.clone(),
                        ordered_by: r.author.clone(),
                        time: time_text(r.time_ms),
                        priority: o.priority,
                        note: o.note.clone(),
                    })
                }
                _ => {}
            }
        }
        encounters.sort_by(|a, b| (&b.date, &b.entry_id).cmp(&(&a.date, &a.entry_id)));
        ClinicalLists {
            current_medications: current,
            past_medications: past,
            problems,
            conflicts: summary.conflicts.clone(),
            encounters,
            outstanding_orders,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, Summary};

    fn record(id: &str, kind: EntryKind, json: &str, encounter: Option<&str>) -> ChartRecord {
        ChartRecord {
            entry_id: id.into(),
            kind,
            author: "Dr. Rivera".into(),
            time_ms: 1_767_225_600_000 + id.len() as i64,
            data: EntryData::parse(kind, json).unwrap(),
            amends: None,
            flagged: None,
            encounter: encounter.map(str::to_string),
        }
    }

    #[test]
    fn stopped_medications_are_past_and_resolved_problems_come_last() {
        let mut summary = Summary::new();
        for (i, (kind, json)) in [
            (EntryKind::Medication, r#"{"drug":"Metformin 500 mg","start":"2026-01-10"}"#),
            (
                EntryKind::Medication,
                r#"{"drug":"Amoxicillin 500 mg","start":"2026-02-01","stop":"2026-02-08","stop_reason":"course completed"}"#,
            ),
            (EntryKind::Condition, r#"{"icd10":"J02.9","name":"Pharyngitis","resolved":"2026-02-10"}"#),
            (EntryKind::Condition, r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#),
        ]
        .into_iter()
        .enumerate()
        {
            let data = EntryData::parse(kind, json).unwrap();
            summary.record([i as u8 + 1; 16], &format!("e{i}"), &data);
        }
        let lists = ClinicalLists::new(&[], &summary.view(), "2026-06-01");
        let drugs = |l: &[MedicationItem]| l.iter().map(|m| m.drug.clone()).collect::<Vec<_>>();
        assert_eq!(drugs(&lists.current_medications), ["Metformin 500 mg"]);
        assert_eq!(drugs(&lists.past_medications), ["Amoxicillin 500 mg"]);
        let problems: Vec<_> = lists
            .problems
            .iter()
            .map(|p| (p.name.as_str(), p.status.as_str()))
            .collect();
        assert_eq!(
            problems,
            [("Type 2 diabetes", "active"), ("Pharyngitis", "resolved")]
        );
    }

    #[test]
    fn encounters_gather_their_entries_and_results_answer_orders() {
        let enc = "e".repeat(64);
        let order = "a".repeat(64);
        let other_order = "b".repeat(64);
        let records = vec![
            record(&enc, EntryKind::Encounter, r#"{"reason":"check-up"}"#, None),
            record("v1", EntryKind::Vitals, r#"{"spo2":97}"#, Some(&enc)),
            record(
                &order,
                EntryKind::Order,
                r#"{"loinc":"2345-7","name":"Glucose"}"#,
                Some(&enc),
            ),
            record(
                &other_order,
                EntryKind::Order,
                r#"{"loinc":"4548-4","name":"HbA1c"}"#,
                None,
            ),
            record(
                "lab1",
                EntryKind::Lab,
                &format!(
                    r#"{{"loinc":"2345-7","name":"Glucose","value":5.4,"unit":"mmol/L","order":"{order}"}}"#
                ),
                None,
            ),
        ];
        let lists = ClinicalLists::new(&records, &SummaryView::default(), "2026-06-01");
        assert_eq!(lists.encounters.len(), 1);
        assert_eq!(
            lists.encounters[0].entries,
            ["v1".to_string(), order.clone()]
        );
        let waiting: Vec<_> = lists
            .outstanding_orders
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(waiting, ["HbA1c"]);
    }
}
