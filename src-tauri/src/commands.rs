//! The Tauri commands: argument check → node call → typed result. Each answers with a
//! [`Failure`] in words when it does not happen; nothing here logs chart content or keys.

use std::path::Path;
use std::str::FromStr;

use carelog_desktop_api::{
    ApproveClinic, AskAccess, Assign, AuditRow, BreakGlass, ChangePassphrase, ChangePin,
    ChartScreen, ChooseExportFile, ClinicPatient, CreateNetwork, Enroll, ExportChart, Exported,
    Failure, FailureKind, GrantAccess, HomeInfo, ImportRecords, Imported, JoinNetwork, KioskSignIn,
    Me, NewEntry, NewPatient, NewRecordNote, OpenChart, PatientRef, PatientRow, PeerLink,
    PendingRequest, Reader, RefuseRequest, RegisteredPatient, RequestJoin, RevokeAccess, SavedFile,
    SetKiosk, SignIn, StaffMember, StatusBar, SyncNow, UnlockHome, WorklistRow,
};
use carelog_ledger::{ActorId, Role, TxId};
use carelog_node::{Link, NewNetwork, Node};
use tauri::State;

use crate::desk::{self, Desk, failure};
use crate::screens;

pub(crate) type Answer<T> = Result<T, Failure>;

/// Why the chart was opened, as the patient will read it in the access log.
const CHART_PURPOSE: &str = "chart opened in the desktop app";

pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(FailureKind::Invalid, message)
}

pub(crate) fn patient(node: &Node, text: &str) -> Answer<ActorId> {
    if text.trim().is_empty() {
        return Err(invalid("enter the patient id"));
    }
    node.resolve_patient(text.trim()).map_err(failure)
}

pub(crate) fn user(node: &Node, text: &str) -> Answer<ActorId> {
    if text.trim().is_empty() {
        return Err(invalid("choose a person"));
    }
    node.resolve_user(text.trim()).map_err(failure)
}

pub(crate) fn staff_member(person: carelog_node::Person) -> StaffMember {
    StaffMember {
        id: person.id.to_string(),
        name: person.name,
        role: person.role.as_str().into(),
        specialty: person.specialty,
        clinic: person.clinic_name,
        disabled: person.disabled,
    }
}

/// Which home is open.
#[tauri::command]
pub async fn home_info(desk: State<'_, Desk>) -> Answer<HomeInfo> {
    Ok(desk.info())
}

/// Founds a network in the chosen (empty) home.
#[tauri::command]
pub async fn create_network(desk: State<'_, Desk>, args: CreateNetwork) -> Answer<HomeInfo> {
    desk.create_network(
        &NewNetwork {
            network: &args.network,
            clinic: &args.clinic,
            admin: &args.admin,
            admin_passphrase: &args.passphrase,
            authority_passphrase: &args.authority_passphrase,
        },
        &args.node_passphrase,
    )
    .map_err(|f| {
        if matches!(f.kind, FailureKind::Other) && f.message.contains("keyring") {
            Failure::new(
                FailureKind::Invalid,
                format!(
                    "{} — or enter a node passphrase for this computer's home",
                    f.message
                ),
            )
        } else {
            f
        }
    })
}

/// Opens a home whose keys are sealed under a node passphrase.
#[tauri::command]
pub async fn unlock_home(desk: State<'_, Desk>, args: UnlockHome) -> Answer<HomeInfo> {
    desk.unlock_home(&args.passphrase)
}

/// The person touched the window (a key, a click, a touch): the idle lock counts from now.
#[tauri::command]
pub async fn activity(desk: State<'_, Desk>) -> Answer<()> {
    desk.touch();
    Ok(())
}

/// The window becomes the patients' kiosk, or stops being one (whoever was signed in is
/// signed out either way).
#[tauri::command]
pub async fn set_kiosk(desk: State<'_, Desk>, args: SetKiosk) -> Answer<()> {
    desk.set_kiosk(args.on);
    Ok(())
}

