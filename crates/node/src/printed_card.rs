//! The printable patient card: one A4 page with a card-sized panel to cut out (ISO/IEC 7810
//! ID-1, 85.6 × 54 mm) carrying the patient's name, birth date, card number and the QR code of
//! the card's content ([`crate::Card::content`]).
//!
//! The page is written with the PDF's built-in Helvetica (no font file is embedded), so names
//! are printed in the Windows-1252 character set; a letter outside it prints as `?`. The QR code
//! is drawn as filled squares, which any printer renders sharply.

use carelog_chart::{EntryData, EntryKind};
use carelog_ledger::{Action, ActorId, Role, authorize};
use pdf_writer::{Content, Name, Str};
use qrcode::{Color, EcLevel, QrCode};
use zeroize::Zeroizing;

use crate::card::Card;
use crate::error::{NodeError, Result};
use crate::{Node, Session, keys, patient_file};

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
/// A4, in points.
const PAGE: (f32, f32) = (595.0, 842.0);
/// An ID-1 card, in points.
const CARD: (f32, f32) = (85.6 * MM, 54.0 * MM);

/// What is printed on a patient's card.
pub struct CardFace {
    /// The patient's name.
    pub name: String,
    /// Their birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// The card number, in groups.
    pub card_number: String,
    /// The QR code's content (a secret: it opens the patient's keys with the PIN).
    pub content: Zeroizing<String>,
    /// The network and clinic, printed small.
    pub issued_by: String,
}

impl Node {
    /// What a patient's card shows, for an admin of the clinic of record who holds the patient's
    /// card (its secret is not kept by Carelog, so a card is printed only from the card itself,
    /// at registration or from the patient's old card; a lost card is replaced with new keys).
    pub fn card_face(&self, admin: &Session, patient: ActorId, card: &Card) -> Result<CardFace> {
        let state = self.ledger.state();
        if state.users.get(&admin.user).map(|u| u.role) != Some(Role::Admin) {
            return Err(NodeError::invalid(
                "cards are printed by an admin of the patient's clinic",
            ));
        }
        authorize(
            state,
            admin.user,
            &Action::ViewAudit,
            Some(patient),
            self.clock(),
        )?;
        if card.patient != patient {
            return Err(NodeError::invalid(format!(
                "the card in $CARELOG_CARD belongs to patient {}, not to {patient}",
                card.patient
            )));
        }
        let identity = self.identity_here(patient).ok_or_else(|| {
            NodeError::NoKey(
                "this clinic cannot open the patient's name; print the card at their clinic".into(),
            )
        })?;
        Ok(CardFace {
            name: identity.name,
            birth_date: identity.birth_date.to_string(),
            card_number: card.number(),
            content: card.content(),
            issued_by: format!("{} · {}", self.network_name(), self.clinic_name()),
        })
    }

    /// The patient's demographics as this clinic's own key opens them (the records it keeps),
    /// without a reader's session. `None` where this clinic holds no key for them.
    pub(crate) fn identity_here(&self, patient: ActorId) -> Option<carelog_chart::Demographics> {
        let file = patient_file(self.ledger.state(), &patient).ok()?;
        let entry = file
            .entries()
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::Demographics)?;
        let key_id = file.entry_key(entry)?.id;
        let holders = [(self.sealer, &self.secrets.node)];
        let key = keys::OpenedKeys::default().open_epoch(file, &patient, &key_id, &holders)?;
        let opened = self
            .open_entry(
                &keys::OpenedEntries::default(),
                patient,
                entry,
                &key_id,
                &key,
            )
            .ok()?;
        match opened.record.data {
            EntryData::Demographics(d) => Some(d),
            _ => None,
        }
    }
}

