//! Each command: parse what a person typed, call the node, shape the output.

use std::path::Path;

use carelog_chart::AccessLevel;
use carelog_ledger::Role;
use carelog_node::{NewNetwork, Node, Session, parse_time};
use serde_json::json;

use crate::args::{
    AccessCommand, BundleCommand, ChartCommand, ClinicCommand, Command, LedgerCommand,
    NetworkCommand, PatientCommand, UserCommand,
};
use crate::secrets::{authority_passphrase, card, new_passphrase, passphrase};
use crate::{Failure, Output, demo};

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Writes a file the command made (a backup, a bundle, an invite), readable by its owner only.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn level(text: &str) -> Result<AccessLevel, Failure> {
    text.parse::<AccessLevel>()
        .map_err(|e| e.to_string().into())
}

/// Resolves `--as`, reads the passphrase and unlocks the user's keys. A patient signs in with
/// their card ($CARELOG_CARD) and PIN.
pub(crate) fn sign_in(node: &Node, user: &str) -> Result<Session, Failure> {
    let id = node.resolve_user(user)?;
    let is_patient = node.ledger().state().patient(&id).is_some();
    if is_patient && let Some(card) = card()? {
        let pin = passphrase(&format!("the PIN of patient {id}"))?;
        return Ok(node.unlock_patient(id, &card, &pin)?);
    }
    let pass = passphrase(&node.describe(&id))?;
    Ok(node.unlock(id, &pass)?)
}

pub(crate) fn ok(human: impl Into<String>) -> Output {
    Output::new(json!({"ok": true}), human)
}

/// Runs one command against a home.
pub fn run(home: &Path, command: Command, json: bool) -> Result<Output, Failure> {
    match command {
        Command::Network {
            command:
                NetworkCommand::Create {
                    network,
                    clinic,
                    admin,
                },
        } => {
            let pass = new_passphrase(&format!("passphrase for {admin}"))?;
            let authority = authority_passphrase(true)?;
            let (_, created) = Node::create_network(
                home,
                &NewNetwork {
                    network: &network,
                    clinic: &clinic,
                    admin: &admin,
                    admin_passphrase: &pass,
                    authority_passphrase: &authority,
                },
            )?;
            Ok(Output::new(
                json!({"network_id": created.network_id.to_string(), "clinic_id": created.clinic_id.to_string(), "admin_id": created.admin_id.to_string()}),
                format!(
                    "Network {network} created at {}.\nClinic {clinic}: {}\nAdmin {admin}: {}",
                    home.display(),
                    created.clinic_id,
                    created.admin_id
                ),
            ))
        }
        Command::Clinic { command } => clinic(home, command),
        Command::Demo { dir } => demo::run(&dir),
        Command::Service { command } => crate::service::run(command),
        Command::Restore { file, no_peers } => {
            let sealed = read_file(&file)?;
            let pass = passphrase("the backup")?;
            let mut node = Node::restore(home, &sealed, &pass)?;
            if no_peers {
                node.skip_catch_up()?;
            }
            let (blocks, txs) = node.verify()?;
            let next = if no_peers {
                "It seals again at once."
            } else {
                "Sync with a peer (`carelog sync --peer ADDR`) before charting: until then it seals nothing, so its chain cannot fork."
            };
            Ok(Output::new(
                json!({"ok": true, "blocks": blocks, "txs": txs, "awaiting_catch_up": !no_peers}),
                format!(
                    "Restored into {}: {blocks} blocks, {txs} transactions, verified. {next}",
                    home.display()
                ),
            ))
        }
        Command::Recover { peers, network } => crate::network::recover(home, &peers, network),
        Command::Serve { listen, peers } => {
            crate::network::serve(crate::progress::open(home)?, listen, peers, json)
        }
        Command::Sync { peer } => crate::network::sync(crate::progress::open(home)?, peer),
        command => {
            let mut node = crate::progress::open(home)?;
            on_node(&mut node, command)
        }
    }
}

