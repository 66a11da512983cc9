//! New chart entries and amendments, one form per kind, usable from the keyboard: a label on
//! every control, document order for tabbing, Enter submits.

use std::collections::BTreeMap;

use carelog_desktop_api::{CodeHit, CodeQuery, NewEntry, commands};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value, json};

use crate::app::{Ctx, result_line, submit};

/// How a field is typed and turned into JSON.
#[derive(Clone, Copy, PartialEq)]
enum Input {
    Number,
    Whole,
    Text,
    Long,
    Date,
}

/// One field of an entry form.
struct Field {
    key: &'static str,
    label: &'static str,
    input: Input,
    required: bool,
}

const fn f(key: &'static str, label: &'static str, input: Input, required: bool) -> Field {
    Field {
        key,
        label,
        input,
        required,
    }
}

/// The kinds a clinician adds, with their words.
pub const KINDS: [(&str, &str); 9] = [
    ("vitals", "Vital signs"),
    ("lab", "Lab result"),
    ("note", "Note"),
    ("condition", "Condition"),
    ("allergy", "Allergy"),
    ("medication", "Medication"),
    ("encounter", "Visit"),
    ("order", "Lab order"),
    ("immunization", "Immunization"),
];

fn fields(kind: &str) -> &'static [Field] {
    use Input::*;
    const VITALS: [Field; 8] = [
        f("systolic", "Systolic BP (mmHg)", Number, false),
        f("diastolic", "Diastolic BP (mmHg)", Number, false),
        f("heart_rate", "Heart rate (/min)", Number, false),
        f("respiratory_rate", "Respiratory rate (/min)", Number, false),
        f("temperature_c", "Temperature (°C)", Number, false),
        f("spo2", "SpO2 (%)", Number, false),
        f("weight_kg", "Weight (kg)", Number, false),
        f("height_cm", "Height (cm)", Number, false),
    ];
    const LAB: [Field; 6] = [
        f("loinc", "LOINC code", Text, true),
        f("name", "Test", Text, true),
        f("value", "Value", Number, true),
        f("unit", "Unit", Text, true),
        f("low", "Reference low", Number, false),
        f("high", "Reference high", Number, false),
    ];
    const NOTE: [Field; 2] = [
        f("title", "Title", Text, true),
        f("text", "Note", Long, true),
    ];
    const CONDITION: [Field; 5] = [
        f("icd10", "ICD-10 code", Text, true),
        f("name", "Condition", Text, true),
        f("status", "Status (active or resolved)", Text, false),
        f("onset", "Onset (YYYY-MM-DD)", Date, false),
        f("resolved", "Resolved (YYYY-MM-DD)", Date, false),
    ];
    const ALLERGY: [Field; 3] = [
        f("substance", "Substance", Text, true),
        f("reaction", "Reaction", Text, false),
        f(
            "severity",
            "Severity (mild, moderate or severe)",
            Text,
            false,
        ),
    ];
    const MEDICATION: [Field; 9] = [
        f("drug", "Drug and strength", Text, true),
        f("dose", "Dose", Text, false),
        f("route", "Route", Text, false),
        f("frequency", "Frequency", Text, false),
        f("start", "Start (YYYY-MM-DD)", Date, true),
        f("stop", "Stop (YYYY-MM-DD)", Date, false),
        f("days_supply", "Days supplied", Whole, false),
        f("stop_reason", "Stop reason", Text, false),
        f("atc", "ATC code", Text, false),
    ];
    const DEMOGRAPHICS: [Field; 3] = [
        f("name", "Full name", Text, true),
        f("birth_date", "Birth date (YYYY-MM-DD)", Date, true),
        f("sex", "Sex (female, male or other)", Text, true),
    ];
    const ENCOUNTER: [Field; 1] = [f("reason", "Reason for the visit", Text, true)];
    const ORDER: [Field; 2] = [
        f("loinc", "LOINC code", Text, true),
        f("name", "Test", Text, true),
    ];
    const IMMUNIZATION: [Field; 4] = [
        f("cvx", "CVX code", Text, true),
        f("name", "Vaccine", Text, true),
        f("date", "Given on (YYYY-MM-DD)", Date, true),
        f("lot", "Lot", Text, false),
    ];
    match kind {
        "vitals" => &VITALS,
        "lab" => &LAB,
        "note" => &NOTE,
        "condition" => &CONDITION,
        "allergy" => &ALLERGY,
        "medication" => &MEDICATION,
        "encounter" => &ENCOUNTER,
        "demographics" => &DEMOGRAPHICS,
        "order" => &ORDER,
        "immunization" => &IMMUNIZATION,
        _ => &[],
    }
}

