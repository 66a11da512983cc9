//! Session scenarios over a lossless in-memory link, and the protocol's edge cases.

use std::collections::{BTreeSet, VecDeque};

use carelog_ledger::{Block, BlockHash, Check, Hash, Ledger, LedgerError};

use super::*;
use crate::frame::{self, Frame};
use crate::testkit::{T0, World};

/// One end of an in-memory connection.
struct Side {
    ledger: Ledger,
    session: PeerSession,
    inbox: VecDeque<Frame>,
    closed: Option<String>,
    acked: Vec<Vec<Tip>>,
}

impl Side {
    fn new(world: &World, clinic: usize, ledger: Ledger, config: SyncConfig) -> Side {
        let session = PeerSession::new(ledger.network_id(), world.clinic_id(clinic), config);
        Side {
            ledger,
            session,
            inbox: VecDeque::new(),
            closed: None,
            acked: Vec::new(),
        }
    }
}

/// Carries out a session's outputs as a node would; frames go to `peer_inbox`.
fn handle(side: &mut Side, outputs: Vec<Output>, peer_inbox: &mut VecDeque<Frame>) {
    for output in outputs {
        match output {
            Output::Send(frame) => {
                // Every frame crosses the codec, as on the wire.
                peer_inbox.push_back(frame::decode(&frame::encode(&frame)).unwrap());
            }
            Output::Deliver(blocks) => {
                if let Err(failure) = side.ledger.insert_batch(blocks, Check::Full) {
                    let missing_links = matches!(*failure.error, LedgerError::MissingLinks { .. });
                    assert!(missing_links, "block {} refused: {failure}", failure.block);
                }
                let more = side.session.on_delivered(&side.ledger);
                handle(side, more, peer_inbox);
            }
            Output::PeerFrontier(tips) => side.acked.push(tips),
            Output::Close(reason) => side.closed = Some(reason),
        }
    }
}

/// Passes frames both ways until neither side has anything to say; returns the frame count.
fn run(a: &mut Side, b: &mut Side) -> usize {
    let mut frames = 0;
    for _ in 0..10_000 {
        if let Some(frame) = a.inbox.pop_front() {
            frames += 1;
            let out = a.session.on_frame(frame, &a.ledger);
            handle(a, out, &mut b.inbox);
        } else if let Some(frame) = b.inbox.pop_front() {
            frames += 1;
            let out = b.session.on_frame(frame, &b.ledger);
            handle(b, out, &mut a.inbox);
        } else {
            return frames;
        }
    }
    panic!("the sessions never went quiet");
}

fn connect(world: &World, a: Ledger, b: Ledger, config: SyncConfig) -> (Side, Side) {
    let mut a = Side::new(world, 0, a, config.clone());
    let mut b = Side::new(world, 1, b, config);
    let out = a.session.start(&a.ledger);
    handle(&mut a, out, &mut b.inbox);
    let out = b.session.start(&b.ledger);
    handle(&mut b, out, &mut a.inbox);
    (a, b)
}

/// Three clinics' replicas that saw each other only now and then; returns them.
fn concurrent_history(world: &World, rounds: u64) -> Vec<Ledger> {
    let mut replicas = vec![world.base.clone(), world.base.clone(), world.base.clone()];
    for n in 0..rounds {
        for (i, replica) in replicas.iter_mut().enumerate() {
            world.seal_work(replica, i, T0 + 100 + n as i64 * 10 + i as i64, n);
        }
        if n % 3 == 1 {
            // Clinic 1 learns everything of clinic 0 (parents first by construction order).
            let from_0: Vec<Block> = replicas[0]
                .blocks_in_order()
                .map(std::sync::Arc::unwrap_or_clone)
                .collect();
            replicas[1].insert_batch(from_0, Check::Full).unwrap();
        }
    }
    replicas
}

fn union(ledgers: &[Ledger]) -> Ledger {
    let mut all = ledgers[0].clone();
    for other in &ledgers[1..] {
        let blocks: Vec<Block> = other
            .blocks_in_order()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect();
        all.insert_batch(blocks, Check::Full).unwrap();
    }
    all
}

fn block_hashes(ledger: &Ledger) -> BTreeSet<BlockHash> {
    ledger.blocks_in_order().map(|b| b.hash()).collect()
}

