//! The machines of one clinic in the window: pairing this computer with a clinic, and the
//! admin's list of devices with approval and removal. The node decides; this passes words.

use carelog_desktop_api::{
    ApproveDevice, ApprovedDevice, DeviceRow, Failure, FailureKind, HomeInfo, PairDevice,
    RemoveDevice,
};
use tauri::State;

use crate::commands::{Answer, invalid, join_request};
use crate::desk::{self, Desk, failure};

/// A file name from words a person typed ("Bedside laptop" → `bedside-laptop`).
fn file_stem(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let safe = safe.trim_matches('-');
    if safe.is_empty() {
        "device".into()
    } else {
        safe.into()
    }
}

/// This computer asks to become a device of a clinic: its keys, and a pairing request saved
/// under the app's data directory (`pairing-requests/`) for an admin of the clinic.
#[tauri::command]
pub async fn pair_device(desk: State<'_, Desk>, args: PairDevice) -> Answer<HomeInfo> {
    if args.name.trim().is_empty() {
        return Err(invalid(
            "name this computer (\"Bedside laptop\", \"Front desk\")",
        ));
    }
    let file = desk::data_dir()
        .join("pairing-requests")
        .join(format!("{}.json", file_stem(&args.name)));
    desk.pair_device(&args.name, &args.node_passphrase, &file)
}

/// The machines of this clinic.
#[tauri::command]
pub async fn devices(desk: State<'_, Desk>) -> Answer<Vec<DeviceRow>> {
    desk.with_session(|node, _| {
        Ok(node
            .devices()
            .into_iter()
            .map(|d| DeviceRow {
                device_id: d.device_id,
                name: d.name,
                role: d.role.to_string(),
                status: d.status.to_string(),
                removed_reason: d.removed_reason,
                this: d.this,
                removable: d.removable,
                last_seen: d.last_seen,
            })
            .collect())
    })
}

/// An admin of this clinic enrolls the device of a pairing request; its invite is saved under
/// the app's data directory (`invites/`).
#[tauri::command]
pub async fn approve_device(desk: State<'_, Desk>, args: ApproveDevice) -> Answer<ApprovedDevice> {
    // The request itself (scanned from the new machine's QR code), or the file it was saved to.
    let typed = args.request_path.trim();
    let request = if typed.starts_with('{') {
        typed.as_bytes().to_vec()
    } else {
        join_request(typed)?
    };
    let role: carelog_ledger::DeviceRole = args.role.parse().map_err(invalid)?;
    let pairing = desk.with_session(|node, session| {
        node.approve_device(session, &request, role, &[])
            .map_err(failure)
    })?;
    let saved = crate::commands::save_invite(&pairing.device, &pairing.invite)?;
    Ok(ApprovedDevice {
        device_id: pairing.device.to_string(),
        code: pairing.code,
        invite: saved.file,
    })
}

/// An admin of this clinic removes a device; returns how many records got new keys.
#[tauri::command]
pub async fn remove_device(desk: State<'_, Desk>, args: RemoveDevice) -> Answer<usize> {
    let device: carelog_ledger::ActorId = args
        .device_id
        .trim()
        .parse()
        .map_err(|_| invalid(format!("`{}` is not a device id", args.device_id)))?;
    if args.reason.trim().is_empty() {
        return Err(Failure::new(
            FailureKind::Invalid,
            "say why the device is removed (lost, stolen, retired)",
        ));
    }
    desk.with_session(|node, session| {
        node.remove_device(session, device, &args.reason)
            .map_err(failure)
    })
}
