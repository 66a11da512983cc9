//! A new entry reaching ten clinics: ten clinic homes on loopback QUIC, each running the app's
//! own node beside its sync link (as the desktop app does), nine of them linked to a hub
//! (the first) as a district would be. A doctor at the second clinic saves an entry; the time
//! until the hub holds it, and until the last of the other eight does (relayed by the hub), is
//! measured entry after entry.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use carelog_ledger::{ActorId, Role, TxId};
use carelog_node::{Link, NewNetwork, Node};
use serde_json::{Value, json};

use crate::Error;
use crate::measure::Latencies;

/// How many clinics.
pub const CLINICS: usize = 10;

/// What one run measured.
pub struct TenClinics {
    /// Entries saved.
    pub entries: usize,
    /// The writing clinic → the hub.
    pub to_hub: Latencies,
    /// The writing clinic → the last of all ten.
    pub to_all: Latencies,
}

impl TenClinics {
    /// The rows of the report.
    pub fn table(&self) -> String {
        let row = |what: &str, l: &Latencies| {
            format!(
                "{what:<34} {:>8.1} {:>8.1} {:>8.1}\n",
                l.percentile(50.0),
                l.percentile(95.0),
                l.percentile(100.0),
            )
        };
        let mut t = format!(
            "\nA new entry reaching {CLINICS} clinics ({} entries, loopback QUIC, one hub)\n\
             {:<34} {:>8} {:>8} {:>8}\n",
            self.entries, "path", "p50 ms", "p95 ms", "max ms"
        );
        t.push_str(&row("writer → hub", &self.to_hub));
        t.push_str(&row("writer → all ten", &self.to_all));
        t
    }

    /// For `report.json`.
    pub fn json(&self) -> Value {
        json!({
            "clinics": CLINICS,
            "entries": self.entries,
            "to_hub": self.to_hub.summary(),
            "to_all": self.to_all.summary(),
        })
    }
}

fn holds(node: &mut Node, patient: ActorId, id: TxId) -> Result<bool, Error> {
    node.refresh()?;
    Ok(node
        .ledger()
        .state()
        .patient(&patient)
        .is_some_and(|f| f.entries().iter().any(|e| e.id == id)))
}

/// Measures `entries` entries written at the second clinic reaching all ten.
pub fn measure(rt: &tokio::runtime::Runtime, entries: usize) -> Result<TenClinics, Error> {
    let dir = tempfile::tempdir()?;
    let (mut hub, created) = Node::create_network_with(
        &dir.path().join("clinic-0"),
        &NewNetwork {
            network: "Bench",
            clinic: "Hub",
            admin: "Admin",
            admin_passphrase: crate::STAFF_PASSPHRASE,
            authority_passphrase: crate::STAFF_PASSPHRASE,
        },
        &crate::unlock(),
    )?;
    let authority = hub.open_authority(crate::STAFF_PASSPHRASE)?;
    let mut others = Vec::new();
    let mut admins = Vec::new();
    for i in 1..CLINICS {
        let root = dir.path().join(format!("clinic-{i}"));
        let request = dir.path().join(format!("clinic-{i}.request"));
        let (_, admin) = Node::request_join_with(
            &root,
            &format!("Clinic {i}"),
            &format!("Admin {i}"),
            crate::STAFF_PASSPHRASE,
            &request,
            &crate::unlock(),
        )?;
        let (_, invite) = hub.approve(&authority, &std::fs::read(&request)?, &[])?;
        others.push((root, invite));
        admins.push(admin);
    }
    // Every clinic joins from the last invite, which carries every enrolment.
    let last_invite = others.last().map(|(_, i)| i.clone()).unwrap_or_default();
    let mut nodes: Vec<Node> = Vec::new();
    for (root, _) in &others {
        nodes.push(Node::join_with(root, &last_invite, &crate::unlock())?);
    }
    // A doctor and a patient at the writing clinic.
    let writer = &mut nodes[0];
    let admin = writer.unlock(admins[0], crate::STAFF_PASSPHRASE)?;
    let doctor = writer.add_user(
        &admin,
        Role::Doctor,
        "Dr Bench",
        None,
        crate::STAFF_PASSPHRASE,
    )?;
    let (patient, _) = writer.register_patient(
        &admin,
        "Bench Patient",
        "1970-01-01",
        "other",
        crate::PATIENT_PIN,
    )?;
    writer.assign(&admin, patient, doctor, true)?;
    let _ = created;

    let _in_runtime = rt.enter();
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let hub_link = Link::start(&hub, any, Vec::new())?;
    let links: Vec<Link> = nodes
        .iter()
        .map(|n| Link::start(n, any, vec![hub_link.local_addr()]))
        .collect::<Result<_, _>>()?;
    crate::devices::wait_linked(&links.iter().collect::<Vec<_>>())?;

    let doc = nodes[0].unlock(doctor, crate::STAFF_PASSPHRASE)?;
    let mut to_hub = Vec::with_capacity(entries);
    let mut to_all = Vec::with_capacity(entries);
    for i in 0..entries {
        let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20)}).to_string();
        let saved = Instant::now();
        let id = nodes[0].add_entry(&doc, patient, "vitals", &data, None)?;
        links[0].nudge();
        let deadline = saved + Duration::from_secs(30);
        let mut waiting: Vec<usize> = (1..nodes.len()).collect();
        let mut hub_done = false;
        while !(hub_done && waiting.is_empty()) {
            if Instant::now() > deadline {
                return Err("an entry did not reach every clinic within 30 s".into());
            }
            if !hub_done && holds(&mut hub, patient, id)? {
                hub_done = true;
                to_hub.push(saved.elapsed());
            }
            let mut still = Vec::new();
            for n in waiting {
                if !holds(&mut nodes[n], patient, id)? {
                    still.push(n);
                }
            }
            waiting = still;
            std::thread::sleep(Duration::from_millis(1));
        }
        to_all.push(saved.elapsed());
    }
    drop(links);
    drop(hub_link);
    Ok(TenClinics {
        entries,
        to_hub: Latencies(to_hub),
        to_all: Latencies(to_all),
    })
}
