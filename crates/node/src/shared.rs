//! One node shared by many sessions at once, with group commit.
//!
//! Each chart write must reach the disk before its caller hears its entry id, and on an ordinary
//! disk that flush, not the cryptography, is what a write costs. [`SharedNode`] makes every
//! session's chart entry or audited read wait in one queue; a single writer thread takes all that
//! queued up while the previous block was being flushed, seals them into one block and commits it
//! in one SQLite transaction (one flush), then answers each caller. Under load a block carries
//! many writes; a lone caller still gets a block of its own at once.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(node: carelog_node::Node, doctor: carelog_ledger::ActorId, patient: carelog_ledger::ActorId) -> carelog_node::Result<()> {
//! let shared = Arc::new(carelog_node::SharedNode::new(node));
//! let doc = Arc::new(shared.with_node(|n| n.unlock(doctor, "passphrase"))?);
//! let id = shared.add_entry(&doc, patient, "vitals", r#"{"heart_rate":72}"#, None)?;
//! # Ok(()) }
//! ```

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use carelog_ledger::{ActorId, TxId};

use crate::OwnTx;

use crate::error::{NodeError, Result};
use crate::{Node, Session};

/// The most writes sealed into one block; more wait for the next.
const MAX_GROUP: usize = 256;

/// Tells a caller how the commit of its transaction went.
type Finish = Box<dyn FnOnce(Result<()>) + Send>;
/// Builds a caller's transaction against the node's current state; answers the caller itself
/// and yields nothing when the request is refused before any commit.
type Job = Box<dyn FnOnce(&Node) -> Option<(OwnTx, Finish)> + Send>;

/// How many blocks the writer has committed and how many writes they carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Blocks committed (one SQLite transaction each).
    pub blocks: u64,
    /// Chart entries and audited reads in those blocks.
    pub writes: u64,
}

/// A node that many sessions (threads) use at once; chart writes arriving together share a block.
pub struct SharedNode {
    node: Arc<Mutex<Node>>,
    stats: Arc<Mutex<GroupStats>>,
    writer: Writer,
}

