//! `cargo xtask dist`: the release packages a clinic installs, signed for the updater.
//!
//! 1. The window is built by trunk in release mode, then `carelog-desktop` and `carelog` by cargo
//!    (release, Tauri's `custom-protocol`), with the update public key merged into the app's
//!    configuration (`TAURI_CONFIG`), so the app trusts updates signed by this key alone.
//! 2. Tauri's bundler (the `tauri-bundler` crate, driven from here) makes the packages named in
//!    `tauri.conf.json` that this machine can make: `.deb` and `.rpm` on Linux. AppImage, MSI,
//!    NSIS and dmg are configured there too, but their tools are downloaded by the bundler at
//!    build time (or need Windows or macOS), so they are built on those machines.
//! 3. Each package is signed with the update key (minisign, in the format of Tauri's signer) and
//!    an update manifest, `latest.json`, is written beside the packages in
//!    `target/release/bundle/update/`: the folder a health authority copies to a plain web
//!    server or to a USB stick.
//!
//! `--check` then installs the packages into scratch directories and checks them
//! ([`crate::install_check`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use base64::Engine;
use serde_json::{Value, json};

use crate::{Result, cmd, desktop, root, step};

/// The variable holding the password of the update key (`--update-key`, `--new-update-key`).
const KEY_PASSWORD: &str = "CARELOG_UPDATE_KEY_PASSWORD";
/// The packages this machine builds.
const LINUX_FORMATS: [&str; 2] = ["deb", "rpm"];

