//! PouchDB, the usual offline-first database, replicating the same number of chart documents
//! between two local databases; run with Node.js from `crates/bench/pouchdb` (`replicate.js`).
//!
//! The comparison is generous to PouchDB: its documents are plain JSON, unsigned and unencrypted,
//! and both databases live in one process with no network between them, while Carelog's records
//! are sealed, signed, validated and sent over QUIC.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::Error;
use crate::resync::Resync;

/// One size replicated by both.
#[derive(Clone, Debug)]
pub struct Row {
    /// Chart documents.
    pub records: usize,
    /// PouchDB's replication time.
    pub pouchdb_ms: f64,
    /// Carelog's resync of as many records, if it ran that size.
    pub carelog_ms: Option<f64>,
}

/// PouchDB beside Carelog.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The PouchDB version that ran.
    pub version: String,
    /// One row per size.
    pub rows: Vec<Row>,
}

/// Runs `replicate.js` for 1,000 documents (and 10,000 unless quick) and pairs each with the
/// Carelog resync of the same number of records.
pub fn compare(dir: &Path, resyncs: &[Resync], quick: bool) -> Result<Comparison, Error> {
    let sizes: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000] };
    let mut rows = Vec::new();
    let mut version = String::new();
    for &n in sizes {
        eprintln!("PouchDB replication of {n} chart documents");
        let out = Command::new("node")
            .arg("replicate.js")
            .arg(n.to_string())
            .current_dir(dir)
            .output()
            .map_err(|e| format!("could not run node (Node.js) in {}: {e}", dir.display()))?;
        if !out.status.success() {
            return Err(format!(
                "replicate.js failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let result: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("replicate.js printed no JSON result: {e}"))?;
        let ms = result["ms"].as_f64().ok_or("replicate.js gave no `ms`")?;
        let copied = result["docs_written"].as_u64().unwrap_or(0) as usize;
        if copied != n {
            return Err(format!("PouchDB replicated {copied} of {n} documents").into());
        }
        version = result["pouchdb"].as_str().unwrap_or("?").to_string();
        rows.push(Row {
            records: n,
            pouchdb_ms: ms,
            carelog_ms: resyncs.iter().find(|r| r.records == n).map(Resync::ms),
        });
    }
    Ok(Comparison { version, rows })
}

impl Comparison {
    /// The printed table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\nPouchDB {} replicating chart documents between two local databases, against \
             Carelog's resync over QUIC",
            self.version
        );
        let _ = writeln!(
            t,
            "{:>8} | {:>11} {:>11} {:>12}",
            "records", "PouchDB ms", "Carelog ms", "PouchDB/ours"
        );
        for r in &self.rows {
            let _ = writeln!(
                t,
                "{:>8} | {:>11.1} {:>11} {:>12}",
                r.records,
                r.pouchdb_ms,
                r.carelog_ms.map_or("—".into(), |c| format!("{c:.1}")),
                r.carelog_ms
                    .map_or("—".into(), |c| format!("{:.1}x", r.pouchdb_ms / c)),
            );
        }
        t
    }

    /// For `report.json`.
    pub fn json(&self) -> Value {
        json!({
            "version": self.version,
            "rows": self.rows.iter().map(|r| json!({
                "records": r.records,
                "pouchdb_ms": r.pouchdb_ms,
                "carelog_ms": r.carelog_ms,
                "times_better": r.carelog_ms.map(|c| r.pouchdb_ms / c),
            })).collect::<Vec<_>>(),
        })
    }
}
