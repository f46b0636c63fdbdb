//! The state kept under `/var/lib/pve-tcp-hardening/` for the purge, and
//! the one rule that writes saved values back.
//!
//! - `snapshot.conf`: the live value of every key the package set, as it
//!   was before the first install. A key enters it once, the first time any
//!   variant is about to set it; later installs, upgrades and variant
//!   switches only add keys, so the values are always the ones from before
//!   us. The helper's own memory ([`Snapshot`]).
//! - `restore.conf`: what purge writes back, decided at every configure
//!   ([`PurgePlan`]): the saved value of each key whose live value the
//!   install changed, as `path = value` lines (keys in `/proc/sys` path
//!   form), last applied first: keys were written in a kernel-safe order
//!   (ipfrag low before high), undoing runs the other way. Both files are
//!   valid sysctl files (`sysctl -p FILE` writes them back too).
//! - `unsaved`: this profile's keys that have its value and no saved one
//!   (the snapshot was lost before a reinstall); purge names them.
//! - `reboot-after-purge`: present when restoring turns IPv6 back on.
//!
//! postrm runs after this binary is deleted, so it reads these files with
//! plain sh: its loop over `restore.conf` is the mechanical image of
//! [`restore_lines`] (tests/maint.rs runs both on the same files), and it
//! parses no key and compares no value.
//!
//! Not here: applying a profile (`sysctl::apply`), the adopted files
//! (`adopt`).

use crate::atomic::{write_atomic, NewFileMode};
use crate::contract::Profile;
use crate::files::read_to_string_if_exists;
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::parse::{
    key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind,
};
use crate::host::sysctl::value::same_value;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The state directory, relative to the host root.
pub use crate::contract::STATE_DIR;
use crate::contract::{REBOOT_AFTER_PURGE_FILE, RESTORE_FILE, SNAPSHOT_FILE, UNSAVED_FILE};

/// The key whose restore turns IPv6 back on.
pub const DISABLE_IPV6: &str = "net.ipv6.conf.all.disable_ipv6";

const SNAPSHOT_HEADER: &str = "\
# Values of the keys pve-tcp-hardening changes, as they were before it was
# first installed. Written by the package; purging it writes back those it
# changed (restore.conf).
";
/// Marks the current format: keys as /proc/sys paths, last applied first.
/// 0.1.0 wrote dotted keys, first applied first, without it.
const FORMAT_LINE: &str = "# format 2: keys as paths below /proc/sys, last applied first";
const RESTORE_HEADER: &str = "\
# What purging pve-tcp-hardening writes back: the value from before the
# first install of every key it changed, last applied first. Written by the
# package at each configure.
";
/// The last line of both files: a file without it was cut short.
pub use crate::contract::STATE_END_LINE as END_LINE;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// (key, original value) in first-applied order; keys dotted, as
    /// `relative_path_to_key` prints them.
    pub entries: Vec<(String, String)>,
}

/// A key whose restore failed, with the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFailure {
    pub key: String,
    pub message: String,
}

/// `abs` state file under `root`.
fn state_path(root: &Path, name: &str) -> PathBuf {
    root.join(STATE_DIR).join(name)
}

/// `path = value` lines, in the order given, between `header` and
/// [`END_LINE`]: the one writer of both files.
fn lines_text<'a>(header: &str, entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::from(header);
    for (key, value) in entries {
        text.push_str(&format!("{} = {value}\n", key_to_relative_path(key)));
    }
    text.push_str(END_LINE);
    text.push('\n');
    text
}

impl Snapshot {
    pub fn path(root: &Path) -> PathBuf {
        state_path(root, SNAPSHOT_FILE)
    }

    /// The saved snapshot, or an empty one before the first install. A
    /// 0.1.0 snapshot (dotted keys, first applied first) reads the same;
    /// the next [`Snapshot::save`] writes it in the current format.
    pub fn load(root: &Path) -> Result<Snapshot> {
        let path = Snapshot::path(root);
        let Some(text) =
            read_to_string_if_exists(&path).context("cannot read the saved sysctl values")?
        else {
            return Ok(Snapshot::default());
        };
        let mut entries: Vec<(String, String)> = parse_sysctl_text(&text)
            .into_iter()
            .filter_map(|line| match line.kind {
                LineKind::Setting { key, value, .. } => {
                    Some((relative_path_to_key(&key_to_relative_path(&key)), value))
                }
                _ => None,
            })
            .collect();
        if text.lines().any(|l| l == FORMAT_LINE) {
            entries.reverse();
        }
        Ok(Snapshot { entries })
    }

