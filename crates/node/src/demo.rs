//! The demo network: three clinic homes with staff, synthetic patients and their charts, linked
//! over QUIC on this machine, told as a story as it is built. `carelog demo` and the window's
//! "Open the demo network" both build it here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_chart::AccessLevel;
use carelog_ledger::{ActorId, Role};
use serde::Deserialize;

use crate::error::io_err;
use crate::{
    Card, DEMO_PATIENT_PIN, DEMO_STAFF_PASSPHRASE, NewNetwork, Node, NodeError, NodeUnlock, Result,
};

/// One clinic's home in the demo network.
#[derive(Clone, Debug)]
pub struct DemoHome {
    /// The clinic's name.
    pub clinic: String,
    /// Its home directory.
    pub home: PathBuf,
    /// Its id.
    pub clinic_id: ActorId,
    /// The patients it registered.
    pub patients: Vec<ActorId>,
}

/// What [`build_demo`] made.
#[derive(Debug)]
pub struct DemoNetwork {
    /// The homes, the founding clinic's first.
    pub homes: Vec<DemoHome>,
    /// Every patient's card (each opens with [`DEMO_PATIENT_PIN`]).
    pub cards: BTreeMap<ActorId, Card>,
}

#[derive(Deserialize)]
struct Sample {
    clinics: Vec<SampleClinic>,
}

#[derive(Deserialize)]
struct SampleClinic {
    name: String,
    admin: String,
    doctors: Vec<SampleDoctor>,
    lab: Option<String>,
    patients: Vec<SamplePatient>,
}

#[derive(Deserialize)]
struct SampleDoctor {
    name: String,
    specialty: String,
}

#[derive(Deserialize)]
struct SamplePatient {
    name: String,
    birth_date: String,
    sex: String,
    /// A year of visits, oldest first.
    visits: Vec<SampleVisit>,
}

/// One visit, dated `days_ago` days before the demo is built, and what was charted in it.
#[derive(Deserialize)]
struct SampleVisit {
    days_ago: i64,
    reason: String,
    entries: Vec<SampleEntry>,
}

#[derive(Deserialize)]
struct SampleEntry {
    kind: String,
    /// The entry's data; a string `"@-N"` stands for the date N days before the demo is built.
    data: serde_json::Value,
}

const DAY_MS: i64 = 86_400_000;

/// `data` with every `"@-N"` replaced by the date N days before `now_ms`.
fn dated(data: &serde_json::Value, now_ms: i64) -> serde_json::Value {
    use serde_json::Value;
    match data {
        Value::String(s) => match s.strip_prefix("@-").and_then(|n| n.parse::<i64>().ok()) {
            Some(days) => Value::from(&crate::home::rfc3339(now_ms - days * DAY_MS)[..10]),
            None => data.clone(),
        },
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), dated(v, now_ms)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The passphrase the demo seals its health authority's key under: `$CARELOG_AUTHORITY_PASSPHRASE`
/// if set, else the demo's published one.
pub fn demo_authority_passphrase() -> String {
    std::env::var(crate::AUTHORITY_PASSPHRASE_VAR)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| crate::DEMO_AUTHORITY_PASSPHRASE.to_string())
}

