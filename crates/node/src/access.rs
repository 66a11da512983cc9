//! Patient consent: requests, grants, refusals, revocation with key rotation, break-glass, audit.

use carelog_chart::AccessLevel;
use carelog_ledger::{Action, ActorId, Denied, Payload, RequestStatus, TxId, authorize};
use carelog_vault::DataKey;
use serde::Serialize;

use crate::error::{NodeError, Result};
use crate::home::{self, now_ms, rfc3339};
use crate::keys;
use crate::{Node, Session, patient_file, validate_name};

/// A pending request, as `access requests` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct AccessRequestView {
    /// The request id.
    pub request_id: String,
    /// The patient.
    pub patient_id: String,
    /// Who asked (id).
    pub requester: String,
    /// Who asked (name).
    pub requester_name: String,
    /// The level asked for.
    pub level: AccessLevel,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub time: String,
}

/// One line of a patient's audit trail.
#[derive(Clone, Debug, Serialize)]
pub struct AuditLine {
    /// When (RFC 3339).
    pub time: String,
    /// Who (id).
    pub actor: String,
    /// Who (name).
    pub actor_name: String,
    /// What.
    pub action: &'static str,
    /// The access level involved.
    pub level: Option<AccessLevel>,
    /// Details (purpose, reason, the other party).
    pub detail: Option<String>,
    /// The transaction, for the lines that can be referred to (a break-glass opening to
    /// review).
    pub tx: String,
}

/// A break-glass opening of a record, with who reviewed it.
#[derive(Clone, Debug, Serialize)]
pub struct BreakGlassOpening {
    /// The opening (its transaction id), to name in a review.
    pub opening: String,
    /// When (RFC 3339).
    pub time: String,
    /// The doctor who broke the glass (id).
    pub doctor: String,
    /// Their name.
    pub doctor_name: String,
    /// Their clinic.
    pub clinic: String,
    /// The reason they gave.
    pub reason: Option<String>,
    /// Who reviewed it (names), oldest first; empty while no one has.
    pub reviewed_by: Vec<String>,
}

impl Node {
    /// Asks a patient for access at a level.
    pub fn request_access(
        &mut self,
        session: &Session,
        patient: ActorId,
        level: AccessLevel,
        reason: &str,
    ) -> Result<TxId> {
        validate_name("the reason", reason)?;
        if level == AccessLevel::None {
            return Err(NodeError::invalid(
                "ask for information, sample or full access",
            ));
        }
        authorize(
            self.ledger.state(),
            session.user,
            &Action::RequestAccess,
            Some(patient),
            now_ms(),
        )?;
        let tx = self.sign(
            session,
            Payload::RequestAccess {
                patient,
                level,
                reason: reason.trim().into(),
            },
        );
        Ok(self.commit(vec![tx], &[])?[0])
    }

    /// Pending requests the session's user may decide (as patient or custodian).
    pub fn pending_requests(
        &self,
        session: &Session,
        patient: Option<ActorId>,
    ) -> Result<Vec<AccessRequestView>> {
        let state = self.ledger.state();
        let now = now_ms();
        let mut out = Vec::new();
        let mut files: Vec<_> = match patient {
            Some(p) => state.patients.get_key_value(&p).into_iter().collect(),
            None => state.patients.iter().collect(),
        };
        // In id order, so the list reads the same on every call.
        files.sort_unstable_by_key(|(id, _)| **id);
        for (id, file) in files {
            if authorize(state, session.user, &Action::Refuse, Some(*id), now).is_err() {
                continue;
            }
            for r in file
                .requests
                .iter()
                .filter(|r| r.status == RequestStatus::Pending)
            {
                out.push(AccessRequestView {
                    request_id: r.id.to_string(),
                    patient_id: id.to_string(),
                    requester: r.requester.to_string(),
                    requester_name: self.display_name(&r.requester),
                    level: r.level,
                    reason: r.reason.clone(),
                    time: rfc3339(r.time_ms),
                });
            }
        }
        Ok(out)
    }

