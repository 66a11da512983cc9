//! The bedside chart in the real window, at North Valley with the demo's year of visits.
//!
//! Dr Amara Osei opens Elena Marsh: the banner names her, her age, card number and penicillin
//! allergy; the lists show a resolved bronchitis, amlodipine among past drugs and an HbA1c
//! order waiting. She records today's visit with SpO2 and weight, which join the trends;
//! orders a glucose test in it; prescribing amoxicillin is stopped by the allergy warning until
//! she gives a reason; and she stops metformin, which moves to the past medications. ICD-10 codes
//! come from the bundled table as she types, and the visit summary is printed to a PDF.
//!
//! North Lab works from its worklist: the glucose order Dr Osei placed for Elena is there with
//! her birth date and the unit and range of the test; the lab saves the value against the order,
//! which leaves the list; Dr Osei sees the value in the glucose trend and the order no longer
//! waiting, and Elena's audit shows that the lab looked at her orders.
//!
//! Two clinics stop Elena's metformin differently while apart (Dr Duarte at South Harbour, whom
//! Dr Osei granted full access, and Dr Osei at North Valley); once they sync, Dr Osei's chart
//! shows the conflicting edits with both dates, and keeping one settles it.
//!
//! Screenshots land in `target/e2e/bedside/`, `target/e2e/bedside-lab/` and
//! `target/e2e/bedside-conflict/`.

use std::path::Path;

use carelog_e2e::{App, STAFF_PASSPHRASE, cli, demo_network, free_udp_addr, root, serve, sync};
use serde_json::{Value, json};

/// One window at a time: the stories of this file share two cores.
static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Elena Marsh's patient id, as North Valley's front desk finds her.
fn elena(north: &Path) -> String {
    let found = cli(
        north,
        STAFF_PASSPHRASE,
        &[
            "patient",
            "find",
            "--as",
            "Nora Admin",
            "--name",
            "Elena Marsh",
        ],
    );
    found["patients"][0]["patient_id"]
        .as_str()
        .expect("the demo registers Elena Marsh at North Valley")
        .to_string()
}

/// Elena's chart as Dr Osei reads it with the CLI at `home`.
fn chart(home: &Path, patient: &str) -> Value {
    cli(
        home,
        STAFF_PASSPHRASE,
        &[
            "chart",
            "show",
            "--as",
            "Dr Amara Osei",
            "--patient",
            patient,
        ],
    )
}

