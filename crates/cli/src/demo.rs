//! `carelog demo`: three clinic homes with staff, patients and charts, told as a story.

use std::path::Path;

use std::collections::BTreeMap;

use carelog_chart::AccessLevel;
use carelog_ledger::{ActorId, Role};
use carelog_node::{Card, NewNetwork, Node, NodeUnlock};
use serde::Deserialize;
use serde_json::json;

use crate::{Failure, Output};

/// Every demo staff user's passphrase.
pub const STAFF_PASSPHRASE: &str = carelog_node::DEMO_STAFF_PASSPHRASE;
/// Every demo patient's PIN (each has their own card).
pub const PATIENT_PIN: &str = carelog_node::DEMO_PATIENT_PIN;

/// How the demo homes' keys are sealed: `$CARELOG_NODE_PASSPHRASE` (or its file) if set, else
/// the demo's own node passphrase, never the keyring (the demo is thrown away).
fn demo_unlock() -> Result<NodeUnlock, Failure> {
    Ok(NodeUnlock::from_sources(
        std::env::var(carelog_node::NODE_PASSPHRASE_VAR).ok(),
        std::env::var_os(carelog_node::NODE_PASSPHRASE_FILE_VAR)
            .map(std::path::PathBuf::from)
            .as_deref(),
        || NodeUnlock::passphrase(carelog_node::DEMO_NODE_PASSPHRASE),
    )?)
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
    vitals: Vec<serde_json::Value>,
    labs: Vec<serde_json::Value>,
    conditions: Vec<serde_json::Value>,
    allergies: Vec<serde_json::Value>,
    medications: Vec<serde_json::Value>,
    notes: Vec<serde_json::Value>,
}

struct Story {
    lines: Vec<String>,
}

impl Story {
    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        // The story goes to stderr as it happens, so a long run shows progress.
        eprintln!("{line}");
        self.lines.push(line);
    }
}

