//! `parse_oru_batch` (and so `parse_oru`): HL7 v2 results from analyzers, LIS systems and EHRs.
#![no_main]

use carelog_fuzz::check_entry;
use carelog_interop::parse_oru_batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // The node reads import files as UTF-8 text; other bytes are refused before parsing.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(messages) = parse_oru_batch(text) {
        for message in &messages {
            for (_, data) in &message.results {
                check_entry(data);
            }
            if let Some(d) = &message.demographics {
                check_entry(&carelog_chart::EntryData::Demographics(d.clone()));
            }
        }
    }
});