fn sent_batches(outputs: &[Output]) -> Vec<Vec<Block>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(Frame::Blocks { blocks }) => Some(
                blocks
                    .iter()
                    .map(|b| Block::from_bytes(b).unwrap())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn hello_brings_exactly_the_missing_blocks_parents_first() {
    let world = World::new(3);
    let replicas = concurrent_history(&world, 6);
    let full = union(&replicas);
    for receiver in &replicas {
        let mut have = receiver.clone();
        let config = SyncConfig {
            batch_blocks: 4,
            ..SyncConfig::default()
        };
        let mut sender = PeerSession::new(full.network_id(), world.clinic_id(0), config);
        sender.start(&full);
        let mut out = sender.on_frame(
            Frame::Hello {
                network: full.network_id(),
                clinic: world.clinic_id(1),
                frontier: frontier_tips(&have),
            },
            &full,
        );
        let mut received = Vec::new();
        while !sent_batches(&out).is_empty() {
            for batch in sent_batches(&out) {
                for block in batch {
                    received.push(block.hash());
                    // Parents first: every block's links are already here.
                    have.insert(block, Check::Full).unwrap();
                }
            }
            let ack = Frame::Ack {
                frontier: frontier_tips(&have),
            };
            out = sender.on_frame(ack, &full);
        }
        let expected: BTreeSet<_> = block_hashes(&full)
            .difference(&block_hashes(receiver))
            .copied()
            .collect();
        assert_eq!(received.len(), expected.len(), "no block is sent twice");
        assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), expected);
        assert_eq!(have.state_hash(), full.state_hash());
        assert!(sender.is_in_sync());
    }
}

#[test]
fn batches_respect_their_limits_and_the_window() {
    let world = World::new(3);
    let full = union(&concurrent_history(&world, 5));
    let block_len = full
        .blocks_in_order()
        .map(|b| b.to_bytes().len())
        .max()
        .unwrap();
    for (batch_blocks, batch_bytes, window) in [
        (3, usize::MAX, 2),
        (100, 1, 1),
        (100, 2 * block_len + 10, 2),
        (1, 0, 3),
    ] {
        let config = SyncConfig {
            batch_blocks,
            batch_bytes,
            window,
            ..SyncConfig::default()
        };
        let (mut a, mut b) = connect(&world, full.clone(), world.base.clone(), config);
        // b's Hello reaches a: a sends at most `window` batches before any Ack.
        let hello = a.inbox.pop_front().unwrap();
        let out = a.session.on_frame(hello, &a.ledger);
        let batches = sent_batches(&out);
        assert_eq!(batches.len(), window, "the window is full");
        for batch in &batches {
            assert!(!batch.is_empty() && batch.len() <= batch_blocks.max(1));
            let bytes: usize = batch.iter().map(|b| b.to_bytes().len()).sum();
            assert!(
                batch.len() == 1 || bytes <= batch_bytes,
                "{bytes} > {batch_bytes}"
            );
        }
        handle(&mut a, out, &mut b.inbox);
        run(&mut a, &mut b);
        assert_eq!(b.ledger.state_hash(), full.state_hash());
        assert!(a.session.is_in_sync() && b.session.is_in_sync());
    }
}

#[test]
fn replicas_that_both_wrote_converge_and_report_it() {
    let world = World::new(3);
    let replicas = concurrent_history(&world, 4);
    let (mut a, mut b) = connect(
        &world,
        replicas[0].clone(),
        replicas[2].clone(),
        SyncConfig::default(),
    );
    run(&mut a, &mut b);
    assert_eq!(a.ledger.state_hash(), b.ledger.state_hash());
    assert_eq!(a.ledger.block_count(), b.ledger.block_count());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
    assert_eq!(a.session.peer_frontier(), b.session.peer_frontier());
    assert_eq!(a.session.peer_clinic(), Some(world.clinic_id(1)));
    assert!(!b.acked.is_empty(), "acks are reported for the outbox");

    // New blocks travel by push, and are not pushed back.
    let block = world.seal_work(&mut a.ledger, 0, T0 + 1_000, 99);
    let out = a.session.on_local_block(&block);
    assert!(matches!(out.as_slice(), [Output::Send(Frame::Push { .. })]));
    handle(&mut a, out, &mut b.inbox);
    run(&mut a, &mut b);
    assert!(b.ledger.contains(&block.hash()));
    assert!(
        b.session.on_local_block(&block).is_empty(),
        "the peer sent it"
    );
    assert!(
        a.session.on_local_block(&block).is_empty(),
        "the peer acked it"
    );
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}