/// A staff member changes their own passphrase (asked for the current one again).
#[tauri::command]
pub async fn change_passphrase(desk: State<'_, Desk>, args: ChangePassphrase) -> Answer<()> {
    if args.new.is_empty() {
        return Err(invalid("enter the new passphrase"));
    }
    if args.new == args.old {
        return Err(invalid("the new passphrase is the one you have now"));
    }
    desk.with_session(|node, session| {
        let again = node.unlock_again(session, &args.old).map_err(failure)?;
        node.change_passphrase(&again, &args.new).map_err(failure)
    })
}

/// A patient changes their PIN at the kiosk (asked for the current one again; the card stays).
#[tauri::command]
pub async fn change_pin(desk: State<'_, Desk>, args: ChangePin) -> Answer<()> {
    if args.new == args.old {
        return Err(invalid("the new PIN is the one you have now"));
    }
    desk.with_session(|node, session| {
        let again = node.unlock_again(session, &args.old).map_err(failure)?;
        match node.change_pin(&again, &args.new).map_err(failure)? {
            None => Ok(()),
            // Registered before cards: a new card must be printed at the desk first.
            Some(_) => Err(invalid(
                "your record needs a card first: ask at the desk, then change your PIN here",
            )),
        }
    })
}

/// Opens the demo network's first clinic, building the demo first if it is not there yet.
#[tauri::command]
pub async fn open_demo(desk: State<'_, Desk>) -> Answer<HomeInfo> {
    let dir = desk::data_dir().join("demo");
    let first = dir.join("clinic-1");
    let unlock = Desk::demo_unlock();
    if !first.join("carelog.sqlite3").exists() {
        if dir.exists() {
            // A demo whose building stopped half-way: start it again.
            std::fs::remove_dir_all(&dir).map_err(|e| {
                invalid(format!(
                    "could not clear the unfinished demo under {}: {e}",
                    dir.display()
                ))
            })?;
        }
        // The demo runs its own sync runtime, so it is built off this command's async runtime.
        let building = dir.clone();
        tauri::async_runtime::spawn_blocking(move || build_demo(&building, &Desk::demo_unlock()))
            .await
            .map_err(|e| {
                Failure::new(
                    FailureKind::Other,
                    format!("the demo network could not be built: {e}"),
                )
            })??;
    }
    desk.switch_to(&first, unlock)
}

/// Runs `carelog demo` (installed beside this app, or on the PATH).
fn build_demo(dir: &Path, unlock: &carelog_node::NodeUnlock) -> Answer<()> {
    let authority_passphrase = carelog_node::demo_authority_passphrase();
    // Each step of the demo's story goes to the app's log (it holds no chart content).
    let mut say = |line: String| tracing::info!(target: "carelog_desktop::demo", "{line}");
    carelog_node::build_demo(dir, unlock, &authority_passphrase, &mut say).map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!("the demo network could not be built: {e}"),
        )
    })?;
    Ok(())
}

/// The status bar.
#[tauri::command]
pub async fn status(desk: State<'_, Desk>) -> Answer<StatusBar> {
    desk.with_link(status_bar)
}

fn status_bar(node: &mut Node, link: Result<&Link, &str>) -> Answer<StatusBar> {
    // Blocks another process stored in this home (the CLI, the sync link) join the replica here.
    node.refresh().map_err(failure)?;
    let stats = node.stats().map_err(failure)?;
    let clinic_name = |id: &carelog_ledger::ActorId| node.display_name(id);
    let (online, peers, listening, sync_problem) = match link {
        Ok(link) => {
            let now = link.status();
            let peers = now
                .peers
                .iter()
                .map(|p| PeerLink {
                    addr: p.addr.to_string(),
                    clinic: p.clinic.as_ref().map(clinic_name),
                    state: carelog_node::state_name(p.state).to_string(),
                    last_sync: p.last_sync_ms.map(carelog_node::rfc3339),
                })
                .collect();
            (now.online, peers, Some(link.local_addr().to_string()), None)
        }
        Err(why) => (false, Vec::new(), None, Some(why.to_string())),
    };
    let devices = match link {
        Ok(link) => node.machines_status(
            link.status()
                .peers
                .iter()
                .map(|p| (p.clinic, p.state == carelog_node::LinkState::InSync)),
        ),
        Err(_) => node.machines_status(std::iter::empty()),
    }
    .sentence();
    Ok(StatusBar {
        devices,
        clinic: clinic_name(&node.clinic_id()),
        online,
        pending: stats.pending,
        blocks: stats.blocks,
        peers,
        last_sync: node.last_sync().map_err(failure)?,
        listening,
        sync_problem,
    })
}

