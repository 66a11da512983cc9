//! Finding patients at the front desk: a search by name and birth date over the patients whose
//! demographics this clinic can open, and the duplicate check before a registration.
//!
//! The index (`carelog_store`'s `patient_index`, FTS5 inside the encrypted database) is derived
//! from the ledger: before a search it is brought up to date with every patient whose latest
//! demographics entry differs from its row, and skipped when the state hash has not changed
//! since the last time.

use carelog_chart::EntryKind;
use carelog_ledger::{Action, ActorId, authorize};
use carelog_store::IndexedPatient;
use serde::Serialize;

use crate::error::Result;
use crate::{Node, Session, card};

/// The setting holding the state hash the patient index was last brought up to date at.
const INDEXED_AT: &str = "patient_index_state";

/// A patient as the front desk finds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundPatient {
    /// The patient id.
    pub patient_id: String,
    /// Full name.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `female`, `male` or `other`.
    pub sex: String,
    /// The number printed on their card.
    pub card_number: String,
}

impl From<IndexedPatient> for FoundPatient {
    fn from(p: IndexedPatient) -> FoundPatient {
        let id = ActorId(p.patient);
        FoundPatient {
            patient_id: id.to_string(),
            name: p.name,
            birth_date: p.birth_date,
            sex: p.sex,
            card_number: card::card_number(&id),
        }
    }
}

impl Node {
    /// Patients whose names this clinic may read, best match first: every word of `name` starts
    /// a part of the name (accents and case ignored), born on `birth_date` if given. For the
    /// clinic's staff.
    pub fn find_patients(
        &mut self,
        session: &Session,
        name: &str,
        birth_date: Option<&str>,
    ) -> Result<Vec<FoundPatient>> {
        authorize(
            self.ledger.state(),
            session.user,
            &Action::FindPatients {
                clinic: self.clinic,
            },
            None,
            self.clock(),
        )?;
        let birth_date = birth_date.map(check_date).transpose()?;
        if let Some(patient) = self.exact_patient(name)? {
            return Ok(self.identity_row(patient).into_iter().collect());
        }
        self.refresh_patient_index()?;
        Ok(self
            .store
            .find_patients(name, birth_date.as_deref())?
            .into_iter()
            .map(FoundPatient::from)
            .collect())
    }

    /// Patients already registered who may be the person about to be registered: the same
    /// birth date and a similar name (the words of one are all in the other, accents and case
    /// ignored), among the patients this clinic can open.
    pub fn possible_duplicates(
        &mut self,
        admin: &Session,
        name: &str,
        birth_date: &str,
    ) -> Result<Vec<FoundPatient>> {
        authorize(
            self.ledger.state(),
            admin.user,
            &Action::FindPatients {
                clinic: self.clinic,
            },
            None,
            self.clock(),
        )?;
        let birth_date = check_date(birth_date)?;
        self.refresh_patient_index()?;
        let wanted = words(name);
        Ok(self
            .store
            .find_patients("", Some(&birth_date))?
            .into_iter()
            .filter(|p| {
                let theirs = words(&p.name);
                let (small, large) = if wanted.len() <= theirs.len() {
                    (&wanted, &theirs)
                } else {
                    (&theirs, &wanted)
                };
                !small.is_empty() && small.iter().all(|w| large.contains(w))
            })
            .map(FoundPatient::from)
            .collect())
    }

    /// A patient named by id or card number, when that is what was typed.
    fn exact_patient(&self, text: &str) -> Result<Option<ActorId>> {
        let typed = text.trim();
        let looks_like_id = typed.len() == 32 && typed.chars().all(|c| c.is_ascii_hexdigit());
        if card::parse_card_number(typed).is_none() && !looks_like_id {
            return Ok(None);
        }
        Ok(self.resolve_patient(typed).ok())
    }

    /// A patient's row as this clinic can open it.
    fn identity_row(&self, patient: ActorId) -> Option<FoundPatient> {
        let identity = self.identity_here(patient)?;
        Some(FoundPatient {
            patient_id: patient.to_string(),
            name: identity.name,
            birth_date: identity.birth_date.to_string(),
            sex: identity.sex,
            card_number: card::card_number(&patient),
        })
    }

    /// Brings the patient index up to date with the ledger: every patient whose latest
    /// demographics entry this clinic can open and whose row was made from another.
    pub(crate) fn refresh_patient_index(&mut self) -> Result<usize> {
        let state_hash = self.ledger.state_hash();
        if self.store.setting(INDEXED_AT)?.as_deref() == Some(&state_hash.0[..]) {
            return Ok(0);
        }
        let indexed: std::collections::HashMap<[u8; 16], [u8; 32]> =
            self.store.indexed_entries()?.into_iter().collect();
        let state = self.ledger.state();
        let mut rows = Vec::new();
        for (patient, file) in state.patients.iter() {
            let Some(entry) = file
                .entries()
                .iter()
                .rev()
                .find(|e| e.kind == EntryKind::Demographics)
            else {
                continue;
            };
            if indexed.get(&patient.0) == Some(&entry.id.0) {
                continue;
            }
            if let Some(identity) = self.identity_here(*patient) {
                rows.push(IndexedPatient {
                    patient: patient.0,
                    entry: entry.id.0,
                    name: identity.name,
                    birth_date: identity.birth_date.to_string(),
                    sex: identity.sex,
                });
            }
        }
        let added = rows.len();
        self.store.write(|w| {
            for row in &rows {
                w.index_patient(row)?;
            }
            w.set_setting(INDEXED_AT, &state_hash.0)?;
            Ok::<_, crate::NodeError>(())
        })?;
        if added > 0 {
            tracing::info!(patients = added, "patient index brought up to date");
        }
        Ok(added)
    }
}

/// A date as `YYYY-MM-DD`, or the error that says how to write it.
fn check_date(text: &str) -> Result<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format)
        .map(|d| d.to_string())
        .map_err(|_| {
            crate::NodeError::invalid(format!(
                "`{}` is not a date; write it as YYYY-MM-DD",
                text.trim()
            ))
        })
}

/// The words of a name as a search compares them: lower case, accents taken off.
pub(crate) fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Lower case without the accents of the Latin letters (`Ålvarez-Núñez` → `alvarez-nunez`);
/// other letters are kept as they are, lower-cased.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars().flat_map(char::to_lowercase) {
        let plain = match ch {
            'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ĥ' | 'ħ' => "h",
            'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'ĵ' => "j",
            'ķ' => "k",
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ŗ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
            'ß' => "ss",
            'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
            'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'ŵ' => "w",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'þ' => "th",
            // Combining marks (a name typed in decomposed form).
            '\u{300}'..='\u{36f}' => "",
            other => {
                out.push(other);
                continue;
            }
        };
        out.push_str(plain);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_to_plain_lower_case_words() {
        assert_eq!(fold("Zoë Ålvarez-Núñez"), "zoe alvarez-nunez");
        assert_eq!(fold("Zoe\u{308}"), "zoe");
        assert_eq!(fold("Łukasz Øster ßtraße"), "lukasz oster sstrasse");
        assert_eq!(words("  Jean-Luc  O'Brien "), ["jean", "luc", "o", "brien"]);
        assert_eq!(fold("Иван"), "иван");
    }

    #[test]
    fn dates_are_read_as_year_month_day() {
        assert_eq!(check_date(" 1980-02-29 ").unwrap(), "1980-02-29");
        for bad in ["1981-02-29", "29/02/1980", "", "1980-2-29x"] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
    }
}
