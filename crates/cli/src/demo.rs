//! `carelog demo`: three clinic homes with staff, patients and charts, told as a story (built
//! by `carelog_node::build_demo`, which the window's "Open the demo network" calls too).

use std::path::Path;

use carelog_ledger::ActorId;
use carelog_node::NodeUnlock;
use serde_json::json;

use crate::{Failure, Output};

/// Every demo staff user's passphrase.
pub const STAFF_PASSPHRASE: &str = carelog_node::DEMO_STAFF_PASSPHRASE;
/// Every demo patient's PIN (each has their own card).
pub const PATIENT_PIN: &str = carelog_node::DEMO_PATIENT_PIN;

/// How the demo homes' keys are sealed: `$CARELOG_NODE_PASSPHRASE` (or its file) if set, else
/// the demo's own node passphrase, never the keyring (the demo is thrown away).
fn demo_unlock() -> Result<NodeUnlock, Failure> {
    Ok(NodeUnlock::from_sources(
        std::env::var(carelog_node::NODE_PASSPHRASE_VAR).ok(),
        std::env::var_os(carelog_node::NODE_PASSPHRASE_FILE_VAR)
            .map(std::path::PathBuf::from)
            .as_deref(),
        || NodeUnlock::passphrase(carelog_node::DEMO_NODE_PASSPHRASE),
    )?)
}

/// Builds the demo network under `dir` and returns what was made.
pub fn run(dir: &Path) -> Result<Output, Failure> {
    let unlock = demo_unlock()?;
    let authority_passphrase = carelog_node::demo_authority_passphrase();
    let mut story = Vec::new();
    // The story goes to stderr as it happens, so a long run shows progress.
    let mut say = |line: String| {
        eprintln!("{line}");
        story.push(line);
    };
    let demo = carelog_node::build_demo(dir, &unlock, &authority_passphrase, &mut say)?;
    say(format!(
        "Staff passphrase: {STAFF_PASSPHRASE}   patient PIN: {PATIENT_PIN} (with the patient's card)"
    ));
    say("Patients' cards (at the kiosk, paste the card, then type the PIN; the number may be read aloud at the desk):".into());
    for (id, card) in &demo.cards {
        say(format!(
            "  {}  patient {id}  card {}",
            card.number(),
            card.content().as_str()
        ));
    }
    say(match &unlock {
        NodeUnlock::Passphrase(_)
            if std::env::var_os(carelog_node::NODE_PASSPHRASE_VAR).is_none()
                && std::env::var_os(carelog_node::NODE_PASSPHRASE_FILE_VAR).is_none() =>
        {
            format!(
                "The demo homes' keys are sealed under the demo node passphrase \"{}\": export CARELOG_NODE_PASSPHRASE with it to use them from the command line.",
                carelog_node::DEMO_NODE_PASSPHRASE
            )
        }
        _ => "The demo homes' keys are sealed under the node passphrase from the environment."
            .to_string(),
    });
    let homes: Vec<serde_json::Value> = demo
        .homes
        .iter()
        .map(|home| {
            json!({
                "clinic": home.clinic,
                "home": home.home.display().to_string(),
                "clinic_id": home.clinic_id.to_string(),
                "patients": home.patients.iter().map(ActorId::to_string).collect::<Vec<_>>(),
                "cards": home.patients.iter().filter_map(|id| demo.cards.get(id)).map(|card| {
                    json!({"patient_id": card.patient.to_string(), "card_number": card.number(), "card": card.content().as_str()})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Output::new(
        json!({"dir": dir.display().to_string(), "homes": homes, "story": story}),
        format!("Demo network ready under {}.", dir.display()),
    ))
}
