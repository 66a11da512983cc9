//! `cargo xtask bench --window`: the desktop window's launch time and idle memory, for the debug
//! build that `cargo xtask run` starts and for the release build as a clinic installs it (the
//! `.deb` of `cargo xtask dist`, installed into `target/dist/deb-root`), side by side, with the
//! packages' sizes. Nothing here is a test: the figures are printed and written to
//! `target/bench/desktop.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::desktop::{Background, build_ui, ensure_tools};
use crate::{Result, cmd, root, step};

/// One launch of the window: how long until the sign-in screen asked for its staff list, and
/// the resident memory of the app and of its web processes once idle.
struct Launch {
    interactive_ms: f64,
    rss_app_kb: u64,
    pss_app_kb: u64,
    anon_app_kb: u64,
    pss_total_kb: u64,
}

/// The figures of one build.
struct Figures {
    times: Vec<f64>,
    median_ms: f64,
    worst_ms: f64,
    rss_app_mb: f64,
    pss_app_mb: f64,
    anon_app_mb: f64,
    pss_total_mb: f64,
}

impl Figures {
    fn json(&self, build: &str, app: &Path) -> serde_json::Value {
        serde_json::json!({
            "build": build,
            "app": app.display().to_string(),
            "interactive_ms": self.times,
            "interactive_ms_median": self.median_ms,
            "idle_rss_app_mb": self.rss_app_mb,
            "idle_pss_app_mb": self.pss_app_mb,
            "idle_anonymous_app_mb": self.anon_app_mb,
            "idle_pss_with_webview_mb": self.pss_total_mb,
        })
    }
}

/// Launches `app` `runs` times on `home`; the last launch waits out the idle period.
fn measure(app: &Path, display: &str, home: &Path, runs: usize, label: &str) -> Result<Figures> {
    step(&format!(
        "the window ({label}): {runs} launches on the demo network"
    ));
    let mut launches = Vec::new();
    for i in 0..runs {
        let launch = launch_once(app, display, home, i + 1 == runs)?;
        eprintln!(
            "    launch {}: interactive after {:.0} ms",
            i + 1,
            launch.interactive_ms
        );
        launches.push(launch);
    }
    let mut times: Vec<f64> = launches.iter().map(|l| l.interactive_ms).collect();
    times.sort_by(f64::total_cmp);
    let last = launches.last().ok_or("no launch")?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    Ok(Figures {
        median_ms: times[times.len() / 2],
        worst_ms: times[times.len() - 1],
        rss_app_mb: mb(last.rss_app_kb),
        pss_app_mb: mb(last.pss_app_kb),
        anon_app_mb: mb(last.anon_app_kb),
        pss_total_mb: mb(last.pss_total_kb),
        times,
    })
}

/// The installed release app: the last `.deb` of `cargo xtask dist` installed into a scratch
/// root (made now if `dist` has not run).
fn installed_release_app() -> Result<PathBuf> {
    if crate::dist::last_packages().iter().all(|(f, _)| f != "deb") {
        step("no release packages yet: building them (cargo xtask dist)");
        crate::dist::dist(&[])?;
    }
    crate::install_check::install_last_deb()
}

