//! The admin's "Software updates" tab: a newer Carelog from the health authority's update
//! server, or from its update folder on a USB stick. The shell checks each package's signature
//! against the key this build trusts and refuses any that fails.

use carelog_desktop_api::{CheckUpdate, UpdateOffer, commands};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::call_with;
use crate::app::result_line;

/// Check, then install, from the server or a folder.
#[component]
pub fn UpdatesTab() -> impl IntoView {
    let folder = RwSignal::new(String::new());
    let offer = RwSignal::new(None::<UpdateOffer>);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let source = move || {
        let path = folder.get_untracked();
        CheckUpdate {
            manifest_path: (!path.trim().is_empty()).then_some(path),
        }
    };
    let check = move |from_folder: bool| {
        if !from_folder {
            folder.set(String::new());
        }
        let args = source();
        busy.set(true);
        message.set(None);
        offer.set(None);
        spawn_local(async move {
            let result = call_with::<_, UpdateOffer>(commands::CHECK_UPDATE, &args).await;
            busy.set(false);
            match result {
                Ok(found) => {
                    let said = match &found.available {
                        Some(v) => format!("Carelog {v} is available from {}.", found.source),
                        None => format!(
                            "Carelog {} is the newest version ({}).",
                            found.current, found.source
                        ),
                    };
                    message.set(Some(Ok(said)));
                    offer.set(Some(found));
                }
                Err(e) => message.set(Some(Err(e.message))),
            }
        });
    };
    let install = move |_| {
        let args = source();
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            let result = call_with::<_, String>(commands::INSTALL_UPDATE, &args).await;
            busy.set(false);
            offer.set(None);
            message.set(Some(result.map_err(|e| e.message)));
        });
    };
    let available = move || offer.get().and_then(|o| o.available);
    view! {
        <section class="card" aria-labelledby="updates-heading">
            <h2 id="updates-heading">"Software updates"</h2>
            <p class="hint">
                "Updates come from the health authority, signed with its update key; a package whose signature fails is refused."
            </p>
            <button id="update-check-server" type="button" disabled=busy on:click=move |_| check(false)>
                "Check the update server"
            </button>
            <form on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); check(true); }>
                <label for="update-folder">"Or the update folder on a USB stick (or its latest.json)"</label>
                <input id="update-folder" required autocomplete="off" spellcheck="false"
                    placeholder="/media/usb/carelog-update" prop:value=folder
                    on:input=move |ev| folder.set(event_target_value(&ev))/>
                <button id="update-check-folder" type="submit" class="secondary" disabled=busy>"Check the folder"</button>
            </form>
            {move || busy.get().then(|| view! { <p class="hint">"Working…"</p> })}
            {result_line("update-status", message)}
            {move || available().map(|v| view! {
                <button id="update-install" type="button" disabled=busy on:click=install>
                    {format!("Install Carelog {v}")}
                </button>
            })}
        </section>
    }
}
