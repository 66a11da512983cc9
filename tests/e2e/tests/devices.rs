//! A clinic of several computers, in the real window, on the demo's North Valley clinic.
//!
//! A new laptop asks to pair from the welcome screen and shows a code; Nora Admin approves the
//! request at the clinic (the code matches), and the laptop opens the invite, where Dr Amara
//! Osei, who never used it, signs in with her usual passphrase and finds her patients. Then a
//! front-desk computer approved as the clinic's kiosk opens on the kiosk: a doctor cannot sign
//! in there, staff screens are refused, and only an admin's sign-in leaves the kiosk until she
//! signs out again.
//!
//! Screenshots land in `target/e2e/devices-pair/` and `target/e2e/devices-kiosk/`.

use std::path::{Path, PathBuf};

use carelog_e2e::{App, STAFF_PASSPHRASE, cli, demo_network, root};
use serde_json::json;

/// One window at a time: the stories share the display.
static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fresh(dir: &str) -> PathBuf {
    let path = root().join("target/e2e").join(dir);
    if path.exists() {
        std::fs::remove_dir_all(&path).expect("an old test directory can be removed");
    }
    std::fs::create_dir_all(&path).expect("the test directory can be created");
    path
}

/// Nora Admin approves a pairing request at North Valley; returns (code, invite path).
fn approve(north: &Path, request: &Path, role: &str, invite: &Path) -> String {
    let approved = cli(
        north,
        STAFF_PASSPHRASE,
        &[
            "device",
            "approve",
            request.to_str().unwrap(),
            "--as",
            "Nora Admin",
            "--out",
            invite.to_str().unwrap(),
            "--role",
            role,
        ],
    );
    approved["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_laptop_pairs_with_north_valley_and_a_doctor_signs_in_there() {
    let _one = ONE_WINDOW.lock().await;
    let dir = fresh("devices-pair-test");
    let north = demo_network(&dir.join("demo"));
    let mut app = App::launch(&dir.join("laptop"), "devices-pair").await;
    let w = &mut app.window;

    // The new computer asks to pair and shows a code.
    w.type_into("#pair-name", "Bedside laptop").await;
    w.screenshot("pair-form").await;
    w.click("#pair-submit").await;
    let code = w.text_with("#pairing-code", " ").await;
    let said = w.text_with("#pairing-saved", "Request saved to").await;
    let request = said
        .split("Request saved to ")
        .nth(1)
        .and_then(|rest| rest.split(". Take it").next())
        .expect("the note names the request file")
        .to_string();
    assert!(Path::new(&request).exists(), "{request}");
    // The request also shows as a QR code, for the admin's camera.
    w.element("#pairing-qr svg").await;
    w.screenshot("pairing-code").await;

    // The admin approves it at the clinic: the same code shows there.
    let invite = dir.join("laptop-invite.json");
    let approved_code = approve(&north, Path::new(&request), "staff", &invite);
    assert_eq!(approved_code, code.trim(), "both screens show one code");

    // The laptop opens the invite; Dr Osei signs in with her usual passphrase.
    w.type_into("#join-invite", invite.to_str().unwrap()).await;
    w.click("#join-submit").await;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with(".screen", "Elena Marsh").await;
    let devices = w.text_with("#device-count", "devices of this clinic").await;
    assert!(devices.starts_with("2 devices"), "{devices}");
    w.screenshot("signed-in-on-the-laptop").await;
    app.close().await;

    // The office lists the laptop as a device of the clinic.
    let listed = cli(&north, STAFF_PASSPHRASE, &["device", "list"]);
    let names: Vec<&str> = listed["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["North Valley Clinic", "Bedside laptop"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_device_opens_on_the_kiosk_and_only_an_admin_leaves_it() {
    let _one = ONE_WINDOW.lock().await;
    let dir = fresh("devices-kiosk-test");
    let north = demo_network(&dir.join("demo"));
    let kiosk = dir.join("front-desk");
    let request = dir.join("front-desk.request");
    let invite = dir.join("front-desk.invite");
    cli(
        &kiosk,
        STAFF_PASSPHRASE,
        &[
            "device",
            "pair",
            "--out",
            request.to_str().unwrap(),
            "--name",
            "Front desk",
        ],
    );
    approve(&north, &request, "kiosk", &invite);
    cli(
        &kiosk,
        STAFF_PASSPHRASE,
        &["device", "join", invite.to_str().unwrap()],
    );

    let mut app = App::launch(&kiosk, "devices-kiosk").await;
    let w = &mut app.window;
    // It opens on the kiosk; the staff screens are refused by the shell itself.
    w.element("#kiosk-card").await;
    w.screenshot("opens-on-the-kiosk").await;
    let refused = w
        .invoke("my_patients", json!({}))
        .await
        .expect_err("staff screens are refused on the kiosk");
    assert_eq!(refused["kind"], "kiosk_only", "{refused}");

    // A doctor cannot sign in here.
    w.click("#mode-staff").await;
    w.text_with("#kiosk-device-note", "kiosk").await;
    w.choose("#signin-user", "Dr Amara Osei").await;
    w.type_into("#signin-passphrase", STAFF_PASSPHRASE).await;
    w.click("#signin-submit").await;
    w.text_with("#signin-error", "kiosk").await;
    w.screenshot("doctor-refused").await;

    // The admin leaves the kiosk, sees the clinic's devices, and signing out returns to it.
    w.sign_in("Nora Admin", STAFF_PASSPHRASE).await;
    w.click("#tab-devices").await;
    w.text_with("#devices", "Front desk").await;
    w.text_with("#devices", "kiosk").await;
    w.screenshot("admin-devices").await;
    // She adds another computer from here, pasting what its request's QR code says.
    let other = dir.join("office-2");
    let other_request = dir.join("office-2.request");
    let asked = cli(
        &other,
        STAFF_PASSPHRASE,
        &[
            "device",
            "pair",
            "--out",
            other_request.to_str().unwrap(),
            "--name",
            "Second office PC",
        ],
    );
    let scanned = std::fs::read_to_string(&other_request).unwrap();
    w.paste_into("#device-request", &scanned).await;
    w.click("#approve-device-submit").await;
    let said = w.text_with("#approve-device-said", "Code").await;
    assert!(
        said.contains(asked["code"].as_str().unwrap()),
        "the admin sees the new computer's code: {said}"
    );
    w.text_with("#devices", "Second office PC").await;
    w.screenshot("admin-added-a-computer").await;
    w.click("#sign-out").await;
    w.element("#kiosk-card").await;
    w.screenshot("back-to-the-kiosk").await;
    app.close().await;
}
