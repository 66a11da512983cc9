//! HL7 v2 and FHIR R4 export and import through the node: the same policy, keys and audit as
//! `chart show` and `chart add`.

use std::str::FromStr;

use carelog_chart::{ChartRecord, EntryData, EntryKind, Summary};
use carelog_interop::PatientExport;
use carelog_ledger::{Action, ActorId, Payload, TxId, authorize};

use crate::error::{NodeError, Result};
use crate::home::{self, now_ms};
use crate::{Node, Session, current_key, patient_file};

/// An interchange format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// HL7 v2.5 ORU^R01.
    Hl7,
    /// FHIR R4 Bundle (collection).
    Fhir,
}

fn interop_err(e: carelog_interop::InteropError) -> NodeError {
    NodeError::invalid(e.to_string())
}

impl Node {
    /// The chart in an interchange format, at the level the user may see; recorded as a read.
    pub fn export(
        &mut self,
        session: &Session,
        patient: ActorId,
        format: Format,
    ) -> Result<String> {
        let (level, records) = self.readable_records(session, patient)?;
        let demographics = records.iter().rev().find_map(|r| match &r.data {
            EntryData::Demographics(d) => Some(d.clone()),
            _ => None,
        });
        let clinic_name = self
            .ledger
            .state()
            .clinics
            .get(&self.clinic)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let message_id = hex::encode(home::random::<10>());
        let export = PatientExport {
            patient_id: &patient.to_string(),
            demographics: demographics.as_ref(),
            level,
            records: &records,
            clinic_name: &clinic_name,
            message_id: &message_id,
            now_ms: now_ms(),
        };
        let text = match format {
            Format::Hl7 => carelog_interop::to_hl7(&export).map_err(interop_err)?,
            Format::Fhir => serde_json::to_string_pretty(
                &carelog_interop::to_fhir(&export).map_err(interop_err)?,
            )
            .expect("JSON values always serialize"),
        };
        let purpose = match format {
            Format::Hl7 => "export hl7",
            Format::Fhir => "export fhir",
        };
        let audit = self.sign(
            session,
            Payload::AuditRead {
                patient,
                level,
                purpose: purpose.into(),
            },
        );
        self.commit(vec![audit], &[])?;
        Ok(text)
    }

    /// Imports an HL7 ORU^R01 message (or a batch) or a FHIR R4 Bundle into the chart of the
    /// patient it names (which the user must be able to write). Everything lands in one block,
    /// or nothing does. Returns the patient, the new entry ids and the importer's warnings.
    pub fn import(
        &mut self,
        session: &Session,
        format: Format,
        text: &str,
    ) -> Result<(ActorId, Vec<TxId>, Vec<String>)> {
        let (patient_text, entries, warnings) = match format {
            Format::Hl7 => {
                let messages = carelog_interop::parse_oru_batch(text).map_err(interop_err)?;
                let mut patient = None;
                let mut entries = Vec::new();
                let mut warnings = Vec::new();
                for m in messages {
                    if patient.as_ref().is_some_and(|p| *p != m.patient_id) {
                        return Err(NodeError::invalid(
                            "the batch holds results for more than one patient; import them one message at a time",
                        ));
                    }
                    patient = Some(m.patient_id);
                    entries.extend(m.results);
                    warnings.extend(m.warnings);
                }
                (patient.unwrap_or_default(), entries, warnings)
            }
            Format::Fhir => {
                let json: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| NodeError::invalid(format!("not JSON: {e}")))?;
                let import = carelog_interop::from_fhir(&json).map_err(interop_err)?;
                let patient = import.patient_id.ok_or_else(|| {
                    NodeError::invalid("the bundle names no patient (Patient.id)")
                })?;
                (patient, import.entries, import.warnings)
            }
        };
        let patient = self.resolve_patient(&patient_text)?;
        let file = patient_file(self.ledger.state(), &patient)?;
        let mut warnings = warnings;
        let entries: Vec<(i64, EntryData)> = entries
            .into_iter()
            .filter(|(_, e)| e.kind() != EntryKind::Demographics)
            .map(|(t, mut e)| {
                // A result may answer an order of this chart; a link to anything else is dropped.
                if let EntryData::Lab(lab) = &mut e
                    && let Some(order) = &lab.order
                    && !file.entries().iter().any(|x| {
                        x.kind == EntryKind::Order && x.id.to_string() == *order
                    })
                {
                    warnings.push(format!(
                        "{} result: order {order} is not an order of this chart; imported without it",
                        lab.name
                    ));
                    lab.order = None;
                }
                (t, e)
            })
            .collect();
        if entries.is_empty() {
            return Err(NodeError::invalid(
                "nothing to import: the message holds no results Carelog can chart",
            ));
        }
        let state = self.ledger.state();
        let now = now_ms();
        for kind in entries.iter().map(|(_, e)| e.kind()) {
            authorize(
                state,
                session.user,
                &Action::Write(kind),
                Some(patient),
                now,
            )?;
        }
        let key_id = current_key(file)?.id;
        let holders = self.holders(session);
        let key = session
            .opened
            .open_epoch(file, &patient, &key_id, &holders)
            .ok_or_else(|| {
                NodeError::NoKey(
                    "the current key is not wrapped for this user or this clinic".into(),
                )
            })?;
        let mut summary: Option<Summary> = None;
        let mut txs = Vec::with_capacity(entries.len());
        for (observed_ms, data) in &entries {
            let change = if matches!(
                data.kind(),
                EntryKind::Condition | EntryKind::Allergy | EntryKind::Medication
            ) {
                let summary = match &mut summary {
                    Some(s) => s,
                    None => summary.insert(self.current_summary(session, patient)?),
                };
                let item = hex::encode(home::random::<16>());
                summary
                    .record(home::random(), &item, data)
                    .map(|c| (c, item))
            } else {
                None
            };
            let (summary_change, summary_item) = change.unzip();
            txs.push(self.entry_tx(
                session,
                patient,
                data,
                summary_change,
                summary_item,
                &key,
                key_id,
                crate::charting::EntryLinks {
                    // The analyzer's or sender's time, kept apart from when it was recorded here.
                    observed_ms: Some(*observed_ms),
                    ..Default::default()
                },
            ));
        }
        let ids = self.commit(txs, &[])?;
        Ok((patient, ids, warnings))
    }

    /// Every entry the user may see, opened, with the level they see it at.
    fn readable_records(
        &self,
        session: &Session,
        patient: ActorId,
    ) -> Result<(carelog_chart::AccessLevel, Vec<ChartRecord>)> {
        let state = self.ledger.state();
        let file = patient_file(state, &patient)?;
        let permit = authorize(state, session.user, &Action::Read, Some(patient), now_ms())?;
        let records = if permit.level < carelog_chart::AccessLevel::Full {
            // Below full: the records of the view published for the reader's level.
            self.open_view(session, patient, file, permit.level)?
                .map(|v| v.records)
                .unwrap_or_default()
        } else {
            self.opened_records(session, patient, file)?
        };
        Ok((permit.level, records))
    }
}

impl FromStr for Format {
    type Err = NodeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "hl7" => Ok(Format::Hl7),
            "fhir" => Ok(Format::Fhir),
            other => Err(NodeError::invalid(format!(
                "unknown format `{other}`; expected hl7 or fhir"
            ))),
        }
    }
}
