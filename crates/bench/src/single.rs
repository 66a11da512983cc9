//! One doctor at one clinic: durable chart saves one after another, then views of the chart.

use std::time::Instant;

use serde_json::json;

use crate::Error;
use crate::measure::Latencies;

/// What one doctor alone measured.
pub struct Single {
    /// Entries saved, each flushed before the next.
    pub saves: Latencies,
    /// Views of the whole chart, each recording an audited read.
    pub shows: Latencies,
    /// Entries in the chart viewed.
    pub entries: usize,
}

/// Saves `entries` entries for one patient, then shows the chart `shows` times.
pub fn measure(entries: usize, shows: usize) -> Result<Single, Error> {
    let dir = tempfile::tempdir()?;
    let crate::BenchClinic {
        mut node,
        doctor,
        patient,
        ..
    } = crate::bench_clinic(&dir.path().join("bench"))?;
    let doc = node.unlock(doctor, crate::STAFF_PASSPHRASE)?;

    eprintln!("durable chart saves: {entries} entries for one patient");
    let mut saves = Latencies(Vec::with_capacity(entries));
    for i in 0..entries {
        let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20), "heart_rate": 60 + (i % 30)}).to_string();
        let started = Instant::now();
        node.add_entry(&doc, patient, "vitals", &data, None)?;
        saves.0.push(started.elapsed());
    }
    eprintln!(
        "chart show of a {entries}-entry chart, {shows} times (each records an audited read)"
    );
    let mut reads = Latencies(Vec::with_capacity(shows));
    for _ in 0..shows {
        let started = Instant::now();
        let view = node.chart(&doc, patient, "bench")?;
        reads.0.push(started.elapsed());
        let shown = view["entries"].as_array().map_or(0, Vec::len);
        if shown < entries {
            return Err(format!("the chart showed {shown} of {entries} entries").into());
        }
    }
    Ok(Single {
        saves,
        shows: reads,
        entries,
    })
}
