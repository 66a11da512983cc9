//! Break-glass in the window: the emergency summary the patient's card opens at any clinic of
//! the network, and the review of each opening by the patient, a proxy or the clinic's admin.
//! The node asks the policy and records every read and review on the ledger.

use carelog_desktop_api::{EmergencyCard, EmergencySummary, Opening, PatientRef, ReviewOpening};
use carelog_ledger::TxId;
use carelog_node::Card;
use serde_json::Value;
use tauri::State;

use crate::commands::{Answer, invalid, patient};
use crate::desk::{Desk, failure};
use crate::my_record::{allergy_line, medication_lines, problem_lines};

/// After breaking the glass: the patient's emergency summary, opened with their card.
#[tauri::command]
pub async fn emergency_summary(
    desk: State<'_, Desk>,
    args: EmergencyCard,
) -> Answer<Option<EmergencySummary>> {
    if args.card.trim().is_empty() {
        return Err(invalid(
            "scan the patient's card, or type what its QR code holds",
        ));
    }
    let card = Card::parse(&args.card).map_err(failure)?;
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let summary = node
            .read_emergency_summary(session, id, &card)
            .map_err(failure)?;
        Ok(summary.as_ref().map(summary_words))
    })
}

/// The summary the card opened, in the lines the screen shows.
pub(crate) fn summary_words(summary: &Value) -> EmergencySummary {
    EmergencySummary {
        allergies: summary["allergies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(allergy_line)
            .collect(),
        problems: problem_lines(&summary["problems"]).0,
        medications: medication_lines(&summary["current_medications"]),
        contacts: summary["emergency_contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect(),
    }
}

/// The record's break-glass openings, newest first, with who reviewed each.
#[tauri::command]
pub async fn openings(desk: State<'_, Desk>, args: PatientRef) -> Answer<Vec<Opening>> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let list = node.break_glass_openings(session, id).map_err(failure)?;
        Ok(list
            .into_iter()
            .map(|o| Opening {
                opening: o.opening,
                time: o.time,
                doctor: o.doctor_name,
                clinic: o.clinic,
                reason: o.reason.unwrap_or_default(),
                reviewed_by: o.reviewed_by,
            })
            .collect())
    })
}

/// Reviews one opening with a note, on the ledger.
#[tauri::command]
pub async fn review_opening(desk: State<'_, Desk>, args: ReviewOpening) -> Answer<()> {
    let opening: TxId = args
        .opening
        .trim()
        .parse()
        .map_err(|_| invalid("this is not one of the record's break-glass openings"))?;
    if args.note.trim().is_empty() {
        return Err(invalid(
            "say in a few words whether this opening was right (for example \"I was brought in unconscious\")",
        ));
    }
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.review_break_glass(session, id, opening, args.note.trim())
            .map_err(failure)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_is_said_in_the_kiosks_words() {
        let said = summary_words(&json!({
            "allergies": [{"item": "a", "substance": "Penicillin", "reaction": "rash", "severity": "moderate"}],
            "problems": [
                {"name": "Type 2 diabetes", "status": "active", "onset": "2025-12-17"},
                {"name": "Acute bronchitis", "status": "resolved", "onset": "2026-04-18", "resolved": "2026-05-06"}
            ],
            "current_medications": [{"drug": "Metformin 500 mg", "dose": "500 mg", "route": "oral", "start": "2025-12-17"}],
            "emergency_contacts": ["Maria Marsh"]
        }));
        assert_eq!(said.allergies, ["Penicillin: rash (moderate)"]);
        assert_eq!(said.problems, ["Type 2 diabetes (since 2025-12-17)"]);
        assert_eq!(
            said.medications,
            ["Metformin 500 mg: 500 mg, oral, since 2025-12-17"]
        );
    }

    #[test]
    fn a_summary_without_lists_is_empty_rather_than_a_failure() {
        assert_eq!(summary_words(&json!({})), EmergencySummary::default());
    }
}