fn clinic(home: &Path, command: ClinicCommand) -> Result<Output, Failure> {
    match command {
        command @ (ClinicCommand::Suspend { .. }
        | ClinicCommand::Reinstate { .. }
        | ClinicCommand::ReplaceKey { .. }) => crate::standing::clinic(home, command),
        ClinicCommand::Request { clinic, admin, out } => {
            let pass = new_passphrase(&format!("passphrase for {admin}"))?;
            let (clinic_id, admin_id) = Node::request_join(home, &clinic, &admin, &pass, &out)?;
            Ok(Output::new(
                json!({"clinic_id": clinic_id.to_string(), "admin_id": admin_id.to_string()}),
                format!(
                    "Join request for {clinic} written to {}. Take it to the health authority.",
                    out.display()
                ),
            ))
        }
        ClinicCommand::Approve { file, out, peers } => {
            let request = read_file(&file)?;
            let mut node = crate::progress::open(home)?;
            let authority = node.open_authority(&authority_passphrase(false)?)?;
            let (clinic_id, invite) = node.approve(&authority, &request, &peers)?;
            write_file(&out, &invite)?;
            Ok(Output::new(
                json!({"clinic_id": clinic_id.to_string()}),
                format!(
                    "Clinic {clinic_id} enrolled; invite written to {}.",
                    out.display()
                ),
            ))
        }
        ClinicCommand::Join { invite } => {
            let invite = read_file(&invite)?;
            let node = Node::join(home, &invite)?;
            let (node, notes) = crate::network::sync_after_join(node)?;
            for note in &notes {
                eprintln!("carelog: {note}");
            }
            Ok(Output::new(
                json!({"network_id": node.network_id().to_string(), "clinic_id": node.clinic_id().to_string(), "sync": notes}),
                format!(
                    "Joined network {} as clinic {}.",
                    node.network_id(),
                    node.clinic_id()
                ),
            ))
        }
    }
}

