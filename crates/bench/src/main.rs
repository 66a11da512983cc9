//! `carelog-bench`: HealthyBlock's experiments (seed 001, section 5) on this machine, side by side
//! with the paper's published figures and the ratio between them.
//!
//! - one doctor alone: durable chart saves and chart views;
//! - the concurrency sweep: 50 to 1,000 clinician sessions at once against one node, with one
//!   block per write and with group commit;
//! - resync of 50 to 1,000 records after a clinic reconnects, over loopback QUIC;
//! - a ledger of a million transactions: cold start to a chart on screen, full verify, database
//!   size and memory (`--scale N` for another size);
//! - optionally, PouchDB replicating the same number of chart documents (`--pouchdb DIR`);
//! - a district of 1,000 clinics in the seeded sync simulation (`--district N` for another size,
//!   0 to skip): time to converge after a partition heals and bytes per clinic per new block.
//!
//! Run through `cargo xtask bench [--quick]`; writes `report.json` and `latency.svg` into
//! `--out` (default `target/bench`). It checks no timings: the numbers are for people to read.

mod devices;
mod district;
mod healthyblock;
mod measure;
mod plot;
mod pouchdb;
mod propagation;
mod report;
mod resync;
mod scale;
mod search;
mod single;
mod sweep;

use std::path::PathBuf;
use std::time::Instant;

/// The node passphrase every benchmark home is sealed under.
pub const NODE_PASSPHRASE: &str = "bench homes node passphrase";
/// The staff passphrase of every benchmark user (and of the health authority).
pub const STAFF_PASSPHRASE: &str = "bench staff passphrase";
/// The benchmark patients' PIN.
pub const PATIENT_PIN: &str = "135790";

/// Patients in the front desk's search benchmark (the clinic of 50,000).
const SEARCH_PATIENTS: usize = 50_000;

/// A clinic founding network "Bench" at `root`, with its admin's session, a doctor and a patient
/// whose custodian the doctor is: where each measurement starts.
pub struct BenchClinic {
    /// The clinic's node.
    pub node: carelog_node::Node,
    /// Its first admin, signed in.
    pub admin: carelog_node::Session,
    /// The doctor.
    pub doctor: carelog_ledger::ActorId,
    /// The patient.
    pub patient: carelog_ledger::ActorId,
}

/// Founds [`BenchClinic`] at `root`.
pub fn bench_clinic(root: &std::path::Path) -> Result<BenchClinic, Error> {
    let (mut node, created) = carelog_node::Node::create_network_with(
        root,
        &carelog_node::NewNetwork {
            network: "Bench",
            clinic: "North",
            admin: "Admin",
            admin_passphrase: STAFF_PASSPHRASE,
            authority_passphrase: STAFF_PASSPHRASE,
        },
        &unlock(),
    )?;
    let admin = node.unlock(created.admin_id, STAFF_PASSPHRASE)?;
    let doctor = node.add_user(
        &admin,
        carelog_ledger::Role::Doctor,
        "Dr Bench",
        None,
        STAFF_PASSPHRASE,
    )?;
    let (patient, _) =
        node.register_patient(&admin, "Bench Patient", "1970-01-01", "other", PATIENT_PIN)?;
    node.assign(&admin, patient, doctor, true)?;
    Ok(BenchClinic {
        node,
        admin,
        doctor,
        patient,
    })
}

/// How every benchmark home's keys are sealed and opened.
pub fn unlock() -> carelog_node::NodeUnlock {
    carelog_node::NodeUnlock::passphrase(NODE_PASSPHRASE)
}

/// Any failure of a benchmark run.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How much to measure.
struct Settings {
    quick: bool,
    out: PathBuf,
    /// The folder of the PouchDB peer, with its `node_modules` installed.
    pouchdb: Option<PathBuf>,
    /// Transactions in the large ledger (0: skip it).
    scale: u64,
    /// Clinics in the district simulation (0: skip it).
    district: usize,
}

