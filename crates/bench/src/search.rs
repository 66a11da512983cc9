//! The front desk's patient search on a clinic of 50,000 patients: the encrypted database's
//! FTS5 name index, filled with synthetic names (accented and plain), searched the way a
//! receptionist types (the start of a first or last name, sometimes two, sometimes with the
//! birth date). Carelog's own target is a p99 under 50 ms; nothing here checks it.

use std::time::Instant;

use carelog_store::{IndexedPatient, Store};
use serde_json::{Value, json};

use crate::measure::Latencies;

/// The target for one search's p99.
pub const TARGET_P99_MS: f64 = 50.0;

const FIRST: [&str; 24] = [
    "Zoë",
    "Anna",
    "José",
    "Ingrid",
    "Łukasz",
    "Mária",
    "Noah",
    "Chloé",
    "Mohammed",
    "Siobhán",
    "Ana",
    "Björn",
    "François",
    "Emma",
    "Liam",
    "Olivia",
    "Yusuf",
    "Ayşe",
    "Hannah",
    "Jonas",
    "Sofía",
    "Mateo",
    "Élise",
    "Oskar",
];
const LAST: [&str; 24] = [
    "Ålvarez",
    "Núñez",
    "Smith",
    "Kowalski",
    "Müller",
    "García",
    "Dubois",
    "O'Brien",
    "Nguyen",
    "Jensen",
    "Rossi",
    "Novák",
    "Petrović",
    "Yılmaz",
    "Andersson",
    "Martin",
    "López",
    "Fischer",
    "Horváth",
    "Costa",
    "Wójcik",
    "Lefèvre",
    "Brennan",
    "Schäfer",
];

/// One run of searches.
pub struct Search {
    /// Patients in the index.
    pub patients: usize,
    /// Time to fill the index, seconds.
    pub fill_s: f64,
    /// One search each.
    pub searches: Latencies,
    /// Rows the searches returned, in all.
    pub rows: usize,
}

/// A small deterministic generator (xorshift), so every run searches the same names.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

fn birth_date(draw: &mut Draw) -> String {
    let n = draw.next();
    format!(
        "{}-{:02}-{:02}",
        1930 + n % 90,
        1 + (n >> 8) % 12,
        1 + (n >> 16) % 28
    )
}

/// The first `n` letters of a name part, as someone would type them (no accents).
fn typed(word: &str, n: usize) -> String {
    word.chars()
        .take(n)
        .map(|c| match c {
            'Å' => 'A',
            'Ł' => 'L',
            'É' => 'E',
            'é' | 'ë' | 'è' => 'e',
            'á' | 'å' => 'a',
            'ó' | 'ö' => 'o',
            'ü' | 'ú' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            'ı' => 'i',
            other => other,
        })
        .collect::<String>()
        .to_lowercase()
}

/// Fills an encrypted store with `patients` names, then times `searches` searches.
pub fn measure(
    dir: &std::path::Path,
    patients: usize,
    searches: usize,
) -> Result<Search, crate::Error> {
    let mut store = Store::create(&dir.join("search.sqlite3"), &[0x5e; 32])?;
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let mut n = 0usize;
    while n < patients {
        let batch = (patients - n).min(5_000);
        let rows: Vec<IndexedPatient> = (n..n + batch)
            .map(|i| {
                let mut patient = [0u8; 16];
                patient[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let name = format!(
                    "{} {} {}",
                    draw.pick(&FIRST),
                    draw.pick(&FIRST),
                    draw.pick(&LAST)
                );
                IndexedPatient {
                    patient,
                    entry: [1; 32],
                    name,
                    birth_date: birth_date(&mut draw),
                    sex: ["female", "male", "other"][i % 3].to_string(),
                }
            })
            .collect();
        store.write(|w| rows.iter().try_for_each(|row| w.index_patient(row)))?;
        n += batch;
    }
    let fill_s = started.elapsed().as_secs_f64();

    let mut latencies = Latencies::default();
    let mut rows = 0;
    for i in 0..searches {
        let first = draw.pick(&FIRST);
        let last = draw.pick(&LAST);
        let (name, birth) = match i % 4 {
            0 => (typed(last, 3), None),
            1 => (format!("{} {}", typed(first, 2), typed(last, 4)), None),
            2 => (typed(first, 3), Some(birth_date(&mut draw))),
            _ => (format!("{} {}", typed(last, 5), typed(first, 1)), None),
        };
        let t = Instant::now();
        let found = store.find_patients(&name, birth.as_deref())?;
        latencies.0.push(t.elapsed());
        rows += found.len();
    }
    Ok(Search {
        patients,
        fill_s,
        searches: latencies,
        rows,
    })
}

impl Search {
    /// The report's rows.
    pub fn table(&self) -> String {
        format!(
            "\nPatient search (front desk) over {} patients, {} searches\n  \
             p50 {:.2} ms  p99 {:.2} ms  (target p99 < {TARGET_P99_MS:.0} ms)  index filled in {:.1} s\n",
            self.patients,
            self.searches.0.len(),
            self.searches.percentile(50.0),
            self.searches.percentile(99.0),
            self.fill_s
        )
    }

    /// For `report.json`.
    pub fn json(&self) -> Value {
        json!({
            "patients": self.patients,
            "fill_s": self.fill_s,
            "rows_returned": self.rows,
            "search": self.searches.summary(),
            "target_p99_ms": TARGET_P99_MS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_index_is_searched_and_timed() {
        let dir = tempfile::tempdir().unwrap();
        let s = measure(dir.path(), 300, 40).unwrap();
        assert_eq!(s.searches.0.len(), 40);
        assert!(s.rows > 0, "the searches find patients");
        assert!(s.table().contains("over 300 patients"));
        assert_eq!(s.json()["patients"], 300);
    }
}
