//! The canonical decoder of a signed transaction (`carelog_ledger::from_bytes::<SignedTx>`).
#![no_main]

use carelog_ledger::{SignedTx, from_bytes, to_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(stx) = from_bytes::<SignedTx>("transaction", bytes) {
        let again: SignedTx =
            from_bytes("transaction", &to_bytes(&stx)).expect("a decoded transaction re-decodes");
        assert_eq!(again, stx);
        assert_eq!(again.id(), stx.id());
    }
});
