//! What of the admin's an install adopts: the parts of the guide an admin
//! may already have done by hand, read from the files present. Small pure
//! readers, so that the maintainer scripts (which do the adopting) and
//! `plan` (which announces it) agree on what counts.
//!
//! - `/etc/default/chrony.orig` that no diversion accounts for: the guide's
//!   own `cp` backup.
//! - `-4` already in chrony's `DAEMON_OPTS` with no diversion: added by hand.
//! - `/etc/sysctl.d/80_tcp_hardening.conf` that no package lists as its
//!   conffile (`dpkg-query`): the guide's hand-made file, and the keys where it differs
//!   from the profile.

use crate::contract::{Profile, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::chrony::{add_ipv4_only, ChronyDiversion};
use crate::host::sysctl::parse::{
    key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind,
};
use crate::host::sysctl::value::same_value;
use crate::tool::run_checked;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHRONY_DEFAULT: &str = "/etc/default/chrony";
const CHRONY_BACKUP: &str = "/etc/default/chrony.orig";

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

/// Keys set differently (or only) by the admin's file or the profile.
pub fn differing_keys(admin_text: &str, profile: &Profile) -> Vec<KeyDifference> {
    let mut theirs: Vec<(String, String)> = Vec::new();
    for line in parse_sysctl_text(admin_text) {
        if let LineKind::Setting { key, value, .. } = line.kind {
            let key = relative_path_to_key(&key_to_relative_path(&key));
            theirs.retain(|(k, _)| *k != key);
            theirs.push((key, value));
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

#[cfg(test)]
mod tests {
    use super::*;

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
