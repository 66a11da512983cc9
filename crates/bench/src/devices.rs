//! Propagation inside one clinic: three machines of North (the office PC, a bedside laptop and
//! the front-desk kiosk) each run the app's own node beside its sync link, as the desktop app
//! does, on loopback QUIC; the laptop and the kiosk keep a link to the office. A doctor saves an
//! entry on the laptop; the time until the office's app sees it (direct) and until the kiosk's
//! does (relayed by the office) is measured, entry after entry. Carelog's target is "well under
//! a second"; nothing here checks it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use carelog_ledger::DeviceRole;
use carelog_node::{Link, Node};
use serde_json::{Value, json};

use crate::Error;
use crate::measure::Latencies;

/// The target: an entry on another machine of the clinic within this many milliseconds.
pub const TARGET_MS: f64 = 1_000.0;

/// What one run measured.
pub struct Propagation {
    /// Entries saved on the laptop.
    pub entries: usize,
    /// Laptop → office (a direct link).
    pub direct: Latencies,
    /// Laptop → kiosk (through the office).
    pub relayed: Latencies,
}

impl Propagation {
    /// The rows of the report.
    pub fn table(&self) -> String {
        let row = |what: &str, l: &Latencies| {
            format!(
                "{what:<34} {:>8.1} {:>8.1} {:>8.1} {:>10.0}×\n",
                l.percentile(50.0),
                l.percentile(95.0),
                l.percentile(100.0),
                TARGET_MS / l.percentile(95.0)
            )
        };
        let mut t = format!(
            "\nAn entry reaching the clinic's other machines ({} entries, loopback QUIC)\n\
             {:<34} {:>8} {:>8} {:>8} {:>11}\n",
            self.entries, "path", "p50 ms", "p95 ms", "max ms", "vs 1 s"
        );
        t.push_str(&row("bedside laptop → office PC", &self.direct));
        t.push_str(&row("bedside laptop → kiosk (relayed)", &self.relayed));
        t
    }

    /// For `report.json`.
    pub fn json(&self) -> Value {
        json!({
            "entries": self.entries,
            "laptop_to_office": self.direct.summary(),
            "laptop_to_kiosk_relayed": self.relayed.summary(),
            "target_ms": TARGET_MS,
        })
    }
}

/// Pairs a new machine at `root` with the clinic of `office` in `role`.
fn pair(
    office: &mut Node,
    admin: &carelog_node::Session,
    root: &std::path::Path,
    role: DeviceRole,
) -> Result<Node, Error> {
    let request = root.with_extension("request");
    Node::request_device(root, "Bench machine", &request, &crate::unlock())?;
    let pairing = office.approve_device(admin, &std::fs::read(&request)?, role, &[])?;
    Ok(Node::join_with(root, &pairing.invite, &crate::unlock())?)
}

/// Waits until `node` holds the entry `id` (the app reads blocks its link stored).
fn wait_for(
    node: &mut Node,
    patient: carelog_ledger::ActorId,
    id: carelog_ledger::TxId,
) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        node.refresh()?;
        let held = node
            .ledger()
            .state()
            .patient(&patient)
            .is_some_and(|f| f.entries().iter().any(|e| e.id == id));
        if held {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("an entry did not reach the clinic's other machine within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until each link has a peer in sync.
pub(crate) fn wait_linked(links: &[&Link]) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !links.iter().all(|l| {
        l.status()
            .peers
            .iter()
            .any(|p| p.state == carelog_node::LinkState::InSync)
    }) {
        if Instant::now() > deadline {
            return Err("the clinic's machines did not connect within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Measures `entries` entries saved on the laptop reaching the office and the kiosk.
pub fn measure(rt: &tokio::runtime::Runtime, entries: usize) -> Result<Propagation, Error> {
    let dir = tempfile::tempdir()?;
    let crate::BenchClinic {
        node: mut office,
        admin,
        doctor,
        patient,
    } = crate::bench_clinic(&dir.path().join("office"))?;
    let mut laptop = pair(
        &mut office,
        &admin,
        &dir.path().join("laptop"),
        DeviceRole::Staff,
    )?;
    let mut kiosk = pair(
        &mut office,
        &admin,
        &dir.path().join("kiosk"),
        DeviceRole::Kiosk,
    )?;

    let _in_runtime = rt.enter();
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let office_link = Link::start(&office, any, Vec::new())?;
    let to_office = vec![office_link.local_addr()];
    let laptop_link = Link::start(&laptop, any, to_office.clone())?;
    let kiosk_link = Link::start(&kiosk, any, to_office)?;
    wait_linked(&[&laptop_link, &kiosk_link])?;

    let doc = laptop.unlock(doctor, crate::STAFF_PASSPHRASE)?;
    let mut direct = Vec::with_capacity(entries);
    let mut relayed = Vec::with_capacity(entries);
    for i in 0..entries {
        let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20)}).to_string();
        let saved = Instant::now();
        let id = laptop.add_entry(&doc, patient, "vitals", &data, None)?;
        // As the app does after every command that may have written.
        laptop_link.nudge();
        wait_for(&mut office, patient, id)?;
        direct.push(saved.elapsed());
        wait_for(&mut kiosk, patient, id)?;
        relayed.push(saved.elapsed());
    }
    drop((laptop_link, kiosk_link, office_link));
    Ok(Propagation {
        entries,
        direct: Latencies(direct),
        relayed: Latencies(relayed),
    })
}
