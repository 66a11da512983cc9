//! Changing one's own secret: a staff member's passphrase, a patient's PIN at the kiosk. The
//! current one is asked again; the new one twice.

use carelog_desktop_api::{ChangePassphrase, ChangePin, commands};
use leptos::prelude::*;

use crate::app::{Ctx, result_line, submit};

/// The form, above the screen, for whoever is signed in.
#[component]
pub fn ChangeSecret() -> impl IntoView {
    let ctx = Ctx::get();
    let patient = move || ctx.me.get().is_some_and(|me| me.role == "patient");
    let old = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if new.get_untracked() != again.get_untracked() {
            message.set(Some(Err(
                "The two new entries differ; type them again.".into()
            )));
            return;
        }
        let done = move |()| {
            old.set(String::new());
            new.set(String::new());
            again.set(String::new());
            Some(if patient() {
                "Your PIN is changed. Use the new one, with your card, from now on.".to_string()
            } else {
                "Your passphrase is changed. The old one no longer opens your keys.".to_string()
            })
        };
        if patient() {
            let args = ChangePin {
                old: old.get_untracked(),
                new: new.get_untracked(),
            };
            submit(ctx, commands::CHANGE_PIN, args, busy, message, done);
        } else {
            let args = ChangePassphrase {
                old: old.get_untracked(),
                new: new.get_untracked(),
            };
            submit(ctx, commands::CHANGE_PASSPHRASE, args, busy, message, done);
        }
    };
    let word = move || if patient() { "PIN" } else { "passphrase" };
    let numeric = move || if patient() { "numeric" } else { "text" };
    view! {
        <form class="card" id="change-secret-form" on:submit=send aria-labelledby="secret-heading">
            <h2 id="secret-heading">{move || format!("Change your {}", word())}</h2>
            <p class="hint">{move || if patient() {
                "Six to twelve digits. Your card stays the same."
            } else {
                "A few unrelated words, or a longer phrase of your own. It must not be easy to guess."
            }}</p>
            <label for="secret-old">{move || format!("Your {} now", word())}</label>
            <input id="secret-old" type="password" autocomplete="current-password" inputmode=numeric
                prop:value=old on:input=move |ev| old.set(event_target_value(&ev))/>
            <label for="secret-new">{move || format!("The new {}", word())}</label>
            <input id="secret-new" type="password" autocomplete="new-password" inputmode=numeric
                prop:value=new on:input=move |ev| new.set(event_target_value(&ev))/>
            <label for="secret-again">"Once more"</label>
            <input id="secret-again" type="password" autocomplete="new-password" inputmode=numeric
                prop:value=again on:input=move |ev| again.set(event_target_value(&ev))/>
            <div>
                <button id="secret-submit" type="submit" disabled=busy>"Change it"</button>
                <button type="button" class="secondary" on:click=move |_| ctx.changing_secret.set(false)>"Close"</button>
            </div>
            {result_line("secret-status", message)}
        </form>
    }
}
