//! End-to-end tests of the Carelog desktop app: the real window under Xvfb, driven through
//! tauri-driver (WebDriver) with fantoccini. Run them with `cargo xtask test`, which builds the
//! window, the app and the `carelog` CLI first; the stories live in `tests/`.
//!
//! This library holds the harness: a private X display, tauri-driver on a free port, a fresh
//! demo network, and small helpers that wait for the UI the way a person would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long the harness waits for the window to show something.
pub const WAIT: Duration = Duration::from_secs(40);

/// The node passphrase every home in these stories is sealed under: the app, the CLI, `serve`
/// and the demo all get it in `$CARELOG_NODE_PASSPHRASE` (no test touches an OS keyring).
pub const NODE_PASSPHRASE: &str = "end to end homes node passphrase";
/// The health authority's passphrase in these stories' networks.
pub const AUTHORITY_PASSPHRASE: &str = "end to end district authority";
/// The demo's staff passphrase (`carelog demo`).
pub const STAFF_PASSPHRASE: &str = "demo clinic staff";
/// The demo's patient PIN (with each patient's own card).
pub const PATIENT_PIN: &str = "246810";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/e2e sits two levels below the workspace root")
        .to_path_buf()
}

/// A program the harness needs, with a message saying how to get it.
pub fn need(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface must accept a listener")
}

/// A child process stopped with SIGTERM when dropped (SIGKILL would orphan WebKitWebDriver).
pub struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    /// Starts a program.
    pub fn start(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Process { name, child }
    }

    /// Fails if the process has already exited.
    pub fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status})", self.name);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A private X server on a display number nobody uses.
pub struct Display {
    /// `:N`
    pub name: String,
    _server: Process,
}

