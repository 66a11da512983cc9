//! The desk: the one open clinic node and the person signed in at this window.
//!
//! The desk also enforces what the window only shows: a session locks after its idle time (a
//! staff member's after a configurable time, 5 minutes by default; the kiosk's after 60 s),
//! counted from the last time the person touched the window, whatever the window's own timer
//! does; and while the window is the patients' kiosk, only the kiosk's commands run
//! ([`Desk::guard`], applied to every command before it reaches its handler).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use carelog_desktop_api::{Failure, FailureKind, HomeInfo, commands};
use carelog_node::{Link, NewNetwork, Node, NodeError, NodeUnlock, Session};

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

/// How long a session may go untouched before it locks.
#[derive(Clone, Copy, Debug)]
pub struct IdleLocks {
    /// A staff member's session (`--idle-lock SECONDS`, `$CARELOG_IDLE_LOCK`; 5 minutes).
    pub staff: Duration,
    /// A patient's session at the kiosk.
    pub kiosk: Duration,
}

impl Default for IdleLocks {
    fn default() -> IdleLocks {
        IdleLocks {
            staff: Duration::from_secs(5 * 60),
            kiosk: Duration::from_secs(60),
        }
    }
}

/// The commands the patients' kiosk offers; while the window is a kiosk, no other runs.
pub const KIOSK_COMMANDS: &[&str] = &[
    commands::HOME_INFO,
    commands::STATUS,
    commands::SYNC_NOW,
    commands::SET_KIOSK,
    commands::KIOSK_SIGN_IN,
    commands::SIGN_OUT,
    commands::ACTIVITY,
    commands::PENDING_REQUESTS,
    commands::GRANT,
    commands::REFUSE,
    commands::READERS,
    commands::REVOKE,
    commands::AUDIT,
    commands::CHANGE_PIN,
    commands::MY_RECORD,
    commands::DIRECTORY,
    commands::OPENINGS,
    commands::REVIEW_OPENING,
    commands::REMOVABLE_DRIVES,
    commands::TAKE_AWAY,
];

/// The app's state in Tauri: everything behind one lock, so commands run one at a time against
/// the node, as the CLI's commands do.
pub struct Desk {
    inner: Mutex<Inner>,
    config: LinkConfig,
    idle: IdleLocks,
}

struct Inner {
    home: PathBuf,
    node: Option<Node>,
    /// Why an existing home did not open.
    problem: Option<String>,
    /// The home's keys wait for a node passphrase typed at the window.
    locked: bool,
    /// How this window opens homes' keys and seals new ones: the environment's node passphrase,
    /// else the OS keyring, else what the person typed.
    unlock: NodeUnlock,
    session: Option<Session>,
    /// Whether the window is the patients' kiosk.
    kiosk: bool,
    /// When the person last touched the window (or signed in).
    last_activity: Instant,
    /// The background sync with other clinics, while a home is open.
    link: Option<Link>,
    /// Why sync is not running, in words.
    link_problem: Option<String>,
    /// Where the join request made in this window was saved.
    join_request: Option<PathBuf>,
    /// The pairing request made in this window, while it waits for its invite.
    pairing: Option<carelog_desktop_api::Pairing>,
}

/// After a command that may have written: the sync link sends the new blocks now (it reads
/// nothing when there are none), so another machine of the clinic sees them in milliseconds.
fn nudge_link(inner: &Inner) {
    if let Some(link) = &inner.link {
        link.nudge();
    }
}

/// Before a request (to join a network, or to pair as a device) is written to `out`: the window
/// has no clinic open, and the request's folder exists.
fn prepare_request(inner: &Inner, out: &Path) -> Result<(), Failure> {
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
    Ok(())
}

/// Whether the open home is the clinic's kiosk device.
fn kiosk_only(inner: &Inner) -> bool {
    inner
        .node
        .as_ref()
        .is_some_and(|n| n.device_role() == carelog_ledger::DeviceRole::Kiosk)
}

/// What a kiosk device offers beside the kiosk: an admin's sign-in, which alone leaves it.
const KIOSK_DEVICE_EXIT: &[&str] = &[commands::STAFF, commands::SIGN_IN];