/// The entry's JSON from the typed text, or the first problem in words.
fn build(kind: &str, values: &BTreeMap<String, String>) -> Result<Value, String> {
    let mut data = Map::new();
    for field in fields(kind) {
        let text = values.get(field.key).map(|s| s.trim()).unwrap_or_default();
        if text.is_empty() {
            if field.required {
                return Err(format!("{} is needed", field.label));
            }
            continue;
        }
        let value = match field.input {
            Input::Number => {
                let n: f64 = text
                    .replace(',', ".")
                    .parse()
                    .map_err(|_| format!("{}: `{text}` is not a number", field.label))?;
                json!(n)
            }
            Input::Whole => {
                let n: u32 = text
                    .parse()
                    .map_err(|_| format!("{}: `{text}` is not a whole number", field.label))?;
                json!(n)
            }
            Input::Text | Input::Long | Input::Date => json!(text),
        };
        data.insert(field.key.into(), value);
    }
    if data.is_empty() {
        return Err("fill in at least one value".into());
    }
    Ok(Value::Object(data))
}

/// The fields of an existing entry as form text (for an amendment).
fn as_text(data: &Value) -> BTreeMap<String, String> {
    data.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => crate::trend::number(n.as_f64().unwrap_or_default()),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The bundled code table a field's type-ahead searches, if it has one.
fn code_table(kind: &str, key: &str) -> Option<&'static str> {
    match (kind, key) {
        (_, "icd10") => Some("icd10"),
        ("lab" | "order", "loinc") => Some("loinc"),
        (_, "cvx") => Some("cvx"),
        (_, "drug" | "atc") => Some("drug"),
        _ => None,
    }
}

/// An entry being amended: its id, kind and data.
#[derive(Clone, PartialEq)]
pub struct Amending {
    /// The entry corrected.
    pub entry_id: String,
    /// Its kind.
    pub kind: String,
    /// Its data.
    pub data: Value,
}

