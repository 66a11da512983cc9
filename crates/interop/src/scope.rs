//! What a reader's access level lets leave the chart: the one place where exports apply levels.
//!
//! The rules are those of `carelog_chart::render`, so an export never shows more than the reader's
//! view: amended entries are replaced by their latest amendment (dated at the original's time);
//! full level sends every current entry, with authors; sample level sends the latest value per
//! LOINC code, truncated notes, diagnoses, allergies and drugs by name only, and initials as the only
//! identity; information level (statistics) and no access send nothing.

use std::collections::{BTreeMap, BTreeSet};

use carelog_chart::{
    AccessLevel, ChartRecord, Demographics, EntryData, LabResult, Medication, Note,
    SAMPLE_TEXT_CHARS, Vitals,
};

use crate::{InteropError, PatientExport};

/// Who the patient is, as far as the level allows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Identity {
    /// Name, birth date and sex (full level, when known).
    Full(Demographics),
    /// Initials only, e.g. "P. E." (sample level, when known).
    Initials(String),
    /// Nothing known beyond the patient id.
    Unknown,
}

/// What one exported entry carries, reduced to what the level allows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Content {
    /// Vital signs (at sample level only the latest per code).
    Vitals(Vitals),
    /// A laboratory result.
    Lab(LabResult),
    /// A note (truncated at sample level).
    Note(Note),
    /// A diagnosis with its ICD-10 code (full level).
    Condition(carelog_chart::Condition),
    /// A diagnosis by name only (sample level).
    ConditionName(String),
    /// An allergy with its reaction (full level).
    Allergy(carelog_chart::Allergy),
    /// An allergy by substance only (sample level).
    AllergySubstance(String),
    /// A drug exposure with dates, supply and stop reason (full level).
    Medication(Medication),
    /// A drug by name only (sample level).
    MedicationName(String),
    /// A visit (full level).
    Encounter(carelog_chart::Encounter),
    /// A laboratory order (full level).
    Order(carelog_chart::Order),
    /// A vaccine given (full level).
    Immunization(carelog_chart::Immunization),
}

/// One exported entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item<'a> {
    /// The chart entry id (of the latest amendment, when amended).
    pub entry_id: &'a str,
    /// Who wrote it (full level only).
    pub author: Option<&'a str>,
    /// When it was taken: the original entry's time for an amendment.
    pub time_ms: i64,
    /// Whether it corrects an earlier entry.
    pub corrected: bool,
    /// What it says.
    pub content: Content,
}

/// Everything an export may carry, in clinical time order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scope<'a> {
    /// The patient's identity as the level allows.
    pub identity: Identity,
    /// The exported entries, ordered by (time, entry id).
    pub items: Vec<Item<'a>>,
}

/// At most `SAMPLE_TEXT_CHARS` characters, with "…" when cut (as the chart's sample view).
fn truncate(text: &str) -> String {
    if text.chars().count() <= SAMPLE_TEXT_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(SAMPLE_TEXT_CHARS).collect();
    format!("{}…", head.trim_end())
}

/// Current records (not replaced by an amendment), each with its clinical time and whether it amends.
fn current(records: &[ChartRecord]) -> Vec<(&ChartRecord, i64, bool)> {
    let mut ordered: Vec<&ChartRecord> = records.iter().collect();
    ordered.sort_by(|a, b| (a.time_ms, &a.entry_id).cmp(&(b.time_ms, &b.entry_id)));
    let by_id: BTreeMap<&str, &ChartRecord> =
        ordered.iter().map(|r| (r.entry_id.as_str(), *r)).collect();
    let amended: BTreeSet<&str> = ordered
        .iter()
        .filter_map(|r| r.amends.as_deref().filter(|o| *o != r.entry_id))
        .filter(|original| by_id.contains_key(original))
        .collect();
    ordered
        .iter()
        .filter(|r| !amended.contains(r.entry_id.as_str()))
        .map(|r| {
            // Walk back to the chain's first entry; the step limit guards against cycles.
            let mut root = *r;
            for _ in 0..ordered.len() {
                match root.amends.as_deref().and_then(|id| by_id.get(id)) {
                    Some(prev) if prev.entry_id != root.entry_id => root = prev,
                    _ => break,
                }
            }
            (*r, root.time_ms, root.entry_id != r.entry_id)
        })
        .collect()
}

