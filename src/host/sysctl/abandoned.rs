//! Settings an admin keeps in a file that nothing applies at boot any more:
//! `/etc/sysctl.conf` on a release whose boot-time reader dropped it
//! (Debian 13's systemd 257, unless the admin links it into sysctl.d
//! themselves; Debian 12 reads it through `/etc/sysctl.d/99-sysctl.conf`), and
//! `/etc/sysctl.conf.dpkg-bak`, where dpkg keeps an admin's modified
//! `/etc/sysctl.conf` when procps 4.0.4-7 drops it at the upgrade to
//! Debian 13. On Debian 12 such a key was `shadowed` (99-sysctl.conf sorts
//! after the package's file); after the upgrade the package's value wins
//! and the admin's setting has gone without a word unless someone says so.
//!
//! It reads files and the boot tree, and writes nothing. Not here: the
//! boot-time merge ([`super::merge`]), the words ([`crate::host::release`]
//! supplies the release, `status` and `plan` the sentences).

use super::merge::MergedTree;
use super::parse::{key_to_relative_path, parse_sysctl_bytes, LineKind};
use super::value::same_value;
use crate::files::resolve_in_root;
use crate::host::release::Release;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The admin's sysctl.conf, which Debian 12's boot reader reads through a link.
pub use crate::contract::SYSCTL_CONF;
/// What dpkg keeps of a modified sysctl.conf that procps no longer ships.
pub use crate::contract::SYSCTL_CONF_DPKG_BAK;

/// One line of such a file setting a key (as `status --json` and `plan
/// --json` show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbandonedSetting {
    /// The key as the caller asked for it.
    pub key: String,
    /// The host path of the file (`/etc/sysctl.conf.dpkg-bak`).
    #[serde(serialize_with = "super::merge::lossy_path")]
    pub file: PathBuf,
    #[serde(rename = "line")]
    pub lineno: usize,
    pub value: String,
    /// The value the boot tree gives the key instead; `None` when nothing
    /// sets it.
    pub boot: Option<String>,
    /// Why nothing applies it at boot, in words for the admin.
    pub why: String,
    /// The admin's value is not the one in force: their setting is lost.
    pub lost: bool,
}

impl AbandonedSetting {
    /// The problem line, with the fix, for a lost setting; `our_file` is
    /// the package's sysctl file name.
    pub fn problem(&self, our_file: &str) -> String {
        format!(
            "{} = {} in {}:{} is not applied at boot: {}; in force instead: {}. To keep your value, move the line to a file in /etc/sysctl.d/ that sorts after {our_file} (e.g. /etc/sysctl.d/90-local.conf); to keep the profile's, delete the line",
            self.key,
            self.value,
            self.file.display(),
            self.lineno,
            self.why,
            self.boot.as_deref().unwrap_or("the kernel's default"),
        )
    }

    /// The information line for a setting whose value is in force anyway.
    pub fn info(&self) -> String {
        format!(
            "{} = {} in {}:{} is not applied at boot ({}); the same value is in force",
            self.key,
            self.value,
            self.file.display(),
            self.lineno,
            self.why
        )
    }
}

/// For each of `keys`, the last line setting it exactly in a file that the
/// boot-time reader of `release` does not read, with the value `boot` (the
/// systemd-sysctl tree of the same root) gives the key instead. Unreadable files are skipped:
/// what cannot be read cannot be reported, and status must not fail on it.
pub fn abandoned_settings(
    root: &Path,
    release: &Release,
    boot: &MergedTree,
    keys: &[&str],
) -> Vec<AbandonedSetting> {
    let mut out = Vec::new();
    for (file, why) in ignored_files(root, release, boot) {
        let Ok(data) = resolve_in_root(root, &file).and_then(std::fs::read) else {
            continue;
        };
        let lines = parse_sysctl_bytes(&data);
        for key in keys {
            let wanted = key_to_relative_path(key);
            let last = lines.iter().rev().find_map(|line| match &line.kind {
                LineKind::Setting { key: k, value, .. }
                    if key_to_relative_path(k.strip_prefix('-').unwrap_or(k)) == wanted =>
                {
                    Some((line.lineno, value.clone()))
                }
                _ => None,
            });
            if let Some((lineno, value)) = last {
                let boot = boot.lookup(key).map(|m| m.winner.value);
                out.push(AbandonedSetting {
                    key: (*key).to_string(),
                    file: file.clone(),
                    lineno,
                    lost: boot.as_deref().is_none_or(|b| !same_value(b, &value)),
                    boot,
                    value,
                    why: why.clone(),
                });
            }
        }
    }
    out
}