/// The card as a one-page PDF.
pub fn card_pdf(face: &CardFace) -> Result<Vec<u8>> {
    let qr = QrCode::with_error_correction_level(face.content.as_bytes(), EcLevel::M)
        .map_err(|e| NodeError::invalid(format!("the card does not fit a QR code: {e}")))?;
    // The card's panel, near the top left, with a thin cut line around it.
    let (left, top) = (36.0 * MM / 2.0, PAGE.1 - 20.0 * MM);
    let bottom = top - CARD.1;
    let mut c = Content::new();
    c.set_line_width(0.5);
    c.set_stroke_gray(0.5);
    c.rect(left, bottom, CARD.0, CARD.1);
    c.stroke();

    let pad = 4.0 * MM;
    let text = |c: &mut Content, font: &[u8], size: f32, x: f32, y: f32, words: &str| {
        c.begin_text();
        c.set_font(Name(font), size);
        c.next_line(x, y);
        c.show(Str(&win_ansi(words)));
        c.end_text();
    };
    c.set_fill_gray(0.0);
    let x = left + pad;
    text(&mut c, b"F2", 8.0, x, top - pad - 6.0, "PATIENT CARD");
    text(
        &mut c,
        b"F2",
        10.0,
        x,
        top - pad - 20.0,
        &fit(&face.name, 24),
    );
    text(
        &mut c,
        b"F1",
        8.0,
        x,
        top - pad - 32.0,
        &format!("Born {}", face.birth_date),
    );
    text(&mut c, b"F1", 7.0, x, bottom + pad + 30.0, "Card number");
    text(
        &mut c,
        b"F2",
        12.0,
        x,
        bottom + pad + 16.0,
        &face.card_number,
    );
    text(
        &mut c,
        b"F1",
        5.5,
        x,
        bottom + pad,
        &fit(&face.issued_by, 44),
    );

    // The QR code at the right of the card (30 mm: a webcam reads it at arm's length), with
    // its quiet zone inside the panel.
    let size = 30.0 * MM;
    let width = qr.width();
    let module = size / width as f32;
    let (qx, qy) = (left + CARD.0 - pad - size, bottom + (CARD.1 - size) / 2.0);
    for (i, color) in qr.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (col, row) = (i % width, i / width);
            c.rect(
                qx + col as f32 * module,
                qy + size - (row + 1) as f32 * module,
                module,
                module,
            );
        }
    }
    c.fill_nonzero();

    // What to do with it, below the cut line.
    let mut y = bottom - 12.0 * MM;
    for line in [
        "Cut along the line and give the card to the patient.",
        "With the PIN, the card opens the patient's record at any clinic of the network.",
        "Carelog keeps no copy of the QR code: a lost card is replaced, not reprinted.",
    ] {
        text(&mut c, b"F1", 9.0, x, y, line);
        y -= 13.0;
    }
    Ok(crate::printed::a4_pdf(vec![c]))
}

/// Text in the built-in fonts' character set (Windows-1252); other letters print as `?`.
pub(crate) fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|ch| match ch {
            ' '..='~' | '\u{a0}'..='\u{ff}' => ch as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// At most `max` characters, with an ellipsis when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(name: &str) -> CardFace {
        CardFace {
            name: name.into(),
            birth_date: "1980-02-29".into(),
            card_number: "7039 1685 2288 7".into(),
            content: Zeroizing::new(
                "CL1:03FAA4C7B400E440F4C99EFBB5E19B12:E0A711BFA93CB2B2F87BBC2F658C20A2:B52E".into(),
            ),
            issued_by: "District · North".into(),
        }
    }

    #[test]
    fn the_card_is_a_one_page_pdf_with_the_name_and_number() {
        let pdf = card_pdf(&face("Zoë Ålvarez-Núñez")).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"/Count 1"));
        // A string with letters beyond ASCII is written in hex.
        let hex_name = hex::encode_upper(win_ansi("Zoë Ålvarez-Núñez"));
        assert!(
            has(hex_name.as_bytes()) || has(hex_name.to_lowercase().as_bytes()),
            "the name is printed"
        );
        assert!(has(b"7039 1685 2288 7"));
        assert!(has(b"Born 1980-02-29"));
    }

    #[test]
    fn letters_outside_the_fonts_print_as_question_marks_and_long_names_are_cut() {
        assert_eq!(win_ansi("José"), b"Jos\xe9");
        assert_eq!(win_ansi("Łukasz 李"), b"?ukasz ?");
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("a very long name indeed", 10).chars().count(), 10);
    }
}
