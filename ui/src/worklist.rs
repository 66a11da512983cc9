//! The lab's worklist: orders of the clinic's patients still waiting for a result, each with
//! whose specimen it is and a small form that saves the result against the order.
//!
//! Opening or refreshing the list is recorded in each listed patient's audit, so it loads when
//! the screen opens, after a result is saved and on "Refresh" — never on a timer.

use carelog_desktop_api::{EntryKind, NewEntry, WorklistRow, commands};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use crate::api::call;
use crate::app::{Ctx, result_line, submit};

/// A typed number (a decimal comma is read as a point); empty is none.
fn typed_number(what: &str, text: &str) -> Result<Option<f64>, String> {
    let text = text.trim().replace(',', ".");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or_else(|| format!("{what}: `{text}` is not a number"))
}

/// The lab result that answers `order`, from what was typed into its form.
fn result_data(
    order: &WorklistRow,
    value: &str,
    unit: &str,
    low: &str,
    high: &str,
) -> Result<Value, String> {
    let value = typed_number("Value", value)?.ok_or("Value is needed")?;
    if unit.trim().is_empty() {
        return Err("Unit is needed (\"1\" for a result without one)".into());
    }
    let mut data = json!({
        "loinc": order.loinc,
        "name": order.name,
        "value": value,
        "unit": unit.trim(),
        "order": order.entry_id,
    });
    for (key, text) in [("low", low), ("high", high)] {
        if let Some(v) = typed_number(if key == "low" { "Low" } else { "High" }, text)? {
            data[key] = json!(v);
        }
    }
    Ok(data)
}

/// Orders waiting for results, most urgent and then oldest first.
#[component]
pub fn Worklist() -> impl IntoView {
    let rows = RwSignal::new(None::<Result<Vec<WorklistRow>, String>>);
    let reload = RwSignal::new(0u32);
    let said = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        reload.track();
        spawn_local(async move {
            let list = call::<Vec<WorklistRow>>(commands::WORKLIST)
                .await
                .map_err(|e| e.message);
            rows.set(Some(list));
        });
    });
    let list = move || {
        match rows.get() {
        None => view! { <p class="hint">"Loading the orders…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="hint" id="worklist-empty">"No orders are waiting for a result."</p> }
                .into_any()
        }
        Some(Ok(list)) => view! {
            <ul class="worklist" id="worklist-orders">
                {list.into_iter().map(|order| view! { <OrderRow order=order reload=reload said=said/> }).collect_view()}
            </ul>
        }
        .into_any(),
    }
    };
    view! {
        <section id="worklist" class="card" aria-labelledby="worklist-heading">
            <h1 id="worklist-heading">"Orders waiting for results"</h1>
            <p class="hint">"The orders of this clinic's patients. Each patient sees in their record that the lab looked at their orders; the rest of the chart stays closed."</p>
            <button id="worklist-refresh" type="button" class="secondary"
                on:click=move |_| reload.update(|n| *n = n.wrapping_add(1))>"Refresh"</button>
            {result_line("worklist-status", said)}
            {list}
        </section>
    }
}

