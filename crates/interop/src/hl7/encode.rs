//! Writing a chart as one HL7 v2.5 ORU^R01 message.
//!
//! ```text
//! MSH|^~\&|Carelog|<clinic>|||<now>||ORU^R01^ORU_R01|<message id>|P|2.5|||||||UNICODE UTF-8
//! PID|1||<patient id>^^^<clinic>^PI||<name or initials>||<birth date>|<F/M/O>
//! PV1|1|O
//! OBR|1||<entry id>^Carelog|85353-1^Vital signs panel^LN|||<time>|||||||||||||||<now>|||F
//! OBX|1|NM|8480-6^Systolic blood pressure^LN||128|mm[Hg]^mmHg^UCUM|90-120|H|||F|||<time>
//! OBR|2||<entry id>^Carelog|2345-7^Glucose^LN|||<time>|||||||||||||||<now>|||F
//! OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L^mmol/L^UCUM|3.9-5.6|N|||F|||<time>
//! OBR|3||<entry id>^Carelog|34109-9^Note^LN|||<time>|||||||||||||||<now>|||F
//! NTE|1|P|<title>~<text>|RE^Remark^HL70364
//! ```
//!
//! Corrections (amendments) are sent with result status `C` instead of `F`. Conditions, allergies
//! and medications have no place in an ORU^R01 (it carries results); FHIR carries them.

use carelog_chart::{Demographics, LabResult, Note, VITAL_SIGNS, Vitals};

use super::escape::Delimiters;
use crate::datetime::{hl7_date, hl7_time};
use crate::scope::{Content, Identity, scope};
use crate::{InteropError, NOTE_LOINC, PatientExport, VITAL_SIGNS_PANEL_LOINC};

/// Longest message control id HL7 v2.5 allows in MSH-10.
pub const MESSAGE_ID_MAX_CHARS: usize = 20;
/// Longest namespace id (HD.1, escaped) HL7 v2.5 allows: MSH-4 and PID-3.4 carry the clinic in it.
pub const NAMESPACE_ID_MAX_CHARS: usize = 20;

/// A message being written: segments as lines, delimiters for escaping.
struct Writer {
    d: Delimiters,
    segments: Vec<String>,
}

impl Writer {
    /// Escaped components joined by `^`, trailing empty ones dropped.
    fn components(&self, parts: &[&str]) -> String {
        let mut escaped: Vec<String> = parts.iter().map(|p| self.d.escape(p)).collect();
        while escaped.last().is_some_and(String::is_empty) {
            escaped.pop();
        }
        escaped.join(&self.d.component.to_string())
    }

    /// Escaped text for one simple field.
    fn text(&self, text: &str) -> String {
        self.d.escape(text)
    }

    /// Adds a segment from already-encoded fields (SEG-1 first), trailing empty fields dropped.
    fn segment(&mut self, name: &str, fields: Vec<String>) {
        let mut fields = fields;
        while fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        let mut line = name.to_string();
        for f in fields {
            line.push(self.d.field);
            line.push_str(&f);
        }
        self.segments.push(line);
    }
}

/// Fields from position-value pairs: `fields(25, &[(1, a), (4, b)])` is SEG-1..SEG-25.
fn fields(count: usize, set: Vec<(usize, String)>) -> Vec<String> {
    let mut out = vec![String::new(); count];
    for (n, value) in set {
        out[n - 1] = value;
    }
    out
}

/// A number as HL7 NM text: plain decimal, no exponent, shortest form that reads back exactly.
pub(crate) fn number(value: f64) -> String {
    format!("{value}")
}

/// OBX-7 text for a reference range: `low-high`, `>low` or `<high`.
pub(crate) fn range_text(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("{}-{}", number(l), number(h)),
        (Some(l), None) => format!(">{}", number(l)),
        (None, Some(h)) => format!("<{}", number(h)),
        (None, None) => String::new(),
    }
}

/// The HL7 flag a value's range implies (`L`, `H`, `N`), as for lab results.
fn flag(value: f64, low: Option<f64>, high: Option<f64>) -> Option<&'static str> {
    LabResult {
        loinc: String::new(),
        name: String::new(),
        value,
        unit: String::new(),
        low,
        high,
        abnormal: None,
        order: None,
    }
    .flag_from_range()
}

/// A time in HL7 form, or an error naming the entry whose time is outside the calendar.
fn time_of(ms: i64, what: &str) -> Result<String, InteropError> {
    hl7_time(ms).ok_or_else(|| {
        InteropError::export(
            "records",
            format!("{what}: time {ms} ms is outside years 0–9999"),
        )
    })
}

/// The clinic name as an escaped HD.1 namespace id, cut so it fits `NAMESPACE_ID_MAX_CHARS`.
fn namespace_id(d: &Delimiters, clinic: &str) -> String {
    let mut out = String::new();
    for c in clinic.chars() {
        let escaped = d.escape(&c.to_string());
        if out.chars().count() + escaped.chars().count() > NAMESPACE_ID_MAX_CHARS {
            break;
        }
        out.push_str(&escaped);
    }
    out.trim_end().to_string()
}

