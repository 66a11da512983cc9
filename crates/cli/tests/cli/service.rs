//! The headless node's systemd unit, as `carelog service unit` prints it (and the packages
//! install it), passes `systemd-analyze verify` in a scratch root where `/usr/bin/carelog` is this
//! build; `verify` works without systemd running. `carelog service install --json` names the
//! files the unit reads.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common;

fn carelog(args: &[&str]) -> Value {
    common::json_ok(common::bare(None).args(args))
}

#[test]
fn the_printed_unit_passes_systemd_analyze_verify() {
    let unit = carelog(&["service", "unit"]);
    let unit = unit["unit"].as_str().expect("the unit's text");
    let root = tempfile::tempdir().expect("a scratch root");
    let units = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).expect("a unit directory");
    // The targets the unit names (network-online.target, multi-user.target…) come from this
    // machine's systemd.
    let machine = Path::new("/usr/lib/systemd/system");
    assert!(
        machine.is_dir(),
        "systemd's units are missing: install the systemd package (`cargo xtask test` does)"
    );
    for entry in std::fs::read_dir(machine)
        .expect("systemd's units")
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), units.join(entry.file_name())).expect("a unit copies");
        }
    }
    std::fs::write(units.join("carelog.service"), unit).expect("the unit is written");
    let bin = root.path().join("usr/bin");
    std::fs::create_dir_all(&bin).expect("usr/bin");
    // A copy, not a symlink: systemd-analyze resolves links inside the root.
    let installed = bin.join("carelog");
    std::fs::hard_link(env!("CARGO_BIN_EXE_carelog"), &installed)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_carelog"), &installed).map(|_| ()))
        .expect("usr/bin/carelog");
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.path().display()))
        .args(["verify", "/usr/lib/systemd/system/carelog.service"])
        .output()
        .expect("systemd-analyze runs: install the systemd package (`cargo xtask test` does)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `verify` reports some mistakes (an unknown value, say) only as a message: none is allowed.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );
}

#[test]
fn service_install_names_the_home_the_credential_and_the_settings() {
    let said = carelog(&["service", "install"]);
    assert_eq!(said["home"], "/var/lib/carelog");
    assert_eq!(said["credential"], "/etc/carelog/node-passphrase");
    assert_eq!(said["settings"], "/etc/carelog/serve.env");
    let steps: Vec<&str> = said["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(steps.iter().any(|s| s.contains("clinic join")));
    assert!(
        steps
            .iter()
            .any(|s| s.contains("systemctl enable --now carelog.service"))
    );
}
