//! A home's own secrets at rest: the clinic node key and the database key.
//!
//! Neither is ever on disk in the clear. `node.key` holds both sealed, in one of two ways:
//! - under a **node passphrase** (Argon2id + ChaCha20-Poly1305), for servers, CI and any machine
//!   without a keyring: `$CARELOG_NODE_PASSPHRASE`, or the file named by
//!   `$CARELOG_NODE_PASSPHRASE_FILE` (systemd credentials);
//! - under a random key kept in the **OS keyring** (Secret Service on Linux, the Keychain,
//!   Windows Credential Manager), for desktops: the entry is named by the home's id.
//!
//! The database key opens `carelog.sqlite3` (SQLCipher). A key derived from it seals the copies
//! of the users' key stores in `keys/`, so a copied home shows nothing without the node
//! passphrase or the keyring it was made with. The health authority's key (`authority.key`, on
//! the home that founded the network) is sealed under its own passphrase.
//!
//! Homes made before this (a plain SQLite file and a hex `node.key`) are sealed on their first
//! open: see [`crate::Node::open`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use carelog_vault::{ActorKeys, DataKey, KdfParams, VaultError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{NodeError, Result, io_err};
use crate::home::{self, Home};

/// The environment variable holding the node passphrase.
pub const NODE_PASSPHRASE_VAR: &str = "CARELOG_NODE_PASSPHRASE";
/// The environment variable naming a file that holds the node passphrase.
pub const NODE_PASSPHRASE_FILE_VAR: &str = "CARELOG_NODE_PASSPHRASE_FILE";
/// The keyring service under which desktop homes keep their key.
pub const KEYRING_SERVICE: &str = "org.carelog.node";

const NODE_KEY_FORMAT: &str = "carelog-node-key-2";
const SECRETS_LEN: usize = 64 + 32 + 16;
const MIRROR_MAGIC: &[u8; 5] = b"CLKM1";

/// Where a home's sealed secrets are opened from (or, for a new home, sealed under).
#[derive(Clone)]
pub enum NodeUnlock {
    /// A node passphrase.
    Passphrase(Zeroizing<String>),
    /// A keyring (the OS keyring on desktops; a [`MemoryKeyring`] in tests).
    Keyring(Arc<dyn Keyring>),
}

impl std::fmt::Debug for NodeUnlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeUnlock::Passphrase(_) => f.write_str("NodeUnlock::Passphrase(…)"),
            NodeUnlock::Keyring(k) => write!(f, "NodeUnlock::Keyring({})", k.name()),
        }
    }
}

impl NodeUnlock {
    /// A node passphrase.
    pub fn passphrase(text: &str) -> NodeUnlock {
        NodeUnlock::Passphrase(Zeroizing::new(text.to_string()))
    }

    /// The operating system's keyring.
    pub fn os_keyring() -> NodeUnlock {
        NodeUnlock::Keyring(Arc::new(OsKeyring))
    }

    /// `$CARELOG_NODE_PASSPHRASE`, else the file named by `$CARELOG_NODE_PASSPHRASE_FILE`, else
    /// the OS keyring.
    ///
    /// Under `cargo test` of this crate only, a fixed test passphrase takes the keyring's place,
    /// so tests never touch a developer's keyring.
    pub fn from_env() -> Result<NodeUnlock> {
        let passphrase = std::env::var(NODE_PASSPHRASE_VAR).ok();
        let file = std::env::var_os(NODE_PASSPHRASE_FILE_VAR).map(PathBuf::from);
        #[cfg(test)]
        if passphrase.is_none() && file.is_none() {
            return Ok(NodeUnlock::passphrase(crate::tests::NODE_PASS));
        }
        NodeUnlock::from_sources(passphrase, file.as_deref(), NodeUnlock::os_keyring)
    }

