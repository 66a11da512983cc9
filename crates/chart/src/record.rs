//! Written entries: notes, conditions, allergies, medications and demographics.
//!
//! Medications carry the OMOP `drug_exposure` fields (drug concept as RxNorm or ATC, route,
//! quantity, days' supply, sig, stop reason); conditions carry a status and their dates.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::{ChartError, EntryKind};

/// Longest note text accepted, in characters (about thirty pages).
pub const NOTE_MAX_CHARS: usize = 100_000;
/// Longest single-line field (names, titles, reasons) accepted, in characters.
pub const LINE_MAX_CHARS: usize = 500;

/// A free-text clinical note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// A short heading, e.g. "Follow-up".
    pub title: String,
    /// The note itself.
    pub text: String,
}

/// A diagnosis on the problem list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// ICD-10 code, e.g. `E11.9`.
    pub icd10: String,
    /// The diagnosis in words.
    pub name: String,
    /// Active or resolved; active when not given (resolved when a resolution date is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProblemStatus>,
    /// When it began, if known.
    #[serde(
        default,
        with = "opt_date_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub onset: Option<Date>,
    /// When it resolved.
    #[serde(
        default,
        with = "opt_date_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved: Option<Date>,
}

/// Whether a problem is still present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemStatus {
    /// Still present.
    Active,
    /// No longer present.
    Resolved,
}

impl ProblemStatus {
    /// The lowercase word used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemStatus::Active => "active",
            ProblemStatus::Resolved => "resolved",
        }
    }
}

/// How severe a reaction is (FHIR AllergyIntolerance.reaction.severity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Mild.
    Mild,
    /// Moderate.
    Moderate,
    /// Severe (FHIR criticality "high").
    Severe,
}

impl Severity {
    /// The lowercase word used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
        }
    }
}

/// An allergy or intolerance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allergy {
    /// What the patient reacts to.
    pub substance: String,
    /// How the patient reacts, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    /// How severe the reaction is, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// A code for the substance (RxNorm, ATC or SNOMED CT), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A drug exposure (OMOP `drug_exposure`): what, how, from when, until when, and why it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    /// Drug, strength and form, e.g. "Metformin 500 mg".
    pub drug: String,
    /// RxNorm concept id (digits), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rxnorm: Option<String>,
    /// WHO ATC code, e.g. `A10BA02`, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atc: Option<String>,
    /// Dose per administration, e.g. "500 mg".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<String>,
    /// Route, e.g. "oral".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Frequency or sig, e.g. "twice daily with meals".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    /// Quantity dispensed (units of the form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<f64>,
    /// Why it is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// First day of the exposure.
    #[serde(with = "date_text")]
    pub start: Date,
    /// Last day of the exposure, once known (`end` is read as well).
    #[serde(
        default,
        rename = "stop",
        alias = "end",
        with = "opt_date_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub end: Option<Date>,
    /// Days the dispensed supply lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_supply: Option<u32>,
    /// Why the drug was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Why it was prescribed although it matches a recorded allergy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allergy_override: Option<String>,
}

/// Who the patient is; sealed like every entry, written at registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demographics {
    /// Full name.
    pub name: String,
    /// Date of birth.
    #[serde(with = "date_text")]
    pub birth_date: Date,
    /// `female`, `male` or `other`.
    pub sex: String,
}

/// The sexes Carelog records.
pub const SEXES: [&str; 3] = ["female", "male", "other"];

