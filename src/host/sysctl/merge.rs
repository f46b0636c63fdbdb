//! The boot-time merge of sysctl.d directories: which file wins a key when
//! systemd-sysctl 252 (what Debian 12 runs at boot) or procps-ng 4.0.2
//! `sysctl --system` reads the whole tree. It reads files through the shared
//! [`parse`](super::parse) module and never writes anything; `apply` does that.
//!
//! Rules, each checked against the real binaries inside `unshare -n -m`
//! (see `tests/merge_differential.rs`):
//! - Directories in order `/etc/sysctl.d`, `/run/sysctl.d`,
//!   `/usr/local/lib/sysctl.d`, `/usr/lib/sysctl.d`; procps adds
//!   `/lib/sysctl.d` (Debian's systemd 252 is built without split-usr and
//!   does not read it). Only names ending in `.conf`; systemd skips hidden
//!   names (`.x.conf`), procps reads them.
//! - The first directory holding a name wins it, whatever the entry is: a
//!   symlink to `/dev/null`, an empty file, a dangling symlink or a directory
//!   all mask lower files of that name and set nothing.
//! - Winners are read sorted by file name (strcmp); the last setting wins.
//!   An exact key anywhere beats every glob line (`net.ipv4.conf.*.x`); an
//!   exclusion line `-key` (exact key only, not a glob) keeps globs off it.
//! - systemd keeps one entry per key in an ordered map: a repeat with the
//!   same value keeps its old place, another value moves it to the end, and
//!   an exclusion line after an exact setting cancels that setting. procps
//!   keeps every line in file order, and then reads `/etc/sysctl.conf` once
//!   more at the very end ([`MergeMode::ProcpsSystem`]).
//!
//! A glob line only reaches keys that exist in the running kernel; this model
//! assumes the key asked about exists.

use super::apply::glob::path_matches;
use super::parse::{key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind};
use crate::files::{if_exists, resolve_in_root};
use anyhow::{Context, Result};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Which program's reading of the tree to model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// `systemd-sysctl` 252, run by `systemd-sysctl.service` at boot.
    SystemdSysctl,
    /// procps-ng 4.0.2 `sysctl --system`, as an admin (or sysvinit) runs it.
    ProcpsSystem,
}

/// One line setting a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setter {
    /// The file as named on the host (without the root prefix), e.g.
    /// `/etc/sysctl.d/99-sysctl.conf`, not the target of that symlink.
    pub file: PathBuf,
    pub lineno: usize,
    pub value: String,
}

/// Everything the tree says about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMerge {
    /// Dot form (`net.ipv4.tcp_sack`).
    pub key: String,
    pub winner: Setter,
    /// Every line setting the key (exact or glob), in apply order.
    pub setters: Vec<Setter>,
}

/// The tree as read: every setting and exclusion line in apply order.
#[derive(Debug, Clone)]
pub struct MergedTree {
    mode: MergeMode,
    files: Vec<PathBuf>,
    lines: Vec<TreeLine>,
}

#[derive(Debug, Clone)]
struct TreeLine {
    /// Key as a path relative to /proc/sys (the form both programs compare).
    path: String,
    is_glob: bool,
    /// `None` for an exclusion line `-key`.
    value: Option<String>,
    file: PathBuf,
    lineno: usize,
}

impl TreeLine {
    fn setter(&self) -> Setter {
        Setter {
            file: self.file.clone(),
            lineno: self.lineno,
            value: self.value.clone().unwrap_or_default(),
        }
    }

    fn reaches(&self, path: &str) -> bool {
        if self.is_glob {
            path_matches(&self.path, path)
        } else {
            self.path == path
        }
    }
}

/// What ends up applied for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Set(Setter),
    /// systemd only: an exclusion line after the exact setting cancelled it.
    Cancelled(Setter),
    Unset,
}

const SYSTEMD_DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
];
const PROCPS_DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];

/// Read every sysctl.d file under `root` the way `mode` does.
pub fn read_tree(root: &Path, mode: MergeMode) -> Result<MergedTree> {
    read_tree_placing(root, mode, None)
}

