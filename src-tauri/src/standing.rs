//! The admin console's revocations: disable a staff user, replace a lost or stolen key, and, for
//! the health authority, suspend or reinstate a clinic and give a clinic new node keys. Each
//! command is a node call; the ledger's rules decide who may.

use carelog_desktop_api::{
    ClinicRow, ClinicStanding, DisableUser, PatientKeyReplaced, ReplaceClinicKey,
    ReplacePatientKey, ReplaceUserKey, SavedFile,
};
use carelog_node::Replacement;
use tauri::State;

use crate::commands::{
    Answer, authority, invalid, join_request, patient, peer_list, save_invite, user,
};
use crate::desk::{Desk, failure};

/// A staff user of this clinic is disabled: they cannot sign in, and the records they could read
/// get new keys without them. Returns how many records got new keys.
#[tauri::command]
pub async fn disable_user(desk: State<'_, Desk>, args: DisableUser) -> Answer<usize> {
    if args.reason.trim().is_empty() {
        return Err(invalid("say why they are disabled"));
    }
    desk.with_session(|node, session| {
        let id = user(node, &args.user_id)?;
        if id == session.user {
            return Err(invalid(
                "an admin cannot disable themself; ask another admin",
            ));
        }
        node.disable_user(session, id, &args.reason)
            .map_err(failure)
    })
}

/// A staff user of this clinic gets new keys under the passphrase they type.
#[tauri::command]
pub async fn replace_user_key(desk: State<'_, Desk>, args: ReplaceUserKey) -> Answer<()> {
    if args.reason.trim().is_empty() {
        return Err(invalid("say why their keys are replaced"));
    }
    desk.with_session(|node, session| {
        let id = user(node, &args.user_id)?;
        node.replace_user_key(session, id, &args.passphrase, &args.reason)
            .map_err(failure)
    })
}

/// Asks for (or agrees to) new keys for a patient; the first party's window shows the new card.
#[tauri::command]
pub async fn replace_patient_key(
    desk: State<'_, Desk>,
    args: ReplacePatientKey,
) -> Answer<PatientKeyReplaced> {
    if args.reason.trim().is_empty() {
        return Err(invalid("say why the patient needs new keys"));
    }
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let (replacement, card) = node
            .replace_patient_key(session, id, &args.pin, &args.reason)
            .map_err(failure)?;
        Ok(PatientKeyReplaced {
            done: replacement == Replacement::Done,
            card_number: card.as_ref().map(|c| c.number()),
            card: card.map(|c| c.content().to_string()),
        })
    })
}

/// Every clinic of the network and its standing.
#[tauri::command]
pub async fn clinics(desk: State<'_, Desk>) -> Answer<Vec<ClinicRow>> {
    desk.with_session(|node, _| {
        Ok(node
            .clinics()
            .into_iter()
            .map(|clinic| ClinicRow {
                id: clinic.id.to_string(),
                name: clinic.name,
                suspended: clinic.suspended,
                here: clinic.here,
            })
            .collect())
    })
}

/// The health authority suspends a clinic or reinstates it. Returns how many records got new
/// keys.
#[tauri::command]
pub async fn clinic_standing(desk: State<'_, Desk>, args: ClinicStanding) -> Answer<usize> {
    if args.suspend && args.reason.trim().is_empty() {
        return Err(invalid("say why the clinic is suspended"));
    }
    desk.with_session(|node, session| {
        let authority = authority(node, session, &args.authority_passphrase)?;
        let clinic = node.resolve_clinic(&args.clinic_id).map_err(failure)?;
        node.suspend_clinic(&authority, clinic, args.suspend, &args.reason)
            .map_err(failure)
    })
}

/// The health authority gives a clinic new node keys from its new machine's join request; the
/// invite for that machine is saved like an enrolment's.
#[tauri::command]
pub async fn replace_clinic_key(
    desk: State<'_, Desk>,
    args: ReplaceClinicKey,
) -> Answer<SavedFile> {
    if args.reason.trim().is_empty() {
        return Err(invalid("say why the clinic needs new keys"));
    }
    let request = join_request(&args.request_path)?;
    let peers = peer_list(&args.peers)?;
    let (clinic, invite) = desk.with_session(|node, session| {
        let authority = authority(node, session, &args.authority_passphrase)?;
        let clinic = node.resolve_clinic(&args.clinic_id).map_err(failure)?;
        let invite = node
            .replace_clinic_key(&authority, clinic, &request, &peers, &args.reason)
            .map_err(failure)?;
        Ok((clinic, invite))
    })?;
    save_invite(&clinic, &invite)
}
