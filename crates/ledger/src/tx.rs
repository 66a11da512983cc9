//! Transactions: what an actor did, signed by that actor.

use carelog_vault::{ActorKeys, PublicKeys};
use carelog_vocab::{AccessLevel, EntryKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::LedgerError;
use crate::ids::{ActorId, Hash, TxId};

/// The role a staff user or patient holds; the health authority and clinics are separate actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Enrolls staff, registers patients, assigns physicians at one clinic.
    Admin,
    /// Charts for patients on their attention list or with a grant.
    Doctor,
    /// Writes lab results.
    Lab,
    /// Owns a record; grants and revokes access to it.
    Patient,
}

impl Role {
    /// The lowercase word used in the CLI and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Doctor => "doctor",
            Role::Lab => "lab",
            Role::Patient => "patient",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "doctor" => Ok(Role::Doctor),
            "lab" => Ok(Role::Lab),
            "patient" => Ok(Role::Patient),
            other => Err(format!(
                "unknown role `{other}`; expected one of admin, doctor, lab, patient"
            )),
        }
    }
}

/// What a device of a clinic is for (see [`Payload::EnrollDevice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DeviceRole {
    /// A clinician's or administrator's machine: staff sign in and chart.
    Staff,
    /// The front-desk kiosk: patients (and admins) only; what a doctor or lab signs is void
    /// when a kiosk seals it.
    Kiosk,
    /// A headless node (`carelog serve`) that relays for the others.
    Gateway,
}

impl DeviceRole {
    /// The lowercase word used in the CLI and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceRole::Staff => "staff",
            DeviceRole::Kiosk => "kiosk",
            DeviceRole::Gateway => "gateway",
        }
    }
}

impl std::fmt::Display for DeviceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeviceRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "staff" => Ok(DeviceRole::Staff),
            "kiosk" => Ok(DeviceRole::Kiosk),
            "gateway" => Ok(DeviceRole::Gateway),
            other => Err(format!(
                "unknown device role `{other}`; expected one of staff, kiosk, gateway"
            )),
        }
    }
}

/// A patient data key wrapped for one reader (opaque bytes of `carelog_vault::WrappedKey`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyWrap {
    /// The data key: the id of the transaction that introduced it.
    pub key: TxId,
    /// Who can unwrap it: a user, a patient or a clinic node.
    pub reader: ActorId,
    /// The wrapped key bytes.
    pub wrapped: Vec<u8>,
}

