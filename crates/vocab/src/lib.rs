//! The two small vocabularies the ledger, the chart and the window share: what kind of entry a
//! chart entry is, and how much of a chart a reader may see.
//!
//! The ledger needs both in the clear (its policy checks kinds and levels) but none of the
//! clinical model, so they live here rather than in `carelog-chart`.
//!
//! ```
//! use carelog_vocab::{AccessLevel, EntryKind};
//! assert_eq!("lab".parse::<EntryKind>(), Ok(EntryKind::Lab));
//! assert!(AccessLevel::Sample < AccessLevel::Full);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that names no kind or level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownWord {
    /// Not one of the entry kinds.
    #[error(
        "unknown kind `{0}`; expected one of vitals, lab, note, condition, allergy, medication, encounter, order, immunization"
    )]
    Kind(String),
    /// Not one of the four access levels.
    #[error("unknown access level `{0}`; expected one of none, information, sample, full")]
    Level(String),
}

/// What a chart entry records. The variant order is part of the ledger's canonical encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Blood pressure, heart rate, temperature, weight, height, SpO2.
    Vitals,
    /// One laboratory result with its LOINC code.
    Lab,
    /// A free-text clinical note.
    Note,
    /// A diagnosis (ICD-10) on the problem list.
    Condition,
    /// An allergy or intolerance.
    Allergy,
    /// A drug exposure (OMOP style).
    Medication,
    /// Name, birth date and sex; written at patient registration, corrected by amendment.
    Demographics,
    /// A visit: the day's entries written in it belong to it.
    Encounter,
    /// A laboratory order (a LOINC-coded test) that a result answers.
    Order,
    /// A vaccine given (CVX code).
    Immunization,
}

impl EntryKind {
    /// Every kind, in canonical order.
    pub const ALL: [EntryKind; 10] = [
        EntryKind::Vitals,
        EntryKind::Lab,
        EntryKind::Note,
        EntryKind::Condition,
        EntryKind::Allergy,
        EntryKind::Medication,
        EntryKind::Demographics,
        EntryKind::Encounter,
        EntryKind::Order,
        EntryKind::Immunization,
    ];

    /// The kinds a clinician may add with `chart add` (all but demographics).
    pub const CHARTABLE: [EntryKind; 9] = [
        EntryKind::Vitals,
        EntryKind::Lab,
        EntryKind::Note,
        EntryKind::Condition,
        EntryKind::Allergy,
        EntryKind::Medication,
        EntryKind::Encounter,
        EntryKind::Order,
        EntryKind::Immunization,
    ];

    /// The lowercase name used in JSON, on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Vitals => "vitals",
            EntryKind::Lab => "lab",
            EntryKind::Note => "note",
            EntryKind::Condition => "condition",
            EntryKind::Allergy => "allergy",
            EntryKind::Medication => "medication",
            EntryKind::Demographics => "demographics",
            EntryKind::Encounter => "encounter",
            EntryKind::Order => "order",
            EntryKind::Immunization => "immunization",
        }
    }

    /// Whether a clinician may add entries of this kind (everything but demographics).
    pub fn is_chartable(self) -> bool {
        self != EntryKind::Demographics
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = UnknownWord;

    fn from_str(text: &str) -> Result<EntryKind, UnknownWord> {
        let wanted = text.trim();
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownWord::Kind(text.to_string()))
    }
}

/// How much of a chart a reader may see (HealthyBlock's four levels), weakest first.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Nothing.
    #[default]
    None,
    /// Statistics only: counts, range, mean, trend.
    Information,
    /// Latest values, with identity and free text obfuscated or truncated.
    Sample,
    /// Everything, with authors and amendments.
    Full,
}

impl AccessLevel {
    /// Every level, weakest first.
    pub const ALL: [AccessLevel; 4] = [
        AccessLevel::None,
        AccessLevel::Information,
        AccessLevel::Sample,
        AccessLevel::Full,
    ];

    /// The lowercase name used in JSON, on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::None => "none",
            AccessLevel::Information => "information",
            AccessLevel::Sample => "sample",
            AccessLevel::Full => "full",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessLevel {
    type Err = UnknownWord;

    fn from_str(text: &str) -> Result<AccessLevel, UnknownWord> {
        let wanted = text.trim();
        AccessLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownWord::Level(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text_and_serde() {
        for kind in EntryKind::ALL {
            assert_eq!(kind.to_string().parse::<EntryKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<EntryKind>(&json).unwrap(), kind);
        }
        assert_eq!(EntryKind::CHARTABLE.len(), EntryKind::ALL.len() - 1);
        assert!(!EntryKind::CHARTABLE.contains(&EntryKind::Demographics));
    }

    #[test]
    fn unknown_kind_lists_the_choices() {
        let err = "xray".parse::<EntryKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown kind `xray`; expected one of vitals, lab, note, condition, allergy, medication, encounter, order, immunization"
        );
    }

    #[test]
    fn levels_are_ordered_and_named() {
        assert!(AccessLevel::None < AccessLevel::Information);
        assert!(AccessLevel::Information < AccessLevel::Sample);
        assert!(AccessLevel::Sample < AccessLevel::Full);
        for level in AccessLevel::ALL {
            assert_eq!(level.to_string().parse::<AccessLevel>(), Ok(level));
            assert_eq!(
                serde_json::to_value(level).unwrap(),
                serde_json::json!(level.as_str())
            );
        }
        let err = "admin".parse::<AccessLevel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown access level `admin`; expected one of none, information, sample, full"
        );
    }
}
