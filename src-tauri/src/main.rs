//! `carelog-desktop`: the Carelog window for one clinic node.
//!
//! The shell holds one [`Desk`] (the open node and the signed-in session) in Tauri state; each
//! command in [`commands`] checks its arguments, calls the node and returns a typed result or a
//! sentence for the person at the screen. The window itself is the Leptos app in `ui/`.
//!
//! The home directory comes from `--home DIR`, else `$CARELOG_HOME`, else the user's data
//! directory; a home that holds no node yet opens on "Create a network" / "Open the demo network".
//! The home's keys open with `$CARELOG_NODE_PASSPHRASE` (or the file named by
//! `$CARELOG_NODE_PASSPHRASE_FILE`), else the OS keyring; a home sealed under a node passphrase
//! that neither gives opens on a screen that asks for it. A staff session locks after
//! `--idle-lock SECONDS` (or `$CARELOG_IDLE_LOCK`; 5 minutes) without use.
//!
//! Release builds have no web inspector: Tauri's `devtools` feature is not enabled, and without
//! it the inspector exists in debug builds only.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod camera;
mod commands;
mod desk;
mod devices;
mod emergency;
mod front_desk;
mod my_record;
mod screens;
mod standing;
mod take_away;
mod updates;

use std::net::SocketAddr;
use std::path::PathBuf;

use desk::{Desk, IdleLocks, LinkConfig};
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

/// The idle locks, with the staff's from `--idle-lock SECONDS` (also `--idle-lock=SECONDS`), else
/// `$CARELOG_IDLE_LOCK`, else 5 minutes.
fn idle_locks(args: &[String]) -> Result<IdleLocks, String> {
    let mut locks = IdleLocks::default();
    let mut text = std::env::var("CARELOG_IDLE_LOCK")
        .ok()
        .filter(|t| !t.is_empty());
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--idle-lock" {
            text = Some(
                iter.next()
                    .cloned()
                    .ok_or("--idle-lock needs a number of seconds")?,
            );
        } else if let Some(value) = arg.strip_prefix("--idle-lock=") {
            text = Some(value.to_string());
        }
    }
    if let Some(text) = text {
        let seconds: u64 =
            text.trim().parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                format!("--idle-lock: `{text}` is not a number of seconds above 0")
            })?;
        locks.staff = std::time::Duration::from_secs(seconds);
    }
    Ok(locks)
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{what}: `{text}` is not an address such as 127.0.0.1:7070"))
}

/// Hands a command from the window to its handler (after the desk's guard).
fn run_command(invoke: tauri::ipc::Invoke<tauri::Wry>) -> bool {
    fn typed<F: Fn(tauri::ipc::Invoke<tauri::Wry>) -> bool>(handler: F) -> F {
        handler
    }
    let handler = typed(tauri::generate_handler![
        commands::home_info,
        commands::create_network,
        commands::unlock_home,
        commands::open_demo,
        commands::status,
        commands::sync_now,
        commands::activity,
        commands::set_kiosk,
        commands::change_passphrase,
        commands::change_pin,
        commands::choose_export_file,
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
        standing::disable_user,
        standing::replace_user_key,
        standing::replace_patient_key,
        standing::clinics,
        standing::clinic_standing,
        standing::replace_clinic_key,
        commands::lookup_codes,
        commands::print_document,
        commands::worklist,
        updates::check_update,
        updates::install_update,
        devices::pair_device,
        devices::devices,
        devices::approve_device,
        devices::remove_device,
        front_desk::find_patients,
        front_desk::possible_duplicates,
        front_desk::add_proxy,
        my_record::my_record,
        my_record::directory,
        emergency::emergency_summary,
        emergency::openings,
        emergency::review_opening,
        take_away::removable_drives,
        take_away::take_away,
        take_away::import_bundle,
    ]);
    handler(invoke)
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
    let idle = idle_locks(&args).unwrap_or_else(|e| {
        eprintln!("carelog-desktop: {e}");
        std::process::exit(2);
    });
    let unlock = carelog_node::NodeUnlock::from_env().unwrap_or_else(|e| {
        eprintln!("carelog-desktop: {e}");
        std::process::exit(2);
    });
    let desk = Desk::open(chosen_home(&args), config, idle, unlock);
    tauri::Builder::default()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_dialog::init())
        .manage(desk)
        .setup(|app| {
            camera::allow_card_scanning(app);
            if std::env::var("CARELOG_WEBVIEW_LIGHT").is_ok_and(|v| v == "1") {
                lighten_webviews(app);
            }
            // Sync runs on the app's async runtime, which exists from here on.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move { handle.state::<Desk>().relink() });
            Ok(())
        })
        // Every command passes the desk's guard first: the kiosk runs only its own commands.
        .invoke_handler(move |invoke| {
            let command = invoke.message.command().to_string();
            let refused = invoke
                .message
                .webview()
                .state::<Desk>()
                .guard(&command)
                .err();
            match refused {
                Some(failure) => {
                    invoke.resolver.reject(failure);
                    true
                }
                None => run_command(invoke),
            }
        })
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

/// A clinic's window is forms, tables and small SVG plots: it needs no GPU compositing (which
/// under a software renderer costs memory and start-up time) and no page cache. Measured on the
/// demo (debug build, Xvfb, idle): the whole window 413 → 334 MB PSS. Opt-in with
/// `CARELOG_WEBVIEW_LIGHT=1` until WebKitWebDriver is shown to drive such a view reliably (one
/// end-to-end run stopped answering with it on).
fn lighten_webviews(app: &tauri::App) {
    use tauri::Manager;
    for window in app.webview_windows().values() {
        let done = window.with_webview(|view| {
            #[cfg(target_os = "linux")]
            {
                use webkit2gtk::{
                    CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
                };
                let view = view.inner();
                if let Some(settings) = WebViewExt::settings(&view) {
                    settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                    settings.set_enable_webgl(false);
                }
                if let Some(context) = view.context() {
                    context.set_cache_model(CacheModel::DocumentViewer);
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = view;
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not adjust the window's web view");
        }
    }
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
    fn the_staff_idle_lock_comes_from_the_arguments() {
        assert_eq!(
            idle_locks(&args(&["--idle-lock", "7"]))
                .unwrap()
                .staff
                .as_secs(),
            7
        );
        assert_eq!(
            idle_locks(&args(&["--idle-lock=90"]))
                .unwrap()
                .staff
                .as_secs(),
            90
        );
        assert_eq!(idle_locks(&args(&[])).unwrap().kiosk.as_secs(), 60);
        for bad in [
            &["--idle-lock", "soon"][..],
            &["--idle-lock", "0"],
            &["--idle-lock"],
        ] {
            assert!(idle_locks(&args(bad)).is_err(), "{bad:?}");
        }
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
