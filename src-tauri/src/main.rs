//! `carelog-desktop`: the Carelog window for one clinic node.
//!
//! The shell holds one [`Desk`] (the open node and the signed-in session) in Tauri state; each
//! command in [`commands`] checks its arguments, calls the node and returns a typed result or a
//! sentence for the person at the screen. The window itself is the Leptos app in `ui/`.
//!
//! The home directory comes from `--home DIR`, else `$CARELOG_HOME`, else the user's data
//! directory; a home that holds no node yet opens on "Create a network" / "Open the demo network".

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod desk;
mod screens;

use std::path::PathBuf;

use desk::Desk;

/// Where the clinic home is: `--home DIR`, `--home=DIR`, `$CARELOG_HOME`, or the data directory.
fn chosen_home(args: &[String]) -> PathBuf {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--home" {
            if let Some(dir) = iter.next() {
                return PathBuf::from(dir);
            }
        } else if let Some(dir) = arg.strip_prefix("--home=") {
            return PathBuf::from(dir);
        }
    }
    match std::env::var_os("CARELOG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => desk::data_dir().join("clinic"),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CARELOG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let desk = Desk::open(chosen_home(&args));
    tauri::Builder::default()
        .manage(desk)
        .invoke_handler(tauri::generate_handler![
            commands::home_info,
            commands::create_network,
            commands::open_demo,
            commands::status,
            commands::staff,
            commands::sign_in,
            commands::kiosk_sign_in,
            commands::sign_out,
            commands::my_patients,
            commands::new_records,
            commands::chart,
            commands::add_entry,
            commands::request_access,
            commands::break_glass,
            commands::enroll,
            commands::register_patient,
            commands::clinic_patients,
            commands::doctors,
            commands::assign,
            commands::audit,
            commands::pending_requests,
            commands::grant,
            commands::refuse,
            commands::readers,
            commands::revoke,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .unwrap_or_else(|e| {
            eprintln!("carelog-desktop: the window could not start: {e}");
            std::process::exit(1);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn home_comes_from_the_argument_first() {
        assert_eq!(
            chosen_home(&args(&["--home", "/tmp/north"])),
            PathBuf::from("/tmp/north")
        );
        assert_eq!(
            chosen_home(&args(&["--home=/tmp/south"])),
            PathBuf::from("/tmp/south")
        );
    }
}
