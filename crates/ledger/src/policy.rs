//! The one policy function: who may do what to whose record, and at which level.
//!
//! Every access decision in Carelog goes through [`authorize`]: the node asks it before it signs
//! a command or renders a chart, and the ledger asks it again when it replays transactions in
//! order. It is pure: the state and the time are passed in.

use carelog_vocab::{AccessLevel, EntryKind};

use crate::ids::ActorId;
use crate::records::PatientFile;
use crate::state::{BREAK_GLASS_MS, State};
use crate::tx::{Payload, Role, Tx};

/// What an actor wants to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Enroll a clinic in the network.
    EnrollClinic,
    /// Enroll a staff user with a role at a clinic.
    EnrollUser {
        /// The new user's role.
        role: Role,
        /// The clinic they will work at.
        clinic: ActorId,
    },
    /// Register a new patient with a clinic as the clinic of record.
    RegisterPatient {
        /// The clinic of record.
        clinic: ActorId,
    },
    /// Put a doctor on a patient's attention list.
    AssignPhysician(ActorId),
    /// Ask the patient for access.
    RequestAccess,
    /// Grant a reader access.
    Grant(ActorId),
    /// Refuse a pending request.
    Refuse,
    /// Revoke a reader's access.
    Revoke(ActorId),
    /// Add a chart entry of a kind.
    Write(EntryKind),
    /// Read the chart (the permit carries the level).
    Read,
    /// Open emergency access.
    BreakGlass,
    /// Read the record's audit trail.
    ViewAudit,
    /// Disable a staff user.
    DisableUser(ActorId),
    /// Suspend or reinstate a clinic.
    SuspendClinic(ActorId),
    /// Give an actor (clinic, staff user or patient) new keys.
    ReplaceKey(ActorId),
    /// Give a patient's record a new data key.
    RotateKey,
    /// Move a patient's record to another clinic.
    MoveRecord(ActorId),
    /// Publish a view of the chart at information or sample level for its grantees.
    PublishView,
    /// Add a proxy who acts for the patient.
    AddProxy,
    /// Publish one's own sealed key store (a patient, for signing in at any clinic).
    PublishKeyStore,
    /// Search the names of the patients a clinic can open (its front desk and clinicians).
    FindPatients {
        /// The clinic whose index is searched.
        clinic: ActorId,
    },
    /// Add a device to a clinic.
    EnrollDevice {
        /// The clinic.
        clinic: ActorId,
    },
    /// Remove a device from its clinic.
    RemoveDevice(ActorId),
    /// Share a staff user's key store with the machines of their clinic.
    ShareKeyStore(ActorId),
    /// Ask for a clinic's lab worklist: the outstanding orders of the records it holds (its
    /// labs). Each record on the list is then decided by [`Action::ReadOrders`].
    Worklist {
        /// The clinic whose records' orders are listed.
        clinic: ActorId,
    },
    /// Read a record's outstanding orders, and the name, birth date and sex that match a
    /// specimen to them, but nothing else of the chart (a lab of the clinic of record).
    ReadOrders,
    /// Review a break-glass opening of a record (the patient, a proxy, or an admin of the
    /// clinic of record).
    ReviewBreakGlass,
    /// Look up the network's doctors and labs (to grant one): anyone enrolled who may act.
    Directory,
}

