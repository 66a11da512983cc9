//! The clinic admin's desk: enroll staff, register patients, assign physicians, browse audits.

use carelog_desktop_api::{
    AccessLevel, ApproveClinic, Assign, AuditRow, ClinicPatient, ClinicRow, ClinicStanding,
    DisableUser, DuplicateCheck, Enroll, FoundPatient, Me, NewPatient, PatientKeyReplaced,
    PatientRef, RegisteredPatient, ReplaceClinicKey, ReplacePatientKey, ReplaceUserKey, SavedFile,
    StaffMember, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{call, call_with};
use crate::app::{Ctx, result_line, submit};

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Staff,
    Patients,
    Audit,
    Sync,
    Clinics,
    Devices,
    Updates,
}

/// Tabs for the three jobs.
#[component]
pub fn Admin(me: Me) -> impl IntoView {
    let tab = RwSignal::new(Tab::Patients);
    let tab_button = move |id: &'static str, t: Tab, words: &'static str| {
        view! {
            <button id=id role="tab" type="button" aria-selected=move || if tab.get() == t { "true" } else { "false" }
                on:click=move |_| tab.set(t)>{words}</button>
        }
    };
    view! {
        <h1>"Clinic administration"</h1>
        <p class="hint">"Signed in as " {me.name.clone()} "."</p>
        <nav class="tabs" role="tablist" aria-label="Administration">
            {tab_button("tab-patients", Tab::Patients, "Patients")}
            {tab_button("tab-staff", Tab::Staff, "Staff")}
            {tab_button("tab-audit", Tab::Audit, "Audit")}
            {tab_button("tab-sync", Tab::Sync, "Peers and sync")}
            {tab_button("tab-clinics", Tab::Clinics, "Clinics")}
            {tab_button("tab-devices", Tab::Devices, "Devices")}
            {tab_button("tab-updates", Tab::Updates, "Software updates")}
        </nav>
        {move || match tab.get() {
            Tab::Staff => view! { <StaffTab/> }.into_any(),
            Tab::Patients => view! { <PatientsTab/> }.into_any(),
            Tab::Audit => view! { <AuditTab/> }.into_any(),
            Tab::Sync => view! { <SyncTab/> }.into_any(),
            Tab::Clinics => view! { <ClinicsTab/> }.into_any(),
            Tab::Devices => view! { <crate::devices::DevicesTab/> }.into_any(),
            Tab::Updates => view! { <crate::updates::UpdatesTab/> }.into_any(),
        }}
    }
}

/// A record in a chooser: the start of its id and its family doctor (names are sealed).
fn patient_words(p: &ClinicPatient) -> String {
    format!(
        "{}… — {}",
        p.patient_id.chars().take(16).collect::<String>(),
        p.custodian.as_deref().unwrap_or("no family doctor")
    )
}

/// Loads a list command whenever the ledger changes.
pub(crate) fn live_list<T>(cmd: &'static str) -> RwSignal<Vec<T>>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let ctx = Ctx::get();
    let list = RwSignal::new(Vec::<T>::new());
    Effect::new(move |_| {
        ctx.changed.track();
        spawn_local(async move {
            if let Ok(items) = call::<Vec<T>>(cmd).await {
                list.set(items);
            }
        });
    });
    list
}

