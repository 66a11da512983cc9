//! Reading ORU^R01 messages from lab analyzers, LIS systems and Carelog into chart entries.
//!
//! What becomes what:
//! - an OBX with a LOINC code (OBX-3, primary or alternate coding `LN`) and a numeric value
//!   (`NM`, an `SN` without comparator, or an `ST` that is a number) is a lab result; one with a
//!   vital sign's LOINC code and unit joins the vitals entry of its OBR and time;
//! - NTEs under an OBR coded 34109-9 (Note) are a note (first repetition the title); other NTEs
//!   become notes titled after what they comment on (patient, order or result);
//! - OBX results that are not final (OBX-11 other than F, C or empty), qualitative or coded, or
//!   without a LOINC code are left out and listed in `warnings`, as are flags and ranges Carelog
//!   cannot read (the flag is then computed from the range).
//!
//! Anything malformed (a bad MSH, a non-numeric NM value, a bad LOINC check digit, an unreadable
//! time, OBX before OBR, two patients) refuses the whole message: nothing partial is returned.

use carelog_chart::{
    ABNORMAL_FLAGS, Demographics, EntryData, LINE_MAX_CHARS, LabResult, Note, VitalSign, Vitals,
    check_loinc,
};

use super::OruMessage;
use super::message::{Message, Segment, lines};
use crate::datetime::{parse_hl7_date, parse_hl7_time};
use crate::vital::{set_vital, vital_sign};
use crate::{InteropError, NOTE_LOINC};

/// Reads one ORU^R01 message (CR, LF or CRLF separators; MLLP framing and batch headers ignored).
pub fn parse_oru(text: &str) -> Result<OruMessage, InteropError> {
    let message = Message::split(text)?;
    Reader::default().read(&message)
}

/// Reads a file of one or more ORU^R01 messages, each starting at its MSH; all or nothing.
pub fn parse_oru_batch(text: &str) -> Result<Vec<OruMessage>, InteropError> {
    let mut messages: Vec<String> = Vec::new();
    for line in lines(text) {
        if line.starts_with("MSH") || messages.is_empty() {
            messages.push(String::new());
        }
        if let Some(current) = messages.last_mut() {
            current.push_str(line);
            current.push('\r');
        }
    }
    messages.iter().map(|m| parse_oru(m)).collect()
}

/// Whether a decimal is plain HL7 NM text: optional sign, digits, optional point and digits.
fn is_nm(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction)
}

/// An NM value as a finite number.
fn parse_nm(text: &str) -> Option<f64> {
    let text = text.trim();
    if !is_nm(text) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// OBX-7 text as (low, high): `a-b`, `>a`, `>=a`, `<b`, `<=b`; `None` when unreadable.
fn parse_range(text: &str) -> Option<(Option<f64>, Option<f64>)> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        return Some((Some(parse_nm(rest)?), None));
    }
    if let Some(rest) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        return Some((None, Some(parse_nm(rest)?)));
    }
    // The separating dash is the first one after the low value's own optional sign.
    let from = usize::from(t.starts_with('-'));
    let at = t.get(from..)?.find('-')? + from;
    Some((Some(parse_nm(&t[..at])?), Some(parse_nm(&t[at + 1..])?)))
}

/// At most `LINE_MAX_CHARS` characters, for titles made from codes' texts.
fn line(text: &str) -> String {
    text.chars().take(LINE_MAX_CHARS).collect()
}

/// What an NTE comments on, which decides its note's title.
#[derive(Clone, Debug, PartialEq)]
enum Subject {
    /// Before any PID: not allowed.
    Nothing,
    /// The patient (NTE after PID).
    Patient,
    /// A Carelog note (OBR coded 34109-9).
    NoteOrder,
    /// An order, named by its OBR-4 text.
    Order(String),
    /// One result, named by its OBX-3 text, observed at this time.
    Result(String, i64),
}

/// NTE lines collected for one subject, turned into a note when the subject changes.
#[derive(Debug)]
struct Comment {
    subject: Subject,
    time: i64,
    line: usize,
    lines: Vec<String>,
}

