//! The one error type of the interop crate: each message names where the problem is and what to do.

use carelog_chart::{AccessLevel, ChartError};

/// Why an export was refused or an incoming message was not imported.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InteropError {
    /// The reader's level does not allow values to leave the chart.
    #[error(
        "{level} access shows {shown}; HL7 and FHIR exports carry values, so they need sample or full access"
    )]
    LevelTooLow {
        /// The reader's level.
        level: AccessLevel,
        /// What that level shows instead, in words.
        shown: &'static str,
    },
    /// An argument of the export (message id, clinic name, patient id) is unusable.
    #[error("export {field}: {message}")]
    Export {
        /// The `PatientExport` field at fault.
        field: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// A chart record handed to the export does not pass the chart's own checks.
    #[error("chart entry {entry_id}: {source}")]
    Record {
        /// The entry's id.
        entry_id: String,
        /// The chart's reason.
        source: ChartError,
    },
    /// An HL7 v2 message is malformed or is not an ORU^R01 Carelog can read.
    #[error("{location}: {message}{}", line_suffix(*.line))]
    Hl7 {
        /// Segment and field, e.g. `OBX-5`, or a segment name alone.
        location: String,
        /// What is wrong, in words.
        message: String,
        /// The segment's position in the message (1-based), when it has one.
        line: Option<usize>,
    },
    /// A FHIR resource is malformed or cannot become a chart entry.
    #[error("FHIR {path}: {message}")]
    Fhir {
        /// Where in the JSON, e.g. `Bundle.entry[3].resource.valueQuantity.value`.
        path: String,
        /// What is wrong, in words.
        message: String,
    },
}

/// " (segment N)" when the error has a position.
fn line_suffix(line: Option<usize>) -> String {
    line.map(|n| format!(" (segment {n})")).unwrap_or_default()
}

impl InteropError {
    /// An `Hl7` error at `location` in segment `line`.
    pub(crate) fn hl7(
        location: impl Into<String>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        InteropError::Hl7 {
            location: location.into(),
            message: message.into(),
            line: (line > 0).then_some(line),
        }
    }

    /// A `Fhir` error at `path`.
    pub(crate) fn fhir(path: impl Into<String>, message: impl Into<String>) -> Self {
        InteropError::Fhir {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An `Export` error about `field`.
    pub(crate) fn export(field: &'static str, message: impl Into<String>) -> Self {
        InteropError::Export {
            field,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place() {
        let e = InteropError::hl7("OBX-5", 7, "`abc` is not a number for value type NM");
        assert_eq!(
            e.to_string(),
            "OBX-5: `abc` is not a number for value type NM (segment 7)"
        );
        let e = InteropError::hl7("PID", 0, "missing");
        assert_eq!(e.to_string(), "PID: missing");
        let e = InteropError::LevelTooLow {
            level: AccessLevel::Information,
            shown: "statistics only",
        };
        assert!(
            e.to_string()
                .starts_with("information access shows statistics only")
        );
    }
}
