//! Malformed input is refused whole, with an error that names the segment and field (HL7) or the
//! JSON path (FHIR) — never a panic, never a partial result.

use carelog_interop::{from_fhir, parse_oru};
use serde_json::{Value, json};

const GOOD: &str = "MSH|^~\\&|LAB|CENTRAL|||20260110143512-0500||ORU^R01|M1|P|2.5\r\
PID|1||P1^^^H^MR||Doe^Jane||19800402|F\r\
OBR|1||F1|2345-7^Glucose^LN|||20260110081500\r\
OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-5.6|N|||F|||20260110081500\r";

/// The good message with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_base_message_is_good() {
    let m = parse_oru(GOOD).unwrap();
    assert_eq!(m.results.len(), 1);
}

#[test]
fn hl7_errors_name_segment_and_field() {
    let cases: Vec<(String, &str)> = vec![
        (
            with("ORU^R01", "ADT^A01"),
            "MSH-9: expected ORU^R01, found `ADT^A01` (segment 1)",
        ),
        (
            with("|5.4|", "|abc|"),
            "OBX-5: `abc` is not a number for value type NM (segment 4)",
        ),
        (
            with("|5.4|", "|1e5|"),
            "OBX-5: `1e5` is not a number for value type NM",
        ),
        (
            with("|5.4|", "|NaN|"),
            "OBX-5: `NaN` is not a number for value type NM",
        ),
        (
            with(
                "OBX|1|NM|2345-7^Glucose^LN||5.4|",
                "OBX|1|SN|2345-7^Glucose^LN||^x|",
            ),
            "OBX-5: `x` is not a number for value type SN",
        ),
        (
            with(
                "OBX|1|NM|2345-7^Glucose^LN||5.4|",
                "OBX|1|SN|2345-7^Glucose^LN||abc|",
            ),
            "OBX-5: `abc` is not a structured numeric (SN) value",
        ),
        (
            with("OBX|1|NM|2345-7", "OBX|1|NM|2345-8"),
            "OBX-3: LOINC code `2345-8` has check digit 8",
        ),
        (
            with("5.6|N|||F|||20260110081500", "5.6|N|||F|||2026x"),
            "OBX-14: `2026x` is not an HL7 date/time",
        ),
        (
            with("|3.9-5.6|", "|5.6-3.9|"),
            "OBX-7: reference range low 5.6 is above high 3.9",
        ),
        (
            with("||20260110081500\rOBX", "||1/10/2026\rOBX"),
            "OBR-7: `1/10/2026` is not an HL7 date/time",
        ),
        (
            with("PID|1||P1", "PID|1||"),
            "PID-3: no patient identifier in the first repetition",
        ),
        (
            with("||19800402|", "||1980-04-02|"),
            "PID-7: `1980-04-02` is not an HL7 date",
        ),
        (
            with("|2.5\r", "|3.0\r"),
            "MSH-12: version `3.0` is not HL7 v2 (2.x)",
        ),
        (with("|M1|", "||"), "MSH-10: missing message control id"),
        (
            with("|20260110143512-0500|", "||"),
            "MSH-7: missing date/time of message",
        ),
        (with("MSH|^~\\&|", "MSH|^~|"), "MSH-2: "),
        (
            with("OBR|1", "obr|1"),
            "segment: `obr|1||F1|2345-7^Glu` does not start with a segment name",
        ),
        (
            with("PID|1||P1^^^H^MR||Doe^Jane||19800402|F\r", ""),
            "OBR: comes before any PID",
        ),
        (
            with("OBR|1||F1|2345-7^Glucose^LN|||20260110081500\r", ""),
            "OBX: comes before any OBR",
        ),
        (
            format!("{GOOD}PID|1||P2\r"),
            "PID-3: the message names two patients (`P1` and `P2`)",
        ),
        (format!("{GOOD}{GOOD}"), "MSH: a second message starts here"),
        (
            with(
                "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-5.6|N",
                "OBX|1|NM|8480-6^Systolic^LN||400|mm[Hg]||",
            ),
            "OBX-5: vitals: systolic 400 mmHg is outside 40–300",
        ),
        (String::new(), "MSH: the message is empty"),
        (
            "PID|1||P1\r".into(),
            "MSH: the message starts with `PID|1||P1`",
        ),
        (
            "MSH|^~\\&|LAB||||20260110||ORU^R01|1|P|2.5\r".into(),
            "PID: missing; an ORU^R01 must name the patient in PID-3",
        ),
    ];
    for (message, expected) in cases {
        let err = parse_oru(&message).expect_err(expected).to_string();
        assert!(
            err.starts_with(expected),
            "expected `{expected}`, got `{err}`"
        );
    }
}

