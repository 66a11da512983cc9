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
mod updates;

use std::net::SocketAddr;
use std::path::PathBuf;

use desk::{Desk, LinkConfig};
use tauri::Manager;

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
        _ => carelog_node::default_home(),
    }
}

/// The sync settings from `--listen ADDR` and `--peer ADDR` (each also as `--flag=ADDR`), or
/// `$CARELOG_LISTEN`; an address that does not parse is named.
fn link_config(args: &[String]) -> Result<LinkConfig, String> {
    let mut config = LinkConfig::default();
    if let Some(listen) = std::env::var("CARELOG_LISTEN")
        .ok()
        .filter(|l| !l.is_empty())
    {
        config.listen = parse_addr("CARELOG_LISTEN", &listen)?;
    }
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        if flag != "--listen" && flag != "--peer" {
            continue;
        }
        let value = inline
            .or_else(|| iter.next().cloned())
            .ok_or_else(|| format!("{flag} needs an address such as 127.0.0.1:7070"))?;
        let addr = parse_addr(flag, &value)?;
        if flag == "--listen" {
            config.listen = addr;
        } else {
            config.peers.push(addr);
        }
    }
    Ok(config)
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{what}: `{text}` is not an address such as 127.0.0.1:7070"))
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
    let config = link_config(&args).unwrap_or_else(|e| {
        eprintln!("carelog-desktop: {e}");
        std::process::exit(2);
    });
    let desk = Desk::open(chosen_home(&args), config);
    tauri::Builder::default()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(desk)
        .setup(|app| {
            // Sync runs on the app's async runtime, which exists from here on.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move { handle.state::<Desk>().relink() });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::home_info,
            commands::create_network,
            commands::open_demo,
            commands::status,
            commands::sync_now,
            commands::export_chart,
            commands::request_join,
            commands::join_network,
            commands::approve_clinic,
            commands::import_records,
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
            updates::check_update,
            updates::install_update,
        ])
        .build(tauri::generate_context!("../tauri.conf.json"))
        .unwrap_or_else(|e| {
            eprintln!("carelog-desktop: the window could not start: {e}");
            std::process::exit(1);
        })
        .run(|handle, event| {
            // The process ends right after this event: managed state is never dropped.
            if let tauri::RunEvent::Exit = event {
                handle.state::<Desk>().close();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sync_addresses_come_from_the_arguments() {
        let config = link_config(&args(&[
            "--home",
            "/tmp/north",
            "--listen",
            "127.0.0.1:7070",
            "--peer=127.0.0.1:7071",
            "--peer",
            "[::1]:7072",
        ]))
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:7070".parse().unwrap());
        assert_eq!(
            config.peers,
            vec![
                "127.0.0.1:7071".parse().unwrap(),
                "[::1]:7072".parse().unwrap()
            ]
        );
        let wrong = link_config(&args(&["--peer", "north-valley"])).unwrap_err();
        assert!(
            wrong.contains("`north-valley` is not an address"),
            "{wrong}"
        );
        let missing = link_config(&args(&["--listen"])).unwrap_err();
        assert!(missing.contains("--listen needs an address"), "{missing}");
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
