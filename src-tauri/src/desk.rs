//! The desk: the one open clinic node and the person signed in at this window.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use carelog_desktop_api::{Failure, FailureKind, HomeInfo};
use carelog_node::{Link, NewNetwork, Node, NodeError, Session};

/// Where this window's clinic listens for other clinics, and whom it dials besides the peers its
/// invite named.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// The sync address (`--listen`); port 0 lets the system choose, which is enough to dial out.
    pub listen: SocketAddr,
    /// Extra peers (`--peer`).
    pub peers: Vec<SocketAddr>,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            listen: ([0, 0, 0, 0], 0).into(),
            peers: Vec::new(),
        }
    }
}

/// The app's state in Tauri: everything behind one lock, so commands run one at a time against
/// the node, as the CLI's commands do.
pub struct Desk {
    inner: Mutex<Inner>,
    config: LinkConfig,
}

struct Inner {
    home: PathBuf,
    node: Option<Node>,
    /// Why an existing home did not open.
    problem: Option<String>,
    session: Option<Session>,
    /// The background sync with other clinics, while a home is open.
    link: Option<Link>,
    /// Why sync is not running, in words.
    link_problem: Option<String>,
    /// Where the join request made in this window was saved.
    join_request: Option<PathBuf>,
}

/// Turns a node error into a sentence for the screen, keeping its kind.
pub fn failure(e: NodeError) -> Failure {
    let kind = match &e {
        NodeError::WrongPassphrase(_) => FailureKind::WrongPassphrase,
        NodeError::Denied(_) => FailureKind::Denied,
        NodeError::Invalid(_) => FailureKind::Invalid,
        NodeError::UnknownUser(_) | NodeError::UnknownPatient(_) | NodeError::UnknownEntry(_) => {
            FailureKind::NotFound
        }
        NodeError::NoHome(_) | NodeError::NotJoined => FailureKind::NoHome,
        _ => FailureKind::Other,
    };
    Failure::new(kind, e.to_string())
}

/// Where the app keeps its own homes, exports and the demo network: the platform's data
/// directory (`~/.local/share/carelog` on Linux).
pub fn data_dir() -> PathBuf {
    carelog_node::data_dir()
}

fn not_open() -> Failure {
    Failure::new(
        FailureKind::NoHome,
        "no clinic home is open; create a network or open the demo network first",
    )
}

fn signed_out() -> Failure {
    Failure::new(FailureKind::SignedOut, "please sign in first")
}

impl Desk {
    /// Opens the node at `home` if it holds one; otherwise the window offers to create one.
    pub fn open(home: PathBuf, config: LinkConfig) -> Desk {
        let (node, problem) = match Node::open(&home) {
            Ok(node) => (Some(node), None),
            Err(NodeError::NoHome(_) | NodeError::NotJoined) => (None, None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(p) = &problem {
            tracing::warn!(home = %home.display(), "the home did not open: {p}");
        }
        Desk {
            inner: Mutex::new(Inner {
                home,
                node,
                problem,
                session: None,
                link: None,
                link_problem: None,
                join_request: None,
            }),
            config,
        }
    }

    /// (Re)starts sync for the open home: the peers its invite named plus `--peer`s. Called once
    /// the async runtime runs, and whenever another home is opened.
    pub fn relink(&self) {
        let mut inner = self.lock();
        self.relink_locked(&mut inner);
    }

    fn relink_locked(&self, inner: &mut Inner) {
        // The old link stops when dropped, before the new one binds the same address.
        inner.link = None;
        inner.link_problem = None;
        let Some(node) = &inner.node else {
            return;
        };
        let mut peers = self.config.peers.clone();
        for text in node.peers().unwrap_or_default() {
            match text.parse::<SocketAddr>() {
                Ok(addr) if !peers.contains(&addr) => peers.push(addr),
                Ok(_) => {}
                Err(_) => tracing::warn!(peer = %text, "a stored peer address does not parse"),
            }
        }
        match Link::start(&inner.home, self.config.listen, peers) {
            Ok(link) => {
                tracing::info!(addr = %link.local_addr(), peers = link.peers().len(), "sync is on");
                inner.link = Some(link);
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync is off");
                inner.link_problem = Some(e.to_string());
            }
        }
    }

    /// Closes the home as the window exits: sync stops, the user is signed out, and the node
    /// closes (saving the ledger's state when much has been applied since the last save, so
    /// the next start opens quickly).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.link = None;
        inner.session = None;
        inner.node = None;
    }

    /// Runs `f` with the open node and the sync link (if sync is on) or why it is off.
    pub fn with_link<T>(
        &self,
        f: impl FnOnce(&mut Node, Result<&Link, &str>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        let Inner {
            node,
            link,
            link_problem,
            ..
        } = &mut *inner;
        let node = node.as_mut().ok_or_else(not_open)?;
        let link = link.as_ref().ok_or_else(|| {
            link_problem
                .as_deref()
                .unwrap_or("sync has not started yet")
        });
        f(node, link)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic inside a command leaves the node as the last committed block left it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which home is open and what it is.
    pub fn info(&self) -> HomeInfo {
        let inner = self.lock();
        info_of(&inner)
    }

    /// Founds a network in the chosen home, when it holds no node yet.
    pub fn create_network(&self, new: &NewNetwork<'_>) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        if inner.node.is_some() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "this window already has a clinic open",
            ));
        }
        let (node, _) = Node::create_network(&inner.home, new).map_err(failure)?;
        inner.node = Some(node);
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(info_of(&inner))
    }