/// What a transaction does. There is no delete: corrections are amendments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// The first transaction of a network: its name and the health authority's keys.
    Genesis {
        /// The network's name.
        network_name: String,
        /// The health authority's public keys.
        authority: PublicKeys,
    },
    /// The health authority enrolls a clinic as a block authority.
    EnrollClinic {
        /// The clinic's id (derived from its node signing key).
        clinic: ActorId,
        /// The clinic's name.
        name: String,
        /// The clinic node's public keys.
        keys: PublicKeys,
    },
    /// A clinic admin (or the authority, for a clinic's first admin) enrolls a staff user.
    EnrollUser {
        /// The new user's id.
        user: ActorId,
        /// The clinic the user works at.
        clinic: ActorId,
        /// The user's display name (staff names are not secret).
        name: String,
        /// The user's role: admin, doctor or lab.
        role: Role,
        /// A doctor's specialty.
        specialty: Option<String>,
        /// The user's public keys.
        keys: PublicKeys,
    },
    /// A clinic admin registers a patient; the patient's identity lives in a sealed chart entry.
    RegisterPatient {
        /// The patient's random id.
        patient: ActorId,
        /// The patient's public keys.
        keys: PublicKeys,
        /// Data key epoch 0, wrapped for the patient and the registering clinic.
        key_wraps: Vec<KeyWrap>,
    },
    /// A clinic admin adds a doctor to a patient's attention list.
    AssignPhysician {
        /// The patient.
        patient: ActorId,
        /// The doctor.
        doctor: ActorId,
        /// Whether the doctor is the custodian (family doctor).
        custodian: bool,
        /// The patient's data keys wrapped for the doctor.
        key_wraps: Vec<KeyWrap>,
    },
    /// A clinician asks for access at a level.
    RequestAccess {
        /// The patient.
        patient: ActorId,
        /// The level asked for.
        level: AccessLevel,
        /// Why, in the requester's words.
        reason: String,
    },
    /// The patient or custodian grants a level (answering any pending request of the grantee).
    GrantAccess {
        /// The patient.
        patient: ActorId,
        /// Who receives access.
        grantee: ActorId,
        /// The level granted.
        level: AccessLevel,
        /// When the grant ends (Unix ms), if it does.
        expires_ms: Option<i64>,
        /// The patient's data keys wrapped for the grantee (full level only).
        key_wraps: Vec<KeyWrap>,
    },
    /// The patient or custodian refuses a pending request.
    RefuseAccess {
        /// The patient.
        patient: ActorId,
        /// The refused request.
        request: TxId,
    },
    /// The patient or custodian revokes a reader; the patient's data key rotates to a new epoch
    /// whose id is this transaction's id, wrapped only for the remaining readers.
    RevokeAccess {
        /// The patient.
        patient: ActorId,
        /// The reader who loses access.
        reader: ActorId,
        /// The new data key wrapped for each remaining reader.
        key_wraps: Vec<KeyWrap>,
    },
    /// A sealed chart entry.
    ChartEntry {
        /// The patient.
        patient: ActorId,
        /// The entry kind (in the clear, so the policy can check it).
        kind: EntryKind,
        /// The data key the payload is sealed with.
        key: TxId,
        /// Nonce and ciphertext; the transaction header is the associated data.
        sealed: Vec<u8>,
        /// The entry this one corrects.
        amends: Option<TxId>,
    },
    /// A read of a chart, recorded for the patient.
    AuditRead {
        /// The patient.
        patient: ActorId,
        /// The level the reader saw.
        level: AccessLevel,
        /// Why (e.g. "chart show").
        purpose: String,
    },
    /// Emergency full access, recorded and flagged.
    BreakGlass {
        /// The patient.
        patient: ActorId,
        /// The stated reason.
        reason: String,
    },
    /// An admin of a staff user's clinic (or the health authority) disables the user: what they
    /// sign afterwards is void, and the keys they could open rotate without them.
    DisableUser {
        /// The user.
        user: ActorId,
        /// Why.
        reason: String,
    },
    /// The health authority suspends a clinic: what it seals afterwards is void, its handshakes
    /// are refused and its patients' keys rotate without it.
    SuspendClinic {
        /// The clinic.
        clinic: ActorId,
        /// Why.
        reason: String,
    },
    /// The health authority lifts a suspension.
    ReinstateClinic {
        /// The clinic.
        clinic: ActorId,
    },
    /// New keys for an actor whose keys were lost or stolen; the id stays, the old keys sign
    /// nothing valid afterwards. A clinic's by the authority, a staff user's by an admin of
    /// their clinic (or the authority), a patient's only once two of the admin of the clinic of
    /// record, the custodian and the authority have asked for the same keys.
    ReplaceKey {
        /// Whose keys.
        actor: ActorId,
        /// The new public keys.
        keys: PublicKeys,
        /// Why.
        reason: String,
    },
    /// A new data key for a patient, wrapped for exactly the readers who must hold it (the
    /// patient, the clinic of record, the attention list and live full grants); wraps of older
    /// keys for those readers may come with it (a reader with new keys).
    RotateKey {
        /// The patient.
        patient: ActorId,
        /// The new key (its `key` field is this transaction's id, which it cannot name) for each
        /// required reader, and older keys re-wrapped for required readers.
        key_wraps: Vec<KeyWrap>,
    },
    /// A view of the chart at information or sample level, derived by a reader who holds the
    /// full key and sealed under a key of its own wrapped only for the live grantees at that
    /// level: they never receive a key that opens full entries.
    LevelView {
        /// The patient.
        patient: ActorId,
        /// Information or sample.
        level: AccessLevel,
        /// The view, sealed under this transaction's own key.
        sealed: Vec<u8>,
        /// That key wrapped for each grantee at the level (`key` is the zero id).
        key_wraps: Vec<KeyWrap>,
    },
    /// The patient moves their record to another clinic, which becomes the clinic of record.
    MoveRecord {
        /// The patient.
        patient: ActorId,
        /// The new clinic of record.
        clinic: ActorId,
        /// The patient's data keys wrapped for the new clinic.
        key_wraps: Vec<KeyWrap>,
    },
    /// An admin of the clinic of record adds a proxy (a parent, a guardian, a carer): a person
    /// with keys of their own, signing in with a card and PIN like a patient, who may read the
    /// record and decide who else may, each act signed as the proxy.
    AddProxy {
        /// The patient they act for.
        patient: ActorId,
        /// The proxy's id (derived from their signing key).
        proxy: ActorId,
        /// The proxy's public keys.
        keys: PublicKeys,
        /// The proxy's name, sealed under the patient's data key `name_key` (associated data:
        /// the proxy's id): names tied to a patient are not written in the clear.
        sealed_name: Vec<u8>,
        /// The data key epoch the name is sealed with.
        name_key: TxId,
        /// The patient's data keys wrapped for the proxy.
        key_wraps: Vec<KeyWrap>,
    },
    /// The patient publishes their key store, sealed under their card's secret and their PIN,
    /// so that they can sign in at any clinic of the network (the latest one counts).
    PatientKeyStore {
        /// The patient (the author).
        patient: ActorId,
        /// The sealed key store.
        sealed: Vec<u8>,
        /// The X25519 public key derived from the patient's card secret, for the emergency
        /// summary (whoever holds the card opens it, without the PIN).
        emergency: [u8; 32],
    },
    /// The patient's emergency summary (allergies, problems, current medications), sealed under
    /// a key of its own wrapped for the emergency key of the patient's card: a doctor at any
    /// clinic who breaks the glass with the card opens it. The latest counts.
    EmergencySummary {
        /// The patient.
        patient: ActorId,
        /// The summary, sealed.
        sealed: Vec<u8>,
        /// Its key wrapped for the card's emergency key.
        key_wrap: Vec<u8>,
    },
    /// An admin of a clinic adds a device to it: a machine with node keys of its own that seals
    /// its own chain, holds a full replica and the clinic's records' keys (wrapped for it like
    /// for the clinic's first node), and whose staff, patients and policy are the clinic's.
    EnrollDevice {
        /// The device's id (derived from its signing key).
        device: ActorId,
        /// The clinic it belongs to.
        clinic: ActorId,
        /// A name to tell it apart ("front desk").
        name: String,
        /// What it is for.
        role: DeviceRole,
        /// The device's public keys.
        keys: PublicKeys,
    },
    /// A machine of a clinic shares a staff user's key store (still sealed under their
    /// passphrase) with the clinic's other machines, so the user signs in on any of them: sealed
    /// again under a key of its own wrapped for each machine of the clinic, so that nobody else
    /// holding the ledger can even try passphrases on it. The latest counts.
    StaffKeyStore {
        /// The staff user.
        user: ActorId,
        /// The key store, sealed under the key the wraps carry (associated data: the user's id).
        sealed: Vec<u8>,
        /// That key wrapped for the clinic and each of its devices (`key` is the zero id).
        key_wraps: Vec<KeyWrap>,
    },
    /// An admin of the device's clinic (or the health authority) removes a device (lost, stolen,
    /// retired): what it seals afterwards is void, its handshakes are refused, and the records
    /// it could open get new keys without it.
    RemoveDevice {
        /// The device.
        device: ActorId,
        /// Why.
        reason: String,
    },
    /// A lab of the clinic of record read the patient's outstanding orders (and the name, birth
    /// date and sex that match a specimen) on its worklist, and nothing else of the chart;
    /// recorded for the patient like any read. Appended last: the encoding of the variants
    /// above does not change.
    WorklistRead {
        /// The patient.
        patient: ActorId,
    },
    /// The patient, a proxy or an admin of the clinic of record reviews a break-glass opening
    /// of the record: it stays in the audit with who reviewed it and what they noted.
    ReviewBreakGlass {
        /// The patient.
        patient: ActorId,
        /// The break-glass transaction reviewed.
        opening: TxId,
        /// What the reviewer noted ("I was in the emergency room that night").
        note: String,
    },
}

