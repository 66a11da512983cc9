//! The front desk's patient index: names, birth dates and sexes of the patients whose
//! demographics this clinic can open, searchable by name (SQLite FTS5, `unicode61` with
//! diacritics removed: `zoe` finds `Zoë`, any case, prefixes of each name part).
//!
//! It is derived from sealed chart entries and rebuilt by the node from the ledger whenever it
//! is missing or behind, so losing it loses nothing. Like every table here it lives inside the
//! encrypted database file: a name is never written anywhere in the clear.

use rusqlite::params;

use crate::{Store, StoreError, Writer};

/// A patient as the index holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedPatient {
    /// The patient id.
    pub patient: [u8; 16],
    /// The demographics entry the row was made from.
    pub entry: [u8; 32],
    /// Full name.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `female`, `male` or `other`.
    pub sex: String,
}

/// A patient id and the demographics entry their index row was made from.
pub type IndexedEntry = ([u8; 16], [u8; 32]);

/// The most rows a search returns.
pub const MAX_FOUND: usize = 50;

/// The FTS5 query for what a person typed: every word must start a name part (`"ann"*`),
/// in any order. `None` when nothing searchable was typed.
fn match_expression(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{}\"*", w.replace('"', "")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn row_to_patient(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<u8>, Vec<u8>, IndexedPatient)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        IndexedPatient {
            patient: [0; 16],
            entry: [0; 32],
            name: r.get(2)?,
            birth_date: r.get(3)?,
            sex: r.get(4)?,
        },
    ))
}

impl Store {
    /// Which demographics entry each indexed patient's row was made from.
    pub fn indexed_entries(&self) -> Result<Vec<IndexedEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT patient, entry FROM patient_index")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        rows.map(|row| {
            let (patient, entry) = row?;
            Ok((
                patient
                    .try_into()
                    .map_err(|_| crate::corrupt(&self.path, "a patient index row is damaged"))?,
                entry
                    .try_into()
                    .map_err(|_| crate::corrupt(&self.path, "a patient index row is damaged"))?,
            ))
        })
        .collect()
    }

    /// Patients whose name parts start with the words of `name` (all of them, any order,
    /// accents and case ignored), born on `birth_date` if given; best match first, at most
    /// [`MAX_FOUND`]. With no words, the patients born on `birth_date`.
    pub fn find_patients(
        &self,
        name: &str,
        birth_date: Option<&str>,
    ) -> Result<Vec<IndexedPatient>, StoreError> {
        let conn = self.conn();
        let limit = MAX_FOUND as i64;
        // The best matches' rows first (FTS5's own ranking, which stops at the limit), then
        // their details: the full-text table is never joined row by row.
        let rows: Vec<_> = match (match_expression(name), birth_date) {
            (Some(expr), None) => {
                let mut stmt = conn.prepare_cached(
                    "SELECT i.patient, i.entry, i.name, i.birth_date, i.sex
                     FROM (SELECT rowid AS row, rank FROM patient_names
                           WHERE patient_names MATCH ?1 ORDER BY rank LIMIT ?2) AS best
                     JOIN patient_index i ON i.row = best.row ORDER BY best.rank, i.name",
                )?;
                stmt.query_map(params![expr, limit], row_to_patient)?
                    .collect::<Result<_, _>>()?
            }
            (Some(expr), Some(birth)) => {
                // Few patients share a birth date: those first, then the name among them.
                let mut stmt = conn.prepare_cached(
                    "SELECT i.patient, i.entry, i.name, i.birth_date, i.sex
                     FROM (SELECT rowid AS row, rank FROM patient_names
                           WHERE patient_names MATCH ?1 AND rowid IN
                               (SELECT row FROM patient_index WHERE birth_date = ?2)
                           ORDER BY rank LIMIT ?3) AS best
                     JOIN patient_index i ON i.row = best.row ORDER BY best.rank, i.name",
                )?;
                stmt.query_map(params![expr, birth, limit], row_to_patient)?
                    .collect::<Result<_, _>>()?
            }
            (None, Some(birth)) => {
                let mut stmt = conn.prepare_cached(
                    "SELECT patient, entry, name, birth_date, sex FROM patient_index
                     WHERE birth_date = ?1 ORDER BY name LIMIT ?2",
                )?;
                stmt.query_map(params![birth, limit], row_to_patient)?
                    .collect::<Result<_, _>>()?
            }
            (None, None) => Vec::new(),
        };
        rows.into_iter()
            .map(|(patient, entry, mut found)| {
                let damaged = || crate::corrupt(&self.path, "a patient index row is damaged");
                found.patient = patient.try_into().map_err(|_| damaged())?;
                found.entry = entry.try_into().map_err(|_| damaged())?;
                Ok(found)
            })
            .collect()
    }
}