#[test]
fn a_pushed_block_with_missing_links_is_repaired_with_need() {
    let world = World::new(3);
    let (mut a, mut b) = connect(
        &world,
        world.base.clone(),
        world.base.clone(),
        SyncConfig::default(),
    );
    run(&mut a, &mut b);
    let first = world.seal_work(&mut a.ledger, 0, T0 + 100, 1);
    let second = world.seal_work(&mut a.ledger, 0, T0 + 101, 2);
    // The first push is lost; the second arrives without its parent.
    a.session.on_local_block(&first);
    b.inbox.push_back(Frame::Push {
        block: second.to_bytes(),
    });
    let out = b.session.on_frame(b.inbox.pop_front().unwrap(), &b.ledger);
    handle(&mut b, out, &mut a.inbox);
    let need = a.inbox.iter().find_map(|f| match f {
        Frame::Need { missing } => Some(missing.clone()),
        _ => None,
    });
    let need = need.expect("b asks for what it lacks");
    assert!(need.contains(&first.hash()) && need.contains(&second.hash()));
    run(&mut a, &mut b);
    assert!(b.ledger.contains(&first.hash()) && b.ledger.contains(&second.hash()));
    assert_eq!(a.ledger.state_hash(), b.ledger.state_hash());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}

#[test]
fn lost_frames_are_sent_again_after_the_retry_ticks() {
    let world = World::new(3);
    let full = union(&concurrent_history(&world, 3));
    let config = SyncConfig::default();
    let (mut a, mut b) = connect(&world, full.clone(), world.base.clone(), config.clone());
    // Everything a sends in answer to b's Hello is lost.
    let hello = a.inbox.pop_front().unwrap();
    let lost = a.session.on_frame(hello, &a.ledger);
    assert!(!sent_batches(&lost).is_empty());
    let mut resent = Vec::new();
    for _ in 0..config.retry_ticks {
        resent = a.session.on_tick(&a.ledger);
    }
    assert_eq!(
        sent_batches(&resent),
        sent_batches(&lost),
        "the same batches again"
    );
    handle(&mut a, resent, &mut b.inbox);
    run(&mut a, &mut b);
    assert_eq!(b.ledger.state_hash(), full.state_hash());

    // A lost Hello is repeated until the peer's frontier is known.
    let (mut a, mut b) = connect(&world, full.clone(), world.base.clone(), config.clone());
    b.inbox.clear();
    let ticks: Vec<_> = (0..config.retry_ticks)
        .flat_map(|_| a.session.on_tick(&a.ledger))
        .collect();
    assert!(matches!(
        ticks.as_slice(),
        [Output::Send(Frame::Hello { .. })]
    ));
    handle(&mut a, ticks, &mut b.inbox);
    run(&mut a, &mut b);
    assert_eq!(b.ledger.state_hash(), full.state_hash());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}

#[test]
fn a_peer_on_another_network_is_closed() {
    let world = World::new(2);
    let mut session = PeerSession::new(
        world.base.network_id(),
        world.clinic_id(0),
        SyncConfig::default(),
    );
    session.start(&world.base);
    let out = session.on_frame(
        Frame::Hello {
            network: Hash([9; 32]),
            clinic: world.clinic_id(1),
            frontier: vec![],
        },
        &world.base,
    );
    assert!(matches!(&out[0], Output::Send(Frame::Bye { reason }) if reason.contains("network")));
    assert!(matches!(&out[1], Output::Close(reason) if reason.contains("network")));
    assert!(session.is_closed());
    let later = Frame::Ack {
        frontier: frontier_tips(&world.base),
    };
    assert!(session.on_frame(later, &world.base).is_empty());
    assert!(session.on_tick(&world.base).is_empty());
}

