//! First run: no clinic home yet. Found a network here, join one with the health authority's
//! invite, or open the demo network.

use carelog_desktop_api::{
    CreateNetwork, FailureKind, HomeInfo, JoinNetwork, RequestJoin, UnlockHome, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{call, call_with};
use crate::app::Ctx;

/// "Create a network" / "Join with an invite" / "Open the demo network".
#[component]
pub fn Welcome() -> impl IntoView {
    let ctx = Ctx::get();
    let network = RwSignal::new(String::new());
    let clinic = RwSignal::new(String::new());
    let admin = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let authority = RwSignal::new(String::new());
    let node_passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let home = move || ctx.home.get().map(|h| h.home).unwrap_or_default();
    let problem = move || ctx.home.get().and_then(|h| h.problem);

    let opened = move |result: Result<HomeInfo, carelog_desktop_api::Failure>| {
        busy.set(false);
        match result {
            Ok(info) => ctx.home.set(Some(info)),
            Err(e) => error.set(Some(e.message)),
        }
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = CreateNetwork {
            network: network.get_untracked(),
            clinic: clinic.get_untracked(),
            admin: admin.get_untracked(),
            passphrase: passphrase.get_untracked(),
            authority_passphrase: authority.get_untracked(),
            node_passphrase: node_passphrase.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            opened(call_with(commands::CREATE_NETWORK, &args).await);
        });
    };
    let demo = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            opened(call(commands::OPEN_DEMO).await);
        });
    };
    view! {
        <h1>"Welcome to Carelog"</h1>
        <p class="hint">"This computer holds no clinic yet (home: " <code>{home}</code> ")."</p>
        {move || problem().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        <div class="row">
            <Show when=move || !ctx.home.get().is_some_and(|h| h.awaiting_invite)>
            <form class="card" on:submit=create aria-labelledby="create-heading">
                <h2 id="create-heading">"Create a network"</h2>
                <p class="hint">"Found a new network of clinics, with this clinic and its first admin."</p>
                <label for="new-network">"Network name"</label>
                <input id="new-network" required prop:value=network
                    on:input=move |ev| network.set(event_target_value(&ev))/>
                <label for="new-clinic">"This clinic's name"</label>
                <input id="new-clinic" required prop:value=clinic
                    on:input=move |ev| clinic.set(event_target_value(&ev))/>
                <label for="new-admin">"First admin's name"</label>
                <input id="new-admin" required prop:value=admin
                    on:input=move |ev| admin.set(event_target_value(&ev))/>
                <label for="new-passphrase">"Admin passphrase (a few unrelated words)"</label>
                <input id="new-passphrase" type="password" required prop:value=passphrase
                    on:input=move |ev| passphrase.set(event_target_value(&ev))/>
                <label for="new-authority-passphrase">"Health authority passphrase (seals the key that enrolls clinics)"</label>
                <input id="new-authority-passphrase" type="password" required prop:value=authority
                    on:input=move |ev| authority.set(event_target_value(&ev))/>
                <label for="new-node-passphrase">"Node passphrase (optional: leave empty to keep this computer's key in its keyring)"</label>
                <input id="new-node-passphrase" type="password" prop:value=node_passphrase
                    on:input=move |ev| node_passphrase.set(event_target_value(&ev))/>
                <button id="create-network" type="submit" disabled=busy>"Create a network"</button>
            </form>
            </Show>
            <Show when=move || !ctx.home.get().is_some_and(|h| h.awaiting_invite)>
                <crate::devices::PairCard/>
            </Show>
            <JoinCard/>
            <section class="card" aria-labelledby="demo-heading">
                <h2 id="demo-heading">"Open the demo network"</h2>
                <p class="hint">
                    "Three invented clinics with staff, patients and charts. Staff passphrase "
                    <code>"demo clinic staff"</code>", patient PIN "<code>"246810"</code>
                    " with the patient's card (the demo prints each card)."
                </p>
                <button id="open-demo" class="secondary" on:click=demo disabled=busy>
                    "Open the demo network"
                </button>
                {move || busy.get().then(|| view! { <p class="hint">"Working… building the demo takes a minute."</p> })}
            </section>
        </div>
        {move || error.get().map(|e| view! { <p id="welcome-error" class="error" role="alert">{e}</p> })}
    }
}