/// Turns a node error into a sentence for the screen, keeping its kind.
pub fn failure(e: NodeError) -> Failure {
    if let NodeError::CardNeeded(_) = e {
        return Failure::new(
            FailureKind::Invalid,
            "scan your card (or type what its QR code says), then your PIN",
        );
    }
    if let NodeError::AllergyWarning(warning) = &e {
        return Failure::new(
            FailureKind::Invalid,
            format!(
                "Allergy warning: {warning}. To prescribe it anyway, write the reason under \"Allergy override reason\" and save again."
            ),
        );
    }
    let kind = match &e {
        NodeError::WrongPassphrase(_) | NodeError::WrongNodePassphrase(_) => {
            FailureKind::WrongPassphrase
        }
        NodeError::Denied(_) | NodeError::Disabled { .. } | NodeError::Suspended { .. } => {
            FailureKind::Denied
        }
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

fn locked_failure(limit: Duration) -> Failure {
    let seconds = limit.as_secs();
    let after = if seconds >= 120 && seconds.is_multiple_of(60) {
        format!("{} minutes", seconds / 60)
    } else {
        format!("{seconds} seconds")
    };
    Failure::new(
        FailureKind::Locked,
        format!("locked after {after} without use: sign in again"),
    )
}

impl Desk {
    /// Opens the node at `home` if it holds one, its keys opened with `unlock`; otherwise the
    /// window offers to create one, or (a home sealed under a node passphrase not given) asks
    /// for the passphrase.
    pub fn open(home: PathBuf, config: LinkConfig, idle: IdleLocks, unlock: NodeUnlock) -> Desk {
        let (node, problem, locked) = match Node::open_with(&home, &unlock) {
            Ok(node) => (Some(node), None, false),
            Err(NodeError::NoHome(_) | NodeError::NotJoined) => (None, None, false),
            Err(e @ (NodeError::NodeLocked(_) | NodeError::WrongNodePassphrase(_))) => {
                (None, Some(e.to_string()), true)
            }
            Err(e) => (None, Some(e.to_string()), false),
        };
        if let Some(p) = &problem {
            tracing::warn!(home = %home.display(), "the home did not open: {p}");
        }
        Desk {
            inner: Mutex::new(Inner {
                home,
                node,
                problem,
                locked,
                unlock,
                session: None,
                kiosk: false,
                last_activity: Instant::now(),
                link: None,
                link_problem: None,
                join_request: None,
                pairing: None,
            }),
            config,
            idle,
        }
    }

    /// Refuses, before it runs, a command the window may not use now: while the window is the
    /// patients' kiosk (as it is whenever a patient is signed in), anything the kiosk does not
    /// offer.
    pub fn guard(&self, command: &str) -> Result<(), Failure> {
        let inner = self.lock();
        if inner.kiosk && !KIOSK_COMMANDS.contains(&command) {
            return Err(Failure::new(
                FailureKind::KioskOnly,
                "the patients' kiosk does not offer this; staff leave the kiosk and sign in first",
            ));
        }
        // A kiosk device is the kiosk until an admin signs in.
        if kiosk_only(&inner)
            && inner.session.is_none()
            && !KIOSK_COMMANDS.contains(&command)
            && !KIOSK_DEVICE_EXIT.contains(&command)
        {
            return Err(Failure::new(
                FailureKind::KioskOnly,
                "this computer is the clinic's kiosk: only an admin's sign-in leaves it",
            ));
        }
        Ok(())
    }

    /// The window becomes the patients' kiosk (or stops being one); whoever was signed in is
    /// signed out.
    pub fn set_kiosk(&self, on: bool) {
        let mut inner = self.lock();
        inner.session = None;
        inner.kiosk = on;
    }

    /// The person touched the window: the idle lock counts from now.
    pub fn touch(&self) {
        self.lock().last_activity = Instant::now();
    }

    /// Opens the home with a node passphrase typed at the window.
    pub fn unlock_home(&self, passphrase: &str) -> Result<HomeInfo, Failure> {
        if passphrase.is_empty() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "enter the node passphrase",
            ));
        }
        let unlock = NodeUnlock::passphrase(passphrase);
        let mut inner = self.lock();
        match Node::open_with(&inner.home, &unlock) {
            Ok(node) => {
                inner.node = Some(node);
                inner.unlock = unlock;
                inner.locked = false;
                inner.problem = None;
                self.relink_locked(&mut inner);
            }
            Err(NodeError::NotJoined) => {
                inner.unlock = unlock;
                inner.locked = false;
                inner.problem = None;
            }
            Err(e) => return Err(failure(e)),
        }
        Ok(self.info_of(&inner))
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
        match Link::start(node, self.config.listen, peers) {
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
        self.info_of(&inner)
    }

    /// The keys of a new home are sealed under the node passphrase typed at the window, else
    /// as this window opens homes (the environment's passphrase, else the OS keyring).
    fn unlock_for_new(inner: &mut Inner, node_passphrase: &str) -> NodeUnlock {
        if !node_passphrase.is_empty() {
            inner.unlock = NodeUnlock::passphrase(node_passphrase);
        }
        inner.unlock.clone()
    }

    /// Founds a network in the chosen home, when it holds no node yet.
    pub fn create_network(
        &self,
        new: &NewNetwork<'_>,
        node_passphrase: &str,
    ) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        if inner.node.is_some() {
            return Err(Failure::new(
                FailureKind::Invalid,
                "this window already has a clinic open",
            ));
        }
        let unlock = Desk::unlock_for_new(&mut inner, node_passphrase);
        let (node, _) = Node::create_network_with(&inner.home, new, &unlock).map_err(failure)?;
        inner.node = Some(node);
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(self.info_of(&inner))
    }

    /// Asks to join a network from an empty home: makes the clinic's and admin's keys and
    /// writes the signed request to `out`, for the health authority.
    pub fn request_join(
        &self,
        clinic: &str,
        admin: &str,
        passphrase: &str,
        node_passphrase: &str,
        out: &Path,
    ) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        prepare_request(&inner, out)?;
        let unlock = Desk::unlock_for_new(&mut inner, node_passphrase);
        Node::request_join_with(&inner.home, clinic, admin, passphrase, out, &unlock)
            .map_err(failure)?;
        inner.join_request = Some(out.to_path_buf());
        Ok(self.info_of(&inner))
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
        let node = Node::join_with(&inner.home, invite, &inner.unlock).map_err(failure)?;
        inner.node = Some(node);
        inner.pairing = None;
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(self.info_of(&inner))
    }

    /// Opens another home (the demo's first clinic) with its keys opened by `unlock`, signing
    /// out.
    pub fn switch_to(&self, home: &Path, unlock: NodeUnlock) -> Result<HomeInfo, Failure> {
        let node = Node::open_with(home, &unlock).map_err(failure)?;
        let mut inner = self.lock();
        inner.home = home.to_path_buf();
        inner.node = Some(node);
        inner.unlock = unlock;
        inner.locked = false;
        inner.problem = None;
        inner.session = None;
        self.relink_locked(&mut inner);
        Ok(self.info_of(&inner))
    }

    /// Runs `f` with the open node.
    pub fn with_node<T>(
        &self,
        f: impl FnOnce(&mut Node) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        let node = inner.node.as_mut().ok_or_else(not_open)?;
        let answer = f(node);
        nudge_link(&inner);
        answer
    }

    /// Runs `f` with the open node and the signed-in session, unless the session has gone
    /// untouched past its idle time: then it is locked (its keys dropped) and the person must
    /// sign in again.
    pub fn with_session<T>(
        &self,
        f: impl FnOnce(&mut Node, &Session) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        let limit = if inner.kiosk {
            self.idle.kiosk
        } else {
            self.idle.staff
        };
        if inner.session.is_some() && inner.last_activity.elapsed() > limit {
            inner.session = None;
            tracing::info!("a session locked after its idle time");
            return Err(locked_failure(limit));
        }
        let Inner { node, session, .. } = &mut *inner;
        let node = node.as_mut().ok_or_else(not_open)?;
        let session = session.as_ref().ok_or_else(signed_out)?;
        let answer = f(node, session);
        nudge_link(&inner);
        answer
    }

    /// Signs a staff member in (leaving kiosk mode), replacing whoever was signed in.
    pub fn sign_in(&self, session: Session) {
        let mut inner = self.lock();
        inner.session = Some(session);
        inner.kiosk = false;
        inner.last_activity = Instant::now();
    }

    /// Signs a patient in at the kiosk (the window is the kiosk from now on).
    pub fn kiosk_sign_in(&self, session: Session) {
        let mut inner = self.lock();
        inner.session = Some(session);
        inner.kiosk = true;
        inner.last_activity = Instant::now();
    }

    /// Opens the demo network's first clinic: its keys are sealed under the environment's node
    /// passphrase, else the demo's own.
    pub fn demo_unlock() -> NodeUnlock {
        NodeUnlock::from_sources(
            std::env::var(carelog_node::NODE_PASSPHRASE_VAR).ok(),
            std::env::var_os(carelog_node::NODE_PASSPHRASE_FILE_VAR)
                .map(PathBuf::from)
                .as_deref(),
            || NodeUnlock::passphrase(carelog_node::DEMO_NODE_PASSPHRASE),
        )
        .unwrap_or_else(|_| NodeUnlock::passphrase(carelog_node::DEMO_NODE_PASSPHRASE))
    }

    /// Signs out; the keys are dropped (and zeroized by the vault). A kiosk device is the
    /// kiosk again.
    pub fn sign_out(&self) {
        let mut inner = self.lock();
        inner.session = None;
        inner.kiosk = kiosk_only(&inner);
    }

    /// In an empty home: this machine's keys and a pairing request saved at `out`, for an
    /// admin of the clinic to approve.
    pub fn pair_device(
        &self,
        name: &str,
        node_passphrase: &str,
        out: &Path,
    ) -> Result<HomeInfo, Failure> {
        let mut inner = self.lock();
        prepare_request(&inner, out)?;
        let unlock = Desk::unlock_for_new(&mut inner, node_passphrase);
        let (_, code) = Node::request_device(&inner.home, name, out, &unlock).map_err(failure)?;
        // The request is public keys and a signature: its QR code carries it to the admin.
        let qr_svg = std::fs::read(out)
            .ok()
            .and_then(|request| carelog_node::qr_svg(&request).ok())
            .unwrap_or_default();
        inner.pairing = Some(carelog_desktop_api::Pairing {
            file: out.display().to_string(),
            code,
            qr_svg,
        });
        Ok(self.info_of(&inner))
    }
}

