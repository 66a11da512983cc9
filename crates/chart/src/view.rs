//! Chart views per access level: full, sample (latest values, obfuscated), information (statistics).
//!
//! The node decides the level with the ledger's policy function; this module decides what each level
//! shows. Corrections are amendments: at sample and information level an amended entry is replaced by
//! its latest amendment, dated at the original's time (when the measurement was taken).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::record::date_string;
use crate::stats::observation_stats;
use crate::{AccessLevel, EntryData, EntryKind, SummaryView, VITAL_SIGNS, Vitals};

/// Characters of note title and text shown at sample level.
pub const SAMPLE_TEXT_CHARS: usize = 40;

/// One opened chart entry as the node hands it to `render`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartRecord {
    /// The entry's id (ledger transaction id).
    pub entry_id: String,
    /// The entry's kind.
    pub kind: EntryKind,
    /// Who wrote it, as a display name.
    pub author: String,
    /// When it was written, Unix milliseconds.
    pub time_ms: i64,
    /// The opened content.
    pub data: EntryData,
    /// The entry it corrects, if it is an amendment.
    pub amends: Option<String>,
    /// Why the ledger flagged it (e.g. written concurrently with a revocation), if it did.
    pub flagged: Option<String>,
    /// The encounter (visit) it was written in, if any.
    pub encounter: Option<String>,
}

/// A Unix-ms time as RFC 3339 UTC; the raw number if it is outside the calendar.
pub(crate) fn time_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A Unix-ms time as its UTC date `YYYY-MM-DD`; the raw number if it is outside the calendar.
pub(crate) fn date_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| date_string(t.date()))
        .unwrap_or_else(|_| ms.to_string())
}

/// At most `SAMPLE_TEXT_CHARS` characters, with "…" when cut.
fn truncate(text: &str) -> String {
    if text.chars().count() <= SAMPLE_TEXT_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(SAMPLE_TEXT_CHARS).collect();
    format!("{}…", head.trim_end())
}

/// Vital signs first, in their usual order; then everything else.
fn display_rank(loinc: &str) -> usize {
    VITAL_SIGNS
        .iter()
        .position(|s| s.loinc == loinc)
        .unwrap_or(VITAL_SIGNS.len())
}

/// The records in time order, with who amends whom.
struct Chart<'a> {
    /// Records ordered by (time, id).
    ordered: Vec<&'a ChartRecord>,
    /// Original id → ids of the records amending it, in time order.
    amended_by: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Chart<'a> {
    fn new(records: &'a [ChartRecord]) -> Chart<'a> {
        let mut ordered: Vec<&ChartRecord> = records.iter().collect();
        ordered.sort_by(|a, b| (a.time_ms, &a.entry_id).cmp(&(b.time_ms, &b.entry_id)));
        let ids: BTreeSet<&str> = ordered.iter().map(|r| r.entry_id.as_str()).collect();
        let mut amended_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &ordered {
            if let Some(original) = r.amends.as_deref()
                && ids.contains(original)
                && original != r.entry_id
            {
                amended_by.entry(original).or_default().push(&r.entry_id);
            }
        }
        Chart {
            ordered,
            amended_by,
        }
    }

    /// Records not replaced by an amendment, each with its clinical time (the original's time),
    /// in clinical time order.
    fn current(&self) -> Vec<(&'a ChartRecord, i64)> {
        let by_id: BTreeMap<&str, &ChartRecord> = self
            .ordered
            .iter()
            .map(|r| (r.entry_id.as_str(), *r))
            .collect();
        let mut current = self
            .ordered
            .iter()
            .filter(|r| !self.amended_by.contains_key(r.entry_id.as_str()))
            .map(|r| {
                // Walk back to the first entry of the chain; the step limit guards against cycles.
                let mut root = *r;
                for _ in 0..self.ordered.len() {
                    match root.amends.as_deref().and_then(|id| by_id.get(id)) {
                        Some(prev) if prev.entry_id != root.entry_id => root = prev,
                        _ => break,
                    }
                }
                (*r, root.time_ms)
            })
            .collect::<Vec<_>>();
        current.sort_by(|(a, t), (b, u)| (t, &a.entry_id).cmp(&(u, &b.entry_id)));
        current
    }
}

/// The chart as `level` may see it: a JSON object with `level` and `entries`, plus per-level parts.
pub fn render(level: AccessLevel, records: &[ChartRecord], summary: Option<&SummaryView>) -> Value {
    let chart = Chart::new(records);
    let mut out = Map::new();
    out.insert("level".into(), json!(level));
    match level {
        AccessLevel::None => {
            out.insert("entries".into(), json!([]));
        }
        AccessLevel::Information => information(&chart, summary, &mut out),
        AccessLevel::Sample => sample(&chart, summary, &mut out),
        AccessLevel::Full => full(&chart, summary, &mut out),
    }
    Value::Object(out)
}

