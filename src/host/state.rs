//! The snapshot of live sysctl values taken before the first install, in
//! `/var/lib/pve-tcp-hardening/snapshot.conf`. It is a sysctl file (`key =
//! value`, in the order keys were first applied) so that the postrm, which
//! runs after the helper is deleted, can restore it with plain sh.
//!
//! A key enters the snapshot once, the first time any variant is about to
//! set it; later installs, upgrades and variant switches only add keys, so
//! the values are always the ones from before us. Restoring goes in reverse
//! order: keys were written in a kernel-safe order (ipfrag low before high),
//! undoing runs the other way.

use crate::atomic::{write_atomic, NewFileMode};
use crate::files::read_to_string_if_exists;
use crate::host::sysctl::apply::{apply_files_with_stdin, read_value, ApplyOptions, KeyResult};
use crate::host::sysctl::parse::{parse_sysctl_text, LineKind};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The state directory, relative to the host root.
pub const STATE_DIR: &str = "var/lib/pve-tcp-hardening";
const SNAPSHOT_FILE: &str = "snapshot.conf";
const HEADER: &str = "\
# Values of the keys pve-tcp-hardening changes, as they were before it was
# first installed. Written by the package; purging it writes them back.
";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// (key, original value) in first-applied order.
    pub entries: Vec<(String, String)>,
}

/// A key whose restore failed, with procps' message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFailure {
    pub key: String,
    pub message: String,
}

impl Snapshot {
    pub fn path(root: &Path) -> PathBuf {
        root.join(STATE_DIR).join(SNAPSHOT_FILE)
    }

    /// The saved snapshot, or an empty one before the first install.
    pub fn load(root: &Path) -> Result<Snapshot> {
        let path = Snapshot::path(root);
        let Some(text) =
            read_to_string_if_exists(&path).context("cannot read the saved sysctl values")?
        else {
            return Ok(Snapshot::default());
        };
        let entries = parse_sysctl_text(&text)
            .into_iter()
            .filter_map(|line| match line.kind {
                LineKind::Setting { key, value, .. } => Some((key, value)),
                _ => None,
            })
            .collect();
        Ok(Snapshot { entries })
    }

    /// Write the snapshot atomically (mode 0644, the state dir created).
    pub fn save(&self, root: &Path) -> Result<()> {
        let path = Snapshot::path(root);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).context("cannot create the state directory")?;
        }
        let mut text = String::from(HEADER);
        for (key, value) in &self.entries {
            text.push_str(&format!("{key} = {value}\n"));
        }
        write_atomic(&path, text.as_bytes(), NewFileMode::default())
            .context("cannot save the sysctl values from before the install")
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Add the live value of every key not saved yet. Keys this kernel lacks
    /// are returned (there is nothing to save or restore for them).
    pub fn record(&mut self, keys: &[String], proc_root: &Path) -> Vec<String> {
        let mut missing = Vec::new();
        for key in keys {
            if self.contains(key) {
                continue;
            }
            match read_value(proc_root, key) {
                Ok(value) => self.entries.push((key.clone(), value)),
                Err(_) => missing.push(key.clone()),
            }
        }
        missing
    }

    /// Write back the saved values of the keys `select` accepts, last saved
    /// first, with the same writer as `apply`. Returns what failed.
    pub fn restore(&self, proc_root: &Path, select: impl Fn(&str) -> bool) -> Vec<RestoreFailure> {
        let text: String = self
            .entries
            .iter()
            .rev()
            .filter(|(key, _)| select(key))
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect();
        if text.is_empty() {
            return Vec::new();
        }
        let opts = ApplyOptions {
            quiet: true,
            ignore_missing: true,
            proc_root: proc_root.to_path_buf(),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let report = apply_files_with_stdin(
            &["-".to_string()],
            &opts,
            &mut text.as_bytes(),
            &mut out,
            &mut err,
        );
        let messages = String::from_utf8_lossy(&err).into_owned();
        report
            .outcomes
            .into_iter()
            .filter(|o| !matches!(o.result, KeyResult::Applied | KeyResult::Missing))
            .map(|o| RestoreFailure {
                message: messages
                    .lines()
                    .find(|l| l.contains(&o.key))
                    .unwrap_or("write failed")
                    .to_string(),
                key: o.key,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_proc::FakeProc;

    #[test]
    fn first_value_wins_and_survives_a_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let proc = FakeProc::new()
            .with("net.ipv4.tcp_sack", "1")
            .with("net.ipv4.tcp_rmem", "4096\t131072\t6291456");
        let mut snap = Snapshot::default();
        let keys = vec![
            "net.ipv4.tcp_sack".to_string(),
            "net.ipv4.tcp_rmem".to_string(),
        ];
        assert!(snap.record(&keys, &proc.sys()).is_empty());
        proc.set("net.ipv4.tcp_sack", "0");
        snap.record(&keys, &proc.sys());
        assert_eq!(
            snap.value("net.ipv4.tcp_sack"),
            Some("1"),
            "a later value must not replace the first"
        );
        snap.save(root.path()).unwrap();
        assert_eq!(Snapshot::load(root.path()).unwrap(), snap);
    }

    #[test]
    fn missing_keys_are_reported_not_saved() {
        let proc = FakeProc::new().with("net.ipv4.tcp_sack", "1");
        let mut snap = Snapshot::default();
        let missing = snap.record(&["net.ipv6.conf.all.disable_ipv6".to_string()], &proc.sys());
        assert_eq!(missing, ["net.ipv6.conf.all.disable_ipv6"]);
        assert!(snap.entries.is_empty());
    }

    #[test]
    fn restore_writes_selected_keys_back() {
        let proc = FakeProc::new()
            .with("net.ipv4.tcp_sack", "0")
            .with("net.ipv4.tcp_fin_timeout", "10");
        let snap = Snapshot {
            entries: vec![
                ("net.ipv4.tcp_sack".into(), "1".into()),
                ("net.ipv4.tcp_fin_timeout".into(), "60".into()),
            ],
        };
        let failures = snap.restore(&proc.sys(), |k| k == "net.ipv4.tcp_sack");
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(proc.get("net.ipv4.tcp_sack"), "1");
        assert_eq!(proc.get("net.ipv4.tcp_fin_timeout"), "10");
    }

    #[test]
    fn empty_snapshot_when_never_installed() {
        let root = tempfile::tempdir().unwrap();
        assert!(Snapshot::load(root.path()).unwrap().entries.is_empty());
    }
}