/// "Sync now": wakes every link and waits (up to a few seconds) until each reachable peer is in
/// sync again, then says what moved.
#[tauri::command]
pub async fn sync_now(desk: State<'_, Desk>) -> Answer<SyncNow> {
    let before = desk.with_link(|node, link| {
        let link = link.map_err(|why| {
            Failure::new(FailureKind::Other, format!("sync is off: {why}"))
        })?;
        if link.peers().is_empty() && link.status().peers.is_empty() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "this clinic knows no peers yet: start it with --peer ADDR or join with an invite that names them",
            ));
        }
        link.sync_now();
        let stats = node.stats().map_err(failure)?;
        Ok((stats.blocks, stats.pending))
    })?;
    // Give the round a moment; stop early once every link that is up says in-sync.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while std::time::Instant::now() < deadline {
        let settled = desk.with_link(|_, link| {
            Ok(link.is_ok_and(|l| {
                l.status().peers.iter().all(|p| {
                    !matches!(
                        p.state,
                        carelog_node::LinkState::Syncing | carelog_node::LinkState::Connecting
                    )
                })
            }))
        })?;
        if settled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let status = desk.with_link(status_bar)?;
    Ok(SyncNow {
        received: status.blocks.saturating_sub(before.0),
        sent: before.1.saturating_sub(status.pending),
        status,
    })
}

/// This clinic's staff, for the sign-in list.
#[tauri::command]
pub async fn staff(desk: State<'_, Desk>) -> Answer<Vec<StaffMember>> {
    // The sign-in screen asks for this list as soon as it shows: the first ask marks the window
    // interactive for `cargo xtask bench` (which sets CARELOG_STARTUP_PROBE).
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| {
        if std::env::var_os("CARELOG_STARTUP_PROBE").is_some() {
            eprintln!("carelog-desktop: sign-in screen ready");
        }
    });
    desk.with_node(|node| Ok(node.staff().into_iter().map(staff_member).collect()))
}

/// Staff sign-in with a passphrase.
#[tauri::command]
pub async fn sign_in(desk: State<'_, Desk>, args: SignIn) -> Answer<Me> {
    if args.passphrase.is_empty() {
        return Err(invalid("enter your passphrase"));
    }
    let (session, me) = desk.with_node(|node| {
        let id = user(node, &args.user_id)?;
        let me = node
            .person(&id)
            .map(staff_member)
            .ok_or_else(|| invalid("patients identify at the kiosk with their card and PIN"))?;
        let session = node.unlock(id, &args.passphrase).map_err(failure)?;
        Ok((
            session,
            Me {
                id: me.id,
                name: me.name,
                role: me.role,
                records: Vec::new(),
                proxy: false,
                since_last_visit: Vec::new(),
            },
        ))
    })?;
    desk.sign_in(session);
    Ok(me)
}

/// A patient identifies at the kiosk with their card (its QR code) and PIN; a patient registered
/// before cards, with their id or card number and PIN.
#[tauri::command]
pub async fn kiosk_sign_in(desk: State<'_, Desk>, args: KioskSignIn) -> Answer<Me> {
    if args.card.trim().is_empty() {
        return Err(invalid("scan your card (or type what its QR code says)"));
    }
    if args.pin.is_empty() {
        return Err(invalid("enter your PIN"));
    }
    let (session, id, records, since_last_visit) = desk.with_node(|node| {
        let text = args.card.trim();
        let (id, session) = if text.to_ascii_uppercase().starts_with("CL1:") {
            let card = carelog_node::Card::parse(text).map_err(failure)?;
            let id = card_holder(node, &card.patient.to_string())?;
            (
                id,
                node.unlock_patient(id, &card, &args.pin).map_err(failure)?,
            )
        } else {
            let id = card_holder(node, text)?;
            (id, node.unlock(id, &args.pin).map_err(failure)?)
        };
        let records = node.records_of(&session);
        // What happened since the last visit, before this visit's own read.
        let news = match records.first() {
            Some(record) => node
                .audit_since_own_read(&session, *record)
                .map_err(failure)?,
            None => Vec::new(),
        };
        let since_last_visit = audit_rows(node, news);
        let records: Vec<String> = records.iter().map(ActorId::to_string).collect();
        Ok((session, id, records, since_last_visit))
    })?;
    desk.kiosk_sign_in(session);
    let id = id.to_string();
    Ok(Me {
        proxy: !records.contains(&id),
        id,
        name: "Patient".into(),
        role: Role::Patient.as_str().into(),
        records,
        since_last_visit,
    })
}

