//! `device …`: the machines of one clinic.

use std::path::Path;

use carelog_ledger::{ActorId, DeviceRole};
use carelog_node::{Node, NodeUnlock};
use serde_json::json;

use crate::args::DeviceCommand;
use crate::commands::{read_file, sign_in, write_file};
use crate::{Failure, Output};

/// This machine's host name, for a device that was given no name.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.len() <= 64)
        .unwrap_or_else(|| "new device".into())
}

/// Runs a `device` command.
pub fn run(home: &Path, command: DeviceCommand) -> Result<Output, Failure> {
    match command {
        DeviceCommand::Pair { out, name } => {
            let name = name.unwrap_or_else(host_name);
            let (device, code) = Node::request_device(home, &name, &out, &NodeUnlock::from_env()?)?;
            Ok(Output::new(
                json!({"device_id": device.to_string(), "code": code}),
                format!(
                    "Pairing request for {name} written to {}.\nCode: {code}\nTake the file to an \
                     admin of the clinic, who checks that their screen shows the same code.",
                    out.display()
                ),
            ))
        }
        DeviceCommand::Approve {
            file,
            actor,
            out,
            role,
            peers,
        } => {
            let role: DeviceRole = role.parse()?;
            let request = read_file(&file)?;
            let mut node = crate::progress::open(home)?;
            let admin = sign_in(&node, &actor.user)?;
            let pairing = node.approve_device(&admin, &request, role, &peers)?;
            write_file(&out, &pairing.invite)?;
            Ok(Output::new(
                json!({"device_id": pairing.device.to_string(), "code": pairing.code, "role": role.as_str()}),
                format!(
                    "Device {} (code {}) added to {} as a {role} device; invite written to {}.",
                    pairing.device,
                    pairing.code,
                    node.clinic_name(),
                    out.display()
                ),
            ))
        }
        DeviceCommand::Join { invite } => {
            let invite = read_file(&invite)?;
            let node = Node::join(home, &invite)?;
            let (node, notes) = crate::network::sync_after_join(node)?;
            for note in &notes {
                eprintln!("carelog: {note}");
            }
            Ok(Output::new(
                json!({
                    "network_id": node.network_id().to_string(),
                    "clinic_id": node.clinic_id().to_string(),
                    "device_id": node.device_id().to_string(),
                    "role": node.device_role().as_str(),
                    "sync": notes,
                }),
                format!(
                    "This machine is now a {} device of {} ({}).",
                    node.device_role(),
                    node.clinic_name(),
                    node.device_id()
                ),
            ))
        }
        DeviceCommand::List => {
            let node = crate::progress::open(home)?;
            let devices = node.devices();
            let human = devices
                .iter()
                .map(|d| {
                    format!(
                        "{}{} {:<24} {:<8} {:<8} last block {}",
                        if d.this { "* " } else { "  " },
                        d.device_id,
                        d.name,
                        d.role,
                        d.status,
                        d.last_seen.as_deref().unwrap_or("never")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Output::new(
                json!({"devices": devices}),
                format!("Machines of {} (* this one):\n{human}", node.clinic_name()),
            ))
        }
        DeviceCommand::Remove {
            actor,
            device,
            reason,
        } => {
            let device: ActorId = device
                .trim()
                .parse()
                .map_err(|_| format!("`{device}` is not a device id"))?;
            let mut node = crate::progress::open(home)?;
            let admin = sign_in(&node, &actor.user)?;
            let rotated = node.remove_device(&admin, device, &reason)?;
            Ok(Output::new(
                json!({"ok": true, "rotated": rotated}),
                format!(
                    "Device {device} is removed: it is refused from now on, and {rotated} \
                     record(s) of this clinic have new keys it cannot open."
                ),
            ))
        }
    }
}
