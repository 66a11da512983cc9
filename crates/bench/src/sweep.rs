//! HealthyBlock's concurrency experiment: many clinician sessions charting and reading at once
//! against one clinic node on a real SQLite file.
//!
//! Each session is a thread standing for one signed-in doctor at a workstation. It alternates a
//! chart entry (vitals) and a chart view of one of the doctor's patients, with no pause between
//! requests, and times each request from call to answer. All sessions start together (no ramp-up).
//! Each load runs three times on a fresh copy of the same clinic:
//! - *one block per write*: sessions share the node behind one mutex, as the desktop app does,
//!   and every entry or audited read seals and flushes a block of its own;
//! - *group commit*: sessions share a [`SharedNode`], which seals the writes queued during one
//!   flush into the next block;
//! - *at HealthyBlock's rate*: group commit again, but each session paces its requests so that
//!   together they ask for what HealthyBlock served at that load (600 requests/s from 1,000
//!   users): a clinician pauses between requests, and this is the load HealthyBlock's own
//!   latencies were measured under. Sessions start spread over one pause, each request is due
//!   one pause after the last was due, and its latency runs from when it was due, so a node
//!   that falls behind is charged for it.
//!
//! Without pauses, a closed loop of N sessions sees an average latency of N divided by the
//! throughput (Little's law): 1,000 sessions at 3,000 requests/s wait 333 ms on average however
//! fast each write is. The paced run shows what each clinician waits at a real clinic's pace.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use carelog_ledger::{ActorId, Role};
use carelog_node::{NewNetwork, Node, Session, SharedNode};

use crate::Error;
use crate::measure::{Latencies, Usage, release_free_memory, reset_peak};

/// The size of one sweep.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Concurrent sessions at each load.
    pub levels: Vec<usize>,
    /// Requests each session makes (half entries, half chart views).
    pub ops_per_session: usize,
    /// Doctor accounts; session `s` signs in as doctor `s % doctors`.
    pub doctors: usize,
    /// Patients in each doctor's care (custodian).
    pub patients_per_doctor: usize,
    /// Entries each patient's chart holds before the sweep.
    pub seed_entries: usize,
}

/// How sessions reach the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Behind one mutex; every write seals and flushes its own block.
    OneBlockPerWrite,
    /// Through a [`SharedNode`]: writes queued during a flush share the next block.
    GroupCommit,
    /// Group commit, each session pacing its requests so that together they ask for
    /// HealthyBlock's throughput at that load.
    HealthyBlockRate,
}

impl Mode {
    /// Every mode, the baseline first.
    pub const ALL: [Mode; 3] = [
        Mode::OneBlockPerWrite,
        Mode::GroupCommit,
        Mode::HealthyBlockRate,
    ];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::OneBlockPerWrite => "one block/write",
            Mode::GroupCommit => "group commit",
            Mode::HealthyBlockRate => "at HB's rate",
        }
    }

    /// The key in report.json.
    pub fn key(self) -> &'static str {
        match self {
            Mode::OneBlockPerWrite => "one_block_per_write",
            Mode::GroupCommit => "group_commit",
            Mode::HealthyBlockRate => "group_commit_at_healthyblock_rate",
        }
    }

    /// The pause between one session's requests: `None` for none (a closed loop).
    fn pause(self, sessions: usize) -> Option<Duration> {
        match self {
            Mode::OneBlockPerWrite | Mode::GroupCommit => None,
            Mode::HealthyBlockRate => {
                let rate = crate::healthyblock::at(&crate::healthyblock::MAX_TPS, sessions)
                    .or_else(|| crate::healthyblock::rate_between(sessions))?;
                Some(Duration::from_secs_f64(sessions as f64 / rate))
            }
        }
    }
}

/// What one load measured.
#[derive(Debug)]
pub struct Level {
    /// Concurrent sessions.
    pub sessions: usize,
    /// How they reached the node.
    pub mode: Mode,
    /// Chart entries that succeeded.
    pub inserts: Latencies,
    /// Chart views that succeeded.
    pub queries: Latencies,
    /// Requests refused or failed.
    pub failed: usize,
    /// The first failure, if any.
    pub first_failure: Option<String>,
    /// From the start signal until the last session finished.
    pub wall: Duration,
    /// Blocks the node sealed meanwhile (SQLite transactions, each flushed).
    pub blocks: u64,
    /// Memory and CPU time before and after.
    pub before: Usage,
    /// See `before`.
    pub after: Usage,
    /// Whether the peak memory count was restarted for this load.
    pub peak_is_this_load: bool,
}

impl Level {
    /// Requests made.
    pub fn requests(&self) -> usize {
        self.inserts.0.len() + self.queries.0.len() + self.failed
    }