/// The writer thread and its queue; dropping it lets the queue drain, then joins the thread.
struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for SharedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedNode")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn stopped() -> NodeError {
    NodeError::Damaged("the node's writer thread has stopped".into())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while the node was held leaves it as its last committed block left it.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedNode {
    /// Shares a node, starting its writer thread.
    pub fn new(node: Node) -> SharedNode {
        let node = Arc::new(Mutex::new(node));
        let stats = Arc::new(Mutex::new(GroupStats::default()));
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = {
            let node = node.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("carelog-writer".into())
                .spawn(move || write_groups(&node, &stats, &queue))
                .expect("the operating system starts a thread")
        };
        SharedNode {
            node,
            stats,
            writer: Writer {
                jobs: Some(jobs),
                thread: Some(thread),
            },
        }
    }

    /// Adds a chart entry, as [`Node::add_entry`] does; returns its id once its block is durable.
    pub fn add_entry(
        &self,
        session: &Arc<Session>,
        patient: ActorId,
        kind: &str,
        data_json: &str,
        amends: Option<&str>,
    ) -> Result<TxId> {
        let writer = session.clone();
        let (kind, data_json) = (kind.to_string(), data_json.to_string());
        let amends = amends.map(str::to_string);
        let refreshes_summary = matches!(kind.trim(), "allergy" | "condition" | "medication");
        let id = self.submit(move |node| {
            let tx = node.entry_for(&writer, patient, &kind, &data_json, amends.as_deref())?;
            let id = tx.id();
            Ok((tx, id))
        })?;
        // The emergency summary follows allergies, problems and medications, as in
        // `Node::add_entry`.
        if refreshes_summary {
            match self.with_node(|node| node.publish_emergency_summary(session, patient)) {
                Ok(_) | Err(crate::NodeError::Denied(_)) => {}
                Err(e) => tracing::warn!(error = %e, "could not publish the emergency summary"),
            }
        }
        Ok(id)
    }

    /// The chart as [`Node::chart`] shows it; returned once the audited read is durable.
    pub fn chart(
        &self,
        session: &Arc<Session>,
        patient: ActorId,
        purpose: &str,
    ) -> Result<serde_json::Value> {
        let session = session.clone();
        let purpose = purpose.to_string();
        self.submit(move |node| {
            let (view, audit) = node.chart_view(&session, patient, &purpose)?;
            Ok((audit, view))
        })
    }

    /// Runs `f` with the node to itself (any other command or query).
    pub fn with_node<T>(&self, f: impl FnOnce(&mut Node) -> T) -> T {
        f(&mut lock(&self.node))
    }

    /// Blocks committed by the writer so far, and the writes they carried.
    pub fn stats(&self) -> GroupStats {
        *lock(&self.stats)
    }

    /// Stops the writer once the queue is empty and gives the node back.
    pub fn into_node(self) -> Node {
        let SharedNode { node, writer, .. } = self;
        drop(writer);
        match Arc::try_unwrap(node) {
            Ok(mutex) => mutex.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(_) => unreachable!("the writer thread, the node's only other owner, has ended"),
        }
    }

    /// Queues a write built by `prepare` and waits until its block is committed.
    fn submit<T: Send + 'static>(
        &self,
        prepare: impl FnOnce(&Node) -> Result<(OwnTx, T)> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = mpsc::sync_channel::<Result<T>>(1);
        let job: Job = Box::new(move |node| match prepare(node) {
            Err(e) => {
                let _ = reply.send(Err(e));
                None
            }
            Ok((tx, value)) => {
                let finish: Finish = Box::new(move |committed| {
                    let _ = reply.send(committed.map(|()| value));
                });
                Some((tx, finish))
            }
        });
        self.writer
            .jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Node {
    /// Commits transactions from many callers in one block: one SQLite transaction, one flush.
    /// If that block is refused, each transaction is checked alone against the replica and the
    /// good ones are committed together, so that a bad one fails only its own caller. Returns
    /// each transaction's outcome and the number of blocks committed.
    fn commit_group(&mut self, txs: Vec<OwnTx>) -> (Vec<Result<()>>, u64) {
        let first = match self.commit(txs.clone(), &[]) {
            Ok(_) => return (txs.iter().map(|_| Ok(())).collect(), 1),
            Err(e) if txs.len() == 1 => return (vec![Err(e)], 0),
            Err(e) => e,
        };
        tracing::debug!(error = %first, txs = txs.len(), "a group block was refused; checking each write alone");
        let mut results: Vec<Result<()>> = txs.iter().map(|tx| self.check_alone(tx)).collect();
        let good: Vec<OwnTx> = txs
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(tx, _)| tx.clone())
            .collect();
        if good.is_empty() {
            return (results, 0);
        }
        match self.commit(good, &[]) {
            Ok(_) => (results, 1),
            Err(e) => {
                // The good ones together still failed (the database, say): all of them fail.
                for result in results.iter_mut().filter(|r| r.is_ok()) {
                    *result = Err(NodeError::Damaged(e.to_string()));
                }
                (results, 0)
            }
        }
    }

    /// Whether a transaction would be taken in a block of its own now (nothing is stored).
    fn check_alone(&self, tx: &OwnTx) -> Result<()> {
        let block = self
            .ledger
            .seal(&self.secrets.node, vec![(**tx).clone()], crate::now_ms());
        self.ledger
            .validate(&block, carelog_ledger::Check::Own)
            .map_err(NodeError::from)
    }
}

/// The writer thread: takes every job queued meanwhile, builds their transactions, seals them
/// into one block, commits it and answers each caller.
fn write_groups(node: &Mutex<Node>, stats: &Mutex<GroupStats>, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut node = lock(node);
        let (txs, finishes): (Vec<OwnTx>, Vec<Finish>) =
            prepare_all(&node, jobs).into_iter().flatten().unzip();
        if txs.is_empty() {
            continue;
        }
        let writes = txs.len() as u64;
        let (results, blocks) = node.commit_group(txs);
        drop(node);
        {
            let mut stats = lock(stats);
            stats.blocks += blocks;
            stats.writes += writes;
        }
        for (finish, result) in finishes.into_iter().zip(results) {
            finish(result);
        }
    }
}

/// Builds every job's transaction against the node, on every core: opening and rendering the
/// charts that reads show is most of a group's work, and it only reads the node.
fn prepare_all(node: &Node, jobs: Vec<Job>) -> Vec<Option<(OwnTx, Finish)>> {
    // A job that panicked dropped its caller's reply: that caller hears the writer stopped, and
    // nothing of it is committed or acknowledged.
    carelog_ledger::cores::map(jobs, |job| job(node))
        .into_iter()
        .map(Option::flatten)
        .collect()
}

#[cfg(test)]
mod tests {
    use carelog_ledger::{Payload, Role};

    use super::*;
    use crate::NewNetwork;

    const PASS: &str = "admin secret";
    const DOC_PASS: &str = "doctor secret";

