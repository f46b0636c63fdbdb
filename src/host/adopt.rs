//! Files of the admin that stand where the package must put its own: the
//! guide's hand-made `/etc/sysctl.d/80_tcp_hardening.conf` and its
//! `cp` backup `/etc/default/chrony.orig`. Each is moved, untouched (mode,
//! owner and times kept), to the same path under
//! `/var/lib/pve-tcp-hardening/adopted/`, and the purge puts it back.
//!
//! The sysctl file is moved by preinst (sh: before dpkg unpacks the
//! conffile, or dpkg would prompt about it); the chrony backup by
//! [`adopt`] here, just before the diversion needs its path. Putting them
//! back is postrm's (sh: the helper is gone by then): every file under
//! `adopted/` returns to its path when that path is free.

use crate::files::under_root;
use crate::host::state::STATE_DIR;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the admin's file that stood at `abs` is kept.
pub fn adopted_path(root: &Path, abs: &str) -> PathBuf {
    under_root(root, format!("/{STATE_DIR}/adopted{abs}"))
}

/// The same, as the admin sees it on the host.
pub fn adopted_path_shown(abs: &str) -> String {
    format!("/{STATE_DIR}/adopted{abs}")
}

/// Move the admin's file at `abs` aside, if there is one. Returns whether
/// a file was moved. Refuses (nothing moved) when an earlier one is kept
/// there already: neither may be lost.
pub fn adopt(root: &Path, abs: &str) -> Result<bool> {
    let from = under_root(root, abs);
    if fs_err::symlink_metadata(&from).is_err() {
        return Ok(false);
    }
    let to = adopted_path(root, abs);
    if fs_err::symlink_metadata(&to).is_ok() {
        bail!(
            "{abs} is in the way and {} already keeps an earlier one; \
             move {abs} somewhere else and retry",
            adopted_path_shown(abs)
        );
    }
    let dir = to.parent().context("adopted path has no parent")?;
    fs_err::create_dir_all(dir).context("cannot create the directory for adopted files")?;
    move_keeping_metadata(&from, &to)
        .with_context(|| format!("cannot keep {abs} as {}", adopted_path_shown(abs)))?;
    Ok(true)
}

/// rename(2), or `mv` when /etc and /var are on different file systems
/// (mv copies mode, owner, times and extended attributes, then removes).
fn move_keeping_metadata(from: &Path, to: &Path) -> Result<()> {
    match fs_err::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV
            let out = Command::new("mv")
                .arg("-T")
                .arg("--")
                .arg(from)
                .arg(to)
                .stdin(Stdio::null())
                .output()
                .context("cannot run mv")?;
            if !out.status.success() {
                bail!("mv failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn moves_the_file_with_its_mode_and_refuses_a_second() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("etc/default/chrony.orig");
        fs_err::create_dir_all(file.parent().unwrap()).unwrap();
        fs_err::write(&file, "mine\n").unwrap();
        fs_err::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

        assert!(adopt(root.path(), "/etc/default/chrony.orig").unwrap());
        let kept = adopted_path(root.path(), "/etc/default/chrony.orig");
        assert!(kept.ends_with("var/lib/pve-tcp-hardening/adopted/etc/default/chrony.orig"));
        assert_eq!(fs_err::read_to_string(&kept).unwrap(), "mine\n");
        assert_eq!(
            fs_err::metadata(&kept).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!file.exists());

        assert!(!adopt(root.path(), "/etc/default/chrony.orig").unwrap());
        fs_err::write(&file, "another\n").unwrap();
        let err = adopt(root.path(), "/etc/default/chrony.orig").unwrap_err();
        assert!(format!("{err:#}").contains("already keeps an earlier one"));
        assert_eq!(fs_err::read_to_string(&file).unwrap(), "another\n");
        assert_eq!(fs_err::read_to_string(&kept).unwrap(), "mine\n");
    }
}