#[component]
fn StaffTab() -> impl IntoView {
    let ctx = Ctx::get();
    let staff = live_list::<StaffMember>(commands::STAFF);
    let role = RwSignal::new("doctor".to_string());
    let name = RwSignal::new(String::new());
    let specialty = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let enroll = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = Enroll {
            role: role.get_untracked(),
            name: name.get_untracked(),
            specialty: Some(specialty.get_untracked()),
            passphrase: passphrase.get_untracked(),
        };
        submit(
            ctx,
            commands::ENROLL,
            args,
            busy,
            message,
            move |m: StaffMember| {
                name.set(String::new());
                specialty.set(String::new());
                passphrase.set(String::new());
                Some(format!("{} is enrolled as {}.", m.name, m.role))
            },
        );
    };
    view! {
        <div class="row">
            <form class="card" on:submit=enroll aria-labelledby="enroll-heading">
                <h2 id="enroll-heading">"Enroll staff"</h2>
                <label for="enroll-role">"Role"</label>
                <select id="enroll-role" on:change=move |ev| role.set(event_target_value(&ev))>
                    <option value="doctor" selected=true>"Doctor"</option>
                    <option value="lab">"Lab"</option>
                    <option value="admin">"Admin"</option>
                </select>
                <label for="enroll-name">"Name"</label>
                <input id="enroll-name" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                {move || (role.get() == "doctor").then(|| view! {
                    <label for="enroll-specialty">"Specialty"</label>
                    <input id="enroll-specialty" prop:value=specialty placeholder="e.g. family medicine"
                        on:input=move |ev| specialty.set(event_target_value(&ev))/>
                })}
                <label for="enroll-passphrase">"First passphrase (they can keep it private later)"</label>
                <input id="enroll-passphrase" type="password" prop:value=passphrase
                    on:input=move |ev| passphrase.set(event_target_value(&ev))/>
                <div><button id="enroll-submit" type="submit" disabled=busy>"Enroll"</button></div>
                {result_line("enroll-status", message)}
            </form>
            <section class="card" style="flex: 1" aria-labelledby="staff-heading">
                <h2 id="staff-heading">"Staff of this clinic"</h2>
                <table id="staff-table">
                    <thead><tr><th>"Name"</th><th>"Role"</th><th>"Specialty"</th><th>"Standing"</th></tr></thead>
                    <tbody>{move || staff.get().into_iter().map(|s| view! {
                        <tr class="staff-row" data-user-id=s.id.clone()>
                            <td>{s.name}</td><td>{s.role}</td><td>{s.specialty.unwrap_or_default()}</td>
                            <td class="standing">{s.disabled.map(|why| format!("disabled: {why}")).unwrap_or_else(|| "active".into())}</td>
                        </tr>
                    }).collect_view()}</tbody>
                </table>
            </section>
        </div>
        <StaffStanding staff=staff/>
    }
}

