//! A clinic is several devices: the bedside laptop, the front-desk kiosk and the office PC.
//!
//! A new machine pairs with its clinic: in an empty home it makes node keys of its own and a
//! signed pairing request ([`Node::request_device`]) showing a short code; an admin of the clinic,
//! on a device already enrolled, checks the code and enrolls it on the ledger
//! ([`Node::approve_device`]), which shares the clinic's staff key stores with the new device on
//! the ledger and hands back an invite (the network's blocks and the peers). The device joins with it
//! ([`Node::join`]), seals its own chain, holds a full replica and the clinic's records' keys,
//! and works on when the clinic's network is down. Removing a device ([`Node::remove_device`])
//! voids what it seals afterwards, refuses its handshakes, and gives the clinic's records new
//! keys without it.

use std::path::Path;

use carelog_ledger::{Action, ActorId, DeviceRole, KeyWrap, Payload, Role, authorize};
use carelog_store::Store;
use carelog_vault::{DataKey, PublicKeys};
use serde::{Deserialize, Serialize};

use crate::at_rest::{self, HomeSecrets, NodeUnlock};
use crate::error::{CarriedFile, NodeError, Result};
use crate::home::{self, Home};
use crate::{Node, OwnTx, Session, check_node_passphrase, keys, validate_name};

const REQUEST_FORMAT: &str = "carelog-device-request-1";

/// The context of a staff key store shared with the machines of a clinic.
const STAFF_STORE_CONTEXT: &[u8] = b"carelog staff key store v1 ";

/// A new machine's request to become a device of a clinic, signed by its node key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// Format marker.
    pub format: String,
    /// A name to tell the device apart ("front desk").
    pub name: String,
    /// The device's public node keys.
    pub keys: PublicKeys,
    /// The device's signature (hex) over the fields above.
    pub signature: String,
}

impl DeviceRequest {
    fn signed_bytes(format: &str, name: &str, keys: &PublicKeys) -> Vec<u8> {
        let mut bytes = b"carelog device request v1".to_vec();
        bytes.extend(postcard::to_stdvec(&(format, name, keys)).expect("requests always encode"));
        bytes
    }

    /// Reads and checks a request file's contents.
    pub fn parse(bytes: &[u8]) -> Result<DeviceRequest> {
        let bad = |why: String| NodeError::not_a(CarriedFile::PairingRequest, why);
        let request: DeviceRequest =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if request.format != REQUEST_FORMAT {
            return Err(bad(format!("unknown format `{}`", request.format)));
        }
        request
            .keys
            .check()
            .map_err(|_| bad("its keys are not usable".into()))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&request.signature, &mut signature)
            .map_err(|_| bad("its signature is not hex".into()))?;
        let message = DeviceRequest::signed_bytes(&request.format, &request.name, &request.keys);
        carelog_vault::verify_signature(&request.keys.signing, &message, &signature)
            .map_err(|_| bad("its signature does not verify".into()))?;
        validate_name("the device name", &request.name)?;
        Ok(request)
    }

    /// The device's id.
    pub fn device(&self) -> ActorId {
        ActorId::from_signing_key(&self.keys.signing)
    }

    /// The code both screens show, for the admin to compare before approving.
    pub fn code(&self) -> String {
        pairing_code(&self.keys)
    }
}

/// The six digits a pairing shows on both machines ("482 913"), from the new device's key: a
/// request swapped on its way to the admin shows another code.
pub fn pairing_code(keys: &PublicKeys) -> String {
    let digest = blake3::hash(&keys.signing);
    let bytes = digest.as_bytes();
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// A device of this node's clinic, as [`Node::devices`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceListing {
    /// Its id (the clinic's own for the clinic's first machine), as hex.
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// What it is for ("staff", "kiosk", "gateway"); the clinic's first machine is a staff one.
    pub role: &'static str,
    /// "active", or "removed".
    pub status: &'static str,
    /// Why it was removed.
    pub removed_reason: Option<String>,
    /// Whether it is the machine this node runs on.
    pub this: bool,
    /// Whether an admin may remove it from here: a device added to the clinic (not its first
    /// machine), not removed yet, and not this machine.
    pub removable: bool,
    /// The newest block it sealed that this replica holds, if any (RFC 3339).
    pub last_seen: Option<String>,
}