/// The order (OBR) being read.
#[derive(Debug)]
struct Order {
    time: i64,
    /// The Carelog order this OBR answers (OBR-2 `<entry id>^Carelog`).
    placer: Option<String>,
    /// Indexes into `results` of this order's vitals entries, with their times.
    vitals: Vec<(usize, i64)>,
}

/// Reader state while walking the segments.
#[derive(Debug, Default)]
struct Reader {
    patient_id: Option<String>,
    demographics: Option<Demographics>,
    sent_ms: i64,
    subject: Option<Subject>,
    order: Option<Order>,
    comment: Option<Comment>,
    results: Vec<(i64, EntryData)>,
    /// Segment line of each result, for errors found when vitals are checked at the end.
    result_lines: Vec<usize>,
    warnings: Vec<String>,
}

impl Reader {
    /// Walks the message and returns what it holds, or the first thing wrong with it.
    fn read(mut self, message: &Message<'_>) -> Result<OruMessage, InteropError> {
        let msh = &message.segments[0];
        let (kind, event) = (msh.text(9, 1), msh.text(9, 2));
        if !kind.eq_ignore_ascii_case("ORU") || !event.eq_ignore_ascii_case("R01") {
            let found = msh.raw(9);
            return Err(msh.error(9, format!("expected ORU^R01, found `{found}`")));
        }
        let version = msh.text(12, 1);
        if !version.starts_with("2.") {
            return Err(msh.error(12, format!("version `{version}` is not HL7 v2 (2.x)")));
        }
        let control_id = msh.text(10, 1);
        if control_id.is_empty() {
            return Err(msh.error(10, "missing message control id"));
        }
        self.sent_ms =
            time_field(msh, 7)?.ok_or_else(|| msh.error(7, "missing date/time of message"))?;
        self.subject = Some(Subject::Nothing);

        for segment in &message.segments[1..] {
            match segment.name {
                "MSH" => {
                    return Err(InteropError::hl7(
                        "MSH",
                        segment.line,
                        "a second message starts here; read files of several messages with parse_oru_batch",
                    ));
                }
                "PID" => self.pid(segment)?,
                "OBR" => self.obr(segment)?,
                "OBX" => self.obx(segment)?,
                "NTE" => self.nte(segment)?,
                // ORC, SPM, PV1, TQ1, CTD, Z-segments…: nothing a chart entry needs.
                _ => {}
            }
        }
        self.flush_comment()?;
        let patient_id = self.patient_id.take().ok_or_else(|| {
            InteropError::hl7(
                "PID",
                0,
                "missing; an ORU^R01 must name the patient in PID-3",
            )
        })?;
        for (i, (_, data)) in self.results.iter().enumerate() {
            if let EntryData::Vitals(_) = data {
                data.validate()
                    .map_err(|e| InteropError::hl7("OBX-5", self.result_lines[i], e.to_string()))?;
            }
        }
        Ok(OruMessage {
            control_id,
            sending_application: msh.text(3, 1),
            sending_facility: msh.text(4, 1),
            sent_ms: self.sent_ms,
            patient_id,
            demographics: self.demographics,
            results: self.results,
            warnings: self.warnings,
        })
    }

    /// PID: the patient id is PID-3, first repetition, first component.
    fn pid(&mut self, s: &Segment<'_>) -> Result<(), InteropError> {
        self.flush_comment()?;
        let id = s.text(3, 1);
        if id.is_empty() {
            return Err(s.error(3, "no patient identifier in the first repetition"));
        }
        if let Some(known) = &self.patient_id
            && *known != id
        {
            return Err(s.error(
                3,
                format!("the message names two patients (`{known}` and `{id}`); send one patient per message"),
            ));
        }
        self.patient_id = Some(id);
        self.demographics = pid_demographics(s)?;
        self.order = None;
        self.subject = Some(Subject::Patient);
        Ok(())
    }