/// Checks the control id: 1–20 printable ASCII characters with no delimiter in them.
fn check_message_id(id: &str, d: &Delimiters) -> Result<(), InteropError> {
    let delimiter =
        |c: char| [d.field, d.component, d.repetition, d.escape, d.subcomponent].contains(&c);
    if id.is_empty()
        || id.len() > MESSAGE_ID_MAX_CHARS
        || !id.chars().all(|c| c.is_ascii_graphic() && !delimiter(c))
    {
        return Err(InteropError::export(
            "message_id",
            format!(
                "`{id}` is not an HL7 message control id; give 1–{MESSAGE_ID_MAX_CHARS} letters, digits or dashes, unique per message"
            ),
        ));
    }
    Ok(())
}

/// PID-5 (name), PID-7 (birth date) and PID-8 (sex) as the identity allows.
fn identity_fields(w: &Writer, identity: &Identity) -> Vec<(usize, String)> {
    match identity {
        Identity::Full(d) => full_identity(w, d),
        // Name type S: a coded pseudo-name, so no receiver takes initials for a real name.
        Identity::Initials(initials) => {
            vec![(5, w.components(&[initials, "", "", "", "", "", "S"]))]
        }
        // PID-5 is required in v2.5; an empty name of type U (unspecified) says "not given".
        Identity::Unknown => vec![(5, w.components(&["", "", "", "", "", "", "U"]))],
    }
}

/// Family name (last word), given name (first word), further given names, type L (legal).
fn full_identity(w: &Writer, d: &Demographics) -> Vec<(usize, String)> {
    let words: Vec<&str> = d.name.split_whitespace().collect();
    let (family, given, middle) = match words.as_slice() {
        [] => (String::new(), String::new(), String::new()),
        [only] => ((*only).to_string(), String::new(), String::new()),
        [first, middle @ .., last] => ((*last).to_string(), (*first).to_string(), middle.join(" ")),
    };
    let sex = match d.sex.as_str() {
        "female" => "F",
        "male" => "M",
        _ => "O",
    };
    vec![
        (
            5,
            w.components(&[&family, &given, &middle, "", "", "", "L"]),
        ),
        (7, hl7_date(d.birth_date)),
        (8, sex.to_string()),
    ]
}

/// Writes the patient's chart, as `export.level` allows, as one ORU^R01 message (CR after every segment).
///
/// The clinic name is cut to the 20 characters HL7 v2.5 allows in MSH-4 and PID-3.4.
/// Refused for information and no access, for an unusable message id (1–20 printable ASCII
/// characters without delimiters), and for times outside years 0–9999.
pub fn to_hl7(export: &PatientExport<'_>) -> Result<String, InteropError> {
    let scope = scope(export)?;
    let mut w = Writer {
        d: Delimiters::default(),
        segments: Vec::new(),
    };
    check_message_id(export.message_id, &w.d)?;
    let now = time_of(export.now_ms, "now_ms")?;
    let clinic = export.clinic_name.trim();
    if clinic.is_empty() {
        return Err(InteropError::export(
            "clinic_name",
            "is empty; give the sending clinic's name",
        ));
    }

    let facility = namespace_id(&w.d, clinic);
    let msh = fields(
        18,
        vec![
            (3, w.text("Carelog")),
            (4, facility.clone()),
            (7, now.clone()),
            (9, "ORU^R01^ORU_R01".to_string()),
            (10, export.message_id.to_string()),
            (11, "P".to_string()),
            (12, "2.5".to_string()),
            (18, "UNICODE UTF-8".to_string()),
        ],
    );
    // MSH-1 is the field separator itself and MSH-2 is written raw: start the line by hand.
    let mut header = format!("MSH{}{}", w.d.field, w.d.encoding_characters());
    for f in &msh[2..] {
        header.push(w.d.field);
        header.push_str(f);
    }
    w.segments
        .push(header.trim_end_matches(w.d.field).to_string());

    let mut pid = vec![
        (1, "1".to_string()),
        (
            3,
            format!("{}^^^{facility}^PI", w.text(export.patient_id.trim())),
        ),
    ];
    pid.extend(identity_fields(&w, &scope.identity));
    w.segment("PID", fields(8, pid));
    w.segment("PV1", vec!["1".into(), "O".into()]);

    let mut set_id = 0;
    for item in &scope.items {
        let status = if item.corrected { "C" } else { "F" };
        let time = time_of(item.time_ms, item.entry_id)?;
        // A result that answers a Carelog order names it as the placer order (OBR-2).
        let placer = match &item.content {
            Content::Lab(l) => l.order.as_deref(),
            _ => None,
        };
        let obr = |w: &mut Writer, set_id: usize, code: &str, name: &str| {
            let mut obr = vec![(1, set_id.to_string())];
            if let Some(order) = placer {
                obr.push((2, w.components(&[order, "Carelog"])));
            }
            let obr = fields(
                25,
                obr.into_iter()
                    .chain([
                        (3, w.components(&[item.entry_id, "Carelog"])),
                        (4, w.components(&[code, name, "LN"])),
                        (7, time.clone()),
                        (22, now.clone()),
                        (25, status.to_string()),
                    ])
                    .collect(),
            );
            w.segment("OBR", obr);
        };
        match &item.content {
            Content::Vitals(v) => {
                set_id += 1;
                obr(
                    &mut w,
                    set_id,
                    VITAL_SIGNS_PANEL_LOINC.0,
                    VITAL_SIGNS_PANEL_LOINC.1,
                );
                vitals_obx(&mut w, v, status, &time);
            }
            Content::Lab(l) => {
                set_id += 1;
                obr(&mut w, set_id, &l.loinc, &l.name);
                lab_obx(&mut w, 1, l, status, &time);
            }
            Content::Note(n) => {
                set_id += 1;
                obr(&mut w, set_id, NOTE_LOINC.0, NOTE_LOINC.1);
                note_nte(&mut w, n);
            }
            // ORU^R01 carries results; diagnoses, allergies, drugs, visits, orders and vaccines
            // travel in FHIR.
            Content::Condition(_)
            | Content::ConditionName(_)
            | Content::Allergy(_)
            | Content::AllergySubstance(_)
            | Content::Medication(_)
            | Content::MedicationName(_)
            | Content::Encounter(_)
            | Content::Order(_)
            | Content::Immunization(_) => {}
        }
    }
    let mut text = w.segments.join("\r");
    text.push('\r');
    Ok(text)
}

