//! The one error type of the chart crate: every message is a sentence a clinician can act on.

use crate::EntryKind;

/// Why a chart value was refused or could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    /// An entry's data is malformed or clinically implausible.
    #[error("{kind}: {message}")]
    Invalid {
        /// The kind of entry being checked.
        kind: EntryKind,
        /// What is wrong, in words.
        message: String,
    },
    /// A kind or access level name that is not one of the chart's.
    #[error(transparent)]
    Word(#[from] carelog_vocab::UnknownWord),
    /// Demographics were offered where only clinical entries belong.
    #[error(
        "demographics are recorded at patient registration and corrected by amending that entry; choose vitals, lab, note, condition, allergy, medication, encounter, order or immunization"
    )]
    NotChartable,
    /// A stored entry payload could not be decoded.
    #[error("stored chart entry is unreadable: {0}")]
    Corrupt(String),
    /// A patient summary change could not be read or applied.
    #[error("patient summary: {0}")]
    Summary(String),
}

impl ChartError {
    /// An `Invalid` error for `kind` with `message`.
    pub(crate) fn invalid(kind: EntryKind, message: impl Into<String>) -> ChartError {
        ChartError::Invalid {
            kind,
            message: message.into(),
        }
    }
}

/// serde_json's message without the " at line L column C" tail, which means nothing to a clinician.
pub(crate) fn json_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let tail = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&tail) {
        Some(head) if err.line() > 0 => head.to_string(),
        _ => text,
    }
}
