//! HealthyBlock's published figures (seed 001, section 5.3), the yardstick of every table.
//!
//! The paper prints most of its results only as plots (Figures 15–18); its text gives the ranges
//! quoted below and, for throughput, one figure per load. Where the text gives only a range, its
//! ends are placed at the lightest and heaviest load (both grow with load, as the text says), and
//! the loads between are left blank rather than read off a plot we do not have.

/// Concurrent users HealthyBlock ran (Table 1: JMeter threads, 60 s ramp-up, 300 s duration).
pub const USERS: [usize; 5] = [50, 100, 200, 500, 1_000];

/// "For the analyzed user groups (50, 100, 200, 500, and 1000), a maximum number of transactions
/// per second was obtained for each group (110, 120, 200, 240, and 600, respectively)."
pub const MAX_TPS: [(usize, f64); 5] = [
    (50, 110.0),
    (100, 120.0),
    (200, 200.0),
    (500, 240.0),
    (1_000, 600.0),
];

/// Query requests: "an average latency range of 58 ms to 622 ms".
pub const QUERY_AVG_MS: [(usize, f64); 2] = [(50, 58.0), (1_000, 622.0)];

/// Insert requests: "an average latency range of 633 ms to 10,676 ms".
pub const INSERT_AVG_MS: [(usize, f64); 2] = [(50, 633.0), (1_000, 10_676.0)];

/// "The prototype performance was 99.54% for high-concurrency scenarios greater than 900 users."
pub const SUCCESS_PERCENT: [(usize, f64); 1] = [(1_000, 99.54)];

/// "Memory usage for these request ranges increased from approximately 95 MB to 430 MB."
pub const MEMORY_MB: [(usize, f64); 2] = [(50, 95.0), (1_000, 430.0)];

/// "The average CPU usage remained practically constant at approximately 13%" (of a 4-core server).
pub const CPU_PERCENT: f64 = 13.0;

/// Resync after reconnect with 50, 100, 300, 500 and 1,000 records loaded meanwhile (Figure 17):
/// "the latency times had a minimum of 275 ms and a maximum of 802 ms".
pub const RESYNC_RECORDS: [usize; 5] = [50, 100, 300, 500, 1_000];
/// The ends of that range, at the fewest and the most records.
pub const RESYNC_MS: [(usize, f64); 2] = [(50, 275.0), (1_000, 802.0)];

/// HealthyBlock's throughput at a load it did not run, read off the straight line between the
/// two loads it ran on either side (the nearest end outside them).
pub fn rate_between(load: usize) -> Option<f64> {
    let below = MAX_TPS.iter().rev().find(|(k, _)| *k <= load);
    let above = MAX_TPS.iter().find(|(k, _)| *k >= load);
    match (below, above) {
        (Some(&(a, ta)), Some(&(b, tb))) if b > a => {
            Some(ta + (tb - ta) * (load - a) as f64 / (b - a) as f64)
        }
        (Some(&(_, t)), _) | (None, Some(&(_, t))) => Some(t),
        (None, None) => None,
    }
}

/// The published figure at `load`, if the paper gives one there.
pub fn at(table: &[(usize, f64)], load: usize) -> Option<f64> {
    table.iter().find(|(k, _)| *k == load).map(|(_, v)| *v)
}

/// How the figures were read, for the report.
pub const SOURCE: &str = "HealthyBlock (seed 001), section 5.3: throughput per load is \
printed in the text; latency, memory and resync are given only as ranges, placed at the \
lightest and heaviest load; other loads are left blank rather than read off the plots.";