    /// A passphrase if one is given (non-empty), else one read from `file`, else `keyring()`.
    pub fn from_sources(
        passphrase: Option<String>,
        file: Option<&Path>,
        keyring: impl FnOnce() -> NodeUnlock,
    ) -> Result<NodeUnlock> {
        let passphrase = passphrase.map(Zeroizing::new);
        if let Some(p) = passphrase.filter(|p| !p.is_empty()) {
            return Ok(NodeUnlock::Passphrase(p));
        }
        if let Some(path) = file {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                NodeError::NodeLocked(format!(
                    "${NODE_PASSPHRASE_FILE_VAR} names {}, which cannot be read: {e}",
                    path.display()
                ))
            })?);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                return Err(NodeError::NodeLocked(format!(
                    "${NODE_PASSPHRASE_FILE_VAR} names {}, which is empty",
                    path.display()
                )));
            }
            return Ok(NodeUnlock::passphrase(line));
        }
        Ok(keyring())
    }
}

/// A place that keeps a secret per home outside the home: the OS keyring, or memory in tests.
pub trait Keyring: Send + Sync {
    /// The secret kept under `account`; `Ok(None)` if there is none.
    fn get(&self, account: &str) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, String>;
    /// Keeps a secret under `account`.
    fn set(&self, account: &str, secret: &[u8]) -> std::result::Result<(), String>;
    /// What it is, for messages ("the OS keyring").
    fn name(&self) -> String;
}

/// The operating system's keyring through the `keyring` crate (Secret Service on Linux).
pub struct OsKeyring;

impl Keyring for OsKeyring {
    fn get(&self, account: &str) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, String> {
        let entry = keyring::Entry::new(KEYRING_SERVICE, account).map_err(|e| e.to_string())?;
        match entry.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, account: &str, secret: &[u8]) -> std::result::Result<(), String> {
        keyring::Entry::new(KEYRING_SERVICE, account)
            .and_then(|entry| entry.set_secret(secret))
            .map_err(|e| e.to_string())
    }

    fn name(&self) -> String {
        "the OS keyring".into()
    }
}

