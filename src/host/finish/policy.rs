//! Which units `finish` may restart. Never: what would disturb the cluster
//! or its guests (built in, below), and whatever the admin lists in
//! [`CONFIG_FILE`]. Everything else that owns a socket bound to an IPv6
//! address is a system service restarted with `systemctl try-restart`.

use super::placement::Placement;
use crate::diagnostic::Diagnostic;
use crate::files::{read_to_string_if_exists, under_root};
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The admin's list of units never to restart (absolute host path).
pub const CONFIG_FILE: &str = crate::contract::FINISH_CONFIG;

/// Built in, not configurable: restarting these on a PVE node costs the
/// cluster its quorum or HA state, Ceph its storage, or a guest its uptime.
/// A rule, not data: removing one must not be an edit away.
const NEVER_RESTART: [(&str, &str); 7] = [
    (
        "corosync.service",
        "cluster communication: a restart can cost quorum",
    ),
    ("pve-cluster.service", "the cluster file system /etc/pve"),
    ("pve-ha-lrm.service", "HA: a restart can fence the node"),
    ("pve-ha-crm.service", "HA: the cluster resource manager"),
    ("ceph-*", "Ceph: a restart disturbs the storage"),
    ("ceph.target", "Ceph: a restart disturbs the storage"),
    ("pve-container@*", "a container"),
];

/// Why a socket's owner is not restarted; `None` means restart its unit.
pub fn reason_to_keep(placement: &Placement, admin: &AdminList) -> Option<String> {
    let unit = match placement {
        Placement::Unit(unit) => unit,
        Placement::Guest(_) => return Some("a guest".into()),
        Placement::UserSession(_) => return Some("a user's session".into()),
        Placement::Unknown => return Some("no systemd unit found for it".into()),
    };
    if let Some((_, why)) = NEVER_RESTART.iter().find(|(p, _)| unit_matches(p, unit)) {
        return Some((*why).to_string());
    }
    if let Some(entry) = admin
        .entries
        .iter()
        .find(|e| unit_matches(&e.pattern, unit))
    {
        return Some(format!(
            "listed in {}:{}",
            admin.file_shown.display(),
            entry.line
        ));
    }
    if unit == "init.scope" {
        return Some("held by systemd for a .socket unit: restart that unit".into());
    }
    if !unit.ends_with(".service") {
        return Some(format!("not a service ({unit})"));
    }
    None
}

/// The admin's never-restart list from [`CONFIG_FILE`].
#[derive(Debug, Clone, Default)]
pub struct AdminList {
    /// The file as the admin knows it (without a test root).
    file_shown: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    pattern: String,
    line: usize,
}

impl AdminList {
    /// Read [`CONFIG_FILE`] under `root`; a missing file is an empty list.
    pub fn load(root: &Path) -> Result<AdminList> {
        let path = under_root(root, CONFIG_FILE);
        let text = read_to_string_if_exists(&path)
            .with_context(|| format!("cannot read {CONFIG_FILE}"))?
            .unwrap_or_default();
        AdminList::parse(&text, Path::new(CONFIG_FILE))
    }

    /// One unit name or pattern per line (`*`, `?` and `[...]` as in the
    /// shell); `#` starts a comment line; `postfix` means the same as
    /// `postfix.service`.
    pub fn parse(text: &str, file_shown: &Path) -> Result<AdminList> {
        let mut entries = Vec::new();
        let mut offset = 0;
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let start = offset + (raw.len() - raw.trim_start().len());
            offset += raw.len();
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !line.chars().all(is_pattern_char) {
                let diagnostic = Diagnostic::at(
                    file_shown,
                    text,
                    start..start + line.len(),
                    format!("`{line}` is not a unit name or pattern"),
                )
                .with_help(
                    "write one unit per line, e.g. `postfix.service` or `ceph-*`; \
                     comments start with #",
                );
                bail!("{}", diagnostic.to_string().trim_end());
            }
            entries.push(Entry {
                pattern: line.to_string(),
                line: index + 1,
            });
        }
        Ok(AdminList {
            file_shown: file_shown.to_path_buf(),
            entries,
        })
    }
}

