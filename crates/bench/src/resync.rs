//! HealthyBlock's resilience experiment: a clinic that was offline while another charted N
//! records reconnects and catches up.
//!
//! North charts N vitals entries for one patient, each sealed in a block of its own (the most
//! blocks N records can take), while South has joined but not synced. South then connects over
//! loopback QUIC and the time to hold every block, validated and stored, is measured.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carelog_ledger::Role;
use carelog_node::{NewNetwork, Node};
use serde_json::json;

use crate::Error;

/// One resync.
#[derive(Clone, Debug)]
pub struct Resync {
    /// Records charted at North while South was away.
    pub records: usize,
    /// From connecting until South held them all.
    pub took: Duration,
    /// Blocks South received.
    pub blocks: usize,
}

impl Resync {
    /// Milliseconds taken.
    pub fn ms(&self) -> f64 {
        self.took.as_secs_f64() * 1000.0
    }
}

/// Resyncs `records` records once.
pub fn measure(rt: &tokio::runtime::Runtime, records: usize) -> Result<Resync, Error> {
    let dir = tempfile::tempdir()?;
    let (mut north, created) = Node::create_network_with(
        &dir.path().join("north"),
        &NewNetwork {
            network: "Bench",
            clinic: "North",
            admin: "Admin",
            admin_passphrase: crate::STAFF_PASSPHRASE,
            authority_passphrase: crate::STAFF_PASSPHRASE,
        },
        &crate::unlock(),
    )?;
    let request = dir.path().join("req.json");
    Node::request_join_with(
        &dir.path().join("south"),
        "South",
        "South Admin",
        crate::STAFF_PASSPHRASE,
        &request,
        &crate::unlock(),
    )?;
    let authority = north.open_authority(crate::STAFF_PASSPHRASE)?;
    let (_, invite) = north.approve(&authority, &std::fs::read(&request)?, &[])?;
    let south = Node::join_with(&dir.path().join("south"), &invite, &crate::unlock())?;
    let admin = north.unlock(created.admin_id, crate::STAFF_PASSPHRASE)?;
    let doctor = north.add_user(
        &admin,
        Role::Doctor,
        "Dr Bench",
        None,
        crate::STAFF_PASSPHRASE,
    )?;
    let (patient, _) = north.register_patient(
        &admin,
        "Bench Patient",
        "1970-01-01",
        "other",
        crate::PATIENT_PIN,
    )?;
    north.assign(&admin, patient, doctor, true)?;
    let doc = north.unlock(doctor, crate::STAFF_PASSPHRASE)?;
    for i in 0..records {
        let data = json!({"systolic": 110 + (i % 40), "diastolic": 70 + (i % 20)}).to_string();
        north.add_entry(&doc, patient, "vitals", &data, None)?;
    }
    // North is listening once its endpoint is bound; the clock starts when South dials.
    let endpoint = {
        let _in_runtime = rt.enter();
        north.bind_endpoint(([127, 0, 0, 1], 0).into())?
    };
    let addr = endpoint.local_addr()?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let server = rt.spawn(carelog_node::serve_on(
        north,
        endpoint,
        Vec::new(),
        shutdown,
        |_| {},
    ));
    let south = Arc::new(Mutex::new(south));
    let started = Instant::now();
    let report = rt.block_on(carelog_node::sync_once(
        &south,
        addr,
        Duration::from_secs(300),
    ))?;
    let took = started.elapsed();
    let _ = stop.send(true);
    let _ = rt.block_on(server);
    if report.received_blocks < records {
        return Err(format!(
            "South received {} blocks of the {records} records",
            report.received_blocks
        )
        .into());
    }
    Ok(Resync {
        records,
        took,
        blocks: report.received_blocks,
    })
}
