//! The patient's own record at the kiosk, in plain words, and granting a doctor or lab of the
//! network on the patient's own initiative: found by name, specialty or clinic, with a level
//! explained in words and an end date.

use carelog_desktop_api::{
    AccessLevel, DirectoryQuery, GrantAccess, MyRecord, PatientRef, StaffMember, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::call_with;
use crate::app::{Ctx, submit};

/// A list in a card, or a sentence saying it is empty.
fn listed(
    id: &'static str,
    heading: &'static str,
    empty: &'static str,
    items: Vec<String>,
) -> impl IntoView {
    view! {
        <section class="card" id=id>
            <h2>{heading}</h2>
            {if items.is_empty() {
                view! { <p class="hint">{empty}</p> }.into_any()
            } else {
                view! { <ul>{items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}</ul> }.into_any()
            }}
        </section>
    }
}

/// The record, read once when the kiosk opens (each read is in the access log).
#[component]
pub fn RecordSummary(
    patient_id: String,
    /// Set to the patient's name once the record is read.
    name: RwSignal<Option<String>>,
) -> impl IntoView {
    let record = RwSignal::new(None::<Result<MyRecord, String>>);
    let who = PatientRef { patient_id };
    spawn_local(async move {
        let read = call_with::<_, MyRecord>(commands::MY_RECORD, &who)
            .await
            .map_err(|e| e.message);
        if let Ok(r) = &read {
            name.set(r.name.clone());
        }
        record.set(Some(read));
    });
    move || match record.get() {
        None => view! { <p class="hint">"Opening the record…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error" role="alert" id="my-record-error">{e}</p> }.into_any()
        }
        Some(Ok(r)) => {
            let about = match (&r.birth_date, &r.card_number) {
                (Some(born), Some(card)) => format!("Born {born} · card number {card}"),
                (Some(born), None) => format!("Born {born}"),
                _ => String::new(),
            };
            let results = if r.results.is_empty() {
                view! { <p class="hint">"No test results yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Test"</th><th>"Result"</th><th>"Date"</th><th>"What it means"</th></tr></thead>
                        <tbody>{r.results.into_iter().map(|l| view! {
                            <tr class="my-result"><td>{l.name}</td><td>{l.value}</td><td>{l.date}</td><td>{l.verdict}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }
                .into_any()
            };
            view! {
                <div id="my-record">
                    <p class="hint" id="my-record-about">{about}</p>
                    <div class="row">
                        {listed("my-problems", "Health problems being looked after", "None recorded.", r.problems)}
                        {listed("my-allergies", "Allergies", "No allergies recorded.", r.allergies)}
                        {listed("my-medications", "Medicines you take now", "No current medicines recorded.", r.medications)}
                    </div>
                    <section class="card" id="my-results">
                        <h2>"Recent test results"</h2>
                        {results}
                    </section>
                    {(!r.past_problems.is_empty()).then(|| listed("my-past-problems", "Problems that are over", "", r.past_problems))}
                </div>
            }
            .into_any()
        }
    }
}

/// What each level lets the reader see, in words.
fn level_words(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::Full => {
            "Everything: the whole record, and what is added while the permission lasts."
        }
        AccessLevel::Sample => {
            "The latest value of each measurement and test, with your initials, not your name."
        }
        AccessLevel::Information => {
            "Only that you are a patient of the network: nothing from your record."
        }
        AccessLevel::None => "Nothing.",
    }
}

/// Choose a doctor or lab of the network, a level and an end date, and allow them.
#[component]
pub fn GrantFromDirectory(patient_id: String) -> impl IntoView {
    let ctx = Ctx::get();
    let text = RwSignal::new(String::new());
    let people = RwSignal::new(None::<Result<Vec<StaffMember>, String>>);
    let chosen = RwSignal::new(None::<StaffMember>);
    let level = RwSignal::new(AccessLevel::Full);
    let days = RwSignal::new("30".to_string());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let query = DirectoryQuery {
            text: text.get_untracked(),
        };
        spawn_local(async move {
            let found = call_with::<_, Vec<StaffMember>>(commands::DIRECTORY, &query)
                .await
                .map_err(|e| e.message);
            people.set(Some(found));
        });
    };
    let patient = StoredValue::new(patient_id);
    let allow = move |_| {
        let Some(person) = chosen.get_untracked() else {
            return;
        };
        let args = GrantAccess {
            patient_id: patient.get_value(),
            grantee: person.id.clone(),
            level: level.get_untracked(),
            days: days.get_untracked().parse().ok(),
        };
        let until = match args.days {
            Some(1) => " for one day".to_string(),
            Some(n) => format!(" for {n} days"),
            None => " until you take it back".to_string(),
        };
        let lvl = args.level;
        submit(ctx, commands::GRANT, args, busy, message, move |()| {
            chosen.set(None);
            Some(format!(
                "You allowed {} to read your record at level \"{lvl}\"{until}.",
                person.name
            ))
        });
    };
    let rows = move || {
        match people.get() {
        None => view! { <p class="hint">"Search by name, specialty (e.g. cardiology) or clinic."</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! { <p class="hint" id="directory-empty">"No one found."</p> }.into_any(),
        Some(Ok(list)) => view! {
            <ul class="directory" id="directory-list">
                {list.into_iter().map(|p| {
                    let pick = p.clone();
                    let what = match &p.specialty {
                        Some(s) if !s.is_empty() => format!("{}, {s}", p.role),
                        _ => p.role.clone(),
                    };
                    view! { <li>
                        <button type="button" class="directory-person secondary" data-name=p.name.clone()
                            on:click=move |_| { message.set(None); chosen.set(Some(pick.clone())) }>
                            <strong>{p.name.clone()}</strong>" — "{what}" · "{p.clinic.clone()}
                        </button>
                    </li> }
                }).collect_view()}
            </ul>
        }.into_any(),
    }
    };
    view! {
        <section class="card" id="grant-new" aria-labelledby="grant-new-heading">
            <h2 id="grant-new-heading">"Let a doctor or lab read your record"</h2>
            <form on:submit=search>
                <label for="directory-search">"Who? A name, a specialty or a clinic"</label>
                <input id="directory-search" type="search" autocomplete="off" prop:value=text
                    on:input=move |ev| text.set(event_target_value(&ev))/>
                <button id="directory-submit" type="submit" class="secondary">"Search"</button>
            </form>
            {rows}
            {move || chosen.get().map(|p| view! {
                <div class="card" id="grant-choice">
                    <p>"You chose " <strong id="grant-chosen">{p.name.clone()}</strong> " (" {p.clinic.clone()} ")."</p>
                    <fieldset>
                        <legend>"What may they see?"</legend>
                        {[AccessLevel::Full, AccessLevel::Sample, AccessLevel::Information].into_iter().map(|l| view! {
                            <label class="inline">
                                <input type="radio" name="grant-level" class="grant-level-choice" value=l.as_str()
                                    prop:checked=move || level.get() == l on:change=move |_| level.set(l)/>
                                <strong>{l.as_str()}</strong>": "{level_words(l)}
                            </label>
                        }).collect_view()}
                    </fieldset>
                    <label for="grant-new-days">"Until when?"</label>
                    <select id="grant-new-days" on:change=move |ev| days.set(event_target_value(&ev))>
                        <option value="1">"One day"</option>
                        <option value="7">"One week"</option>
                        <option value="30" selected=true>"30 days"</option>
                        <option value="90">"90 days"</option>
                        <option value="">"Until I take it back"</option>
                    </select>
                    <div><button id="grant-new-submit" type="button" disabled=busy on:click=allow>"Allow"</button></div>
                </div>
            })}
            {crate::app::result_line("grant-new-status", message)}
        </section>
    }
}