/// A keyring held in memory: for tests, and to show what a missing keyring entry does.
#[derive(Default)]
pub struct MemoryKeyring {
    entries: Mutex<std::collections::BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl MemoryKeyring {
    /// Forgets every entry (as a keyring on another computer would not have them).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Zeroizing<Vec<u8>>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Keyring for MemoryKeyring {
    fn get(&self, account: &str) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, String> {
        Ok(self.lock().get(account).cloned())
    }

    fn set(&self, account: &str, secret: &[u8]) -> std::result::Result<(), String> {
        self.lock()
            .insert(account.to_string(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn name(&self) -> String {
        "the keyring".into()
    }
}

/// The key that opens a home's SQLCipher database. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct DatabaseKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

impl DatabaseKey {
    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A home's opened secrets.
pub struct HomeSecrets {
    /// The clinic node's keys.
    pub node: ActorKeys,
    /// The database key.
    pub database: DatabaseKey,
    /// The home's id (names its keyring entry).
    pub home_id: [u8; 16],
}

impl std::fmt::Debug for HomeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeSecrets")
            .field("node", &self.node)
            .field("home_id", &hex::encode(self.home_id))
            .finish_non_exhaustive()
    }
}

impl HomeSecrets {
    /// Fresh secrets for a new home, around the given node keys.
    pub(crate) fn new(node: ActorKeys) -> HomeSecrets {
        HomeSecrets {
            node,
            database: DatabaseKey(Zeroizing::new(home::random())),
            home_id: home::random(),
        }
    }

    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(SECRETS_LEN));
        bytes.extend_from_slice(self.node.seed().as_slice());
        bytes.extend_from_slice(self.database.expose());
        bytes.extend_from_slice(&self.home_id);
        bytes
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<HomeSecrets> {
        if bytes.len() != SECRETS_LEN {
            return None;
        }
        let mut seed = Zeroizing::new([0u8; 64]);
        seed.copy_from_slice(&bytes[..64]);
        let mut database = Zeroizing::new([0u8; 32]);
        database.copy_from_slice(&bytes[64..96]);
        let mut home_id = [0u8; 16];
        home_id.copy_from_slice(&bytes[96..]);
        Some(HomeSecrets {
            node: ActorKeys::from_seed(*seed),
            database: DatabaseKey(database),
            home_id,
        })
    }

    /// The key that seals the copies of key stores in `keys/`.
    fn mirror_key(&self) -> DataKey {
        DataKey::from_bytes(blake3::derive_key(
            "carelog keys mirror v1",
            self.database.expose(),
        ))
    }

    /// A key store as its copy in `keys/` holds it: sealed again under the home's mirror key,
    /// bound to the actor.
    pub(crate) fn seal_mirror(&self, actor: &[u8; 16], sealed: &[u8]) -> Vec<u8> {
        let mut out = MIRROR_MAGIC.to_vec();
        out.extend(carelog_vault::seal(
            &self.mirror_key(),
            home::random(),
            sealed,
            actor,
        ));
        out
    }

    /// A key store from its copy in `keys/` (copies made before they were sealed are read as
    /// they are).
    pub(crate) fn open_mirror(&self, actor: &[u8; 16], bytes: &[u8]) -> Result<Vec<u8>> {
        match bytes.strip_prefix(MIRROR_MAGIC.as_slice()) {
            Some(sealed) => carelog_vault::open(&self.mirror_key(), sealed, actor)
                .map(|plain| plain.to_vec())
                .map_err(|_| {
                    NodeError::Damaged(format!(
                        "the copy of the key store of {} does not open with this home's key",
                        hex::encode(actor)
                    ))
                }),
            None => Ok(bytes.to_vec()),
        }
    }
}

/// Whether a copy in `keys/` predates sealing (holds the key store as the database row did).
pub(crate) fn mirror_is_unsealed(bytes: &[u8]) -> bool {
    !bytes.starts_with(MIRROR_MAGIC)
}

/// `node.key` as written.
#[derive(Serialize, Deserialize)]
struct NodeKeyFile {
    format: String,
    /// Names the keyring entry; also sealed inside, and checked.
    home_id: [u8; 16],
    /// Where the home was when it was made (for the message when it has moved).
    made_at: String,
    lock: Lock,
}

#[derive(Serialize, Deserialize)]
enum Lock {
    /// `HomeSecrets` sealed under the node passphrase (the key store format of `carelog_vault`).
    Passphrase { sealed: Vec<u8> },
    /// `HomeSecrets` sealed under a random key kept in a keyring under `account`.
    Keyring { account: String, sealed: Vec<u8> },
}

/// What `node.key` holds.
pub(crate) enum NodeKeyFileState {
    /// Nothing: no such file.
    Missing,
    /// A node key in hex, as homes made before sealing kept it.
    Legacy(Box<ActorKeys>),
    /// Sealed secrets.
    Sealed,
}

fn keyring_account(home_id: &[u8; 16]) -> String {
    format!("home-{}", hex::encode(home_id))
}

/// What state a home's `node.key` is in.
pub(crate) fn node_key_state(home: &Home) -> Result<NodeKeyFileState> {
    let path = home.root().join(home::NODE_KEY);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(NodeKeyFileState::Missing);
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    if let Some(keys) = legacy_key(&bytes) {
        return Ok(NodeKeyFileState::Legacy(Box::new(keys)));
    }
    Ok(NodeKeyFileState::Sealed)
}

/// A key in hex, as homes kept key files before they were sealed.
pub(crate) fn legacy_key(bytes: &[u8]) -> Option<ActorKeys> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut seed = Zeroizing::new([0u8; 64]);
    hex::decode_to_slice(text.trim(), seed.as_mut_slice()).ok()?;
    Some(ActorKeys::from_seed(*seed))
}

/// Seals a home's secrets into its `node.key` (replacing the file atomically).
pub(crate) fn seal_node_key(home: &Home, secrets: &HomeSecrets, unlock: &NodeUnlock) -> Result<()> {
    let plain = secrets.to_bytes();
    let lock = match unlock {
        NodeUnlock::Passphrase(passphrase) => Lock::Passphrase {
            sealed: carelog_vault::seal_with_passphrase(
                &plain,
                passphrase,
                KdfParams::DEFAULT,
                home::random(),
                home::random(),
            ),
        },
        NodeUnlock::Keyring(keyring) => {
            let account = keyring_account(&secrets.home_id);
            let key = DataKey::from_bytes(home::random());
            keyring.set(&account, key.expose()).map_err(|e| {
                NodeError::NodeLocked(format!(
                    "no node passphrase is set and {} cannot keep this home's key ({e}): set \
                     ${NODE_PASSPHRASE_VAR}, or ${NODE_PASSPHRASE_FILE_VAR} to a file that holds it",
                    keyring.name()
                ))
            })?;
            Lock::Keyring {
                sealed: carelog_vault::seal(&key, home::random(), &plain, &secrets.home_id),
                account,
            }
        }
    };
    let file = NodeKeyFile {
        format: NODE_KEY_FORMAT.into(),
        home_id: secrets.home_id,
        made_at: std::path::absolute(home.root())
            .unwrap_or_else(|_| home.root().to_path_buf())
            .display()
            .to_string(),
        lock,
    };
    let bytes = postcard::to_stdvec(&file).expect("key files always encode");
    Home::write_atomic(&home.root().join(home::NODE_KEY), &bytes)
}

/// Opens a home's sealed `node.key`.
pub(crate) fn open_node_key(home: &Home, unlock: &NodeUnlock) -> Result<HomeSecrets> {
    let path = home.root().join(home::NODE_KEY);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let damaged =
        || NodeError::Damaged(format!("{} is not a Carelog node key file", path.display()));
    let file: NodeKeyFile = postcard::from_bytes(&bytes).map_err(|_| damaged())?;
    if file.format != NODE_KEY_FORMAT {
        return Err(damaged());
    }
    let moved = match std::path::absolute(home.root()) {
        Ok(now) if now.display().to_string() != file.made_at => format!(
            " This home was made at {} and is now at {}; a home moved or copied to another \
             computer leaves its keyring entry behind.",
            file.made_at,
            now.display()
        ),
        _ => String::new(),
    };
    let plain = match (&file.lock, unlock) {
        (Lock::Passphrase { sealed }, NodeUnlock::Passphrase(passphrase)) => {
            carelog_vault::open_with_passphrase(sealed, passphrase).map_err(|e| match e {
                VaultError::WrongPassphrase => NodeError::WrongNodePassphrase(path.clone()),
                _ => damaged(),
            })?
        }
        (Lock::Passphrase { .. }, NodeUnlock::Keyring(_)) => {
            return Err(NodeError::NodeLocked(format!(
                "the keys of the home at {} are sealed under a node passphrase: set \
                 ${NODE_PASSPHRASE_VAR}, or ${NODE_PASSPHRASE_FILE_VAR} to a file that holds it",
                home.root().display()
            )));
        }
        (Lock::Keyring { account, sealed }, unlock) => {
            let keyring: Arc<dyn Keyring> = match unlock {
                NodeUnlock::Keyring(k) => k.clone(),
                // A home sealed with a keyring opens with it, passphrase or not.
                NodeUnlock::Passphrase(_) => Arc::new(OsKeyring),
            };
            let key = keyring
                .get(account)
                .map_err(|e| {
                    NodeError::NodeLocked(format!(
                        "the keys of the home at {} are kept in {}, which cannot be reached ({e}).{moved}",
                        home.root().display(),
                        keyring.name()
                    ))
                })?
                .ok_or_else(|| {
                    NodeError::NodeLocked(format!(
                        "{} holds no key for the home at {} (entry {KEYRING_SERVICE} / {account}): \
                         it was made on another computer or for another account, or the entry \
                         was deleted. Nothing was created.{moved} Open it where it was made, or \
                         restore a backup here (`carelog restore`).",
                        keyring.name(),
                        home.root().display()
                    ))
                })?;
            let key: [u8; 32] = key.as_slice().try_into().map_err(|_| {
                NodeError::NodeLocked(format!(
                    "the entry {KEYRING_SERVICE} / {account} in {} is not a Carelog home key",
                    keyring.name()
                ))
            })?;
            carelog_vault::open(&DataKey::from_bytes(key), sealed, &file.home_id).map_err(|_| {
                NodeError::NodeLocked(format!(
                    "the key in {} under {KEYRING_SERVICE} / {account} does not open {}",
                    keyring.name(),
                    path.display()
                ))
            })?
        }
    };
    let secrets = HomeSecrets::from_bytes(&plain).ok_or_else(damaged)?;
    if secrets.home_id != file.home_id {
        return Err(damaged());
    }
    Ok(secrets)
}

/// The health authority's keys, opened with the authority passphrase (see
/// [`crate::Node::open_authority`]).
pub struct AuthorityKeys(pub(crate) ActorKeys);

impl std::fmt::Debug for AuthorityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AuthorityKeys").field(&self.0).finish()
    }
}

