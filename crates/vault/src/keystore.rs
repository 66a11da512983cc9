//! A user's keys sealed under a passphrase: Argon2id stretches it, ChaCha20-Poly1305 seals the seed.
//! Backups use the same format around other secret bytes.
//!
//! Format (all integers little-endian): "CLKS" ‖ version ‖ memory KiB u32 ‖ iterations u32 ‖
//! lanes u32 ‖ salt 16 ‖ nonce 12 ‖ ciphertext + tag 16 (for a key store, of the 64-byte seed).
//! The header is the associated data, so its parameters cannot be changed without detection.
//! The parameters are bounds-checked before any work, because they are read before they can be
//! authenticated.
//!
//! Version 1 is sealed under a passphrase alone (staff, backups). Version 2 is a patient's key
//! store, sealed under a [`CardSecret`] the patient carries *and* the PIN: the sealing key is
//! HKDF-SHA256(salt = Argon2id(PIN, salt), input = card secret). Without the card's 128 random
//! bits a copied store gives no way to test a PIN, so the PIN cannot be searched offline.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::{ActorKeys, VaultError};

const MAGIC: &[u8; 4] = b"CLKS";
/// Sealed under a passphrase alone.
const VERSION: u8 = 1;
/// Sealed under a card secret and a PIN.
const VERSION_CARD: u8 = 2;
const CARD_LABEL: &[u8] = b"carelog card-bound key store v2";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 4 + 1 + 3 * 4 + SALT_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;
const SEALED_LEN: usize = HEADER_LEN + 64 + TAG_LEN;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// OWASP's recommended Argon2id minimum: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// For patients' PINs, which have few possible values: 64 MiB, 3 passes, 1 lane. Only a
    /// holder of the patient's card can try a PIN at all; this makes each of their tries costly.
    pub const PIN: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    /// Cheap parameters for tests only: they give a passphrase almost no protection.
    pub const TEST_ONLY_FAST: KdfParams = KdfParams {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    /// The most memory a key store may ask for: 4 GiB.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    /// The most passes a key store may ask for.
    pub const MAX_ITERATIONS: u32 = 32;
    /// The most lanes a key store may ask for.
    pub const MAX_PARALLELISM: u32 = 16;

    /// Whether these parameters are within the bounds that opening a sealed file accepts.
    pub fn is_sane(&self) -> bool {
        (1..=Self::MAX_PARALLELISM).contains(&self.parallelism)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            // Argon2 needs at least 8 KiB per lane.
            && (8 * self.parallelism..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
    }
}

/// Stretches a passphrase into a 32-byte key, wiping Argon2's working memory afterwards.
fn derive(
    passphrase: &str,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    const BAD: VaultError = VaultError::Malformed("key store parameters");
    if !params.is_sane() {
        return Err(BAD);
    }
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| BAD)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // The working memory holds passphrase-derived blocks: allocate it here so it can be wiped,
    // and fail rather than abort when the machine cannot spare it.
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(argon.params().block_count())
        .map_err(|_| VaultError::Malformed("key store parameters (more memory than available)"))?;
    blocks.resize(argon.params().block_count(), Block::default());
    let mut out = Zeroizing::new([0u8; 32]);
    let result = argon.hash_password_into_with_memory(
        passphrase.as_bytes(),
        salt,
        &mut out[..],
        &mut blocks,
    );
    blocks.iter_mut().for_each(Zeroize::zeroize);
    result.map_err(|_| BAD)?;
    Ok(out)
}

/// The sealing key of a card-bound store: the stretched PIN and the card's secret, both needed.
fn card_key(
    pin: &str,
    card: &CardSecret,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let stretched = derive(pin, params, salt)?;
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(stretched.as_slice()), &card.0)
        .expand(CARD_LABEL, out.as_mut_slice())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Ok(out)
}

fn cipher(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(<&Key>::from(key))
}

fn header(
    version: u8,
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let mut h = Vec::with_capacity(SEALED_LEN);
    h.extend_from_slice(MAGIC);
    h.push(version);
    h.extend_from_slice(&params.memory_kib.to_le_bytes());
    h.extend_from_slice(&params.iterations.to_le_bytes());
    h.extend_from_slice(&params.parallelism.to_le_bytes());
    h.extend_from_slice(salt);
    h.extend_from_slice(nonce);
    debug_assert_eq!(h.len(), HEADER_LEN);
    h
}

