//! `user`, `patient` and `assign`: enrolling staff and patients, their secrets, their doctors.

use carelog_ledger::Role;
use carelog_node::Node;
use serde_json::json;

use super::{ok, sign_in};
use crate::args::{Actor, PatientCommand, UserCommand};
use crate::secrets::{new_passphrase, passphrase};
use crate::{Failure, Output};

/// `user …`.
pub(super) fn user(node: &mut Node, command: UserCommand) -> Result<Output, Failure> {
    match command {
        command @ (UserCommand::Disable { .. } | UserCommand::ReplaceKey { .. }) => {
            crate::standing::user(node, command)
        }
        UserCommand::Add {
            actor,
            role,
            name,
            specialty,
        } => {
            let role: Role = role.parse()?;
            let admin = sign_in(node, &actor.user)?;
            let pass = new_passphrase(&format!("passphrase for {name}"))?;
            let id = node.add_user(&admin, role, &name, specialty.as_deref(), &pass)?;
            Ok(Output::new(
                json!({"user_id": id.to_string()}),
                format!("{role} {name} enrolled: {id}"),
            ))
        }
        UserCommand::Passphrase { actor } => {
            let id = node.resolve_user(&actor.user)?;
            let old = passphrase(&node.describe(&id))?;
            let user = node.unlock(id, &old)?;
            let new = new_passphrase("passphrase")?;
            if new == old {
                return Err("the new passphrase is the old one; nothing was changed".into());
            }
            node.change_passphrase(&user, &new)?;
            Ok(ok(format!(
                "Passphrase changed for {}; the old one no longer opens their keys here.",
                node.describe(&id)
            )))
        }
    }
}

