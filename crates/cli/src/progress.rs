//! Progress of long work (verify, replay, recovery, backups, imports) as a bar on stderr, shown
//! only to a person at a terminal and never with `--json` (scripts read one object on stdout).

use std::io::IsTerminal;
use std::sync::OnceLock;

use carelog_node::{Node, NodeUnlock};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Failure;

static JSON: OnceLock<bool> = OnceLock::new();

/// Whether output is for scripts (`--json`): then no bar is ever drawn.
pub fn set_json(json: bool) {
    let _ = JSON.set(json);
}

/// A bar for one piece of long work, hidden unless a person is watching stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Work shorter than this draws nothing (opening a home usually takes milliseconds).
    after: std::time::Duration,
    started: std::time::Instant,
}

impl Progress {
    /// A bar titled `what` ("Checking blocks").
    pub fn new(what: &str) -> Progress {
        let shown = !JSON.get().copied().unwrap_or(false) && std::io::stderr().is_terminal();
        let bar = shown.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(what.to_string());
            bar
        });
        Progress {
            bar,
            after: std::time::Duration::ZERO,
            started: std::time::Instant::now(),
        }
    }

    /// A bar that shows only once the work has taken half a second.
    pub fn delayed(what: &str) -> Progress {
        let mut progress = Progress::new(what);
        if let Some(bar) = &progress.bar {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        progress.after = std::time::Duration::from_millis(500);
        progress
    }

    /// `done` of `total` so far.
    pub fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.started.elapsed() >= self.after {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// A callback for the node's `*_with` calls.
    pub fn callback(&self) -> impl FnMut(usize, usize) + '_ {
        move |done, total| self.update(done, total)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Opens the home as every command does (its keys from the environment or the keyring), with a
/// bar while the blocks beyond its saved state are checked and applied, if that takes a while.
pub fn open(home: &std::path::Path) -> Result<Node, Failure> {
    let unlock = NodeUnlock::from_env()?;
    let progress = Progress::delayed("Checking and applying blocks");
    Ok(Node::open_with_progress(
        home,
        &unlock,
        &mut progress.callback(),
    )?)
}
