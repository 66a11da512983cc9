//! `cargo xtask run | test | bench`: the only build, test and benchmark entry points.
//!
//! Each installs what the machine lacks before it builds, so the README's two commands hold on a
//! fresh Debian machine with only the Rust toolchain.

mod desktop;
mod dist;
mod fuzz;
mod install_check;
mod layering;
mod window_bench;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "run" | "test" | "bench" | "demo" | "fuzz" | "dist" => {
            desktop::build_packages().and_then(|()| match task {
                "run" => run(rest),
                "test" => test(rest),
                "bench" => bench(rest),
                "demo" => demo(rest),
                "dist" => dist::dist(rest),
                _ => fuzz::fuzz(rest),
            })
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  run     build and start Carelog on a demo network of three clinics\n  test    formatting, lints and every test\n  bench   benchmarks against HealthyBlock's published figures (--quick for a short run,\n          --scale N for the large ledger's size, --window for the desktop window's launch time and memory only)\n  demo    the headless demo story only\n  fuzz    each decoder of outside bytes under cargo-fuzz (--seconds N each, default 60; or one TARGET)\n  dist    release packages (.deb, .rpm) signed for the updater (--check installs and checks them)"
            );
            return if task == "help" || task == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Runs a command in the workspace root, failing with its name if it fails.
fn cmd(program: &str, args: &[&str]) -> Result {
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if !status.success() {
        return Err(format!("`{program} {}` failed ({status})", args.join(" ")));
    }
    eprintln!(
        "    ({program} {} took {:.1} s)",
        args.first().copied().unwrap_or(""),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian packages that are missing, when running as root; otherwise says what to install.
fn apt_install(packages: &[(&str, &str)]) -> Result {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, probe)| !has(probe))
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !has("apt-get") {
        return Err(format!(
            "please install these packages: {}",
            missing.join(" ")
        ));
    }
    step(&format!("installing {}", missing.join(" ")));
    cmd("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("apt-get install {} failed", missing.join(" ")));
    }
    Ok(())
}

fn ensure_test_tools() -> Result {
    // python3 runs the CLI acceptance script's JSON checks and the independent HL7/FHIR checkers;
    // systemd-analyze verifies the headless node's unit (systemd need not be running); sqlite3 is
    // the stranger who must fail to read a copied database.
    apt_install(&[
        ("python3", "python3"),
        ("systemd", "systemd-analyze"),
        ("sqlite3", "sqlite3"),
    ])?;
    for component in ["rustfmt", "clippy"] {
        let probe = if component == "rustfmt" {
            "rustfmt"
        } else {
            "cargo-clippy"
        };
        if !has(probe) {
            cmd("rustup", &["component", "add", component])?;
        }
    }
    ensure_interop_checkers()
}

/// The maintained HL7 v2 and FHIR R4 libraries that check our interop output independently.
const INTEROP_CHECKERS: &[&str] = &[
    "hl7==0.4.5",
    "hl7apy==1.3.5",
    "fhir.resources==8.3.0",
    "fhir-core==1.1.12",
    "fhirclient==4.4.0",
];

fn ensure_interop_checkers() -> Result {
    let importable = Command::new("python3")
        .args(["-c", "import hl7, hl7apy, fhir.resources, fhirclient"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        return Ok(());
    }
    step("installing the independent HL7 and FHIR checkers (PyPI)");
    if Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        apt_install(&[("python3-pip", "pip3")])?;
    }
    let mut args = vec!["-m", "pip", "install", "--quiet"];
    args.extend_from_slice(INTEROP_CHECKERS);
    if cmd("python3", &args).is_ok() {
        return Ok(());
    }
    // Debian's own python3 refuses system-wide pip installs unless told this is intended.
    args.push("--break-system-packages");
    cmd("python3", &args)
}

fn run(_args: &[String]) -> Result {
    step("building carelog");
    cmd("cargo", &["build", "--release", "-p", "carelog-cli"])?;
    if desktop::has_display() {
        let carelog = root().join("target/release/carelog");
        return desktop::run_window(|| run_demo("release"), &carelog);
    }
    eprintln!("\nNo display here (DISPLAY is not set): running the same demo headless.");
    run_demo("release")
}

fn demo(_args: &[String]) -> Result {
    cmd("cargo", &["build", "-p", "carelog-cli"])?;
    run_demo("debug")
}

/// The node passphrase of the demo homes `cargo xtask run` and `demo` make (the demo's own
/// default; every program xtask starts on them gets it in `$CARELOG_NODE_PASSPHRASE`).
pub const DEMO_NODE_PASSPHRASE: &str = "demo homes only, not for patients";
/// The demo's staff passphrase.
pub const DEMO_STAFF_PASSPHRASE: &str = "demo clinic staff";
/// The demo's patient PIN (with each patient's card, which the demo prints).
pub const DEMO_PATIENT_PIN: &str = "246810";

