//! Small file helpers both sides share: a host path placed under a root
//! (`--root` for images and test trees), and reads where a missing file
//! means "none" rather than an error.
//!
//! A path under a root is built one way, [`under_root`] (what the helper
//! writes, and most of what it reads); [`resolve_in_root`] and
//! [`as_chroot_sees`] follow its symlinks as a chrooted process would, for
//! what an audit of an image reads.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The host path `abs` (e.g. `/etc/default/chrony`) inside the tree `root`.
pub fn under_root(root: &Path, abs: impl AsRef<Path>) -> PathBuf {
    let abs = abs.as_ref();
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// The host path `abs` inside the tree `root`, resolved as a process
/// chrooted into `root` would see it: symlinks are followed with absolute
/// targets taken under `root`, and `..` never climbs above it. Nothing it
/// returns lies outside `root` through a symlink (the last components may
/// not exist). Linux's limit of 40 links gives ELOOP.
pub fn resolve_in_root(root: &Path, abs: impl AsRef<Path>) -> io::Result<PathBuf> {
    let mut below: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = components(abs.as_ref());
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            below.pop();
            continue;
        }
        let candidate: PathBuf = std::iter::once(root.as_os_str())
            .chain(below.iter().map(OsString::as_os_str))
            .chain(std::iter::once(name.as_os_str()))
            .collect();
        let is_link = std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.is_symlink());
        if !is_link {
            below.push(name);
            continue;
        }
        links += 1;
        if links > 40 {
            return Err(io::Error::from_raw_os_error(40)); // ELOOP
        }
        let target = fs_err::read_link(&candidate)?;
        if target.is_absolute() {
            below.clear();
        }
        let mut next = components(&target);
        next.extend(pending);
        pending = next;
    }
    Ok(std::iter::once(root.as_os_str())
        .chain(below.iter().map(OsString::as_os_str))
        .collect())
}

/// The host path `abs` inside `root` as a process chrooted into it reads
/// it ([`resolve_in_root`]); where the links cannot be followed (a loop),
/// [`under_root`], whose read then fails.
pub fn as_chroot_sees(root: &Path, abs: impl AsRef<Path>) -> PathBuf {
    let abs = abs.as_ref();
    resolve_in_root(root, abs).unwrap_or_else(|_| under_root(root, abs))
}

/// Normal components and `..`; `/` and `.` say nothing here.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
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
    fn symlinks_resolve_inside_the_root_as_in_a_chroot() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("srv/conf")).unwrap();
        fs_err::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/srv/conf", root.join("etc/sysctl.d")).unwrap();
        std::os::unix::fs::symlink(
            "../../../../../../etc/passwd",
            root.join("srv/conf/up.conf"),
        )
        .unwrap();
        std::os::unix::fs::symlink("loop", root.join("etc/loop")).unwrap();
        let cases = [
            ("/etc/sysctl.d/a.conf", "srv/conf/a.conf"),
            ("/etc/sysctl.d/up.conf", "etc/passwd"),
            ("/etc/../../etc/x", "etc/x"),
            ("/", ""),
        ];
        for (abs, want) in cases {
            assert_eq!(
                resolve_in_root(root, abs).unwrap(),
                root.join(want),
                "{abs}"
            );
        }
        assert_eq!(
            resolve_in_root(root, "/etc/loop")
                .unwrap_err()
                .raw_os_error(),
            Some(40)
        );
        assert_eq!(
            as_chroot_sees(root, "/etc/sysctl.d/a.conf"),
            root.join("srv/conf/a.conf")
        );
        // A loop cannot be followed: the plain placement, which fails to read.
        assert_eq!(as_chroot_sees(root, "/etc/loop"), root.join("etc/loop"));
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