/// Whoever a card names: a patient, or a proxy who acts for one (both sign in as patients).
fn card_holder(node: &Node, text: &str) -> Answer<ActorId> {
    let id = node.resolve_user(text).map_err(failure)?;
    if node.role_of(&id) != Some(Role::Patient) {
        return Err(Failure::new(
            FailureKind::NotFound,
            "this is not a patient's card: staff sign in on the staff screen",
        ));
    }
    Ok(id)
}

/// Signs out (the kiosk also does this when it locks).
#[tauri::command]
pub async fn sign_out(desk: State<'_, Desk>) -> Answer<()> {
    desk.sign_out();
    Ok(())
}

/// Patients the signed-in user may open: their attention list and grants.
#[tauri::command]
pub async fn my_patients(desk: State<'_, Desk>) -> Answer<Vec<PatientRow>> {
    desk.with_session(|node, session| {
        Ok(node
            .patients(session)
            .map_err(failure)?
            .into_iter()
            .map(|p| PatientRow {
                patient_id: p.patient_id,
                name: p.name,
                level: p.level,
                basis: p.basis,
            })
            .collect())
    })
}

/// Chart entries from other clinics since the signed-in user last asked.
#[tauri::command]
pub async fn new_records(desk: State<'_, Desk>) -> Answer<Vec<NewRecordNote>> {
    desk.with_session(|node, session| {
        Ok(node
            .new_records(session)
            .map_err(failure)?
            .into_iter()
            .map(|r| NewRecordNote {
                patient_id: r.patient_id,
                entry_id: r.entry_id,
                kind: r.kind,
                clinic: r.clinic,
                time: r.time,
            })
            .collect())
    })
}

/// Opens a chart (recorded on the ledger as a read).
#[tauri::command]
pub async fn chart(desk: State<'_, Desk>, args: OpenChart) -> Answer<ChartScreen> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let view = node.chart(session, id, CHART_PURPOSE).map_err(failure)?;
        Ok(screens::chart_screen(id, view))
    })
}

/// Adds a chart entry; returns its id.
#[tauri::command]
pub async fn add_entry(desk: State<'_, Desk>, args: NewEntry) -> Answer<String> {
    if !args.data.is_object() {
        return Err(invalid("the entry has no fields"));
    }
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let given = |text: &Option<String>| text.clone().filter(|t| !t.trim().is_empty());
        let (amends, encounter, allergy_override) = (
            given(&args.amends),
            given(&args.encounter),
            given(&args.allergy_override),
        );
        let options = carelog_node::EntryOptions {
            amends: amends.as_deref(),
            encounter: encounter.as_deref(),
            allergy_override: allergy_override.as_deref(),
            observed_ms: None,
        };
        node.add_entry_with(
            session,
            id,
            args.kind.as_str(),
            &args.data.to_string(),
            &options,
        )
        .map(|tx| tx.to_string())
        .map_err(failure)
    })
}

