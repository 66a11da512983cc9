//! Calling the shell: `window.__TAURI__.core.invoke` with `{"args": …}`, typed both ways.

use carelog_desktop_api::{Args, Failure, FailureKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

/// What the window does when the shell answers that the session locked itself.
type LockedHandler = std::rc::Rc<dyn Fn(String)>;

thread_local! {
    static ON_LOCKED: std::cell::RefCell<Option<LockedHandler>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets what happens when any command answers [`FailureKind::Locked`] (the shell dropped an
/// idle session's keys): the window forgets the user and says why, whichever call noticed.
pub fn on_locked(handler: impl Fn(String) + 'static) {
    ON_LOCKED.with(|h| *h.borrow_mut() = Some(std::rc::Rc::new(handler)));
}

fn decode<R: DeserializeOwned>(value: JsValue) -> Result<R, Failure> {
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!("the app answered in an unexpected form: {e}"),
        )
    })
}

async fn invoke<R: DeserializeOwned>(cmd: &str, args: JsValue) -> Result<R, Failure> {
    let answer = answer(cmd, args).await;
    if let Err(failure) = &answer
        && failure.kind == FailureKind::Locked
        && let Some(handler) = ON_LOCKED.with(|h| h.borrow().clone())
    {
        handler(failure.message.clone());
    }
    answer
}

async fn answer<R: DeserializeOwned>(cmd: &str, args: JsValue) -> Result<R, Failure> {
    match tauri_invoke(cmd, args).await {
        Ok(value) => decode(value),
        Err(error) => Err(
            serde_wasm_bindgen::from_value::<Failure>(error.clone()).unwrap_or_else(|_| {
                Failure::new(
                    FailureKind::Other,
                    error
                        .as_string()
                        .unwrap_or_else(|| "the app did not answer".into()),
                )
            }),
        ),
    }
}

/// Calls a command that takes no arguments.
pub async fn call<R: DeserializeOwned>(cmd: &str) -> Result<R, Failure> {
    invoke(cmd, js_sys::Object::new().into()).await
}

/// Calls a command with its argument struct.
pub async fn call_with<A: Serialize, R: DeserializeOwned>(
    cmd: &str,
    args: &A,
) -> Result<R, Failure> {
    let value = Args { args }
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Failure::new(FailureKind::Other, e.to_string()))?;
    invoke(cmd, value).await
}