impl Payload {
    /// The patient this transaction is about, if any.
    pub fn patient(&self) -> Option<ActorId> {
        match self {
            Payload::RegisterPatient { patient, .. }
            | Payload::AssignPhysician { patient, .. }
            | Payload::RequestAccess { patient, .. }
            | Payload::GrantAccess { patient, .. }
            | Payload::RefuseAccess { patient, .. }
            | Payload::RevokeAccess { patient, .. }
            | Payload::ChartEntry { patient, .. }
            | Payload::AuditRead { patient, .. }
            | Payload::BreakGlass { patient, .. }
            | Payload::RotateKey { patient, .. }
            | Payload::LevelView { patient, .. }
            | Payload::MoveRecord { patient, .. }
            | Payload::PatientKeyStore { patient, .. }
            | Payload::AddProxy { patient, .. }
            | Payload::EmergencySummary { patient, .. }
            | Payload::WorklistRead { patient }
            | Payload::ReviewBreakGlass { patient, .. } => Some(*patient),
            Payload::Genesis { .. }
            | Payload::EnrollClinic { .. }
            | Payload::EnrollUser { .. }
            | Payload::DisableUser { .. }
            | Payload::SuspendClinic { .. }
            | Payload::ReinstateClinic { .. }
            | Payload::ReplaceKey { .. }
            | Payload::EnrollDevice { .. }
            | Payload::RemoveDevice { .. }
            | Payload::StaffKeyStore { .. } => None,
        }
    }

