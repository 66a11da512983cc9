//! A hostile clinic, enrolled by the health authority and signing with its own real keys,
//! pushes blocks that break the rules to a running `carelog serve` over real QUIC. Nothing it
//! sends changes the honest clinic's records; once suspended, its handshake is refused.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use carelog_chart::{AccessLevel, EntryKind};
use carelog_ledger::{ActorId, Block, Check, KeyWrap, Ledger, Payload, Role, SignedTx, Tx};
use carelog_node::{Invite, JoinRequest};
use carelog_sync::net::{AllowList, Endpoint};
use carelog_sync::{Frame, frontier_tips};
use carelog_vault::ActorKeys;
use common::{
    Server, add_user, assign_custodian, create_network, field, json_ok as ok, register,
    serve_on_loopback,
};
use serde_json::Value;

const PASS: &str = "a long staff passphrase";
const PIN: &str = "48291637";

fn carelog(home: &Path, new_secret: &str) -> Command {
    common::carelog_with(home, PASS, new_secret)
}

fn id(keys: &ActorKeys) -> ActorId {
    ActorId::from_signing_key(&keys.public().signing)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `carelog serve` on a free loopback port, and the address it printed.
fn serve(home: &Path) -> (Server, std::net::SocketAddr) {
    serve_on_loopback(carelog(home, PASS))
}

/// The hostile clinic: its keys, and a replica built from the invite the authority gave it.
struct Hostile {
    node: ActorKeys,
    admin: ActorKeys,
    doctor: ActorKeys,
    ledger: Ledger,
}

impl Hostile {
    fn tx(&self, author: &ActorKeys, time_ms: i64, payload: Payload) -> SignedTx {
        Tx {
            author: id(author),
            clinic: id(&self.node),
            time_ms,
            payload,
        }
        .sign(author)
    }

    /// A block of the hostile clinic's next height, sealed with its real key.
    fn block(&self, txs: Vec<SignedTx>) -> Block {
        self.ledger.seal(&self.node, txs, now_ms())
    }
}

/// Pushes one block to the serving clinic as a peer would (Hello, then Push); returns once the
/// clinic has answered or closed the connection.
async fn push(endpoint: &Endpoint, addr: std::net::SocketAddr, ledger: &Ledger, block: &Block) {
    let mut link = endpoint
        .open_link(addr)
        .await
        .expect("an enrolled clinic connects");
    link.send(&Frame::Hello {
        network: ledger.network_id(),
        clinic: endpoint.clinic(),
        frontier: frontier_tips(ledger),
    })
    .await
    .unwrap();
    link.send(&Frame::Push {
        block: block.to_bytes(),
    })
    .await
    .unwrap();
    // Read until the clinic acknowledges (taken) or says Bye / closes (refused).
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(frame)) = link.receive().await {
            if matches!(
                frame,
                Frame::Ack { .. } | Frame::Bye { .. } | Frame::Need { .. }
            ) {
                break;
            }
        }
    })
    .await;
}

fn network(dir: &Path) -> (PathBuf, String, String, String) {
    let north = dir.join("north");
    let created = create_network(&north, PASS, "District", "North", "Ada Admin");
    let admin = field(&created, "admin_id");
    let by_admin = (admin.as_str(), PASS);
    let doctor = add_user(&north, by_admin, "doctor", "Dr North", PASS, &[]);
    let patient = field(
        &register(
            &north,
            by_admin,
            "Zelda Quimby",
            "1980-02-29",
            "female",
            PIN,
        ),
        "patient_id",
    );
    assign_custodian(&north, by_admin, &patient, &doctor);
    ok(carelog(&north, PASS).args([
        "chart",
        "add",
        "--as",
        &doctor,
        "--patient",
        &patient,
        "--kind",
        "note",
        "--data",
        r#"{"title":"Visit","text":"Feeling better"}"#,
    ]));
    (north, admin, doctor, patient)
}