/// The identity the level allows, from the export's demographics or the latest demographics entry.
fn identity(export: &PatientExport<'_>, current: &[(&ChartRecord, i64, bool)]) -> Identity {
    let recorded = current.iter().rev().find_map(|(r, _, _)| match &r.data {
        EntryData::Demographics(d) => Some(d),
        _ => None,
    });
    match (export.demographics.or(recorded), export.level) {
        (Some(d), AccessLevel::Full) => Identity::Full(d.clone()),
        (Some(d), AccessLevel::Sample) => Identity::Initials(d.initials()),
        _ => Identity::Unknown,
    }
}

/// What `export.level` lets leave the chart, or why nothing may.
pub(crate) fn scope<'a>(export: &PatientExport<'a>) -> Result<Scope<'a>, InteropError> {
    let shown = match export.level {
        AccessLevel::None => Some("nothing of this chart"),
        AccessLevel::Information => Some("statistics only (counts, ranges, trends)"),
        AccessLevel::Sample | AccessLevel::Full => None,
    };
    if let Some(shown) = shown {
        return Err(InteropError::LevelTooLow {
            level: export.level,
            shown,
        });
    }
    if export.patient_id.trim().is_empty() {
        return Err(InteropError::export(
            "patient_id",
            "is empty; give the patient's Carelog id",
        ));
    }
    for r in export.records {
        r.data.validate().map_err(|source| InteropError::Record {
            entry_id: r.entry_id.clone(),
            source,
        })?;
    }
    let current = current(export.records);
    let full = export.level == AccessLevel::Full;

    // LOINC code → (clinical time, entry id) of the record holding its latest value.
    let mut latest: BTreeMap<String, (i64, &str)> = BTreeMap::new();
    for (r, t, _) in &current {
        for obs in r.data.observations() {
            let holder = latest.entry(obs.loinc).or_insert((*t, &r.entry_id));
            if (*t, r.entry_id.as_str()) > *holder {
                *holder = (*t, &r.entry_id);
            }
        }
    }
    let shows = |loinc: &str, id: &str| full || latest.get(loinc).is_some_and(|(_, h)| *h == id);

    let mut items = Vec::new();
    for (r, t, corrected) in &current {
        let id = r.entry_id.as_str();
        let content = match &r.data {
            EntryData::Vitals(v) => {
                let kept = v.only(|code| shows(code, id));
                if kept.observations().is_empty() {
                    continue;
                }
                Content::Vitals(kept)
            }
            EntryData::Lab(l) if shows(&l.loinc, id) => Content::Lab(l.clone()),
            EntryData::Encounter(e) if full => Content::Encounter(e.clone()),
            EntryData::Order(o) if full => Content::Order(o.clone()),
            EntryData::Immunization(i) if full => Content::Immunization(i.clone()),
            // Visits, orders and vaccines are part of the clinical record, not of a sample.
            EntryData::Lab(_)
            | EntryData::Demographics(_)
            | EntryData::Encounter(_)
            | EntryData::Order(_)
            | EntryData::Immunization(_) => continue,
            EntryData::Note(n) if full => Content::Note(n.clone()),
            EntryData::Note(n) => Content::Note(Note {
                title: truncate(&n.title),
                text: truncate(&n.text),
            }),
            EntryData::Condition(c) if full => Content::Condition(c.clone()),
            EntryData::Condition(c) => Content::ConditionName(c.name.clone()),
            EntryData::Allergy(a) if full => Content::Allergy(a.clone()),
            EntryData::Allergy(a) => Content::AllergySubstance(a.substance.clone()),
            EntryData::Medication(m) if full => Content::Medication(m.clone()),
            EntryData::Medication(m) => Content::MedicationName(m.drug.clone()),
        };
        items.push(Item {
            entry_id: id,
            author: full.then_some(r.author.as_str()),
            time_ms: *t,
            corrected: *corrected,
            content,
        });
    }
    items.sort_by(|a, b| (a.time_ms, a.entry_id).cmp(&(b.time_ms, b.entry_id)));
    Ok(Scope {
        identity: identity(export, &current),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use carelog_chart::{EntryKind, parse_date};

    fn record(id: &str, t: i64, json: &str, kind: EntryKind) -> ChartRecord {
        ChartRecord {
            entry_id: id.into(),
            kind,
            author: "Dr. Rivera".into(),
            time_ms: t,
            data: EntryData::parse(kind, json).unwrap(),
            amends: None,
            flagged: None,
            encounter: None,
        }
    }

    fn export<'a>(
        level: AccessLevel,
        records: &'a [ChartRecord],
        d: &'a Demographics,
    ) -> PatientExport<'a> {
        PatientExport {
            patient_id: "p1",
            demographics: Some(d),
            level,
            records,
            clinic_name: "North",
            message_id: "m1",
            now_ms: 10_000,
        }
    }

    fn paula() -> Demographics {
        Demographics {
            name: "Paula Ester".into(),
            birth_date: parse_date("1980-04-02").unwrap(),
            sex: "female".into(),
        }
    }

    #[test]
    fn sample_keeps_latest_values_and_initials() {
        let d = paula();
        let records = vec![
            record(
                "a",
                1,
                r#"{"systolic":120,"heart_rate":70}"#,
                EntryKind::Vitals,
            ),
            record("b", 2, r#"{"systolic":130}"#, EntryKind::Vitals),
            record(
                "c",
                3,
                r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
                EntryKind::Condition,
            ),
        ];
        let s = scope(&export(AccessLevel::Sample, &records, &d)).unwrap();
        assert_eq!(s.identity, Identity::Initials("P. E.".into()));
        assert_eq!(s.items.len(), 3);
        assert_eq!(
            s.items[0].content,
            Content::Vitals(Vitals {
                heart_rate: Some(70.0),
                ..Vitals::default()
            })
        );
        assert_eq!(
            s.items[2].content,
            Content::ConditionName("Type 2 diabetes".into())
        );
        assert_eq!(s.items[0].author, None);
        let full = scope(&export(AccessLevel::Full, &records, &d)).unwrap();
        assert_eq!(full.identity, Identity::Full(d.clone()));
        assert_eq!(full.items[0].author, Some("Dr. Rivera"));
    }

    #[test]
    fn amendments_replace_originals_at_the_original_time() {
        let d = paula();
        let mut fix = record("b", 50, r#"{"systolic":125}"#, EntryKind::Vitals);
        fix.amends = Some("a".into());
        let records = vec![
            record("a", 1, r#"{"systolic":152}"#, EntryKind::Vitals),
            fix,
        ];
        let s = scope(&export(AccessLevel::Full, &records, &d)).unwrap();
        assert_eq!(s.items.len(), 1);
        assert_eq!(
            (
                s.items[0].entry_id,
                s.items[0].time_ms,
                s.items[0].corrected
            ),
            ("b", 1, true)
        );
    }

    #[test]
    fn weak_levels_are_refused() {
        let d = paula();
        for level in [AccessLevel::None, AccessLevel::Information] {
            let err = scope(&export(level, &[], &d)).unwrap_err();
            assert!(matches!(err, InteropError::LevelTooLow { .. }), "{err}");
        }
        let mut e = export(AccessLevel::Full, &[], &d);
        e.patient_id = " ";
        assert!(
            scope(&e)
                .unwrap_err()
                .to_string()
                .starts_with("export patient_id")
        );
    }
}