    /// Grants a reader access at a level (answering their pending request, if any), wrapping
    /// every data key epoch this user holds for them.
    pub fn grant(
        &mut self,
        session: &Session,
        patient: ActorId,
        grantee: ActorId,
        level: AccessLevel,
        expires_ms: Option<i64>,
    ) -> Result<()> {
        if level == AccessLevel::None {
            return Err(NodeError::invalid(
                "grant information, sample or full; to take access away use revoke",
            ));
        }
        let now = now_ms();
        if expires_ms.is_some_and(|e| e <= now) {
            return Err(NodeError::invalid("the expiry is in the past"));
        }
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::Grant(grantee),
            Some(patient),
            now,
        )?;
        let file = patient_file(state, &patient)?;
        let reader_key = state
            .encryption_key(&grantee)
            .ok_or_else(|| NodeError::UnknownUser(format!("no user {grantee}")))?;
        // Only a full grantee receives data keys: they open every entry.
        let key_wraps = if level == AccessLevel::Full {
            session
                .opened
                .open_all(file, &patient, &self.holders(session))
                .iter()
                .map(|(id, key)| keys::wrap_for(key, *id, &patient, grantee, &reader_key))
                .collect()
        } else {
            Vec::new()
        };
        let tx = self.sign(
            session,
            Payload::GrantAccess {
                patient,
                grantee,
                level,
                expires_ms,
                key_wraps,
            },
        );
        self.commit(vec![tx], &[])?;
        if level < AccessLevel::Full {
            // The grantee receives no data key: the chart as their level shows it, under a key
            // of its own.
            self.publish_views(Some(session), patient)?;
        }
        Ok(())
    }

    /// Refuses a pending request.
    pub fn refuse(&mut self, session: &Session, patient: ActorId, request: TxId) -> Result<()> {
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::Refuse,
            Some(patient),
            now_ms(),
        )?;
        let pending = state.patient(&patient).is_some_and(|f| {
            f.requests
                .iter()
                .any(|r| r.id == request && r.status == RequestStatus::Pending)
        });
        if !pending {
            return Err(NodeError::invalid(format!(
                "no pending request {request} for this patient"
            )));
        }
        let tx = self.sign(session, Payload::RefuseAccess { patient, request });
        self.commit(vec![tx], &[])?;
        Ok(())
    }

    /// Revokes a reader and rotates the patient's data key: the new epoch is wrapped only for the
    /// patient, the clinics and the readers who keep access. Returns the new epoch number.
    pub fn revoke(&mut self, session: &Session, patient: ActorId, reader: ActorId) -> Result<u32> {
        let now = now_ms();
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::Revoke(reader),
            Some(patient),
            now,
        )?;
        let file = patient_file(state, &patient)?;
        // The new key goes to exactly the readers who keep access; every replica checks it.
        let keep = state.required_readers(&patient, file, None, now, Some(reader));
        let new_key = DataKey::from_bytes(home::random());
        let key_wraps = keep
            .iter()
            .filter_map(|r| {
                let enc = state.encryption_key(r)?;
                Some(keys::wrap_for(
                    &new_key,
                    Default::default(),
                    &patient,
                    *r,
                    &enc,
                ))
            })
            .collect();
        let epoch = file.keys.len() as u32;
        let tx = self.sign(
            session,
            Payload::RevokeAccess {
                patient,
                reader,
                key_wraps,
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(epoch)
    }

    /// Opens emergency full access for 24 hours, recorded and flagged to the patient.
    pub fn break_glass(&mut self, session: &Session, patient: ActorId, reason: &str) -> Result<()> {
        validate_name("the reason", reason)?;
        authorize(
            self.ledger.state(),
            session.user,
            &Action::BreakGlass,
            Some(patient),
            now_ms(),
        )?;
        let tx = self.sign(
            session,
            Payload::BreakGlass {
                patient,
                reason: reason.trim().into(),
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(())
    }

    /// Every read, write, grant, revoke and break-glass on a patient's record.
    pub fn audit(&self, session: &Session, patient: ActorId) -> Result<Vec<AuditLine>> {
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::ViewAudit,
            Some(patient),
            now_ms(),
        )?;
        let file = state
            .patient(&patient)
            .ok_or(Denied::UnknownPatient(patient))?;
        Ok(file
            .audit()
            .map(|e| AuditLine {
                time: rfc3339(e.time_ms),
                actor: e.actor.to_string(),
                actor_name: match self.proxy_name(session, patient, &e.actor) {
                    Some(name) => format!("{} (proxy)", name.as_str()),
                    None => self.display_name(&e.actor),
                },
                action: e.action.as_str(),
                level: e.level,
                detail: e.detail,
                tx: e.tx.to_string(),
            })
            .collect())
    }

    /// What others did to the record since `session`'s person last read it themselves (for a
    /// patient: what happened since their last visit); everything by others if they never did.
    pub fn audit_since_own_read(
        &self,
        session: &Session,
        patient: ActorId,
    ) -> Result<Vec<AuditLine>> {
        let me = session.user.to_string();
        let lines = self.audit(session, patient)?;
        let since = lines
            .iter()
            .rposition(|l| l.actor == me && l.action == "read")
            .map_or(0, |at| at + 1);
        Ok(lines
            .into_iter()
            .skip(since)
            .filter(|l| l.actor != me)
            .collect())
    }

    /// The record's break-glass openings, newest first, each with who reviewed it: for the
    /// patient, their proxies, physicians and the clinic's admins (who may read the audit).
    pub fn break_glass_openings(
        &self,
        session: &Session,
        patient: ActorId,
    ) -> Result<Vec<BreakGlassOpening>> {
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::ViewAudit,
            Some(patient),
            now_ms(),
        )?;
        let file = patient_file(state, &patient)?;
        let mut openings: Vec<BreakGlassOpening> = file
            .audit()
            .filter(|e| e.action == carelog_ledger::AuditAction::BreakGlass)
            .map(|e| BreakGlassOpening {
                opening: e.tx.to_string(),
                time: rfc3339(e.time_ms),
                doctor: e.actor.to_string(),
                doctor_name: self.display_name(&e.actor),
                clinic: state
                    .users
                    .get(&e.actor)
                    .map(|u| self.display_name(&u.clinic))
                    .unwrap_or_default(),
                reason: e.detail,
                reviewed_by: file
                    .reviews
                    .iter()
                    .filter(|(opening, _)| *opening == e.tx)
                    .map(|(_, by)| match self.proxy_name(session, patient, by) {
                        _ if *by == patient => "the patient".to_string(),
                        Some(name) => format!("{} (proxy)", name.as_str()),
                        None => self.display_name(by),
                    })
                    .collect(),
            })
            .collect();
        openings.reverse();
        Ok(openings)
    }

    /// The patient, a proxy or an admin of the clinic of record reviews a break-glass opening
    /// (`opening`, its transaction id), with a note; recorded on the ledger and in the audit.
    pub fn review_break_glass(
        &mut self,
        session: &Session,
        patient: ActorId,
        opening: TxId,
        note: &str,
    ) -> Result<()> {
        validate_name("the note", note)?;
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::ReviewBreakGlass,
            Some(patient),
            self.clock(),
        )?;
        let file = patient_file(state, &patient)?;
        let opened = file
            .audit()
            .any(|e| e.tx == opening && e.action == carelog_ledger::AuditAction::BreakGlass);
        if !opened {
            return Err(NodeError::invalid(format!(
                "{opening} is no break-glass opening of this record; `review` lists them"
            )));
        }
        let tx = self.sign(
            session,
            Payload::ReviewBreakGlass {
                patient,
                opening,
                note: note.trim().into(),
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(())
    }
}
