//! What a patient takes away from the kiosk, on a removable drive (never a file dialog: the
//! kiosk does not browse this computer's folders): the summary of their record as a PDF, and the
//! record itself to carry to a clinic with no link to this one. And, at the front desk of that
//! clinic, receiving such a record.

use std::path::{Path, PathBuf};

use carelog_desktop_api::{BundleImported, ImportBundle, SavedFile, TakeAway, TakeAwayKind};
use carelog_node::Document;
use tauri::State;

use crate::commands::{Answer, invalid, patient, write_private};
use crate::desk::{Desk, failure};

/// Mount points of removable drives, separated by `:`, for machines that mount them somewhere
/// other than `/media/$USER` or `/run/media/$USER`.
pub const REMOVABLE_MEDIA_ENV: &str = "CARELOG_REMOVABLE_MEDIA";

/// The removable drives mounted now: each folder under the places desktops mount them.
fn drives() -> Vec<PathBuf> {
    drives_of(
        std::env::var(REMOVABLE_MEDIA_ENV).ok().as_deref(),
        &std::env::var("USER").unwrap_or_default(),
    )
}

/// The drives named in `listed` that exist, then the folders where `user`'s desktop mounts them.
fn drives_of(listed: Option<&str>, user: &str) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut drives: Vec<PathBuf> = Vec::new();
    if let Some(listed) = listed {
        drives.extend(
            listed
                .split(':')
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_dir()),
        );
    }
    if !user.is_empty() {
        roots.push(Path::new("/media").join(user));
        roots.push(Path::new("/run/media").join(user));
    }
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        drives.extend(found);
    }
    drives.dedup();
    drives
}

/// The removable drives the kiosk may save to.
#[tauri::command]
pub async fn removable_drives() -> Answer<Vec<String>> {
    Ok(drives().iter().map(|p| p.display().to_string()).collect())
}

/// Saves the patient's summary or record on a removable drive, named with today's date.
#[tauri::command]
pub async fn take_away(desk: State<'_, Desk>, args: TakeAway) -> Answer<SavedFile> {
    let drive = drives()
        .into_iter()
        .find(|d| d.display().to_string() == args.drive)
        .ok_or_else(|| {
            invalid("plug in a USB stick (or a phone as a drive) and choose it from the list")
        })?;
    let today = &carelog_node::rfc3339(carelog_node::now_ms())[..10];
    let (bytes, name) = desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        match args.what {
            TakeAwayKind::Summary => node
                .print_document(session, id, &Document::PatientSummary)
                .map(|pdf| (pdf, format!("carelog-summary-{today}.pdf")))
                .map_err(failure),
            TakeAwayKind::Record => {
                if session.user != id {
                    return Err(invalid(
                        "only the patient takes their record away, with their own card and PIN",
                    ));
                }
                node.export_bundle(session)
                    .map(|b| (b, format!("carelog-record-{today}.json")))
                    .map_err(failure)
            }
        }
    })?;
    let target = drive.join(name);
    write_private(&target, &bytes).map_err(|e| {
        invalid(format!(
            "could not save on {}: {e}; is the drive full or read-only?",
            drive.display()
        ))
    })?;
    Ok(SavedFile {
        file: target.display().to_string(),
    })
}

/// A patient's record brought on a USB stick or phone: checked exactly like blocks from sync,
/// then stored with the patient's sealed keys (which open only with their card and PIN).
#[tauri::command]
pub async fn import_bundle(desk: State<'_, Desk>, args: ImportBundle) -> Answer<BundleImported> {
    let path = PathBuf::from(args.path.trim());
    if !path.is_absolute() || !path.is_file() {
        return Err(invalid(format!(
            "`{}` is not a file: give the full path of the record the patient brought",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| invalid(format!("could not read {}: {e}", path.display())))?;
    desk.with_session(|node, _session| {
        let (patient, blocks) = node.import_bundle(&bytes).map_err(failure)?;
        Ok(BundleImported {
            patient_id: patient.to_string(),
            blocks,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_named_in_the_environment_are_listed_when_they_exist() {
        let dir = std::env::temp_dir().join(format!("carelog-drives-{}", std::process::id()));
        let stick = dir.join("STICK");
        std::fs::create_dir_all(&stick).unwrap();
        let missing = dir.join("GONE");
        let named = format!("{}:{}", stick.display(), missing.display());
        let listed = drives_of(Some(&named), "");
        assert!(listed.contains(&stick), "{listed:?}");
        assert!(!listed.contains(&missing), "{listed:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
