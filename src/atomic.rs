//! Atomic, durable file replacement: write a temp file in the target's
//! directory, fsync it, rename it over the target, fsync the directory. A
//! reader (or dpkg, or the kernel reading sysctl.d at boot) sees either the
//! old bytes or the new ones, never half a file; a failed write leaves the
//! target untouched; and once a function here returns, the change survives
//! a power cut, so the step that depends on it (a value applied after the
//! snapshot was saved) never lands on disk without it (issue 29).
//!
//! Every file the helper writes goes through [`write_atomic`] or
//! [`write_atomic_as`]; files other programs make for it (`cp -p`, `mv`)
//! are made durable with [`sync_file`], and directories it creates, renames
//! and removals in them through the other functions here.

use crate::files::if_exists;
use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Mode and owner a freshly created file gets when there is nothing to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewFileMode {
    pub mode: u32,
}

impl Default for NewFileMode {
    fn default() -> Self {
        NewFileMode { mode: 0o644 }
    }
}

/// Replace `path` with `contents` atomically and durably. If `path` exists,
/// its mode and owner are kept; otherwise the file gets `new.mode` and the
/// caller's owner.
pub fn write_atomic(path: &Path, contents: &[u8], new: NewFileMode) -> Result<()> {
    let existing =
        if_exists(fs_err::metadata(path)).context("cannot inspect the file to replace")?;
    let metadata = match &existing {
        Some(meta) => Metadata {
            mode: meta.mode() & 0o7777,
            owner: Some((meta.uid(), meta.gid())),
        },
        None => Metadata {
            mode: new.mode,
            owner: None,
        },
    };
    replace(path, contents, metadata)
}

/// Replace `path` with `contents` atomically and durably, with exactly
/// this mode and owner: they are set on the temp file before the rename,
/// so no crash leaves the new bytes with the old file's metadata.
pub fn write_atomic_as(path: &Path, contents: &[u8], mode: u32, owner: (u32, u32)) -> Result<()> {
    replace(
        path,
        contents,
        Metadata {
            mode,
            owner: Some(owner),
        },
    )
}

struct Metadata {
    mode: u32,
    /// `None`: the caller's.
    owner: Option<(u32, u32)>,
}

fn replace(path: &Path, contents: &[u8], metadata: Metadata) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".pve-tcp-hardening.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    let file = tmp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(metadata.mode))
        .context("cannot set the mode of the new file")?;
    if let Some((uid, gid)) = metadata.owner {
        // Only when it differs: the metrics unit runs without CAP_CHOWN
        // and with chown(2) filtered out (its sandbox), and the file it
        // replaces is the one it made.
        let made = file
            .metadata()
            .context("cannot inspect the temporary file")?;
        if (made.uid(), made.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))
                .context("cannot set the owner of the new file")?;
        }
    }
    file.sync_all()
        .with_context(|| format!("cannot fsync the new contents of {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot rename the new contents into {}", path.display()))?;
    sync_dir(dir)
}

/// The directory holding `path` ("." for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsync a directory: a rename, creation or removal in it is durable once
/// this returns.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs_err::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync the directory {}", dir.display()))
}

/// fsync a file another program wrote (`cp -p`, `mv`) and its directory.
pub fn sync_file(path: &Path) -> Result<()> {
    fs_err::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot fsync {}", path.display()))?;
    sync_dir(parent(path))
}

/// `create_dir_all` whose new directories are durable: each one created is
/// fsynced with its parent.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    if fs_err::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    create_dir_all(parent(dir))?;
    match fs_err::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    sync_dir(dir)?;
    sync_dir(parent(dir))
}

/// rename(2), durable: both directories are fsynced.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs_err::rename(from, to)?;
    sync_dir(parent(to))?;
    if parent(from) != parent(to) {
        sync_dir(parent(from))?;
    }
    Ok(())
}

/// Remove `path` if it exists, durably; whether it existed.
pub fn remove_file(path: &Path) -> Result<bool> {
    let removed = if_exists(fs_err::remove_file(path))?.is_some();
    if removed {
        sync_dir(parent(path))?;
    }
    Ok(removed)
}

/// `remove_dir_all`, durable: the parent is fsynced.
pub fn remove_dir_all(dir: &Path) -> Result<()> {
    fs_err::remove_dir_all(dir)?;
    sync_dir(parent(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_with_requested_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"abc", NewFileMode { mode: 0o600 }).unwrap();
        assert_eq!(fs_err::read(&p).unwrap(), b"abc");
        assert_eq!(fs_err::metadata(&p).unwrap().mode() & 0o7777, 0o600);
    }

    #[test]
    fn keeps_mode_of_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs_err::write(&p, b"old").unwrap();
        fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new", NewFileMode::default()).unwrap();
        assert_eq!(fs_err::read(&p).unwrap(), b"new");
        assert_eq!(fs_err::metadata(&p).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn failure_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("f");
        assert!(write_atomic(&p, b"x", NewFileMode::default()).is_err());
        assert!(!p.exists());
    }
}
