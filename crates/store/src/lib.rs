//! The clinic node's SQLite file: the one place Carelog opens a database.
//!
//! The file is encrypted with SQLCipher under a 256-bit key the node gives (a raw key, so no
//! key stretching is spent on each open): every page, the header included, is ciphertext, and
//! a copy of the file is not a database to anyone without the key. A plain SQLite file made
//! before encryption is encrypted in place by [`Store::encrypt_plain`]. The file is created
//! readable by its owner only (SQLite gives its -wal and -shm files the same mode).
//!
//! It holds the ledger replica (blocks as canonical bytes, keyed by hash), the outbox of locally
//! sealed blocks not yet acknowledged by a peer, sealed key stores, settings, known peers and
//! the front desk's patient index. Chart content only ever arrives here as ciphertext inside
//! blocks: no table holds plaintext clinical data; the patient index holds the names, birth
//! dates and sexes the clinic can open, inside the encrypted file like everything else. The store knows bytes and ids, not ledger types, so a damaged
//! row is reported by the node with the block it belongs to.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let key = [7u8; 32];
//! let mut store = carelog_store::Store::create(&dir.path().join("node.sqlite3"), &key).unwrap();
//! let block = carelog_store::NewBlock { hash: [1; 32], clinic: [2; 16], height: 0, bytes: b"block" };
//! store.write(|w| w.put_block(&block, carelog_store::Origin::Local, 1_000)).unwrap();
//! assert_eq!(store.pending_count().unwrap(), 1);
//! ```

mod patient_index;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use patient_index::{IndexedEntry, IndexedPatient, MAX_FOUND};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

/// A failure of the local database, in words a clinic's IT person can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No database at the path.
    #[error(
        "no Carelog database at {0}; create the home first (carelog network create or clinic request)"
    )]
    Missing(PathBuf),
    /// A database already exists where a new one was to be made.
    #[error("a Carelog database already exists at {0}")]
    Exists(PathBuf),
    /// The file is not a Carelog database, or it is damaged.
    #[error("the database at {path} is damaged or not a Carelog database: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Where a block came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Sealed by this node: goes to the outbox until a peer acknowledges it.
    Local,
    /// Received from a peer or a bundle.
    Peer,
}

/// A block to store.
#[derive(Clone, Copy, Debug)]
pub struct NewBlock<'a> {
    /// Its hash.
    pub hash: [u8; 32],
    /// Its sealing clinic.
    pub clinic: [u8; 16],
    /// Its height in that clinic's chain.
    pub height: u64,
    /// Its canonical bytes.
    pub bytes: &'a [u8],
}

/// Two blocks one clinic sealed at one height, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRow {
    /// The clinic.
    pub clinic: [u8; 16],
    /// The height.
    pub height: u64,
    /// The block this replica held first (canonical bytes).
    pub first: Vec<u8>,
    /// The conflicting block (canonical bytes).
    pub second: Vec<u8>,
    /// When it was recorded (Unix ms).
    pub recorded_at: i64,
}

/// A stored block as read back.
#[derive(Clone, Debug)]
pub struct StoredBlock {
    /// Its position in this node's arrival order.
    pub seq: i64,
    /// The hash it was stored under.
    pub hash: [u8; 32],
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether this node sealed it.
    pub local: bool,
}

const BLOCKS_SINCE: &str = "SELECT b.seq, b.hash, b.bytes, o.block_hash IS NOT NULL
     FROM blocks b LEFT JOIN outbox o ON o.block_hash = b.hash
     WHERE b.seq > ?1 ORDER BY b.seq LIMIT ?2";

fn read_blocks(
    conn: &Connection,
    path: &Path,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredBlock>, StoreError> {
    let mut stmt = conn.prepare_cached(BLOCKS_SINCE)?;
    let rows = stmt.query_map([after_seq, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, hash, bytes, local) = row?;
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| corrupt(path, "a block row has a hash of the wrong length"))?;
        out.push(StoredBlock {
            seq,
            hash,
            bytes,
            local,
        });
    }
    Ok(out)
}

fn block_hashes(conn: &Connection, path: &Path, through: i64) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM blocks WHERE seq <= ?1 ORDER BY seq")?;
    let rows = stmt.query_map([through], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|row| {
        row?.try_into()
            .map_err(|_| corrupt(path, "a block row has a hash of the wrong length"))
    })
    .collect()
}

