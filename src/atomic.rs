//! Atomic file replacement: write a temp file in the target's directory,
//! fsync it, then rename it over the target. A reader (or dpkg, or the kernel
//! reading sysctl.d at boot) sees either the old bytes or the new ones, never
//! half a file, and a failed write leaves the target untouched.

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

/// Replace `path` with `contents` atomically. If `path` exists, its mode and
/// owner are kept; otherwise the file gets `new.mode` and the caller's owner.
pub fn write_atomic(path: &Path, contents: &[u8], new: NewFileMode) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let existing =
        if_exists(fs_err::metadata(path)).context("cannot inspect the file to replace")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pve-tcp-hardening.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    let file = tmp.as_file();
    match &existing {
        Some(meta) => {
            file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .context("cannot copy the mode of the file being replaced")?;
            // Only when it differs: the metrics unit runs without CAP_CHOWN
            // and with chown(2) filtered out (its sandbox), and the file it
            // replaces is the one it made.
            let made = file
                .metadata()
                .context("cannot inspect the temporary file")?;
            if (made.uid(), made.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))
                    .context("cannot copy the owner of the file being replaced")?;
            }
        }
        None => file
            .set_permissions(std::fs::Permissions::from_mode(new.mode))
            .context("cannot set the mode of the new file")?,
    }
    file.sync_all()
        .with_context(|| format!("cannot fsync the new contents of {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot rename the new contents into {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Make the rename itself durable; failure here loses nothing written.
        let _ = d.sync_all();
    }
    Ok(())
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
