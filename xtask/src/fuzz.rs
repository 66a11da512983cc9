//! `cargo xtask fuzz`: the cargo-fuzz targets under `fuzz/`, one per decoder of outside bytes.
//!
//! cargo-fuzz needs nightly compiler flags; on the stable toolchain `RUSTC_BOOTSTRAP=1` allows
//! them for its builds only. Targets build once, in release with debug assertions and overflow
//! checks, without a sanitizer (the project has no `unsafe`; the run is about panics, and twice
//! the executions find more). Each run starts from the seeds in `fuzz/corpus/<target>` and keeps
//! what it learns in `fuzz/target/corpus/<target>`, so the committed seeds stay as they are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{Result, apt_install, cmd, root, step};

/// Every fuzz target, named after what it feeds bytes to (`fuzz/fuzz_targets/<name>.rs`).
const TARGETS: [&str; 7] = [
    "block_decode",
    "tx_decode",
    "sync_frame",
    "bundle_import",
    "hl7_parse",
    "fhir_import",
    "chart_data",
];

/// The cargo-fuzz release known to build with this toolchain.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// How long `cargo xtask fuzz` runs each target unless told.
const DEFAULT_SECONDS: u64 = 60;

/// How long `cargo xtask test` runs each target: enough to replay the seeds and catch a decoder
/// that panics on its first mutations.
const TEST_SECONDS: u64 = 10;

/// Build and run flags shared by every cargo-fuzz call, so `run` reuses `build`'s binaries.
const BUILD_FLAGS: [&str; 4] = ["--release", "--debug-assertions", "--sanitizer", "none"];

/// `cargo xtask fuzz [--seconds N] [TARGET]`.
pub fn fuzz(args: &[String]) -> Result {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--seconds") {
            Some("") => args.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if arg.starts_with("--seconds") {
            seconds = value
                .and_then(|v| v.parse().ok())
                .filter(|&s| s > 0)
                .ok_or("--seconds takes a whole number of seconds, e.g. --seconds 120")?;
        } else if let Some(target) = TARGETS.iter().find(|t| **t == arg) {
            only = Some(*target);
        } else {
            return Err(format!(
                "unknown argument `{arg}`; usage: cargo xtask fuzz [--seconds N] [TARGET], targets: {}",
                TARGETS.join(", ")
            ));
        }
    }
    let targets: Vec<&str> = match only {
        Some(target) => vec![target],
        None => TARGETS.to_vec(),
    };
    run(&targets, seconds)
}

