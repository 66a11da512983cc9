//! The desktop parts of `cargo xtask`: installing the window's toolchain (trunk,
//! wasm-bindgen-cli, tauri-driver), building the Leptos UI with trunk before any cargo build of
//! the app, opening the demo network in the window, and the end-to-end tests under Xvfb.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::{Result, cmd, is_root, root, step};

/// Debian packages every build needs: SQLCipher links the system's libcrypto (libssl-dev), the
/// OS keyring is reached over D-Bus (libdbus-1-dev), both found with pkg-config.
const BUILD_PACKAGES: [&str; 4] = [
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libdbus-1-dev",
];

/// Debian packages the window, its build and its tests need.
const APT_PACKAGES: [&str; 15] = [
    "libwebkit2gtk-4.1-dev",
    "build-essential",
    "libssl-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libsoup-3.0-dev",
    "libjavascriptcoregtk-4.1-dev",
    "pkg-config",
    "xvfb",
    "webkit2gtk-driver",
    "imagemagick",
    "x11-utils",
    "python3",
    "libdbus-1-dev",
    "sqlite3",
];

/// Cargo-installed tools at the versions that work here: (crate, version, binary, --locked).
/// wasm-bindgen-cli must equal the `wasm-bindgen` pinned in ui/Cargo.toml, and its lock file
/// pins a crate the registry lacks, so it installs without `--locked`.
const CARGO_TOOLS: [(&str, &str, &str, bool); 4] = [
    ("trunk", "0.21.14", "trunk", true),
    ("wasm-bindgen-cli", "0.2.130", "wasm-bindgen", false),
    ("tauri-driver", "2.1.0", "tauri-driver", true),
    ("cargo-deny", "0.20.2", "cargo-deny", true),
];

/// Whether a window can open here.
pub fn has_display() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs what any build of the workspace needs, before the first cargo command.
pub fn build_packages() -> Result {
    install_missing(&BUILD_PACKAGES)
}

fn apt_packages() -> Result {
    install_missing(&APT_PACKAGES)
}

fn install_missing(packages: &[&str]) -> Result {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        eprintln!(
            "    (not a Debian system: make sure WebKitGTK 4.1, Xvfb and WebKitWebDriver are installed)"
        );
        return Ok(());
    }
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "the desktop app needs these packages; please install them (as root): apt-get install {}",
            missing.join(" ")
        ));
    }
    step(&format!("installing {}", missing.join(" ")));
    cmd("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not start apt-get: {e}"))?;
    if !status.success() {
        return Err(format!("apt-get install {} failed", missing.join(" ")));
    }
    Ok(())
}

fn wasm_target() -> Result {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("could not start rustup: {e}"))?;
    if !String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        cmd("rustup", &["target", "add", "wasm32-unknown-unknown"])?;
    }
    Ok(())
}

pub fn cargo_tools(names: &[&str]) -> Result {
    let list = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .map_err(|e| format!("could not list installed cargo tools: {e}"))?;
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for (krate, version, binary, locked) in CARGO_TOOLS {
        if !names.contains(&krate) {
            continue;
        }
        // `cargo install --list` prints "trunk v0.21.14:" then its binaries.
        if list
            .lines()
            .any(|l| l.starts_with(&format!("{krate} v{version}:")))
        {
            continue;
        }
        step(&format!(
            "installing {binary} {version} (a few minutes, once)"
        ));
        let mut args = vec!["install", krate, "--version", version];
        if locked {
            args.push("--locked");
        }
        cmd("cargo", &args)?;
    }
    Ok(())
}

/// Installs what building the window needs; with `for_tests`, also what driving it needs.
pub fn ensure_tools(for_tests: bool) -> Result {
    apt_packages()?;
    wasm_target()?;
    if for_tests {
        cargo_tools(&["trunk", "wasm-bindgen-cli", "tauri-driver"])
    } else {
        cargo_tools(&["trunk", "wasm-bindgen-cli"])
    }
}

