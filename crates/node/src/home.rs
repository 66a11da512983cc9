//! A clinic home on disk: the database and the node's own key files.
//!
//! The home directory is readable by its owner only (0700) and so is every file in it (0600),
//! set when the home is made, before any secret is written, and checked on every open.
//!
//! The clinic node key (which seals blocks) and the database key are kept in `node.key`, sealed
//! under the node passphrase or a key in the OS keyring (see `at_rest`); on the home that
//! founded the network, `authority.key` holds the health authority key sealed under its own
//! passphrase. Users' and patients' keys live in the (encrypted) database, sealed under their
//! passphrases (a patient's under their card and PIN).
//!
//! What only this home holds and no peer can give back is also kept outside the database, so a
//! destroyed database loses nothing that `carelog recover` cannot fetch again from peers:
//! - `keys/<actor hex>.sealed`: each user's key store, the bytes of its database row sealed
//!   again under a key derived from the database key (so a copied home shows nothing of it
//!   without the node passphrase or keyring);
//! - `genesis.block`: the network's genesis block, the root that a recovery checks every fetched
//!   block against (a peer cannot pass off a network of its own that enrolls this clinic's key).

use std::io::Write;
use std::path::{Path, PathBuf};

use carelog_ledger::{ActorId, Block};
use carelog_vault::ActorKeys;
use zeroize::Zeroizing;

use crate::at_rest::HomeSecrets;
use crate::error::{NodeError, Result, io_err};

/// The database file inside a home.
pub const DATABASE: &str = "carelog.sqlite3";
/// The clinic node's key file.
pub const NODE_KEY: &str = "node.key";
/// The health authority's key file (only on the founding home).
pub const AUTHORITY_KEY: &str = "authority.key";
/// The directory of mirrored user key stores.
pub const KEYS_DIR: &str = "keys";
/// The network's genesis block (canonical bytes).
pub const GENESIS: &str = "genesis.block";
const SEALED_SUFFIX: &str = ".sealed";

/// Paths of a home directory.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at a directory (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE)
    }

    /// Makes the directory for a new node, readable by its owner only; refuses a home that
    /// already holds one.
    pub fn prepare_new(&self) -> Result<()> {
        if self.database().exists() || self.root.join(NODE_KEY).exists() {
            return Err(NodeError::HomeInUse(self.root.clone()));
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.root).map_err(io_err(&self.root))?;
        self.secure()
    }

    /// Makes the home readable by its owner only: the directory and `keys/` 0700, every file
    /// in them 0600 (changing only what differs).
    pub fn secure(&self) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fn set(path: &Path, mode: u32) -> Result<()> {
                let meta = std::fs::symlink_metadata(path).map_err(io_err(path))?;
                if meta.file_type().is_symlink() || meta.permissions().mode() & 0o777 == mode {
                    return Ok(());
                }
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(io_err(path))
            }
            fn directory(dir: &Path) -> Result<()> {
                set(dir, 0o700)?;
                for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
                    let entry = entry.map_err(io_err(dir))?;
                    let kind = entry.file_type().map_err(io_err(dir))?;
                    if kind.is_file() {
                        set(&entry.path(), 0o600)?;
                    } else if kind.is_dir() && entry.file_name() == KEYS_DIR {
                        directory(&entry.path())?;
                    }
                }
                Ok(())
            }
            if self.root.is_dir() {
                directory(&self.root)?;
            }
        }
        Ok(())
    }

    /// Whether this home founded the network (holds the health authority key).
    pub fn is_authority(&self) -> bool {
        self.root.join(AUTHORITY_KEY).exists()
    }

    /// Writes a file atomically: a temporary file (mode 0600) written and synced, then renamed
    /// over `path`, and the directory synced, so a crash leaves the old file or the new one.
    pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.tmp-{}", hex::encode(random::<6>())));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = (|| {
            let mut file = options.open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(io_err(path)(e));
        }
        // The rename is durable once the directory entry is (not possible on every platform).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The file mirroring an actor's sealed key store.
    pub fn sealed_keys_file(&self, actor: &ActorId) -> PathBuf {
        self.root
            .join(KEYS_DIR)
            .join(format!("{}{SEALED_SUFFIX}", hex::encode(actor.0)))
    }

    /// Keeps a copy of an actor's sealed key store beside the database (its database row,
    /// sealed again under the home's key).
    pub fn mirror_sealed_keys(
        &self,
        secrets: &HomeSecrets,
        actor: &ActorId,
        sealed: &[u8],
    ) -> Result<()> {
        let dir = self.root.join(KEYS_DIR);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(&dir))?;
        }
        Home::write_atomic(
            &self.sealed_keys_file(actor),
            &secrets.seal_mirror(&actor.0, sealed),
        )
    }

    /// The actors whose key stores are mirrored, from the file names (`<32 hex>.sealed`; other
    /// files are skipped), in order.
    pub fn mirrored_actors(&self) -> Result<Vec<ActorId>> {
        let dir = self.root.join(KEYS_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry.map_err(io_err(&dir))?.file_name();
            let name = name.to_string_lossy();
            let Some(stem) = name.strip_suffix(SEALED_SUFFIX) else {
                continue;
            };
            let mut id = [0u8; 16];
            if hex::decode_to_slice(stem, &mut id).is_ok() {
                out.push(ActorId(id));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every mirrored key store: the actor and the key store's bytes (as its database row).
    pub fn mirrored_keys(&self, secrets: &HomeSecrets) -> Result<Vec<(ActorId, Vec<u8>)>> {
        self.mirrored_actors()?
            .into_iter()
            .map(|actor| {
                let path = self.sealed_keys_file(&actor);
                let bytes = std::fs::read(&path).map_err(io_err(&path))?;
                Ok((actor, secrets.open_mirror(&actor.0, &bytes)?))
            })
            .collect()
    }

    /// Actors whose copies in `keys/` were kept before copies were sealed under the home's key.
    pub(crate) fn unsealed_mirrors(&self) -> Result<std::collections::BTreeSet<ActorId>> {
        let mut out = std::collections::BTreeSet::new();
        for actor in self.mirrored_actors()? {
            let path = self.sealed_keys_file(&actor);
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            if crate::at_rest::mirror_is_unsealed(&bytes) {
                out.insert(actor);
            }
        }
        Ok(out)
    }

    /// Keeps the network's genesis block beside the database.
    pub fn keep_genesis(&self, genesis: &Block) -> Result<()> {
        Home::write_atomic(&self.root.join(GENESIS), &genesis.to_bytes())
    }

    /// The kept genesis block, if this home keeps one.
    pub fn kept_genesis(&self) -> Result<Option<Block>> {
        let path = self.root.join(GENESIS);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Block::from_bytes(&bytes).map(Some).map_err(|e| {
            NodeError::Damaged(format!("{} is not a genesis block: {e}", path.display()))
        })
    }
}

/// Fresh random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing means the machine cannot run cryptography at all.
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// New random keys for an actor.
pub fn new_keys() -> ActorKeys {
    let mut seed = Zeroizing::new([0u8; 64]);
    getrandom::fill(seed.as_mut_slice())
        .expect("the operating system's random source is available");
    ActorKeys::from_seed(*seed)
}

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats Unix milliseconds as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Parses a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time into Unix milliseconds.
pub fn parse_time(text: &str) -> Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| (d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            NodeError::invalid(format!(
                "`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}
