//! North Valley's admin revokes people and a clinic from the admin console, in the real window.
//!
//! Nora Admin disables Dr Lukas Brandt, who left, and gives Dr Amara Osei new keys after her
//! laptop was stolen. As the health authority (North Valley founded the network) she suspends
//! East Ridge with the authority's passphrase, then reinstates it. Dr Brandt's sign-in is refused
//! with the reason; Dr Osei's old passphrase opens nothing and her new one does.
//!
//! Screenshots land in `target/e2e/standing/`.

use carelog_e2e::{AUTHORITY_PASSPHRASE, App, STAFF_PASSPHRASE, demo_network, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_disables_a_doctor_replaces_a_stolen_key_and_suspends_a_clinic() {
    let home = demo_network(&root().join("target/e2e/standing-demo"));
    let mut app = App::launch(&home, "standing").await;
    let w = &mut app.window;

    w.sign_in("Nora Admin", STAFF_PASSPHRASE).await;
    w.click("#tab-staff").await;
    w.text_with("#staff-table", "Dr Lukas Brandt").await;

    // Dr Brandt left: disabling asks to confirm first.
    w.choose("#standing-user", "Dr Lukas Brandt").await;
    w.type_into("#standing-reason", "left the clinic").await;
    w.click("#standing-disable").await;
    w.screenshot("confirm-disable").await;
    w.click("#standing-disable-confirm").await;
    w.text_with("#standing-status", "Dr Lukas Brandt is disabled")
        .await;
    w.text_with("#staff-table", "disabled: left the clinic")
        .await;

    // Dr Osei's laptop was stolen: new keys under a passphrase she types.
    let new_passphrase = "osei keeps her new keys close";
    w.choose("#standing-user", "Dr Amara Osei").await;
    w.type_into("#standing-reason", "laptop stolen").await;
    w.type_into("#standing-passphrase", new_passphrase).await;
    w.click("#standing-replace").await;
    w.text_with("#standing-status", "Dr Amara Osei has new keys")
        .await;
    w.screenshot("staff-standing").await;

    // As the health authority: a wrong passphrase does nothing; the right one suspends.
    w.click("#tab-clinics").await;
    w.text_with("#clinics-table", "East Ridge Clinic").await;
    w.choose("#standing-clinic", "East Ridge Clinic").await;
    w.type_into("#standing-clinic-reason", "server stolen")
        .await;
    w.type_into("#standing-authority", "not the authority's words")
        .await;
    w.click("#standing-suspend").await;
    w.text_with("#standing-clinic-status", "passphrase").await;
    w.text_with("#clinics-table", "enrolled").await;
    w.type_into("#standing-clinic-reason", "server stolen")
        .await;
    w.type_into("#standing-authority", AUTHORITY_PASSPHRASE)
        .await;
    w.click("#standing-suspend").await;
    w.text_with("#standing-clinic-status", "East Ridge Clinic is suspended")
        .await;
    w.text_with("#clinics-table", "suspended: server stolen")
        .await;
    w.screenshot("clinic-suspended").await;
    w.type_into("#standing-authority", AUTHORITY_PASSPHRASE)
        .await;
    w.click("#standing-reinstate").await;
    w.text_with("#standing-clinic-status", "East Ridge Clinic is reinstated")
        .await;
    w.sign_out().await;

    // Dr Brandt is refused, with the reason.
    w.sign_in("Dr Lukas Brandt", STAFF_PASSPHRASE).await;
    w.text_with(
        "#signin-error",
        "is disabled and cannot sign in: left the clinic",
    )
    .await;
    w.screenshot("disabled-sign-in").await;
    // Dr Osei's old passphrase opens nothing; her new one does.
    w.sign_in("Dr Amara Osei", STAFF_PASSPHRASE).await;
    w.text_with("#signin-error", "That passphrase is not right")
        .await;
    w.type_into("#signin-passphrase", new_passphrase).await;
    w.click("#signin-submit").await;
    w.text_with("#patient-list", "Elena Marsh").await;
    w.screenshot("new-keys-sign-in").await;

    app.close().await;
}