#[test]
fn odd_but_valid_hl7_is_read() {
    // Other delimiters, declared in MSH-1/MSH-2, and escapes written with them.
    let custom = GOOD
        .replace('|', "#")
        .replace("^~\\&", "$*/%")
        .replace('^', "$")
        .replace("Glucose$LN", "Glu/S/cose$LN");
    let m = parse_oru(&custom).unwrap();
    let carelog_chart::EntryData::Lab(l) = &m.results[0].1 else {
        panic!()
    };
    assert_eq!(l.name, "Glu$cose");
    // A Z-segment, an empty NTE and trailing blanks are ignored.
    let extra = format!("{GOOD}ZXT|1|whatever\rNTE|1|L|\r\r\n  \n");
    assert_eq!(parse_oru(&extra).unwrap().results.len(), 1);
    // An SN value without its empty comparator is still a number.
    let sn = with("OBX|1|NM", "OBX|1|SN");
    assert_eq!(
        parse_oru(&sn).unwrap().results,
        parse_oru(GOOD).unwrap().results
    );
}

fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle", "type": "collection", "timestamp": "2026-01-10T09:00:00Z",
        "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>(),
    })
}

fn glucose(value: Value) -> Value {
    json!({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2345-7" }] },
        "subject": { "reference": "Patient/p1" },
        "valueQuantity": { "value": value, "unit": "mmol/L" },
    })
}

#[test]
fn fhir_errors_name_the_path() {
    let patient = json!({ "resourceType": "Patient", "id": "p1" });
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "resourceType": "Patient" }),
            "FHIR resourceType: expected a Bundle",
        ),
        (json!([1, 2]), "FHIR resourceType: expected a Bundle"),
        (
            json!({ "resourceType": "Bundle", "entry": {} }),
            "FHIR Bundle.entry: expected an array",
        ),
        (
            json!({ "resourceType": "Bundle", "entry": [{}] }),
            "FHIR Bundle.entry[0].resource: missing or not an object",
        ),
        (
            json!({ "resourceType": "Bundle", "timestamp": "yesterday" }),
            "FHIR Bundle.timestamp: `yesterday` is not a FHIR dateTime",
        ),
        (
            bundle(vec![glucose(json!("5.4"))]),
            "FHIR Bundle.entry[0].resource(Observation/o1).valueQuantity.value: `\"5.4\"` is not a number",
        ),
        (
            bundle(vec![{
                let mut g = glucose(json!(5.4));
                g["code"]["coding"][0]["code"] = json!("2345-8");
                g
            }]),
            "FHIR Bundle.entry[0].resource(Observation/o1).code: LOINC code `2345-8` has check digit 8",
        ),
        (
            bundle(vec![
                patient.clone(),
                json!({ "resourceType": "Patient", "id": "p2" }),
            ]),
            "FHIR Bundle.entry[1].resource(Patient/p2): the bundle holds two patients (`p1` and `p2`)",
        ),
        (
            bundle(vec![
                json!({ "resourceType": "Patient", "id": "p9" }),
                glucose(json!(5.4)),
            ]),
            "FHIR Bundle.entry[1].resource(Observation/o1).subject.reference: `Patient/p1` is not the bundle's patient (Patient/p9)",
        ),
        (
            bundle(vec![json!({
                "resourceType": "Condition", "id": "c1",
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10", "code": "diabetes" }] },
            })]),
            "FHIR Bundle.entry[0].resource(Condition/c1): condition: ICD-10 code `DIABETES` is not of the form E11.9",
        ),
        (
            bundle(vec![json!({
                "resourceType": "DocumentReference", "id": "d1", "status": "current",
                "content": [{ "attachment": { "contentType": "text/plain", "data": "not base64!" } }],
            })]),
            "FHIR Bundle.entry[0].resource(DocumentReference/d1).content[0].attachment.data: is not base64",
        ),
        (
            bundle(vec![json!({
                "resourceType": "MedicationStatement", "id": "m1", "status": "active",
                "medicationCodeableConcept": { "text": "Metformin" },
                "effectivePeriod": { "start": "2026-13-01" },
            })]),
            "FHIR Bundle.entry[0].resource(MedicationStatement/m1).effectivePeriod.start: `2026-13-01` has no month 13",
        ),
        (
            bundle(vec![
                json!({ "resourceType": "Observation", "id": "o2", "status": "final", "code": [] ,"valueQuantity": { "value": 1 } }),
            ]),
            "FHIR Bundle.entry[0].resource(Observation/o2).code: expected a CodeableConcept object",
        ),
        (
            json!({ "resourceType": "Bundle", "entry": [{ "resource": glucose(json!(5.4)) }] }),
            "FHIR Bundle.entry[0].resource(Observation/o1): no time: give effectiveDateTime",
        ),
    ];
    for (value, expected) in cases {
        let err = from_fhir(&value).expect_err(expected).to_string();
        assert!(
            err.starts_with(expected),
            "expected `{expected}`, got `{err}`"
        );
    }
}
