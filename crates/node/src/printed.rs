//! Printed documents from a chart: a visit summary, a referral letter and a prescription, as A4
//! PDFs headed with the clinic's name.
//!
//! A document is made from the chart as the reader sees it at full level, and printing it is a
//! read recorded on the ledger like any opening of the chart. The pages use the PDF's built-in
//! Helvetica (as the patient card does), so text is printed in the Windows-1252 character set.

use carelog_chart::AccessLevel;
use carelog_ledger::ActorId;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use serde_json::Value;

use crate::error::{NodeError, Result};
use crate::printed_card::win_ansi;
use crate::{Node, Session};

/// Which document to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Document {
    /// What happened at one visit (the latest when `None`), with the patient's current lists.
    VisitSummary(Option<String>),
    /// A letter to another clinician: to whom, and why.
    Referral {
        /// The clinician or service the patient is sent to.
        to: String,
        /// Why.
        reason: String,
    },
    /// The patient's current medications, signed by the prescriber.
    Prescription,
    /// For the patient to keep: their record in short, who may read it and until when, and the
    /// latest reads and changes of the access log.
    PatientSummary,
}

impl Document {
    /// The document's name, as the access log and file names use it.
    pub fn name(&self) -> &'static str {
        match self {
            Document::VisitSummary(_) => "visit summary",
            Document::Referral { .. } => "referral letter",
            Document::Prescription => "prescription",
            Document::PatientSummary => "summary of the record",
        }
    }
}

/// How many lines of the access log the patient's printed summary lists (the latest).
const AUDIT_LINES_PRINTED: usize = 20;

/// A4 in points, and the margins.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;

/// One line of a document: its style and text.
#[derive(Clone, Debug, PartialEq)]
enum Line {
    Title(String),
    Heading(String),
    Text(String),
    Small(String),
    Gap,
}

impl Node {
    /// A document from the patient's chart, as a PDF; recorded on the ledger as a read. Needs
    /// full access (a document names the patient and lists their record).
    pub fn print_document(
        &mut self,
        session: &Session,
        patient: ActorId,
        document: &Document,
    ) -> Result<Vec<u8>> {
        let view = self.chart(session, patient, &format!("printed a {}", document.name()))?;
        if view["level"] != serde_json::json!(AccessLevel::Full) {
            return Err(NodeError::invalid(format!(
                "a {} lists the whole record; it needs full access to this chart",
                document.name()
            )));
        }
        let clinic = self.clinic_name();
        let author = self.display_name(&session.user);
        let today = crate::home::rfc3339(crate::home::now_ms())[..10].to_string();
        let mut lines = document_lines(document, &view, &clinic, &author, &today)?;
        if *document == Document::PatientSummary {
            lines.extend(self.access_lines(session, patient)?);
        }
        Ok(pdf(&lines))
    }

    /// Who may read the record and until when, and the latest of its access log, for the
    /// patient's printed summary.
    fn access_lines(&self, session: &Session, patient: ActorId) -> Result<Vec<Line>> {
        let mut lines = vec![Line::Heading("Who may read your record".into())];
        for reader in self.current_readers(session, patient)? {
            let until = reader
                .expires_ms
                .map_or("until taken back".to_string(), |ms| {
                    format!("until {}", &crate::home::rfc3339(ms)[..10])
                });
            lines.push(Line::Text(format!(
                "{} - {} - {} access, {until}",
                self.display_name(&reader.id),
                reader.basis.words(),
                reader.level
            )));
        }
        lines.push(Line::Heading(format!(
            "The latest {AUDIT_LINES_PRINTED} reads and changes of your record"
        )));
        let mut audit = self.audit(session, patient)?;
        audit.reverse();
        for line in audit.iter().take(AUDIT_LINES_PRINTED) {
            let detail = line
                .detail
                .as_deref()
                .map(|d| format!(" - {d}"))
                .unwrap_or_default();
            lines.push(Line::Text(format!(
                "{} - {} - {}{detail}",
                line.time.get(..16).unwrap_or_default().replace('T', " "),
                line.actor_name,
                line.action
            )));
        }
        Ok(lines)
    }
}

/// A value of the chart view as text ("" when absent).
fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn list(view: &Value, key: &str) -> Vec<Value> {
    view[key].as_array().cloned().unwrap_or_default()
}

