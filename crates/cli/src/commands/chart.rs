//! `chart`, `patients`, `orders`, `breakglass` and `audit`: charting and reading, and who read.

use std::path::Path;

use carelog_node::{Document, EntryOptions, Node};
use serde_json::json;

use super::{ok, read_file, sign_in};
use crate::args::{Actor, ChartCommand};
use crate::{Failure, Output};

/// `chart add` and `chart show`.
pub(super) fn run(node: &mut Node, command: ChartCommand) -> Result<Output, Failure> {
    match command {
        ChartCommand::Add {
            actor,
            patient,
            kind,
            data,
            amends,
            encounter,
            allergy_override,
        } => {
            let patient = node.resolve_patient(&patient)?;
            let data = match data.strip_prefix('@') {
                Some(path) => String::from_utf8(read_file(Path::new(path))?)
                    .map_err(|_| format!("{path} is not UTF-8 text"))?,
                None => data,
            };
            let user = sign_in(node, &actor.user)?;
            let options = EntryOptions {
                amends: amends.as_deref(),
                encounter: encounter.as_deref(),
                allergy_override: allergy_override.as_deref(),
                observed_ms: None,
            };
            let id = node.add_entry_with(&user, patient, &kind, &data, &options)?;
            Ok(Output::new(
                json!({"entry_id": id.to_string()}),
                format!("{kind} entry added: {id}"),
            ))
        }
        ChartCommand::Print {
            actor,
            patient,
            document,
            visit,
            to,
            reason,
            out,
        } => {
            let document = match (document.trim(), to, reason) {
                ("visit" | "visit-summary", _, _) => Document::VisitSummary(visit),
                ("referral", Some(to), Some(reason)) => Document::Referral { to, reason },
                ("referral", _, _) => {
                    return Err("a referral letter needs --to (whom) and --reason (why)".into());
                }
                ("prescription", _, _) => Document::Prescription,
                ("summary", _, _) => Document::PatientSummary,
                (other, _, _) => {
                    return Err(format!(
                        "unknown document `{other}`; expected visit, referral, prescription or summary"
                    )
                    .into());
                }
            };
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let pdf = node.print_document(&user, patient, &document)?;
            crate::commands::write_file(&out, &pdf)?;
            let file = out.display().to_string();
            Ok(Output::new(
                json!({"file": file, "document": document.name(), "bytes": pdf.len()}),
                format!("{} written to {file}", document.name()),
            ))
        }
        ChartCommand::Show { actor, patient } => {
            let patient = node.resolve_patient(&patient)?;
            let user = sign_in(node, &actor.user)?;
            let view = node.chart(&user, patient, "chart show")?;
            let human = serde_json::to_string_pretty(&view)?;
            Ok(Output::new(view, human))
        }
    }
}