fn enrol_hostile(dir: &Path, north: &Path) -> Hostile {
    let seed = |n: u8| {
        let mut seed = [n; 64];
        seed[..8].copy_from_slice(&now_ms().to_le_bytes());
        ActorKeys::from_seed(seed)
    };
    let (node, admin, doctor) = (seed(1), seed(2), seed(3));
    let request = JoinRequest::new("South", "Mallory Admin", &node, &admin);
    let request_file = dir.join("south.json");
    std::fs::write(&request_file, serde_json::to_vec(&request).unwrap()).unwrap();
    let invite_file = dir.join("south-invite.json");
    ok(carelog(north, PASS).args([
        "clinic",
        "approve",
        request_file.to_str().unwrap(),
        "--out",
        invite_file.to_str().unwrap(),
    ]));
    let invite: Invite = serde_json::from_slice(&std::fs::read(&invite_file).unwrap()).unwrap();
    let mut blocks = invite
        .blocks
        .iter()
        .map(|hex| Block::from_bytes(&hex::decode(hex).unwrap()).unwrap());
    let mut ledger = Ledger::new(blocks.next().unwrap()).unwrap();
    ledger.insert_batch(blocks, Check::Full).unwrap();
    let mut hostile = Hostile {
        node,
        admin,
        doctor,
        ledger,
    };
    // Its first block is honest: the admin enrols its doctor.
    let enrol = hostile.tx(
        &hostile.admin,
        now_ms(),
        Payload::EnrollUser {
            user: id(&hostile.doctor),
            clinic: id(&hostile.node),
            name: "Dr Mallory".into(),
            role: Role::Doctor,
            specialty: None,
            keys: hostile.doctor.public(),
        },
    );
    let block = hostile.block(vec![enrol]);
    hostile.ledger.insert(block, Check::Full).unwrap();
    hostile
}

