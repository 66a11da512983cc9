//! The window's root: which screen shows (welcome, sign-in, kiosk, clinician, admin) and the
//! status bar under every screen.

use std::time::Duration;

use carelog_desktop_api::{HomeInfo, Me, StatusBar as Status, commands};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{call, call_with};

/// What every screen shares.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// The open home (None while the shell has not answered yet).
    pub home: RwSignal<Option<HomeInfo>>,
    /// Who is signed in.
    pub me: RwSignal<Option<Me>>,
    /// Whether the window is in kiosk mode (patients identify, not staff).
    pub kiosk: RwSignal<bool>,
    /// Bumped after every change, so the status bar and lists refresh.
    pub changed: RwSignal<u32>,
}

impl Ctx {
    /// The shared context.
    pub fn get() -> Ctx {
        expect_context::<Ctx>()
    }

    /// Marks that the ledger changed.
    pub fn touch(self) {
        self.changed.update(|n| *n = n.wrapping_add(1));
    }

    /// Signs out in the shell and here.
    pub fn sign_out(self) {
        spawn_local(async move {
            // Signing out cannot fail in the shell; the window forgets the user either way.
            let _ = call::<()>(commands::SIGN_OUT).await;
            self.me.set(None);
        });
    }
}

/// The app.
#[component]
pub fn App() -> impl IntoView {
    let ctx = Ctx {
        home: RwSignal::new(None),
        me: RwSignal::new(None),
        kiosk: RwSignal::new(false),
        changed: RwSignal::new(0),
    };
    provide_context(ctx);
    spawn_local(async move {
        match call::<HomeInfo>(commands::HOME_INFO).await {
            Ok(info) => ctx.home.set(Some(info)),
            Err(e) => ctx.home.set(Some(HomeInfo {
                problem: Some(e.message),
                ..HomeInfo::default()
            })),
        }
    });
    let screen = move || {
        let Some(home) = ctx.home.get() else {
            return view! { <p class="hint">"Opening the clinic…"</p> }.into_any();
        };
        if !home.open {
            return view! { <crate::welcome::Welcome/> }.into_any();
        }
        match ctx.me.get() {
            None if ctx.kiosk.get() => view! { <crate::sign_in::KioskIdentify/> }.into_any(),
            None => view! { <crate::sign_in::SignIn/> }.into_any(),
            Some(me) if me.role == "patient" => view! { <crate::kiosk::Kiosk me=me/> }.into_any(),
            Some(me) if me.role == "admin" => view! { <crate::admin::Admin me=me/> }.into_any(),
            Some(me) => view! { <crate::clinician::Clinician me=me/> }.into_any(),
        }
    };
    view! {
        <div class="app">
            <main class="screen">{screen}</main>
            <StatusBar/>
        </div>
    }
}

/// Clinic, sync state, pending blocks and who is signed in; on every screen.
#[component]
fn StatusBar() -> impl IntoView {
    let ctx = Ctx::get();
    let status = RwSignal::new(None::<Status>);
    let load = move || {
        spawn_local(async move {
            if ctx.home.get_untracked().is_some_and(|h| h.open) {
                status.set(call::<Status>(commands::STATUS).await.ok());
            }
        });
    };
    Effect::new(move |_| {
        ctx.changed.track();
        ctx.home.track();
        ctx.me.track();
        load();
    });
    if let Ok(handle) = set_interval_with_handle(load, Duration::from_secs(5)) {
        on_cleanup(move || handle.clear());
    }
    let clinic = move || {
        status
            .get()
            .map(|s| s.clinic)
            .or_else(|| ctx.home.get().map(|h| h.clinic))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "No clinic open".into())
    };
    let pending = move || {
        status.get().map_or("…".to_string(), |s| match s.pending {
            1 => "1 block pending".to_string(),
            n => format!("{n} blocks pending"),
        })
    };
    let peers = move || {
        status.get().map_or(String::new(), |s| match s.peers {
            0 => "no peers".to_string(),
            1 => "1 peer".to_string(),
            n => format!("{n} peers"),
        })
    };
    let who = move || {
        ctx.me.get().map(|me| {
            view! {
                <span id="signed-in">{format!("{} ({})", me.name, me.role)}</span>
                <button id="sign-out" on:click=move |_| ctx.sign_out()>"Sign out"</button>
            }
        })
    };
    view! {
        <footer class="status-bar" role="status" aria-label="Clinic status">
            <strong id="status-clinic">{clinic}</strong>
            <span id="sync-state" class="offline" title="Sync with other clinics arrives in a later version">
                {move || if status.get().is_some_and(|s| s.online) { "online" } else { "offline" }}
            </span>
            <span id="pending-count">{pending}</span>
            <span>{peers}</span>
            <span class="spacer"></span>
            {who}
        </footer>
    }
}

/// Runs a command from a form: shows "working", then the result or the failure's words.
pub fn submit<A, R, F>(
    ctx: Ctx,
    cmd: &'static str,
    args: A,
    busy: RwSignal<bool>,
    message: RwSignal<Option<Result<String, String>>>,
    done: F,
) where
    A: serde::Serialize + 'static,
    R: serde::de::DeserializeOwned + 'static,
    F: FnOnce(R) -> Option<String> + 'static,
{
    busy.set(true);
    message.set(None);
    spawn_local(async move {
        let result = call_with::<A, R>(cmd, &args).await;
        busy.set(false);
        match result {
            Ok(value) => {
                let said = done(value);
                message.set(said.map(Ok));
                ctx.touch();
            }
            Err(e) => message.set(Some(Err(e.message))),
        }
    });
}

/// A form's result line: green for done, red (and announced) for a failure.
pub fn result_line(
    id: &'static str,
    message: RwSignal<Option<Result<String, String>>>,
) -> impl IntoView {
    move || match message.get() {
        Some(Ok(text)) => view! { <p id=id class="ok" role="status">{text}</p> }.into_any(),
        Some(Err(text)) => view! { <p id=id class="error" role="alert">{text}</p> }.into_any(),
        None => view! { <p id=id></p> }.into_any(),
    }
}