/// The lab's worklist: the orders its clinic's records wait on, each with the unit and range
/// the bundled table suggests for the result (each record listed is recorded as a read).
#[tauri::command]
pub async fn worklist(desk: State<'_, Desk>) -> Answer<Vec<WorklistRow>> {
    desk.with_session(|node, session| {
        Ok(node
            .worklist(session)
            .map_err(failure)?
            .into_iter()
            .map(|o| {
                let reference = carelog_chart::lab_reference(&o.loinc);
                WorklistRow {
                    patient_id: o.patient_id,
                    patient_name: o.patient_name,
                    birth_date: o.birth_date,
                    sex: o.sex,
                    card_number: o.card_number,
                    entry_id: o.entry_id,
                    loinc: o.loinc,
                    name: o.name,
                    priority: o.priority.as_str().into(),
                    note: o.note,
                    ordered_at: o.ordered_at,
                    ordered_by: o.ordered_by,
                    unit: reference.map(|r| r.unit.to_string()),
                    low: reference.and_then(|r| r.low),
                    high: reference.and_then(|r| r.high),
                }
            })
            .collect())
    })
}

/// Suggestions for a coded field from the bundled tables; reference data, no session needed.
#[tauri::command]
pub async fn lookup_codes(
    args: carelog_desktop_api::CodeQuery,
) -> Answer<Vec<carelog_desktop_api::CodeHit>> {
    let system = match args.system.as_str() {
        "icd10" => carelog_chart::CodeSystem::Icd10,
        "loinc" => carelog_chart::CodeSystem::Loinc,
        "cvx" => carelog_chart::CodeSystem::Cvx,
        "drug" => carelog_chart::CodeSystem::Drug,
        other => return Err(invalid(format!("no code table `{other}`"))),
    };
    Ok(carelog_chart::lookup(system, &args.text, 12)
        .into_iter()
        .map(|c| carelog_desktop_api::CodeHit {
            code: c.code.to_string(),
            display: c.display.to_string(),
        })
        .collect())
}

/// Asks the patient for access.
#[tauri::command]
pub async fn request_access(desk: State<'_, Desk>, args: AskAccess) -> Answer<()> {
    let level = args.level;
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.request_access(session, id, level, &args.reason)
            .map(|_| ())
            .map_err(failure)
    })
}

/// Emergency access for 24 hours, flagged to the patient.
#[tauri::command]
pub async fn break_glass(desk: State<'_, Desk>, args: BreakGlass) -> Answer<()> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.break_glass(session, id, &args.reason).map_err(failure)
    })
}

/// Enrolls a staff user at this clinic.
#[tauri::command]
pub async fn enroll(desk: State<'_, Desk>, args: Enroll) -> Answer<StaffMember> {
    let role = Role::from_str(args.role.trim()).map_err(invalid)?;
    let specialty = args
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && role == Role::Doctor);
    if role == Role::Doctor && specialty.is_none() {
        return Err(invalid("enter the doctor's specialty"));
    }
    desk.with_session(|node, session| {
        let id = node
            .add_user(session, role, &args.name, specialty, &args.passphrase)
            .map_err(failure)?;
        node.person(&id)
            .map(staff_member)
            .ok_or_else(|| invalid("the new user is not in the ledger"))
    })
}

/// Registers a patient; returns the new patient id and what their card carries.
#[tauri::command]
pub async fn register_patient(
    desk: State<'_, Desk>,
    args: NewPatient,
) -> Answer<RegisteredPatient> {
    desk.with_session(|node, session| {
        if !args.not_duplicate {
            crate::front_desk::refuse_duplicate(node, session, &args.name, &args.birth_date)?;
        }
        let (id, card) = node
            .register_patient(session, &args.name, &args.birth_date, &args.sex, &args.pin)
            .map_err(failure)?;
        Ok(RegisteredPatient {
            patient_id: id.to_string(),
            card: card.content().to_string(),
            card_number: card.number(),
        })
    })
}

/// The records this clinic keeps, for its admin (ids only: names are sealed).
#[tauri::command]
pub async fn clinic_patients(desk: State<'_, Desk>) -> Answer<Vec<ClinicPatient>> {
    desk.with_session(|node, session| Ok(screens::clinic_patients(node, session)))
}

/// Every doctor of the network, for assignment.
#[tauri::command]
pub async fn doctors(desk: State<'_, Desk>) -> Answer<Vec<StaffMember>> {
    desk.with_session(|node, _| Ok(node.doctors().into_iter().map(staff_member).collect()))
}

