//! Two clinics in their own network namespaces, joined by a veth pair shaped with netem
//! (300 ms delay, 1% loss, 50 kbit/s): they still converge. Needs root and `ip netns`; elsewhere
//! the test says why it did not run. Where the kernel lacks netem it shapes the rate alone with
//! tbf (or not at all) and says which shaping it used.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, add_user, create_network, field, join_network, spawn_server};

const PW: &str = "netem test passphrase";

/// `carelog` at `home`, in the network namespace `ns` when one is given.
fn carelog(ns: Option<&str>, home: &Path) -> Command {
    let launcher = match ns {
        Some(ns) => vec!["ip", "netns", "exec", ns],
        None => vec![],
    };
    common::with_secrets(common::bare_via(&launcher, Some(home)), PW, PW)
}

fn ok(ns: Option<&str>, home: &Path, args: &[&str]) -> Value {
    common::json_ok(carelog(ns, home).args(args))
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces joined by a shaped veth pair, removed on drop.
struct Link {
    a: String,
    b: String,
    shaping: &'static str,
}

fn tc(ns: &str, args: &[&str]) -> bool {
    let mut full = vec!["netns", "exec", ns, "tc", "qdisc", "add"];
    full.extend_from_slice(args);
    Command::new("ip")
        .args(&full)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Link {
    fn new() -> Result<Link, String> {
        let tag = std::process::id() % 100_000;
        let mut link = Link {
            a: format!("clA{tag}"),
            b: format!("clB{tag}"),
            shaping: "none",
        };
        let (va, vb) = (format!("vA{tag}"), format!("vB{tag}"));
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), link.a.clone()],
            vec!["netns".into(), "add".into(), link.b.clone()],
            vec![
                "link".into(),
                "add".into(),
                va.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                vb.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                va.clone(),
                "netns".into(),
                link.a.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                vb.clone(),
                "netns".into(),
                link.b.clone(),
            ],
        ];
        for step in &steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            if !ip(&args) {
                return Err(format!(
                    "`ip {}` failed (needs root and network namespaces)",
                    args.join(" ")
                ));
            }
        }
        for (ns, dev, addr) in [
            (&link.a, &va, "10.77.0.1/24"),
            (&link.b, &vb, "10.77.0.2/24"),
        ] {
            let run = |args: &[&str]| {
                let mut full = vec!["netns", "exec", ns.as_str(), "ip"];
                full.extend_from_slice(args);
                ip(&full)
            };
            if !(run(&["addr", "add", addr, "dev", dev])
                && run(&["link", "set", dev, "up"])
                && run(&["link", "set", "lo", "up"]))
            {
                return Err("could not configure the veth link".into());
            }
            let netem = [
                "dev", dev, "root", "netem", "delay", "300ms", "loss", "1%", "rate", "50kbit",
            ];
            let tbf = [
                "dev", dev, "root", "tbf", "rate", "50kbit", "burst", "1600", "latency", "400ms",
            ];
            link.shaping = if tc(ns, &netem) {
                "netem: 300 ms delay, 1% loss, 50 kbit/s"
            } else if tc(ns, &tbf) {
                "tbf: 50 kbit/s only (this kernel has no netem, so no delay or loss)"
            } else {
                "none (this kernel has neither netem nor tbf)"
            };
        }
        Ok(link)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
    }
}

#[test]
fn clinics_on_a_slow_lossy_link_still_converge() {
    let link = match Link::new() {
        Ok(link) => link,
        Err(why) => {
            eprintln!("SKIPPED clinics_on_a_slow_lossy_link_still_converge: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (north, south) = (dir.path().join("north"), dir.path().join("south"));
    let admin = field(
        &create_network(&north, PW, "D", "North", "Nora"),
        "admin_id",
    );
    join_network(&north, &south, "South", "Sam", PW);
    for i in 0..10 {
        add_user(&north, (&admin, PW), "doctor", &format!("Dr {i}"), PW, &[]);
    }
    let _server =
        spawn_server(carelog(Some(&link.a), &north).args(["serve", "--listen", "10.77.0.1:7400"]));
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let report = ok(Some(&link.b), &south, &["sync", "--peer", "10.77.0.1:7400"]);
    let took = started.elapsed();
    assert!(report["received"].as_u64().unwrap() >= 10, "{report}");
    let hash = |home: &Path| ok(None, home, &["ledger", "stats"])["state_hash"].clone();
    assert_eq!(hash(&north), hash(&south));
    eprintln!(
        "converged across network namespaces with shaping {} in {:.1} s",
        link.shaping,
        took.as_secs_f64()
    );
}
