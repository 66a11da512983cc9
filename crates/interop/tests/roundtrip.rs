//! Round trips: chart → HL7 → chart and chart → FHIR → chart keep every value, and exports show no
//! more than the reader's level.

mod common;

use carelog_chart::{AccessLevel, EntryData, EntryKind, Vitals};
use carelog_interop::{InteropError, from_fhir, parse_oru, to_fhir, to_hl7};
use common::*;

#[test]
fn full_hl7_round_trip_keeps_vitals_labs_and_notes() {
    let records = chart();
    let d = demographics();
    let hl7 = to_hl7(&export(AccessLevel::Full, &records, &d)).unwrap();
    assert!(
        hl7.ends_with('\r') && !hl7.contains('\n'),
        "CR separators only"
    );

    let message = parse_oru(&hl7).unwrap();
    assert_eq!(message.patient_id, PATIENT);
    assert_eq!(message.control_id, "CL-20260301-0001");
    assert_eq!(message.sending_application, "Carelog");
    assert_eq!(
        message.sending_facility, "North & South |",
        "cut to 20 escaped characters"
    );
    assert_eq!(message.sent_ms, NOW);
    assert_eq!(message.demographics, Some(d));
    assert_eq!(message.warnings, Vec::<String>::new());

    // ORU^R01 carries results: conditions, allergies and medications travel by FHIR.
    let expected: Vec<(i64, EntryData)> = expected_current(&records)
        .into_iter()
        .filter(|(_, e)| {
            matches!(
                e.kind(),
                EntryKind::Vitals | EntryKind::Lab | EntryKind::Note
            )
        })
        .collect();
    assert_eq!(message.results, expected);
}

#[test]
fn hl7_marks_corrections_and_escapes_text() {
    let records = chart();
    let d = demographics();
    let hl7 = to_hl7(&export(AccessLevel::Full, &records, &d)).unwrap();
    let segments: Vec<&str> = hl7.split('\r').collect();
    assert_eq!(
        segments[0],
        "MSH|^~\\&|Carelog|North \\T\\ South \\F\\|||20260301120000.250+0000||ORU^R01^ORU_R01|CL-20260301-0001|P|2.5||||||UNICODE UTF-8"
    );
    assert_eq!(
        segments[1],
        "PID|1||7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e^^^North \\T\\ South \\F\\^PI||O'Neil-Núñez^María^José^^^^L||19800402|F"
    );
    assert_eq!(segments[2], "PV1|1|O");
    let corrected = segments
        .iter()
        .position(|s| s.starts_with("OBR|") && s.contains("v3fix^Carelog"))
        .unwrap();
    assert!(
        segments[corrected].ends_with("|C"),
        "{}",
        segments[corrected]
    );
    assert!(
        segments[corrected + 1].contains("|H|||C|||"),
        "{}",
        segments[corrected + 1]
    );
    assert!(hl7.contains(
        "OBX|1|NM|33914-3^eGFR (MDRD) \\S\\ 1.73 m2 \\F\\ calc \\T\\ est \\R\\ \\E\\ adj^LN||58|mL/min/{1.73_m2}^mL/min/{1.73_m2}^UCUM|>60|L|||F"
    ));
    assert!(hl7.contains("|-2.5|mmol/L^mmol/L^UCUM|-2-3|LL|||F|||"));
    assert!(hl7.contains("||0.0000123|g/mL^g/mL^UCUM|||||F|||"));
    assert!(hl7.contains(
        "NTE|1|P|Follow-up \\F\\ plan \\S\\ A\\T\\B~Line one: BP ok.\\.br\\Line two \\R\\ tilde, \\E\\ backslash, \\F\\ pipe, \\S\\ caret, \\T\\ amp.\\X0D\\\\.br\\Última"
    ));
}

#[test]
fn full_fhir_round_trip_keeps_every_entry_and_identity() {
    let records = chart();
    let d = demographics();
    let bundle = to_fhir(&export(AccessLevel::Full, &records, &d)).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    assert_eq!(bundle["timestamp"], "2026-03-01T12:00:00.250Z");

    // Through text too, as a file would carry it.
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let back = from_fhir(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back.patient_id.as_deref(), Some(PATIENT));
    assert_eq!(back.demographics, Some(d));
    assert_eq!(back.warnings, Vec::<String>::new());
    let mut expected = expected_current(&records);
    let mut got = back.entries.clone();
    let key = |e: &(i64, EntryData)| (e.0, e.1.to_bytes());
    expected.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got, expected);
}

