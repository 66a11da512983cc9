//! Signed updates of the app: from the health authority's update server, or, for a clinic with
//! no internet, from a USB stick, checked the same way.
//!
//! The packages are signed with the update key of whoever built them (a health authority, with
//! `cargo xtask dist --update-key`); the app carries only the public key
//! (`plugins.updater.pubkey`, merged into its configuration when the packages are built). The
//! Tauri updater then refuses a package whose signature does not hold under that key, or whose
//! signed version is not the version the manifest announces (so an old, genuinely signed package
//! cannot be passed off as new). A USB stick holds the update folder exactly as `dist` writes it
//! and a web server serves it: `latest.json` with the packages beside it. From a file, the
//! package is the one named by the manifest's address for this platform, read from the folder
//! the manifest is in; the same `Update::verify` checks it before anything is installed.

use std::path::Path;

use carelog_desktop_api::{CheckUpdate, Failure, FailureKind, UpdateOffer};
use carelog_ledger::Role;
use tauri::{AppHandle, Runtime, State, Url};
use tauri_plugin_updater::{Update, Updater, UpdaterExt};

use crate::desk::Desk;

type Answer<T> = Result<T, Failure>;

/// The manifest's file name in an update folder.
pub const MANIFEST: &str = "latest.json";

/// An update that is not taken: a signature that fails, a manifest that is not one.
fn refused(message: impl Into<String>) -> Failure {
    Failure::new(FailureKind::Invalid, message)
}

fn problem(message: impl Into<String>) -> Failure {
    Failure::new(FailureKind::Other, message)
}

/// The update public key this build carries; packages made by `cargo xtask dist` have one,
/// developer builds do not (and so accept no update at all).
fn update_key<R: Runtime>(app: &AppHandle<R>) -> Option<String> {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|u| u["pubkey"].as_str())
        .filter(|k| !k.trim().is_empty())
        .map(str::to_string)
}

fn no_key() -> Failure {
    refused(
        "this build of Carelog carries no update key, so it accepts no update: install the packages the health authority built",
    )
}

/// The configured update server(s), for the sentence that says where updates come from.
fn endpoints<R: Runtime>(app: &AppHandle<R>) -> Vec<String> {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|u| u["endpoints"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

/// An updater for reading a manifest from a file. The builder insists on an endpoint although
/// a manifest given to `restore_update` is never fetched: a build without an update server gets
/// a placeholder under the reserved `.invalid` domain, which nothing ever resolves.
fn file_updater<R: Runtime>(app: &AppHandle<R>) -> Answer<Updater> {
    let mut builder = app.updater_builder();
    if endpoints(app).is_empty() {
        let placeholder = Url::parse("https://updates.invalid/latest.json")
            .map_err(|e| problem(e.to_string()))?;
        builder = builder
            .endpoints(vec![placeholder])
            .map_err(|e| problem(e.to_string()))?;
    }
    builder
        .build()
        .map_err(|e| problem(format!("the updater could not start: {e}")))
}

/// An update read from an update folder (a USB stick), its package read and its signature
/// checked; `None` when the folder holds no newer version than this one.
pub struct FromFile {
    /// The update as the manifest announces it.
    pub update: Update,
    /// The package's bytes, verified.
    pub package: Vec<u8>,
}

/// Reads `manifest` (a `latest.json`, or the folder holding one) and the package it names for
/// this platform beside it, and verifies the package's signature with this build's update key.
pub fn from_file<R: Runtime>(app: &AppHandle<R>, manifest: &Path) -> Answer<Option<FromFile>> {
    if update_key(app).is_none() {
        return Err(no_key());
    }
    let manifest = if manifest.is_dir() {
        manifest.join(MANIFEST)
    } else {
        manifest.to_path_buf()
    };
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        problem(format!(
            "cannot read the update manifest {}: {e}",
            manifest.display()
        ))
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        refused(format!(
            "{} is not an update manifest: {e}",
            manifest.display()
        ))
    })?;
    let update = file_updater(app)?.restore_update(json).map_err(|e| {
        refused(format!(
            "{} is not an update for this computer: {e}",
            manifest.display()
        ))
    })?;
    let Some(update) = update else {
        return Ok(None);
    };
    let name = update
        .download_url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| refused("the manifest names no package for this computer"))?
        .to_string();
    let folder = manifest.parent().unwrap_or(Path::new("."));
    let package = std::fs::read(folder.join(&name)).map_err(|e| {
        problem(format!(
            "the manifest names {name}, which is not beside it in {}: {e}",
            folder.display()
        ))
    })?;
    update.verify(&package).map_err(|e| {
        refused(format!(
            "the update was refused: {name} is not signed by this network's update key ({e})"
        ))
    })?;
    Ok(Some(FromFile { update, package }))
}