    /// A short name of the kind, for messages and the audit log.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::Genesis { .. } => "genesis",
            Payload::EnrollClinic { .. } => "enroll clinic",
            Payload::EnrollUser { .. } => "enroll user",
            Payload::RegisterPatient { .. } => "register patient",
            Payload::AssignPhysician { .. } => "assign physician",
            Payload::RequestAccess { .. } => "request access",
            Payload::GrantAccess { .. } => "grant access",
            Payload::RefuseAccess { .. } => "refuse access",
            Payload::RevokeAccess { .. } => "revoke access",
            Payload::ChartEntry { .. } => "chart entry",
            Payload::AuditRead { .. } => "read",
            Payload::BreakGlass { .. } => "break-glass",
            Payload::DisableUser { .. } => "disable user",
            Payload::SuspendClinic { .. } => "suspend clinic",
            Payload::ReinstateClinic { .. } => "reinstate clinic",
            Payload::ReplaceKey { .. } => "replace key",
            Payload::RotateKey { .. } => "rotate key",
            Payload::MoveRecord { .. } => "move record",
            Payload::LevelView { .. } => "level view",
            Payload::PatientKeyStore { .. } => "key store",
            Payload::AddProxy { .. } => "add proxy",
            Payload::EmergencySummary { .. } => "emergency summary",
            Payload::EnrollDevice { .. } => "enroll device",
            Payload::RemoveDevice { .. } => "remove device",
            Payload::StaffKeyStore { .. } => "staff key store",
            Payload::WorklistRead { .. } => "worklist read",
            Payload::ReviewBreakGlass { .. } => "review break-glass",
        }
    }

    /// The actor a transaction brings into the network with its keys, if any.
    pub fn introduces(&self) -> Option<(ActorId, &PublicKeys)> {
        match self {
            Payload::EnrollClinic { clinic, keys, .. } => Some((*clinic, keys)),
            Payload::EnrollUser { user, keys, .. } => Some((*user, keys)),
            Payload::RegisterPatient { patient, keys, .. } => Some((*patient, keys)),
            Payload::AddProxy { proxy, keys, .. } => Some((*proxy, keys)),
            Payload::EnrollDevice { device, keys, .. } => Some((*device, keys)),
            _ => None,
        }
    }

    /// Checks what a payload says on its own, whatever the ledger holds: sizes of every text
    /// and list, an introduced actor's id is the id of its signing key, and key wraps go only to
    /// the reader the transaction names. Every replica refuses the same payloads.
    pub fn check_shape(&self) -> Result<(), String> {
        let text = |what: &str, value: &str, max: usize| {
            if value.len() > max {
                Err(format!("its {what} is {} bytes, over {max}", value.len()))
            } else {
                Ok(())
            }
        };
        let wraps = |wraps: &[KeyWrap]| {
            if wraps.len() > MAX_KEY_WRAPS {
                return Err(format!(
                    "it carries {} key wraps, over {MAX_KEY_WRAPS}",
                    wraps.len()
                ));
            }
            match wraps.iter().find(|w| w.wrapped.len() > MAX_WRAPPED_LEN) {
                Some(w) => Err(format!(
                    "a key wrap for {} is {} bytes, over {MAX_WRAPPED_LEN}",
                    w.reader,
                    w.wrapped.len()
                )),
                None => Ok(()),
            }
        };
        let only_for = |wraps: &[KeyWrap], reader: &ActorId| match wraps
            .iter()
            .find(|w| w.reader != *reader)
        {
            Some(w) => Err(format!(
                "it wraps a key for {}, who is not the reader it names",
                w.reader
            )),
            None => Ok(()),
        };
        if let Some((id, keys)) = self.introduces()
            && id != ActorId::from_signing_key(&keys.signing)
        {
            return Err(format!(
                "{id} is not the id of the signing key it is enrolled with"
            ));
        }
        match self {
            Payload::Genesis { network_name, .. } => text("name", network_name, MAX_NAME_LEN),
            Payload::EnrollClinic { name, .. } | Payload::EnrollDevice { name, .. } => {
                text("name", name, MAX_NAME_LEN)
            }
            Payload::EnrollUser {
                name, specialty, ..
            } => {
                text("name", name, MAX_NAME_LEN)?;
                text(
                    "specialty",
                    specialty.as_deref().unwrap_or(""),
                    MAX_NAME_LEN,
                )
            }
            Payload::RegisterPatient {
                patient, key_wraps, ..
            } => {
                wraps(key_wraps)?;
                if !key_wraps.iter().any(|w| w.reader == *patient) {
                    return Err("the patient's first data key is not wrapped for them".into());
                }
                Ok(())
            }
            Payload::AssignPhysician {
                doctor, key_wraps, ..
            } => {
                wraps(key_wraps)?;
                only_for(key_wraps, doctor)
            }
            Payload::GrantAccess {
                grantee,
                level,
                key_wraps,
                ..
            } => {
                wraps(key_wraps)?;
                only_for(key_wraps, grantee)?;
                if *level < AccessLevel::Full && !key_wraps.is_empty() {
                    return Err(format!(
                        "a grant at level {level} carries data keys, which open every entry"
                    ));
                }
                Ok(())
            }
            Payload::MoveRecord {
                clinic, key_wraps, ..
            } => {
                wraps(key_wraps)?;
                only_for(key_wraps, clinic)
            }
            Payload::RevokeAccess { key_wraps, .. } | Payload::RotateKey { key_wraps, .. } => {
                wraps(key_wraps)
            }
            Payload::RequestAccess { reason, .. }
            | Payload::BreakGlass { reason, .. }
            | Payload::DisableUser { reason, .. }
            | Payload::SuspendClinic { reason, .. }
            | Payload::ReplaceKey { reason, .. }
            | Payload::RemoveDevice { reason, .. } => text("reason", reason, MAX_REASON_LEN),
            Payload::AuditRead { purpose, .. } => text("purpose", purpose, MAX_REASON_LEN),
            Payload::ReviewBreakGlass { note, .. } => text("note", note, MAX_REASON_LEN),
            Payload::LevelView {
                level,
                sealed,
                key_wraps,
                ..
            } => {
                wraps(key_wraps)?;
                if !matches!(level, AccessLevel::Information | AccessLevel::Sample) {
                    return Err(format!(
                        "a view is at information or sample level, not {level}"
                    ));
                }
                if sealed.len() > MAX_SEALED_LEN {
                    return Err(format!(
                        "its sealed view is {} bytes, over {MAX_SEALED_LEN}",
                        sealed.len()
                    ));
                }
                Ok(())
            }
            Payload::ChartEntry { sealed, .. } => {
                if sealed.len() > MAX_SEALED_LEN {
                    return Err(format!(
                        "its sealed entry is {} bytes, over {MAX_SEALED_LEN}",
                        sealed.len()
                    ));
                }
                Ok(())
            }
            Payload::AddProxy {
                proxy,
                sealed_name,
                key_wraps,
                ..
            } => {
                wraps(key_wraps)?;
                only_for(key_wraps, proxy)?;
                if sealed_name.len() > MAX_NAME_LEN + 64 {
                    return Err(format!(
                        "its sealed name is {} bytes, over {}",
                        sealed_name.len(),
                        MAX_NAME_LEN + 64
                    ));
                }
                Ok(())
            }
            Payload::EmergencySummary {
                sealed, key_wrap, ..
            } => {
                if sealed.len() > MAX_EMERGENCY_LEN || key_wrap.len() > MAX_WRAPPED_LEN {
                    return Err(format!(
                        "its emergency summary is {} bytes (at most {MAX_EMERGENCY_LEN}) and its \
                         key wrap {} (at most {MAX_WRAPPED_LEN})",
                        sealed.len(),
                        key_wrap.len()
                    ));
                }
                Ok(())
            }
            Payload::PatientKeyStore { sealed, .. } => {
                if sealed.is_empty() || sealed.len() > MAX_KEY_STORE_LEN {
                    return Err(format!(
                        "its sealed key store is {} bytes, not 1 to {MAX_KEY_STORE_LEN}",
                        sealed.len()
                    ));
                }
                Ok(())
            }
            Payload::StaffKeyStore {
                sealed, key_wraps, ..
            } => {
                wraps(key_wraps)?;
                // The key store sealed once more: its nonce and tag on top.
                if sealed.is_empty() || sealed.len() > MAX_KEY_STORE_LEN + 64 {
                    return Err(format!(
                        "its sealed key store is {} bytes, not 1 to {}",
                        sealed.len(),
                        MAX_KEY_STORE_LEN + 64
                    ));
                }
                Ok(())
            }
            Payload::RefuseAccess { .. }
            | Payload::ReinstateClinic { .. }
            | Payload::WorklistRead { .. } => Ok(()),
        }
    }
}

