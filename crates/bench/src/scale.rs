//! A ledger of a million transactions: how long a clinic waits after starting the program before
//! a chart is on screen, how long a full `ledger verify` takes, how big the database is, and how
//! much memory the node holds.
//!
//! The home is built once by [`carelog_node::synthetic`] (many clinics, doctors and patients,
//! every block signed and every entry encrypted). Each measurement then runs in a fresh process
//! (this binary started again with `--scale-probe` or `--scale-verify`), so it pays what a clinic
//! pays after a restart. A node saves its derived state when it closes (the builder's does), so
//! a restart reads that back and only the blocks stored since; the first open of a home without
//! it (after `carelog recover`, say) reads and checks every stored block and replays every
//! transaction, and is measured too. The file system cache is warm, as it is when a program is
//! restarted on a running machine.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use carelog_ledger::ActorId;
use carelog_node::Node;
use carelog_node::synthetic::{self, Spec};
use serde_json::{Value, json};

use crate::Error;
use crate::measure::Usage;
use crate::report::mb;

const PASSPHRASE: &str = "scale bench passphrase";

/// What a million-transaction run measured.
pub struct Scale {
    /// Transactions in the ledger.
    pub transactions: u64,
    /// Blocks in the ledger.
    pub blocks: usize,
    /// Clinics, doctors per clinic and patients.
    pub clinics: usize,
    pub doctors: usize,
    pub patients: usize,
    /// Seconds to generate the home.
    pub build_s: f64,
    /// Database size on disk, MB.
    pub database_mb: f64,
    /// Cold start, chart shown (`--scale-probe`'s JSON), from the saved state.
    pub probe: Value,
    /// The same with no saved state: every block replayed.
    pub replay: Value,
    /// Cold start, full verify (`--scale-verify`'s JSON).
    pub verify: Value,
}

impl Scale {
    /// Milliseconds from process start to the chart being shown.
    pub fn usable_ms(&self) -> f64 {
        self.probe["usable_ms"].as_f64().unwrap_or(f64::NAN)
    }

    /// Seconds of the full verify, opening included.
    pub fn verify_s(&self) -> f64 {
        self.verify["verify_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0
    }

    /// For `report.json`.
    pub fn json(&self) -> Value {
        json!({
            "transactions": self.transactions,
            "blocks": self.blocks,
            "clinics": self.clinics,
            "doctors_per_clinic": self.doctors,
            "patients": self.patients,
            "build_s": self.build_s,
            "database_mb": self.database_mb,
            "cold_start_chart": self.probe,
            "cold_start_chart_replaying": self.replay,
            "cold_start_verify": self.verify,
            "healthyblock_memory_mb": crate::healthyblock::MEMORY_MB[1].1,
        })
    }
}

/// Builds the home in `dir` and measures it from fresh processes.
pub fn measure(dir: &Path, transactions: u64) -> Result<Scale, Error> {
    let clinics = 20;
    let doctors = 10;
    let patients = (transactions / 50).clamp(100, 20_000) as usize;
    let home = dir.join("home");
    if home.exists() {
        std::fs::remove_dir_all(&home)?;
    }
    eprintln!(
        "building a ledger of {transactions} transactions ({clinics} clinics, {} doctors, \
         {patients} patients)",
        clinics * doctors
    );
    let started = Instant::now();
    let mut last_tenth = 0;
    let made = synthetic::build(
        &home,
        &Spec {
            transactions,
            clinics,
            doctors_per_clinic: doctors,
            patients,
            block_size: 256,
            passphrase: PASSPHRASE,
            unlock: &crate::unlock(),
        },
        &mut |done, total| {
            let tenth = done * 10 / total.max(1);
            if tenth > last_tenth {
                last_tenth = tenth;
                eprintln!(
                    "    {}% ({done} transactions, {:.0} s)",
                    tenth * 10,
                    started.elapsed().as_secs_f64()
                );
            }
        },
    )?;
    let build_s = started.elapsed().as_secs_f64();
    let database_mb = std::fs::read_dir(&home)?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("carelog.sqlite3")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len() as f64 / 1_048_576.0)
        .sum();

    let me = std::env::current_exe()?;
    let run = |args: &[String]| -> Result<Value, Error> {
        let out = Command::new(&me)
            .args(args)
            .env("CARELOG_PASSPHRASE", PASSPHRASE)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "{} failed: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let home_arg = home.display().to_string();
    let probe_args = [
        "--scale-probe".into(),
        home_arg.clone(),
        made.doctor.to_string(),
        made.patient.to_string(),
    ];
    eprintln!("cold start: open the home (its saved state), sign in, show a chart");
    let probe = run(&probe_args)?;
    if probe["from_saved_state"] != json!(true) {
        return Err("the home's saved state was not used".into());
    }
    eprintln!("cold start without a saved state: replay every block, sign in, show a chart");
    Node::forget_saved_state(&home, &crate::unlock())?;
    let replay = run(&probe_args)?;
    eprintln!("cold start: ledger verify");
    let verify = run(&["--scale-verify".into(), home_arg])?;
    Ok(Scale {
        transactions: made.transactions,
        blocks: made.blocks,
        clinics,
        doctors,
        patients,
        build_s,
        database_mb,
        probe,
        replay,
        verify,
    })
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// `--scale-probe HOME DOCTOR PATIENT`: in a fresh process, open the home, sign the doctor in
/// (passphrase from `$CARELOG_PASSPHRASE`), show the patient's chart; print timings as JSON.
pub fn probe(home: &Path, doctor: &str, patient: &str) -> Result<(), Error> {
    let start = Instant::now();
    let doctor: ActorId = doctor.parse()?;
    let patient: ActorId = patient.parse()?;
    let passphrase = std::env::var("CARELOG_PASSPHRASE")?;
    let mut node = Node::open_with(home, &crate::unlock())?;
    let open_ms = ms_since(start);
    let opened = Usage::now();
    let from_saved_state = node.saved_state_txs() > 0;
    let t = Instant::now();
    let session = node.unlock(doctor, &passphrase)?;
    let unlock_ms = ms_since(t);
    let t = Instant::now();
    let chart = node.chart(&session, patient, "treatment")?;
    let chart_ms = ms_since(t);
    let usable_ms = ms_since(start);
    let entries = chart["entries"].as_array().map_or(0, Vec::len);
    let after = Usage::now();
    println!(
        "{}",
        json!({
            "open_ms": open_ms,
            "unlock_ms": unlock_ms,
            "chart_ms": chart_ms,
            "usable_ms": usable_ms,
            "entries": entries,
            "from_saved_state": from_saved_state,
            "rss_mb_open": mb(opened.rss_kib),
            "rss_mb": mb(after.rss_kib),
            "peak_rss_mb": mb(after.peak_kib),
        })
    );
    Ok(())
}

/// `--scale-verify HOME`: in a fresh process, open the home and re-check every block and
/// transaction from genesis; print timings as JSON.
pub fn verify(home: &Path) -> Result<(), Error> {
    let start = Instant::now();
    let node = Node::open_with(home, &crate::unlock())?;
    let open_ms = ms_since(start);
    let t = Instant::now();
    let (blocks, txs) = node.verify()?;
    let check_ms = ms_since(t);
    let after = Usage::now();
    println!(
        "{}",
        json!({
            "open_ms": open_ms,
            "check_ms": check_ms,
            "verify_ms": ms_since(start),
            "blocks": blocks,
            "transactions": txs,
            "rss_mb": mb(after.rss_kib),
            "peak_rss_mb": mb(after.peak_kib),
        })
    );
    Ok(())
}