impl Display {
    /// Starts Xvfb on a free display from :90 and waits for its socket. Tests in one binary run
    /// at once, so two may pick the same number: the one whose Xvfb does not own the lock file
    /// (Xvfb writes its pid there) moves on to the next number.
    pub fn start() -> Display {
        let xvfb = which("Xvfb").expect("Xvfb is missing: install the xvfb package");
        for n in 90..190 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let name = format!(":{n}");
            let mut server = Process::start(
                "Xvfb",
                Command::new(&xvfb)
                    .args([&name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            let pid = server.child.id();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    // Another test took this display first.
                    break;
                }
                let owner = std::fs::read_to_string(&lock)
                    .ok()
                    .and_then(|text| text.trim().parse::<u32>().ok());
                if socket.exists() && owner == Some(pid) {
                    return Display {
                        name,
                        _server: server,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free X display between :90 and :189");
    }
}

/// The last lines of a log file, for a failure message.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!("{} says:\n{}", path.display(), lines[from..].join("\n"))
}

/// A program on the PATH (or in ~/.cargo/bin).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Waits until `port` accepts connections.
pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The `carelog` CLI built for the tests.
pub fn carelog() -> PathBuf {
    need(
        root().join("target/debug/carelog"),
        "build it with `cargo build -p carelog-cli` (cargo xtask test does)",
    )
}

/// `carelog --home HOME --json ARGS` with `passphrase` for the acting user (and any new one);
/// it must succeed. Returns its JSON answer.
pub fn cli(home: &Path, passphrase: &str, args: &[&str]) -> Value {
    let out = Command::new(carelog())
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .env("CARELOG_PASSPHRASE", passphrase)
        .env("CARELOG_NEW_PASSPHRASE", passphrase)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
        .env("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY_PASSPHRASE)
        .env_remove("CARELOG_HOME")
        .output()
        .expect("carelog runs");
    assert!(
        out.status.success(),
        "carelog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("carelog answers in JSON")
}

/// `carelog --home HOME --json sync --peer PEER`, tried again while the peer's `serve` is still
/// starting; returns its JSON answer.
pub fn sync(home: &Path, peer: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = Command::new(carelog())
            .arg("--home")
            .arg(home)
            .args(["--json", "sync", "--peer", peer])
            .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
            .env_remove("CARELOG_HOME")
            .output()
            .expect("carelog runs");
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).expect("carelog answers in JSON");
        }
        assert!(
            Instant::now() < deadline,
            "carelog sync --peer {peer}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A loopback address free on both TCP and UDP right now (QUIC listens on UDP).
pub fn free_udp_addr() -> String {
    loop {
        let port = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
    }
}

/// `carelog serve` for `home` on `addr`, stopped when dropped; its log goes to `log` if given.
pub fn serve(home: &Path, addr: &str, log: Option<&Path>) -> Process {
    let stderr = match log {
        Some(path) => {
            Stdio::from(std::fs::File::create(path).expect("the log file can be created"))
        }
        None => Stdio::null(),
    };
    Process::start(
        "carelog serve",
        Command::new(carelog())
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", addr])
            .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
            .stdout(Stdio::null())
            .stderr(stderr),
    )
}

/// Builds a fresh demo network under `dir` with the `carelog` CLI; returns the first clinic's home.
pub fn demo_network(dir: &Path) -> PathBuf {
    demo_story(dir);
    dir.join("clinic-1")
}

/// Builds a fresh demo network under `dir` with the `carelog` CLI; returns what `carelog demo
/// --json` printed: each home (`homes[]`: clinic, home, patients, and the patients' `cards[]`
/// with `patient_id`, `card_number` and the QR content `card`).
pub fn demo_story(dir: &Path) -> Value {
    let carelog = need(
        root().join("target/debug/carelog"),
        "build it with `cargo build -p carelog-cli` (cargo xtask test does)",
    );
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("the old demo directory can be removed");
    }
    let output = Command::new(carelog)
        .args(["--json", "demo", "--dir"])
        .arg(dir)
        .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
        .env("CARELOG_AUTHORITY_PASSPHRASE", AUTHORITY_PASSPHRASE)
        .output()
        .expect("carelog demo runs");
    assert!(
        output.status.success(),
        "carelog demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("carelog demo answers in JSON")
}

/// The window, driven like a person would: wait for things to appear, type, click, look.
pub struct Window {
    /// The WebDriver session.
    pub client: Client,
    shots: PathBuf,
    step: u32,
}

impl Window {
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.element_within(css, WAIT).await
    }

    /// Waits up to `within` for `css` to appear.
    pub async fn element_within(
        &self,
        css: &str,
        within: Duration,
    ) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(within)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                self.failure_shot().await;
                panic!("`{css}` did not appear: {e}")
            }
        }
    }

    /// Saves what the window shows when a wait fails, as `failure.png` beside the screenshots.
    async fn failure_shot(&self) {
        if let Ok(png) = self.client.screenshot().await {
            let path = self.shots.join("failure.png");
            if std::fs::write(&path, png).is_ok() {
                eprintln!("the window at the failure: {}", path.display());
            }
        }
    }

    pub async fn click(&self, css: &str) {
        let target = self.element(css).await;
        // Keep the target clear of the fixed status bar, as a person would scroll to it.
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
                vec![json!(css)],
            )
            .await
            .expect("the page scrolls");
        target
            .click()
            .await
            .unwrap_or_else(|e| panic!("could not click `{css}`: {e}"));
    }

