//! A realistic chart shared by the integration tests: every entry kind, an amendment, and text full
//! of HL7 delimiters, line breaks and non-ASCII letters.

#![allow(dead_code)]

use std::path::PathBuf;

use carelog_chart::{AccessLevel, ChartRecord, Demographics, EntryData, EntryKind, parse_date};
use carelog_interop::PatientExport;

/// 2026-01-10T08:15:00Z.
pub const T0: i64 = 1_768_032_900_000;
/// One hour.
pub const HOUR: i64 = 3_600_000;
/// Export time: 2026-03-01T12:00:00.250Z.
pub const NOW: i64 = 1_772_366_400_250;

pub const PATIENT: &str = "7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e";
pub const CLINIC: &str = "North & South | Clinic ^1";
/// The glucose order's entry id (a result names it).
pub const ORDER: &str = "0aa1c3e5f7091b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d";

/// Paula's demographics, with a name that needs care in every format.
pub fn demographics() -> Demographics {
    Demographics {
        name: "María José O'Neil-Núñez".into(),
        birth_date: parse_date("1980-04-02").unwrap(),
        sex: "female".into(),
    }
}

fn record(id: &str, t: i64, kind: EntryKind, json: &str) -> ChartRecord {
    ChartRecord {
        entry_id: id.into(),
        kind,
        author: "Dr. Ana Rivera".into(),
        time_ms: t,
        data: EntryData::parse(kind, json).unwrap_or_else(|e| panic!("{id}: {e}")),
        amends: None,
        flagged: None,
        encounter: None,
    }
}