/// Trims `text`, refusing it when empty or longer than `max` characters.
pub(crate) fn required(
    kind: EntryKind,
    field: &str,
    text: &str,
    max: usize,
    hint: &str,
) -> Result<String, ChartError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ChartError::invalid(
            kind,
            format!("{field} is empty; {hint}"),
        ));
    }
    let chars = trimmed.chars().count();
    if chars > max {
        return Err(ChartError::invalid(
            kind,
            format!("{field} is {chars} characters long; at most {max} fit"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Trims an optional text; empty becomes absent.
pub(crate) fn optional(
    kind: EntryKind,
    field: &str,
    text: Option<&str>,
) -> Result<Option<String>, ChartError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => required(kind, field, t, LINE_MAX_CHARS, "").map(Some),
    }
}

impl Note {
    /// Trims and checks title and text.
    pub fn normalized(&self) -> Result<Note, ChartError> {
        let k = EntryKind::Note;
        Ok(Note {
            title: required(
                k,
                "title",
                &self.title,
                LINE_MAX_CHARS,
                "give a short heading",
            )?,
            text: required(k, "text", &self.text, NOTE_MAX_CHARS, "write the note")?,
        })
    }
}

impl Condition {
    /// Trims, upper-cases the code, checks its ICD-10 shape and that the dates agree with the status.
    pub fn normalized(&self) -> Result<Condition, ChartError> {
        let k = EntryKind::Condition;
        let icd10 = self.icd10.trim().to_ascii_uppercase();
        check_icd10(&icd10).map_err(|m| ChartError::invalid(k, m))?;
        let status = match (self.status, self.resolved) {
            (Some(ProblemStatus::Active), Some(date)) => {
                return Err(ChartError::invalid(
                    k,
                    format!(
                        "an active problem has no resolution date (resolved {}); set status to resolved or leave the date out",
                        date_string(date)
                    ),
                ));
            }
            (Some(status), _) => status,
            (None, Some(_)) => ProblemStatus::Resolved,
            (None, None) => ProblemStatus::Active,
        };
        if let (Some(onset), Some(resolved)) = (self.onset, self.resolved)
            && resolved < onset
        {
            return Err(ChartError::invalid(
                k,
                format!(
                    "resolved {} is before onset {}",
                    date_string(resolved),
                    date_string(onset)
                ),
            ));
        }
        Ok(Condition {
            icd10,
            name: required(
                k,
                "name",
                &self.name,
                LINE_MAX_CHARS,
                "give the diagnosis in words",
            )?,
            status: Some(status),
            onset: self.onset,
            resolved: self.resolved,
        })
    }

    /// Active unless marked resolved.
    pub fn status(&self) -> ProblemStatus {
        self.status.unwrap_or(if self.resolved.is_some() {
            ProblemStatus::Resolved
        } else {
            ProblemStatus::Active
        })
    }
}

/// Checks a short code (letters, digits, `.`, `-`; at most 32 characters).
fn code(kind: EntryKind, field: &str, text: Option<&str>) -> Result<Option<String>, ChartError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > 32
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(ChartError::invalid(
            kind,
            format!(
                "{field} `{text}` is not a code (letters, digits, dots and dashes, at most 32)"
            ),
        ));
    }
    Ok(Some(text.to_ascii_uppercase()))
}

impl Allergy {
    /// Trims and checks the substance, reaction and code.
    pub fn normalized(&self) -> Result<Allergy, ChartError> {
        let k = EntryKind::Allergy;
        Ok(Allergy {
            substance: required(
                k,
                "substance",
                &self.substance,
                LINE_MAX_CHARS,
                "name what the patient reacts to",
            )?,
            reaction: optional(k, "reaction", self.reaction.as_deref())?,
            severity: self.severity,
            code: code(k, "code", self.code.as_deref())?,
        })
    }
}

