//! Revocation: disabling staff, suspending clinics, replacing lost or stolen keys, moving a
//! record.

use std::path::Path;

use carelog_node::{Node, Replacement};
use serde_json::json;

use crate::args::{ClinicCommand, PatientCommand, UserCommand};
use crate::commands::{ok, read_file, sign_in, write_file};
use crate::secrets::{authority_passphrase, new_passphrase};
use crate::{Failure, Output};

/// `user disable` and `user replace-key`.
pub fn user(node: &mut Node, command: UserCommand) -> Result<Output, Failure> {
    match command {
        UserCommand::Disable {
            actor,
            target,
            reason,
        } => {
            let user = node.resolve_user(&target)?;
            let admin = sign_in(node, &actor.user)?;
            let rotated = node.disable_user(&admin, user, &reason)?;
            Ok(Output::new(
                json!({"ok": true, "rotated": rotated}),
                format!(
                    "{} is disabled: they cannot sign in or act. {rotated} record(s) of this \
                     clinic were given new keys without them.",
                    node.describe(&user)
                ),
            ))
        }
        UserCommand::ReplaceKey {
            actor,
            target,
            reason,
        } => {
            let user = node.resolve_user(&target)?;
            let admin = sign_in(node, &actor.user)?;
            let pass = new_passphrase(&format!("passphrase for {}", node.describe(&user)))?;
            node.replace_user_key(&admin, user, &pass, &reason)?;
            Ok(ok(format!(
                "{} has new keys; the old ones sign nothing from now on.",
                node.describe(&user)
            )))
        }
        UserCommand::Add { .. } | UserCommand::Passphrase { .. } => {
            Err("not a standing command".into())
        }
    }
}

/// `patient replace-key` and `patient move`.
pub fn patient(node: &mut Node, command: PatientCommand) -> Result<Output, Failure> {
    match command {
        PatientCommand::ReplaceKey {
            actor,
            patient,
            reason,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let party = sign_in(node, &actor.user)?;
            let asked_before = !node.key_requests(patient)?.is_empty();
            let pin = if asked_before {
                String::new()
            } else {
                new_passphrase("PIN for the patient")?
            };
            let (status, card) = node.replace_patient_key(&party, patient, &pin, &reason)?;
            let (word, human) = match status {
                Replacement::Asked => (
                    "asked",
                    "Asked for new keys; a second party (the admin of the clinic of record, the \
                     custodian or the health authority) must ask too.",
                ),
                Replacement::Done => (
                    "done",
                    "The patient has new keys; the old ones sign nothing from now on.",
                ),
            };
            let mut out = json!({"ok": true, "status": word});
            let mut human = human.to_string();
            if let Some(card) = card {
                // The new keys open only with this card and the new PIN: print it now.
                let content = card.content();
                out["card"] = json!(content.as_str());
                out["card_number"] = json!(card.number());
                human.push_str(&format!(
                    "\nThe patient's new card (print it; it is kept nowhere else): {}",
                    content.as_str()
                ));
            }
            Ok(Output::new(out, human))
        }
        PatientCommand::Move { actor, to } => {
            let clinic = node.resolve_clinic(&to)?;
            let patient = sign_in(node, &actor.user)?;
            node.move_record(&patient, clinic)?;
            Ok(ok(format!(
                "The record is now held by {}.",
                node.describe(&clinic)
            )))
        }
        PatientCommand::Register { .. }
        | PatientCommand::Pin { .. }
        | PatientCommand::Card { .. }
        | PatientCommand::Find { .. } => Err("not a standing command".into()),
    }
}

/// `clinic suspend`, `clinic reinstate` and `clinic replace-key`, on the founding home.
pub fn clinic(home: &Path, command: ClinicCommand) -> Result<Output, Failure> {
    let mut node = crate::progress::open(home)?;
    match command {
        ClinicCommand::Suspend { clinic, reason } => {
            let clinic = node.resolve_clinic(&clinic)?;
            let authority = node.open_authority(&authority_passphrase(false)?)?;
            let rotated = node.suspend_clinic(&authority, clinic, true, &reason)?;
            Ok(Output::new(
                json!({"ok": true, "rotated": rotated}),
                format!(
                    "{} is suspended: its later blocks and its handshakes are refused.",
                    node.describe(&clinic)
                ),
            ))
        }
        ClinicCommand::Reinstate { clinic } => {
            let clinic = node.resolve_clinic(&clinic)?;
            let authority = node.open_authority(&authority_passphrase(false)?)?;
            node.suspend_clinic(&authority, clinic, false, "")?;
            Ok(ok(format!("{} is reinstated.", node.describe(&clinic))))
        }
        ClinicCommand::ReplaceKey {
            file,
            clinic,
            out,
            peers,
            reason,
        } => {
            let request = read_file(&file)?;
            let clinic = node.resolve_clinic(&clinic)?;
            let authority = node.open_authority(&authority_passphrase(false)?)?;
            let invite = node.replace_clinic_key(&authority, clinic, &request, &peers, &reason)?;
            write_file(&out, &invite)?;
            Ok(Output::new(
                json!({"clinic_id": clinic.to_string()}),
                format!(
                    "{} has new node keys; invite for its new machine written to {}.",
                    node.describe(&clinic),
                    out.display()
                ),
            ))
        }
        ClinicCommand::Request { .. }
        | ClinicCommand::Approve { .. }
        | ClinicCommand::Join { .. } => Err("not a standing command".into()),
    }
}
