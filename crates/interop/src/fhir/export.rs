//! Writing a chart as a FHIR R4 `Bundle` (type `collection`).
//!
//! | chart entry | FHIR resource |
//! |---|---|
//! | demographics | `Patient` (name, birthDate, gender at full level; initials as an `anonymous` name at sample) |
//! | vitals | one `Observation` per value (category `vital-signs`, LOINC, UCUM `valueQuantity`), grouped by a 85353-1 panel `Observation` with `hasMember` |
//! | lab result | `Observation` (category `laboratory`, `referenceRange`, `interpretation`) |
//! | condition | `Condition` (ICD-10 coding, problem-list item) |
//! | allergy | `AllergyIntolerance` (substance as `code.text`, reaction manifestation) |
//! | medication | `MedicationStatement` (`medicationCodeableConcept.text`, `effectivePeriod`, `status`, `statusReason`, days supply extension) |
//! | note | `DocumentReference` (LOINC 34109-9, base64 `text/plain` attachment with the title) |
//! | encounter | `Encounter` (finished ambulatory visit, `period.start`, `reasonCode.text`) |
//! | order | `ServiceRequest` (laboratory order, LOINC `code`, `priority`); a result names it in `basedOn` |
//! | immunization | `Immunization` (CVX `vaccineCode`, `occurrenceDateTime`, lot, dose number) |
//!
//! Every entry resource carries the Carelog entry id as an identifier (`urn:carelog:entry`);
//! corrections have status `amended` (observations) or `docStatus` `amended` (notes).

use carelog_chart::{LabResult, VitalSign, date_string};
use serde_json::{Map, Value, json};

use super::base64;
use super::{
    ATC_SYSTEM, CVX_SYSTEM, DAYS_SUPPLY_EXTENSION, DOSE_EXTENSION, ENTRY_ID_SYSTEM,
    FREQUENCY_EXTENSION, ICD10_SYSTEM, INTERPRETATION_SYSTEM, LOINC_SYSTEM,
    OBSERVATION_CATEGORY_SYSTEM, PATIENT_ID_SYSTEM, RXNORM_SYSTEM, UCUM_SYSTEM, fhir_id,
};
use crate::datetime::fhir_time;
use crate::scope::{Content, Identity, Item, scope};
use crate::{InteropError, NOTE_LOINC, PatientExport, VITAL_SIGNS_PANEL_LOINC};

/// Writes the patient's chart, as `export.level` allows, as a FHIR R4 Bundle of type `collection`.
///
/// Refused for information and no access, and for times outside years 0–9999.
pub fn to_fhir(export: &PatientExport<'_>) -> Result<Value, InteropError> {
    let scope = scope(export)?;
    let now = time_of(export.now_ms, "now_ms")?;
    let patient_id = fhir_id(export.patient_id);
    let subject = json!({ "reference": format!("Patient/{patient_id}") });
    let today = now.get(..10).unwrap_or_default().to_string();

    let mut resources = vec![patient(
        &patient_id,
        export.patient_id.trim(),
        &scope.identity,
    )];
    // A result names its order by reference only when the order travels in this bundle.
    let orders: std::collections::BTreeSet<&str> = scope
        .items
        .iter()
        .filter(|i| matches!(i.content, Content::Order(_)))
        .map(|i| i.entry_id)
        .collect();
    for item in &scope.items {
        let time = time_of(item.time_ms, item.entry_id)?;
        let out = Resource {
            item,
            time: &time,
            subject: &subject,
            orders: &orders,
        };
        match &item.content {
            Content::Vitals(v) => {
                let members: Vec<Value> = v
                    .signs()
                    .into_iter()
                    .filter_map(|(sign, value)| value.map(|x| out.vital(&sign, x)))
                    .collect();
                resources.push(out.vitals_panel(&members));
                resources.extend(members);
            }
            Content::Lab(l) => resources.push(out.lab(l)),
            Content::Note(n) => resources.push(out.document(&n.title, &n.text)),
            Content::Condition(c) => resources.push(out.condition(Some(c), &c.name)),
            Content::ConditionName(name) => resources.push(out.condition(None, name)),
            Content::Allergy(a) => resources.push(out.allergy(&a.substance, Some(a))),
            Content::AllergySubstance(s) => resources.push(out.allergy(s, None)),
            Content::Encounter(e) => resources.push(out.encounter(e)),
            Content::Order(o) => resources.push(out.order(o)),
            Content::Immunization(i) => resources.push(out.immunization(i)),
            Content::Medication(m) => resources.push(out.medication(Some(m), &m.drug, &today)),
            Content::MedicationName(drug) => resources.push(out.medication(None, drug, &today)),
        }
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": fhir_id(export.message_id),
        "type": "collection",
        "timestamp": now,
        "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>(),
    }))
}

