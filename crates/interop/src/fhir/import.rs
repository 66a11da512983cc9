//! Reading a FHIR R4 `Bundle` (any type) into chart entries: the inverse of `to_fhir`, and tolerant
//! of what other systems send.
//!
//! - `Observation` with a LOINC code and a `valueQuantity`: a vital sign (vital LOINC code and unit)
//!   or a lab result. Vital signs (as values or as `component`s, e.g. of a blood pressure panel)
//!   are grouped into one vitals entry per panel (`hasMember`), else per time.
//! - `Condition` with an ICD-10 coding, `AllergyIntolerance`, `MedicationStatement` with a start
//!   date, and `DocumentReference` with a `text/plain` attachment become the matching entries.
//! - Resources that are not final (e.g. `preliminary`, `entered-in-error`), qualitative or coded
//!   results, and resource types Carelog does not chart are left out and listed in `warnings`.
//!
//! Anything malformed (wrong JSON types, bad LOINC or ICD-10 codes, unreadable dates, bad base64,
//! a second patient, a subject pointing at another patient) refuses the whole bundle.

use std::collections::BTreeMap;

use carelog_chart::{
    ABNORMAL_FLAGS, Allergy, Condition, Demographics, Encounter, EntryData, Immunization,
    LabResult, Medication, Note, Order, Priority, ProblemStatus, SEXES, Severity, VitalSign,
    Vitals, check_loinc,
};
use serde_json::Value;

use super::base64;
use super::json::{array, codings, concept_text, lookup, number, text, time_value};
use super::{
    ATC_SYSTEM, CVX_SYSTEM, DAYS_SUPPLY_EXTENSION, DOSE_EXTENSION, ENTRY_ID_SYSTEM,
    FREQUENCY_EXTENSION, FhirImport, INTERPRETATION_SYSTEM, LOINC_SYSTEM, PATIENT_ID_SYSTEM,
    RXNORM_SYSTEM, UCUM_SYSTEM,
};
use crate::InteropError;
use crate::datetime::parse_fhir_date;
use crate::vital::{set_vital, vital_sign};

/// Reads a FHIR R4 Bundle into the patient id, demographics and chart entries it holds.
pub fn from_fhir(bundle: &Value) -> Result<FhirImport, InteropError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(InteropError::fhir(
            "resourceType",
            "expected a Bundle (resourceType \"Bundle\")",
        ));
    }
    let default_time = match bundle.get("timestamp") {
        None => None,
        Some(t) => Some(time_value(t, "Bundle.timestamp")?),
    };
    let entries = match bundle.get("entry") {
        None => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => return Err(InteropError::fhir("Bundle.entry", "expected an array")),
    };
    let mut resources = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("Bundle.entry[{i}].resource");
        let resource = entry
            .get("resource")
            .filter(|r| r.is_object())
            .ok_or_else(|| InteropError::fhir(&path, "missing or not an object"))?;
        let kind = text(resource, "resourceType", &path)?.unwrap_or_default();
        let id = text(resource, "id", &path)?.unwrap_or_default();
        let full_url = text(entry, "fullUrl", &format!("Bundle.entry[{i}]"))?;
        resources.push(Res {
            value: resource,
            path: format!("{path}({kind}/{id})"),
            kind,
            id,
            full_url,
        });
    }
    let mut reader = Reader {
        default_time,
        ..Reader::default()
    };
    reader.patient(&resources)?;
    reader.panels(&resources)?;
    for r in &resources {
        reader.resource(r)?;
    }
    for (i, (_, data)) in reader.entries.iter().enumerate() {
        if let EntryData::Vitals(_) = data {
            data.validate()
                .map_err(|e| InteropError::fhir(&reader.entry_paths[i], e.to_string()))?;
        }
    }
    Ok(FhirImport {
        patient_id: reader.patient_id,
        demographics: reader.demographics,
        entries: reader.entries,
        warnings: reader.warnings,
    })
}