impl Settings {
    fn from_args() -> Result<Settings, Error> {
        let mut settings = Settings {
            quick: false,
            out: PathBuf::from("target/bench"),
            pouchdb: None,
            scale: 1_000_000,
            district: 1_000,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {
                    settings.quick = true;
                    settings.scale = settings.scale.min(10_000);
                    settings.district = settings.district.min(100);
                }
                "--scale" => {
                    settings.scale = args
                        .next()
                        .and_then(|n| n.replace('_', "").parse().ok())
                        .ok_or("--scale needs a number of transactions (0 to skip)")?;
                }
                "--district" => {
                    settings.district =
                        args.next()
                            .and_then(|n| n.replace('_', "").parse().ok())
                            .ok_or("--district needs a number of clinics (0 to skip)")?;
                }
                "--out" => settings.out = args.next().ok_or("--out needs a folder")?.into(),
                "--pouchdb" => {
                    settings.pouchdb = Some(args.next().ok_or("--pouchdb needs a folder")?.into());
                }
                other => {
                    return Err(format!(
                        "unknown argument `{other}`; use --quick, --out DIR, --scale N, --district N or --pouchdb DIR"
                    )
                    .into());
                }
            }
        }
        Ok(settings)
    }

    fn sweep(&self) -> sweep::Plan {
        if self.quick {
            sweep::Plan {
                levels: vec![50, 200],
                ops_per_session: 6,
                doctors: 10,
                patients_per_doctor: 2,
                seed_entries: 10,
            }
        } else {
            full_sweep(healthyblock::USERS.to_vec())
        }
    }

    fn resync_sizes(&self) -> Vec<usize> {
        // HealthyBlock's record counts, and its user counts so each load has a resync row too.
        let mut sizes: Vec<usize> = healthyblock::RESYNC_RECORDS
            .iter()
            .chain(&healthyblock::USERS)
            .copied()
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        if !self.quick {
            sizes.push(10_000);
        }
        sizes
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--scale-probe") if args.len() == 4 => {
            scale::probe(args[1].as_ref(), &args[2], &args[3])
        }
        Some("--scale-verify") if args.len() == 2 => scale::verify(args[1].as_ref()),
        Some("--scale-only") if args.len() == 2 => scale_only(&args[1]),
        Some("--single-only") if args.len() == 3 => single_only(&args[1], &args[2]),
        Some("--resync-only") if args.len() == 2 => resync_only(&args[1]),
        Some("--search-only") if args.len() == 2 => search_only(&args[1]),
        Some("--district-only") if args.len() == 2 => district_only(&args[1]),
        Some("--devices-only") if args.len() == 2 => devices_only(&args[1]),
        Some("--ten-clinics-only") if args.len() == 2 => ten_clinics_only(&args[1]),
        Some("--load-only") if args.len() == 4 => load_only(&args[1], &args[2], &args[3]),
        _ => run(),
    };
    if let Err(e) = result {
        eprintln!("carelog-bench: {e}");
        std::process::exit(1);
    }
}

/// `--scale-only N`: only the large ledger, its table printed (nothing written but the home).
fn scale_only(n: &str) -> Result<(), Error> {
    let n: u64 = n.replace('_', "").parse()?;
    let s = scale::measure(&PathBuf::from("target/bench/scale"), n)?;
    print!("{}", report::scale_table(&s));
    Ok(())
}

/// `--single-only ENTRIES SHOWS`: one doctor's chart saves and views alone (to compare builds).
fn single_only(entries: &str, shows: &str) -> Result<(), Error> {
    let s = single::measure(entries.parse()?, shows.parse()?)?;
    for (what, l) in [("chart save", &s.saves), ("chart show", &s.shows)] {
        println!(
            "{what:<11} n={:>5}  mean {:>7.2} ms  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms",
            l.0.len(),
            l.mean(),
            l.percentile(50.0),
            l.percentile(95.0),
            l.percentile(99.0)
        );
    }
    Ok(())
}

/// The full run's sweep, at these loads.
fn full_sweep(levels: Vec<usize>) -> sweep::Plan {
    sweep::Plan {
        levels,
        ops_per_session: 20,
        doctors: 50,
        patients_per_doctor: 2,
        seed_entries: 20,
    }
}

/// `--load-only MODE SESSIONS REPEATS`: one load of the sweep in one mode (`one-block`,
/// `group-commit` or `paced`), run REPEATS times on fresh copies of one clinic (for profiling).
fn load_only(mode: &str, sessions: &str, repeats: &str) -> Result<(), Error> {
    let mode = match mode {
        "one-block" => sweep::Mode::OneBlockPerWrite,
        "group-commit" => sweep::Mode::GroupCommit,
        "paced" => sweep::Mode::HealthyBlockRate,
        other => return Err(format!("`{other}`: use one-block, group-commit or paced").into()),
    };
    let sessions: usize = sessions.parse()?;
    let repeats: usize = repeats.parse()?;
    let plan = full_sweep(vec![sessions; repeats]);
    sweep::run_modes(&plan, &[mode], report::progress)?;
    Ok(())
}

