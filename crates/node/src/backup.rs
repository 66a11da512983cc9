//! Backups: the whole home (database and the home's own keys) in one file sealed under a
//! passphrase. The restored home seals its keys afresh, as the machine it lands on allows
//! (node passphrase or OS keyring).

use std::path::Path;
use std::sync::Arc;

use carelog_vault::KdfParams;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::at_rest::{self, HomeSecrets, NodeUnlock};
use crate::error::{CarriedFile, NodeError, Result, io_err};
use crate::home::{self, Home};
use crate::{Node, check_node_passphrase};

const BACKUP_FORMAT: &str = "carelog-backup-2";
/// Backups of homes made before encryption: a plain database and a hex node key.
const PLAIN_BACKUP_FORMAT: &str = "carelog-backup-1";

#[derive(Serialize, Deserialize)]
struct Contents {
    format: String,
    /// The database file (encrypted under the database key in `secrets`; plain in format 1).
    database: Vec<u8>,
    /// The home's secrets (format 2) or its hex node key (format 1).
    node_key: Vec<u8>,
    /// `authority.key` as the home kept it (sealed under the authority's passphrase).
    authority_key: Option<Vec<u8>>,
}

impl Drop for Contents {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.node_key.zeroize();
    }
}

impl Node {
    /// A consistent copy of this home, sealed under `passphrase` (Argon2id + ChaCha20-Poly1305).
    pub fn backup(&self, passphrase: &str) -> Result<Vec<u8>> {
        if passphrase.chars().count() < 8 {
            return Err(NodeError::invalid(
                "a backup passphrase needs at least 8 characters",
            ));
        }
        let snapshot = self.home.root().join(format!(
            ".backup-{}.sqlite3",
            hex::encode(home::random::<8>())
        ));
        self.store.snapshot_to(&snapshot)?;
        let database = std::fs::read(&snapshot).map_err(io_err(&snapshot));
        let _ = std::fs::remove_file(&snapshot);
        let authority = self.home.root().join(home::AUTHORITY_KEY);
        let authority_key = match std::fs::read(&authority) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&authority)(e)),
        };
        let contents = Contents {
            format: BACKUP_FORMAT.into(),
            database: database?,
            node_key: self.secrets.to_bytes().to_vec(),
            authority_key,
        };
        let plain = Zeroizing::new(postcard::to_stdvec(&contents).expect("backups always encode"));
        Ok(carelog_vault::seal_with_passphrase(
            &plain,
            passphrase,
            KdfParams::DEFAULT,
            home::random(),
            home::random(),
        ))
    }

    /// Restores a backup into an empty home and checks every block from genesis. The home's
    /// keys are sealed as [`NodeUnlock::from_env`] says.
    pub fn restore(root: &Path, sealed: &[u8], passphrase: &str) -> Result<Node> {
        Node::restore_with(root, sealed, passphrase, &NodeUnlock::from_env()?)
    }

    /// [`Node::restore`], sealing the home's keys with `unlock`.
    pub fn restore_with(
        root: &Path,
        sealed: &[u8],
        passphrase: &str,
        unlock: &NodeUnlock,
    ) -> Result<Node> {
        let plain =
            carelog_vault::open_with_passphrase(sealed, passphrase).map_err(|e| match e {
                carelog_vault::VaultError::WrongPassphrase => {
                    NodeError::WrongPassphrase("the backup".into())
                }
                other => NodeError::not_a(CarriedFile::Backup, other.to_string()),
            })?;
        let contents: Contents = postcard::from_bytes(&plain)
            .map_err(|e| NodeError::not_a(CarriedFile::Backup, e.to_string()))?;
        let secrets = match contents.format.as_str() {
            BACKUP_FORMAT => HomeSecrets::from_bytes(&contents.node_key),
            PLAIN_BACKUP_FORMAT => at_rest::legacy_key(&contents.node_key).map(HomeSecrets::new),
            other => {
                return Err(NodeError::invalid(format!(
                    "unknown backup format `{other}`"
                )));
            }
        }
        .ok_or_else(|| NodeError::not_a(CarriedFile::Backup, "its keys do not read"))?;
        check_node_passphrase(unlock, &[])?;
        let home = Home::new(root);
        home.prepare_new()?;
        // Every file lands 0600 (atomic writes), in a home made 0700, before any is written.
        at_rest::seal_node_key(&home, &secrets, unlock)?;
        if let Some(key) = &contents.authority_key {
            Home::write_atomic(&root.join(home::AUTHORITY_KEY), key)?;
        }
        Home::write_atomic(&home.database(), &contents.database)?;
        // A plain database (format 1) is encrypted by the open, like any older home's.
        let mut node = Node::open_unlocked(root, Arc::new(secrets), &mut |_, _| {})?;
        node.verify()?;
        // Peers may hold blocks this clinic sealed after the backup: sealing the same heights
        // again would fork its chain (and peers would refuse everything after). Until a sync
        // brings them, this home seals nothing; `skip_catch_up` is for a clinic with no peers.
        node.store
            .write(|w| w.set_setting(crate::replication::CATCH_UP, &[]))?;
        Ok(node)
    }
}
