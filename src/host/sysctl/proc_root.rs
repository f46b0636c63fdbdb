//! The proc root the commands that write keys (`apply`, `maint`) are given.
//! The kernel's /proc/sys holds no symlinks; a fake tree (`--proc-root` or
//! `--proc` pointed at a temp dir by tests) could, and every write and
//! snapshot read would follow one out of the tree (a key that is a symlink
//! to /etc/shadow would be read into the world-readable snapshot, or
//! truncated by an apply). A tree that is not procfs is checked once: a
//! symlink whose target lies outside it is refused, naming it. A symlink to
//! a character device (the test fixtures' /dev/full, a key whose writes
//! fail) is no file to read or overwrite and is allowed.
//!
//! Not here: the lexical `..` check of each key (`apply::stays_below_root`).

use anyhow::{bail, Context, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Refuse a fake proc tree with a symlink that leads out of it; the
/// kernel's procfs is taken as it is (one statfs).
pub fn confined(sys: &Path) -> Result<()> {
    match rustix::fs::statfs(sys) {
        Ok(fs) if fs.f_type == libc::PROC_SUPER_MAGIC => return Ok(()),
        Ok(_) => {}
        // Nothing there: nothing to follow (every key is then missing).
        Err(_) => return Ok(()),
    }
    let top = fs_err::canonicalize(sys).context("cannot resolve the proc root")?;
    check_dir(&top, &top)
}

fn check_dir(top: &Path, dir: &Path) -> Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            check_dir(top, &path)?;
        } else if kind.is_symlink() {
            let Ok(target) = std::fs::canonicalize(&path) else {
                // Dangling: opened without O_CREAT, so nothing is made.
                continue;
            };
            let device = std::fs::metadata(&target).is_ok_and(|m| m.file_type().is_char_device());
            if !target.starts_with(top) && !device {
                bail!(
                    "the proc root {} is not the kernel's /proc/sys and {} in it is a symlink \
                     to {}, outside it: refusing to read or write keys through it",
                    top.display(),
                    path.display(),
                    target.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_out_of_a_fake_tree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        fs_err::create_dir_all(sys.join("net/ipv4")).unwrap();
        fs_err::write(sys.join("net/ipv4/tcp_sack"), "1\n").unwrap();
        fs_err::write(dir.path().join("secret"), "x\n").unwrap();
        assert!(confined(&sys).is_ok());
        std::os::unix::fs::symlink("tcp_sack", sys.join("net/ipv4/inside")).unwrap();
        std::os::unix::fs::symlink("/dev/full", sys.join("net/ipv4/failing")).unwrap();
        assert!(confined(&sys).is_ok(), "inside the tree and a device");
        std::os::unix::fs::symlink("../../../secret", sys.join("net/ipv4/tcp_syncookies")).unwrap();
        let err = format!("{:#}", confined(&sys).unwrap_err());
        assert!(
            err.contains("net/ipv4/tcp_syncookies in it is a symlink to")
                && err.contains("secret, outside it"),
            "{err}"
        );
    }

    #[test]
    fn the_kernels_proc_sys_is_taken_as_it_is() {
        assert!(confined(Path::new("/proc/sys")).is_ok());
    }
}
