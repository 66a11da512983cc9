//! The desktop parts of `cargo xtask`: installing the window's toolchain (TOOLCHAIN.md), building
//! the Leptos UI with trunk before any cargo build of the app, opening the demo network in the
//! window, and the end-to-end tests under Xvfb.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::{Result, cmd, is_root, root, step};

/// Debian packages the window, its build and its tests need (TOOLCHAIN.md, step 1).
const APT_PACKAGES: [&str; 13] = [
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
];

/// Cargo-installed tools at the versions that work here: (crate, version, binary, --locked).
/// wasm-bindgen-cli must equal the `wasm-bindgen` pinned in ui/Cargo.toml, and its lock file
/// pins a crate the registry lacks, so it installs without `--locked`.
const CARGO_TOOLS: [(&str, &str, &str, bool); 3] = [
    ("trunk", "0.21.14", "trunk", true),
    ("wasm-bindgen-cli", "0.2.130", "wasm-bindgen", false),
    ("tauri-driver", "2.1.0", "tauri-driver", true),
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

fn apt_packages() -> Result {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        eprintln!(
            "    (not a Debian system: make sure WebKitGTK 4.1, Xvfb and WebKitWebDriver are installed)"
        );
        return Ok(());
    }
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
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

fn cargo_tools(names: &[&str]) -> Result {
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
/// cargo build, check or clippy of the app needs.
pub fn build_ui() -> Result {
    step("building the window (trunk, wasm32)");
    cmd("cargo", &["fetch"])?;
    let started = Instant::now();
    let status = Command::new("trunk")
        .arg("build")
        .current_dir(root().join("ui"))
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
    build_ui()
}

/// `cargo xtask test`, last: the app and the CLI, then the window driven end to end.
pub fn e2e() -> Result {
    step("end-to-end tests of the window (Xvfb + tauri-driver)");
    cmd(
        "cargo",
        &["build", "-p", "carelog-desktop", "-p", "carelog-cli"],
    )?;
    cmd("cargo", &["test", "-p", "carelog-e2e"])?;
    eprintln!("    screenshots: {}", root().join("target/e2e").display());
    Ok(())
}

/// `cargo xtask run` with a display: builds the window and the app, builds the demo network with
/// `demo`, and opens its first clinic in the window until it is closed.
///
/// The window is a debug build: it shares its artifacts with `cargo xtask test` and builds in a
/// third of a release build's time (18 min on two cores), and the dev profile already optimises
/// the crates that make unlocking and sealing slow.
pub fn run_window(demo: impl FnOnce() -> Result) -> Result {
    ensure_tools(false)?;
    build_ui()?;
    step("building the desktop app");
    cmd("cargo", &["build", "-p", "carelog-desktop"])?;
    demo()?;
    let home = root().join("target/demo/clinic-1");
    step(&format!("opening {} in the window", home.display()));
    eprintln!("    staff passphrase: demo-pass   patient PIN: 1234");
    let status = Command::new(root().join("target/debug/carelog-desktop"))
        .arg("--home")
        .arg(&home)
        .status()
        .map_err(|e| format!("could not start the desktop app: {e}"))?;
    if !status.success() {
        return Err(format!("the desktop app stopped ({status})"));
    }
    Ok(())
}
