//! Two clinics linked over QUIC while the window is open: South Harbour runs headless beside the
//! window (North Valley). The sync bar says online with its peer in sync; South Harbour's doctor
//! charts vitals for the patient she referred to North's cardiologist, and the cardiologist sees
//! the notice of new records in the window; "Sync now" answers; the admin's peers panel names
//! South Harbour and its link state.
//!
//! Screenshots land in `target/e2e/sync/`.

use carelog_e2e::{App, cli, demo_network, free_udp_addr, root, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_another_clinic_arrive_in_the_window() {
    let dir = root().join("target/e2e/sync-demo");
    let north = demo_network(&dir);
    let south = dir.join("clinic-2");
    let south_addr = free_udp_addr();
    let _south = serve(&south, &south_addr, Some(&dir.join("south-serve.log")));
    let mut app = App::launch_with(
        &north,
        "sync",
        &["--listen", "127.0.0.1:0", "--peer", &south_addr],
    )
    .await;
    let w = &mut app.window;

    // The link comes up by itself.
    w.screenshot("launched").await;
    w.element("#signin-user option").await;
    w.text_with("#sync-state", "online").await;
    w.text_with("#peer-count", "1 peer, in sync").await;
    w.screenshot("online").await;

    // North's cardiologist signs in; South Harbour charts for his referred patient.
    w.sign_in("Dr Lukas Brandt", carelog_e2e::STAFF_PASSPHRASE)
        .await;
    w.element("#patient-search").await;
    // What the demo's referral already brought from South Harbour is announced first; he reads
    // it and dismisses it.
    w.text_with("#new-records", "from other clinics").await;
    w.click("#dismiss-records").await;
    w.count("#new-records", 0).await;
    let run = |args: &[&str]| cli(&south, carelog_e2e::STAFF_PASSPHRASE, args);
    let listed = run(&["patients", "--as", "Dr Ines Duarte"]);
    let grace = listed["patients"][0]["patient_id"]
        .as_str()
        .expect("South Harbour has a patient")
        .to_string();
    run(&[
        "chart",
        "add",
        "--as",
        "Dr Ines Duarte",
        "--patient",
        &grace,
        "--kind",
        "vitals",
        "--data",
        r#"{"systolic":142,"diastolic":91,"heart_rate":88}"#,
    ]);
    w.text_with("#new-records", "1 new record from other clinics")
        .await;
    w.text_with("#new-records", "South Harbour").await;
    w.screenshot("new-records").await;

    // "Sync now" runs a round and says what moved.
    w.click("#sync-now").await;
    w.text_with("#sync-said", "synced").await;
    w.text_with("#last-sync", "last sync").await;

    // The admin's peers panel.
    w.sign_out().await;
    w.sign_in("Nora Admin", carelog_e2e::STAFF_PASSPHRASE).await;
    w.click("#tab-sync").await;
    w.text_with("#peers-table", "South Harbour").await;
    w.text_with("#peers-table", "in-sync").await;
    w.text_with("#sync-listening", "listens for other clinics")
        .await;
    w.screenshot("peers-panel").await;
    app.close().await;
}