/// "Metformin 500 mg · 500 mg oral twice daily · from 2026-01-10".
fn medication_line(m: &Value) -> String {
    let mut text = s(m, "drug");
    let how: Vec<String> = ["dose", "route", "frequency"]
        .iter()
        .map(|k| s(m, k))
        .filter(|t| !t.is_empty())
        .collect();
    if !how.is_empty() {
        text.push_str(&format!(" - {}", how.join(", ")));
    }
    text.push_str(&format!(" - since {}", s(m, "start")));
    text
}

/// The patient's identity block.
fn identity(view: &Value) -> Vec<Line> {
    let b = &view["banner"];
    vec![
        Line::Heading("Patient".into()),
        Line::Text(format!(
            "{} - born {} ({} years) - {}",
            s(b, "name"),
            s(b, "birth_date"),
            b["age"].as_i64().unwrap_or_default(),
            s(b, "sex")
        )),
        Line::Text(format!("Card number {}", s(b, "card_number"))),
    ]
}

/// The banner's allergies in one line.
fn allergies_line(view: &Value) -> Line {
    let allergies: Vec<String> = list(&view["banner"], "allergies")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    Line::Text(if allergies.is_empty() {
        "No known allergies recorded".into()
    } else {
        allergies.join(", ")
    })
}

/// Allergies, active problems and current medications.
fn clinical_lists(view: &Value) -> Vec<Line> {
    let mut lines = vec![
        Line::Heading("Allergies".into()),
        allergies_line(view),
        Line::Heading("Active problems".into()),
    ];
    let problems: Vec<Line> = list(view, "problems")
        .iter()
        .filter(|p| s(p, "status") != "resolved")
        .map(|p| Line::Text(format!("{} ({})", s(p, "name"), s(p, "icd10"))))
        .collect();
    if problems.is_empty() {
        lines.push(Line::Text("None recorded".into()));
    }
    lines.extend(problems);
    lines.push(Line::Heading("Current medications".into()));
    let meds: Vec<Line> = list(view, "current_medications")
        .iter()
        .map(|m| Line::Text(medication_line(m)))
        .collect();
    if meds.is_empty() {
        lines.push(Line::Text("None recorded".into()));
    }
    lines.extend(meds);
    lines
}

/// An entry of the chart in one line, for the visit summary.
fn entry_line(e: &Value) -> String {
    let d = &e["data"];
    let kind = s(e, "kind");
    let detail = match kind.as_str() {
        "vitals" => d
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{} {}", k.replace('_', " "), v))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        "lab" => format!("{} {} {}", s(d, "name"), d["value"], s(d, "unit")),
        "note" => format!("{}: {}", s(d, "title"), s(d, "text")),
        "condition" => format!("{} ({})", s(d, "name"), s(d, "icd10")),
        "allergy" => s(d, "substance"),
        "medication" => medication_line(d),
        "order" => format!("ordered {} ({})", s(d, "name"), s(d, "loinc")),
        "immunization" => format!(
            "{} (CVX {}) given {}",
            s(d, "name"),
            s(d, "cvx"),
            s(d, "date")
        ),
        _ => d.to_string(),
    };
    format!("{kind}: {detail}")
}

