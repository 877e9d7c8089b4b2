//! Files only the switch's owner may read: the data directory (0700) and the files that hold a
//! key, a secret or the switch's own data (0600), created with their mode, never narrowed
//! after; making the names in a directory durable, and replacing a file whole. Used by the
//! core (keys, credentials, backups) and the store (the derived indexes' files and manifests,
//! the balance snapshot).

use std::io::Write;
use std::path::Path;

/// Creates a directory (and its missing parents) that only its owner can enter, read or write
/// (0700): the data directory holds the master key and the store.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Writes a file readable and writable by its owner only (0600), durably.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = create_private_file(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates a new file (never replacing one) readable and writable by its owner only (0600).
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `dir`/`name` with `contents` durably: written to `name.partial` (0600, a
/// leftover of an interrupted write removed first), synced, renamed over `name`, and the
/// rename synced. A crash leaves the old file or the new one, never a part.
pub fn replace_file(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let partial = dir.join(format!("{name}.partial"));
    match std::fs::remove_file(&partial) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    write_private_file(&partial, contents)?;
    std::fs::rename(&partial, dir.join(name))?;
    sync_dir(dir)
}

/// Makes the names in `dir` (files created, renamed or deleted there) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
