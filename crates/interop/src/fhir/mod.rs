//! FHIR R4 JSON: a chart as a `Bundle` of type `collection`, and such bundles back into chart entries.

mod base64;
mod export;
mod import;
mod json;

use carelog_chart::{Demographics, EntryData};

pub use export::to_fhir;
pub use import::from_fhir;

/// LOINC's code system URI.
pub const LOINC_SYSTEM: &str = "http://loinc.org";
/// UCUM's code system URI, for `Quantity.system`.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";
/// ICD-10's code system URI, for `Condition.code`.
pub const ICD10_SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10";
/// Observation categories (`vital-signs`, `laboratory`).
pub const OBSERVATION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
/// Observation interpretation codes (`L`, `H`, `N`, …), the FHIR form of HL7 abnormal flags.
pub const INTERPRETATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
/// Identifier system of Carelog patient ids.
pub const PATIENT_ID_SYSTEM: &str = "urn:carelog:patient";
/// Identifier system of Carelog chart entry ids.
pub const ENTRY_ID_SYSTEM: &str = "urn:carelog:entry";
/// A medication's dose per administration, as Carelog wrote it (a Dosage extension).
pub const DOSE_EXTENSION: &str = "urn:carelog:fhir:dose";
/// A medication's frequency or sig, as Carelog wrote it (a Dosage extension).
pub const FREQUENCY_EXTENSION: &str = "urn:carelog:fhir:frequency";
/// CDC's vaccine codes.
pub const CVX_SYSTEM: &str = "http://hl7.org/fhir/sid/cvx";
/// RxNorm concept ids.
pub const RXNORM_SYSTEM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// WHO ATC codes.
pub const ATC_SYSTEM: &str = "http://www.whocc.no/atc";
/// Extension on `MedicationStatement` holding the OMOP days supply as a `Duration` in days.
pub const DAYS_SUPPLY_EXTENSION: &str = "urn:carelog:fhir:days-supply";

/// What a FHIR bundle holds for the chart, read by [`from_fhir`].
#[derive(Clone, Debug, PartialEq)]
pub struct FhirImport {
    /// The patient's Carelog id (identifier system `urn:carelog:patient`, else `Patient.id`).
    pub patient_id: Option<String>,
    /// Name, birth date and sex, when the Patient resource gives all three.
    pub demographics: Option<Demographics>,
    /// Chart entries in bundle order with their clinical time (Unix ms), each validated as
    /// `EntryData::parse` would.
    pub entries: Vec<(i64, EntryData)>,
    /// Resources left out and values adjusted, one sentence each, for the importer to show.
    pub warnings: Vec<String>,
}

/// A FHIR `id` from any text: letters, digits, `-` and `.` kept, others made `-`, at most 64.
pub(crate) fn fhir_id(text: &str) -> String {
    let id: String = text
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() { "-".to_string() } else { id }
}
