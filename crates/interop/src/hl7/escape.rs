//! HL7 v2 delimiters and escape sequences: `\F\ \S\ \T\ \R\ \E\`, `\Xhh\` and `\.br\`.
//!
//! Every text that goes into a field is escaped, and every text read from one is unescaped *after*
//! the field has been split into repetitions, components and subcomponents, so a delimiter inside a
//! value never changes the structure. `unescape(escape(s)) == s` for every string (property-tested).

/// The five delimiters a message declares in MSH-1 and MSH-2 (`|` and `^~\&` by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiters {
    /// Between fields (MSH-1), `|`.
    pub field: char,
    /// Between components, `^`.
    pub component: char,
    /// Between repetitions of a field, `~`.
    pub repetition: char,
    /// Starts and ends an escape sequence, `\`.
    pub escape: char,
    /// Between subcomponents, `&`.
    pub subcomponent: char,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

impl Delimiters {
    /// The MSH-2 text: component, repetition, escape and subcomponent characters, e.g. `^~\&`.
    pub fn encoding_characters(&self) -> String {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
        .iter()
        .collect()
    }

    /// Reads MSH-1 and MSH-2; `None` unless they are five distinct punctuation characters.
    pub fn from_header(field: char, encoding: &str) -> Option<Delimiters> {
        let mut chars = encoding.chars();
        let d = Delimiters {
            field,
            component: chars.next()?,
            repetition: chars.next()?,
            escape: chars.next()?,
            subcomponent: chars.next()?,
        };
        // HL7 v2.7 adds a fifth (truncation) character; it changes nothing for reading.
        let rest: Vec<char> = chars.collect();
        let all = [d.field, d.component, d.repetition, d.escape, d.subcomponent];
        let distinct = all
            .iter()
            .enumerate()
            .all(|(i, c)| !all[..i].contains(c) && !rest.contains(c));
        let printable = all.iter().chain(&rest).all(|c| c.is_ascii_punctuation());
        (distinct && printable && rest.len() <= 1).then_some(d)
    }

    /// `text` with every delimiter, line break and control character written as an escape sequence.
    pub fn escape(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let e = self.escape;
        for c in text.chars() {
            let code = match c {
                _ if c == self.field => "F",
                _ if c == self.component => "S",
                _ if c == self.subcomponent => "T",
                _ if c == self.repetition => "R",
                _ if c == self.escape => "E",
                '\n' => ".br",
                _ if c.is_control() && u32::from(c) < 0x80 && c != '\t' => {
                    out.push_str(&format!("{e}X{:02X}{e}", u32::from(c)));
                    continue;
                }
                _ => {
                    out.push(c);
                    continue;
                }
            };
            out.push(e);
            out.push_str(code);
            out.push(e);
        }
        out
    }

    /// The text an escaped field value stands for; never fails.
    ///
    /// Delimiter escapes, `\Xhh…\` (UTF-8, else Latin-1 bytes) and the line commands `\.br\`, `\.sp\`
    /// and `\.ce\` become text; highlighting, other formatting commands and character set switches,
    /// which have no plain-text meaning, are dropped. An unknown or unterminated sequence is kept as
    /// written, so a sender's stray backslash loses nothing.
    pub fn unescape(&self, text: &str) -> String {
        let e = self.escape;
        if !text.contains(e) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(e) {
            out.push_str(&rest[..start]);
            let after = &rest[start + e.len_utf8()..];
            let Some(len) = after.find(e) else {
                out.push_str(&rest[start..]);
                return out;
            };
            let sequence = &after[..len];
            match self.sequence(sequence) {
                Some(meaning) => out.push_str(&meaning),
                None => {
                    out.push(e);
                    out.push_str(sequence);
                    out.push(e);
                }
            }
            rest = &after[len + e.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    /// What one escape sequence (without its escape characters) means, if Carelog knows it.
    fn sequence(&self, sequence: &str) -> Option<String> {
        let text = |c: char| Some(c.to_string());
        match sequence {
            "F" => text(self.field),
            "S" => text(self.component),
            "T" => text(self.subcomponent),
            "R" => text(self.repetition),
            "E" => text(self.escape),
            ".br" | ".ce" => text('\n'),
            "H" | "N" | ".fi" | ".nf" => Some(String::new()),
            _ if sequence.starts_with(".sp") => {
                let count = sequence[3..].trim();
                let n: usize = if count.is_empty() {
                    1
                } else {
                    count.parse().ok()?
                };
                Some("\n".repeat(n.min(100)))
            }
            _ if [".in", ".ti", ".sk"]
                .iter()
                .any(|c| sequence.starts_with(c)) =>
            {
                Some(String::new())
            }
            _ if sequence.starts_with('X') => hex_text(&sequence[1..]),
            _ if (sequence.starts_with('C') || sequence.starts_with('M'))
                && sequence.len() > 1
                && sequence[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(String::new())
            }
            _ => None,
        }
    }
}

/// The text of `\Xhh…\` data: UTF-8 when it is valid UTF-8, else one Latin-1 character per byte.
fn hex_text(hex: &str) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delimiters_are_escaped_and_read_back() {
        let d = Delimiters::default();
        let text = "a|b^c&d~e\\f\ng\rh\tµ";
        let escaped = d.escape(text);
        assert_eq!(
            escaped,
            "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X0D\\h\tµ"
        );
        assert_eq!(d.unescape(&escaped), text);
        assert_eq!(d.encoding_characters(), "^~\\&");
    }

    #[test]
    fn senders_sequences_are_understood() {
        let d = Delimiters::default();
        assert_eq!(d.unescape("\\H\\bold\\N\\ text"), "bold text");
        assert_eq!(d.unescape("line\\.sp2\\next"), "line\n\nnext");
        assert_eq!(d.unescape("\\XC3A9\\t\\XE9\\"), "été");
        assert_eq!(d.unescape("C:\\path"), "C:\\path", "unterminated kept");
        assert_eq!(d.unescape("\\Zfoo\\"), "\\Zfoo\\", "unknown kept");
        assert_eq!(d.unescape("\\X0\\"), "\\X0\\", "odd hex kept");
        assert_eq!(d.unescape("\\.in+4\\x\\C2842\\"), "x");
    }

    #[test]
    fn headers_must_name_five_distinct_delimiters() {
        assert_eq!(
            Delimiters::from_header('|', "^~\\&"),
            Some(Delimiters::default())
        );
        assert!(Delimiters::from_header('|', "^~\\&#").is_some());
        assert!(Delimiters::from_header('|', "^~\\").is_none());
        assert!(Delimiters::from_header('|', "^^\\&").is_none());
        assert!(Delimiters::from_header('|', "^~|&").is_none());
        assert!(Delimiters::from_header('|', "abcd").is_none());
    }

    proptest! {
        #[test]
        fn escape_round_trips(text in any::<String>()) {
            let d = Delimiters::default();
            let escaped = d.escape(&text);
            prop_assert!(!escaped.contains(['|', '^', '~', '&', '\r', '\n']));
            prop_assert_eq!(d.unescape(&escaped), text);
        }

        #[test]
        fn unescape_never_panics(text in "[\\\\A-Za-z0-9.|^~& +-]{0,40}") {
            let _ = Delimiters::default().unescape(&text);
        }
    }
}
