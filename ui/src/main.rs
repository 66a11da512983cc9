//! The Carelog desktop window: a Leptos (client-side rendered) app built by trunk for wasm32,
//! talking to the Tauri shell only through the commands of `carelog-desktop-api`.

mod admin;
mod api;
mod app;
mod chart;
mod clinician;
mod custodian;
mod devices;
mod entry_form;
mod front_desk;
mod interchange;
mod kiosk;
mod my_record;
mod scan;
mod secrets;
mod sign_in;
mod trend;
mod updates;
mod welcome;
mod worklist;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