/// One order: the patient, the test, and the result form.
#[component]
fn OrderRow(
    order: WorklistRow,
    reload: RwSignal<u32>,
    said: RwSignal<Option<Result<String, String>>>,
) -> impl IntoView {
    let ctx = Ctx::get();
    let value = RwSignal::new(String::new());
    let unit = RwSignal::new(order.unit.clone().unwrap_or_default());
    let low = RwSignal::new(order.low.map(|v| v.to_string()).unwrap_or_default());
    let high = RwSignal::new(order.high.map(|v| v.to_string()).unwrap_or_default());
    let busy = RwSignal::new(false);
    let who = order
        .patient_name
        .clone()
        .unwrap_or_else(|| "Name sealed".into());
    let identity = format!(
        "born {} · {} · card {}",
        order.birth_date.as_deref().unwrap_or("?"),
        order.sex.as_deref().unwrap_or("?"),
        order.card_number
    );
    let ordered = format!(
        "ordered by {} on {}",
        order.ordered_by,
        order
            .ordered_at
            .replace('T', " ")
            .chars()
            .take(16)
            .collect::<String>()
    );
    let urgent = (order.priority != "routine").then(|| {
        view! { <span class="badge urgent">{order.priority.clone()}</span> }
    });
    let note = order
        .note
        .clone()
        .map(|n| view! { <p class="note">"Note: "{n}</p> });
    let key = order.entry_id.clone();
    let field = move |what: &str| format!("{what}-{key}");
    let (value_id, unit_id, low_id, high_id) = (
        field("result-value"),
        field("result-unit"),
        field("result-low"),
        field("result-high"),
    );
    let order = StoredValue::new(order);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let order = order.get_value();
        let data = match result_data(
            &order,
            &value.get_untracked(),
            &unit.get_untracked(),
            &low.get_untracked(),
            &high.get_untracked(),
        ) {
            Ok(d) => d,
            Err(e) => {
                said.set(Some(Err(e)));
                return;
            }
        };
        let words = format!(
            "Saved: {} {} {} for {}",
            order.name,
            value.get_untracked().trim(),
            unit.get_untracked().trim(),
            order.patient_name.clone().unwrap_or_default()
        );
        let args = NewEntry {
            patient_id: order.patient_id.clone(),
            kind: EntryKind::Lab,
            data,
            amends: None,
            encounter: None,
            allergy_override: None,
        };
        submit(
            ctx,
            commands::ADD_ENTRY,
            args,
            busy,
            said,
            move |_: String| {
                reload.update(|n| *n = n.wrapping_add(1));
                Some(words)
            },
        );
    };
    let entry_id = order.with_value(|o| o.entry_id.clone());
    let test = order.with_value(|o| format!("{} ({})", o.name, o.loinc));
    view! {
        <li class="worklist-order" id=format!("order-{entry_id}") data-entry-id=entry_id.clone()
            data-loinc=order.with_value(|o| o.loinc.clone())>
            <p><strong class="order-patient">{who}</strong>" "<span class="meta">{identity}</span></p>
            <p><strong class="order-test">{test}</strong>{urgent}" "<span class="meta">{ordered}</span></p>
            {note}
            <form class="result-form" on:submit=save>
                <div><label for=value_id.clone()>"Value *"</label>
                    <input id=value_id class="result-value" inputmode="decimal" autocomplete="off"
                        prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/></div>
                <div><label for=unit_id.clone()>"Unit *"</label>
                    <input id=unit_id class="result-unit" autocomplete="off"
                        prop:value=unit on:input=move |ev| unit.set(event_target_value(&ev))/></div>
                <div><label for=low_id.clone()>"Low"</label>
                    <input id=low_id class="result-low" inputmode="decimal" autocomplete="off"
                        prop:value=low on:input=move |ev| low.set(event_target_value(&ev))/></div>
                <div><label for=high_id.clone()>"High"</label>
                    <input id=high_id class="result-high" inputmode="decimal" autocomplete="off"
                        prop:value=high on:input=move |ev| high.set(event_target_value(&ev))/></div>
                <button type="submit" class="result-save" disabled=move || busy.get()>"Save result"</button>
            </form>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glucose() -> WorklistRow {
        WorklistRow {
            patient_id: "p".into(),
            patient_name: Some("Elena Marsh".into()),
            birth_date: Some("1958-04-12".into()),
            sex: Some("female".into()),
            card_number: "1234 5678 9012 3".into(),
            entry_id: "e".repeat(64),
            loinc: "2345-7".into(),
            name: "Glucose".into(),
            priority: "routine".into(),
            note: None,
            ordered_at: "2026-12-07T10:00:00Z".into(),
            ordered_by: "Dr Amara Osei".into(),
            unit: Some("mmol/L".into()),
            low: Some(3.9),
            high: Some(5.6),
        }
    }

    #[test]
    fn a_result_names_its_order_and_reads_a_decimal_comma() {
        let data = result_data(&glucose(), "7,9", " mmol/L ", "3.9", "").unwrap();
        assert_eq!(
            data,
            json!({"loinc": "2345-7", "name": "Glucose", "value": 7.9, "unit": "mmol/L",
                   "low": 3.9, "order": "e".repeat(64)})
        );
    }

    #[test]
    fn a_result_without_a_value_or_unit_or_with_words_is_refused() {
        let order = glucose();
        assert_eq!(
            result_data(&order, " ", "mmol/L", "", ""),
            Err("Value is needed".into())
        );
        assert!(
            result_data(&order, "5", "", "", "")
                .unwrap_err()
                .contains("Unit")
        );
        assert!(
            result_data(&order, "high", "mmol/L", "", "")
                .unwrap_err()
                .contains("`high` is not a number")
        );
        assert!(
            result_data(&order, "5", "mmol/L", "x", "")
                .unwrap_err()
                .starts_with("Low")
        );
    }
}
