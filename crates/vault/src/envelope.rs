//! Per-patient data keys, wrapped for each reader, and sealing of chart payloads.
//!
//! Wrapping: X25519(ephemeral, reader) → HKDF-SHA256 (salt = ephemeral public ‖ reader public,
//! info = label ‖ context) → ChaCha20-Poly1305 over the data key, with the context as associated
//! data. Sealing: ChaCha20-Poly1305 with a random 96-bit nonce, output = nonce ‖ ciphertext.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{ActorKeys, VaultError};

const WRAP_LABEL: &[u8] = b"carelog key wrap v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A patient's symmetric data key for one epoch. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// A key from 32 random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    /// The key bytes (for sealing them elsewhere; do not keep copies).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(<&Key>::from(&self.0))
    }
}

/// A data key wrapped for one reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The sender's one-time X25519 public key.
    pub ephemeral: [u8; 32],
    /// The nonce.
    pub nonce: [u8; 12],
    /// The wrapped key and its tag.
    pub ciphertext: Vec<u8>,
}

/// The key that seals one wrapped data key, bound to both public keys and the context.
fn wrapping_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    context: &[u8],
) -> DataKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = [0u8; 32];
    hk.expand_multi_info(&[WRAP_LABEL, context], &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let key = DataKey(okm);
    okm.zeroize();
    key
}

/// Wraps a data key for a reader's X25519 public key, with a one-time secret and nonce from the
/// caller. `context` (for example the patient id) must be given again to unwrap.
///
/// The reader's key should have passed [`PublicKeys::check`](crate::PublicKeys::check): a
/// small-order key would make the wrapping readable by anyone.
pub fn wrap_key(
    key: &DataKey,
    recipient_encryption_public: &[u8; 32],
    ephemeral_secret: [u8; 32],
    nonce: [u8; 12],
    context: &[u8],
) -> WrappedKey {
    let ephemeral = StaticSecret::from(ephemeral_secret);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient_encryption_public));
    let kek = wrapping_key(
        shared.as_bytes(),
        &ephemeral_public,
        recipient_encryption_public,
        context,
    );
    let ciphertext = kek
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: key.expose(),
                aad: context,
            },
        )
        .expect("encrypting 32 bytes cannot fail");
    WrappedKey {
        ephemeral: ephemeral_public,
        nonce,
        ciphertext,
    }
}

/// Unwraps a data key with the reader's keys and the context it was wrapped under.
pub fn unwrap_key(
    wrapped: &WrappedKey,
    recipient: &ActorKeys,
    context: &[u8],
) -> Result<DataKey, VaultError> {
    if wrapped.ciphertext.len() != 32 + TAG_LEN {
        return Err(VaultError::Malformed("wrapped key"));
    }
    let shared = Zeroizing::new(recipient.agree(&wrapped.ephemeral));
    // A small-order ephemeral key gives a shared secret anyone knows: not a real wrapping.
    if *shared == [0; 32] {
        return Err(VaultError::Decrypt);
    }
    let kek = wrapping_key(
        &shared,
        &wrapped.ephemeral,
        &recipient.public().encryption,
        context,
    );
    let plain = Zeroizing::new(
        kek.cipher()
            .decrypt(
                &Nonce::from(wrapped.nonce),
                Payload {
                    msg: &wrapped.ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| VaultError::Decrypt)?,
    );
    let mut key = DataKey([0; 32]);
    key.0.copy_from_slice(&plain);
    Ok(key)
}

/// Seals a payload under a data key with a fresh random nonce: returns nonce ‖ ciphertext ‖ tag.
///
/// The associated data (for example the transaction header) is authenticated but not stored.
pub fn seal(key: &DataKey, nonce: [u8; 12], plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
    let ciphertext = key
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: associated_data,
            },
        )
        .expect("chart payloads are far below ChaCha20-Poly1305's length limit");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens a payload made by [`seal`], given the same associated data.