/// Joining an existing network: ask (a request file for the health authority), then open the
/// invite it sends back. A home that already asked goes straight to the invite.
#[component]
fn JoinCard() -> impl IntoView {
    let ctx = Ctx::get();
    let clinic = RwSignal::new(String::new());
    let admin = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let node_passphrase = RwSignal::new(String::new());
    let invite = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let said = RwSignal::new(None::<Result<String, String>>);
    let asked = move || ctx.home.get().is_some_and(|h| h.awaiting_invite);
    let ask = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = RequestJoin {
            clinic: clinic.get_untracked(),
            admin: admin.get_untracked(),
            passphrase: passphrase.get_untracked(),
            node_passphrase: node_passphrase.get_untracked(),
        };
        busy.set(true);
        said.set(None);
        spawn_local(async move {
            let result = call_with::<_, HomeInfo>(commands::REQUEST_JOIN, &args).await;
            busy.set(false);
            match result {
                // The card shows where the request went from the home's own record of it.
                Ok(info) => ctx.home.set(Some(info)),
                Err(e) => said.set(Some(Err(e.message))),
            }
        });
    };
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = JoinNetwork {
            invite_path: invite.get_untracked(),
        };
        busy.set(true);
        said.set(None);
        spawn_local(async move {
            let result = call_with::<_, HomeInfo>(commands::JOIN_NETWORK, &args).await;
            busy.set(false);
            match result {
                Ok(info) => ctx.home.set(Some(info)),
                Err(e) => said.set(Some(Err(e.message))),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="join-heading">
            <h2 id="join-heading">"Join with an invite"</h2>
            <Show when=move || !asked()>
                <p class="hint">"Ask the health authority to enroll this clinic in its network."</p>
                <form on:submit=ask>
                    <label for="join-clinic">"This clinic's name"</label>
                    <input id="join-clinic" required prop:value=clinic
                        on:input=move |ev| clinic.set(event_target_value(&ev))/>
                    <label for="join-admin">"First admin's name"</label>
                    <input id="join-admin" required prop:value=admin
                        on:input=move |ev| admin.set(event_target_value(&ev))/>
                    <label for="join-passphrase">"Admin passphrase"</label>
                    <input id="join-passphrase" type="password" required prop:value=passphrase
                        on:input=move |ev| passphrase.set(event_target_value(&ev))/>
                    <label for="join-node-passphrase">"Node passphrase (optional: empty keeps the key in this computer's keyring)"</label>
                    <input id="join-node-passphrase" type="password" prop:value=node_passphrase
                        on:input=move |ev| node_passphrase.set(event_target_value(&ev))/>
                    <button id="join-request" type="submit" class="secondary" disabled=busy>"Ask to join"</button>
                </form>
            </Show>
            <Show when=asked>
                {move || match (ctx.home.get().and_then(|h| h.pairing), ctx.home.get().and_then(|h| h.join_request)) {
                    (Some(pairing), _) => view! {
                        <div id="pairing-saved" role="status">
                            <p class="hint">"Pairing code — the admin's screen must show the same:"</p>
                            <p id="pairing-code" class="pairing-code">{pairing.code}</p>
                            <div id="pairing-qr" class="pairing-qr" inner_html=pairing.qr_svg></div>
                            <p class="ok">{format!(
                                "Request saved to {}. Take it to an admin of the clinic; open the invite they give back below.",
                                pairing.file
                            )}</p>
                        </div>
                    }.into_any(),
                    (None, Some(file)) => view! {
                        <p id="join-saved" class="ok" role="status">{format!(
                            "Request saved to {file}. Take it to the health authority; open the invite they send back below."
                        )}</p>
                    }.into_any(),
                    (None, None) => view! {
                        <p id="join-saved" class="hint">"This computer has asked to join a network or a clinic; open the invite it was given."</p>
                    }.into_any(),
                }}
                <form on:submit=join>
                    <label for="join-invite">"The invite file (from the health authority, or from the clinic's admin for a device)"</label>
                    <input id="join-invite" required autocomplete="off" spellcheck="false"
                        placeholder="/path/to/invite.json" prop:value=invite
                        on:input=move |ev| invite.set(event_target_value(&ev))/>
                    <button id="join-submit" type="submit" disabled=busy>"Join the network"</button>
                </form>
            </Show>
            {move || match said.get() {
                Some(Ok(text)) => Some(view! { <p id="join-status" class="ok" role="status">{text}</p> }.into_any()),
                Some(Err(text)) => Some(view! { <p id="join-status" class="error" role="alert">{text}</p> }.into_any()),
                None => None,
            }}
        </section>
    }
}

/// A home whose keys are sealed under a node passphrase that neither the environment nor the
/// keyring gave: the window asks for it.
#[component]
pub fn UnlockHome() -> impl IntoView {
    let ctx = Ctx::get();
    let passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let home = move || ctx.home.get().map(|h| h.home).unwrap_or_default();
    let problem = move || ctx.home.get().and_then(|h| h.problem);
    let unlock = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = UnlockHome {
            passphrase: passphrase.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = call_with::<_, HomeInfo>(commands::UNLOCK_HOME, &args).await;
            busy.set(false);
            passphrase.set(String::new());
            match result {
                Ok(info) => ctx.home.set(Some(info)),
                Err(e) if e.kind == FailureKind::WrongPassphrase => error.set(Some(
                    "That is not this clinic's node passphrase. Check it and try again.".into(),
                )),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="card" id="unlock-home" on:submit=unlock aria-labelledby="unlock-heading" style="max-width: 620px">
            <h1 id="unlock-heading">"Open this clinic"</h1>
            <p class="hint">"The clinic's keys and records at " <code>{home}</code>
                " are sealed under its node passphrase. The person who set up this computer knows it."</p>
            {move || problem().map(|p| view! { <p class="hint">{p}</p> })}
            <label for="unlock-passphrase">"Node passphrase"</label>
            <input id="unlock-passphrase" type="password" autocomplete="off" autofocus
                prop:value=passphrase on:input=move |ev| passphrase.set(event_target_value(&ev))/>
            <div><button id="unlock-submit" type="submit" disabled=busy>"Open"</button></div>
            {move || error.get().map(|e| view! { <p id="unlock-error" class="error" role="alert">{e}</p> })}
        </form>
    }
}