/// Puts a doctor on a patient's attention list (as custodian: the family doctor).
#[tauri::command]
pub async fn assign(desk: State<'_, Desk>, args: Assign) -> Answer<()> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let doctor = user(node, &args.doctor_id)?;
        node.assign(session, id, doctor, args.custodian)
            .map_err(failure)
    })
}

/// A patient's audit trail.
#[tauri::command]
pub async fn audit(desk: State<'_, Desk>, args: PatientRef) -> Answer<Vec<AuditRow>> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        Ok(audit_rows(node, node.audit(session, id).map_err(failure)?))
    })
}

/// Audit lines as the window lists them: newest first, each actor with their clinic.
fn audit_rows(node: &Node, lines: Vec<carelog_node::AuditLine>) -> Vec<AuditRow> {
    lines
        .into_iter()
        .rev()
        .map(|a| AuditRow {
            clinic: a
                .actor
                .parse::<ActorId>()
                .ok()
                .and_then(|id| node.person(&id))
                .map(|p| p.clinic_name),
            time: a.time,
            actor: a.actor,
            actor_name: a.actor_name,
            action: a.action.into(),
            level: a.level,
            detail: a.detail.map(|d| screens::with_names(node, &d)),
        })
        .collect()
}

/// Requests the signed-in patient (or custodian) may decide.
#[tauri::command]
pub async fn pending_requests(desk: State<'_, Desk>) -> Answer<Vec<PendingRequest>> {
    desk.with_session(|node, session| {
        Ok(node
            .pending_requests(session, None)
            .map_err(failure)?
            .into_iter()
            .map(|r| PendingRequest {
                request_id: r.request_id,
                // The patient's name as this person may read it (a family doctor, their own).
                patient_name: r
                    .patient_id
                    .parse()
                    .ok()
                    .and_then(|id| node.patient_listing(session, id))
                    .and_then(|p| p.name),
                patient_id: r.patient_id,
                requester: r.requester,
                requester_name: r.requester_name,
                level: r.level,
                reason: r.reason,
                time: r.time,
            })
            .collect())
    })
}

/// Grants a reader a level.
#[tauri::command]
pub async fn grant(desk: State<'_, Desk>, args: GrantAccess) -> Answer<()> {
    let level = args.level;
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let grantee = user(node, &args.grantee)?;
        let expires = match args.days {
            Some(0) => return Err(invalid("a grant must last at least one day")),
            Some(days) => Some(carelog_node::now_ms() + i64::from(days) * 24 * 3_600_000),
            None => None,
        };
        node.grant(session, id, grantee, level, expires)
            .map_err(failure)
    })
}

/// Refuses a pending request.
#[tauri::command]
pub async fn refuse(desk: State<'_, Desk>, args: RefuseRequest) -> Answer<()> {
    let request = TxId::from_str(args.request_id.trim()).map_err(|e| invalid(e.to_string()))?;
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.refuse(session, id, request).map_err(failure)
    })
}

/// Who may read a record now, for the patient (or custodian) deciding on revocation.
#[tauri::command]
pub async fn readers(desk: State<'_, Desk>, args: PatientRef) -> Answer<Vec<Reader>> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        screens::readers(node, session, id)
    })
}

/// Takes a reader's access away (the record's key rotates).
#[tauri::command]
pub async fn revoke(desk: State<'_, Desk>, args: RevokeAccess) -> Answer<()> {
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let reader = user(node, &args.reader)?;
        node.revoke(session, id, reader)
            .map(|_| ())
            .map_err(failure)
    })
}

fn format(text: &str) -> Answer<carelog_node::Format> {
    carelog_node::Format::from_str(text).map_err(|_| {
        invalid(format!(
            "`{text}` is not an interchange format: choose hl7 or fhir"
        ))
    })
}

