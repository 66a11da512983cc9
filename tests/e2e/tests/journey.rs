//! The patient's journey in the window, on the demo network.
//!
//! North Valley's front desk finds Elena Marsh by part of her name and her birth date, and
//! registering her again shows her as a possible duplicate until the desk says it is someone
//! else. Elena signs in at the kiosk with her card and PIN, reads her record in plain words,
//! allows Dr Lukas Brandt to read it for 30 days, and sees his read in her access log. At South
//! Harbour, a clinic she was never registered at, she signs in and allows Dr Ines Duarte. At
//! East Ridge the admin adds Leo Lindqvist's mother as his proxy; she signs in at the kiosk with
//! her own card, allows a doctor, and the log names her.
//!
//! At South Harbour, which never held Elena's key, Dr Ines Duarte breaks the glass and Elena's
//! card opens her emergency summary; at the kiosk Elena sees the opening, reviews it, and saves
//! her summary and her record on a USB stick, which North Valley's front desk reads in.
//!
//! Screenshots land in `target/e2e/journey-desk/`, `journey-kiosk/`, `journey-second-clinic/`,
//! `journey-proxy/` and `journey-emergency/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carelog_e2e::{
    App, PATIENT_PIN, STAFF_PASSPHRASE, WAIT, Window, cli, demo_story, free_udp_addr, root, serve,
    sync, usb_stick,
};
use serde_json::{Value, json};

/// One window at a time: the stories of this file share two cores.
static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A demo network built for one story.
struct Demo {
    story: Value,
}

impl Demo {
    fn build(name: &str) -> Demo {
        Demo {
            story: demo_story(&root().join("target/e2e").join(name)),
        }
    }

    /// The home of the demo's clinic whose name starts with `clinic`.
    fn home(&self, clinic: &str) -> PathBuf {
        self.clinic(clinic)["home"]
            .as_str()
            .map(PathBuf::from)
            .expect("each demo home has a directory")
    }

    fn clinic(&self, clinic: &str) -> &Value {
        self.story["homes"]
            .as_array()
            .and_then(|homes| {
                homes
                    .iter()
                    .find(|h| h["clinic"].as_str().is_some_and(|c| c.starts_with(clinic)))
            })
            .unwrap_or_else(|| panic!("the demo has a clinic `{clinic}`"))
    }

    /// The card (QR content and number) of a patient registered at `clinic`, found by name.
    fn card(&self, clinic: &str, name: &str) -> (String, String, String) {
        let found = cli(
            &self.home(clinic),
            STAFF_PASSPHRASE,
            &[
                "patient",
                "find",
                "--as",
                self.admin(clinic),
                "--name",
                name,
            ],
        );
        let id = found["patients"][0]["patient_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{clinic} finds {name}"))
            .to_string();
        let card = self.clinic(clinic)["cards"]
            .as_array()
            .and_then(|cards| cards.iter().find(|c| c["patient_id"] == id.as_str()))
            .unwrap_or_else(|| panic!("the demo printed the card of {name}"));
        (
            id,
            card["card"].as_str().unwrap_or_default().to_string(),
            card["card_number"].as_str().unwrap_or_default().to_string(),
        )
    }

    fn admin(&self, clinic: &str) -> &'static str {
        match clinic {
            "North" => "Nora Admin",
            "South" => "Samir Admin",
            _ => "Emeka Admin",
        }
    }
}