/// What approving a device gives the admin: its id, its code, and the invite to hand over.
#[derive(Clone, Debug)]
pub struct Pairing {
    /// The enrolled device.
    pub device: ActorId,
    /// The code its request showed.
    pub code: String,
    /// The invite file's contents.
    pub invite: Vec<u8>,
}

/// The context a staff key store shared on the ledger is wrapped and sealed under.
fn staff_store_context(user: &ActorId) -> Vec<u8> {
    let mut context = STAFF_STORE_CONTEXT.to_vec();
    context.extend_from_slice(&user.0);
    context
}

impl Node {
    /// In an empty home: makes this machine's node keys and writes a signed pairing request for
    /// an admin of the clinic to approve. Returns the device's id and the code to compare. The
    /// home's keys are sealed as `unlock` says.
    pub fn request_device(
        root: &Path,
        name: &str,
        out: &Path,
        unlock: &NodeUnlock,
    ) -> Result<(ActorId, String)> {
        validate_name("the device name", name)?;
        let home = Home::new(root);
        check_node_passphrase(unlock, &[name])?;
        let node_keys = home::new_keys();
        let public = node_keys.public();
        let message = DeviceRequest::signed_bytes(REQUEST_FORMAT, name.trim(), &public);
        let request = DeviceRequest {
            format: REQUEST_FORMAT.into(),
            name: name.trim().into(),
            keys: public,
            signature: hex::encode(node_keys.sign(&message)),
        };
        let json = serde_json::to_vec_pretty(&request).expect("requests always encode");
        home.prepare_new()?;
        let secrets = HomeSecrets::new(node_keys);
        at_rest::seal_node_key(&home, &secrets, unlock)?;
        let store = Store::create(&home.database(), secrets.database.expose())?;
        store.put_setting(crate::join::REQUEST_SETTING, &json)?;
        std::fs::write(out, &json).map_err(crate::error::io_err(out))?;
        Ok((request.device(), request.code()))
    }

    /// An admin of this clinic enrolls the device of a pairing request, with a role, and gives
    /// the clinic's records' keys to it (every record of the clinic gets a key wrapped for it
    /// too) and its staff's key stores (shared on the ledger for the clinic's machines alone,
    /// still sealed under each user's passphrase), so that staff sign in there as anywhere.
    /// Returns the invite for the device: this replica's blocks and `peers` (this home's own
    /// peers when empty).
    pub fn approve_device(
        &mut self,
        admin: &Session,
        request: &[u8],
        role: DeviceRole,
        peers: &[String],
    ) -> Result<Pairing> {
        let request = DeviceRequest::parse(request)?;
        let device = request.device();
        let state = self.ledger.state();
        authorize(
            state,
            admin.user,
            &Action::EnrollDevice {
                clinic: self.clinic,
            },
            None,
            self.clock(),
        )?;
        if state.is_actor(&device) || state.key_in_use(&request.keys.signing) {
            return Err(NodeError::invalid(format!(
                "device {device} is already enrolled (a removed device pairs again as a new \
                 one, from an empty home)"
            )));
        }
        self.refuse_if_removed()?;
        let tx = self.sign(
            admin,
            Payload::EnrollDevice {
                device,
                clinic: self.clinic,
                name: request.name.clone(),
                role,
                keys: request.keys,
            },
        );
        self.commit(vec![tx], &[])?;
        tracing::info!(%device, %role, "device enrolled");
        let rotated = self.rotate_stale_keys()?;
        tracing::info!(rotated, "records keyed for the new device");
        // The staff's key stores, shared again so the new device opens them too.
        let shares: Vec<OwnTx> = self
            .staff_key_stores()?
            .iter()
            .map(|(user, sealed)| self.share_key_store(*user, sealed))
            .collect();
        for chunk in shares.chunks(512) {
            self.commit(chunk.to_vec(), &[])?;
        }
        let peers = if peers.is_empty() {
            self.peers()?
        } else {
            peers.to_vec()
        };
        let invite = self.invite(self.clinic, &peers);
        Ok(Pairing {
            device,
            code: request.code(),
            invite,
        })
    }

