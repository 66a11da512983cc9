//! A clinic home on disk: the database and the node's own key files.
//!
//! The clinic node key (which seals blocks) and, on the home that founded the network, the health
//! authority key are kept in files readable only by the node's account, like a server's host
//! keys: the node must seal blocks without a person present. Users' and patients' keys live in
//! the database, sealed under their passphrases.

use std::io::Write;
use std::path::{Path, PathBuf};

use carelog_vault::ActorKeys;
use zeroize::Zeroizing;

use crate::error::{NodeError, Result, io_err};

/// The database file inside a home.
pub const DATABASE: &str = "carelog.sqlite3";
/// The clinic node's key file.
pub const NODE_KEY: &str = "node.key";
/// The health authority's key file (only on the founding home).
pub const AUTHORITY_KEY: &str = "authority.key";

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

    /// Makes the directory for a new node; refuses a home that already holds one.
    pub fn prepare_new(&self) -> Result<()> {
        if self.database().exists() || self.root.join(NODE_KEY).exists() {
            return Err(NodeError::HomeInUse(self.root.clone()));
        }
        std::fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        Ok(())
    }

    /// Whether this home founded the network (holds the health authority key).
    pub fn is_authority(&self) -> bool {
        self.root.join(AUTHORITY_KEY).exists()
    }

    /// Writes a key file readable only by this account.
    pub fn write_key(&self, name: &str, keys: &ActorKeys) -> Result<()> {
        let path = self.root.join(name);
        let text = Zeroizing::new(hex::encode(keys.seed()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io_err(&path))?;
        file.write_all(text.as_bytes()).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(())
    }

    /// Reads a key file.
    pub fn read_key(&self, name: &str) -> Result<ActorKeys> {
        let path = self.root.join(name);
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(io_err(&path))?);
        let mut seed = Zeroizing::new([0u8; 64]);
        hex::decode_to_slice(text.trim(), seed.as_mut_slice())
            .map_err(|_| NodeError::Damaged(format!("{} is not a key file", path.display())))?;
        Ok(ActorKeys::from_seed(*seed))
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
            NodeError::Invalid(format!(
                "`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}