/// A chart with every kind of entry; `v3` is amended by `v3fix`.
pub fn chart() -> Vec<ChartRecord> {
    use EntryKind::*;
    let mut fix = record(
        "v3fix",
        T0 + 30 * HOUR,
        Vitals,
        r#"{"systolic":125,"diastolic":79}"#,
    );
    fix.amends = Some("v3".into());
    vec![
        record(
            "v1",
            T0,
            Vitals,
            r#"{"systolic":128,"diastolic":82,"heart_rate":71,"temperature":36.8,"spo2":97}"#,
        ),
        record(
            "v2",
            T0 + 24 * HOUR,
            Vitals,
            r#"{"weight":72.5,"height":168.2}"#,
        ),
        record(
            "v3",
            T0 + 48 * HOUR,
            Vitals,
            r#"{"systolic":152,"diastolic":95}"#,
        ),
        fix,
        record(
            "l1",
            T0 + HOUR,
            Lab,
            r#"{"loinc":"2345-7","name":"Glucose","value":7.1,"unit":"mmol/L","low":3.9,"high":5.6}"#,
        ),
        record(
            "l2",
            T0 + HOUR,
            Lab,
            r#"{"loinc":"2823-3","name":"Potassium","value":3.2,"unit":"mmol/L","low":3.5,"high":5.1,"abnormal":"L"}"#,
        ),
        record(
            "l3",
            T0 + HOUR,
            Lab,
            r#"{"loinc":"4548-4","name":"Hemoglobin A1c/Hemoglobin.total in Blood","value":6.9,"unit":"%","high":6.5}"#,
        ),
        record(
            "l4",
            T0 + HOUR,
            Lab,
            r#"{"loinc":"33914-3","name":"eGFR (MDRD) ^ 1.73 m2 | calc & est ~ \\ adj","value":58,"unit":"mL/min/{1.73_m2}","low":60}"#,
        ),
        record(
            "l5",
            T0 + HOUR,
            Lab,
            r#"{"loinc":"11555-0","name":"Base excess","value":-2.5,"unit":"mmol/L","low":-2,"high":3,"abnormal":"LL"}"#,
        ),
        record(
            "l6",
            T0 + 50 * HOUR,
            Lab,
            r#"{"loinc":"2345-7","name":"Glucose","value":5.2,"unit":"mmol/L","low":3.9,"high":5.6}"#,
        ),
        record(
            "l7",
            T0 + 50 * HOUR,
            Lab,
            r#"{"loinc":"1558-6","name":"Fasting glucose","value":0.0000123,"unit":"g/mL"}"#,
        ),
        record(
            "n1",
            T0 + 2 * HOUR,
            Note,
            r#"{"title":"Follow-up | plan ^ A&B","text":"Line one: BP ok.\nLine two ~ tilde, \\ backslash, | pipe, ^ caret, & amp.\r\nÚltima línea — café ☕ 🙂\tend"}"#,
        ),
        record(
            "c1",
            T0 + 2 * HOUR,
            Condition,
            r#"{"icd10":"E11.9","name":"Type 2 diabetes mellitus without complications"}"#,
        ),
        record(
            "a1",
            T0 + 2 * HOUR,
            Allergy,
            r#"{"substance":"Penicillin","reaction":"Hives & rash"}"#,
        ),
        record("a2", T0 + 2 * HOUR, Allergy, r#"{"substance":"Latex"}"#),
        record(
            "a3",
            T0 + 2 * HOUR,
            Allergy,
            r#"{"substance":"Peanut","reaction":"anaphylaxis","severity":"severe"}"#,
        ),
        record(
            "c2",
            T0 + 2 * HOUR,
            Condition,
            r#"{"icd10":"J02.9","name":"Acute pharyngitis","onset":"2025-11-02","status":"resolved","resolved":"2025-11-12"}"#,
        ),
        record(
            "e1",
            T0 + 2 * HOUR,
            Encounter,
            r#"{"reason":"Diabetes review & foot check"}"#,
        ),
        record(
            ORDER,
            T0 + 2 * HOUR,
            Order,
            r#"{"loinc":"2345-7","name":"Glucose","priority":"routine"}"#,
        ),
        record(
            "l8",
            T0 + 3 * HOUR,
            Lab,
            &format!(
                r#"{{"loinc":"2345-7","name":"Glucose","value":6.0,"unit":"mmol/L","low":3.9,"high":5.6,"order":"{ORDER}"}}"#
            ),
        ),
        record(
            "i1",
            T0 + 2 * HOUR,
            Immunization,
            r#"{"cvx":"141","name":"Influenza, seasonal, injectable","date":"2025-10-20","lot":"FLU-2025-17","dose":1}"#,
        ),
        record(
            "m3",
            T0 + 2 * HOUR,
            Medication,
            r#"{"drug":"Lisinopril 10 mg tablet","rxnorm":"314076","atc":"C09AA03","dose":"10 mg","route":"oral","frequency":"once daily","start":"2026-01-10","reason":"hypertension"}"#,
        ),
        record(
            "m1",
            T0 + 2 * HOUR,
            Medication,
            r#"{"drug":"Metformin 500 mg tablet","start":"2026-01-10","days_supply":30}"#,
        ),
        record(
            "m2",
            T0 + 3 * HOUR,
            Medication,
            r#"{"drug":"Lisinopril 10 mg","start":"2025-06-01","end":"2026-01-09","stop_reason":"Dry cough"}"#,
        ),
    ]
}

/// An export of `records` at `level` with the fixture's patient, clinic and times.
pub fn export<'a>(
    level: AccessLevel,
    records: &'a [ChartRecord],
    demographics: &'a Demographics,
) -> PatientExport<'a> {
    PatientExport {
        patient_id: PATIENT,
        demographics: Some(demographics),
        level,
        records,
        clinic_name: CLINIC,
        message_id: "CL-20260301-0001",
        now_ms: NOW,
    }
}

/// What a full export must carry back: current entries at their clinical time, ordered by
/// (time, entry id), with `v3` replaced by its correction at `v3`'s time.
pub fn expected_current(records: &[ChartRecord]) -> Vec<(i64, EntryData)> {
    let mut out: Vec<(i64, &str, EntryData)> = records
        .iter()
        .filter(|r| r.entry_id != "v3")
        .map(|r| {
            let t = if r.entry_id == "v3fix" {
                T0 + 48 * HOUR
            } else {
                r.time_ms
            };
            (t, r.entry_id.as_str(), r.data.clone())
        })
        .collect();
    out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out.into_iter().map(|(t, _, d)| (t, d)).collect()
}

/// The golden-file directory.
pub fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}
