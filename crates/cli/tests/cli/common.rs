//! Helpers shared by the CLI tests that run `carelog` processes side by side.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The node passphrase the tests' homes are sealed under.
pub const NODE_PASSPHRASE: &str = "cli test homes node passphrase";
/// The health authority's passphrase in the tests' networks.
pub const AUTHORITY_PASSPHRASE: &str = "cli test district authority";

/// Every variable `carelog` reads from its environment: a test's command inherits none of them.
const CARELOG_VARIABLES: [&str; 7] = [
    "CARELOG_HOME",
    "CARELOG_PASSPHRASE",
    "CARELOG_NEW_PASSPHRASE",
    "CARELOG_NODE_PASSPHRASE",
    "CARELOG_NODE_PASSPHRASE_FILE",
    "CARELOG_AUTHORITY_PASSPHRASE",
    "CARELOG_CARD",
];

/// `carelog [--home HOME] --json`, started through `launcher` when one is given (as
/// `ip netns exec NS` starts it in a network namespace), with no Carelog variable inherited.
pub fn bare_via(launcher: &[&str], home: Option<&Path>) -> Command {
    let mut cmd = match launcher.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(env!("CARGO_BIN_EXE_carelog"));
            cmd
        }
        None => Command::new(env!("CARGO_BIN_EXE_carelog")),
    };
    if let Some(home) = home {
        cmd.arg("--home").arg(home);
    }
    cmd.arg("--json");
    for variable in CARELOG_VARIABLES {
        cmd.env_remove(variable);
    }
    cmd
}

/// `carelog --home HOME` as a person runs it (no `--json`), acting with `passphrase`, under the
/// tests' node passphrase.
pub fn for_people(home: &Path, passphrase: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carelog"));
    cmd.arg("--home").arg(home);
    for variable in CARELOG_VARIABLES {
        cmd.env_remove(variable);
    }
    cmd.env("CARELOG_PASSPHRASE", passphrase)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE);
    cmd
}

/// `carelog [--home HOME] --json` with no Carelog variable inherited.
pub fn bare(home: Option<&Path>) -> Command {
    bare_via(&[], home)
}