/// A time as FHIR text, or an error naming what it belongs to.
fn time_of(ms: i64, what: &str) -> Result<String, InteropError> {
    fhir_time(ms).ok_or_else(|| {
        InteropError::export(
            "records",
            format!("{what}: time {ms} ms is outside years 0–9999"),
        )
    })
}

/// The Patient resource: id always; name, birth date and gender only as the identity allows.
fn patient(id: &str, carelog_id: &str, identity: &Identity) -> Value {
    let mut p = Map::new();
    p.insert("resourceType".into(), json!("Patient"));
    p.insert("id".into(), json!(id));
    p.insert(
        "identifier".into(),
        json!([{ "system": PATIENT_ID_SYSTEM, "value": carelog_id }]),
    );
    match identity {
        Identity::Full(d) => {
            let words: Vec<&str> = d.name.split_whitespace().collect();
            let mut name = Map::new();
            name.insert("use".into(), json!("official"));
            name.insert("text".into(), json!(d.name));
            if let [given @ .., family] = words.as_slice() {
                name.insert("family".into(), json!(family));
                if !given.is_empty() {
                    name.insert("given".into(), json!(given));
                }
            }
            p.insert("name".into(), json!([name]));
            p.insert("gender".into(), json!(d.sex));
            p.insert("birthDate".into(), json!(date_string(d.birth_date)));
        }
        Identity::Initials(initials) => {
            p.insert(
                "name".into(),
                json!([{ "use": "anonymous", "text": initials }]),
            );
        }
        Identity::Unknown => {}
    }
    Value::Object(p)
}

/// A LOINC `CodeableConcept`.
fn loinc(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": LOINC_SYSTEM, "code": code, "display": display }], "text": display })
}

/// A UCUM `Quantity`.
fn quantity(value: f64, ucum: &str, shown: &str) -> Value {
    json!({ "value": value, "unit": shown, "system": UCUM_SYSTEM, "code": ucum })
}

/// An observation category `CodeableConcept` (`vital-signs`, `laboratory`).
fn category(code: &str, display: &str) -> Value {
    json!([{ "coding": [{ "system": OBSERVATION_CATEGORY_SYSTEM, "code": code, "display": display }] }])
}

/// The reference range and interpretation members of an observation.
fn range_and_flag(
    obs: &mut Map<String, Value>,
    (low, high): (Option<f64>, Option<f64>),
    (ucum, shown): (&str, &str),
    flag: Option<&str>,
) {
    if low.is_some() || high.is_some() {
        let mut range = Map::new();
        if let Some(l) = low {
            range.insert("low".into(), quantity(l, ucum, shown));
        }
        if let Some(h) = high {
            range.insert("high".into(), quantity(h, ucum, shown));
        }
        obs.insert("referenceRange".into(), json!([range]));
    }
    if let Some(f) = flag {
        obs.insert(
            "interpretation".into(),
            json!([{ "coding": [{ "system": INTERPRETATION_SYSTEM, "code": f }] }]),
        );
    }
}

/// Resource writer for one exported item.
struct Resource<'a> {
    item: &'a Item<'a>,
    time: &'a str,
    subject: &'a Value,
    /// The orders in this bundle.
    orders: &'a std::collections::BTreeSet<&'a str>,
}

