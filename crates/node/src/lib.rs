//! The Carelog clinic node: one home's database, ledger replica and keys, and the commands and
//! queries that the CLI and the desktop app call.
//!
//! Every command follows the same path: check the input, ask the policy
//! ([`carelog_ledger::authorize`]), build and sign transactions, seal them into this clinic's next
//! block, commit block and outbox entry (and any new key store) in one SQLite transaction, then
//! apply the block to the in-memory replica. A refusal at any step changes nothing.
//!
//! A home's database is encrypted (SQLCipher) and its own keys are sealed under a node
//! passphrase or kept in the OS keyring ([`NodeUnlock`], module `at_rest`).
//!
//! ```no_run
//! use carelog_node::{Node, NewNetwork, NodeUnlock};
//! let unlock = NodeUnlock::passphrase("north clinic node passphrase");
//! let (mut node, created) = Node::create_network_with("/tmp/north".as_ref(), &NewNetwork {
//!     network: "District", clinic: "North", admin: "Ada",
//!     admin_passphrase: "ada's long passphrase",
//!     authority_passphrase: "the district authority's passphrase",
//! }, &unlock).unwrap();
//! let admin = node.unlock(created.admin_id, "ada's long passphrase").unwrap();
//! let doctor = node.add_user(&admin, carelog_ledger::Role::Doctor, "Dr Who",
//!     Some("family medicine"), "a doctor's own passphrase").unwrap();
//! ```

mod access;
mod at_rest;
mod backup;
mod card;
mod charting;
mod demo;
mod devices;
mod directory;
mod emergency;
mod error;
mod front_desk;
mod home;
mod interop;
mod join;
mod keys;
mod lan;
mod network;
mod people;
mod places;
mod printed;
mod printed_card;
mod proxies;
mod recover;
mod replication;
mod saved;
mod shared;
mod standing;
pub mod synthetic;
mod views;
mod worklist;

use std::path::Path;
use std::sync::Arc;

use carelog_ledger::{
    ActorId, Block, BlockFailure, Check, Checked, Founding, Hash, Ledger, Role, SignedTx, TxId,
};
use carelog_store::{NewBlock, Origin, Store, StoreError};
use carelog_vault::{ActorKeys, KdfParams};

pub use access::{AccessRequestView, AuditLine, BreakGlassOpening};
pub use at_rest::{
    AUTHORITY_PASSPHRASE_VAR, AuthorityKeys, DatabaseKey, HomeSecrets, KEYRING_SERVICE, Keyring,
    MemoryKeyring, NODE_PASSPHRASE_FILE_VAR, NODE_PASSPHRASE_VAR, NodeUnlock, OsKeyring,
};
pub use card::{CARD_NUMBER_DIGITS, Card, card_number, check_pin, parse_card_number};
pub use carelog_sync::net::{LinkState, PeerState, SyncStatus};
pub use charting::{Banner, EntryOptions, PatientListing};
pub use demo::{DemoHome, DemoNetwork, build_demo, demo_authority_passphrase};
pub use devices::{DeviceListing, DeviceRequest, MachinesStatus, Pairing, pairing_code, qr_svg};
pub use directory::{ClinicEntry, CurrentReader, KeptRecord, Person, ReadBasis};
pub use error::{BadInput, CarriedFile, NodeError, Result};
pub use front_desk::FoundPatient;
pub use home::{Home, now_ms, parse_time, rfc3339};
pub use interop::Format;
pub use join::{Invite, JoinRequest};
pub use lan::LAN_DISCOVERY_ENV;
pub use network::{Link, LinkStatus, PeerStatus, serve, serve_on, state_name, sync_once};
pub use places::{data_dir, default_home};
pub use printed::Document;
pub use printed_card::{CardFace, card_pdf};
pub use recover::Recovered;
pub use replication::{Accepted, Evidence, NewRecord, PatientBundle};
pub use shared::{GroupStats, SharedNode};
pub use standing::{KeyRequest, Replacement};
pub use worklist::WorklistOrder;

/// The demo network's staff passphrase (`carelog demo`; never for a real home).
pub const DEMO_STAFF_PASSPHRASE: &str = "demo clinic staff";
/// The demo network's patient PIN (each demo patient also has their own card).
pub const DEMO_PATIENT_PIN: &str = "246810";
/// The node passphrase of the demo network's homes when none is set in the environment.
pub const DEMO_NODE_PASSPHRASE: &str = "demo homes only, not for patients";
/// The demo network's health authority passphrase when none is set in the environment.
pub const DEMO_AUTHORITY_PASSPHRASE: &str = "demo district authority";

/// What `network create` needs.
pub struct NewNetwork<'a> {
    /// The network's name.
    pub network: &'a str,
    /// This clinic's name.
    pub clinic: &'a str,
    /// The first admin's name.
    pub admin: &'a str,
    /// The first admin's passphrase.
    pub admin_passphrase: &'a str,
    /// The passphrase that seals the health authority's key (`$CARELOG_AUTHORITY_PASSPHRASE`).
    pub authority_passphrase: &'a str,
}

/// The ids a new network starts with.
#[derive(Clone, Copy, Debug)]
pub struct Created {
    /// The network id.
    pub network_id: Hash,
    /// This clinic.
    pub clinic_id: ActorId,
    /// The first admin.
    pub admin_id: ActorId,
}

/// A user whose keys are unlocked for this command.
pub struct Session {
    /// The user's id.
    pub user: ActorId,
    keys: ActorKeys,
    /// The card a patient signed in with (a patient's PIN change keeps it).
    card: Option<carelog_vault::CardSecret>,
    /// Patients' data keys this session has opened.
    opened: keys::OpenedKeys,
    /// Chart entries this session has opened.
    read: keys::OpenedEntries,
}

/// Size and head of the replica.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Blocks, genesis included.
    pub blocks: usize,
    /// Transactions.
    pub txs: u64,
    /// Enrolled clinics.
    pub clinics: usize,
    /// The state hash.
    pub state_hash: Hash,
    /// Locally sealed blocks no peer has acknowledged.
    pub pending: u64,
}

