//! `EntryData`: the clinical content of one chart entry, its JSON form and its sealed-payload bytes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::json_message;
use crate::{
    Allergy, ChartError, Condition, Demographics, Encounter, EntryKind, Immunization, LabResult,
    Medication, Note, Order, Vitals,
};

/// The content of one chart entry; always normalized and validated when it came from `parse` or `from_bytes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
pub enum EntryData {
    /// Vital signs.
    Vitals(Vitals),
    /// A laboratory result.
    Lab(LabResult),
    /// A clinical note.
    Note(Note),
    /// A diagnosis.
    Condition(Condition),
    /// An allergy.
    Allergy(Allergy),
    /// A drug exposure.
    Medication(Medication),
    /// Patient identity (registration, and corrections as amendments).
    Demographics(Demographics),
    /// A visit.
    Encounter(Encounter),
    /// A laboratory order.
    Order(Order),
    /// A vaccine given.
    Immunization(Immunization),
}

/// The sealed-payload envelope read back by `from_bytes`: the kind tag, then the data as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    kind: EntryKind,
    data: serde_json::Value,
}

/// A `--data` example per kind, shown when the input is not a JSON object at all.
fn example(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Vitals => r#"{"systolic":128,"diastolic":82,"heart_rate":71}"#,
        EntryKind::Lab => {
            r#"{"loinc":"2345-7","name":"Glucose","value":5.4,"unit":"mmol/L","low":3.9,"high":5.6}"#
        }
        EntryKind::Note => r#"{"title":"Follow-up","text":"…"}"#,
        EntryKind::Condition => r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
        EntryKind::Allergy => r#"{"substance":"Penicillin","reaction":"rash"}"#,
        EntryKind::Medication => {
            r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30}"#
        }
        EntryKind::Demographics => {
            r#"{"name":"Paula Ester","birth_date":"1980-04-02","sex":"female"}"#
        }
        EntryKind::Encounter => r#"{"reason":"check-up"}"#,
        EntryKind::Order => r#"{"loinc":"2345-7","name":"Glucose"}"#,
        EntryKind::Immunization => r#"{"cvx":"03","name":"MMR","date":"2026-03-01"}"#,
    }
}

/// Deserializes one kind's struct from a JSON object, naming the kind in any error.
fn decode<T: DeserializeOwned>(kind: EntryKind, json: &str) -> Result<T, ChartError> {
    serde_json::from_str(json).map_err(|e| ChartError::invalid(kind, json_message(&e)))
}

impl EntryData {
    /// Parses and validates the `--data` JSON for `kind`; unknown fields are refused.
    pub fn parse(kind: EntryKind, json: &str) -> Result<EntryData, ChartError> {
        if !json.trim_start().starts_with('{') {
            return Err(ChartError::invalid(
                kind,
                format!("expected a JSON object such as {}", example(kind)),
            ));
        }
        let raw = match kind {
            EntryKind::Vitals => EntryData::Vitals(decode(kind, json)?),
            EntryKind::Lab => EntryData::Lab(decode(kind, json)?),
            EntryKind::Note => EntryData::Note(decode(kind, json)?),
            EntryKind::Condition => EntryData::Condition(decode(kind, json)?),
            EntryKind::Allergy => EntryData::Allergy(decode(kind, json)?),
            EntryKind::Medication => EntryData::Medication(decode(kind, json)?),
            EntryKind::Demographics => EntryData::Demographics(decode(kind, json)?),
            EntryKind::Encounter => EntryData::Encounter(decode(kind, json)?),
            EntryKind::Order => EntryData::Order(decode(kind, json)?),
            EntryKind::Immunization => EntryData::Immunization(decode(kind, json)?),
        };
        raw.normalized()
    }

    /// The kind of entry this is.
    pub fn kind(&self) -> EntryKind {
        match self {
            EntryData::Vitals(_) => EntryKind::Vitals,
            EntryData::Lab(_) => EntryKind::Lab,
            EntryData::Note(_) => EntryKind::Note,
            EntryData::Condition(_) => EntryKind::Condition,
            EntryData::Allergy(_) => EntryKind::Allergy,
            EntryData::Medication(_) => EntryKind::Medication,
            EntryData::Demographics(_) => EntryKind::Demographics,
            EntryData::Encounter(_) => EntryKind::Encounter,
            EntryData::Order(_) => EntryKind::Order,
            EntryData::Immunization(_) => EntryKind::Immunization,
        }
    }

    /// The measured values this entry holds (vitals: one per value; lab: one; others: none).
    pub fn observations(&self) -> Vec<crate::Observation> {
        match self {
            EntryData::Vitals(v) => v.observations(),
            EntryData::Lab(l) => vec![l.observation()],
            _ => Vec::new(),
        }
    }

    /// A trimmed, checked copy (lab flags filled in); what `parse` returns.
    pub fn normalized(&self) -> Result<EntryData, ChartError> {
        Ok(match self {
            EntryData::Vitals(v) => {
                let v = v.with_bmi();
                v.validate()?;
                EntryData::Vitals(v)
            }
            EntryData::Lab(l) => {
                let mut l = l.clone();
                l.normalize();
                l.validate()?;
                EntryData::Lab(l)
            }
            EntryData::Note(n) => EntryData::Note(n.normalized()?),
            EntryData::Condition(c) => EntryData::Condition(c.normalized()?),
            EntryData::Allergy(a) => EntryData::Allergy(a.normalized()?),
            EntryData::Medication(m) => EntryData::Medication(m.normalized()?),
            EntryData::Demographics(d) => EntryData::Demographics(d.normalized()?),
            EntryData::Encounter(e) => EntryData::Encounter(e.normalized()?),
            EntryData::Order(o) => EntryData::Order(o.normalized()?),
            EntryData::Immunization(i) => EntryData::Immunization(i.normalized()?),
        })
    }

