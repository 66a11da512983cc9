//! `carelog_sync::decode`: every message a peer sends, and the blocks it carries.
#![no_main]

use carelog_ledger::Block;
use carelog_sync::{Frame, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame) = decode(bytes) {
        let again = decode(&encode(&frame)).expect("a decoded frame re-decodes");
        assert_eq!(again, frame);
        // The node decodes the block bytes a frame carries next.
        match &frame {
            Frame::Blocks { blocks } => {
                for block in blocks {
                    let _ = Block::from_bytes(block);
                }
            }
            Frame::Push { block } => {
                let _ = Block::from_bytes(block);
            }
            _ => {}
        }
    }
});