/// An open clinic node.
pub struct Node {
    home: Home,
    store: Store,
    ledger: Ledger,
    /// The node key, the database key and the home's id.
    secrets: Arc<at_rest::HomeSecrets>,
    /// The clinic this node works for.
    clinic: ActorId,
    /// The id this node seals its chain under: the clinic's for its first node, its own for a
    /// device added to the clinic later.
    sealer: ActorId,
    /// The newest stored block this replica has applied (blocks may arrive from other processes).
    loaded_seq: i64,
    /// Transactions the saved state covers (see [`Node::save_state`]).
    saved_txs: u64,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Closing as a panic unwinds may find the state half-updated: nothing is saved then
        // (the ledger refuses to save a state it knows is incomplete, too).
        if !std::thread::panicking()
            && self.ledger.tx_count().saturating_sub(self.saved_txs) >= saved::SAVE_EVERY
            && let Err(e) = self.save_state()
        {
            tracing::warn!(error = %e, "could not save the ledger's state for the next open");
        }
    }
}

/// How long a user must wait after `failures` wrong passphrases in a row, if at all.
fn unlock_delay_ms(failures: u32) -> Option<i64> {
    const FREE_TRIES: u32 = 3;
    const MAX_MS: i64 = 5 * 60 * 1000;
    (failures >= FREE_TRIES).then(|| (1000i64 << (failures - FREE_TRIES).min(20)).min(MAX_MS))
}

fn validate_name(what: &str, name: &str) -> Result<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.len() > 200 || trimmed.chars().any(char::is_control) {
        return Err(NodeError::invalid(format!(
            "{what} must be 1 to 200 printable characters"
        )));
    }
    Ok(())
}

/// The least zxcvbn score (0 to 4) a new staff, node or authority passphrase needs: 3 is "safely
/// unguessable: moderate protection from an offline slow-hash scenario" (under 10¹⁰ guesses).
pub const MIN_PASSPHRASE_SCORE: u8 = 3;

/// Refuses a new passphrase that zxcvbn finds too easy to guess, saying why and what helps.
/// `context` (names of the person, clinic, network) counts as known to an attacker.
pub fn check_passphrase_strength(what: &str, passphrase: &str, context: &[&str]) -> Result<()> {
    if passphrase.chars().count() > 256 {
        return Err(NodeError::invalid(format!(
            "{what} is longer than 256 characters"
        )));
    }
    let words: Vec<String> = ["carelog", "clinic", "passphrase", "password"]
        .iter()
        .map(|w| w.to_string())
        .chain(
            context
                .iter()
                .flat_map(|c| c.split_whitespace())
                .map(str::to_lowercase),
        )
        .collect();
    let known: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(passphrase, &known);
    let score = u8::from(estimate.score());
    if score >= MIN_PASSPHRASE_SCORE {
        return Ok(());
    }
    let mut advice = String::new();
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            advice.push_str(&format!(" {warning}."));
        }
        for suggestion in feedback.suggestions() {
            advice.push_str(&format!(" {suggestion}"));
        }
    }
    Err(NodeError::invalid(format!(
        "{what} is too easy to guess (strength {score} of 4; at least {MIN_PASSPHRASE_SCORE} is \
         needed).{advice} A few unrelated words, or a longer phrase of your own, will do."
    )))
}

/// Seals a staff user's keys under their passphrase, once it is strong enough.
fn seal_user_keys(keys: &ActorKeys, passphrase: &str, context: &[&str]) -> Result<Vec<u8>> {
    check_passphrase_strength("this passphrase", passphrase, context)?;
    Ok(carelog_vault::seal_keys(
        keys,
        passphrase,
        KdfParams::DEFAULT,
        home::random(),
        home::random(),
    ))
}

/// Seals a patient's keys under their card and PIN (at least 6 digits).
fn seal_patient_keys(keys: &ActorKeys, card: &Card, pin: &str) -> Result<Vec<u8>> {
    card::check_pin(pin)?;
    Ok(carelog_vault::seal_keys_with_card(
        keys,
        card.secret(),
        pin,
        KdfParams::PIN,
        home::random(),
        home::random(),
    ))
}

impl Node {
    /// Founds a new network in an empty home: health authority, genesis, this clinic, its admin.
    /// The home's keys are sealed as [`NodeUnlock::from_env`] says.
    pub fn create_network(root: &Path, new: &NewNetwork<'_>) -> Result<(Node, Created)> {
        Node::create_network_with(root, new, &NodeUnlock::from_env()?)
    }

    /// [`Node::create_network`], sealing the home's keys with `unlock`.
    pub fn create_network_with(
        root: &Path,
        new: &NewNetwork<'_>,
        unlock: &NodeUnlock,
    ) -> Result<(Node, Created)> {
        Node::create_network_at(root, new, unlock, now_ms())
    }

    /// [`Node::create_network_with`] founded at a given time (a synthetic history starts in the
    /// past).
    pub(crate) fn create_network_at(
        root: &Path,
        new: &NewNetwork<'_>,
        unlock: &NodeUnlock,
        founded_ms: i64,
    ) -> Result<(Node, Created)> {
        validate_name("the network name", new.network)?;
        validate_name("the clinic name", new.clinic)?;
        validate_name("the admin's name", new.admin)?;
        let home = Home::new(root);
        let authority = home::new_keys();
        let node_keys = home::new_keys();
        let admin = home::new_keys();
        let context = [new.admin, new.clinic, new.network];
        let sealed_admin = seal_user_keys(&admin, new.admin_passphrase, &context)?;
        check_passphrase_strength(
            "the health authority's passphrase",
            new.authority_passphrase,
            &context,
        )?;
        check_node_passphrase(unlock, &context)?;
        home.prepare_new()?;
        let genesis = Ledger::found(
            &authority,
            &Founding {
                network_name: new.network.trim(),
                clinic_name: new.clinic.trim(),
                clinic_keys: node_keys.public(),
                admin_name: new.admin.trim(),
                admin_keys: admin.public(),
            },
            founded_ms,
        );
        let mut ledger = Ledger::new(genesis.clone())?;
        let secrets = Arc::new(at_rest::HomeSecrets::new(node_keys));
        at_rest::seal_node_key(&home, &secrets, unlock)?;
        at_rest::seal_authority_key(&home, &authority, new.authority_passphrase)?;
        home.keep_genesis(&genesis)?;
        let admin_id = ActorId::from_signing_key(&admin.public().signing);
        home.mirror_sealed_keys(&secrets, &admin_id, &sealed_admin)?;
        let mut store = Store::create(&home.database(), secrets.database.expose())?;
        store.write(|w| {
            w.put_sealed_keys(&admin_id.0, &sealed_admin)?;
            put_block(w, &genesis, Origin::Peer)
        })?;
        read_bodies_from_store(&mut ledger, &store)?;
        let clinic = ActorId::from_signing_key(&secrets.node.public().signing);
        let created = Created {
            network_id: ledger.network_id(),
            clinic_id: clinic,
            admin_id,
        };
        tracing::info!(network = %created.network_id, clinic = %clinic, "network founded");
        let loaded_seq = store.blocks()?.last().map_or(0, |b| b.seq);
        Ok((
            Node {
                home,
                store,
                ledger,
                secrets,
                clinic,
                sealer: clinic,
                loaded_seq,
                saved_txs: 0,
            },
            created,
        ))
    }