/// Builds the demo network under `dir` (which must be empty or absent), sealing every home's
/// keys with `unlock` and the health authority's key under `authority_passphrase`; each step
/// of the story goes to `say` as it happens. Staff sign in with [`DEMO_STAFF_PASSPHRASE`].
pub fn build_demo(
    dir: &Path,
    unlock: &NodeUnlock,
    authority_passphrase: &str,
    say: &mut dyn FnMut(String),
) -> Result<DemoNetwork> {
    let sample: Sample =
        serde_json::from_str(include_str!("../../../assets/demo-patients.json"))
            .map_err(|e| NodeError::Damaged(format!("the demo's sample patients: {e}")))?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .next()
            .is_some()
    {
        return Err(NodeError::invalid(format!(
            "{} is not empty; choose a new directory for the demo",
            dir.display()
        )));
    }
    let mut homes = Vec::new();
    let mut first: Option<Node> = None;
    let mut cards: BTreeMap<ActorId, Card> = BTreeMap::new();

    for (i, clinic) in sample.clinics.iter().enumerate() {
        let home = dir.join(format!("clinic-{}", i + 1));
        let mut node = match first.as_mut() {
            None => {
                let (node, created) = Node::create_network_with(
                    &home,
                    &NewNetwork {
                        network: "Demo District",
                        clinic: &clinic.name,
                        admin: &clinic.admin,
                        admin_passphrase: DEMO_STAFF_PASSPHRASE,
                        authority_passphrase,
                    },
                    unlock,
                )?;
                say(format!(
                    "The health authority founds \"Demo District\"; {} is its first clinic (network {}).",
                    clinic.name, created.network_id
                ));
                node
            }
            Some(founder) => {
                let request = dir.join(format!("clinic-{}-request.json", i + 1));
                Node::request_join_with(
                    &home,
                    &clinic.name,
                    &clinic.admin,
                    DEMO_STAFF_PASSPHRASE,
                    &request,
                    unlock,
                )?;
                let authority = founder.open_authority(authority_passphrase)?;
                let asked = std::fs::read(&request).map_err(io_err(&request))?;
                let (clinic_id, invite) = founder.approve(&authority, &asked, &[])?;
                let node = Node::join_with(&home, &invite, unlock)?;
                say(format!(
                    "{} asks to join; the health authority approves it (clinic {clinic_id}).",
                    clinic.name
                ));
                node
            }
        };
        let patients = staff_and_patients(&mut node, clinic, &mut cards, say)?;
        let (blocks, txs) = node.verify()?;
        let stats = node.stats()?;
        say(format!(
            "  {}: ledger verified, {blocks} blocks, {txs} transactions, state {}.",
            clinic.name,
            &stats.state_hash.to_string()[..16]
        ));
        homes.push(DemoHome {
            clinic: clinic.name.clone(),
            home,
            clinic_id: node.clinic_id(),
            patients,
        });
        if first.is_none() {
            first = Some(node);
        }
    }
    if let Some(north) = first.take() {
        let roots: Vec<PathBuf> = homes.iter().map(|h| h.home.clone()).collect();
        link_story(say, north, &roots, unlock, &cards)?;
    }
    Ok(DemoNetwork { homes, cards })
}

/// A clinic's admin enrolls its staff and registers its patients; the family doctor charts.
/// Returns the patients, in registration order.
fn staff_and_patients(
    node: &mut Node,
    clinic: &SampleClinic,
    cards: &mut BTreeMap<ActorId, Card>,
    say: &mut dyn FnMut(String),
) -> Result<Vec<ActorId>> {
    let admin_id = node.resolve_user(&clinic.admin)?;
    let admin = node.unlock(admin_id, DEMO_STAFF_PASSPHRASE)?;
    let mut doctors = Vec::new();
    for d in &clinic.doctors {
        let id = node.add_user(
            &admin,
            Role::Doctor,
            &d.name,
            Some(&d.specialty),
            DEMO_STAFF_PASSPHRASE,
        )?;
        say(format!(
            "  {} enrolls {} ({}).",
            clinic.admin, d.name, d.specialty
        ));
        doctors.push(id);
    }
    if let Some(lab) = &clinic.lab {
        node.add_user(&admin, Role::Lab, lab, None, DEMO_STAFF_PASSPHRASE)?;
        say(format!("  {} enrolls the lab {lab}.", clinic.admin));
    }
    let (Some(&family_doctor), Some(first_doctor)) = (doctors.first(), clinic.doctors.first())
    else {
        return Err(NodeError::Damaged(format!(
            "the demo's {} has no doctor",
            clinic.name
        )));
    };
    let custodian = node.unlock(family_doctor, DEMO_STAFF_PASSPHRASE)?;
    let mut patients = Vec::new();
    for p in &clinic.patients {
        let (id, card) =
            node.register_patient(&admin, &p.name, &p.birth_date, &p.sex, DEMO_PATIENT_PIN)?;
        node.assign(&admin, id, family_doctor, true)?;
        let entries = chart_visits(node, &custodian, id, &p.visits)?;
        say(format!(
            "  Patient {id} is registered (name sealed) with {} as family doctor, who charts {} visits over the past year ({entries} entries). Card number {}.",
            first_doctor.name,
            p.visits.len(),
            card.number()
        ));
        patients.push(id);
        cards.insert(id, card);
    }
    if let (Some(&specialist), Some(named), Some(first_patient)) =
        (doctors.get(1), clinic.doctors.get(1), patients.first())
    {
        consent_story(node, say, &cards[first_patient], specialist, &named.name)?;
    }
    Ok(patients)
}

