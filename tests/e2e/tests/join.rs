//! Clinics enter a network from the window. A new clinic asks to join from the welcome screen,
//! the health authority (here the CLI at the founding clinic) approves the request, and the
//! window opens the invite, signs its admin in and syncs with the founder. And the founder's admin
//! enrolls a clinic from its request in the "Clinics" tab.
//!
//! Screenshots land in `target/e2e/join/` and `target/e2e/approve/`.

use std::path::Path;

use carelog_e2e::{AUTHORITY_PASSPHRASE, App, cli, free_udp_addr, root, serve};
use serde_json::Value;

const LENA: &str = "lena keeps the lakeside keys";

/// The founder's CLI, as its admin.
fn lakeside_cli(home: &Path, args: &[&str]) -> Value {
    cli(home, LENA, args)
}

fn fresh(dir: &str) -> std::path::PathBuf {
    let path = root().join("target/e2e").join(dir);
    if path.exists() {
        std::fs::remove_dir_all(&path).expect("an old test directory can be removed");
    }
    std::fs::create_dir_all(&path).expect("the test directory can be created");
    path
}

fn founder(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("lakeside");
    lakeside_cli(
        &home,
        &[
            "network",
            "create",
            "--network",
            "Lake District",
            "--clinic",
            "Lakeside Clinic",
            "--admin",
            "Lena Admin",
        ],
    );
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_clinic_joins_with_an_invite_and_syncs() {
    let dir = fresh("join-test");
    let lakeside = founder(&dir);
    let addr = free_udp_addr();
    let _serving = serve(&lakeside, &addr, None);
    let mut app = App::launch(&dir.join("hillside"), "join").await;
    let w = &mut app.window;

    // Ask to join.
    w.type_into("#join-clinic", "Hillside Clinic").await;
    w.type_into("#join-admin", "Hana Admin").await;
    w.type_into("#join-passphrase", "hana opens the hillside door")
        .await;
    w.screenshot("join-form").await;
    w.click("#join-request").await;
    let said = w.text_with("#join-saved", "Request saved to").await;
    let request = said
        .split("Request saved to ")
        .nth(1)
        .and_then(|rest| rest.split(". Take it").next())
        .expect("the status names the request file")
        .to_string();
    assert!(Path::new(&request).exists(), "{request}");
    w.element("#join-invite").await;
    w.screenshot("asked-to-join").await;

    // The health authority approves it, naming where Lakeside listens.
    let invite = dir.join("hillside-invite.json");
    lakeside_cli(
        &lakeside,
        &[
            "clinic",
            "approve",
            &request,
            "--out",
            invite.to_str().unwrap(),
            "--peer",
            &addr,
        ],
    );

    // The window opens the invite: the clinic is enrolled, its admin signs in, and it syncs.
    w.type_into("#join-invite", invite.to_str().unwrap()).await;
    w.click("#join-submit").await;
    w.text_with("#signin-heading", "Hillside Clinic").await;
    w.text_with("#peer-count", "1 peer, in sync").await;
    w.sign_in("Hana Admin", "hana opens the hillside door")
        .await;
    w.element("#tab-patients").await;
    w.screenshot("joined-and-signed-in").await;
    // What Hillside seals reaches Lakeside.
    w.click("#tab-staff").await;
    w.choose("#enroll-role", "doctor").await;
    w.type_into("#enroll-name", "Dr Hugo Hale").await;
    w.type_into("#enroll-specialty", "family medicine").await;
    w.type_into("#enroll-passphrase", "hugo writes careful notes")
        .await;
    w.click("#enroll-submit").await;
    w.text_with("#enroll-status", "Dr Hugo Hale is enrolled")
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let lakeside_hash = lakeside_cli(&lakeside, &["ledger", "stats"])["state_hash"].clone();
        let hillside_hash =
            lakeside_cli(&dir.join("hillside"), &["ledger", "stats"])["state_hash"].clone();
        if lakeside_hash == hillside_hash {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Hillside's enrollment of Dr Hugo Hale never reached Lakeside"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_founding_admin_enrolls_a_clinic_from_its_request() {
    let dir = fresh("approve-test");
    let lakeside = founder(&dir);
    let request = dir.join("brookside-request.json");
    lakeside_cli(
        &dir.join("brookside"),
        &[
            "clinic",
            "request",
            "--clinic",
            "Brookside Clinic",
            "--admin",
            "Bo Admin",
            "--out",
            request.to_str().unwrap(),
        ],
    );
    let mut app = App::launch(&lakeside, "approve").await;
    let w = &mut app.window;
    w.sign_in("Lena Admin", LENA).await;
    w.click("#tab-clinics").await;
    // A wrong address is named.
    w.type_into("#approve-request", request.to_str().unwrap())
        .await;
    w.type_into("#approve-peers", "lakeside").await;
    w.type_into("#approve-authority", AUTHORITY_PASSPHRASE)
        .await;
    w.click("#approve-submit").await;
    w.text_with("#approve-status", "`lakeside` is not an address")
        .await;
    w.paste_into("#approve-peers", "").await;
    // Without the health authority's passphrase nothing is enrolled.
    w.type_into("#approve-authority", "a guess at it").await;
    w.click("#approve-submit").await;
    w.text_with("#approve-status", "not the health authority's passphrase")
        .await;
    w.type_into("#approve-authority", AUTHORITY_PASSPHRASE)
        .await;
    w.click("#approve-submit").await;
    let said = w
        .text_with("#approve-status", "The clinic is enrolled")
        .await;
    let invite = said
        .split("saved to ")
        .nth(1)
        .and_then(|rest| rest.split(": hand it").next())
        .expect("the status names the invite file")
        .to_string();
    w.screenshot("clinic-enrolled").await;
    app.close().await;
    // The invite works: Brookside joins with it.
    let joined = lakeside_cli(&dir.join("brookside"), &["clinic", "join", &invite]);
    assert!(
        joined["clinic_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}