pub fn open(
    key: &DataKey,
    sealed: &[u8],
    associated_data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Malformed("sealed payload"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    key.cipher()
        .decrypt(
            &Nonce::from(n),
            Payload {
                msg: ciphertext,
                aad: associated_data,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wrapped_for_reader() -> (ActorKeys, DataKey, WrappedKey) {
        let reader = ActorKeys::from_seed([5; 64]);
        let key = DataKey::from_bytes([42; 32]);
        let wrapped = wrap_key(
            &key,
            &reader.public().encryption,
            [7; 32],
            [8; 12],
            b"patient 1",
        );
        (reader, key, wrapped)
    }

    #[test]
    fn wrapped_keys_open_only_for_their_reader_and_context() {
        let (reader, key, wrapped) = wrapped_for_reader();
        let stranger = ActorKeys::from_seed([6; 64]);
        assert_eq!(
            unwrap_key(&wrapped, &reader, b"patient 1")
                .unwrap()
                .expose(),
            key.expose()
        );
        assert!(!wrapped.ciphertext.windows(8).any(|w| w == [42; 8]));
        assert_eq!(
            unwrap_key(&wrapped, &stranger, b"patient 1").err(),
            Some(VaultError::Decrypt)
        );
        assert_eq!(
            unwrap_key(&wrapped, &reader, b"patient 2").err(),
            Some(VaultError::Decrypt)
        );
        assert_eq!(
            unwrap_key(&wrapped, &reader, b"").err(),
            Some(VaultError::Decrypt)
        );
    }

    #[test]
    fn a_tampered_wrapped_key_is_refused() {
        let (reader, _, wrapped) = wrapped_for_reader();
        let mut short = wrapped.clone();
        short.ciphertext.pop();
        assert_eq!(
            unwrap_key(&short, &reader, b"patient 1").err(),
            Some(VaultError::Malformed("wrapped key"))
        );
        for i in 0..wrapped.ciphertext.len() {
            let mut bad = wrapped.clone();
            bad.ciphertext[i] ^= 1;
            assert!(unwrap_key(&bad, &reader, b"patient 1").is_err());
        }
        let mut bad = wrapped.clone();
        bad.nonce[0] ^= 1;
        assert!(unwrap_key(&bad, &reader, b"patient 1").is_err());
        let mut bad = wrapped.clone();
        bad.ephemeral[3] ^= 1;
        assert!(unwrap_key(&bad, &reader, b"patient 1").is_err());
        let mut bad = wrapped;
        bad.ephemeral = [0; 32];
        assert_eq!(
            unwrap_key(&bad, &reader, b"patient 1").err(),
            Some(VaultError::Decrypt)
        );
    }

    #[test]
    fn wrapped_keys_round_trip_through_postcard() {
        let (reader, key, wrapped) = wrapped_for_reader();
        let bytes = postcard::to_stdvec(&wrapped).unwrap();
        let back: WrappedKey = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, wrapped);
        assert_eq!(
            unwrap_key(&back, &reader, b"patient 1").unwrap().expose(),
            key.expose()
        );
    }

    #[test]
    fn sealed_payloads_detect_any_tampering() {
        let key = DataKey::from_bytes([1; 32]);
        let sealed = seal(&key, [2; 12], b"systolic 128", b"header");
        assert_eq!(sealed.len(), NONCE_LEN + 12 + TAG_LEN);
        assert_eq!(
            &open(&key, &sealed, b"header").unwrap()[..],
            b"systolic 128"
        );
        assert!(!sealed.windows(8).any(|w| w == b"systolic"));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert_eq!(open(&key, &bad, b"header").err(), Some(VaultError::Decrypt));
        }
        assert_eq!(
            open(&key, &sealed, b"headeR").err(),
            Some(VaultError::Decrypt)
        );
        assert_eq!(
            open(&DataKey::from_bytes([9; 32]), &sealed, b"header").err(),
            Some(VaultError::Decrypt)
        );
        assert_eq!(
            open(&key, &sealed[..NONCE_LEN + TAG_LEN - 1], b"header").err(),
            Some(VaultError::Malformed("sealed payload"))
        );
    }

    #[test]
    fn an_empty_payload_still_carries_a_tag() {
        let key = DataKey::from_bytes([1; 32]);
        let sealed = seal(&key, [2; 12], b"", b"");
        assert_eq!(sealed.len(), NONCE_LEN + TAG_LEN);
        assert!(open(&key, &sealed, b"").unwrap().is_empty());
    }

    #[test]
    fn debug_never_shows_a_data_key() {
        let key = DataKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn open_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            prop_assert!(open(&DataKey::from_bytes([3; 32]), &bytes, b"").is_err());
        }

        #[test]
        fn seal_then_open_round_trips(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let key = DataKey::from_bytes(key);
            let sealed = seal(&key, nonce, &plaintext, &aad);
            prop_assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], &plaintext[..]);
        }

        #[test]
        fn a_flipped_byte_of_ciphertext_or_aad_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..100),
            aad in proptest::collection::vec(any::<u8>(), 1..40),
            which in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = DataKey::from_bytes([4; 32]);
            let sealed = seal(&key, [5; 12], &plaintext, &aad);
            let mut bad = sealed.clone();
            let i = which.index(bad.len());
            bad[i] ^= 1 << bit;
            prop_assert_eq!(open(&key, &bad, &aad).err(), Some(VaultError::Decrypt));
            let mut bad_aad = aad.clone();
            let i = which.index(bad_aad.len());
            bad_aad[i] ^= 1 << bit;
            prop_assert_eq!(open(&key, &sealed, &bad_aad).err(), Some(VaultError::Decrypt));
        }

        #[test]
        fn wrap_then_unwrap_round_trips(
            reader_seed in any::<[u8; 32]>(),
            key in any::<[u8; 32]>(),
            ephemeral in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            context in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut seed = [0u8; 64];
            seed[32..].copy_from_slice(&reader_seed);
            let reader = ActorKeys::from_seed(seed);
            let wrapped = wrap_key(
                &DataKey::from_bytes(key),
                &reader.public().encryption,
                ephemeral,
                nonce,
                &context,
            );
            let unwrapped = unwrap_key(&wrapped, &reader, &context).unwrap();
            prop_assert_eq!(unwrapped.expose(), &key);
        }

        #[test]
        fn unwrap_never_panics_on_arbitrary_wrappings(
            ephemeral in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            ciphertext in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let reader = ActorKeys::from_seed([5; 64]);
            let wrapped = WrappedKey { ephemeral, nonce, ciphertext };
            prop_assert!(unwrap_key(&wrapped, &reader, b"patient 1").is_err());
        }
    }
}
