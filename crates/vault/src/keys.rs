//! An actor's key pairs: Ed25519 for signing, X25519 for key agreement.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::VaultError;

/// An actor's public keys, as enrolled on the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKeys {
    /// Ed25519 verifying key.
    pub signing: [u8; 32],
    /// X25519 public key.
    pub encryption: [u8; 32],
}

impl PublicKeys {
    /// Refuses keys that are unusable or weak: a signing key off the curve or of small order, an
    /// encryption key of small order (agreement with it yields a secret anyone can compute).
    ///
    /// Call this when keys arrive from outside (enrolment), before wrapping data keys for them.
    pub fn check(&self) -> Result<(), VaultError> {
        let signing =
            VerifyingKey::from_bytes(&self.signing).map_err(|_| VaultError::InvalidKey)?;
        if signing.is_weak() {
            return Err(VaultError::InvalidKey);
        }
        // Clamping multiplies by the cofactor, so any clamped scalar maps a small-order point to
        // zero; an arbitrary fixed scalar is enough to detect one.
        if x25519_dalek::x25519([1; 32], self.encryption) == [0; 32] {
            return Err(VaultError::InvalidKey);
        }
        Ok(())
    }
}

/// An actor's secret keys. Zeroized on drop; `Debug` shows only the public halves.
pub struct ActorKeys {
    signing: SigningKey,
    encryption: StaticSecret,
}

impl std::fmt::Debug for ActorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorKeys")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl ActorKeys {
    /// Keys from 64 random bytes: the first 32 seed Ed25519, the last 32 are the X25519 secret.
    pub fn from_seed(seed: [u8; 64]) -> ActorKeys {
        let seed = Zeroizing::new(seed);
        let mut signing = Zeroizing::new([0u8; 32]);
        let mut encryption = Zeroizing::new([0u8; 32]);
        signing.copy_from_slice(&seed[..32]);
        encryption.copy_from_slice(&seed[32..]);
        ActorKeys {
            signing: SigningKey::from_bytes(&signing),
            encryption: StaticSecret::from(*encryption),
        }
    }

    /// The 64 secret bytes `from_seed` takes (for sealing in a key store or making a copy).
    pub fn seed(&self) -> Zeroizing<[u8; 64]> {
        let mut seed = Zeroizing::new([0u8; 64]);
        seed[..32].copy_from_slice(self.signing.as_bytes());
        seed[32..].copy_from_slice(self.encryption.as_bytes());
        seed
    }

    /// The public halves.
    pub fn public(&self) -> PublicKeys {
        PublicKeys {
            signing: self.signing.verifying_key().to_bytes(),
            encryption: PublicKey::from(&self.encryption).to_bytes(),
        }
    }

    /// The Ed25519 signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs a message with Ed25519.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The raw X25519 shared secret with another public key; the caller zeroizes what it keeps.
    ///
    /// A small-order `their_public` gives all zeros; [`PublicKeys::check`] refuses such keys.
    pub fn agree(&self, their_public: &[u8; 32]) -> [u8; 32] {
        // `SharedSecret` zeroizes itself on drop; only the returned copy leaves.
        self.encryption
            .diffie_hellman(&PublicKey::from(*their_public))
            .to_bytes()
    }
}

/// Checks an Ed25519 signature (strict: no malleable signatures, no small-order keys).
pub fn verify_signature(
    signing_public: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), VaultError> {
    Verifier::new(signing_public)?.verify(message, signature)
}

/// A public signing key decoded once, for checking many signatures by the same signer (decoding
/// a key costs about a fifth of a check). Checks exactly as [`verify_signature`] does.
#[derive(Clone, Debug)]
pub struct Verifier(VerifyingKey);

impl Verifier {
    /// Decodes a public signing key.
    pub fn new(signing_public: &[u8; 32]) -> Result<Verifier, VaultError> {
        VerifyingKey::from_bytes(signing_public)
            .map(Verifier)
            .map_err(|_| VaultError::InvalidKey)
    }

