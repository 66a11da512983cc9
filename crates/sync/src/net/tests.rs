//! Real QUIC on 127.0.0.1: clinics of a test network sync, gossip, reconnect, refuse strangers
//! and shrug off misbehaving peers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_ledger::{ActorId, Block, BlockHash, Check, Inserted, Ledger, LedgerError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::*;
use crate::Tip;
use crate::testkit::{T0, World, keys};

/// An in-memory node.
struct Mem {
    ledger: Ledger,
    accept_calls: usize,
    acked: Vec<(ActorId, Vec<Tip>)>,
}

impl Mem {
    fn new(ledger: Ledger) -> Arc<Mutex<Mem>> {
        Arc::new(Mutex::new(Mem {
            ledger,
            accept_calls: 0,
            acked: Vec::new(),
        }))
    }
}

impl Replica for Mem {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn accept(&mut self, _from: ActorId, blocks: Vec<Block>) -> Result<Vec<Block>, String> {
        self.accept_calls += 1;
        let mut new = Vec::new();
        for block in blocks {
            match self.ledger.insert(block.clone(), Check::Full) {
                Ok(Inserted::Known) => {}
                Ok(_) => new.push(block),
                Err(LedgerError::MissingLinks { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(new)
    }

    fn peer_holds(&mut self, peer: ActorId, frontier: &[Tip]) {
        self.acked.push((peer, frontier.to_vec()));
    }
}

fn quick() -> NetConfig {
    NetConfig {
        idle_timeout: Duration::from_millis(1_500),
        connect_timeout: Duration::from_secs(2),
        tick: Duration::from_millis(100),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        max_connections: 16,
        read_budget: 64 << 20,
        sync: crate::SyncConfig::default(),
    }
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Clinic `i` of `world`: an endpoint on a free port and a replica of the base ledger.
fn node(world: &World, i: usize) -> (Endpoint, Arc<Mutex<Mem>>) {
    let allow = AllowList::from_ledger(&world.base);
    let endpoint = Endpoint::bind_with(localhost(), &world.clinics[i], allow, quick()).unwrap();
    (endpoint, Mem::new(world.base.clone()))
}

struct Running {
    addr: SocketAddr,
    handle: SyncHandle,
    events: mpsc::UnboundedReceiver<SyncEvent>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) -> mpsc::UnboundedReceiver<SyncEvent> {
        self.stop.send(true).unwrap();
        timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve stops promptly")
            .unwrap();
        self.events
    }

    /// Waits for an event matching `wanted`.
    async fn event(&mut self, wanted: impl Fn(&SyncEvent) -> bool) -> SyncEvent {
        timeout(Duration::from_secs(10), async {
            loop {
                let event = self.events.recv().await.expect("serve is running");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the event comes")
    }
}

fn start(endpoint: Endpoint, replica: Arc<Mutex<Mem>>, peers: Vec<SocketAddr>) -> Running {
    let addr = endpoint.local_addr().unwrap();
    let handle = endpoint.handle();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(serve(endpoint, replica, peers, events_tx, stop_rx));
    Running {
        addr,
        handle,
        events,
        stop,
        task,
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(25)).await;
    }
}

fn hash(replica: &Arc<Mutex<Mem>>) -> carelog_ledger::Hash {
    replica.lock().unwrap().ledger.state_hash()
}

fn count(replica: &Arc<Mutex<Mem>>) -> usize {
    replica.lock().unwrap().ledger.block_count()
}

fn holds(replica: &Arc<Mutex<Mem>>, block: &BlockHash) -> bool {
    replica.lock().unwrap().ledger.contains(block)
}

/// Seals a work block at clinic `i` on `replica` (as a node does), returning it.
fn seal(world: &World, replica: &Arc<Mutex<Mem>>, i: usize, note: u64) -> Block {
    let mut mem = replica.lock().unwrap();
    world.seal_work(&mut mem.ledger, i, T0 + 1_000 + note as i64, note)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clinics_sync_once_and_count_what_moved() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    let (eb, rb) = node(&world, 1);
    for note in 0..3 {
        seal(&world, &ra, 0, note);
    }
    for note in 10..12 {
        seal(&world, &rb, 1, note);
    }
    let base = world.base.block_count();
    let mut b = start(eb, rb.clone(), vec![]);

    let report = sync_once(&ea, ra.clone(), b.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.peer_clinic, world.clinic_id(1));
    assert_eq!((report.sent_blocks, report.received_blocks), (3, 2));
    assert_eq!(count(&ra), base + 5);
    wait_until("B holds A's blocks", Duration::from_secs(5), || {
        hash(&rb) == hash(&ra)
    })
    .await;
    assert_eq!(count(&rb), base + 5);
    // A's outbox hears that B holds A's chain up to its newest block.
    let a_head = ra.lock().unwrap().ledger.dag().head_of(&world.clinic_id(0));
    let acked = ra.lock().unwrap().acked.clone();
    assert!(acked.iter().any(|(peer, tips)| {
        *peer == world.clinic_id(1)
            && tips
                .iter()
                .any(|t| Some((t.height, t.hash)) == a_head && t.clinic == world.clinic_id(0))
    }));
    match b.event(|e| matches!(e, SyncEvent::Received { .. })).await {
        SyncEvent::Received { from, blocks } => {
            assert_eq!((from, blocks), (world.clinic_id(0), 3));
        }
        other => unreachable!("{other:?}"),
    }

    // Nothing new: nothing moves.
    let again = sync_once(&ea, ra.clone(), b.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((again.sent_blocks, again.received_blocks), (0, 0));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_sealed_at_a_reaches_c_through_b() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    let (eb, rb) = node(&world, 1);
    let (ec, rc) = node(&world, 2);
    let b = start(eb, rb.clone(), vec![]);
    let a = start(ea, ra.clone(), vec![b.addr]);
    let c = start(ec, rc.clone(), vec![b.addr]);
    wait_until(
        "A and C are in sync with B",
        Duration::from_secs(10),
        || {
            [&a, &c].iter().all(|n| {
                let status = n.handle.status();
                status.online
                    && status.peers.len() == 1
                    && status.peers[0].state == LinkState::InSync
                    && status.peers[0].clinic == Some(world.clinic_id(1))
                    && status.peers[0].last_sync_ms.is_some()
            })
        },
    )
    .await;
    // B sees two incoming links, each from an enrolled clinic.
    let at_b = b.handle.status();
    assert_eq!(at_b.peers.len(), 2);
    assert!(at_b.peers.iter().all(|p| !p.outgoing));

    let block = seal(&world, &ra, 0, 1);
    let sealed = Instant::now();
    a.handle.announce(block.clone());
    wait_until("C holds A's block", Duration::from_secs(10), || {
        holds(&rc, &block.hash())
    })
    .await;
    let took = sealed.elapsed();
    wait_until("all three agree", Duration::from_secs(10), || {
        hash(&ra) == hash(&rb) && hash(&rb) == hash(&rc)
    })
    .await;
    // Pushed at once rather than found by a later tick of every hop.
    assert!(took < Duration::from_secs(3), "gossip took {took:?}");
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinics_converge_after_the_middle_one_restarts() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    let (eb, rb) = node(&world, 1);
    let (ec, rc) = node(&world, 2);
    let b = start(eb, rb.clone(), vec![]);
    let b_addr = b.addr;
    let a = start(ea, ra.clone(), vec![b_addr]);
    let c = start(ec, rc.clone(), vec![b_addr]);
    wait_until("B has both links", Duration::from_secs(10), || {
        b.handle.status().peers.len() == 2
    })
    .await;

    b.stop().await;
    wait_until("A and C see B go", Duration::from_secs(10), || {
        [&a, &c].iter().all(|n| !n.handle.status().online)
    })
    .await;
    // Everyone works while B is away.
    let at_a = seal(&world, &ra, 0, 1);
    a.handle.announce(at_a.clone());
    let at_c = seal(&world, &rc, 2, 2);
    c.handle.announce(at_c.clone());
    let at_b = seal(&world, &rb, 1, 3);
    sleep(Duration::from_millis(300)).await;
    assert!(!holds(&ra, &at_c.hash()) && !holds(&rc, &at_a.hash()));

    // B comes back on the same port; A's and C's sentinels find it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let eb = loop {
        let allow = AllowList::from_ledger(&world.base);
        match Endpoint::bind_with(b_addr, &world.clinics[1], allow, quick()) {
            Ok(endpoint) => break endpoint,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot rebind B: {e}"),
        }
    };
    let b = start(eb, rb.clone(), vec![]);
    wait_until("all three converge", Duration::from_secs(15), || {
        hash(&ra) == hash(&rb) && hash(&rb) == hash(&rc)
    })
    .await;
    let base = world.base.block_count();
    for replica in [&ra, &rb, &rc] {
        assert_eq!(count(replica), base + 3);
        for block in [&at_a, &at_b, &at_c] {
            assert!(holds(replica, &block.hash()));
        }
    }
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_an_enrolled_clinic_is_refused_in_the_handshake() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    seal(&world, &ra, 0, 1);
    let stranger_keys = keys(77);
    let stranger = Mem::new(world.base.clone());
    // The stranger knows the network and would accept A; A never approved the stranger.
    let es = Endpoint::bind_with(
        localhost(),
        &stranger_keys,
        AllowList::from_ledger(&world.base),
        quick(),
    )
    .unwrap();
    let mut a = start(ea.clone(), ra.clone(), vec![]);
    let before = count(&ra);

    let refused = sync_once(&es, stranger.clone(), a.addr, Duration::from_secs(5)).await;
    assert!(
        matches!(refused, Err(NetError::Refused(_))),
        "the stranger's attempt ends with {refused:?}"
    );
    match a.event(|e| matches!(e, SyncEvent::Refused { .. })).await {
        SyncEvent::Refused { addr, reason } => {
            assert_eq!(addr, es.local_addr().unwrap());
            assert!(reason.contains("not an enrolled clinic"), "{reason}");
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(count(&ra), before);
    assert_eq!(ra.lock().unwrap().accept_calls, 0);
    assert_eq!(count(&stranger), world.base.block_count());
    assert_eq!(stranger.lock().unwrap().accept_calls, 0);
    assert!(a.handle.status().peers.is_empty());

    // The other way round: A refuses the stranger's server certificate.
    let mut s = start(es, stranger.clone(), vec![]);
    let refused = sync_once(&ea, ra.clone(), s.addr, Duration::from_secs(5)).await;
    assert!(
        matches!(&refused, Err(NetError::Refused(reason)) if reason.contains("not an enrolled clinic")),
        "A's attempt ends with {refused:?}"
    );
    s.event(|e| matches!(e, SyncEvent::Refused { .. })).await;
    assert_eq!(count(&stranger), world.base.block_count());
    assert_eq!(ra.lock().unwrap().accept_calls, 0);
    s.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_silent_peers_are_dropped_and_honest_ones_served() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    let (eb, rb) = node(&world, 1);
    let (ec, _rc) = node(&world, 2);
    let a = start(ea, ra.clone(), vec![]);

    // An enrolled clinic announcing a 4 GiB frame.
    let (huge, _) = ec.dial(a.addr).await.unwrap();
    let (mut send, _recv) = huge.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    // Refused on reading the prefix, not after an idle timeout.
    let closed = timeout(Duration::from_millis(1_000), huge.closed())
        .await
        .expect("the oversized frame is refused at once");
    assert!(
        matches!(&closed, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == 1u8.into()),
        "{closed:?}"
    );
    // One that never opens a stream, and one that stops inside a frame.
    let (silent, _) = ec.dial(a.addr).await.unwrap();
    let (stalled, _) = ec.dial(a.addr).await.unwrap();
    let (mut stalled_send, _stalled_recv) = stalled.open_bi().await.unwrap();
    stalled_send.write_all(&100u32.to_be_bytes()).await.unwrap();
    stalled_send.write_all(&[0; 10]).await.unwrap();

    // An honest clinic syncs meanwhile.
    seal(&world, &rb, 1, 1);
    let report = sync_once(&eb, rb.clone(), a.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.sent_blocks, 1);
    assert_eq!(hash(&ra), hash(&rb));

    let dropped = timeout(Duration::from_secs(6), async {
        (
            huge.closed().await,
            silent.closed().await,
            stalled.closed().await,
        )
    })
    .await
    .expect("the server drops all three");
    for reason in [&dropped.0, &dropped.1, &dropped.2] {
        assert!(
            matches!(reason, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == 1u8.into()),
            "closed by the server's application: {reason:?}"
        );
    }

    // And it still serves.
    seal(&world, &rb, 1, 2);
    let report = sync_once(&eb, rb.clone(), a.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.sent_blocks, 1);
    assert_eq!(hash(&ra), hash(&rb));
    a.stop().await;
}

#[tokio::test]
async fn a_peer_proves_its_address_before_it_takes_a_slot() {
    let world = World::new(2);
    let (ea, ra) = node(&world, 0);
    let (eb, rb) = node(&world, 1);
    let server = ea.clone();
    let a = start(ea, ra.clone(), vec![]);
    seal(&world, &rb, 1, 1);
    let report = sync_once(&eb, rb.clone(), a.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.sent_blocks, 1);
    assert!(
        server.retries() >= 1,
        "the first packet from a new address gets a Retry"
    );
    a.stop().await;
}

#[tokio::test]
async fn peers_announcing_large_frames_share_one_read_budget() {
    let world = World::new(3);
    let mut config = quick();
    config.read_budget = 2 << 20;
    let allow = AllowList::from_ledger(&world.base);
    let ea = Endpoint::bind_with(localhost(), &world.clinics[0], allow, config).unwrap();
    let server = ea.clone();
    let ra = Mem::new(world.base.clone());
    let (eb, rb) = node(&world, 1);
    let (ec, _rc) = node(&world, 2);
    let a = start(ea, ra.clone(), vec![]);
    // Two enrolled peers each announce a 1.5 MiB frame and send almost none of it: the first
    // holds most of the budget, the second waits for room it never gets.
    let mut hostile = Vec::new();
    for _ in 0..2 {
        let (conn, _) = ec.dial(a.addr).await.unwrap();
        let (mut send, recv) = conn.open_bi().await.unwrap();
        send.write_all(&(3u32 << 19).to_be_bytes()).await.unwrap();
        send.write_all(&[0; 64]).await.unwrap();
        hostile.push((conn, send, recv));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.reading_bytes(),
        3 << 19,
        "one announced frame is reserved; the other waits for room"
    );
    // An honest clinic's small frames still fit in what is left.
    seal(&world, &rb, 1, 1);
    let report = sync_once(&eb, rb.clone(), a.addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.sent_blocks, 1);
    assert_eq!(hash(&ra), hash(&rb));
    for (conn, _, _) in &hostile {
        let closed = timeout(Duration::from_secs(8), conn.closed())
            .await
            .expect("both hostile peers are dropped");
        assert!(
            matches!(&closed, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == 1u8.into()),
            "{closed:?}"
        );
    }
    a.stop().await;
}

/// Dials with a hand-made TLS client; returns how the connection ended.
async fn dial_with(from: &Endpoint, tls: rustls::ClientConfig, to: SocketAddr) -> NetError {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(crypto));
    let connecting = from.quic.connect_with(config, to, "carelog").unwrap();
    timeout(Duration::from_secs(5), async {
        match connecting.await {
            Err(e) => NetError::from_connection(e),
            // The server checks the client's certificate after the client's last flight.
            Ok(conn) => NetError::from_connection(conn.closed().await),
        }
    })
    .await
    .expect("the server ends the attempt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_certificate_or_the_key_behind_it_are_refused() {
    let world = World::new(3);
    let (ea, ra) = node(&world, 0);
    let (ec, _rc) = node(&world, 2);
    let mut a = start(ea, ra.clone(), vec![]);
    let allow = AllowList::from_ledger(&world.base);

    // No client certificate: mutual authentication is mandatory.
    let none = tls::rogue_client(&world.clinics[2], None, &allow);
    let ended = dial_with(&ec, none, a.addr).await;
    assert!(matches!(ended, NetError::Refused(_)), "{ended:?}");
    a.event(|e| matches!(e, SyncEvent::Refused { .. })).await;

    // Clinic 1's certificate is public; without clinic 1's key the handshake signature fails.
    let impostor = keys(78);
    let stolen = tls::rogue_client(&world.clinics[1], Some(&impostor), &allow);
    let ended = dial_with(&ec, stolen, a.addr).await;
    assert!(matches!(ended, NetError::Refused(_)), "{ended:?}");
    match a.event(|e| matches!(e, SyncEvent::Refused { .. })).await {
        SyncEvent::Refused { reason, .. } => {
            assert!(reason.to_lowercase().contains("signature"), "{reason}")
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(ra.lock().unwrap().accept_calls, 0);
    assert_eq!(count(&ra), world.base.block_count());
    a.stop().await;
}