#[test]
fn malformed_blocks_and_contradicting_frontiers_close() {
    let world = World::new(2);
    let fresh = || {
        PeerSession::new(
            world.base.network_id(),
            world.clinic_id(0),
            SyncConfig::default(),
        )
    };
    let mut session = fresh();
    let out = session.on_frame(
        Frame::Blocks {
            blocks: vec![vec![1, 2, 3]],
        },
        &world.base,
    );
    assert!(
        matches!(out.last(), Some(Output::Close(r)) if r.contains("malformed")),
        "{out:?}"
    );

    let mut session = fresh();
    let out = session.on_frame(Frame::Push { block: vec![0xff] }, &world.base);
    assert!(matches!(out.last(), Some(Output::Close(r)) if r.contains("malformed")));

    // The peer claims a different block at a height this replica holds (a clinic sealed two):
    // the session asks for it by hash, once, and stays open.
    let mut session = fresh();
    let mut tips = frontier_tips(&world.base);
    tips[0].hash = Hash([3; 32]);
    let hello = Frame::Hello {
        network: world.base.network_id(),
        clinic: world.clinic_id(1),
        frontier: tips.clone(),
    };
    let out = session.on_frame(hello, &world.base);
    assert!(
        out.contains(&Output::Send(Frame::Need {
            missing: vec![Hash([3; 32])]
        })),
        "{out:?}"
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Close(_))));
    let again = session.on_frame(Frame::Ack { frontier: tips }, &world.base);
    assert!(
        !again
            .iter()
            .any(|o| matches!(o, Output::Send(Frame::Need { .. })))
    );

    // A peer that says Bye is closed without an answer.
    let mut session = fresh();
    let out = session.on_frame(
        Frame::Bye {
            reason: "shutting down".into(),
        },
        &world.base,
    );
    assert!(matches!(out.as_slice(), [Output::Close(r)] if r.contains("shutting down")));
}

#[test]
fn duplicated_frames_are_harmless() {
    let world = World::new(3);
    let full = union(&concurrent_history(&world, 3));
    let (mut a, mut b) = connect(
        &world,
        full.clone(),
        world.base.clone(),
        SyncConfig::default(),
    );
    for _ in 0..10_000 {
        let (side, other) = if !a.inbox.is_empty() {
            (&mut a, &mut b)
        } else if !b.inbox.is_empty() {
            (&mut b, &mut a)
        } else {
            break;
        };
        let frame = side.inbox.pop_front().unwrap();
        for copy in [frame.clone(), frame] {
            let out = side.session.on_frame(copy, &side.ledger);
            handle(side, out, &mut other.inbox);
        }
    }
    assert!(
        a.inbox.is_empty() && b.inbox.is_empty(),
        "duplicates die out"
    );
    assert_eq!(b.ledger.state_hash(), full.state_hash());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}

/// Tips in the frames a side sent (greetings and acks).
fn tips_sent(outputs: &[Output]) -> Vec<(&'static str, usize)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(f @ (Frame::Hello { frontier, .. } | Frame::Since { frontier, .. })) => {
                Some((f.kind(), frontier.len()))
            }
            Output::Send(f @ Frame::Ack { frontier }) => Some((f.kind(), frontier.len())),
            _ => None,
        })
        .collect()
}

/// North and south synced once; south goes away while north charts, then comes back. Each
/// greets with only what changed since, and acks name only the chains that moved.
#[test]
fn a_resumed_session_greets_with_what_changed_and_acks_only_what_moved() {
    let world = World::new(6);
    let (mut a, mut b) = connect(
        &world,
        world.base.clone(),
        world.base.clone(),
        SyncConfig::default(),
    );
    run(&mut a, &mut b);
    let chains = world.base.dag().heads().len();
    let (memory_a, memory_b) = (a.session.memory(), b.session.memory());
    assert!(!memory_a.is_empty() && !memory_b.is_empty());

    let mut north = a.ledger.clone();
    let block = world.seal_work(&mut north, 0, T0 + 1_000, 1);
    let mut a = Side::new(&world, 0, north, SyncConfig::default());
    a.session = PeerSession::resume(
        a.ledger.network_id(),
        world.clinic_id(0),
        SyncConfig::default(),
        memory_a,
    );
    let mut b = Side::new(&world, 1, b.ledger.clone(), SyncConfig::default());
    b.session = PeerSession::resume(
        b.ledger.network_id(),
        world.clinic_id(1),
        SyncConfig::default(),
        memory_b,
    );
    let out = a.session.start(&a.ledger);
    assert_eq!(
        tips_sent(&out),
        [("since", 1)],
        "only north's own chain moved"
    );
    handle(&mut a, out, &mut b.inbox);
    let out = b.session.start(&b.ledger);
    assert_eq!(tips_sent(&out), [("since", 0)], "south holds what it held");
    handle(&mut b, out, &mut a.inbox);
    // The answers to the greetings, and every later Ack, name a chain or two, never all.
    let mut largest = 0;
    for _ in 0..100 {
        let (side, other) = if !a.inbox.is_empty() {
            (&mut a, &mut b)
        } else if !b.inbox.is_empty() {
            (&mut b, &mut a)
        } else {
            break;
        };
        let frame = side.inbox.pop_front().unwrap();
        let out = side.session.on_frame(frame, &side.ledger);
        largest = tips_sent(&out)
            .iter()
            .map(|(_, n)| *n)
            .fold(largest, usize::max);
        handle(side, out, &mut other.inbox);
    }
    assert!(largest <= 1, "acks named {largest} of {chains} chains");
    assert!(b.ledger.contains(&block.hash()));
    assert_eq!(a.ledger.state_hash(), b.ledger.state_hash());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
    let actual: std::collections::BTreeMap<_, _> = a
        .ledger
        .dag()
        .heads()
        .iter()
        .map(|(c, (h, _))| (*c, *h))
        .collect();
    assert_eq!(
        b.session.peer_frontier(),
        &actual,
        "south knows north's frontier"
    );
}