/// The admin files under `root` that exist as regular files and that the
/// boot tree does not read, each with the reason.
fn ignored_files(root: &Path, release: &Release, boot: &MergedTree) -> Vec<(PathBuf, String)> {
    let regular = |p: &str| {
        resolve_in_root(root, p)
            .ok()
            .and_then(|real| std::fs::metadata(&real).ok().map(|m| (real, m)))
            .filter(|(_, m)| m.is_file())
            .map(|(real, _)| real)
    };
    let mut out = Vec::new();
    // Where the release still links it in (Debian 12's 99-sysctl.conf), an
    // admin who removed the link chose so; `status` notes what `sysctl
    // --system` does with it instead.
    if let Some(conf) = regular(SYSCTL_CONF).filter(|_| !release.boot_reads_sysctl_conf) {
        let read_at_boot = boot
            .files()
            .iter()
            .any(|f| resolve_in_root(root, f).is_ok_and(|real| real == conf));
        if !read_at_boot {
            let why = format!(
                "{}'s systemd-sysctl (systemd {}) does not read {SYSCTL_CONF} at boot",
                release.name(),
                release.systemd
            );
            out.push((PathBuf::from(SYSCTL_CONF), why));
        }
    }
    if regular(SYSCTL_CONF_DPKG_BAK).is_some() {
        out.push((
            PathBuf::from(SYSCTL_CONF_DPKG_BAK),
            format!(
                "dpkg kept your {SYSCTL_CONF} under this name when procps stopped shipping it (the upgrade to Debian 13); nothing reads it"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::release::KNOWN;
    use crate::host::sysctl::merge::{read_tree, MergeMode};

    fn tree(files: &[(&str, &str)], links: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        for (link, target) in links {
            let full = dir.path().join(link);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, full).unwrap();
        }
        dir
    }

    fn found(root: &Path, release: &Release) -> Vec<(String, String, usize, String)> {
        let boot = read_tree(root, MergeMode::SystemdSysctl);
        abandoned_settings(
            root,
            release,
            &boot,
            &["net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_sack"],
        )
        .into_iter()
        .map(|a| (a.key, a.file.display().to_string(), a.lineno, a.value))
        .collect()
    }

    const ADMIN: &str = "# mine\nnet.ipv4.tcp_fin_timeout = 20\nnet/ipv4/tcp_fin_timeout=30\n";

    #[test]
    fn a_linked_sysctl_conf_is_read_at_boot_and_not_abandoned() {
        let root = tree(
            &[("etc/sysctl.conf", ADMIN)],
            &[("etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")],
        );
        assert_eq!(found(root.path(), &KNOWN[0]), []);
        assert_eq!(found(root.path(), &KNOWN[1]), []);
        // Debian 12 without the link: the admin's choice, not abandoned.
        std::fs::remove_file(root.path().join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        assert_eq!(found(root.path(), &KNOWN[0]), []);
        assert_eq!(found(root.path(), &KNOWN[1]).len(), 1);
    }

    #[test]
    fn an_unlinked_sysctl_conf_and_a_dpkg_bak_are_abandoned_last_line_winning() {
        let root = tree(
            &[
                ("etc/sysctl.conf", ADMIN),
                ("etc/sysctl.conf.dpkg-bak", "-net.ipv4.tcp_sack = 1\n"),
            ],
            &[],
        );
        let expected = [
            (
                "net.ipv4.tcp_fin_timeout".to_string(),
                "/etc/sysctl.conf".to_string(),
                3,
                "30".to_string(),
            ),
            (
                "net.ipv4.tcp_sack".to_string(),
                "/etc/sysctl.conf.dpkg-bak".to_string(),
                1,
                "1".to_string(),
            ),
        ];
        assert_eq!(found(root.path(), &KNOWN[1]), expected);
        let boot = read_tree(root.path(), MergeMode::SystemdSysctl);
        let why: Vec<String> =
            abandoned_settings(root.path(), &KNOWN[1], &boot, &["net.ipv4.tcp_fin_timeout"])
                .into_iter()
                .map(|a| a.why)
                .collect();
        assert_eq!(
            why,
            ["Debian 13 (trixie)'s systemd-sysctl (systemd 257) does not read /etc/sysctl.conf at boot"]
        );
    }

    #[test]
    fn nothing_is_abandoned_on_a_fresh_trixie() {
        let root = tree(&[("etc/sysctl.d/README.sysctl", "read me\n")], &[]);
        assert_eq!(found(root.path(), &KNOWN[1]), []);
    }
}