/// Charts a patient's year of visits, each an encounter with its entries dated on the visit's
/// day; returns how many entries were written.
fn chart_visits(
    node: &mut Node,
    doctor: &crate::Session,
    patient: ActorId,
    visits: &[SampleVisit],
) -> Result<usize> {
    let now = crate::home::now_ms();
    let mut written = 0;
    for visit in visits {
        // Mid-morning of the visit's day, each entry a minute after the one before.
        let day = now - visit.days_ago.max(1) * DAY_MS;
        let encounter = serde_json::json!({
            "reason": visit.reason,
            "date": &crate::home::rfc3339(day)[..10],
        });
        let options = crate::EntryOptions {
            observed_ms: Some(day),
            ..Default::default()
        };
        let encounter = node
            .add_entry_with(
                doctor,
                patient,
                "encounter",
                &encounter.to_string(),
                &options,
            )?
            .to_string();
        written += 1;
        for (i, entry) in visit.entries.iter().enumerate() {
            let options = crate::EntryOptions {
                encounter: Some(&encounter),
                observed_ms: Some(day + (i as i64 + 1) * 60_000),
                ..Default::default()
            };
            let data = dated(&entry.data, now).to_string();
            node.add_entry_with(doctor, patient, &entry.kind, &data, &options)?;
            written += 1;
        }
    }
    Ok(written)
}

/// A second doctor asks for access, the patient grants "sample" at the kiosk, the doctor reads,
/// and the patient sees the read in the audit.
fn consent_story(
    node: &mut Node,
    say: &mut dyn FnMut(String),
    card: &Card,
    doctor: ActorId,
    doctor_name: &str,
) -> Result<()> {
    let patient = card.patient;
    let specialist = node.unlock(doctor, DEMO_STAFF_PASSPHRASE)?;
    let refused = node.chart(&specialist, patient, "chart show");
    say(format!(
        "  {doctor_name} tries to open patient {patient}: {}",
        match refused {
            Err(e) => e.to_string(),
            Ok(_) => "opened (unexpected)".into(),
        }
    ));
    node.request_access(
        &specialist,
        patient,
        AccessLevel::Sample,
        "cardiology referral",
    )?;
    let me = node.unlock_patient(patient, card, DEMO_PATIENT_PIN)?;
    node.grant(&me, patient, doctor, AccessLevel::Sample, None)?;
    say(format!(
        "  At the kiosk the patient grants {doctor_name} \"sample\" access."
    ));
    let view = node.chart(&specialist, patient, "referral review")?;
    say(format!(
        "  {doctor_name} now sees the latest values, obfuscated: level {}.",
        view["level"]
    ));
    let reads = node
        .audit(&me, patient)?
        .iter()
        .filter(|e| e.action == "read")
        .count();
    say(format!(
        "  The patient's audit shows {reads} read(s) of the record."
    ));
    Ok(())
}