    /// OBR: a new order, whose time (OBR-7, else MSH-7) dates its results.
    fn obr(&mut self, s: &Segment<'_>) -> Result<(), InteropError> {
        self.flush_comment()?;
        if self.patient_id.is_none() {
            return Err(InteropError::hl7("OBR", s.line, "comes before any PID"));
        }
        let time = time_field(s, 7)?.unwrap_or(self.sent_ms);
        let placer = (s.text(2, 2) == "Carelog")
            .then(|| s.text(2, 1).trim().to_ascii_lowercase())
            .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        self.order = Some(Order {
            time,
            placer,
            vitals: Vec::new(),
        });
        let (code, name) = (s.text(4, 1), s.text(4, 2));
        self.subject = Some(if code == NOTE_LOINC.0 {
            Subject::NoteOrder
        } else {
            Subject::Order(if name.is_empty() { code } else { name })
        });
        Ok(())
    }

    /// OBX: one result; see the module docs for what is imported and what is listed as a warning.
    fn obx(&mut self, s: &Segment<'_>) -> Result<(), InteropError> {
        self.flush_comment()?;
        let Some(order) = &self.order else {
            return Err(InteropError::hl7("OBX", s.line, "comes before any OBR"));
        };
        let time = time_field(s, 14)?.unwrap_or(order.time);
        let coded = loinc_of(s);
        let shown = match &coded {
            Some((code, name)) if !name.is_empty() => format!("{name} ({code})"),
            Some((code, _)) => code.clone(),
            None if !s.text(3, 2).is_empty() => s.text(3, 2),
            None => s.text(3, 1),
        };
        let label = format!("OBX {} `{shown}`", s.text(1, 1));
        self.subject = Some(Subject::Result(shown.clone(), time));

        let status = s.text(11, 1).to_ascii_uppercase();
        let skip_reason = match status.as_str() {
            "" | "F" | "C" => None,
            "X" => Some("the result could not be obtained (OBX-11 X)".to_string()),
            "D" | "W" => Some(format!(
                "OBX-11 {status} retracts an earlier result; correct that result in the chart by hand"
            )),
            other => Some(format!("result status `{other}` (OBX-11) is not final")),
        };
        if let Some(reason) = skip_reason {
            self.warnings
                .push(format!("{label}: {reason}; not imported"));
            return Ok(());
        }
        let Some((loinc, name)) = coded else {
            self.warnings.push(format!(
                "{label}: OBX-3 has no LOINC code (coding system LN); not imported"
            ));
            return Ok(());
        };
        check_loinc(&loinc).map_err(|m| s.error(3, m))?;
        let Some(value) = self.value(s, &label)? else {
            return Ok(());
        };
        let unit = [s.text(6, 1), s.text(6, 2)]
            .into_iter()
            .find(|u| !u.is_empty())
            .unwrap_or_else(|| "1".to_string());

        if let Some(sign) = vital_sign(&loinc, &unit) {
            self.add_vital(&sign, value, time, s.line);
            return Ok(());
        }
        let range_raw = s.text(7, 1);
        let (low, high) = if range_raw.is_empty() {
            (None, None)
        } else {
            parse_range(&range_raw).unwrap_or_else(|| {
                self.warnings.push(format!(
                    "{label}: reference range `{range_raw}` (OBX-7) is not low-high, >low or <high; left out"
                ));
                (None, None)
            })
        };
        if let (Some(l), Some(h)) = (low, high)
            && l > h
        {
            return Err(s.error(7, format!("reference range low {l} is above high {h}")));
        }
        let flag = s
            .repetitions(8)
            .into_iter()
            .map(|rep| s.component_of(rep, 1).trim().to_ascii_uppercase())
            .find(|f| !f.is_empty());
        let abnormal = match flag {
            Some(f) if ABNORMAL_FLAGS.contains(&f.as_str()) => Some(f),
            Some(f) => {
                self.warnings.push(format!(
                    "{label}: abnormal flag `{f}` (OBX-8) is not one of {}; computed from the range",
                    ABNORMAL_FLAGS.join(", ")
                ));
                None
            }
            None => None,
        };
        let lab = LabResult {
            loinc: loinc.clone(),
            name: if name.is_empty() { loinc } else { line(&name) },
            value,
            unit,
            low,
            high,
            abnormal,
            order: self.order.as_ref().and_then(|o| o.placer.clone()),
        };
        let data = EntryData::Lab(lab)
            .normalized()
            .map_err(|e| InteropError::hl7("OBX", s.line, e.to_string()))?;
        self.results.push((time, data));
        self.result_lines.push(s.line);
        Ok(())
    }