/// One resource of the bundle with where it sits.
struct Res<'a> {
    value: &'a Value,
    path: String,
    kind: &'a str,
    id: &'a str,
    full_url: Option<&'a str>,
}

/// How vital signs are grouped into one vitals entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// Members of the panel at this resource index.
    Panel(usize),
    /// Vital signs outside any panel (alone or as components) taken at this time.
    Time(i64),
}

#[derive(Default)]
struct Reader {
    default_time: Option<i64>,
    patient_id: Option<String>,
    /// `Patient/<id>` (and the full URL) the bundle's subjects must point at.
    patient_refs: Vec<String>,
    demographics: Option<Demographics>,
    /// Observation reference (`Observation/<id>` or full URL) → the panel resource index.
    panel_of: BTreeMap<String, usize>,
    /// Vitals entries so far: group, index into `entries`.
    vitals: Vec<(Group, usize)>,
    entries: Vec<(i64, EntryData)>,
    entry_paths: Vec<String>,
    warnings: Vec<String>,
    /// Resource types already warned about.
    ignored: Vec<String>,
}

impl Reader {
    /// Finds the one Patient: its Carelog id, and demographics when name, birth date and sex are given.
    fn patient(&mut self, resources: &[Res<'_>]) -> Result<(), InteropError> {
        for r in resources.iter().filter(|r| r.kind == "Patient") {
            let carelog_id = array(r.value, "identifier", &r.path)?
                .iter()
                .find(|i| i.get("system").and_then(Value::as_str) == Some(PATIENT_ID_SYSTEM))
                .and_then(|i| i.get("value").and_then(Value::as_str));
            let id = carelog_id.unwrap_or(r.id).trim().to_string();
            if id.is_empty() {
                return Err(InteropError::fhir(
                    &r.path,
                    "Patient has neither id nor Carelog identifier",
                ));
            }
            if let Some(known) = &self.patient_id
                && *known != id
            {
                return Err(InteropError::fhir(
                    &r.path,
                    format!(
                        "the bundle holds two patients (`{known}` and `{id}`); send one patient per bundle"
                    ),
                ));
            }
            self.patient_id = Some(id);
            self.patient_refs.push(format!("Patient/{}", r.id));
            if let Some(url) = r.full_url {
                self.patient_refs.push(url.to_string());
            }
            self.demographics = demographics(r)?;
        }
        Ok(())
    }

    /// Notes which observations are members of a panel (`hasMember`).
    fn panels(&mut self, resources: &[Res<'_>]) -> Result<(), InteropError> {
        for (index, r) in resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == "Observation")
        {
            for (i, member) in array(r.value, "hasMember", &r.path)?.iter().enumerate() {
                let at = format!("{}.hasMember[{i}]", r.path);
                if let Some(reference) = text(member, "reference", &at)? {
                    self.panel_of.insert(reference.to_string(), index);
                }
            }
        }
        Ok(())
    }

    /// A warning that one resource was left out.
    fn skip(&mut self, r: &Res<'_>, why: impl std::fmt::Display) {
        self.warnings
            .push(format!("{}: {why}; not imported", r.path));
    }

    /// Adds an entry after the chart's own checks, naming the resource if they fail.
    fn push(&mut self, r: &Res<'_>, time: i64, data: EntryData) -> Result<(), InteropError> {
        let data = data
            .normalized()
            .map_err(|e| InteropError::fhir(&r.path, e.to_string()))?;
        self.entries.push((time, data));
        self.entry_paths.push(r.path.clone());
        Ok(())
    }

    /// Checks that `subject`/`patient` points at the bundle's patient, when both are known.
    fn check_subject(&self, r: &Res<'_>, key: &str) -> Result<(), InteropError> {
        let at = format!("{}.{key}", r.path);
        let Some(subject) = r.value.get(key) else {
            return Ok(());
        };
        let Some(reference) = text(subject, "reference", &at)? else {
            return Ok(());
        };
        let about_a_patient = reference.starts_with("Patient/") || reference.starts_with("urn:");
        if about_a_patient
            && !self.patient_refs.is_empty()
            && !self.patient_refs.iter().any(|p| p == reference)
        {
            return Err(InteropError::fhir(
                format!("{at}.reference"),
                format!(
                    "`{reference}` is not the bundle's patient ({})",
                    self.patient_refs[0]
                ),
            ));
        }
        Ok(())
    }

    /// The resource's clinical time from the first of `keys` present, else the bundle's timestamp.
    fn time(&self, r: &Res<'_>, keys: &[&str]) -> Result<i64, InteropError> {
        for key in keys {
            if let Some(v) = lookup(r.value, key) {
                return time_value(v, &format!("{}.{key}", r.path));
            }
        }
        self.default_time.ok_or_else(|| {
            InteropError::fhir(
                &r.path,
                format!("no time: give {} or Bundle.timestamp", keys.join(", ")),
            )
        })
    }

    /// Turns one resource into entries (or a warning).
    fn resource(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        match r.kind {
            "Patient" => Ok(()),
            "Observation" => self.observation(r),
            "Condition" => self.condition(r),
            "AllergyIntolerance" => self.allergy(r),
            "MedicationStatement" => self.medication(r),
            "DocumentReference" => self.document(r),
            "Encounter" => self.encounter(r),
            "ServiceRequest" => self.service_request(r),
            "Immunization" => self.immunization(r),
            other => {
                if !self.ignored.iter().any(|k| k == other) {
                    self.ignored.push(other.to_string());
                    self.warnings.push(format!(
                        "{other} resources are not charted by Carelog; not imported"
                    ));
                }
                Ok(())
            }
        }
    }

    /// An Observation: vital signs, lab result, panel or something Carelog cannot hold.
    fn observation(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("");
        if !matches!(status, "final" | "amended" | "corrected") {
            self.skip(r, format!("status `{status}` is not final"));
            return Ok(());
        }
        let time = self.time(
            r,
            &[
                "effectiveDateTime",
                "effectiveInstant",
                "effectivePeriod.start",
                "issued",
            ],
        )?;
        let group = [format!("Observation/{}", r.id)]
            .into_iter()
            .chain(r.full_url.map(str::to_string))
            .find_map(|reference| self.panel_of.get(&reference).copied())
            .map_or(Group::Time(time), Group::Panel);

        let components = array(r.value, "component", &r.path)?;
        if r.value.get("valueQuantity").is_none() && !components.is_empty() {
            for (i, c) in components.iter().enumerate() {
                let at = format!("{}.component[{i}]", r.path);
                match measured(c, &at)? {
                    Some((code, _, value, unit)) => match vital_sign(&code, &unit) {
                        Some(sign) => self.add_vital(r, group, time, &sign, value),
                        None => self.warnings.push(format!(
                            "{at}: component `{code}` is not a vital sign; not imported"
                        )),
                    },
                    None => self
                        .warnings
                        .push(format!("{at}: no LOINC code and quantity; not imported")),
                }
            }
            return Ok(());
        }
        if r.value.get("valueQuantity").is_none() {
            if r.value.get("hasMember").is_none() {
                self.skip(r, "no valueQuantity (qualitative or missing result)");
            }
            return Ok(());
        }
        let Some((code, name, value, unit)) = measured(r.value, &r.path)? else {
            self.skip(r, "code has no LOINC coding (system http://loinc.org)");
            return Ok(());
        };
        if let Some(sign) = vital_sign(&code, &unit) {
            self.add_vital(r, group, time, &sign, value);
            return Ok(());
        }
        let range = array(r.value, "referenceRange", &r.path)?.first();
        let bound = |key: &str| -> Result<Option<f64>, InteropError> {
            let at = format!("{}.referenceRange[0].{key}.value", r.path);
            match range
                .and_then(|rr| rr.get(key))
                .and_then(|q| q.get("value"))
            {
                None => Ok(None),
                Some(v) => number(v, &at).map(Some),
            }
        };
        let (low, high) = (bound("low")?, bound("high")?);
        let flag = self.interpretation(r)?;
        let lab = LabResult {
            loinc: code.clone(),
            name: if name.is_empty() { code } else { name },
            value,
            unit,
            low,
            high,
            abnormal: flag,
            order: carelog_order(r)?,
        };
        self.push(r, time, EntryData::Lab(lab))
    }

    /// The first interpretation code that is an HL7 abnormal flag (others give a warning).
    fn interpretation(&mut self, r: &Res<'_>) -> Result<Option<String>, InteropError> {
        let mut codes = Vec::new();
        for (i, concept) in array(r.value, "interpretation", &r.path)?
            .iter()
            .enumerate()
        {
            let at = format!("{}.interpretation[{i}]", r.path);
            for (j, coding) in array(concept, "coding", &at)?.iter().enumerate() {
                let at = format!("{at}.coding[{j}]");
                let system = text(coding, "system", &at)?;
                if let Some(code) = text(coding, "code", &at)?
                    && system.is_none_or(|s| s == INTERPRETATION_SYSTEM)
                {
                    codes.push(code.to_string());
                }
            }
        }
        let found = codes.iter().find(|c| ABNORMAL_FLAGS.contains(&c.as_str()));
        if found.is_none() && !codes.is_empty() {
            self.warnings.push(format!(
                "{}: interpretation `{}` is not one of {}; flag computed from the range",
                r.path,
                codes.join(", "),
                ABNORMAL_FLAGS.join(", ")
            ));
        }
        Ok(found.cloned())
    }

    /// Adds one vital sign to its group's vitals entry (a new entry when that one has this sign).
    fn add_vital(&mut self, r: &Res<'_>, group: Group, time: i64, sign: &VitalSign, value: f64) {
        for (g, index) in &self.vitals {
            if *g == group
                && let (_, EntryData::Vitals(v)) = &mut self.entries[*index]
                && set_vital(v, sign, value)
            {
                return;
            }
        }
        let mut v = Vitals::default();
        set_vital(&mut v, sign, value);
        self.vitals.push((group, self.entries.len()));
        self.entries.push((time, EntryData::Vitals(v)));
        self.entry_paths.push(r.path.clone());
    }

    /// A Condition with an ICD-10 coding.
    fn condition(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        if let Some(why) = not_current(r)? {
            self.skip(r, why);
            return Ok(());
        }
        let code = r.value.get("code").unwrap_or(&Value::Null);
        let at = format!("{}.code", r.path);
        let coding = codings(code, &at)?
            .into_iter()
            .find(|(system, _, _)| system.starts_with("http://hl7.org/fhir/sid/icd-10"));
        let Some((_, icd10, display)) = coding else {
            self.skip(
                r,
                "code has no ICD-10 coding (system http://hl7.org/fhir/sid/icd-10)",
            );
            return Ok(());
        };
        let name = text(code, "text", &at)?
            .or(display)
            .unwrap_or(icd10)
            .to_string();
        let time = self.time(r, &["recordedDate", "onsetDateTime"])?;
        let at = format!("{}.clinicalStatus", r.path);
        let resolved_status = codings(r.value.get("clinicalStatus").unwrap_or(&Value::Null), &at)?
            .into_iter()
            .any(|(_, code, _)| matches!(code, "resolved" | "inactive" | "remission"));
        let data = EntryData::Condition(Condition {
            icd10: icd10.to_string(),
            name,
            status: Some(if resolved_status {
                ProblemStatus::Resolved
            } else {
                ProblemStatus::Active
            }),
            onset: self.day(r, "onsetDateTime"),
            resolved: self.day(r, "abatementDateTime"),
        });
        self.push(r, time, data)
    }

    /// An AllergyIntolerance: substance from `code`, reaction from the first manifestation.
    fn allergy(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "patient")?;
        if let Some(why) = not_current(r)? {
            self.skip(r, why);
            return Ok(());
        }
        let Some(substance) = concept_text(r.value.get("code"), &format!("{}.code", r.path))?
        else {
            self.skip(r, "code names no substance");
            return Ok(());
        };
        let mut reactions = Vec::new();
        let mut severity = None;
        for (i, reaction) in array(r.value, "reaction", &r.path)?.iter().enumerate() {
            let at = format!("{}.reaction[{i}]", r.path);
            severity = severity.or(match text(reaction, "severity", &at)? {
                Some("mild") => Some(Severity::Mild),
                Some("moderate") => Some(Severity::Moderate),
                Some("severe") => Some(Severity::Severe),
                _ => None,
            });
            for (j, m) in array(reaction, "manifestation", &at)?.iter().enumerate() {
                if let Some(t) = concept_text(Some(m), &format!("{at}.manifestation[{j}]"))? {
                    reactions.push(t);
                }
            }
        }
        let time = self.time(r, &["recordedDate", "onsetDateTime"])?;
        let reaction = (!reactions.is_empty()).then(|| reactions.join(", "));
        self.push(
            r,
            time,
            EntryData::Allergy(Allergy {
                substance,
                reaction,
                severity,
                ..Allergy::default()
            }),
        )
    }

