//! Recovering a clinic whose database is lost or damaged, without a backup, from its peers.
//!
//! Everything in the database either came from the ledger, which every peer replicates, or is
//! also kept as a file of the home (the genesis block, the sealed user key stores, the node
//! key). So a recovery starts a fresh replica from the kept genesis block, fetches every block
//! from a peer over the ordinary QUIC sync, checks each one fully, puts the key stores back, and
//! only then sets the damaged file aside and puts the new one in its place. A refusal at any
//! step leaves the home as it was.
//!
//! # What a recovery trusts
//!
//! A fresh replica knows only the clinics its genesis block enrolls (the founding clinic), so
//! it cannot pin the TLS handshake to a peer's enrolled key the way sync does: the peer may be
//! a clinic enrolled later. For this one fetch the handshake admits any key that proves
//! possession ([`carelog_sync::net::AllowList::any_key`]). That is sound because nothing the
//! peer says is taken on its word:
//! - every block is checked fully ([`Check::Full`]: seals of enrolled clinics, chain links,
//!   transaction signatures, roles and policy) against a replica rooted in the genesis block
//!   this home kept, so a peer can only hand over blocks that the network's clinics sealed;
//!   a peer of another network (even one whose genesis enrolls this clinic's public key) fails
//!   the network check of the first frame;
//! - after the fetch, the key the peer authenticated with must be an enrolled clinic's in the
//!   fetched ledger, and this clinic's node key must be enrolled; otherwise the fetched replica
//!   is thrown away.
//!
//! What a peer can do is withhold blocks. Blocks of other clinics come back with the next
//! sync. Blocks this clinic sealed that the peer lacks cannot be told from blocks never
//! sealed: the report says where this clinic's chain now ends, and the home seals from there.
//! If another peer holds a later block of this clinic, the next block sealed here conflicts
//! with it and that peer refuses it as equivocation; so recover from the best-connected peer,
//! or name several with `--peer`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carelog_ledger::{ActorId, Block, Hash, Ledger};
use carelog_store::{Origin, Store};
use carelog_sync::net::{self, AllowList, Endpoint};

use crate::error::{NodeError, Result, io_err};
use crate::home::{self, Home};
use crate::{Node, put_block};

/// What a recovery brought back, and what it could not.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The network (the kept genesis block's hash).
    pub network_id: Hash,
    /// Blocks in the new replica, genesis included.
    pub blocks: usize,
    /// Transactions in them.
    pub txs: u64,
    /// Each peer fetched from, and the clinic it authenticated as.
    pub peers: Vec<(SocketAddr, ActorId)>,
    /// The height this clinic's own chain now ends at (`None`: it sealed no block any peer had).
    pub own_height: Option<u64>,
    /// Users and patients whose key stores came back, enrolled in the recovered ledger.
    pub keys_restored: Vec<ActorId>,
    /// Key stores put back whose enrollment no peer had (their users sign in once a sync
    /// brings it).
    pub keys_waiting: Vec<ActorId>,
    /// Where the damaged database files were set aside (empty if there was no database).
    pub set_aside: Vec<PathBuf>,
}

