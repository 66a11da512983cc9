//! A clinic is several devices: the bedside laptop, the front-desk kiosk and the office PC.
//!
//! A new machine pairs with its clinic: in an empty home it makes node keys of its own and a
//! signed pairing request ([`Node::request_device`]) showing a short code; an admin of the clinic,
//! on a device already enrolled, checks the code and enrolls it on the ledger
//! ([`Node::approve_device`]), which hands back an invite (the network's blocks, the peers, and
//! the clinic's staff key stores sealed for the new device alone). The device joins with it
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
use crate::error::{NodeError, Result};
use crate::home::{self, Home};
use crate::{Node, Session, check_node_passphrase, keys, validate_name};

const REQUEST_FORMAT: &str = "carelog-device-request-1";

/// The context a pairing's key stores are wrapped and sealed under.
const KEY_STORES_CONTEXT: &[u8] = b"carelog device key stores v1 ";

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
        let bad = |why: String| NodeError::Invalid(format!("not a valid pairing request: {why}"));
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

/// The clinic's staff key stores, sealed for one device: a data key wrapped for the device's
/// encryption key, and the key stores (each still sealed under its user's passphrase) sealed
/// under it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SealedKeyStores {
    wrapped: String,
    sealed: String,
}

fn key_stores_context(device: &ActorId) -> Vec<u8> {
    let mut context = KEY_STORES_CONTEXT.to_vec();
    context.extend_from_slice(&device.0);
    context
}

impl SealedKeyStores {
    fn seal(device: &ActorId, encryption: &[u8; 32], stores: &[(ActorId, Vec<u8>)]) -> Self {
        let key = DataKey::from_bytes(home::random());
        let context = key_stores_context(device);
        let wrapped =
            carelog_vault::wrap_key(&key, encryption, home::random(), home::random(), &context);
        let plain = postcard::to_stdvec(stores).expect("key stores always encode");
        SealedKeyStores {
            wrapped: hex::encode(postcard::to_stdvec(&wrapped).expect("wraps always encode")),
            sealed: hex::encode(carelog_vault::seal(&key, home::random(), &plain, &context)),
        }
    }

    /// Opens them with the device's node keys.
    pub(crate) fn open(
        &self,
        secrets: &HomeSecrets,
        device: &ActorId,
    ) -> Result<Vec<(ActorId, Vec<u8>)>> {
        let bad = |what: &str| {
            NodeError::Invalid(format!(
                "not a valid invite: the staff key stores {what} (was the invite made for \
                 another device?)"
            ))
        };
        let context = key_stores_context(device);
        let wrapped: carelog_vault::WrappedKey =
            postcard::from_bytes(&hex::decode(&self.wrapped).map_err(|_| bad("are not hex"))?)
                .map_err(|_| bad("are malformed"))?;
        let key = carelog_vault::unwrap_key(&wrapped, &secrets.node, &context)
            .map_err(|_| bad("do not open with this device's key"))?;
        let sealed = hex::decode(&self.sealed).map_err(|_| bad("are not hex"))?;
        let plain = carelog_vault::open(&key, &sealed, &context)
            .map_err(|_| bad("do not open with this device's key"))?;
        postcard::from_bytes(&plain).map_err(|_| bad("are malformed"))
    }
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
    /// too). Returns the invite for the device: this replica's blocks, `peers` (this home's own
    /// peers when empty), and the clinic's staff key stores sealed for the device alone, so
    /// that staff sign in there with their usual passphrase.
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
            return Err(NodeError::Invalid(format!(
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
        let stores = self.staff_key_stores()?;
        let sealed = SealedKeyStores::seal(&device, &request.keys.encryption, &stores);
        let peers = if peers.is_empty() {
            self.peers()?
        } else {
            peers.to_vec()
        };
        let invite = self.invite_with(self.clinic, &peers, Some(sealed));
        Ok(Pairing {
            device,
            code: request.code(),
            invite,
        })
    }

    /// The sealed key stores of this clinic's staff that this home holds.
    fn staff_key_stores(&self) -> Result<Vec<(ActorId, Vec<u8>)>> {
        let state = self.ledger.state();
        let mut out = Vec::new();
        for actor in self.store.local_actors()? {
            let actor = ActorId(actor);
            let staff = state
                .users
                .get(&actor)
                .is_some_and(|u| u.role != Role::Patient && u.clinic == self.clinic);
            if staff && let Some(sealed) = self.store.sealed_keys(&actor.0)? {
                out.push((actor, sealed));
            }
        }
        Ok(out)
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
                last_seen: last_seen(&self.clinic),
            });
        }
        let mut devices: Vec<_> = state.devices_of(&self.clinic).collect();
        devices.sort_by_key(|(id, c)| (c.device.as_ref().map(|d| d.since.1), **id));
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
            return Err(NodeError::Invalid(
                "a device does not remove itself: remove it from another device of the clinic"
                    .into(),
            ));
        }
        if self.ledger.state().is_suspended(&device) {
            return Err(NodeError::Invalid(format!(
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
                Some(stop) => Err(NodeError::Invalid(format!(
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