/// The lines of a document.
fn document_lines(
    document: &Document,
    view: &Value,
    clinic: &str,
    author: &str,
    today: &str,
) -> Result<Vec<Line>> {
    let mut lines = vec![
        Line::Small(clinic.to_string()),
        Line::Title(match document {
            Document::VisitSummary(_) => "Visit summary".into(),
            Document::Referral { .. } => "Referral letter".into(),
            Document::Prescription => "Prescription".into(),
            Document::PatientSummary => "Your health record in short".into(),
        }),
        Line::Small(format!("{today} - {author}")),
    ];
    lines.extend(identity(view));
    match document {
        Document::VisitSummary(which) => {
            let visits = list(view, "encounters");
            let visit = match which {
                Some(id) => visits.iter().find(|v| s(v, "entry_id") == *id),
                None => visits.first(),
            }
            .ok_or_else(|| {
                NodeError::invalid(match which {
                    Some(id) => format!("no visit {id} in this chart"),
                    None => "this chart has no visit to summarise; record one first".into(),
                })
            })?;
            lines.push(Line::Heading(format!(
                "Visit of {} - {}",
                s(visit, "date"),
                s(visit, "reason")
            )));
            lines.push(Line::Small(format!("Seen by {}", s(visit, "clinician"))));
            let members: Vec<String> = list(visit, "entries")
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect();
            for e in list(view, "entries") {
                if members.contains(&s(&e, "entry_id")) && e.get("amended_by").is_none() {
                    lines.push(Line::Text(entry_line(&e)));
                }
            }
            lines.push(Line::Gap);
            lines.extend(clinical_lists(view));
        }
        Document::Referral { to, reason } => {
            lines.push(Line::Heading(format!("To {to}")));
            lines.push(Line::Text(format!(
                "Thank you for seeing this patient. Reason for referral: {reason}"
            )));
            lines.push(Line::Gap);
            lines.extend(clinical_lists(view));
            lines.push(Line::Heading("Recent results".into()));
            for v in list(view, "entries")
                .iter()
                .rev()
                .filter(|e| matches!(s(e, "kind").as_str(), "lab" | "vitals"))
                .take(6)
            {
                lines.push(Line::Text(format!(
                    "{} - {}",
                    s(v, "time").get(..10).unwrap_or_default(),
                    entry_line(v)
                )));
            }
            lines.push(Line::Gap);
            lines.push(Line::Text(format!("Yours sincerely, {author}, {clinic}")));
        }
        Document::PatientSummary => {
            lines.extend(clinical_lists(view));
            lines.push(Line::Heading("Latest results".into()));
            let mut seen = std::collections::HashSet::new();
            for v in list(view, "entries")
                .iter()
                .rev()
                .filter(|e| s(e, "kind") == "lab" && e.get("amended_by").is_none())
                .filter(|e| seen.insert(s(&e["data"], "name")))
                .take(10)
            {
                lines.push(Line::Text(format!(
                    "{} - {}",
                    s(v, "time").get(..10).unwrap_or_default(),
                    entry_line(v)
                )));
            }
        }
        Document::Prescription => {
            lines.push(Line::Heading("Allergies".into()));
            lines.push(allergies_line(view));
            lines.push(Line::Heading("Rx".into()));
            let meds = list(view, "current_medications");
            if meds.is_empty() {
                return Err(NodeError::invalid(
                    "this patient has no current medication to prescribe",
                ));
            }
            for m in &meds {
                let mut line = medication_line(m);
                if let Some(days) = m["days_supply"].as_u64() {
                    line.push_str(&format!(" - {days} days"));
                }
                lines.push(Line::Text(line));
            }
            lines.push(Line::Gap);
            lines.push(Line::Gap);
            lines.push(Line::Text(format!(
                "Signed: ______________________   {author}"
            )));
        }
    }
    Ok(lines)
}