/// `cmd` acting with `passphrase`, giving `new_secret` wherever a new passphrase or PIN is asked
/// for, under the tests' node and authority passphrases.
pub fn with_secrets(mut cmd: Command, passphrase: &str, new_secret: &str) -> Command {
    cmd.env("CARELOG_PASSPHRASE", passphrase)
        .env("CARELOG_NEW_PASSPHRASE", new_secret)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
        .env("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY_PASSPHRASE);
    cmd
}

/// `carelog --home HOME --json`, with `passphrase` for every user and every new secret, and the
/// tests' node and authority passphrases.
pub fn carelog(home: &Path, passphrase: &str) -> Command {
    carelog_with(home, passphrase, passphrase)
}

/// A loopback UDP address no one is listening on.
pub fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running `carelog serve`, stopped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the node closes its connections politely.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `carelog --home HOME --json` acting with `passphrase` (a user's passphrase or a patient's PIN)
/// and giving `new_secret` wherever a new passphrase or PIN is asked for.
pub fn carelog_with(home: &Path, passphrase: &str, new_secret: &str) -> Command {
    with_secrets(bare(Some(home)), passphrase, new_secret)
}

/// Runs a command that must succeed, and returns what it printed.
pub fn succeeded(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the carelog binary runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must succeed and print exactly one JSON object, and returns it.
pub fn json_ok(cmd: &mut Command) -> serde_json::Value {
    let out = succeeded(cmd);
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert_eq!(
        text.trim().lines().count(),
        1,
        "--json prints one line: {text}"
    );
    let value: serde_json::Value = serde_json::from_str(&text).expect("stdout is JSON");
    assert!(value.is_object(), "{value}");
    value
}

/// Runs a command that must be refused: non-zero exit, nothing on stdout, one line on stderr
/// (returned).
pub fn refusal(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the carelog binary runs");
    assert!(!out.status.success(), "{cmd:?} should have been refused");
    assert!(out.stdout.is_empty(), "a refusal prints nothing on stdout");
    let err = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(err.trim().lines().count(), 1, "one line on stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Every patient name and piece of chart text in the demo's synthetic patients, each with what it
/// is ("a patient name", "chart text (note)", …): none of it may appear in a file or a log.
pub fn demo_chart_text() -> Vec<(String, String)> {
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../../assets/demo-patients.json")).unwrap();
    let mut words = Vec::new();
    for clinic in sample["clinics"].as_array().unwrap() {
        for p in clinic["patients"].as_array().unwrap() {
            words.push((
                "a patient name".to_string(),
                p["name"].as_str().unwrap().to_string(),
            ));
            for visit in p["visits"].as_array().unwrap() {
                let reason = visit["reason"].as_str().unwrap().to_string();
                words.push(("chart text (visit)".to_string(), reason));
                for entry in visit["entries"].as_array().unwrap() {
                    let kind = entry["kind"].as_str().unwrap();
                    let fields: &[&str] = match kind {
                        "note" => &["text", "title"],
                        "condition" | "order" | "immunization" => &["name"],
                        "medication" => &["drug"],
                        "allergy" => &["substance"],
                        _ => continue,
                    };
                    for field in fields {
                        let text = entry["data"][field].as_str().unwrap().to_string();
                        words.push((format!("chart text ({kind})"), text));
                    }
                }
            }
        }
    }
    words
}

/// A string field of a printed object, which must be there.
pub fn field(v: &serde_json::Value, name: &str) -> String {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
        .to_string()
}

/// Starts a `carelog serve` command with its output discarded; stopped when dropped.
pub fn spawn_server(cmd: &mut Command) -> Server {
    Server(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the carelog binary starts"),
    )
}

/// `carelog serve` on a free loopback port, and the address it printed once it listens.
pub fn serve_on_loopback(mut cmd: Command) -> (Server, SocketAddr) {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the carelog binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let printed: serde_json::Value =
        serde_json::from_str(&line).expect("serve prints where it listens");
    let addr = printed["listening"].as_str().unwrap().parse().unwrap();
    (Server(child), addr)
}

/// Waits until `check` holds, looking again every 200 ms; fails naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// `carelog sync --peer PEER` by `cmd()`, tried again while the peer's server starts; what the
/// sync printed.
pub fn sync_when_up(mut cmd: impl FnMut() -> Command, peer: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = cmd().args(["sync", "--peer", peer]).output().unwrap();
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).expect("stdout is JSON");
        }
        assert!(
            Instant::now() < deadline,
            "sync with {peer}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The state hash `ledger stats` prints for `home`.
pub fn state_hash(home: &Path) -> String {
    field(
        &json_ok(carelog(home, "").args(["ledger", "stats"])),
        "state_hash",
    )
}

/// `network create` at `home`: the network's first clinic and its admin, whose passphrase
/// becomes `admin_pass`. What it printed (`network_id`, `clinic_id`, `admin_id`).
pub fn create_network(
    home: &Path,
    admin_pass: &str,
    network: &str,
    clinic: &str,
    admin: &str,
) -> serde_json::Value {
    json_ok(carelog_with(home, "", admin_pass).args([
        "network",
        "create",
        "--network",
        network,
        "--clinic",
        clinic,
        "--admin",
        admin,
    ]))
}

/// The clinic at `home` asks to join the network `founder` belongs to, the founder approves it
/// (with the authority's passphrase) and it joins; its admin's passphrase becomes `admin_pass`.
/// The request and the invite are written beside `home`. What the request printed (`admin_id`).
pub fn join_network(
    founder: &Path,
    home: &Path,
    clinic: &str,
    admin: &str,
    admin_pass: &str,
) -> serde_json::Value {
    let request = home.with_extension("request");
    let invite = home.with_extension("invite");
    let asked = json_ok(carelog_with(home, "", admin_pass).args([
        "clinic",
        "request",
        "--clinic",
        clinic,
        "--admin",
        admin,
        "--out",
        request.to_str().unwrap(),
    ]));
    json_ok(carelog(founder, "").args([
        "clinic",
        "approve",
        request.to_str().unwrap(),
        "--out",
        invite.to_str().unwrap(),
    ]));
    json_ok(carelog(home, "").args(["clinic", "join", invite.to_str().unwrap()]));
    asked
}

/// `user add` by the admin `by` (acting with `admin_pass`): `name` in `role`, whose passphrase
/// becomes `pass`; `more` adds options such as `--specialty`. The new user's id.
pub fn add_user(
    home: &Path,
    (by, admin_pass): (&str, &str),
    role: &str,
    name: &str,
    pass: &str,
    more: &[&str],
) -> String {
    let out = json_ok(
        carelog_with(home, admin_pass, pass)
            .args(["user", "add", "--as", by, "--role", role, "--name", name])
            .args(more),
    );
    field(&out, "user_id")
}

/// `patient register` by `by` (acting with `pass`), born `birth_date`, of `sex`; the patient's PIN
/// becomes `pin`. What it printed (`patient_id`, `card`, `card_number`).
pub fn register(
    home: &Path,
    (by, pass): (&str, &str),
    name: &str,
    birth_date: &str,
    sex: &str,
    pin: &str,
) -> serde_json::Value {
    json_ok(carelog_with(home, pass, pin).args([
        "patient",
        "register",
        "--as",
        by,
        "--name",
        name,
        "--birth-date",
        birth_date,
        "--sex",
        sex,
    ]))
}

/// `assign --custodian` by `by` (acting with `pass`): `doctor` cares for `patient` and keeps the
/// record.
pub fn assign_custodian(home: &Path, (by, pass): (&str, &str), patient: &str, doctor: &str) {
    let out = json_ok(carelog(home, pass).args([
        "assign",
        "--as",
        by,
        "--patient",
        patient,
        "--doctor",
        doctor,
        "--custodian",
    ]));
    assert_eq!(out["ok"], true, "{out}");
}

/// A home's database opened straight with SQLite and the home's own key, as a copy of the file
/// would be read by someone holding the node passphrase `node_passphrase`.
pub fn open_database(home: &Path, node_passphrase: &str) -> rusqlite::Connection {
    let secrets = carelog_node::Node::open_secrets(
        home,
        &carelog_node::NodeUnlock::passphrase(node_passphrase),
    )
    .expect("the home's keys open");
    let conn = rusqlite::Connection::open(home.join("carelog.sqlite3")).expect("the store opens");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(secrets.database.expose())
    ))
    .expect("the key is taken");
    conn
}

/// A demo home's node and database keys, and every key store it holds opened with the demo's
/// published secrets: the staff passphrase, or a patient's card (from `cards`) and the PIN. Every
/// key store must open.
pub fn demo_keys(
    home: &Path,
    cards: &[carelog_node::Card],
) -> (carelog_node::HomeSecrets, Vec<carelog_vault::ActorKeys>) {
    let secrets = carelog_node::Node::open_secrets(
        home,
        &carelog_node::NodeUnlock::passphrase(carelog_node::DEMO_NODE_PASSPHRASE),
    )
    .expect("the demo home's keys open");
    let db = open_database(home, carelog_node::DEMO_NODE_PASSPHRASE);
    let mut rows = db
        .prepare("SELECT sealed FROM keystore")
        .expect("the keystore table");
    let sealed: Vec<Vec<u8>> = rows
        .query_map([], |r| r.get(0))
        .expect("keystore rows")
        .map(|r| r.expect("a sealed key"))
        .collect();
    let opened = sealed
        .iter()
        .map(|blob| {
            carelog_vault::open_keys(blob, carelog_node::DEMO_STAFF_PASSPHRASE)
                .ok()
                .or_else(|| {
                    cards.iter().find_map(|card| {
                        carelog_vault::open_keys_with_card(
                            blob,
                            card.secret(),
                            carelog_node::DEMO_PATIENT_PIN,
                        )
                        .ok()
                    })
                })
                .expect("every key store of the demo opens with its published secrets")
        })
        .collect();
    (secrets, opened)
}

/// The patients' cards `carelog demo` printed for each home it built.
pub fn demo_cards(built: &serde_json::Value) -> Vec<carelog_node::Card> {
    built["homes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["cards"].as_array().unwrap().clone())
        .map(|c| carelog_node::Card::parse(c["card"].as_str().unwrap()).unwrap())
        .collect()
}
