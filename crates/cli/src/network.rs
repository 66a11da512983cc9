//! `serve`, `sync` and the sync half of `clinic join`: a tokio runtime around the node.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_node::Node;
use carelog_sync::net::SyncEvent;
use serde_json::json;

use crate::{Failure, Output};

/// How long one `sync` may take before it gives up.
const SYNC_LIMIT: Duration = Duration::from_secs(60);

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Runs until SIGINT or SIGTERM, logging sync events to stderr.
/// Prints the address it listens on at once (one JSON object with `--json`: `listening`,
/// `clinic_id`), then serves until SIGINT or SIGTERM and prints nothing more on stdout.
pub fn serve(
    node: Node,
    listen: SocketAddr,
    mut peers: Vec<SocketAddr>,
    json: bool,
) -> Result<Output, Failure> {
    for known in node.peers()? {
        if let Ok(addr) = known.parse::<SocketAddr>()
            && !peers.contains(&addr)
            && addr != listen
        {
            peers.push(addr);
        }
    }
    let clinic = node.clinic_id();
    let rt = runtime()?;
    rt.block_on(async move {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            let _ = stop.send(true);
        });
        let endpoint = node.bind_endpoint(listen)?;
        let bound = endpoint.local_addr().map_err(|e| e.to_string())?;
        {
            let mut stdout = std::io::stdout().lock();
            if json {
                writeln!(stdout, "{}", json!({"listening": bound.to_string(), "clinic_id": clinic.to_string()}))?;
            } else {
                writeln!(stdout, "Clinic {clinic} listening on {bound}")?;
            }
            stdout.flush()?;
        }
        eprintln!("carelog: clinic {clinic} serving on {bound} with {} peers", peers.len());
        carelog_node::serve_on(node, endpoint, peers, shutdown, |event| match event {
            SyncEvent::PeerConnected { clinic, addr } => eprintln!("carelog: connected to clinic {clinic} at {addr}"),
            SyncEvent::PeerDisconnected { clinic, addr, reason } => eprintln!("carelog: clinic {clinic} at {addr} disconnected: {reason}"),
            SyncEvent::Received { from, blocks } => eprintln!("carelog: received {blocks} blocks from clinic {from}"),
            SyncEvent::InSync { clinic } => eprintln!("carelog: in sync with clinic {clinic}"),
            SyncEvent::Refused { addr, reason } => eprintln!("carelog: refused {addr}: {reason}"),
        })
        .await
        .map_err(Failure::from)
    })?;
    Ok(Output::silent())
}

/// Connects to one peer and exchanges until both sides hold the same blocks.
pub fn sync(node: Node, peer: SocketAddr) -> Result<Output, Failure> {
    let shared = Arc::new(Mutex::new(node));
    let report = runtime()?.block_on(carelog_node::sync_once(&shared, peer, SYNC_LIMIT))?;
    let node = shared
        .lock()
        .map_err(|_| "the node was left in a broken state")?;
    let hash = node.stats()?.state_hash;
    Ok(Output::new(
        json!({"sent": report.sent_blocks, "received": report.received_blocks, "state_hash": hash.to_string(), "peer_clinic": report.peer_clinic.to_string()}),
        format!(
            "Synced with clinic {}: sent {}, received {} blocks; state {hash}",
            report.peer_clinic, report.sent_blocks, report.received_blocks
        ),
    ))
}

/// Rebuilds a lost or damaged replica from peers, and says what came back and what could not.
pub fn recover(
    home: &std::path::Path,
    peers: &[SocketAddr],
    network: Option<String>,
) -> Result<Output, Failure> {
    let network = network
        .map(|text| {
            text.parse::<carelog_ledger::Hash>()
                .map_err(|e| format!("--network: {e}"))
        })
        .transpose()?;
    let (node, recovered) = runtime()?.block_on(Node::recover(home, peers, network, SYNC_LIMIT))?;
    let names = |ids: &[carelog_ledger::ActorId]| -> Vec<String> {
        ids.iter().map(|id| node.describe(id)).collect()
    };
    let ids = |ids: &[carelog_ledger::ActorId]| -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    };
    let own = match recovered.own_height {
        Some(h) => format!(
            "This clinic's own chain now ends at height {h}: any block it sealed after that which no peer received is lost, and it seals from there."
        ),
        None => {
            "No peer held a block this clinic sealed; it seals from the start of its chain.".into()
        }
    };
    let mut human = format!(
        "Recovered {} from {}: {} blocks, {} transactions of network {}, every one checked.\n{own}",
        home.display(),
        recovered
            .peers
            .iter()
            .map(|(addr, clinic)| format!("{} ({addr})", node.display_name(clinic)))
            .collect::<Vec<_>>()
            .join(", "),
        recovered.blocks,
        recovered.txs,
        recovered.network_id,
    );
    if recovered.keys_restored.is_empty() {
        human.push_str("\nNo user's key store was kept beside the database: users of this clinic cannot sign in here.");
    } else {
        human.push_str(&format!(
            "\nKeys back for {} users and patients: {}.",
            recovered.keys_restored.len(),
            names(&recovered.keys_restored).join(", ")
        ));
    }
    if !recovered.keys_waiting.is_empty() {
        human.push_str(&format!(
            "\nKey stores put back whose enrollment no peer had yet (they sign in once a sync brings it): {}.",
            ids(&recovered.keys_waiting).join(", ")
        ));
    }
    for path in &recovered.set_aside {
        human.push_str(&format!(
            "\nThe damaged file is kept at {}.",
            path.display()
        ));
    }
    Ok(Output::new(
        json!({
            "ok": true,
            "network_id": recovered.network_id.to_string(),
            "blocks": recovered.blocks,
            "txs": recovered.txs,
            "own_height": recovered.own_height,
            "peers": recovered.peers.iter().map(|(addr, clinic)| json!({"addr": addr.to_string(), "clinic": clinic.to_string()})).collect::<Vec<_>>(),
            "keys_restored": ids(&recovered.keys_restored),
            "keys_waiting": ids(&recovered.keys_waiting),
            "set_aside": recovered.set_aside.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }),
        human,
    ))
}

/// After joining: sync from the invite's peers; an unreachable peer is reported, not fatal.
pub fn sync_after_join(node: Node) -> Result<(Node, Vec<String>), Failure> {
    let peers: Vec<SocketAddr> = node
        .peers()?
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let shared = Arc::new(Mutex::new(node));
    let mut notes = Vec::new();
    if !peers.is_empty() {
        let rt = runtime()?;
        for peer in peers {
            match rt.block_on(carelog_node::sync_once(
                &shared,
                peer,
                Duration::from_secs(15),
            )) {
                Ok(r) => notes.push(format!(
                    "synced with {peer}: received {} blocks",
                    r.received_blocks
                )),
                Err(e) => notes.push(format!(
                    "could not sync with {peer} yet ({e}); `carelog serve` will keep trying"
                )),
            }
        }
    }
    let node = Arc::try_unwrap(shared)
        .map_err(|_| "the node is still shared")?
        .into_inner()
        .map_err(|_| "the node was left in a broken state")?;
    Ok((node, notes))
}