/// Someone left, or lost their laptop or passphrase: disable them, or give them new keys.
#[component]
fn StaffStanding(staff: RwSignal<Vec<StaffMember>>) -> impl IntoView {
    let ctx = Ctx::get();
    let chosen = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        let list = staff.get();
        if chosen.get_untracked().is_empty()
            && let Some(s) = list.iter().find(|s| s.disabled.is_none())
        {
            chosen.set(s.id.clone());
        }
    });
    let name_of = move |id: &str| {
        staff
            .get_untracked()
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.name)
            .unwrap_or_default()
    };
    let disable = move |_| {
        confirming.set(false);
        let who = name_of(&chosen.get_untracked());
        let args = DisableUser {
            user_id: chosen.get_untracked(),
            reason: reason.get_untracked(),
        };
        submit(
            ctx,
            commands::DISABLE_USER,
            args,
            busy,
            message,
            move |rotated: usize| {
                reason.set(String::new());
                Some(match rotated {
                    0 => format!("{who} is disabled: they can no longer sign in."),
                    1 => format!(
                        "{who} is disabled: they can no longer sign in, and 1 record they could read has a new key without them."
                    ),
                    n => format!(
                        "{who} is disabled: they can no longer sign in, and {n} records they could read have new keys without them."
                    ),
                })
            },
        );
    };
    let replace = move |_| {
        confirming.set(false);
        let who = name_of(&chosen.get_untracked());
        let args = ReplaceUserKey {
            user_id: chosen.get_untracked(),
            passphrase: passphrase.get_untracked(),
            reason: reason.get_untracked(),
        };
        passphrase.set(String::new());
        submit(
            ctx,
            commands::REPLACE_USER_KEY,
            args,
            busy,
            message,
            move |()| {
                reason.set(String::new());
                Some(format!(
                    "{who} has new keys under the passphrase just typed; their old keys can do nothing from now on."
                ))
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="standing-heading">
            <h2 id="standing-heading">"Someone left, or lost their keys"</h2>
            <p class="hint">"Disabling is for good: they cannot sign in, and every record they could read gets a new key without them. New keys replace a lost laptop's or a forgotten passphrase's: the old keys open nothing written after."</p>
            <label for="standing-user">"Staff member"</label>
            <select id="standing-user" on:change=move |ev| { confirming.set(false); chosen.set(event_target_value(&ev)) }>
                {move || staff.get().into_iter().map(|s| {
                    let selected = s.id == chosen.get_untracked();
                    let words = match &s.disabled {
                        Some(_) => format!("{} — {} (disabled)", s.name, s.role),
                        None => format!("{} — {}", s.name, s.role),
                    };
                    view! { <option value=s.id selected=selected>{words}</option> }
                }).collect_view()}
            </select>
            <label for="standing-reason">"Why (the audit keeps it)"</label>
            <input id="standing-reason" autocomplete="off" placeholder="e.g. left the clinic on 30 November"
                prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
            <label for="standing-passphrase">"Their new passphrase (only for new keys; they type it)"</label>
            <input id="standing-passphrase" type="password" autocomplete="new-password"
                prop:value=passphrase on:input=move |ev| passphrase.set(event_target_value(&ev))/>
            <div>
                <button id="standing-disable" type="button" class="danger" disabled=busy
                    on:click=move |_| confirming.set(true)>"Disable…"</button>
                <button id="standing-replace" type="button" class="secondary" disabled=busy
                    on:click=replace>"Give new keys"</button>
            </div>
            {move || confirming.get().then(|| view! {
                <p class="warning" role="alert">
                    "Disable " {name_of(&chosen.get_untracked())} "? This cannot be undone; enroll them again if they come back. "
                    <button id="standing-disable-confirm" type="button" class="danger" on:click=disable>"Disable"</button>
                    " "
                    <button id="standing-disable-cancel" type="button" class="secondary"
                        on:click=move |_| confirming.set(false)>"Keep"</button>
                </p>
            })}
            {result_line("standing-status", message)}
        </section>
    }
}

#[component]
fn PatientsTab() -> impl IntoView {
    let ctx = Ctx::get();
    let patients = live_list::<ClinicPatient>(commands::CLINIC_PATIENTS);
    let doctors = live_list::<StaffMember>(commands::DOCTORS);
    let name = RwSignal::new(String::new());
    let birth = RwSignal::new(String::new());
    let sex = RwSignal::new("female".to_string());
    let pin = RwSignal::new(String::new());
    let registered = RwSignal::new(None::<Result<String, String>>);
    let new_id = RwSignal::new(None::<String>);
    let new_card = RwSignal::new(None::<RegisteredPatient>);
    let busy = RwSignal::new(false);
    let duplicates = RwSignal::new(Vec::<FoundPatient>::new());
    let do_register = move |not_duplicate: bool| {
        duplicates.set(Vec::new());
        let args = NewPatient {
            name: name.get_untracked(),
            birth_date: birth.get_untracked(),
            sex: sex.get_untracked(),
            pin: pin.get_untracked(),
            not_duplicate,
        };
        submit(
            ctx,
            commands::REGISTER_PATIENT,
            args,
            busy,
            registered,
            move |done: RegisteredPatient| {
                name.set(String::new());
                birth.set(String::new());
                pin.set(String::new());
                new_id.set(Some(done.patient_id.clone()));
                new_card.set(Some(done));
                Some("Patient registered. Print their card now: it opens their record with their PIN at the kiosk, and it is not kept anywhere else.".into())
            },
        );
    };
    // Someone registered here with the same birth date and a similar name is shown first; the
    // desk registers only once it has checked that this is someone else.
    let register = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let check = DuplicateCheck {
            name: name.get_untracked(),
            birth_date: birth.get_untracked(),
        };
        busy.set(true);
        registered.set(None);
        spawn_local(async move {
            let found =
                call_with::<_, Vec<FoundPatient>>(commands::POSSIBLE_DUPLICATES, &check).await;
            busy.set(false);
            match found {
                Ok(list) if list.is_empty() => do_register(false),
                Ok(list) => duplicates.set(list),
                Err(e) => registered.set(Some(Err(e.message))),
            }
        });
    };
    let not_duplicate = Callback::new(move |_: FoundPatient| do_register(true));

    let assign_patient = RwSignal::new(String::new());
    let assign_doctor = RwSignal::new(String::new());
    let custodian = RwSignal::new(true);
    let assigned = RwSignal::new(None::<Result<String, String>>);
    // A newly registered patient is the one to assign next.
    Effect::new(move |_| {
        if let Some(id) = new_id.get() {
            assign_patient.set(id);
        }
    });
    Effect::new(move |_| {
        let list = doctors.get();
        if assign_doctor.get_untracked().is_empty()
            && let Some(d) = list.first()
        {
            assign_doctor.set(d.id.clone());
        }
    });
    Effect::new(move |_| {
        let list = patients.get();
        if assign_patient.get_untracked().is_empty()
            && let Some(p) = list.first()
        {
            assign_patient.set(p.patient_id.clone());
        }
    });
    let assign = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let doctor = doctors
            .get_untracked()
            .into_iter()
            .find(|d| d.id == assign_doctor.get_untracked())
            .map(|d| d.name)
            .unwrap_or_default();
        let as_custodian = custodian.get_untracked();
        let args = Assign {
            patient_id: assign_patient.get_untracked(),
            doctor_id: assign_doctor.get_untracked(),
            custodian: as_custodian,
        };
        submit(ctx, commands::ASSIGN, args, busy, assigned, move |()| {
            Some(if as_custodian {
                format!("{doctor} is now the family doctor (custodian) of this patient.")
            } else {
                format!("{doctor} is now on this patient's attention list.")
            })
        });
    };
    view! {
        <crate::front_desk::FrontDesk/>
        <div class="row">
            <form class="card" on:submit=register aria-labelledby="register-heading">
                <h2 id="register-heading">"Register a patient"</h2>
                <label for="reg-name">"Full name"</label>
                <input id="reg-name" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                <label for="reg-birth">"Birth date (YYYY-MM-DD)"</label>
                <input id="reg-birth" placeholder="1980-04-02" prop:value=birth
                    on:input=move |ev| birth.set(event_target_value(&ev))/>
                <label for="reg-sex">"Sex"</label>
                <select id="reg-sex" on:change=move |ev| sex.set(event_target_value(&ev))>
                    <option value="female" selected=true>"female"</option>
                    <option value="male">"male"</option>
                    <option value="other">"other"</option>
                    <option value="unknown">"unknown"</option>
                </select>
                <label for="reg-pin">"Patient's PIN (6 to 12 digits, they choose it)"</label>
                <input id="reg-pin" type="password" inputmode="numeric" prop:value=pin
                    on:input=move |ev| pin.set(event_target_value(&ev))/>
                <div><button id="reg-submit" type="submit" disabled=busy>"Register"</button></div>
                {move || (!duplicates.get().is_empty()).then(|| view! {
                    <div class="card warning" id="reg-duplicates" role="alert">
                        <p>"Already registered with the same birth date and a similar name. Open that record instead, unless this is someone else:"</p>
                        <crate::front_desk::FoundRows rows=duplicates.get() choose=not_duplicate action="This is someone else: register"/>
                        <button id="reg-cancel" type="button" class="secondary"
                            on:click=move |_| duplicates.set(Vec::new())>"Do not register"</button>
                    </div>
                })}
                {result_line("reg-status", registered)}
                {move || new_id.get().map(|id| view! { <p>"Patient id " <code id="reg-new-id">{id}</code></p> })}
                {move || new_card.get().map(|card| view! {
                    <div class="card" id="reg-card-box">
                        <p>"Card number " <strong id="reg-card-number">{card.card_number}</strong></p>
                        <p class="hint">"The card's code (print it as a QR code on the card):"</p>
                        <p><code id="reg-card">{card.card}</code></p>
                    </div>
                })}
            </form>
            <form class="card" on:submit=assign aria-labelledby="assign-heading">
                <h2 id="assign-heading">"Assign a physician"</h2>
                <label for="assign-patient">"Patient"</label>
                <select id="assign-patient" on:change=move |ev| assign_patient.set(event_target_value(&ev))>
                    {move || patients.get().into_iter().map(|p| {
                        let selected = p.patient_id == assign_patient.get();
                        let words = patient_words(&p);
                        view! { <option value=p.patient_id selected=selected>{words}</option> }
                    }).collect_view()}
                </select>
                <label for="assign-doctor">"Doctor"</label>
                <select id="assign-doctor" on:change=move |ev| assign_doctor.set(event_target_value(&ev))>
                    {move || doctors.get().into_iter().map(|d| {
                        let selected = d.id == assign_doctor.get_untracked();
                        let words = format!("{} — {} ({})", d.name, d.specialty.clone().unwrap_or_default(), d.clinic);
                        view! { <option value=d.id selected=selected>{words}</option> }
                    }).collect_view()}
                </select>
                <label class="inline" for="assign-custodian">
                    <input id="assign-custodian" type="checkbox" prop:checked=custodian
                        on:change=move |ev| custodian.set(event_target_checked(&ev))/>
                    "As family doctor (custodian): may decide access with the patient"
                </label>
                <div><button id="assign-submit" type="submit" disabled=busy>"Assign"</button></div>
                {result_line("assign-status", assigned)}
            </form>
        </div>
        <section class="card" aria-labelledby="clinic-patients-heading">
            <h2 id="clinic-patients-heading">"Patients registered here"</h2>
            <p class="hint">"Names are sealed in the record; the admin sees ids and doctors only."</p>
            <table id="clinic-patients">
                <thead><tr><th>"Patient id"</th><th>"Family doctor"</th><th>"Attention list"</th><th>"Entries"</th></tr></thead>
                <tbody>{move || patients.get().into_iter().map(|p| view! {
                    <tr data-patient-id=p.patient_id.clone()>
                        <td class="id">{p.patient_id.clone()}</td>
                        <td>{p.custodian.unwrap_or_else(|| "—".into())}</td>
                        <td>{p.attention.join(", ")}</td>
                        <td>{p.entries}</td>
                    </tr>
                }).collect_view()}</tbody>
            </table>
        </section>
        <PatientNewKeys patients=patients/>
    }
}

