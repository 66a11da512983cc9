//! What the window shows, derived from node views: trends from a chart, readers of a record,
//! the clinic's patient list for the admin.

use std::collections::BTreeMap;

use carelog_chart::{AccessLevel, EntryData, EntryKind, VITAL_SIGNS};
use carelog_desktop_api::{ChartScreen, ClinicPatient, Failure, Reader, Trend, TrendPoint};
use carelog_ledger::ActorId;
use carelog_node::{Node, Session, parse_time, rfc3339};
use serde_json::Value;

use crate::desk::failure;

/// The chart view with the patient's name (as the level allows) and trends of measured values.
pub fn chart_screen(patient: ActorId, view: Value) -> ChartScreen {
    let level = view["level"]
        .as_str()
        .and_then(|l| l.parse().ok())
        .unwrap_or(AccessLevel::None);
    let entries = view["entries"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let name = entries
        .iter()
        .rev()
        .find(|e| e["kind"] == "demographics")
        .and_then(|e| e["data"]["name"].as_str())
        .map(str::to_string)
        .or_else(|| {
            view["demographics"]["initials"]
                .as_str()
                .map(str::to_string)
        });
    ChartScreen {
        patient_id: patient.to_string(),
        name,
        level,
        trends: trends(entries),
        view,
    }
}

/// One trend per (LOINC, unit) over the current (not amended) vitals and lab entries.
pub fn trends(entries: &[Value]) -> Vec<Trend> {
    let mut series: BTreeMap<(String, String), Trend> = BTreeMap::new();
    for entry in entries {
        if entry.get("amended_by").is_some() {
            continue;
        }
        let Some(kind) = entry["kind"]
            .as_str()
            .and_then(|k| k.parse::<EntryKind>().ok())
            .filter(|k| matches!(k, EntryKind::Vitals | EntryKind::Lab))
        else {
            continue;
        };
        let Ok(data) = EntryData::parse(kind, &entry["data"].to_string()) else {
            continue;
        };
        let time = entry["time"].as_str().unwrap_or_default();
        let Ok(time_ms) = parse_time(time) else {
            continue;
        };
        for obs in data.observations() {
            let trend = series
                .entry((obs.loinc.clone(), obs.unit.clone()))
                .or_insert_with(|| Trend {
                    loinc: obs.loinc.clone(),
                    name: obs.name.clone(),
                    unit: obs.unit.clone(),
                    low: None,
                    high: None,
                    kind,
                    points: Vec::new(),
                });
            // The newest entry's range and name win: labs may change their reference ranges.
            trend.name = obs.name;
            trend.low = obs.low.or(trend.low);
            trend.high = obs.high.or(trend.high);
            trend.points.push(TrendPoint {
                time_ms,
                time: time.to_string(),
                value: obs.value,
            });
        }
    }
    let mut out: Vec<Trend> = series.into_values().collect();
    for t in &mut out {
        t.points.sort_by_key(|p| p.time_ms);
    }
    let rank = |t: &Trend| {
        VITAL_SIGNS
            .iter()
            .position(|s| s.loinc == t.loinc)
            .unwrap_or(VITAL_SIGNS.len())
    };
    out.sort_by(|a, b| (rank(a), &a.name).cmp(&(rank(b), &b.name)));
    out
}

/// A ledger detail ("to 3f2a…", "from 9c1d…") with people's ids replaced by their names.
pub fn with_names(node: &Node, detail: &str) -> String {
    detail
        .split(' ')
        .map(|word| match word.parse::<ActorId>() {
            Ok(id) if node.is_person(&id) => node.display_name(&id),
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The records this clinic keeps, with their doctors (patients' names stay sealed).
pub fn clinic_patients(node: &Node, session: &Session) -> Vec<ClinicPatient> {
    node.kept_records(session)
        .into_iter()
        .map(|record| ClinicPatient {
            patient_id: record.patient.to_string(),
            custodian: record.custodian.map(|c| node.display_name(&c)),
            attention: record
                .attention
                .iter()
                .map(|d| node.display_name(d))
                .collect(),
            entries: record.entries,
        })
        .collect()
}

/// Who may read a record now: attention list, grants, open break-glass access.
pub fn readers(node: &Node, session: &Session, patient: ActorId) -> Result<Vec<Reader>, Failure> {
    let readers = node.current_readers(session, patient).map_err(failure)?;
    Ok(readers
        .into_iter()
        .map(|r| Reader {
            id: r.id.to_string(),
            name: node.display_name(&r.id),
            basis: r.basis.words().into(),
            level: r.level,
            expires: r.expires_ms.map(rfc3339),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trends_follow_current_values_in_time_order() {
        let entries = vec![
            json!({"entry_id": "b", "kind": "vitals", "time": "2026-03-02T10:00:00Z",
                   "data": {"systolic": 140, "diastolic": 90}}),
            json!({"entry_id": "a", "kind": "vitals", "time": "2026-03-01T10:00:00Z",
                   "data": {"systolic": 150}}),
            json!({"entry_id": "c", "kind": "vitals", "time": "2026-03-03T10:00:00Z",
                   "data": {"systolic": 300}, "amended_by": ["d"]}),
            json!({"entry_id": "e", "kind": "lab", "time": "2026-03-03T10:00:00Z",
                   "data": {"loinc": "2345-7", "name": "Glucose", "value": 7.9, "unit": "mmol/L", "low": 3.9, "high": 5.6}}),
            json!({"entry_id": "f", "kind": "note", "time": "2026-03-03T10:00:00Z",
                   "data": {"title": "x", "text": "y"}}),
        ];
        let t = trends(&entries);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].loinc, "8480-6");
        let values: Vec<f64> = t[0].points.iter().map(|p| p.value).collect();
        assert_eq!(values, [150.0, 140.0]);
        assert_eq!((t[0].low, t[0].high), (Some(90.0), Some(120.0)));
        assert_eq!(t[1].loinc, "8462-4");
        assert_eq!(t[2].name, "Glucose");
        assert_eq!(t[2].kind, EntryKind::Lab);
    }
}