/// `patient …`.
pub(super) fn patient(node: &mut Node, command: PatientCommand) -> Result<Output, Failure> {
    match command {
        command @ (PatientCommand::ReplaceKey { .. } | PatientCommand::Move { .. }) => {
            crate::standing::patient(node, command)
        }
        PatientCommand::Register {
            actor,
            name,
            birth_date,
            sex,
            not_duplicate,
        } => {
            let admin = sign_in(node, &actor.user)?;
            if !not_duplicate
                && let Some(existing) = node
                    .possible_duplicates(&admin, &name, &birth_date)?
                    .first()
            {
                return Err(format!(
                    "{} (born {}, card number {}, id {}) is already registered with the same birth \
                     date and a similar name; open that record, or add --not-duplicate if this is \
                     someone else. Nothing was registered",
                    existing.name, existing.birth_date, existing.card_number, existing.patient_id
                )
                .into());
            }
            let pin = new_passphrase("PIN for the patient")?;
            let (id, card) = node.register_patient(&admin, &name, &birth_date, &sex, &pin)?;
            let content = card.content();
            Ok(Output::new(
                json!({"patient_id": id.to_string(), "card": content.as_str(), "card_number": card.number()}),
                format!(
                    "Patient registered: {id}\nCard number: {}\nCard (print it as a QR code for the patient; it is not kept anywhere else):\n{}",
                    card.number(),
                    content.as_str()
                ),
            ))
        }
        PatientCommand::Find {
            actor,
            name,
            birth_date,
        } => {
            let user = sign_in(node, &actor.user)?;
            let found = node.find_patients(&user, &name, birth_date.as_deref())?;
            let human = if found.is_empty() {
                "No patient found.".to_string()
            } else {
                found
                    .iter()
                    .map(|p| {
                        format!(
                            "{}  born {}  {}  card {}  ({})",
                            p.name, p.birth_date, p.sex, p.card_number, p.patient_id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output::new(json!({ "patients": found }), human))
        }
        PatientCommand::Card {
            actor,
            patient,
            out,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let admin = sign_in(node, &actor.user)?;
            let Some(card) = crate::secrets::card()? else {
                return Err(format!(
                    "no card in $CARELOG_CARD: Carelog keeps no copy of a card's secret, so a card is \
                     printed from the patient's card (its QR content); for a lost card, issue a new \
                     one with `patient replace-key --patient {patient}`"
                )
                .into());
            };
            let face = node.card_face(&admin, patient, &card)?;
            crate::commands::write_file(&out, &carelog_node::card_pdf(&face)?)?;
            Ok(Output::new(
                json!({"card_number": face.card_number, "card": face.content.as_str(), "file": out.display().to_string()}),
                format!(
                    "Card of {} ({}) written to {}.",
                    face.name,
                    face.card_number,
                    out.display()
                ),
            ))
        }
        PatientCommand::Pin { actor } => {
            let patient = sign_in(node, &actor.user)?;
            let pin = new_passphrase("PIN")?;
            let card = node.change_pin(&patient, &pin)?;
            let mut out =
                json!({"ok": true, "card_number": carelog_node::card_number(&patient.user)});
            let mut human =
                "PIN changed; the old PIN no longer opens the patient's keys here.".to_string();
            if let Some(card) = card {
                let content = card.content();
                out["card"] = json!(content.as_str());
                human.push_str(&format!(
                    "\nA card was issued (the keys were sealed under the PIN alone before): print it for the patient:\n{}",
                    content.as_str()
                ));
            }
            Ok(Output::new(out, human))
        }
    }
}

/// `assign`: a doctor on a patient's attention list (as custodian: the family doctor).
pub(super) fn assign(
    node: &mut Node,
    actor: Actor,
    patient: String,
    doctor: String,
    custodian: bool,
) -> Result<Output, Failure> {
    let patient = node.resolve_patient(&patient)?;
    let doctor = node.resolve_user(&doctor)?;
    let admin = sign_in(node, &actor.user)?;
    node.assign(&admin, patient, doctor, custodian)?;
    let role = if custodian {
        "custodian"
    } else {
        "attending physician"
    };
    Ok(ok(format!(
        "{} is now {role} of patient {patient}.",
        node.describe(&doctor)
    )))
}

/// `directory`: the doctors and labs a patient may grant.
pub(super) fn directory(node: &mut Node, actor: Actor, name: String) -> Result<Output, Failure> {
    let user = sign_in(node, &actor.user)?;
    let people = node.directory(&user, &name)?;
    let rows: Vec<serde_json::Value> = people
        .iter()
        .map(|p| {
            json!({
                "id": p.id.to_string(),
                "name": p.name,
                "role": p.role.to_string(),
                "specialty": p.specialty,
                "clinic": p.clinic_name,
                "clinic_id": p.clinic.to_string(),
            })
        })
        .collect();
    let human = people
        .iter()
        .map(|p| {
            format!(
                "{}  {}{}  at {}  ({})",
                p.name,
                p.role,
                p.specialty
                    .as_deref()
                    .map(|s| format!(", {s}"))
                    .unwrap_or_default(),
                p.clinic_name,
                p.id
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::new(
        json!({ "people": rows }),
        if human.is_empty() {
            "No one found.".to_string()
        } else {
            human
        },
    ))
}

/// `proxy add`: a parent, guardian or carer who acts for the patient with their own card.
pub(super) fn add_proxy(
    node: &mut Node,
    actor: Actor,
    patient: String,
    name: String,
) -> Result<Output, Failure> {
    let patient = node.resolve_patient(&patient)?;
    let admin = sign_in(node, &actor.user)?;
    let pin = new_passphrase("PIN for the proxy")?;
    let (proxy, card) = node.add_proxy(&admin, patient, &name, &pin)?;
    let content = card.content();
    Ok(Output::new(
        json!({"proxy_id": proxy.to_string(), "card": content.as_str(), "card_number": card.number()}),
        format!(
            "{} now acts for patient {patient}: proxy {proxy}\nCard number: {}\nCard (print it as a QR code for the proxy; it is not kept anywhere else):\n{}",
            name.trim(),
            card.number(),
            content.as_str()
        ),
    ))
}
