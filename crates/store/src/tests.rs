use super::*;

const KEY: [u8; 32] = [0x5c; 32];

fn block(n: u8, height: u64) -> ([u8; 32], Vec<u8>, u64) {
    ([n; 32], vec![n; 100], height)
}

fn put(
    store: &mut Store,
    (hash, bytes, height): &([u8; 32], Vec<u8>, u64),
    origin: Origin,
) -> bool {
    store
        .write(|w| {
            w.put_block(
                &NewBlock {
                    hash: *hash,
                    clinic: [9; 16],
                    height: *height,
                    bytes,
                },
                origin,
                5,
            )
        })
        .unwrap()
}

#[test]
fn blocks_survive_reopen_in_insertion_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut store = Store::create(&path, &KEY).unwrap();
    for n in [3u8, 1, 2] {
        assert!(put(&mut store, &block(n, n as u64), Origin::Peer));
    }
    drop(store);
    let store = Store::open(&path, &KEY).unwrap();
    let hashes: Vec<u8> = store.blocks().unwrap().iter().map(|b| b.hash[0]).collect();
    assert_eq!(hashes, vec![3, 1, 2]);
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn local_blocks_wait_in_the_outbox_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("db"), &KEY).unwrap();
    put(&mut store, &block(1, 0), Origin::Local);
    put(&mut store, &block(2, 1), Origin::Local);
    assert!(
        !put(&mut store, &block(2, 1), Origin::Local),
        "a known block is not stored twice"
    );
    assert_eq!(store.pending().unwrap(), vec![[1; 32], [2; 32]]);
    store.write(|w| w.mark_acked(&[[1; 32]], 9)).unwrap();
    assert_eq!(store.pending().unwrap(), vec![[2; 32]]);
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("db"), &KEY).unwrap();
    let result: Result<(), StoreError> = store.write(|w| {
        w.put_sealed_keys(&[1; 16], b"sealed")?;
        // A good block, then one whose height the schema refuses.
        for (hash, height) in [([1; 32], 0), ([2; 32], u64::MAX)] {
            w.put_block(
                &NewBlock {
                    hash,
                    clinic: [9; 16],
                    height,
                    bytes: b"a",
                },
                Origin::Local,
                1,
            )?;
        }
        Ok(())
    });
    assert!(result.is_err());
    assert!(store.sealed_keys(&[1; 16]).unwrap().is_none());
    assert!(store.blocks().unwrap().is_empty());
}

#[test]
fn create_refuses_an_existing_file_and_open_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    assert!(matches!(
        Store::open(&path, &KEY),
        Err(StoreError::Missing(_))
    ));
    Store::create(&path, &KEY).unwrap();
    assert!(matches!(
        Store::create(&path, &KEY),
        Err(StoreError::Exists(_))
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(&path, &KEY)
        .err()
        .expect("garbage must not open");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

/// A database with some blocks, as the bytes of its file after a clean close.
fn filled_database(path: &Path) -> Vec<u8> {
    let mut store = Store::create(path, &KEY).unwrap();
    for n in 0..200u8 {
        let bytes = vec![n; 900];
        put(&mut store, &([n; 32], bytes, n as u64), Origin::Peer);
    }
    drop(store);
    std::fs::read(path).unwrap()
}

#[test]
fn an_empty_or_truncated_file_is_damage_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let whole = filled_database(&path);
    assert!(whole.len() > 64 * 1024, "the test needs several pages");
    for keep in [0, 100, 4096, whole.len() / 2] {
        std::fs::write(&path, &whole[..keep]).unwrap();
        let err = Store::open(&path, &KEY)
            .and_then(|s| s.blocks().map(|_| ()))
            .err()
            .unwrap_or_else(|| panic!("a file cut to {keep} bytes must not open"));
        assert!(
            matches!(err, StoreError::Corrupt { .. }),
            "cut to {keep}: {err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &whole[..keep],
            "opening must not write to a damaged file"
        );
    }
}

#[test]
fn settings_keys_and_peers_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("db"), &KEY).unwrap();
    store
        .write(|w| {
            w.set_setting("k", b"v1")?;
            w.set_setting("k", b"v2")?;
            w.put_sealed_keys(&[7; 16], b"sealed")?;
            w.add_peer("127.0.0.1:4000")?;
            w.add_peer("127.0.0.1:4000")
        })
        .unwrap();
    assert_eq!(store.setting("k").unwrap().unwrap(), b"v2");
    assert_eq!(store.sealed_keys(&[7; 16]).unwrap().unwrap(), b"sealed");
    assert_eq!(store.local_actors().unwrap(), vec![[7; 16]]);
    assert_eq!(store.peers().unwrap(), vec!["127.0.0.1:4000".to_string()]);
}

#[test]
fn the_first_block_of_a_damaged_database_is_read_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    filled_database(&path);
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    assert_eq!(salvage_first_block(&path, &KEY), Some(vec![0u8; 900]));
    assert_eq!(listing(), before, "no -wal or -shm file is made");
    std::fs::write(&path, b"not a database").unwrap();
    assert_eq!(salvage_first_block(&path, &KEY), None);
    assert_eq!(salvage_first_block(&dir.path().join("missing"), &KEY), None);
    assert_eq!(listing(), before);
}

#[test]
fn the_file_is_ciphertext_to_anyone_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut store = Store::create(&path, &KEY).unwrap();
    store
        .write(|w| {
            w.set_setting("note", b"Patient Greta Lindqvist, chest pain")?;
            w.put_sealed_keys(&[7; 16], b"sealed")
        })
        .unwrap();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        bytes.extend(std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default());
    }
    assert!(!bytes.starts_with(b"SQLite format 3"));
    assert!(!bytes.windows(5).any(|w| w == b"Greta"), "no plaintext row");
    assert!(
        !bytes.windows(8).any(|w| w == b"settings"),
        "no plaintext schema"
    );
    assert!(!is_plain(&path));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner reads the database");
    }
    let err = Store::open(&path, &[0x5d; 32])
        .err()
        .expect("a wrong key must not open");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let store = Store::open(&path, &KEY).unwrap();
    assert_eq!(
        store.setting("note").unwrap().unwrap(),
        b"Patient Greta Lindqvist, chest pain"
    );
    // A backup copy is encrypted under the same key.
    let copy = dir.path().join("copy");
    store.snapshot_to(&copy).unwrap();
    assert!(!is_plain(&copy));
    assert!(Store::open(&copy, &[1; 32]).is_err());
    assert_eq!(
        Store::open(&copy, &KEY)
            .unwrap()
            .sealed_keys(&[7; 16])
            .unwrap(),
        Some(b"sealed".to_vec())
    );
}

#[test]
fn a_plain_database_is_encrypted_in_place_with_everything_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        // A database as homes made before encryption had it: plain, in WAL mode, with its
        // schema at the latest version.
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        schema::migrations().to_latest(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('note', CAST('Greta Lindqvist' AS BLOB))",
            [],
        )
        .unwrap();
    }
    assert!(is_plain(&path));
    assert!(
        Store::open(&path, &KEY).is_err(),
        "a plain file is not opened as encrypted"
    );
    assert!(Store::encrypt_plain(&path, &KEY).unwrap());
    assert!(!is_plain(&path));
    assert!(!Store::encrypt_plain(&path, &KEY).unwrap(), "only once");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["db".to_string()],
        "no plain -wal, -shm or temporary file"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.windows(5).any(|w| w == b"Greta"));
    let store = Store::open(&path, &KEY).unwrap();
    assert_eq!(store.setting("note").unwrap().unwrap(), b"Greta Lindqvist");
}