impl Action {
    /// The action a transaction performs.
    pub fn for_tx(tx: &Tx) -> Action {
        match &tx.payload {
            // Genesis is checked by the ledger itself (it has no author to ask about).
            Payload::Genesis { .. } | Payload::EnrollClinic { .. } => Action::EnrollClinic,
            Payload::EnrollUser { role, clinic, .. } => Action::EnrollUser {
                role: *role,
                clinic: *clinic,
            },
            // The patient's clinic of record is the clinic that seals the registration.
            Payload::RegisterPatient { .. } => Action::RegisterPatient { clinic: tx.clinic },
            Payload::AssignPhysician { doctor, .. } => Action::AssignPhysician(*doctor),
            Payload::RequestAccess { .. } => Action::RequestAccess,
            Payload::GrantAccess { grantee, .. } => Action::Grant(*grantee),
            Payload::RefuseAccess { .. } => Action::Refuse,
            Payload::RevokeAccess { reader, .. } => Action::Revoke(*reader),
            Payload::ChartEntry { kind, .. } => Action::Write(*kind),
            Payload::AuditRead { .. } => Action::Read,
            Payload::BreakGlass { .. } => Action::BreakGlass,
            Payload::DisableUser { user, .. } => Action::DisableUser(*user),
            Payload::SuspendClinic { clinic, .. } | Payload::ReinstateClinic { clinic } => {
                Action::SuspendClinic(*clinic)
            }
            Payload::ReplaceKey { actor, .. } => Action::ReplaceKey(*actor),
            Payload::RotateKey { .. } => Action::RotateKey,
            Payload::MoveRecord { clinic, .. } => Action::MoveRecord(*clinic),
            Payload::LevelView { .. } => Action::PublishView,
            Payload::PatientKeyStore { .. } => Action::PublishKeyStore,
            Payload::AddProxy { .. } => Action::AddProxy,
            Payload::EmergencySummary { .. } => Action::PublishView,
            Payload::EnrollDevice { clinic, .. } => Action::EnrollDevice { clinic: *clinic },
            Payload::RemoveDevice { device, .. } => Action::RemoveDevice(*device),
            Payload::StaffKeyStore { user, .. } => Action::ShareKeyStore(*user),
            Payload::WorklistRead { .. } => Action::ReadOrders,
            Payload::ReviewBreakGlass { .. } => Action::ReviewBreakGlass,
        }
    }
}

/// On what grounds an action is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// The health authority.
    Authority,
    /// A clinic admin.
    Admin,
    /// The patient.
    Patient,
    /// The custodian (family doctor).
    Custodian,
    /// A physician on the attention list.
    Attending,
    /// A grant from the patient or custodian.
    Grant,
    /// Emergency access.
    BreakGlass,
    /// Enrolled staff acting in their role (requests, lab results).
    Staff,
    /// The clinic of record's node (key rotation).
    Clinic,
    /// A proxy (parent, guardian, carer) acting for the patient.
    Proxy,
}

/// An allowed action and the level of access it comes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    /// The level of chart access the actor holds.
    pub level: AccessLevel,
    /// Why it is allowed.
    pub basis: Basis,
}

/// Why an action is refused, in words for the person who tried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The actor is not enrolled in this network.
    #[error("{0} is not enrolled in this network")]
    UnknownActor(ActorId),
    /// The patient is not registered.
    #[error("no patient {0} is registered in this network")]
    UnknownPatient(ActorId),
    /// The action needs another role.
    #[error("only {needed} may {action}")]
    WrongRole {
        /// Who may.
        needed: &'static str,
        /// What was tried.
        action: &'static str,
    },
    /// The target of the action has the wrong role.
    #[error("{0} is not an enrolled doctor")]
    NotADoctor(ActorId),
    /// Reading or writing needs access the actor does not hold.
    #[error("no access to this patient's chart: not on the attention list and no grant")]
    NoAccess,
    /// The grant exists but is not enough for the action.
    #[error("the grant at level {0} does not allow this; full access is needed")]
    LevelTooLow(AccessLevel),
    /// The actor's grant has ended.
    #[error("the grant expired")]
    Expired,
    /// Only the patient or the custodian changes access.
    #[error("only the patient or the custodian (family doctor) may change access to this record")]
    NotOwner,
    /// Revoking someone who holds no access.
    #[error("{0} holds no access to revoke")]
    NothingToRevoke(ActorId),
    /// Labs write lab results only.
    #[error("lab users write lab results only, not {0}")]
    LabKindOnly(EntryKind),
    /// The clinic named is not enrolled.
    #[error("{0} is not an enrolled clinic")]
    UnknownClinic(ActorId),
    /// An admin acting for another clinic.
    #[error("clinic admins act only for their own clinic's staff and patients")]
    OtherClinic,
    /// An admin acting on a record their clinic does not hold.
    #[error("this record is held by another clinic; only that clinic's admins manage it")]
    NotClinicOfRecord,
    /// The actor or the reader is disabled.
    #[error("{0} is disabled")]
    Disabled(ActorId),
    /// The clinic is suspended by the health authority.
    #[error("clinic {0} is suspended by the health authority")]
    ClinicSuspended(ActorId),
    /// Disabling is for staff; a patient is not disabled.
    #[error("{0} is not a staff user")]
    NotStaff(ActorId),
    /// Removing is for devices of a clinic; a clinic is suspended by the health authority.
    #[error("{0} is not a device of a clinic")]
    NotADevice(ActorId),
    /// A lab reading the orders of a record another clinic holds.
    #[error("this record is held by another clinic; only that clinic's labs see its orders")]
    NotLabOfRecord,
}

