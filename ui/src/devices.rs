//! The machines of one clinic: pairing this computer with a clinic (on the welcome screen), and
//! the admin's list of devices with approval and removal.

use carelog_desktop_api::{
    ApproveDevice, ApprovedDevice, DeviceRow, HomeInfo, PairDevice, RemoveDevice, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::admin::live_list;
use crate::api::call_with;
use crate::app::{Ctx, clock, result_line, submit};

/// "Add this computer to a clinic": its name and node passphrase; the request is saved for an
/// admin of the clinic, with the code both screens show.
#[component]
pub fn PairCard() -> impl IntoView {
    let ctx = Ctx::get();
    let name = RwSignal::new(String::new());
    let node_passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let pair = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = PairDevice {
            name: name.get_untracked(),
            node_passphrase: node_passphrase.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = call_with::<_, HomeInfo>(commands::PAIR_DEVICE, &args).await;
            busy.set(false);
            match result {
                Ok(info) => ctx.home.set(Some(info)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="card" id="pair-card" on:submit=pair aria-labelledby="pair-heading">
            <h2 id="pair-heading">"Add this computer to a clinic"</h2>
            <p class="hint">"A bedside laptop, the front-desk kiosk or another office PC of a clinic already in a network: an admin of the clinic approves it."</p>
            <label for="pair-name">"This computer's name"</label>
            <input id="pair-name" required placeholder="Bedside laptop" prop:value=name
                on:input=move |ev| name.set(event_target_value(&ev))/>
            <label for="pair-node-passphrase">"Node passphrase (optional: empty keeps the key in this computer's keyring)"</label>
            <input id="pair-node-passphrase" type="password" prop:value=node_passphrase
                on:input=move |ev| node_passphrase.set(event_target_value(&ev))/>
            <button id="pair-submit" type="submit" class="secondary" disabled=busy>"Ask to pair"</button>
            {move || error.get().map(|e| view! { <p id="pair-error" class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// The admin's "Devices" tab: the clinic's machines, approving a pairing request, removing one.
#[component]
pub fn DevicesTab() -> impl IntoView {
    let ctx = Ctx::get();
    let devices = live_list::<DeviceRow>(commands::DEVICES);
    let request = RwSignal::new(String::new());
    let role = RwSignal::new("staff".to_string());
    let busy = RwSignal::new(false);
    let said = RwSignal::new(None::<Result<String, String>>);
    let approve = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = ApproveDevice {
            request_path: request.get_untracked(),
            role: role.get_untracked(),
        };
        submit(
            ctx,
            commands::APPROVE_DEVICE,
            args,
            busy,
            said,
            |done: ApprovedDevice| {
                Some(format!(
                    "Code {}: check it is the one on the new computer's screen. Device {} added; its invite is saved to {} — open it on that computer.",
                    done.code, done.device_id, done.invite
                ))
            },
        );
    };
    let removing = RwSignal::new(None::<String>);
    let reason = RwSignal::new(String::new());
    let remove_said = RwSignal::new(None::<Result<String, String>>);
    let remove = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(device_id) = removing.get_untracked() else {
            return;
        };
        let args = RemoveDevice {
            device_id,
            reason: reason.get_untracked(),
        };
        submit(
            ctx,
            commands::REMOVE_DEVICE,
            args,
            busy,
            remove_said,
            move |rotated: usize| {
                removing.set(None);
                Some(format!(
                    "Removed: it is refused from now on, and {rotated} record(s) have new keys it cannot open."
                ))
            },
        );
    };
    let rows = move || {
        devices
            .get()
            .into_iter()
            .map(|d| {
                let id = d.device_id.clone();
                let row_id = d.device_id.clone();
                let can_remove = d.removable;
                let status = match &d.removed_reason {
                    Some(why) => format!("removed ({why})"),
                    None => d.status.clone(),
                };
                view! {
                    <tr class="device-row" data-device=row_id>
                        <td>{d.name.clone()}{d.this.then_some(" (this computer)")}</td>
                        <td>{d.role.clone()}</td>
                        <td>{status}</td>
                        <td>{d.last_seen.as_deref().map(clock).unwrap_or_else(|| "never".into())}</td>
                        <td>{can_remove.then(|| view! {
                            <button type="button" class="secondary device-remove"
                                on:click=move |_| removing.set(Some(id.clone()))>"Remove…"</button>
                        })}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card" aria-labelledby="devices-heading">
            <h2 id="devices-heading">"Computers of this clinic"</h2>
            <p class="hint">"Each keeps the whole record and works when the clinic's network is down; they find each other on the clinic's network."</p>
            <table id="devices">
                <thead><tr><th>"Name"</th><th>"Role"</th><th>"Status"</th><th>"Last block"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {move || removing.get().map(|id| view! {
                <form id="remove-device" on:submit=remove>
                    <p class="hint">{format!("Remove device {}…: it stops syncing, and the records it could open get new keys.", id.chars().take(12).collect::<String>())}</p>
                    <label for="remove-reason">"Why (lost, stolen, retired)"</label>
                    <input id="remove-reason" required prop:value=reason
                        on:input=move |ev| reason.set(event_target_value(&ev))/>
                    <button id="remove-submit" type="submit" class="danger" disabled=busy>"Remove the device"</button>
                </form>
            })}
            {result_line("remove-said", remove_said)}
        </section>
        <form class="card" id="approve-device" on:submit=approve aria-labelledby="approve-device-heading">
            <h2 id="approve-device-heading">"Add a computer"</h2>
            <p class="hint">"On the new computer, choose \u{201c}Add this computer to a clinic\u{201d}; it saves a request and shows a code. Open the request here; the code shown after must be the same."</p>
            <label for="device-request">"The pairing request file (or what its QR code says, scanned from the new computer's screen)"</label>
            <input id="device-request" required autocomplete="off" spellcheck="false"
                placeholder="/path/to/pairing-request.json" prop:value=request
                on:input=move |ev| request.set(event_target_value(&ev))/>
            <label for="device-role">"What it is for"</label>
            <select id="device-role" on:change=move |ev| role.set(event_target_value(&ev))>
                <option value="staff" selected>"Staff: clinicians and admins sign in"</option>
                <option value="kiosk">"Kiosk: patients only; an admin's sign-in leaves it"</option>
                <option value="gateway">"Gateway: a headless node that relays"</option>
            </select>
            <button id="approve-device-submit" type="submit" disabled=busy>"Add the computer"</button>
            {result_line("approve-device-said", said)}
        </form>
    }
}
