//! The patient kiosk: requests waiting for a decision, who can read the record (revoke), and who
//! opened it. Large touch targets; it locks itself after 60 s without a touch or key.

use std::time::Duration;

use carelog_desktop_api::{
    AuditRow, GrantAccess, Me, PatientRef, PendingRequest, Reader, RefuseRequest, RevokeAccess,
    commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::admin::AuditTable;
use crate::api::{call, call_with};
use crate::app::{Ctx, result_line, submit};

/// Seconds without activity before the kiosk locks (the shell locks the session then too).
fn idle_lock_seconds(ctx: Ctx) -> f64 {
    ctx.home
        .get_untracked()
        .map_or(60, |h| h.kiosk_idle_lock_seconds)
        .max(1) as f64
}

/// The patient's own view.
#[component]
pub fn Kiosk(me: Me) -> impl IntoView {
    let ctx = Ctx::get();
    // A proxy opens the record of the patient they act for; a patient, their own.
    let record_id = me.records.first().cloned().unwrap_or_else(|| me.id.clone());
    let patient = StoredValue::new(record_id.clone());
    let record_name = RwSignal::new(None::<String>);
    let proxy = me.proxy;
    let me_id = StoredValue::new(me.id.clone());
    let news = me.since_last_visit.clone();
    let requests = RwSignal::new(Vec::<PendingRequest>::new());
    let readers = RwSignal::new(Vec::<Reader>::new());
    let log = RwSignal::new(None::<Result<Vec<AuditRow>, String>>);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);

    Effect::new(move |_| {
        ctx.changed.track();
        let who = PatientRef {
            patient_id: patient.get_value(),
        };
        spawn_local(async move {
            if let Ok(list) = call::<Vec<PendingRequest>>(commands::PENDING_REQUESTS).await {
                requests.set(list);
            }
            if let Ok(list) = call_with::<_, Vec<Reader>>(commands::READERS, &who).await {
                readers.set(list);
            }
            let trail = call_with::<_, Vec<AuditRow>>(commands::AUDIT, &who).await;
            log.set(Some(trail.map_err(|e| e.message)));
        });
    });

    // Idle lock: any touch, click or key restarts the count.
    let last_activity = RwSignal::new(js_sys::Date::now());
    let limit = idle_lock_seconds(ctx);
    let seconds_left = RwSignal::new(limit);
    let bump = move || last_activity.set(js_sys::Date::now());
    let h1 = window_event_listener(leptos::ev::pointerdown, move |_| bump());
    let h2 = window_event_listener(leptos::ev::keydown, move |_| bump());
    let h3 = window_event_listener(leptos::ev::touchstart, move |_| bump());
    let tick = set_interval_with_handle(
        move || {
            let idle = (js_sys::Date::now() - last_activity.get_untracked()) / 1000.0;
            seconds_left.set((limit - idle).max(0.0).ceil());
            if idle >= limit && ctx.me.get_untracked().is_some() {
                ctx.sign_out();
            }
        },
        Duration::from_secs(1),
    );
    on_cleanup(move || {
        h1.remove();
        h2.remove();
        h3.remove();
        if let Ok(t) = tick {
            t.clear();
        }
    });

    let request_cards = move || {
        let list = requests.get();
        if list.is_empty() {
            return view! { <p class="hint" id="no-requests">"Nobody is waiting for your answer."</p> }.into_any();
        }
        list.into_iter()
            .map(|r| {
                let level = RwSignal::new(r.level);
                let days = RwSignal::new(String::new());
                let short = &r.request_id[..12.min(r.request_id.len())];
                let select_id = format!("grant-level-{short}");
                let days_id = format!("grant-days-{short}");
                let r_grant = r.clone();
                let r_refuse = r.clone();
                let grant = move |_| {
                    let args = GrantAccess {
                        patient_id: r_grant.patient_id.clone(),
                        grantee: r_grant.requester.clone(),
                        level: level.get_untracked(),
                        days: days.get_untracked().parse().ok(),
                    };
                    let who = r_grant.requester_name.clone();
                    let lvl = level.get_untracked();
                    let until = match args.days {
                        Some(1) => " for one day".to_string(),
                        Some(n) => format!(" for {n} days"),
                        None => String::new(),
                    };
                    submit(ctx, commands::GRANT, args, busy, message, move |()| {
                        Some(format!("You allowed {who} to read your record at level \"{lvl}\"{until}."))
                    });
                };
                let refuse = move |_| {
                    let args = RefuseRequest {
                        patient_id: r_refuse.patient_id.clone(),
                        request_id: r_refuse.request_id.clone(),
                    };
                    let who = r_refuse.requester_name.clone();
                    submit(ctx, commands::REFUSE, args, busy, message, move |()| {
                        Some(format!("You refused the request of {who}."))
                    });
                };
                view! {
                    <div class="card request" data-request-id=r.request_id.clone() data-requester=r.requester_name.clone()>
                        <p><strong>{r.requester_name.clone()}</strong>" asks to read your record at level "
                            <strong>{r.level.as_str()}</strong>"."</p>
                        <p>"Reason: "{r.reason.clone()}" · asked "{r.time.replace('T', " ").trim_end_matches('Z').to_string()}</p>
                        <label for=select_id.clone()>"Level to allow"</label>
                        <select id=select_id class="grant-level" on:change=move |ev| if let Ok(l) = event_target_value(&ev).parse() { level.set(l) }>
                            {["information", "sample", "full"].into_iter().map(|l| view! {
                                <option value=l selected=l == r.level.as_str()>{l}</option>
                            }).collect_view()}
                        </select>
                        <label for=days_id.clone()>"For how long"</label>
                        <select id=days_id class="grant-days" on:change=move |ev| days.set(event_target_value(&ev))>
                            <option value="" selected=true>"Until I take it back"</option>
                            <option value="1">"One day"</option>
                            <option value="7">"One week"</option>
                            <option value="30">"30 days"</option>
                            <option value="90">"90 days"</option>
                        </select>
                        <div>
                            <button type="button" class="grant" disabled=busy on:click=grant>"Allow"</button>
                            <button type="button" class="refuse danger" disabled=busy on:click=refuse>"Refuse"</button>
                        </div>
                    </div>
                }
            })
            .collect_view()
            .into_any()
    };

    let reader_rows = move || {
        readers
            .get()
            .into_iter()
            .map(|r| {
                let name = r.name.clone();
                let id = r.id.clone();
                let revoke = move |_| {
                    let args = RevokeAccess { patient_id: patient.get_value(), reader: id.clone() };
                    let who = name.clone();
                    submit(ctx, commands::REVOKE, args, busy, message, move |()| {
                        Some(format!("{who} can no longer read your record. Your record's key was changed."))
                    });
                };
                view! {
                    <tr class="reader" data-reader=r.name.clone()>
                        <td>{r.name.clone()}</td>
                        <td>{r.basis.clone()}</td>
                        <td>{r.level.as_str()}</td>
                        <td class="expires">{r.expires.clone().map_or_else(|| "until you take it back".into(), |t| format!("until {}", t.replace('T', " ").get(..16).unwrap_or_default()))}</td>
                        <td><button type="button" class="revoke secondary" disabled=busy on:click=revoke
                            aria-label=format!("Take away access of {}", r.name)>"Take away"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };

    view! {
        <div class="kiosk">
            <h1 id="kiosk-record-heading">{move || match (proxy, record_name.get()) {
                (true, Some(name)) => format!("The health record of {name}"),
                (true, None) => "The health record you look after".to_string(),
                (false, _) => "Your health record".to_string(),
            }}</h1>
            {proxy.then(|| view! {
                <p class="hint" id="proxy-note">"You act for this patient as their proxy: what you decide here is recorded under your own name."</p>
            })}
            <p class="lock-note" id="lock-note">
                {move || format!("For your privacy this screen locks after {limit:.0} seconds without a touch ({:.0} s left).", seconds_left.get())}
            </p>
            {result_line("kiosk-status", message)}
            <section class="card" id="since-last-visit" aria-labelledby="since-heading">
                <h2 id="since-heading">"Since your last visit"</h2>
                {if news.is_empty() {
                    view! { <p class="hint" id="nothing-new">"Nobody else opened or changed your record since your last visit."</p> }.into_any()
                } else {
                    let n = news.len();
                    view! {
                        <p>{if n == 1 { "One thing happened:".to_string() } else { format!("{n} things happened:") }}</p>
                        <AuditTable rows=news me=me_id.get_value() id="news-table"/>
                    }.into_any()
                }}
            </section>
            <crate::my_record::RecordSummary patient_id=record_id.clone() name=record_name/>
            <crate::my_record::EmergencyOpenings patient_id=record_id.clone()/>
            <section aria-labelledby="requests-heading" id="requests">
                <h2 id="requests-heading">"Requests waiting for you"</h2>
                {request_cards}
            </section>
            <crate::my_record::GrantFromDirectory patient_id=record_id.clone()/>
            <section class="card" aria-labelledby="readers-heading">
                <h2 id="readers-heading">"Who can read your record"</h2>
                <table id="readers">
                    <thead><tr><th>"Who"</th><th>"Why"</th><th>"Level"</th><th>"Until"</th><th></th></tr></thead>
                    <tbody>{reader_rows}</tbody>
                </table>
            </section>
            <section class="card" aria-labelledby="log-heading" id="access-log">
                <h2 id="log-heading">"Who opened or changed your record"</h2>
                {move || match log.get() {
                    None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                    Some(Ok(rows)) => view! { <AuditTable rows=rows me=me_id.get_value()/> }.into_any(),
                }}
            </section>
            <crate::my_record::TakeAwayCard patient_id=record_id.clone() own=!proxy/>
            <button id="kiosk-done" type="button" on:click=move |_| ctx.sign_out()>"I am done — lock the screen"</button>
        </div>
    }
}