/// A patient lost their card or forgot their PIN: two parties (the admin of the clinic of
/// record, the family doctor or the health authority) ask for the same new keys.
#[component]
fn PatientNewKeys(patients: RwSignal<Vec<ClinicPatient>>) -> impl IntoView {
    let ctx = Ctx::get();
    let chosen = RwSignal::new(String::new());
    let pin = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let card = RwSignal::new(None::<PatientKeyReplaced>);
    let ask = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = ReplacePatientKey {
            patient_id: chosen.get_untracked(),
            pin: pin.get_untracked(),
            reason: reason.get_untracked(),
        };
        pin.set(String::new());
        card.set(None);
        submit(
            ctx,
            commands::REPLACE_PATIENT_KEY,
            args,
            busy,
            message,
            move |done: PatientKeyReplaced| {
                reason.set(String::new());
                let words = match (done.done, done.card.is_some()) {
                    (true, _) => {
                        "The patient's new keys are in force; the old card opens nothing written from now on."
                    }
                    (false, true) => {
                        "Asked. The new keys wait for a second party (the family doctor, or the health authority) to agree. Print the new card now: it is kept nowhere else."
                    }
                    (false, false) => "Asked. The new keys wait for a second party to agree.",
                };
                card.set(done.card.is_some().then_some(done));
                Some(words.into())
            },
        );
    };
    view! {
        <form class="card" on:submit=ask aria-labelledby="newkeys-heading">
            <h2 id="newkeys-heading">"A lost card or a forgotten PIN"</h2>
            <p class="hint">"Two of the clinic's admin, the family doctor and the health authority must ask: the first makes the new card, the second agrees."</p>
            <label for="newkeys-patient">"Patient"</label>
            <select id="newkeys-patient" on:change=move |ev| chosen.set(event_target_value(&ev))>
                <option value="" selected=true>"Choose a patient…"</option>
                {move || patients.get().into_iter().map(|p| {
                    let words = patient_words(&p);
                    view! { <option value=p.patient_id>{words}</option> }
                }).collect_view()}
            </select>
            <label for="newkeys-pin">"The patient's new PIN (6 to 12 digits; only if you ask first)"</label>
            <input id="newkeys-pin" type="password" inputmode="numeric" prop:value=pin
                on:input=move |ev| pin.set(event_target_value(&ev))/>
            <label for="newkeys-reason">"Why (the audit keeps it)"</label>
            <input id="newkeys-reason" autocomplete="off" placeholder="e.g. card lost"
                prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
            <div><button id="newkeys-submit" type="submit" disabled=busy>"Ask for new keys"</button></div>
            {result_line("newkeys-status", message)}
            {move || card.get().and_then(|c| Some((c.card_number?, c.card?))).map(|(number, content)| view! {
                <div class="card" id="newkeys-card-box">
                    <p>"New card number " <strong id="newkeys-card-number">{number}</strong></p>
                    <p><code id="newkeys-card">{content}</code></p>
                </div>
            })}
        </form>
    }
}