    /// A MedicationStatement with a drug named in words and a start date.
    fn medication(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("");
        if matches!(status, "entered-in-error" | "not-taken" | "intended") {
            self.skip(r, format!("status `{status}`"));
            return Ok(());
        }
        let at = format!("{}.medicationCodeableConcept", r.path);
        let drug = match concept_text(r.value.get("medicationCodeableConcept"), &at)? {
            Some(d) => d,
            None => match r
                .value
                .get("medicationReference")
                .and_then(|m| m.get("display"))
            {
                Some(Value::String(d)) if !d.trim().is_empty() => d.clone(),
                _ => {
                    self.skip(
                        r,
                        "the drug is not named (medicationCodeableConcept text or display)",
                    );
                    return Ok(());
                }
            },
        };
        let date_at = |key: &str| -> Result<Option<time::Date>, InteropError> {
            let v = lookup(r.value, key);
            let at = format!("{}.{key}", r.path);
            match v {
                None => Ok(None),
                Some(Value::String(s)) => parse_fhir_date(s)
                    .map(Some)
                    .map_err(|m| InteropError::fhir(&at, m)),
                Some(_) => Err(InteropError::fhir(&at, "expected a date string")),
            }
        };
        let Some(start) = date_at("effectivePeriod.start")?.or(date_at("effectiveDateTime")?)
        else {
            self.skip(
                r,
                "no start date (effectivePeriod.start); Carelog medications need one",
            );
            return Ok(());
        };
        let end = date_at("effectivePeriod.end")?;
        let mut days_supply = None;
        for (i, ext) in array(r.value, "extension", &r.path)?.iter().enumerate() {
            if ext.get("url").and_then(Value::as_str) == Some(DAYS_SUPPLY_EXTENSION) {
                let at = format!("{}.extension[{i}].valueDuration.value", r.path);
                let days = ext
                    .get("valueDuration")
                    .and_then(|d| d.get("value"))
                    .unwrap_or(&Value::Null);
                days_supply = Some(
                    days.as_u64()
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| {
                            InteropError::fhir(&at, "expected a whole number of days")
                        })?,
                );
            }
        }
        let stop_reason = first_concept_text(r, "statusReason")?;
        let time = self.time(
            r,
            &["dateAsserted", "effectivePeriod.start", "effectiveDateTime"],
        )?;
        let concept = r
            .value
            .get("medicationCodeableConcept")
            .unwrap_or(&Value::Null);
        let mut rxnorm = None;
        let mut atc = None;
        for (system, code, _) in codings(concept, &at)? {
            match system {
                RXNORM_SYSTEM => rxnorm = rxnorm.or(Some(code.to_string())),
                ATC_SYSTEM => atc = atc.or(Some(code.to_string())),
                _ => {}
            }
        }
        let reason = first_concept_text(r, "reasonCode")?;
        let (mut dose, mut route, mut frequency) = (None, None, None);
        if let Some(dosage) = array(r.value, "dosage", &r.path)?.first() {
            let at = format!("{}.dosage[0]", r.path);
            route = concept_text(dosage.get("route"), &format!("{at}.route"))?;
            for (i, ext) in array(dosage, "extension", &at)?.iter().enumerate() {
                let url = ext.get("url").and_then(Value::as_str);
                let value = text(ext, "valueString", &format!("{at}.extension[{i}]"))?;
                match url {
                    Some(DOSE_EXTENSION) => dose = value.map(str::to_string),
                    Some(FREQUENCY_EXTENSION) => frequency = value.map(str::to_string),
                    _ => {}
                }
            }
            if dose.is_none() && frequency.is_none() {
                // Another system's free-text sig.
                frequency = text(dosage, "text", &at)?.map(str::to_string);
            }
        }
        let m = Medication {
            rxnorm,
            atc,
            dose,
            route,
            frequency,
            reason,
            end,
            days_supply,
            stop_reason,
            ..Medication::started(drug, start)
        };
        self.push(r, time, EntryData::Medication(m))
    }

    /// The day of a date or dateTime element (`YYYY-MM-DD…`), if present; a partial date (a
    /// year, or a year and month, which FHIR allows) is left out with a warning.
    fn day(&mut self, r: &Res<'_>, key: &str) -> Option<time::Date> {
        let text = lookup(r.value, key)?.as_str();
        match text.map(|t| parse_fhir_date(t.get(..10).unwrap_or(t))) {
            Some(Ok(day)) => Some(day),
            _ => {
                self.warnings.push(format!(
                    "{}.{key}: not a whole day (YYYY-MM-DD); left out",
                    r.path
                ));
                None
            }
        }
    }

    /// An Encounter: a visit with its reason; its day when `period.start` is a date.
    fn encounter(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("");
        if matches!(status, "cancelled" | "entered-in-error" | "planned") {
            self.skip(r, format!("status `{status}`"));
            return Ok(());
        }
        let reason = first_concept_text(r, "reasonCode")?;
        // Another system's visit without a stated reason still groups the day's entries.
        let kind_of_visit = array(r.value, "type", &r.path)?
            .first()
            .map(|t| concept_text(Some(t), &format!("{}.type[0]", r.path)))
            .transpose()?
            .flatten();
        let reason = reason
            .or(kind_of_visit)
            .unwrap_or_else(|| "visit".to_string());
        let start = lookup(r.value, "period.start").and_then(Value::as_str);
        let date = match start {
            Some(day) if day.len() == 10 => self.day(r, "period.start"),
            _ => None,
        };
        let location = array(r.value, "location", &r.path)?
            .first()
            .and_then(|l| lookup(l, "location.display"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let time = self.time(r, &["period.start"])?;
        let data = EntryData::Encounter(Encounter {
            reason,
            date,
            location,
        });
        self.push(r, time, data)
    }

    /// A ServiceRequest for a LOINC-coded test: a laboratory order.
    fn service_request(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("");
        if matches!(status, "revoked" | "entered-in-error" | "draft") {
            self.skip(r, format!("status `{status}`"));
            return Ok(());
        }
        let code = r.value.get("code").unwrap_or(&Value::Null);
        let at = format!("{}.code", r.path);
        let Some((_, loinc, display)) = codings(code, &at)?
            .into_iter()
            .find(|(system, _, _)| *system == LOINC_SYSTEM)
        else {
            self.skip(r, "code has no LOINC coding (system http://loinc.org)");
            return Ok(());
        };
        let name = text(code, "text", &at)?
            .or(display)
            .unwrap_or(loinc)
            .to_string();
        let priority = match text(r.value, "priority", &r.path)? {
            Some("routine") => Some(Priority::Routine),
            Some("urgent") => Some(Priority::Urgent),
            Some("stat" | "asap") => Some(Priority::Stat),
            _ => None,
        };
        let note = array(r.value, "note", &r.path)?
            .first()
            .and_then(|n| n.get("text"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let time = self.time(r, &["authoredOn", "occurrenceDateTime"])?;
        let data = EntryData::Order(Order {
            loinc: loinc.to_string(),
            name,
            priority,
            note,
        });
        self.push(r, time, data)
    }

    /// An Immunization with a CVX code and the day it was given.
    fn immunization(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "patient")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("");
        if status != "completed" {
            self.skip(r, format!("status `{status}` (not given)"));
            return Ok(());
        }
        let concept = r.value.get("vaccineCode").unwrap_or(&Value::Null);
        let at = format!("{}.vaccineCode", r.path);
        let Some((_, cvx, display)) = codings(concept, &at)?
            .into_iter()
            .find(|(system, _, _)| *system == CVX_SYSTEM)
        else {
            self.skip(
                r,
                "vaccineCode has no CVX coding (system http://hl7.org/fhir/sid/cvx)",
            );
            return Ok(());
        };
        let name = text(concept, "text", &at)?
            .or(display)
            .unwrap_or(cvx)
            .to_string();
        let Some(date) = self.day(r, "occurrenceDateTime") else {
            self.skip(r, "no day it was given (occurrenceDateTime)");
            return Ok(());
        };
        let dose = array(r.value, "protocolApplied", &r.path)?
            .first()
            .and_then(|p| p.get("doseNumberPositiveInt"))
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok());
        let lot = text(r.value, "lotNumber", &r.path)?.map(str::to_string);
        let time = self.time(r, &["recorded", "occurrenceDateTime"])?;
        let data = EntryData::Immunization(Immunization {
            cvx: cvx.to_string(),
            name,
            date,
            dose,
            lot,
        });
        self.push(r, time, data)
    }

    /// A DocumentReference whose first attachment is base64 `text/plain`.
    fn document(&mut self, r: &Res<'_>) -> Result<(), InteropError> {
        self.check_subject(r, "subject")?;
        let status = text(r.value, "status", &r.path)?.unwrap_or("current");
        if status == "entered-in-error" {
            self.skip(r, "status `entered-in-error`");
            return Ok(());
        }
        let Some(content) = array(r.value, "content", &r.path)?.first() else {
            self.skip(r, "no content");
            return Ok(());
        };
        let at = format!("{}.content[0].attachment", r.path);
        let attachment = content.get("attachment").unwrap_or(&Value::Null);
        let kind = text(attachment, "contentType", &at)?.unwrap_or("text/plain");
        if !kind.trim().to_ascii_lowercase().starts_with("text/plain") {
            self.skip(r, format!("attachment type `{kind}` is not text/plain"));
            return Ok(());
        }
        let Some(data) = text(attachment, "data", &at)? else {
            self.skip(r, "the attachment has no inline data");
            return Ok(());
        };
        let bytes = base64::decode(data)
            .ok_or_else(|| InteropError::fhir(format!("{at}.data"), "is not base64"))?;
        let body = String::from_utf8(bytes)
            .map_err(|_| InteropError::fhir(format!("{at}.data"), "is not UTF-8 text"))?;
        let type_text = concept_text(r.value.get("type"), &format!("{}.type", r.path))?;
        let title = text(attachment, "title", &at)?
            .or(text(r.value, "description", &r.path)?)
            .map(str::to_string)
            .or(type_text)
            .unwrap_or_else(|| "Note".to_string());
        let time = self.time(r, &["date", "context.period.start"])?;
        self.push(r, time, EntryData::Note(Note { title, text: body }))
    }
}

/// Demographics from a Patient when name, birth date and sex (female, male, other) are all given.
fn demographics(r: &Res<'_>) -> Result<Option<Demographics>, InteropError> {
    let names = array(r.value, "name", &r.path)?;
    let name = names.iter().enumerate().find_map(|(i, n)| {
        let usable = n.get("use").and_then(Value::as_str) != Some("anonymous");
        usable.then_some((i, n))
    });
    let Some((i, name)) = name else {
        return Ok(None);
    };
    let at = format!("{}.name[{i}]", r.path);
    let full = match text(name, "text", &at)? {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => {
            let mut words: Vec<String> = Vec::new();
            for (j, g) in array(name, "given", &at)?.iter().enumerate() {
                let g = g.as_str().ok_or_else(|| {
                    InteropError::fhir(format!("{at}.given[{j}]"), "expected a string")
                })?;
                words.push(g.to_string());
            }
            words.extend(text(name, "family", &at)?.map(str::to_string));
            words.join(" ")
        }
    };
    let sex = text(r.value, "gender", &r.path)?.unwrap_or("");
    let Some(birth) = text(r.value, "birthDate", &r.path)? else {
        return Ok(None);
    };
    let birth_date = parse_fhir_date(birth)
        .map_err(|m| InteropError::fhir(format!("{}.birthDate", r.path), m))?;
    if full.trim().is_empty() || !SEXES.contains(&sex) {
        return Ok(None);
    }
    let d = Demographics {
        name: full,
        birth_date,
        sex: sex.to_string(),
    };
    d.normalized()
        .map(Some)
        .map_err(|e| InteropError::fhir(&r.path, e.to_string()))
}

/// The text of the first of a list of CodeableConcepts that has one (every one is checked).
fn first_concept_text(r: &Res<'_>, key: &str) -> Result<Option<String>, InteropError> {
    let mut first = None;
    for (i, concept) in array(r.value, key, &r.path)?.iter().enumerate() {
        let text = concept_text(Some(concept), &format!("{}.{key}[{i}]", r.path))?;
        first = first.or(text);
    }
    Ok(first)
}

/// The Carelog order a result names in `basedOn` (identifier `urn:carelog:entry`), if any.
fn carelog_order(r: &Res<'_>) -> Result<Option<String>, InteropError> {
    for (i, based) in array(r.value, "basedOn", &r.path)?.iter().enumerate() {
        let at = format!("{}.basedOn[{i}].identifier", r.path);
        let Some(identifier) = based.get("identifier") else {
            continue;
        };
        if text(identifier, "system", &at)? == Some(ENTRY_ID_SYSTEM)
            && let Some(id) = text(identifier, "value", &at)?
            && id.len() == 64
            && id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(Some(id.to_ascii_lowercase()));
        }
    }
    Ok(None)
}

