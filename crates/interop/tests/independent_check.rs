//! Our HL7 and FHIR output, read by parsers and validators Carelog did not write.
//!
//! `check_interop.py` runs hl7apy (strict HL7 v2.5 validation) and python-hl7 on the messages, and
//! fhir.resources (R4B models) and fhirclient (R4 4.0.1 models, strict) on the bundles. This test
//! writes a full and a sample export to a temporary directory, runs the script, and compares what
//! those libraries read with the chart the export came from. It fails — never skips — when the
//! Python packages are missing: `cargo xtask test` installs them.

mod common;

use std::path::Path;
use std::process::Command;

use carelog_chart::{AccessLevel, EntryData, VITAL_SIGNS};
use carelog_interop::{to_fhir, to_hl7};
use common::*;
use serde_json::Value;

const PIP: &str = "python3 -m pip install hl7==0.4.5 hl7apy==1.3.5 fhir.resources==8.3.0 fhir-core==1.1.12 fhirclient==4.4.0";

/// Writes the exports, runs the checker and returns its report, failing loudly on any problem.
fn run_checker(dir: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_interop.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run python3 ({e}); run `cargo xtask test`, which installs python3 and the checkers ({PIP})")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "the independent HL7/FHIR checkers are missing; run `cargo xtask test`, which installs them.\n{stderr}"
        ),
        other => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let errors = serde_json::from_str::<Value>(&stdout)
                .map(|r| r["errors"].to_string())
                .unwrap_or_else(|_| stdout.to_string());
            panic!("check_interop.py exited {other:?}:\n{errors}\n{stderr}");
        }
    }
    serde_json::from_slice(&output.stdout).expect("the checker prints one JSON report")
}

