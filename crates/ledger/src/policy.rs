//! The one policy function: who may do what to whose record, and at which level.
//!
//! Every access decision in Carelog goes through [`authorize`]: the node asks it before it signs
//! a command or renders a chart, and the ledger asks it again when it replays transactions in
//! order. It is pure: the state and the time are passed in.

use carelog_chart::{AccessLevel, EntryKind};

use crate::ids::ActorId;
use crate::records::PatientFile;
use crate::state::{BREAK_GLASS_MS, State};
use crate::tx::{Payload, Role};

/// What an actor wants to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Enroll a clinic in the network.
    EnrollClinic,
    /// Enroll a staff user with a role.
    EnrollUser(Role),
    /// Register a new patient.
    RegisterPatient,
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
}

impl Action {
    /// The action a transaction performs.
    pub fn for_payload(payload: &Payload) -> Action {
        match payload {
            // Genesis is checked by the ledger itself (it has no author to ask about).
            Payload::Genesis { .. } | Payload::EnrollClinic { .. } => Action::EnrollClinic,
            Payload::EnrollUser { role, .. } => Action::EnrollUser(*role),
            Payload::RegisterPatient { .. } => Action::RegisterPatient,
            Payload::AssignPhysician { doctor, .. } => Action::AssignPhysician(*doctor),
            Payload::RequestAccess { .. } => Action::RequestAccess,
            Payload::GrantAccess { grantee, .. } => Action::Grant(*grantee),
            Payload::RefuseAccess { .. } => Action::Refuse,
            Payload::RevokeAccess { reader, .. } => Action::Revoke(*reader),
            Payload::ChartEntry { kind, .. } => Action::Write(*kind),
            Payload::AuditRead { .. } => Action::Read,
            Payload::BreakGlass { .. } => Action::BreakGlass,
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
        )
    }
}

/// Decides whether `actor` may perform `action` on `patient`'s record at time `now_ms`.
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
    if !is_authority && role.is_none() {
        return Err(Denied::UnknownActor(actor));
    }
    let staff = |basis| {
        Ok(Permit {
            level: AccessLevel::None,
            basis,
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
        Action::EnrollUser(new_role) => {
            if *new_role == Role::Patient {
                return Err(Denied::WrongRole {
                    needed: "patient registration",
                    action: "create patients",
                });
            }
            if is_authority {
                return staff(Basis::Authority);
            }
            if role == Some(Role::Admin) {
                return staff(Basis::Admin);
            }
            return Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "enroll staff",
            });
        }
        Action::RegisterPatient => {
            if role == Some(Role::Admin) {
                return staff(Basis::Admin);
            }
            return Err(Denied::WrongRole {
                needed: "clinic admins",
                action: "register patients",
            });
        }
        _ => {}
    }

    let patient_id = patient.ok_or(Denied::NoAccess)?;
    let file = state
        .patient(&patient_id)
        .ok_or(Denied::UnknownPatient(patient_id))?;
    let read = chart_access(file, actor, patient_id, now_ms);

    match action {
        Action::AssignPhysician(doctor) => {
            if role != Some(Role::Admin) {
                return Err(Denied::WrongRole {
                    needed: "clinic admins",
                    action: "assign physicians",
                });
            }
            match state.users.get(doctor) {
                Some(u) if u.role == Role::Doctor => staff(Basis::Admin),
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
        Action::Grant(_) | Action::Refuse | Action::Revoke(_) => {
            let basis = if actor == patient_id {
                Basis::Patient
            } else if file.custodian() == Some(actor) {
                Basis::Custodian
            } else {
                return Err(Denied::NotOwner);
            };
            if let Action::Grant(grantee) = action {
                match state.users.get(grantee) {
                    Some(u) if matches!(u.role, Role::Doctor | Role::Lab) => {}
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
        Action::Write(kind) => {
            match (role, kind) {
                // A lab at the registering clinic receives specimens for its patients.
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
                (Some(Role::Admin | Role::Patient), _) => {
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
        Action::ViewAudit => {
            if actor == patient_id || file.attention.contains_key(&actor) {
                return read;
            }
            if role == Some(Role::Admin) && home_clinic == Some(file.clinic) {
                return staff(Basis::Admin);
            }
            Err(Denied::WrongRole {
                needed: "the patient, their physicians and their clinic's admins",
                action: "read the audit trail",
            })
        }
        // Decided before the patient was looked up.
        Action::EnrollClinic | Action::EnrollUser(_) | Action::RegisterPatient => {
            Err(Denied::NoAccess)
        }
    }
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
    if let Some(custodian) = file.attention.get(&actor) {
        return full(if *custodian {
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
        Some(grant) if grant.expires_ms.is_some_and(|end| now_ms >= end) => Err(Denied::Expired),
        Some(grant) if grant.level > AccessLevel::None => Ok(Permit {
            level: grant.level,
            basis: Basis::Grant,
        }),
        _ => Err(Denied::NoAccess),
    }
}