impl Node {
    /// Rebuilds this home's replica from peers, with no backup: a fresh replica from the kept
    /// genesis block, every block fetched over QUIC and checked fully, the peer's key and this
    /// clinic's node key required to be enrolled in what was fetched, the key stores put back,
    /// and only then the damaged files set aside (`carelog.sqlite3.damaged-<unix seconds>`).
    /// Why admitting the peer's key before the fetch is sound is told in THREAT_MODEL.md.
    ///
    /// `network` is the network id, needed when the home keeps no genesis block (homes made
    /// before it was kept); it must match the kept one if both are there. Needs a running tokio
    /// runtime. Refuses a home whose database opens and verifies.
    pub async fn recover(
        root: &Path,
        peers: &[SocketAddr],
        network: Option<Hash>,
        limit: Duration,
    ) -> Result<(Node, Recovered)> {
        if peers.is_empty() {
            return Err(NodeError::invalid(
                "name at least one peer to recover from (--peer ADDR)",
            ));
        }
        let home = Home::new(root);
        let database = home.database();
        let node_key = root.join(home::NODE_KEY);
        if !node_key.exists() {
            return Err(NodeError::invalid(format!(
                "{} is missing: recovery from peers needs this clinic's node key; without it, restore a backup (`carelog restore FILE`)",
                node_key.display()
            )));
        }
        // The home's own keys must open first: a recovery never starts from a locked home.
        let secrets = Arc::new(Node::open_secrets(root, &crate::NodeUnlock::from_env()?)?);
        match Node::open_unlocked(root, secrets.clone(), &mut |_, _| {}) {
            Ok(_) => {
                return Err(NodeError::invalid(format!(
                    "{} opens and verifies: there is nothing to recover (to fetch new blocks, `carelog sync --peer ADDR`)",
                    database.display()
                )));
            }
            Err(e) => tracing::info!(error = %e, "recovering the home from peers"),
        }
        let genesis = genesis_for(&home, &secrets, network)?;
        let ledger = Ledger::new(genesis.clone()).map_err(|e| {
            NodeError::invalid(format!(
                "{} is not a valid genesis block: {e}",
                root.join(home::GENESIS).display()
            ))
        })?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let fresh = root.join(format!("{}.recovering-{stamp}", home::DATABASE));
        remove_database_files(&fresh);
        let store = Store::create(&fresh, secrets.database.expose())?;
        let clinic = ActorId::from_signing_key(&secrets.node.public().signing);
        let node = Node {
            home: home.clone(),
            store,
            ledger,
            secrets: secrets.clone(),
            clinic,
            sealer: clinic,
            loaded_seq: 0,
            saved_txs: 0,
        };
        let fetched = fetch(node, &genesis, peers, limit).await;
        let (peer_clinics, keys_restored, keys_waiting) = match fetched {
            Ok(done) => done,
            Err(e) => {
                remove_database_files(&fresh);
                return Err(e);
            }
        };
        // The fresh replica is complete and closed: only now does the damaged file move.
        let set_aside = set_aside(&database, stamp)?;
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", fresh.display()));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", database.display()));
                std::fs::rename(&from, &to).map_err(io_err(&to))?;
            }
        }
        let node = Node::open_unlocked(root, secrets, &mut |_, _| {})?;
        let (blocks, txs) = node.verify()?;
        let recovered = Recovered {
            network_id: node.network_id(),
            blocks,
            txs,
            peers: peers.iter().copied().zip(peer_clinics).collect(),
            own_height: node.ledger.dag().head_of(&node.sealer).map(|(h, _)| h),
            keys_restored,
            keys_waiting,
            set_aside,
        };
        tracing::info!(blocks, txs, "recovered the replica from peers");
        Ok((node, recovered))
    }
}

/// The genesis block to root the new replica in: the kept one, or (for homes made before it was
/// kept) the first block of the damaged database if its hash is the given network id.
fn genesis_for(home: &Home, secrets: &crate::HomeSecrets, network: Option<Hash>) -> Result<Block> {
    let kept_path = home.root().join(home::GENESIS);
    match (home.kept_genesis()?, network) {
        (Some(kept), Some(id)) if kept.hash() != id => Err(NodeError::invalid(format!(
            "--network {id} is not the network this home belongs to ({}, from {})",
            kept.hash(),
            kept_path.display()
        ))),
        (Some(kept), _) => Ok(kept),
        (None, None) => Err(NodeError::invalid(format!(
            "this home keeps no genesis block ({} is missing; homes made before it was kept have none): give the network id with --network ID",
            kept_path.display()
        ))),
        (None, Some(id)) => {
            carelog_store::salvage_first_block(&home.database(), secrets.database.expose())
            .and_then(|bytes| Block::from_bytes(&bytes).ok())
            .filter(|block| block.hash() == id)
            .ok_or_else(|| {
                NodeError::invalid(format!(
                    "the damaged database does not yield the genesis block of network {id}: copy genesis.block from the home of any clinic of the network to {} (its hash is checked against --network) and run recover again",
                    kept_path.display()
                ))
            })
        }
    }
}