/// The clinics link up over QUIC on this machine: North serves, South and East sync with it.
/// A South patient referred to North's cardiologist grants him access at South's kiosk; after
/// the next sync he opens her chart at North.
fn link_story(
    say: &mut dyn FnMut(String),
    north: Node,
    roots: &[PathBuf],
    unlock: &NodeUnlock,
    cards: &BTreeMap<ActorId, Card>,
) -> Result<()> {
    let [north_root, south_root, east_root] = roots else {
        return Err(NodeError::Damaged(
            "the demo's link story needs three clinics".into(),
        ));
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NodeError::Network(format!("could not start the demo's runtime: {e}")))?;
    // North binds first, so the others dial an address that is already listening.
    let endpoint = {
        let _in_runtime = rt.enter();
        north.bind_endpoint(([127, 0, 0, 1], 0).into())?
    };
    let addr = endpoint
        .local_addr()
        .map_err(|e| NodeError::Network(e.to_string()))?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let server = rt.spawn(crate::serve_on(
        north,
        endpoint,
        Vec::new(),
        shutdown,
        |_| {},
    ));
    say(format!(
        "The clinics link up: North Valley serves on {addr}; South Harbour and East Ridge sync with it."
    ));
    let sync = |root: &PathBuf| -> Result<carelog_sync::net::SyncReport> {
        let node = Arc::new(Mutex::new(Node::open_with(root, unlock)?));
        rt.block_on(crate::sync_once(&node, addr, Duration::from_secs(30)))
    };
    for (root, name) in [(south_root, "South Harbour"), (east_root, "East Ridge")] {
        let r = sync(root)?;
        say(format!(
            "  {name} sent {} and received {} blocks.",
            r.sent_blocks, r.received_blocks
        ));
    }
    sync(south_root)?;

    // The referral: South's patient grants North's cardiologist full access at the kiosk.
    let mut south = Node::open_with(south_root, unlock)?;
    let family_doctor =
        south.unlock(south.resolve_user("Dr Ines Duarte")?, DEMO_STAFF_PASSPHRASE)?;
    let referred: ActorId = south
        .patients(&family_doctor)?
        .first()
        .ok_or_else(|| NodeError::Damaged("the demo's South Harbour has no patient".into()))?
        .patient_id
        .parse()
        .map_err(|_| NodeError::Damaged("the demo's patient id does not parse".into()))?;
    let cardiologist = south.resolve_user("Dr Lukas Brandt")?;
    let card = cards
        .get(&referred)
        .ok_or_else(|| NodeError::Damaged("the demo's South patient has no card".into()))?;
    let kiosk = south.unlock_patient(referred, card, DEMO_PATIENT_PIN)?;
    south.grant(&kiosk, referred, cardiologist, AccessLevel::Full, None)?;
    drop(south);
    say(format!(
        "  At South Harbour's kiosk patient {referred} grants Dr Lukas Brandt (North Valley) full access for a referral."
    ));
    sync(south_root)?;
    let mut at_north = Node::open_with(north_root, unlock)?;
    let brandt = at_north.unlock(cardiologist, DEMO_STAFF_PASSPHRASE)?;
    let chart = at_north.chart(&brandt, referred, "referral")?;
    let entries = chart["entries"].as_array().map_or(0, Vec::len);
    say(format!(
        "  After the sync, Dr Brandt opens her chart at North Valley: level {}, {entries} entries written at South Harbour.",
        chart["level"]
    ));
    drop(at_north);
    // The serving node picks up blocks other processes stored on its next housekeeping tick.
    std::thread::sleep(Duration::from_millis(700));
    for root in [south_root, east_root] {
        sync(root)?;
    }
    let _ = stop.send(true);
    rt.block_on(server)
        .map_err(|e| NodeError::Network(format!("the demo's server stopped: {e}")))??;
    let hashes: Vec<String> = roots
        .iter()
        .map(|r| {
            Node::open_with(r, unlock)
                .and_then(|n| n.stats())
                .map(|s| s.state_hash.to_string())
        })
        .collect::<Result<_>>()?;
    let same = hashes.iter().all(|h| *h == hashes[0]);
    say(format!(
        "  All three replicas {} (state {}).",
        if same {
            "hold the same ledger"
        } else {
            "are still catching up"
        },
        &hashes[0][..16]
    ));
    Ok(())
}