impl Medication {
    /// Trims and checks the drug, codes, dates, quantity and supply.
    pub fn normalized(&self) -> Result<Medication, ChartError> {
        let k = EntryKind::Medication;
        if let Some(end) = self.end
            && end < self.start
        {
            return Err(ChartError::invalid(
                k,
                format!(
                    "stop {} is before start {}",
                    date_string(end),
                    date_string(self.start)
                ),
            ));
        }
        if let Some(days) = self.days_supply
            && !(1..=3650).contains(&days)
        {
            return Err(ChartError::invalid(
                k,
                format!("days_supply {days} is outside 1–3650"),
            ));
        }
        if let Some(q) = self.quantity
            && !(q.is_finite() && q > 0.0 && q <= 100_000.0)
        {
            return Err(ChartError::invalid(
                k,
                format!("quantity {q} is outside 0–100000"),
            ));
        }
        let rxnorm = optional(k, "rxnorm", self.rxnorm.as_deref())?;
        if let Some(r) = &rxnorm
            && !(r.len() <= 10 && r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ChartError::invalid(
                k,
                format!("rxnorm `{r}` is not an RxNorm concept id (up to 10 digits)"),
            ));
        }
        let atc = optional(k, "atc", self.atc.as_deref())?.map(|a| a.to_ascii_uppercase());
        if let Some(a) = &atc {
            check_atc(a).map_err(|m| ChartError::invalid(k, m))?;
        }
        Ok(Medication {
            drug: required(
                k,
                "drug",
                &self.drug,
                LINE_MAX_CHARS,
                "give drug, strength and form",
            )?,
            rxnorm,
            atc,
            dose: optional(k, "dose", self.dose.as_deref())?,
            route: optional(k, "route", self.route.as_deref())?,
            frequency: optional(k, "frequency", self.frequency.as_deref())?,
            quantity: self.quantity,
            reason: optional(k, "reason", self.reason.as_deref())?,
            start: self.start,
            end: self.end,
            days_supply: self.days_supply,
            stop_reason: optional(k, "stop_reason", self.stop_reason.as_deref())?,
            allergy_override: optional(k, "allergy_override", self.allergy_override.as_deref())?,
        })
    }

    /// A drug started on `start`, with every other field unknown.
    pub fn started(drug: impl Into<String>, start: Date) -> Medication {
        Medication {
            drug: drug.into(),
            rxnorm: None,
            atc: None,
            dose: None,
            route: None,
            frequency: None,
            quantity: None,
            reason: None,
            start,
            end: None,
            days_supply: None,
            stop_reason: None,
            allergy_override: None,
        }
    }

    /// The summary's identity of this exposure: drug (case-insensitive) and start date.
    pub fn summary_key(&self) -> String {
        format!(
            "{}|{}",
            self.drug.trim().to_lowercase(),
            date_string(self.start)
        )
    }
}

/// Checks a WHO ATC code: a level-1 letter, then up to the five-level shape `A10BA02`.
pub fn check_atc(code: &str) -> Result<(), String> {
    let b = code.as_bytes();
    let shape_at = |i: usize, c: u8| match i {
        0 | 3 | 4 => c.is_ascii_uppercase(),
        _ => c.is_ascii_digit(),
    };
    if [1, 3, 4, 5, 7].contains(&b.len()) && b.iter().enumerate().all(|(i, &c)| shape_at(i, c)) {
        Ok(())
    } else {
        Err(format!(
            "ATC code `{code}` is not of the form A10BA02 (letter, two digits, two letters, two digits)"
        ))
    }
}

impl Demographics {
    /// Trims, lower-cases the sex and checks every field.
    pub fn normalized(&self) -> Result<Demographics, ChartError> {
        let k = EntryKind::Demographics;
        let sex = self.sex.trim().to_ascii_lowercase();
        if !SEXES.contains(&sex.as_str()) {
            return Err(ChartError::invalid(
                k,
                format!("sex `{}` is not one of female, male, other", self.sex),
            ));
        }
        Ok(Demographics {
            name: required(
                k,
                "name",
                &self.name,
                LINE_MAX_CHARS,
                "give the patient's full name",
            )?,
            birth_date: self.birth_date,
            sex,
        })
    }