/// Syncs the fresh replica with each peer, checks whom it talked to and that this clinic is
/// enrolled, and puts the mirrored key stores back. Closes the fresh database on return.
async fn fetch(
    mut node: Node,
    genesis: &Block,
    peers: &[SocketAddr],
    limit: Duration,
) -> Result<(Vec<ActorId>, Vec<ActorId>, Vec<ActorId>)> {
    node.store.write(|w| put_block(w, genesis, Origin::Peer))?;
    node.loaded_seq = node.store.blocks()?.last().map_or(0, |b| b.seq);
    let node_keys_public = node.secrets.node.public();
    let shared = Arc::new(Mutex::new(node));
    let mut peer_clinics = Vec::new();
    for &peer in peers {
        let listen: SocketAddr = if peer.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let endpoint = {
            let node = shared.lock().unwrap_or_else(|p| p.into_inner());
            // Dials out only: nothing accepts connections on this endpoint.
            Endpoint::bind(listen, &node.secrets.node, AllowList::any_key())
                .map_err(|e| NodeError::Network(e.to_string()))?
        };
        let report = net::sync_once(&endpoint, shared.clone(), peer, limit)
            .await
            .map_err(|e| NodeError::Network(format!("recovering from {peer}: {e}")))?;
        let node = shared.lock().unwrap_or_else(|p| p.into_inner());
        let enrolled = node
            .ledger
            .state()
            .clinics
            .get(&report.peer_clinic)
            .is_some_and(|c| ActorId::from_signing_key(&c.keys.signing) == report.peer_clinic);
        if !enrolled {
            return Err(NodeError::invalid(format!(
                "the peer at {peer} authenticated as {}, which is not a clinic of network {}: nothing it sent is kept",
                report.peer_clinic,
                node.ledger.network_id()
            )));
        }
        peer_clinics.push(report.peer_clinic);
    }
    let mut node = Arc::try_unwrap(shared)
        .map_err(|_| NodeError::Network("the sync link still holds the node".into()))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let state = node.ledger.state();
    if state.clinics.get(&node.clinic).map(|c| c.keys.signing) != Some(node_keys_public.signing) {
        return Err(NodeError::invalid(format!(
            "network {} as the peers hold it does not enroll this clinic ({}) with this home's node key",
            node.ledger.network_id(),
            node.clinic
        )));
    }
    let mirrored = node.home.mirrored_keys(&node.secrets)?;
    let (restored, waiting): (Vec<ActorId>, Vec<ActorId>) = mirrored
        .iter()
        .map(|(actor, _)| *actor)
        .partition(|actor| state.users.contains_key(actor));
    node.store.write(|w| {
        let seq = w.max_seq()?;
        for (actor, sealed) in &mirrored {
            w.put_sealed_keys(&actor.0, sealed)?;
            // Blocks fetched now are not news to the clinic's own users.
            w.set_setting(&format!("seen:{actor}"), &seq.to_le_bytes())?;
        }
        peers
            .iter()
            .try_for_each(|peer| w.add_peer(&peer.to_string()))
    })?;
    Ok((peer_clinics, restored, waiting))
}

/// Moves the damaged database and its -wal/-shm files to `<name>.damaged-<stamp>[-wal|-shm]`
/// (never deletes them). Returns where they went.
fn set_aside(database: &Path, stamp: u64) -> Result<Vec<PathBuf>> {
    let mut suffix_n = 0u32;
    let base = loop {
        let tag = if suffix_n == 0 {
            stamp.to_string()
        } else {
            format!("{stamp}.{suffix_n}")
        };
        let base = format!("{}.damaged-{tag}", database.display());
        if !["", "-wal", "-shm"]
            .iter()
            .any(|s| Path::new(&format!("{base}{s}")).exists())
        {
            break base;
        }
        suffix_n += 1;
    };
    let mut moved = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", database.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{base}{suffix}"));
            std::fs::rename(&from, &to).map_err(io_err(&from))?;
            moved.push(to);
        }
    }
    Ok(moved)
}

/// Removes a database this recovery made (and its -wal/-shm files), if present.
fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(test)]
mod tests;