    /// The latest sealed key store of each of this clinic's staff that this machine holds or
    /// can open from the ledger.
    fn staff_key_stores(&self) -> Result<Vec<(ActorId, Vec<u8>)>> {
        let state = self.ledger.state();
        let mut out = Vec::new();
        for (user, u) in &state.users {
            if u.role == Role::Patient || u.clinic != self.clinic || u.disabled.is_some() {
                continue;
            }
            let sealed = match self.shared_key_store(user) {
                Some(sealed) => Some(sealed),
                None => self.store.sealed_keys(&user.0)?,
            };
            if let Some(sealed) = sealed {
                out.push((*user, sealed));
            }
        }
        out.sort_by_key(|(user, _)| *user);
        Ok(out)
    }

    /// The machines of this clinic that hold its keys, with their encryption keys: the clinic's
    /// first one and each device not removed.
    fn machines(&self) -> Vec<(ActorId, [u8; 32])> {
        let state = self.ledger.state();
        std::iter::once(self.clinic)
            .chain(
                state
                    .devices_of(&self.clinic)
                    .filter(|(_, c)| c.suspended.is_none())
                    .map(|(id, _)| *id),
            )
            .filter_map(|id| Some((id, state.encryption_key(&id)?)))
            .collect()
    }

    /// Whether this clinic has machines beside its first one.
    pub(crate) fn has_devices(&self) -> bool {
        self.machines().len() > 1
    }

    /// Shares a staff user's sealed key store with the machines of this clinic, when it has
    /// more than one: after an enrolment, a new passphrase or new keys.
    pub(crate) fn share_key_store_if_needed(&mut self, user: ActorId, sealed: &[u8]) -> Result<()> {
        if self.has_devices() {
            let tx = self.share_key_store(user, sealed);
            self.commit(vec![tx], &[])?;
        }
        Ok(())
    }

    /// The transaction sharing a staff user's key store (still sealed under their passphrase)
    /// with the machines of this clinic, under a key wrapped for each of them.
    fn share_key_store(&self, user: ActorId, sealed: &[u8]) -> OwnTx {
        let key = DataKey::from_bytes(home::random());
        let context = staff_store_context(&user);
        let key_wraps = self
            .machines()
            .into_iter()
            .map(|(reader, encryption)| {
                let wrapped = carelog_vault::wrap_key(
                    &key,
                    &encryption,
                    home::random(),
                    home::random(),
                    &context,
                );
                KeyWrap {
                    key: Default::default(),
                    reader,
                    wrapped: postcard::to_stdvec(&wrapped).expect("wrapped keys always encode"),
                }
            })
            .collect();
        self.sign_as_clinic(Payload::StaffKeyStore {
            user,
            sealed: carelog_vault::seal(&key, home::random(), sealed, &context),
            key_wraps,
        })
    }

    /// A staff user's latest key store shared on the ledger, opened with this machine's key
    /// (still sealed under the user's passphrase).
    pub(crate) fn shared_key_store(&self, user: &ActorId) -> Option<Vec<u8>> {
        let state = self.ledger.state();
        let at = state.users.get(user)?.key_store?;
        let block = self.ledger.block(&state.key_store_block(&at)?)?;
        let Payload::StaffKeyStore {
            user: u,
            sealed,
            key_wraps,
        } = &block.txs.get(at.index as usize)?.tx.payload
        else {
            return None;
        };
        if u != user {
            return None;
        }
        let context = staff_store_context(user);
        let wrap = key_wraps.iter().find(|w| w.reader == self.sealer)?;
        let wrapped: carelog_vault::WrappedKey = postcard::from_bytes(&wrap.wrapped).ok()?;
        let key = carelog_vault::unwrap_key(&wrapped, &self.secrets.node, &context).ok()?;
        carelog_vault::open(&key, sealed, &context)
            .ok()
            .map(|plain| plain.to_vec())
    }