/// Asks where to save an export, with the system's save dialog; `None` if the person cancels.
#[tauri::command]
pub async fn choose_export_file(
    app: tauri::AppHandle,
    args: ChooseExportFile,
) -> Answer<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (name, extension) = match args.format.as_str() {
        "pdf" => ("PDF document", "pdf"),
        other => match format(other)? {
            carelog_node::Format::Hl7 => ("HL7 v2 message", "hl7"),
            carelog_node::Format::Fhir => ("FHIR R4 bundle", "json"),
        },
    };
    let chosen = tauri::async_runtime::spawn_blocking(move || {
        app.dialog()
            .file()
            .set_title("Save the export (unencrypted health information)")
            .add_filter(name, &[extension])
            .set_file_name(format!("chart-export.{extension}"))
            .blocking_save_file()
    })
    .await
    .map_err(|e| Failure::new(FailureKind::Other, format!("the save dialog failed: {e}")))?;
    Ok(chosen
        .and_then(|path| path.into_path().ok())
        .map(|path| path.display().to_string()))
}

/// The chart in HL7 v2 or FHIR R4 at the level the user may see, written where the person
/// chose, readable by their account only (it is unencrypted health information); nothing is
/// kept in the app's own folders. The export is recorded as a read in the patient's audit.
#[tauri::command]
pub async fn export_chart(desk: State<'_, Desk>, args: ExportChart) -> Answer<Exported> {
    let format = format(&args.format)?;
    let target = std::path::PathBuf::from(args.path.trim());
    if args.path.trim().is_empty() {
        return Err(invalid("choose where to save the export"));
    }
    if !target.is_absolute() || target.is_dir() {
        return Err(invalid(format!(
            "`{}` is not a file path: choose a file with \"Choose…\"",
            target.display()
        )));
    }
    let text = desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.export(session, id, format).map_err(failure)
    })?;
    write_private(&target, text.as_bytes()).map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!("could not save {}: {e}", target.display()),
        )
    })?;
    Ok(Exported {
        file: target.display().to_string(),
        // HL7 separates segments with CR; the screen shows them as lines.
        text: text.replace('\r', "\n"),
    })
}

/// A visit summary, referral letter or prescription from the chart, as a PDF saved where the
/// person chose, readable by their account only; recorded as a read in the patient's audit.
#[tauri::command]
pub async fn print_document(
    desk: State<'_, Desk>,
    args: carelog_desktop_api::PrintDocument,
) -> Answer<carelog_desktop_api::SavedFile> {
    let target = std::path::PathBuf::from(args.path.trim());
    if args.path.trim().is_empty() || !target.is_absolute() || target.is_dir() {
        return Err(invalid(
            "choose where to save the PDF (\"Choose…\", or type a full file path)",
        ));
    }
    let given = |t: &Option<String>| t.clone().filter(|t| !t.trim().is_empty());
    let document = match args.document.as_str() {
        "visit" => carelog_node::Document::VisitSummary(given(&args.visit)),
        "referral" => match (given(&args.to), given(&args.reason)) {
            (Some(to), Some(reason)) => carelog_node::Document::Referral { to, reason },
            _ => return Err(invalid("a referral letter needs whom it is to and why")),
        },
        "prescription" => carelog_node::Document::Prescription,
        "summary" => carelog_node::Document::PatientSummary,
        other => return Err(invalid(format!("no document `{other}`"))),
    };
    let pdf = desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        node.print_document(session, id, &document).map_err(failure)
    })?;
    write_private(&target, &pdf).map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!("could not save {}: {e}", target.display()),
        )
    })?;
    Ok(carelog_desktop_api::SavedFile {
        file: target.display().to_string(),
    })
}

/// Writes a file readable by its owner only (also when it replaces an older one).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // A file that was there before keeps its mode on open: it is made private too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Imports an ORU^R01 message (or batch) or a FHIR R4 Bundle into the chart it names, as the
/// signed-in user: everything or nothing, refused in words when the policy or the message says no.
#[tauri::command]
pub async fn import_records(desk: State<'_, Desk>, args: ImportRecords) -> Answer<Imported> {
    let format = format(&args.format)?;
    let text = match (args.path.as_deref().map(str::trim), args.text) {
        (Some(path), _) if !path.is_empty() => {
            let bytes =
                std::fs::read(path).map_err(|e| invalid(format!("could not read {path}: {e}")))?;
            String::from_utf8(bytes).map_err(|_| invalid(format!("{path} is not UTF-8 text")))?
        }
        (_, Some(text)) if !text.trim().is_empty() => text,
        _ => return Err(invalid("choose a file or paste a message to import")),
    };
    // Pasting turns HL7's CR separators into line ends; the parser takes either.
    desk.with_session(|node, session| {
        let (patient, ids, warnings) = node.import(session, format, &text).map_err(failure)?;
        Ok(Imported {
            patient_id: patient.to_string(),
            entries: ids.len(),
            warnings,
        })
    })
}