/// The audit trail of one patient, newest first; `me` (the patient at the kiosk) reads as "You".
#[component]
pub fn AuditTable(
    rows: Vec<AuditRow>,
    #[prop(optional)] me: Option<String>,
    /// The table's id, when a screen shows more than one.
    #[prop(optional)]
    id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <table id=id.unwrap_or("audit-table")>
            <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"From"</th><th>"What"</th><th>"Level"</th><th>"Details"</th></tr></thead>
            <tbody>{rows.into_iter().map(|r| view! {
                <tr class="audit-row" data-action=r.action.clone()>
                    <td>{r.time.replace('T', " ").trim_end_matches('Z').to_string()}</td>
                    <td class="audit-who">{match me.as_deref() == Some(r.actor.as_str()) {
                        // A proxy at the kiosk reads their own acts as theirs, by name.
                        true if r.actor_name.ends_with("(proxy)") => format!("You, {}", r.actor_name),
                        true => "You".to_string(),
                        false => r.actor_name.clone(),
                    }}</td>
                    <td class="audit-clinic">{r.clinic.clone().unwrap_or_default()}</td>
                    <td>{r.action.clone()}</td>
                    <td>{r.level.map(AccessLevel::as_str).unwrap_or_default()}</td>
                    <td>{r.detail.unwrap_or_default()}</td>
                </tr>
            }).collect_view()}</tbody>
        </table>
    }
}