    /// Opens a home, re-reading and checking every stored block. Its keys are opened as
    /// [`NodeUnlock::from_env`] says.
    ///
    /// A database that is damaged, truncated, not a Carelog database, or whose blocks fail
    /// their checks is refused with [`NodeError::DatabaseDamaged`] or
    /// [`NodeError::DamagedBlock`], both naming the file and `carelog recover`. Keys that do not
    /// open are [`NodeError::NodeLocked`] or [`NodeError::WrongNodePassphrase`]; nothing is made.
    pub fn open(root: &Path) -> Result<Node> {
        Node::open_with(root, &NodeUnlock::from_env()?)
    }

    /// [`Node::open`], opening the home's keys with `unlock`.
    ///
    /// A home made before encryption (a plain SQLite file and a hex `node.key`) is sealed on
    /// this first open: its keys under `unlock` (with a new database key), then the database
    /// encrypted in place (a complete encrypted copy renamed over it), then the copies in
    /// `keys/` and an authority key sealed too. Each step can be interrupted; the next open
    /// finishes the rest.
    pub fn open_with(root: &Path, unlock: &NodeUnlock) -> Result<Node> {
        Node::open_with_progress(root, unlock, &mut |_, _| {})
    }

    /// [`Node::open_with`], reporting `(blocks applied, blocks to apply)` as the blocks beyond
    /// the saved state are checked and applied (a page of them at a time) (all of them when there is no saved state: a
    /// first open after `recover`, say, which takes seconds on a large home).
    pub fn open_with_progress(
        root: &Path,
        unlock: &NodeUnlock,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Node> {
        let secrets = Arc::new(Node::open_secrets(root, unlock)?);
        Node::open_unlocked(root, secrets, progress)
    }

    /// Opens a home's sealed keys (sealing a home made before encryption first), without
    /// opening its database: for tools that reach the database directly, and for tests.
    pub fn open_secrets(root: &Path, unlock: &NodeUnlock) -> Result<at_rest::HomeSecrets> {
        let home = Home::new(root);
        let database = home.database();
        match at_rest::node_key_state(&home)? {
            at_rest::NodeKeyFileState::Missing if database.exists() => {
                Err(NodeError::Damaged(format!(
                    "{} is missing: without it the database beside it cannot be opened, and a \
                     new clinic is not made in its place. Put the file back, or restore a \
                     backup into an empty home (`carelog restore FILE`)",
                    root.join(home::NODE_KEY).display()
                )))
            }
            at_rest::NodeKeyFileState::Missing => Err(NodeError::NoHome(root.to_path_buf())),
            at_rest::NodeKeyFileState::Legacy(keys) => {
                home.secure()?;
                let secrets = at_rest::HomeSecrets::new(*keys);
                at_rest::seal_node_key(&home, &secrets, unlock)?;
                tracing::info!(home = %root.display(), "sealed the node key of a home made before sealing");
                Ok(secrets)
            }
            at_rest::NodeKeyFileState::Sealed => at_rest::open_node_key(&home, unlock),
        }
    }

    /// Opens a home whose keys are open.
    fn open_unlocked(
        root: &Path,
        secrets: Arc<at_rest::HomeSecrets>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Node> {
        let home = Home::new(root);
        home.secure()?;
        let path = home.database();
        let damaged_file = |e: StoreError| match e {
            StoreError::Missing(_) => NodeError::NoHome(root.to_path_buf()),
            StoreError::Corrupt { path, reason } => NodeError::DatabaseDamaged { path, reason },
            other => NodeError::DatabaseDamaged {
                path: path.clone(),
                reason: other.to_string(),
            },
        };
        if !path.exists() && root.join(home::NODE_KEY).exists() {
            // Not a new home: the clinic's key is here, its database is gone.
            return Err(NodeError::DatabaseDamaged {
                path,
                reason: "the file is missing, though the home still holds this clinic's node key"
                    .into(),
            });
        }
        let key = secrets.database.expose();
        if Store::encrypt_plain(&path, key).map_err(damaged_file)? {
            tracing::info!(home = %root.display(), "encrypted the database of a home made before encryption");
        }
        at_rest::seal_legacy_authority_key(&home, &secrets)?;
        let store = Store::open(&path, key).map_err(damaged_file)?;
        // The genesis block alone first: with a saved state, most homes need no other.
        let mut pages = StoredPages::new(&store, 0, 1);
        let genesis = match pages.next() {
            None => {
                return Err(pages
                    .error
                    .take()
                    .map_or(NodeError::NotJoined, damaged_file));
            }
            Some(Err(f)) => return Err(block_damage(&path, f)),
            Some(Ok(genesis)) => genesis,
        };
        // A saved state spares replaying the blocks it covers; only later ones are read.
        let (mut ledger, saved_txs) = match saved::restore(&store, &secrets.node, &genesis.block) {
            Some((ledger, through_seq, txs)) => {
                pages = StoredPages::new(&store, through_seq, StoredPages::PAGE);
                (ledger, txs)
            }
            None => {
                let ledger = Ledger::new(Arc::unwrap_or_clone(genesis.block))
                    .map_err(|e| block_damage(&path, BlockFailure::new(genesis.hash, e)))?;
                pages = StoredPages::new(&store, pages.after, StoredPages::PAGE);
                (ledger, 0)
            }
        };
        read_bodies_from_store(&mut ledger, &store)?;
        let to_apply = usize::try_from(store.blocks_after(pages.after).map_err(damaged_file)?)
            .unwrap_or(usize::MAX);
        let mut applied = 0;
        progress(applied, to_apply);
        // The next pages are read and decoded on other threads while this one applies the last.
        let (inserted, (error, loaded_seq)) = std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<_>>(1);
            let reader = scope.spawn(move || {
                loop {
                    let batch = pages.take_page();
                    // An empty batch is the end; a closed channel, a batch that failed.
                    if batch.is_empty() || send.send(batch).is_err() {
                        break;
                    }
                }
                (pages.error.take(), pages.after)
            });
            // Every signature is checked again (on every core): the database is not trusted
            // more than the network. A saved state spares this for the blocks it covers. A
            // page at a time, so a home with no saved state is not all held in memory at once.
            let inserted = receive.into_iter().try_for_each(|page| {
                let size = page.len();
                ledger.insert_batch_checked(page, Check::Full)?;
                applied += size;
                progress(applied, to_apply.max(applied));
                Ok::<_, BlockFailure>(())
            });
            // The thread only reads and decodes: it cannot panic short of a bug; if it did, the
            // blocks it had not yet handed over are missing, which is reported as damage.
            let read = reader.join().unwrap_or_else(|_| {
                (
                    Some(StoreError::Corrupt {
                        path: path.clone(),
                        reason: "its blocks could not be read".into(),
                    }),
                    0,
                )
            });
            (inserted, read)
        });
        if let Some(e) = error {
            return Err(damaged_file(e));
        }
        inserted.map_err(|f| block_damage(&path, f))?;
        // The clinic whose current key this is (its id is its first key's; a replacement by the
        // health authority keeps the id). Blocks this node seals are not checked against its
        // key again (`Check::Own`), so it must be the enrolled one.
        let sealer = clinic_of_key(ledger.state(), &secrets.node).ok_or_else(|| {
            let own = ActorId::from_signing_key(&secrets.node.public().signing);
            if ledger.state().clinics.contains_key(&own) {
                NodeError::Damaged(format!(
                    "{} is not this clinic's current key (the health authority replaced it)",
                    root.join(home::NODE_KEY).display()
                ))
            } else {
                NodeError::NotJoined
            }
        })?;
        let node = Node {
            home,
            store,
            clinic: ledger.state().clinic_of(&sealer),
            sealer,
            ledger,
            secrets,
            loaded_seq,
            saved_txs,
        };
        if let Err(e) = node.keep_outside_the_database() {
            tracing::warn!(error = %e, "could not keep the genesis block and key stores beside the database");
        }
        Ok(node)
    }