/// One OBX per present vital sign, with its adult range and the flag it implies.
fn vitals_obx(w: &mut Writer, v: &Vitals, status: &str, time: &str) {
    let mut n = 0;
    for (sign, value) in v.signs() {
        let Some(value) = value else { continue };
        n += 1;
        debug_assert!(VITAL_SIGNS.iter().any(|s| s.loinc == sign.loinc));
        let obx = fields(
            14,
            vec![
                (1, n.to_string()),
                (2, "NM".into()),
                (3, w.components(&[sign.loinc, sign.name, "LN"])),
                (5, number(value)),
                (6, w.components(&[sign.unit, sign.unit_text, "UCUM"])),
                (7, w.text(&range_text(sign.low, sign.high))),
                (
                    8,
                    flag(value, sign.low, sign.high).unwrap_or("").to_string(),
                ),
                (11, status.to_string()),
                (14, time.to_string()),
            ],
        );
        w.segment("OBX", obx);
    }
}

/// The OBX of one lab result.
fn lab_obx(w: &mut Writer, n: usize, l: &LabResult, status: &str, time: &str) {
    let obx = fields(
        14,
        vec![
            (1, n.to_string()),
            (2, "NM".into()),
            (3, w.components(&[&l.loinc, &l.name, "LN"])),
            (5, number(l.value)),
            (6, w.components(&[&l.unit, &l.unit, "UCUM"])),
            (7, w.text(&range_text(l.low, l.high))),
            (8, w.text(l.abnormal.as_deref().unwrap_or(""))),
            (11, status.to_string()),
            (14, time.to_string()),
        ],
    );
    w.segment("OBX", obx);
}

/// The NTE of one note: NTE-3 repeats the title, then the text (line breaks as `\.br\`).
fn note_nte(w: &mut Writer, n: &Note) {
    let comment = format!("{}{}{}", w.text(&n.title), w.d.repetition, w.text(&n.text));
    let nte = vec![
        "1".to_string(),
        "P".to_string(),
        comment,
        w.components(&["RE", "Remark", "HL70364"]),
    ];
    w.segment("NTE", nte);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges_are_plain_decimals() {
        assert_eq!(number(128.0), "128");
        assert_eq!(number(5.4), "5.4");
        assert_eq!(number(-0.25), "-0.25");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(range_text(Some(3.9), Some(5.6)), "3.9-5.6");
        assert_eq!(range_text(Some(-2.0), Some(-1.0)), "-2--1");
        assert_eq!(range_text(Some(60.0), None), ">60");
        assert_eq!(range_text(None, Some(5.0)), "<5");
        assert_eq!(range_text(None, None), "");
    }

    #[test]
    fn clinic_names_are_cut_to_a_namespace_id() {
        let d = Delimiters::default();
        assert_eq!(namespace_id(&d, "North Clinic"), "North Clinic");
        assert_eq!(
            namespace_id(&d, "North & South | Clinic ^1"),
            "North \\T\\ South \\F\\"
        );
        assert_eq!(
            namespace_id(&d, "Centro de Salud San Juan"),
            "Centro de Salud San"
        );
    }

    #[test]
    fn message_ids_are_checked() {
        let d = Delimiters::default();
        assert!(check_message_id("MSG-0001", &d).is_ok());
        for bad in ["", "has space", "a|b", "x".repeat(21).as_str(), "é"] {
            assert!(check_message_id(bad, &d).is_err(), "{bad}");
        }
    }
}