/// Waits until a row of the access log names `who` doing `action` with `also` in the row.
async fn log_row(w: &Window, who: &str, action: &str, also: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = w
            .client
            .execute(
                "return [...document.querySelectorAll('#access-log tr.audit-row')].some(r => \
                   r.dataset.action === arguments[1] && r.textContent.includes(arguments[0]) \
                   && r.textContent.includes(arguments[2]));",
                vec![json!(who), json!(action), json!(also)],
            )
            .await
            .expect("the script runs");
        if seen == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the access log never showed {who} / {action} / {also}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// At the kiosk: the card and PIN, then the record opens.
async fn kiosk_sign_in(w: &Window, card: &str, pin: &str) {
    w.click("#mode-kiosk").await;
    w.type_into("#kiosk-card", card).await;
    w.type_into("#kiosk-pin", pin).await;
    w.click("#kiosk-submit").await;
}

/// In the kiosk's directory: search, choose `name`, keep "full" and 30 days, allow.
async fn grant_for_30_days(w: &Window, search: &str, name: &str) {
    w.type_into("#directory-search", search).await;
    w.click("#directory-submit").await;
    w.text_with("#directory-list", name).await;
    w.click(&format!("button.directory-person[data-name='{name}']"))
        .await;
    w.text_with("#grant-chosen", name).await;
    w.text_with("#grant-choice", "Everything: the whole record")
        .await;
    w.click("#grant-new-submit").await;
    w.text_with("#grant-new-status", &format!("You allowed {name}"))
        .await;
    w.text_with("#grant-new-status", "for 30 days").await;
}

/// A staff member of `home` reads the chart with the CLI, as they would at their own desk.
fn read_chart(home: &Path, who: &str, patient: &str) -> Value {
    cli(
        home,
        STAFF_PASSPHRASE,
        &["chart", "show", "--as", who, "--patient", patient],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_desk_finds_a_patient_by_part_of_the_name_and_birth_date() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-desk-demo");
    let (elena, _, number) = demo.card("North", "Elena Marsh");
    let mut app = App::launch(&demo.home("North"), "journey-desk").await;
    let w = &mut app.window;

    w.sign_in("Nora Admin", STAFF_PASSPHRASE).await;
    w.type_into("#find-name", "mar el").await;
    w.type_into("#find-birth", "1958-04-12").await;
    w.click("#find-submit").await;
    w.count("tr.found-patient", 1).await;
    let row = w.text_with("tr.found-patient", "Elena Marsh").await;
    assert!(
        row.contains(&number),
        "the row shows the card number: {row}"
    );
    assert!(row.contains("female"), "{row}");
    let id_hidden = w
        .client
        .execute(
            "const d = document.querySelector('tr.found-patient details.advanced'); \
             return !d.open && d.textContent.includes(arguments[0]);",
            vec![json!(elena)],
        )
        .await
        .expect("the script runs");
    assert_eq!(
        id_hidden,
        json!(true),
        "the id stays in the closed advanced detail"
    );
    w.text_with("tr.found-patient .found-age", "years").await;
    w.screenshot("found-by-name-and-birth-date").await;

    // A birth date nobody has finds no one.
    w.type_into("#find-birth", "1958-04-13").await;
    w.click("#find-submit").await;
    w.text_with("#find-status", "No patient found").await;

    // Registering her again names her first; the desk says it is someone else.
    w.type_into("#reg-name", "Elena Marsh").await;
    w.type_into("#reg-birth", "1958-04-12").await;
    w.type_into("#reg-pin", "135790").await;
    w.click("#reg-submit").await;
    w.text_with("#reg-duplicates", "Elena Marsh").await;
    w.text_with("#reg-duplicates", &number).await;
    assert!(
        w.client
            .find(fantoccini::Locator::Css("#reg-card-number"))
            .await
            .is_err(),
        "nothing is registered before the desk confirms"
    );
    w.screenshot("possible-duplicate").await;
    w.click("#reg-duplicates button.choose-patient").await;
    w.text_with("#reg-status", "Patient registered").await;
    let new_number = w
        .element("#reg-card-number")
        .await
        .text()
        .await
        .expect("the new card's number");
    assert_ne!(new_number, number, "a new patient with a card of her own");
    w.type_into("#find-name", "elena marsh").await;
    w.paste_into("#find-birth", "").await;
    w.click("#find-submit").await;
    w.count("tr.found-patient", 2).await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_reads_her_record_at_the_kiosk_grants_a_specialist_and_sees_his_read() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-kiosk-demo");
    let north = demo.home("North");
    let (elena, card, _) = demo.card("North", "Elena Marsh");
    let mut app = App::launch(&north, "journey-kiosk").await;
    let w = &mut app.window;

    kiosk_sign_in(w, &card, PATIENT_PIN).await;
    w.text_with("#kiosk-record-heading", "Your health record")
        .await;
    w.text_with("#my-problems", "Type 2 diabetes").await;
    w.text_with("#my-allergies", "Penicillin").await;
    w.text_with("#my-medications", "Metformin").await;
    w.text_with("#my-results", "Glucose").await;
    w.screenshot("her-record").await;

    grant_for_30_days(w, "cardio", "Dr Lukas Brandt").await;
    w.text_with("#readers tr[data-reader='Dr Lukas Brandt']", "full")
        .await;
    w.text_with(
        "#readers tr[data-reader='Dr Lukas Brandt'] .expires",
        "until 20",
    )
    .await;
    w.screenshot("granted-for-30-days").await;

    // He reads her record at his desk; the kiosk's log shows the read, at full, from North.
    let seen = read_chart(&north, "Dr Lukas Brandt", &elena);
    assert_eq!(seen["level"], "full");
    log_row(w, "Dr Lukas Brandt", "read", "full").await;
    log_row(w, "Dr Lukas Brandt", "read", "North Valley").await;
    log_row(w, "You", "grant", "full").await;
    w.screenshot("his-read-in-the-log").await;
    w.click("#kiosk-done").await;
    w.element("#kiosk-card").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_of_north_signs_in_at_south_and_grants_there() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-second-clinic-demo");
    let (north, south) = (demo.home("North"), demo.home("South"));
    let (elena, card, _) = demo.card("North", "Elena Marsh");
    let dir = root().join("target/e2e/journey-second-clinic-demo");
    let addr = free_udp_addr();
    let serving = serve(&north, &addr, Some(&dir.join("north-serve.log")));
    sync(&south, &addr);
    drop(serving);

    let mut app = App::launch(&south, "journey-second-clinic").await;
    let w = &mut app.window;
    kiosk_sign_in(w, &card, PATIENT_PIN).await;
    w.text_with("#my-problems", "Type 2 diabetes").await;
    w.screenshot("her-record-at-south").await;
    grant_for_30_days(w, "duarte", "Dr Ines Duarte").await;
    w.text_with("#readers tr[data-reader='Dr Ines Duarte']", "full")
        .await;
    w.screenshot("granted-at-south").await;
    app.close().await;

    // Dr Duarte opens the record at South, where it was never registered.
    let seen = read_chart(&south, "Dr Ines Duarte", &elena);
    assert_eq!(seen["level"], "full");
    assert!(seen.to_string().contains("Metformin"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_added_as_proxy_signs_in_at_the_kiosk_and_grants_for_her_child() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-proxy-demo");
    let east = demo.home("East");
    let (leo, _, _) = demo.card("East", "Leo Lindqvist");
    let mut app = App::launch(&east, "journey-proxy").await;
    let w = &mut app.window;

    // The admin finds the child and adds his mother as proxy; her card is shown to print.
    w.sign_in("Emeka Admin", STAFF_PASSPHRASE).await;
    w.type_into("#find-name", "leo").await;
    w.click("#find-submit").await;
    w.text_with("tr.found-patient", "Leo Lindqvist").await;
    w.click("tr.found-patient button.choose-patient").await;
    w.text_with("#proxy-heading", "Leo Lindqvist").await;
    w.type_into("#proxy-name", "Maria Lindqvist").await;
    w.type_into("#proxy-pin", "551903").await;
    w.click("#proxy-submit").await;
    w.text_with(
        "#proxy-status",
        "Maria Lindqvist now acts for Leo Lindqvist",
    )
    .await;
    let proxy_card = w
        .element("#proxy-card")
        .await
        .text()
        .await
        .expect("the proxy's card");
    assert!(proxy_card.starts_with("CL1:"), "{proxy_card}");
    w.text_with("#proxy-card-number", " ").await;
    w.screenshot("proxy-added").await;
    w.sign_out().await;

    // She signs in at the kiosk with her own card and acts for him.
    kiosk_sign_in(w, &proxy_card, "551903").await;
    w.text_with("#kiosk-record-heading", "Leo Lindqvist").await;
    w.element("#proxy-note").await;
    w.text_with("#my-record-about", "2019-03-30").await;
    grant_for_30_days(w, "cardiology", "Dr Lukas Brandt").await;
    log_row(w, "Maria Lindqvist (proxy)", "grant", "full").await;
    log_row(w, "Maria Lindqvist (proxy)", "read", "read at the kiosk").await;
    w.screenshot("proxy-granted-and-named-in-the-log").await;
    app.close().await;

    // The family doctor's view of the audit names her too.
    let audit = cli(
        &east,
        STAFF_PASSPHRASE,
        &["audit", "--as", "Dr Hana Sato", "--patient", &leo],
    );
    let by_her: Vec<&str> = audit["events"]
        .as_array()
        .expect("the audit lists events")
        .iter()
        .filter(|e| e["actor_name"] == "Maria Lindqvist (proxy)")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(by_her.contains(&"grant"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_at_a_clinic_without_the_key_opens_the_emergency_summary_from_the_card() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-emergency-demo");
    let south = demo.home("South");
    // The demo has synced South Harbour with North Valley: it holds Elena's blocks, not her key.
    let (elena, card, _) = demo.card("North", "Elena Marsh");
    let reason = "brought in unconscious after a fall";
    let mut app = App::launch(&south, "journey-emergency").await;
    let w = &mut app.window;

    w.sign_in("Dr Ines Duarte", STAFF_PASSPHRASE).await;
    w.type_into("#open-id", &elena).await;
    w.click("#open-id-submit").await;
    w.element("#chart-denied").await;
    w.type_into("#glass-reason", reason).await;
    w.click("#glass-submit").await;
    w.text_with("#banner-basis", "break-glass").await;
    w.text_with("#emergency-sealed", "holds no key").await;
    w.screenshot("glass-broken-nothing-opens").await;
    // A wrong card is refused in words; the patient's own opens the summary.
    w.type_into("#emergency-card", "CL1:not-a-card").await;
    w.click("#emergency-open").await;
    w.text_with("#emergency-status", "not a readable Carelog card")
        .await;
    w.type_into("#emergency-card", &card).await;
    w.click("#emergency-open").await;
    w.text_with("#emergency-allergies", "Penicillin").await;
    w.text_with("#emergency-problems", "Type 2 diabetes").await;
    w.text_with("#emergency-medications", "Metformin").await;
    w.screenshot("emergency-summary").await;
    w.sign_out().await;

    // At the kiosk Elena sees who opened her record, and reviews it. This computer has no
    // camera: asked to scan with it, the kiosk says so and the card is typed instead.
    w.click("#mode-kiosk").await;
    w.click("#kiosk-card-camera").await;
    w.text_with(".camera-error", "camera").await;
    w.screenshot("no-camera").await;
    w.type_into("#kiosk-card", &card).await;
    w.type_into("#kiosk-pin", PATIENT_PIN).await;
    w.click("#kiosk-submit").await;
    // What happened since her last visit heads her screen, read before this visit's own read.
    w.text_with(
        "#since-last-visit tr.audit-row[data-action='break-glass']",
        "Dr Ines Duarte",
    )
    .await;
    w.text_with("#openings li.opening[data-doctor='Dr Ines Duarte']", reason)
        .await;
    log_row(w, "Dr Ines Duarte", "break-glass", reason).await;
    log_row(w, "Dr Ines Duarte", "read", "emergency summary").await;
    w.type_into("#openings .review-note", "I was unconscious; thank you")
        .await;
    w.click("#openings .review-submit").await;
    w.text_with("#openings-status", "is recorded").await;
    w.text_with("#openings .review-done", "Reviewed by").await;
    log_row(w, "You", "review break-glass", "").await;
    w.screenshot("opening-reviewed").await;

    // She takes her summary and her record away on a USB stick.
    let stick = usb_stick(&root().join("target/e2e/journey-emergency"));
    w.element("#take-away-drive").await;
    w.click("#take-away-summary").await;
    w.text_with("#take-away-status", "carelog-summary-").await;
    w.click("#take-away-record").await;
    w.text_with("#take-away-status", "opens only with your card and PIN")
        .await;
    w.screenshot("taken-away").await;
    app.close().await;

    let saved: Vec<PathBuf> = std::fs::read_dir(&stick)
        .expect("the stick has files")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let pdf = saved
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pdf"))
        .expect("a summary PDF on the stick");
    let bytes = std::fs::read(pdf).expect("the PDF reads");
    assert!(bytes.starts_with(b"%PDF"), "a PDF");
    let record = saved
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the record on the stick");
    // The record carries no chart text in the clear.
    let carried = std::fs::read_to_string(record).expect("the record reads");
    for clear in ["Penicillin", "Metformin", "Elena"] {
        assert!(
            !carried.contains(clear),
            "{clear} in the clear in the bundle"
        );
    }
    // East Ridge has no link to the others today: its front desk reads the record in from the
    // stick, and Elena reads her record at East's kiosk with her card and PIN.
    let east = demo.home("East");
    let mut app = App::launch(&east, "journey-emergency-east").await;
    let w = &mut app.window;
    w.sign_in("Emeka Admin", STAFF_PASSPHRASE).await;
    w.type_into("#receive-path", &record.display().to_string())
        .await;
    w.click("#receive-submit").await;
    let received = w.text_with("#receive-status", "The record is here").await;
    // What happened at South since the demo's last sync (the break-glass, the review) is new.
    assert!(!received.contains("(0 new blocks)"), "{received}");
    w.screenshot("record-received").await;
    w.sign_out().await;
    kiosk_sign_in(w, &card, PATIENT_PIN).await;
    w.text_with("#my-problems", "Type 2 diabetes").await;
    w.screenshot("her-record-at-east").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_family_doctor_decides_a_request_for_her_patient_in_the_clinician_screen() {
    let _one = ONE_WINDOW.lock().await;
    let demo = Demo::build("journey-custodian-demo");
    let north = demo.home("North");
    let (elena, _, _) = demo.card("North", "Elena Marsh");
    // The cardiologist, who reads a sample of Elena's record, asks for all of it; Elena is not at
    // the kiosk, her family doctor answers.
    let asked = cli(
        &north,
        STAFF_PASSPHRASE,
        &[
            "access",
            "request",
            "--as",
            "Dr Lukas Brandt",
            "--patient",
            &elena,
            "--level",
            "full",
            "--reason",
            "cardiology referral",
        ],
    );
    assert!(asked["request_id"].is_string(), "{asked}");
    let before = read_chart(&north, "Dr Lukas Brandt", &elena);
    assert_eq!(before["level"], "sample", "{before}");

    let mut app = App::launch(&north, "journey-custodian").await;
    let w = &mut app.window;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    let request = "#custodian-requests li.custodian-request[data-requester='Dr Lukas Brandt']";
    w.text_with(request, "Elena Marsh").await;
    w.text_with(request, "cardiology referral").await;
    w.screenshot("request-waiting").await;
    w.click(&format!("{request} button.custodian-grant")).await;
    w.text_with(
        "#custodian-status",
        "Dr Lukas Brandt may now read the record",
    )
    .await;
    w.screenshot("request-allowed").await;
    app.close().await;

    let after = read_chart(&north, "Dr Lukas Brandt", &elena);
    assert_eq!(after["level"], "full", "{after}");
    let audit = cli(
        &north,
        STAFF_PASSPHRASE,
        &["audit", "--as", "Dr Amara Osei", "--patient", &elena],
    );
    assert!(
        audit["events"].as_array().is_some_and(|events| events
            .iter()
            .any(|e| e["action"] == "grant" && e["actor"] != elena.as_str())),
        "{audit}"
    );
}
