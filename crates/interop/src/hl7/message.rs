//! An HL7 v2 message split into segments and fields, with delimiters read from its own MSH.
//!
//! Splitting is structural only: values stay escaped until a caller asks for one leaf (a component
//! or subcomponent of one repetition), which is then unescaped.

use super::escape::Delimiters;
use crate::InteropError;

/// One segment: its name, its 1-based position in the message and its raw fields.
#[derive(Debug)]
pub(crate) struct Segment<'a> {
    /// Three-character segment id, e.g. `OBX`.
    pub name: &'a str,
    /// Position in the message, counting from 1 (blank lines not counted).
    pub line: usize,
    /// Raw fields, `fields[n]` being SEG-n (MSH is shifted so this holds for it too).
    fields: Vec<&'a str>,
    /// The message's delimiters.
    delimiters: Delimiters,
}

/// A message: its segments in order, each knowing the delimiters declared in its MSH.
#[derive(Debug)]
pub(crate) struct Message<'a> {
    /// Segments in order; the first is MSH.
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Segment<'a> {
    /// The raw (escaped) text of field `n`; empty when absent.
    pub fn raw(&self, n: usize) -> &'a str {
        self.fields.get(n).copied().unwrap_or("")
    }

    /// The raw repetitions of field `n` (at least one, possibly empty).
    pub fn repetitions(&self, n: usize) -> Vec<&'a str> {
        self.raw(n).split(self.delimiters.repetition).collect()
    }

    /// Component `c` (1-based) of raw repetition `rep`, subcomponents included, unescaped.
    pub fn component_of(&self, rep: &str, c: usize) -> String {
        let raw = rep
            .split(self.delimiters.component)
            .nth(c.saturating_sub(1))
            .unwrap_or("");
        // Subcomponents are kept joined; readers here only use the first or the whole.
        raw.split(self.delimiters.subcomponent)
            .map(|s| self.delimiters.unescape(s))
            .collect::<Vec<_>>()
            .join(&self.delimiters.subcomponent.to_string())
    }

    /// Component `c` of the first repetition of field `n`, unescaped and trimmed.
    pub fn text(&self, n: usize, c: usize) -> String {
        let first = self.raw(n).split(self.delimiters.repetition).next();
        self.component_of(first.unwrap_or(""), c).trim().to_string()
    }

    /// Every repetition of field `n` as plain text (components joined by spaces), unescaped.
    pub fn lines(&self, n: usize) -> Vec<String> {
        self.repetitions(n)
            .into_iter()
            .map(|rep| {
                rep.split(self.delimiters.component)
                    .map(|c| self.delimiters.unescape(c))
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// `name-n`, the location of field `n` in error messages.
    pub fn at(&self, n: usize) -> String {
        format!("{}-{n}", self.name)
    }

    /// An error about field `n` of this segment.
    pub fn error(&self, n: usize, message: impl Into<String>) -> InteropError {
        InteropError::hl7(self.at(n), self.line, message)
    }
}

/// Whether `name` looks like a segment id: an upper-case letter then two upper-case letters or digits.
fn is_segment_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The message's lines: MLLP framing removed (also per message in a batch), CR, LF or CRLF
/// separators, blank lines skipped.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\r', '\n'])
        .map(|line| line.trim_matches(['\u{0b}', '\u{1c}']))
        .filter(|line| !line.trim().is_empty())
}

impl<'a> Message<'a> {
    /// Splits one message; the first segment must be MSH, and file/batch headers are skipped.
    pub fn split(text: &'a str) -> Result<Message<'a>, InteropError> {
        let mut lines = lines(text)
            .filter(|l| {
                !["FHS", "BHS", "BTS", "FTS"]
                    .iter()
                    .any(|h| l.starts_with(h))
            })
            .peekable();
        let Some(header) = lines.next() else {
            return Err(InteropError::hl7(
                "MSH",
                0,
                "the message is empty; an HL7 v2 message starts with an MSH segment",
            ));
        };
        let delimiters = read_header(header)?;
        let mut segments = Vec::new();
        for (i, line) in std::iter::once(header).chain(lines).enumerate() {
            let line_no = i + 1;
            let mut parts: Vec<&str> = line.split(delimiters.field).collect();
            let name = parts[0].trim();
            if !is_segment_name(name) {
                let shown: String = line.chars().take(20).collect();
                return Err(InteropError::hl7(
                    "segment",
                    line_no,
                    format!("`{shown}` does not start with a segment name such as OBX"),
                ));
            }
            parts[0] = name;
            if name == "MSH" {
                // MSH-1 is the field separator itself, so MSH-n sits at index n-1: shift by one.
                parts.insert(1, "");
            }
            segments.push(Segment {
                name,
                line: line_no,
                fields: parts,
                delimiters,
            });
        }
        Ok(Message { segments })
    }
}

/// Reads the delimiters from an MSH line, explaining what is wrong with a bad one.
fn read_header(header: &str) -> Result<Delimiters, InteropError> {
    let bad = |field: &str, message: String| InteropError::hl7(field, 1, message);
    if !header.starts_with("MSH") {
        let shown: String = header.chars().take(20).collect();
        return Err(bad(
            "MSH",
            format!("the message starts with `{shown}`; an HL7 v2 message starts with MSH"),
        ));
    }
    let mut chars = header[3..].chars();
    let Some(field) = chars.next() else {
        return Err(bad("MSH-1", "missing field separator".into()));
    };
    let encoding: String = chars.take_while(|&c| c != field).collect();
    Delimiters::from_header(field, &encoding).ok_or_else(|| {
        bad(
            "MSH-2",
            format!(
                "`{encoding}` are not four distinct encoding characters such as ^~\\&, with `{field}` as field separator"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_components_and_escapes() {
        let text = "MSH|^~\\&|LAB|North\\T\\South|||20260110||ORU^R01|1|P|2.5\r\
                    PID|1||P1^^^H&1.2&ISO^MR~P2||Doe^Jane\n\
                    OBX|1|NM|2345-7^Gluc\\S\\ose^LN||5.4";
        let m = Message::split(text).unwrap();
        assert_eq!(m.segments.len(), 3);
        let msh = &m.segments[0];
        assert_eq!(msh.raw(2), "^~\\&");
        assert_eq!(msh.text(3, 1), "LAB");
        assert_eq!(msh.text(4, 1), "North&South");
        assert_eq!(msh.text(9, 2), "R01");
        let pid = &m.segments[1];
        assert_eq!(pid.text(3, 1), "P1");
        assert_eq!(pid.text(3, 4), "H&1.2&ISO");
        assert_eq!(pid.repetitions(3).len(), 2);
        assert_eq!(pid.text(99, 1), "");
        let obx = &m.segments[2];
        assert_eq!(obx.text(3, 2), "Gluc^ose");
        assert_eq!(obx.line, 3);
        assert_eq!(obx.at(5), "OBX-5");
    }

    #[test]
    fn bad_headers_name_the_field() {
        let err = |t: &str| Message::split(t).unwrap_err().to_string();
        assert!(err("").starts_with("MSH: the message is empty"));
        assert!(err("PID|1").starts_with("MSH: the message starts with `PID|1`"));
        assert!(err("MSH").starts_with("MSH-1"));
        assert!(err("MSH|^^\\&|x").starts_with("MSH-2"));
        assert!(err("MSH|^~\\&|x\robx|1").starts_with("segment: `obx|1`"));
    }

    #[test]
    fn framing_and_separators_are_tolerated() {
        let text = "\u{0b}MSH|^~\\&|A\r\n\r\nPID|1\r\n\u{1c}\r";
        let m = Message::split(text).unwrap();
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.segments[1].line, 2);
    }
}
