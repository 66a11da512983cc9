//! Signing in: staff pick their name and type a passphrase; patients at the kiosk scan their
//! card (its QR code; typing what it says also works) and type their PIN.

use carelog_desktop_api::{
    FailureKind, KioskSignIn, Me, SignIn as SignInArgs, StaffMember, commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{call, call_with};
use crate::app::Ctx;

/// Staff sign-in.
#[component]
pub fn SignIn() -> impl IntoView {
    let ctx = Ctx::get();
    let staff = RwSignal::new(Vec::<StaffMember>::new());
    let chosen = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // After an idle lock, the person whose session locked is the one chosen.
    let locked_user = ctx.locked.get_untracked().map(|(id, _)| id);
    spawn_local(async move {
        match call::<Vec<StaffMember>>(commands::STAFF).await {
            Ok(list) => {
                let again = locked_user.filter(|id| list.iter().any(|s| &s.id == id));
                if let Some(id) = again.or_else(|| list.first().map(|s| s.id.clone())) {
                    chosen.set(id);
                }
                staff.set(list);
            }
            Err(e) => error.set(Some(e.message)),
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = SignInArgs {
            user_id: chosen.get_untracked(),
            passphrase: passphrase.get_untracked(),
        };
        let name = staff
            .get_untracked()
            .into_iter()
            .find(|s| s.id == args.user_id)
            .map(|s| s.name)
            .unwrap_or_default();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = call_with::<_, Me>(commands::SIGN_IN, &args).await;
            busy.set(false);
            match result {
                Ok(me) => {
                    passphrase.set(String::new());
                    ctx.locked.set(None);
                    ctx.me.set(Some(me));
                }
                Err(e) if e.kind == FailureKind::WrongPassphrase => error.set(Some(format!(
                    "That passphrase is not right for {name}. Check it and try again."
                ))),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let clinic = move || ctx.home.get().map(|h| h.clinic).unwrap_or_default();
    view! {
        <form class="card sign-in" on:submit=submit aria-labelledby="signin-heading" style="max-width: 520px">
            <h1 id="signin-heading">"Sign in to " {clinic}</h1>
            {move || ctx.home.get().is_some_and(|h| h.kiosk_only).then(|| view! {
                <p id="kiosk-device-note" class="hint">"This computer is the clinic's kiosk: only an admin signs in here, and signing out returns it to the kiosk."</p>
            })}
            {move || ctx.locked.get().map(|(_, why)| view! { <p id="lock-note" class="hint" role="status">{why}</p> })}
            <label for="signin-user">"Who are you?"</label>
            <select id="signin-user" on:change=move |ev| chosen.set(event_target_value(&ev))>
                {move || staff.get().into_iter().map(|s| {
                    let selected = s.id == chosen.get_untracked();
                    let mut what = match &s.specialty {
                        Some(sp) => format!("{} — {} ({sp})", s.name, s.role),
                        None => format!("{} — {}", s.name, s.role),
                    };
                    if s.disabled.is_some() {
                        what.push_str(" — disabled");
                    }
                    view! { <option value=s.id selected=selected>{what}</option> }
                }).collect_view()}
            </select>
            <label for="signin-passphrase">"Passphrase"</label>
            <input id="signin-passphrase" type="password" autocomplete="current-password" autofocus
                prop:value=passphrase on:input=move |ev| passphrase.set(event_target_value(&ev))/>
            <div>
                <button id="signin-submit" type="submit" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
                <button id="mode-kiosk" type="button" class="secondary" on:click=move |_| ctx.set_kiosk(true)>
                    "Patient kiosk"
                </button>
            </div>
            {move || error.get().map(|e| view! { <p id="signin-error" class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// Moves the keyboard's focus to the element with `id`.
fn focus(id: &str) {
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(e).ok())
    {
        let _ = element.focus();
    }
}

/// The kiosk's identify screen: the card and the PIN, with large targets.
#[component]
pub fn KioskIdentify() -> impl IntoView {
    let ctx = Ctx::get();
    let card = RwSignal::new(String::new());
    let pin = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let args = KioskSignIn {
            card: card.get_untracked().trim().to_string(),
            pin: pin.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = call_with::<_, Me>(commands::KIOSK_SIGN_IN, &args).await;
            busy.set(false);
            pin.set(String::new());
            match result {
                Ok(me) => ctx.me.set(Some(me)),
                Err(e) if e.kind == FailureKind::WrongPassphrase => error.set(Some(
                    "That PIN does not match this card. Please try again.".into(),
                )),
                Err(e) if e.kind == FailureKind::NotFound => error.set(Some(
                    "This clinic holds no record for this card. Ask at the desk.".into(),
                )),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="kiosk card" on:submit=submit aria-labelledby="kiosk-heading">
            <h1 id="kiosk-heading">"Your health record"</h1>
            <p class="hint">"See who asks to read your record, decide, and see who opened it."</p>
            <label for="kiosk-card">"Your card: scan its code (or type what it says)"</label>
            <input id="kiosk-card" type="password" autocomplete="off" spellcheck="false" autofocus
                prop:value=card on:input=move |ev| card.set(event_target_value(&ev))/>
            <crate::scan::CameraScan id="kiosk-card-camera" found=Callback::new(move |text: String| {
                card.set(text);
                focus("kiosk-pin");
            })/>
            <label for="kiosk-pin">"Your PIN"</label>
            <input id="kiosk-pin" type="password" inputmode="numeric" autocomplete="off"
                prop:value=pin on:input=move |ev| pin.set(event_target_value(&ev))/>
            <div>
                <button id="kiosk-submit" type="submit" disabled=busy>"Open my record"</button>
                <button id="mode-staff" type="button" class="secondary" on:click=move |_| ctx.set_kiosk(false)>
                    "Staff sign-in"
                </button>
            </div>
            {move || error.get().map(|e| view! { <p id="kiosk-error" class="error" role="alert">{e}</p> })}
        </form>
    }
}
