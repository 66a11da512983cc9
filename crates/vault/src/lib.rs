//! Carelog's cryptography: actor key pairs, passphrase-sealed key stores, and envelope
//! encryption of chart payloads under per-patient data keys wrapped for each reader.
//!
//! Pure: no I/O, no clock, and no randomness of its own — callers pass random bytes in (from
//! `getrandom`), so every operation here is deterministic and testable. Secrets are zeroized on
//! drop and never appear in `Debug` output. Decoders of outside bytes return a [`VaultError`];
//! they do not panic.
//!
//! ```
//! use carelog_vault::{
//!     ActorKeys, DataKey, KdfParams, open, open_keys, seal, seal_keys, unwrap_key,
//!     verify_signature, wrap_key,
//! };
//!
//! // A doctor's keys, sealed under a passphrase for the disk and opened again.
//! let doctor = ActorKeys::from_seed([7; 64]);
//! let stored = seal_keys(&doctor, "correct horse", KdfParams::TEST_ONLY_FAST, [5; 16], [6; 12]);
//! let doctor = open_keys(&stored, "correct horse").unwrap();
//!
//! // A patient's data key, wrapped for the doctor; a chart entry sealed under it.
//! let key = DataKey::from_bytes([1; 32]);
//! let wrapped = wrap_key(&key, &doctor.public().encryption, [2; 32], [3; 12], b"patient 42");
//! let opened = unwrap_key(&wrapped, &doctor, b"patient 42").unwrap();
//! let sealed = seal(&opened, [4; 12], b"BP 128/82", b"entry header");
//! assert_eq!(&open(&key, &sealed, b"entry header").unwrap()[..], b"BP 128/82");
//!
//! // The doctor signs the entry.
//! let signature = doctor.sign(&sealed);
//! assert!(verify_signature(&doctor.public().signing, &sealed, &signature).is_ok());
//! ```

mod envelope;
mod error;
mod keys;
mod keystore;

pub use envelope::{DataKey, WrappedKey, open, seal, unwrap_key, wrap_key};
pub use error::VaultError;
pub use keys::{ActorKeys, PublicKeys, Verifier, verify_signature};
pub use keystore::{
    CardSecret, KdfParams, needs_card, open_keys, open_keys_with_card, open_with_passphrase,
    seal_keys, seal_keys_with_card, seal_with_passphrase,
};
