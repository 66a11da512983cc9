//! The bedside chart through the real binary: a visit with its vitals and a lab order, the
//! result that answers it, an allergy that stops a prescription, a stopped drug, a resolved
//! problem, a corrected name, and the banner that says whose chart it is.

use crate::common;

use std::path::{Path, PathBuf};

use common::{
    add_user, assign_custodian, carelog_with, create_network, field, json_ok, refusal, register,
};
use serde_json::Value;

const ADMIN_PW: &str = "bedside admin secret";
const DOC_PW: &str = "bedside doctor secret";
const LAB_PW: &str = "bedside lab secret";
const PIN: &str = "408213";

struct Ward {
    _dir: tempfile::TempDir,
    home: PathBuf,
    doctor: String,
    lab: String,
    patient: String,
    /// The patient's card (its QR content).
    card: String,
}

fn run(home: &Path, pass: &str, new: &str, args: &[&str]) -> Value {
    json_ok(carelog_with(home, pass, new).args(args))
}

fn ward() -> Ward {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("north");
    let h = &home;
    let admin = field(
        &create_network(h, ADMIN_PW, "Valley", "North", "Ada Admin"),
        "admin_id",
    );
    let by_admin = (admin.as_str(), ADMIN_PW);
    let doctor = add_user(h, by_admin, "doctor", "Dr Rivera", DOC_PW, &[]);
    let lab = add_user(h, by_admin, "lab", "Lab Tech", LAB_PW, &[]);
    let registered = register(h, by_admin, "Paula Ester", "1980-04-02", "female", PIN);
    let (patient, card) = (field(&registered, "patient_id"), field(&registered, "card"));
    assign_custodian(h, by_admin, &patient, &doctor);
    Ward {
        _dir: dir,
        home,
        doctor,
        lab,
        patient,
        card,
    }
}

impl Ward {
    /// `chart add` as the doctor, with `extra` flags.
    fn chart_add(&self, kind: &str, data: &str, extra: &[&str]) -> std::process::Command {
        let mut cmd = carelog_with(&self.home, DOC_PW, "");
        cmd.args([
            "chart",
            "add",
            "--as",
            &self.doctor,
            "--patient",
            &self.patient,
        ])
        .args(["--kind", kind, "--data", data])
        .args(extra);
        cmd
    }

    fn add(&self, kind: &str, data: &str, extra: &[&str]) -> String {
        field(&json_ok(&mut self.chart_add(kind, data, extra)), "entry_id")
    }

    fn refused(&self, kind: &str, data: &str, extra: &[&str]) -> String {
        refusal(&mut self.chart_add(kind, data, extra))
    }

    fn show(&self) -> Value {
        run(
            &self.home,
            DOC_PW,
            "",
            &[
                "chart",
                "show",
                "--as",
                &self.doctor,
                "--patient",
                &self.patient,
            ],
        )
    }

    fn entry_count(&self) -> usize {
        self.show()["entries"].as_array().unwrap().len()
    }
}

