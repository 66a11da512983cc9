//! Backups: the whole home (database and node keys) in one file sealed under a passphrase.

use std::path::Path;

use carelog_vault::KdfParams;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Node;
use crate::error::{NodeError, Result, io_err};
use crate::home::{self, Home};

const BACKUP_FORMAT: &str = "carelog-backup-1";

#[derive(Serialize, Deserialize)]
struct Contents {
    format: String,
    database: Vec<u8>,
    node_key: Vec<u8>,
    authority_key: Option<Vec<u8>>,
}

impl Node {
    /// A consistent copy of this home, sealed under `passphrase` (Argon2id + ChaCha20-Poly1305).
    pub fn backup(&self, passphrase: &str) -> Result<Vec<u8>> {
        if passphrase.chars().count() < 8 {
            return Err(NodeError::Invalid(
                "a backup passphrase needs at least 8 characters".into(),
            ));
        }
        let snapshot = self.home.root().join(format!(
            ".backup-{}.sqlite3",
            hex::encode(home::random::<8>())
        ));
        self.store.snapshot_to(&snapshot)?;
        let database = std::fs::read(&snapshot).map_err(io_err(&snapshot));
        let _ = std::fs::remove_file(&snapshot);
        let read_key = |name: &str| -> Result<Option<Vec<u8>>> {
            let path = self.home.root().join(name);
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(&path)(e)),
            }
        };
        let contents = Contents {
            format: BACKUP_FORMAT.into(),
            database: database?,
            node_key: read_key(home::NODE_KEY)?
                .ok_or_else(|| NodeError::Damaged("the node key file is missing".into()))?,
            authority_key: read_key(home::AUTHORITY_KEY)?,
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

    /// Restores a backup into an empty home and checks every block from genesis.
    pub fn restore(root: &Path, sealed: &[u8], passphrase: &str) -> Result<Node> {
        let plain =
            carelog_vault::open_with_passphrase(sealed, passphrase).map_err(|e| match e {
                carelog_vault::VaultError::WrongPassphrase => {
                    NodeError::WrongPassphrase("the backup".into())
                }
                other => NodeError::Invalid(format!("not a Carelog backup: {other}")),
            })?;
        let contents: Contents = postcard::from_bytes(&plain)
            .map_err(|e| NodeError::Invalid(format!("not a Carelog backup: {e}")))?;
        if contents.format != BACKUP_FORMAT {
            return Err(NodeError::Invalid(format!(
                "unknown backup format `{}`",
                contents.format
            )));
        }
        let home = Home::new(root);
        home.prepare_new()?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let path = root.join(name);
            std::fs::write(&path, bytes).map_err(io_err(&path))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io_err(&path))?;
            }
            Ok(())
        };
        write(home::NODE_KEY, &contents.node_key)?;
        if let Some(key) = &contents.authority_key {
            write(home::AUTHORITY_KEY, key)?;
        }
        write(home::DATABASE, &contents.database)?;
        let mut node = Node::open(root)?;
        node.verify()?;
        // Peers may hold blocks this clinic sealed after the backup: sealing the same heights
        // again would fork its chain (and peers would refuse everything after). Until a sync
        // brings them, this home seals nothing; `skip_catch_up` is for a clinic with no peers.
        node.store
            .write(|w| w.set_setting(crate::replication::CATCH_UP, &[]))?;
        Ok(node)
    }
}
