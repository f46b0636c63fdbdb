//! Adoption: files of the admin that stand where the package must put its
//! own, and the parts of the guide done by hand. One room for the record
//! and its rules:
//!
//! - **The record**: each adopted file is kept, untouched (mode, owner and
//!   times kept), at the same path under
//!   `/var/lib/pve-tcp-hardening/adopted/` ([`adopted_path`]); the tree is
//!   the record, nothing else lists it.
//! - **What counts** ([`adoption`], read by `plan` and, for the report, by
//!   maint): the guide's hand-made `/etc/sysctl.d/80_tcp_hardening.conf`
//!   that no package lists as its conffile, its `cp` backup
//!   `/etc/default/chrony.orig` that no diversion accounts for, `-4`
//!   already in chrony's `DAEMON_OPTS`; and where the hand-made file differs
//!   from the profile ([`differing_keys`], [`describe_differences`]).
//! - **Adopting**: the chrony backup by [`adopt`] here, just before the
//!   diversion needs its path; the sysctl file by preinst (before dpkg
//!   unpacks the conffile, or dpkg would prompt about it).
//! - **Giving back**: postrm puts every file under `adopted/` back at its
//!   path, or next to it as `.before-pve-tcp-hardening` when the path is
//!   taken.
//!
//! preinst and postrm run without the helper (not unpacked yet; deleted
//! already), so their halves are sh, in one file both include:
//! `debian/adoption.sh`.

use crate::contract::{Profile, ADOPTED_DIR, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::chrony::{add_ipv4_only, ChronyDiversion};
use crate::host::state::STATE_DIR;
use crate::host::sysctl::parse::{
    key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind,
};
use crate::host::sysctl::value::same_value;
use crate::tool::run_checked;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the admin's file that stood at `abs` is kept.
pub fn adopted_path(root: &Path, abs: &str) -> PathBuf {
    under_root(root, format!("/{STATE_DIR}/{ADOPTED_DIR}{abs}"))
}

/// The same, as the admin sees it on the host.
pub fn adopted_path_shown(abs: &str) -> String {
    format!("/{STATE_DIR}/{ADOPTED_DIR}{abs}")
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
    crate::host::state::refuse_unusual_state_dir(root)?;
    let dir = to.parent().context("adopted path has no parent")?;
    crate::atomic::create_dir_all(dir).context("cannot create the directory for adopted files")?;
    move_keeping_metadata(&from, &to)
        .with_context(|| format!("cannot keep {abs} as {}", adopted_path_shown(abs)))?;
    Ok(true)
}

/// rename(2), or `mv` when /etc and /var are on different file systems
/// (mv copies mode, owner, times and extended attributes, then removes);
/// durable either way before the step that relies on it.
fn move_keeping_metadata(from: &Path, to: &Path) -> Result<()> {
    match fs_err::rename(from, to) {
        Ok(()) => {
            crate::atomic::sync_dir(to.parent().context("no parent")?)?;
            crate::atomic::sync_dir(from.parent().context("no parent")?)
        }
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
            crate::atomic::sync_file(to)?;
            crate::atomic::sync_dir(from.parent().context("no parent")?)
        }
        Err(e) => Err(e.into()),
    }
}

const CHRONY_DEFAULT: &str = crate::contract::CHRONY_DEFAULT;
const CHRONY_BACKUP: &str = crate::contract::CHRONY_DIVERTED;

/// Everything of the admin's that an install would adopt.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Adoption {
    /// The admin's own `/etc/default/chrony.orig` (no diversion made it).
    pub chrony_backup: Option<PathBuf>,
    /// `-4` is already in `/etc/default/chrony`, with no diversion.
    pub chrony_ipv4_only_by_hand: bool,
    /// The hand-made sysctl file, when no package owns it.
    pub sysctl_file: Option<AdminSysctlFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminSysctlFile {
    pub path: PathBuf,
    /// Keys where the admin's file and the profile disagree.
    pub differs: Vec<KeyDifference>,
}

/// One key both files do not agree on; `None`: that file does not set it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyDifference {
    pub key: String,
    pub theirs: Option<String>,
    pub ours: Option<String>,
}

/// Read all three under `root`.
pub fn adoption(root: &Path, profile: &Profile) -> Result<Adoption> {
    let diverted = chrony_diverted(root)?;
    let sysctl_file = unowned_sysctl_file(root)?.map(|text| AdminSysctlFile {
        path: Path::new("/etc/sysctl.d").join(SYSCTL_FILE_NAME),
        differs: differing_keys(&text, profile),
    });
    Ok(Adoption {
        chrony_backup: (!diverted && under_root(root, CHRONY_BACKUP).exists())
            .then(|| PathBuf::from(CHRONY_BACKUP)),
        chrony_ipv4_only_by_hand: !diverted && chrony_has_ipv4_only(root)?,
        sysctl_file,
    })
}

/// Whether any package diverts `/etc/default/chrony` (then `.orig` is
/// dpkg's, not the admin's).
pub fn chrony_diverted(root: &Path) -> Result<bool> {
    Ok(ChronyDiversion::new(root, "", "").diverted_by()?.is_some())
}

