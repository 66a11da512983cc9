//! The app as a clinic installs it: started as the desktop menu starts it (no arguments, a
//! person with a fresh home directory), it opens on the welcome screen and keeps its clinic
//! home in the platform's data directory, `~/.local/share/carelog/clinic`.
//!
//! `cargo xtask dist --check` installs the `.deb` into a scratch directory and points
//! `$CARELOG_INSTALLED_APP` at the `carelog-desktop` it installed; without it (as in
//! `cargo xtask test`) the debug build is started the same way. Screenshots land in
//! `target/e2e/installed/`.

use std::path::PathBuf;

use carelog_e2e::{App, need, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_from_the_menu_the_app_opens_on_its_welcome_screen() {
    let program = match std::env::var_os("CARELOG_INSTALLED_APP") {
        Some(path) => need(
            PathBuf::from(path),
            "`cargo xtask dist --check` installs it",
        ),
        None => need(
            root().join("target/debug/carelog-desktop"),
            "build the app first: `cargo xtask test` does",
        ),
    };
    eprintln!("starting {}", program.display());
    let person = root().join("target/e2e/installed-person");
    if person.exists() {
        std::fs::remove_dir_all(&person).expect("the old home directory can be removed");
    }
    std::fs::create_dir_all(&person).expect("a home directory for the person");
    let mut app = App::launch_as_from_menu(&program, &person, "installed").await;
    let w = &mut app.window;

    w.element("#create-network").await;
    w.element("#open-demo").await;
    w.text_with("footer.status-bar", "No clinic open").await;
    let home = person.join(".local/share/carelog/clinic");
    w.text_with("main.screen", &home.display().to_string())
        .await;
    w.screenshot("welcome").await;
    app.close().await;
}