/// A file that is not on disk yet, read as if it were: `plan` places the
/// package's sysctl file this way before it is installed.
#[derive(Debug, Clone)]
pub struct PlacedFile {
    /// Its name in `/etc/sysctl.d` (the first directory: it wins its name).
    pub name: String,
    pub text: String,
}

/// [`read_tree`], with `placed` in `/etc/sysctl.d` instead of whatever
/// holds its name on disk.
pub fn read_tree_placing(
    root: &Path,
    mode: MergeMode,
    placed: Option<&PlacedFile>,
) -> Result<MergedTree> {
    let mut files = winning_files(root, mode)?;
    let placed_path = placed.map(|p| Path::new("/etc/sysctl.d").join(&p.name));
    if let (Some(p), Some(path)) = (placed, &placed_path) {
        files.retain(|f| f.file_name() != Some(std::ffi::OsStr::new(&p.name)));
        files.push(path.clone());
        files.sort_unstable_by(|a, b| a.file_name().cmp(&b.file_name()));
    }
    if mode == MergeMode::ProcpsSystem && is_regular_file(&root.join("etc/sysctl.conf")) {
        files.push(PathBuf::from("/etc/sysctl.conf"));
    }
    let mut lines = Vec::new();
    for file in &files {
        let text = match placed {
            Some(p) if placed_path.as_ref() == Some(file) => p.text.clone(),
            _ => read_config(root, file)?,
        };
        lines.extend(tree_lines(file, &text));
    }
    Ok(MergedTree { mode, files, lines })
}

impl MergedTree {
    /// The files read, in order, as named on the host.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Who sets `key` (dot or slash form), glob lines included; `None` when
    /// nothing sets it (or, for systemd, an exclusion line cancelled it).
    pub fn lookup(&self, key: &str) -> Option<KeyMerge> {
        match self.outcome(key) {
            Outcome::Set(winner) => Some(KeyMerge {
                key: relative_path_to_key(&key_to_relative_path(key)),
                winner,
                setters: self.setters(key),
            }),
            Outcome::Cancelled(_) | Outcome::Unset => None,
        }
    }

    fn setters(&self, key: &str) -> Vec<Setter> {
        let path = key_to_relative_path(key);
        self.lines
            .iter()
            .filter(|l| l.value.is_some() && l.reaches(&path))
            .map(TreeLine::setter)
            .collect()
    }

    fn outcome(&self, key: &str) -> Outcome {
        let path = key_to_relative_path(key);
        let relevant: Vec<&TreeLine> = self.lines.iter().filter(|l| l.reaches(&path)).collect();
        match self.mode {
            MergeMode::SystemdSysctl => systemd_outcome(&relevant, &path),
            MergeMode::ProcpsSystem => procps_outcome(&relevant, &path),
        }
    }
}

/// systemd-sysctl keeps an ordered map keyed by the normalized key: a repeat
/// with an equal value is dropped (the old place stays), another value
/// (or an exclusion) replaces the entry and moves it to the end. At apply
/// time a glob skips any key that has an entry of its own.
fn systemd_outcome(lines: &[&TreeLine], path: &str) -> Outcome {
    // (map key, entry) in map order.
    let mut map: Vec<(&str, &TreeLine)> = Vec::new();
    for line in lines {
        match map.iter().position(|(k, _)| *k == line.path) {
            Some(i) if map[i].1.value == line.value => continue,
            Some(i) => {
                map.remove(i);
            }
            None => {}
        }
        map.push((&line.path, line));
    }
    if let Some((_, exact)) = map.iter().find(|(k, e)| !e.is_glob && *k == path) {
        return match exact.value {
            Some(_) => Outcome::Set(exact.setter()),
            None => Outcome::Cancelled(exact.setter()),
        };
    }
    last_glob(map.iter().map(|(_, e)| *e))
}

