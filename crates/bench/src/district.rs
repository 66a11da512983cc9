//! A district of many clinics in the seeded sync simulation (`carelog_sync::district`): hubs
//! that are usually online, clinics offline most of the time, partitions between hubs that heal
//! and new blocks sealed all along. Time is simulated; bytes are every frame the real codec
//! encodes. Two sizes run, the asked-for one and a tenth of it with the same new blocks, so the
//! table shows what grows with the number of clinics and what does not.

use std::fmt::Write;

use carelog_sync::district::{Plan, Report, run};
use serde_json::{Value, json};

use crate::Error;

/// New blocks sealed during each run.
const NEW_BLOCKS: usize = 300;
/// The seed (a failure names it; the same seed replays the same run).
const SEED: u64 = 1;

/// The asked-for district and one a tenth its size.
pub struct District {
    /// A tenth of the clinics.
    pub small: Report,
    /// The asked-for number of clinics.
    pub large: Report,
}

/// Runs both sizes.
pub fn measure(clinics: usize) -> Result<District, Error> {
    let small = (clinics / 10).max(10);
    eprintln!("district simulation: {small} and {clinics} clinics, {NEW_BLOCKS} new blocks");
    let small = run(&Plan::district(small, NEW_BLOCKS, SEED))?;
    let large = run(&Plan::district(clinics, NEW_BLOCKS, SEED))?;
    Ok(District { small, large })
}

/// The table printed after a run.
pub fn table(d: &District) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nA district in the seeded sync simulation ({} new blocks, seed {}; hubs usually online, \
         clinics online ~15% of the time, partitions between hubs that heal; simulated time)",
        d.large.sealed, d.large.seed
    );
    let _ = writeln!(
        t,
        "{:>8} {:>5} | {:>10} {:>9} | {:>13} {:>13} {:>10} {:>11} | {:>10} {:>12} | {:>7}",
        "clinics",
        "hubs",
        "converge",
        "quiet",
        "clinic B/blk",
        "protocol B",
        "block B",
        "dup ratio",
        "hub B/blk",
        "max queue",
        "run s"
    );
    for r in [&d.small, &d.large] {
        let _ = writeln!(
            t,
            "{:>8} {:>5} | {:>7} ms {:>6} ms | {:>13.0} {:>13.0} {:>10.0} {:>11.2} | {:>10.0} {:>9} kB | {:>7.1}",
            r.clinics,
            r.hubs,
            r.converge_ms,
            r.quiet_ms,
            r.clinic_bytes_per_block,
            r.clinic_protocol_bytes_per_block,
            r.block_bytes,
            r.duplicate_ratio,
            r.hub_bytes_per_block,
            r.largest_queue_bytes / 1024,
            r.wall.as_secs_f64()
        );
    }
    let _ = writeln!(
        t,
        "(clinic B/blk: bytes a clinic sent and received per new block; protocol B: of those, \
         all but block bytes; block B: a new block's mean size, which grows with the heads it \
         links; dup ratio: block bytes received over those needed)"
    );
    t
}

fn report_json(r: &Report) -> Value {
    json!({
        "clinics": r.clinics,
        "hubs": r.hubs,
        "seed": r.seed,
        "new_blocks": r.sealed,
        "block_bytes_mean": r.block_bytes,
        "converge_ms_simulated": r.converge_ms,
        "quiet_ms_simulated": r.quiet_ms,
        "bytes": r.bytes,
        "clinic_bytes_per_block": r.clinic_bytes_per_block,
        "clinic_protocol_bytes_per_block": r.clinic_protocol_bytes_per_block,
        "hub_bytes_per_block": r.hub_bytes_per_block,
        "duplicate_ratio": r.duplicate_ratio,
        "largest_queue_frames": r.largest_queue_frames,
        "largest_queue_bytes": r.largest_queue_bytes,
        "frames": r.frames,
        "frame_bytes": r.frame_bytes,
        "connections": r.connections,
        "partitions": r.partitions,
        "run_s": r.wall.as_secs_f64(),
    })
}

/// For `report.json`.
pub fn json(d: &District) -> Value {
    json!({ "small": report_json(&d.small), "large": report_json(&d.large) })
}
