//! `ledger` and `status`: the replica's checks and figures, and the links to other clinics.

use carelog_node::Node;
use serde_json::json;

use super::sign_in;
use crate::args::LedgerCommand;
use crate::{Failure, Output};

/// `ledger verify`, `ledger stats` and `ledger evidence`.
pub(super) fn run(node: &mut Node, command: LedgerCommand) -> Result<Output, Failure> {
    match command {
        LedgerCommand::Verify => {
            let progress = crate::progress::Progress::new("Checking every block");
            let (blocks, txs) = node.verify_with(&mut progress.callback())?;
            drop(progress);
            Ok(Output::new(
                json!({"ok": true, "blocks": blocks, "txs": txs}),
                format!("Ledger verified: {blocks} blocks, {txs} transactions."),
            ))
        }
        LedgerCommand::Stats => {
            let s = node.stats()?;
            Ok(Output::new(
                json!({"blocks": s.blocks, "txs": s.txs, "clinics": s.clinics, "state_hash": s.state_hash.to_string(), "pending": s.pending}),
                format!(
                    "{} blocks, {} transactions, {} clinics\nstate hash {}",
                    s.blocks, s.txs, s.clinics, s.state_hash
                ),
            ))
        }
        LedgerCommand::Evidence => {
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
    }
}

/// `status`: online or not, the peers, the outbox, and (for a user) records from elsewhere.
pub(super) fn status(node: &mut Node, user: Option<String>) -> Result<Output, Failure> {
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
    let machines = node.machines_status(link.iter().flat_map(|l| {
        l.peers.iter().map(|p| {
            (
                p.clinic.as_deref().and_then(|c| c.parse().ok()),
                p.state == "in-sync",
            )
        })
    }));
    let mut out = json!({"online": online, "peers": peer_list, "pending": s.pending, "last_sync": last_sync, "devices": machines});
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
    if let Some(line) = machines.sentence() {
        human.push_str(&format!("\n{line}"));
    }
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