/// procps keeps every line; an exact key (setting or exclusion) anywhere in
/// the list keeps all globs off it, and the last exact setting wins.
fn procps_outcome(lines: &[&TreeLine], path: &str) -> Outcome {
    let exact: Vec<&&TreeLine> = lines.iter().filter(|l| !l.is_glob).collect();
    if let Some(last) = exact.iter().rev().find(|l| l.value.is_some()) {
        return Outcome::Set(last.setter());
    }
    if exact.iter().any(|l| l.path == path) {
        return Outcome::Unset;
    }
    last_glob(lines.iter().copied())
}

fn last_glob<'a>(lines: impl DoubleEndedIterator<Item = &'a TreeLine>) -> Outcome {
    lines
        .rev()
        .find(|l| l.is_glob && l.value.is_some())
        .map_or(Outcome::Unset, |l| Outcome::Set(l.setter()))
}

/// The setting and exclusion lines of one file. Invalid lines set nothing
/// (both programs warn and go on); glob exclusions are dropped because
/// neither program honours them (tried: `-net.ipv4.conf.l*.rp_filter`).
fn tree_lines(file: &Path, text: &str) -> Vec<TreeLine> {
    parse_sysctl_text(text)
        .into_iter()
        .filter_map(|line| {
            let (key, value) = match line.kind {
                LineKind::Setting { key, value, .. } => (key, Some(value)),
                LineKind::Exclude { pattern } if !is_glob(&pattern) => (pattern, None),
                LineKind::Exclude { .. } | LineKind::Invalid => return None,
            };
            let path = key_to_relative_path(&key);
            Some(TreeLine {
                is_glob: is_glob(&path),
                path,
                value,
                file: file.to_path_buf(),
                lineno: line.lineno,
            })
        })
        .collect()
}

fn is_glob(key: &str) -> bool {
    key.contains(['*', '?', '['])
}

/// The winning `*.conf` of every name, sorted by name, as host paths.
fn winning_files(root: &Path, mode: MergeMode) -> Result<Vec<PathBuf>> {
    let dirs = match mode {
        MergeMode::SystemdSysctl => SYSTEMD_DIRS,
        MergeMode::ProcpsSystem => PROCPS_DIRS,
    };
    let mut by_name: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    for dir in dirs {
        let real_dir = resolve_in_root(root, dir)
            .with_context(|| format!("cannot follow the symlinks of /{dir}"))?;
        for name in conf_names(&real_dir, mode)? {
            if !by_name.iter().any(|(n, _)| *n == name) {
                let host = Path::new("/")
                    .join(dir)
                    .join(std::ffi::OsStr::from_bytes(&name));
                by_name.push((name, host));
            }
        }
    }
    // Byte order is strcmp order; a stable sort is not needed, names are unique.
    by_name.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(by_name.into_iter().map(|(_, p)| p).collect())
}

