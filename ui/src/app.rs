//! The window's root: which screen shows (welcome, sign-in, kiosk, clinician, admin) and the
//! status bar under every screen.

use std::time::Duration;

use carelog_desktop_api::{
    FailureKind, HomeInfo, Me, SetKiosk, StatusBar as Status, SyncNow, commands,
};
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
    /// The sync bar's last reading, shared with the admin's peers panel.
    pub status: RwSignal<Option<Status>>,
    /// Why the last session ended by itself (an idle lock), and whose it was.
    pub locked: RwSignal<Option<(String, String)>>,
    /// Whether the "change my passphrase / PIN" form is open.
    pub changing_secret: RwSignal<bool>,
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
        self.changing_secret.set(false);
        spawn_local(async move {
            // Signing out cannot fail in the shell; the window forgets the user either way.
            let _ = call::<()>(commands::SIGN_OUT).await;
            self.me.set(None);
            if self.home.get_untracked().is_some_and(|h| h.kiosk_only) {
                self.kiosk.set(true);
            }
        });
    }

    /// The session locked itself (here, or in the shell, which says so with `Locked`): the
    /// window forgets the user and the sign-in screen says why, with the same person chosen.
    pub fn lock(self, why: String) {
        if let Some(me) = self.me.get_untracked() {
            self.locked.set(Some((me.id, why)));
        }
        self.sign_out();
    }

    /// The window becomes the patients' kiosk (or leaves it): the shell is told first, so the
    /// kiosk's limits hold there and not only on screen.
    pub fn set_kiosk(self, on: bool) {
        self.locked.set(None);
        spawn_local(async move {
            let _ = call_with::<_, ()>(commands::SET_KIOSK, &SetKiosk { on }).await;
            self.me.set(None);
            self.kiosk.set(on);
        });
    }
}