    /// Saves the ledger's derived state in the database, so that the next open reads it back
    /// instead of replaying every block. A node does this by itself when it closes with many
    /// transactions applied since the last save. Returns false, saving nothing, when the
    /// replica does not hold exactly the blocks stored (another process on the home has stored
    /// more since) or its state is incomplete.
    pub fn save_state(&mut self) -> Result<bool> {
        let saved = saved::save(&mut self.store, &self.secrets.node, &self.ledger)?;
        if saved {
            self.saved_txs = self.ledger.tx_count();
        }
        Ok(saved)
    }

    /// Transactions the home's saved state covers, as this node knows it (see
    /// [`Node::save_state`]): 0 if it opened by replaying every block and has not saved since.
    pub fn saved_state_txs(&self) -> u64 {
        self.saved_txs
    }

    /// Drops a closed home's saved state: its next open replays every block.
    pub fn forget_saved_state(root: &Path, unlock: &NodeUnlock) -> Result<()> {
        let secrets = Node::open_secrets(root, unlock)?;
        Store::open(&Home::new(root).database(), secrets.database.expose())?
            .forget_saved_state()?;
        Ok(())
    }

    /// This home opened again, with the keys this node already holds: a second node on the
    /// same home (the window's sync link) needs no passphrase again.
    pub fn reopen(&self) -> Result<Node> {
        Node::open_unlocked(self.home.root(), self.secrets.clone(), &mut |_, _| {})
    }

    /// Makes sure the genesis block and every key store of the database are also kept as files
    /// of the home (homes made before they were kept get them on their next open).
    fn keep_outside_the_database(&self) -> Result<()> {
        if self.home.kept_genesis().ok().flatten().map(|g| g.hash()) != Some(self.network_id()) {
            self.home.keep_genesis(self.ledger.genesis())?;
        }
        // Every later change to a key store writes its file too: only missing files are made,
        // and copies kept before they were sealed under the home's key are sealed.
        let mirrored: std::collections::BTreeSet<ActorId> =
            self.home.mirrored_actors()?.into_iter().collect();
        let unsealed = self.home.unsealed_mirrors()?;
        for actor in self.store.local_actors()? {
            let actor = ActorId(actor);
            if (!mirrored.contains(&actor) || unsealed.contains(&actor))
                && let Some(sealed) = self.store.sealed_keys(&actor.0)?
            {
                self.home
                    .mirror_sealed_keys(&self.secrets, &actor, &sealed)?;
            }
        }
        Ok(())
    }

    /// This clinic's id.
    pub fn clinic_id(&self) -> ActorId {
        self.clinic
    }

    /// The network id.
    pub fn network_id(&self) -> Hash {
        self.ledger.network_id()
    }