/// `patients`: the records the user may open, with their level.
pub(super) fn patients(node: &mut Node, actor: Actor) -> Result<Output, Failure> {
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

/// `orders`: a lab's worklist, one order a line (most urgent, then oldest, first).
pub(super) fn orders(node: &mut Node, actor: Actor) -> Result<Output, Failure> {
    let user = sign_in(node, &actor.user)?;
    let orders = node.worklist(&user)?;
    let rows: Vec<[String; 6]> = orders
        .iter()
        .map(|o| {
            let patient = format!(
                "{} ({}, {})",
                o.patient_name.as_deref().unwrap_or("name sealed"),
                o.birth_date.as_deref().unwrap_or("?"),
                o.sex.as_deref().unwrap_or("?")
            );
            let mut test = format!("{} ({})", o.name, o.loinc);
            if let Some(note) = &o.note {
                test.push_str(&format!(" — {note}"));
            }
            [
                o.ordered_at
                    .chars()
                    .take(16)
                    .collect::<String>()
                    .replace('T', " "),
                o.priority.as_str().to_string(),
                patient,
                test,
                o.ordered_by.clone(),
                o.entry_id.clone(),
            ]
        })
        .collect();
    let human = if rows.is_empty() {
        "No orders are waiting for a result.".to_string()
    } else {
        table(
            [
                "ORDERED",
                "PRIORITY",
                "PATIENT",
                "TEST",
                "BY",
                "ORDER ENTRY",
            ],
            &rows,
        )
    };
    Ok(Output::new(json!({"orders": orders}), human))
}

/// Rows under a header, each column as wide as its widest cell.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    std::iter::once(line(header.to_vec()))
        .chain(
            rows.iter()
                .map(|r| line(r.iter().map(String::as_str).collect())),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// `breakglass`: emergency access for 24 hours, audited.
pub(super) fn breakglass(
    node: &mut Node,
    actor: Actor,
    patient: String,
    reason: String,
) -> Result<Output, Failure> {
    let patient = node.resolve_patient(&patient)?;
    let user = sign_in(node, &actor.user)?;
    // With the patient's card, the emergency summary it opens (any clinic of the network); a
    // card of someone else is refused before anything is recorded.
    let card = crate::secrets::card()?;
    if let Some(card) = card.as_ref().filter(|c| c.patient != patient) {
        return Err(format!(
            "the card in $CARELOG_CARD belongs to patient {}, not to {patient}; nothing was recorded",
            card.patient
        )
        .into());
    }
    node.break_glass(&user, patient, &reason)?;
    let summary = match card {
        Some(card) => node.read_emergency_summary(&user, patient, &card)?,
        None => None,
    };
    let human = match &summary {
        Some(s) => format!(
            "Emergency access opened for 24 hours; the patient and the clinic admin will see it.\nEmergency summary (from the patient's card):\n{s:#}"
        ),
        None => {
            "Emergency access opened for 24 hours; the patient and the clinic admin will see it."
                .to_string()
        }
    };
    Ok(Output::new(
        json!({"ok": true, "emergency_summary": summary}),
        human,
    ))
}

/// `audit`: every read, entry and access change of a record.
/// `review`: the record's break-glass openings; with an opening and a note, its review.
pub(super) fn review(
    node: &mut Node,
    actor: Actor,
    patient: String,
    review: Option<(String, String)>,
) -> Result<Output, Failure> {
    let patient = node.resolve_patient(&patient)?;
    let user = sign_in(node, &actor.user)?;
    if let Some((opening, note)) = review {
        let opening = opening
            .trim()
            .parse()
            .map_err(|_| format!("`{opening}` is not an opening id; `review` lists them"))?;
        node.review_break_glass(&user, patient, opening, &note)?;
        return Ok(ok(
            "The break-glass opening is reviewed; the record's audit shows it.",
        ));
    }
    let openings = node.break_glass_openings(&user, patient)?;
    let human = if openings.is_empty() {
        "No break-glass opening of this record.".to_string()
    } else {
        openings
            .iter()
            .map(|o| {
                format!(
                    "{}  {} ({}): {}  {}\n  opening {}",
                    o.time,
                    o.doctor_name,
                    o.clinic,
                    o.reason.as_deref().unwrap_or(""),
                    if o.reviewed_by.is_empty() {
                        "NOT REVIEWED".to_string()
                    } else {
                        format!("reviewed by {}", o.reviewed_by.join(", "))
                    },
                    o.opening
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Output::new(json!({"openings": openings}), human))
}

pub(super) fn audit(
    node: &mut Node,
    actor: Actor,
    patient: String,
    new: bool,
) -> Result<Output, Failure> {
    let patient = node.resolve_patient(&patient)?;
    let user = sign_in(node, &actor.user)?;
    let events = if new {
        node.audit_since_own_read(&user, patient)?
    } else {
        node.audit(&user, patient)?
    };
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
    let human = if new && events.is_empty() {
        "Nothing new since you last read this record.".to_string()
    } else {
        human
    };
    Ok(Output::new(json!({"events": events}), human))
}
