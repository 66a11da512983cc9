//! `parse_oru` and `from_fhir` read outside input: whatever arrives, they answer with a value or an
//! error, never a panic. Random text finds little past MSH, so most cases mutate real messages.

mod common;

use carelog_chart::AccessLevel;
use carelog_interop::{from_fhir, parse_oru, parse_oru_batch, to_fhir, to_hl7};
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A realistic message to mutate: the analyzer golden file and Carelog's own export.
fn seeds() -> Vec<String> {
    let records = chart();
    let d = demographics();
    vec![
        std::fs::read_to_string(golden("chemistry_analyzer.hl7")).unwrap(),
        std::fs::read_to_string(golden("point_of_care_v23.hl7")).unwrap(),
        to_hl7(&export(AccessLevel::Full, &records, &d)).unwrap(),
    ]
}

fn bundles() -> Vec<Value> {
    let records = chart();
    let d = demographics();
    let other = std::fs::read_to_string(golden("other_ehr_bundle.fhir.json")).unwrap();
    vec![
        to_fhir(&export(AccessLevel::Full, &records, &d)).unwrap(),
        serde_json::from_str(&other).unwrap(),
    ]
}

/// Characters that matter to HL7 plus a few that do not.
fn hl7_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '|', '^', '~', '\\', '&', '\r', '\n', '\u{0b}', '\u{1c}', 'X', '.', '-', '+', '0', '9',
            'E', 'F', 'S', 'T', 'R', 'é', ' ',
        ]),
        any::<char>(),
    ]
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "Bundle",
            "Observation",
            "Patient",
            "final",
            "http://loinc.org",
            "2345-7",
            "2026-01-10",
            "Zm9v",
            "text/plain",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "resourceType",
                    "entry",
                    "resource",
                    "code",
                    "coding",
                    "system",
                    "value",
                    "valueQuantity",
                    "status",
                    "id",
                    "component",
                    "hasMember",
                    "reference",
                    "subject",
                    "effectiveDateTime",
                    "content",
                    "attachment",
                    "data",
                    "x",
                ])
                .prop_map(str::to_string),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a random position in a JSON tree (pre-order walk).
fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|x| replace_nth(x, n, with)),
        Value::Object(map) => map.values_mut().any(|x| replace_nth(x, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_oru_never_panics_on_arbitrary_text(text in ".{0,300}") {
        let _ = parse_oru(&text);
        let _ = parse_oru(&format!("MSH|^~\\&|A||||20260110||ORU^R01|1|P|2.5\r{text}"));
        let _ = parse_oru_batch(&text);
    }

    #[test]
    fn parse_oru_never_panics_on_mutated_messages(
        seed in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, prop::collection::vec(hl7_char(), 0..6)), 1..8),
    ) {
        let mut chars: Vec<char> = seeds()[seed].chars().collect();
        for (at, cut, insert) in edits {
            let i = at.index(chars.len() + 1);
            let end = (i + cut).min(chars.len());
            chars.splice(i..end, insert);
        }
        let text: String = chars.into_iter().collect();
        if let Ok(m) = parse_oru(&text) {
            // Whatever is accepted is whole and valid.
            for (_, entry) in &m.results {
                prop_assert!(entry.validate().is_ok());
            }
        }
    }

    #[test]
    fn from_fhir_never_panics_on_arbitrary_json(value in any_json()) {
        let _ = from_fhir(&value);
        let _ = from_fhir(&json!({ "resourceType": "Bundle", "entry": [{ "resource": value }] }));
    }

    #[test]
    fn from_fhir_never_panics_on_mutated_bundles(
        seed in 0usize..2,
        edits in prop::collection::vec((0usize..2000, any_json()), 1..5),
    ) {
        let mut bundle = bundles()[seed].clone();
        for (n, with) in edits {
            let mut n = n;
            replace_nth(&mut bundle, &mut n, &with);
        }
        if let Ok(import) = from_fhir(&bundle) {
            for (_, entry) in &import.entries {
                prop_assert!(entry.validate().is_ok());
            }
        }
    }
}
