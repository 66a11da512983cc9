//! The tables printed after a run, `report.json`, and the latency chart.
//!
//! Every ratio reads "times better than HealthyBlock": published latency, memory or resync time
//! divided by ours, and our throughput divided by the published one.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::healthyblock as hb;
use crate::measure::cores;
use crate::plot::{Chart, Series};
use crate::pouchdb::Comparison;
use crate::resync::Resync;
use crate::scale::Scale;
use crate::single::Single;
use crate::sweep::{Level, Mode, Plan};

/// Everything one run measured.
pub struct Report<'a> {
    /// A smaller run.
    pub quick: bool,
    /// The sweep's size.
    pub plan: &'a Plan,
    /// One doctor alone.
    pub single: &'a Single,
    /// The sweep, each load in every mode.
    pub levels: &'a [Level],
    /// Resync times.
    pub resyncs: &'a [Resync],
    /// PouchDB beside Carelog, when it ran.
    pub pouchdb: Option<&'a Comparison>,
    /// The large ledger, when it ran.
    pub scale: Option<&'a Scale>,
    /// The front desk's patient search, when it ran.
    pub search: Option<&'a crate::search::Search>,
    /// An entry reaching the other machines of one clinic, when it ran.
    pub devices: Option<&'a crate::devices::Propagation>,
    /// A new entry reaching ten clinics, when it ran.
    pub ten_clinics: Option<&'a crate::propagation::TenClinics>,
    /// The district simulation, when it ran.
    pub district: Option<&'a crate::district::District>,
    /// The whole run.
    pub seconds: f64,
}

/// Prints one load's result as soon as it is measured.
pub fn progress(level: &Level) {
    eprintln!(
        "    {:.0} requests/s, insert p99 {:.1} ms, query p99 {:.1} ms, {} blocks, {} failed",
        level.ops_per_s(),
        level.inserts.percentile(99.0),
        level.queries.percentile(99.0),
        level.blocks,
        level.failed
    );
    if let Some(failure) = &level.first_failure {
        eprintln!("    first failure: {failure}");
    }
}

/// KiB as MB.
pub fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A published figure, or a dash where the paper gives none at this load.
fn published(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

/// A ratio such as "12.3x", or a dash.
fn times(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v >= 100.0 => format!("{v:.0}x"),
        Some(v) if v.is_finite() => format!("{v:.1}x"),
        _ => "—".into(),
    }
}

