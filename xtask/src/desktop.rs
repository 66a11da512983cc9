//! The desktop parts of `cargo xtask`: installing the window's toolchain (TOOLCHAIN.md), building
//! the Leptos UI with trunk before any cargo build of the app, opening the demo network in the
//! window, and the end-to-end tests under Xvfb.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::{Result, cmd, is_root, root, step};

/// Debian packages the window, its build and its tests need (TOOLCHAIN.md, step 1).
const APT_PACKAGES: [&str; 13] = [
    "libwebkit2gtk-4.1-dev",
    "build-essential",
    "libssl-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libsoup-3.0-dev",
    "libjavascriptcoregtk-4.1-dev",
    "pkg-config",
    "xvfb",
    "webkit2gtk-driver",
    "imagemagick",
    "x11-utils",
    "python3",
];

/// Cargo-installed tools at the versions that work here: (crate, version, binary, --locked).
/// wasm-bindgen-cli must equal the `wasm-bindgen` pinned in ui/Cargo.toml, and its lock file
/// pins a crate the registry lacks, so it installs without `--locked`.
const CARGO_TOOLS: [(&str, &str, &str, bool); 3] = [
    ("trunk", "0.21.14", "trunk", true),
    ("wasm-bindgen-cli", "0.2.130", "wasm-bindgen", false),
    ("tauri-driver", "2.1.0", "tauri-driver", true),
];

/// Whether a window can open here.
pub fn has_display() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn apt_packages() -> Result {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        eprintln!(
            "    (not a Debian system: make sure WebKitGTK 4.1, Xvfb and WebKitWebDriver are installed)"
        );
        return Ok(());
    }
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "the desktop app needs these packages; please install them (as root): apt-get install {}",
            missing.join(" ")
        ));
    }
    step(&format!("installing {}", missing.join(" ")));
    cmd("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not start apt-get: {e}"))?;
    if !status.success() {
        return Err(format!("apt-get install {} failed", missing.join(" ")));
    }
    Ok(())
}

fn wasm_target() -> Result {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("could not start rustup: {e}"))?;
    if !String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        cmd("rustup", &["target", "add", "wasm32-unknown-unknown"])?;
    }
    Ok(())
}

fn cargo_tools(names: &[&str]) -> Result {
    let list = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .map_err(|e| format!("could not list installed cargo tools: {e}"))?;
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for (krate, version, binary, locked) in CARGO_TOOLS {
        if !names.contains(&krate) {
            continue;
        }
        // `cargo install --list` prints "trunk v0.21.14:" then its binaries.
        if list
            .lines()
            .any(|l| l.starts_with(&format!("{krate} v{version}:")))
        {
            continue;
        }
        step(&format!(
            "installing {binary} {version} (a few minutes, once)"
        ));
        let mut args = vec!["install", krate, "--version", version];
        if locked {
            args.push("--locked");
        }
        cmd("cargo", &args)?;
    }
    Ok(())
}

/// Installs what building the window needs; with `for_tests`, also what driving it needs.
pub fn ensure_tools(for_tests: bool) -> Result {
    apt_packages()?;
    wasm_target()?;
    if for_tests {
        cargo_tools(&["trunk", "wasm-bindgen-cli", "tauri-driver"])
    } else {
        cargo_tools(&["trunk", "wasm-bindgen-cli"])
    }
}