fn offer(app_version: String, update: Option<&Update>, source: String) -> UpdateOffer {
    UpdateOffer {
        current: app_version,
        available: update.map(|u| u.version.clone()),
        notes: update.and_then(|u| u.body.clone()),
        source,
    }
}

/// Updates change the software of the whole computer: only a clinic admin asks for them.
fn admin_only(desk: &Desk) -> Answer<()> {
    desk.with_session(|node, session| match node.role_of(&session.user) {
        Some(Role::Admin) => Ok(()),
        _ => Err(Failure::new(
            FailureKind::Denied,
            "only a clinic admin installs updates",
        )),
    })
}

/// Looks for a newer version on the update server, or in an update folder (`manifest_path`);
/// from a folder the package's signature is checked at once.
#[tauri::command]
pub async fn check_update(
    app: AppHandle,
    desk: State<'_, Desk>,
    args: CheckUpdate,
) -> Answer<UpdateOffer> {
    admin_only(&desk)?;
    let current = app.package_info().version.to_string();
    match args.manifest_path.as_deref().map(str::trim) {
        Some(path) if !path.is_empty() => {
            let found = from_file(&app, Path::new(path))?;
            Ok(offer(
                current,
                found.as_ref().map(|f| &f.update),
                format!("{path} (signature checked)"),
            ))
        }
        _ => {
            if update_key(&app).is_none() {
                return Err(no_key());
            }
            let servers = endpoints(&app);
            if servers.is_empty() {
                return Err(refused(
                    "this build names no update server: take updates from the health authority's USB stick",
                ));
            }
            let update = app
                .updater()
                .map_err(|e| problem(e.to_string()))?
                .check()
                .await
                .map_err(|e| problem(format!("the update server did not answer: {e}")))?;
            Ok(offer(current, update.as_ref(), servers.join(", ")))
        }
    }
}

