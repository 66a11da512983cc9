//! Schema migrations, applied in order on open (tracked by SQLite's user_version).

use rusqlite_migration::{M, Migrations};

/// Every migration so far. Append only: a released migration never changes.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE blocks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
            clinic BLOB NOT NULL CHECK (length(clinic) = 16),
            height INTEGER NOT NULL CHECK (height >= 0),
            bytes BLOB NOT NULL,
            received_at INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX blocks_by_chain ON blocks (clinic, height);
        CREATE TABLE outbox (
            block_hash BLOB PRIMARY KEY REFERENCES blocks (hash),
            queued_at INTEGER NOT NULL,
            acked_at INTEGER
        );
        CREATE INDEX outbox_pending ON outbox (acked_at) WHERE acked_at IS NULL;
        CREATE TABLE keystore (
            actor BLOB PRIMARY KEY CHECK (length(actor) = 16),
            sealed BLOB NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE peers (addr TEXT PRIMARY KEY);",
        ),
        // Proof that a clinic sealed two different blocks at one height: both blocks, as
        // received, each signed by that clinic, kept for the health authority.
        M::up(
            "CREATE TABLE evidence (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            clinic BLOB NOT NULL CHECK (length(clinic) = 16),
            height INTEGER NOT NULL CHECK (height >= 0),
            first BLOB NOT NULL,
            second BLOB NOT NULL,
            second_hash BLOB NOT NULL UNIQUE CHECK (length(second_hash) = 32),
            recorded_at INTEGER NOT NULL
        );",
        ),
        // The ledger's derived state, saved so that opening a large home need not replay every
        // transaction: numbered parts, each with the node's seal over it.
        M::up(
            "CREATE TABLE saved_state (
            part INTEGER PRIMARY KEY CHECK (part >= 0),
            bytes BLOB NOT NULL,
            seal BLOB NOT NULL CHECK (length(seal) = 32)
        );",
        ),
        // A clinic that sealed two blocks at one height (a cloned machine) has both kept: the
        // ledger settles which branch stands, the same way on every replica.
        M::up(
            "DROP INDEX blocks_by_chain;
        CREATE INDEX blocks_by_chain ON blocks (clinic, height);",
        ),
        // The front desk's patient index (`patient_index.rs`): derived from sealed entries the
        // clinic can open, rebuilt from the ledger whenever it is behind.
        M::up(
            "CREATE TABLE patient_index (
            row INTEGER PRIMARY KEY,
            patient BLOB NOT NULL UNIQUE CHECK (length(patient) = 16),
            entry BLOB NOT NULL CHECK (length(entry) = 32),
            name TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            sex TEXT NOT NULL
        );
        CREATE INDEX patient_index_by_birth_date ON patient_index (birth_date);
        CREATE VIRTUAL TABLE patient_names USING fts5 (
            name, tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3 4'
        );",
        ),
    ])
}