    /// The replica.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Finds a user or patient by id, a patient by card number, or a staff user by unique name.
    pub fn resolve_user(&self, text: &str) -> Result<ActorId> {
        let users = &self.ledger.state().users;
        if let Some(patient) = self.card_holder_by_number(text, true)? {
            return Ok(patient);
        }
        if let Ok(id) = text.parse::<ActorId>() {
            if users.contains_key(&id) {
                return Ok(id);
            }
            return Err(NodeError::UnknownUser(format!(
                "no user {text} in this network"
            )));
        }
        let matches: Vec<ActorId> = users
            .iter()
            .filter(|(_, u)| u.role != Role::Patient && u.name == text.trim())
            .map(|(id, _)| *id)
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(NodeError::UnknownUser(format!(
                "no user named `{}` in this network",
                text.trim()
            ))),
            many => Err(NodeError::UnknownUser(format!(
                "{} users are named `{}`; use the user id",
                many.len(),
                text.trim()
            ))),
        }
    }

    /// Finds an enrolled clinic by id or unique name.
    pub fn resolve_clinic(&self, text: &str) -> Result<ActorId> {
        let clinics = &self.ledger.state().clinics;
        if let Ok(id) = text.parse::<ActorId>()
            && clinics.get(&id).is_some_and(|c| c.is_clinic())
        {
            return Ok(id);
        }
        let matches: Vec<ActorId> = clinics
            .iter()
            .filter(|(_, c)| c.is_clinic() && c.name == text.trim())
            .map(|(id, _)| *id)
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(NodeError::UnknownUser(format!(
                "no clinic `{}` in this network",
                text.trim()
            ))),
            many => Err(NodeError::UnknownUser(format!(
                "{} clinics are named `{}`; use the clinic id",
                many.len(),
                text.trim()
            ))),
        }
    }

    /// Finds a registered patient by id or card number.
    pub fn resolve_patient(&self, text: &str) -> Result<ActorId> {
        if let Some(patient) = self.card_holder_by_number(text, false)? {
            return Ok(patient);
        }
        text.trim()
            .parse::<ActorId>()
            .ok()
            .filter(|id| self.ledger.state().patients.contains_key(id))
            .ok_or_else(|| NodeError::UnknownPatient(text.to_string()))
    }

    /// The patient (or, with `proxies`, the patient or proxy) a card number names, if `text` is
    /// one (`None` if it is not a card number).
    fn card_holder_by_number(&self, text: &str, proxies: bool) -> Result<Option<ActorId>> {
        let Some(number) = card::parse_card_number(text) else {
            return Ok(None);
        };
        let state = self.ledger.state();
        let matches: Vec<ActorId> = if proxies {
            state
                .users
                .iter()
                .filter(|(id, u)| u.role == Role::Patient && card::has_number(id, number))
                .map(|(id, _)| *id)
                .collect()
        } else {
            state
                .patients
                .keys()
                .filter(|p| card::has_number(p, number))
                .copied()
                .collect()
        };
        match matches.as_slice() {
            [one] => Ok(Some(*one)),
            [] => Err(NodeError::UnknownPatient(format!(
                "with card number {}",
                text.trim()
            ))),
            _ => Err(NodeError::UnknownPatient(format!(
                "with card number {}: it names more than one patient; use the patient id",
                text.trim()
            ))),
        }
    }

    /// Unlocks a staff user's keys with their passphrase. A patient signs in with
    /// [`Node::unlock_patient`] (their card and PIN); a patient's key store made before cards
    /// opens here with the PIN alone until the patient changes their PIN.
    ///
    /// After three wrong passphrases in a row, each further try must wait twice as long as the
    /// one before (1 s, 2 s, 4 s … up to 5 minutes), across processes: the count is stored in
    /// the (encrypted) database.
    pub fn unlock(&self, user: ActorId, passphrase: &str) -> Result<Session> {
        self.unlock_by(user, None, |sealed| {
            carelog_vault::open_keys(sealed, passphrase)
        })
    }

    /// Unlocks a patient's keys with their card and PIN, counted and slowed like
    /// [`Node::unlock`]. A card of another patient is refused before any try is counted.
    pub fn unlock_patient(&self, patient: ActorId, card: &Card, pin: &str) -> Result<Session> {
        if card.patient != patient {
            return Err(NodeError::invalid(format!(
                "this card belongs to patient {}, not to {patient}",
                card.patient
            )));
        }
        self.unlock_by(patient, Some(card.secret().clone()), |sealed| {
            if carelog_vault::needs_card(sealed) {
                carelog_vault::open_keys_with_card(sealed, card.secret(), pin)
            } else {
                // A key store from before cards: the PIN alone, until the patient changes it.
                carelog_vault::open_keys(sealed, pin)
            }
        })
    }

    /// Asks a signed-in person for their passphrase (a patient: their PIN, with the card they
    /// signed in with) again, before a change as grave as a new passphrase or PIN. Counted and
    /// slowed like a sign-in.
    pub fn unlock_again(&self, session: &Session, secret: &str) -> Result<Session> {
        match &session.card {
            Some(card) => {
                self.unlock_patient(session.user, &Card::new(session.user, card.clone()), secret)
            }
            None => self.unlock(session.user, secret),
        }
    }

    fn unlock_by(
        &self,
        user: ActorId,
        card: Option<carelog_vault::CardSecret>,
        open: impl FnOnce(&[u8]) -> std::result::Result<ActorKeys, carelog_vault::VaultError>,
    ) -> Result<Session> {
        let state = self.ledger.state();
        if let Some(stop) = state.users.get(&user).and_then(|u| u.disabled.as_ref()) {
            return Err(NodeError::Disabled {
                who: self.describe(&user),
                reason: stop.reason.clone(),
            });
        }
        if let Some((clinic, stop)) = state
            .users
            .get(&user)
            .filter(|u| u.role != Role::Patient)
            .and_then(|u| Some((u.clinic, state.clinics.get(&u.clinic)?.suspended.as_ref()?)))
        {
            return Err(NodeError::Suspended {
                clinic: self.describe(&clinic),
                reason: stop.reason.clone(),
            });
        }
        self.refuse_if_removed()?;
        let clinician = state
            .users
            .get(&user)
            .is_some_and(|u| matches!(u.role, Role::Doctor | Role::Lab));
        if clinician && self.device_role() == carelog_ledger::DeviceRole::Kiosk {
            return Err(NodeError::invalid(
                "this device is the clinic's kiosk: doctors and labs sign in on a staff device",
            ));
        }
        // A patient's latest key store is the one they published (a PIN changed at another
        // clinic counts here too); patients registered before publishing have only their
        // clinic's copy, and one sealed under the PIN alone (from before cards) was never
        // published: it opens until the patient's next PIN change.
        // A staff user's latest key store may have been shared by another machine of the
        // clinic (a passphrase changed there, or a user enrolled there).
        let staff = state
            .users
            .get(&user)
            .is_some_and(|u| u.role != Role::Patient);
        let local = match self.shared_key_store(&user).filter(|_| staff) {
            Some(shared) => Some(shared),
            None => self.store.sealed_keys(&user.0)?,
        };
        let sealed = match (local, self.published_key_store(&user)) {
            (Some(local), _) if !carelog_vault::needs_card(&local) => local,
            (_, Some(published)) => published,
            (Some(local), None) => local,
            (None, None) => return Err(NodeError::KeysElsewhere(self.describe(&user))),
        };
        if card.is_none() && carelog_vault::needs_card(&sealed) {
            return Err(NodeError::CardNeeded(self.describe(&user)));
        }
        let counter = unlock_counter(&user);
        let (failures, last_ms) = self
            .store
            .setting(&counter)?
            .and_then(|b| <[u8; 12]>::try_from(b.as_slice()).ok())
            .map_or((0u32, 0i64), |b| {
                (
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    i64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
                )
            });
        let now = now_ms();
        if let Some(wait_ms) = unlock_delay_ms(failures) {
            let ready = last_ms.saturating_add(wait_ms);
            if now < ready {
                return Err(NodeError::TooManyAttempts {
                    who: self.describe(&user),
                    seconds: ((ready - now) as u64).div_ceil(1000),
                });
            }
        }
        let keys = match open(&sealed) {
            Ok(keys) => keys,
            Err(carelog_vault::VaultError::WrongPassphrase) => {
                let mut record = failures.saturating_add(1).to_le_bytes().to_vec();
                // The wait counts from when the try failed (a PIN's key derivation takes a while).
                record.extend_from_slice(&now_ms().to_le_bytes());
                self.store.put_setting(&counter, &record)?;
                return Err(NodeError::WrongPassphrase(self.describe(&user)));
            }
            Err(other) => {
                return Err(NodeError::Damaged(format!(
                    "the key store of {user} does not open: {other}"
                )));
            }
        };
        if failures > 0 {
            self.store.put_setting(&counter, &[0u8; 12])?;
        }
        // A session's signatures are not checked again when its writes are committed
        // (`Check::Own`): its keys must be the ones the ledger knows for the user.
        // (An id is its first key's; a replacement keeps the id.)
        let enrolled = self.ledger.state().signing_key(&user);
        let matches = match enrolled {
            Some(current) => current == keys.public().signing,
            None => ActorId::from_signing_key(&keys.public().signing) == user,
        };
        if !matches {
            return Err(NodeError::Damaged(format!(
                "the key store of {user} holds other keys"
            )));
        }
        Ok(Session {
            user,
            keys,
            card,
            opened: keys::OpenedKeys::default(),
            read: keys::OpenedEntries::default(),
        })
    }

    /// A person's name and id for messages ("Dr Demo (ab12…)"); patients by id only.
    pub fn describe(&self, actor: &ActorId) -> String {
        let state = self.ledger.state();
        match state.users.get(actor) {
            Some(u) if !u.name.is_empty() => format!("{} ({actor})", u.name),
            _ => match state.clinics.get(actor) {
                Some(c) => format!("clinic {} ({actor})", c.name),
                None if state.authority() == Some(*actor) => "the health authority".into(),
                None => actor.to_string(),
            },
        }
    }

    /// A person's display name (staff name, clinic name, or the id).
    pub fn display_name(&self, actor: &ActorId) -> String {
        let state = self.ledger.state();
        match state.users.get(actor) {
            Some(u) if !u.name.is_empty() => u.name.clone(),
            Some(_) if state.patient(actor).is_none() => format!("proxy {actor}"),
            Some(_) => format!("patient {actor}"),
            None => match state.clinics.get(actor) {
                Some(c) => c.name.clone(),
                None => actor.to_string(),
            },
        }
    }

    /// Size and head of the replica.
    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            blocks: self.ledger.block_count(),
            txs: self.ledger.tx_count(),
            clinics: self
                .ledger
                .state()
                .clinics
                .values()
                .filter(|c| c.is_clinic())
                .count(),
            state_hash: self.ledger.state_hash(),
            pending: self.store.pending_count()?,
        })
    }

    /// Known peer addresses.
    pub fn peers(&self) -> Result<Vec<String>> {
        Ok(self.store.peers()?)
    }

    /// Re-checks every stored block and transaction from genesis.
    pub fn verify(&self) -> Result<(usize, u64)> {
        self.verify_with(&mut |_, _| {})
    }

    /// [`Node::verify`], telling `progress(done, total)` how many blocks are re-checked.
    pub fn verify_with(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<(usize, u64)> {
        // Every page of the file first (a large home skips this on open).
        self.store.quick_check().map_err(|e| match e {
            StoreError::Corrupt { path, reason } => NodeError::DatabaseDamaged { path, reason },
            other => NodeError::Store(other),
        })?;
        self.ledger.verify_with(progress).map_err(|f| {
            if matches!(*f.error, carelog_ledger::LedgerError::StateDiffers) {
                // The blocks are sound; the state read back from the saved state is not.
                if let Err(e) = self.store.forget_saved_state() {
                    tracing::warn!(error = %e, "could not drop the saved state");
                }
                return NodeError::Damaged(format!(
                    "the state saved in {} differs from a replay of its blocks, which verify; it \
                     has been dropped, and the next open replays every block",
                    self.home.database().display()
                ));
            }
            NodeError::DamagedBlock {
                path: self.home.database(),
                block: f.block.to_string(),
                reason: f.error.to_string(),
            }
        })
    }

    /// Seals transactions into this clinic's next block and commits it (with any new key stores)
    /// in one database transaction, then applies it to the replica.
    ///
    /// Under the database's write lock it first applies blocks that another process on this home
    /// stored meanwhile, so this clinic's chain never forks.
    fn commit(&mut self, txs: Vec<OwnTx>, new_keys: &[(ActorId, Vec<u8>)]) -> Result<Vec<TxId>> {
        self.refuse_if_chain_lost()?;
        self.refuse_if_removed()?;
        let txs: Vec<SignedTx> = txs.into_iter().map(|t| t.0).collect();
        let ledger = &mut self.ledger;
        let secrets = &self.secrets;
        let node_keys = &self.secrets.node;
        let loaded_seq = &mut self.loaded_seq;
        let home = &self.home;
        let path = home.database();
        self.store.write(|w| {
            if w.setting(replication::CATCH_UP)?.is_some() {
                return Err(NodeError::AwaitingCatchUp);
            }
            let newer = w.blocks_since(*loaded_seq)?;
            apply_stored(&path, ledger, &newer)?;
            // A block sealed meanwhile by another writer to this home may be later than these
            // transactions; the seal must not link to blocks after its transactions' times.
            let floor = ledger.latest_time();
            if txs.iter().any(|t| t.tx.time_ms < floor) {
                return Err(NodeError::Stale);
            }
            // Hashed, and its transactions' ids worked out, once for the checks and the answer.
            let block = ledger.seal(node_keys, txs, now_ms()).checked()?;
            for (actor, sealed) in new_keys {
                // The file first: if it cannot be written the transaction rolls back, and a file
                // left by a rolled-back transaction only holds keys no block refers to.
                home.mirror_sealed_keys(secrets, actor, sealed)?;
                w.put_sealed_keys(&actor.0, sealed)?;
            }
            put_block(w, &block.block, Origin::Local)?;
            *loaded_seq = w.max_seq()?;
            let ids = block.ids.to_vec();
            // Checked (links, roles, policy) before the database transaction commits: a block
            // the ledger refuses rolls back with it. Every signature in it was made here, with
            // keys matched to their enrolments, by `Node::sign` and the seal above.
            ledger.insert_checked(block, Check::Own)?;
            Ok::<_, NodeError>(ids)
        })
    }

    /// Builds transactions against the current state and commits them; when another writer to
    /// this home sealed a block in between ([`NodeError::Stale`]), builds them again after it.
    pub(crate) fn commit_fresh<T>(
        &mut self,
        mut build: impl FnMut(&Node) -> Result<(Vec<OwnTx>, T)>,
    ) -> Result<(Vec<TxId>, T)> {
        let mut tries = 0;
        loop {
            let (txs, extra) = build(self)?;
            match self.commit(txs, &[]) {
                // `commit` applied the newer blocks: signing again dates after them.
                Err(NodeError::Stale) if tries < 4 => tries += 1,
                other => return other.map(|ids| (ids, extra)),
            }
        }
    }

    /// Refuses to seal more when blocks this home sealed are on a branch the network does not
    /// keep: another machine seals with this clinic's key (a copied machine, an old backup
    /// running beside the live one), and what this one seals may be void too.
    fn refuse_if_chain_lost(&self) -> Result<()> {
        if !self.ledger.rivals().any(|((c, _), _)| *c == self.sealer) {
            return Ok(());
        }
        let lost = self
            .store
            .sealed_here()?
            .into_iter()
            .map(Hash)
            .filter(|h| self.ledger.is_shadowed(h))
            .filter_map(|h| self.ledger.dag().node(&h).map(|n| n.height))
            .min();
        match lost {
            Some(height) => Err(NodeError::ChainForked { height }),
            None => Ok(()),
        }
    }

    /// A transaction by a session's user made at this clinic now, signed.
    fn sign(&self, session: &Session, payload: carelog_ledger::Payload) -> OwnTx {
        self.sign_at(session, payload, self.clock())
    }

    /// The time this node dates what it signs: its clock, or the latest block it holds if a
    /// peer's clock is ahead (within the drift the ledger allows), so that no transaction is
    /// dated before a block it will link to.
    pub(crate) fn clock(&self) -> i64 {
        now_ms().max(self.ledger.latest_time())
    }

    /// [`Node::sign`] at a given time.
    fn sign_at(&self, session: &Session, payload: carelog_ledger::Payload, time_ms: i64) -> OwnTx {
        OwnTx(
            carelog_ledger::Tx {
                author: session.user,
                clinic: self.sealer,
                time_ms,
                payload,
            }
            .sign(&session.keys),
        )
    }
}