impl Resource<'_> {
    /// The fields every entry resource shares: type, id, Carelog entry identifier.
    fn base(&self, kind: &str, id: String) -> Map<String, Value> {
        let mut r = Map::new();
        r.insert("resourceType".into(), json!(kind));
        r.insert("id".into(), json!(id));
        r.insert(
            "identifier".into(),
            json!([{ "system": ENTRY_ID_SYSTEM, "value": self.item.entry_id }]),
        );
        r
    }

    /// `final`, or `amended` for a correction.
    fn status(&self) -> &'static str {
        if self.item.corrected {
            "amended"
        } else {
            "final"
        }
    }

    /// An Observation's common members: status, category, code, subject, time, performer.
    fn observation(&self, id: String, cat: (&str, &str), code: (&str, &str)) -> Map<String, Value> {
        let mut o = self.base("Observation", id);
        o.insert("status".into(), json!(self.status()));
        o.insert("category".into(), category(cat.0, cat.1));
        o.insert("code".into(), loinc(code.0, code.1));
        o.insert("subject".into(), self.subject.clone());
        o.insert("effectiveDateTime".into(), json!(self.time));
        if let Some(author) = self.item.author {
            o.insert("performer".into(), json!([{ "display": author }]));
        }
        o
    }

    /// The id of one vital sign's observation: the entry's id (cut to fit) and the LOINC code.
    fn member_id(&self, sign: &VitalSign) -> String {
        let room = 64 - 1 - sign.loinc.len();
        let base: String = fhir_id(self.item.entry_id).chars().take(room).collect();
        format!("{base}-{}", sign.loinc)
    }

    /// One vital sign as its own Observation.
    fn vital(&self, sign: &VitalSign, value: f64) -> Value {
        let mut o = self.observation(
            self.member_id(sign),
            ("vital-signs", "Vital Signs"),
            (sign.loinc, sign.name),
        );
        o.insert(
            "valueQuantity".into(),
            quantity(value, sign.unit, sign.unit_text),
        );
        let implied = LabResult {
            loinc: String::new(),
            name: String::new(),
            value,
            unit: String::new(),
            low: sign.low,
            high: sign.high,
            abnormal: None,
            order: None,
        };
        range_and_flag(
            &mut o,
            (sign.low, sign.high),
            (sign.unit, sign.unit_text),
            implied.flag_from_range(),
        );
        Value::Object(o)
    }

    /// The vital signs panel (85353-1) grouping one vitals entry's observations.
    fn vitals_panel(&self, members: &[Value]) -> Value {
        let mut o = self.observation(
            fhir_id(self.item.entry_id),
            ("vital-signs", "Vital Signs"),
            VITAL_SIGNS_PANEL_LOINC,
        );
        let refs: Vec<Value> = members
            .iter()
            .map(|m| json!({ "reference": format!("Observation/{}", m["id"].as_str().unwrap_or_default()) }))
            .collect();
        o.insert("hasMember".into(), json!(refs));
        Value::Object(o)
    }

    /// A lab result Observation with range and interpretation.
    fn lab(&self, l: &LabResult) -> Value {
        let mut o = self.observation(
            fhir_id(self.item.entry_id),
            ("laboratory", "Laboratory"),
            (&l.loinc, &l.name),
        );
        if let Some(order) = &l.order {
            let mut based_on = Map::new();
            if self.orders.contains(order.as_str()) {
                based_on.insert(
                    "reference".into(),
                    json!(format!("ServiceRequest/{}", fhir_id(order))),
                );
            }
            based_on.insert(
                "identifier".into(),
                json!({ "system": ENTRY_ID_SYSTEM, "value": order }),
            );
            o.insert("basedOn".into(), json!([Value::Object(based_on)]));
        }
        o.insert("valueQuantity".into(), quantity(l.value, &l.unit, &l.unit));
        range_and_flag(
            &mut o,
            (l.low, l.high),
            (&l.unit, &l.unit),
            l.abnormal.as_deref(),
        );
        Value::Object(o)
    }

    /// A note as a DocumentReference with a base64 text/plain attachment.
    fn document(&self, title: &str, text: &str) -> Value {
        let mut d = self.base("DocumentReference", fhir_id(self.item.entry_id));
        d.insert("status".into(), json!("current"));
        let doc_status = if self.item.corrected {
            "amended"
        } else {
            "final"
        };
        d.insert("docStatus".into(), json!(doc_status));
        d.insert("type".into(), loinc(NOTE_LOINC.0, NOTE_LOINC.1));
        d.insert("subject".into(), self.subject.clone());
        d.insert("date".into(), json!(self.time));
        if let Some(author) = self.item.author {
            d.insert("author".into(), json!([{ "display": author }]));
        }
        d.insert("description".into(), json!(title));
        d.insert(
            "content".into(),
            json!([{ "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64::encode(text.as_bytes()),
                "title": title,
            } }]),
        );
        Value::Object(d)
    }

    /// A diagnosis on the problem list; the ICD-10 coding, status and dates only when the level
    /// shows them.
    fn condition(&self, detail: Option<&carelog_chart::Condition>, name: &str) -> Value {
        let mut c = self.base("Condition", fhir_id(self.item.entry_id));
        let status = match detail.map(carelog_chart::Condition::status) {
            Some(carelog_chart::ProblemStatus::Resolved) => "resolved",
            _ => "active",
        };
        c.insert(
            "clinicalStatus".into(),
            json!({ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": status,
            }] }),
        );
        c.insert(
            "category".into(),
            json!([{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                "code": "problem-list-item",
                "display": "Problem List Item",
            }] }]),
        );
        let code = match detail {
            Some(d) => json!({
                "coding": [{ "system": ICD10_SYSTEM, "code": d.icd10, "display": name }],
                "text": name,
            }),
            None => json!({ "text": name }),
        };
        c.insert("code".into(), code);
        c.insert("subject".into(), self.subject.clone());
        if let Some(d) = detail {
            if let Some(onset) = d.onset {
                c.insert("onsetDateTime".into(), json!(date_string(onset)));
            }
            if let Some(resolved) = d.resolved {
                c.insert("abatementDateTime".into(), json!(date_string(resolved)));
            }
        }
        c.insert("recordedDate".into(), json!(self.time));
        if let Some(author) = self.item.author {
            c.insert("recorder".into(), json!({ "display": author }));
        }
        Value::Object(c)
    }

    /// An allergy: substance as code text (with its code when known), reaction as the
    /// manifestation's text with its severity, criticality from the severity.
    fn allergy(&self, substance: &str, detail: Option<&carelog_chart::Allergy>) -> Value {
        let mut a = self.base("AllergyIntolerance", fhir_id(self.item.entry_id));
        a.insert(
            "clinicalStatus".into(),
            json!({ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active",
            }] }),
        );
        let severity = detail.and_then(|d| d.severity);
        if let Some(s) = severity {
            let criticality = match s {
                carelog_chart::Severity::Severe => "high",
                _ => "low",
            };
            a.insert("criticality".into(), json!(criticality));
        }
        a.insert("code".into(), json!({ "text": substance }));
        a.insert("patient".into(), self.subject.clone());
        a.insert("recordedDate".into(), json!(self.time));
        if let Some(author) = self.item.author {
            a.insert("recorder".into(), json!({ "display": author }));
        }
        if let Some(r) = detail.and_then(|d| d.reaction.as_deref()) {
            let mut reaction = Map::new();
            reaction.insert("manifestation".into(), json!([{ "text": r }]));
            if let Some(s) = severity {
                reaction.insert("severity".into(), json!(s.as_str()));
            }
            a.insert("reaction".into(), json!([Value::Object(reaction)]));
        }
        Value::Object(a)
    }

    /// A visit: a finished ambulatory encounter with its reason and day.
    fn encounter(&self, e: &carelog_chart::Encounter) -> Value {
        let mut r = self.base("Encounter", fhir_id(self.item.entry_id));
        r.insert("status".into(), json!("finished"));
        r.insert(
            "class".into(),
            json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            }),
        );
        r.insert("subject".into(), self.subject.clone());
        let start = e
            .date
            .map(date_string)
            .unwrap_or_else(|| self.time.to_string());
        r.insert("period".into(), json!({ "start": start }));
        r.insert("reasonCode".into(), json!([{ "text": e.reason }]));
        if let Some(author) = self.item.author {
            r.insert(
                "participant".into(),
                json!([{ "individual": { "display": author } }]),
            );
        }
        if let Some(place) = &e.location {
            r.insert(
                "location".into(),
                json!([{ "location": { "display": place } }]),
            );
        }
        Value::Object(r)
    }

    /// A laboratory order.
    fn order(&self, o: &carelog_chart::Order) -> Value {
        let mut r = self.base("ServiceRequest", fhir_id(self.item.entry_id));
        r.insert("status".into(), json!("active"));
        r.insert("intent".into(), json!("order"));
        r.insert(
            "category".into(),
            json!([{ "coding": [{
                "system": "http://snomed.info/sct",
                "code": "108252007",
                "display": "Laboratory procedure",
            }] }]),
        );
        if let Some(p) = o.priority {
            let code = match p {
                carelog_chart::Priority::Routine => "routine",
                carelog_chart::Priority::Urgent => "urgent",
                carelog_chart::Priority::Stat => "stat",
            };
            r.insert("priority".into(), json!(code));
        }
        r.insert("code".into(), loinc(&o.loinc, &o.name));
        r.insert("subject".into(), self.subject.clone());
        r.insert("authoredOn".into(), json!(self.time));
        if let Some(author) = self.item.author {
            r.insert("requester".into(), json!({ "display": author }));
        }
        if let Some(note) = &o.note {
            r.insert("note".into(), json!([{ "text": note }]));
        }
        Value::Object(r)
    }

    /// A vaccine given.
    fn immunization(&self, i: &carelog_chart::Immunization) -> Value {
        let mut r = self.base("Immunization", fhir_id(self.item.entry_id));
        r.insert("status".into(), json!("completed"));
        r.insert(
            "vaccineCode".into(),
            json!({
                "coding": [{ "system": CVX_SYSTEM, "code": i.cvx, "display": i.name }],
                "text": i.name,
            }),
        );
        r.insert("patient".into(), self.subject.clone());
        r.insert("occurrenceDateTime".into(), json!(date_string(i.date)));
        r.insert("recorded".into(), json!(self.time));
        if let Some(lot) = &i.lot {
            r.insert("lotNumber".into(), json!(lot));
        }
        if let Some(author) = self.item.author {
            r.insert(
                "performer".into(),
                json!([{ "actor": { "display": author } }]),
            );
        }
        if let Some(dose) = i.dose {
            r.insert(
                "protocolApplied".into(),
                json!([{ "doseNumberPositiveInt": dose }]),
            );
        }
        Value::Object(r)
    }

    /// A drug exposure; dates, supply and stop reason only when the level shows them.
    fn medication(
        &self,
        detail: Option<&carelog_chart::Medication>,
        drug: &str,
        today: &str,
    ) -> Value {
        let mut m = self.base("MedicationStatement", fhir_id(self.item.entry_id));
        let status = match detail {
            None => "unknown",
            Some(d) if d.stop_reason.is_some() => "stopped",
            Some(d) if d.end.is_some_and(|e| date_string(e).as_str() < today) => "completed",
            Some(_) => "active",
        };
        m.insert("status".into(), json!(status));
        let coding: Vec<Value> = detail
            .into_iter()
            .flat_map(|d| {
                [(RXNORM_SYSTEM, &d.rxnorm), (ATC_SYSTEM, &d.atc)]
                    .into_iter()
                    .filter_map(|(system, code)| {
                        code.as_ref()
                            .map(|c| json!({ "system": system, "code": c, "display": drug }))
                    })
            })
            .collect();
        let concept = if coding.is_empty() {
            json!({ "text": drug })
        } else {
            json!({ "coding": coding, "text": drug })
        };
        m.insert("medicationCodeableConcept".into(), concept);
        m.insert("subject".into(), self.subject.clone());
        m.insert("dateAsserted".into(), json!(self.time));
        if let Some(author) = self.item.author {
            m.insert("informationSource".into(), json!({ "display": author }));
        }
        if let Some(d) = detail {
            let mut period = Map::new();
            period.insert("start".into(), json!(date_string(d.start)));
            if let Some(end) = d.end {
                period.insert("end".into(), json!(date_string(end)));
            }
            m.insert("effectivePeriod".into(), Value::Object(period));
            if let Some(reason) = &d.stop_reason {
                m.insert("statusReason".into(), json!([{ "text": reason }]));
            }
            if let Some(why) = &d.reason {
                m.insert("reasonCode".into(), json!([{ "text": why }]));
            }
            let sig: Vec<&str> = [&d.dose, &d.route, &d.frequency]
                .into_iter()
                .filter_map(|p| p.as_deref())
                .collect();
            if !sig.is_empty() {
                let mut dosage = Map::new();
                // The text for any reader; dose and frequency also as they were typed.
                dosage.insert("text".into(), json!(sig.join(", ")));
                let typed: Vec<Value> = [
                    (DOSE_EXTENSION, &d.dose),
                    (FREQUENCY_EXTENSION, &d.frequency),
                ]
                .into_iter()
                .filter_map(|(url, v)| v.as_ref().map(|v| json!({ "url": url, "valueString": v })))
                .collect();
                if !typed.is_empty() {
                    dosage.insert("extension".into(), json!(typed));
                }
                if let Some(route) = &d.route {
                    dosage.insert("route".into(), json!({ "text": route }));
                }
                m.insert("dosage".into(), json!([Value::Object(dosage)]));
            }
            if let Some(days) = d.days_supply {
                m.insert(
                    "extension".into(),
                    json!([{
                        "url": DAYS_SUPPLY_EXTENSION,
                        "valueDuration": { "value": days, "unit": "days", "system": UCUM_SYSTEM, "code": "d" },
                    }]),
                );
            }
        }
        Value::Object(m)
    }
}