/// A peer that remembers nothing (restarted) answers a `Since` with a full Hello, and the two
/// still converge.
#[test]
fn a_greeting_from_a_memory_the_peer_lacks_falls_back_to_hello() {
    let world = World::new(4);
    let (mut a, mut b) = connect(
        &world,
        world.base.clone(),
        world.base.clone(),
        SyncConfig::default(),
    );
    run(&mut a, &mut b);
    let memory_a = a.session.memory();
    let mut south = b.ledger.clone();
    let block = world.seal_work(&mut south, 1, T0 + 1_000, 1);
    let mut a = Side::new(&world, 0, a.ledger.clone(), SyncConfig::default());
    a.session = PeerSession::resume(
        a.ledger.network_id(),
        world.clinic_id(0),
        SyncConfig::default(),
        memory_a,
    );
    let mut b = Side::new(&world, 1, south, SyncConfig::default());
    let out = a.session.start(&a.ledger);
    handle(&mut a, out, &mut b.inbox);
    let greeting = b.inbox.front().cloned().unwrap();
    let answer = b.session.on_frame(greeting, &b.ledger);
    b.inbox.pop_front();
    assert!(
        matches!(answer.as_slice(), [Output::Send(Frame::Hello { .. })]),
        "{answer:?}"
    );
    handle(&mut b, answer, &mut a.inbox);
    let out = b.session.start(&b.ledger);
    handle(&mut b, out, &mut a.inbox);
    run(&mut a, &mut b);
    assert!(a.ledger.contains(&block.hash()));
    assert_eq!(a.ledger.state_hash(), b.ledger.state_hash());
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}

/// A frame carrying two chains is lost; the peer then asks (Need) for a block of one of them.
/// The other chain of the lost frame must be sent again too, or it would count as sent with
/// nothing left to retry it.
#[test]
fn a_need_after_a_lost_frame_resends_every_chain_of_that_frame() {
    let world = World::new(3);
    let mut north = world.base.clone();
    let first = world.seal_work(&mut north, 0, T0 + 1_000, 1);
    let second = world.seal_work(&mut north, 1, T0 + 1_001, 2);
    let config = SyncConfig {
        window: 1,
        ..SyncConfig::default()
    };
    let (mut a, mut b) = connect(&world, north, world.base.clone(), config);
    // b's Hello reaches a, which acks and sends both blocks in one frame: lost.
    let hello = a.inbox.pop_front().unwrap();
    let out = a.session.on_frame(hello, &a.ledger);
    handle(&mut a, out, &mut b.inbox);
    let before = b.inbox.len();
    b.inbox
        .retain(|f| !matches!(f, Frame::Blocks { blocks } if blocks.len() == 2));
    assert_eq!(b.inbox.len(), before - 1, "the two-chain frame was lost");
    // b asks for the first block by hash (as after a push whose links it lacked).
    let need = Frame::Need {
        missing: vec![first.hash()],
    };
    let out = a.session.on_frame(need, &a.ledger);
    handle(&mut a, out, &mut b.inbox);
    run(&mut a, &mut b);
    assert!(b.ledger.contains(&first.hash()));
    assert!(
        b.ledger.contains(&second.hash()),
        "the lost frame's other chain came again"
    );
    assert!(a.session.is_in_sync() && b.session.is_in_sync());
}
