//! Who is who, as the window and the CLI list them: staff, doctors, clinics, the records a clinic
//! keeps and who may read a record now. The shells read the ledger's state only through these,
//! and every list that depends on who asks goes through the policy.

use carelog_chart::{AccessLevel, EntryKind};
use carelog_ledger::{Action, ActorId, BREAK_GLASS_MS, Role, authorize};

use crate::{Node, Result, Session};

/// A staff member of the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their id.
    pub id: ActorId,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// A doctor's specialty.
    pub specialty: Option<String>,
    /// The clinic they work at.
    pub clinic: ActorId,
    /// Its name.
    pub clinic_name: String,
    /// Why an admin disabled them, if one did.
    pub disabled: Option<String>,
}

/// A clinic of the network and its standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicEntry {
    /// Its id.
    pub id: ActorId,
    /// Its name.
    pub name: String,
    /// Why the health authority suspended it, while it is suspended.
    pub suspended: Option<String>,
    /// Whether it is this node's clinic.
    pub here: bool,
}

/// A record this clinic keeps (it is the clinic of record), as its admins see it: no name,
/// which stays sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptRecord {
    /// The patient.
    pub patient: ActorId,
    /// The family doctor.
    pub custodian: Option<ActorId>,
    /// The attention list (the custodian included).
    pub attention: Vec<ActorId>,
    /// How many entries the chart holds.
    pub entries: usize,
}

/// Why someone may read a record now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBasis {
    /// The family doctor.
    Custodian,
    /// On the attention list.
    Attending,
    /// The patient (or custodian) granted it.
    Grant,
    /// Emergency access, open for its window.
    BreakGlass,
}

impl ReadBasis {
    /// Why, in the words the patient reads.
    pub fn words(self) -> &'static str {
        match self {
            ReadBasis::Custodian => "family doctor",
            ReadBasis::Attending => "attending",
            ReadBasis::Grant => "your grant",
            ReadBasis::BreakGlass => "emergency (break-glass)",
        }
    }
}

/// Someone who may read a record now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentReader {
    /// The reader.
    pub id: ActorId,
    /// Why.
    pub basis: ReadBasis,
    /// At what level.
    pub level: AccessLevel,
    /// Until when (Unix ms), if it ends.
    pub expires_ms: Option<i64>,
}

impl Node {
    /// A staff member (`None` for patients and unknown ids).
    pub fn person(&self, id: &ActorId) -> Option<Person> {
        let state = self.ledger.state();
        let user = state.users.get(id).filter(|u| u.role != Role::Patient)?;
        Some(Person {
            id: *id,
            name: user.name.clone(),
            role: user.role,
            specialty: user.specialty.clone(),
            clinic: user.clinic,
            clinic_name: state
                .clinics
                .get(&user.clinic)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            disabled: user.disabled.as_ref().map(|stop| stop.reason.clone()),
        })
    }

    /// The role of an enrolled user or registered patient.
    pub fn role_of(&self, id: &ActorId) -> Option<Role> {
        self.ledger.state().users.get(id).map(|u| u.role)
    }

    /// Whether `id` is an enrolled user or a registered patient.
    pub fn is_person(&self, id: &ActorId) -> bool {
        self.ledger.state().users.contains_key(id)
    }