    /// Write the snapshot atomically (mode 0644, the state dir created).
    pub fn save(&self, root: &Path) -> Result<()> {
        let header = format!("{SNAPSHOT_HEADER}{FORMAT_LINE}\n");
        let text = lines_text(&header, self.restore_order());
        write_state(root, SNAPSHOT_FILE, &text)
            .context("cannot save the sysctl values from before the install")
    }

    fn restore_order(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .rev()
            .map(|(k, v)| (k.as_str(), v.as_str()))
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
    /// first, by the rule purge follows ([`restore_lines`]). Returns what
    /// failed.
    pub fn restore(&self, proc_root: &Path, select: impl Fn(&str) -> bool) -> Vec<RestoreFailure> {
        let text = lines_text("", self.restore_order().filter(|(key, _)| select(key)));
        restore_lines(&text, proc_root)
            .failed
            .into_iter()
            .map(|(path, message)| RestoreFailure {
                key: relative_path_to_key(&path),
                message,
            })
            .collect()
    }
}

/// What [`restore_lines`] did: the four things postrm's loop tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The path of every usable line (written, or absent from this kernel).
    pub saved: Vec<String>,
    /// Paths whose write failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Lines that are not `path = value` below /proc/sys.
    pub unusable: Vec<String>,
    /// Whether [`END_LINE`] was read: the file was not cut short.
    pub complete: bool,
}

/// The restore rule, once: every `path = value` line (split at the first
/// ` = `) writes `value` and a newline to `<proc_root>/path` when that file
/// exists; comments and blank lines are skipped; a line without ` = ` or
/// whose path has a `..` component is unusable. Only lines ended by a
/// newline count, as sh's `read` sees them. postrm's `restore_saved_values`
/// is this loop in sh.
pub fn restore_lines(text: &str, proc_root: &Path) -> Restored {
    let mut done = Restored::default();
    for line in text
        .split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n'))
    {
        if line == END_LINE {
            done.complete = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((path, value)) = line.split_once(" = ") else {
            done.unusable.push(line.to_string());
            continue;
        };
        if format!("/{path}/").contains("/../") {
            done.unusable.push(path.to_string());
            continue;
        }
        done.saved.push(path.to_string());
        let file = proc_root.join(path);
        if !file.exists() {
            continue;
        }
        if let Err(e) = std::fs::write(&file, format!("{value}\n")) {
            done.failed.push((path.to_string(), e.to_string()));
        }
    }
    done
}

impl Restored {
    /// The keys purge names as keeping the profile's values until the next
    /// boot: from a whole file, the `unsaved` ones; from a missing, cut or
    /// damaged one, every key of the profile (`profile_paths`) that got no
    /// saved value.
    pub fn lost(&self, profile_paths: &[String], unsaved: &[String]) -> Vec<String> {
        if self.complete && self.unusable.is_empty() {
            return unsaved.to_vec();
        }
        profile_paths
            .iter()
            .filter(|p| !self.saved.contains(p))
            .cloned()
            .collect()
    }
}

/// What purge writes back and says, decided by the helper at configure
/// time from the snapshot and the live values, and saved for postrm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePlan {
    /// (key, saved value) of every key whose live value differs from the
    /// saved one, last applied first.
    pub restore: Vec<(String, String)>,
    /// Paths of the profile's keys that have its value and no saved one.
    pub unsaved: Vec<String>,
    /// Restoring turns IPv6 back on: purge asks for a reboot.
    pub reboot: bool,
}