#[test]
fn a_hostile_enrolled_clinic_changes_nothing_over_quic_and_is_refused_once_suspended() {
    let dir = tempfile::tempdir().unwrap();
    let (north, admin, doctor, patient) = network(dir.path());
    let hostile = enrol_hostile(dir.path(), &north);
    let patient_id: ActorId = patient.parse().unwrap();
    let doctor_id: ActorId = doctor.parse().unwrap();
    let before =
        ok(carelog(&north, PASS).args(["chart", "show", "--as", &doctor, "--patient", &patient]));
    let wraps = |readers: &[ActorId]| -> Vec<KeyWrap> {
        readers
            .iter()
            .map(|r| KeyWrap {
                key: Default::default(),
                reader: *r,
                wrapped: vec![7; 80],
            })
            .collect()
    };
    let t = now_ms();
    let impostor = ActorKeys::from_seed([99; 64]);
    let north_clinic = *hostile
        .ledger
        .state()
        .clinics
        .keys()
        .find(|c| **c != id(&hostile.node))
        .unwrap();
    let attacks: Vec<(&str, Block)> = vec![
        (
            "a patient registered under the doctor's id with the attacker's keys",
            hostile.block(vec![hostile.tx(
                &hostile.admin,
                t,
                Payload::RegisterPatient {
                    patient: doctor_id,
                    keys: impostor.public(),
                    key_wraps: wraps(&[doctor_id, id(&hostile.node)]),
                },
            )]),
        ),
        (
            "staff enrolled as members of North",
            hostile.block(vec![hostile.tx(
                &hostile.admin,
                t,
                Payload::EnrollUser {
                    user: id(&impostor),
                    clinic: north_clinic,
                    name: "Impostor".into(),
                    role: Role::Admin,
                    specialty: None,
                    keys: impostor.public(),
                },
            )]),
        ),
        (
            "its doctor made custodian of North's patient",
            hostile.block(vec![hostile.tx(
                &hostile.admin,
                t,
                Payload::AssignPhysician {
                    patient: patient_id,
                    doctor: id(&hostile.doctor),
                    custodian: true,
                    key_wraps: vec![],
                },
            )]),
        ),
        (
            "North's doctor disabled",
            hostile.block(vec![hostile.tx(
                &hostile.admin,
                t,
                Payload::DisableUser {
                    user: doctor_id,
                    reason: "rivalry".into(),
                },
            )]),
        ),
        (
            "noise posted into the chart",
            hostile.block(vec![hostile.tx(
                &hostile.doctor,
                t,
                Payload::ChartEntry {
                    patient: patient_id,
                    kind: EntryKind::Note,
                    key: Default::default(),
                    sealed: vec![0x5a; 256],
                    amends: None,
                },
            )]),
        ),
        (
            "the patient's key rotated by a clinic that does not hold the record",
            hostile.block(vec![hostile.tx(
                &hostile.node,
                t,
                Payload::RotateKey {
                    patient: patient_id,
                    key_wraps: wraps(&[id(&hostile.doctor)]),
                },
            )]),
        ),
        (
            "a read dated two hours ahead",
            Block::seal(
                &hostile.node,
                hostile.ledger.network_id(),
                1,
                hostile
                    .ledger
                    .dag()
                    .head_of(&id(&hostile.node))
                    .map(|(_, h)| h),
                vec![],
                t + 2 * 3_600_000,
                vec![hostile.tx(
                    &hostile.doctor,
                    t + 2 * 3_600_000,
                    Payload::RequestAccess {
                        patient: patient_id,
                        level: AccessLevel::Full,
                        reason: "from the future".into(),
                    },
                )],
            ),
        ),
    ];

    let blocks_before = ok(carelog(&north, PASS).args(["ledger", "stats"]))["blocks"]
        .as_u64()
        .unwrap();
    let (server, addr) = serve(&north);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let endpoint = Endpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            &hostile.node,
            AllowList::from_ledger(&hostile.ledger),
        )
        .unwrap();
        // The honest first block, then each attack on its own connection.
        let first = hostile.ledger.block_at(&id(&hostile.node), 0).unwrap();
        push(&endpoint, addr, &hostile.ledger, &first).await;
        for (_, block) in &attacks {
            push(&endpoint, addr, &hostile.ledger, block).await;
        }
    });
    drop(server);

    // The link worked: the honest block (and the attacks the ledger keeps only as void
    // history) arrived. North verifies, its chart reads exactly as before.
    let blocks_after = ok(carelog(&north, PASS).args(["ledger", "stats"]))["blocks"]
        .as_u64()
        .unwrap();
    assert!(
        blocks_after > blocks_before,
        "the hostile clinic's blocks reached North"
    );
    ok(carelog(&north, PASS).args(["ledger", "verify"]));
    let after =
        ok(carelog(&north, PASS).args(["chart", "show", "--as", &doctor, "--patient", &patient]));
    assert_eq!(
        after["entries"], before["entries"],
        "no attack reached the chart"
    );
    assert_eq!(after["quarantined"], serde_json::json!([]));
    let patients = ok(carelog(&north, PASS).args(["patients", "--as", &doctor]));
    assert_eq!(patients["patients"][0]["basis"], "custodian");
    let audit = ok(carelog(&north, PASS).args(["audit", "--as", &admin, "--patient", &patient]));
    let custodians: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "assign")
        .collect();
    assert_eq!(custodians.len(), 1, "only North's own assignment: {audit}");
    let hostile_doctor = id(&hostile.doctor).to_string();
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != hostile_doctor.as_str()),
        "nothing the hostile doctor sent is in the patient's record: {audit}"
    );
    // The authority suspends the hostile clinic: its handshake is refused from then on.
    ok(carelog(&north, PASS).args([
        "clinic",
        "suspend",
        "--clinic",
        &id(&hostile.node).to_string(),
        "--reason",
        "forged blocks",
    ]));
    let (server, addr) = serve(&north);
    let refused = rt.block_on(async {
        let endpoint = Endpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            &hostile.node,
            AllowList::from_ledger(&hostile.ledger),
        )
        .unwrap();
        // QUIC lets the client finish its half of the handshake before the server has checked
        // the client's certificate, so the refusal may arrive as the link closing instead.
        match endpoint.open_link(addr).await {
            Err(refused) => Some(refused.to_string()),
            Ok(mut link) => {
                let hello = Frame::Hello {
                    network: hostile.ledger.network_id(),
                    clinic: endpoint.clinic(),
                    frontier: frontier_tips(&hostile.ledger),
                };
                if let Err(refused) = link.send(&hello).await {
                    return Some(refused.to_string());
                }
                match tokio::time::timeout(Duration::from_secs(10), link.receive()).await {
                    Ok(Err(refused)) => Some(refused.to_string()),
                    Ok(Ok(None)) => Some("the clinic closed the link".into()),
                    Ok(Ok(Some(frame))) => panic!("a suspended clinic was answered: {frame:?}"),
                    Err(_) => None,
                }
            }
        }
    });
    drop(server);
    assert!(
        refused.is_some(),
        "a suspended clinic's handshake is refused"
    );
}