    /// Empties a field (as a person selecting all and deleting would) and types into it.
    /// Puts `text` into a field at once, as a paste does (line ends and all).
    pub async fn paste_into(&self, css: &str, text: &str) {
        self.element(css).await;
        self.client
            .execute(
                "const f = document.querySelector(arguments[0]); f.value = arguments[1]; \
                 f.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(text)],
            )
            .await
            .expect("the field takes the pasted text");
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        self.client
            .execute(
                "const f = document.querySelector(arguments[0]); f.value = ''; \
                 f.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css)],
            )
            .await
            .expect("the field can be emptied");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("could not type into `{css}`: {e}"));
    }

    /// Picks the option whose text starts with `label` (or whose value is `label`).
    pub async fn choose(&self, css: &str, label: &str) {
        self.element(css).await;
        // The options may still be loading (a list the window asks the shell for): wait for one.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let picked = self
                .client
                .execute(
                    "const s = document.querySelector(arguments[0]); \
                     if (!s) return null; \
                     const o = [...s.options].find(o => o.value === arguments[1] || o.text.startsWith(arguments[1])); \
                     if (!o) return null; s.value = o.value; \
                     s.dispatchEvent(new Event('change', {bubbles: true})); return o.value;",
                    vec![json!(css), json!(label)],
                )
                .await
                .expect("the script runs");
            if picked != Value::Null {
                return;
            }
            if std::time::Instant::now() > deadline {
                self.failure_shot().await;
                panic!("`{css}` has no option `{label}`");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn text_with(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        self.failure_shot().await;
        panic!("`{css}` never said `{needle}`; last it said `{last}`");
    }

    /// Waits until `css` matches exactly `n` elements.
    pub async fn count(&self, css: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        let mut seen = 0;
        while Instant::now() < deadline {
            seen = self
                .client
                .find_all(Locator::Css(css))
                .await
                .map_or(0, |v| v.len());
            if seen == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        self.failure_shot().await;
        panic!("expected {n} of `{css}`, saw {seen}");
    }

    /// Saves a screenshot after two animation frames, so it shows the current frame.
    pub async fn screenshot(&mut self, name: &str) {
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .expect("animation frames run");
        let png = self.client.screenshot().await.expect("a screenshot");
        self.step += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("the screenshot is written");
        eprintln!("screenshot {}", path.display());
    }

    /// Calls a shell command from inside the webview, as the window's own code would (or a
    /// script injected into it): `Ok` with its answer, `Err` with its failure.
    pub async fn invoke(&self, command: &str, args: Value) -> Result<Value, Value> {
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 window.__TAURI__.core.invoke(arguments[0], arguments[1]) \
                   .then(v => done({ok: v === undefined ? null : v}), e => done({err: e}));",
                vec![json!(command), args],
            )
            .await
            .expect("the script runs in the webview");
        match answer.get("ok") {
            Some(value) => Ok(value.clone()),
            None => Err(answer.get("err").cloned().unwrap_or(Value::Null)),
        }
    }

    pub async fn sign_in(&self, who: &str, passphrase: &str) {
        self.choose("#signin-user", who).await;
        self.type_into("#signin-passphrase", passphrase).await;
        self.click("#signin-submit").await;
    }

    pub async fn sign_out(&self) {
        self.click("#sign-out").await;
        self.element("#signin-user option").await;
    }
}

/// The real app on a private display, driven through tauri-driver; all stopped when dropped.
pub struct App {
    /// The window.
    pub window: Window,
    _driver: Process,
    _display: Display,
}

/// The folder a window launched with screenshots in `shots` sees as its one removable drive.
pub fn usb_stick(shots: &Path) -> PathBuf {
    let name = shots.file_name().unwrap_or_default().to_string_lossy();
    shots.with_file_name(format!("{name}-usb"))
}

impl App {
    /// Starts the debug build of the app on `home`, saving screenshots under target/e2e/`shots`.
    pub async fn launch(home: &Path, shots: &str) -> App {
        App::launch_with(home, shots, &[]).await
    }

    /// Like [`App::launch`], with more arguments for the app (e.g. `--peer ADDR`).
    pub async fn launch_with(home: &Path, shots: &str, extra: &[&str]) -> App {
        let app = need(
            root().join("target/debug/carelog-desktop"),
            "build the window and the app first: `cargo xtask test` does (trunk build in ui/, then cargo build -p carelog-desktop)",
        );
        let args = ["--home".to_string(), home.display().to_string()]
            .into_iter()
            .chain(extra.iter().map(|a| a.to_string()))
            .collect();
        App::launch_program(&app, args, None, shots).await
    }

    /// Starts `app` as the desktop menu does: no arguments, for a person whose home directory is
    /// `user_home` (so the app's data directory is inside it), with no `$XDG_DATA_HOME`.
    pub async fn launch_as_from_menu(app: &Path, user_home: &Path, shots: &str) -> App {
        App::launch_program(app, Vec::new(), Some(user_home), shots).await
    }

    async fn launch_program(
        app: &Path,
        args: Vec<String>,
        user_home: Option<&Path>,
        shots: &str,
    ) -> App {
        let driver = which("tauri-driver")
            .expect("tauri-driver is missing: cargo install tauri-driver --locked --version 2.1.0");
        let shots = root().join("target/e2e").join(shots);
        if shots.exists() {
            std::fs::remove_dir_all(&shots).expect("old screenshots can be removed");
        }
        std::fs::create_dir_all(&shots).expect("the screenshot directory can be created");
        // The app's own data directory (where "Open the demo network" builds the demo) stays
        // inside target/, never in the user's home.
        let data_home = root().join("target/e2e").join(format!(
            "{}-data",
            shots.file_name().unwrap_or_default().to_string_lossy()
        ));
        if data_home.exists() {
            std::fs::remove_dir_all(&data_home).expect("old app data can be removed");
        }
        // A "USB stick" for what the kiosk saves: an empty folder beside the screenshots.
        let stick = usb_stick(&shots);
        if stick.exists() {
            std::fs::remove_dir_all(&stick).expect("an old USB stick folder can be removed");
        }
        std::fs::create_dir_all(&stick).expect("the USB stick folder can be created");
        let display = Display::start();
        let port = free_port();
        let native_port = free_port();
        // tauri-driver's own messages (and WebKitWebDriver's) go to a file beside the
        // screenshots, so a failure to start says why.
        let driver_log = shots.join("tauri-driver.log");
        let log_file = std::fs::File::create(&driver_log).expect("the driver log can be created");
        let mut command = Command::new(driver);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", &display.name)
            .env_remove("CARELOG_HOME")
            .env("CARELOG_NODE_PASSPHRASE", NODE_PASSPHRASE)
            .env_remove("CARELOG_NODE_PASSPHRASE_FILE")
            .env_remove("CARELOG_IDLE_LOCK")
            .env("CARELOG_REMOVABLE_MEDIA", &stick)
            .stdout(Stdio::null())
            .stderr(log_file);
        match user_home {
            // A person's own home: the app's data directory is ~/.local/share/carelog in it.
            Some(home) => command.env("HOME", home).env_remove("XDG_DATA_HOME"),
            None => command.env("XDG_DATA_HOME", &data_home),
        };
        let driver = Process::start("tauri-driver", &mut command);
        // tauri-driver listens at once but starts WebKitWebDriver behind it; a session asked
        // for before WebKitWebDriver listens is dropped mid-answer, so wait for both.
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "tauri-driver did not listen on port {port}: {}",
            tail(&driver_log)
        );
        assert!(
            wait_for_port(native_port, Duration::from_secs(60)),
            "WebKitWebDriver did not listen on port {native_port}: {}",
            tail(&driver_log)
        );
        let capabilities = json!({
            "browserName": "wry",
            "tauri:options": {
                "application": app,
                "args": args,
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        // A cold machine can take a while to map WebKit the first time; try a few times.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            match ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if attempt < 4 => {
                    eprintln!("WebDriver session attempt {attempt} failed ({e}); trying again");
                    tokio::time::sleep(Duration::from_secs(3 * attempt)).await;
                }
                Err(e) => panic!(
                    "no WebDriver session with the app after {attempt} attempts: {e}\n{}",
                    tail(&driver_log)
                ),
            }
        };
        App {
            window: Window {
                client,
                shots,
                step: 0,
            },
            _driver: driver,
            _display: display,
        }
    }

    /// Ends the WebDriver session (the app closes), then stops tauri-driver and the display.
    pub async fn close(self) {
        self.window
            .client
            .clone()
            .close()
            .await
            .expect("the session ends");
    }
}