/// The entry form. `amend` starts an amendment; `saved` is bumped after each saved entry;
/// `message` (owned by the chart, which re-renders after a save) tells how the last save went.
#[component]
pub fn EntryForm(
    patient_id: String,
    default_kind: &'static str,
    amend: RwSignal<Option<Amending>>,
    saved: RwSignal<u32>,
    message: RwSignal<Option<Result<String, String>>>,
    /// Only lab results (a lab user).
    #[prop(optional)]
    lab_only: bool,
    /// The chart's visits, newest first: (entry id, "date — reason"); the first one of today
    /// is chosen by default.
    #[prop(optional)]
    visits: Vec<(String, String)>,
    /// Today's date, `YYYY-MM-DD`, to pick today's visit.
    #[prop(optional)]
    today: String,
) -> impl IntoView {
    let ctx = Ctx::get();
    let kind = RwSignal::new(default_kind.to_string());
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let busy = RwSignal::new(false);
    let todays_visit = visits
        .iter()
        .find(|(_, label)| !today.is_empty() && label.starts_with(&today))
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let visit = RwSignal::new(todays_visit);
    let visits = StoredValue::new(visits);
    let allergy_override = RwSignal::new(String::new());
    let suggestions = RwSignal::new(BTreeMap::<&'static str, Vec<CodeHit>>::new());
    Effect::new(move |_| {
        if let Some(a) = amend.get() {
            kind.set(a.kind.clone());
            values.set(as_text(&a.data));
            message.set(None);
        }
    });
    let patient = StoredValue::new(patient_id);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let k = kind.get_untracked();
        let Ok(entry_kind) = k.parse() else {
            message.set(Some(Err(format!("`{k}` is not a kind of entry"))));
            return;
        };
        let data = match build(&k, &values.get_untracked()) {
            Ok(d) => d,
            Err(e) => {
                message.set(Some(Err(e)));
                return;
            }
        };
        let amends = amend.get_untracked().map(|a| a.entry_id);
        let words = if amends.is_some() {
            "Amendment saved"
        } else {
            "Saved"
        };
        let chosen = |text: String| Some(text).filter(|t| !t.trim().is_empty());
        let args = NewEntry {
            patient_id: patient.get_value(),
            kind: entry_kind,
            data,
            amends,
            encounter: if k == "encounter" {
                None
            } else {
                chosen(visit.get_untracked())
            },
            allergy_override: if k == "medication" {
                chosen(allergy_override.get_untracked())
            } else {
                None
            },
        };
        submit(
            ctx,
            commands::ADD_ENTRY,
            args,
            busy,
            message,
            move |id: String| {
                values.set(BTreeMap::new());
                allergy_override.set(String::new());
                amend.set(None);
                saved.update(|n| *n += 1);
                Some(format!(
                    "{words}: {k} entry {}…",
                    id.chars().take(12).collect::<String>()
                ))
            },
        );
    };
    let form_fields = move || {
        let k = kind.get();
        fields(&k)
            .iter()
            .map(|field| {
                let key = field.key;
                let id = format!("entry-{key}");
                let value = move || values.with(|v| v.get(key).cloned().unwrap_or_default());
                let table = code_table(&k, key);
                let set = move |ev| {
                    let text = event_target_value(&ev);
                    // A code picked from the suggestions fills in its name (and a drug its code).
                    let picked = suggestions.with_untracked(|s| {
                        s.get(key).and_then(|hits| {
                            hits.iter()
                                .find(|h| if key == "drug" { h.display == text } else { h.code == text })
                                .cloned()
                        })
                    });
                    values.update(|v| {
                        v.insert(key.to_string(), text.clone());
                        if let Some(hit) = picked {
                            let (other, value) = match key {
                                "drug" => ("atc", hit.code),
                                "atc" => ("drug", hit.display),
                                _ => ("name", hit.display),
                            };
                            if v.get(other).is_none_or(|t| t.trim().is_empty()) {
                                v.insert(other.to_string(), value);
                            }
                        }
                    });
                    if let Some(system) = table {
                        let args = CodeQuery { system: system.to_string(), text };
                        spawn_local(async move {
                            if let Ok(hits) =
                                crate::api::call_with::<_, Vec<CodeHit>>(commands::LOOKUP_CODES, &args).await
                            {
                                suggestions.update(|s| {
                                    s.insert(key, hits);
                                });
                            }
                        });
                    }
                };
                let label = if field.required {
                    format!("{} *", field.label)
                } else {
                    field.label.to_string()
                };
                let control = match field.input {
                    Input::Long => view! {
                        <textarea id=id.clone() prop:value=value on:input=set required=field.required></textarea>
                    }
                    .into_any(),
                    Input::Number | Input::Whole => view! {
                        <input id=id.clone() inputmode="decimal" autocomplete="off" prop:value=value
                            on:input=set required=field.required/>
                    }
                    .into_any(),
                    Input::Text | Input::Date => {
                        let list = table.map(|_| format!("codes-{key}"));
                        let options = move || {
                            suggestions.with(|s| {
                                s.get(key)
                                    .cloned()
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|h| {
                                        let (value, label) = if key == "drug" {
                                            (h.display.clone(), h.code.clone())
                                        } else {
                                            (h.code.clone(), h.display.clone())
                                        };
                                        view! { <option value=value>{label}</option> }
                                    })
                                    .collect_view()
                            })
                        };
                        view! {
                            <input id=id.clone() autocomplete="off" prop:value=value on:input=set
                                required=field.required list=list.clone()
                                placeholder=if field.input == Input::Date { "YYYY-MM-DD" } else { "" }/>
                            {list.map(|l| view! { <datalist id=l>{options}</datalist> })}
                        }
                        .into_any()
                    }
                };
                view! { <div><label for=id>{label}</label>{control}</div> }
            })
            .collect_view()
    };
    let amending = move || {
        amend.get().map(|a| {
            view! {
                <p class="hint" id="amending">
                    "Amending " {a.kind.clone()} " entry " <code>{a.entry_id.chars().take(12).collect::<String>()}"…"</code>
                    " — the original stays in the record, marked as amended. "
                    <button type="button" class="secondary" on:click=move |_| { amend.set(None); values.set(BTreeMap::new()); }>
                        "Cancel amendment"
                    </button>
                </p>
            }
        })
    };
    view! {
        <form class="card" id="entry-form" on:submit=on_submit aria-labelledby="entry-heading">
            <h2 id="entry-heading">{move || if amend.get().is_some() { "Amend an entry" } else { "Add an entry" }}</h2>
            {amending}
            <label for="entry-kind">"Kind of entry"</label>
            <select id="entry-kind" disabled=move || amend.get().is_some()
                on:change=move |ev| { kind.set(event_target_value(&ev)); values.set(BTreeMap::new()); message.set(None); }>
                {KINDS.iter().filter(|(k, _)| !lab_only || *k == "lab").map(|(k, words)| view! {
                    <option value=*k selected=move || kind.get() == *k>{*words}</option>
                }).collect_view()}
            </select>
            <div class="grid">{form_fields}</div>
            {move || (kind.get() == "medication").then(|| view! {
                <div>
                    <label for="entry-override">"Allergy override reason (only if the drug matches a recorded allergy)"</label>
                    <input id="entry-override" autocomplete="off" prop:value=allergy_override
                        on:input=move |ev| allergy_override.set(event_target_value(&ev))/>
                </div>
            })}
            {move || (kind.get() != "encounter" && !visits.with_value(Vec::is_empty)).then(|| view! {
                <div>
                    <label for="entry-encounter">"Visit"</label>
                    <select id="entry-encounter" on:change=move |ev| visit.set(event_target_value(&ev))>
                        <option value="" selected=move || visit.get().is_empty()>"— not part of a visit —"</option>
                        {visits.get_value().into_iter().map(|(id, label)| {
                            let id2 = id.clone();
                            view! { <option value=id selected=move || visit.get() == id2>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
            })}
            <button id="entry-submit" type="submit" disabled=busy>
                {move || if amend.get().is_some() { "Save amendment" } else { "Save entry" }}
            </button>
            {result_line("entry-status", message)}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vitals_become_numbers_and_empty_fields_are_left_out() {
        let data = build(
            "vitals",
            &typed(&[("systolic", "128"), ("diastolic", " 82 "), ("spo2", "")]),
        )
        .unwrap();
        assert_eq!(data, json!({"systolic": 128.0, "diastolic": 82.0}));
        assert_eq!(
            build("vitals", &typed(&[])).unwrap_err(),
            "fill in at least one value"
        );
        assert!(
            build("vitals", &typed(&[("systolic", "high")]))
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn required_fields_are_named_and_whole_numbers_stay_whole() {
        assert_eq!(
            build("note", &typed(&[("title", "x")])).unwrap_err(),
            "Note is needed"
        );
        let med = build(
            "medication",
            &typed(&[
                ("drug", "Metformin"),
                ("start", "2026-01-10"),
                ("days_supply", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(med["days_supply"], json!(30));
    }

    #[test]
    fn an_entry_reads_back_as_form_text() {
        let text = as_text(&json!({"systolic": 128.0, "note": "x"}));
        assert_eq!(text["systolic"], "128");
        assert_eq!(text["note"], "x");
    }
}