/// The longest name (network, clinic, user, specialty) a transaction may carry, in bytes.
pub const MAX_NAME_LEN: usize = 1_024;
/// The longest reason or purpose a transaction may carry, in bytes.
pub const MAX_REASON_LEN: usize = 2_048;
/// The most key wraps one transaction may carry.
pub const MAX_KEY_WRAPS: usize = 4_096;
/// The longest wrapped key, in bytes (a wrap is about a hundred).
pub const MAX_WRAPPED_LEN: usize = 512;
/// The longest sealed key store a patient may publish, in bytes (one is about two hundred).
pub const MAX_KEY_STORE_LEN: usize = 4_096;
/// The longest sealed emergency summary, in bytes.
pub const MAX_EMERGENCY_LEN: usize = 256 << 10;
/// The longest sealed chart entry, in bytes.
pub const MAX_SEALED_LEN: usize = 4 << 20;

/// An unsigned transaction: who, where, when, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tx {
    /// The signing actor.
    pub author: ActorId,
    /// The clinic whose node sealed it.
    pub clinic: ActorId,
    /// Hybrid logical time in Unix milliseconds.
    pub time_ms: i64,
    /// What it does.
    pub payload: Payload,
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..6]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::Deserialize::deserialize(d)?;
        let array: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a signature has 64 bytes"))?;
        Ok(Signature(array))
    }
}