/// Why a Condition or AllergyIntolerance is not a current fact, if it is not.
fn not_current(r: &Res<'_>) -> Result<Option<String>, InteropError> {
    let at = format!("{}.verificationStatus", r.path);
    let status = r.value.get("verificationStatus");
    for (_, code, _) in codings(status.unwrap_or(&Value::Null), &at)? {
        if matches!(code, "entered-in-error" | "refuted") {
            return Ok(Some(format!("verification status `{code}`")));
        }
    }
    Ok(None)
}

/// (LOINC code, name, value, unit) of something with `code` and `valueQuantity`; `None` without LOINC.
fn measured(v: &Value, path: &str) -> Result<Option<(String, String, f64, String)>, InteropError> {
    let code = v.get("code").unwrap_or(&Value::Null);
    let at = format!("{path}.code");
    let Some((_, loinc, display)) = codings(code, &at)?
        .into_iter()
        .find(|(system, _, _)| *system == LOINC_SYSTEM)
    else {
        return Ok(None);
    };
    check_loinc(loinc).map_err(|m| InteropError::fhir(&at, m))?;
    let name = text(code, "text", &at)?
        .or(display)
        .unwrap_or("")
        .trim()
        .to_string();
    let at = format!("{path}.valueQuantity");
    let q = v
        .get("valueQuantity")
        .ok_or_else(|| InteropError::fhir(&at, "missing"))?;
    let value = number(
        q.get("value").unwrap_or(&Value::Null),
        &format!("{at}.value"),
    )?;
    let ucum = match text(q, "system", &at)? {
        Some(UCUM_SYSTEM) => text(q, "code", &at)?,
        _ => None,
    };
    let unit = ucum
        .or(text(q, "unit", &at)?)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or("1")
        .to_string();
    Ok(Some((loinc.to_string(), name, value, unit)))
}