#[test]
fn independent_parsers_accept_and_read_our_exports() {
    let records = chart();
    let d = demographics();
    let dir = tempfile::tempdir().unwrap();
    for (name, level) in [("full", AccessLevel::Full), ("sample", AccessLevel::Sample)] {
        let e = export(level, &records, &d);
        std::fs::write(dir.path().join(format!("{name}.hl7")), to_hl7(&e).unwrap()).unwrap();
        let bundle = serde_json::to_string_pretty(&to_fhir(&e).unwrap()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.fhir.json")), bundle).unwrap();
    }
    let report = run_checker(dir.path());
    assert_eq!(report["errors"], serde_json::json!([]));
    check_hl7(&report["hl7"]["full.hl7"], &records);
    check_fhir(&report["fhir"]["full.fhir.json"], &records);

    let sample = &report["hl7"]["sample.hl7"];
    assert_eq!(sample["pid"]["family"], "M. J. O.");
    assert_eq!(sample["pid"]["name_type"], "S");
    assert_eq!(sample["pid"]["birth_date"], "");
    let patient = &report["fhir"]["sample.fhir.json"]["resources"][0];
    assert_eq!(patient["birthDate"], Value::Null);
    assert_eq!(patient["name"][0]["use"], "anonymous");
}

/// What python-hl7 read from the full message matches the chart, entry by entry.
fn check_hl7(r: &Value, records: &[carelog_chart::ChartRecord]) {
    assert_eq!(r["hl7apy_message"], "ORU_R01");
    assert_eq!(r["msh"]["sending_application"], "Carelog");
    assert_eq!(r["msh"]["sending_facility"], "North & South |");
    assert_eq!(r["msh"]["type"], "ORU^R01^ORU_R01");
    assert_eq!(r["msh"]["version"], "2.5");
    assert_eq!(r["msh"]["charset"], "UNICODE UTF-8");
    assert_eq!(r["msh"]["time"], "20260301120000.250+0000");
    assert_eq!(r["pid"]["id"], PATIENT);
    assert_eq!(r["pid"]["id_type"], "PI");
    assert_eq!(
        (&r["pid"]["family"], &r["pid"]["given"], &r["pid"]["middle"]),
        (&"O'Neil-Núñez".into(), &"María".into(), &"José".into())
    );
    assert_eq!(r["pid"]["birth_date"], "19800402");
    assert_eq!(r["pid"]["sex"], "F");

    let expected: Vec<EntryData> = expected_current(records)
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| {
            matches!(
                e,
                EntryData::Vitals(_) | EntryData::Lab(_) | EntryData::Note(_)
            )
        })
        .collect();
    let orders = r["orders"].as_array().unwrap();
    assert_eq!(orders.len(), expected.len());
    assert_eq!(r["hl7apy_orders"], orders.len());
    let observations: usize = orders
        .iter()
        .map(|o| o["observations"].as_array().unwrap().len())
        .sum();
    assert_eq!(r["hl7apy_observations"], observations);

    for (order, entry) in orders.iter().zip(&expected) {
        let obs = order["observations"].as_array().unwrap();
        match entry {
            EntryData::Vitals(v) => {
                assert_eq!(order["code"], "85353-1");
                let present: Vec<_> = v
                    .signs()
                    .into_iter()
                    .filter_map(|(s, x)| x.map(|x| (s, x)))
                    .collect();
                assert_eq!(obs.len(), present.len());
                for (o, (sign, value)) in obs.iter().zip(present) {
                    assert_eq!(o["code"], sign.loinc);
                    assert_eq!(o["system"], "LN");
                    assert_eq!(o["number"].as_f64(), Some(value));
                    assert_eq!(o["unit"], sign.unit);
                    assert!(VITAL_SIGNS.iter().any(|s| s.loinc == sign.loinc));
                }
            }
            EntryData::Lab(l) => {
                assert_eq!(order["code"], l.loinc.as_str());
                let o = &obs[0];
                assert_eq!(o["type"], "NM");
                assert_eq!(o["code"], l.loinc.as_str());
                assert_eq!(
                    o["text"],
                    l.name.as_str(),
                    "escapes read back by python-hl7"
                );
                assert_eq!(o["number"].as_f64(), Some(l.value));
                assert_eq!(o["unit"], l.unit.as_str());
                assert_eq!(o["flag"], l.abnormal.as_deref().unwrap_or(""));
                let range = o["range"].as_str().unwrap();
                match (l.low, l.high) {
                    (Some(lo), Some(hi)) => assert_eq!(range, format!("{lo}-{hi}")),
                    (Some(lo), None) => assert_eq!(range, format!(">{lo}")),
                    (None, Some(hi)) => assert_eq!(range, format!("<{hi}")),
                    (None, None) => assert_eq!(range, ""),
                }
            }
            EntryData::Note(n) => {
                assert_eq!(order["code"], "34109-9");
                let lines = &order["notes"][0];
                assert_eq!(lines[0], n.title.as_str());
                // python-hl7 reads \.br\ and \X0D\ both as CR.
                let text = lines[1].as_str().unwrap().replace('\r', "\n");
                assert_eq!(text, n.text.replace('\r', "\n"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// What the FHIR validators' run read from the full bundle matches the chart.
fn check_fhir(r: &Value, records: &[carelog_chart::ChartRecord]) {
    let resources = r["resources"].as_array().unwrap();
    let find = |id: &str| {
        resources
            .iter()
            .find(|x| x["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let patient = find(PATIENT);
    assert_eq!(patient["birthDate"], "1980-04-02");
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["identifier"], PATIENT);
    for record in records.iter().filter(|r| r.entry_id != "v3") {
        let id = record.entry_id.as_str();
        match &record.data {
            EntryData::Vitals(v) => {
                assert_eq!(find(id)["members"], v.observations().len());
                for o in v.observations() {
                    let member = find(&format!("{id}-{}", o.loinc));
                    assert_eq!(member["category"], "vital-signs");
                    assert_eq!(member["value"].as_f64(), Some(o.value));
                    assert_eq!(member["unit"], o.unit.as_str());
                }
            }
            EntryData::Lab(l) => {
                let x = find(id);
                assert_eq!(
                    (&x["code"], &x["category"]),
                    (&l.loinc.as_str().into(), &"laboratory".into())
                );
                assert_eq!(x["value"].as_f64(), Some(l.value));
                assert_eq!(x["low"].as_f64(), l.low);
                assert_eq!(x["high"].as_f64(), l.high);
                assert_eq!(x["interpretation"].as_str(), l.abnormal.as_deref());
            }
            EntryData::Note(n) => {
                let x = find(id);
                assert_eq!(x["text"], n.text.as_str(), "base64 decoded by Python");
                assert_eq!(x["title"], n.title.as_str());
            }
            EntryData::Condition(c) => {
                let x = find(id);
                assert_eq!(x["code"], c.icd10.as_str());
                assert_eq!(x["system"], "http://hl7.org/fhir/sid/icd-10");
                assert_eq!(x["clinicalStatus"], c.status().as_str());
                assert_eq!(
                    x["abatement"].as_str(),
                    c.resolved.map(carelog_chart::date_string).as_deref()
                );
            }
            EntryData::Allergy(a) => {
                let x = find(id);
                assert_eq!(x["substance"], a.substance.as_str());
                let reactions: Vec<&str> = a.reaction.iter().map(String::as_str).collect();
                assert_eq!(x["reaction"], serde_json::json!(reactions));
                let criticality = a.severity.map(|s| match s {
                    carelog_chart::Severity::Severe => "high",
                    _ => "low",
                });
                assert_eq!(x["criticality"].as_str(), criticality);
            }
            EntryData::Medication(m) => {
                let x = find(id);
                assert_eq!(x["drug"], m.drug.as_str());
                assert_eq!(x["period"]["start"], carelog_chart::date_string(m.start));
                let codes: Vec<&str> = m.rxnorm.iter().chain(&m.atc).map(String::as_str).collect();
                assert_eq!(x["codes"], serde_json::json!(codes));
                if m.dose.is_some() {
                    assert_eq!(x["dosage"][0], "10 mg, oral, once daily");
                }
            }
            EntryData::Encounter(e) => {
                let x = find(id);
                assert_eq!(
                    (x["status"].as_str(), x["classCode"].as_str()),
                    (Some("finished"), Some("AMB"))
                );
                assert_eq!(x["reason"], serde_json::json!([e.reason]));
                // The visit's day, or when it was written when no day was given.
                let day = e
                    .date
                    .map(carelog_chart::date_string)
                    .unwrap_or_else(|| "2026-01-10".into());
                assert!(x["start"].as_str().unwrap().starts_with(&day), "{x}");
            }
            EntryData::Order(o) => {
                let x = find(id);
                assert_eq!(
                    (x["code"].as_str(), x["system"].as_str()),
                    (Some(o.loinc.as_str()), Some("http://loinc.org"))
                );
                assert_eq!(x["intent"], "order");
            }
            EntryData::Immunization(i) => {
                let x = find(id);
                assert_eq!(x["code"], i.cvx.as_str());
                assert_eq!(x["system"], "http://hl7.org/fhir/sid/cvx");
                assert_eq!(x["date"], carelog_chart::date_string(i.date));
                assert_eq!(x["lot"].as_str(), i.lot.as_deref());
            }
            EntryData::Demographics(_) => {}
        }
    }
}
