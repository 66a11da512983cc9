use super::*;

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
    let mut store = Store::create(&path).unwrap();
    for n in [3u8, 1, 2] {
        assert!(put(&mut store, &block(n, n as u64), Origin::Peer));
    }
    drop(store);
    let store = Store::open(&path).unwrap();
    let hashes: Vec<u8> = store.blocks().unwrap().iter().map(|b| b.hash[0]).collect();
    assert_eq!(hashes, vec![3, 1, 2]);
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn local_blocks_wait_in_the_outbox_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("db")).unwrap();
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
    let mut store = Store::create(&dir.path().join("db")).unwrap();
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
    assert!(matches!(Store::open(&path), Err(StoreError::Missing(_))));
    Store::create(&path).unwrap();
    assert!(matches!(Store::create(&path), Err(StoreError::Exists(_))));
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(&path).err().expect("garbage must not open");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

/// A database with some blocks, as the bytes of its file after a clean close.
fn filled_database(path: &Path) -> Vec<u8> {
    let mut store = Store::create(path).unwrap();
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
        let err = Store::open(&path)
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
    let mut store = Store::create(&dir.path().join("db")).unwrap();
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
    assert_eq!(salvage_first_block(&path), Some(vec![0u8; 900]));
    assert_eq!(listing(), before, "no -wal or -shm file is made");
    std::fs::write(&path, b"not a database").unwrap();
    assert_eq!(salvage_first_block(&path), None);
    assert_eq!(salvage_first_block(&dir.path().join("missing")), None);
    assert_eq!(listing(), before);
}