    /// Asks to join a network from an empty home: makes the clinic's and admin's keys and
    /// writes the signed request to `out`, for the health authority.
    pub fn request_join(
        &self,
        clinic: &str,
        admin: &str,
        passphrase: &str,
        out: &Path,
    ) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        if inner.node.is_some() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "this window already has a clinic open",
            ));
        }
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::new(
                    FailureKind::Other,
                    format!("could not create {}: {e}", dir.display()),
                )
            })?;
        }
        Node::request_join(&inner.home, clinic, admin, passphrase, out).map_err(failure)?;
        inner.join_request = Some(out.to_path_buf());
        Ok(info_of(&inner))
    }

    /// Completes a join with the authority's invite; sync with the invite's peers starts at once.
    pub fn join(&self, invite: &[u8]) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        if inner.node.is_some() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "this window already has a clinic open",
            ));
        }
        let node = Node::join(&inner.home, invite).map_err(failure)?;
        inner.node = Some(node);
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(info_of(&inner))
    }

    /// Opens another home (the demo's first clinic), signing out.
    pub fn switch_to(&self, home: &Path) -> Result<HomeInfo, Failure> {
        let node = Node::open(home).map_err(failure)?;
        let mut inner = self.lock();
        inner.home = home.to_path_buf();
        inner.node = Some(node);
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(info_of(&inner))
    }

    /// Runs `f` with the open node.
    pub fn with_node<T>(
        &self,
        f: impl FnOnce(&mut Node) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        let node = inner.node.as_mut().ok_or_else(not_open)?;
        f(node)
    }

    /// Runs `f` with the open node and the signed-in session.
    pub fn with_session<T>(
        &self,
        f: impl FnOnce(&mut Node, &Session) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        let Inner { node, session, .. } = &mut *inner;
        let node = node.as_mut().ok_or_else(not_open)?;
        let session = session.as_ref().ok_or_else(signed_out)?;
        f(node, session)
    }

    /// Signs a user (or patient) in, replacing whoever was signed in.
    pub fn sign_in(&self, session: Session) {
        self.lock().session = Some(session);
    }

    /// Signs out; the keys are dropped (and zeroized by the vault).
    pub fn sign_out(&self) {
        self.lock().session = None;
    }
}

fn info_of(inner: &Inner) -> HomeInfo {
    match &inner.node {
        Some(node) => {
            let state = node.ledger().state();
            HomeInfo {
                home: inner.home.display().to_string(),
                open: true,
                clinic: state
                    .clinics
                    .get(&node.clinic_id())
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                network: state
                    .network
                    .as_ref()
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
                problem: None,
                awaiting_invite: false,
                join_request: None,
            }
        }
        None => HomeInfo {
            home: inner.home.display().to_string(),
            open: false,
            problem: inner.problem.clone(),
            awaiting_invite: matches!(Node::open(&inner.home), Err(NodeError::NotJoined)),
            join_request: inner.join_request.as_ref().map(|p| p.display().to_string()),
            ..HomeInfo::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_home_waits_for_a_network_and_then_opens() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        let desk = Desk::open(home.clone(), LinkConfig::default());
        let info = desk.info();
        assert!(!info.open);
        assert_eq!(info.problem, None);
        assert_eq!(
            desk.with_node(|_| Ok(())).unwrap_err().kind,
            FailureKind::NoHome
        );
        let info = desk
            .create_network(&NewNetwork {
                network: "River",
                clinic: "North",
                admin: "Ada",
                admin_passphrase: "secret",
            })
            .unwrap();
        assert!(info.open);
        assert_eq!(info.clinic, "North");
        assert_eq!(info.network, "River");
        assert_eq!(
            desk.with_session(|_, _| Ok(())).unwrap_err().kind,
            FailureKind::SignedOut
        );
    }

    #[test]
    fn closing_the_window_saves_the_ledgers_state_for_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("large");
        carelog_node::synthetic::build(
            &home,
            &carelog_node::synthetic::Spec {
                transactions: 12_000,
                clinics: 3,
                doctors_per_clinic: 2,
                patients: 100,
                block_size: 256,
                passphrase: "secret",
            },
            &mut |_, _| {},
        )
        .unwrap();
        Node::forget_saved_state(&home).unwrap();
        let desk = Desk::open(home.clone(), LinkConfig::default());
        assert!(desk.info().open);
        desk.close();
        assert!(!desk.info().open);
        assert_eq!(
            desk.with_node(|_| Ok(())).unwrap_err().kind,
            FailureKind::NoHome
        );
        let reopened = Node::open(&home).unwrap();
        assert!(
            reopened.saved_state_txs() > 0,
            "opened from the state saved on closing"
        );
    }
}