impl Report<'_> {
    fn level(&self, sessions: usize, mode: Mode) -> Option<&Level> {
        self.levels
            .iter()
            .find(|l| l.sessions == sessions && l.mode == mode)
    }

    /// The human-readable tables.
    pub fn tables(&self) -> String {
        let mut t = String::new();
        let s = self.single;
        let _ = writeln!(
            t,
            "\nOne doctor alone ({} entries; HB: HealthyBlock's average at 50 users)",
            s.entries
        );
        let _ = writeln!(
            t,
            "{:<22} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "", "avg ms", "p50 ms", "p99 ms", "HB avg", "HB/ours"
        );
        for (name, l, hb) in [
            ("chart save (durable)", &s.saves, hb::INSERT_AVG_MS[0].1),
            ("chart show + audit", &s.shows, hb::QUERY_AVG_MS[0].1),
        ] {
            let _ = writeln!(
                t,
                "{name:<22} {:>8.2} {:>8.2} {:>8.2} {hb:>9.0} {:>8}",
                l.mean(),
                l.percentile(50.0),
                l.percentile(99.0),
                times(Some(hb / l.mean()))
            );
        }

        let _ = writeln!(
            t,
            "\nConcurrent sessions: latency in ms ({} requests per session, half entries, half \
             chart views; HB: HealthyBlock's average)",
            self.plan.ops_per_session
        );
        let _ = writeln!(
            t,
            "{:>8} {:<16} | {:>7} {:>7} {:>8} {:>7} {:>7} | {:>7} {:>7} {:>8} {:>7} {:>7}",
            "sessions",
            "mode",
            "ins avg",
            "p50",
            "p99",
            "HB avg",
            "HB/ours",
            "qry avg",
            "p50",
            "p99",
            "HB avg",
            "HB/ours"
        );
        for l in self.levels {
            let hb_ins = hb::at(&hb::INSERT_AVG_MS, l.sessions);
            let hb_qry = hb::at(&hb::QUERY_AVG_MS, l.sessions);
            let _ = writeln!(
                t,
                "{:>8} {:<16} | {:>7.2} {:>7.2} {:>8.2} {:>7} {:>7} | {:>7.2} {:>7.2} {:>8.2} {:>7} {:>7}",
                l.sessions,
                l.mode.name(),
                l.inserts.mean(),
                l.inserts.percentile(50.0),
                l.inserts.percentile(99.0),
                published(hb_ins, 0),
                times(hb_ins.map(|h| h / l.inserts.mean())),
                l.queries.mean(),
                l.queries.percentile(50.0),
                l.queries.percentile(99.0),
                published(hb_qry, 0),
                times(hb_qry.map(|h| h / l.queries.mean())),
            );
        }

        let _ = writeln!(
            t,
            "\nConcurrent sessions: throughput (our average over the run against HB's maximum; \
             every request is one durable write: an entry, or the audit of a view)"
        );
        let _ = writeln!(
            t,
            "{:>8} {:<16} | {:>8} {:>7} {:>7} | {:>8} {:>8} {:>7} | {:>8} {:>6}",
            "sessions",
            "mode",
            "ops/s",
            "HB max",
            "ours/HB",
            "writes/s",
            "blocks/s",
            "w/block",
            "success%",
            "HB %"
        );
        for l in self.levels {
            let hb_tps = hb::at(&hb::MAX_TPS, l.sessions);
            let _ = writeln!(
                t,
                "{:>8} {:<16} | {:>8.0} {:>7} {:>7} | {:>8.0} {:>8.0} {:>7.1} | {:>8.2} {:>6}",
                l.sessions,
                l.mode.name(),
                l.ops_per_s(),
                published(hb_tps, 0),
                times(hb_tps.map(|h| l.ops_per_s() / h)),
                l.writes_per_s(),
                l.blocks_per_s(),
                (l.requests() - l.failed) as f64 / l.blocks.max(1) as f64,
                l.success_percent(),
                published(hb::at(&hb::SUCCESS_PERCENT, l.sessions), 2),
            );
        }

        let _ = writeln!(
            t,
            "\nConcurrent sessions: memory and CPU of the whole bench process, node included \
             (base: before the load; peak: during it; HB: {}% CPU of its 4-core server throughout)",
            hb::CPU_PERCENT
        );
        let _ = writeln!(
            t,
            "{:>8} {:<16} | {:>7} {:>7} {:>8} {:>7} {:>7} | {:>6} {:>12}",
            "sessions",
            "mode",
            "base MB",
            "RSS MB",
            "peak MB",
            "HB MB",
            "HB/ours",
            "CPU s",
            format!("CPU % of {}", cores())
        );
        for l in self.levels {
            let hb_mb = hb::at(&hb::MEMORY_MB, l.sessions);
            let peak = mb(l.after.peak_kib);
            let _ = writeln!(
                t,
                "{:>8} {:<16} | {:>7.0} {:>7.0} {:>8.0} {:>7} {:>7} | {:>6.2} {:>12.0}",
                l.sessions,
                l.mode.name(),
                mb(l.before.rss_kib),
                mb(l.after.rss_kib),
                peak,
                published(hb_mb, 0),
                times(hb_mb.map(|h| h / peak)),
                l.cpu_s(),
                l.cpu_percent(cores()),
            );
        }

        let _ = writeln!(t, "\nGroup commit: before (one block per write) and after");
        let _ = writeln!(
            t,
            "{:>8} | {:>8} {:>8} {:>7} | {:>10} {:>10} | {:>10} {:>10}",
            "sessions", "ops/s", "ops/s", "speedup", "ins p99", "ins p99", "qry p99", "qry p99"
        );
        for &n in &self.plan.levels {
            let (Some(a), Some(b)) = (
                self.level(n, Mode::OneBlockPerWrite),
                self.level(n, Mode::GroupCommit),
            ) else {
                continue;
            };
            let _ = writeln!(
                t,
                "{n:>8} | {:>8.0} {:>8.0} {:>7} | {:>7.1} ms {:>7.1} ms | {:>7.1} ms {:>7.1} ms",
                a.ops_per_s(),
                b.ops_per_s(),
                times(Some(b.ops_per_s() / a.ops_per_s())),
                a.inserts.percentile(99.0),
                b.inserts.percentile(99.0),
                a.queries.percentile(99.0),
                b.queries.percentile(99.0),
            );
        }

        let _ = writeln!(
            t,
            "\nResync after reconnect over loopback QUIC (one block per record; HB ran 50, 100, \
             300, 500 and 1,000 records and published only the range 275–802 ms)"
        );
        let _ = writeln!(
            t,
            "{:>8} | {:>9} {:>7} {:>7} | {:>7}",
            "records", "ours ms", "HB ms", "HB/ours", "blocks"
        );
        for r in self.resyncs {
            let hb_ms = hb::at(&hb::RESYNC_MS, r.records);
            let _ = writeln!(
                t,
                "{:>8} | {:>9.1} {:>7} {:>7} | {:>7}",
                r.records,
                r.ms(),
                published(hb_ms, 0),
                times(hb_ms.map(|h| h / r.ms())),
                r.blocks
            );
        }
        if let Some(p) = self.pouchdb {
            t.push_str(&p.table());
        }
        if let Some(s) = self.scale {
            t.push_str(&scale_table(s));
        }
        if let Some(s) = self.search {
            t.push_str(&s.table());
        }
        if let Some(d) = self.devices {
            t.push_str(&d.table());
        }
        if let Some(p) = self.ten_clinics {
            t.push_str(&p.table());
        }
        if let Some(d) = self.district {
            t.push_str(&crate::district::table(d));
        }
        let _ = writeln!(t, "\n{}", hb::SOURCE);
        t
    }

    /// Everything, for `report.json`.
    pub fn json(&self) -> Value {
        let s = self.single;
        let levels: Vec<Value> = self
            .levels
            .iter()
            .map(|l| {
                let hb_ins = hb::at(&hb::INSERT_AVG_MS, l.sessions);
                let hb_qry = hb::at(&hb::QUERY_AVG_MS, l.sessions);
                let hb_tps = hb::at(&hb::MAX_TPS, l.sessions);
                let hb_mb = hb::at(&hb::MEMORY_MB, l.sessions);
                let peak = mb(l.after.peak_kib);
                json!({
                    "sessions": l.sessions,
                    "mode": l.mode.key(),
                    "requests": l.requests(),
                    "insert": l.inserts.summary(),
                    "query": l.queries.summary(),
                    "failed": l.failed,
                    "first_failure": l.first_failure,
                    "success_percent": l.success_percent(),
                    "seconds": l.wall.as_secs_f64(),
                    "ops_per_s": l.ops_per_s(),
                    "durable_writes_per_s": l.writes_per_s(),
                    "blocks": l.blocks,
                    "blocks_per_s": l.blocks_per_s(),
                    "rss_mb_before": mb(l.before.rss_kib),
                    "rss_mb": mb(l.after.rss_kib),
                    "peak_rss_mb": peak,
                    "peak_is_this_load": l.peak_is_this_load,
                    "cpu_s": l.cpu_s(),
                    "cpu_percent_of_machine": l.cpu_percent(cores()),
                    "healthyblock": {
                        "insert_avg_ms": hb_ins,
                        "query_avg_ms": hb_qry,
                        "max_tps": hb_tps,
                        "memory_mb": hb_mb,
                        "success_percent": hb::at(&hb::SUCCESS_PERCENT, l.sessions),
                        "cpu_percent": hb::CPU_PERCENT,
                    },
                    "times_better": {
                        "insert_avg": hb_ins.map(|h| h / l.inserts.mean()),
                        "query_avg": hb_qry.map(|h| h / l.queries.mean()),
                        "throughput": hb_tps.map(|h| l.ops_per_s() / h),
                        "memory": hb_mb.map(|h| h / peak),
                    },
                })
            })
            .collect();
        let group_commit: Vec<Value> = self
            .plan
            .levels
            .iter()
            .filter_map(|&n| {
                let a = self.level(n, Mode::OneBlockPerWrite)?;
                let b = self.level(n, Mode::GroupCommit)?;
                Some(json!({
                    "sessions": n,
                    "ops_per_s_before": a.ops_per_s(),
                    "ops_per_s_after": b.ops_per_s(),
                    "speedup": b.ops_per_s() / a.ops_per_s(),
                    "insert_p99_ms_before": a.inserts.percentile(99.0),
                    "insert_p99_ms_after": b.inserts.percentile(99.0),
                    "query_p99_ms_before": a.queries.percentile(99.0),
                    "query_p99_ms_after": b.queries.percentile(99.0),
                    "blocks_before": a.blocks,
                    "blocks_after": b.blocks,
                }))
            })
            .collect();
        let resync: Vec<Value> = self
            .resyncs
            .iter()
            .map(|r| {
                let hb_ms = hb::at(&hb::RESYNC_MS, r.records);
                json!({
                    "records": r.records,
                    "ms": r.ms(),
                    "blocks": r.blocks,
                    "healthyblock_ms": hb_ms,
                    "times_better": hb_ms.map(|h| h / r.ms()),
                })
            })
            .collect();
        json!({
            "quick": self.quick,
            "cores": cores(),
            "seconds": self.seconds,
            "healthyblock_source": hb::SOURCE,
            "single_doctor": {
                "entries": s.entries,
                "save": s.saves.summary(),
                "show": s.shows.summary(),
                "healthyblock_insert_avg_ms": hb::INSERT_AVG_MS[0].1,
                "healthyblock_query_avg_ms": hb::QUERY_AVG_MS[0].1,
            },
            "sweep": {
                "ops_per_session": self.plan.ops_per_session,
                "doctors": self.plan.doctors,
                "patients": self.plan.doctors * self.plan.patients_per_doctor,
                "seed_entries_per_patient": self.plan.seed_entries,
                "levels": levels,
            },
            "group_commit": group_commit,
            "resync": resync,
            "pouchdb": self.pouchdb.map(Comparison::json),
            "scale": self.scale.map(Scale::json),
            "patient_search": self.search.map(crate::search::Search::json),
            "clinic_devices": self.devices.map(crate::devices::Propagation::json),
            "ten_clinics": self.ten_clinics.map(crate::propagation::TenClinics::json),
            "district": self.district.map(crate::district::json),
        })
    }

    /// Insert and query p99 against sessions, every mode.
    pub fn latency_chart(&self) -> Chart<'_> {
        let line = |mode: Mode, query: bool| -> Vec<(f64, f64)> {
            self.levels
                .iter()
                .filter(|l| l.mode == mode)
                .map(|l| {
                    let lat = if query { &l.queries } else { &l.inserts };
                    (l.sessions as f64, lat.percentile(99.0))
                })
                .collect()
        };
        let mut series = Vec::new();
        let modes = [
            (Mode::GroupCommit, false, ["#c0392b", "#1f5fa8"]),
            (Mode::OneBlockPerWrite, true, ["#c0392b", "#1f5fa8"]),
            (Mode::HealthyBlockRate, false, ["#e67e22", "#27ae60"]),
        ];
        for (mode, dashed, [insert_color, query_color]) in modes {
            for (query, what, color) in [
                (false, "insert", insert_color),
                (true, "query", query_color),
            ] {
                series.push(Series {
                    label: format!("{what} p99, {}", mode.name()),
                    color,
                    dashed,
                    points: line(mode, query),
                });
            }
        }
        Chart {
            title: "Carelog: p99 latency against concurrent sessions",
            x_label: "concurrent clinician sessions (log scale)",
            y_label: "p99 latency, ms (log scale)",
            x_ticks: &X_TICKS,
            series,
        }
    }
}

