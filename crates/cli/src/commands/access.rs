//! `access`: asking for, granting, refusing and revoking access to a record.

use carelog_chart::AccessLevel;
use carelog_node::{Node, parse_time};
use serde_json::json;

use super::{ok, sign_in};
use crate::args::AccessCommand;
use crate::{Failure, Output};

fn level(text: &str) -> Result<AccessLevel, Failure> {
    text.parse::<AccessLevel>()
        .map_err(|e| e.to_string().into())
}

/// `access request`, `requests`, `grant`, `refuse` and `revoke`.
pub(super) fn run(node: &mut Node, command: AccessCommand) -> Result<Output, Failure> {
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