    /// Checks the data as `parse` would, without changing it.
    pub fn validate(&self) -> Result<(), ChartError> {
        self.normalized().map(|_| ())
    }

    /// The data as the JSON object the CLI accepts for this kind (round-trips through `parse`).
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            EntryData::Vitals(v) => serde_json::to_value(v),
            EntryData::Lab(l) => serde_json::to_value(l),
            EntryData::Note(n) => serde_json::to_value(n),
            EntryData::Condition(c) => serde_json::to_value(c),
            EntryData::Allergy(a) => serde_json::to_value(a),
            EntryData::Medication(m) => serde_json::to_value(m),
            EntryData::Demographics(d) => serde_json::to_value(d),
            EntryData::Encounter(e) => serde_json::to_value(e),
            EntryData::Order(o) => serde_json::to_value(o),
            EntryData::Immunization(i) => serde_json::to_value(i),
        };
        // Plain structs of strings, finite numbers and dates always serialize; `Null` marks the impossible.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Canonical sealed-payload bytes: `{"kind":…,"data":…}` as compact JSON in field order.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads bytes made by `to_bytes`, validating them as `parse` would.
    pub fn from_bytes(bytes: &[u8]) -> Result<EntryData, ChartError> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| ChartError::Corrupt(json_message(&e)))?;
        if !envelope.data.is_object() {
            return Err(ChartError::Corrupt(format!(
                "{} data is not a JSON object",
                envelope.kind
            )));
        }
        EntryData::parse(envelope.kind, &envelope.data.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli_examples() -> Vec<(EntryKind, &'static str)> {
        EntryKind::ALL.iter().map(|&k| (k, example(k))).collect()
    }

    #[test]
    fn cli_examples_parse_and_round_trip() {
        for (kind, json) in cli_examples() {
            let data = EntryData::parse(kind, json).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(data.kind(), kind);
            let again = EntryData::parse(kind, &data.to_json().to_string()).unwrap();
            assert_eq!(again, data);
            assert_eq!(EntryData::from_bytes(&data.to_bytes()).unwrap(), data);
        }
    }

    #[test]
    fn lab_flag_is_filled_from_the_range() {
        let data = EntryData::parse(EntryKind::Lab, example(EntryKind::Lab)).unwrap();
        assert_eq!(data.to_json()["abnormal"], "N");
    }

    #[test]
    fn messages_name_the_kind_and_the_problem() {
        let err = |kind, json| EntryData::parse(kind, json).unwrap_err().to_string();
        assert_eq!(
            err(EntryKind::Vitals, r#"{"systolic":400}"#),
            "vitals: systolic 400 mmHg is outside 40–300"
        );
        assert_eq!(
            err(EntryKind::Note, r#"{"title":"x"}"#),
            "note: missing field `text`"
        );
        assert!(
            err(EntryKind::Note, r#"{"title":"x","text":"y","colour":1}"#)
                .starts_with("note: unknown field `colour`")
        );
        assert!(err(EntryKind::Vitals, "[128, 82]").contains("expected a JSON object such as"));
        assert!(
            err(EntryKind::Vitals, r#"{"systolic":120,"systolic":180}"#)
                .contains("duplicate field")
        );
        assert_eq!(
            err(
                EntryKind::Medication,
                r#"{"drug":"X","start":"2026-13-01"}"#
            ),
            "medication: `2026-13-01` has no month 13"
        );
        assert_eq!(
            err(
                EntryKind::Medication,
                r#"{"drug":"X","start":"2026-02-10","end":"2026-01-10"}"#
            ),
            "medication: stop 2026-01-10 is before start 2026-02-10"
        );
        assert!(err(EntryKind::Condition, r#"{"icd10":"diabetes","name":"x"}"#).contains("E11.9"));
        assert!(
            err(
                EntryKind::Demographics,
                r#"{"name":"A","birth_date":"1980-01-01","sex":"f"}"#
            )
            .contains("female, male, other")
        );
        assert!(err(EntryKind::Allergy, r#"{"substance":"  "}"#).contains("substance is empty"));
    }

    #[test]
    fn corrupt_bytes_are_refused() {
        assert!(matches!(
            EntryData::from_bytes(b"\xff\x00"),
            Err(ChartError::Corrupt(_))
        ));
        assert!(matches!(
            EntryData::from_bytes(br#"{"kind":"xray","data":{}}"#),
            Err(ChartError::Corrupt(_))
        ));
        assert!(matches!(
            EntryData::from_bytes(br#"{"kind":"note","data":[1]}"#),
            Err(ChartError::Corrupt(_))
        ));
        assert!(matches!(
            EntryData::from_bytes(br#"{"kind":"vitals","data":{"systolic":999}}"#),
            Err(ChartError::Invalid { .. })
        ));
    }

    #[test]
    fn bytes_are_canonical() {
        let data =
            EntryData::parse(EntryKind::Vitals, r#"{ "diastolic": 82, "systolic": 128 }"#).unwrap();
        assert_eq!(
            String::from_utf8(data.to_bytes()).unwrap(),
            r#"{"kind":"vitals","data":{"systolic":128.0,"diastolic":82.0}}"#
        );
    }
}
