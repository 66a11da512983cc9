//! A visit and what hangs on it: encounters, laboratory orders and immunizations.
//!
//! Entries written during a visit name its encounter; a lab result that answers an order names
//! the order. Both links are entry ids, checked here for shape and by the node for existence.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::record::{LINE_MAX_CHARS, date_string, opt_date_text, optional, required};
use crate::{ChartError, EntryKind, check_loinc};

/// A visit: why the patient came, and when when it differs from when it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encounter {
    /// Why the patient came, e.g. "check-up" or "fever for three days".
    pub reason: String,
    /// The day of the visit, if it is not the day it is written.
    #[serde(
        default,
        with = "opt_date_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<Date>,
    /// Where the visit took place, when not at the writing clinic (e.g. "home visit").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// How soon an order's result is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// In the usual course.
    Routine,
    /// Sooner than routine.
    Urgent,
    /// At once.
    Stat,
}

impl Priority {
    /// The lowercase word, as the JSON of an order spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Urgent => "urgent",
            Priority::Stat => "stat",
        }
    }
}

/// A laboratory order: the LOINC-coded test a result will answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// LOINC code of the test, e.g. `2345-7`.
    pub loinc: String,
    /// The test in words, e.g. "Glucose".
    pub name: String,
    /// How soon; routine when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// A note for the lab (fasting, clinical question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A vaccine given, with its CDC CVX code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Immunization {
    /// CVX code, one to three digits, e.g. `03` (MMR).
    pub cvx: String,
    /// The vaccine in words.
    pub name: String,
    /// The day it was given.
    #[serde(with = "crate::record::date_text")]
    pub date: Date,
    /// Dose number in the series, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<u32>,
    /// Lot number, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
}

/// Checks an entry id written as a link (64 lowercase hex digits); returns it trimmed and lower-cased.
pub fn check_entry_ref(kind: EntryKind, field: &str, text: &str) -> Result<String, ChartError> {
    let id = text.trim().to_ascii_lowercase();
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ChartError::invalid(
            kind,
            format!("{field} `{text}` is not an entry id (64 hex digits, as chart add printed it)"),
        ))
    }
}

impl Encounter {
    /// Trims and checks the reason and location.
    pub fn normalized(&self) -> Result<Encounter, ChartError> {
        let k = EntryKind::Encounter;
        Ok(Encounter {
            reason: required(
                k,
                "reason",
                &self.reason,
                LINE_MAX_CHARS,
                "say why the patient came, e.g. \"check-up\"",
            )?,
            date: self.date,
            location: optional(k, "location", self.location.as_deref())?,
        })
    }
}

impl Order {
    /// Trims and checks the LOINC code, the name and the note.
    pub fn normalized(&self) -> Result<Order, ChartError> {
        let k = EntryKind::Order;
        let loinc = self.loinc.trim().to_string();
        check_loinc(&loinc).map_err(|m| ChartError::invalid(k, m))?;
        Ok(Order {
            loinc,
            name: required(
                k,
                "name",
                &self.name,
                LINE_MAX_CHARS,
                "give the test name, e.g. \"Glucose\"",
            )?,
            priority: self.priority,
            note: optional(k, "note", self.note.as_deref())?,
        })
    }
}

impl Immunization {
    /// Trims and checks the CVX code, name, dose and lot.
    pub fn normalized(&self) -> Result<Immunization, ChartError> {
        let k = EntryKind::Immunization;
        let cvx = self.cvx.trim().to_string();
        if !(1..=3).contains(&cvx.len()) || !cvx.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ChartError::invalid(
                k,
                format!(
                    "CVX code `{}` is not one to three digits, e.g. 03 for MMR",
                    self.cvx
                ),
            ));
        }
        if let Some(dose) = self.dose
            && !(1..=20).contains(&dose)
        {
            return Err(ChartError::invalid(
                k,
                format!("dose {dose} is outside 1–20"),
            ));
        }
        Ok(Immunization {
            cvx,
            name: required(
                k,
                "name",
                &self.name,
                LINE_MAX_CHARS,
                "give the vaccine's name, e.g. \"MMR\"",
            )?,
            date: self.date,
            dose: self.dose,
            lot: optional(k, "lot", self.lot.as_deref())?,
        })
    }

    /// "MMR (CVX 03) on 2026-03-01".
    pub fn label(&self) -> String {
        format!(
            "{} (CVX {}) on {}",
            self.name,
            self.cvx,
            date_string(self.date)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntryData;

    fn err(kind: EntryKind, json: &str) -> String {
        EntryData::parse(kind, json).unwrap_err().to_string()
    }

    #[test]
    fn an_encounter_needs_a_reason() {
        let e = EntryData::parse(EntryKind::Encounter, r#"{"reason":" check-up "}"#).unwrap();
        assert_eq!(e.to_json()["reason"], "check-up");
        assert_eq!(
            err(EntryKind::Encounter, r#"{"reason":"  "}"#),
            "encounter: reason is empty; say why the patient came, e.g. \"check-up\""
        );
        assert!(
            err(
                EntryKind::Encounter,
                r#"{"reason":"x","date":"2026-02-30"}"#
            )
            .contains("not a day")
        );
    }

    #[test]
    fn an_order_checks_its_loinc_code() {
        assert!(
            EntryData::parse(EntryKind::Order, r#"{"loinc":"2345-7","name":"Glucose"}"#).is_ok()
        );
        assert!(
            err(EntryKind::Order, r#"{"loinc":"2345-8","name":"Glucose"}"#).contains("needs 7")
        );
        assert!(
            err(
                EntryKind::Order,
                r#"{"loinc":"2345-7","name":"Glucose","priority":"soon"}"#
            )
            .contains("unknown variant")
        );
    }

    #[test]
    fn an_immunization_checks_code_dose_and_date() {
        let i = EntryData::parse(
            EntryKind::Immunization,
            r#"{"cvx":"03","name":"MMR","date":"2026-03-01","dose":1}"#,
        )
        .unwrap();
        assert_eq!(i.to_json()["cvx"], "03");
        assert!(
            err(
                EntryKind::Immunization,
                r#"{"cvx":"ABC","name":"MMR","date":"2026-03-01"}"#
            )
            .contains("CVX code")
        );
        assert!(
            err(
                EntryKind::Immunization,
                r#"{"cvx":"03","name":"MMR","date":"2026-03-01","dose":0}"#
            )
            .contains("dose 0")
        );
        assert!(
            err(EntryKind::Immunization, r#"{"cvx":"03","name":"MMR"}"#)
                .contains("missing field `date`")
        );
    }

    #[test]
    fn entry_links_are_entry_ids() {
        let id = "ab".repeat(32);
        assert_eq!(
            check_entry_ref(EntryKind::Lab, "order", &id.to_uppercase()),
            Ok(id)
        );
        assert!(check_entry_ref(EntryKind::Lab, "order", "e1").is_err());
    }
}
