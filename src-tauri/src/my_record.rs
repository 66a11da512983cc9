//! The patient's side of the kiosk: their own record in plain words (read through the node,
//! which asks the policy and records the read), and the network's directory of doctors and labs
//! to grant on their own initiative.

use std::collections::HashSet;

use carelog_desktop_api::{DirectoryQuery, MyRecord, PatientRef, ResultLine, StaffMember};
use carelog_ledger::ActorId;
use serde_json::Value;
use tauri::State;

use crate::commands::{Answer, patient, staff_member};
use crate::desk::{Desk, failure};

/// Why the record was opened, as the access log shows it.
const KIOSK_PURPOSE: &str = "read at the kiosk";

/// How many test results the kiosk lists (the latest of each test).
const RESULTS_SHOWN: usize = 12;

/// The patient's record in plain words (the patient, or a proxy acting for them).
#[tauri::command]
pub async fn my_record(desk: State<'_, Desk>, args: PatientRef) -> Answer<MyRecord> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let view = node.chart(session, id, KIOSK_PURPOSE).map_err(failure)?;
        Ok(plain_record(id, &view))
    })
}

/// The doctors and labs of the network a patient may grant, found by name, specialty or clinic.
#[tauri::command]
pub async fn directory(desk: State<'_, Desk>, args: DirectoryQuery) -> Answer<Vec<StaffMember>> {
    desk.with_session(|node, session| {
        Ok(node
            .directory(session, args.text.trim())
            .map_err(failure)?
            .into_iter()
            .map(staff_member)
            .collect())
    })
}

fn text(value: &Value) -> Option<&str> {
    value.as_str().map(str::trim).filter(|t| !t.is_empty())
}

/// A number as people write it: `8.4`, `120`.
fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

/// Problems in words: those being looked after, and those that are over.
pub(crate) fn problem_lines(problems: &Value) -> (Vec<String>, Vec<String>) {
    let mut current = Vec::new();
    let mut past = Vec::new();
    for p in problems.as_array().into_iter().flatten() {
        let Some(name) = text(&p["name"]) else {
            continue;
        };
        match (text(&p["status"]), text(&p["onset"]), text(&p["resolved"])) {
            (Some("resolved"), onset, resolved) => past.push(match (onset, resolved) {
                (Some(from), Some(to)) => format!("{name} (from {from} to {to})"),
                (_, Some(to)) => format!("{name} (over since {to})"),
                _ => name.to_string(),
            }),
            (_, Some(onset), _) => current.push(format!("{name} (since {onset})")),
            _ => current.push(name.to_string()),
        }
    }
    (current, past)
}

/// An allergy in words: "Penicillin: rash (moderate)".
pub(crate) fn allergy_line(data: &Value) -> Option<String> {
    let substance = text(&data["substance"])?;
    Some(match (text(&data["reaction"]), text(&data["severity"])) {
        (Some(r), Some(s)) => format!("{substance}: {r} ({s})"),
        (Some(r), None) => format!("{substance}: {r}"),
        (None, Some(s)) => format!("{substance} ({s})"),
        (None, None) => substance.to_string(),
    })
}

/// Current medications in words: "Metformin 500 mg: 500 mg, oral, twice daily, since …".
pub(crate) fn medication_lines(medications: &Value) -> Vec<String> {
    medications
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let drug = text(&m["drug"])?;
            let how: Vec<&str> = [&m["dose"], &m["route"], &m["frequency"]]
                .into_iter()
                .filter_map(text)
                .collect();
            let mut line = drug.to_string();
            if !how.is_empty() {
                line.push_str(&format!(": {}", how.join(", ")));
            }
            if let Some(start) = text(&m["start"]) {
                line.push_str(&format!(", since {start}"));
            }
            Some(line)
        })
        .collect()
}

/// The record as the kiosk says it, from the chart view the node opened.
pub(crate) fn plain_record(patient: ActorId, view: &Value) -> MyRecord {
    let banner = &view["banner"];
    let current = |e: &&Value| e.get("amended_by").is_none();
    let entries: Vec<&Value> = view["entries"]
        .as_array()
        .map(|list| list.iter().filter(current).collect())
        .unwrap_or_default();
    let (problems, past_problems) = problem_lines(&view["problems"]);
    let allergies = entries
        .iter()
        .filter(|e| e["kind"] == "allergy")
        .filter_map(|e| allergy_line(&e["data"]))
        .collect();
    let medications = medication_lines(&view["current_medications"]);
    MyRecord {
        patient_id: patient.to_string(),
        name: text(&banner["name"]).map(str::to_string),
        birth_date: text(&banner["birth_date"]).map(str::to_string),
        card_number: text(&banner["card_number"]).map(str::to_string),
        problems,
        past_problems,
        allergies,
        medications,
        results: latest_results(&entries),
    }
}