/// Asks to join a network: the signed request is saved under the app's data directory
/// (`join-requests/`) for the person to take to the health authority.
#[tauri::command]
pub async fn request_join(desk: State<'_, Desk>, args: RequestJoin) -> Answer<HomeInfo> {
    let safe: String = args
        .clinic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let file = desk::data_dir()
        .join("join-requests")
        .join(format!("{}.json", safe.trim_matches('-')));
    desk.request_join(
        &args.clinic,
        &args.admin,
        &args.passphrase,
        &args.node_passphrase,
        &file,
    )
}

/// Joins with the health authority's invite file.
#[tauri::command]
pub async fn join_network(desk: State<'_, Desk>, args: JoinNetwork) -> Answer<HomeInfo> {
    let path = args.invite_path.trim();
    if path.is_empty() {
        return Err(invalid("choose the invite file the health authority sent"));
    }
    let bytes = std::fs::read(path).map_err(|e| invalid(format!("could not read {path}: {e}")))?;
    desk.join(&bytes)
}

/// The health authority (an admin at the clinic that founded the network) enrolls a clinic from
/// its request; the invite is saved under the app's data directory (`invites/`).
#[tauri::command]
pub async fn approve_clinic(desk: State<'_, Desk>, args: ApproveClinic) -> Answer<SavedFile> {
    let request = join_request(&args.request_path)?;
    let peers = peer_list(&args.peers)?;
    let (clinic, invite) = desk.with_session(|node, session| {
        let authority = authority(node, session, &args.authority_passphrase)?;
        node.approve(&authority, &request, &peers).map_err(failure)
    })?;
    save_invite(&clinic, &invite)
}

/// The join request a clinic's machine wrote, read from the path the admin typed.
pub(crate) fn join_request(path: &str) -> Answer<Vec<u8>> {
    let path = path.trim();
    if path.is_empty() {
        return Err(invalid("choose the join request the clinic sent"));
    }
    std::fs::read(path).map_err(|e| invalid(format!("could not read {path}: {e}")))
}

/// Peer addresses typed into a form, separated by commas or spaces.
pub(crate) fn peer_list(text: &str) -> Answer<Vec<String>> {
    let mut peers = Vec::new();
    for peer in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        peer.parse::<std::net::SocketAddr>().map_err(|_| {
            invalid(format!(
                "`{peer}` is not an address such as 192.168.1.20:7070"
            ))
        })?;
        peers.push(peer.to_string());
    }
    Ok(peers)
}

/// The health authority's keys, for an admin signed in at the clinic that founded the network.
pub(crate) fn authority(
    node: &Node,
    session: &carelog_node::Session,
    passphrase: &str,
) -> Answer<carelog_node::AuthorityKeys> {
    if node.role_of(&session.user) != Some(Role::Admin) {
        return Err(Failure::new(
            FailureKind::Denied,
            "only a clinic admin acts for the health authority",
        ));
    }
    node.open_authority(passphrase).map_err(failure)
}

/// Saves an invite for a clinic under the app's data directory (`invites/`).
pub(crate) fn save_invite(clinic: &ActorId, invite: &[u8]) -> Answer<SavedFile> {
    let file = desk::data_dir()
        .join("invites")
        .join(format!("{clinic}.json"));
    let saved = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&file, invite));
    saved.map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!(
                "the clinic is enrolled but its invite could not be saved to {}: {e}",
                file.display()
            ),
        )
    })?;
    Ok(SavedFile {
        file: file.display().to_string(),
    })
}
