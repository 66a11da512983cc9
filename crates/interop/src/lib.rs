//! HL7 v2.5 ORU^R01 and FHIR R4 for Carelog charts, both directions.
//!
//! Export takes what the node opened for a reader ([`PatientExport`]) and writes only what the
//! reader's access level shows (see the level rules below); import turns messages from lab
//! analyzers, LIS systems and other EHRs into validated chart entries, or refuses the whole
//! message with an error that names the segment and field (HL7) or JSON path (FHIR).
//!
//! This crate is pure: no I/O, no clock (the caller passes `now_ms`), no randomness (the caller
//! passes the message id). Incoming times without a UTC offset are read as UTC.
//!
//! Levels: **full** exports every current entry (amendments replace what they correct) with name,
//! birth date and sex; **sample** exports the latest value per LOINC code, truncated notes, names
//! of diagnoses, allergies and drugs, and initials as the only identity; **information** (statistics
//! only) and **none** are refused with [`InteropError::LevelTooLow`].
//!
//! ```
//! use carelog_chart::{AccessLevel, ChartRecord, EntryData, EntryKind};
//! use carelog_interop::{PatientExport, from_fhir, parse_oru, to_fhir, to_hl7};
//!
//! let glucose = EntryData::parse(
//!     EntryKind::Lab,
//!     r#"{"loinc":"2345-7","name":"Glucose","value":7.1,"unit":"mmol/L","low":3.9,"high":5.6}"#,
//! )?;
//! let records = vec![ChartRecord {
//!     entry_id: "e1".into(),
//!     kind: EntryKind::Lab,
//!     author: "Dr. Rivera".into(),
//!     time_ms: 1_768_037_400_000,
//!     data: glucose.clone(),
//!     amends: None,
//!     flagged: None,
//!     encounter: None,
//! }];
//! let export = PatientExport {
//!     patient_id: "7f3a",
//!     demographics: None,
//!     level: AccessLevel::Full,
//!     records: &records,
//!     clinic_name: "North Clinic",
//!     message_id: "MSG0001",
//!     now_ms: 1_768_040_000_000,
//! };
//!
//! let hl7 = to_hl7(&export)?;
//! assert!(hl7.contains("OBX|1|NM|2345-7^Glucose^LN||7.1|mmol/L^mmol/L^UCUM|3.9-5.6|H|||F"));
//! let message = parse_oru(&hl7)?;
//! assert_eq!(message.patient_id, "7f3a");
//! assert_eq!(message.results, vec![(1_768_037_400_000, glucose.clone())]);
//!
//! let bundle = to_fhir(&export)?;
//! assert_eq!(bundle["type"], "collection");
//! let back = from_fhir(&bundle)?;
//! assert_eq!(back.entries, vec![(1_768_037_400_000, glucose)]);
//!
//! let err = parse_oru("MSH|^~\\&|LAB||||20260110||ADT^A01|1|P|2.5\r").unwrap_err();
//! assert_eq!(err.to_string(), "MSH-9: expected ORU^R01, found `ADT^A01` (segment 1)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod datetime;
mod error;
mod fhir;
mod hl7;
mod scope;
mod vital;

use carelog_chart::{AccessLevel, ChartRecord, Demographics};

pub use error::InteropError;
pub use fhir::{
    DAYS_SUPPLY_EXTENSION, ENTRY_ID_SYSTEM, FhirImport, ICD10_SYSTEM, INTERPRETATION_SYSTEM,
    LOINC_SYSTEM, OBSERVATION_CATEGORY_SYSTEM, PATIENT_ID_SYSTEM, UCUM_SYSTEM, from_fhir, to_fhir,
};
pub use hl7::{
    Delimiters, MESSAGE_ID_MAX_CHARS, NAMESPACE_ID_MAX_CHARS, OruMessage, parse_oru,
    parse_oru_batch, to_hl7,
};

/// LOINC code and name of the panel that groups one vitals entry (OBR-4, FHIR panel Observation).
pub const VITAL_SIGNS_PANEL_LOINC: (&str, &str) = ("85353-1", "Vital signs panel");
/// LOINC code and name under which notes travel (OBR-4 before their NTE, DocumentReference.type).
pub const NOTE_LOINC: (&str, &str) = ("34109-9", "Note");

/// One patient's opened chart and the reader's level: everything an export needs, passed in.
#[derive(Clone, Copy, Debug)]
pub struct PatientExport<'a> {
    /// The patient's Carelog id (PID-3, `Patient.id`).
    pub patient_id: &'a str,
    /// Name, birth date and sex; when `None`, the latest demographics record is used, if any.
    pub demographics: Option<&'a Demographics>,
    /// The reader's access level, as the node's policy decided it.
    pub level: AccessLevel,
    /// The opened chart entries, amendments included.
    pub records: &'a [ChartRecord],
    /// The exporting clinic (MSH-4 sending facility, PID-3 assigning authority).
    pub clinic_name: &'a str,
    /// A unique id for this message (MSH-10, `Bundle.id`); 1–20 printable ASCII characters.
    pub message_id: &'a str,
    /// The time of export, Unix ms (MSH-7, `Bundle.timestamp`).
    pub now_ms: i64,
}
