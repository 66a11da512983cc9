//! `carelog-packaging ROOT FORMAT…`: Tauri's bundler, driven from `tauri.conf.json` at ROOT,
//! makes the packages of the release build in ROOT/target/release (`deb`, `rpm`; on their own
//! systems also `appimage`, `nsis`, `msi`, `dmg`). One JSON line per package on stdout:
//! `{"format":"deb","path":"…"}`. `cargo xtask dist` runs it after the release build and then
//! signs what it made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tauri_bundler::{
    AppCategory, AppImageSettings, BundleBinary, BundleSettings, DebianSettings, DmgSettings,
    MacOsSettings, NsisSettings, PackageSettings, PackageType, RpmSettings, SettingsBuilder, Size,
    UpdaterSettings, WindowsSettings,
};
use tauri_utils::config::Config;

type Result<T> = std::result::Result<T, String>;

/// The bundler's messages, on stderr.
struct Messages;

impl log::Log for Messages {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("    bundler {}: {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    let _ = log::set_logger(&Messages);
    log::set_max_level(log::LevelFilter::Info);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carelog-packaging: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let (root, formats) = args
        .split_first()
        .ok_or("usage: carelog-packaging ROOT FORMAT…")?;
    let root = PathBuf::from(root);
    let formats = formats
        .iter()
        .map(|f| PackageType::from_short_name(f).ok_or_else(|| format!("unknown format {f}")))
        .collect::<Result<Vec<_>>>()?;
    let path = root.join("tauri.conf.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let config: Config =
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))?;
    for (format, path) in bundle(&root, &config, &formats)? {
        println!(
            "{}",
            serde_json::json!({"format": format, "path": path.display().to_string()})
        );
    }
    Ok(())
}

/// Makes the packages with Tauri's bundler from the app's configuration.
fn bundle(
    root: &Path,
    config: &Config,
    formats: &[PackageType],
) -> Result<Vec<(&'static str, PathBuf)>> {
    let bundle = &config.bundle;
    let resolve = |p: &Path| root.join(p);
    let files = |map: &HashMap<PathBuf, PathBuf>| {
        map.iter()
            .map(|(to, from)| (to.clone(), resolve(from)))
            .collect::<HashMap<_, _>>()
    };
    let linux = &bundle.linux;
    let version = config
        .version
        .clone()
        .ok_or("tauri.conf.json names no version")?;
    let product = config
        .product_name
        .clone()
        .ok_or("tauri.conf.json names no productName")?;
    let main = config
        .main_binary_name
        .clone()
        .ok_or("tauri.conf.json names no mainBinaryName")?;
    let category = bundle
        .category
        .as_deref()
        .map(|c| c.parse::<AppCategory>())
        .transpose()
        .map_err(|e| format!("bundle.category: {e:?}"))?;
    let settings = BundleSettings {
        identifier: Some(config.identifier.clone()),
        publisher: bundle.publisher.clone(),
        homepage: bundle.homepage.clone(),
        icon: Some(
            bundle
                .icon
                .iter()
                .map(|i| resolve(Path::new(i)).display().to_string())
                .collect(),
        ),
        copyright: bundle.copyright.clone(),
        license: bundle.license.clone(),
        category,
        short_description: bundle.short_description.clone(),
        long_description: bundle.long_description.clone(),
        deb: DebianSettings {
            depends: linux.deb.depends.clone(),
            section: linux.deb.section.clone(),
            files: files(&linux.deb.files),
            post_install_script: linux.deb.post_install_script.as_deref().map(resolve),
            pre_remove_script: linux.deb.pre_remove_script.as_deref().map(resolve),
            post_remove_script: linux.deb.post_remove_script.as_deref().map(resolve),
            ..DebianSettings::default()
        },
        rpm: RpmSettings {
            depends: linux.rpm.depends.clone(),
            release: linux.rpm.release.clone(),
            epoch: linux.rpm.epoch,
            files: files(&linux.rpm.files),
            post_install_script: linux.rpm.post_install_script.as_deref().map(resolve),
            pre_remove_script: linux.rpm.pre_remove_script.as_deref().map(resolve),
            post_remove_script: linux.rpm.post_remove_script.as_deref().map(resolve),
            ..RpmSettings::default()
        },
        appimage: AppImageSettings {
            files: files(&linux.appimage.files),
            bundle_media_framework: linux.appimage.bundle_media_framework,
            ..AppImageSettings::default()
        },
        // Windows and macOS packages are built on those systems; their settings travel with
        // the configuration so the same `dist` drives them there.
        windows: WindowsSettings {
            webview_install_mode: bundle.windows.webview_install_mode.clone(),
            nsis: bundle.windows.nsis.as_ref().map(|n| NsisSettings {
                install_mode: n.install_mode,
                display_language_selector: n.display_language_selector,
                ..NsisSettings::default()
            }),
            ..WindowsSettings::default()
        },
        macos: MacOsSettings {
            minimum_system_version: bundle.macos.minimum_system_version.clone(),
            ..MacOsSettings::default()
        },
        dmg: DmgSettings {
            window_size: Size {
                width: bundle.macos.dmg.window_size.width,
                height: bundle.macos.dmg.window_size.height,
            },
            ..DmgSettings::default()
        },
        // The packages themselves are the update artifacts (signed below).
        updater: Some(UpdaterSettings {
            v1_compatible: false,
            pubkey: String::new(),
            msiexec_args: &[],
        }),
        ..BundleSettings::default()
    };
    let out_dir = root.join("target/release");
    let settings = SettingsBuilder::new()
        .project_out_directory(&out_dir)
        .package_settings(PackageSettings {
            product_name: product,
            version,
            description: bundle.short_description.clone().unwrap_or_default(),
            homepage: bundle.homepage.clone(),
            authors: bundle.publisher.clone().map(|p| vec![p]),
            default_run: Some(main.clone()),
        })
        .bundle_settings(settings)
        .binaries(vec![
            BundleBinary::new(main, true),
            BundleBinary::new("carelog".into(), false),
        ])
        .package_types(formats.to_vec())
        // Marks each package's copy of the app with its kind (deb, rpm…), so the updater
        // installs an update with the right tool and asks for the matching manifest entry.
        .binary_patching(true)
        .build()
        .map_err(|e| format!("the bundler's settings: {e}"))?;
    let bundles = tauri_bundler::bundle_project(&settings)
        .map_err(|e| format!("the bundler failed: {e:#}"))?;
    let mut packages = Vec::new();
    for bundle in bundles {
        let format = bundle.package_type.short_name();
        for path in bundle.bundle_paths {
            packages.push((format, path));
        }
    }
    Ok(packages)
}