    /// This clinic's machines: its first one, then the devices added to it, oldest first.
    pub fn devices(&self) -> Vec<DeviceListing> {
        let state = self.ledger.state();
        let last_seen = |id: &ActorId| {
            self.ledger
                .dag()
                .head_of(id)
                .and_then(|(_, hash)| self.ledger.dag().node(&hash))
                .map(|n| home::rfc3339(n.time_ms))
        };
        let mut out = Vec::new();
        if let Some(clinic) = state.clinics.get(&self.clinic) {
            out.push(DeviceListing {
                device_id: self.clinic.to_string(),
                name: clinic.name.clone(),
                role: DeviceRole::Staff.as_str(),
                status: if clinic.suspended.is_some() {
                    "suspended"
                } else {
                    "active"
                },
                removed_reason: None,
                this: self.sealer == self.clinic,
                removable: false,
                last_seen: last_seen(&self.clinic),
            });
        }
        let mut devices: Vec<_> = state.devices_of(&self.clinic).collect();
        devices.sort_by_key(|(id, c)| (c.device.as_ref().map(|d| d.time_ms), **id));
        for (id, device) in devices {
            let Some(of) = &device.device else { continue };
            out.push(DeviceListing {
                device_id: id.to_string(),
                name: device.name.clone(),
                role: of.role.as_str(),
                status: if device.suspended.is_some() {
                    "removed"
                } else {
                    "active"
                },
                removed_reason: device.suspended.as_ref().map(|s| s.reason.clone()),
                this: *id == self.sealer,
                removable: device.suspended.is_none() && *id != self.sealer,
                last_seen: last_seen(id),
            });
        }
        out
    }

    /// The role of the machine this node runs on (the clinic's first machine is a staff one).
    pub fn device_role(&self) -> DeviceRole {
        self.ledger
            .state()
            .clinics
            .get(&self.sealer)
            .and_then(|c| c.device.as_ref())
            .map_or(DeviceRole::Staff, |d| d.role)
    }

    /// The id this machine seals its chain under (the clinic's for its first machine).
    pub fn device_id(&self) -> ActorId {
        self.sealer
    }

