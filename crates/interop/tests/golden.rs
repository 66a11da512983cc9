//! Golden files: realistic messages from analyzers, LIS systems and another EHR, each with the
//! expected import beside it, and Carelog's own exports of the shared test chart.
//!
//! After an intended change, regenerate with `CARELOG_BLESS=1 cargo test -p carelog-interop --test
//! golden` and review the diff of `tests/golden/` like code.

mod common;

use std::path::Path;

use carelog_chart::{AccessLevel, Demographics, EntryData};
use carelog_interop::{from_fhir, parse_oru, parse_oru_batch, to_fhir, to_hl7};
use common::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// An import as reviewable JSON: patient, demographics, entries with RFC 3339 times, warnings.
fn summary(
    patient_id: Option<&str>,
    demographics: Option<&Demographics>,
    entries: &[(i64, EntryData)],
    warnings: &[String],
) -> Value {
    json!({
        "patient_id": patient_id,
        "demographics": demographics.map(|d| EntryData::Demographics(d.clone()).to_json()),
        "entries": entries.iter().map(|(t, e)| json!({
            "time": rfc3339(*t), "kind": e.kind(), "data": e.to_json(),
        })).collect::<Vec<_>>(),
        "warnings": warnings,
    })
}

/// Compares `actual` with the golden file `name`, or rewrites it under `CARELOG_BLESS=1`.
fn golden_text(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("CARELOG_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CARELOG_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} differs; if the change is intended, rerun with CARELOG_BLESS=1 and review the diff"
    );
}

/// Compares JSON by value (key order may differ with serde_json's `preserve_order`), or blesses.
fn golden_json(name: &str, actual: &Value) {
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("CARELOG_BLESS").is_some() {
        return golden_text(name, &text);
    }
    let path = golden(name);
    let expected: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("{}: unreadable; run with CARELOG_BLESS=1", path.display()));
    assert!(
        *actual == expected,
        "{name} differs; if the change is intended, rerun with CARELOG_BLESS=1 and review the diff:\n{text}"
    );
}

fn read(name: &str) -> String {
    std::fs::read_to_string(golden(name)).unwrap()
}

/// The same message with CR, CRLF and LF separators.
fn separators(text: &str) -> [String; 3] {
    let lf = text.replace("\r\n", "\n").replace('\r', "\n");
    [lf.replace('\n', "\r"), lf.replace('\n', "\r\n"), lf]
}