fn on_node(node: &mut Node, command: Command) -> Result<Output, Failure> {
    match command {
        Command::User {
            command: command @ (UserCommand::Disable { .. } | UserCommand::ReplaceKey { .. }),
        } => crate::standing::user(node, command),
        Command::Patient {
            command: command @ (PatientCommand::ReplaceKey { .. } | PatientCommand::Move { .. }),
        } => crate::standing::patient(node, command),
        Command::User {
            command:
                UserCommand::Add {
                    actor,
                    role,
                    name,
                    specialty,
                },
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
        Command::Patient {
            command:
                PatientCommand::Register {
                    actor,
                    name,
                    birth_date,
                    sex,
                },
        } => {
            let admin = sign_in(node, &actor.user)?;
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
        Command::Patient {
            command: PatientCommand::Pin { actor },
        } => {
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
        Command::User {
            command: UserCommand::Passphrase { actor },
        } => {
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
        Command::Assign {
            actor,
            patient,
            doctor,
            custodian,
        } => {
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
        Command::Chart {
            command:
                ChartCommand::Add {
                    actor,
                    patient,
                    kind,
                    data,
                    amends,
                },
        } => {
            let patient = node.resolve_patient(&patient)?;
            let data = match data.strip_prefix('@') {
                Some(path) => String::from_utf8(read_file(Path::new(path))?)
                    .map_err(|_| format!("{path} is not UTF-8 text"))?,
                None => data,
            };
            let user = sign_in(node, &actor.user)?;
            let id = node.add_entry(&user, patient, &kind, &data, amends.as_deref())?;
            Ok(Output::new(
                json!({"entry_id": id.to_string()}),
                format!("{kind} entry added: {id}"),
            ))
        }
        Command::Chart {
            command: ChartCommand::Show { actor, patient },
        } => {
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let view = node.chart(&user, patient, "chart show")?;
            let human = serde_json::to_string_pretty(&view)?;
            Ok(Output::new(view, human))
        }
        Command::Patients { actor } => {
            let user = sign_in(node, &actor.user)?;
            let list = node.patients(&user)?;
            let human = list
                .iter()
                .map(|p| {
                    format!(
                        "{}  {:<11} {}",
                        p.patient_id,
                        p.level.to_string(),
                        p.name.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Output::new(
                json!({"patients": list}),
                if human.is_empty() {
                    "No patients.".into()
                } else {
                    human
                },
            ))
        }
        Command::Access { command } => access(node, command),
        Command::Breakglass {
            actor,
            patient,
            reason,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            node.break_glass(&user, patient, &reason)?;
            Ok(ok(
                "Emergency access opened for 24 hours; the patient and the clinic admin will see it.",
            ))
        }
        Command::Audit { actor, patient } => {
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let events = node.audit(&user, patient)?;
            let human = events
                .iter()
                .map(|e| {
                    format!(
                        "{}  {:<12} {:<24} {}",
                        e.time,
                        e.action,
                        e.actor_name,
                        e.detail.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Output::new(json!({"events": events}), human))
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let progress = crate::progress::Progress::new("Checking every block");
            let (blocks, txs) = node.verify_with(&mut progress.callback())?;
            drop(progress);
            Ok(Output::new(
                json!({"ok": true, "blocks": blocks, "txs": txs}),
                format!("Ledger verified: {blocks} blocks, {txs} transactions."),
            ))
        }
        Command::Ledger {
            command: LedgerCommand::Stats,
        } => {
            let s = node.stats()?;
            Ok(Output::new(
                json!({"blocks": s.blocks, "txs": s.txs, "clinics": s.clinics, "state_hash": s.state_hash.to_string(), "pending": s.pending}),
                format!(
                    "{} blocks, {} transactions, {} clinics\nstate hash {}",
                    s.blocks, s.txs, s.clinics, s.state_hash
                ),
            ))
        }
        Command::Ledger {
            command: LedgerCommand::Evidence,
        } => {
            let evidence = node.evidence()?;
            let human = if evidence.is_empty() {
                "No clinic has been caught sealing two blocks at one height.".to_string()
            } else {
                evidence
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {} ({}) sealed {} and {} at height {}; recorded {}{}",
                            e.kind,
                            e.clinic,
                            e.clinic_id,
                            e.first,
                            e.second,
                            e.height,
                            e.recorded,
                            if e.proven {
                                "; both seals check"
                            } else {
                                "; THE PROOF NO LONGER CHECKS"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output::new(json!({"evidence": evidence}), human))
        }
        Command::Status { user } => {
            let s = node.stats()?;
            let peers = node.peers()?;
            let last_sync = node.last_sync()?;
            // A running `serve` on this home reports its links; without one the node is offline.
            let link = node.link_status()?;
            let online = link.as_ref().is_some_and(|l| l.online);
            let peer_list = match &link {
                Some(l) => json!(l.peers),
                None => json!(
                    peers
                        .iter()
                        .map(|p| json!({"addr": p, "state": "offline"}))
                        .collect::<Vec<_>>()
                ),
            };
            let mut out = json!({"online": online, "peers": peer_list, "pending": s.pending, "last_sync": last_sync});
            let mut human = format!(
                "{}; {} peers; {} blocks waiting to be sent; last sync {}",
                if online {
                    "online"
                } else if link.is_some() {
                    "serving, no peer connected"
                } else {
                    "offline (no serve running)"
                },
                peer_list.as_array().map_or(0, Vec::len),
                s.pending,
                last_sync.as_deref().unwrap_or("never")
            );
            if let Some(user) = user {
                let session = sign_in(node, &user)?;
                let records = node.new_records(&session)?;
                human.push_str(&format!(
                    "\n{} new records from other clinics",
                    records.len()
                ));
                for r in &records {
                    human.push_str(&format!(
                        "\n  {}  {} for patient {} from {}",
                        r.time, r.kind, r.patient_id, r.clinic
                    ));
                }
                out["new_records"] = json!(records);
            }
            Ok(Output::new(out, human))
        }
        Command::Export {
            format,
            actor,
            patient,
        } => {
            let format: carelog_node::Format = format.parse()?;
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let text = node.export(&user, patient, format)?;
            let json = match format {
                carelog_node::Format::Fhir => serde_json::from_str(&text)?,
                carelog_node::Format::Hl7 => json!({"format": "hl7", "message": text}),
            };
            // HL7 segments are separated by CR as the standard says; a terminal shows them as lines.
            Ok(Output::new(json, text))
        }
        Command::Import {
            format,
            actor,
            file,
        } => {
            let format: carelog_node::Format = format.parse()?;
            let bytes = read_file(&file)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text", file.display()))?;
            let user = sign_in(node, &actor.user)?;
            let (patient, ids, warnings) = node.import(&user, format, &text)?;
            for w in &warnings {
                eprintln!("carelog: {w}");
            }
            Ok(Output::new(
                json!({"ok": true, "patient_id": patient.to_string(), "entry_ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>(), "warnings": warnings}),
                format!(
                    "Imported {} entries into the chart of patient {patient}.",
                    ids.len()
                ),
            ))
        }
        Command::Bundle {
            command: BundleCommand::Export { actor, out },
        } => {
            let patient = sign_in(node, &actor.user)?;
            let bytes = node.export_bundle(&patient)?;
            write_file(&out, &bytes)?;
            Ok(Output::new(
                json!({"ok": true, "bytes": bytes.len()}),
                format!(
                    "Bundle written to {} ({} bytes).",
                    out.display(),
                    bytes.len()
                ),
            ))
        }
        Command::Bundle {
            command: BundleCommand::Import { file },
        } => {
            let bytes = read_file(&file)?;
            let (patient, added) = node.import_bundle(&bytes)?;
            Ok(Output::new(
                json!({"ok": true, "patient_id": patient.to_string(), "blocks_added": added}),
                format!("Bundle of patient {patient} merged: {added} new blocks."),
            ))
        }
        Command::Backup { out } => {
            let pass = new_passphrase("passphrase for the backup")?;
            let sealed = node.backup(&pass)?;
            write_file(&out, &sealed)?;
            Ok(Output::new(
                json!({"ok": true, "bytes": sealed.len()}),
                format!(
                    "Backup written to {} ({} bytes, sealed).",
                    out.display(),
                    sealed.len()
                ),
            ))
        }
        Command::Network { .. }
        | Command::Clinic { .. }
        | Command::Demo { .. }
        | Command::Service { .. }
        | Command::Restore { .. }
        | Command::Recover { .. }
        | Command::Serve { .. }
        | Command::Sync { .. } => Err("this command does not run on an open home".into()),
    }
}

fn access(node: &mut Node, command: AccessCommand) -> Result<Output, Failure> {
    match command {
        AccessCommand::Request {
            actor,
            patient,
            level: l,
            reason,
        } => {
            let l = level(&l)?;
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let id = node.request_access(&user, patient, l, &reason)?;
            Ok(Output::new(
                json!({"request_id": id.to_string()}),
                format!("Request sent: {id}"),
            ))
        }
        AccessCommand::Requests { actor, patient } => {
            let patient = patient.map(|p| node.resolve_patient(&p)).transpose()?;
            let user = sign_in(node, &actor.user)?;
            let list = node.pending_requests(&user, patient)?;
            let human = list
                .iter()
                .map(|r| {
                    format!(
                        "{}  {} asks for {}: {}",
                        r.request_id, r.requester_name, r.level, r.reason
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Output::new(
                json!({"requests": list}),
                if human.is_empty() {
                    "No pending requests.".into()
                } else {
                    human
                },
            ))
        }
        AccessCommand::Grant {
            actor,
            patient,
            to,
            level: l,
            expires,
        } => {
            let l = level(&l)?;
            let expires = expires.map(|e| parse_time(&e)).transpose()?;
            let patient = node.resolve_patient(&patient)?;
            let to = node.resolve_user(&to)?;
            let user = sign_in(node, &actor.user)?;
            node.grant(&user, patient, to, l, expires)?;
            Ok(ok(format!("{} now has {l} access.", node.describe(&to))))
        }
        AccessCommand::Refuse {
            actor,
            patient,
            request,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let request = request
                .parse()
                .map_err(|e: carelog_ledger::IdParseError| e.to_string())?;
            let user = sign_in(node, &actor.user)?;
            node.refuse(&user, patient, request)?;
            Ok(ok("Request refused."))
        }
        AccessCommand::Revoke {
            actor,
            patient,
            from,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let from = node.resolve_user(&from)?;
            let user = sign_in(node, &actor.user)?;
            let epoch = node.revoke(&user, patient, from)?;
            Ok(Output::new(
                json!({"ok": true, "key_epoch": epoch}),
                format!("Access revoked; the record's key rotated to epoch {epoch}."),
            ))
        }
    }
}