    /// The name as initials, e.g. "Paula Ester" → "P. E.". One letter per word, even where a
    /// letter's capital is several ("ß" → "S."), so the initials of initials are the same.
    pub fn initials(&self) -> String {
        self.name
            .split_whitespace()
            .filter_map(|word| word.chars().next())
            .filter_map(|c| c.to_uppercase().next())
            .map(|c| format!("{c}."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: Date) -> i32 {
        let born = self.birth_date;
        let had_birthday = (today.month(), today.day()) >= (born.month(), born.day());
        today.year() - born.year() - i32::from(!had_birthday)
    }

    /// The year of birth alone.
    pub fn birth_year(&self) -> i32 {
        self.birth_date.year()
    }
}

/// Checks an (already upper-cased) ICD-10 code: letter, digit, digit-or-letter, optional `.` and 1–4 more.
pub fn check_icd10(code: &str) -> Result<(), String> {
    let shape = || {
        format!(
            "ICD-10 code `{code}` is not of the form E11.9 (letter, two characters, optional dot and up to four more)"
        )
    };
    let (category, detail) = match code.split_once('.') {
        Some((c, d)) => (c, Some(d)),
        None => (code, None),
    };
    let c = category.as_bytes();
    let category_ok = c.len() == 3
        && c[0].is_ascii_uppercase()
        && c[1].is_ascii_digit()
        && (c[2].is_ascii_digit() || c[2].is_ascii_uppercase());
    let detail_ok = detail.is_none_or(|d| {
        (1..=4).contains(&d.len())
            && d.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    });
    if category_ok && detail_ok {
        Ok(())
    } else {
        Err(shape())
    }
}

/// A date as `YYYY-MM-DD`.
pub fn date_string(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses a `YYYY-MM-DD` date, explaining what is wrong in words.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let bad = || format!("`{text}` is not a date; write it as YYYY-MM-DD, e.g. 2026-01-10");
    if !shaped {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<u16>().map_err(|_| bad());
    let year = i32::from(num(0..4)?);
    let month = u8::try_from(num(5..7)?).map_err(|_| bad())?;
    let day = u8::try_from(num(8..10)?).map_err(|_| bad())?;
    let month =
        time::Month::try_from(month).map_err(|_| format!("`{text}` has no month {month}"))?;
    Date::from_calendar_date(year, month, day)
        .map_err(|_| format!("`{text}` is not a day of the calendar"))
}

/// serde for a `YYYY-MM-DD` date.
pub(crate) mod date_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::date_string(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        super::parse_date(&text).map_err(D::Error::custom)
    }
}

/// serde for an optional `YYYY-MM-DD` date.
pub(crate) mod opt_date_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => s.serialize_str(&super::date_string(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let text = Option::<std::borrow::Cow<str>>::deserialize(d)?;
        text.map(|t| super::parse_date(&t).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_shapes() {
        for ok in ["E11.9", "I10", "C7A.01", "J45.909", "Z00.00"] {
            assert_eq!(check_icd10(ok), Ok(()), "{ok}");
        }
        for bad in ["E1", "11.9", "E11.", "E11.12345", "E11-9", "", "e11.9"] {
            assert!(check_icd10(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(date_string(parse_date("2026-01-10").unwrap()), "2026-01-10");
        assert!(
            parse_date("2026-13-01")
                .unwrap_err()
                .contains("no month 13")
        );
        assert!(parse_date("2026-02-30").unwrap_err().contains("not a day"));
        assert!(parse_date("10/01/2026").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_date("２０２６-01-10").is_err());
    }

    #[test]
    fn initials_and_birth_year() {
        let d = Demographics {
            name: "Paula Ester".into(),
            birth_date: parse_date("1980-04-02").unwrap(),
            sex: "female".into(),
        };
        assert_eq!(d.initials(), "P. E.");
        for (name, initials) in [("ὐλη ßeta", "Υ. S."), ("élodie", "É.")] {
            let d = Demographics {
                name: name.into(),
                ..d.clone()
            };
            assert_eq!(d.initials(), initials);
            let again = Demographics {
                name: d.initials(),
                ..d.clone()
            };
            assert_eq!(again.initials(), initials, "initials of initials");
        }
        assert_eq!(d.birth_year(), 1980);
        let on = |text| d.age_on(parse_date(text).unwrap());
        assert_eq!(
            (on("2026-04-01"), on("2026-04-02"), on("1980-04-02")),
            (45, 46, 0)
        );
    }

    #[test]
    fn medication_key_ignores_case_and_spacing() {
        let m = |drug: &str| Medication {
            drug: drug.into(),
            rxnorm: None,
            atc: None,
            dose: None,
            route: None,
            frequency: None,
            quantity: None,
            reason: None,
            start: parse_date("2026-01-10").unwrap(),
            end: None,
            days_supply: None,
            stop_reason: None,
            allergy_override: None,
        };
        assert_eq!(
            m("Metformin 500 mg").summary_key(),
            m(" metformin 500 mg ").summary_key()
        );
    }
}