#[component]
fn AuditTab() -> impl IntoView {
    let patients = live_list::<ClinicPatient>(commands::CLINIC_PATIENTS);
    let chosen = RwSignal::new(String::new());
    let rows = RwSignal::new(None::<Result<Vec<AuditRow>, String>>);
    Effect::new(move |_| {
        let id = chosen.get();
        if id.is_empty() {
            return;
        }
        spawn_local(async move {
            let result =
                call_with::<_, Vec<AuditRow>>(commands::AUDIT, &PatientRef { patient_id: id })
                    .await
                    .map_err(|e| e.message);
            rows.set(Some(result));
        });
    });
    view! {
        <section class="card" aria-labelledby="audit-heading">
            <h2 id="audit-heading">"Audit browser"</h2>
            <label for="audit-patient">"Patient"</label>
            <select id="audit-patient" on:change=move |ev| chosen.set(event_target_value(&ev))>
                <option value="" selected=true>"Choose a patient…"</option>
                {move || patients.get().into_iter().map(|p| {
                    let words = patient_words(&p);
                    view! { <option value=p.patient_id>{words}</option> }
                }).collect_view()}
            </select>
            {move || match rows.get() {
                None => view! { <p class="hint">"Every read, entry, grant, refusal, revocation and break-glass appears here, newest first."</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(list)) => view! { <AuditTable rows=list/> }.into_any(),
            }}
        </section>
    }
}