impl Denied {
    /// Whether the refusal depends on the record's changing state (attention list, grants, time)
    /// rather than on who the actor is: such transactions can become valid or void depending on
    /// concurrent history, so a block carrying one is not refused.
    pub fn is_dynamic(&self) -> bool {
        matches!(
            self,
            Denied::NoAccess
                | Denied::LevelTooLow(_)
                | Denied::Expired
                | Denied::NotOwner
                | Denied::NothingToRevoke(_)
                | Denied::NotClinicOfRecord
                | Denied::NotLabOfRecord
                | Denied::Disabled(_)
                | Denied::ClinicSuspended(_)
        )
    }
}

/// Decides whether `actor` may perform `action` on `patient`'s record at time `now_ms`.
///
/// Every rule assumes the actor may be hostile: an admin acts only for its own clinic's staff
/// and the records its clinic holds, a clinic's node only rotates the keys of its own records,
/// and a disabled user or a suspended clinic's staff can do nothing.
pub fn authorize(
    state: &State,
    actor: ActorId,
    action: &Action,
    patient: Option<ActorId>,
    now_ms: i64,
) -> Result<Permit, Denied> {
    let is_authority = state.authority() == Some(actor);
    let user = state.users.get(&actor);
    let role = user.map(|u| u.role);
    let home_clinic = user.map(|u| u.clinic);
    if let Some(clinic) = state.clinics.get(&actor) {
        return clinic_node(state, clinic, actor, action, patient);
    }
    if !is_authority && role.is_none() {
        return Err(Denied::UnknownActor(actor));
    }
    if let Some(u) = user {
        if u.disabled.is_some() {
            return Err(Denied::Disabled(actor));
        }
        // A suspended clinic's staff act nowhere; its patients still act at other clinics.
        if u.role != Role::Patient && state.is_suspended(&u.clinic) {
            return Err(Denied::ClinicSuspended(u.clinic));
        }
    }
    let staff = |basis| {
        Ok(Permit {
            level: AccessLevel::None,
            basis,
        })
    };
    let admin_of = |clinic: &ActorId| {
        if role != Some(Role::Admin) {
            return None;
        }
        Some(if home_clinic == Some(*clinic) {
            Ok(Permit {
                level: AccessLevel::None,
                basis: Basis::Admin,
            })
        } else {
            Err(Denied::OtherClinic)
        })
    };

    match action {
        Action::EnrollClinic => {
            if is_authority {
                return staff(Basis::Authority);
            }
            return Err(Denied::WrongRole {
                needed: "the health authority",
                action: "enroll clinics",
            });
        }
        Action::EnrollUser {
            role: new_role,
            clinic,
        } => {
            if *new_role == Role::Patient {
                return Err(Denied::WrongRole {
                    needed: "patient registration",
                    action: "create patients",
                });
            }
            if !state.is_clinic(clinic) {
                return Err(Denied::UnknownClinic(*clinic));
            }
            if is_authority {
                return staff(Basis::Authority);
            }
            return admin_of(clinic).unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "enroll staff",
            }));
        }
        Action::RegisterPatient { clinic } => {
            // Sealed by a device, the registration is its clinic's.
            return admin_of(&state.clinic_of(clinic)).unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "register patients",
            }));
        }
        Action::DisableUser(target) => {
            let Some(target_user) = state.users.get(target) else {
                return Err(Denied::UnknownActor(*target));
            };
            if target_user.role == Role::Patient {
                return Err(Denied::NotStaff(*target));
            }
            if is_authority {
                return staff(Basis::Authority);
            }
            return admin_of(&target_user.clinic).unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "disable staff",
            }));
        }
        Action::SuspendClinic(clinic) => {
            if !state.is_clinic(clinic) {
                return Err(Denied::UnknownClinic(*clinic));
            }
            if is_authority {
                return staff(Basis::Authority);
            }
            return Err(Denied::WrongRole {
                needed: "the health authority",
                action: "suspend or reinstate clinics",
            });
        }
        Action::ReplaceKey(target) => return replace_key(state, actor, is_authority, *target),
        Action::ShareKeyStore(_) => {
            return Err(Denied::WrongRole {
                needed: "the machines of the user's clinic",
                action: "share staff key stores",
            });
        }
        Action::EnrollDevice { clinic } => {
            if !state.is_clinic(clinic) {
                return Err(Denied::UnknownClinic(*clinic));
            }
            if state.is_suspended(clinic) {
                return Err(Denied::ClinicSuspended(*clinic));
            }
            return admin_of(clinic).unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "add devices",
            }));
        }
        Action::RemoveDevice(device) => {
            let Some(of) = state.clinics.get(device).and_then(|c| c.device.as_ref()) else {
                return Err(Denied::NotADevice(*device));
            };
            if is_authority {
                return staff(Basis::Authority);
            }
            return admin_of(&of.clinic).unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins and the health authority",
                action: "remove devices",
            }));
        }
        Action::FindPatients { clinic } => {
            return match user {
                Some(u) if u.role != Role::Patient && u.clinic == *clinic => staff(Basis::Staff),
                _ => Err(Denied::WrongRole {
                    needed: "the clinic's staff",
                    action: "search its patients",
                }),
            };
        }
        Action::Directory => {
            return staff(if role == Some(Role::Patient) {
                Basis::Patient
            } else {
                Basis::Staff
            });
        }
        Action::Worklist { clinic } => {
            return match user {
                Some(u) if u.role == Role::Lab && u.clinic == *clinic => staff(Basis::Staff),
                _ => Err(Denied::WrongRole {
                    needed: "the clinic's labs",
                    action: "read its worklist of orders",
                }),
            };
        }
        _ => {}
    }

    let patient_id = patient.ok_or(Denied::NoAccess)?;
    let file = state
        .patient(&patient_id)
        .ok_or(Denied::UnknownPatient(patient_id))?;
    let read = chart_access(file, actor, patient_id, now_ms);
    let record_admin = || match admin_of(&file.clinic) {
        Some(Err(Denied::OtherClinic)) => Some(Err(Denied::NotClinicOfRecord)),
        other => other,
    };

    match action {
        Action::AssignPhysician(doctor) => {
            let permit = record_admin().unwrap_or(Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "assign physicians",
            }))?;
            match state.users.get(doctor) {
                Some(u) if u.role == Role::Doctor => {
                    if home_clinic != Some(u.clinic) {
                        // Caring across clinics goes through the patient's grants.
                        return Err(Denied::OtherClinic);
                    }
                    if u.disabled.is_some() {
                        return Err(Denied::Disabled(*doctor));
                    }
                    Ok(permit)
                }
                _ => Err(Denied::NotADoctor(*doctor)),
            }
        }
        Action::RequestAccess | Action::BreakGlass => {
            let allowed = match action {
                Action::BreakGlass => role == Some(Role::Doctor),
                _ => matches!(role, Some(Role::Doctor | Role::Lab)),
            };
            if !allowed {
                return Err(Denied::WrongRole {
                    needed: if *action == Action::BreakGlass {
                        "doctors"
                    } else {
                        "doctors and labs"
                    },
                    action: if *action == Action::BreakGlass {
                        "open emergency access"
                    } else {
                        "request access"
                    },
                });
            }
            staff(Basis::Staff)
        }
        Action::AddProxy => record_admin().unwrap_or(Err(Denied::WrongRole {
            needed: "admins of the patient's clinic",
            action: "add proxies",
        })),
        Action::Grant(_) | Action::Refuse | Action::Revoke(_) | Action::RotateKey => {
            let basis = if actor == patient_id {
                Basis::Patient
            } else if file.proxies.contains_key(&actor) {
                Basis::Proxy
            } else if file.custodian() == Some(actor) {
                Basis::Custodian
            } else {
                return Err(Denied::NotOwner);
            };
            if let Action::Grant(grantee) = action {
                match state.users.get(grantee) {
                    Some(u) if matches!(u.role, Role::Doctor | Role::Lab) => {
                        if u.disabled.is_some() {
                            return Err(Denied::Disabled(*grantee));
                        }
                        if state.is_suspended(&u.clinic) {
                            return Err(Denied::ClinicSuspended(u.clinic));
                        }
                    }
                    Some(_) => {
                        return Err(Denied::WrongRole {
                            needed: "doctors and labs",
                            action: "receive grants",
                        });
                    }
                    None => return Err(Denied::UnknownActor(*grantee)),
                }
            }
            if let Action::Revoke(reader) = action {
                let holds = file.grants.contains_key(reader)
                    || file.attention.contains_key(reader)
                    || file.break_glass.iter().any(|(r, _)| r == reader);
                if !holds {
                    return Err(Denied::NothingToRevoke(*reader));
                }
                if file.custodian() == Some(*reader) && basis == Basis::Custodian {
                    return Err(Denied::NotOwner);
                }
            }
            Ok(Permit {
                level: AccessLevel::Full,
                basis,
            })
        }
        Action::PublishKeyStore => {
            if actor != patient_id {
                return Err(Denied::WrongRole {
                    needed: "the patient",
                    action: "publish their key store",
                });
            }
            Ok(Permit {
                level: AccessLevel::None,
                basis: Basis::Patient,
            })
        }
        Action::MoveRecord(clinic) => {
            if actor != patient_id {
                return Err(Denied::WrongRole {
                    needed: "the patient",
                    action: "move their record",
                });
            }
            if !state.is_clinic(clinic) {
                return Err(Denied::UnknownClinic(*clinic));
            }
            if state.is_suspended(clinic) {
                return Err(Denied::ClinicSuspended(*clinic));
            }
            Ok(Permit {
                level: AccessLevel::Full,
                basis: Basis::Patient,
            })
        }
        Action::Write(kind) => {
            match (role, kind) {
                // A lab at the clinic of record receives specimens for its patients.
                (Some(Role::Lab), EntryKind::Lab) if home_clinic == Some(file.clinic) => {
                    return staff(Basis::Staff);
                }
                (Some(Role::Lab), other) if *other != EntryKind::Lab => {
                    return Err(Denied::LabKindOnly(*other));
                }
                (Some(Role::Admin), EntryKind::Demographics)
                    if home_clinic == Some(file.clinic) =>
                {
                    return staff(Basis::Admin);
                }
                (Some(Role::Admin | Role::Patient), _) | (None, _) => {
                    return Err(Denied::WrongRole {
                        needed: "doctors and labs",
                        action: "write chart entries",
                    });
                }
                _ => {}
            }
            let permit = read?;
            if permit.level < AccessLevel::Full {
                return Err(Denied::LevelTooLow(permit.level));
            }
            Ok(permit)
        }
        Action::Read => read,
        // A lab receives specimens for the records its clinic holds: it sees what was ordered
        // and whose specimen it is, not the chart. The record may move, so another clinic's
        // lab is refused in replay rather than at the block.
        Action::ReadOrders => {
            if role != Some(Role::Lab) {
                return Err(Denied::WrongRole {
                    needed: "labs of the patient's clinic",
                    action: "read a record's orders on a worklist",
                });
            }
            if home_clinic != Some(file.clinic) {
                return Err(Denied::NotLabOfRecord);
            }
            staff(Basis::Staff)
        }
        // Derived from the full chart, by someone who holds it in their own right.
        Action::PublishView => match read {
            Ok(permit)
                if permit.level == AccessLevel::Full && permit.basis != Basis::BreakGlass =>
            {
                Ok(permit)
            }
            Ok(permit) => Err(Denied::LevelTooLow(permit.level)),
            Err(e) => Err(e),
        },
        Action::ReviewBreakGlass => {
            if actor == patient_id {
                return Ok(Permit {
                    level: AccessLevel::None,
                    basis: Basis::Patient,
                });
            }
            if file.proxies.contains_key(&actor) {
                return Ok(Permit {
                    level: AccessLevel::None,
                    basis: Basis::Proxy,
                });
            }
            record_admin().unwrap_or(Err(Denied::WrongRole {
                needed: "the patient, their proxies and the admins of their clinic",
                action: "review break-glass openings",
            }))
        }
        Action::ViewAudit => {
            if actor == patient_id
                || file.attention.contains_key(&actor)
                || file.proxies.contains_key(&actor)
            {
                return read;
            }
            if let Some(Ok(permit)) = record_admin() {
                return Ok(permit);
            }
            Err(Denied::WrongRole {
                needed: "the patient, their physicians and their clinic's admins",
                action: "read the audit trail",
            })
        }
        // Decided before the patient was looked up.
        Action::EnrollClinic
        | Action::EnrollUser { .. }
        | Action::RegisterPatient { .. }
        | Action::DisableUser(_)
        | Action::SuspendClinic(_)
        | Action::ReplaceKey(_)
        | Action::FindPatients { .. }
        | Action::EnrollDevice { .. }
        | Action::RemoveDevice(_)
        | Action::ShareKeyStore(_) => Err(Denied::NoAccess),
        Action::Worklist { .. } | Action::Directory => Err(Denied::NoAccess),
    }
}