    /// OBX-5 as a number per OBX-2; `None` (with a warning) when it is not a plain number.
    fn value(&mut self, s: &Segment<'_>, label: &str) -> Result<Option<f64>, InteropError> {
        match obx_value(s)? {
            Ok(v) => Ok(Some(v)),
            Err(why) => {
                self.warnings.push(format!("{label}: {why}; not imported"));
                Ok(None)
            }
        }
    }

    /// Adds a vital sign to its order's vitals entry at `time` (a new entry if that one has it).
    fn add_vital(&mut self, sign: &VitalSign, value: f64, time: i64, line: usize) {
        let Some(order) = self.order.as_mut() else {
            return;
        };
        for (index, t) in &order.vitals {
            if *t == time
                && let (_, EntryData::Vitals(v)) = &mut self.results[*index]
                && set_vital(v, sign, value)
            {
                return;
            }
        }
        let mut v = Vitals::default();
        set_vital(&mut v, sign, value);
        order.vitals.push((self.results.len(), time));
        self.results.push((time, EntryData::Vitals(v)));
        self.result_lines.push(line);
    }

    /// NTE: comment lines for the current subject (consecutive NTEs make one note).
    fn nte(&mut self, s: &Segment<'_>) -> Result<(), InteropError> {
        let subject = self.subject.clone().unwrap_or(Subject::Nothing);
        if subject == Subject::Nothing {
            return Err(InteropError::hl7("NTE", s.line, "comes before any PID"));
        }
        let time = match &subject {
            Subject::Result(_, t) => *t,
            _ => self.order.as_ref().map_or(self.sent_ms, |o| o.time),
        };
        let lines: Vec<String> = s.lines(3);
        match &mut self.comment {
            Some(c) if c.subject == subject => c.lines.extend(lines),
            _ => {
                self.flush_comment()?;
                self.comment = Some(Comment {
                    subject,
                    time,
                    line: s.line,
                    lines,
                });
            }
        }
        Ok(())
    }

    /// Turns the collected NTE lines into a note entry, if they hold any text.
    fn flush_comment(&mut self) -> Result<(), InteropError> {
        let Some(c) = self.comment.take() else {
            return Ok(());
        };
        let mut lines = c.lines;
        let title = match &c.subject {
            Subject::NoteOrder if lines.len() > 1 => lines.remove(0),
            Subject::NoteOrder => "Note".to_string(),
            Subject::Patient => "Comment".to_string(),
            Subject::Order(name) | Subject::Result(name, _) => line(&format!("Comment on {name}")),
            Subject::Nothing => return Ok(()),
        };
        let text = lines.join("\n");
        if text.trim().is_empty() {
            return Ok(());
        }
        let note = EntryData::Note(Note { title, text })
            .normalized()
            .map_err(|e| InteropError::hl7("NTE-3", c.line, e.to_string()))?;
        self.results.push((c.time, note));
        self.result_lines.push(c.line);
        Ok(())
    }
}

/// OBX-5 per OBX-2: a number, or why it is not one Carelog can hold (inner `Err`).
fn obx_value(s: &Segment<'_>) -> Result<Result<f64, String>, InteropError> {
    let value_type = s.text(2, 1).to_ascii_uppercase();
    let raw = s.repetitions(5).first().copied().unwrap_or("");
    let first = s.component_of(raw, 1).trim().to_string();
    if raw.trim().is_empty() {
        return Ok(Err("OBX-5 is empty".into()));
    }
    Ok(match value_type.as_str() {
        "NM" => Ok(parse_nm(&first)
            .ok_or_else(|| s.error(5, format!("`{first}` is not a number for value type NM")))?),
        "SN" => {
            let (number, separator) = (s.component_of(raw, 2), s.component_of(raw, 3));
            let rest_empty = number.trim().is_empty() && separator.trim().is_empty();
            match (first.as_str(), parse_nm(&first)) {
                // Some senders drop the empty comparator: `5.4` for `^5.4`.
                (_, Some(v)) if rest_empty => Ok(v),
                ("" | "=", _) if separator.trim().is_empty() => {
                    Ok(parse_nm(&number).ok_or_else(|| {
                        s.error(
                            5,
                            format!("`{}` is not a number for value type SN", number.trim()),
                        )
                    })?)
                }
                ("" | "=" | "<" | ">" | "<=" | ">=" | "<>", _) => Err(format!(
                    "`{raw}` is a bound, range or ratio; Carelog lab results hold single numbers"
                )),
                _ => {
                    return Err(s.error(
                        5,
                        format!(
                            "`{raw}` is not a structured numeric (SN) value such as ^5.4 or <^0.5"
                        ),
                    ));
                }
            }
        }
        "ST" | "TX" | "FT" | "" => parse_nm(&first)
            .ok_or_else(|| format!("`{first}` is a text result; Carelog lab results hold numbers")),
        other => Err(format!(
            "value type `{other}` (OBX-2) is not numeric; Carelog lab results hold numbers"
        )),
    })
}