/// Every link to another clinic, from the sync bar's last reading (refreshed every few seconds).
#[component]
fn SyncTab() -> impl IntoView {
    let ctx = Ctx::get();
    let rows = move || {
        let Some(status) = ctx.status.get() else {
            return view! { <p class="hint">"Reading the links…"</p> }.into_any();
        };
        let listening = match (&status.sync_problem, &status.listening) {
            (Some(why), _) => format!("Sync is off: {why}"),
            (None, Some(addr)) => format!("This clinic listens for other clinics on {addr}."),
            (None, None) => String::new(),
        };
        let outbox = match status.pending {
            0 => "Every block sealed here has reached a peer.".to_string(),
            1 => "1 block sealed here waits in the outbox for a peer.".to_string(),
            n => format!("{n} blocks sealed here wait in the outbox for a peer."),
        };
        let table = if status.peers.is_empty() {
            view! {
                <p class="hint" id="no-peers">
                    "No peers yet. Start the app with --peer ADDR, or join with an invite that names them."
                </p>
            }
            .into_any()
        } else {
            view! {
                <table id="peers-table">
                    <caption class="sr-only">"Peer clinics"</caption>
                    <thead><tr>
                        <th scope="col">"Address"</th>
                        <th scope="col">"Clinic"</th>
                        <th scope="col">"Link"</th>
                        <th scope="col">"Last in sync"</th>
                    </tr></thead>
                    <tbody>
                        {status.peers.into_iter().map(|p| view! {
                            <tr class="peer-row">
                                <td>{p.addr}</td>
                                <td>{p.clinic.unwrap_or_else(|| "not yet identified".into())}</td>
                                <td class=format!("link {}", p.state)>{p.state.clone()}</td>
                                <td>{p.last_sync.map(|t| crate::app::clock(&t)).unwrap_or_else(|| "never".into())}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }
            .into_any()
        };
        view! {
            <p id="sync-listening">{listening}</p>
            <p id="sync-outbox">{outbox}</p>
            {table}
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="sync-heading">
            <h2 id="sync-heading">"Peers and sync"</h2>
            {rows}
        </section>
    }
}

/// The health authority's desk (at the clinic that founded the network): enroll a clinic from
/// the join request it sent, and hand back the invite.
#[component]
fn ClinicsTab() -> impl IntoView {
    let ctx = Ctx::get();
    let request = RwSignal::new(String::new());
    let authority = RwSignal::new(String::new());
    let peers = RwSignal::new(
        ctx.status
            .get_untracked()
            .and_then(|s| s.listening)
            // An address another machine can dial; "any interface" is not one.
            .filter(|a| !a.starts_with("0.0.0.0") && !a.starts_with("[::]"))
            .unwrap_or_default(),
    );
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let approve = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = ApproveClinic {
            request_path: request.get_untracked(),
            peers: peers.get_untracked(),
            authority_passphrase: authority.get_untracked(),
        };
        authority.set(String::new());
        submit(
            ctx,
            commands::APPROVE_CLINIC,
            args,
            busy,
            message,
            |saved: SavedFile| {
                Some(format!(
                    "The clinic is enrolled. Its invite is saved to {}: hand it to the clinic.",
                    saved.file
                ))
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="clinics-heading">
            <h2 id="clinics-heading">"Enroll a clinic"</h2>
            <p class="hint">"Only the clinic that founded the network holds the health authority's key."</p>
            <form on:submit=approve>
                <label for="approve-request">"The clinic's join request file"</label>
                <input id="approve-request" required autocomplete="off" spellcheck="false"
                    placeholder="/path/to/request.json" prop:value=request
                    on:input=move |ev| request.set(event_target_value(&ev))/>
                <label for="approve-peers">"Where it can sync from (addresses, optional)"</label>
                <input id="approve-peers" autocomplete="off" spellcheck="false"
                    placeholder="192.168.1.20:7070" prop:value=peers
                    on:input=move |ev| peers.set(event_target_value(&ev))/>
                <label for="approve-authority">"The health authority's passphrase"</label>
                <input id="approve-authority" type="password" required autocomplete="off"
                    prop:value=authority on:input=move |ev| authority.set(event_target_value(&ev))/>
                <button id="approve-submit" type="submit" disabled=move || busy.get()>"Enroll the clinic"</button>
            </form>
            {result_line("approve-status", message)}
        </section>
        <ClinicStandingCard/>
    }
}

/// The health authority's revocations: suspend a clinic (its blocks and handshakes are refused,
/// its patients' keys rotate without it), reinstate it, or give it new node keys.
#[component]
fn ClinicStandingCard() -> impl IntoView {
    let ctx = Ctx::get();
    let clinics = live_list::<ClinicRow>(commands::CLINICS);
    let chosen = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let authority = RwSignal::new(String::new());
    let request = RwSignal::new(String::new());
    let peers = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        let list = clinics.get();
        if chosen.get_untracked().is_empty()
            && let Some(c) = list.iter().find(|c| !c.here)
        {
            chosen.set(c.id.clone());
        }
    });
    let name_of = move |id: &str| {
        clinics
            .get_untracked()
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.name)
            .unwrap_or_default()
    };
    let standing = move |suspend: bool| {
        let clinic = name_of(&chosen.get_untracked());
        let args = ClinicStanding {
            clinic_id: chosen.get_untracked(),
            suspend,
            reason: reason.get_untracked(),
            authority_passphrase: authority.get_untracked(),
        };
        authority.set(String::new());
        submit(
            ctx,
            commands::CLINIC_STANDING,
            args,
            busy,
            message,
            move |rotated: usize| {
                reason.set(String::new());
                Some(if suspend {
                    let rotated = match rotated {
                        0 => String::new(),
                        1 => " One record held here has a new key without it.".into(),
                        n => format!(" {n} records held here have new keys without it."),
                    };
                    format!(
                        "{clinic} is suspended: its blocks and connections are refused.{rotated}"
                    )
                } else {
                    format!("{clinic} is reinstated.")
                })
            },
        );
    };
    let replace = move |_| {
        let clinic = name_of(&chosen.get_untracked());
        let args = ReplaceClinicKey {
            clinic_id: chosen.get_untracked(),
            request_path: request.get_untracked(),
            peers: peers.get_untracked(),
            reason: reason.get_untracked(),
            authority_passphrase: authority.get_untracked(),
        };
        authority.set(String::new());
        submit(
            ctx,
            commands::REPLACE_CLINIC_KEY,
            args,
            busy,
            message,
            move |saved: SavedFile| {
                reason.set(String::new());
                request.set(String::new());
                Some(format!(
                    "{clinic} has new node keys; the old machine's blocks are refused from now on. Its invite is saved to {}: hand it to the new machine.",
                    saved.file
                ))
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="network-clinics-heading">
            <h2 id="network-clinics-heading">"Clinics of the network"</h2>
            <table id="clinics-table">
                <thead><tr><th>"Clinic"</th><th>"Standing"</th></tr></thead>
                <tbody>{move || clinics.get().into_iter().map(|c| view! {
                    <tr class="clinic-row" data-clinic-id=c.id.clone()>
                        <td>{c.name.clone()}{c.here.then_some(" (this clinic)")}</td>
                        <td class="standing">{c.suspended.map(|why| format!("suspended: {why}")).unwrap_or_else(|| "enrolled".into())}</td>
                    </tr>
                }).collect_view()}</tbody>
            </table>
            <label for="standing-clinic">"Clinic"</label>
            <select id="standing-clinic" on:change=move |ev| chosen.set(event_target_value(&ev))>
                {move || clinics.get().into_iter().filter(|c| !c.here).map(|c| {
                    let selected = c.id == chosen.get_untracked();
                    view! { <option value=c.id selected=selected>{c.name}</option> }
                }).collect_view()}
            </select>
            <label for="standing-clinic-reason">"Why (the audit keeps it)"</label>
            <input id="standing-clinic-reason" autocomplete="off" placeholder="e.g. its server was stolen"
                prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
            <label for="standing-authority">"The health authority's passphrase"</label>
            <input id="standing-authority" type="password" autocomplete="off"
                prop:value=authority on:input=move |ev| authority.set(event_target_value(&ev))/>
            <div>
                <button id="standing-suspend" type="button" class="danger" disabled=busy
                    on:click=move |_| standing(true)>"Suspend"</button>
                <button id="standing-reinstate" type="button" class="secondary" disabled=busy
                    on:click=move |_| standing(false)>"Reinstate"</button>
            </div>
            <details>
                <summary>"New node keys for its new machine"</summary>
                <label for="standing-request">"The join request its new machine wrote"</label>
                <input id="standing-request" autocomplete="off" spellcheck="false"
                    placeholder="/path/to/request.json" prop:value=request
                    on:input=move |ev| request.set(event_target_value(&ev))/>
                <label for="standing-peers">"Where it can sync from (addresses, optional)"</label>
                <input id="standing-peers" autocomplete="off" spellcheck="false"
                    placeholder="192.168.1.20:7070" prop:value=peers
                    on:input=move |ev| peers.set(event_target_value(&ev))/>
                <div><button id="standing-clinic-replace" type="button" disabled=busy on:click=replace>"Give new node keys"</button></div>
            </details>
            {result_line("standing-clinic-status", message)}
        </section>
    }
}