/// Characters of unit names (systemd.unit(5)) and of our patterns.
fn is_pattern_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\@*?[]!".contains(c)
}

/// `pattern` (fnmatch, as sysctl key globs) matches the unit, or the unit
/// without `.service`.
fn unit_matches(pattern: &str, unit: &str) -> bool {
    let matches = |name: &str| fnmatch(pattern, name);
    matches(unit) || unit.strip_suffix(".service").is_some_and(matches)
}

/// glibc's `fnmatch(3)` without flags: the unit patterns match as key globs
/// do in `glob(3)`; a NUL byte never matches. [`super::precheck`] matches
/// its table with it too.
pub(super) fn fnmatch(pattern: &str, name: &str) -> bool {
    let (Ok(pattern), Ok(name)) = (CString::new(pattern), CString::new(name)) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated strings for the call's duration.
    unsafe { libc::fnmatch(pattern.as_ptr(), name.as_ptr(), 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(placement: Placement, admin: &str) -> Option<String> {
        let list = AdminList::parse(admin, Path::new(CONFIG_FILE)).unwrap();
        reason_to_keep(&placement, &list)
    }

    fn unit(name: &str) -> Placement {
        Placement::Unit(name.to_string())
    }

    #[test]
    fn services_restart_unless_a_rule_says_no() {
        assert_eq!(keep(unit("chrony.service"), ""), None);
        assert_eq!(keep(unit("postfix@-.service"), ""), None);
        for never in [
            "corosync.service",
            "pve-cluster.service",
            "pve-ha-lrm.service",
            "pve-ha-crm.service",
            "ceph-mon@pve1.service",
            "ceph-osd@3.service",
            "ceph-crash.service",
            "pve-container@101.service",
        ] {
            assert!(keep(unit(never), "").is_some(), "{never} must not restart");
        }
        assert_eq!(
            keep(Placement::Guest("VM 100 (qemu.slice)".into()), "").as_deref(),
            Some("a guest")
        );
        assert!(keep(Placement::UserSession("session-3.scope".into()), "").is_some());
        assert!(keep(Placement::Unknown, "").is_some());
        assert!(keep(unit("init.scope"), "").unwrap().contains(".socket"));
        assert!(keep(unit("foo.mount"), "").is_some());
    }

    #[test]
    fn the_admin_list() {
        let list = "# never restart these\n\npostfix\n  unbound.service  \nexim4*\n";
        assert_eq!(
            keep(unit("postfix.service"), list).as_deref(),
            Some("listed in /etc/pve-tcp-hardening/finish.conf:3")
        );
        assert_eq!(
            keep(unit("unbound.service"), list).as_deref(),
            Some("listed in /etc/pve-tcp-hardening/finish.conf:4")
        );
        assert!(keep(unit("exim4-base.service"), list).is_some());
        assert_eq!(keep(unit("postfix@-.service"), list), None);
        assert_eq!(keep(unit("sshd.service"), list), None);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = AdminList::parse("ok.service\npostfix unbound\n", Path::new(CONFIG_FILE))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/pve-tcp-hardening/finish.conf:2"),
            "{err}"
        );
        assert!(
            err.contains("`postfix unbound` is not a unit name"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let list = AdminList::load(dir.path()).unwrap();
        assert!(list.entries.is_empty());
    }

    #[test]
    fn patterns() {
        let cases = [
            ("ceph-*", "ceph-mon@a.service", true),
            ("ceph-*", "ceph.target", false),
            ("postfix", "postfix.service", true),
            ("postfix", "postfix.socket", false),
            ("unbound?", "unbound1.service", true),
            ("unbound?", "unbound.service", false),
            ("exim[34]", "exim4.service", true),
        ];
        for (pattern, unit, want) in cases {
            assert_eq!(unit_matches(pattern, unit), want, "{pattern} {unit}");
        }
    }
}