/// Every record with author, amendments and flags, and the whole summary.
fn full(chart: &Chart<'_>, summary: Option<&SummaryView>, out: &mut Map<String, Value>) {
    let entries: Vec<Value> = chart
        .ordered
        .iter()
        .map(|r| {
            let mut e = Map::new();
            e.insert("entry_id".into(), json!(r.entry_id));
            e.insert("kind".into(), json!(r.kind));
            e.insert("author".into(), json!(r.author));
            e.insert("time".into(), json!(time_text(r.time_ms)));
            e.insert("data".into(), r.data.to_json());
            if let Some(a) = &r.amends {
                e.insert("amends".into(), json!(a));
            }
            if let Some(later) = chart.amended_by.get(r.entry_id.as_str()) {
                e.insert("amended_by".into(), json!(later));
            }
            if let Some(f) = &r.flagged {
                e.insert("flagged".into(), json!(f));
            }
            if let Some(visit) = &r.encounter {
                e.insert("encounter".into(), json!(visit));
            }
            Value::Object(e)
        })
        .collect();
    out.insert("entries".into(), Value::Array(entries));
    if let Some(s) = summary {
        out.insert("summary".into(), json!(s));
    }
}

/// LOINC code → (clinical time, entry id) of the current record holding its latest value.
fn latest_values<'a>(current: &[(&'a ChartRecord, i64)]) -> BTreeMap<String, (i64, &'a str)> {
    let mut latest: BTreeMap<String, (i64, &str)> = BTreeMap::new();
    for (r, t) in current {
        for obs in r.data.observations() {
            let holder = latest.entry(obs.loinc).or_insert((*t, &r.entry_id));
            if (*t, r.entry_id.as_str()) > *holder {
                *holder = (*t, &r.entry_id);
            }
        }
    }
    latest
}

/// The records a reader at sample level may hold, so that a node holding only these renders
/// and exports the same sample view as one holding every record: current records dated at
/// their original's time, the latest value per code, free text truncated, diagnoses, allergies
/// and drugs without their details, identity reduced to initials, birth year and sex.
pub fn sample_records(records: &[ChartRecord]) -> Vec<ChartRecord> {
    let chart = Chart::new(records);
    let current = chart.current();
    let latest = latest_values(&current);
    let is_latest =
        |loinc: &str, id: &str| latest.get(loinc).is_some_and(|(_, holder)| *holder == id);
    current
        .iter()
        .filter_map(|(r, t)| {
            let id = r.entry_id.as_str();
            let data = match &r.data {
                EntryData::Vitals(v) => {
                    let kept = v.only(|code| is_latest(code, id));
                    if kept.observations().is_empty() {
                        return None;
                    }
                    EntryData::Vitals(kept)
                }
                EntryData::Lab(l) => {
                    if !is_latest(&l.loinc, id) {
                        return None;
                    }
                    r.data.clone()
                }
                EntryData::Note(n) => EntryData::Note(crate::Note {
                    title: truncate(&n.title),
                    text: truncate(&n.text),
                }),
                EntryData::Condition(c) => EntryData::Condition(c.clone()),
                EntryData::Allergy(a) => EntryData::Allergy(crate::Allergy {
                    substance: a.substance.clone(),
                    reaction: None,
                    severity: None,
                    code: None,
                }),
                EntryData::Medication(m) => EntryData::Medication(crate::Medication {
                    drug: m.drug.clone(),
                    rxnorm: None,
                    atc: None,
                    dose: None,
                    route: None,
                    frequency: None,
                    quantity: None,
                    reason: None,
                    start: m.start,
                    end: None,
                    days_supply: None,
                    stop_reason: None,
                    allergy_override: None,
                }),
                EntryData::Encounter(e) => EntryData::Encounter(crate::Encounter {
                    reason: truncate(&e.reason),
                    date: e.date,
                    location: None,
                }),
                EntryData::Order(o) => EntryData::Order(crate::Order {
                    loinc: o.loinc.clone(),
                    name: o.name.clone(),
                    priority: None,
                    note: None,
                }),
                EntryData::Immunization(i) => EntryData::Immunization(crate::Immunization {
                    cvx: i.cvx.clone(),
                    name: i.name.clone(),
                    date: i.date,
                    dose: None,
                    lot: None,
                }),
                EntryData::Demographics(d) => EntryData::Demographics(crate::Demographics {
                    name: d.initials(),
                    birth_date: time::Date::from_calendar_date(
                        d.birth_year(),
                        time::Month::January,
                        1,
                    )
                    .unwrap_or(d.birth_date),
                    sex: d.sex.clone(),
                }),
            };
            Some(ChartRecord {
                entry_id: r.entry_id.clone(),
                kind: r.kind,
                author: String::new(),
                time_ms: *t,
                data,
                amends: None,
                flagged: r.flagged.clone(),
                encounter: None,
            })
        })
        .collect()
}

