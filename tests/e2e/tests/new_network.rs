//! A new network from the welcome screen: the first admin founds it, enrolls a doctor, a second
//! doctor and a lab, registers a patient and assigns the family doctor; the doctor records a lab
//! result and a note and amends the note from the keyboard-friendly form; a colleague breaks the
//! glass in an emergency; the clinic's lab records a result; the admin reads the audit; the patient takes the colleague's access away.
//!
//! Screenshots land in `target/e2e/new-network/`.

use carelog_e2e::{App, STAFF_PASSPHRASE, root};

const LENA: &str = "lena keeps the lakeside keys";
const STAFF: &str = "lakeside staff morning shift";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_starts_a_network_and_cares_for_its_first_patient() {
    let home = root().join("target/e2e/new-network-home");
    if home.exists() {
        std::fs::remove_dir_all(&home).expect("the old home can be removed");
    }
    let mut app = App::launch(&home, "new-network").await;
    let w = &mut app.window;

    // Welcome: no clinic here yet.
    w.element("#create-network").await;
    w.text_with("footer.status-bar", "No clinic open").await;
    w.type_into("#new-network", "Lake District").await;
    w.type_into("#new-clinic", "Lakeside Clinic").await;
    w.type_into("#new-admin", "Lena Admin").await;
    // A weak admin passphrase is refused with advice, and nothing is made.
    w.type_into("#new-passphrase", "lena123").await;
    w.type_into(
        "#new-authority-passphrase",
        "lake district health authority",
    )
    .await;
    w.click("#create-network").await;
    w.text_with("#welcome-error", "too easy to guess").await;
    assert!(!home.join("node.key").exists());
    w.type_into("#new-passphrase", LENA).await;
    w.screenshot("welcome").await;
    w.click("#create-network").await;
    w.text_with("#signin-heading", "Lakeside Clinic").await;
    w.text_with("#status-clinic", "Lakeside Clinic").await;

    // Staff.
    w.sign_in("Lena Admin", LENA).await;
    w.click("#tab-staff").await;
    for (role, name, specialty) in [
        ("doctor", "Dr Kai Moreno", "family medicine"),
        ("doctor", "Dr Ada Quinn", "emergency medicine"),
        ("lab", "Lakeside Lab", ""),
    ] {
        w.choose("#enroll-role", role).await;
        w.type_into("#enroll-name", name).await;
        if !specialty.is_empty() {
            w.type_into("#enroll-specialty", specialty).await;
        }
        w.type_into("#enroll-passphrase", STAFF).await;
        w.click("#enroll-submit").await;
        w.text_with("#enroll-status", &format!("{name} is enrolled as {role}"))
            .await;
    }
    w.text_with("#staff-table", "emergency medicine").await;
    w.screenshot("staff-enrolled").await;

    // A patient with a family doctor.
    w.click("#tab-patients").await;
    w.type_into("#reg-name", "Omar Haddad").await;
    w.type_into("#reg-birth", "1971-09-30").await;
    w.choose("#reg-sex", "male").await;
    w.type_into("#reg-pin", "246813").await;
    w.click("#reg-submit").await;
    w.text_with("#reg-status", "Patient registered").await;
    let patient = w
        .element("#reg-new-id")
        .await
        .text()
        .await
        .expect("the new patient id");
    let card = w
        .element("#reg-card")
        .await
        .text()
        .await
        .expect("the new patient's card");
    w.element(&format!("#assign-patient option[value='{patient}']"))
        .await;
    w.choose("#assign-patient", &patient).await;
    w.choose("#assign-doctor", "Dr Kai Moreno").await;
    w.click("#assign-submit").await;
    w.text_with("#assign-status", "Dr Kai Moreno is now the family doctor")
        .await;
    w.sign_out().await;

    // The family doctor records a lab result and a note, then amends the note.
    w.sign_in("Dr Kai Moreno", STAFF).await;
    w.click(&format!("button.patient-row[data-patient-id='{patient}']"))
        .await;
    w.text_with("#chart-title", "Omar Haddad").await;
    w.choose("#entry-kind", "lab").await;
    w.type_into("#entry-loinc", "2345-7").await;
    w.type_into("#entry-name", "Glucose").await;
    w.type_into("#entry-value", "7.2").await;
    w.type_into("#entry-unit", "mmol/L").await;
    w.type_into("#entry-low", "3.9").await;
    w.type_into("#entry-high", "5.6").await;
    w.click("#entry-submit").await;
    w.count("svg.trend-plot[data-loinc='2345-7'] circle.point.out", 1)
        .await;
    w.choose("#entry-kind", "note").await;
    w.type_into("#entry-title", "First visit").await;
    w.type_into("#entry-text", "Fasting glucose high; diet advice given.")
        .await;
    w.click("#entry-submit").await;
    w.text_with("#timeline li[data-kind='note']", "diet advice")
        .await;
    w.click("#timeline li[data-kind='note'] button").await;
    w.element("#amending").await;
    w.type_into(
        "#entry-text",
        "Fasting glucose high; diet advice and a recheck in 3 months.",
    )
    .await;
    w.click("#entry-submit").await;
    w.text_with("#entry-status", "Amendment saved").await;
    w.text_with("#timeline", "recheck in 3 months").await;
    w.count("#timeline li.amended[data-kind='note']", 1).await;
    w.screenshot("lab-trend-and-amended-note").await;
    w.sign_out().await;

    // A colleague with no access breaks the glass in an emergency.
    w.sign_in("Dr Ada Quinn", STAFF).await;
    w.type_into("#open-id", &patient).await;
    w.click("#open-id-submit").await;
    w.text_with("#chart-error", "access denied").await;
    w.type_into("#glass-reason", "unconscious in the emergency room")
        .await;
    w.click("#glass-submit").await;
    w.element("#chart[data-level='full']").await;
    w.text_with("#chart-title", "Omar Haddad").await;
    w.screenshot("break-glass").await;
    w.sign_out().await;

    // The clinic's lab records a result without reading the chart.
    w.sign_in("Lakeside Lab", STAFF).await;
    w.click(&format!(
        "#clinic-patient-list button.patient-row[data-patient-id='{patient}']"
    ))
    .await;
    w.text_with("#chart-error", "access denied").await;
    w.type_into("#entry-loinc", "4548-4").await;
    w.type_into("#entry-name", "Hemoglobin A1c").await;
    w.type_into("#entry-value", "6.9").await;
    w.type_into("#entry-unit", "%").await;
    w.click("#entry-submit").await;
    w.text_with("#entry-status", "Saved: lab entry").await;
    w.screenshot("lab-records-a-result").await;
    w.sign_out().await;

    // The admin's audit browser shows every step.
    w.sign_in("Lena Admin", LENA).await;
    w.click("#tab-audit").await;
    w.choose("#audit-patient", &patient).await;
    w.text_with("#audit-table", "break-glass").await;
    w.text_with("#audit-table", "unconscious in the emergency room")
        .await;
    w.text_with(
        "#audit-table tr.audit-row[data-action='amend']",
        "Dr Kai Moreno",
    )
    .await;
    w.text_with(
        "#audit-table tr.audit-row[data-action='write']",
        "Lakeside Lab",
    )
    .await;
    w.screenshot("audit-browser").await;
    w.sign_out().await;

    // At the kiosk the patient takes the emergency access away.
    w.click("#mode-kiosk").await;
    w.type_into("#kiosk-card", &card).await;
    w.type_into("#kiosk-pin", "246813").await;
    w.click("#kiosk-submit").await;
    let quinn = "#readers tr.reader[data-reader='Dr Ada Quinn']";
    w.text_with(quinn, "emergency").await;
    w.click(&format!("{quinn} button.revoke")).await;
    w.text_with(
        "#kiosk-status",
        "Dr Ada Quinn can no longer read your record",
    )
    .await;
    w.count(quinn, 0).await;
    w.text_with(
        "#access-log tr.audit-row[data-action='revoke']",
        "from Dr Ada Quinn",
    )
    .await;
    w.screenshot("kiosk-revoked").await;

    app.close().await;
}

/// "Open the demo network" on the welcome screen builds the demo with the `carelog` CLI beside
/// the app and opens its first clinic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_welcome_screen_opens_the_demo_network() {
    let home = root().join("target/e2e/no-home-yet");
    if home.exists() {
        std::fs::remove_dir_all(&home).expect("the old home can be removed");
    }
    let mut app = App::launch(&home, "open-demo").await;
    let w = &mut app.window;
    w.click("#open-demo").await;
    w.text_with("#signin-heading", "North Valley Clinic").await;
    w.text_with("#signin-user", "Dr Amara Osei").await;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.screenshot("demo-opened").await;
    app.close().await;
}