    /// Successful requests per second.
    pub fn ops_per_s(&self) -> f64 {
        (self.inserts.0.len() + self.queries.0.len()) as f64 / self.wall.as_secs_f64()
    }

    /// Durable writes per second: every success is one (an entry, or the audit of a read).
    pub fn writes_per_s(&self) -> f64 {
        self.ops_per_s()
    }

    /// Blocks flushed per second.
    pub fn blocks_per_s(&self) -> f64 {
        self.blocks as f64 / self.wall.as_secs_f64()
    }

    /// Successful requests, in percent.
    pub fn success_percent(&self) -> f64 {
        100.0 * (self.requests() - self.failed) as f64 / self.requests().max(1) as f64
    }

    /// CPU time used during the load, seconds.
    pub fn cpu_s(&self) -> f64 {
        self.after.cpu_s - self.before.cpu_s
    }

    /// CPU use as a share of the whole machine, in percent.
    pub fn cpu_percent(&self, cores: usize) -> f64 {
        100.0 * self.cpu_s() / self.wall.as_secs_f64() / cores as f64
    }
}

/// A clinic ready to be copied for each load: its home on disk and signed-in doctors.
struct Clinic {
    _dir: tempfile::TempDir,
    template: PathBuf,
    /// Each doctor's session and patients.
    doctors: Vec<(Arc<Session>, Vec<ActorId>)>,
}

/// The node as the sessions of one mode reach it.
enum Desk {
    Locked(Box<Mutex<Node>>),
    Shared(SharedNode),
}

impl Desk {
    fn add_entry(&self, doc: &Arc<Session>, patient: ActorId, data: &str) -> Result<(), String> {
        let done = match self {
            Desk::Locked(node) => lock(node).add_entry(doc, patient, "vitals", data, None),
            Desk::Shared(node) => node.add_entry(doc, patient, "vitals", data, None),
        };
        done.map(|_| ()).map_err(|e| e.to_string())
    }

    fn chart(&self, doc: &Arc<Session>, patient: ActorId) -> Result<(), String> {
        let view = match self {
            Desk::Locked(node) => lock(node).chart(doc, patient, "bench"),
            Desk::Shared(node) => node.chart(doc, patient, "bench"),
        }
        .map_err(|e| e.to_string())?;
        match view["entries"].as_array() {
            Some(entries) if !entries.is_empty() => Ok(()),
            _ => Err("the chart came back empty".into()),
        }
    }

    fn blocks(&self) -> u64 {
        match self {
            Desk::Locked(node) => lock(node).ledger().block_count() as u64,
            Desk::Shared(node) => node.with_node(|n| n.ledger().block_count() as u64),
        }
    }
}

fn lock(node: &Mutex<Node>) -> std::sync::MutexGuard<'_, Node> {
    node.lock().unwrap_or_else(|p| p.into_inner())
}

fn vitals(i: usize) -> String {
    format!(
        r#"{{"systolic":{},"diastolic":{},"heart_rate":{}}}"#,
        105 + i % 40,
        65 + i % 25,
        55 + i % 35
    )
}

