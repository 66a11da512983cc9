// PouchDB peer for carelog-bench (run by `cargo xtask bench`; see crates/bench/src/pouchdb.rs).
//
// Usage: node replicate.js N
// Writes N chart documents (one vitals entry each, for one patient) into a local LevelDB-backed
// database, then times PouchDB.replicate() into a second, empty local database, and prints one
// JSON line: {"records", "ms", "docs_written", "pouchdb"}. Only the replication is timed, as
// Carelog's resync is.

'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const PouchDB = require('pouchdb');

async function main() {
  const n = Number.parseInt(process.argv[2] || '1000', 10);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error('usage: node replicate.js N (a positive number of documents)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carelog-pouchdb-'));
  try {
    const north = new PouchDB(path.join(dir, 'north'));
    const south = new PouchDB(path.join(dir, 'south'));
    for (let first = 0; first < n; first += 500) {
      const docs = [];
      for (let i = first; i < Math.min(n, first + 500); i++) {
        docs.push({
          _id: `entry-${String(i).padStart(6, '0')}`,
          patient: 'bench-patient',
          kind: 'vitals',
          author: 'Dr Bench',
          time_ms: Date.now(),
          data: { systolic: 110 + (i % 40), diastolic: 70 + (i % 20) },
        });
      }
      await north.bulkDocs(docs);
    }
    const started = process.hrtime.bigint();
    const result = await PouchDB.replicate(north, south);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    await north.close();
    await south.close();
    console.log(JSON.stringify({
      records: n,
      ms,
      docs_written: result.docs_written,
      pouchdb: PouchDB.version,
    }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error((e && e.stack) || String(e));
  process.exit(1);
});
