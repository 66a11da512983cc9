//! A patient's card: the secret it carries (its QR code) and the number printed on it.
//!
//! This module is the one place that defines both formats; the printable card and the kiosk's
//! QR scanner build on it.
//!
//! # What the QR code holds
//!
//! `CL1:<patient id>:<card secret>:<check>`, upper case so that a QR code can use its compact
//! alphanumeric mode (it is read in any case, and spaces around it are ignored):
//! - `CL1` — the format, version 1;
//! - the patient id, 32 hex digits;
//! - the card secret, 32 hex digits: 128 random bits, made when the card is issued;
//! - the check, 4 hex digits: the first two bytes of BLAKE3 over everything before it (with
//!   its colon), so that a damaged or mistyped card is named as such, not taken for a wrong PIN.
//!
//! The patient's key store opens only with this secret *and* the PIN
//! ([`carelog_vault::seal_keys_with_card`]): a copied database, key-store file or patient
//! bundle offers no way to test PINs without the card. The secret is printed on the card and
//! never stored by Carelog; a new card (a PIN change) makes the old one useless.
//!
//! # The card number
//!
//! Thirteen digits, printed in groups as `1234 5678 9012 3`: the patient id's first eight bytes
//! read as a big-endian number, modulo 10¹², as twelve digits, then a Luhn check digit (which
//! catches any single wrong digit and most swapped neighbours). It is typed with or without
//! spaces or dashes. It names the patient, not the secret: wherever a patient id is accepted,
//! the card number is too. Ids are random, so two patients share a number with a chance of about
//! n²/2·10⁻¹² among n patients (one in two million at a thousand patients); a number that names
//! two patients is refused as ambiguous, and the id still works.

use carelog_ledger::ActorId;
use carelog_vault::CardSecret;
use zeroize::Zeroizing;

use crate::error::{NodeError, Result};

const PREFIX: &str = "CL1";
/// Digits of a card number, the check digit included.
pub const CARD_NUMBER_DIGITS: usize = 13;
const NUMBER_MODULUS: u64 = 1_000_000_000_000;

/// What a patient's card carries: whose it is and the secret that, with the PIN, opens their keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    /// The patient.
    pub patient: ActorId,
    secret: CardSecret,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("patient", &self.patient)
            .finish_non_exhaustive()
    }
}

fn check_of(body: &str) -> String {
    hex::encode_upper(&blake3::hash(body.as_bytes()).as_bytes()[..2])
}

impl Card {
    /// A card for a patient with a secret.
    pub fn new(patient: ActorId, secret: CardSecret) -> Card {
        Card { patient, secret }
    }

    /// A new card with a fresh random secret.
    pub fn issue(patient: ActorId) -> Card {
        Card::new(patient, CardSecret::from_bytes(crate::home::random()))
    }

    /// The secret.
    pub fn secret(&self) -> &CardSecret {
        &self.secret
    }

    /// The QR code's content (see the module documentation). It is a secret: print it on the
    /// card and nowhere else.
    pub fn content(&self) -> Zeroizing<String> {
        let body = Zeroizing::new(format!(
            "{PREFIX}:{}:{}:",
            hex::encode_upper(self.patient.0),
            hex::encode_upper(self.secret.expose())
        ));
        let check = check_of(&body);
        Zeroizing::new(format!("{}{check}", body.as_str()))
    }

    /// Reads a card's QR content; says what is wrong with one that does not read.
    pub fn parse(text: &str) -> Result<Card> {
        let bad = |why: &str| {
            NodeError::invalid(format!(
                "this is not a readable Carelog card ({why}); scan it again, or type its content exactly"
            ))
        };
        let text = Zeroizing::new(text.trim().to_ascii_uppercase());
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, patient, secret, check] = parts.as_slice() else {
            return Err(bad("it should have four parts separated by colons"));
        };
        if *prefix != PREFIX {
            return Err(bad("it does not start with CL1"));
        }
        let body_len = text.len() - check.len();
        if check_of(&text[..body_len]) != *check {
            return Err(bad("its check characters do not match"));
        }
        let mut id = [0u8; 16];
        hex::decode_to_slice(patient, &mut id)
            .map_err(|_| bad("the patient id is not 32 hex digits"))?;
        let mut bytes = Zeroizing::new([0u8; 16]);
        hex::decode_to_slice(secret, bytes.as_mut_slice())
            .map_err(|_| bad("the secret is not 32 hex digits"))?;
        Ok(Card::new(ActorId(id), CardSecret::from_bytes(*bytes)))
    }

    /// The number printed on this card.
    pub fn number(&self) -> String {
        card_number(&self.patient)
    }
}