/// Builds the UI into ui/dist with trunk (offline: dependencies are fetched first), which every
/// cargo build, check or clippy of the app needs.
pub fn build_ui() -> Result {
    step("building the window (trunk, wasm32)");
    cmd("cargo", &["fetch"])?;
    let started = Instant::now();
    let status = Command::new("trunk")
        .arg("build")
        .current_dir(root().join("ui"))
        .status()
        .map_err(|e| format!("could not start trunk: {e}"))?;
    if !status.success() {
        return Err("`trunk build` in ui/ failed".into());
    }
    eprintln!(
        "    (trunk build took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test`, before fmt and clippy: the toolchain and ui/dist.
pub fn prepare_tests() -> Result {
    ensure_tools(true)?;
    build_ui()
}

/// `cargo xtask test`, last: the window driven end to end. The app and the CLI are built
/// before, with the rest of the workspace.
pub fn e2e() -> Result {
    step("end-to-end tests of the window (Xvfb + tauri-driver)");
    cmd("cargo", &["test", "-p", "carelog-e2e"])?;
    eprintln!("    screenshots: {}", root().join("target/e2e").display());
    Ok(())
}

/// `cargo xtask run` with a display: builds the window and the app, builds the demo network with
/// `demo`, starts South Harbour and East Ridge as headless `carelog serve` nodes, and opens North
/// Valley in the window, linked to both, until the window is closed. A little later South
/// Harbour charts new vitals for the patient it referred to North's cardiologist, so the window
/// shows records arriving from another clinic.
///
/// The window is a debug build: it shares its artifacts with `cargo xtask test` and builds in a
/// third of a release build's time (18 min on two cores), and the dev profile already optimises
/// the crates that make unlocking and sealing slow.
pub fn run_window(demo: impl FnOnce() -> Result, carelog: &Path) -> Result {
    ensure_tools(false)?;
    build_ui()?;
    step("building the desktop app");
    cmd("cargo", &["build", "-p", "carelog-desktop"])?;
    demo()?;
    let demo_dir = root().join("target/demo");
    let north = demo_dir.join("clinic-1");
    let ports = [free_udp_port()?, free_udp_port()?, free_udp_port()?];
    let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
    step("starting South Harbour and East Ridge headless beside the window");
    let mut beside = Vec::new();
    for (i, name) in [(1, "South Harbour"), (2, "East Ridge")] {
        let home = demo_dir.join(format!("clinic-{}", i + 1));
        let log = demo_dir.join(format!("clinic-{}-serve.log", i + 1));
        let child = Command::new(carelog)
            .arg("--home")
            .arg(&home)
            .args(["serve", "--listen", &addr(i)])
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(&log)
                    .map_err(|e| format!("could not create {}: {e}", log.display()))?,
            )
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        eprintln!("    {name} serves on {} (log: {})", addr(i), log.display());
        beside.push(Background(child));
    }
    let referral = spawn_referral_visit(carelog, &demo_dir.join("clinic-2"));
    step(&format!("opening {} in the window", north.display()));
    eprintln!("    staff passphrase: demo-pass   patient PIN: 1234");
    eprintln!(
        "    in about 20 s South Harbour charts new vitals for its referred patient: sign in as\n    Dr Lukas Brandt to see them arrive, or as Nora Admin for the peers panel"
    );
    let status = Command::new(root().join("target/debug/carelog-desktop"))
        .arg("--home")
        .arg(&north)
        .args(["--listen", &addr(0), "--peer", &addr(1), "--peer", &addr(2)])
        .status()
        .map_err(|e| format!("could not start the desktop app: {e}"))?;
    drop(beside);
    let _ = referral.join();
    if !status.success() {
        return Err(format!("the desktop app stopped ({status})"));
    }
    Ok(())
}

/// A port no one uses on loopback right now.
fn free_udp_port() -> Result<u16> {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on loopback: {e}"))
}

/// A headless clinic, stopped (SIGTERM, then kill) when the window closes.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// After a while, South Harbour's family doctor charts vitals for her patient Grace, whom North
/// Valley's cardiologist may read: the running `serve` there pushes the block to the window.
fn spawn_referral_visit(carelog: &Path, south: &Path) -> std::thread::JoinHandle<()> {
    let carelog = carelog.to_path_buf();
    let south = south.to_path_buf();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let run = |args: &[&str]| {
            Command::new(&carelog)
                .arg("--home")
                .arg(&south)
                .arg("--json")
                .args(args)
                .env("CARELOG_PASSPHRASE", "demo-pass")
                .output()
        };
        let patient = run(&["patients", "--as", "Dr Ines Duarte"])
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["patients"][0]["patient_id"].as_str().map(str::to_string));
        let Some(patient) = patient else {
            eprintln!("    (South Harbour's visit was skipped: its patients could not be listed)");
            return;
        };
        let vitals = r#"{"systolic":142,"diastolic":91,"heart_rate":88}"#;
        match run(&[
            "chart",
            "add",
            "--as",
            "Dr Ines Duarte",
            "--patient",
            &patient,
            "--kind",
            "vitals",
            "--data",
            vitals,
        ]) {
            Ok(o) if o.status.success() => eprintln!(
                "    South Harbour charted new vitals for patient {patient}; they sync to North Valley now"
            ),
            _ => eprintln!("    (South Harbour's visit did not chart: is the demo intact?)"),
        }
    })
}

