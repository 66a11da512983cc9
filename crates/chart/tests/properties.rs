//! Property tests: parsers never panic on outside input, and entries round-trip exactly.

use carelog_chart::{
    ABNORMAL_FLAGS, AccessLevel, Allergy, ChartRecord, Condition, Demographics, Encounter,
    EntryData, EntryKind, Immunization, LabResult, Medication, Note, Order, Priority,
    ProblemStatus, SEXES, Severity, Summary, Vitals, check_loinc, render, sample_records,
};
use proptest::prelude::*;
use time::Date;

fn kind() -> impl Strategy<Value = EntryKind> {
    prop::sample::select(EntryKind::ALL.to_vec())
}

fn date() -> impl Strategy<Value = Date> {
    (1900i32..2100, 1u16..=365)
        .prop_map(|(y, d)| Date::from_ordinal_date(y, d).expect("day 1..=365 exists"))
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn in_range(lo: f64, hi: f64) -> impl Strategy<Value = Option<f64>> {
    prop::option::of(lo..=hi)
}

fn loinc() -> impl Strategy<Value = String> {
    "[0-9]{1,7}".prop_map(|body| {
        (0..10)
            .map(|c| format!("{body}-{c}"))
            .find(|code| check_loinc(code).is_ok())
            .expect("one check digit fits")
    })
}

/// Candidate entries, valid or not; `normalized()` sorts them out.
fn candidate() -> impl Strategy<Value = EntryData> {
    prop_oneof![
        (
            in_range(40.0, 300.0),
            in_range(20.0, 200.0),
            in_range(20.0, 300.0),
            in_range(2.0, 80.0),
            in_range(25.0, 45.0),
            in_range(0.2, 650.0),
            in_range(20.0, 280.0),
            in_range(50.0, 100.0),
        )
            .prop_map(
                |(
                    systolic,
                    diastolic,
                    heart_rate,
                    respiratory_rate,
                    temperature,
                    weight,
                    height,
                    spo2,
                )| {
                    EntryData::Vitals(Vitals {
                        systolic,
                        diastolic,
                        heart_rate,
                        respiratory_rate,
                        temperature,
                        weight,
                        height,
                        spo2,
                        bmi: None,
                    })
                }
            ),
        (
            loinc(),
            text(),
            -1e6f64..1e6,
            "[a-zA-Z/%]{1,8}",
            prop::option::of(-10.0f64..10.0),
            prop::option::of(10.0f64..1e3),
            prop::option::of(prop::sample::select(ABNORMAL_FLAGS.to_vec())),
        )
            .prop_map(|(loinc, name, value, unit, low, high, flag)| {
                EntryData::Lab(LabResult {
                    loinc,
                    name,
                    value,
                    unit,
                    low,
                    high,
                    abnormal: flag.map(str::to_string),
                    order: None,
                })
            }),
        (text(), text()).prop_map(|(title, text)| EntryData::Note(Note { title, text })),
        (
            "[A-Za-z][0-9][0-9A-Za-z](\\.[0-9A-Za-z]{1,4})?",
            text(),
            prop::option::of(prop::sample::select(vec![
                ProblemStatus::Active,
                ProblemStatus::Resolved
            ])),
            prop::option::of(date()),
            prop::option::of(date()),
        )
            .prop_map(|(icd10, name, status, onset, resolved)| {
                EntryData::Condition(Condition {
                    icd10,
                    name,
                    status,
                    onset,
                    resolved,
                })
            }),
        (
            text(),
            prop::option::of(text()),
            prop::option::of(prop::sample::select(vec![
                Severity::Mild,
                Severity::Moderate,
                Severity::Severe
            ])),
            prop::option::of("[A-Za-z0-9.-]{0,40}"),
        )
            .prop_map(|(substance, reaction, severity, code)| EntryData::Allergy(
                Allergy {
                    substance,
                    reaction,
                    severity,
                    code,
                }
            )),
        (text(), prop::option::of(date()), prop::option::of(text())).prop_map(
            |(reason, date, location)| EntryData::Encounter(Encounter {
                reason,
                date,
                location,
            })
        ),
        (
            loinc(),
            text(),
            prop::option::of(prop::sample::select(vec![
                Priority::Routine,
                Priority::Urgent,
                Priority::Stat
            ])),
            prop::option::of(text()),
        )
            .prop_map(|(loinc, name, priority, note)| EntryData::Order(Order {
                loinc,
                name,
                priority,
                note,
            })),
        (
            "[0-9]{0,4}",
            text(),
            date(),
            prop::option::of(0u32..30),
            prop::option::of(text())
        )
            .prop_map(|(cvx, name, date, dose, lot)| {
                EntryData::Immunization(Immunization {
                    cvx,
                    name,
                    date,
                    dose,
                    lot,
                })
            }),
        (
            text(),
            date(),
            prop::option::of(date()),
            prop::option::of(0u32..5000),
            prop::option::of(text())
        )
            .prop_map(|(drug, start, end, days_supply, stop_reason)| {
                EntryData::Medication(Medication {
                    end,
                    days_supply,
                    stop_reason,
                    ..Medication::started(drug, start)
                })
            }),
        (text(), date(), prop::sample::select(SEXES.to_vec())).prop_map(
            |(name, birth_date, sex)| EntryData::Demographics(Demographics {
                name,
                birth_date,
                sex: sex.to_uppercase()
            })
        ),
    ]
}

fn valid_entry() -> impl Strategy<Value = EntryData> {
    candidate().prop_filter_map("invalid candidate", |c| c.normalized().ok())
}

/// JSON objects built from real field names with values of every type, to reach the validators.
fn json_object() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "systolic",
        "diastolic",
        "heart_rate",
        "temperature",
        "weight",
        "height",
        "spo2",
        "loinc",
        "name",
        "value",
        "unit",
        "low",
        "high",
        "abnormal",
        "title",
        "text",
        "icd10",
        "substance",
        "reaction",
        "drug",
        "start",
        "end",
        "days_supply",
        "stop_reason",
        "stop",
        "respiratory_rate",
        "temperature_c",
        "weight_kg",
        "height_cm",
        "status",
        "onset",
        "resolved",
        "severity",
        "code",
        "dose",
        "route",
        "frequency",
        "quantity",
        "rxnorm",
        "atc",
        "allergy_override",
        "order",
        "reason",
        "date",
        "location",
        "priority",
        "note",
        "cvx",
        "lot",
        "birth_date",
        "sex",
        "kind",
        "data",
        "extra",
    ]);
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([1, "x"])),
        Just(serde_json::json!({"nested": {}})),
    ];
    prop::collection::btree_map(field, value, 0..8).prop_map(|m| {
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_any_text(kind in kind(), input in any::<String>()) {
        let _ = EntryData::parse(kind, &input);
    }

    #[test]
    fn parse_never_panics_on_json_objects(kind in kind(), input in json_object()) {
        if let Ok(data) = EntryData::parse(kind, &input) {
            prop_assert_eq!(data.kind(), kind);
            prop_assert_eq!(data.normalized(), Ok(data.clone()));
        }
    }

    #[test]
    fn from_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = EntryData::from_bytes(&bytes);
    }

    #[test]
    fn from_bytes_never_panics_on_envelopes(kind in kind(), data in json_object()) {
        let envelope = format!(r#"{{"kind":"{kind}","data":{data}}}"#);
        let _ = EntryData::from_bytes(envelope.as_bytes());
    }

    #[test]
    fn entries_round_trip(data in valid_entry()) {
        let json = data.to_json().to_string();
        prop_assert_eq!(EntryData::parse(data.kind(), &json), Ok(data.clone()));
        prop_assert_eq!(EntryData::from_bytes(&data.to_bytes()), Ok(data.clone()));
    }

    #[test]
    fn summary_loading_never_panics(blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..128), 0..4)) {
        let _ = Summary::load_changes(blobs.iter().map(Vec::as_slice));
    }

    #[test]
    fn damaged_summary_changes_are_refused_not_fatal(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut origin = Summary::new();
        let data = EntryData::parse(EntryKind::Medication, r#"{"drug":"Metformin 500 mg","start":"2026-01-10"}"#).unwrap();
        let mut change = origin.record([1; 16], "m", &data).unwrap();
        let i = at.index(change.len());
        change[i] ^= 1 << bit;
        if let Ok(mut damaged) = Summary::load_changes([change.as_slice()]) {
            let _ = damaged.view();
            let _ = damaged.record([2; 16], "m2", &data);
            let _ = damaged.record_amend([3; 16], "m", &data);
        }
    }

    #[test]
    fn render_never_panics(entries in prop::collection::vec((valid_entry(), any::<i64>(), prop::option::of(0usize..6)), 0..6)) {
        let records: Vec<ChartRecord> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (data, time_ms, amends))| ChartRecord {
                entry_id: format!("e{i}"),
                kind: data.kind(),
                author: "author".into(),
                time_ms,
                data,
                amends: amends.map(|a| format!("e{a}")),
                flagged: None,
                encounter: None,
            })
            .collect();
        for level in AccessLevel::ALL {
            let view = render(level, &records, None);
            prop_assert_eq!(&view["level"], &serde_json::json!(level));
        }
    }

    #[test]
    fn the_sample_records_render_the_same_sample_view(entries in prop::collection::vec((valid_entry(), -1_000_000_000i64..4_000_000_000_000, prop::option::of(0usize..6)), 0..8)) {
        let records: Vec<ChartRecord> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (data, time_ms, amends))| ChartRecord {
                entry_id: format!("e{i}"),
                kind: data.kind(),
                author: "author".into(),
                time_ms,
                data,
                amends: amends.map(|a| format!("e{a}")),
                flagged: None,
                encounter: None,
            })
            .collect();
        let reduced = sample_records(&records);
        prop_assert_eq!(render(AccessLevel::Sample, &reduced, None), render(AccessLevel::Sample, &records, None));
        // What a sample reader holds never carries a full name, a reaction or a stop reason.
        for r in &reduced {
            match &r.data {
                EntryData::Demographics(d) => prop_assert!(d.name.split_whitespace().all(|w| w.chars().count() == 2 && w.ends_with('.'))),
                EntryData::Allergy(a) => prop_assert!(a.reaction.is_none()),
                EntryData::Medication(m) => prop_assert!(m.stop_reason.is_none() && m.end.is_none()),
                _ => {}
            }
        }
    }

    #[test]
    fn replicas_converge_after_exchanging_changes(
        edits in prop::collection::vec((0usize..2, 0usize..3, 0usize..3, prop::option::of(0usize..3), any::<bool>()), 1..12)
    ) {
        let drugs = ["Metformin 500 mg", "Lisinopril 10 mg", "Atorvastatin 20 mg"];
        let starts = ["2026-01-10", "2026-02-01", "2026-03-15"];
        let mut replicas = [Summary::new(), Summary::new()];
        let mut sent: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for (n, (who, drug, start, end, amend)) in edits.into_iter().enumerate() {
            let json = match end {
                Some(e) => format!(r#"{{"drug":"{}","start":"{}","end":"2026-12-0{}"}}"#, drugs[drug], starts[start], e + 1),
                None => format!(r#"{{"drug":"{}","start":"{}","days_supply":{}}}"#, drugs[drug], starts[start], 30 + n),
            };
            let data = EntryData::parse(EntryKind::Medication, &json).unwrap();
            let actor = [u8::try_from(n + 1).unwrap(); 16];
            let change = if amend {
                replicas[who].record_amend(actor, "first", &data)
            } else {
                replicas[who].record(actor, if n == 0 { "first" } else { "later" }, &data)
            };
            sent[who].extend(change);
        }
        let [a, b] = &mut replicas;
        a.apply_changes(sent[1].iter().map(Vec::as_slice)).unwrap();
        b.apply_changes(sent[0].iter().map(Vec::as_slice)).unwrap();
        prop_assert_eq!(a.heads(), b.heads());
        prop_assert_eq!(a.view(), b.view());
    }
}