/// Installs the newer version (the same source as `check_update`). The signature is checked
/// again on the bytes that are installed; the app runs the new version after a restart.
#[tauri::command]
pub async fn install_update(
    app: AppHandle,
    desk: State<'_, Desk>,
    args: CheckUpdate,
) -> Answer<String> {
    admin_only(&desk)?;
    let installed = match args.manifest_path.as_deref().map(str::trim) {
        Some(path) if !path.is_empty() => {
            let found = from_file(&app, Path::new(path))?
                .ok_or_else(|| refused("the update folder holds no newer version"))?;
            found
                .update
                .install(&found.package)
                .map_err(|e| problem(format!("the update could not be installed: {e}")))?;
            found.update.version
        }
        _ => {
            if update_key(&app).is_none() {
                return Err(no_key());
            }
            let update = app
                .updater()
                .map_err(|e| problem(e.to_string()))?
                .check()
                .await
                .map_err(|e| problem(format!("the update server did not answer: {e}")))?
                .ok_or_else(|| refused("there is no newer version on the update server"))?;
            update
                .download_and_install(|_, _| {}, || {})
                .await
                .map_err(|e| problem(format!("the update could not be installed: {e}")))?;
            update.version
        }
    };
    Ok(format!(
        "Carelog {installed} is installed; close and reopen Carelog to use it."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};

    fn b64(text: String) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A throwaway update key: the public half as the app's configuration holds it.
    struct Key {
        pair: minisign::KeyPair,
    }

    impl Key {
        fn new() -> Key {
            Key {
                pair: minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair"),
            }
        }

        fn public_config(&self) -> String {
            b64(self.pair.pk.to_box().expect("a box").into_string())
        }

        /// A signature as `cargo xtask dist` writes it into the manifest.
        fn sign(&self, bytes: &[u8], name: &str, version: &str) -> String {
            let trusted = format!("timestamp:1800000000\tfile:{name}\tversion:{version}");
            let signature = minisign::sign(
                Some(&self.pair.pk),
                &self.pair.sk,
                bytes,
                Some(&trusted),
                None,
            )
            .expect("signed");
            b64(signature.into_string())
        }
    }

    /// The app as a package built with `key` runs it (no window, Tauri's mock runtime).
    fn app_trusting(key: &Key) -> tauri::App<MockRuntime> {
        let mut context = mock_context(noop_assets());
        context.config_mut().plugins.0.insert(
            "updater".into(),
            serde_json::json!({"pubkey": key.public_config(), "requireSignedVersion": true}),
        );
        mock_builder()
            // The platform entry `cargo xtask dist` writes for a .deb on this machine.
            .plugin(
                tauri_plugin_updater::Builder::new()
                    .target(format!("linux-{}-deb", std::env::consts::ARCH))
                    .build(),
            )
            .build(context)
            .expect("the app starts")
    }

    /// An update folder: the package and a manifest announcing `version` with `signature`.
    fn folder(package: &[u8], version: &str, signature: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let name = format!("Carelog_{version}_amd64.deb");
        std::fs::write(dir.path().join(&name), package).expect("the package is written");
        let manifest = serde_json::json!({
            "version": version,
            "notes": "fixes",
            "pub_date": "2027-01-05T10:00:00Z",
            "platforms": {
                format!("linux-{}-deb", std::env::consts::ARCH): {
                    "signature": signature,
                    "url": format!("https://updates.example/carelog/{name}"),
                }
            }
        });
        std::fs::write(
            dir.path().join(MANIFEST),
            serde_json::to_vec(&manifest).expect("json"),
        )
        .expect("the manifest is written");
        dir
    }

    const PACKAGE: &[u8] = b"!<arch>\ndebian-binary the new Carelog";

    #[test]
    fn an_update_signed_with_the_network_key_is_accepted() {
        let key = Key::new();
        let app = app_trusting(&key);
        let usb = folder(
            PACKAGE,
            "9.1.0",
            &key.sign(PACKAGE, "Carelog_9.1.0_amd64.deb", "9.1.0"),
        );
        let found = from_file(app.handle(), &usb.path().join(MANIFEST))
            .expect("a good signature is accepted")
            .expect("9.1.0 is newer than the running version");
        assert_eq!(found.update.version, "9.1.0");
        assert_eq!(found.package, PACKAGE);
        // The folder itself may be given, as a person picks the USB stick.
        assert!(from_file(app.handle(), usb.path()).is_ok());
    }

    #[test]
    fn a_changed_package_is_refused() {
        let key = Key::new();
        let app = app_trusting(&key);
        let mut changed = PACKAGE.to_vec();
        changed.extend_from_slice(b" with something added");
        let usb = folder(
            &changed,
            "9.1.0",
            &key.sign(PACKAGE, "Carelog_9.1.0_amd64.deb", "9.1.0"),
        );
        let refusal = from_file(app.handle(), &usb.path().join(MANIFEST))
            .err()
            .expect("a bad signature is refused");
        assert_eq!(refusal.kind, FailureKind::Invalid);
        assert!(
            refusal
                .message
                .contains("not signed by this network's update key")
        );
    }

    #[test]
    fn a_package_signed_with_another_key_is_refused() {
        let network = Key::new();
        let stranger = Key::new();
        let app = app_trusting(&network);
        let usb = folder(
            PACKAGE,
            "9.1.0",
            &stranger.sign(PACKAGE, "Carelog_9.1.0_amd64.deb", "9.1.0"),
        );
        let refusal = from_file(app.handle(), usb.path())
            .err()
            .expect("another key's signature is refused");
        assert_eq!(refusal.kind, FailureKind::Invalid);
    }

    #[test]
    fn an_old_package_announced_as_a_new_version_is_refused() {
        let key = Key::new();
        let app = app_trusting(&key);
        // Genuinely signed, but for 0.0.9: the manifest cannot relabel it 9.1.0.
        let usb = folder(
            PACKAGE,
            "9.1.0",
            &key.sign(PACKAGE, "Carelog_9.1.0_amd64.deb", "0.0.9"),
        );
        assert!(from_file(app.handle(), usb.path()).is_err());
    }

    #[test]
    fn a_folder_with_no_newer_version_offers_nothing() {
        let key = Key::new();
        let app = app_trusting(&key);
        let usb = folder(
            PACKAGE,
            "0.0.1",
            &key.sign(PACKAGE, "Carelog_0.0.1_amd64.deb", "0.0.1"),
        );
        assert!(
            from_file(app.handle(), usb.path())
                .expect("an older version is no error")
                .is_none()
        );
    }

    #[test]
    fn a_build_without_an_update_key_accepts_nothing() {
        let key = Key::new();
        let app = mock_builder()
            .plugin(tauri_plugin_updater::Builder::new().build())
            .build({
                let mut context = mock_context(noop_assets());
                context
                    .config_mut()
                    .plugins
                    .0
                    .insert("updater".into(), serde_json::json!({"pubkey": ""}));
                context
            })
            .expect("the app starts");
        let usb = folder(
            PACKAGE,
            "9.1.0",
            &key.sign(PACKAGE, "Carelog_9.1.0_amd64.deb", "9.1.0"),
        );
        let refusal = from_file(app.handle(), usb.path()).err().expect("refused");
        assert!(
            refusal.message.contains("carries no update key"),
            "{}",
            refusal.message
        );
    }
}
