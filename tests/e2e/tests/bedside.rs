//! The bedside chart in the real window, at North Valley with the demo's year of visits.
//!
//! Dr Amara Osei opens Elena Marsh: the banner names her, her age, card number and penicillin
//! allergy; the lists show a resolved bronchitis, amlodipine among past drugs and an HbA1c
//! order waiting. She records today's visit with SpO2 and weight, which join the trends;
//! orders a glucose test in it; prescribing amoxicillin is stopped by the allergy warning until
//! she gives a reason; and she stops metformin, which moves to the past medications. ICD-10 codes
//! come from the bundled table as she types, and the visit summary is printed to a PDF.
//!
//! Screenshots land in `target/e2e/bedside/`.

use carelog_e2e::{App, STAFF_PASSPHRASE, demo_network, root};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_records_a_visit_meets_an_allergy_warning_and_stops_a_drug() {
    let home = demo_network(&root().join("target/e2e/bedside-demo"));
    let mut app = App::launch(&home, "bedside").await;
    let w = &mut app.window;

    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.client
        .execute(
            "[...document.querySelectorAll('button.patient-row')].find(b => b.textContent.includes('Elena Marsh')).click();",
            vec![],
        )
        .await
        .expect("Elena's row is clicked");
    w.text_with("#banner-name", "Elena Marsh").await;
    w.text_with("#banner-identity", "born 1958-04-12").await;
    w.text_with("#banner-allergies", "Penicillin").await;
    w.text_with("#banner-basis", "custodian").await;
    w.text_with("#problems", "Acute bronchitis (J20.9) — resolved")
        .await;
    w.text_with("#past-medications", "Amlodipine 5 mg").await;
    w.text_with("#current-medications", "Metformin 500 mg")
        .await;
    w.text_with("#outstanding-orders", "Hemoglobin A1c").await;
    w.text_with("#visits", "Annual review").await;
    // A year of dated visits: the systolic trend has a point per visit that measured it.
    w.count("svg.trend-plot[data-loinc='8480-6'] circle.point", 7)
        .await;
    w.screenshot("banner-and-lists").await;

    // Today's visit, then vitals and an order written in it.
    w.choose("#entry-kind", "encounter").await;
    w.type_into("#entry-reason", "dizziness on standing").await;
    w.click("#entry-submit").await;
    w.text_with("#visits", "dizziness on standing").await;
    w.choose("#entry-kind", "vitals").await;
    w.text_with("#entry-encounter", "dizziness on standing")
        .await;
    w.type_into("#entry-spo2", "96").await;
    w.type_into("#entry-weight_kg", "70.2").await;
    w.type_into("#entry-systolic", "118").await;
    w.type_into("#entry-diastolic", "72").await;
    w.click("#entry-submit").await;
    w.text_with("#entry-status", "Saved").await;
    w.text_with("#timeline", "visit: dizziness on standing")
        .await;
    w.count("svg.trend-plot[data-loinc='59408-5'] circle.point", 4)
        .await;
    w.choose("#entry-kind", "order").await;
    w.type_into("#entry-loinc", "2345-7").await;
    w.type_into("#entry-name", "Glucose").await;
    w.click("#entry-submit").await;
    w.text_with("#outstanding-orders", "Glucose (2345-7)").await;
    w.screenshot("visit-recorded").await;

    // Codes come from the bundled tables as she types; picking one fills in its name.
    w.choose("#entry-kind", "condition").await;
    w.type_into("#entry-icd10", "E11").await;
    w.count("#codes-icd10 option[value='E11.9']", 1).await;
    w.type_into("#entry-icd10", "E11.9").await;
    let mut name = serde_json::Value::Null;
    for _ in 0..50 {
        name = w
            .client
            .execute(
                "return document.querySelector('#entry-name').value;",
                vec![],
            )
            .await
            .expect("the script runs");
        if name != json!("") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        name,
        json!("Type 2 diabetes mellitus without complications")
    );
    w.screenshot("code-lookup").await;

    // Amoxicillin for a patient allergic to penicillin: warned, nothing saved, then overridden.
    w.choose("#entry-kind", "medication").await;
    w.type_into("#entry-drug", "Amoxicillin 500 mg").await;
    w.type_into("#entry-start", "2026-12-01").await;
    w.click("#entry-submit").await;
    w.text_with("#entry-status", "Allergy warning").await;
    w.text_with("#entry-status", "penicillins").await;
    w.screenshot("allergy-warning").await;
    w.type_into("#entry-override", "allergy test negative in 2025")
        .await;
    w.click("#entry-submit").await;
    w.text_with("#current-medications", "Amoxicillin 500 mg")
        .await;
    w.text_with("#timeline", "allergy warning overridden").await;

    // Metformin is stopped by amending its entry: it moves to the past medications.
    let amended = w
        .client
        .execute(
            "const li = [...document.querySelectorAll('#timeline li[data-kind=medication]')] \
               .find(l => l.textContent.includes('Metformin') && !l.classList.contains('amended')); \
             if (!li) return false; li.querySelector('button').click(); return true;",
            vec![],
        )
        .await
        .expect("the script runs");
    assert_eq!(
        amended,
        json!(true),
        "metformin's entry has an Amend button"
    );
    w.text_with("#amending", "Amending medication").await;
    w.type_into("#entry-stop", "2026-12-06").await;
    w.type_into("#entry-stop_reason", "renal function declining")
        .await;
    w.click("#entry-submit").await;
    w.text_with("#past-medications", "Metformin 500 mg").await;
    w.text_with("#past-medications", "renal function declining")
        .await;
    w.screenshot("medication-stopped").await;

    // The day's visit summary, printed to a PDF with the clinic's name.
    let pdf = root().join("target/e2e/bedside/visit-summary.pdf");
    let _ = std::fs::remove_file(&pdf);
    w.type_into("#print-path", &pdf.display().to_string()).await;
    w.click("#print-submit").await;
    w.text_with("#print-status", "Saved to").await;
    w.screenshot("visit-summary-printed").await;
    let bytes = std::fs::read(&pdf).expect("the PDF is written");
    assert!(bytes.starts_with(b"%PDF-"));
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"North Valley Clinic") && has(b"dizziness on standing"));
    app.close().await;
}
