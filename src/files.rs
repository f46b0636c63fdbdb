//! Small file helpers both sides share: a host path placed under a root
//! (`--root` for images and test trees), and reads where a missing file
//! means "none" rather than an error.

use std::io;
use std::path::{Path, PathBuf};

/// The host path `abs` (e.g. `/etc/default/chrony`) inside the tree `root`.
pub fn under_root(root: &Path, abs: impl AsRef<Path>) -> PathBuf {
    let abs = abs.as_ref();
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// Turn "no such file" into `None`; every other error stays an error.
pub fn if_exists<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file's text, or `None` when it does not exist.
pub fn read_to_string_if_exists(path: &Path) -> io::Result<Option<String>> {
    if_exists(fs_err::read_to_string(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_land_under_the_root() {
        let root = Path::new("/tmp/tree");
        assert_eq!(under_root(root, "/etc/x"), Path::new("/tmp/tree/etc/x"));
        assert_eq!(under_root(root, "etc/x"), Path::new("/tmp/tree/etc/x"));
        assert_eq!(under_root(Path::new("/"), "/etc/x"), Path::new("/etc/x"));
    }

    #[test]
    fn only_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_to_string_if_exists(&dir.path().join("no")).unwrap(),
            None
        );
        fs_err::write(dir.path().join("yes"), "text").unwrap();
        assert_eq!(
            read_to_string_if_exists(&dir.path().join("yes")).unwrap(),
            Some("text".to_string())
        );
        assert!(read_to_string_if_exists(dir.path()).is_err());
    }
}
