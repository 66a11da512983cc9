//! `export`, `import`, `bundle` and `backup`: records and homes leaving and arriving.

use std::path::PathBuf;

use carelog_node::Node;
use serde_json::json;

use super::{read_file, sign_in, write_file};
use crate::args::{Actor, BundleCommand};
use crate::secrets::new_passphrase;
use crate::{Failure, Output};

/// `export`: a chart as HL7 v2 or FHIR R4 (audited as a read).
pub(super) fn export(
    node: &mut Node,
    format: String,
    actor: Actor,
    patient: String,
) -> Result<Output, Failure> {
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

/// `import`: HL7 v2 results or a FHIR bundle into a chart.
pub(super) fn import(
    node: &mut Node,
    format: String,
    actor: Actor,
    file: PathBuf,
) -> Result<Output, Failure> {
    let format: carelog_node::Format = format.parse()?;
    let bytes = read_file(&file)?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", file.display()))?;
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

/// `bundle export` and `bundle import`: a record the patient carries to another clinic.
pub(super) fn bundle(node: &mut Node, command: BundleCommand) -> Result<Output, Failure> {
    match command {
        BundleCommand::Export { actor, out } => {
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
        BundleCommand::Import { file } => {
            let bytes = read_file(&file)?;
            let (patient, added) = node.import_bundle(&bytes)?;
            Ok(Output::new(
                json!({"ok": true, "patient_id": patient.to_string(), "blocks_added": added}),
                format!("Bundle of patient {patient} merged: {added} new blocks."),
            ))
        }
    }
}

/// `backup`: the home, sealed under a passphrase.
pub(super) fn backup(node: &mut Node, out: PathBuf) -> Result<Output, Failure> {
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