/// Tells the shell that the person is using the window (keys, clicks, touches), at most every
/// few seconds, and locks a staff session that has gone untouched for its idle time.
fn watch_activity(ctx: Ctx) {
    const REPORT_EVERY_MS: f64 = 5_000.0;
    let last_activity = StoredValue::new(js_sys::Date::now());
    let last_report = StoredValue::new(0.0f64);
    let touched = move || {
        let now = js_sys::Date::now();
        last_activity.set_value(now);
        if ctx.me.get_untracked().is_some() && now - last_report.get_value() >= REPORT_EVERY_MS {
            last_report.set_value(now);
            spawn_local(async move {
                let _ = call::<()>(commands::ACTIVITY).await;
            });
        }
    };
    let h1 = window_event_listener(leptos::ev::pointerdown, move |_| touched());
    let h2 = window_event_listener(leptos::ev::keydown, move |_| touched());
    let h3 = window_event_listener(leptos::ev::touchstart, move |_| touched());
    // A new session starts its idle count now.
    Effect::new(move |_| {
        if ctx.me.get().is_some() {
            last_activity.set_value(js_sys::Date::now());
            last_report.set_value(js_sys::Date::now());
        }
    });
    let tick = set_interval_with_handle(
        move || {
            let Some(me) = ctx.me.get_untracked() else {
                return;
            };
            // The kiosk keeps its own shorter count on its screen.
            if me.role == "patient" {
                return;
            }
            let limit = ctx
                .home
                .get_untracked()
                .map_or(300, |h| h.idle_lock_seconds)
                .max(1) as f64;
            if (js_sys::Date::now() - last_activity.get_value()) / 1000.0 >= limit {
                ctx.lock(idle_words(limit as u64));
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
}

/// "Locked after 5 minutes without use."
pub fn idle_words(seconds: u64) -> String {
    let after = if seconds >= 120 && seconds.is_multiple_of(60) {
        format!("{} minutes", seconds / 60)
    } else {
        format!("{seconds} seconds")
    };
    format!("Locked after {after} without use. Sign in again to go on.")
}

/// The app.
#[component]
pub fn App() -> impl IntoView {
    let ctx = Ctx {
        home: RwSignal::new(None),
        me: RwSignal::new(None),
        kiosk: RwSignal::new(false),
        changed: RwSignal::new(0),
        status: RwSignal::new(None),
        locked: RwSignal::new(None),
        changing_secret: RwSignal::new(false),
    };
    provide_context(ctx);
    watch_activity(ctx);
    crate::api::on_locked(move |why| ctx.lock(why));
    spawn_local(async move {
        match call::<HomeInfo>(commands::HOME_INFO).await {
            Ok(info) => {
                // The clinic's kiosk device opens on the kiosk.
                ctx.kiosk.set(info.kiosk_only);
                ctx.home.set(Some(info));
            }
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
        if home.locked {
            return view! { <crate::welcome::UnlockHome/> }.into_any();
        }
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
            <main class="screen">
                <Show when=move || ctx.changing_secret.get() && ctx.me.get().is_some()>
                    <crate::secrets::ChangeSecret/>
                </Show>
                {screen}
            </main>
            <StatusBar/>
        </div>
    }
}

/// The time of day of an RFC 3339 timestamp (`2026-11-23T05:01:02Z` → `05:01:02`).
pub fn clock(timestamp: &str) -> String {
    timestamp
        .get(11..19)
        .map_or_else(|| timestamp.to_string(), str::to_string)
}

/// "2 of 3 peers in sync", "1 peer, offline", "no peers".
fn peer_summary(s: &Status) -> String {
    let total = s.peers.len();
    let in_sync = s.in_sync();
    match total {
        0 => "no peers".to_string(),
        1 if in_sync == 1 => "1 peer, in sync".to_string(),
        1 => format!("1 peer, {}", s.peers[0].state),
        n => format!("{in_sync} of {n} peers in sync"),
    }
}

/// Clinic, sync state, peers, pending blocks, last sync, "Sync now" and who is signed in; on
/// every screen.
#[component]
fn StatusBar() -> impl IntoView {
    let ctx = Ctx::get();
    let status = ctx.status;
    let load = move || {
        spawn_local(async move {
            if ctx.home.get_untracked().is_some_and(|h| h.open) {
                let now = call::<Status>(commands::STATUS).await.ok();
                let before = status.get_untracked().map(|s| s.blocks);
                let grew = matches!((&before, &now), (Some(b), Some(n)) if n.blocks > *b);
                status.set(now);
                if grew {
                    // Blocks arrived (from a peer or another program on this home): lists and
                    // the new-records notice refresh.
                    ctx.touch();
                }
            }
        });
    };
    Effect::new(move |_| {
        ctx.changed.track();
        ctx.home.track();
        ctx.me.track();
        load();
    });
    if let Ok(handle) = set_interval_with_handle(load, Duration::from_secs(3)) {
        on_cleanup(move || handle.clear());
    }
    let syncing = RwSignal::new(false);
    let said = RwSignal::new(None::<String>);
    let sync_now = move |_| {
        syncing.set(true);
        said.set(None);
        spawn_local(async move {
            let result = call::<SyncNow>(commands::SYNC_NOW).await;
            syncing.set(false);
            match result {
                Ok(done) => {
                    said.set(Some(format!(
                        "synced: {} in, {} out",
                        done.received, done.sent
                    )));
                    // The note fades after a while; the bar keeps the lasting facts.
                    set_timeout(move || said.set(None), Duration::from_secs(8));
                    status.set(Some(done.status));
                    ctx.touch();
                }
                Err(e) => said.set(Some(e.message)),
            }
        });
    };
    let clinic = move || {
        status
            .get()
            .map(|s| s.clinic)
            .or_else(|| ctx.home.get().map(|h| h.clinic))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "No clinic open".into())
    };
    let online = move || status.get().is_some_and(|s| s.online);
    let state_title = move || {
        status
            .get()
            .map(|s| match (&s.sync_problem, &s.listening) {
                (Some(why), _) => format!("Sync is off: {why}"),
                (None, Some(addr)) => format!("Listening for other clinics on {addr}"),
                (None, None) => String::new(),
            })
            .unwrap_or_default()
    };
    let pending = move || {
        status.get().map_or("…".to_string(), |s| match s.pending {
            1 => "1 block pending".to_string(),
            n => format!("{n} blocks pending"),
        })
    };
    let peers = move || status.get().map_or(String::new(), |s| peer_summary(&s));
    let last_sync = move || {
        status.get().map_or(String::new(), |s| match s.last_sync {
            Some(t) => format!("last sync {}", clock(&t)),
            None => "never synced".to_string(),
        })
    };
    let who = move || {
        ctx.me.get().map(|me| {
            let change = if me.role == "patient" {
                "Change PIN"
            } else {
                "Change passphrase"
            };
            view! {
                <span id="signed-in">{format!("{} ({})", me.name, me.role)}</span>
                <button id="change-secret"
                    on:click=move |_| ctx.changing_secret.update(|open| *open = !*open)>{change}</button>
                <button id="sign-out" on:click=move |_| ctx.sign_out()>"Sign out"</button>
            }
        })
    };
    let open = move || ctx.home.get().is_some_and(|h| h.open);
    view! {
        <footer class="status-bar" role="status" aria-label="Clinic status">
            <strong id="status-clinic">{clinic}</strong>
            <span id="sync-state" class=move || if online() { "online" } else { "offline" } title=state_title>
                {move || if online() { "online" } else { "offline" }}
            </span>
            <span id="peer-count">{peers}</span>
            <span id="pending-count">{pending}</span>
            <span id="last-sync">{last_sync}</span>
            {move || status.get().and_then(|s| s.devices).map(|d| view! { <span id="device-count">{d}</span> })}
            <Show when=open>
                <button id="sync-now" aria-label="Sync now with other clinics" disabled=move || syncing.get() on:click=sync_now>
                    {move || if syncing.get() { "Syncing…" } else { "Sync now" }}
                </button>
            </Show>
            <span id="sync-said" aria-live="polite">{move || said.get()}</span>
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
            // The shell locked the session: `api::on_locked` has signed the window out.
            Err(e) if e.kind == FailureKind::Locked => {}
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
