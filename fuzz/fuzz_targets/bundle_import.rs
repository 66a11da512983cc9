//! `PatientBundle::from_bytes`: the parsing half of `Node::import_bundle` (a patient-carried file).
#![no_main]

use carelog_ledger::Block;
use carelog_node::PatientBundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(bundle) = PatientBundle::from_bytes(bytes) {
        for block in &bundle.blocks {
            let again = Block::from_bytes(&block.to_bytes()).expect("a bundled block re-decodes");
            assert_eq!(&again, block);
        }
    }
});