    /// This clinic's staff, by name.
    pub fn staff(&self) -> Vec<Person> {
        let mut list: Vec<Person> = self
            .ledger
            .state()
            .users
            .iter()
            .filter(|(_, u)| u.clinic == self.clinic)
            .filter_map(|(id, _)| self.person(id))
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Every doctor of the network, by clinic and name.
    pub fn doctors(&self) -> Vec<Person> {
        let mut list: Vec<Person> = self
            .ledger
            .state()
            .users
            .iter()
            .filter(|(_, u)| u.role == Role::Doctor)
            .filter_map(|(id, _)| self.person(id))
            .collect();
        list.sort_by(|a, b| (&a.clinic_name, &a.name).cmp(&(&b.clinic_name, &b.name)));
        list
    }

    /// The doctors and labs of the network a patient may grant (none disabled, none at a
    /// suspended clinic), by clinic and name; with `text`, those for whom every typed word
    /// starts a word of their name, specialty or clinic (accents and case ignored). For anyone
    /// enrolled who may act (the policy decides): the network's staff are named on its ledger.
    pub fn directory(&self, signed_in: &Session, text: &str) -> Result<Vec<Person>> {
        let wanted = crate::front_desk::words(text);
        let state = self.ledger.state();
        authorize(
            state,
            signed_in.user,
            &Action::Directory,
            None,
            self.clock(),
        )?;
        let mut list: Vec<Person> = state
            .users
            .iter()
            .filter(|(_, u)| matches!(u.role, Role::Doctor | Role::Lab))
            .filter(|(_, u)| u.disabled.is_none() && !state.is_suspended(&u.clinic))
            .filter_map(|(id, _)| self.person(id))
            .filter(|p| {
                let theirs = crate::front_desk::words(&format!(
                    "{} {} {}",
                    p.name,
                    p.specialty.as_deref().unwrap_or_default(),
                    p.clinic_name
                ));
                wanted
                    .iter()
                    .all(|w| theirs.iter().any(|t| t.starts_with(w.as_str())))
            })
            .collect();
        list.sort_by(|a, b| (&a.clinic_name, &a.name).cmp(&(&b.clinic_name, &b.name)));
        Ok(list)
    }

    /// Every clinic of the network, by name.
    pub fn clinics(&self) -> Vec<ClinicEntry> {
        let mut list: Vec<ClinicEntry> = self
            .ledger
            .state()
            .clinics
            .iter()
            .filter(|(_, clinic)| clinic.is_clinic())
            .map(|(id, clinic)| ClinicEntry {
                id: *id,
                name: clinic.name.clone(),
                suspended: clinic.suspended.as_ref().map(|stop| stop.reason.clone()),
                here: *id == self.clinic,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// This clinic's name.
    pub fn clinic_name(&self) -> String {
        self.ledger
            .state()
            .clinics
            .get(&self.clinic)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    /// The network's name.
    pub fn network_name(&self) -> String {
        self.ledger
            .state()
            .network
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_default()
    }

    /// The records this clinic keeps that the signed-in person may read the audit of (the
    /// clinic's admins: all of them) or post results to (its lab: all of them), by patient id.
    pub fn kept_records(&self, session: &Session) -> Vec<KeptRecord> {
        let state = self.ledger.state();
        let now = self.clock();
        let may = |patient: ActorId, action: Action| {
            authorize(state, session.user, &action, Some(patient), now).is_ok()
        };
        let mut list: Vec<KeptRecord> = state
            .patients
            .iter()
            .filter(|(_, file)| file.clinic == self.clinic)
            .filter(|(id, _)| {
                may(**id, Action::ViewAudit) || may(**id, Action::Write(EntryKind::Lab))
            })
            .map(|(id, file)| KeptRecord {
                patient: *id,
                custodian: file.custodian(),
                attention: file.attention.keys().copied().collect(),
                entries: file.entries().len(),
            })
            .collect();
        list.sort_unstable_by_key(|r| r.patient);
        list
    }

    /// Who may read a patient's record now: the attention list, live grants and open
    /// break-glass access. Only for those who may read the record's audit.
    pub fn current_readers(
        &self,
        session: &Session,
        patient: ActorId,
    ) -> Result<Vec<CurrentReader>> {
        let state = self.ledger.state();
        let now = self.clock();
        authorize(state, session.user, &Action::ViewAudit, Some(patient), now)?;
        let Some(file) = state.patient(&patient) else {
            return Ok(Vec::new());
        };
        let attention = file.attention.iter().map(|(id, attending)| CurrentReader {
            id: *id,
            basis: if attending.custodian {
                ReadBasis::Custodian
            } else {
                ReadBasis::Attending
            },
            level: AccessLevel::Full,
            expires_ms: None,
        });
        let grants = file
            .grants
            .iter()
            .filter(|(_, g)| g.expires_ms.is_none_or(|end| now < end))
            .map(|(id, g)| CurrentReader {
                id: *id,
                basis: ReadBasis::Grant,
                level: g.level,
                expires_ms: g.expires_ms,
            });
        let emergencies = file
            .break_glass
            .iter()
            .filter(|(_, at)| now < at + BREAK_GLASS_MS)
            .map(|(id, at)| CurrentReader {
                id: *id,
                basis: ReadBasis::BreakGlass,
                level: AccessLevel::Full,
                expires_ms: Some(at + BREAK_GLASS_MS),
            });
        Ok(attention.chain(grants).chain(emergencies).collect())
    }
}