/// Clicks Elena's row in the patient list until her chart's banner shows. The list can be
/// drawn again under the click (blocks the app's own sync link seals after the window opens
/// refresh it), and a busy machine can take a while to open a year of visits: the click is
/// repeated a few times, each given 20 seconds, before the usual wait fails the story.
async fn open_elena(w: &carelog_e2e::Window) {
    w.text_with("#patient-list", "Elena Marsh").await;
    for _ in 0..3 {
        w.client
            .execute(
                "const row = [...document.querySelectorAll('button.patient-row')].find(b => b.textContent.includes('Elena Marsh')); if (row) { row.click(); }",
                vec![],
            )
            .await
            .expect("the click runs in the webview");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let shown = w
                .client
                .execute(
                    "const b = document.querySelector('#banner-name'); return b ? b.textContent : '';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if shown.contains("Elena Marsh") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    w.text_with("#banner-name", "Elena Marsh").await;
}

/// Scrolls `css` to the middle of the window, for the screenshot that follows.
async fn scroll_to(w: &carelog_e2e::Window, css: &str) {
    w.element(css).await;
    w.client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
            vec![json!(css)],
        )
        .await
        .expect("the page scrolls");
}

/// The value of a form field.
async fn field_value(w: &carelog_e2e::Window, css: &str) -> Value {
    w.element(css).await;
    w.client
        .execute(
            "return document.querySelector(arguments[0]).value;",
            vec![json!(css)],
        )
        .await
        .expect("the script runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_records_a_visit_meets_an_allergy_warning_and_stops_a_drug() {
    let _one = ONE_WINDOW.lock().await;
    let home = demo_network(&root().join("target/e2e/bedside-demo"));
    let mut app = App::launch(&home, "bedside").await;
    let w = &mut app.window;

    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    open_elena(w).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_answers_a_glucose_order_from_its_worklist_and_the_doctor_sees_the_result() {
    let _one = ONE_WINDOW.lock().await;
    let home = demo_network(&root().join("target/e2e/bedside-lab-demo"));
    let elena = elena(&home);
    let order = cli(
        &home,
        STAFF_PASSPHRASE,
        &[
            "chart",
            "add",
            "--as",
            "Dr Amara Osei",
            "--patient",
            &elena,
            "--kind",
            "order",
            "--data",
            r#"{"loinc":"2345-7","name":"Glucose","note":"fasting since midnight"}"#,
        ],
    )["entry_id"]
        .as_str()
        .expect("the order's entry id")
        .to_string();
    let glucose_results = chart(&home, &elena)["entries"]
        .as_array()
        .expect("the chart lists entries")
        .iter()
        .filter(|e| e["kind"] == "lab" && e["data"]["loinc"] == "2345-7")
        .count();
    assert!(glucose_results > 0, "the demo's year has glucose results");

    let mut app = App::launch(&home, "bedside-lab").await;
    let w = &mut app.window;
    w.sign_in("North Lab", STAFF_PASSPHRASE).await;
    // The lab's desk opens on the orders waiting: whose specimen, which test, who asked.
    let row = format!("#order-{order}");
    w.text_with("#worklist", "Orders waiting for results").await;
    w.text_with(&row, "Elena Marsh").await;
    w.text_with(&row, "born 1958-04-12").await;
    w.text_with(&row, "Glucose (2345-7)").await;
    w.text_with(&row, "Dr Amara Osei").await;
    w.text_with(&row, "fasting since midnight").await;
    // The demo's HbA1c order for her is waiting too.
    w.text_with("#worklist-orders", "Hemoglobin A1c (4548-4)")
        .await;
    // The bundled table starts the form with the test's unit and adult range.
    assert_eq!(
        field_value(w, &format!("#result-unit-{order}")).await,
        json!("mmol/L")
    );
    assert_eq!(
        field_value(w, &format!("#result-low-{order}")).await,
        json!("3.9")
    );
    assert_eq!(
        field_value(w, &format!("#result-high-{order}")).await,
        json!("5.6")
    );
    w.screenshot("worklist").await;

    w.type_into(&format!("#result-value-{order}"), "7.9").await;
    w.click(&format!("{row} button.result-save")).await;
    w.text_with(
        "#worklist-status",
        "Saved: Glucose 7.9 mmol/L for Elena Marsh",
    )
    .await;
    w.count(&row, 0).await;
    w.text_with("#worklist-orders", "Hemoglobin A1c").await;
    w.screenshot("result-saved").await;

    // Dr Osei sees the value in the glucose trend, and the order no longer waits.
    w.sign_out().await;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    open_elena(w).await;
    w.count(
        "svg.trend-plot[data-loinc='2345-7'] circle.point",
        glucose_results + 1,
    )
    .await;
    w.text_with("#timeline", "Glucose 7.9").await;
    let waiting = w.text_with("#outstanding-orders", "Hemoglobin A1c").await;
    assert!(!waiting.contains("Glucose"), "{waiting}");
    w.screenshot("order-no-longer-waiting").await;
    scroll_to(w, "svg.trend-plot[data-loinc='2345-7']").await;
    w.screenshot("glucose-trend").await;
    app.close().await;

    // Elena's audit shows that the lab looked at her orders.
    let audit = cli(
        &home,
        STAFF_PASSPHRASE,
        &["audit", "--as", "Dr Amara Osei", "--patient", &elena],
    );
    assert!(
        audit["events"]
            .as_array()
            .expect("the audit lists events")
            .iter()
            .any(|e| e["action"] == "read orders" && e["actor_name"] == "North Lab"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_from_two_clinics_apart_show_as_a_conflict_and_keeping_one_settles_it() {
    let _one = ONE_WINDOW.lock().await;
    let dir = root().join("target/e2e/bedside-conflict-demo");
    let north = demo_network(&dir);
    let south = dir.join("clinic-2");
    let elena = elena(&north);
    let at = |home: &Path, args: &[&str]| cli(home, STAFF_PASSPHRASE, args);

    // Dr Osei, Elena's family doctor, gives Dr Duarte at South Harbour full access; South syncs.
    at(
        &north,
        &[
            "access",
            "grant",
            "--as",
            "Dr Amara Osei",
            "--patient",
            &elena,
            "--to",
            "Dr Ines Duarte",
            "--level",
            "full",
        ],
    );
    let addr = free_udp_addr();
    let serving = serve(&north, &addr, Some(&dir.join("north-serve.log")));
    sync(&south, &addr);
    drop(serving);

    // Apart, each clinic stops her metformin on a different day.
    let shown = chart(&north, &elena);
    let metformin = shown["entries"]
        .as_array()
        .expect("the chart lists entries")
        .iter()
        .find(|e| {
            e["kind"] == "medication"
                && e["data"]["drug"] == "Metformin 500 mg"
                && e.get("amended_by").is_none()
        })
        .expect("the demo gives Elena metformin")
        .clone();
    let entry = metformin["entry_id"].as_str().expect("an entry id");
    // Two past days from her chart: the day metformin started and the later day amlodipine
    // was stopped, so either stop puts metformin among the past drugs.
    let north_stop = metformin["data"]["start"]
        .as_str()
        .expect("a start date")
        .to_string();
    let south_stop = shown["past_medications"]
        .as_array()
        .expect("the chart lists past drugs")
        .iter()
        .find(|m| m["drug"] == "Amlodipine 5 mg")
        .and_then(|m| m["end"].as_str())
        .expect("the demo stopped amlodipine")
        .to_string();
    assert!(south_stop > north_stop, "{north_stop} {south_stop}");
    let stopped = |stop: &str, why: &str| {
        let mut data = metformin["data"].clone();
        data["stop"] = json!(stop);
        data["stop_reason"] = json!(why);
        data.to_string()
    };
    let amend = |home: &Path, who: &str, data: String| {
        at(
            home,
            &[
                "chart",
                "add",
                "--as",
                who,
                "--patient",
                &elena,
                "--kind",
                "medication",
                "--amends",
                entry,
                "--data",
                &data,
            ],
        );
    };
    amend(&north, "Dr Amara Osei", stopped(&north_stop, "nausea"));
    amend(
        &south,
        "Dr Ines Duarte",
        stopped(&south_stop, "switched to insulin"),
    );
    let serving = serve(&north, &addr, Some(&dir.join("north-serve-again.log")));
    let synced = sync(&south, &addr);
    drop(serving);
    assert_eq!(
        synced["state_hash"],
        at(&north, &["ledger", "stats"])["state_hash"],
        "both clinics hold the same blocks"
    );
    let conflicts = chart(&north, &elena)["conflicts"].to_string();
    assert!(
        conflicts.contains(&north_stop) && conflicts.contains(&south_stop),
        "{conflicts}"
    );

    let mut app = App::launch(&north, "bedside-conflict").await;
    let w = &mut app.window;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    open_elena(w).await;
    w.text_with("#conflicts", "Conflicting edits").await;
    w.text_with("#conflicts", &north_stop).await;
    w.text_with("#conflicts", &south_stop).await;
    w.text_with("#conflicts", "switched to insulin").await;
    w.screenshot("conflict-shown").await;

    // She keeps South Harbour's date: it is saved as an amendment and the card goes away.
    let kept = w
        .client
        .execute(
            "const b = [...document.querySelectorAll('#conflicts button.conflict-keep')] \
               .find(b => b.textContent.includes(arguments[0])); \
             if (!b) return false; b.click(); return true;",
            vec![json!(south_stop)],
        )
        .await
        .expect("the script runs");
    assert_eq!(kept, json!(true), "a Keep button for {south_stop}");
    w.text_with("#amending", "Amending medication").await;
    scroll_to(w, "#entry-form").await;
    w.screenshot("keep-chosen").await;
    w.click("#entry-submit").await;
    w.text_with("#entry-status", "Amendment saved").await;
    w.count("#conflicts", 0).await;
    w.text_with("#past-medications", "Metformin 500 mg").await;
    scroll_to(w, "#clinical-lists").await;
    w.screenshot("conflict-settled").await;
    app.close().await;
    let after = chart(&north, &elena);
    assert_eq!(after["conflicts"], json!([]));
    let metformin_after = after["past_medications"]
        .as_array()
        .expect("the chart lists past drugs")
        .iter()
        .find(|m| m["drug"] == "Metformin 500 mg")
        .cloned();
    assert_eq!(
        metformin_after.map(|m| m["end"].clone()),
        Some(json!(south_stop))
    );
}