/// One launch of the window: how long until the sign-in screen asked for its staff list, and
/// the resident memory of the app and of its web processes once idle.
struct Launch {
    interactive_ms: f64,
    rss_app_kb: u64,
    pss_app_kb: u64,
    anon_app_kb: u64,
    rss_total_kb: u64,
}

/// `cargo xtask bench`, the window: launch → first interactive screen, and resident memory at
/// idle, on the demo network under a private Xvfb display. Written to target/bench/desktop.json.
pub fn bench_window(quick: bool) -> Result {
    ensure_tools(false)?;
    build_ui()?;
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
        .output()
        .map_err(|e| format!("could not run the demo: {e}"))?;
    if !built.status.success() {
        return Err("the demo network could not be built".into());
    }
    let display = Xvfb::start()?;
    let runs = if quick { 2 } else { 5 };
    step(&format!("the window: {runs} launches on the demo network"));
    let mut launches = Vec::new();
    for i in 0..runs {
        // Only the last launch waits out the idle period for the memory reading.
        let launch = launch_once(&display.name, &dir.join("clinic-1"), i + 1 == runs)?;
        eprintln!(
            "    launch {}: interactive after {:.0} ms",
            i + 1,
            launch.interactive_ms
        );
        launches.push(launch);
    }
    let mut times: Vec<f64> = launches.iter().map(|l| l.interactive_ms).collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    let last = launches.last().ok_or("no launch")?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let (rss_mb, pss_mb, anon_mb, total_mb) = (
        mb(last.rss_app_kb),
        mb(last.pss_app_kb),
        mb(last.anon_app_kb),
        mb(last.rss_total_kb),
    );
    println!("\nDesktop window (debug build, demo network, Xvfb)");
    println!("  {:<48} {:>9} {:>9}", "measure", "Carelog", "target");
    let row = |what: &str, value: String, target: &str| {
        println!("  {what:<48} {value:>9} {target:>9}");
    };
    row(
        "launch → sign-in screen interactive (median)",
        format!("{median:.0} ms"),
        "< 2 s",
    );
    row(
        "launch → sign-in screen interactive (worst)",
        format!("{worst:.0} ms"),
        "",
    );
    row(
        "app process at idle, proportional (PSS)",
        format!("{pss_mb:.0} MB"),
        "< 150 MB",
    );
    row(
        "app process at idle, resident (RSS)",
        format!("{rss_mb:.0} MB"),
        "",
    );
    row(
        "app process at idle, its own heap (anonymous)",
        format!("{anon_mb:.0} MB"),
        "",
    );
    row(
        "whole window with WebKit processes (PSS)",
        format!("{total_mb:.0} MB"),
        "",
    );
    println!(
        "  RSS counts whole shared libraries (WebKit, GTK, and Mesa's LLVM for software GL under Xvfb);\n  PSS charges each process its share. HealthyBlock's node alone (no window) used 95–430 MB:\n  the app process's PSS is {:.2}× its lightest figure.",
        pss_mb / 95.0
    );
    let report = serde_json::json!({
        "build": "debug",
        "launches": runs,
        "interactive_ms": times,
        "interactive_ms_median": median,
        "idle_rss_app_mb": rss_mb,
        "idle_pss_app_mb": pss_mb,
        "idle_anonymous_app_mb": anon_mb,
        "idle_pss_with_webview_mb": total_mb,
        "targets": {"interactive_s": 2, "idle_rss_mb": 150},
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

fn launch_once(display: &str, home: &Path, wait_idle: bool) -> Result<Launch> {
    use std::io::{BufRead, BufReader};
    let started = Instant::now();
    let mut child = Command::new(root().join("target/debug/carelog-desktop"))
        .arg("--home")
        .arg(home)
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
    let rss_total_kb = pss_kb(pid) + descendants(pid).into_iter().map(pss_kb).sum::<u64>();
    let pss_app_kb = pss_kb(pid);
    let anon_app_kb = rollup_kb(pid, "Anonymous:");
    drop(app);
    Ok(Launch {
        interactive_ms,
        rss_app_kb,
        pss_app_kb,
        anon_app_kb,
        rss_total_kb,
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