/// Seals an actor's keys under a passphrase, with a random salt and nonce from the caller.
///
/// # Panics
///
/// If `params` are outside the bounds `open_keys` accepts (see [`KdfParams::is_sane`]): such a
/// store could never be opened again.
pub fn seal_keys(
    keys: &ActorKeys,
    passphrase: &str,
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Vec<u8> {
    let sealed = seal_with_passphrase(keys.seed().as_slice(), passphrase, params, salt, nonce);
    debug_assert_eq!(sealed.len(), SEALED_LEN);
    sealed
}

/// Seals any secret bytes (a key store, a backup) under a passphrase, in the key store format.
///
/// # Panics
///
/// If `params` are outside the bounds `open_with_passphrase` accepts (see
/// [`KdfParams::is_sane`]), or `secret` is beyond ChaCha20-Poly1305's limit of 256 GiB.
pub fn seal_with_passphrase(
    secret: &[u8],
    passphrase: &str,
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Vec<u8> {
    assert!(
        params.is_sane(),
        "key store parameters out of bounds: {params:?}"
    );
    let kek = derive(passphrase, params, &salt).expect("sane parameters always derive a key");
    seal_under(VERSION, &kek, secret, params, salt, nonce)
}

/// Seals `secret` under an already derived key, in the key store format of `version`.
fn seal_under(
    version: u8,
    kek: &[u8; 32],
    secret: &[u8],
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Vec<u8> {
    let mut out = header(version, params, &salt, &nonce);
    let ciphertext = cipher(kek)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: secret,
                aad: &out,
            },
        )
        .expect("sealing in memory stays below ChaCha20-Poly1305's length limit");
    out.reserve_exact(ciphertext.len());
    out.extend_from_slice(&ciphertext);
    out
}

/// Checks the magic and version; `what` names the kind of file in errors.
fn check_format(sealed: &[u8], version: u8, what: [&'static str; 2]) -> Result<(), VaultError> {
    if sealed.len() < 5 || &sealed[..4] != MAGIC {
        return Err(VaultError::Malformed(what[0]));
    }
    if sealed[4] == VERSION_CARD && version == VERSION {
        return Err(VaultError::CardNeeded);
    }
    if sealed[4] != version {
        return Err(VaultError::Malformed(what[1]));
    }
    Ok(())
}

/// Whether a sealed key store opens only with the patient's card (and PIN).
pub fn needs_card(sealed: &[u8]) -> bool {
    sealed.len() > 4 && &sealed[..4] == MAGIC && sealed[4] == VERSION_CARD
}

/// Opens bytes sealed by [`seal_with_passphrase`]; a wrong passphrase is named as such.
pub fn open_with_passphrase(
    sealed: &[u8],
    passphrase: &str,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    check_format(sealed, VERSION, ["sealed file", "sealed file version"])?;
    open_sealed(sealed, |params, salt| derive(passphrase, params, salt))
}

/// Opens a sealed file whose key `key_for(params, salt)` derives, once its header is checked.
fn open_sealed(
    sealed: &[u8],
    key_for: impl FnOnce(KdfParams, &[u8]) -> Result<Zeroizing<[u8; 32]>, VaultError>,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(VaultError::Malformed("sealed file length"));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([sealed[i], sealed[i + 1], sealed[i + 2], sealed[i + 3]]);
    let params = KdfParams {
        memory_kib: u32_at(5),
        iterations: u32_at(9),
        parallelism: u32_at(13),
    };
    if !params.is_sane() {
        return Err(VaultError::Malformed("key store parameters"));
    }
    let (header, ciphertext) = sealed.split_at(HEADER_LEN);
    let salt = &header[17..17 + SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[17 + SALT_LEN..]);
    let kek = key_for(params, salt)?;
    // A tampered file also lands here: without the right key the two cannot be told apart.
    cipher(&kek)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::WrongPassphrase)
}

/// Opens a sealed key store with a passphrase. A patient's card-bound store answers
/// [`VaultError::CardNeeded`].
pub fn open_keys(sealed: &[u8], passphrase: &str) -> Result<ActorKeys, VaultError> {
    check_format(sealed, VERSION, ["key store", "key store version"])?;
    if sealed.len() != SEALED_LEN {
        return Err(VaultError::Malformed("key store length"));
    }
    let seed = open_with_passphrase(sealed, passphrase)?;
    keys_from(&seed)
}

fn keys_from(seed: &[u8]) -> Result<ActorKeys, VaultError> {
    let mut bytes = Zeroizing::new([0u8; 64]);
    if seed.len() != 64 {
        return Err(VaultError::Malformed("key store length"));
    }
    bytes.copy_from_slice(seed);
    Ok(ActorKeys::from_seed(*bytes))
}

/// The secret printed on a patient's card: 128 random bits. Zeroized on drop; never printed by
/// `Debug`.
#[derive(Clone, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct CardSecret([u8; 16]);

impl std::fmt::Debug for CardSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSecret(…)")
    }
}

