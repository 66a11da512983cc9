//! `cargo xtask dist --check`: the packages installed the way a clinic installs them, into
//! scratch directories under `target/dist/`, and checked.
//!
//! - the `.deb` with `dpkg --root` (maintainer scripts run outside a chroot with `$DPKG_ROOT`
//!   set, as Debian does for such installs): `carelog --version` runs from the installed path,
//!   the `carelog` service account exists in the scratch root, the desktop entry starts the app
//!   with no terminal, and `systemd-analyze verify` passes on the installed unit;
//! - the `.rpm` with `rpm --root` (no scriptlets: the scratch root has no shell): its file list
//!   and `carelog --version`;
//! - the installed `carelog-desktop` under Xvfb, started as from the menu (no arguments, a fresh
//!   user), to the welcome screen, through the end-to-end harness (`tests/e2e/tests/installed.rs`,
//!   screenshots in `target/e2e/installed/`);
//! - every signature in the update folder verifies with the update key.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dist::{Package, UpdateKey};
use crate::{Result, apt_install, cmd, root, step};

/// Runs a program and returns its standard output, failing with its messages.
fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn fresh_dir(path: &Path) -> Result {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| format!("could not clear {}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(path).map_err(|e| format!("could not create {}: {e}", path.display()))
}

fn package<'a>(packages: &'a [Package], format: &str) -> Result<&'a Package> {
    packages
        .iter()
        .find(|p| p.format == format)
        .ok_or_else(|| format!("no .{format} package was built"))
}

/// What every Linux package must hold.
const PACKAGED: [&str; 5] = [
    "usr/bin/carelog-desktop",
    "usr/bin/carelog",
    "usr/share/applications/Carelog.desktop",
    "usr/share/icons/hicolor/256x256/apps/carelog-desktop.png",
    "usr/lib/systemd/system/carelog.service",
];

/// `dist --check`.
pub fn check(packages: &[Package], key: &UpdateKey) -> Result {
    // rpm reads the .rpm; systemd-analyze verifies the unit (it works without systemd running).
    apt_install(&[("rpm", "rpm"), ("systemd", "systemd-analyze")])?;
    signatures(key)?;
    let deb = package(packages, "deb")?;
    let rpm = package(packages, "rpm")?;
    let deb_root = root().join("target/dist/deb-root");
    install_deb(&deb.path, &deb_root)?;
    version(&deb_root)?;
    marked(&deb_root, "DEB")?;
    service_account(&deb_root)?;
    desktop_entry(&deb_root)?;
    verify_unit(&deb_root)?;
    let rpm_root = root().join("target/dist/rpm-root");
    install_rpm(&rpm.path, &rpm_root)?;
    marked(&rpm_root, "RPM")?;
    welcome_screen(&deb_root)?;
    eprintln!("\n    the packages install and run: .deb and .rpm checked");
    Ok(())
}

/// Every package in the update folder verifies against its `.sig` with the update key, and a
/// package changed by one byte does not.
fn signatures(key: &UpdateKey) -> Result {
    step("checking the update folder's signatures");
    let dir = root().join("target/release/bundle/update");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("latest.json")).map_err(|e| format!("no latest.json: {e}"))?,
    )
    .map_err(|e| format!("latest.json is not JSON: {e}"))?;
    let platforms = manifest["platforms"]
        .as_object()
        .ok_or("latest.json has no platforms")?;
    for (platform, entry) in platforms {
        let url = entry["url"].as_str().ok_or("an entry without a url")?;
        let name = url.rsplit('/').next().unwrap_or(url);
        let bytes = std::fs::read(dir.join(name))
            .map_err(|e| format!("{platform}: {name} is not beside latest.json: {e}"))?;
        let signature = entry["signature"]
            .as_str()
            .ok_or("an entry without a signature")?;
        key.verify(&bytes, signature)
            .map_err(|e| format!("{platform}: {name} does not verify: {e}"))?;
        let mut changed = bytes.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        if key.verify(&changed, signature).is_ok() {
            return Err(format!("{platform}: a changed {name} still verified"));
        }
        eprintln!("    {platform}: {name} verifies; changed by one byte, it does not");
    }
    Ok(())
}

