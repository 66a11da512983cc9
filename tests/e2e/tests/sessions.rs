//! Sessions at North Valley that lock, and a kiosk that is only a kiosk, in the real window.
//!
//! With a short idle time (`--idle-lock 8`), a doctor who leaves the chart open finds the
//! sign-in screen again, with a note why and her name chosen; the shell refuses her commands
//! until she signs in again. She changes her passphrase from the status bar; the old one stops
//! working. Turned into the patients' kiosk, the window's own code cannot reach the staff
//! commands: the shell refuses them. And a home sealed under a node passphrase the window was
//! not given opens on a screen that asks for it.
//!
//! Screenshots land in `target/e2e/sessions/` and `target/e2e/sealed-home/`.

use std::time::Duration;

use carelog_e2e::{App, STAFF_PASSPHRASE, demo_network, root};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_locks_and_the_kiosk_offers_only_its_own_commands() {
    let home = demo_network(&root().join("target/e2e/sessions-demo"));
    let mut app = App::launch_with(&home, "sessions", &["--idle-lock", "8"]).await;
    let w = &mut app.window;

    // The doctor opens her patient list, then leaves the window alone.
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.screenshot("signed-in").await;
    let lock_note = w
        .element_within("#lock-note", Duration::from_secs(30))
        .await
        .text()
        .await
        .expect("the lock note");
    assert!(lock_note.contains("Locked after 8 seconds"), "{lock_note}");
    w.text_with("#signin-user", "Dr Amara Osei").await;
    w.screenshot("locked-after-idle").await;
    // The shell holds no session any more: her commands are refused, whatever the page does.
    let refused = w.invoke("my_patients", json!({})).await.unwrap_err();
    assert_eq!(refused["kind"], "signed_out", "{refused}");

    // She signs in again, and changes her passphrase; the old one stops working.
    w.type_into("#signin-passphrase", STAFF_PASSPHRASE).await;
    w.click("#signin-submit").await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.click("#change-secret").await;
    w.type_into("#secret-old", STAFF_PASSPHRASE).await;
    w.type_into("#secret-new", "password").await;
    w.type_into("#secret-again", "password").await;
    w.click("#secret-submit").await;
    w.text_with("#secret-status", "too easy to guess").await;
    let new_passphrase = "osei walks the river path at dawn";
    w.type_into("#secret-new", new_passphrase).await;
    w.type_into("#secret-again", new_passphrase).await;
    w.click("#secret-submit").await;
    w.text_with("#secret-status", "Your passphrase is changed")
        .await;
    w.screenshot("passphrase-changed").await;
    w.sign_out().await;
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with("#signin-error", "That passphrase is not right")
        .await;
    w.type_into("#signin-passphrase", new_passphrase).await;
    w.click("#signin-submit").await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.sign_out().await;

    // The kiosk: the window's own code cannot reach the staff commands through it.
    w.click("#mode-kiosk").await;
    w.element("#kiosk-card").await;
    for (command, args) in [
        ("staff", json!({})),
        ("my_patients", json!({})),
        (
            "sign_in",
            json!({"args": {"user_id": "Dr Amara Osei", "passphrase": new_passphrase}}),
        ),
        (
            "export_chart",
            json!({"args": {"patient_id": "x", "format": "hl7", "path": "/tmp/leak.hl7"}}),
        ),
        ("open_demo", json!({})),
    ] {
        let refused = w.invoke(command, args).await.unwrap_err();
        assert_eq!(refused["kind"], "kiosk_only", "{command}: {refused}");
    }
    assert!(!std::path::Path::new("/tmp/leak.hl7").exists());
    // What the kiosk needs still answers.
    w.invoke("status", json!({})).await.expect("the status bar");
    w.invoke("home_info", json!({})).await.expect("the home");
    w.screenshot("kiosk-guarded").await;
    // Staff leave the kiosk the ordinary way and sign in with their passphrase.
    w.click("#mode-staff").await;
    w.sign_in("Nora Admin", STAFF_PASSPHRASE).await;
    w.element("#tab-patients").await;
    w.invoke("staff", json!({}))
        .await
        .expect("staff commands again");

    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_sealed_under_another_node_passphrase_asks_for_it() {
    let dir = root().join("target/e2e/sealed-home-test");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the old home can be removed");
    }
    let home = dir.join("hillcrest");
    // Made under its own node passphrase, not the one the window is given.
    let made = std::process::Command::new(carelog_e2e::carelog())
        .arg("--home")
        .arg(&home)
        .args([
            "--json",
            "network",
            "create",
            "--network",
            "Hill District",
            "--clinic",
            "Hillcrest Clinic",
            "--admin",
            "Hal Admin",
        ])
        .env(
            "CARELOG_NODE_PASSPHRASE",
            "hillcrest server room passphrase",
        )
        .env("CARELOG_AUTHORITY_PASSPHRASE", "hill district authority")
        .env("CARELOG_NEW_PASSPHRASE", "hal keeps the hill records")
        .env_remove("CARELOG_HOME")
        .output()
        .expect("carelog runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut app = App::launch(&home, "sealed-home").await;
    let w = &mut app.window;
    w.text_with("#unlock-heading", "Open this clinic").await;
    w.screenshot("asks-for-the-node-passphrase").await;
    w.type_into("#unlock-passphrase", "a wrong guess").await;
    w.click("#unlock-submit").await;
    w.text_with("#unlock-error", "not this clinic's node passphrase")
        .await;
    w.type_into("#unlock-passphrase", "hillcrest server room passphrase")
        .await;
    w.click("#unlock-submit").await;
    w.text_with("#signin-heading", "Hillcrest Clinic").await;
    w.sign_in("Hal Admin", "hal keeps the hill records").await;
    w.element("#tab-patients").await;
    w.screenshot("opened").await;
    app.close().await;
}
