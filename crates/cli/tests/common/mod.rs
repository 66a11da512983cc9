//! Helpers shared by the CLI tests that run `carelog` processes side by side.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The node passphrase the tests' homes are sealed under.
pub const NODE_PASSPHRASE: &str = "cli test homes node passphrase";
/// The health authority's passphrase in the tests' networks.
pub const AUTHORITY_PASSPHRASE: &str = "cli test district authority";

/// `carelog --home HOME --json`, with `passphrase` for every user and every new secret, and the
/// tests' node and authority passphrases.
pub fn carelog(home: &Path, passphrase: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carelog"));
    cmd.arg("--home")
        .arg(home)
        .arg("--json")
        .env("CARELOG_PASSPHRASE", passphrase)
        .env("CARELOG_NEW_PASSPHRASE", passphrase)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
        .env("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY_PASSPHRASE)
        .env_remove("CARELOG_NODE_PASSPHRASE_FILE")
        .env_remove("CARELOG_CARD")
        .env_remove("CARELOG_HOME");
    cmd
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