/// `dpkg --root` into an empty directory: dpkg's database is made there, dependencies (WebKitGTK,
/// installed on this machine) are taken from the machine, and the maintainer scripts run with
/// `$DPKG_ROOT` pointing at the scratch root.
fn install_deb(deb: &Path, scratch: &Path) -> Result {
    step(&format!(
        "installing {} into {}",
        deb.display(),
        scratch.display()
    ));
    fresh_dir(scratch)?;
    let admin = scratch.join("var/lib/dpkg");
    for dir in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(dir)).map_err(|e| e.to_string())?;
    }
    // A root that dpkg installs into has an /etc, as base-files makes it on a real system.
    std::fs::create_dir_all(scratch.join("etc")).map_err(|e| e.to_string())?;
    for file in ["status", "available"] {
        std::fs::write(admin.join(file), b"").map_err(|e| e.to_string())?;
    }
    let listing = output("dpkg-deb", &["--contents", &deb.to_string_lossy()])?;
    for path in PACKAGED {
        // dpkg-deb lists paths with or without a leading "./", by how the archive was made.
        let listed = |l: &str| {
            l.split_whitespace()
                .last()
                .is_some_and(|p| p.trim_start_matches("./") == path)
        };
        if !listing.lines().any(listed) {
            return Err(format!("the .deb lacks /{path}"));
        }
    }
    cmd(
        "dpkg",
        &[
            &format!("--root={}", scratch.display()),
            "--force-script-chrootless",
            "--force-depends",
            "--install",
            &deb.to_string_lossy(),
        ],
    )?;
    let status = std::fs::read_to_string(admin.join("status")).map_err(|e| e.to_string())?;
    if !status.contains("Package: carelog\nStatus: install ok installed") {
        return Err(format!(
            "dpkg does not list carelog as installed in {}",
            scratch.display()
        ));
    }
    Ok(())
}

/// The last `.deb` of `cargo xtask dist`, installed afresh into `target/dist/deb-root`; returns
/// the installed `carelog-desktop`.
pub fn install_last_deb() -> Result<PathBuf> {
    let deb = crate::dist::last_package("deb").ok_or("no .deb: run `cargo xtask dist` first")?;
    let scratch = root().join("target/dist/deb-root");
    install_deb(&deb, &scratch)?;
    Ok(scratch.join("usr/bin/carelog-desktop"))
}

/// `carelog --version` from the installed path.
fn version(scratch: &Path) -> Result {
    let carelog = scratch.join("usr/bin/carelog");
    let printed = output(&carelog.to_string_lossy(), &["--version"])?;
    let expected = format!("carelog {}", env!("CARGO_PKG_VERSION"));
    if printed.trim() != expected {
        return Err(format!(
            "{} --version printed {printed:?}, not {expected:?}",
            carelog.display()
        ));
    }
    eprintln!("    {} --version: {}", carelog.display(), printed.trim());
    Ok(())
}

/// The bundler marked the packaged app with its kind, which the updater reads to pick the
/// manifest entry and the installer (`dpkg` or `rpm`) for an update.
fn marked(scratch: &Path, kind: &str) -> Result {
    let app = scratch.join("usr/bin/carelog-desktop");
    let bytes =
        std::fs::read(&app).map_err(|e| format!("could not read {}: {e}", app.display()))?;
    let marker = format!("__TAURI_BUNDLE_TYPE_VAR_{kind}");
    if !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
        return Err(format!(
            "{} does not carry its package kind ({marker}): the updater could not update it",
            app.display()
        ));
    }
    Ok(())
}

