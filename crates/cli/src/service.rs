//! `carelog service …`: the headless node as a system service.
//!
//! The Linux packages install `carelog.service` (systemd) disabled: a hub or clinic server runs
//! `carelog serve` under its own `carelog` account, in `/var/lib/carelog` (mode 0700), with the
//! node passphrase handed over as a systemd credential. `service install` says how to give it a
//! clinic and enable it; `service unit` prints the unit for machines without the package.

use std::path::Path;

use clap::Subcommand;
use serde_json::json;

use crate::{Failure, Output};

/// The systemd unit, as the packages install it.
pub const UNIT: &str = include_str!("../../../assets/linux/carelog.service");
/// Where the packages put the unit.
pub const UNIT_PATH: &str = "/usr/lib/systemd/system/carelog.service";
/// The service's home (its systemd state directory).
pub const HOME: &str = "/var/lib/carelog";
/// The root-only file that systemd hands to the service as the `node-passphrase` credential.
pub const CREDENTIAL: &str = "/etc/carelog/node-passphrase";
/// Local settings of the service (listen address, peers).
pub const SETTINGS: &str = "/etc/carelog/serve.env";

/// `service …`
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// How to give the headless node (carelog.service) its passphrase and clinic, and enable it.
    Install,
    /// Print the systemd unit, for a machine where Carelog was not installed from a package.
    Unit,
}

/// Runs a `service` command; neither needs a home.
pub fn run(command: ServiceCommand) -> Result<Output, Failure> {
    match command {
        ServiceCommand::Unit => Ok(Output::new(json!({"unit": UNIT}), UNIT)),
        ServiceCommand::Install => Ok(install(Path::new(UNIT_PATH).exists())),
    }
}

/// The steps, as root, from an installed package to a running node.
fn steps(unit_installed: bool) -> Vec<String> {
    let as_node = format!(
        "sudo -u carelog CARELOG_HOME={HOME} CARELOG_NODE_PASSPHRASE=\"$(sudo cat {CREDENTIAL})\" carelog"
    );
    let mut steps = Vec::new();
    if !unit_installed {
        steps.push(format!(
            "carelog service unit | sudo tee /etc/systemd/system/carelog.service >/dev/null && sudo useradd --system --home-dir {HOME} --shell /usr/sbin/nologin carelog"
        ));
    }
    steps.extend([
        format!(
            "sudo install -d -m 0700 /etc/carelog && sudo sh -c 'umask 077; systemd-ask-password \"Node passphrase:\" > {CREDENTIAL}'"
        ),
        format!("sudo install -d -o carelog -g carelog -m 0700 {HOME}"),
        format!(
            "{as_node} clinic request --clinic NAME --admin NAME --out {HOME}/join-request.json   (take the request to the health authority)"
        ),
        format!("{as_node} clinic join INVITE   (the invite the health authority sends back)"),
        format!(
            "optional: set CARELOG_LISTEN (default 0.0.0.0:7400) and CARELOG_SERVE_ARGS=\"--peer ADDR …\" in {SETTINGS}"
        ),
        "sudo systemctl daemon-reload && sudo systemctl enable --now carelog.service".to_string(),
        format!("journalctl -u carelog.service -f   and   {as_node} status"),
    ]);
    steps
}

fn install(unit_installed: bool) -> Output {
    let steps = steps(unit_installed);
    let unit_line = if unit_installed {
        format!("The unit is installed at {UNIT_PATH}, disabled.")
    } else {
        format!(
            "The unit is not installed here ({UNIT_PATH} is missing: Carelog did not come from a package); step 1 installs it."
        )
    };
    let mut human = format!(
        "The headless node runs as the systemd service carelog.service: `carelog serve` under its own\n\
         carelog account, its home {HOME} (0700), the node passphrase handed over by systemd from\n\
         {CREDENTIAL} (root only), restarted on failure, with the file system read-only but for its home.\n\
         {unit_line}\n\nAs an administrator:\n"
    );
    for (i, step) in steps.iter().enumerate() {
        human.push_str(&format!("  {}. {step}\n", i + 1));
    }
    Output::new(
        json!({
            "unit": UNIT_PATH,
            "unit_installed": unit_installed,
            "home": HOME,
            "credential": CREDENTIAL,
            "settings": SETTINGS,
            "steps": steps,
        }),
        human,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit's settings, one `Key=value` per line, comments left out.
    fn settings() -> Vec<(&'static str, &'static str)> {
        UNIT.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .collect()
    }

    fn value(key: &str) -> Vec<&'static str> {
        settings()
            .into_iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn the_unit_runs_serve_in_its_own_closed_home_under_its_own_account() {
        assert_eq!(value("User"), ["carelog"]);
        assert_eq!(value("StateDirectory"), ["carelog"]);
        assert_eq!(value("StateDirectoryMode"), ["0700"]);
        assert!(value("Environment").contains(&"CARELOG_HOME=/var/lib/carelog"));
        let exec = value("ExecStart");
        assert_eq!(exec.len(), 1);
        assert!(
            exec[0].starts_with("/usr/bin/carelog serve --listen "),
            "{exec:?}"
        );
        assert_eq!(value("Restart"), ["on-failure"]);
    }

    #[test]
    fn the_node_passphrase_arrives_as_a_credential_not_in_the_environment() {
        assert_eq!(
            value("LoadCredential"),
            [format!("node-passphrase:{CREDENTIAL}").as_str()]
        );
        assert!(value("Environment").contains(&"CARELOG_NODE_PASSPHRASE_FILE=%d/node-passphrase"));
        assert!(
            !UNIT.contains("CARELOG_NODE_PASSPHRASE="),
            "no passphrase value in the unit"
        );
    }

    #[test]
    fn the_unit_is_hardened() {
        for (key, expected) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("CapabilityBoundingSet", ""),
            ("RestrictSUIDSGID", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
        ] {
            assert_eq!(value(key), [expected], "{key}");
        }
    }

    #[test]
    fn install_says_how_to_enable_the_service() {
        let packaged = install(true);
        let steps = packaged.json["steps"].as_array().expect("steps");
        assert!(packaged.json["unit_installed"].as_bool().expect("bool"));
        assert!(steps.iter().any(|s| {
            s.as_str()
                .unwrap()
                .contains("systemctl enable --now carelog.service")
        }));
        assert!(packaged.human.contains(CREDENTIAL));
        // Without the package, the first step puts the unit in place.
        let bare = install(false);
        let first = bare.json["steps"][0].as_str().expect("a step");
        assert!(first.starts_with("carelog service unit |"), "{first}");
    }
}
