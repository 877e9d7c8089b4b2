//! `cardswitch backup` and `restore` over whole data directories. A backup is taken of a
//! stopped switch: sled locks its directory, so a running switch's store cannot be opened and
//! the backup is refused rather than taken half-way. It holds the store only: the master key
//! (which unwraps every stored secret) and the admin credentials stay with the operator.
//! A restore checks the whole file and the master key before writing anything, builds the new
//! directory beside the target, audits it, and only then renames it into place.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::keys::{KeyError, MasterKey, MASTER_KEY_FILE};
use super::verify::{self, AuditReport};
use super::CoreError;
use crate::files;
use crate::store::backup::{self, BackupError, BackupHeader, BackupSummary};
use crate::store::{EngineKind, EngineSettings, Store, StoreError};

/// Why a backup or restore did not happen. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum BackupFailure {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the restored store fails the audit: {}", .0.join("; "))]
    Audit(Vec<String>),
}

impl From<StoreError> for BackupFailure {
    fn from(error: StoreError) -> BackupFailure {
        BackupFailure::Core(CoreError::Store(error))
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupFailure + '_ {
    move |source| BackupFailure::Io { path: path.display().to_string(), source }
}

/// What a restore wrote, and the audit of the restored store.
#[derive(Debug)]
pub struct RestoreReport {
    pub backup: BackupSummary,
    pub audit: AuditReport,
}

/// Writes a backup of the stopped data directory `data` to the new file `out` (0600). The file
/// is written beside `out`, read back and checked, then linked into place, so `out` is either
/// a whole, checked backup or absent.
pub fn backup_data_dir(
    data: &Path,
    out: &Path,
    now_ms: i64,
) -> Result<BackupSummary, BackupFailure> {
    if EngineKind::of_data_dir(data)?.is_none() {
        return Err(BackupFailure::Refused(format!("{} holds no store", data.display())));
    }
    if out.symlink_metadata().is_ok() {
        return Err(BackupFailure::Refused(format!(
            "{} already exists; a backup never replaces a file",
            out.display()
        )));
    }
    let keys = MasterKey::load(data)?;
    let store = open_stopped(data)?;
    let header = BackupHeader { created_ms: now_ms, key_fingerprint: keys.fingerprint() };
    let partial = sibling(out, "partial");
    let written = write_checked(&store, &header, &partial).and_then(|summary| {
        std::fs::hard_link(&partial, out).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => BackupFailure::Refused(format!(
                "{} appeared while the backup was written; nothing replaced",
                out.display()
            )),
            _ => io_error(out)(error),
        })?;
        Ok(summary)
    });
    let _ = std::fs::remove_file(&partial);
    let summary = written?;
    sync_parent(out)?;
    Ok(summary)
}

/// Opens a stopped directory's store; a store held by a running switch is refused by name.
fn open_stopped(data: &Path) -> Result<Store, BackupFailure> {
    let opened = Store::open_existing(data).and_then(|store| {
        store.ok_or_else(|| StoreError::Io(format!("{} holds no store", data.display())))
    });
    opened.map_err(|error| match error {
        StoreError::Locked(_) => BackupFailure::Refused(format!(
            "{} is in use by a running switch (its store is locked); backups are taken of a \
             stopped switch: stop it (SIGTERM) and run the backup again",
            data.display()
        )),
        other => other.into(),
    })
}