/// Name (PID-5: given, further given, family), birth date (PID-7) and sex (PID-8) when all are given.
///
/// Pseudonyms (name type S) and unspecified names (U) are not names; a malformed PID-7 is an error.
fn pid_demographics(s: &Segment<'_>) -> Result<Option<Demographics>, InteropError> {
    let birth = s.text(7, 1);
    let birth_date = if birth.is_empty() {
        None
    } else {
        Some(parse_hl7_date(&birth).map_err(|m| s.error(7, m))?)
    };
    let name_type = s.text(5, 7).to_ascii_uppercase();
    let name = [s.text(5, 2), s.text(5, 3), s.text(5, 1)]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let sex = match s.text(8, 1).to_ascii_uppercase().as_str() {
        "F" => "female",
        "M" => "male",
        "O" => "other",
        _ => "",
    };
    let (Some(birth_date), false, false, false) = (
        birth_date,
        name.is_empty(),
        sex.is_empty(),
        matches!(name_type.as_str(), "S" | "U"),
    ) else {
        return Ok(None);
    };
    Ok(Demographics {
        name,
        birth_date,
        sex: sex.to_string(),
    }
    .normalized()
    .ok())
}

/// The first LOINC coding in OBX-3 (any repetition, primary or alternate triple): (code, text).
fn loinc_of(s: &Segment<'_>) -> Option<(String, String)> {
    s.repetitions(3).into_iter().find_map(|rep| {
        [(1, 2, 3), (4, 5, 6)]
            .into_iter()
            .find_map(|(c, t, system)| {
                let system = s.component_of(rep, system);
                let code = s.component_of(rep, c).trim().to_string();
                let is_loinc =
                    ["LN", "LOINC"].contains(&system.trim().to_ascii_uppercase().as_str());
                (is_loinc && !code.is_empty())
                    .then(|| (code, s.component_of(rep, t).trim().to_string()))
            })
    })
}

/// A time field (first component), `None` when empty, an error naming the field when malformed.
fn time_field(s: &Segment<'_>, n: usize) -> Result<Option<i64>, InteropError> {
    let text = s.text(n, 1);
    if text.is_empty() {
        return Ok(None);
    }
    parse_hl7_time(&text).map(Some).map_err(|m| s.error(n, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nm_is_plain_decimal_only() {
        for ok in ["5.4", "-1", "+2.", ".5", "0012", "128"] {
            assert!(parse_nm(ok).is_some(), "{ok}");
        }
        for bad in [
            "abc", "1e5", "inf", "NaN", "", "-", ".", "1.2.3", "5,4", "--1",
        ] {
            assert!(parse_nm(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ranges_in_the_forms_labs_send() {
        assert_eq!(parse_range("3.9-5.6"), Some((Some(3.9), Some(5.6))));
        assert_eq!(parse_range(" 70 - 99 "), Some((Some(70.0), Some(99.0))));
        assert_eq!(parse_range("-2--1"), Some((Some(-2.0), Some(-1.0))));
        assert_eq!(parse_range(">60"), Some((Some(60.0), None)));
        assert_eq!(parse_range(">=60"), Some((Some(60.0), None)));
        assert_eq!(parse_range("<5"), Some((None, Some(5.0))));
        assert_eq!(parse_range("Negative"), None);
        assert_eq!(parse_range("3.9"), None);
    }
}
