//! Each command: parse what a person typed, call the node, shape the output. Commands that
//! run on an open home live in a module per subcommand.

mod access;
mod chart;
mod interchange;
mod ledger;
mod people;

use std::path::Path;

use carelog_ledger::Role;
use carelog_node::{NewNetwork, Node, Session};
use serde_json::json;

use crate::args::{ClinicCommand, Command, NetworkCommand};
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

/// Resolves `--as`, reads the passphrase and unlocks the user's keys. A patient signs in with
/// their card ($CARELOG_CARD) and PIN.
pub(crate) fn sign_in(node: &Node, user: &str) -> Result<Session, Failure> {
    let id = node.resolve_user(user)?;
    let is_patient = node.role_of(&id) == Some(Role::Patient);
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
        Command::Device { command } => crate::devices::run(home, command),
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
        Command::User { command } => people::user(node, command),
        Command::Patient { command } => people::patient(node, command),
        Command::Assign {
            actor,
            patient,
            doctor,
            custodian,
        } => people::assign(node, actor, patient, doctor, custodian),
        Command::Chart { command } => chart::run(node, command),
        Command::Patients { actor } => chart::patients(node, actor),
        Command::Orders { actor } => chart::orders(node, actor),
        Command::Directory { actor, name } => people::directory(node, actor, name),
        Command::Proxy {
            command:
                crate::args::ProxyCommand::Add {
                    actor,
                    patient,
                    name,
                },
        } => people::add_proxy(node, actor, patient, name),
        Command::Breakglass {
            actor,
            patient,
            reason,
        } => chart::breakglass(node, actor, patient, reason),
        Command::Audit {
            actor,
            patient,
            new,
        } => chart::audit(node, actor, patient, new),
        Command::Review {
            actor,
            patient,
            opening,
            note,
        } => chart::review(node, actor, patient, opening.zip(note)),
        Command::Access { command } => access::run(node, command),
        Command::Ledger { command } => ledger::run(node, command),
        Command::Status { user } => ledger::status(node, user),
        Command::Export {
            format,
            actor,
            patient,
        } => interchange::export(node, format, actor, patient),
        Command::Import {
            format,
            actor,
            file,
        } => interchange::import(node, format, actor, file),
        Command::Bundle { command } => interchange::bundle(node, command),
        Command::Backup { out } => interchange::backup(node, out),
        Command::Network { .. }
        | Command::Clinic { .. }
        | Command::Device { .. }
        | Command::Demo { .. }
        | Command::Service { .. }
        | Command::Restore { .. }
        | Command::Recover { .. }
        | Command::Serve { .. }
        | Command::Sync { .. } => Err("this command does not run on an open home".into()),
    }
}