impl Desk {
    fn info_of(&self, inner: &Inner) -> HomeInfo {
        HomeInfo {
            idle_lock_seconds: self.idle.staff.as_secs(),
            kiosk_idle_lock_seconds: self.idle.kiosk.as_secs(),
            locked: inner.locked,
            pairing: inner.pairing.clone(),
            kiosk_only: kiosk_only(inner),
            ..info_of(inner)
        }
    }
}

fn info_of(inner: &Inner) -> HomeInfo {
    match &inner.node {
        Some(node) => HomeInfo {
            home: inner.home.display().to_string(),
            open: true,
            clinic: node.clinic_name(),
            network: node.network_name(),
            ..HomeInfo::default()
        },
        None => HomeInfo {
            home: inner.home.display().to_string(),
            open: false,
            problem: inner.problem.clone(),
            awaiting_invite: !inner.locked
                && matches!(
                    Node::open_with(&inner.home, &inner.unlock),
                    Err(NodeError::NotJoined)
                ),
            join_request: inner.join_request.as_ref().map(|p| p.display().to_string()),
            ..HomeInfo::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_PASS: &str = "desk test node passphrase";
    const ADMIN_PASS: &str = "desk admin passphrase";

    fn unlock() -> NodeUnlock {
        NodeUnlock::passphrase(NODE_PASS)
    }

    fn new_network() -> NewNetwork<'static> {
        NewNetwork {
            network: "River",
            clinic: "North",
            admin: "Ada",
            admin_passphrase: ADMIN_PASS,
            authority_passphrase: "river district authority",
        }
    }

    #[test]
    fn an_empty_home_waits_for_a_network_and_then_opens() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        let desk = Desk::open(
            home.clone(),
            LinkConfig::default(),
            IdleLocks::default(),
            unlock(),
        );
        let info = desk.info();
        assert!(!info.open);
        assert!(!info.locked);
        assert_eq!(info.problem, None);
        assert_eq!(info.idle_lock_seconds, 300);
        assert_eq!(
            desk.with_node(|_| Ok(())).unwrap_err().kind,
            FailureKind::NoHome
        );
        let info = desk.create_network(&new_network(), "").unwrap();
        assert!(info.open);
        assert_eq!(info.clinic, "North");
        assert_eq!(info.network, "River");
        assert_eq!(
            desk.with_session(|_, _| Ok(())).unwrap_err().kind,
            FailureKind::SignedOut
        );
    }

    #[test]
    fn a_home_sealed_under_a_node_passphrase_asks_for_it_and_opens_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        Node::create_network_with(&home, &new_network(), &unlock()).unwrap();
        // No passphrase in the environment, no keyring entry for it: the window asks.
        let nowhere =
            NodeUnlock::Keyring(std::sync::Arc::new(carelog_node::MemoryKeyring::default()));
        let desk = Desk::open(
            home.clone(),
            LinkConfig::default(),
            IdleLocks::default(),
            nowhere,
        );
        let info = desk.info();
        assert!(!info.open);
        assert!(info.locked);
        assert!(
            info.problem
                .unwrap()
                .contains("sealed under a node passphrase")
        );
        let wrong = desk.unlock_home("not the node passphrase").unwrap_err();
        assert_eq!(wrong.kind, FailureKind::WrongPassphrase);
        assert!(!desk.info().open);
        let info = desk.unlock_home(NODE_PASS).unwrap();
        assert!(info.open);
        assert!(!info.locked);
        assert_eq!(info.clinic, "North");
    }

    #[test]
    fn a_staff_session_locks_after_its_idle_time_whatever_the_window_does() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        let (node, created) = Node::create_network_with(&home, &new_network(), &unlock()).unwrap();
        let idle = IdleLocks {
            staff: Duration::from_millis(600),
            kiosk: Duration::from_millis(300),
        };
        drop(node);
        let desk = Desk::open(home, LinkConfig::default(), idle, unlock());
        let session = desk
            .with_node(|node| node.unlock(created.admin_id, ADMIN_PASS).map_err(failure))
            .unwrap();
        desk.sign_in(session);
        // Touched now and then, the session stays open past its idle time.
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(250));
            desk.touch();
            desk.with_session(|_, _| Ok(())).unwrap();
        }
        // Polls (the status bar, the patient list) do not count as use.
        std::thread::sleep(Duration::from_millis(400));
        desk.with_session(|_, _| Ok(())).unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let locked = desk.with_session(|_, _| Ok(())).unwrap_err();
        assert_eq!(locked.kind, FailureKind::Locked);
        assert!(
            locked.message.contains("sign in again"),
            "{}",
            locked.message
        );
        // The keys are gone: touching the window does not bring the session back.
        desk.touch();
        assert_eq!(
            desk.with_session(|_, _| Ok(())).unwrap_err().kind,
            FailureKind::SignedOut
        );
    }

    #[test]
    fn the_kiosk_runs_only_its_own_commands_and_locks_sooner() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("north");
        let (mut node, created) =
            Node::create_network_with(&home, &new_network(), &unlock()).unwrap();
        let admin = node.unlock(created.admin_id, ADMIN_PASS).unwrap();
        let (patient, card) = node
            .register_patient(&admin, "Kim Kiosk", "1990-01-01", "other", "482916")
            .unwrap();
        drop((admin, node));
        let idle = IdleLocks {
            staff: Duration::from_secs(60),
            kiosk: Duration::from_millis(300),
        };
        let desk = Desk::open(home, LinkConfig::default(), idle, unlock());
        for command in [
            commands::STAFF,
            commands::MY_PATIENTS,
            commands::CHART,
            commands::SIGN_IN,
        ] {
            assert!(desk.guard(command).is_ok(), "{command}");
        }
        desk.set_kiosk(true);
        for command in [
            commands::STAFF,
            commands::SIGN_IN,
            commands::MY_PATIENTS,
            commands::CHART,
            commands::EXPORT_CHART,
            commands::ENROLL,
            commands::REGISTER_PATIENT,
            commands::APPROVE_CLINIC,
            commands::OPEN_DEMO,
            commands::CHANGE_PASSPHRASE,
            commands::FIND_PATIENTS,
            commands::POSSIBLE_DUPLICATES,
            commands::ADD_PROXY,
        ] {
            assert_eq!(
                desk.guard(command).unwrap_err().kind,
                FailureKind::KioskOnly,
                "{command}"
            );
        }
        for command in KIOSK_COMMANDS {
            assert!(desk.guard(command).is_ok(), "{command}");
        }
        let session = desk
            .with_node(|node| {
                node.unlock_patient(patient, &card, "482916")
                    .map_err(failure)
            })
            .unwrap();
        desk.kiosk_sign_in(session);
        desk.with_session(|_, s| {
            assert_eq!(s.user, patient);
            Ok(())
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(
            desk.with_session(|_, _| Ok(())).unwrap_err().kind,
            FailureKind::Locked
        );
        // Leaving the kiosk opens the staff commands again (staff still sign in).
        desk.set_kiosk(false);
        assert!(desk.guard(commands::STAFF).is_ok());
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
                passphrase: "synthetic district passphrase",
                unlock: &unlock(),
            },
            &mut |_, _| {},
        )
        .unwrap();
        Node::forget_saved_state(&home, &unlock()).unwrap();
        let desk = Desk::open(
            home.clone(),
            LinkConfig::default(),
            IdleLocks::default(),
            unlock(),
        );
        assert!(desk.info().open);
        desk.close();
        assert!(!desk.info().open);
        assert_eq!(
            desk.with_node(|_| Ok(())).unwrap_err().kind,
            FailureKind::NoHome
        );
        let reopened = Node::open_with(&home, &unlock()).unwrap();
        assert!(
            reopened.saved_state_txs() > 0,
            "opened from the state saved on closing"
        );
    }
}