/// Builds the UI into ui/dist with trunk (offline: dependencies are fetched first), which every
/// cargo build, check or clippy of the app needs; `release` for the packages.
pub fn build_ui(release: bool) -> Result {
    step(if release {
        "building the window (trunk, wasm32, release)"
    } else {
        "building the window (trunk, wasm32)"
    });
    cmd("cargo", &["fetch"])?;
    let started = Instant::now();
    let mut trunk = Command::new("trunk");
    trunk.arg("build").current_dir(root().join("ui"));
    if release {
        trunk.arg("--release");
    }
    let status = trunk
        .status()
        .map_err(|e| format!("could not start trunk: {e}"))?;
    if !status.success() {
        return Err("`trunk build` in ui/ failed".into());
    }
    eprintln!(
        "    (trunk build took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test`, before fmt and clippy: the toolchain and ui/dist.
pub fn prepare_tests() -> Result {
    ensure_tools(true)?;
    build_ui(false)
}

/// `cargo xtask test`, last: the window driven end to end. The app and the CLI are built
/// before, with the rest of the workspace.
pub fn e2e() -> Result {
    step("end-to-end tests of the window (Xvfb + tauri-driver)");
    cmd("cargo", &["test", "-p", "carelog-e2e"])?;
    eprintln!("    screenshots: {}", root().join("target/e2e").display());
    Ok(())
}

/// `cargo xtask run` with a display: builds the window and the app, builds the demo network with
/// `demo`, starts South Harbour and East Ridge as headless `carelog serve` nodes, and opens North
/// Valley in the window, linked to both, until the window is closed. A little later South
/// Harbour charts new vitals for the patient it referred to North's cardiologist, so the window
/// shows records arriving from another clinic.
///
/// The window is a debug build: it shares its artifacts with `cargo xtask test` and builds in a
/// third of a release build's time (18 min on two cores), and the dev profile already optimises
/// the crates that make unlocking and sealing slow.
pub fn run_window(demo: impl FnOnce() -> Result, carelog: &Path) -> Result {
    ensure_tools(false)?;
    build_ui(false)?;
    step("building the desktop app");
    cmd("cargo", &["build", "-p", "carelog-desktop"])?;
    demo()?;
    let demo_dir = root().join("target/demo");
    let north = demo_dir.join("clinic-1");
    let ports = [free_udp_port()?, free_udp_port()?, free_udp_port()?];
    let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
    step("starting South Harbour and East Ridge headless beside the window");
    let mut beside = Vec::new();
    for (i, name) in [(1, "South Harbour"), (2, "East Ridge")] {
        let home = demo_dir.join(format!("clinic-{}", i + 1));
        let log = demo_dir.join(format!("clinic-{}-serve.log", i + 1));
        let child = Command::new(carelog)
            .arg("--home")
            .arg(&home)
            .args(["serve", "--listen", &addr(i)])
            .env("CARELOG_NODE_PASSPHRASE", super::demo_node_passphrase())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(&log)
                    .map_err(|e| format!("could not create {}: {e}", log.display()))?,
            )
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        eprintln!("    {name} serves on {} (log: {})", addr(i), log.display());
        beside.push(Background(child));
    }
    let referral = spawn_referral_visit(carelog, &demo_dir.join("clinic-2"));
    step(&format!("opening {} in the window", north.display()));
    eprintln!(
        "    staff passphrase: {}   patient PIN: {} with the patient's card (printed above)",
        super::DEMO_STAFF_PASSPHRASE,
        super::DEMO_PATIENT_PIN
    );
    eprintln!(
        "    in about 20 s South Harbour charts new vitals for its referred patient: sign in as\n    Dr Lukas Brandt to see them arrive, or as Nora Admin for the peers panel"
    );
    let status = Command::new(root().join("target/debug/carelog-desktop"))
        .env("CARELOG_NODE_PASSPHRASE", super::demo_node_passphrase())
        .arg("--home")
        .arg(&north)
        .args(["--listen", &addr(0), "--peer", &addr(1), "--peer", &addr(2)])
        .status()
        .map_err(|e| format!("could not start the desktop app: {e}"))?;
    drop(beside);
    let _ = referral.join();
    if !status.success() {
        return Err(format!("the desktop app stopped ({status})"));
    }
    Ok(())
}

/// A port no one uses on loopback right now.
fn free_udp_port() -> Result<u16> {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on loopback: {e}"))
}

/// A headless clinic, stopped (SIGTERM, then kill) when the window closes.
pub struct Background(pub std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// After a while, South Harbour's family doctor charts vitals for her patient Grace, whom North
/// Valley's cardiologist may read: the running `serve` there pushes the block to the window.
fn spawn_referral_visit(carelog: &Path, south: &Path) -> std::thread::JoinHandle<()> {
    let carelog = carelog.to_path_buf();
    let south = south.to_path_buf();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let run = |args: &[&str]| {
            Command::new(&carelog)
                .arg("--home")
                .arg(&south)
                .arg("--json")
                .args(args)
                .env("CARELOG_PASSPHRASE", super::DEMO_STAFF_PASSPHRASE)
                .env("CARELOG_NODE_PASSPHRASE", super::demo_node_passphrase())
                .output()
        };
        let patient = run(&["patients", "--as", "Dr Ines Duarte"])
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["patients"][0]["patient_id"].as_str().map(str::to_string));
        let Some(patient) = patient else {
            eprintln!("    (South Harbour's visit was skipped: its patients could not be listed)");
            return;
        };
        let vitals = r#"{"systolic":142,"diastolic":91,"heart_rate":88}"#;
        match run(&[
            "chart",
            "add",
            "--as",
            "Dr Ines Duarte",
            "--patient",
            &patient,
            "--kind",
            "vitals",
            "--data",
            vitals,
        ]) {
            Ok(o) if o.status.success() => eprintln!(
                "    South Harbour charted new vitals for patient {patient}; they sync to North Valley now"
            ),
            _ => eprintln!("    (South Harbour's visit did not chart: is the demo intact?)"),
        }
    })
}