impl PurgePlan {
    /// Keys the kernel lacks now are left out: there is nothing to write.
    pub fn new(snapshot: &Snapshot, profile: &Profile, proc_root: &Path) -> PurgePlan {
        let restore: Vec<(String, String)> = snapshot
            .restore_order()
            .filter(|(key, saved)| {
                read_value(proc_root, key).is_ok_and(|live| !same_value(&live, saved))
            })
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let unsaved = profile
            .settings
            .iter()
            .filter(|s| {
                !snapshot.contains(&s.key)
                    && read_value(proc_root, &s.key).is_ok_and(|live| same_value(&live, &s.value))
            })
            .map(|s| key_to_relative_path(&s.key))
            .collect();
        let reboot = restore
            .iter()
            .any(|(key, saved)| key == DISABLE_IPV6 && saved.trim() == "0");
        PurgePlan {
            restore,
            unsaved,
            reboot,
        }
    }

    /// `restore.conf`, `unsaved` (only when some are) and the reboot
    /// marker, each written atomically or removed.
    pub fn save(&self, root: &Path) -> Result<()> {
        let restore = lines_text(
            RESTORE_HEADER,
            self.restore.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        write_state(root, RESTORE_FILE, &restore)?;
        let unsaved: String = self.unsaved.iter().map(|p| format!(" {p}")).collect();
        let files = [
            (
                UNSAVED_FILE,
                (!unsaved.is_empty()).then(|| format!("{unsaved}\n")),
            ),
            (REBOOT_AFTER_PURGE_FILE, self.reboot.then(String::new)),
        ];
        for (name, text) in files {
            match text {
                Some(text) => write_state(root, name, &text)?,
                None => {
                    crate::atomic::remove_file(&state_path(root, name))
                        .with_context(|| format!("cannot remove {STATE_DIR}/{name}"))?;
                }
            }
        }
        Ok(())
    }
}

/// The state directory must be a real directory (or not exist yet): a
/// symlink would send the snapshot elsewhere (to /etc, say) and purge would
/// leave it there. preinst refuses such a node before anything is
/// unpacked; this holds the same line for the helper.
pub fn refuse_unusual_state_dir(root: &Path) -> Result<()> {
    let dir = root.join(STATE_DIR);
    match fs_err::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!(
            "/{STATE_DIR} is not a directory (a symlink or a file): refusing to write the \
             package's state through it; move it away and run the command again"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context("cannot inspect the state directory"),
    }
}

/// Write one state file atomically (mode 0644, the state dir created),
/// unless it already has `text`.
fn write_state(root: &Path, name: &str, text: &str) -> Result<()> {
    refuse_unusual_state_dir(root)?;
    let path = state_path(root, name);
    if read_to_string_if_exists(&path)?.as_deref() == Some(text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        crate::atomic::create_dir_all(dir).context("cannot create the state directory")?;
    }
    write_atomic(&path, text.as_bytes(), NewFileMode::default())
        .with_context(|| format!("cannot write {STATE_DIR}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_dir_that_is_a_symlink_or_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let dir = root.path().join(STATE_DIR);
        fs_err::create_dir_all(dir.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), &dir).unwrap();
        let err = write_state(root.path(), "x.conf", "a\n").unwrap_err();
        assert!(format!("{err:#}").contains("is not a directory (a symlink or a file)"));
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        fs_err::remove_file(&dir).unwrap();
        fs_err::write(&dir, "junk\n").unwrap();
        assert!(write_state(root.path(), "x.conf", "a\n").is_err());
        fs_err::remove_file(&dir).unwrap();
        write_state(root.path(), "x.conf", "a\n").unwrap();
    }
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
    fn saved_as_paths_last_applied_first_and_0_1_0_files_read_the_same() {
        let root = tempfile::tempdir().unwrap();
        let snap = Snapshot {
            entries: vec![
                ("net.ipv4.ipfrag_low_thresh".into(), "3145728".into()),
                ("net.ipv4.conf.vmbr0/100.rp_filter".into(), "2".into()),
                ("net.ipv4.tcp_rmem".into(), "4096\t131072\t6291456".into()),
            ],
        };
        snap.save(root.path()).unwrap();
        let text = fs_err::read_to_string(Snapshot::path(root.path())).unwrap();
        assert!(
            text.ends_with(
                "net/ipv4/tcp_rmem = 4096\t131072\t6291456\n\
                 net/ipv4/conf/vmbr0.100/rp_filter = 2\n\
                 net/ipv4/ipfrag_low_thresh = 3145728\n# end\n"
            ),
            "{text}"
        );
        assert_eq!(Snapshot::load(root.path()).unwrap(), snap);
        let old = "# Values of the keys pve-tcp-hardening changes, as they were before it was\n\
                   net.ipv4.ipfrag_low_thresh = 3145728\n\
                   net.ipv4.conf.vmbr0/100.rp_filter = 2\n\
                   net.ipv4.tcp_rmem = 4096\t131072\t6291456\n";
        fs_err::write(Snapshot::path(root.path()), old).unwrap();
        assert_eq!(Snapshot::load(root.path()).unwrap(), snap);
    }

    #[test]
    fn the_purge_plan_holds_only_what_the_install_changed() {
        let root = tempfile::tempdir().unwrap();
        let proc = FakeProc::new()
            .with("net.ipv4.tcp_sack", "0")
            .with("net.ipv4.tcp_rmem", "4096\t131072\t6291456")
            .with("net.ipv6.conf.all.disable_ipv6", "1")
            .with("net.ipv4.tcp_rfc1337", "1");
        let snap = Snapshot {
            entries: vec![
                ("net.ipv6.conf.all.disable_ipv6".into(), "0".into()),
                ("net.ipv4.tcp_sack".into(), "1".into()),
                ("net.ipv4.tcp_rmem".into(), "4096 131072 6291456".into()),
                ("net.ipv4.gone".into(), "1".into()),
            ],
        };
        let mut profile = crate::contract::Profile {
            name: "default".into(),
            package: "pve-tcp-hardening".into(),
            description: String::new(),
            disable_ipv6: true,
            chain: vec![],
            settings: vec![],
            commented: vec![],
        };
        for (key, value) in [("net.ipv4.tcp_sack", "0"), ("net.ipv4.tcp_rfc1337", "1")] {
            profile.settings.push(crate::contract::Setting {
                key: key.into(),
                value: value.into(),
                set_by: "default".into(),
                reboot: false,
                custom_reason: None,
            });
        }
        let plan = PurgePlan::new(&snap, &profile, &proc.sys());
        assert_eq!(
            plan.restore,
            [
                ("net.ipv4.tcp_sack".to_string(), "1".to_string()),
                ("net.ipv6.conf.all.disable_ipv6".into(), "0".into())
            ]
        );
        assert_eq!(plan.unsaved, ["net/ipv4/tcp_rfc1337"]);
        assert!(plan.reboot);
        plan.save(root.path()).unwrap();
        let dir = root.path().join(STATE_DIR);
        assert_eq!(
            fs_err::read_to_string(dir.join(RESTORE_FILE)).unwrap(),
            format!(
                "{RESTORE_HEADER}net/ipv4/tcp_sack = 1\nnet/ipv6/conf/all/disable_ipv6 = 0\n# end\n"
            )
        );
        assert_eq!(
            fs_err::read_to_string(dir.join(UNSAVED_FILE)).unwrap(),
            " net/ipv4/tcp_rfc1337\n"
        );
        assert!(dir.join(REBOOT_AFTER_PURGE_FILE).exists());

        // Nothing changed (a read-only /proc/sys): nothing to write back.
        let untouched = FakeProc::new()
            .with("net.ipv4.tcp_sack", "1")
            .with("net.ipv6.conf.all.disable_ipv6", "0");
        let plan = PurgePlan::new(&snap, &profile, &untouched.sys());
        assert_eq!(plan, PurgePlan::default());
        plan.save(root.path()).unwrap();
        assert_eq!(
            fs_err::read_to_string(dir.join(RESTORE_FILE)).unwrap(),
            format!("{RESTORE_HEADER}# end\n")
        );
        assert!(!dir.join(UNSAVED_FILE).exists());
        assert!(!dir.join(REBOOT_AFTER_PURGE_FILE).exists());
    }

    #[test]
    fn empty_snapshot_when_never_installed() {
        let root = tempfile::tempdir().unwrap();
        assert!(Snapshot::load(root.path()).unwrap().entries.is_empty());
    }
}
