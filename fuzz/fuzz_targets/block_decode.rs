//! `Block::from_bytes`: the decoder of every block from a peer, a bundle or the disk.
#![no_main]

use carelog_ledger::Block;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(block) = Block::from_bytes(bytes) {
        let again = Block::from_bytes(&block.to_bytes()).expect("a decoded block re-decodes");
        assert_eq!(again, block);
        let _ = block.hash();
    }
});
