//! The front desk: find a patient by part of the name and the birth date (rows with name, age,
//! sex and card number; the id only under "Advanced"), and add a proxy (a parent, guardian or
//! carer) for the patient found, with the card to print for them; receive a record a patient
//! brought from another clinic.

use carelog_desktop_api::{
    BundleImported, FindPatients, FoundPatient, ImportBundle, NewProxy, RegisteredProxy, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::call_with;
use crate::app::{Ctx, result_line, submit};

/// "68 years", "1 year", or nothing when the age is not known.
fn age_words(age: Option<u32>) -> String {
    match age {
        Some(1) => "1 year".into(),
        Some(n) => format!("{n} years"),
        None => String::new(),
    }
}

/// Rows of patients found, each with a button to choose it.
#[component]
pub fn FoundRows(
    rows: Vec<FoundPatient>,
    /// What "Choose" does with the row.
    choose: Callback<FoundPatient>,
    /// The words on each row's button.
    action: &'static str,
) -> impl IntoView {
    view! {
        <table class="found-patients">
            <thead><tr><th>"Name"</th><th>"Born"</th><th>"Age"</th><th>"Sex"</th><th>"Card number"</th><th></th></tr></thead>
            <tbody>{rows.into_iter().map(|p| {
                let chosen = p.clone();
                view! {
                    <tr class="found-patient" data-patient-id=p.patient_id.clone()>
                        <td class="found-name">{p.name.clone()}
                            <details class="advanced"><summary>"Advanced"</summary>
                                <small>"Patient id "<code>{p.patient_id.clone()}</code></small>
                            </details>
                        </td>
                        <td>{p.birth_date.clone()}</td>
                        <td class="found-age">{age_words(p.age)}</td>
                        <td>{p.sex.clone()}</td>
                        <td class="found-card">{p.card_number.clone()}</td>
                        <td><button type="button" class="secondary choose-patient"
                            aria-label=format!("{action}: {}", p.name)
                            on:click=move |_| choose.run(chosen.clone())>{action}</button></td>
                    </tr>
                }
            }).collect_view()}</tbody>
        </table>
    }
}

/// The search form and its results; `choose` is told which patient was picked.
#[component]
pub fn PatientSearch(
    /// The form's heading.
    heading: &'static str,
    choose: Callback<FoundPatient>,
    /// The words on each row's button.
    action: &'static str,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let birth = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let found = RwSignal::new(None::<Result<Vec<FoundPatient>, String>>);
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = FindPatients {
            name: name.get_untracked(),
            birth_date: Some(birth.get_untracked()),
        };
        busy.set(true);
        spawn_local(async move {
            let result = call_with::<_, Vec<FoundPatient>>(commands::FIND_PATIENTS, &args)
                .await
                .map_err(|e| e.message);
            busy.set(false);
            found.set(Some(result));
        });
    };
    view! {
        <form class="card front-desk" on:submit=search aria-labelledby="find-heading">
            <h2 id="find-heading">{heading}</h2>
            <div class="row">
                <div>
                    <label for="find-name">"Part of the name (or the card number)"</label>
                    <input id="find-name" type="search" autocomplete="off" spellcheck="false"
                        placeholder="e.g. ele mar" prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="find-birth">"Birth date (YYYY-MM-DD, optional)"</label>
                    <input id="find-birth" autocomplete="off" placeholder="1958-04-12" prop:value=birth
                        on:input=move |ev| birth.set(event_target_value(&ev))/>
                </div>
            </div>
            <div><button id="find-submit" type="submit" disabled=busy>"Find"</button></div>
            {move || match found.get() {
                None => view! { <p class="hint">"Each word starts a part of the name, in any order; accents and case do not matter."</p> }.into_any(),
                Some(Err(e)) => view! { <p id="find-status" class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(rows)) if rows.is_empty() => view! { <p id="find-status" class="hint" role="status">"No patient found."</p> }.into_any(),
                Some(Ok(rows)) => view! { <FoundRows rows=rows choose=choose action=action/> }.into_any(),
            }}
        </form>
    }
}

