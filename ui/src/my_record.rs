//! The patient's own record at the kiosk, in plain words, and granting a doctor or lab of the
//! network on the patient's own initiative: found by name, specialty or clinic, with a level
//! explained in words and an end date.

use carelog_desktop_api::{
    AccessLevel, DirectoryQuery, GrantAccess, MyRecord, Opening, PatientRef, ReviewOpening,
    SavedFile, StaffMember, TakeAway, TakeAwayKind, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{call, call_with};
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

/// The record's break-glass openings: who opened it in an emergency, when, from which clinic
/// and why; each one waits for the patient (or a proxy, or the clinic's admin) to review it.
#[component]
pub fn EmergencyOpenings(patient_id: String) -> impl IntoView {
    let ctx = Ctx::get();
    let patient = StoredValue::new(patient_id);
    let openings = RwSignal::new(None::<Result<Vec<Opening>, String>>);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        ctx.changed.track();
        let who = PatientRef {
            patient_id: patient.get_value(),
        };
        spawn_local(async move {
            let list = call_with::<_, Vec<Opening>>(commands::OPENINGS, &who)
                .await
                .map_err(|e| e.message);
            openings.set(Some(list));
        });
    });
    let row = move |o: Opening| {
        let note = RwSignal::new(String::new());
        let short = o.opening[..12.min(o.opening.len())].to_string();
        let note_id = format!("review-note-{short}");
        let opening = StoredValue::new(o.opening.clone());
        let doctor = StoredValue::new(o.doctor.clone());
        let review = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let args = ReviewOpening {
                patient_id: patient.get_value(),
                opening: opening.get_value(),
                note: note.get_untracked(),
            };
            let who = doctor.get_value();
            submit(
                ctx,
                commands::REVIEW_OPENING,
                args,
                busy,
                message,
                move |()| {
                    Some(format!(
                        "Your review of {who}'s emergency opening is recorded."
                    ))
                },
            );
        };
        let when = o
            .time
            .replace('T', " ")
            .get(..16)
            .unwrap_or_default()
            .to_string();
        let reviewed = !o.reviewed_by.is_empty();
        view! {
            <li class="opening" data-doctor=o.doctor.clone() data-reviewed=reviewed.to_string()>
                <p><strong>{o.doctor.clone()}</strong>" ("{o.clinic.clone()}") opened your whole record in an emergency on "
                    {when}". Reason given: “"{o.reason.clone()}"”."</p>
                {if reviewed {
                    view! { <p class="hint review-done">{format!("Reviewed by {}.", o.reviewed_by.join(", "))}</p> }.into_any()
                } else {
                    view! {
                        <form on:submit=review class="review">
                            <label for=note_id.clone()>"Was this right? A few words for the record"</label>
                            <input id=note_id class="review-note" prop:value=note
                                on:input=move |ev| note.set(event_target_value(&ev))
                                placeholder="e.g. I was brought in unconscious"/>
                            <button type="submit" class="review-submit" disabled=busy>"Mark as reviewed"</button>
                        </form>
                    }.into_any()
                }}
            </li>
        }
    };
    move || match openings.get() {
        Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if !list.is_empty() => view! {
            <section class="card emergency" id="openings" aria-labelledby="openings-heading">
                <h2 id="openings-heading">"Opened in an emergency"</h2>
                <ul>{list.into_iter().map(row).collect_view()}</ul>
                {crate::app::result_line("openings-status", message)}
            </section>
        }
        .into_any(),
        // Nothing to say when the record was never opened in an emergency.
        _ => ().into_any(),
    }
}

/// Take it away: the summary of the record as a PDF, or the record itself for a clinic with no
/// link to this one, saved on a USB stick or a phone plugged in as a drive.
#[component]
pub fn TakeAwayCard(
    patient_id: String,
    /// Whether the person signed in is the patient (a proxy prints the summary only).
    own: bool,
) -> impl IntoView {
    let ctx = Ctx::get();
    let patient = StoredValue::new(patient_id);
    let drives = RwSignal::new(Vec::<String>::new());
    let drive = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let look = move || {
        spawn_local(async move {
            match call::<Vec<String>>(commands::REMOVABLE_DRIVES).await {
                Ok(list) => {
                    if !list.contains(&drive.get_untracked()) {
                        drive.set(list.first().cloned().unwrap_or_default());
                    }
                    drives.set(list);
                }
                Err(e) => message.set(Some(Err(e.message))),
            }
        });
    };
    look();
    let save = move |what: TakeAwayKind| {
        let args = TakeAway {
            patient_id: patient.get_value(),
            what,
            drive: drive.get_untracked(),
        };
        submit(
            ctx,
            commands::TAKE_AWAY,
            args,
            busy,
            message,
            move |saved: SavedFile| {
                Some(match what {
                    TakeAwayKind::Summary => format!(
                        "Your summary is saved as {}. Anyone holding it can read it: keep it safe.",
                        saved.file
                    ),
                    TakeAwayKind::Record => format!(
                        "Your record is saved as {}. It opens only with your card and PIN; the clinic you go to reads it in.",
                        saved.file
                    ),
                })
            },
        );
    };
    view! {
        <section class="card" id="take-away" aria-labelledby="take-away-heading">
            <h2 id="take-away-heading">"Take it with you"</h2>
            <p class="hint">"Plug in a USB stick, or a phone as a drive."</p>
            {move || {
                let list = drives.get();
                if list.is_empty() {
                    view! { <p class="hint" id="no-drive">"No USB stick found yet."</p> }.into_any()
                } else {
                    view! {
                        <label for="take-away-drive">"Save on"</label>
                        <select id="take-away-drive" on:change=move |ev| drive.set(event_target_value(&ev))>
                            {list.into_iter().map(|d| {
                                let selected = d == drive.get_untracked();
                                // The drive's name, as the desktop shows it.
                                let name = d.rsplit('/').find(|part| !part.is_empty()).unwrap_or(&d).to_string();
                                view! { <option value=d.clone() selected=selected>{name}</option> }
                            }).collect_view()}
                        </select>
                    }.into_any()
                }
            }}
            <div>
                <button id="take-away-look" type="button" class="secondary" on:click=move |_| look()>"Look for USB sticks again"</button>
                <button id="take-away-summary" type="button" disabled=move || busy.get() || drives.with(Vec::is_empty)
                    on:click=move |_| save(TakeAwayKind::Summary)>"Save a summary to print (PDF)"</button>
                {own.then(|| view! {
                    <button id="take-away-record" type="button" disabled=move || busy.get() || drives.with(Vec::is_empty)
                        on:click=move |_| save(TakeAwayKind::Record)>"Save my record for another clinic"</button>
                })}
            </div>
            {crate::app::result_line("take-away-status", message)}
        </section>
    }
}