/// Builds the demo network under `dir` and returns what was made.
pub fn run(dir: &Path) -> Result<Output, Failure> {
    let sample: Sample = serde_json::from_str(include_str!("../../../assets/demo-patients.json"))?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(format!(
            "{} is not empty; choose a new directory for the demo",
            dir.display()
        )
        .into());
    }
    let unlock = demo_unlock()?;
    let authority_passphrase = std::env::var(carelog_node::AUTHORITY_PASSPHRASE_VAR)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| carelog_node::DEMO_AUTHORITY_PASSPHRASE.to_string());
    let mut story = Story { lines: Vec::new() };
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
                        admin_passphrase: STAFF_PASSPHRASE,
                        authority_passphrase: &authority_passphrase,
                    },
                    &unlock,
                )?;
                story.say(format!("The health authority founds \"Demo District\"; {} is its first clinic (network {}).", clinic.name, created.network_id));
                node
            }
            Some(founder) => {
                let request = dir.join(format!("clinic-{}-request.json", i + 1));
                Node::request_join_with(
                    &home,
                    &clinic.name,
                    &clinic.admin,
                    STAFF_PASSPHRASE,
                    &request,
                    &unlock,
                )?;
                let authority = founder.open_authority(&authority_passphrase)?;
                let (clinic_id, invite) =
                    founder.approve(&authority, &std::fs::read(&request)?, &[])?;
                let node = Node::join_with(&home, &invite, &unlock)?;
                story.say(format!(
                    "{} asks to join; the health authority approves it (clinic {clinic_id}).",
                    clinic.name
                ));
                node
            }
        };
        let admin_id = node.resolve_user(&clinic.admin)?;
        let admin = node.unlock(admin_id, STAFF_PASSPHRASE)?;
        let mut doctors = Vec::new();
        for d in &clinic.doctors {
            let id = node.add_user(
                &admin,
                Role::Doctor,
                &d.name,
                Some(&d.specialty),
                STAFF_PASSPHRASE,
            )?;
            story.say(format!(
                "  {} enrolls {} ({}).",
                clinic.admin, d.name, d.specialty
            ));
            doctors.push(id);
        }
        if let Some(lab) = &clinic.lab {
            node.add_user(&admin, Role::Lab, lab, None, STAFF_PASSPHRASE)?;
            story.say(format!("  {} enrolls the lab {lab}.", clinic.admin));
        }
        let custodian = node.unlock(doctors[0], STAFF_PASSPHRASE)?;
        let mut patient_ids = Vec::new();
        for p in &clinic.patients {
            let (id, card) =
                node.register_patient(&admin, &p.name, &p.birth_date, &p.sex, PATIENT_PIN)?;
            node.assign(&admin, id, doctors[0], true)?;
            let mut entries = 0;
            for (kind, items) in [
                ("vitals", &p.vitals),
                ("lab", &p.labs),
                ("condition", &p.conditions),
                ("allergy", &p.allergies),
                ("medication", &p.medications),
                ("note", &p.notes),
            ] {
                for item in items {
                    node.add_entry(&custodian, id, kind, &item.to_string(), None)?;
                    entries += 1;
                }
            }
            story.say(format!(
                "  Patient {id} is registered (name sealed) with {} as family doctor, who charts {entries} entries. Card number {}.",
                clinic.doctors[0].name,
                card.number()
            ));
            patient_ids.push(id);
            cards.insert(id, card);
        }
        if doctors.len() > 1 {
            consent_story(
                &mut node,
                &mut story,
                &cards[&patient_ids[0]],
                doctors[1],
                &clinic.doctors[1].name,
            )?;
        }
        let (blocks, txs) = node.verify()?;
        let stats = node.stats()?;
        story.say(format!(
            "  {}: ledger verified, {blocks} blocks, {txs} transactions, state {}.",
            clinic.name,
            &stats.state_hash.to_string()[..16]
        ));
        homes.push(json!({
            "clinic": clinic.name,
            "home": home.display().to_string(),
            "clinic_id": node.clinic_id().to_string(),
            "patients": patient_ids.iter().map(ActorId::to_string).collect::<Vec<_>>(),
            "cards": patient_ids.iter().map(|id| {
                let card = &cards[id];
                json!({"patient_id": id.to_string(), "card_number": card.number(), "card": card.content().as_str()})
            }).collect::<Vec<_>>(),
        }));
        if first.is_none() {
            first = Some(node);
        }
    }
    let roots: Vec<std::path::PathBuf> = (1..=sample.clinics.len())
        .map(|i| dir.join(format!("clinic-{i}")))
        .collect();
    if let Some(north) = first.take() {
        link_story(&mut story, north, &roots, &unlock, &cards)?;
    }
    story.say(format!(
        "Staff passphrase: {STAFF_PASSPHRASE}   patient PIN: {PATIENT_PIN} (with the patient's card)"
    ));
    story.say(
        "Patients' cards (at the kiosk, paste the card, then type the PIN; the number may be read aloud at the desk):",
    );
    for (id, card) in &cards {
        story.say(format!(
            "  {}  patient {id}  card {}",
            card.number(),
            card.content().as_str()
        ));
    }
    story.say(match &unlock {
        NodeUnlock::Passphrase(_) if std::env::var_os(carelog_node::NODE_PASSPHRASE_VAR).is_none()
            && std::env::var_os(carelog_node::NODE_PASSPHRASE_FILE_VAR).is_none() =>
        {
            format!(
                "The demo homes' keys are sealed under the demo node passphrase \"{}\": export CARELOG_NODE_PASSPHRASE with it to use them from the command line.",
                carelog_node::DEMO_NODE_PASSPHRASE
            )
        }
        _ => "The demo homes' keys are sealed under the node passphrase from the environment.".to_string(),
    });
    Ok(Output::new(
        json!({"dir": dir.display().to_string(), "homes": homes, "story": story.lines}),
        format!("Demo network ready under {}.", dir.display()),
    ))
}

