//! Recovery stories over real SQLite files and real QUIC sockets on 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_sync::net::{self, AllowList, Endpoint};

use super::*;
use crate::tests::{DOC_PASS, PASS, PIN, entries, two_clinics};
use crate::{NewNetwork, sync_once};

const LIMIT: Duration = Duration::from_secs(30);

fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A peer serving until the returned sender says stop.
fn serve_in_background(node: Node) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let addr = free_addr();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(crate::serve(node, addr, Vec::new(), shutdown, |_| {}));
    (addr, stop)
}

fn note(node: &mut Node, doctor: ActorId, patient: ActorId, title: &str) {
    let doc = node.unlock(doctor, DOC_PASS).unwrap();
    node.add_entry(
        &doc,
        patient,
        "note",
        &format!(r#"{{"title":"{title}","text":"{title}"}}"#),
        None,
    )
    .unwrap();
}

async fn sync(node: Node, peer: SocketAddr) -> (Node, carelog_sync::net::SyncReport) {
    let shared = Arc::new(Mutex::new(node));
    let report = sync_once(&shared, peer, LIMIT).await.unwrap();
    let node = Arc::try_unwrap(shared)
        .map_err(|_| "still shared")
        .unwrap()
        .into_inner()
        .unwrap();
    (node, report)
}

fn files_named(dir: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_clinic_whose_database_is_deleted_gets_every_synced_block_back_from_a_peer() {
    let (mut north, south, _) = two_clinics();
    let south_root = north.root.parent().unwrap().join("south");
    note(
        &mut north.node,
        north.doctor,
        north.patient,
        "before the sync",
    );
    let (south_addr, stop) = serve_in_background(south);
    let (node, report) = sync(north.node, south_addr).await;
    assert!(report.sent_blocks > 0);
    let synced = node.stats().unwrap();
    let synced_height = node.ledger().dag().head_of(&node.clinic_id()).unwrap().0;
    // Charted after the sync: no peer has this block, so no recovery can bring it back.
    let mut node = node;
    note(&mut node, north.doctor, north.patient, "never synced");
    drop(node);

    // The disk loses the database (and its WAL); the key files and mirrors remain.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!(
            "{}{suffix}",
            north.root.join(home::DATABASE).display()
        ));
    }
    let err = Node::open(&north.root).err().unwrap();
    assert!(matches!(err, NodeError::DatabaseDamaged { .. }), "{err}");
    assert!(err.to_string().contains("carelog recover --peer"), "{err}");

    let (mut node, recovered) = Node::recover(&north.root, &[south_addr], None, LIMIT)
        .await
        .unwrap();
    assert_eq!(recovered.blocks, synced.blocks);
    assert_eq!(recovered.txs, synced.txs);
    assert_eq!(node.stats().unwrap().state_hash, synced.state_hash);
    assert_eq!(recovered.own_height, Some(synced_height));
    assert!(
        recovered.set_aside.is_empty(),
        "there was no file to set aside"
    );
    assert_eq!(recovered.peers.len(), 1);
    for who in [north.admin, north.doctor, north.other_doctor, north.patient] {
        assert!(recovered.keys_restored.contains(&who), "{who}");
    }
    assert!(recovered.keys_waiting.is_empty());
    node.verify().unwrap();
    assert!(
        !node.awaiting_catch_up().unwrap(),
        "a replica fetched from a peer may seal at once"
    );
    assert_eq!(node.peers().unwrap(), vec![south_addr.to_string()]);

    // The doctor signs in with the same passphrase, reads what came back and charts again.
    let doc = node.unlock(north.doctor, DOC_PASS).unwrap();
    let view = node.chart(&doc, north.patient, "test").unwrap();
    let text = view.to_string();
    assert!(text.contains("before the sync"), "{text}");
    assert!(!text.contains("never synced"));
    assert!(entries(&view).len() >= 2);
    node.unlock_patient(north.patient, &north.card, PIN)
        .unwrap();
    node.unlock(north.admin, PASS).unwrap();
    note(&mut node, north.doctor, north.patient, "after recovery");

    // South takes the new block: the chain continues where the network has it, no fork.
    let (node, report) = sync(node, south_addr).await;
    assert!(report.sent_blocks >= 1);
    let south = Node::open(&south_root).unwrap();
    assert!(south.evidence().unwrap().is_empty());
    assert_eq!(
        south.stats().unwrap().state_hash,
        node.stats().unwrap().state_hash
    );
    stop.send(true).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_truncated_database_is_a_clear_error_and_recovery_sets_it_aside() {
    let (mut north, south, _) = two_clinics();
    note(&mut north.node, north.doctor, north.patient, "synced");
    let (south_addr, stop) = serve_in_background(south);
    let (node, _) = sync(north.node, south_addr).await;
    let synced = node.stats().unwrap();
    drop(node);

    let db = north.root.join(home::DATABASE);
    let whole = std::fs::read(&db).unwrap();
    let cut = &whole[..whole.len() / 2];
    std::fs::write(&db, cut).unwrap();
    let err = Node::open(&north.root)
        .err()
        .expect("a truncated home must not open");
    assert!(matches!(err, NodeError::DatabaseDamaged { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains("carelog recover --peer"), "{message}");

    // A file that is empty, or not SQLite at all, is the same clear error.
    for damage in [&b""[..], &b"SQLite format 2\0 and then noise"[..]] {
        std::fs::write(&db, damage).unwrap();
        let err = Node::open(&north.root).err().unwrap();
        assert!(matches!(err, NodeError::DatabaseDamaged { .. }), "{err}");
        assert!(err.to_string().contains("carelog recover --peer"), "{err}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            damage,
            "opening changes nothing"
        );
    }
    std::fs::write(&db, cut).unwrap();

    let (node, recovered) = Node::recover(&north.root, &[south_addr], None, LIMIT)
        .await
        .unwrap();
    assert_eq!(node.stats().unwrap().state_hash, synced.state_hash);
    assert_eq!(recovered.set_aside.len(), 1);
    assert_eq!(
        std::fs::read(&recovered.set_aside[0]).unwrap(),
        cut,
        "the damaged file is kept as it was"
    );
    assert!(files_named(&north.root, "recovering").is_empty());

    // A home that opens is not recovered over.
    drop(node);
    let refused = Node::recover(&north.root, &[south_addr], None, LIMIT)
        .await
        .err()
        .expect("a healthy home is refused");
    assert!(
        refused.to_string().contains("nothing to recover"),
        "{refused}"
    );
    stop.send(true).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_of_another_network_is_refused_and_the_damaged_file_stays() {
    let (north, _south, _) = two_clinics();
    drop(north.node);
    // Elsewhere is another network whose peer admits any key, so the refusal must come from
    // the kept genesis block, not from the handshake.
    let (other, _) = Node::create_network(
        &north.root.parent().unwrap().join("elsewhere"),
        &NewNetwork {
            network: "Elsewhere",
            clinic: "Rogue",
            admin: "Rex",
            admin_passphrase: PASS,
            authority_passphrase: crate::tests::AUTHORITY_PASS,
        },
    )
    .unwrap();
    let addr = free_addr();
    let endpoint = Endpoint::bind(addr, &other.secrets.node, AllowList::any_key()).unwrap();
    let (events, _events) = tokio::sync::mpsc::unbounded_channel();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(net::serve(
        endpoint,
        Arc::new(Mutex::new(other)),
        Vec::new(),
        events,
        shutdown,
    ));

    let db = north.root.join(home::DATABASE);
    std::fs::write(&db, b"not a database at all, just damage").unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = Node::recover(&north.root, &[addr], None, Duration::from_secs(10))
        .await
        .err()
        .expect("another network's peer must be refused");
    assert!(err.to_string().contains("on network"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the damaged file stays"
    );
    assert!(files_named(&north.root, "damaged").is_empty());
    assert!(files_named(&north.root, "recovering").is_empty());

    // A --network that is not the kept genesis's is refused before any connection.
    let wrong = carelog_ledger::Hash([7; 32]);
    let err = Node::recover(&north.root, &[addr], Some(wrong), LIMIT)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("--network"), "{err}");
    stop.send(true).unwrap();
}

#[test]
fn key_stores_and_the_genesis_block_are_kept_beside_the_database() {
    let (north, south, sam) = two_clinics();
    let home = north.node.home();
    let kept = home.kept_genesis().unwrap().unwrap();
    assert_eq!(kept.hash(), north.node.network_id());
    let mirrored = home.mirrored_keys(&north.node.secrets).unwrap();
    for who in [north.admin, north.doctor, north.other_doctor, north.patient] {
        let (_, bytes) = mirrored.iter().find(|(a, _)| *a == who).unwrap();
        assert_eq!(
            Some(bytes.clone()),
            north.node.store.sealed_keys(&who.0).unwrap(),
            "the file holds the same bytes as the row"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.sealed_keys_file(&north.doctor))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A joined clinic keeps the same genesis and its admin's keys.
    assert_eq!(
        south.home().kept_genesis().unwrap().unwrap().hash(),
        north.node.network_id()
    );
    assert!(south.home().sealed_keys_file(&sam).exists());

    // A home made before the files were kept gets them on its next open.
    let root = north.root.clone();
    drop(north.node);
    std::fs::remove_dir_all(root.join(home::KEYS_DIR)).unwrap();
    std::fs::remove_file(root.join(home::GENESIS)).unwrap();
    let node = Node::open(&root).unwrap();
    assert_eq!(
        node.home().kept_genesis().unwrap().unwrap().hash(),
        node.network_id()
    );
    assert_eq!(node.home().mirrored_actors().unwrap().len(), 4);
}

#[tokio::test(flavor = "current_thread")]
async fn a_home_that_keeps_no_genesis_recovers_with_the_network_id() {
    let (north, south, _) = two_clinics();
    let network = north.node.network_id();
    let blocks = north.node.stats().unwrap().blocks;
    let (south_addr, stop) = serve_in_background(south);
    drop(north.node);
    // A block fails its hash check, but SQLite still reads the file; and the home was made
    // before the genesis block was kept beside the database.
    let db = north.root.join(home::DATABASE);
    let conn = crate::tests::raw_database(&db);
    conn.execute(
        "UPDATE blocks SET bytes = zeroblob(length(bytes)) WHERE seq = (SELECT max(seq) FROM blocks)",
        [],
    )
    .unwrap();
    drop(conn);
    std::fs::remove_file(north.root.join(home::GENESIS)).unwrap();
    let err = Node::open(&north.root).err().unwrap();
    assert!(matches!(err, NodeError::DamagedBlock { .. }), "{err}");
    assert!(err.to_string().contains("carelog recover --peer"), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");

    let err = Node::recover(&north.root, &[south_addr], None, LIMIT)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("--network"), "{err}");
    // The genesis block is salvaged from the damaged file and checked against the id.
    let (node, recovered) = Node::recover(&north.root, &[south_addr], Some(network), LIMIT)
        .await
        .unwrap();
    assert_eq!(recovered.network_id, network);
    assert_eq!(node.stats().unwrap().blocks, blocks);
    // The database with whatever -wal and -shm files SQLite left beside it.
    assert!(!recovered.set_aside.is_empty());
    assert!(
        recovered
            .set_aside
            .iter()
            .all(|p| p.to_string_lossy().contains("carelog.sqlite3.damaged-"))
    );
    assert!(north.root.join(home::GENESIS).exists());
    stop.send(true).unwrap();
}
