//! `from_fhir` on JSON bytes: FHIR R4 bundles from other systems, as the node imports them.
#![no_main]

use carelog_fuzz::check_entry;
use carelog_interop::from_fhir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    if let Ok(import) = from_fhir(&json) {
        for (_, data) in &import.entries {
            check_entry(data);
        }
        if let Some(d) = &import.demographics {
            check_entry(&carelog_chart::EntryData::Demographics(d.clone()));
        }
    }
});