/// The enrolled clinic (or device of one) whose current node key is `keys`.
pub(crate) fn clinic_of_key(state: &carelog_ledger::State, keys: &ActorKeys) -> Option<ActorId> {
    let signing = keys.public().signing;
    let own = ActorId::from_signing_key(&signing);
    if state
        .clinics
        .get(&own)
        .is_some_and(|c| c.keys.signing == signing)
    {
        return Some(own);
    }
    state
        .clinics
        .iter()
        .find(|(_, c)| c.keys.signing == signing)
        .map(|(id, _)| *id)
}

/// The setting that counts a user's wrong passphrases (or PINs) in a row, with the time of the
/// last one.
pub(crate) fn unlock_counter(user: &ActorId) -> String {
    format!("unlock_failures:{user}")
}

/// A new home's node passphrase, if it is sealed under one, must be strong enough.
fn check_node_passphrase(unlock: &NodeUnlock, context: &[&str]) -> Result<()> {
    match unlock {
        NodeUnlock::Passphrase(p) => check_passphrase_strength("the node passphrase", p, context),
        NodeUnlock::Keyring(_) => Ok(()),
    }
}

/// A patient's file, or the error that names the unknown patient.
pub(crate) fn patient_file<'a>(
    state: &'a carelog_ledger::State,
    patient: &ActorId,
) -> Result<&'a carelog_ledger::PatientFile> {
    state
        .patient(patient)
        .ok_or_else(|| NodeError::UnknownPatient(patient.to_string()))
}

