//! A day at North Valley Clinic, in the real window: the admin registers a patient and assigns
//! the family doctor; the doctor charts vitals three times and sees the trend; a specialist is
//! refused and asks for access; the patient allows it at the kiosk and reads the access log.
//! A wrong passphrase and a refused chart show their messages in words; the patient signs in at
//! the kiosk with the card printed at registration and a 6-digit PIN; the kiosk locks itself
//! after 60 s without a touch. The chart's HL7 export goes where the person says, 0600.
//!
//! A screenshot of each step lands in `target/e2e/`.

use std::time::Duration;

use carelog_e2e::{App, STAFF_PASSPHRASE, demo_network, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_at_north_valley_clinic() {
    let home = demo_network(&root().join("target/e2e/demo"));
    let mut app = App::launch(&home, "north-valley").await;
    let w = &mut app.window;

    // Sign-in: a wrong passphrase is said in words.
    w.element("#signin-user option").await;
    w.text_with("footer.status-bar", "offline").await;
    w.screenshot("sign-in").await;
    w.sign_in("Nora Admin", "not-the-passphrase").await;
    w.text_with(
        "#signin-error",
        "That passphrase is not right for Nora Admin",
    )
    .await;
    w.screenshot("wrong-passphrase").await;

    // The admin registers a patient and makes Dr Osei the family doctor.
    w.type_into("#signin-passphrase", STAFF_PASSPHRASE).await;
    w.click("#signin-submit").await;
    w.element("#tab-patients").await;
    w.type_into("#reg-name", "Iris Novak").await;
    w.type_into("#reg-birth", "1990-05-05").await;
    w.choose("#reg-sex", "female").await;
    // A PIN of four digits is refused in words; six are needed.
    w.type_into("#reg-pin", "5678").await;
    w.click("#reg-submit").await;
    w.text_with("#reg-status", "6 to 12 digits").await;
    w.type_into("#reg-pin", "567890").await;
    w.click("#reg-submit").await;
    w.text_with("#reg-status", "Patient registered").await;
    let patient = w
        .element("#reg-new-id")
        .await
        .text()
        .await
        .expect("the new patient id");
    assert_eq!(patient.len(), 32, "a patient id is 32 hex characters");
    // The card to print: its code (QR content) and its number.
    let card = w
        .element("#reg-card")
        .await
        .text()
        .await
        .expect("the new patient's card");
    assert!(card.starts_with("CL1:"), "{card}");
    let number = w
        .element("#reg-card-number")
        .await
        .text()
        .await
        .expect("the card number");
    assert_eq!(
        number.chars().filter(char::is_ascii_digit).count(),
        13,
        "{number}"
    );
    w.element(&format!("#assign-patient option[value='{patient}']"))
        .await;
    w.choose("#assign-patient", &patient).await;
    w.choose("#assign-doctor", "Dr Amara Osei").await;
    w.click("#assign-submit").await;
    w.text_with("#assign-status", "Dr Amara Osei is now the family doctor")
        .await;
    w.text_with(
        &format!("#clinic-patients tr[data-patient-id='{patient}']"),
        "Dr Amara Osei",
    )
    .await;
    w.screenshot("admin-registered-and-assigned").await;
    w.sign_out().await;

    // The family doctor charts vitals three times and sees the trend with its three points.
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.click(&format!("button.patient-row[data-patient-id='{patient}']"))
        .await;
    w.text_with("#chart-title", "Iris Novak").await;
    for (i, (sys, dia, hr)) in [
        ("148", "94", "80"),
        ("139", "88", "76"),
        ("126", "81", "70"),
    ]
    .into_iter()
    .enumerate()
    {
        w.type_into("#entry-systolic", sys).await;
        w.type_into("#entry-diastolic", dia).await;
        w.type_into("#entry-heart_rate", hr).await;
        if i == 2 {
            // The last one from the keyboard: Enter in a field submits the form.
            w.element("#entry-heart_rate")
                .await
                .send_keys("\u{E007}")
                .await
                .expect("Enter submits");
        } else {
            w.click("#entry-submit").await;
        }
        w.count("svg.trend-plot[data-loinc='8480-6'] circle.point", i + 1)
            .await;
    }
    w.text_with("#entry-status", "Saved").await;
    w.count("svg.trend-plot[data-loinc='8480-6'] rect.band", 1)
        .await;
    w.client
        .execute(
            "document.querySelector('#trends').scrollIntoView({block: 'start'});",
            vec![],
        )
        .await
        .expect("the page scrolls to the trends");
    w.screenshot("vitals-trend").await;

    // A result from the lab analyzer arrives as HL7 v2 and is imported; the export of the chart
    // in HL7 v2 then carries it, beside the vitals.
    let oru = format!(
        "MSH|^~\\&|Cobas|NORTH LAB|||202611230800||ORU^R01|T-1|P|2.5\n\
         PID|||{patient}\n\
         OBR|1||S-1|2345-7^Glucose^LN|||202611230755\n\
         OBX|1|NM|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||126|mg/dL|70-99|H|||F\n"
    );
    w.paste_into("#import-text", &oru).await;
    w.click("#import-submit").await;
    w.text_with(
        "#import-status",
        "Imported 1 entry into the chart of patient",
    )
    .await;
    // The chart opens afresh with the result in its timeline.
    w.text_with("#chart", "Glucose").await;
    // The export says it is unencrypted, goes where the person chooses, readable by them only.
    w.text_with("#export-warning", "unencrypted health information")
        .await;
    w.click("#export-hl7").await;
    w.text_with("#export-status", "Choose where to save").await;
    let exports = root().join("target/e2e/north-valley-exports");
    let _ = std::fs::remove_dir_all(&exports);
    std::fs::create_dir_all(&exports).expect("the export folder can be made");
    let saved = exports.join("iris.hl7");
    w.type_into("#export-path", saved.to_str().unwrap()).await;
    w.click("#export-hl7").await;
    w.text_with("#export-status", "Saved to").await;
    w.text_with("#export-status", "readable by your account only")
        .await;
    let written = std::fs::read_to_string(&saved).expect("the export is where it was asked to go");
    assert!(written.starts_with("MSH|"), "{written}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the export is its owner's alone");
    }
    // Nothing is left in the app's own folders.
    let app_data = root().join("target/e2e/north-valley-data");
    assert!(
        !app_data.join("carelog/exports").exists(),
        "no copy under the app's data directory"
    );
    let exported = w
        .element("#export-text")
        .await
        .prop("value")
        .await
        .expect("the export text")
        .unwrap_or_default();
    assert!(exported.starts_with("MSH|"), "an HL7 message: {exported}");
    assert!(exported.contains("ORU^R01"), "{exported}");
    assert!(
        exported.contains("2345-7^"),
        "the imported glucose: {exported}"
    );
    assert!(
        exported.contains("8480-6^"),
        "the systolic readings: {exported}"
    );
    w.screenshot("import-and-export").await;
    w.sign_out().await;

    // A specialist without access is refused in words, and asks the patient.
    w.sign_in("Dr Lukas Brandt", STAFF_PASSPHRASE).await;
    w.type_into("#open-id", &patient).await;
    w.click("#open-id-submit").await;
    w.text_with("#chart-error", "access denied").await;
    w.choose("#request-level", "sample").await;
    w.type_into("#request-reason", "cardiology referral").await;
    w.click("#request-submit").await;
    w.text_with("#request-status", "Request sent").await;
    w.screenshot("access-refused-and-requested").await;
    w.sign_out().await;

    // At the kiosk the patient allows "sample" and reads who opened the record.
    w.click("#mode-kiosk").await;
    w.type_into("#kiosk-card", &card).await;
    w.type_into("#kiosk-pin", "000000").await;
    w.click("#kiosk-submit").await;
    w.text_with("#kiosk-error", "PIN does not match").await;
    w.type_into("#kiosk-pin", "567890").await;
    w.click("#kiosk-submit").await;
    let request = ".request[data-requester='Dr Lukas Brandt']";
    w.text_with(request, "cardiology referral").await;
    w.screenshot("kiosk-pending-request").await;
    w.choose(&format!("{request} select.grant-level"), "sample")
        .await;
    w.choose(&format!("{request} select.grant-days"), "30 days")
        .await;
    w.click(&format!("{request} button.grant")).await;
    w.text_with("#kiosk-status", "You allowed Dr Lukas Brandt")
        .await;
    w.text_with("#kiosk-status", "for 30 days").await;
    // The grant ends by itself in 30 days: the readers table says until when.
    let in_30_days = (std::time::SystemTime::now() + Duration::from_secs(30 * 86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    w.text_with(
        "#readers tr.reader[data-reader='Dr Lukas Brandt'] td.expires",
        &format!("until {}", civil_date(in_30_days)),
    )
    .await;
    w.text_with(
        "#readers tr.reader[data-reader='Dr Lukas Brandt']",
        "sample",
    )
    .await;
    // Newest first: her own read at the kiosk heads the log; Dr Osei's read is among the rest.
    w.element("#access-log tr.audit-row[data-action='read']")
        .await;
    let mut osei_read = false;
    for _ in 0..50 {
        osei_read = w
            .client
            .execute(
                "return [...document.querySelectorAll(\"#access-log tr.audit-row[data-action='read']\")].some(r => r.textContent.includes('Dr Amara Osei'));",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if osei_read {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(osei_read, "the access log shows Dr Amara Osei's read");
    w.text_with(
        "#access-log tr.audit-row[data-action='grant']",
        "to Dr Lukas Brandt",
    )
    .await;
    w.screenshot("kiosk-granted-and-access-log").await;
    // Nobody touches the kiosk: after 60 s it locks itself and asks for an id again.
    w.text_with("#lock-note", "locks after 60 seconds").await;
    w.element_within("#kiosk-card", Duration::from_secs(75))
        .await;
    w.text_with("#kiosk-heading", "Your health record").await;
    w.screenshot("kiosk-locked-after-idle").await;

    // The specialist now opens the record at the level the patient chose.
    w.click("#mode-staff").await;
    w.sign_in("Dr Lukas Brandt", STAFF_PASSPHRASE).await;
    let row = format!("button.patient-row[data-patient-id='{patient}']");
    w.text_with(&row, "sample").await;
    w.click(&row).await;
    w.element("#chart[data-level='sample']").await;
    w.text_with("#chart-title", "I. N.").await;
    w.screenshot("specialist-sample-view").await;

    app.close().await;
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by the days-from-civil algorithm.
fn civil_date(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
