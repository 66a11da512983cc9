//! One patient's chart: header, trends, the entry form, the timeline; or, when the reader has
//! no access, the refusal in words with "request access" and "break-glass".

use carelog_desktop_api::{
    AccessLevel, AskAccess, BreakGlass, ChartScreen, EmergencyCard, EmergencySummary, Failure,
    FailureKind, OpenChart, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api::call_with;
use crate::app::{Ctx, result_line, submit};
use crate::entry_form::{Amending, EntryForm};
use crate::trend::{TrendPlot, number, unit_text};

/// An entry's content in one line.
pub fn describe(kind: &str, data: &Value) -> String {
    let s = |k: &str| data[k].as_str().map(str::to_string);
    let n = |k: &str| data[k].as_f64().map(number);
    match kind {
        "vitals" => {
            let mut parts = Vec::new();
            match (n("systolic"), n("diastolic")) {
                (Some(a), Some(b)) => parts.push(format!("BP {a}/{b} mmHg")),
                (Some(a), None) => parts.push(format!("systolic {a} mmHg")),
                (None, Some(b)) => parts.push(format!("diastolic {b} mmHg")),
                (None, None) => {}
            }
            for (key, words, unit) in [
                ("heart_rate", "HR", "/min"),
                ("respiratory_rate", "RR", "/min"),
                ("temperature_c", "T", "°C"),
                ("temperature", "T", "°C"),
                ("spo2", "SpO2", "%"),
                ("weight_kg", "weight", "kg"),
                ("weight", "weight", "kg"),
                ("height_cm", "height", "cm"),
                ("height", "height", "cm"),
                ("bmi", "BMI", "kg/m²"),
            ] {
                if let Some(v) = n(key) {
                    parts.push(format!("{words} {v} {unit}"));
                }
            }
            parts.join(" · ")
        }
        "lab" => {
            let range = match (n("low"), n("high")) {
                (Some(l), Some(h)) => format!(" (ref {l}–{h})"),
                _ => String::new(),
            };
            let flag = match s("abnormal").as_deref() {
                Some("H") => " — high",
                Some("L") => " — low",
                _ => "",
            };
            format!(
                "{} {} {}{range}{flag}",
                s("name").unwrap_or_default(),
                n("value").unwrap_or_default(),
                unit_text(&s("unit").unwrap_or_default())
            )
        }
        "note" => format!(
            "{} — {}",
            s("title").unwrap_or_default(),
            s("text").unwrap_or_default()
        ),
        "condition" => {
            let mut text = match s("icd10") {
                Some(code) => format!("{} ({code})", s("name").unwrap_or_default()),
                None => s("name").unwrap_or_default(),
            };
            if s("status").as_deref() == Some("resolved") {
                text.push_str(" — resolved");
                if let Some(date) = s("resolved") {
                    text.push_str(&format!(" {date}"));
                }
            }
            text
        }
        "allergy" => {
            let mut text = s("substance").unwrap_or_default();
            if let Some(r) = s("reaction") {
                text.push_str(&format!(" — {r}"));
            }
            if let Some(severity) = s("severity") {
                text.push_str(&format!(" ({severity})"));
            }
            text
        }
        "encounter" => format!("Visit: {}", s("reason").unwrap_or_default()),
        "order" => format!(
            "Ordered: {} ({})",
            s("name").unwrap_or_default(),
            s("loinc").unwrap_or_default()
        ),
        "immunization" => format!(
            "{} (CVX {}) given {}",
            s("name").unwrap_or_default(),
            s("cvx").unwrap_or_default(),
            s("date").unwrap_or_default()
        ),
        "medication" => {
            let mut text = s("drug").unwrap_or_default();
            for key in ["dose", "route", "frequency"] {
                if let Some(v) = s(key) {
                    text.push_str(&format!(" · {v}"));
                }
            }
            if let Some(start) = s("start") {
                text.push_str(&format!(" from {start}"));
            }
            if let Some(end) = s("stop").or_else(|| s("end")) {
                text.push_str(&format!(" to {end}"));
            }
            if let Some(days) = data["days_supply"].as_u64() {
                text.push_str(&format!(", {days} days"));
            }
            if let Some(r) = s("stop_reason") {
                text.push_str(&format!(", stopped: {r}"));
            }
            if let Some(r) = s("allergy_override") {
                text.push_str(&format!(" (allergy warning overridden: {r})"));
            }
            text
        }
        "demographics" => match s("name") {
            Some(name) => format!(
                "{name}, born {}, {}",
                s("birth_date").unwrap_or_default(),
                s("sex").unwrap_or_default()
            ),
            None => format!(
                "{}, born {}, {}",
                s("initials").unwrap_or_default(),
                data["birth_year"]
                    .as_u64()
                    .map(|y| y.to_string())
                    .unwrap_or_default(),
                s("sex").unwrap_or_default()
            ),
        },
        _ => data.to_string(),
    }
}

/// A summary list item: a string (sample view) or an object with its name field (full view).
fn item_name(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => ["name", "substance", "drug"]
            .iter()
            .find_map(|k| other[*k].as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

/// The chart panel for one patient.
#[component]
pub fn ChartPanel(patient_id: String, role: String) -> impl IntoView {
    let ctx = Ctx::get();
    let screen = RwSignal::new(None::<Result<ChartScreen, Failure>>);
    let reload = RwSignal::new(0u32);
    let amend = RwSignal::new(None::<Amending>);
    let saved_message = RwSignal::new(None::<Result<String, String>>);
    let patient = StoredValue::new(patient_id);
    Effect::new(move |_| {
        reload.track();
        let args = OpenChart {
            patient_id: patient.get_value(),
        };
        spawn_local(async move {
            let result = call_with::<_, ChartScreen>(commands::CHART, &args).await;
            screen.set(Some(result));
            ctx.touch();
        });
    });
    let default_kind = if role == "lab" { "lab" } else { "vitals" };
    let lab_only = role == "lab";
    move || match screen.get() {
        None => view! { <p class="hint">"Opening the chart…"</p> }.into_any(),
        Some(Err(failure)) => {
            // A lab at the registering clinic records results without reading the chart.
            let lab_form = (role == "lab" && failure.kind == FailureKind::Denied).then(|| {
                view! {
                    <p class="hint">"As the clinic's lab you can still record a result for this patient."</p>
                    <EntryForm patient_id=patient.get_value() default_kind="lab" amend=amend saved=reload
                        message=saved_message lab_only=true/>
                }
            });
            view! {
                <NoAccess patient_id=patient.get_value() failure=failure reload=reload/>
                {lab_form}
            }
            .into_any()
        }
        Some(Ok(chart)) => {
            let level = chart.level.as_str();
            let title = chart.name.clone().unwrap_or_else(|| {
                format!(
                    "Patient {}…",
                    &chart.patient_id[..12.min(chart.patient_id.len())]
                )
            });
            let trends = chart.trends.clone();
            let has_trends = !trends.is_empty();
            let summary = summary_view(&chart.view);
            let banner = banner_view(&chart.view);
            let lists = clinical_lists(&chart.view, amend);
            let visits: Vec<(String, String)> = chart.view["encounters"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                            (s("entry_id"), format!("{} — {}", s("date"), s("reason")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let today = js_sys::Date::new_0()
                .to_iso_string()
                .as_string()
                .unwrap_or_default()
                .chars()
                .take(10)
                .collect::<String>();
            let writable = level == "full";
            let broke_glass = chart.view["banner"]["basis"] == "break-glass";
            let sealed = chart.view["sealed_entries"].as_u64().unwrap_or_default();
            let emergency = broke_glass.then(|| {
                view! {
                    <EmergencyFromCard patient_id=patient.get_value() sealed=sealed/>
                }
            });
            view! {
                <section id="chart" data-level=level aria-labelledby="chart-title">
                    <h1 id="chart-title">{title}<span class=format!("badge {level}")>{level}</span></h1>
                    <p class="hint">"Patient id " <code id="chart-patient-id">{chart.patient_id.clone()}</code>
                        " · every opening of this chart is recorded and shown to the patient."</p>
                    {banner}
                    {emergency}
                    {summary}
                    {lists}
                    <section class="card" aria-labelledby="trends-heading">
                        <h2 id="trends-heading">"Trends"</h2>
                        {if has_trends {
                            view! { <div class="trends" id="trends">
                                {trends.into_iter().map(|t| view! { <TrendPlot trend=t/> }).collect_view()}
                            </div> }.into_any()
                        } else {
                            view! { <p class="hint" id="trends">"No measured values yet."</p> }.into_any()
                        }}
                    </section>
                    {writable.then(|| view! {
                        <EntryForm patient_id=patient.get_value() default_kind=default_kind amend=amend saved=reload message=saved_message lab_only=lab_only
                            visits=visits today=today/>
                    })}
                    <Timeline view=chart.view.clone() amend=amend writable=writable/>
                    {writable.then(|| view! { <crate::interchange::PrintCard patient_id=patient.get_value()/> })}
                    <crate::interchange::ExportCard patient_id=patient.get_value()/>
                </section>
            }
            .into_any()
        }
    }
}

fn summary_view(view: &Value) -> Option<impl IntoView + use<>> {
    if view.get("problems").is_some() {
        // At full level the chart carries its clinical lists; see `ClinicalLists`.
        return None;
    }
    let summary = view.get("summary")?;
    let list = |key: &str| -> Vec<String> {
        summary[key]
            .as_array()
            .map(|a| a.iter().map(item_name).collect())
            .unwrap_or_default()
    };
    let (problems, allergies, medications) =
        (list("problems"), list("allergies"), list("medications"));
    let row = |words: &'static str, items: Vec<String>| {
        let text = if items.is_empty() {
            "none recorded".to_string()
        } else {
            items.join(", ")
        };
        view! { <p><strong>{words}": "</strong>{text}</p> }
    };
    Some(view! {
        <section class="card" id="summary" aria-label="Summary">
            {row("Problems", problems)}
            {row("Allergies", allergies)}
            {row("Medications", medications)}
        </section>
    })
}

/// Whom the chart is about, on every chart screen: name, age, birth date, sex, card number,
/// allergies at a glance, and why the reader may look.
fn banner_view(view: &Value) -> Option<impl IntoView + use<>> {
    let b = view.get("banner")?;
    let s = |k: &str| b[k].as_str().map(str::to_string);
    let name = s("name").unwrap_or_else(|| "Name not shown at this level".into());
    let mut identity = Vec::new();
    if let Some(age) = b["age"].as_i64() {
        identity.push(format!("{age} years"));
    }
    if let Some(born) = s("birth_date") {
        identity.push(format!("born {born}"));
    }
    if let Some(sex) = s("sex") {
        identity.push(sex);
    }
    if let Some(card) = s("card_number") {
        identity.push(format!("card {card}"));
    }
    let allergies: Vec<String> = b["allergies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let full = b["level"] == "full";
    let allergy_line = full.then(|| {
        if allergies.is_empty() {
            view! { <p id="banner-allergies">"No known allergies recorded"</p> }.into_any()
        } else {
            view! { <p id="banner-allergies" class="allergy-alert" role="note">
                <strong>"Allergies: "</strong>{allergies.join(", ")}
            </p> }
            .into_any()
        }
    });
    let mut basis = format!(
        "Your access: {} ({})",
        s("basis").unwrap_or_default(),
        s("level").unwrap_or_default()
    );
    if let Some(until) = s("until") {
        basis.push_str(&format!(
            ", until {}",
            until.replace('T', " ").trim_end_matches('Z')
        ));
    }
    Some(view! {
        <section id="banner" class="card banner" aria-label="Patient">
            <p><strong id="banner-name">{name}</strong>" · "<span id="banner-identity">{identity.join(" · ")}</span></p>
            {allergy_line}
            <p id="banner-basis" class="hint">{basis}</p>
        </section>
    })
}

/// The full chart's clinical lists: problems with status, current and past medications,
/// orders waiting for a result, visits, and conflicts from concurrent edits with a way to
/// resolve each by amending the entry.
fn clinical_lists(
    view: &Value,
    amend: RwSignal<Option<Amending>>,
) -> Option<impl IntoView + use<>> {
    view.get("problems")?;
    let items = |key: &str| view[key].as_array().cloned().unwrap_or_default();
    let s = |v: &Value, k: &str| v[k].as_str().map(str::to_string);
    let list = |id: &'static str, rows: Vec<String>| {
        if rows.is_empty() {
            view! { <p class="hint" id=id>"none recorded"</p> }.into_any()
        } else {
            view! { <ul id=id>{rows.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul> }
                .into_any()
        }
    };
    let problems = items("problems")
        .iter()
        .map(|p| {
            let mut text = format!(
                "{} ({})",
                s(p, "name").unwrap_or_default(),
                s(p, "icd10").unwrap_or_default()
            );
            match s(p, "status").as_deref() {
                Some("resolved") => {
                    text.push_str(" — resolved");
                    if let Some(d) = s(p, "resolved") {
                        text.push_str(&format!(" {d}"));
                    }
                }
                _ => text.push_str(" — active"),
            }
            text
        })
        .collect();
    let medication = |m: &Value, past: bool| {
        let mut text = s(m, "drug").unwrap_or_default();
        for key in ["dose", "route", "frequency"] {
            if let Some(v) = s(m, key) {
                text.push_str(&format!(" · {v}"));
            }
        }
        text.push_str(&format!(" · from {}", s(m, "start").unwrap_or_default()));
        if past {
            if let Some(end) = s(m, "end") {
                text.push_str(&format!(" to {end}"));
            }
            if let Some(r) = s(m, "stop_reason") {
                text.push_str(&format!(" (stopped: {r})"));
            }
        }
        text
    };
    let current = items("current_medications")
        .iter()
        .map(|m| medication(m, false))
        .collect();
    let past = items("past_medications")
        .iter()
        .map(|m| medication(m, true))
        .collect();
    let orders = items("outstanding_orders")
        .iter()
        .map(|o| {
            format!(
                "{} ({}) — ordered by {} on {}",
                s(o, "name").unwrap_or_default(),
                s(o, "loinc").unwrap_or_default(),
                s(o, "ordered_by").unwrap_or_default(),
                s(o, "time")
                    .unwrap_or_default()
                    .chars()
                    .take(10)
                    .collect::<String>()
            )
        })
        .collect();
    let visits = items("encounters")
        .iter()
        .map(|e| {
            let n = e["entries"].as_array().map_or(0, Vec::len);
            format!(
                "{} — {} ({}, {n} entries)",
                s(e, "date").unwrap_or_default(),
                s(e, "reason").unwrap_or_default(),
                s(e, "clinician").unwrap_or_default()
            )
        })
        .collect();
    let entries = items("entries");
    let conflicts = items("conflicts");
    let conflict_card = (!conflicts.is_empty()).then(|| {
        let rows = conflicts
            .into_iter()
            .map(|c| {
                let field = s(&c, "field").unwrap_or_default();
                let entry_id = s(&c, "entry_id");
                let original = entry_id
                    .as_ref()
                    .and_then(|id| entries.iter().find(|e| e["entry_id"].as_str() == Some(id)))
                    .cloned();
                let values = c["values"].as_array().cloned().unwrap_or_default();
                let choices = values
                    .into_iter()
                    .map(|value| {
                        let shown = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                        let keep = original.clone().map(|e| {
                            let kind = s(&e, "kind").unwrap_or_default();
                            let mut data = e["data"].clone();
                            // The summary calls a drug's stop date `end`.
                            let key = if field == "end" { "stop".to_string() } else { field.clone() };
                            if let Some(o) = data.as_object_mut() {
                                o.insert(key, value.clone());
                            }
                            let id = s(&e, "entry_id").unwrap_or_default();
                            let label = format!("Keep {shown}");
                            view! {
                                <button type="button" class="secondary conflict-keep"
                                    on:click=move |_| amend.set(Some(Amending { entry_id: id.clone(), kind: kind.clone(), data: data.clone() }))>
                                    {label}
                                </button>
                            }
                        });
                        view! { <li><code>{shown.clone()}</code>" "{keep}</li> }
                    })
                    .collect_view();
                view! {
                    <li>
                        <strong>{s(&c, "label").unwrap_or_default()}</strong>" — "{field.clone()}" was set to different values at two clinics:"
                        <ul>{choices}</ul>
                    </li>
                }
            })
            .collect_view();
        view! {
            <section class="card" id="conflicts" aria-labelledby="conflicts-heading">
                <h2 id="conflicts-heading">"Conflicting edits"</h2>
                <p class="hint">"Two clinics changed the same item while apart. Choose the right value; your choice is saved as an amendment and both values stay in the record."</p>
                <ul>{rows}</ul>
            </section>
        }
    });
    Some(view! {
        {conflict_card}
        <section class="card" id="clinical-lists" aria-label="Problems, medications, orders and visits">
            <div class="grid">
                <div><h2>"Problems"</h2>{list("problems", problems)}</div>
                <div><h2>"Current medications"</h2>{list("current-medications", current)}</div>
                <div><h2>"Past medications"</h2>{list("past-medications", past)}</div>
                <div><h2>"Orders waiting for results"</h2>{list("outstanding-orders", orders)}</div>
            </div>
            <h2>"Visits"</h2>
            {list("visits", visits)}
        </section>
    })
}

/// The chart's entries, newest first; amended entries are dimmed, each entry can be amended.
#[component]
fn Timeline(view: Value, amend: RwSignal<Option<Amending>>, writable: bool) -> impl IntoView {
    let entries: Vec<Value> = view["entries"].as_array().cloned().unwrap_or_default();
    let visit_of = |id: &str| -> Option<String> {
        view["encounters"].as_array()?.iter().find_map(|e| {
            (e["entry_id"].as_str() == Some(id))
                .then(|| e["reason"].as_str().unwrap_or_default().to_string())
        })
    };
    let latest: Vec<Value> = view["latest"].as_array().cloned().unwrap_or_default();
    let stats: Vec<Value> = view["observations"].as_array().cloned().unwrap_or_default();
    let items = entries
        .into_iter()
        .rev()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap_or_default().to_string();
            let id = e["entry_id"].as_str().unwrap_or_default().to_string();
            let amended = e.get("amended_by").is_some();
            let text = describe(&kind, &e["data"]);
            let visit = e["encounter"]
                .as_str()
                .and_then(visit_of)
                .map(|reason| format!(" · visit: {reason}"))
                .unwrap_or_default();
            let meta = format!(
                "{} · {}{}{visit}",
                e["time"].as_str().unwrap_or_default().replace('T', " ").trim_end_matches('Z'),
                e["author"].as_str().unwrap_or("—"),
                if e.get("amends").is_some() { " · amendment" } else { "" }
            );
            let flag = e["flagged"].as_str().map(|f| view! { <p class="error">"Flagged: "{f.to_string()}</p> });
            let can_amend = writable && !amended;
            let data = e["data"].clone();
            let k2 = kind.clone();
            let id2 = id.clone();
            view! {
                <li class:amended=amended data-kind=kind.clone() data-entry-id=id.clone()>
                    <strong>{kind.clone()}</strong>" "{text}
                    {amended.then(|| view! { <span class="badge">"amended"</span> })}
                    <div class="meta">{meta}</div>
                    {flag}
                    {can_amend.then(|| view! {
                        <button type="button" class="secondary" aria-label=format!("Amend this {k2} entry")
                            on:click=move |_| amend.set(Some(Amending { entry_id: id2.clone(), kind: k2.clone(), data: data.clone() }))>
                            "Amend"
                        </button>
                    })}
                </li>
            }
        })
        .collect_view();
    let latest_table = (!latest.is_empty()).then(|| {
        let rows = latest
            .into_iter()
            .map(|v| {
                view! { <tr>
                    <td>{v["name"].as_str().unwrap_or_default().to_string()}</td>
                    <td>{v["value"].as_f64().map(number).unwrap_or_default()}" "{unit_text(v["unit"].as_str().unwrap_or_default()).to_string()}</td>
                    <td>{v["date"].as_str().unwrap_or_default().to_string()}</td>
                </tr> }
            })
            .collect_view();
        view! { <section class="card"><h2>"Latest values"</h2>
            <table><thead><tr><th>"Measure"</th><th>"Value"</th><th>"Date"</th></tr></thead><tbody>{rows}</tbody></table>
        </section> }
    });
    let stats_table = (!stats.is_empty()).then(|| {
        let rows = stats
            .into_iter()
            .map(|s| {
                let name = s["name"].as_str().unwrap_or_default().to_string();
                let rest = s
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(k, _)| !matches!(k.as_str(), "name" | "loinc" | "unit"))
                            .map(|(k, v)| format!("{k}: {}", v.as_f64().map(number).unwrap_or_else(|| v.to_string())))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                view! { <tr><td>{name}</td><td>{rest}</td></tr> }
            })
            .collect_view();
        view! { <section class="card"><h2>"Statistics"</h2>
            <table><thead><tr><th>"Measure"</th><th>"Summary"</th></tr></thead><tbody>{rows}</tbody></table>
        </section> }
    });
    view! {
        {latest_table}
        {stats_table}
        <section class="card" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <ul class="timeline" id="timeline">{items}</ul>
        </section>
    }
}

/// After breaking the glass: the emergency summary the patient's card opens (allergies,
/// problems, current medications), also at a clinic that holds no key for the record. A
/// handheld scanner types the card's QR content into the field; so can a person.
#[component]
fn EmergencyFromCard(patient_id: String, sealed: u64) -> impl IntoView {
    let ctx = Ctx::get();
    let patient = StoredValue::new(patient_id);
    let card = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let summary = RwSignal::new(None::<EmergencySummary>);
    let open = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = EmergencyCard {
            patient_id: patient.get_value(),
            card: card.get_untracked(),
        };
        submit(
            ctx,
            commands::EMERGENCY_SUMMARY,
            args,
            busy,
            message,
            move |found: Option<EmergencySummary>| {
                card.set(String::new());
                let said = found.is_none().then(|| {
                    "No emergency summary was published for this card. Ask the patient's clinic, or treat as unknown.".to_string()
                });
                summary.set(found);
                said
            },
        );
    };
    let lines = |id: &'static str, heading: &'static str, items: Vec<String>| {
        view! {
            <div id=id>
                <h3>{heading}</h3>
                {if items.is_empty() {
                    view! { <p>"None recorded"</p> }.into_any()
                } else {
                    view! { <ul>{items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}</ul> }.into_any()
                }}
            </div>
        }
    };
    view! {
        <section class="card emergency" id="emergency" aria-labelledby="emergency-heading">
            <h2 id="emergency-heading">"Emergency summary"</h2>
            {(sealed > 0).then(|| view! {
                <p class="hint" id="emergency-sealed">{format!(
                    "This clinic holds no key for {sealed} entries of this record. The patient's card opens their emergency summary without their PIN."
                )}</p>
            })}
            {move || match summary.get() {
                Some(s) => view! {
                    <div id="emergency-summary" class="row" role="region" aria-label="Emergency summary from the patient's card">
                        {lines("emergency-allergies", "Allergies", s.allergies)}
                        {lines("emergency-problems", "Problems", s.problems)}
                        {lines("emergency-medications", "Current medications", s.medications)}
                        {lines("emergency-contacts", "Whom to call (acts for the patient)", s.contacts)}
                    </div>
                }.into_any(),
                None => view! {
                    <form on:submit=open>
                        <label for="emergency-card">"Scan the patient's card (or type its QR content)"</label>
                        <input id="emergency-card" type="password" autocomplete="off" spellcheck="false" prop:value=card
                            on:input=move |ev| card.set(event_target_value(&ev))/>
                        <crate::scan::CameraScan id="emergency-card-camera" found=Callback::new(move |text: String| card.set(text))/>
                        <button id="emergency-open" type="submit" class="danger" disabled=busy>"Open the emergency summary"</button>
                    </form>
                }.into_any(),
            }}
            {result_line("emergency-status", message)}
            <p class="hint">"Opening it is recorded and shown to the patient."</p>
        </section>
    }
}

/// Shown when the chart does not open: the reason, and the ways to ask for access.
#[component]
fn NoAccess(patient_id: String, failure: Failure, reload: RwSignal<u32>) -> impl IntoView {
    let ctx = Ctx::get();
    let denied = failure.kind == FailureKind::Denied;
    let patient = StoredValue::new(patient_id);
    let level = RwSignal::new(AccessLevel::Sample);
    let reason = RwSignal::new(String::new());
    let glass_reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let asked = RwSignal::new(None::<Result<String, String>>);
    let glass = RwSignal::new(None::<Result<String, String>>);
    let ask = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = AskAccess {
            patient_id: patient.get_value(),
            level: level.get_untracked(),
            reason: reason.get_untracked(),
        };
        submit(
            ctx,
            commands::REQUEST_ACCESS,
            args,
            busy,
            asked,
            move |()| {
                Some("Request sent. The patient decides at the kiosk; the chart opens once they allow it.".into())
            },
        );
    };
    let break_glass = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = BreakGlass {
            patient_id: patient.get_value(),
            reason: glass_reason.get_untracked(),
        };
        submit(ctx, commands::BREAK_GLASS, args, busy, glass, move |()| {
            reload.update(|n| *n += 1);
            None
        });
    };
    view! {
        <section id="chart-denied" class="card">
            <h1>"This chart did not open"</h1>
            <p id="chart-error" class="error" role="alert">{failure.message.clone()}</p>
            {denied.then(|| view! {
                <form on:submit=ask aria-labelledby="request-heading">
                    <h2 id="request-heading">"Request access"</h2>
                    <p class="hint">"The patient (or their family doctor) sees your request and decides."</p>
                    <label for="request-level">"Access level"</label>
                    <select id="request-level" on:change=move |ev| if let Ok(l) = event_target_value(&ev).parse() { level.set(l) }>
                        <option value="information">"information — statistics only"</option>
                        <option value="sample" selected=true>"sample — latest values, identity hidden"</option>
                        <option value="full">"full — the whole record"</option>
                    </select>
                    <label for="request-reason">"Reason"</label>
                    <input id="request-reason" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))
                        placeholder="e.g. cardiology referral"/>
                    <button id="request-submit" type="submit" disabled=busy>"Send request"</button>
                    {result_line("request-status", asked)}
                </form>
                <form on:submit=break_glass aria-labelledby="glass-heading">
                    <h2 id="glass-heading">"Emergency access (break-glass)"</h2>
                    <p class="hint">"Opens the full record for 24 hours. It is recorded, flagged to the patient and reviewed."</p>
                    <label for="glass-reason">"Emergency reason"</label>
                    <input id="glass-reason" prop:value=glass_reason on:input=move |ev| glass_reason.set(event_target_value(&ev))/>
                    <button id="glass-submit" type="submit" class="danger" disabled=busy>"Break the glass"</button>
                    {result_line("glass-status", glass)}
                </form>
            })}
        </section>
    }
}
