//! A lab's worklist: the outstanding orders of the records its clinic holds, with what matches a
//! specimen to a patient (name, birth date, sex, card number) and nothing else of the chart.
//!
//! A lab holds no patient keys: the node opens the orders, the results that answer them and the
//! demographics with its clinic's key, as it seals a lab's results with it. Every record on the
//! list is a read the patient sees in their audit (`WorklistRead`).

use carelog_chart::{ChartRecord, EntryKind, Priority};
use carelog_ledger::{Action, ActorId, PatientFile, Payload, authorize};
use serde::Serialize;

use crate::error::{NodeError, Result};
use crate::home::now_ms;
use crate::{Node, OwnTx, Session};

/// An order waiting for a result, as a lab's worklist shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorklistOrder {
    /// The patient.
    pub patient_id: String,
    /// The patient's name, if their demographics entry opens here.
    pub patient_name: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// `female`, `male` or `other`.
    pub sex: Option<String>,
    /// The number printed on the patient's card.
    pub card_number: String,
    /// The order entry, which the result names as its `order`.
    pub entry_id: String,
    /// LOINC code of the test.
    pub loinc: String,
    /// The test in words.
    pub name: String,
    /// How soon: routine, urgent or stat.
    pub priority: Priority,
    /// The orderer's note for the lab.
    pub note: Option<String>,
    /// When it was ordered (RFC 3339).
    pub ordered_at: String,
    /// Who ordered it.
    pub ordered_by: String,
}

/// The entries a worklist opens: nothing beyond what it shows and what answers an order.
const WORKLIST_KINDS: [EntryKind; 3] = [EntryKind::Order, EntryKind::Lab, EntryKind::Demographics];

impl Node {
    /// The outstanding orders of this clinic's records for its lab user, most urgent and then
    /// oldest first; each record listed is recorded on the ledger as a read of its orders.
    pub fn worklist(&mut self, session: &Session) -> Result<Vec<WorklistOrder>> {
        let mut tries = 0;
        loop {
            let (orders, reads) = self.worklist_view(session)?;
            // Nothing outstanding: the lab saw nothing of anyone's record.
            if reads.is_empty() {
                return Ok(orders);
            }
            match self.commit(reads, &[]) {
                // Another writer to this home sealed first: look again after its block.
                Err(NodeError::Stale) if tries < 4 => tries += 1,
                other => return other.map(|_| orders),
            }
        }
    }

    /// The worklist and the signed reads that must be committed before it is shown.
    fn worklist_view(&self, session: &Session) -> Result<(Vec<WorklistOrder>, Vec<OwnTx>)> {
        let state = self.ledger.state();
        let now = now_ms();
        let clinic = self.clinic;
        authorize(state, session.user, &Action::Worklist { clinic }, None, now)?;
        // Whether a record has orders at all is in the clear; only those are opened.
        let mut files: Vec<(&ActorId, &PatientFile)> = state
            .patients
            .iter()
            .filter(|(_, f)| f.clinic == clinic)
            .filter(|(_, f)| f.entries().iter().any(|e| e.kind == EntryKind::Order))
            .collect();
        files.sort_unstable_by_key(|(id, _)| **id);
        let mut orders = Vec::new();
        let mut reads = Vec::new();
        for (patient, file) in files {
            if authorize(
                state,
                session.user,
                &Action::ReadOrders,
                Some(*patient),
                now,
            )
            .is_err()
            {
                continue;
            }
            let records = self.worklist_records(session, *patient, file)?;
            let waiting = carelog_chart::outstanding_orders(&records);
            if waiting.is_empty() {
                continue;
            }
            let identity = crate::charting::current_identity(&records);
            reads.push(self.sign(session, Payload::WorklistRead { patient: *patient }));
            orders.extend(waiting.into_iter().map(|o| {
                WorklistOrder {
                    patient_id: patient.to_string(),
                    patient_name: identity.as_ref().map(|d| d.name.clone()),
                    birth_date: identity
                        .as_ref()
                        .map(|d| carelog_chart::date_string(d.birth_date)),
                    sex: identity.as_ref().map(|d| d.sex.clone()),
                    card_number: crate::card::card_number(patient),
                    entry_id: o.entry_id,
                    loinc: o.loinc,
                    name: o.name,
                    priority: o.priority.unwrap_or(Priority::Routine),
                    note: o.note,
                    ordered_at: o.time,
                    ordered_by: o.ordered_by,
                }
            }));
        }
        orders.sort_by(|a, b| {
            (urgency(a.priority), &a.ordered_at, &a.entry_id).cmp(&(
                urgency(b.priority),
                &b.ordered_at,
                &b.entry_id,
            ))
        });
        Ok((orders, reads))
    }

    /// The orders, results and demographics of a record that open with the session's keys or
    /// this clinic's; an entry that does not open is left out (the chart lists it as set aside).
    fn worklist_records(
        &self,
        session: &Session,
        patient: ActorId,
        file: &PatientFile,
    ) -> Result<Vec<ChartRecord>> {
        let keys = session
            .opened
            .open_all(file, &patient, &self.holders(session));
        let mut records = Vec::new();
        for entry in file
            .entries()
            .iter()
            .filter(|e| WORKLIST_KINDS.contains(&e.kind))
        {
            let Some((key_id, key)) = file
                .entry_key(entry)
                .and_then(|epoch| keys.iter().find(|(id, _)| *id == epoch.id))
            else {
                continue;
            };
            match self.open_entry(&session.read, patient, entry, key_id, key) {
                Ok(opened) => records.push(opened.record),
                Err(NodeError::Unopenable(why)) => {
                    tracing::warn!(entry = %entry.id, %why, "a chart entry does not open; left off the worklist");
                }
                Err(other) => return Err(other),
            }
        }
        Ok(records)
    }
}

/// Stat first, then urgent, then routine.
fn urgency(priority: Priority) -> u8 {
    match priority {
        Priority::Stat => 0,
        Priority::Urgent => 1,
        Priority::Routine => 2,
    }
}