/// Breaks text into lines that fit `width` points at `size` (Helvetica's average letter is about
/// half its size wide).
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let per_line = ((width / (size * 0.5)) as usize).max(10);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > per_line {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// Lays the lines out on as many A4 pages as they need.
fn pdf(lines: &[Line]) -> Vec<u8> {
    let width = PAGE.0 - 2.0 * MARGIN;
    let mut pages: Vec<Content> = Vec::new();
    let mut c = Content::new();
    let mut y = PAGE.1 - MARGIN;
    for line in lines {
        let (font, size, gap): (&[u8], f32, f32) = match line {
            Line::Title(_) => (b"F2", 18.0, 10.0),
            Line::Heading(_) => (b"F2", 11.0, 8.0),
            Line::Text(_) => (b"F1", 10.0, 2.0),
            Line::Small(_) => (b"F1", 8.0, 2.0),
            Line::Gap => (b"F1", 10.0, 0.0),
        };
        let text = match line {
            Line::Title(t) | Line::Heading(t) | Line::Text(t) | Line::Small(t) => t.as_str(),
            Line::Gap => "",
        };
        y -= gap;
        for piece in wrap(text, size, width) {
            if y < MARGIN + size {
                pages.push(std::mem::replace(&mut c, Content::new()));
                y = PAGE.1 - MARGIN;
            }
            y -= size * 1.3;
            c.begin_text();
            c.set_font(Name(font), size);
            c.next_line(MARGIN, y);
            c.show(Str(&win_ansi(&piece)));
            c.end_text();
        }
    }
    pages.push(c);
    a4_pdf(pages)
}

/// A PDF of A4 pages drawn with the built-in Helvetica as `F1` and Helvetica-Bold as `F2`.
pub(crate) fn a4_pdf(pages: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let (catalog, tree, font, bold) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(5 + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    for (id, base) in [(font, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
        pdf.type1_font(id)
            .base_font(Name(base))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (i, content) in pages.into_iter().enumerate() {
        let (page_id, contents) = (page_ids[i], Ref::new(6 + 2 * i as i32));
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1));
        page.parent(tree);
        page.contents(contents);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), font);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();
        pdf.stream(contents, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view() -> Value {
        json!({
            "level": "full",
            "banner": {"name": "Elena Marsh", "birth_date": "1958-04-12", "age": 68, "sex": "female",
                       "card_number": "2378 5829 6693 1", "allergies": ["Penicillin"]},
            "problems": [{"name": "Type 2 diabetes", "icd10": "E11.9", "status": "active"},
                         {"name": "Acute bronchitis", "icd10": "J20.9", "status": "resolved"}],
            "current_medications": [{"drug": "Metformin 500 mg", "dose": "500 mg", "route": "oral",
                                     "frequency": "twice daily", "start": "2025-12-17", "days_supply": 90}],
            "encounters": [{"entry_id": "e1", "date": "2026-12-01", "reason": "Blood pressure check",
                            "clinician": "Dr Amara Osei", "entries": ["v1"]}],
            "entries": [{"entry_id": "v1", "kind": "vitals", "time": "2026-12-01T09:00:00Z",
                         "data": {"systolic": 130, "diastolic": 80}}],
        })
    }

    fn text_of(lines: &[Line]) -> String {
        format!("{lines:?}")
    }

    #[test]
    fn a_visit_summary_names_the_clinic_the_patient_the_visit_and_the_lists() {
        let lines = document_lines(
            &Document::VisitSummary(None),
            &view(),
            "North Valley Clinic",
            "Dr Amara Osei",
            "2026-12-07",
        )
        .unwrap();
        let text = text_of(&lines);
        for needle in [
            "North Valley Clinic",
            "Visit summary",
            "Elena Marsh",
            "2378 5829 6693 1",
            "Blood pressure check",
            "systolic 130",
            "Penicillin",
            "Type 2 diabetes (E11.9)",
            "Metformin 500 mg - 500 mg, oral, twice daily",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(!text.contains("Acute bronchitis"), "only active problems");
        let pdf = pdf(&lines);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(8).any(|w| w == b"/Count 1"));
    }

    #[test]
    fn a_prescription_needs_a_current_drug_and_a_summary_needs_a_visit() {
        let mut v = view();
        v["current_medications"] = json!([]);
        v["encounters"] = json!([]);
        assert!(document_lines(&Document::Prescription, &v, "C", "D", "T").is_err());
        assert!(document_lines(&Document::VisitSummary(None), &v, "C", "D", "T").is_err());
        let rx = document_lines(&Document::Prescription, &view(), "C", "Dr X", "T").unwrap();
        assert!(text_of(&rx).contains("90 days"));
    }

    #[test]
    fn the_patients_summary_lists_their_record_who_may_read_it_and_the_latest_reads() {
        let mut c = crate::tests::clinic();
        let doctor = c.node.unlock(c.doctor, crate::tests::DOC_PASS).unwrap();
        c.node
            .add_entry(
                &doctor,
                c.patient,
                "allergy",
                r#"{"substance":"Latex","reaction":"hives"}"#,
                None,
            )
            .unwrap();
        let patient = c
            .node
            .unlock_patient(c.patient, &c.card, crate::tests::PIN)
            .unwrap();
        let pdf = c
            .node
            .print_document(&patient, c.patient, &Document::PatientSummary)
            .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let view = c.node.chart(&patient, c.patient, "test").unwrap();
        let mut lines =
            document_lines(&Document::PatientSummary, &view, "North", "patient", "T").unwrap();
        lines.extend(c.node.access_lines(&patient, c.patient).unwrap());
        let text = text_of(&lines);
        for needle in [
            "Your health record in short",
            "Latex",
            "Who may read your record",
            "family doctor",
            "printed a summary of the record",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        // Another doctor with no access prints nothing.
        let other = c
            .node
            .unlock(c.other_doctor, crate::tests::DOC_PASS)
            .unwrap();
        assert!(
            c.node
                .print_document(&other, c.patient, &Document::PatientSummary)
                .is_err()
        );
    }

    #[test]
    fn long_documents_flow_onto_more_pages() {
        let lines: Vec<Line> = (0..200)
            .map(|i| Line::Text(format!("line {i} {}", "word ".repeat(30))))
            .collect();
        let pdf = pdf(&lines);
        let at = pdf.windows(7).position(|w| w == b"/Count ").unwrap() + 7;
        let digits: String = pdf[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        assert!(
            digits.parse::<u32>().unwrap() > 1,
            "more than one page: {digits}"
        );
        assert_eq!(wrap("", 10.0, 100.0), [""]);
        assert!(wrap(&"abc ".repeat(100), 10.0, 200.0).len() > 5);
    }
}