impl CardSecret {
    /// A card secret from 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> CardSecret {
        CardSecret(bytes)
    }

    /// The secret's bytes (for printing on the card).
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }
}

/// Seals a patient's keys under their card's secret and their PIN (version 2), with a random
/// salt and nonce from the caller.
///
/// # Panics
///
/// If `params` are outside the bounds opening accepts (see [`KdfParams::is_sane`]).
pub fn seal_keys_with_card(
    keys: &ActorKeys,
    card: &CardSecret,
    pin: &str,
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Vec<u8> {
    assert!(
        params.is_sane(),
        "key store parameters out of bounds: {params:?}"
    );
    let kek = card_key(pin, card, params, &salt).expect("sane parameters always derive a key");
    let sealed = seal_under(
        VERSION_CARD,
        &kek,
        keys.seed().as_slice(),
        params,
        salt,
        nonce,
    );
    debug_assert_eq!(sealed.len(), SEALED_LEN);
    sealed
}

/// Opens a patient's card-bound key store with the card's secret and the PIN. A wrong PIN and a
/// wrong card cannot be told apart: both are [`VaultError::WrongPassphrase`].
pub fn open_keys_with_card(
    sealed: &[u8],
    card: &CardSecret,
    pin: &str,
) -> Result<ActorKeys, VaultError> {
    check_format(sealed, VERSION_CARD, ["key store", "key store version"])?;
    if sealed.len() != SEALED_LEN {
        return Err(VaultError::Malformed("key store length"));
    }
    let seed = open_sealed(sealed, |params, salt| card_key(pin, card, params, salt))?;
    keys_from(&seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealed() -> (ActorKeys, Vec<u8>) {
        let keys = ActorKeys::from_seed(std::array::from_fn(|i| i as u8 * 3 + 1));
        let sealed = seal_keys(
            &keys,
            "correct horse",
            KdfParams::TEST_ONLY_FAST,
            [1; 16],
            [2; 12],
        );
        (keys, sealed)
    }

    #[test]
    fn the_right_passphrase_opens_and_a_wrong_one_is_named() {
        let (keys, sealed) = sealed();
        assert_eq!(sealed.len(), SEALED_LEN);
        assert_eq!(&sealed[..5], b"CLKS\x01");
        let opened = open_keys(&sealed, "correct horse").unwrap();
        assert_eq!(*opened.seed(), *keys.seed());
        for wrong in ["Correct horse", "", "correct horse "] {
            assert_eq!(
                open_keys(&sealed, wrong).err(),
                Some(VaultError::WrongPassphrase)
            );
        }
    }

    #[test]
    fn default_parameters_work() {
        let keys = ActorKeys::from_seed([1; 64]);
        let sealed = seal_keys(&keys, "pw", KdfParams::DEFAULT, [3; 16], [4; 12]);
        assert_eq!(open_keys(&sealed, "pw").unwrap().public(), keys.public());
    }

    #[test]
    fn a_new_salt_gives_a_new_ciphertext() {
        let keys = ActorKeys::from_seed([1; 64]);
        let a = seal_keys(&keys, "pw", KdfParams::TEST_ONLY_FAST, [3; 16], [4; 12]);
        let b = seal_keys(&keys, "pw", KdfParams::TEST_ONLY_FAST, [5; 16], [4; 12]);
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
    }

    #[test]
    fn sealed_bytes_hide_the_seed_and_every_truncation_is_an_error() {
        let (keys, sealed) = sealed();
        let seed = keys.seed();
        for secret in seed.windows(4) {
            assert!(!sealed.windows(4).any(|w| w == secret));
        }
        for cut in 0..sealed.len() {
            assert!(open_keys(&sealed[..cut], "correct horse").is_err());
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open_keys(&longer, "correct horse").is_err());
    }

    #[test]
    fn every_changed_byte_is_detected() {
        let (_, sealed) = sealed();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_keys(&bad, "correct horse").is_err(), "byte {i}");
        }
    }

    #[test]
    fn absurd_parameters_in_a_header_are_refused_before_any_work() {
        let (_, sealed) = sealed();
        for (at, value) in [
            (5, u32::MAX),
            (5, KdfParams::MAX_MEMORY_KIB + 1),
            (5, 7),
            (9, 0),
            (9, u32::MAX),
            (13, 0),
            (13, 17),
        ] {
            let mut bad = sealed.clone();
            bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
            assert_eq!(
                open_keys(&bad, "correct horse").err(),
                Some(VaultError::Malformed("key store parameters")),
                "{at} = {value}"
            );
        }
    }

    #[test]
    fn foreign_bytes_and_future_versions_are_named() {
        let (_, mut sealed) = sealed();
        assert_eq!(
            open_keys(b"not a key store", "pw").err(),
            Some(VaultError::Malformed("key store"))
        );
        sealed[4] = 3;
        assert_eq!(
            open_keys(&sealed, "pw").err(),
            Some(VaultError::Malformed("key store version"))
        );
    }

    fn card_sealed() -> (ActorKeys, CardSecret, Vec<u8>) {
        let keys = ActorKeys::from_seed(std::array::from_fn(|i| i as u8 ^ 0x5a));
        let card = CardSecret::from_bytes([9; 16]);
        let sealed = seal_keys_with_card(
            &keys,
            &card,
            "482916",
            KdfParams::TEST_ONLY_FAST,
            [1; 16],
            [2; 12],
        );
        (keys, card, sealed)
    }

    #[test]
    fn a_card_bound_store_opens_with_the_card_and_the_pin_only() {
        let (keys, card, sealed) = card_sealed();
        assert_eq!(sealed.len(), SEALED_LEN);
        assert!(needs_card(&sealed));
        assert!(!needs_card(&self::tests::sealed().1));
        let opened = open_keys_with_card(&sealed, &card, "482916").unwrap();
        assert_eq!(*opened.seed(), *keys.seed());
        // The PIN alone, as a passphrase, is refused before any work: the card is needed.
        assert_eq!(
            open_keys(&sealed, "482916").err(),
            Some(VaultError::CardNeeded)
        );
        assert_eq!(
            open_with_passphrase(&sealed, "482916").err(),
            Some(VaultError::CardNeeded)
        );
        // Another card with the right PIN, or the right card with another PIN, does not open.
        let other = CardSecret::from_bytes([8; 16]);
        assert_eq!(
            open_keys_with_card(&sealed, &other, "482916").err(),
            Some(VaultError::WrongPassphrase)
        );
        assert_eq!(
            open_keys_with_card(&sealed, &card, "482917").err(),
            Some(VaultError::WrongPassphrase)
        );
        // Even an attacker who tries every PIN, with no card, finds none that opens it: the
        // card's bits are part of the key. (Every 6-digit PIN would take too long in a test;
        // a thousand around the right one, with an all-zero card, stand for the search.)
        let no_card = CardSecret::from_bytes([0; 16]);
        for pin in 482_416..483_416 {
            assert!(open_keys_with_card(&sealed, &no_card, &pin.to_string()).is_err());
        }
        // A passphrase store is not opened as a card store.
        assert_eq!(
            open_keys_with_card(&self::tests::sealed().1, &card, "correct horse").err(),
            Some(VaultError::Malformed("key store version"))
        );
        assert_eq!(format!("{card:?}"), "CardSecret(…)");
    }

    #[test]
    fn every_changed_byte_of_a_card_bound_store_is_detected() {
        let (_, card, sealed) = card_sealed();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                open_keys_with_card(&bad, &card, "482916").is_err(),
                "byte {i}"
            );
        }
        for cut in 0..sealed.len() {
            assert!(open_keys_with_card(&sealed[..cut], &card, "482916").is_err());
        }
    }

    #[test]
    fn pin_parameters_are_within_bounds_and_cost_more_than_a_passphrases() {
        const { assert!(KdfParams::PIN.memory_kib > KdfParams::DEFAULT.memory_kib) };
        assert!(KdfParams::PIN.is_sane());
        let keys = ActorKeys::from_seed([4; 64]);
        let card = CardSecret::from_bytes([5; 16]);
        let sealed = seal_keys_with_card(&keys, &card, "135790", KdfParams::PIN, [6; 16], [7; 12]);
        assert_eq!(&sealed[5..9], &KdfParams::PIN.memory_kib.to_le_bytes());
        let opened = open_keys_with_card(&sealed, &card, "135790").unwrap();
        assert_eq!(opened.public(), keys.public());
    }

    #[test]
    fn parameter_bounds() {
        assert!(KdfParams::DEFAULT.is_sane());
        assert!(KdfParams::TEST_ONLY_FAST.is_sane());
        let lanes = KdfParams {
            memory_kib: 32,
            iterations: 1,
            parallelism: 4,
        };
        assert!(lanes.is_sane());
        assert!(
            !KdfParams {
                memory_kib: 31,
                ..lanes
            }
            .is_sane()
        );
        let keys = ActorKeys::from_seed([2; 64]);
        let sealed = seal_keys(&keys, "pw", lanes, [0; 16], [0; 12]);
        assert_eq!(open_keys(&sealed, "pw").unwrap().public(), keys.public());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn sealing_with_parameters_that_could_not_be_opened_panics() {
        let keys = ActorKeys::from_seed([2; 64]);
        let params = KdfParams {
            memory_kib: 256,
            iterations: 0,
            parallelism: 1,
        };
        seal_keys(&keys, "pw", params, [0; 16], [0; 12]);
    }

    #[test]
    fn any_secret_seals_under_a_passphrase() {
        let secret = b"a whole clinic database".repeat(100);
        let sealed = seal_with_passphrase(
            &secret,
            "backup pass",
            KdfParams::TEST_ONLY_FAST,
            [7; 16],
            [8; 12],
        );
        assert!(!sealed.windows(8).any(|w| w == b"a whole "));
        assert_eq!(
            &open_with_passphrase(&sealed, "backup pass").unwrap()[..],
            &secret[..]
        );
        assert_eq!(
            open_with_passphrase(&sealed, "backup pas").err(),
            Some(VaultError::WrongPassphrase)
        );
        // A backup is not a key store, and the empty secret still carries a tag.
        assert_eq!(
            open_keys(&sealed, "backup pass").err(),
            Some(VaultError::Malformed("key store length"))
        );
        let empty = seal_with_passphrase(b"", "pw", KdfParams::TEST_ONLY_FAST, [0; 16], [0; 12]);
        assert_eq!(empty.len(), HEADER_LEN + TAG_LEN);
        assert!(open_with_passphrase(&empty, "pw").unwrap().is_empty());
        for cut in 0..HEADER_LEN + TAG_LEN {
            assert!(open_with_passphrase(&empty[..cut], "pw").is_err());
        }
        for cut in [sealed.len() - 1, sealed.len() / 2] {
            assert_eq!(
                open_with_passphrase(&sealed[..cut], "backup pass").err(),
                Some(VaultError::WrongPassphrase)
            );
        }
        assert_eq!(
            open_with_passphrase(b"PK\x03\x04 zip", "pw").err(),
            Some(VaultError::Malformed("sealed file"))
        );
    }

    fn cheap_header() -> impl Strategy<Value = Vec<u8>> {
        (8u32..512, 1u32..3, 1u32..3).prop_map(|(memory, iterations, lanes)| {
            let mut h = b"CLKS\x01".to_vec();
            h.extend_from_slice(&memory.max(8 * lanes).to_le_bytes());
            h.extend_from_slice(&iterations.to_le_bytes());
            h.extend_from_slice(&lanes.to_le_bytes());
            h
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn opening_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            prop_assert!(open_keys(&bytes, "pw").is_err());
            prop_assert!(open_keys_with_card(&bytes, &CardSecret::from_bytes([1; 16]), "pw").is_err());
            prop_assert!(open_with_passphrase(&bytes, "pw").is_err());
        }

        #[test]
        fn a_well_formed_header_over_garbage_is_a_wrong_passphrase(
            header in cheap_header(),
            rest in proptest::collection::vec(any::<u8>(), SEALED_LEN - 17),
        ) {
            let mut bytes = header;
            bytes.extend_from_slice(&rest);
            prop_assert_eq!(open_keys(&bytes, "pw").err(), Some(VaultError::WrongPassphrase));
        }
    }
}