/// `--search-only N`: only the patient search over N patients, its rows printed.
fn search_only(n: &str) -> Result<(), Error> {
    let n: usize = n.replace('_', "").parse()?;
    let dir = tempfile::tempdir()?;
    print!("{}", search::measure(dir.path(), n, 1_000)?.table());
    Ok(())
}

/// `--resync-only N`: only one resync of N records, its time printed.
fn resync_only(n: &str) -> Result<(), Error> {
    let n: usize = n.replace('_', "").parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = resync::measure(&rt, n)?;
    println!(
        "resync of {} records: {:.1} ms, {} blocks",
        r.records,
        r.ms(),
        r.blocks
    );
    Ok(())
}

/// `--devices-only N`: only N entries from a laptop to the clinic's other machines.
fn devices_only(n: &str) -> Result<(), Error> {
    let n: usize = n.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    print!("{}", devices::measure(&rt, n)?.table());
    Ok(())
}

/// `--ten-clinics-only N`: only N entries reaching ten clinics.
fn ten_clinics_only(n: &str) -> Result<(), Error> {
    let n: usize = n.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    print!("{}", propagation::measure(&rt, n)?.table());
    Ok(())
}

/// `--district-only N`: only the district simulation of N clinics, its table printed.
fn district_only(n: &str) -> Result<(), Error> {
    let n: usize = n.replace('_', "").parse()?;
    let d = district::measure(n)?;
    print!("{}", district::table(&d));
    Ok(())
}

fn run() -> Result<(), Error> {
    let settings = Settings::from_args()?;
    std::fs::create_dir_all(&settings.out)?;
    let started = Instant::now();
    let (entries, shows) = if settings.quick {
        (200, 20)
    } else {
        (1_000, 100)
    };

    let single = single::measure(entries, shows)?;
    let plan = settings.sweep();
    let levels = sweep::run(&plan, report::progress)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut resyncs = Vec::new();
    for n in settings.resync_sizes() {
        eprintln!("resync of {n} records over loopback QUIC");
        resyncs.push(resync::measure(&rt, n)?);
    }
    let pouch = match &settings.pouchdb {
        Some(dir) => Some(pouchdb::compare(dir, &resyncs, settings.quick)?),
        None => None,
    };

    let district = match settings.district {
        0 => None,
        n => Some(district::measure(n)?),
    };

    let scale = match settings.scale {
        0 => None,
        n => Some(scale::measure(&settings.out.join("scale"), n)?),
    };

    // The quick run (the smoke check of `xtask test`) searches a smaller clinic.
    let (patients, searches) = if settings.quick {
        (10_000, 200)
    } else {
        (SEARCH_PATIENTS, 1_000)
    };
    eprintln!("patient search over {patients} patients");
    let search_dir = tempfile::tempdir()?;
    let search = search::measure(search_dir.path(), patients, searches)?;

    let entries_across = if settings.quick { 10 } else { 50 };
    eprintln!("{entries_across} entries from a bedside laptop to the clinic's other machines");
    let devices = devices::measure(&rt, entries_across)?;
    eprintln!("{entries_across} entries reaching ten clinics");
    let ten = propagation::measure(&rt, entries_across)?;

    let report = report::Report {
        quick: settings.quick,
        plan: &plan,
        single: &single,
        levels: &levels,
        resyncs: &resyncs,
        pouchdb: pouch.as_ref(),
        scale: scale.as_ref(),
        search: Some(&search),
        devices: Some(&devices),
        ten_clinics: Some(&ten),
        district: district.as_ref(),
        seconds: started.elapsed().as_secs_f64(),
    };
    print!("{}", report.tables());
    let json = settings.out.join("report.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report.json())?)?;
    let svg = settings.out.join("latency.svg");
    std::fs::write(&svg, plot::render(&report.latency_chart()))?;
    eprintln!(
        "report written to {} and {} in {:.0} s",
        json.display(),
        svg.display(),
        report.seconds
    );
    Ok(())
}