impl Writer<'_> {
    /// Puts a patient's row in the index, in place of any earlier one.
    pub fn index_patient(&self, patient: &IndexedPatient) -> Result<(), StoreError> {
        self.unindex_patient(&patient.patient)?;
        self.tx.execute(
            "INSERT INTO patient_index (patient, entry, name, birth_date, sex)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                &patient.patient[..],
                &patient.entry[..],
                patient.name,
                patient.birth_date,
                patient.sex
            ],
        )?;
        let row = self.tx.last_insert_rowid();
        self.tx.execute(
            "INSERT INTO patient_names (rowid, name) VALUES (?1, ?2)",
            params![row, patient.name],
        )?;
        Ok(())
    }

    /// Takes a patient out of the index.
    pub fn unindex_patient(&self, patient: &[u8; 16]) -> Result<(), StoreError> {
        self.tx.execute(
            "DELETE FROM patient_names WHERE rowid IN
             (SELECT row FROM patient_index WHERE patient = ?1)",
            params![&patient[..]],
        )?;
        self.tx.execute(
            "DELETE FROM patient_index WHERE patient = ?1",
            params![&patient[..]],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(n: u8, name: &str, birth: &str) -> IndexedPatient {
        IndexedPatient {
            patient: [n; 16],
            entry: [n; 32],
            name: name.into(),
            birth_date: birth.into(),
            sex: "female".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("db"), &[3; 32]).unwrap();
        (dir, store)
    }

    fn names(found: &[IndexedPatient]) -> Vec<&str> {
        found.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn names_are_found_by_prefixes_of_their_parts_whatever_the_accents_and_case() {
        let (_dir, mut store) = store();
        store
            .write(|w| {
                w.index_patient(&patient(1, "Zoë Ålvarez-Núñez", "1980-02-29"))?;
                w.index_patient(&patient(2, "Zoe Alvarez", "1991-01-01"))?;
                w.index_patient(&patient(3, "Bob Builder", "1980-02-29"))
            })
            .unwrap();
        let found = store.find_patients("zoe alv", None).unwrap();
        assert_eq!(found.len(), 2);
        let found = store.find_patients("NUNEZ", None).unwrap();
        assert_eq!(names(&found), ["Zoë Ålvarez-Núñez"]);
        assert_eq!(found[0].patient, [1; 16]);
        assert_eq!(found[0].entry, [1; 32]);
        let found = store
            .find_patients("alvarez zoe", Some("1991-01-01"))
            .unwrap();
        assert_eq!(names(&found), ["Zoe Alvarez"]);
        let found = store.find_patients("", Some("1980-02-29")).unwrap();
        assert_eq!(names(&found), ["Bob Builder", "Zoë Ålvarez-Núñez"]);
        assert!(store.find_patients("", None).unwrap().is_empty());
        assert!(store.find_patients("uilder", None).unwrap().is_empty());
        // What a person types is never FTS5 syntax.
        for odd in ["\"", "*", "NEAR(", "a OR b", "-", "zoe\" OR \"bob", "^x"] {
            store.find_patients(odd, None).unwrap();
        }
    }

    #[test]
    fn a_patient_has_one_row_whose_latest_entry_wins() {
        let (_dir, mut store) = store();
        store
            .write(|w| w.index_patient(&patient(1, "Ann Old", "1970-01-01")))
            .unwrap();
        let mut renamed = patient(1, "Ann New", "1970-01-01");
        renamed.entry = [9; 32];
        store.write(|w| w.index_patient(&renamed)).unwrap();
        assert!(store.find_patients("old", None).unwrap().is_empty());
        assert_eq!(
            names(&store.find_patients("new", None).unwrap()),
            ["Ann New"]
        );
        assert_eq!(store.indexed_entries().unwrap(), [([1; 16], [9; 32])]);
        store.write(|w| w.unindex_patient(&[1; 16])).unwrap();
        assert!(store.find_patients("ann", None).unwrap().is_empty());
    }
}