/// The latest value of each test, newest first, with whether it is in the usual range.
fn latest_results(entries: &[&Value]) -> Vec<ResultLine> {
    let mut labs: Vec<&Value> = entries
        .iter()
        .copied()
        .filter(|e| e["kind"] == "lab")
        .collect();
    labs.sort_by(|a, b| b["time"].as_str().cmp(&a["time"].as_str()));
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for entry in labs {
        let data = &entry["data"];
        let (Some(name), Some(value)) = (text(&data["name"]), data["value"].as_f64()) else {
            continue;
        };
        if !seen.insert(text(&data["loinc"]).unwrap_or(name).to_string()) {
            continue;
        }
        let verdict = match (data["low"].as_f64(), data["high"].as_f64()) {
            (_, Some(high)) if value > high => "higher than usual",
            (Some(low), _) if value < low => "lower than usual",
            (None, None) => "",
            _ => "within the usual range",
        };
        let unit = text(&data["unit"]).unwrap_or_default();
        lines.push(ResultLine {
            name: name.to_string(),
            value: format!("{} {unit}", number(value)).trim().to_string(),
            date: entry["time"]
                .as_str()
                .and_then(|t| t.get(..10))
                .unwrap_or_default()
                .to_string(),
            verdict: verdict.into(),
        });
        if lines.len() == RESULTS_SHOWN {
            break;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view() -> Value {
        json!({
            "banner": {"name": "Elena Marsh", "birth_date": "1958-04-12", "card_number": "9831 8299 3709 2"},
            "problems": [
                {"name": "Type 2 diabetes", "status": "active", "onset": "2025-12-17"},
                {"name": "Acute bronchitis", "status": "resolved", "onset": "2026-04-18", "resolved": "2026-05-06"}
            ],
            "current_medications": [
                {"drug": "Metformin 500 mg", "dose": "500 mg", "route": "oral", "frequency": "twice daily", "start": "2025-12-17"}
            ],
            "entries": [
                {"kind": "allergy", "time": "2025-12-17T10:00:00Z", "data": {"substance": "Penicillin", "reaction": "rash", "severity": "moderate"}},
                {"kind": "allergy", "time": "2025-12-17T10:00:00Z", "amended_by": "x", "data": {"substance": "Pencillin"}},
                {"kind": "lab", "time": "2025-12-17T10:01:00Z", "data": {"loinc": "2345-7", "name": "Glucose", "value": 8.4, "unit": "mmol/L", "low": 3.9, "high": 5.6}},
                {"kind": "lab", "time": "2026-06-01T10:01:00Z", "data": {"loinc": "2345-7", "name": "Glucose", "value": 5.0, "unit": "mmol/L", "low": 3.9, "high": 5.6}},
                {"kind": "lab", "time": "2026-06-01T10:02:00Z", "data": {"loinc": "2823-3", "name": "Potassium", "value": 3.1, "unit": "mmol/L", "low": 3.5, "high": 5.1}},
                {"kind": "lab", "time": "2026-06-01T10:03:00Z", "data": {"loinc": "x", "name": "Ferritin", "value": 80.123, "unit": "ug/L"}}
            ]
        })
    }

    #[test]
    fn the_record_is_said_in_plain_words() {
        let record = plain_record(ActorId([7; 16]), &view());
        assert_eq!(record.name.as_deref(), Some("Elena Marsh"));
        assert_eq!(record.problems, ["Type 2 diabetes (since 2025-12-17)"]);
        assert_eq!(
            record.past_problems,
            ["Acute bronchitis (from 2026-04-18 to 2026-05-06)"]
        );
        assert_eq!(record.allergies, ["Penicillin: rash (moderate)"]);
        assert_eq!(
            record.medications,
            ["Metformin 500 mg: 500 mg, oral, twice daily, since 2025-12-17"]
        );
    }

    #[test]
    fn each_test_shows_its_latest_value_and_whether_it_is_usual() {
        let record = plain_record(ActorId([7; 16]), &view());
        let said: Vec<(&str, &str, &str, &str)> = record
            .results
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.value.as_str(),
                    r.date.as_str(),
                    r.verdict.as_str(),
                )
            })
            .collect();
        assert_eq!(
            said,
            [
                ("Ferritin", "80.12 ug/L", "2026-06-01", ""),
                ("Potassium", "3.1 mmol/L", "2026-06-01", "lower than usual"),
                (
                    "Glucose",
                    "5 mmol/L",
                    "2026-06-01",
                    "within the usual range"
                ),
            ]
        );
    }

    #[test]
    fn a_view_without_lists_says_nothing_rather_than_fail() {
        let record = plain_record(ActorId([7; 16]), &json!({"level": "information"}));
        assert_eq!(record.name, None);
        assert!(record.problems.is_empty() && record.results.is_empty());
    }
}