/// The node passphrase for the demo homes: the environment's, else the demo's own.
pub fn demo_node_passphrase() -> String {
    std::env::var("CARELOG_NODE_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEMO_NODE_PASSPHRASE.to_string())
}

fn run_demo(profile: &str) -> Result {
    let dir = root().join("target").join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("could not clear {}: {e}", dir.display()))?;
    }
    let bin = root().join("target").join(profile).join("carelog");
    step(&format!("demo network under {}", dir.display()));
    let status = Command::new(&bin)
        .args(["demo", "--dir"])
        .arg(&dir)
        .env("CARELOG_NODE_PASSPHRASE", demo_node_passphrase())
        .env_remove("CARELOG_NODE_PASSPHRASE_FILE")
        .status()
        .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
    if !status.success() {
        return Err("the demo failed".into());
    }
    eprintln!(
        "\nTry it: CARELOG_NODE_PASSPHRASE=\"{}\" CARELOG_PASSPHRASE=\"{DEMO_STAFF_PASSPHRASE}\" {} --home {} patients --as \"Dr Amara Osei\"",
        demo_node_passphrase(),
        bin.display(),
        dir.join("clinic-1").display()
    );
    Ok(())
}

fn test(_args: &[String]) -> Result {
    let started = Instant::now();
    ensure_test_tools()?;
    desktop::prepare_tests()?;
    step("formatting");
    cmd("cargo", &["fmt", "--all", "--check"])?;
    step("lints");
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Duplicate versions, licences and sources of every dependency (advisories need the RustSec
    // database from GitHub: `cargo deny check advisories` where it is reachable).
    step("dependencies (cargo deny: bans, licences, sources)");
    desktop::cargo_tools(&["cargo-deny"])?;
    cmd("cargo", &["deny", "check", "bans", "licenses", "sources"])?;
    step("layering (the window reaches the ledger only through the node)");
    layering::check(&root())?;
    step("tests");
    // Every test binary runs even when one fails, so one run reports every failure.
    cmd("cargo", &with_host(&["test", "--no-fail-fast"]))?;
    step("building the programs (carelog, the window, the benchmark)");
    cmd("cargo", &with_host(&["build", "--bins"]))?;
    step("CLI acceptance smoke check");
    let script = root().join("../shared/acceptance/cli-smoke.sh");
    if script.exists() {
        cmd("bash", &[&script.to_string_lossy(), "target/debug/carelog"])?;
    } else {
        eprintln!(
            "    (skipped: {} is not beside this checkout)",
            script.display()
        );
    }
    fuzz::smoke()?;
    bench_smoke()?;
    desktop::e2e()?;
    eprintln!(
        "\nall checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The packages `xtask test` builds for this machine, as one selection. Cargo works out the
/// features of dependencies per selection, so building `-p` one package after a workspace build
/// compiles many dependencies a second time, into a second set of files; every host build of
/// `xtask test` uses this selection instead, and the end-to-end crate (which only drives the
/// window) is built on its own last.
fn with_host<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--workspace", "--exclude", "carelog-e2e"]);
    all
}

fn bench(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--window") {
        // Only the desktop window's launch time and memory.
        return window_bench::bench_window(quick);
    }
    step("building benchmarks (release)");
    cmd("cargo", &["build", "--release", "-p", "carelog-bench"])?;
    let pouchdb = pouchdb_peer();
    // `--scale N`: the large ledger's size (default a million transactions; 0 skips it).
    let scale = args
        .iter()
        .position(|a| a == "--scale")
        .map(|i| args.get(i + 1).cloned().ok_or("--scale needs a number"))
        .transpose()?;
    run_bench_program(
        &root().join("target/release/carelog-bench"),
        &root().join("target/bench"),
        quick,
        pouchdb.as_deref(),
        scale.as_deref(),
    )?;
    window_bench::bench_window(quick)
}

/// The benchmark program's quick run as a smoke check at the end of `xtask test`: it must run
/// and write its report; no timing is checked. It runs from a debug build because a release
/// build of it would add about ten minutes to a CI run from a clean target directory.
fn bench_smoke() -> Result {
    step("benchmark smoke check (quick, debug build, no timings checked)");
    let out = root().join("target/bench/smoke");
    let report = out.join("report.json");
    let _ = std::fs::remove_file(&report);
    run_bench_program(
        &root().join("target/debug/carelog-bench"),
        &out,
        true,
        None,
        None,
    )?;
    if !report.is_file() {
        return Err(format!("the benchmark wrote no {}", report.display()));
    }
    Ok(())
}

fn run_bench_program(
    bin: &Path,
    out: &Path,
    quick: bool,
    pouchdb: Option<&Path>,
    scale: Option<&str>,
) -> Result {
    let mut command = Command::new(bin);
    command.arg("--out").arg(out).current_dir(root());
    if quick {
        command.arg("--quick");
    }
    if let Some(n) = scale {
        command.arg("--scale").arg(n);
    }
    if let Some(dir) = pouchdb {
        command.arg("--pouchdb").arg(dir);
    }
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("the benchmark run failed".into());
    }
    Ok(())
}

/// Installs the PouchDB peer (`npm ci` in crates/bench/pouchdb) for the comparison, or says why
/// the comparison is skipped.
fn pouchdb_peer() -> Option<PathBuf> {
    let dir = root().join("crates/bench/pouchdb");
    if !has("node") || !has("npm") {
        eprintln!("    (PouchDB comparison skipped: Node.js and npm are not installed)");
        return None;
    }
    step("installing the PouchDB peer (npm ci)");
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!(
            "    (PouchDB comparison skipped: `npm ci` failed in {})",
            dir.display()
        );
        return None;
    }
    Some(dir)
}