/// `cargo xtask test`: every target briefly, so a decoder that learned to panic fails CI.
pub fn smoke() -> Result {
    step(&format!("fuzzing each decoder for {TEST_SECONDS} s"));
    run(&TARGETS, TEST_SECONDS)?;
    if std::env::var_os("CI").is_some() {
        // A CI machine's disk is small and its clone is thrown away: the fuzzers' build (about
        // a gigabyte) goes before the window is built. The logs and what the fuzzers learned stay.
        let target = root().join("fuzz/target");
        let entries = std::fs::read_dir(&target)
            .map_err(|e| format!("could not read {}: {e}", target.display()))?;
        for entry in entries.flatten() {
            let keep = ["corpus", "logs"].iter().any(|k| entry.file_name() == *k);
            if !keep && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| format!("could not remove {}: {e}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// What one target's run did.
struct Outcome {
    target: &'static str,
    runs: Option<u64>,
    coverage: Option<u64>,
    crash: Option<String>,
}

fn run(targets: &[&'static str], seconds: u64) -> Result {
    ensure_cargo_fuzz()?;
    step("building the fuzz targets (release, debug assertions)");
    let mut build = vec!["fuzz", "build"];
    build.extend(BUILD_FLAGS);
    if let [one] = targets {
        build.push(one);
    }
    cargo_fuzz(&build)?;
    let mut outcomes = Vec::new();
    for &target in targets {
        eprintln!("    {target}: fuzzing for {seconds} s");
        let outcome = run_target(target, seconds)?;
        eprintln!("    {}", describe(&outcome));
        outcomes.push(outcome);
    }
    eprintln!("\n    fuzz summary ({seconds} s each):");
    for outcome in &outcomes {
        eprintln!("      {}", describe(outcome));
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.target)
        .collect();
    if crashed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "fuzzing found a crash in {}; the input is under fuzz/artifacts/<target>/ (replay it with \
         `RUSTC_BOOTSTRAP=1 cargo fuzz run {} TARGET FILE`), fix the decoder and commit the input \
         as a regression test",
        crashed.join(", "),
        BUILD_FLAGS.join(" ")
    ))
}

fn describe(o: &Outcome) -> String {
    let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    format!(
        "{:<14} {:>10} runs  cov {:>5}  {}",
        o.target,
        count(o.runs),
        count(o.coverage),
        o.crash.as_deref().unwrap_or("no crash")
    )
}

/// Runs one target from its committed seeds plus what earlier runs learned; its full libFuzzer
/// output goes to `fuzz/target/logs/<target>.log`.
fn run_target(target: &'static str, seconds: u64) -> Result<Outcome> {
    let fuzz = root().join("fuzz");
    let learned = fuzz.join("target/corpus").join(target);
    let seeds = fuzz.join("corpus").join(target);
    let logs = fuzz.join("target/logs");
    for dir in [&learned, &logs] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let max_time = format!("-max_total_time={seconds}");
    let mut args = vec!["fuzz", "run"];
    args.extend(BUILD_FLAGS);
    args.push(target);
    let (learned, seeds) = (path_arg(&learned)?, path_arg(&seeds)?);
    args.extend([learned, seeds, "--"]);
    // One slow input (10 s) counts as a failure, like a crash; the final stats give the run count.
    args.extend([max_time.as_str(), "-timeout=10", "-print_final_stats=1"]);
    let output = Command::new("cargo")
        .args(&args)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not start cargo fuzz: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    let log_path = logs.join(format!("{target}.log"));
    std::fs::write(&log_path, &log)
        .map_err(|e| format!("could not write {}: {e}", log_path.display()))?;
    let crash = if output.status.success() {
        None
    } else {
        for line in why(&log) {
            eprintln!("      | {line}");
        }
        let artifact = log
            .lines()
            .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()))
            .unwrap_or("see the log");
        Some(format!(
            "CRASH: {artifact} (log: {})",
            relative(&log_path).display()
        ))
    };
    Ok(Outcome {
        target,
        runs: stat(&log, "stat::number_of_executed_units:"),
        coverage: coverage(&log),
        crash,
    })
}

/// Why a run failed: the panic message, libFuzzer's verdict (timeout, out of memory, crash) and
/// where it kept the input; the log's last lines if it says none of these.
fn why(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().collect();
    let mut why = Vec::new();
    if let Some(at) = lines.iter().position(|l| l.contains("panicked at")) {
        why.extend(
            lines[at..]
                .iter()
                .take_while(|l| !l.starts_with("stack backtrace"))
                .take(12),
        );
    }
    why.extend(lines.iter().filter(|l| {
        l.contains("ERROR: libFuzzer") || l.starts_with("ALARM:") || l.contains("Test unit written")
    }));
    if why.is_empty() {
        why.extend(&lines[lines.len().saturating_sub(20)..]);
    }
    why
}

fn path_arg(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root()).unwrap_or(path).to_path_buf()
}

/// A number from libFuzzer's final stats, e.g. `stat::number_of_executed_units: 1234`.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

/// The last coverage figure libFuzzer reported (`#1234 DONE cov: 567 ft: …`).
fn coverage(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.split_once(" cov: ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Installs cargo-fuzz (pinned, `--locked`) and the C++ compiler libFuzzer builds with.
fn ensure_cargo_fuzz() -> Result {
    apt_install(&[("g++", "c++")])?;
    let works = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Ok(());
    }
    step(&format!(
        "installing cargo-fuzz {CARGO_FUZZ_VERSION} (about two minutes, once)"
    ));
    cmd(
        "cargo",
        &[
            "install",
            "cargo-fuzz",
            "--version",
            CARGO_FUZZ_VERSION,
            "--locked",
        ],
    )
}

/// A cargo-fuzz command with nightly flags allowed on the stable toolchain.
fn cargo_fuzz(args: &[&str]) -> Result {
    let started = Instant::now();
    let status = Command::new("cargo")
        .args(args)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start cargo fuzz: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo {}` failed ({status})", args.join(" ")));
    }
    eprintln!(
        "    (cargo {} took {:.1} s)",
        args[..2].join(" "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