/// Writes the backup to `path`, makes it durable, and reads it back whole.
fn write_checked(
    store: &Store,
    header: &BackupHeader,
    path: &Path,
) -> Result<BackupSummary, BackupFailure> {
    let file = files::create_private_file(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    let summary = backup::write(store, header, &mut out)?;
    let file = out.into_inner().map_err(|error| io_error(path)(error.into_error()))?;
    file.sync_all().map_err(io_error(path))?;
    let read_back = check_file(path)?;
    if read_back != summary {
        return Err(BackupFailure::Refused(format!(
            "{} does not read back as written",
            path.display()
        )));
    }
    Ok(summary)
}

/// Checks a whole backup file without writing anything.
pub fn check_file(path: &Path) -> Result<BackupSummary, BackupFailure> {
    let (file, length) = open_backup(path)?;
    Ok(backup::check(BufReader::new(file), length)?)
}

fn open_backup(path: &Path) -> Result<(File, u64), BackupFailure> {
    let file = File::open(path).map_err(io_error(path))?;
    let length = file.metadata().map_err(io_error(path))?.len();
    Ok((file, length))
}

/// Restores the backup `from` into `data`, which must not exist or be empty, with the master
/// key file `master_key` (the backed-up directory's own). Checked first, written beside
/// `data`, audited, then renamed into place: on any failure `data` is left as it was.
pub fn restore_data_dir(
    from: &Path,
    data: &Path,
    master_key: &Path,
) -> Result<RestoreReport, BackupFailure> {
    let checked = check_file(from)?;
    let keys = MasterKey::load_file(master_key)?;
    if keys.fingerprint() != checked.header.key_fingerprint {
        return Err(BackupFailure::Refused(format!(
            "{} is not the master key of the backed-up switch (the fingerprints differ); a \
             restore needs the backed-up data directory's own master.key",
            master_key.display()
        )));
    }
    check_target(data)?;
    let parent = parent_of(data);
    std::fs::create_dir_all(&parent).map_err(io_error(&parent))?;
    let staging = sibling(data, "restoring");
    create_private_dir(&staging)?;
    let built = build(&staging, from, master_key, &keys, &checked).and_then(|report| {
        std::fs::rename(&staging, data).map_err(io_error(data))?;
        Ok(report)
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let report = built?;
    sync_parent(data)?;
    Ok(report)
}

/// A restore writes only into a new or empty directory.
fn check_target(data: &Path) -> Result<(), BackupFailure> {
    match std::fs::read_dir(data).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(BackupFailure::Refused(format!(
            "{} is not empty; a restore writes only into a new or empty directory",
            data.display()
        ))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(data)(error)),
    }
}

/// Fills `staging` with the key and the restored store, and audits it.
fn build(
    staging: &Path,
    from: &Path,
    master_key: &Path,
    keys: &MasterKey,
    checked: &BackupSummary,
) -> Result<RestoreReport, BackupFailure> {
    let key_text = std::fs::read(master_key).map_err(io_error(master_key))?;
    let key_copy = staging.join(MASTER_KEY_FILE);
    files::write_private_file(&key_copy, &key_text).map_err(io_error(&key_copy))?;
    // A restored store is kept in the default engine, whatever the backed-up one used: the
    // backup holds records, not engine files.
    let store =
        Store::with_engine(EngineKind::default().open(staging, EngineSettings::SHORT_OPEN)?);
    let (file, length) = open_backup(from)?;
    let restored = backup::restore(&store, BufReader::new(file), length)?;
    if &restored != checked {
        return Err(BackupFailure::Refused(format!(
            "{} changed while it was restored",
            from.display()
        )));
    }
    let audit = verify::audit_data_dir(staging, &store, keys)?;
    if !audit.is_clean() {
        return Err(BackupFailure::Audit(audit.problems));
    }
    Ok(RestoreReport { backup: restored, audit })
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A hidden name beside `path`, unique to this process, for work not yet in place.
fn sibling(path: &Path, purpose: &str) -> PathBuf {
    let name = path.file_name().map_or_else(|| "data".into(), |name| name.to_string_lossy());
    parent_of(path).join(format!(".{name}.{purpose}-{}", std::process::id()))
}

fn create_private_dir(path: &Path) -> Result<(), BackupFailure> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(io_error(path))
}

/// Makes a rename or link in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), BackupFailure> {
    let parent = parent_of(path);
    files::sync_dir(&parent).map_err(io_error(&parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_refuses_a_non_empty_target_and_a_backup_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("something"), b"x").unwrap();
        assert!(matches!(check_target(dir.path()), Err(BackupFailure::Refused(_))));
        assert!(check_target(&dir.path().join("new")).is_ok());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_target(&empty).is_ok());
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir(data.path().join(crate::store::STORE_DIR_NAME)).unwrap();
        let taken = dir.path().join("something");
        let refused = backup_data_dir(data.path(), &taken, 0).unwrap_err();
        assert!(refused.to_string().contains("already exists"), "{refused}");
    }

    #[test]
    fn staging_names_sit_beside_the_target_and_are_hidden() {
        let staging = sibling(Path::new("/srv/switch/data"), "restoring");
        assert_eq!(staging.parent(), Some(Path::new("/srv/switch")));
        assert!(staging.file_name().unwrap().to_string_lossy().starts_with(".data.restoring-"));
        assert_eq!(parent_of(Path::new("data")), PathBuf::from("."));
    }
}