/// A patient's current data key epoch, or the error that says the record has none.
pub(crate) fn current_key(
    file: &carelog_ledger::PatientFile,
) -> Result<&carelog_ledger::DataKeyEpoch> {
    file.current_key()
        .ok_or_else(|| NodeError::NoKey("the record has no data key".into()))
}

/// A transaction signed here by [`Node::sign`], with a session's keys (matched to the user's
/// enrolment when they signed in): the only kind [`Node::commit`] takes, as it does not check
/// signatures again.
#[derive(Clone, Debug)]
pub(crate) struct OwnTx(SignedTx);

impl OwnTx {
    /// A transaction signed here with the health authority's key, once that key is matched to
    /// the network's genesis.
    pub(crate) fn by_authority(tx: SignedTx) -> OwnTx {
        OwnTx(tx)
    }

    /// A transaction signed here with this clinic's node key, matched to its enrolment when
    /// the node opened.
    pub(crate) fn by_clinic(tx: SignedTx) -> OwnTx {
        OwnTx(tx)
    }
}

impl std::ops::Deref for OwnTx {
    type Target = SignedTx;

    fn deref(&self) -> &SignedTx {
        &self.0
    }
}

fn block_damage(path: &Path, f: BlockFailure) -> NodeError {
    NodeError::DamagedBlock {
        path: path.to_path_buf(),
        block: f.block.to_string(),
        reason: f.error.to_string(),
    }
}