fn conf_names(dir: &Path, mode: MergeMode) -> Result<Vec<Vec<u8>>> {
    let Some(entries) =
        if_exists(fs_err::read_dir(dir)).context("cannot list a sysctl.d directory")?
    else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().as_bytes().to_vec();
        let hidden = name.first() == Some(&b'.');
        if name.ends_with(b".conf") && !(hidden && mode == MergeMode::SystemdSysctl) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The text of a winning file; anything that cannot be read as a regular
/// file (a `/dev/null` link, a dangling link, a directory) reads as empty,
/// which is how both programs end up treating it.
fn read_config(root: &Path, host_file: &Path) -> Result<String> {
    let Some(real) = resolve_under_root(root, host_file)? else {
        return Ok(String::new());
    };
    let bytes =
        fs_err::read(&real).with_context(|| format!("cannot read {}", host_file.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Resolve the entry as a chroot into `root` would (a Debian host has
/// `99-sysctl.conf -> ../sysctl.conf`; an image's absolute links and `..`
/// must not reach this machine's files). Returns the regular file to read,
/// or `None` when the entry sets nothing: a link to `/dev/null` (it masks
/// the name), a dangling link, a loop, an empty file, a directory.
fn resolve_under_root(root: &Path, host_file: &Path) -> Result<Option<PathBuf>> {
    let path = match resolve_in_root(root, host_file) {
        Ok(path) => path,
        Err(e) if e.raw_os_error() == Some(40) => return Ok(None), // ELOOP
        Err(e) => return Err(e).context("cannot follow a sysctl.d symlink"),
    };
    let meta = match fs_err::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("cannot inspect a sysctl.d entry"),
    };
    Ok((meta.is_file() && meta.len() > 0).then_some(path))
}

fn is_regular_file(path: &Path) -> bool {
    fs_err::metadata(path).is_ok_and(|m| m.is_file())
}

/// A later file that will beat ours at boot for a key we set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    /// Our value.
    pub ours: String,
    pub file: PathBuf,
    pub lineno: usize,
    /// Their value; empty when their line is an exclusion `-key` that makes
    /// systemd drop our setting altogether.
    pub value: String,
}

/// Keys of `wanted` whose boot-time winner (systemd-sysctl, what runs at
/// boot) is a file sorting after `our_file_name` with another value. A later
/// file repeating our value, or a later glob line (our exact key beats it),
/// is not reported. For the maintainer scripts' precedence warning.
pub fn later_overrides(
    root: &Path,
    our_file_name: &str,
    wanted: &[(String, String)],
) -> Result<Vec<Override>> {
    let tree = read_tree(root, MergeMode::SystemdSysctl)
        .with_context(|| format!("cannot read the sysctl.d files under {}", root.display()))?;
    let sorts_after = |file: &Path| {
        file.file_name()
            .is_some_and(|n| n.as_bytes() > our_file_name.as_bytes())
    };
    let mut overrides = Vec::new();
    for (key, ours) in wanted {
        let theirs = match tree.outcome(key) {
            Outcome::Set(s) if !same_value(&s.value, ours) => s,
            Outcome::Cancelled(s) => s,
            Outcome::Set(_) | Outcome::Unset => continue,
        };
        if sorts_after(&theirs.file) {
            overrides.push(Override {
                key: relative_path_to_key(&key_to_relative_path(key)),
                ours: ours.clone(),
                file: theirs.file,
                lineno: theirs.lineno,
                value: theirs.value,
            });
        }
    }
    Ok(overrides)
}

/// Values as the kernel sees them: `4096  87380\t6291456` is `4096 87380 6291456`.
pub fn same_value(a: &str, b: &str) -> bool {
    a.split_ascii_whitespace().eq(b.split_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            (
                "net/ipv4/conf/*/rp_filter",
                "net/ipv4/conf/all/rp_filter",
                true,
            ),
            (
                "net/ipv4/conf/*/rp_filter",
                "net/ipv4/conf/a/b/rp_filter",
                false,
            ),
            ("net/ipv4/conf/*", "net/ipv4/conf/all/rp_filter", false),
            ("net/ipv4/conf/eth?/x", "net/ipv4/conf/eth0/x", true),
            ("net/ipv4/conf/eth?/x", "net/ipv4/conf/eth10/x", false),
            ("net/ipv4/conf/[ad]*/x", "net/ipv4/conf/default/x", true),
            ("net/ipv4/conf/[!ad]*/x", "net/ipv4/conf/default/x", false),
            ("net/ipv4/conf/[!ad]*/x", "net/ipv4/conf/lo/x", true),
            ("net/ipv4/conf/eth[0-3]/x", "net/ipv4/conf/eth2/x", true),
            ("net/ipv4/conf/eth[0-3]/x", "net/ipv4/conf/eth4/x", false),
            ("net/ipv4/conf/[]a]/x", "net/ipv4/conf/]/x", true),
            ("net/ipv4/conf/*.100/x", "net/ipv4/conf/eth0.100/x", true),
            ("a/\\*", "a/*", true),
            ("a/\\*", "a/b", false),
            ("a/[b", "a/[b", true),
            ("*", "", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(path_matches(pattern, text), *want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn value_comparison_ignores_blank_runs() {
        assert!(same_value("4096  87380\t6291456", "4096 87380 6291456"));
        assert!(!same_value("1", "2"));
    }
}
