//! HL7 v2.5 ORU^R01: writing a chart as a message and reading results from one.

mod encode;
mod escape;
mod message;
mod parse;

use carelog_chart::{Demographics, EntryData};

pub use encode::{MESSAGE_ID_MAX_CHARS, NAMESPACE_ID_MAX_CHARS, to_hl7};
pub use escape::Delimiters;
pub use parse::{parse_oru, parse_oru_batch};

/// What one ORU^R01 message holds for the chart, read by [`parse_oru`].
#[derive(Clone, Debug, PartialEq)]
pub struct OruMessage {
    /// MSH-10, the sender's message control id (for the acknowledgement and the audit trail).
    pub control_id: String,
    /// MSH-3, the sending application, e.g. an analyzer or LIS name.
    pub sending_application: String,
    /// MSH-4, the sending facility.
    pub sending_facility: String,
    /// MSH-7, when the message was sent (Unix ms).
    pub sent_ms: i64,
    /// PID-3, first repetition, first component: the patient the results belong to.
    pub patient_id: String,
    /// PID-5 (legal name), PID-7 and PID-8, when all three are given (for matching, not charting).
    pub demographics: Option<Demographics>,
    /// Chart entries in message order with their observation time (Unix ms): lab results,
    /// vitals and notes, each validated as `EntryData::parse` would.
    pub results: Vec<(i64, EntryData)>,
    /// Results left out and values adjusted, one sentence each, for the importer to show.
    pub warnings: Vec<String>,
}
