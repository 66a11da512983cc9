//! The window decides nothing: `src-tauri` and `ui` reach the ledger's state and policy only
//! through the node, which owns `authorize` and every read of the state. This check reads their
//! sources and names each line that reaches around the node.

use std::path::{Path, PathBuf};

use crate::Result;

/// What the window's code must not write, and why.
const AROUND_THE_NODE: &[(&str, &str)] = &[
    (
        "authorize(",
        "access decisions belong to the node's policy call",
    ),
    (
        ".state()",
        "the ledger's state is read through the node's own lists",
    ),
    (".ledger()", "the window asks the node, not its ledger"),
    ("carelog_ledger::policy", "the policy is the node's to call"),
];

/// The window's sources, relative to the workspace root.
const WINDOW_SOURCES: &[&str] = &["src-tauri/src", "ui/src"];

/// Checks the window's sources under `root`; the error lists every offending line.
pub fn check(root: &Path) -> Result {
    let mut found = Vec::new();
    for dir in WINDOW_SOURCES {
        for file in rust_files(&root.join(dir))? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("could not read {}: {e}", file.display()))?;
            let shown = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            found.extend(offences(&shown, &text));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the window reaches around the node (add what it needs to carelog-node instead):\n{}",
            found.join("\n")
        ))
    }
}

/// Each line of `text` (a file called `shown`) that reaches around the node, with why.
fn offences(shown: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (needle, why) in AROUND_THE_NODE {
            if code.contains(needle) {
                found.push(format!("  {shown}:{}: `{}`: {why}", n + 1, line.trim()));
            }
        }
    }
    found
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("could not list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("could not list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_call_or_a_state_read_in_the_window_is_named() {
        let text = "fn a() {}\n    let s = node.ledger().state();\n// authorize( in a comment\nauthorize(state, u, &a, None, now)?;\n";
        let found = offences("src-tauri/src/x.rs", text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("  src-tauri/src/x.rs:2:"));
        assert!(found[2].contains(":4:") && found[2].contains("policy"));
        assert!(offences("ui/src/y.rs", "node.staff()\n").is_empty());
    }

    #[test]
    fn the_window_of_this_workspace_goes_through_the_node() {
        check(&crate::root()).unwrap();
    }
}