/// Every stored block, a page at a time, each decoded and checked against its hash (a page's
/// blocks on all cores at once), so a large replica opens without holding all its bytes twice.
struct StoredPages<'a> {
    store: &'a Store,
    after: i64,
    /// Blocks read at a time.
    size: usize,
    page: std::collections::VecDeque<std::result::Result<Checked, BlockFailure>>,
    /// A database error ends the pages; the caller reports it.
    error: Option<StoreError>,
}

impl<'a> StoredPages<'a> {
    const PAGE: usize = 64;

    /// The blocks stored after `after`, `size` at a time.
    fn new(store: &'a Store, after: i64, size: usize) -> StoredPages<'a> {
        StoredPages {
            store,
            after,
            size,
            page: std::collections::VecDeque::new(),
            error: None,
        }
    }

    fn fill(&mut self) -> std::result::Result<(), StoreError> {
        let rows = self.store.blocks_page(self.after, self.size)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        self.after = last.seq;
        let decoded = carelog_ledger::cores::map(rows.iter().collect(), check_stored);
        // Decoders return errors rather than panic; were one to panic anyway, the open fails on
        // that block instead of going on without it.
        let decoded = decoded.into_iter().zip(&rows).map(|(done, row)| {
            done.unwrap_or_else(|| {
                let block = Hash(row.hash);
                let reason = "it could not be decoded".into();
                Err(BlockFailure::new(
                    block,
                    carelog_ledger::LedgerError::InvalidBlock { block, reason },
                ))
            })
        });
        self.page.extend(decoded);
        Ok(())
    }
}

impl StoredPages<'_> {
    /// Reads the next page if the last is used up; a database error ends the pages.
    fn refill(&mut self) {
        if self.page.is_empty()
            && self.error.is_none()
            && let Err(e) = self.fill()
        {
            self.error = Some(e);
        }
    }

    /// The rest of this page, or the next page, as decoded (empty at the end or after an error).
    fn take_page(&mut self) -> Vec<std::result::Result<Checked, BlockFailure>> {
        self.refill();
        self.page.drain(..).collect()
    }
}

impl Iterator for StoredPages<'_> {
    type Item = std::result::Result<Checked, BlockFailure>;

    fn next(&mut self) -> Option<Self::Item> {
        self.refill();
        self.page.pop_front()
    }
}

/// Reads blocks back from the home's database, so the replica keeps only recent ones in memory.
#[derive(Debug)]
struct StoredBodies(carelog_store::BlockReader);

impl carelog_ledger::BlockBodies for StoredBodies {
    fn load(&self, hash: &Hash) -> Option<Checked> {
        match self.0.block(&hash.0) {
            // The ledger takes it only if it is the block asked for.
            Ok(Some(bytes)) => Block::decode_checked(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(block = %hash, error = %e, "a stored block could not be read back");
                None
            }
        }
    }
}

/// Lets the replica read older blocks back from the store instead of holding them all.
pub(crate) fn read_bodies_from_store(ledger: &mut Ledger, store: &Store) -> Result<()> {
    ledger.read_bodies_from(
        Arc::new(StoredBodies(store.block_reader()?)),
        carelog_ledger::RESIDENT_BYTES,
    );
    Ok(())
}

/// Decodes a stored block, checks its shape and that it is the block its row says it is.
fn check_stored(row: &carelog_store::StoredBlock) -> std::result::Result<Checked, BlockFailure> {
    let fail = |e| BlockFailure::new(Hash(row.hash), e);
    let checked = Block::decode_checked(&row.bytes).map_err(fail)?;
    if checked.hash.0 != row.hash {
        return Err(fail(carelog_ledger::LedgerError::InvalidBlock {
            block: Hash(row.hash),
            reason: "its contents do not match its hash".into(),
        }));
    }
    Ok(checked)
}

/// Applies blocks read back from this home's database (written by another process).
fn apply_stored(
    path: &Path,
    ledger: &mut Ledger,
    rows: &[carelog_store::StoredBlock],
) -> Result<Vec<Block>> {
    let mut added = Vec::new();
    for row in rows {
        let checked = check_stored(row).map_err(|f| block_damage(path, f))?;
        let (hash, block) = (checked.hash, checked.block.clone());
        if ledger
            .insert_checked(checked, Check::Full)
            .map_err(|e| block_damage(path, BlockFailure::new(hash, e)))?
            != carelog_ledger::Inserted::Known
        {
            added.push(Arc::unwrap_or_clone(block));
        }
    }
    Ok(added)
}

fn put_block(
    w: &carelog_store::Writer<'_>,
    block: &Block,
    origin: Origin,
) -> Result<(), StoreError> {
    w.put_block(
        &NewBlock {
            hash: block.hash().0,
            clinic: block.header.clinic.0,
            height: block.header.height,
            bytes: &block.to_bytes(),
        },
        origin,
        now_ms(),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests;