/// The admin's front desk: find a patient, then add a proxy for them.
#[component]
pub fn FrontDesk() -> impl IntoView {
    let chosen = RwSignal::new(None::<FoundPatient>);
    let choose = Callback::new(move |p: FoundPatient| chosen.set(Some(p)));
    view! {
        <PatientSearch heading="Find a patient" choose=choose action="Choose"/>
        <ReceiveRecord/>
        {move || chosen.get().map(|p| {
            let id = p.patient_id.clone();
            view! {
                <ProxyForm patient=p/>
                // The clinic's admin reviews emergency openings of its patients' records too.
                <crate::my_record::EmergencyOpenings patient_id=id/>
            }
        })}
    }
}

/// A record a patient brought on a USB stick or phone, from a clinic with no link to this one:
/// checked like blocks from sync; the patient then signs in here with their card and PIN.
#[component]
fn ReceiveRecord() -> impl IntoView {
    let ctx = Ctx::get();
    let path = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let receive = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = ImportBundle {
            path: path.get_untracked(),
        };
        submit(
            ctx,
            commands::IMPORT_BUNDLE,
            args,
            busy,
            message,
            move |done: BundleImported| {
                path.set(String::new());
                Some(format!(
                    "The record is here ({} new blocks). The patient can sign in at the kiosk with their card and PIN.",
                    done.blocks
                ))
            },
        );
    };
    view! {
        <form class="card" id="receive-record" on:submit=receive aria-labelledby="receive-heading">
            <h2 id="receive-heading">"Receive a record the patient brought"</h2>
            <p class="hint">"From a USB stick or phone, saved at another clinic's kiosk. It is checked like everything this clinic receives, and opens only with the patient's card and PIN."</p>
            <label for="receive-path">"The file"</label>
            <input id="receive-path" autocomplete="off" spellcheck="false" placeholder="/media/…/carelog-record-….json"
                prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
            <button id="receive-submit" type="submit" disabled=busy>"Receive"</button>
            {result_line("receive-status", message)}
        </form>
    }
}

/// Adds a parent, guardian or carer who acts for the patient with a card and PIN of their own.
#[component]
fn ProxyForm(patient: FoundPatient) -> impl IntoView {
    let ctx = Ctx::get();
    let name = RwSignal::new(String::new());
    let pin = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let card = RwSignal::new(None::<RegisteredProxy>);
    let patient_id = patient.patient_id.clone();
    let patient_name = patient.name.clone();
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = NewProxy {
            patient_id: patient_id.clone(),
            name: name.get_untracked(),
            pin: pin.get_untracked(),
        };
        pin.set(String::new());
        card.set(None);
        let who = name.get_untracked();
        let for_whom = patient_name.clone();
        submit(
            ctx,
            commands::ADD_PROXY,
            args,
            busy,
            message,
            move |added: RegisteredProxy| {
                name.set(String::new());
                card.set(Some(added));
                Some(format!(
                    "{} now acts for {for_whom}. Print their card now: it is kept nowhere else.",
                    who.trim()
                ))
            },
        );
    };
    view! {
        <form class="card" id="proxy-form" on:submit=add aria-labelledby="proxy-heading">
            <h2 id="proxy-heading">"Chosen: " {patient.name.clone()}</h2>
            <p class="hint">{format!("Born {}, card number {}.", patient.birth_date, patient.card_number)}</p>
            <h3>"Add a proxy (a parent, guardian or carer)"</h3>
            <p class="hint">"The proxy signs in at the kiosk with a card and PIN of their own, reads the record and decides who may read it; the access log names them."</p>
            <label for="proxy-name">"The proxy's name"</label>
            <input id="proxy-name" autocomplete="off" prop:value=name
                on:input=move |ev| name.set(event_target_value(&ev))/>
            <label for="proxy-pin">"The proxy's PIN (6 to 12 digits, they choose it)"</label>
            <input id="proxy-pin" type="password" inputmode="numeric" autocomplete="off" prop:value=pin
                on:input=move |ev| pin.set(event_target_value(&ev))/>
            <div><button id="proxy-submit" type="submit" disabled=busy>"Add the proxy"</button></div>
            {result_line("proxy-status", message)}
            {move || card.get().map(|c| view! {
                <div class="card" id="proxy-card-box">
                    <p>"The proxy's card number " <strong id="proxy-card-number">{c.card_number}</strong></p>
                    <p class="hint">"The card's code (print it as a QR code on their card):"</p>
                    <p><code id="proxy-card">{c.card}</code></p>
                </div>
            })}
        </form>
    }
}
