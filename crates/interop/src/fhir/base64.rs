//! Base64 (RFC 4648, standard alphabet, padded) for `Attachment.data`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `bytes` as padded standard base64.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of padded, canonical base64 text (ASCII whitespace ignored, as XML Schema's
/// base64Binary allows); `None` when it is not base64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD.decode(symbols).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode("Zm9v\nYmFy").unwrap(), b"foobar");
        // Wrong padding, padding inside, a foreign symbol, and non-canonical trailing bits
        // ("Zh==" would also read as "f").
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*", "=Zm9", "Zh==", "Zm9="] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }

        #[test]
        fn decode_never_panics(text in "[A-Za-z0-9+/= \n]{0,40}") {
            let _ = decode(&text);
        }
    }
}