/// What a clinic's node may do as an actor: rotate the data keys of the records it holds, and
/// publish their views for grantees below full.
fn clinic_node(
    state: &State,
    clinic: &crate::records::Clinic,
    actor: ActorId,
    action: &Action,
    patient: Option<ActorId>,
) -> Result<Permit, Denied> {
    if !matches!(
        action,
        Action::RotateKey | Action::PublishView | Action::ShareKeyStore(_)
    ) {
        return Err(Denied::WrongRole {
            needed: "people",
            action: "act for a clinic's node in anything but key rotation, level views and \
                     sharing its staff's key stores",
        });
    }
    if clinic.suspended.is_some() || state.is_suspended(&actor) {
        return Err(Denied::ClinicSuspended(actor));
    }
    if let Action::ShareKeyStore(user) = action {
        // Its own clinic's staff only.
        return match state.users.get(user) {
            Some(u) if u.role != Role::Patient && u.clinic == state.clinic_of(&actor) => {
                Ok(Permit {
                    level: AccessLevel::None,
                    basis: Basis::Clinic,
                })
            }
            Some(_) => Err(Denied::OtherClinic),
            None => Err(Denied::UnknownActor(*user)),
        };
    }
    let patient_id = patient.ok_or(Denied::NoAccess)?;
    let file = state
        .patient(&patient_id)
        .ok_or(Denied::UnknownPatient(patient_id))?;
    // A device acts for its clinic.
    if file.clinic != state.clinic_of(&actor) {
        return Err(Denied::NotClinicOfRecord);
    }
    Ok(Permit {
        level: AccessLevel::None,
        basis: Basis::Clinic,
    })
}