/// Founds the clinic: doctors, their patients, and some history in every chart.
fn prepare(plan: &Plan) -> Result<Clinic, Error> {
    let dir = tempfile::tempdir()?;
    let template = dir.path().join("clinic");
    let (mut node, created) = Node::create_network_with(
        &template,
        &NewNetwork {
            network: "Bench",
            clinic: "North",
            admin: "Admin",
            admin_passphrase: crate::STAFF_PASSPHRASE,
            authority_passphrase: crate::STAFF_PASSPHRASE,
        },
        &crate::unlock(),
    )?;
    let admin = node.unlock(created.admin_id, crate::STAFF_PASSPHRASE)?;
    let mut doctors = Vec::with_capacity(plan.doctors);
    for d in 0..plan.doctors {
        let doctor = node.add_user(
            &admin,
            Role::Doctor,
            &format!("Dr Bench {d}"),
            Some("family medicine"),
            crate::STAFF_PASSPHRASE,
        )?;
        let mut patients = Vec::with_capacity(plan.patients_per_doctor);
        for p in 0..plan.patients_per_doctor {
            let (patient, _) = node.register_patient(
                &admin,
                &format!("Patient {d}-{p}"),
                "1970-01-01",
                "other",
                crate::PATIENT_PIN,
            )?;
            node.assign(&admin, patient, doctor, true)?;
            patients.push(patient);
        }
        doctors.push((
            Arc::new(node.unlock(doctor, crate::STAFF_PASSPHRASE)?),
            patients,
        ));
        if (d + 1) % 10 == 0 {
            eprintln!("  {} / {} doctors and their patients", d + 1, plan.doctors);
        }
    }
    // The history is written through group commit too, so that preparing stays quick.
    let shared = SharedNode::new(node);
    std::thread::scope(|scope| {
        let seeding: Vec<_> = doctors
            .iter()
            .map(|(doc, patients)| {
                let shared = &shared;
                scope.spawn(move || -> Result<(), String> {
                    for (p, patient) in patients.iter().enumerate() {
                        for i in 0..plan.seed_entries {
                            shared
                                .add_entry(doc, *patient, "vitals", &vitals(p + i), None)
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        seeding.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| "a seeding thread panicked".to_string())?
        })
    })?;
    drop(shared.into_node());
    Ok(Clinic {
        _dir: dir,
        template,
        doctors,
    })
}

/// A fresh copy of the clinic's home (the template is closed, so its database is whole), with
/// its directory of mirrored key stores (otherwise the first open would write them again).
fn copy_home(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        } else if kind.is_dir() {
            copy_home(&entry.path(), &to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// One session's requests: what it did, how long each took, and any failure.
#[derive(Default)]
struct Tally {
    inserts: Vec<Duration>,
    queries: Vec<Duration>,
    failures: Vec<String>,
}

fn run_level(clinic: &Clinic, plan: &Plan, sessions: usize, mode: Mode) -> Result<Level, Error> {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("clinic");
    copy_home(&clinic.template, &home)?;
    let node = Node::open_with(&home, &crate::unlock())?;
    let desk = match mode {
        Mode::OneBlockPerWrite => Desk::Locked(Box::new(Mutex::new(node))),
        Mode::GroupCommit | Mode::HealthyBlockRate => Desk::Shared(SharedNode::new(node)),
    };
    let pause = mode.pause(sessions);
    let blocks_before = desk.blocks();
    let start = Barrier::new(sessions + 1);
    release_free_memory();
    let peak_is_this_load = reset_peak();
    let before = Usage::now();
    let (tallies, wall) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..sessions)
            .map(|s| {
                let (desk, start) = (&desk, &start);
                let (doc, patients) = &clinic.doctors[s % clinic.doctors.len()];
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    start.wait();
                    let began = Instant::now();
                    for op in 0..plan.ops_per_session {
                        let patient =
                            patients[(s / clinic.doctors.len() + op / 2) % patients.len()];
                        // Paced: due one pause after the last was due, the sessions' first
                        // requests spread over one pause; timed from when it was due.
                        let started = match pause {
                            Some(pause) => {
                                let due = began
                                    + pause.mul_f64(s as f64 / sessions as f64)
                                    + pause * op as u32;
                                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                                due
                            }
                            None => Instant::now(),
                        };
                        let (done, list) = if op % 2 == 0 {
                            (
                                desk.add_entry(doc, patient, &vitals(s + op)),
                                &mut tally.inserts,
                            )
                        } else {
                            (desk.chart(doc, patient), &mut tally.queries)
                        };
                        let took = started.elapsed();
                        match done {
                            Ok(()) => list.push(took),
                            Err(e) => tally.failures.push(e),
                        }
                    }
                    tally
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let tallies: Vec<Tally> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        (tallies, started.elapsed())
    });
    let after = Usage::now();
    let blocks = desk.blocks() - blocks_before;
    let mut level = Level {
        sessions,
        mode,
        inserts: Latencies::default(),
        queries: Latencies::default(),
        failed: 0,
        first_failure: None,
        wall,
        blocks,
        before,
        after,
        peak_is_this_load,
    };
    for tally in tallies {
        level.inserts.0.extend(tally.inserts);
        level.queries.0.extend(tally.queries);
        level.failed += tally.failures.len();
        if level.first_failure.is_none() {
            level.first_failure = tally.failures.into_iter().next();
        }
    }
    // A session thread that panicked counts every request it did not report as failed.
    let missing = sessions * plan.ops_per_session - level.requests();
    level.failed += missing;
    drop(desk);
    Ok(level)
}

/// Runs every load in every mode; `report` sees each result as it comes.
pub fn run(plan: &Plan, report: impl FnMut(&Level)) -> Result<Vec<Level>, Error> {
    run_modes(plan, &Mode::ALL, report)
}

/// Runs every load in the given modes.
pub fn run_modes(
    plan: &Plan,
    modes: &[Mode],
    mut report: impl FnMut(&Level),
) -> Result<Vec<Level>, Error> {
    eprintln!(
        "concurrency sweep: preparing a clinic of {} doctors, {} patients, {} entries each",
        plan.doctors,
        plan.doctors * plan.patients_per_doctor,
        plan.seed_entries
    );
    let clinic = prepare(plan)?;
    let mut levels = Vec::new();
    for &sessions in &plan.levels {
        for &mode in modes {
            eprintln!(
                "  {sessions} sessions × {} requests, {}",
                plan.ops_per_session,
                mode.name()
            );
            let level = run_level(&clinic, plan, sessions, mode)?;
            report(&level);
            levels.push(level);
        }
    }
    Ok(levels)
}