/// Latest value per code, identity reduced to initials, birth year and sex, free text truncated.
fn sample(chart: &Chart<'_>, summary: Option<&SummaryView>, out: &mut Map<String, Value>) {
    let current = chart.current();
    let latest = latest_values(&current);
    let is_latest =
        |loinc: &str, id: &str| latest.get(loinc).is_some_and(|(_, holder)| *holder == id);

    let mut entries = Vec::new();
    let mut values = Vec::new();
    for (r, t) in &current {
        let id = r.entry_id.as_str();
        for obs in r
            .data
            .observations()
            .into_iter()
            .filter(|o| is_latest(&o.loinc, id))
        {
            values.push(json!({
                "loinc": obs.loinc, "name": obs.name, "value": obs.value, "unit": obs.unit,
                "low": obs.low, "high": obs.high, "date": date_text(*t), "entry_id": id,
            }));
        }
        let data = match &r.data {
            EntryData::Vitals(v) => {
                let kept: Vitals = v.only(|code| is_latest(code, id));
                if kept.observations().is_empty() {
                    continue;
                }
                EntryData::Vitals(kept).to_json()
            }
            EntryData::Lab(l) => {
                if !is_latest(&l.loinc, id) {
                    continue;
                }
                r.data.to_json()
            }
            EntryData::Note(n) => json!({"title": truncate(&n.title), "text": truncate(&n.text)}),
            EntryData::Condition(c) => json!({"name": c.name}),
            EntryData::Allergy(a) => json!({"substance": a.substance}),
            EntryData::Medication(m) => json!({"drug": m.drug}),
            EntryData::Encounter(e) => json!({"reason": truncate(&e.reason)}),
            EntryData::Order(o) => json!({"loinc": o.loinc, "name": o.name}),
            EntryData::Immunization(i) => {
                json!({"cvx": i.cvx, "name": i.name, "date": date_string(i.date)})
            }
            EntryData::Demographics(d) => {
                let obfuscated =
                    json!({"initials": d.initials(), "birth_year": d.birth_year(), "sex": d.sex});
                out.insert("demographics".into(), obfuscated.clone());
                obfuscated
            }
        };
        let mut e = Map::new();
        e.insert("entry_id".into(), json!(id));
        e.insert("kind".into(), json!(r.kind));
        e.insert("time".into(), json!(time_text(*t)));
        e.insert("data".into(), data);
        if let Some(f) = &r.flagged {
            e.insert("flagged".into(), json!(f));
        }
        entries.push(Value::Object(e));
    }
    values.sort_by_key(|v| {
        let loinc = v["loinc"].as_str().unwrap_or_default().to_string();
        (display_rank(&loinc), loinc)
    });
    out.insert("entries".into(), Value::Array(entries));
    out.insert("latest".into(), Value::Array(values));
    if let Some(s) = summary {
        out.insert(
            "summary".into(),
            json!({
                "problems": s.problems.iter().map(|p| &p.name).collect::<Vec<_>>(),
                "allergies": s.allergies.iter().map(|a| &a.substance).collect::<Vec<_>>(),
                "medications": s.medications.iter().map(|m| &m.drug).collect::<Vec<_>>(),
                "conflicts": s.conflicts.len(),
            }),
        );
    }
}

/// (LOINC, unit) → (latest name, (time, value) points).
type Series = BTreeMap<(String, String), (String, Vec<(i64, f64)>)>;

/// Counts and per-code statistics; no values, no text, no identity.
fn information(chart: &Chart<'_>, summary: Option<&SummaryView>, out: &mut Map<String, Value>) {
    let current = chart.current();
    // One code reported in two units gives two rows.
    let mut series = Series::new();
    let mut counts: BTreeMap<&str, usize> = EntryKind::CHARTABLE
        .iter()
        .map(|k| (k.as_str(), 0))
        .collect();
    for (r, t) in &current {
        if let Some(n) = counts.get_mut(r.kind.as_str()) {
            *n += 1;
        }
        for obs in r.data.observations() {
            let row = series.entry((obs.loinc, obs.unit)).or_default();
            row.0 = obs.name;
            row.1.push((*t, obs.value));
        }
    }
    let mut rows: Vec<_> = series.iter().collect();
    rows.sort_by_key(|((loinc, unit), _)| (display_rank(loinc), loinc.clone(), unit.clone()));
    let stats: Vec<Value> = rows
        .into_iter()
        .filter_map(|((loinc, unit), (name, points))| observation_stats(loinc, name, unit, points))
        .map(|s| json!(s))
        .collect();
    out.insert("entries".into(), json!([]));
    out.insert("observations".into(), Value::Array(stats));
    out.insert("counts".into(), json!(counts));
    if let Some(s) = summary {
        out.insert(
            "summary_counts".into(),
            json!({
                "problems": s.problems.len(),
                "allergies": s.allergies.len(),
                "medications": s.medications.len(),
            }),
        );
    }
}

#[cfg(test)]
mod tests;
