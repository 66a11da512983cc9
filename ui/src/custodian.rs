//! The custodian's desk: the family doctor sees the access requests waiting on their patients'
//! records and allows (at a level, for a time) or refuses them. The node decides whether this
//! doctor may answer; the window only lists what it is given.

use carelog_desktop_api::{AccessLevel, GrantAccess, PendingRequest, RefuseRequest, commands};
use leptos::prelude::*;

use crate::admin::live_list;
use crate::app::{Ctx, result_line, submit};

/// Requests waiting for the signed-in doctor's answer; nothing shows when there are none.
#[component]
pub fn CustodianRequests() -> impl IntoView {
    let ctx = Ctx::get();
    let requests = live_list::<PendingRequest>(commands::PENDING_REQUESTS);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let cards = move || {
        requests
            .get()
            .into_iter()
            .map(|r| {
                let level = RwSignal::new(r.level);
                let days = RwSignal::new("30".to_string());
                let grant_args = r.clone();
                let refuse_args = r.clone();
                let grant = move |_| {
                    let args = GrantAccess {
                        patient_id: grant_args.patient_id.clone(),
                        grantee: grant_args.requester.clone(),
                        level: level.get_untracked(),
                        days: days.get_untracked().parse().ok(),
                    };
                    let who = grant_args.requester_name.clone();
                    let lvl = args.level;
                    submit(ctx, commands::GRANT, args, busy, message, move |()| {
                        Some(format!("{who} may now read the record at level \"{lvl}\"."))
                    });
                };
                let refuse = move |_| {
                    let args = RefuseRequest {
                        patient_id: refuse_args.patient_id.clone(),
                        request_id: refuse_args.request_id.clone(),
                    };
                    let who = refuse_args.requester_name.clone();
                    submit(ctx, commands::REFUSE, args, busy, message, move |()| {
                        Some(format!("The request of {who} is refused."))
                    });
                };
                view! {
                    <li class="custodian-request" data-requester=r.requester_name.clone()>
                        <p><strong>{r.requester_name.clone()}</strong>" asks for level "<strong>{r.level.as_str()}</strong>
                            " on the record of "<strong class="custodian-patient">{r.patient_name.clone().unwrap_or_else(|| {
                                format!("patient {}…", r.patient_id.chars().take(12).collect::<String>())
                            })}</strong>": "{r.reason.clone()}</p>
                        <select class="custodian-level" aria-label="Level to allow"
                            on:change=move |ev| {
                                if let Ok(l) = event_target_value(&ev).parse::<AccessLevel>() { level.set(l) }
                            }>
                            {["information", "sample", "full"].into_iter().map(|l| view! {
                                <option value=l selected=l == r.level.as_str()>{l}</option>
                            }).collect_view()}
                        </select>
                        <select class="custodian-days" aria-label="For how long"
                            on:change=move |ev| days.set(event_target_value(&ev))>
                            <option value="7">"One week"</option>
                            <option value="30" selected=true>"30 days"</option>
                            <option value="90">"90 days"</option>
                            <option value="">"Until revoked"</option>
                        </select>
                        <button type="button" class="custodian-grant" disabled=busy on:click=grant>"Allow"</button>
                        <button type="button" class="custodian-refuse danger" disabled=busy on:click=refuse>"Refuse"</button>
                    </li>
                }
            })
            .collect_view()
    };
    move || {
        (!requests.get().is_empty() || message.get().is_some()).then(|| {
            view! {
                <section class="card" id="custodian-requests" aria-labelledby="custodian-heading">
                    <h2 id="custodian-heading">"Access requests for your patients"</h2>
                    <ul>{cards}</ul>
                    {result_line("custodian-status", message)}
                </section>
            }
        })
    }
}