#[test]
fn a_visit_gathers_its_vitals_and_the_order_a_lab_result_answers() {
    let w = ward();
    let visit = w.add("encounter", r#"{"reason":"fever for three days"}"#, &[]);
    let vitals = w.add(
        "vitals",
        r#"{"spo2":94,"temperature_c":38.4,"respiratory_rate":22,"weight_kg":64,"height_cm":160}"#,
        &["--encounter", &visit],
    );
    let order = w.add(
        "order",
        r#"{"loinc":"2345-7","name":"Glucose"}"#,
        &["--encounter", &visit],
    );

    let chart = w.show();
    assert_eq!(chart["encounters"][0]["reason"], "fever for three days");
    assert_eq!(
        chart["encounters"][0]["entries"],
        serde_json::json!([vitals, order])
    );
    assert_eq!(chart["outstanding_orders"][0]["entry_id"], order.as_str());
    let stored = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry_id"] == vitals.as_str())
        .unwrap();
    assert_eq!(stored["data"]["temperature_c"], 38.4);

    // The lab answers the order; it is no longer outstanding.
    let result = format!(
        r#"{{"loinc":"2345-7","name":"Glucose","value":7.9,"unit":"mmol/L","low":3.9,"high":5.6,"order":"{order}"}}"#
    );
    run(
        &w.home,
        LAB_PW,
        "",
        &[
            "chart",
            "add",
            "--as",
            &w.lab,
            "--patient",
            &w.patient,
            "--kind",
            "lab",
            "--data",
            &result,
        ],
    );
    let chart = w.show();
    assert_eq!(chart["outstanding_orders"], serde_json::json!([]));

    // Links must name an entry of the right kind in this chart.
    let before = w.entry_count();
    let err = w.refused("vitals", r#"{"spo2":97}"#, &["--encounter", &order]);
    assert!(
        err.contains("--encounter must name an encounter entry"),
        "{err}"
    );
    let err = w.refused(
        "note",
        r#"{"title":"x","text":"y"}"#,
        &["--encounter", &"0".repeat(64)],
    );
    assert!(err.contains("no chart entry"), "{err}");
    let lab_for_visit = format!(
        r#"{{"loinc":"2345-7","name":"Glucose","value":5.0,"unit":"mmol/L","order":"{visit}"}}"#
    );
    let err = w.refused("lab", &lab_for_visit, &[]);
    assert!(err.contains("order"), "{err}");
    assert_eq!(w.entry_count(), before, "refusals store nothing");
}

#[test]
fn a_drug_matching_an_allergy_is_refused_until_the_prescriber_gives_a_reason() {
    let w = ward();
    w.add(
        "allergy",
        r#"{"substance":"Penicillin","reaction":"hives","severity":"severe"}"#,
        &[],
    );
    let before = w.entry_count();
    let amoxicillin = r#"{"drug":"Amoxicillin 500 mg","start":"2026-03-01","dose":"500 mg","route":"oral","frequency":"three times daily","days_supply":7}"#;
    let err = w.refused("medication", amoxicillin, &[]);
    assert!(err.contains("allergy warning"), "{err}");
    assert!(
        err.contains("penicillins") && err.contains("Penicillin (hives)"),
        "{err}"
    );
    assert_eq!(
        w.entry_count(),
        before,
        "the refused prescription is not stored"
    );

    let given = w.add(
        "medication",
        amoxicillin,
        &["--override", "tolerated amoxicillin in 2024"],
    );
    let chart = w.show();
    let entry = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry_id"] == given.as_str())
        .unwrap();
    assert_eq!(
        entry["data"]["allergy_override"],
        "tolerated amoxicillin in 2024"
    );
    assert_eq!(entry["data"]["route"], "oral");
    assert_eq!(
        chart["banner"]["allergies"],
        serde_json::json!(["Penicillin"])
    );
}

#[test]
fn a_stopped_drug_moves_to_past_and_a_resolved_problem_keeps_its_status() {
    let w = ward();
    let metformin = w.add(
        "medication",
        r#"{"drug":"Metformin 500 mg","start":"2025-01-10","atc":"A10BA02"}"#,
        &[],
    );
    w.add(
        "medication",
        r#"{"drug":"Lisinopril 10 mg","start":"2025-02-01"}"#,
        &[],
    );
    let chart = w.show();
    assert_eq!(chart["current_medications"].as_array().unwrap().len(), 2);
    w.add(
        "medication",
        r#"{"drug":"Metformin 500 mg","start":"2025-01-10","atc":"A10BA02","stop":"2025-06-30","stop_reason":"gastro-intestinal upset"}"#,
        &["--amends", &metformin],
    );
    w.add(
        "condition",
        r#"{"icd10":"J02.9","name":"Acute pharyngitis","onset":"2025-03-01","status":"resolved","resolved":"2025-03-12"}"#,
        &[],
    );
    w.add(
        "condition",
        r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
        &[],
    );
    let chart = w.show();
    let drugs = |list: &str| -> Vec<String> {
        chart[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["drug"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(drugs("current_medications"), ["Lisinopril 10 mg"]);
    assert_eq!(drugs("past_medications"), ["Metformin 500 mg"]);
    assert_eq!(
        chart["past_medications"][0]["stop_reason"],
        "gastro-intestinal upset"
    );
    let problems: Vec<(String, String)> = chart["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("Type 2 diabetes".to_string(), "active".to_string()),
            ("Acute pharyngitis".to_string(), "resolved".to_string())
        ]
    );
    assert_eq!(chart["conflicts"], serde_json::json!([]));
}

#[test]
fn the_banner_names_the_patient_and_a_correction_keeps_the_old_value() {
    let w = ward();
    let chart = w.show();
    let banner = &chart["banner"];
    assert_eq!(banner["name"], "Paula Ester");
    assert_eq!(banner["sex"], "female");
    assert_eq!(banner["birth_date"], "1980-04-02");
    assert!(banner["age"].as_i64().unwrap() >= 46, "{banner}");
    let card = banner["card_number"].as_str().unwrap();
    assert_eq!(
        card.chars().filter(char::is_ascii_digit).count(),
        13,
        "{card}"
    );
    assert_eq!(banner["basis"], "custodian");

    let registration = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "demographics")
        .map(|e| field(e, "entry_id"))
        .unwrap();
    let err = w.refused(
        "demographics",
        r#"{"name":"Paula Esther","birth_date":"1980-04-02","sex":"female"}"#,
        &[],
    );
    assert!(err.contains("--amends"), "{err}");
    w.add(
        "demographics",
        r#"{"name":"Paula Esther","birth_date":"1980-04-02","sex":"female"}"#,
        &["--amends", &registration],
    );
    let chart = w.show();
    assert_eq!(chart["banner"]["name"], "Paula Esther");
    let names: Vec<&str> = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "demographics")
        .map(|e| e["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Paula Ester", "Paula Esther"],
        "the old value is kept"
    );
}

#[test]
fn impossible_values_of_the_new_kinds_are_refused_with_a_reason() {
    let w = ward();
    let before = w.entry_count();
    for (kind, data, says) in [
        ("vitals", r#"{"spo2":120}"#, "SpO2 120 % is outside 50–100"),
        (
            "vitals",
            r#"{"respiratory_rate":0}"#,
            "respiratory rate 0 /min is outside 2–80",
        ),
        ("vitals", r#"{"weight_kg":70,"height_cm":40}"#, "BMI"),
        ("encounter", r#"{"reason":""}"#, "reason is empty"),
        (
            "order",
            r#"{"loinc":"2345-8","name":"Glucose"}"#,
            "check digit",
        ),
        (
            "immunization",
            r#"{"cvx":"MMR","name":"MMR","date":"2026-03-01"}"#,
            "CVX code",
        ),
        (
            "immunization",
            r#"{"cvx":"03","name":"MMR","date":"2026-02-30"}"#,
            "not a day",
        ),
        (
            "medication",
            r#"{"drug":"X","start":"2026-03-01","stop":"2026-02-01"}"#,
            "before start",
        ),
        (
            "medication",
            r#"{"drug":"X","start":"2026-03-01","atc":"12345"}"#,
            "ATC code",
        ),
        (
            "condition",
            r#"{"icd10":"E11.9","name":"x","status":"active","resolved":"2026-01-01"}"#,
            "resolution date",
        ),
        (
            "allergy",
            r#"{"substance":"Latex","severity":"deadly"}"#,
            "unknown variant",
        ),
    ] {
        let err = w.refused(kind, data, &[]);
        assert!(err.contains(says), "{kind} {data}: {err}");
    }
    assert_eq!(w.entry_count(), before);
}

#[test]
fn a_visit_summary_a_referral_and_a_prescription_print_to_pdf() {
    let w = ward();
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let print = |args: &[&str]| {
        let mut all = vec!["chart", "print", "--as", &w.doctor, "--patient", &w.patient];
        all.extend_from_slice(args);
        carelog_with(&w.home, DOC_PW, "")
            .args(all)
            .output()
            .unwrap()
    };
    // No visit yet: nothing to summarise, and nothing is written.
    let refused = print(&["--document", "visit", "--out", &out("none.pdf")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no visit"));
    assert!(!dir.path().join("none.pdf").exists());

    let visit = w.add("encounter", r#"{"reason":"sore throat"}"#, &[]);
    w.add(
        "vitals",
        r#"{"temperature_c":38.1}"#,
        &["--encounter", &visit],
    );
    w.add(
        "medication",
        r#"{"drug":"Phenoxymethylpenicillin 250 mg","start":"2026-03-01","dose":"250 mg","route":"oral","frequency":"four times daily","days_supply":10}"#,
        &[],
    );
    for (document, extra) in [
        ("visit", vec![]),
        ("prescription", vec![]),
        (
            "referral",
            vec!["--to", "ENT clinic", "--reason", "recurrent tonsillitis"],
        ),
    ] {
        let file = out(&format!("{document}.pdf"));
        let mut args = vec!["--document", document, "--out", &file];
        args.extend(extra);
        let done = print(&args);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        let printed: Value = serde_json::from_slice(&done.stdout).unwrap();
        assert_eq!(printed["file"], file.as_str());
        let pdf = std::fs::read(&file).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        assert!(
            has(b"North") && has(b"Paula Ester"),
            "{document}: clinic and patient"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{document}");
        }
    }
    let rx = std::fs::read(out("prescription.pdf")).unwrap();
    assert!(rx.windows(15).any(|w| w == b"four times dail"));
    let missing = print(&["--document", "referral", "--out", &out("r.pdf")]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--to"));
    // Printing is a read the patient sees in the log.
    let audit = run(
        &w.home,
        DOC_PW,
        "",
        &["audit", "--as", &w.doctor, "--patient", &w.patient],
    );
    assert!(
        audit.to_string().contains("printed a prescription"),
        "{audit}"
    );
}

/// `carelog --home HOME ARGS` as a person runs it (no `--json`); its standard output.
fn for_people(home: &Path, pass: &str, args: &[&str]) -> String {
    let out = common::succeeded(common::for_people(home, pass).args(args));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_lab_works_from_the_orders_waiting_and_a_result_takes_its_order_off_the_list() {
    let w = ward();
    let visit = w.add("encounter", r#"{"reason":"thirst and tiredness"}"#, &[]);
    let order = w.add(
        "order",
        r#"{"loinc":"2345-7","name":"Glucose","note":"fasting since midnight"}"#,
        &["--encounter", &visit],
    );
    let orders = |home: &Path| run(home, LAB_PW, "", &["orders", "--as", &w.lab]);

    // The lab's worklist: whose specimen, which test, who ordered it; never the chart.
    let list = orders(&w.home);
    assert_eq!(list.as_object().unwrap().len(), 1, "{list}");
    let waiting = list["orders"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{list}");
    let o = &waiting[0];
    assert_eq!(o["patient_id"], w.patient.as_str());
    assert_eq!(o["patient_name"], "Paula Ester");
    assert_eq!(o["birth_date"], "1980-04-02");
    assert_eq!(o["sex"], "female");
    assert_eq!(o["entry_id"], order.as_str());
    assert_eq!(o["loinc"], "2345-7");
    assert_eq!(o["name"], "Glucose");
    assert_eq!(o["note"], "fasting since midnight");
    assert_eq!(o["priority"], "routine");
    assert_eq!(o["ordered_by"], "Dr Rivera");
    assert!(o["ordered_at"].as_str().unwrap().ends_with('Z'), "{o}");
    assert!(
        !list.to_string().contains("thirst"),
        "the visit is not shown"
    );
    let table = for_people(&w.home, LAB_PW, &["orders", "--as", &w.lab]);
    assert!(table.starts_with("ORDERED"), "{table}");
    assert!(
        table.contains("Paula Ester (1980-04-02, female)")
            && table.contains("Glucose (2345-7) — fasting since midnight")
            && table.contains(&order),
        "{table}"
    );

    // The result names the order: it leaves the worklist and the chart links the two.
    let result = format!(
        r#"{{"loinc":"2345-7","name":"Glucose","value":7.9,"unit":"mmol/L","low":3.9,"high":5.6,"order":"{order}"}}"#
    );
    let answer = field(
        &run(
            &w.home,
            LAB_PW,
            "",
            &[
                "chart",
                "add",
                "--as",
                &w.lab,
                "--patient",
                &w.patient,
                "--kind",
                "lab",
                "--data",
                &result,
            ],
        ),
        "entry_id",
    );
    assert_eq!(orders(&w.home)["orders"], serde_json::json!([]));
    assert_eq!(
        for_people(&w.home, LAB_PW, &["orders", "--as", &w.lab]).trim(),
        "No orders are waiting for a result."
    );
    let chart = w.show();
    assert_eq!(chart["outstanding_orders"], serde_json::json!([]));
    let stored = chart["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry_id"] == answer.as_str())
        .unwrap();
    assert_eq!(stored["data"]["order"], order.as_str());
    assert_eq!(stored["data"]["abnormal"], "H");
    assert_eq!(stored["author"], "Lab Tech");

    // A doctor keeps no worklist.
    let err = refusal(carelog_with(&w.home, DOC_PW, "").args(["orders", "--as", &w.doctor]));
    assert!(err.contains("only the clinic's labs"), "{err}");

    // The patient's audit shows each time the lab looked at the orders (twice with one waiting;
    // the empty list after the result showed no one).
    let audit = json_ok(
        carelog_with(&w.home, PIN, "")
            .env("CARELOG_CARD", &w.card)
            .args(["audit", "--as", &w.patient, "--patient", &w.patient]),
    );
    let looked: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read orders")
        .collect();
    assert_eq!(looked.len(), 2, "{audit}");
    assert!(looked.iter().all(|e| e["actor_name"] == "Lab Tech"));
}

#[test]
fn another_clinics_lab_sees_none_of_the_orders_this_clinic_holds() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    run(
        dir.path(),
        "",
        "",
        &["demo", "--dir", demo.to_str().unwrap()],
    );
    let (north, south) = (demo.join("clinic-1"), demo.join("clinic-2"));
    const STAFF: &str = "demo clinic staff";

    // North Valley's lab has Elena Marsh's HbA1c waiting (an order of the demo's year).
    let north_list = run(&north, STAFF, "", &["orders", "--as", "North Lab"]);
    assert!(
        north_list["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["patient_name"] == "Elena Marsh" && o["loinc"] == "4548-4"),
        "{north_list}"
    );
    // South Harbour's replica holds the same blocks; its new lab lists none of North's orders.
    run(
        &south,
        STAFF,
        "harbour lab's own passphrase",
        &[
            "user",
            "add",
            "--as",
            "Samir Admin",
            "--role",
            "lab",
            "--name",
            "Harbour Lab",
        ],
    );
    let south_list = run(
        &south,
        "harbour lab's own passphrase",
        "",
        &["orders", "--as", "Harbour Lab"],
    );
    assert_eq!(south_list, serde_json::json!({"orders": []}));
    // Nor can it ask at North Valley: its keys are not there, and the worklist there is North's.
    let err = refusal(
        carelog_with(&north, "harbour lab's own passphrase", "").args([
            "orders",
            "--as",
            "Harbour Lab",
        ]),
    );
    assert!(!err.contains("Elena"), "{err}");
    let err = refusal(carelog_with(&north, STAFF, "").args(["orders", "--as", "Dr Amara Osei"]));
    assert!(err.contains("only the clinic's labs"), "{err}");
}