    /// Checks an Ed25519 signature (strict: no malleable signatures, no small-order keys).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), VaultError> {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| VaultError::InvalidKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn signatures_verify_and_a_flipped_bit_fails() {
        let keys = ActorKeys::from_seed([3; 64]);
        let sig = keys.sign(b"chart entry");
        verify_signature(&keys.public().signing, b"chart entry", &sig).unwrap();
        assert!(verify_signature(&keys.public().signing, b"chart entrY", &sig).is_err());
        for byte in 0..64 {
            let mut bad = sig;
            bad[byte] ^= 1;
            assert_eq!(
                verify_signature(&keys.public().signing, b"chart entry", &bad),
                Err(VaultError::InvalidKey)
            );
        }
        let other = ActorKeys::from_seed([4; 64]);
        assert!(verify_signature(&other.public().signing, b"chart entry", &sig).is_err());
        assert!(verify_signature(&[0xff; 32], b"chart entry", &sig).is_err());
    }

    #[test]
    fn seeds_round_trip_and_debug_hides_secrets() {
        let seed: [u8; 64] = std::array::from_fn(|i| i as u8 * 3 + 1);
        let keys = ActorKeys::from_seed(seed);
        assert_eq!(ActorKeys::from_seed(*keys.seed()).public(), keys.public());
        assert_eq!(*keys.seed(), seed);
        assert_eq!(
            keys.signing_key().verifying_key().to_bytes(),
            keys.public().signing
        );
        let shown = format!("{keys:?}");
        for half in [&seed[..4], &seed[32..36]] {
            let bytes = format!("{half:?}");
            assert!(!shown.contains(bytes.trim_matches(['[', ']'])), "{shown}");
        }
    }

    #[test]
    fn the_two_halves_of_the_seed_are_independent_keys() {
        let mut seed = [9; 64];
        let a = ActorKeys::from_seed(seed).public();
        seed[40] = 0;
        let b = ActorKeys::from_seed(seed).public();
        assert_eq!(a.signing, b.signing);
        assert_ne!(a.encryption, b.encryption);
    }

    #[test]
    fn agreement_is_symmetric() {
        let a = ActorKeys::from_seed([1; 64]);
        let b = ActorKeys::from_seed([2; 64]);
        assert_eq!(
            a.agree(&b.public().encryption),
            b.agree(&a.public().encryption)
        );
        assert_ne!(a.agree(&b.public().encryption), [0; 32]);
    }

    #[test]
    fn weak_public_keys_are_refused() {
        let real = ActorKeys::from_seed([1; 64]).public();
        assert_eq!(real.check(), Ok(()));
        let zero_encryption = PublicKeys {
            encryption: [0; 32],
            ..real
        };
        assert_eq!(zero_encryption.check(), Err(VaultError::InvalidKey));
        let mut identity = [0; 32];
        identity[0] = 1;
        let identity_signing = PublicKeys {
            signing: identity,
            ..real
        };
        assert_eq!(identity_signing.check(), Err(VaultError::InvalidKey));
        assert_eq!(ActorKeys::from_seed([1; 64]).agree(&[0; 32]), [0; 32]);
    }

    #[test]
    fn public_keys_round_trip_through_postcard() {
        let public = ActorKeys::from_seed([7; 64]).public();
        let bytes = postcard::to_stdvec(&public).unwrap();
        assert_eq!(postcard::from_bytes::<PublicKeys>(&bytes).unwrap(), public);
    }

    proptest! {
        #[test]
        fn signing_round_trips_for_any_message(
            seed in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&seed);
            let keys = ActorKeys::from_seed(full);
            let sig = keys.sign(&message);
            prop_assert_eq!(verify_signature(&keys.public().signing, &message, &sig), Ok(()));
        }

        #[test]
        fn verifying_arbitrary_bytes_never_panics(
            key in any::<[u8; 32]>(),
            sig in proptest::collection::vec(any::<u8>(), 64),
            message in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let sig: [u8; 64] = sig.try_into().unwrap();
            prop_assert!(verify_signature(&key, &message, &sig).is_err());
            let _ = PublicKeys { signing: key, encryption: key }.check();
        }
    }
}
