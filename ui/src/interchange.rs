//! HL7 v2 and FHIR R4 in the window: export the open chart (at the reader's level), import
//! results a lab analyzer or another system sent.

use carelog_desktop_api::{
    ChooseExportFile, ExportChart, Exported, ImportRecords, Imported, PrintDocument, SavedFile,
    commands,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::call_with;
use crate::app::{Ctx, result_line, submit};

/// "Export HL7 v2" / "Export FHIR R4" for the chart on screen: saved where the person chooses
/// (the system's save dialog, or a typed path), readable by their account only, and shown for
/// copying. The card says that the file is unencrypted health information.
#[component]
pub fn ExportCard(patient_id: String) -> impl IntoView {
    let ctx = Ctx::get();
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let shown = RwSignal::new(None::<String>);
    let path = RwSignal::new(String::new());
    let patient = StoredValue::new(patient_id);
    let choose = move |format: &'static str| {
        spawn_local(async move {
            let args = ChooseExportFile {
                format: format.into(),
            };
            match call_with::<_, Option<String>>(commands::CHOOSE_EXPORT_FILE, &args).await {
                Ok(Some(chosen)) => path.set(chosen),
                Ok(None) => {}
                Err(e) => message.set(Some(Err(e.message))),
            }
        });
    };
    let export = move |format: &'static str| {
        if path.get_untracked().trim().is_empty() {
            message.set(Some(Err(
                "Choose where to save the export first (\"Choose…\", or type a path).".into(),
            )));
            return;
        }
        let args = ExportChart {
            patient_id: patient.get_value(),
            format: format.into(),
            path: path.get_untracked(),
        };
        submit(
            ctx,
            commands::EXPORT_CHART,
            args,
            busy,
            message,
            move |done: Exported| {
                shown.set(Some(done.text));
                Some(format!(
                    "Saved to {} (readable by your account only). It is unencrypted: delete it once it has been sent.",
                    done.file
                ))
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="export-heading">
            <h2 id="export-heading">"Export"</h2>
            <p class="hint">"The export holds what you may see of this chart, and is recorded in the patient's access log."</p>
            <p id="export-warning" class="error">"An export is unencrypted health information: save it only where it stays protected (not a shared or synced folder), and delete it once it has been sent."</p>
            <label for="export-path">"Save to"</label>
            <input id="export-path" autocomplete="off" spellcheck="false" placeholder="/path/to/chart-export.hl7"
                prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
            <button id="export-choose-hl7" type="button" class="secondary" disabled=move || busy.get()
                on:click=move |_| choose("hl7")>"Choose… (HL7)"</button>
            <button id="export-choose-fhir" type="button" class="secondary" disabled=move || busy.get()
                on:click=move |_| choose("fhir")>"Choose… (FHIR)"</button>
            <br/>
            <button id="export-hl7" type="button" class="secondary" disabled=move || busy.get()
                on:click=move |_| export("hl7")>"Export HL7 v2"</button>
            <button id="export-fhir" type="button" class="secondary" disabled=move || busy.get()
                on:click=move |_| export("fhir")>"Export FHIR R4"</button>
            {result_line("export-status", message)}
            {move || shown.get().map(|text| view! {
                <label for="export-text">"The message"</label>
                <textarea id="export-text" class="message" readonly=true rows="10">{text}</textarea>
            })}
        </section>
    }
}

/// Print a visit summary, a referral letter or a prescription as a PDF, saved where the person
/// chooses (then printed from any PDF viewer); recorded in the patient's access log.
#[component]
pub fn PrintCard(patient_id: String) -> impl IntoView {
    let ctx = Ctx::get();
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let document = RwSignal::new("visit".to_string());
    let to = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let path = RwSignal::new(String::new());
    let patient = StoredValue::new(patient_id);
    let choose = move |_| {
        spawn_local(async move {
            let args = ChooseExportFile {
                format: "pdf".into(),
            };
            match call_with::<_, Option<String>>(commands::CHOOSE_EXPORT_FILE, &args).await {
                Ok(Some(chosen)) => path.set(chosen),
                Ok(None) => {}
                Err(e) => message.set(Some(Err(e.message))),
            }
        });
    };
    let print = move |_| {
        let filled = |t: String| Some(t).filter(|t| !t.trim().is_empty());
        let args = PrintDocument {
            patient_id: patient.get_value(),
            document: document.get_untracked(),
            visit: None,
            to: filled(to.get_untracked()),
            reason: filled(reason.get_untracked()),
            path: path.get_untracked(),
        };
        submit(
            ctx,
            commands::PRINT_DOCUMENT,
            args,
            busy,
            message,
            move |done: SavedFile| Some(format!("Saved to {}: open it to print.", done.file)),
        );
    };
    view! {
        <section class="card" aria-labelledby="print-heading">
            <h2 id="print-heading">"Print"</h2>
            <p class="hint">"A visit summary, a referral letter or a prescription as a PDF with the clinic's name. Printing is recorded in the patient's access log."</p>
            <label for="print-document">"Document"</label>
            <select id="print-document" on:change=move |ev| document.set(event_target_value(&ev))>
                <option value="visit" selected=true>"Visit summary (latest visit)"</option>
                <option value="referral">"Referral letter"</option>
                <option value="prescription">"Prescription (current medications)"</option>
            </select>
            {move || (document.get() == "referral").then(|| view! {
                <label for="print-to">"To"</label>
                <input id="print-to" autocomplete="off" prop:value=to on:input=move |ev| to.set(event_target_value(&ev))
                    placeholder="e.g. Dr Lukas Brandt, cardiology"/>
                <label for="print-reason">"Reason for referral"</label>
                <input id="print-reason" autocomplete="off" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
            })}
            <label for="print-path">"Save to"</label>
            <input id="print-path" autocomplete="off" spellcheck="false" placeholder="/path/to/visit-summary.pdf"
                prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
            <button id="print-choose" type="button" class="secondary" disabled=move || busy.get() on:click=choose>"Choose…"</button>
            <button id="print-submit" type="button" disabled=move || busy.get() on:click=print>"Save PDF"</button>
            {result_line("print-status", message)}
        </section>
    }
}

/// Import lab results (HL7 ORU^R01) or a FHIR R4 Bundle from a file or pasted text.
/// `imported` hears the patient id of each successful import (the desk opens that chart).
#[component]
pub fn ImportCard(imported: Callback<String>) -> impl IntoView {
    let ctx = Ctx::get();
    let format = RwSignal::new("hl7".to_string());
    let path = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let path = path.get_untracked();
        let text = text.get_untracked();
        let args = ImportRecords {
            format: format.get_untracked(),
            path: (!path.trim().is_empty()).then_some(path),
            text: (!text.trim().is_empty()).then_some(text),
        };
        submit(
            ctx,
            commands::IMPORT_RECORDS,
            args,
            busy,
            message,
            move |done: Imported| {
                imported.run(done.patient_id.clone());
                let mut said = format!(
                    "Imported {} entr{} into the chart of patient {}…",
                    done.entries,
                    if done.entries == 1 { "y" } else { "ies" },
                    done.patient_id.chars().take(12).collect::<String>()
                );
                for warning in done.warnings {
                    said.push_str(&format!(" Note: {warning}."));
                }
                Some(said)
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="import-heading">
            <h2 id="import-heading">"Import results"</h2>
            <form on:submit=send>
                <label for="import-format">"Format"</label>
                <select id="import-format" on:change=move |ev| format.set(event_target_value(&ev))>
                    <option value="hl7" selected=true>"HL7 v2 ORU^R01 (lab analyzers, LIS)"</option>
                    <option value="fhir">"FHIR R4 Bundle (JSON)"</option>
                </select>
                <label for="import-path">"File on this computer"</label>
                <input id="import-path" autocomplete="off" spellcheck="false" placeholder="/path/to/results.hl7"
                    prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
                <label for="import-text">"…or paste the message"</label>
                <textarea id="import-text" class="message" rows="6" spellcheck="false"
                    prop:value=text on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                <button id="import-submit" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Importing…" } else { "Import" }}
                </button>
            </form>
            {result_line("import-status", message)}
        </section>
    }
}