    /// An admin of the clinic (or the health authority, through [`Node::remove_device_as`])
    /// removes a device: what it seals afterwards is void, its handshakes are refused, and every
    /// record of the clinic gets a new key it cannot open. Returns how many records were given
    /// a new key.
    pub fn remove_device(
        &mut self,
        admin: &Session,
        device: ActorId,
        reason: &str,
    ) -> Result<usize> {
        validate_name("the reason", reason)?;
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::RemoveDevice(device),
            None,
            self.clock(),
        )?;
        if device == self.sealer {
            return Err(NodeError::invalid(
                "a device does not remove itself: remove it from another device of the clinic",
            ));
        }
        if self.ledger.state().is_suspended(&device) {
            return Err(NodeError::invalid(format!(
                "device {device} is already removed"
            )));
        }
        self.refuse_if_removed()?;
        let tx = self.sign(
            admin,
            Payload::RemoveDevice {
                device,
                reason: reason.trim().into(),
            },
        );
        self.commit(vec![tx], &[])?;
        tracing::info!(%device, "device removed");
        self.rotate_stale_keys()
    }

    /// Refuses to act on a device that its clinic removed.
    pub(crate) fn refuse_if_removed(&self) -> Result<()> {
        let state = self.ledger.state();
        match state.clinics.get(&self.sealer) {
            Some(c) if c.device.is_some() => match &c.suspended {
                Some(stop) => Err(NodeError::invalid(format!(
                    "this device was removed from {} ({}): pair it again to use it",
                    self.display_name(&self.clinic),
                    stop.reason
                ))),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// A new data key of a patient of this clinic wrapped for the clinic and each of its
    /// devices still enrolled: every machine of the clinic opens what the clinic holds.
    pub(crate) fn wraps_for_clinic(&self, key: &DataKey, patient: &ActorId) -> Vec<KeyWrap> {
        let state = self.ledger.state();
        std::iter::once(self.clinic)
            .chain(
                state
                    .devices_of(&self.clinic)
                    .filter(|(_, c)| c.suspended.is_none())
                    .map(|(id, _)| *id),
            )
            .filter_map(|reader| {
                let enc = state.encryption_key(&reader)?;
                Some(keys::wrap_for(
                    key,
                    Default::default(),
                    patient,
                    reader,
                    &enc,
                ))
            })
            .collect()
    }
}

/// How the machines of this clinic stand from here: how many there are (this one included),
/// how many of the others are connected now and how many of those hold the same blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MachinesStatus {
    /// The clinic's machines not removed, this one included.
    pub total: usize,
    /// Other machines connected now.
    pub connected: usize,
    /// Other machines connected and in sync.
    pub in_sync: usize,
}

impl MachinesStatus {
    /// "3 devices of this clinic, in sync", or `None` for a clinic of one machine.
    pub fn sentence(&self) -> Option<String> {
        if self.total < 2 {
            return None;
        }
        let others = self.total - 1;
        let how = if self.in_sync == others {
            "in sync".to_string()
        } else if self.connected == 0 {
            "the others not reachable".to_string()
        } else {
            format!("{} of the others in sync", self.in_sync)
        };
        Some(format!("{} devices of this clinic, {how}", self.total))
    }
}

impl Node {
    /// [`MachinesStatus`] from the sync links: each peer's authenticated id and whether the
    /// link is in sync.
    pub fn machines_status(
        &self,
        links: impl IntoIterator<Item = (Option<ActorId>, bool)>,
    ) -> MachinesStatus {
        let machines: std::collections::BTreeSet<ActorId> =
            self.machines().into_iter().map(|(id, _)| id).collect();
        let mut connected = std::collections::BTreeSet::new();
        let mut in_sync = std::collections::BTreeSet::new();
        for (peer, synced) in links {
            let Some(peer) = peer.filter(|p| *p != self.sealer && machines.contains(p)) else {
                continue;
            };
            connected.insert(peer);
            if synced {
                in_sync.insert(peer);
            }
        }
        MachinesStatus {
            total: machines.len(),
            connected: connected.len(),
            in_sync: in_sync.len(),
        }
    }
}

/// A QR code of `content` as an SVG image (dark modules on white, with the quiet zone), for a
/// screen to show: a pairing request travels from the new machine to the admin's by camera.
pub fn qr_svg(content: &[u8]) -> Result<String> {
    let qr = qrcode::QrCode::with_error_correction_level(content, qrcode::EcLevel::L)
        .map_err(|e| NodeError::invalid(format!("this does not fit a QR code: {e}")))?;
    let width = qr.width();
    let side = width + 8;
    let mut path = String::new();
    for (i, color) in qr.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code of the pairing request\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_request_fits_a_qr_code_and_a_changed_key_changes_the_code() {
        let keys = crate::home::new_keys();
        let message = DeviceRequest::signed_bytes(REQUEST_FORMAT, "Front desk", &keys.public());
        let request = DeviceRequest {
            format: REQUEST_FORMAT.into(),
            name: "Front desk".into(),
            keys: keys.public(),
            signature: hex::encode(keys.sign(&message)),
        };
        let json = serde_json::to_vec(&request).unwrap();
        let parsed = DeviceRequest::parse(&json).unwrap();
        assert_eq!(parsed.code(), request.code());
        assert_eq!(parsed.code().len(), 7);
        let svg = qr_svg(&json).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("h1v1h-1z"), "{svg}");
        let other = crate::home::new_keys();
        assert_ne!(pairing_code(&other.public()), request.code());
        // Garbage is a refusal, never a panic.
        for bytes in [
            &b""[..],
            b"{}",
            b"\xff\xfe",
            br#"{"format":"carelog-device-request-1"}"#,
        ] {
            assert!(DeviceRequest::parse(bytes).is_err());
        }
    }
}
