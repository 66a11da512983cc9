//! Where Carelog keeps its data when no home is named: the platform's data directory, so the
//! desktop app started from the menu and the `carelog` command agree on one clinic home.
//!
//! - Linux: `$XDG_DATA_HOME/carelog`, else `~/.local/share/carelog`;
//! - macOS: `~/Library/Application Support/carelog`;
//! - Windows: `%LOCALAPPDATA%\carelog` (not the roaming profile: a clinic's database stays on
//!   its machine).
//!
//! The clinic home is `clinic/` inside it; exports and the demo network sit beside it.
//!
//! A service account names its home explicitly (`--home` or `$CARELOG_HOME`), as the packaged
//! systemd unit does with `/var/lib/carelog`.

use std::path::PathBuf;

/// The directory under which Carelog keeps its homes, exports and the demo network.
pub fn data_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("carelog")
}

/// The clinic home used when neither `--home` nor `$CARELOG_HOME` names one.
pub fn default_home() -> PathBuf {
    data_dir().join("clinic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_home_lies_in_the_platform_data_directory() {
        let home = default_home();
        assert!(home.ends_with("carelog/clinic"), "{}", home.display());
        if let Some(platform) = dirs::data_local_dir() {
            assert!(home.starts_with(platform), "{}", home.display());
        }
    }
}
