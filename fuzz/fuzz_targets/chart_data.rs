//! `EntryData::parse`: the CLI's and the window's `--data` JSON for each entry kind; and
//! `EntryData::from_bytes`, the decoder of an opened sealed payload.
#![no_main]

use carelog_chart::{EntryData, EntryKind};
use carelog_fuzz::check_entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(data) = EntryData::from_bytes(bytes) {
        check_entry(&data);
    }
    // The first byte picks the kind, the rest is the `--data` text.
    let Some((&pick, rest)) = bytes.split_first() else {
        return;
    };
    let kind = EntryKind::ALL[usize::from(pick) % EntryKind::ALL.len()];
    let Ok(json) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(data) = EntryData::parse(kind, json) {
        assert_eq!(data.kind(), kind);
        check_entry(&data);
    }
});