/// Whether `/etc/default/chrony` already passes `-4` to chronyd.
pub fn chrony_has_ipv4_only(root: &Path) -> Result<bool> {
    let path = under_root(root, CHRONY_DEFAULT);
    Ok(read_to_string_if_exists(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .is_some_and(|text| add_ipv4_only(&text).is_ok_and(|edited| edited == text)))
}

/// The text of `/etc/sysctl.d/80_tcp_hardening.conf` when it exists and no
/// installed (or removed, not purged) package lists it among its conffiles.
pub fn unowned_sysctl_file(root: &Path) -> Result<Option<String>> {
    let host_path = format!("/etc/sysctl.d/{SYSCTL_FILE_NAME}");
    let path = under_root(root, &host_path);
    let Some(text) = read_to_string_if_exists(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
    else {
        return Ok(None);
    };
    let owned = lists_conffile(&all_conffiles(root)?, &host_path);
    Ok((!owned).then_some(text))
}

/// `dpkg-query -W -f '${Conffiles}'` of every package: ` /path md5` lines.
fn all_conffiles(root: &Path) -> Result<String> {
    let mut cmd = Command::new("dpkg-query");
    if root != Path::new("/") {
        cmd.arg(format!("--root={}", root.display()));
    }
    cmd.args(["-W", "-f", "${Conffiles}\n"]);
    let out = run_checked(&mut cmd, "dpkg-query -W")?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Whether a conffile line (` /path md5 [obsolete]`) names `path`.
fn lists_conffile(conffiles: &str, path: &str) -> bool {
    conffiles
        .lines()
        .any(|line| line.split_whitespace().next() == Some(path))
}

/// Keys set differently (or only) by the admin's file or the profile: the
/// profile's keys in its order, then the keys only theirs sets, in the
/// order they first appear (each with its last value, as sysctl leaves
/// it). Globs are left out: they name no one key.
pub fn differing_keys(admin_text: &str, profile: &Profile) -> Vec<KeyDifference> {
    let mut theirs: Vec<(String, String)> = Vec::new();
    for line in parse_sysctl_text(admin_text) {
        if let LineKind::Setting { key, value, .. } = line.kind {
            if key.contains(['*', '?', '[']) {
                continue;
            }
            let key = relative_path_to_key(&key_to_relative_path(&key));
            match theirs.iter_mut().find(|(k, _)| *k == key) {
                Some(seen) => seen.1 = value,
                None => theirs.push((key, value)),
            }
        }
    }
    let mut out = Vec::new();
    for s in &profile.settings {
        let their = theirs.iter().find(|(k, _)| *k == s.key).map(|(_, v)| v);
        if !their.is_some_and(|v| same_value(v, &s.value)) {
            out.push(KeyDifference {
                key: s.key.clone(),
                theirs: their.cloned(),
                ours: Some(s.value.clone()),
            });
        }
    }
    for (key, value) in &theirs {
        if profile.setting(key).is_none() {
            out.push(KeyDifference {
                key: key.clone(),
                theirs: Some(value.clone()),
                ours: None,
            });
        }
    }
    out
}

/// The differences as the install reports them: `key (theirs, profile
/// ours)`, `key (not set, profile ours)`, `key (theirs, not in the
/// profile)`.
pub fn describe_differences(admin_text: &str, profile: &Profile) -> Vec<String> {
    differing_keys(admin_text, profile)
        .into_iter()
        .map(|d| match (d.theirs, d.ours) {
            (Some(theirs), Some(ours)) => format!("{} ({theirs}, profile {ours})", d.key),
            (None, Some(ours)) => format!("{} (not set, profile {ours})", d.key),
            (Some(theirs), None) => format!("{} ({theirs}, not in the profile)", d.key),
            (None, None) => d.key,
        })
        .collect()
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

    #[test]
    fn differences_name_each_key_once_in_the_order_an_admin_reads_them() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "name": "default", "package": "pve-tcp-hardening", "description": "",
            "disable_ipv6": true, "chain": [], "commented": [],
            "settings": [
                {"key": "net.ipv4.tcp_sack", "value": "0", "set_by": "default"},
                {"key": "net.ipv4.tcp_fin_timeout", "value": "10", "set_by": "default"},
                {"key": "net.ipv4.tcp_rmem", "value": "4096 131072 6291456", "set_by": "default"}
            ]
        }))
        .unwrap();
        let theirs = "net.ipv4.tcp_syncookies = 1\nnet/ipv4/tcp_fin_timeout = 15\n\
                      net.ipv4.tcp_rmem = 4096\t131072\t6291456\nnet.ipv4.conf.*.rp_filter = 1\n\
                      net.ipv4.tcp_syncookies = 0\n";
        assert_eq!(
            describe_differences(theirs, &profile),
            [
                "net.ipv4.tcp_sack (not set, profile 0)",
                "net.ipv4.tcp_fin_timeout (15, profile 10)",
                "net.ipv4.tcp_syncookies (0, not in the profile)",
            ]
        );
    }

    #[test]
    fn conffile_lines_of_dpkg_query() {
        // `dpkg-query -W -f '${Conffiles}\n'`: one blank line per package
        // without conffiles, ` /path md5 [obsolete]` lines otherwise.
        let lines = "\n /etc/x 0123\n /etc/sysctl.d/80_tcp_hardening.conf abcd obsolete\n\n";
        assert!(lists_conffile(lines, "/etc/sysctl.d/80_tcp_hardening.conf"));
        assert!(!lists_conffile(lines, "/etc/sysctl.d/80"));
        assert!(!lists_conffile("", "/etc/x"));
    }
}