const USAGE: &str =
    "usage: cargo xtask dist [--check] [--timings] [--update-key FILE] [--update-url URL]
       cargo xtask dist --new-update-key DIR

  --check             install the packages into scratch directories and check them
  --timings           cargo's report of where the app's release build spends its time
                      (target/cargo-timings/)
  --update-key FILE   sign updates with this key (password in $CARELOG_UPDATE_KEY_PASSWORD);
                      without it a throwaway key under target/dist/ signs them
  --update-url URL    where the update folder will be served (https://…/carelog); the app
                      checks URL/latest.json
  --new-update-key DIR  make a health authority's update key pair in DIR";

/// What `dist` was asked for.
struct Options {
    check: bool,
    timings: bool,
    update_key: Option<PathBuf>,
    update_url: Option<String>,
    new_update_key: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            check: false,
            timings: false,
            update_key: None,
            update_url: None,
            new_update_key: None,
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = |name: &str| {
                iter.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--check" => options.check = true,
                "--timings" => options.timings = true,
                "--update-key" => options.update_key = Some(value(arg)?.into()),
                "--update-url" => {
                    let url = value(arg)?;
                    if !url.starts_with("https://") {
                        return Err(format!(
                            "--update-url must be an https:// address (the app refuses other endpoints): {url}"
                        ));
                    }
                    options.update_url = Some(url.trim_end_matches('/').to_string());
                }
                "--new-update-key" => options.new_update_key = Some(value(arg)?.into()),
                other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

/// A package that was built: its format (`deb`, `rpm`) and file.
#[derive(Clone, Debug)]
pub struct Package {
    pub format: &'static str,
    pub path: PathBuf,
}

/// `cargo xtask dist …`
pub fn dist(args: &[String]) -> Result {
    let options = Options::parse(args)?;
    if let Some(dir) = &options.new_update_key {
        return new_update_key(dir);
    }
    let started = Instant::now();
    let config = app_config()?;
    let key = UpdateKey::load(options.update_key.as_deref())?;
    desktop::ensure_tools(false)?;
    desktop::build_ui(true)?;
    let (build_seconds, build_cpu_seconds) =
        build_release(&key, options.update_url.as_deref(), options.timings)?;
    let packages = bundle()?;
    let update_dir = publish_update(&config, &key, &packages, options.update_url.as_deref())?;
    write_report(&config, &packages, build_seconds, build_cpu_seconds)?;
    println!(
        "\nPackages (release build of the app: {build_seconds:.0} s, {build_cpu_seconds:.0} s of processor time)"
    );
    for package in &packages {
        println!(
            "  {:<5} {:>7.1} MB  {}",
            package.format,
            size_mb(&package.path),
            package.path.display()
        );
    }
    println!(
        "  update folder (web server or USB stick): {}",
        update_dir.display()
    );
    if key.throwaway {
        println!(
            "  signed with a throwaway update key ({}): fine for trying the packages, not for clinics.\n  A health authority makes its own once with `cargo xtask dist --new-update-key DIR` and\n  builds with `--update-key DIR/carelog-update.key`.",
            key.dir.display()
        );
    }
    if options.check {
        crate::install_check::check(&packages, &key)?;
    }
    eprintln!(
        "\ndist finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1_048_576.0)
}

/// The app's configuration, `tauri.conf.json` at the repository root.
fn app_config() -> Result<Value> {
    let path = root().join("tauri.conf.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// A minisign key pair for signing updates, in the files Tauri's signer writes: each file holds
/// the base64 of the minisign text.
pub struct UpdateKey {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
    /// The public key as the app's configuration holds it (base64 of the minisign text).
    pub public_config: String,
    throwaway: bool,
    dir: PathBuf,
}

impl UpdateKey {
    /// The key in `file` (its password in `$CARELOG_UPDATE_KEY_PASSWORD`), or this checkout's
    /// throwaway key, made on first use.
    fn load(file: Option<&Path>) -> Result<UpdateKey> {
        let (file, throwaway) = match file {
            Some(file) => (file.to_path_buf(), false),
            None => {
                let dir = root().join("target/dist/throwaway-update-key");
                let file = dir.join("carelog-update.key");
                if !file.exists() {
                    write_key_pair(&dir, None)?;
                }
                (file, true)
            }
        };
        let decode = |path: &Path| -> Result<String> {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("could not read {}: {e}", path.display()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("{} is not a Carelog update key: {e}", path.display()))?;
            String::from_utf8(bytes)
                .map_err(|_| format!("{} is not a Carelog update key", path.display()))
        };
        let password = std::env::var(KEY_PASSWORD).ok().filter(|p| !p.is_empty());
        let secret_box = minisign::SecretKeyBox::from_string(&decode(&file)?)
            .map_err(|e| format!("{} is not a minisign secret key: {e}", file.display()))?;
        // Never a prompt: an encrypted key opens with the variable, the throwaway key has none.
        let secret = match password {
            Some(password) if !throwaway => secret_box.into_secret_key(Some(password)),
            _ => secret_box.into_unencrypted_secret_key(),
        }
        .map_err(|e| {
            format!(
                "could not open {} (is ${KEY_PASSWORD} its password?): {e}",
                file.display()
            )
        })?;
        let public = minisign::PublicKey::from_secret_key(&secret)
            .map_err(|e| format!("could not derive the public key: {e}"))?;
        let public_text = public.to_box().map_err(|e| e.to_string())?.into_string();
        Ok(UpdateKey {
            public_config: base64::engine::general_purpose::STANDARD.encode(public_text),
            secret,
            public,
            throwaway,
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// Checks bytes against a signature as the manifest and the `.sig` files carry it.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> Result {
        let text = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("the signature is not base64 text")?;
        let signature = minisign::SignatureBox::from_string(&text).map_err(|e| e.to_string())?;
        minisign::verify(
            &self.public,
            &signature,
            std::io::Cursor::new(bytes),
            true,
            false,
            false,
        )
        .map_err(|e| e.to_string())
    }

    /// Signs a file the way Tauri's signer does; the trusted comment names the file and the
    /// version, so a manifest cannot pass an old package off as a new version.
    fn sign(&self, path: &Path, version: &str) -> Result<String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = std::fs::File::open(path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let trusted = format!("timestamp:{timestamp}\tfile:{name}\tversion:{version}");
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            file,
            Some(&trusted),
            Some("signature from the Carelog update key"),
        )
        .map_err(|e| format!("could not sign {}: {e}", path.display()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature.into_string()))
    }
}

/// Writes `carelog-update.key` (the secret, encrypted when a password is given) and
/// `carelog-update.key.pub` in `dir`.
fn write_key_pair(dir: &Path, password: Option<String>) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let encrypted = password.is_some();
    let pair = if encrypted {
        minisign::KeyPair::generate_encrypted_keypair(password)
    } else {
        minisign::KeyPair::generate_unencrypted_keypair()
    }
    .map_err(|e| format!("could not make a key pair: {e}"))?;
    let b64 = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    let secret = b64(pair
        .sk
        .to_box(Some("Carelog update key"))
        .map_err(|e| e.to_string())?
        .into_string());
    let public = b64(pair.pk.to_box().map_err(|e| e.to_string())?.into_string());
    let secret_path = dir.join("carelog-update.key");
    write_private(&secret_path, secret.as_bytes())?;
    std::fs::write(dir.join("carelog-update.key.pub"), public)
        .map_err(|e| format!("could not write the public key: {e}"))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// `--new-update-key DIR`: a health authority's key pair, the secret under a password.
fn new_update_key(dir: &Path) -> Result {
    let password = std::env::var(KEY_PASSWORD)
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            format!("set ${KEY_PASSWORD} to the password that will protect the new update key")
        })?;
    if dir.join("carelog-update.key").exists() {
        return Err(format!(
            "{} already holds an update key; it is never overwritten",
            dir.display()
        ));
    }
    write_key_pair(dir, Some(password))?;
    println!(
        "Update key pair written to {dir}:\n  carelog-update.key      the secret (keep it offline, with its password)\n  carelog-update.key.pub  the public key\nBuild every release with `cargo xtask dist --update-key {dir}/carelog-update.key`: the\napps it makes accept only updates signed with this key.",
        dir = dir.display()
    );
    Ok(())
}

/// The release build of the app, with the update public key (and the endpoint) in its
/// configuration, then of the CLI (a build of its own: cargo works out features per build, so
/// the app's measured build time is the app's alone). Returns the app's build time, wall
/// and processor, in seconds.
fn build_release(key: &UpdateKey, update_url: Option<&str>, timings: bool) -> Result<(f64, f64)> {
    step("building carelog-desktop (release)");
    let mut updater = json!({"pubkey": key.public_config});
    if let Some(url) = update_url {
        updater["endpoints"] = json!([format!("{url}/latest.json")]);
    }
    let merge = json!({"plugins": {"updater": updater}});
    let mut app = vec![
        "build",
        "--release",
        "-p",
        "carelog-desktop",
        "--features",
        "carelog-desktop/custom-protocol",
    ];
    if timings {
        app.push("--timings");
    }
    let started = Instant::now();
    let cpu_before = children_cpu_seconds();
    let status = Command::new("cargo")
        .args(&app)
        .env("TAURI_CONFIG", merge.to_string())
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !status.success() {
        return Err("the release build of the app failed".into());
    }
    let seconds = started.elapsed().as_secs_f64();
    // On a shared machine the wall time depends on the neighbours; the processor time of cargo
    // and every compiler it ran does not, so both are reported.
    let cpu = children_cpu_seconds() - cpu_before;
    eprintln!("    (release build of the app took {seconds:.0} s, {cpu:.0} s of processor time)");
    step("building carelog (release)");
    cmd("cargo", &["build", "--release", "-p", "carelog-cli"])?;
    Ok((seconds, cpu))
}

/// User and system time of this process's finished children (cargo and every compiler it ran),
/// in seconds, from /proc/self/stat (Linux; 0 elsewhere).
fn children_cpu_seconds() -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // After the command name: state is field 3, cutime 16 and cstime 17 (1-based).
            let cutime: f64 = fields.get(13)?.parse().ok()?;
            let cstime: f64 = fields.get(14)?.parse().ok()?;
            Some((cutime + cstime) / ticks_per_second)
        })
        .unwrap_or(0.0)
}

/// Makes the Linux packages with Tauri's bundler, driven by `packaging/` (a program of its own,
/// outside the workspace, so the bundler and its image and RPM libraries are compiled only here,
/// never by `cargo xtask test`).
fn bundle() -> Result<Vec<Package>> {
    step("packaging (.deb, .rpm) with Tauri's bundler");
    let manifest = root().join("packaging/Cargo.toml");
    cmd(
        "cargo",
        &["fetch", "--manifest-path", &manifest.to_string_lossy()],
    )?;
    let out = Command::new("cargo")
        .args(["run", "--locked", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(root().join("target/packaging"))
        .arg("--")
        .arg(root())
        .args(LINUX_FORMATS)
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !out.status.success() {
        return Err("the packaging failed".into());
    }
    let mut packages = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let made: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("the packager said {line:?}: {e}"))?;
        let format = match made["format"].as_str() {
            Some("deb") => "deb",
            Some("rpm") => "rpm",
            _ => continue,
        };
        let path = made["path"].as_str().ok_or("a package without a path")?;
        packages.push(Package {
            format,
            path: PathBuf::from(path),
        });
    }
    for format in LINUX_FORMATS {
        if !packages.iter().any(|p| p.format == format) {
            return Err(format!("the bundler made no .{format} package"));
        }
    }
    Ok(packages)
}

/// Signs the packages and writes the update folder: the packages, their `.sig` files and
/// `latest.json`, whose entries point at `update_url/<package>` (or at the package beside the
/// manifest when no server is named: the USB stick).
fn publish_update(
    config: &Value,
    key: &UpdateKey,
    packages: &[Package],
    update_url: Option<&str>,
) -> Result<PathBuf> {
    step("signing the packages and writing the update manifest");
    let version = config["version"].as_str().unwrap_or_default().to_string();
    let dir = root().join("target/release/bundle/update");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("could not clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let mut platforms = serde_json::Map::new();
    for package in packages {
        let name = package
            .path
            .file_name()
            .ok_or("a package without a file name")?
            .to_string_lossy()
            .into_owned();
        let copy = dir.join(&name);
        std::fs::copy(&package.path, &copy)
            .map_err(|e| format!("could not copy {}: {e}", package.path.display()))?;
        let signature = key.sign(&copy, &version)?;
        std::fs::write(dir.join(format!("{name}.sig")), &signature)
            .map_err(|e| format!("could not write the signature of {name}: {e}"))?;
        let url = match update_url {
            Some(base) => format!("{base}/{name}"),
            None => format!("file:///{name}"),
        };
        platforms.insert(
            format!("linux-{}-{}", std::env::consts::ARCH, package.format),
            json!({"signature": signature, "url": url}),
        );
    }
    let manifest = json!({
        "version": version,
        "notes": format!("Carelog {version}"),
        "pub_date": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?,
        "platforms": platforms,
    });
    let path = dir.join("latest.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    Ok(dir)
}

/// `target/dist/report.json`: package sizes and the build time, read by `xtask bench`.
fn write_report(
    config: &Value,
    packages: &[Package],
    build_seconds: f64,
    build_cpu_seconds: f64,
) -> Result {
    let report = json!({
        "version": config["version"],
        "release_build_seconds": build_seconds,
        "release_build_cpu_seconds": build_cpu_seconds,
        "packages": packages.iter().map(|p| json!({
            "format": p.format,
            "file": p.path.display().to_string(),
            "bytes": std::fs::metadata(&p.path).map_or(0, |m| m.len()),
        })).collect::<Vec<_>>(),
    });
    let dir = root().join("target/dist");
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let path = dir.join("report.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// The file of the last `dist`'s package of a format, from its report.
pub fn last_package(format: &str) -> Option<PathBuf> {
    let bytes = std::fs::read(root().join("target/dist/report.json")).ok()?;
    let report: Value = serde_json::from_slice(&bytes).ok()?;
    report["packages"]
        .as_array()?
        .iter()
        .find(|p| p["format"] == format)
        .and_then(|p| p["file"].as_str())
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// The packages of the last `dist`, from its report (for `xtask bench`).
pub fn last_packages() -> Vec<(String, u64)> {
    std::fs::read(root().join("target/dist/report.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|report| {
            report["packages"].as_array().map(|list| {
                list.iter()
                    .map(|p| {
                        (
                            p["format"].as_str().unwrap_or("?").to_string(),
                            p["bytes"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_update_server_must_be_https() {
        let err = Options::parse(&args(&["--update-url", "http://updates.example/carelog"]))
            .err()
            .expect("plain http is refused");
        assert!(err.contains("https://"), "{err}");
        let ok = Options::parse(&args(&[
            "--check",
            "--update-url",
            "https://updates.example/carelog/",
        ]))
        .expect("https is taken");
        assert!(ok.check);
        assert_eq!(
            ok.update_url.as_deref(),
            Some("https://updates.example/carelog")
        );
    }

    #[test]
    fn a_signature_names_the_file_and_version_and_verifies_with_the_public_key() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        write_key_pair(dir.path(), None).expect("a key pair");
        let key = UpdateKey::load(Some(&dir.path().join("carelog-update.key")))
            .expect("an unencrypted key opens without a password");
        let package = dir.path().join("Carelog_9.9.9_amd64.deb");
        std::fs::write(&package, b"package bytes").expect("a package");
        let signature = key.sign(&package, "9.9.9").expect("signed");
        let text = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&signature)
                .expect("base64"),
        )
        .expect("text");
        let sig = minisign::SignatureBox::from_string(&text).expect("a minisign signature");
        let trusted = sig.trusted_comment().expect("a trusted comment");
        assert!(
            trusted.contains("file:Carelog_9.9.9_amd64.deb"),
            "{trusted}"
        );
        assert!(trusted.ends_with("version:9.9.9"), "{trusted}");
        let public = minisign::PublicKey::from_secret_key(&key.secret).expect("public");
        assert_eq!(public.keynum(), key.public.keynum());
        key.verify(b"package bytes", &signature)
            .expect("the signature holds");
        assert!(key.verify(b"other bytes", &signature).is_err());
    }
}
