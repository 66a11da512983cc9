//! `carelog-bench`: HealthyBlock's single-node experiments on this machine, with ratios.
//!
//! Run through `cargo xtask bench [--quick]`; writes `target/bench/report.json`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use carelog_ledger::Role;
use carelog_node::{NewNetwork, Node};
use serde_json::json;

/// HealthyBlock's published figures (seed 001) at its lightest load.
const HB_INSERT_AVG_MS: f64 = 633.0;
const HB_QUERY_AVG_MS: f64 = 58.0;

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self.0.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[rank.min(v.len() - 1)]
    }

    fn mean(&self) -> f64 {
        self.0.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / self.0.len().max(1) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench"));
    std::fs::create_dir_all(&out)?;
    let entries = if quick { 200 } else { 1_000 };
    let shows = if quick { 20 } else { 100 };

    let dir = tempfile::tempdir()?;
    let (mut node, created) = Node::create_network(
        &dir.path().join("bench"),
        &NewNetwork {
            network: "Bench",
            clinic: "North",
            admin: "Admin",
            admin_passphrase: "bench-admin",
        },
    )?;
    let admin = node.unlock(created.admin_id, "bench-admin")?;
    let doctor = node.add_user(&admin, Role::Doctor, "Dr Bench", None, "bench-doctor")?;
    let patient =
        node.register_patient(&admin, "Bench Patient", "1970-01-01", "other", "bench-pin")?;
    node.assign(&admin, patient, doctor, true)?;
    let doc = node.unlock(doctor, "bench-doctor")?;

    eprintln!("durable chart saves: {entries} entries for one patient");
    let mut saves = Latencies(Vec::with_capacity(entries));
    for i in 0..entries {
        let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20), "heart_rate": 60 + (i % 30)}).to_string();
        let started = Instant::now();
        node.add_entry(&doc, patient, "vitals", &data, None)?;
        saves.0.push(started.elapsed());
        if (i + 1) % 100 == 0 {
            eprintln!("  {} / {entries}", i + 1);
        }
    }
    eprintln!(
        "chart show of a {entries}-entry chart, {shows} times (each also records an audited read)"
    );
    let mut reads = Latencies(Vec::with_capacity(shows));
    for _ in 0..shows {
        let started = Instant::now();
        let view = node.chart(&doc, patient, "bench")?;
        reads.0.push(started.elapsed());
        assert!(view["entries"].as_array().map_or(0, Vec::len) >= entries);
    }
    let throughput = entries as f64 / saves.0.iter().map(Duration::as_secs_f64).sum::<f64>();

    let rows = [
        (
            "chart save (durable)",
            saves.mean(),
            saves.percentile(50.0),
            saves.percentile(99.0),
            HB_INSERT_AVG_MS,
            10.0,
        ),
        (
            "chart show",
            reads.mean(),
            reads.percentile(50.0),
            reads.percentile(99.0),
            HB_QUERY_AVG_MS,
            20.0,
        ),
    ];
    println!(
        "\n{:<22} {:>9} {:>9} {:>9} {:>12} {:>10} {:>9}",
        "single clinic", "avg ms", "p50 ms", "p99 ms", "HB avg ms", "HB/ours", "target"
    );
    let mut report = Vec::new();
    for (name, avg, p50, p99, hb, target) in rows {
        println!(
            "{name:<22} {avg:>9.2} {p50:>9.2} {p99:>9.2} {hb:>12.0} {:>9.0}x {:>6} p99<{target}",
            hb / avg,
            if p99 < target { "met" } else { "MISSED" }
        );
        report.push(json!({"name": name, "avg_ms": avg, "p50_ms": p50, "p99_ms": p99, "healthyblock_avg_ms": hb, "ratio": hb / avg, "target_p99_ms": target, "met": p99 < target}));
    }
    println!("sequential durable saves: {throughput:.0}/s (HealthyBlock: 600 TPS at best)");
    let resync = resync_rows(quick)?;
    let report = json!({"quick": quick, "entries": entries, "rows": report, "sequential_saves_per_s": throughput, "resync": resync});
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to {}", out.join("report.json").display());
    Ok(())
}

/// HealthyBlock's resync after reconnect (ms) for 50, 100, 200, 500 and 1,000 records.
const HB_RESYNC_MS: [(usize, f64); 5] = [
    (50, 275.0),
    (100, 322.0),
    (200, 402.0),
    (500, 564.0),
    (1_000, 802.0),
];

/// North charts N records while South is offline; South then syncs over loopback QUIC.
fn resync_rows(quick: bool) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    use std::sync::{Arc, Mutex};
    let sizes: &[usize] = if quick {
        &[50, 100, 200, 500, 1_000]
    } else {
        &[50, 100, 200, 500, 1_000, 10_000]
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "\n{:<22} {:>12} {:>12} {:>10}",
        "resync over QUIC", "ours ms", "HB ms", "HB/ours"
    );
    let mut rows = Vec::new();
    for &n in sizes {
        let dir = tempfile::tempdir()?;
        let (mut north, created) = Node::create_network(
            &dir.path().join("north"),
            &NewNetwork {
                network: "Bench",
                clinic: "North",
                admin: "Admin",
                admin_passphrase: "bench-admin",
            },
        )?;
        let request = dir.path().join("req.json");
        Node::request_join(
            &dir.path().join("south"),
            "South",
            "South Admin",
            "bench-admin",
            &request,
        )?;
        let (_, invite) = north.approve(&std::fs::read(&request)?, &[])?;
        let south = Node::join(&dir.path().join("south"), &invite)?;
        let admin = north.unlock(created.admin_id, "bench-admin")?;
        let doctor = north.add_user(&admin, Role::Doctor, "Dr Bench", None, "bench-doctor")?;
        let patient =
            north.register_patient(&admin, "Bench Patient", "1970-01-01", "other", "bench-pin")?;
        north.assign(&admin, patient, doctor, true)?;
        let doc = north.unlock(doctor, "bench-doctor")?;
        for i in 0..n {
            let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20)}).to_string();
            north.add_entry(&doc, patient, "vitals", &data, None)?;
        }
        let addr = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let server = rt.spawn(carelog_node::serve(
            north,
            addr,
            Vec::new(),
            shutdown,
            |_| {},
        ));
        std::thread::sleep(Duration::from_millis(300));
        let south = Arc::new(Mutex::new(south));
        let started = Instant::now();
        let report = rt.block_on(carelog_node::sync_once(
            &south,
            addr,
            Duration::from_secs(120),
        ))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let _ = stop.send(true);
        let _ = rt.block_on(server);
        assert!(
            report.received_blocks >= n,
            "south received {} of {n}",
            report.received_blocks
        );
        let hb = HB_RESYNC_MS.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        match hb {
            Some(hb) => println!(
                "{:<22} {ms:>12.1} {hb:>12.0} {:>9.1}x",
                format!("{n} records"),
                hb / ms
            ),
            None => println!(
                "{:<22} {ms:>12.1} {:>12} {:>10}",
                format!("{n} records"),
                "-",
                "-"
            ),
        }
        rows.push(json!({"records": n, "ms": ms, "healthyblock_ms": hb, "blocks": report.received_blocks}));
    }
    Ok(rows)
}