/// Where the chart's x axis has ticks: HealthyBlock's loads.
const X_TICKS: [f64; 5] = [50.0, 100.0, 200.0, 500.0, 1_000.0];

/// The large ledger's rows: targets are Carelog's own; HealthyBlock published only its memory.
pub fn scale_table(s: &Scale) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nA ledger of {} transactions in {} blocks ({} clinics, {} doctors, {} patients; built \
         in {:.0} s); each figure from a fresh process",
        s.transactions,
        s.blocks,
        s.clinics,
        s.clinics * s.doctors,
        s.patients,
        s.build_s
    );
    let _ = writeln!(
        t,
        "{:<44} | {:>10} | {:>10} | {:>7}",
        "", "ours", "target", "HB"
    );
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let rows = [
        (
            "cold start to a chart on screen".to_string(),
            format!("{:.0} ms", s.usable_ms()),
            "< 2,000 ms",
            "—".to_string(),
        ),
        (
            format!(
                "  open {:.0} + sign in {:.0} + show {:.0} ms",
                f(&s.probe, "open_ms"),
                f(&s.probe, "unlock_ms"),
                f(&s.probe, "chart_ms"),
            ),
            format!("{} entries", s.probe["entries"]),
            "",
            String::new(),
        ),
        (
            "  first open, no saved state (replays all)".to_string(),
            format!("{:.0} ms", f(&s.replay, "usable_ms")),
            "",
            String::new(),
        ),
        (
            "full ledger verify (open included)".into(),
            format!("{:.1} s", s.verify_s()),
            "< 60 s",
            "—".into(),
        ),
        (
            "peak memory: open, sign in, show".into(),
            format!("{:.0} MB", f(&s.probe, "peak_rss_mb")),
            "< 300 MB",
            format!("{:.0} MB", hb::MEMORY_MB[1].1),
        ),
        (
            "peak memory: the same, replaying all".into(),
            format!("{:.0} MB", f(&s.replay, "peak_rss_mb")),
            "",
            "—".into(),
        ),
        (
            "peak memory: full verify".into(),
            format!("{:.0} MB", f(&s.verify, "peak_rss_mb")),
            "",
            "—".into(),
        ),
        (
            "database on disk".into(),
            format!("{:.0} MB", s.database_mb),
            "",
            "—".into(),
        ),
    ];
    for (what, ours, target, theirs) in rows {
        let _ = writeln!(t, "{what:<44} | {ours:>10} | {target:>10} | {theirs:>7}");
    }
    t
}