/// The postinst made the service's account in the scratch root (and nowhere else).
fn service_account(scratch: &Path) -> Result {
    let passwd = std::fs::read_to_string(scratch.join("etc/passwd"))
        .map_err(|e| format!("the package made no etc/passwd in the scratch root: {e}"))?;
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("carelog:"))
        .ok_or("the package's postinst did not create the carelog account")?;
    let fields: Vec<&str> = entry.split(':').collect();
    if fields.get(5) != Some(&"/var/lib/carelog") || fields.get(6) != Some(&"/usr/sbin/nologin") {
        return Err(format!(
            "the carelog account is not as the unit expects: {entry}"
        ));
    }
    eprintln!("    service account: {entry}");
    Ok(())
}

/// The menu entry starts the app itself, with no arguments and no terminal.
fn desktop_entry(scratch: &Path) -> Result {
    let path = scratch.join("usr/share/applications/Carelog.desktop");
    let entry = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    for line in [
        "Exec=carelog-desktop",
        "Terminal=false",
        "Icon=carelog-desktop",
    ] {
        if !entry.lines().any(|l| l.trim() == line) {
            return Err(format!("{} lacks `{line}`:\n{entry}", path.display()));
        }
    }
    Ok(())
}

/// `systemd-analyze verify` on the installed unit, inside the scratch root (where the unit's
/// `ExecStart` binary is); the machine's own units supply the targets it refers to. Any message
/// counts as a failure, since `verify` reports some mistakes only as warnings.
fn verify_unit(scratch: &Path) -> Result {
    step("systemd-analyze verify carelog.service");
    let units = scratch.join("usr/lib/systemd/system");
    for entry in std::fs::read_dir("/usr/lib/systemd/system")
        .map_err(|e| format!("no systemd units on this machine: {e}"))?
        .flatten()
    {
        let to = units.join(entry.file_name());
        if !to.exists() && entry.path().is_file() {
            let _ = std::fs::copy(entry.path(), to);
        }
    }
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", scratch.display()))
        .args(["verify", "/usr/lib/systemd/system/carelog.service"])
        .output()
        .map_err(|e| format!("could not start systemd-analyze: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !said.trim().is_empty() {
        return Err(format!(
            "systemd-analyze verify refused carelog.service ({}):\n{said}",
            out.status
        ));
    }
    eprintln!("    carelog.service: verified");
    Ok(())
}

/// The `.rpm`: its files, and `carelog --version` from an `rpm --root` install.
fn install_rpm(rpm: &Path, scratch: &Path) -> Result {
    step(&format!(
        "installing {} into {}",
        rpm.display(),
        scratch.display()
    ));
    fresh_dir(scratch)?;
    let listing = output("rpm", &["-qpl", &rpm.to_string_lossy()])?;
    for path in PACKAGED {
        if !listing.lines().any(|l| l == format!("/{path}")) {
            return Err(format!("the .rpm lacks /{path}"));
        }
    }
    let scripts = output("rpm", &["-qp", "--scripts", &rpm.to_string_lossy()])?;
    if !scripts.contains("systemd-sysusers /usr/lib/sysusers.d/carelog.conf") {
        return Err("the .rpm's post-install scriptlet does not create the account".into());
    }
    cmd(
        "rpm",
        &[
            "--root",
            &scratch.to_string_lossy(),
            "--install",
            "--nodeps",
            "--noscripts",
            &rpm.to_string_lossy(),
        ],
    )?;
    version(scratch)
}

/// The installed app, started as from the menu under Xvfb, shows the welcome screen with its
/// home in the platform's data directory (the end-to-end harness drives it).
fn welcome_screen(scratch: &Path) -> Result {
    step("the installed app under Xvfb, to the welcome screen");
    crate::desktop::ensure_tools(true)?;
    let app: PathBuf = scratch.join("usr/bin/carelog-desktop");
    let status = Command::new("cargo")
        .args(["test", "-p", "carelog-e2e", "--test", "installed"])
        .env("CARELOG_INSTALLED_APP", &app)
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !status.success() {
        return Err(
            "the installed app did not reach its welcome screen (see target/e2e/installed/)".into(),
        );
    }
    Ok(())
}