/// `cargo xtask bench`, the window: launch → first interactive screen, and proportional memory
/// at idle, on the demo network under a private Xvfb display, for the debug and the installed
/// release build.
pub fn bench_window(quick: bool) -> Result {
    ensure_tools(false)?;
    let release_app = installed_release_app()?;
    build_ui(false)?;
    step("building the desktop app and the CLI (debug, as `cargo xtask run` starts them)");
    cmd(
        "cargo",
        &["build", "-p", "carelog-desktop", "-p", "carelog-cli"],
    )?;
    let dir = root().join("target/bench/desktop-demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("could not clear {}: {e}", dir.display()))?;
    }
    let built = Command::new(root().join("target/debug/carelog"))
        .args(["demo", "--dir"])
        .arg(&dir)
        .env("CARELOG_NODE_PASSPHRASE", super::demo_node_passphrase())
        .output()
        .map_err(|e| format!("could not run the demo: {e}"))?;
    if !built.status.success() {
        return Err("the demo network could not be built".into());
    }
    let display = Xvfb::start()?;
    let runs = if quick { 2 } else { 5 };
    let home = dir.join("clinic-1");
    let debug_app = root().join("target/debug/carelog-desktop");
    let debug = measure(&debug_app, &display.name, &home, runs, "debug build")?;
    let release = measure(
        &release_app,
        &display.name,
        &home,
        runs,
        "release build, installed from the .deb",
    )?;
    println!("\nDesktop window (demo network, Xvfb)");
    println!(
        "  {:<48} {:>9} {:>9} {:>9}",
        "measure", "debug", "release", "target"
    );
    let row = |what: &str, d: String, r: String, target: &str| {
        println!("  {what:<48} {d:>9} {r:>9} {target:>9}");
    };
    let ms = |v: f64| format!("{v:.0} ms");
    let mb = |v: f64| format!("{v:.0} MB");
    row(
        "launch → sign-in screen interactive (median)",
        ms(debug.median_ms),
        ms(release.median_ms),
        "< 1 s",
    );
    row(
        "launch → sign-in screen interactive (worst)",
        ms(debug.worst_ms),
        ms(release.worst_ms),
        "",
    );
    row(
        "app process at idle, proportional (PSS)",
        mb(debug.pss_app_mb),
        mb(release.pss_app_mb),
        "< 100 MB",
    );
    row(
        "app process at idle, resident (RSS)",
        mb(debug.rss_app_mb),
        mb(release.rss_app_mb),
        "",
    );
    row(
        "app process at idle, its own heap (anonymous)",
        mb(debug.anon_app_mb),
        mb(release.anon_app_mb),
        "",
    );
    row(
        "whole window with WebKit processes (PSS)",
        mb(debug.pss_total_mb),
        mb(release.pss_total_mb),
        "< 300 MB",
    );
    let packages = crate::dist::last_packages();
    for (format, bytes) in &packages {
        row(
            &format!("package size, .{format}"),
            String::new(),
            format!("{:.1} MB", *bytes as f64 / 1_048_576.0),
            "",
        );
    }
    println!(
        "  RSS counts whole shared libraries (WebKit, GTK, and Mesa's LLVM for software GL under Xvfb);\n  PSS charges each process its share. HealthyBlock's node alone (no window) used 95–430 MB:\n  the release app process's PSS is {:.2}× its lightest figure.",
        release.pss_app_mb / 95.0
    );
    let report = serde_json::json!({
        "launches": runs,
        "debug": debug.json("debug", &debug_app),
        "release": release.json("release (installed .deb)", &release_app),
        "packages": packages.iter().map(|(f, b)| serde_json::json!({"format": f, "bytes": b})).collect::<Vec<_>>(),
        "targets": {"interactive_s": 1, "idle_pss_app_mb": 100, "idle_pss_with_webview_mb": 300},
        "healthyblock_node_rss_mb": [95, 430],
    });
    let out = root().join("target/bench/desktop.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("could not write {}: {e}", out.display()))?;
    eprintln!("    written: {}", out.display());
    Ok(())
}

fn launch_once(app: &Path, display: &str, home: &Path, wait_idle: bool) -> Result<Launch> {
    use std::io::{BufRead, BufReader};
    let started = Instant::now();
    let mut child = Command::new(app)
        .arg("--home")
        .arg(home)
        .env("CARELOG_NODE_PASSPHRASE", super::demo_node_passphrase())
        .env("DISPLAY", display)
        .env("CARELOG_STARTUP_PROBE", "1")
        .env("XDG_DATA_HOME", root().join("target/bench/desktop-data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the desktop app: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    // Stopped (SIGTERM) however this returns.
    let app = Background(child);
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    let interactive_ms = loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("could not read the app's messages: {e}"))?;
        if n == 0 {
            return Err("the desktop app stopped before its sign-in screen showed".into());
        }
        if line.contains("sign-in screen ready") {
            break started.elapsed().as_secs_f64() * 1000.0;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            return Err("the sign-in screen did not show within 2 minutes".into());
        }
    };
    // Keep draining the app's messages so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    if wait_idle {
        std::thread::sleep(std::time::Duration::from_secs(10));
    }
    let pid = app.0.id();
    let rss_app_kb = rss_kb(pid);
    // Shared libraries (WebKit, GTK) are mapped in every one of these processes: the sum uses
    // each process's proportional share (PSS) so shared pages count once.
    let pss_total_kb = pss_kb(pid) + descendants(pid).into_iter().map(pss_kb).sum::<u64>();
    let pss_app_kb = pss_kb(pid);
    let anon_app_kb = rollup_kb(pid, "Anonymous:");
    drop(app);
    Ok(Launch {
        interactive_ms,
        rss_app_kb,
        pss_app_kb,
        anon_app_kb,
        pss_total_kb,
    })
}

/// Resident memory of a process in KiB (0 once it is gone).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Proportional resident memory of a process in KiB: its own pages plus its share of shared ones.
fn pss_kb(pid: u32) -> u64 {
    rollup_kb(pid, "Pss:")
}

/// One line of /proc/PID/smaps_rollup, in KiB (0 once the process is gone).
fn rollup_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Every process below `pid` (the window's WebKit processes).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // The parent is the 2nd field after the parenthesised command name.
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
                });
            if let Some(parent) = parent {
                parents.push((child, parent));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, parent)| *parent == p)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// A private X server for measuring the window.
struct Xvfb {
    name: String,
    _server: Background,
}

impl Xvfb {
    fn start() -> Result<Xvfb> {
        for n in 110..200 {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let name = format!(":{n}");
            let server = Command::new("Xvfb")
                .args([&name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("could not start Xvfb: {e}"))?;
            let server = Background(server);
            let socket = format!("/tmp/.X11-unix/X{n}");
            for _ in 0..100 {
                if Path::new(&socket).exists() {
                    return Ok(Xvfb {
                        name,
                        _server: server,
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Err("no X display could be started between :110 and :199".into())
    }
}