    /// A clinic with a custodian doctor, a doctor without access, and one patient.
    fn clinic() -> (tempfile::TempDir, Node, Session, Session, ActorId) {
        let dir = tempfile::tempdir().unwrap();
        let (mut node, created) = Node::create_network(
            &dir.path().join("north"),
            &NewNetwork {
                network: "Test District",
                clinic: "North",
                admin: "Ada Admin",
                admin_passphrase: PASS,
                authority_passphrase: crate::tests::AUTHORITY_PASS,
            },
        )
        .unwrap();
        let admin = node.unlock(created.admin_id, PASS).unwrap();
        let doctor = node
            .add_user(&admin, Role::Doctor, "Dr Demo", None, DOC_PASS)
            .unwrap();
        let other = node
            .add_user(&admin, Role::Doctor, "Dr Other", None, DOC_PASS)
            .unwrap();
        let (patient, _) = node
            .register_patient(&admin, "Zelda Quimby", "1980-02-29", "female", "482916")
            .unwrap();
        node.assign(&admin, patient, doctor, true).unwrap();
        let doctor = node.unlock(doctor, DOC_PASS).unwrap();
        let other = node.unlock(other, DOC_PASS).unwrap();
        (dir, node, doctor, other, patient)
    }

    fn vitals(i: usize) -> String {
        format!(r#"{{"heart_rate":{}}}"#, 60 + i)
    }

    fn vitals_shown(view: &serde_json::Value) -> usize {
        view["entries"].as_array().map_or(0, |entries| {
            entries.iter().filter(|e| e["kind"] == "vitals").count()
        })
    }

    #[test]
    fn writes_queued_together_share_one_block_and_survive_a_restart() {
        let (dir, mut node, doc, _, patient) = clinic();
        let blocks = node.stats().unwrap().blocks;
        let txs: Vec<OwnTx> = (0..5)
            .map(|i| {
                node.entry_for(&doc, patient, "vitals", &vitals(i), None)
                    .unwrap()
            })
            .chain([node.chart_view(&doc, patient, "test").unwrap().1])
            .collect();
        let (results, sealed) = node.commit_group(txs);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(sealed, 1);
        assert_eq!(node.stats().unwrap().blocks, blocks + 1);
        drop(node);
        let mut node = Node::open(&dir.path().join("north")).unwrap();
        let view = node.chart(&doc, patient, "test").unwrap();
        assert_eq!(vitals_shown(&view), 5);
        let reads = node.audit(&doc, patient).unwrap();
        assert_eq!(reads.iter().filter(|l| l.action == "read").count(), 2);
    }

    #[test]
    fn a_refused_write_in_a_group_fails_only_its_own_caller() {
        let (_dir, mut node, doc, _, patient) = clinic();
        let stranger = Session {
            user: ActorId([9; 16]),
            keys: crate::home::new_keys(),
            card: None,
            opened: Default::default(),
            read: Default::default(),
        };
        let good = node
            .entry_for(&doc, patient, "vitals", &vitals(1), None)
            .unwrap();
        let forged = node.sign(
            &stranger,
            Payload::AuditRead {
                patient,
                level: carelog_chart::AccessLevel::Full,
                purpose: "x".into(),
            },
        );
        let also_good = node.chart_view(&doc, patient, "test").unwrap().1;
        let (results, sealed) = node.commit_group(vec![good, forged, also_good]);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(results[1].is_err());
        // The two good writes still share one block.
        assert_eq!(sealed, 1);
    }

    #[test]
    fn many_sessions_chart_at_once_and_each_gets_its_own_answer() {
        let (dir, node, doc, other, patient) = clinic();
        let shared = Arc::new(SharedNode::new(node));
        let (doc, other) = (Arc::new(doc), Arc::new(other));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (shared, doc) = (shared.clone(), doc.clone());
                std::thread::spawn(move || {
                    (0..5)
                        .map(|i| {
                            let id = shared.add_entry(&doc, patient, "vitals", &vitals(i), None)?;
                            shared.chart(&doc, patient, "test")?;
                            Ok(id)
                        })
                        .collect::<Result<Vec<TxId>>>()
                        .map_err(|e| format!("session {t}: {e}"))
                })
            })
            .collect();
        let denied = shared.add_entry(&other, patient, "vitals", &vitals(0), None);
        assert!(matches!(denied, Err(NodeError::Denied(_))), "{denied:?}");
        assert!(matches!(
            shared.chart(&other, patient, "test"),
            Err(NodeError::Denied(_))
        ));
        let mut ids = Vec::new();
        for thread in threads {
            ids.extend(thread.join().unwrap().unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
        let stats = shared.stats();
        assert_eq!(stats.writes, 80);
        assert!(stats.blocks >= 1 && stats.blocks <= 80, "{stats:?}");
        let shared = Arc::try_unwrap(shared).unwrap();
        drop(shared.into_node());
        let mut node = Node::open(&dir.path().join("north")).unwrap();
        let view = node.chart(&doc, patient, "test").unwrap();
        assert_eq!(vitals_shown(&view), 40);
    }
}