#[test]
fn chemistry_analyzer_message() {
    let text = read("chemistry_analyzer.hl7");
    let m = parse_oru(&text).unwrap();
    for variant in separators(&text) {
        assert_eq!(
            parse_oru(&variant).unwrap(),
            m,
            "separators must not matter"
        );
    }
    let framed = format!("\u{0b}{}\u{1c}\r", text.replace('\n', "\r"));
    assert_eq!(parse_oru(&framed).unwrap(), m, "MLLP framing is ignored");

    assert_eq!(m.control_id, "LAB20260110-0042");
    assert_eq!(m.sending_application, "cobas infinity");
    assert_eq!(m.sending_facility, "CENTRAL LAB");
    assert_eq!(m.patient_id, "7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e");
    assert_eq!(m.demographics, Some(demographics()));
    let labs: Vec<_> = m
        .results
        .iter()
        .filter_map(|(t, e)| match e {
            EntryData::Lab(l) => Some((*t, l)),
            _ => None,
        })
        .collect();
    assert_eq!(labs.len(), 15, "the urine glucose ST `0` is a number");
    // The LOINC code sits in the alternate triple of OBX-3; OBX-8 repeats (first flag wins).
    let (t, glucose) = labs[0];
    assert_eq!(t, T0 + 5 * HOUR, "20260110081500-0500 is 13:15 UTC");
    assert_eq!(
        (glucose.loinc.as_str(), glucose.value, glucose.unit.as_str()),
        ("2345-7", 126.0, "mg/dL")
    );
    assert_eq!((glucose.low, glucose.high), (Some(70.0), Some(99.0)));
    assert_eq!(glucose.abnormal.as_deref(), Some("H"));
    assert_eq!(
        labs[4].1.abnormal.as_deref(),
        Some("N"),
        "CO2 flag computed from the range"
    );
    assert_eq!(labs[8].1.value, 4.1, "SN without comparator is a number");
    let notes: Vec<_> = m
        .results
        .iter()
        .filter_map(|(_, e)| match e {
            EntryData::Note(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 3);
    assert_eq!(
        notes[0].text,
        "Specimen slightly hemolyzed & lipemic.\nPotassium may be falsely elevated."
    );
    assert_eq!(
        notes[1].title,
        "Comment on Potassium [Moles/volume] in Serum or Plasma (2823-3)"
    );
    assert_eq!(
        notes[1].text,
        "Hemolysis index 85 | HIL check: see order comment."
    );
    assert_eq!(
        notes[2].text,
        "Reviewed by J. Smith, MT(ASCP) \\ bench 4\nCalled to Dr. Rivera at 14:30."
    );
    assert_eq!(m.warnings.len(), 5, "{:#?}", m.warnings);
    assert!(m.warnings[0].contains("`>^60` is a bound"));

    golden_json(
        "chemistry_analyzer.expected.json",
        &summary(
            Some(&m.patient_id),
            m.demographics.as_ref(),
            &m.results,
            &m.warnings,
        ),
    );
}

#[test]
fn point_of_care_message_with_vitals() {
    let text = read("point_of_care_v23.hl7");
    let m = parse_oru(&text).unwrap();
    assert_eq!(m.patient_id, "MRN-558812");
    assert_eq!(m.demographics, None, "no birth date, no sex");
    let vitals: Vec<_> = m
        .results
        .iter()
        .filter_map(|(t, e)| match e {
            EntryData::Vitals(v) => Some((*t, v)),
            _ => None,
        })
        .collect();
    assert_eq!(
        vitals.len(),
        2,
        "the second systolic at 10:07 is its own entry"
    );
    assert_eq!(vitals[0].1.systolic, Some(142.0));
    assert_eq!(vitals[0].1.diastolic, Some(91.0), "mmHg is read as mm[Hg]");
    assert_eq!(vitals[0].1.temperature, None, "°F stays a lab result");
    assert_eq!(vitals[1].1.systolic, Some(138.0));
    assert_eq!(vitals[1].0 - vitals[0].0, 5 * 60_000);
    golden_json(
        "point_of_care_v23.expected.json",
        &summary(
            Some(&m.patient_id),
            m.demographics.as_ref(),
            &m.results,
            &m.warnings,
        ),
    );

    let both = format!("{}\n{}", read("chemistry_analyzer.hl7"), text);
    let batch = parse_oru_batch(&both).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[1], m);
    let framed: String = [read("chemistry_analyzer.hl7"), text.clone()]
        .iter()
        .map(|t| format!("\u{0b}{}\u{1c}\r", t.replace('\n', "\r")))
        .collect();
    assert_eq!(
        parse_oru_batch(&framed).unwrap(),
        batch,
        "one MLLP frame per message"
    );
    let err = parse_oru(&both).unwrap_err().to_string();
    assert!(
        err.starts_with("MSH: a second message starts here"),
        "{err}"
    );
}

#[test]
fn other_ehr_fhir_bundle() {
    let bundle: Value = serde_json::from_str(&read("other_ehr_bundle.fhir.json")).unwrap();
    let import = from_fhir(&bundle).unwrap();
    assert_eq!(import.patient_id.as_deref(), Some(PATIENT));
    assert_eq!(import.demographics, Some(demographics()));
    let kinds: Vec<&str> = import
        .entries
        .iter()
        .map(|(_, e)| e.kind().as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "encounter",
            "vitals",
            "lab",
            "lab",
            "lab",
            "condition",
            "allergy",
            "medication",
            "note"
        ]
    );
    assert_eq!(import.warnings.len(), 5, "{:#?}", import.warnings);
    let EntryData::Vitals(v) = &import.entries[1].1 else {
        panic!("vitals first")
    };
    assert_eq!(
        (v.systolic, v.diastolic, v.heart_rate),
        (Some(134.0), Some(86.0), Some(64.0)),
        "blood pressure components and the lone heart rate taken together make one entry"
    );
    golden_json(
        "other_ehr_bundle.expected.json",
        &summary(
            import.patient_id.as_deref(),
            import.demographics.as_ref(),
            &import.entries,
            &import.warnings,
        ),
    );
}

#[test]
fn carelog_exports_are_stable() {
    let records = chart();
    let d = demographics();
    let e = export(AccessLevel::Full, &records, &d);
    golden_text(
        "carelog_export.hl7",
        &to_hl7(&e).unwrap().replace('\r', "\n"),
    );
    golden_json("carelog_export.fhir.json", &to_fhir(&e).unwrap());
    let s = export(AccessLevel::Sample, &records, &d);
    golden_text(
        "carelog_export_sample.hl7",
        &to_hl7(&s).unwrap().replace('\r', "\n"),
    );
    assert!(Path::new(&golden("carelog_export.hl7")).exists());
}