/// A second doctor asks for access, the patient grants "sample" at the kiosk, the doctor reads,
/// and the patient sees the read in the audit.
fn consent_story(
    node: &mut Node,
    story: &mut Story,
    card: &Card,
    doctor: ActorId,
    doctor_name: &str,
) -> Result<(), Failure> {
    let patient = card.patient;
    let specialist = node.unlock(doctor, STAFF_PASSPHRASE)?;
    let refused = node.chart(&specialist, patient, "chart show");
    story.say(format!(
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
    let me = node.unlock_patient(patient, card, PATIENT_PIN)?;
    node.grant(&me, patient, doctor, AccessLevel::Sample, None)?;
    story.say(format!(
        "  At the kiosk the patient grants {doctor_name} \"sample\" access."
    ));
    let view = node.chart(&specialist, patient, "referral review")?;
    story.say(format!(
        "  {doctor_name} now sees the latest values, obfuscated: level {}.",
        view["level"]
    ));
    let reads = node
        .audit(&me, patient)?
        .iter()
        .filter(|e| e.action == "read")
        .count();
    story.say(format!(
        "  The patient's audit shows {reads} read(s) of the record."
    ));
    Ok(())
}

/// The clinics link up over QUIC on this machine: North serves, South and East sync with it.
/// A South patient referred to North's cardiologist grants him access at South's kiosk; after
/// the next sync he opens her chart at North.
fn link_story(
    story: &mut Story,
    north: Node,
    roots: &[std::path::PathBuf],
    unlock: &NodeUnlock,
    cards: &BTreeMap<ActorId, Card>,
) -> Result<(), Failure> {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let addr = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let server = rt.spawn(carelog_node::serve(
        north,
        addr,
        Vec::new(),
        shutdown,
        |_| {},
    ));
    story.say(format!("The clinics link up: North Valley serves on {addr}; South Harbour and East Ridge sync with it."));
    let sync = |root: &std::path::PathBuf| -> Result<carelog_sync::net::SyncReport, Failure> {
        let node = Arc::new(Mutex::new(Node::open_with(root, unlock)?));
        Ok(rt.block_on(carelog_node::sync_once(
            &node,
            addr,
            Duration::from_secs(30),
        ))?)
    };
    // Give the server a moment to bind before the first dial.
    std::thread::sleep(Duration::from_millis(300));
    for (root, name) in roots[1..].iter().zip(["South Harbour", "East Ridge"]) {
        let r = sync(root)?;
        story.say(format!(
            "  {name} sent {} and received {} blocks.",
            r.sent_blocks, r.received_blocks
        ));
    }
    sync(&roots[1])?;

    // The referral: Grace (South's patient) grants North's cardiologist full access at the kiosk.
    let mut south = Node::open_with(&roots[1], unlock)?;
    let grace =
        south.patients(&south.unlock(south.resolve_user("Dr Ines Duarte")?, STAFF_PASSPHRASE)?)?;
    let grace: ActorId = grace
        .first()
        .ok_or("South has no patient")?
        .patient_id
        .parse()
        .map_err(|_| "bad id")?;
    let cardiologist = south.resolve_user("Dr Lukas Brandt")?;
    let card = cards.get(&grace).ok_or("South's patient has no card")?;
    let kiosk = south.unlock_patient(grace, card, PATIENT_PIN)?;
    south.grant(&kiosk, grace, cardiologist, AccessLevel::Full, None)?;
    drop(south);
    story.say(format!("  At South Harbour's kiosk patient {grace} grants Dr Lukas Brandt (North Valley) full access for a referral."));
    sync(&roots[1])?;
    let mut at_north = Node::open_with(&roots[0], unlock)?;
    let brandt = at_north.unlock(cardiologist, STAFF_PASSPHRASE)?;
    let chart = at_north.chart(&brandt, grace, "referral")?;
    let entries = chart["entries"].as_array().map_or(0, Vec::len);
    story.say(format!("  After the sync, Dr Brandt opens her chart at North Valley: level {}, {entries} entries written at South Harbour.", chart["level"]));
    drop(at_north);
    // The serving node picks up blocks other processes stored on its next housekeeping tick.
    std::thread::sleep(Duration::from_millis(700));
    for root in &roots[1..] {
        sync(root)?;
    }
    let _ = stop.send(true);
    rt.block_on(server)??;
    let hashes: Vec<String> = roots
        .iter()
        .map(|r| {
            Node::open_with(r, unlock)
                .and_then(|n| n.stats())
                .map(|s| s.state_hash.to_string())
        })
        .collect::<Result<_, _>>()?;
    let same = hashes.iter().all(|h| *h == hashes[0]);
    story.say(format!(
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