/// Who may give `target` new keys: the authority a clinic's; the authority or an admin of
/// their clinic a staff user's; the authority, an admin of the clinic of record or the
/// custodian a patient's (the ledger applies a patient's only when two of them agree).
fn replace_key(
    state: &State,
    actor: ActorId,
    is_authority: bool,
    target: ActorId,
) -> Result<Permit, Denied> {
    let permit = |basis| {
        Ok(Permit {
            level: AccessLevel::None,
            basis,
        })
    };
    if state.clinics.contains_key(&target) {
        if is_authority {
            return permit(Basis::Authority);
        }
        return Err(Denied::WrongRole {
            needed: "the health authority",
            action: "replace a clinic's keys",
        });
    }
    let Some(target_user) = state.users.get(&target) else {
        return Err(Denied::UnknownActor(target));
    };
    if is_authority {
        return permit(Basis::Authority);
    }
    let me = state.users.get(&actor);
    let admin_at =
        |clinic: ActorId| me.is_some_and(|u| u.role == Role::Admin && u.clinic == clinic);
    if target_user.role != Role::Patient {
        if admin_at(target_user.clinic) {
            return permit(Basis::Admin);
        }
        return Err(Denied::OtherClinic);
    }
    let file = state
        .patient(&target)
        .ok_or(Denied::UnknownPatient(target))?;
    if admin_at(file.clinic) {
        return permit(Basis::Admin);
    }
    if file.custodian() == Some(actor) {
        return permit(Basis::Custodian);
    }
    Err(Denied::WrongRole {
        needed: "the admin of the clinic of record, the custodian or the health authority",
        action: "replace a patient's keys",
    })
}

/// The chart access an actor holds on a patient's record right now.
fn chart_access(
    file: &PatientFile,
    actor: ActorId,
    patient: ActorId,
    now_ms: i64,
) -> Result<Permit, Denied> {
    let full = |basis| {
        Ok(Permit {
            level: AccessLevel::Full,
            basis,
        })
    };
    if actor == patient {
        return full(Basis::Patient);
    }
    if file.proxies.contains_key(&actor) {
        return full(Basis::Proxy);
    }
    if let Some(attending) = file.attention.get(&actor) {
        return full(if attending.custodian {
            Basis::Custodian
        } else {
            Basis::Attending
        });
    }
    if file
        .break_glass
        .iter()
        .any(|(reader, at)| *reader == actor && now_ms >= *at && now_ms - at < BREAK_GLASS_MS)
    {
        return full(Basis::BreakGlass);
    }
    match file.grants.get(&actor) {
        Some(grant) if !grant.live(now_ms) => Err(Denied::Expired),
        Some(grant) if grant.level > AccessLevel::None => Ok(Permit {
            level: grant.level,
            basis: Basis::Grant,
        }),
        _ => Err(Denied::NoAccess),
    }
}