#[test]
fn fhir_resources_carry_codes_units_and_statuses() {
    let records = chart();
    let d = demographics();
    let bundle = to_fhir(&export(AccessLevel::Full, &records, &d)).unwrap();
    let resources: Vec<&serde_json::Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let find = |id: &str| *resources.iter().find(|r| r["id"] == id).unwrap();

    let patient = find(PATIENT);
    assert_eq!(patient["birthDate"], "1980-04-02");
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["name"][0]["family"], "O'Neil-Núñez");

    let systolic = find("v1-8480-6");
    assert_eq!(systolic["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(systolic["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(systolic["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(
        systolic["valueQuantity"]["system"],
        "http://unitsofmeasure.org"
    );
    assert_eq!(find("v1")["hasMember"].as_array().unwrap().len(), 5);
    assert_eq!(find("v3fix")["status"], "amended");

    let potassium = find("l2");
    assert_eq!(potassium["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(potassium["referenceRange"][0]["low"]["value"], 3.5);
    assert_eq!(potassium["interpretation"][0]["coding"][0]["code"], "L");

    assert_eq!(
        find("c1")["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-10"
    );
    assert_eq!(
        find("a1")["reaction"][0]["manifestation"][0]["text"],
        "Hives & rash"
    );
    let metformin = find("m1");
    assert_eq!(metformin["status"], "active");
    assert_eq!(metformin["effectivePeriod"]["start"], "2026-01-10");
    assert_eq!(find("m2")["status"], "stopped");
    let note = find("n1");
    assert_eq!(
        note["content"][0]["attachment"]["title"],
        "Follow-up | plan ^ A&B"
    );
    assert_eq!(
        note["content"][0]["attachment"]["contentType"],
        "text/plain; charset=utf-8"
    );
}

#[test]
fn sample_level_sends_latest_values_and_initials_only() {
    let records = chart();
    let d = demographics();
    let e = export(AccessLevel::Sample, &records, &d);

    let hl7 = to_hl7(&e).unwrap();
    assert!(hl7.contains(
        "\rPID|1||7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e^^^North \\T\\ South \\F\\^PI||M. J. O.^^^^^^S\r"
    ));
    assert!(!hl7.contains("Núñez") && !hl7.contains("19800402"));
    let message = parse_oru(&hl7).unwrap();
    assert_eq!(message.demographics, None);
    let glucose: Vec<f64> = message
        .results
        .iter()
        .filter_map(|(_, e)| match e {
            EntryData::Lab(l) if l.loinc == "2345-7" => Some(l.value),
            _ => None,
        })
        .collect();
    assert_eq!(glucose, [5.2], "only the latest glucose");
    let systolic: Vec<Option<f64>> = message
        .results
        .iter()
        .filter_map(|(_, e)| match e {
            EntryData::Vitals(Vitals {
                systolic: Some(s), ..
            }) => Some(Some(*s)),
            _ => None,
        })
        .collect();
    assert_eq!(
        systolic,
        [Some(125.0)],
        "only the corrected latest systolic"
    );
    let note = message
        .results
        .iter()
        .find_map(|(_, e)| match e {
            EntryData::Note(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert!(note.text.ends_with('…') && note.text.chars().count() <= 41);

    let bundle = to_fhir(&e).unwrap();
    let patient = &bundle["entry"][0]["resource"];
    assert_eq!(
        patient["name"],
        serde_json::json!([{ "use": "anonymous", "text": "M. J. O." }])
    );
    assert!(patient.get("birthDate").is_none() && patient.get("gender").is_none());
    let text = bundle.to_string();
    assert!(
        !text.contains("E11.9"),
        "diagnosis codes stay at full level"
    );
    assert!(!text.contains("Hives"), "reactions stay at full level");
    assert!(
        !text.contains("Dr. Ana Rivera"),
        "authors stay at full level"
    );
    let back = from_fhir(&bundle).unwrap();
    assert_eq!(back.demographics, None);
    assert!(back.warnings.iter().any(|w| w.contains("no ICD-10 coding")));
    assert!(back.warnings.iter().any(|w| w.contains("no start date")));
}

#[test]
fn information_and_no_access_are_refused() {
    let records = chart();
    let d = demographics();
    for level in [AccessLevel::Information, AccessLevel::None] {
        let e = export(level, &records, &d);
        for err in [to_hl7(&e).unwrap_err(), to_fhir(&e).unwrap_err()] {
            assert!(matches!(err, InteropError::LevelTooLow { .. }));
            assert!(
                err.to_string().contains("need sample or full access"),
                "{err}"
            );
        }
    }
}

#[test]
fn unknown_identity_still_makes_a_valid_pid() {
    let records = chart();
    let d = demographics();
    let mut e = export(AccessLevel::Full, &records, &d);
    e.demographics = None;
    let hl7 = to_hl7(&e).unwrap();
    assert!(hl7.contains(
        "\rPID|1||7f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e^^^North \\T\\ South \\F\\^PI||^^^^^^U\r"
    ));
    assert_eq!(parse_oru(&hl7).unwrap().demographics, None);
    e.message_id = "this id is far too long for MSH-10";
    assert!(
        to_hl7(&e)
            .unwrap_err()
            .to_string()
            .starts_with("export message_id")
    );
}
