//! The clinician's desk: my patients (the attention list and grants) with search, and the chart
//! of the patient chosen — or of any patient id, to request access or break the glass. A lab's
//! desk opens on its worklist of orders waiting for results.

use std::time::Duration;

use carelog_desktop_api::{ClinicPatient, Me, NewRecordNote, PatientRow, commands};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::call;
use crate::app::Ctx;
use crate::chart::ChartPanel;

fn matches(p: &PatientRow, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    q.is_empty()
        || p.patient_id.starts_with(&q)
        || p.name
            .as_deref()
            .is_some_and(|n| n.to_lowercase().contains(&q))
}

fn matches_id(p: &ClinicPatient, query: &str) -> bool {
    p.patient_id
        .starts_with(query.trim().to_lowercase().as_str())
}

/// Patients and chart side by side.
#[component]
pub fn Clinician(me: Me) -> impl IntoView {
    let ctx = Ctx::get();
    let patients = RwSignal::new(None::<Result<Vec<PatientRow>, String>>);
    let query = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<String>);
    let other_id = RwSignal::new(String::new());
    Effect::new(move |_| {
        ctx.changed.track();
        spawn_local(async move {
            let list = call::<Vec<PatientRow>>(commands::MY_PATIENTS)
                .await
                .map_err(|e| e.message);
            patients.set(Some(list));
        });
    });
    // New records from other clinics: asked for now and every 15 s, kept until dismissed.
    let notes = RwSignal::new(Vec::<NewRecordNote>::new());
    let poll = move || {
        spawn_local(async move {
            if let Ok(mut more) = call::<Vec<NewRecordNote>>(commands::NEW_RECORDS).await
                && !more.is_empty()
            {
                notes.update(|n| n.append(&mut more));
            }
        });
    };
    // Asked again whenever the ledger changes (the sync bar notices arriving blocks).
    Effect::new(move |_| {
        ctx.changed.track();
        poll();
    });
    if let Ok(handle) = set_interval_with_handle(poll, Duration::from_secs(15)) {
        on_cleanup(move || handle.clear());
    }
    let banner = move || {
        let list = notes.get();
        (!list.is_empty()).then(|| {
            view! {
                <section class="card notes" id="new-records" role="status" aria-label="New records">
                    <h2>{format!("{} new record{} from other clinics", list.len(), if list.len() == 1 { "" } else { "s" })}</h2>
                    <ul>
                        {list.iter().rev().take(5).map(|n| {
                            let id = n.patient_id.clone();
                            view! { <li>
                                {format!("{} entry for patient {}… from {} ({}) ", n.kind,
                                    n.patient_id.chars().take(12).collect::<String>(), n.clinic,
                                    n.time.replace('T', " ").trim_end_matches('Z'))}
                                <button type="button" class="secondary" on:click=move |_| selected.set(Some(id.clone()))>"Open chart"</button>
                            </li> }
                        }).collect_view()}
                    </ul>
                    {(list.len() > 5).then(|| view! { <p class="hint">{format!("and {} more", list.len() - 5)}</p> })}
                    <button id="dismiss-records" type="button" class="secondary" on:click=move |_| notes.set(Vec::new())>"Dismiss"</button>
                </section>
            }
        })
    };
    let list = move || match patients.get() {
        None => view! { <p class="hint">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) => {
            let q = query.get();
            let shown: Vec<PatientRow> = list.into_iter().filter(|p| matches(p, &q)).collect();
            if shown.is_empty() {
                return view! { <p class="hint" id="no-patients">"No patients match."</p> }
                    .into_any();
            }
            view! {
                <ul class="patient-list" id="patient-list">
                    {shown.into_iter().map(|p| {
                        let id = p.patient_id.clone();
                        let id2 = id.clone();
                        let current = move || selected.get().as_deref() == Some(id2.as_str());
                        let name = p.name.clone().unwrap_or_else(|| "Name sealed".into());
                        view! {
                            <li>
                                <button class="patient-row" data-patient-id=id.clone()
                                    aria-current=move || if current() { "true" } else { "false" }
                                    on:click=move |_| selected.set(Some(id.clone()))>
                                    <strong>{name}</strong>
                                    <span class=format!("badge {}", p.level.as_str())>{p.level.as_str()}</span>
                                    <br/><small class="id">{p.patient_id.chars().take(16).collect::<String>()}"… · "{p.basis.clone()}</small>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    // A lab receives specimens for every patient registered at its clinic.
    let is_lab = me.role == "lab";
    let clinic_patients = RwSignal::new(Vec::<ClinicPatient>::new());
    if is_lab {
        spawn_local(async move {
            if let Ok(list) = call::<Vec<ClinicPatient>>(commands::CLINIC_PATIENTS).await {
                clinic_patients.set(list);
            }
        });
    }
    let lab_list = move || {
        is_lab.then(|| {
            view! {
                <h3>"Patients registered here"</h3>
                <ul class="patient-list" id="clinic-patient-list">
                    {move || clinic_patients.get().into_iter().filter(|p| matches_id(p, &query.get())).map(|p| {
                        let id = p.patient_id.clone();
                        view! { <li><button class="patient-row" data-patient-id=p.patient_id.clone()
                            on:click=move |_| selected.set(Some(id.clone()))>
                            <span class="id">{p.patient_id.chars().take(16).collect::<String>()}"…"</span>
                            <br/><small>{p.custodian.clone().unwrap_or_default()}</small>
                        </button></li> }
                    }).collect_view()}
                </ul>
            }
        })
    };
    let open_other = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = other_id.get_untracked().trim().to_lowercase();
        if !id.is_empty() {
            selected.set(Some(id));
        }
    };
    let role = me.role.clone();
    let open_found =
        Callback::new(move |p: carelog_desktop_api::FoundPatient| selected.set(Some(p.patient_id)));
    let is_doctor = me.role == "doctor";
    // Bumped after an import, so the chart opens afresh with the new entries.
    let chart_epoch = RwSignal::new(0u32);
    let imported = Callback::new(move |patient: String| {
        selected.set(Some(patient));
        chart_epoch.update(|n| *n = n.wrapping_add(1));
    });
    let chart = move || {
        chart_epoch.track();
        match selected.get() {
        Some(id) => view! { <ChartPanel patient_id=id role=role.clone()/> }.into_any(),
        // A lab starts from the orders waiting for it.
        None if is_lab => view! { <crate::worklist::Worklist/> }.into_any(),
        None => view! {
            <p class="hint" id="no-chart">"Choose a patient on the left, find one at this clinic, or open a record by patient id."</p>
            <crate::front_desk::PatientSearch heading="Find a patient at this clinic" choose=open_found action="Open chart"/>
        }
        .into_any(),
    }
    };
    let to_worklist = move || {
        is_lab.then(|| {
            view! {
                <button id="show-worklist" type="button" class="secondary"
                    on:click=move |_| selected.set(None)>"Orders waiting for results"</button>
            }
        })
    };
    view! {
        <div class="workspace">
            <aside class="patients" aria-labelledby="patients-heading">
                {to_worklist}
                <h2 id="patients-heading">"My patients"</h2>
                <label for="patient-search">"Search by name or id"</label>
                <input id="patient-search" type="search" prop:value=query
                    on:input=move |ev| query.set(event_target_value(&ev))/>
                {list}
                {lab_list}
                <form on:submit=open_other>
                    <label for="open-id">"Open a record by patient id"</label>
                    <input id="open-id" autocomplete="off" spellcheck="false" prop:value=other_id
                        on:input=move |ev| other_id.set(event_target_value(&ev))/>
                    <button id="open-id-submit" type="submit" class="secondary">"Open"</button>
                </form>
                <crate::interchange::ImportCard imported=imported/>
            </aside>
            <div class="chart-area">
                {is_doctor.then(|| view! { <crate::custodian::CustodianRequests/> })}
                {banner}{chart}
            </div>
        </div>
    }
}
