//! Carelog's clinical model: chart entries, the Automerge patient summary, and views per access level.
//!
//! This crate is pure: no I/O, no clock, no randomness. Times come in as Unix milliseconds, Automerge
//! actors come in as bytes, and every parser of outside input returns a [`ChartError`] whose message
//! a clinician can act on.
//!
//! ```
//! use carelog_chart::{render, AccessLevel, ChartRecord, EntryData, EntryKind, Summary};
//!
//! let vitals = EntryData::parse(EntryKind::Vitals, r#"{"systolic":128,"diastolic":82}"#)?;
//! assert_eq!(vitals.observations()[0].loinc, "8480-6");
//!
//! let err = EntryData::parse(EntryKind::Vitals, r#"{"systolic":400}"#).unwrap_err();
//! assert_eq!(err.to_string(), "vitals: systolic 400 mmHg is outside 40–300");
//!
//! let med = EntryData::parse(
//!     EntryKind::Medication,
//!     r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30}"#,
//! )?;
//! let mut summary = Summary::new();
//! let change = summary.record([7; 16], "e2", &med).expect("medications go on the summary");
//! let elsewhere = Summary::load_changes([change.as_slice()])?;
//! assert_eq!(elsewhere.view(), summary.view());
//!
//! let records = vec![ChartRecord {
//!     entry_id: "e1".into(),
//!     kind: EntryKind::Vitals,
//!     author: "Dr. Rivera".into(),
//!     time_ms: 1_767_225_600_000,
//!     data: vitals,
//!     amends: None,
//!     flagged: None,
//!     encounter: None,
//! }];
//! let view = render(AccessLevel::Information, &records, Some(&summary.view()));
//! assert_eq!(view["entries"], serde_json::json!([]));
//! assert_eq!(view["observations"][0]["max"], 128.0);
//! # Ok::<(), carelog_chart::ChartError>(())
//! ```

#![warn(missing_docs)]

mod allergy_check;
mod codes;
mod entry;
mod error;
mod kind;
mod lists;
mod observation;
mod record;
mod stats;
mod summary;
mod view;
mod visit;

pub use allergy_check::{AllergyWarning, DRUG_CLASSES, DrugClass, allergy_warnings};
pub use codes::{
    CVX, Code, CodeSystem, DRUGS, ICD10, LAB_REFERENCES, LOINC, LabReference, lab_reference,
    lookup, table,
};
pub use entry::EntryData;
pub use error::ChartError;
pub use kind::{AccessLevel, EntryKind, UnknownWord, parse_chartable};
pub use lists::{ClinicalLists, EncounterItem, OutstandingOrder, outstanding_orders};
pub use observation::{
    ABNORMAL_FLAGS, BMI, LabResult, Observation, VITAL_SIGNS, VitalSign, Vitals, check_loinc,
};
pub use record::{
    Allergy, Condition, Demographics, LINE_MAX_CHARS, Medication, NOTE_MAX_CHARS, Note,
    ProblemStatus, SEXES, Severity, check_atc, check_icd10, date_string, parse_date,
};
pub use stats::{ObservationStats, TREND_TOLERANCE, Trend, observation_stats, trend};
pub use summary::{
    AllergyItem, BASE_ACTOR, Conflict, MedicationItem, ProblemItem, Summary, SummaryView,
};
pub use view::{ChartRecord, SAMPLE_TEXT_CHARS, render, sample_records};
pub use visit::{Encounter, Immunization, Order, Priority, check_entry_ref};