/// The environment variable holding the health authority's passphrase.
pub const AUTHORITY_PASSPHRASE_VAR: &str = "CARELOG_AUTHORITY_PASSPHRASE";

/// Seals the authority's keys under its passphrase into `authority.key` (atomically).
pub(crate) fn seal_authority_key(home: &Home, keys: &ActorKeys, passphrase: &str) -> Result<()> {
    crate::check_passphrase_strength("the health authority's passphrase", passphrase, &[])?;
    let sealed = carelog_vault::seal_keys(
        keys,
        passphrase,
        KdfParams::DEFAULT,
        home::random(),
        home::random(),
    );
    Home::write_atomic(&home.root().join(home::AUTHORITY_KEY), &sealed)
}

/// Opens `authority.key`. A key kept unsealed by an older home, or sealed under the node's key
/// when that home was first opened, is sealed under `passphrase` now.
pub(crate) fn open_authority_key(
    home: &Home,
    secrets: &HomeSecrets,
    passphrase: &str,
) -> Result<ActorKeys> {
    let path = home.root().join(home::AUTHORITY_KEY);
    let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NodeError::invalid(
                "only the home that created the network holds the health authority key",
            )
        } else {
            io_err(&path)(e)
        }
    })?);
    if passphrase.is_empty() {
        return Err(NodeError::AuthorityLocked(format!(
            "the health authority's key is sealed under its passphrase: set ${AUTHORITY_PASSPHRASE_VAR}"
        )));
    }
    let interim = match bytes.strip_prefix(MIRROR_MAGIC.as_slice()) {
        Some(_) => Some(
            secrets
                .open_mirror(&[0; 16], &bytes)
                .ok()
                .and_then(|plain| legacy_key(&plain)),
        ),
        None => legacy_key(&bytes).map(Some),
    };
    match interim {
        Some(Some(keys)) => {
            seal_authority_key(home, &keys, passphrase)?;
            tracing::info!("the health authority key is now sealed under its passphrase");
            Ok(keys)
        }
        Some(None) => Err(NodeError::Damaged(format!(
            "{} does not open with this home's key",
            path.display()
        ))),
        None => carelog_vault::open_keys(&bytes, passphrase).map_err(|e| match e {
            VaultError::WrongPassphrase => NodeError::AuthorityLocked(format!(
                "${AUTHORITY_PASSPHRASE_VAR} is not the health authority's passphrase"
            )),
            _ => NodeError::Damaged(format!("{} is not a sealed authority key", path.display())),
        }),
    }
}

/// Until the authority's passphrase is first given, an authority key an older home kept in the
/// clear is sealed under the home's own key instead (see [`open_authority_key`]).
pub(crate) fn seal_legacy_authority_key(home: &Home, secrets: &HomeSecrets) -> Result<()> {
    let path = home.root().join(home::AUTHORITY_KEY);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    if legacy_key(&bytes).is_none() {
        return Ok(());
    }
    Home::write_atomic(&path, &secrets.seal_mirror(&[0; 16], &bytes))
}

#[cfg(test)]
mod tests;