/// The twelve digits before the check digit, as a number.
fn number_of(patient: &ActorId) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&patient.0[..8]);
    u64::from_be_bytes(first) % NUMBER_MODULUS
}

/// The Luhn check digit of a string of digits.
fn luhn_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A patient's card number, printed in groups: `1234 5678 9012 3`.
pub fn card_number(patient: &ActorId) -> String {
    let body = format!("{:012}", number_of(patient));
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    let check = luhn_digit(&digits);
    format!("{} {} {} {check}", &body[..4], &body[4..8], &body[8..12])
}

/// Reads a typed card number (spaces and dashes ignored). `None` if it is not thirteen digits
/// with a right check digit.
pub fn parse_card_number(text: &str) -> Option<u64> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_digit(10).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() != CARD_NUMBER_DIGITS {
        return None;
    }
    let (body, check) = digits.split_at(CARD_NUMBER_DIGITS - 1);
    if luhn_digit(body) != check[0] {
        return None;
    }
    Some(body.iter().fold(0u64, |n, d| n * 10 + u64::from(*d)))
}

/// Whether a patient carries this card number (as [`parse_card_number`] read it).
pub fn has_number(patient: &ActorId, number: u64) -> bool {
    number_of(patient) == number
}

/// A patient's PIN: at least 6 and at most 12 digits.
pub fn check_pin(pin: &str) -> Result<()> {
    if !(6..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NodeError::invalid(
            "a patient's PIN is 6 to 12 digits (numbers only)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(first: u8) -> ActorId {
        ActorId(std::array::from_fn(|i| first.wrapping_add(i as u8 * 7)))
    }

    #[test]
    fn a_card_reads_back_from_its_qr_content_in_any_case() {
        let card = Card::new(patient(3), CardSecret::from_bytes([0xab; 16]));
        let content = card.content();
        assert!(content.starts_with("CL1:"));
        assert_eq!(content.len(), 3 + 1 + 32 + 1 + 32 + 1 + 4);
        assert!(
            content
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || c == ':'),
            "QR alphanumeric characters only: {}",
            content.as_str()
        );
        assert_eq!(Card::parse(&content).unwrap(), card);
        assert_eq!(Card::parse(&content.to_lowercase()).unwrap(), card);
        assert_eq!(
            Card::parse(&format!("  {}\n", content.as_str())).unwrap(),
            card
        );
        let shown = format!("{card:?}").to_lowercase();
        assert!(
            !shown.contains("abab"),
            "the secret is not printed: {shown}"
        );
    }

    #[test]
    fn a_damaged_card_is_named_not_taken_for_a_wrong_pin() {
        let card = Card::issue(patient(9));
        let content = card.content();
        for i in 4..content.len() {
            if content.as_bytes()[i] == b':' {
                continue;
            }
            let mut bad = content.as_bytes().to_vec();
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            let e = Card::parse(&bad).unwrap_err().to_string();
            assert!(e.contains("not a readable Carelog card"), "{e}");
        }
        for text in ["", "CL1", "CL2:00:00:00", "CL1:zz:zz:zz", "::::", "CL1:::"] {
            assert!(Card::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_card_number_has_thirteen_digits_and_a_check_digit_that_catches_typos() {
        let p = patient(1);
        let number = card_number(&p);
        assert_eq!(number.len(), 16, "{number}");
        let n = parse_card_number(&number).unwrap();
        assert!(has_number(&p, n));
        assert!(!has_number(&patient(2), n));
        assert_eq!(parse_card_number(&number.replace(' ', "-")), Some(n));
        assert_eq!(parse_card_number(&number.replace(' ', "")), Some(n));
        let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
        // Every single wrong digit is caught.
        for i in 0..digits.len() {
            for d in '0'..='9' {
                if d == digits[i] {
                    continue;
                }
                let mut typo = digits.clone();
                typo[i] = d;
                let typo: String = typo.into_iter().collect();
                assert_eq!(parse_card_number(&typo), None, "{typo}");
            }
        }
        for text in [
            "",
            "123",
            "12345678901234",
            "abcd efgh ijkl m",
            "1234 5678 9012",
        ] {
            assert_eq!(parse_card_number(text), None, "{text}");
        }
        // The Luhn digit of a known number.
        assert_eq!(luhn_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
    }

    #[test]
    fn pins_are_six_to_twelve_digits() {
        for good in ["482916", "000000", "123456789012"] {
            assert!(check_pin(good).is_ok(), "{good}");
        }
        for bad in [
            "1234",
            "12345",
            "12345a",
            "pin-2468",
            "1234567890123",
            "",
            "12 3456",
        ] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
    }
}