/// One part of a saved state as stored.
#[derive(Clone, Debug)]
pub struct SavedStatePart {
    /// Its number, from 0.
    pub part: i64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The seal the node put over it.
    pub seal: [u8; 32],
}

/// The database key, as SQLCipher's `PRAGMA key` takes a raw key.
fn key_pragma(key: &[u8; 32]) -> zeroize::Zeroizing<String> {
    let mut text = zeroize::Zeroizing::new(String::with_capacity(80));
    text.push_str("PRAGMA key = \"x'");
    for byte in key {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    text.push_str("'\";");
    text
}

/// Gives a new connection the database key, before anything reads the file.
fn apply_key(conn: &Connection, key: &[u8; 32]) -> rusqlite::Result<()> {
    // SQLCipher would also print its own lines on stderr when a page does not decrypt; the
    // store reports every failure through its errors instead (a refusal is one line).
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.execute_batch(&key_pragma(key))
}

/// The first bytes of every plain (unencrypted) SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether a file is a plain SQLite database (made before encryption).
pub fn is_plain(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| &header == PLAIN_HEADER)
}

/// Creates an empty file readable by its owner only, for SQLite to fill.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// The bytes of the first block stored in a database that may be damaged: read with no check,
/// opened read-only so nothing is written to the file. `None` if SQLite cannot read it.
///
/// For recovering a home's genesis block; the caller checks the bytes against the network id.
pub fn salvage_first_block(path: &Path, key: &[u8; 32]) -> Option<Vec<u8>> {
    // `immutable`: no locks, and no -wal or -shm file is made beside the damaged one. The genesis
    // block was committed (and checkpointed) long before any damage.
    let escaped = path
        .to_str()?
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    let conn = Connection::open_with_flags(
        format!("file:{escaped}?immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    if !is_plain(path) {
        apply_key(&conn, key).ok()?;
    }
    conn.query_row("SELECT bytes FROM blocks ORDER BY seq LIMIT 1", [], |r| {
        r.get(0)
    })
    .ok()
}

/// The clinic node's database.
pub struct Store {
    /// Behind a lock so that a node can be read from several threads at once (each read takes
    /// the connection in turn; SQLite itself is opened without its own mutex).
    conn: Mutex<Connection>,
    path: PathBuf,
    /// The database key, for the other connections this store opens.
    key: zeroize::Zeroizing<[u8; 32]>,
}

/// A second, read-only connection to a node's database, for reading blocks back (from any
/// thread) while the node's own connection writes.
pub struct BlockReader {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("path", &self.path)
            .finish()
    }
}

impl BlockReader {
    /// A stored block's bytes by hash.
    pub fn block(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached("SELECT bytes FROM blocks WHERE hash = ?1")?;
        Ok(stmt
            .query_row(params![&hash[..]], |r| r.get(0))
            .optional()?)
    }
}

/// Writes inside one SQLite transaction (see [`Store::write`]).
pub struct Writer<'a> {
    tx: Transaction<'a>,
}

/// Files up to this size get SQLite's check of every page on each open (about 0.1 s at this
/// size); larger ones in `ledger verify`.
const QUICK_CHECK_ON_OPEN_BYTES: u64 = 64 << 20;

fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| corrupt(path, e))?;
    if check == "ok" {
        Ok(())
    } else {
        Err(corrupt(path, check))
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Store {
    /// Creates a new database encrypted under `key`, readable by its owner only; refuses to
    /// overwrite an existing file.
    pub fn create(path: &Path, key: &[u8; 32]) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        create_private(path).map_err(|e| corrupt(path, e))?;
        Self::open_with(
            path,
            key,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    /// Opens an existing database encrypted under `key`, migrating its schema forward. A wrong
    /// key cannot be told from a damaged file: both are [`StoreError::Corrupt`].
    pub fn open(path: &Path, key: &[u8; 32]) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Self::open_with(path, key, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Encrypts a plain SQLite database (made before encryption) in place under `key`: a
    /// complete encrypted copy is written beside it and synced, then renamed over it, and the
    /// plain file's -wal and -shm files are removed. Returns false, changing nothing, if the
    /// file is not a plain SQLite database. A crash leaves the plain file or the encrypted one.
    pub fn encrypt_plain(path: &Path, key: &[u8; 32]) -> Result<bool, StoreError> {
        if !is_plain(path) {
            return Ok(false);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.encrypting"));
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
        }
        create_private(&temp).map_err(|e| corrupt(&temp, e))?;
        let encrypted = (|| -> Result<(), StoreError> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| corrupt(path, e))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            let target = temp
                .to_str()
                .ok_or_else(|| corrupt(&temp, "the path is not valid UTF-8"))?;
            let key_text = key_pragma(key);
            // `PRAGMA key = "x'…'";` → the quoted key for ATTACH … KEY.
            let quoted = &key_text["PRAGMA key = ".len()..key_text.len() - 1];
            conn.execute(
                &format!("ATTACH DATABASE ?1 AS encrypted KEY {quoted}"),
                params![target],
            )
            .map_err(|e| corrupt(path, e))?;
            conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
                .map_err(|e| corrupt(path, e))?;
            let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
            conn.pragma_update(Some("encrypted"), "user_version", version)?;
            conn.execute_batch("DETACH DATABASE encrypted")?;
            drop(conn);
            std::fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| corrupt(&temp, e))?;
            Ok(())
        })();
        if let Err(e) = encrypted {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        std::fs::rename(&temp, path).map_err(|e| corrupt(path, e))?;
        // The plain file's log and index belong to the file that is gone; they may hold pages
        // of it in the clear.
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(true)
    }

    fn open_with(path: &Path, key: &[u8; 32], flags: OpenFlags) -> Result<Store, StoreError> {
        let creating = flags.contains(OpenFlags::SQLITE_OPEN_CREATE);
        let mut conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| corrupt(path, e))?;
        apply_key(&conn, key).map_err(|e| corrupt(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Before anything writes to the file: an existing Carelog database always has its schema
        // version set (`create` migrates at once). SQLite takes an empty file (one truncated to
        // nothing) for a new database; opening it as one would hide the damage.
        if !creating {
            let version: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| corrupt(path, e))?;
            if version == 0 {
                return Err(corrupt(
                    path,
                    "the file holds no Carelog schema (it is empty or was never a Carelog database)",
                ));
            }
        }
        // WAL with FULL sync: a write acknowledged to a clinician survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Every page is authenticated (SQLCipher's HMAC) whenever it is read, so damage to a
        // page this node reads is refused there. SQLite's own check of every page finds damage
        // in pages not read yet: it runs on every open of a small file, and for a large one
        // (where it decrypts hundreds of megabytes) in `ledger verify` ([`Store::quick_check`]).
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        if creating || size <= QUICK_CHECK_ON_OPEN_BYTES {
            quick_check(&conn, path)?;
        }
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|e| corrupt(path, e))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            key: zeroize::Zeroizing::new(*key),
        })
    }

    /// SQLite's check of every page of the file (each decrypted and authenticated).
    pub fn quick_check(&self) -> Result<(), StoreError> {
        quick_check(&self.conn(), &self.path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only connection for reading blocks back beside this one.
    pub fn block_reader(&self) -> Result<BlockReader, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(&self.path, e))?;
        apply_key(&conn, &self.key).map_err(|e| corrupt(&self.path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(BlockReader {
            conn: Mutex::new(conn),
            path: self.path.clone(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the connection was held cannot leave a transaction open: `write` takes
        // it by `&mut self`, and an unfinished rusqlite transaction rolls back when dropped.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs writes in one transaction: all of them land, or none.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Writer<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        // IMMEDIATE takes the write lock up front: two processes on one home (a running `serve`
        // and a CLI command) never both seal this clinic's next block.
        let tx = self
            .conn
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let writer = Writer { tx };
        let value = f(&writer)?;
        writer.tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Every block, in the order this node stored them (parents before children).
    pub fn blocks(&self) -> Result<Vec<StoredBlock>, StoreError> {
        read_blocks(&self.conn(), &self.path, 0, -1)
    }

    /// Blocks stored after `seq` (by this process or another one on the same home).
    pub fn blocks_since(&self, seq: i64) -> Result<Vec<StoredBlock>, StoreError> {
        read_blocks(&self.conn(), &self.path, seq, -1)
    }

    /// At most `limit` blocks stored after `seq`, oldest first: for reading a large replica a
    /// page at a time instead of all at once.
    pub fn blocks_page(&self, seq: i64, limit: usize) -> Result<Vec<StoredBlock>, StoreError> {
        read_blocks(
            &self.conn(),
            &self.path,
            seq,
            limit.try_into().unwrap_or(i64::MAX),
        )
    }

    /// Whether a block is stored.
    pub fn has_block(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT 1 FROM blocks WHERE hash = ?1")?;
        Ok(stmt.exists(params![&hash[..]])?)
    }

    /// Number of blocks stored after sequence number `seq` (0: every block).
    pub fn blocks_after(&self, seq: i64) -> Result<u64, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT count(*) FROM blocks WHERE seq > ?1",
            params![seq],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Number of locally sealed blocks no peer has acknowledged yet.
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT count(*) FROM outbox WHERE acked_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// The blocks this home sealed itself (acknowledged by a peer or not).
    pub fn sealed_here(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT block_hash FROM outbox")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|row| {
            row?.try_into()
                .map_err(|_| corrupt(&self.path, "an outbox row has a hash of the wrong length"))
        })
        .collect()
    }

    /// Hashes of unacknowledged local blocks, oldest first.
    pub fn pending(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.block_hash FROM outbox o JOIN blocks b ON b.hash = o.block_hash
             WHERE o.acked_at IS NULL ORDER BY b.seq",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|row| {
            row?.try_into()
                .map_err(|_| corrupt(&self.path, "an outbox row has a hash of the wrong length"))
        })
        .collect()
    }

    /// A sealed key store by actor id.
    pub fn sealed_keys(&self, actor: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT sealed FROM keystore WHERE actor = ?1",
                params![&actor[..]],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Actor ids with a key store on this node.
    pub fn local_actors(&self) -> Result<Vec<[u8; 16]>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT actor FROM keystore ORDER BY actor")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|row| {
            row?.try_into()
                .map_err(|_| corrupt(&self.path, "a key store row has an id of the wrong length"))
        })
        .collect()
    }

    /// A setting.
    pub fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets a setting outside any larger transaction (bookkeeping such as failed sign-ins).
    pub fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Hashes of the blocks stored up to `seq`, in the order they were stored.
    pub fn block_hashes_through(&self, seq: i64) -> Result<Vec<[u8; 32]>, StoreError> {
        block_hashes(&self.conn(), &self.path, seq)
    }

    /// At most `limit` parts of the saved state after part `after` (-1 for the first): (part,
    /// bytes, seal).
    pub fn saved_state_page(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SavedStatePart>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT part, bytes, seal FROM saved_state WHERE part > ?1 ORDER BY part LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (part, bytes, seal) = row?;
            let seal: [u8; 32] = seal.try_into().map_err(|_| {
                corrupt(
                    &self.path,
                    "a saved state row has a seal of the wrong length",
                )
            })?;
            out.push(SavedStatePart { part, bytes, seal });
        }
        Ok(out)
    }

    /// Drops the saved state outside any larger transaction.
    pub fn forget_saved_state(&self) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM saved_state", [])?;
        Ok(())
    }

    /// Writes a consistent copy of the whole database to a new file (for backups), encrypted
    /// under the same key and readable by its owner only.
    pub fn snapshot_to(&self, path: &Path) -> Result<(), StoreError> {
        let conn = self.conn();
        let target = path
            .to_str()
            .ok_or_else(|| corrupt(path, "the backup path is not valid UTF-8"))?;
        create_private(path).map_err(|e| corrupt(path, e))?;
        conn.execute("VACUUM INTO ?1", params![target])?;
        Ok(())
    }

    /// Every equivocation recorded, oldest first.
    pub fn evidence(&self) -> Result<Vec<EvidenceRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT clinic, height, first, second, recorded_at FROM evidence ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (clinic, height, first, second, recorded_at) = row?;
            let clinic = <[u8; 16]>::try_from(clinic.as_slice())
                .map_err(|_| corrupt(&self.path, "an evidence row names no clinic"))?;
            out.push(EvidenceRow {
                clinic,
                height: u64::try_from(height)
                    .map_err(|_| corrupt(&self.path, "an evidence row has a negative height"))?,
                first,
                second,
                recorded_at,
            });
        }
        Ok(out)
    }

    /// Known peer addresses.
    pub fn peers(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT addr FROM peers ORDER BY addr")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Writer<'_> {
    /// Blocks stored after `seq`, read inside this transaction (so under the write lock).
    pub fn blocks_since(&self, seq: i64) -> Result<Vec<StoredBlock>, StoreError> {
        read_blocks(&self.tx, Path::new("(this home)"), seq, -1)
    }

    /// Stores a block; a local one also enters the outbox. Storing a known block is a no-op.
    pub fn put_block(
        &self,
        block: &NewBlock<'_>,
        origin: Origin,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let added = self.tx.prepare_cached(
            "INSERT INTO blocks (hash, clinic, height, bytes, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            &block.hash[..],
            &block.clinic[..],
            block.height as i64,
            block.bytes,
            now_ms
        ])? == 1;
        if added && origin == Origin::Local {
            self.tx
                .prepare_cached("INSERT INTO outbox (block_hash, queued_at) VALUES (?1, ?2)")?
                .execute(params![&block.hash[..], now_ms])?;
        }
        Ok(added)
    }

    /// Hashes of the blocks stored up to `seq`, read inside this transaction.
    pub fn block_hashes_through(&self, seq: i64) -> Result<Vec<[u8; 32]>, StoreError> {
        block_hashes(&self.tx, Path::new("(this home)"), seq)
    }

    /// Replaces the saved state with these parts, numbered from 0.
    pub fn replace_saved_state(
        &self,
        parts: impl IntoIterator<Item = (Vec<u8>, [u8; 32])>,
    ) -> Result<(), StoreError> {
        self.clear_saved_state()?;
        let mut insert = self
            .tx
            .prepare_cached("INSERT INTO saved_state (part, bytes, seal) VALUES (?1, ?2, ?3)")?;
        for (part, (bytes, seal)) in parts.into_iter().enumerate() {
            insert.execute(params![part as i64, bytes, &seal[..]])?;
        }
        Ok(())
    }

    /// Drops the saved state (the next open replays every block).
    pub fn clear_saved_state(&self) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM saved_state", [])?;
        Ok(())
    }

    /// The newest arrival position (0 when empty).
    pub fn max_seq(&self) -> Result<i64, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT coalesce(max(seq), 0) FROM blocks", [], |r| r.get(0))?)
    }

    /// Marks this clinic's outbox blocks up to `height` as acknowledged (a peer holds them).
    pub fn mark_acked_up_to(
        &self,
        clinic: &[u8; 16],
        height: u64,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE outbox SET acked_at = ?3 WHERE acked_at IS NULL AND block_hash IN
             (SELECT hash FROM blocks WHERE clinic = ?1 AND height <= ?2)",
            )?
            .execute(params![&clinic[..], height as i64, now_ms])?)
    }

    /// Marks outbox blocks as acknowledged by a peer.
    pub fn mark_acked(&self, hashes: &[[u8; 32]], now_ms: i64) -> Result<(), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "UPDATE outbox SET acked_at = ?2 WHERE block_hash = ?1 AND acked_at IS NULL",
        )?;
        for hash in hashes {
            stmt.execute(params![&hash[..], now_ms])?;
        }
        Ok(())
    }

    /// Stores a sealed key store for an actor (replacing an older one).
    pub fn put_sealed_keys(&self, actor: &[u8; 16], sealed: &[u8]) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO keystore (actor, sealed) VALUES (?1, ?2)
             ON CONFLICT(actor) DO UPDATE SET sealed = excluded.sealed",
            params![&actor[..], sealed],
        )?;
        Ok(())
    }

    /// A setting, read inside this transaction.
    pub fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()?)
    }

    /// Removes a setting (nothing happens if it is not there).
    pub fn delete_setting(&self, key: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM settings WHERE key = ?1", params![key])?;
        Ok(())
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Records proof of an equivocation (once per conflicting block). Returns whether it is new.
    pub fn put_evidence(
        &self,
        row: &EvidenceRow,
        second_hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "INSERT INTO evidence (clinic, height, first, second, second_hash, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (second_hash) DO NOTHING",
            params![
                &row.clinic[..],
                row.height as i64,
                &row.first,
                &row.second,
                &second_hash[..],
                row.recorded_at
            ],
        )? == 1)
    }

    /// Remembers a peer address.
    pub fn add_peer(&self, addr: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO peers (addr) VALUES (?1)",
            params![addr],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