/// A transaction with its author's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTx {
    /// The transaction.
    pub tx: Tx,
    /// The author's signature over the transaction id.
    pub signature: Signature,
}

impl Tx {
    /// The canonical bytes of the transaction.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::encoding::to_bytes(self)
    }

    /// The transaction id: a hash of its canonical bytes.
    pub fn id(&self) -> TxId {
        Hash::of("carelog tx v1", &self.canonical_bytes())
    }

    /// Signs the transaction with the author's keys.
    pub fn sign(self, author: &ActorKeys) -> SignedTx {
        let signature = Signature(author.sign(&self.id().0));
        SignedTx {
            tx: self,
            signature,
        }
    }
}

impl SignedTx {
    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.tx.id()
    }

    /// Checks the signature against the author's public signing key.
    pub fn verify(&self, author_signing_key: &[u8; 32]) -> Result<(), LedgerError> {
        let verifier = carelog_vault::Verifier::new(author_signing_key)
            .map_err(|_| LedgerError::BadTxSignature(self.id()))?;
        self.verify_as(&self.id(), &verifier)
    }

    /// Checks the signature, the id already computed and the author's key already decoded.
    pub fn verify_as(
        &self,
        id: &TxId,
        author: &carelog_vault::Verifier,
    ) -> Result<(), LedgerError> {
        author
            .verify(&id.0, &self.signature.0)
            .map_err(|_| LedgerError::BadTxSignature(*id))
    }
}
