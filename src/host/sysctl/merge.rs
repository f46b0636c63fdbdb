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
//! - Winners are read sorted by file name (strcmp). Each program then
//!   writes in its own way, and the model replays those writes for the key
//!   asked about ([`MergedTree::lookup`]); the last write wins:
//!   - procps (4.0.2) parses every line with `sysctl -p` rules (the shared
//!     [`parse`](super::parse) rules) and keeps every line, in order, then
//!     reads `/etc/sysctl.conf` once more at the very end
//!     ([`MergeMode::ProcpsSystem`]). Exact keys are written as spelled;
//!     a glob line writes each `glob(3)` match unless some line's path is
//!     spelled exactly like that match (so an exact key or exclusion
//!     anywhere keeps globs off it; a glob exclusion excludes nothing).
//!   - systemd-sysctl 252 reads lines its own way
//!     ([`parse_systemd_bytes`]: CR and NUL end lines, a line of 1 MiB or
//!     more ends the file, `\v`/`\f` are not
//!     blanks, keys simplified so `net/./ipv4//tcp_sack.` is
//!     `net/ipv4/tcp_sack`) into one ordered map keyed by the simplified
//!     key: a repeat with the same value keeps its old place, another value
//!     or an exclusion `-key` replaces the entry at the end (so `-glob`
//!     spelled like an earlier glob cancels it). Then it writes map entries
//!     in order; a glob match is skipped when the map has an entry of that
//!     exact key; a key with `..` is refused; globs expand braces.
//!
//! Globs are expanded by glibc's `glob(3)` over a file system holding only
//! the key asked about ([`SingleKeyTree`]): the model assumes that key
//! exists in the running kernel and, for paths with `..`, that nothing but
//! its own directories does.

use super::apply::glob::{has_glob_chars, SingleKeyTree};
use super::parse::{
    key_to_relative_path, parse_sysctl_bytes, parse_systemd_bytes, relative_path_to_key,
    swap_separators, systemd_normalize_key, LineKind,
};
use super::value::same_value;
use crate::contract::{PROCPS_SYSCTL_DIRS, SYSTEMD_SYSCTL_DIRS};
use crate::files::resolve_in_root;
use serde::Serialize;
use std::collections::HashSet;
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
    /// The line's key when it is a glob (`net.ipv4.conf.*.rp_filter` of
    /// Debian 13's 50-default.conf): the line sets the key through it.
    pub glob: Option<String>,
}

/// A [`Setter`] as the `status` and `plan` reports serialize it.
#[derive(Debug, Clone, Serialize)]
pub struct SetterReport {
    /// A file name need not be UTF-8: JSON gets it lossily (U+FFFD).
    #[serde(serialize_with = "lossy_path")]
    pub file: PathBuf,
    pub line: usize,
    pub value: String,
    /// The line's key when it is a glob that sets this key (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
}

pub(crate) fn lossy_path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

impl From<Setter> for SetterReport {
    fn from(s: Setter) -> SetterReport {
        SetterReport {
            file: s.file,
            line: s.lineno,
            value: s.value,
            glob: s.glob,
        }
    }
}

/// A sysctl.d directory or file that could not be read. systemd-sysctl
/// (conf_files_list: "Failed to search for files in ..., ignoring") and
/// `sysctl --system` skip a directory they cannot open and read the others;
/// a file systemd cannot read it skips too ("Failed to open ..., ignoring").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unread {
    /// As named on the host.
    pub path: PathBuf,
    pub why: String,
    /// Permission denied: the boot-time programs run as root and read it;
    /// only this reader could not, so the model may miss its settings.
    pub denied: bool,
}

impl Unread {
    fn of(path: &Path, e: &std::io::Error) -> Unread {
        Unread {
            path: path.to_path_buf(),
            why: e.to_string(),
            denied: e.kind() == std::io::ErrorKind::PermissionDenied,
        }
    }

    /// The report's note for it.
    pub fn note(&self) -> String {
        if self.denied {
            format!(
                "{} cannot be read here ({}): run as root; systemd-sysctl reads it at boot, so its settings are missing from this report",
                self.path.display(),
                self.why
            )
        } else {
            format!(
                "{} cannot be read ({}): skipped, as systemd-sysctl and `sysctl --system` skip it",
                self.path.display(),
                self.why
            )
        }
    }
}

/// Everything the tree says about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMerge {
    /// Dot form (`net.ipv4.tcp_sack`).
    pub key: String,
    pub winner: Setter,
    /// The last write the kernel keeps: the winner, unless the kernel
    /// refuses its value ([`kernel_refuses`]), then the write before it
    /// that it took; `None` when it refused every one (its own value
    /// stays). What `status` shows as the boot value.
    pub held: Option<Setter>,
    /// Every line setting the key (exact or glob), in file order.
    pub setters: Vec<Setter>,
}

/// The tree as read: every setting and exclusion line the program keeps,
/// in the order it writes them.
#[derive(Debug, Clone)]
pub struct MergedTree {
    mode: MergeMode,
    files: Vec<PathBuf>,
    /// Directories and files that could not be read, skipped as both
    /// programs skip them.
    unread: Vec<Unread>,
    /// Every setting line in file order (for [`KeyMerge::setters`]).
    read: Vec<TreeLine>,
    /// What the program writes from, in order: procps keeps every line,
    /// systemd its ordered map.
    kept: Vec<TreeLine>,
}

#[derive(Debug, Clone)]
struct TreeLine {
    /// The key as the program stores it: procps' path below /proc/sys,
    /// systemd's simplified key.
    path: String,
    /// `None` for an exclusion line `-key`.
    value: Option<String>,
    file: PathBuf,
    lineno: usize,
    /// The key as written, when it is a glob.
    glob: Option<String>,
}

impl TreeLine {
    fn setter(&self) -> Setter {
        Setter {
            file: self.file.clone(),
            lineno: self.lineno,
            value: self.value.clone().unwrap_or_default(),
            glob: self.glob.clone(),
        }
    }
}

/// What ends up applied for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The last write, and the last one the kernel keeps.
    Set(Setter, Option<Setter>),
    /// systemd only: an exclusion line replaced the key's own entry.
    Cancelled(Setter),
    Unset,
}

/// Read every sysctl.d file under `root` the way `mode` does. It cannot
/// fail: what cannot be read is skipped, as both programs skip it, and
/// listed in [`MergedTree::unread`].
pub fn read_tree(root: &Path, mode: MergeMode) -> MergedTree {
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
pub fn read_tree_placing(root: &Path, mode: MergeMode, placed: Option<&PlacedFile>) -> MergedTree {
    let (mut files, mut unread) = winning_files(root, mode);
    let placed_path = placed.map(|p| Path::new("/etc/sysctl.d").join(&p.name));
    if let (Some(p), Some(path)) = (placed, &placed_path) {
        files.retain(|f| f.file_name() != Some(std::ffi::OsStr::new(&p.name)));
        files.push(path.clone());
        files.sort_unstable_by(|a, b| a.file_name().cmp(&b.file_name()));
    }
    if mode == MergeMode::ProcpsSystem && is_regular_file(&root.join("etc/sysctl.conf")) {
        files.push(PathBuf::from("/etc/sysctl.conf"));
    }
    let mut read = Vec::new();
    for file in &files {
        let data = match placed {
            Some(p) if placed_path.as_ref() == Some(file) => p.text.as_bytes().to_vec(),
            _ => match read_config(root, file) {
                Ok(data) => data,
                Err(e) => {
                    unread.push(Unread::of(file, &e));
                    continue;
                }
            },
        };
        read.extend(tree_lines(file, &data, mode));
    }
    let kept = match mode {
        MergeMode::ProcpsSystem => read.clone(),
        MergeMode::SystemdSysctl => systemd_map(&read),
    };
    read.retain(|l| l.value.is_some());
    MergedTree {
        mode,
        files,
        unread,
        read,
        kept,
    }
}

/// systemd-sysctl's ordered map: a repeat with an equal value (or both
/// exclusions) is dropped, anything else replaces the entry at the end.
fn systemd_map(lines: &[TreeLine]) -> Vec<TreeLine> {
    let mut map: Vec<TreeLine> = Vec::new();
    for line in lines {
        if let Some(i) = map.iter().position(|e| e.path == line.path) {
            if map[i].value == line.value {
                continue;
            }
            map.remove(i);
        }
        map.push(line.clone());
    }
    map
}

impl MergedTree {
    /// The files read, in order, as named on the host.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// What could not be read and was skipped.
    pub fn unread(&self) -> &[Unread] {
        &self.unread
    }

    /// Who sets `key` (dot or slash form), glob lines included; `None` when
    /// nothing sets it (or, for systemd, an exclusion line cancelled it).
    pub fn lookup(&self, key: &str) -> Option<KeyMerge> {
        match self.outcome(key) {
            Outcome::Set(winner, held) => Some(KeyMerge {
                key: relative_path_to_key(&key_to_relative_path(key)),
                winner,
                held,
                setters: self.setters(key),
            }),
            Outcome::Cancelled(_) | Outcome::Unset => None,
        }
    }

    /// The file system `key` lives in, and the path the program would
    /// store for a line naming it exactly.
    fn key_tree(&self, key: &str) -> (SingleKeyTree, String) {
        let own = systemd_normalize_key(&key_to_relative_path(key));
        (SingleKeyTree::new(&own), own)
    }

    fn setters(&self, key: &str) -> Vec<Setter> {
        let (tree, _) = self.key_tree(key);
        self.read
            .iter()
            .filter(|l| self.match_spellings(&tree, l).next().is_some())
            .map(TreeLine::setter)
            .collect()
    }

    /// The paths `line` writes that reach the key of `tree` (before the
    /// program's own skip rules): its own path, or its glob matches.
    fn match_spellings<'a>(
        &self,
        tree: &'a SingleKeyTree,
        line: &TreeLine,
    ) -> impl Iterator<Item = String> + 'a {
        let full = match self.mode {
            MergeMode::ProcpsSystem => format!("/proc/sys/{}", line.path),
            MergeMode::SystemdSysctl => format!("/proc/sys/{}", line.path.trim_start_matches('/')),
        };
        // systemd's glob_extend() adds GLOB_BRACE: `{a*,lo}` expands there,
        // not in procps (a brace without `*?[` is no glob for either).
        let flags = match self.mode {
            MergeMode::ProcpsSystem => 0,
            MergeMode::SystemdSysctl => libc::GLOB_BRACE,
        };
        let candidates = if has_glob_chars(&line.path) {
            tree.glob(&full, flags)
        } else {
            vec![full]
        };
        let systemd = self.mode == MergeMode::SystemdSysctl;
        candidates
            .into_iter()
            .filter(move |p| tree.names_key(p) && (!systemd || systemd_accepts(p)))
    }

    fn outcome(&self, key: &str) -> Outcome {
        let (tree, own) = self.key_tree(key);
        // Spellings of exact entries, which keep globs off a match.
        let exact: HashSet<String> = self
            .kept
            .iter()
            .map(|l| match self.mode {
                MergeMode::ProcpsSystem => format!("/proc/sys/{}", l.path),
                MergeMode::SystemdSysctl => l.path.clone(),
            })
            .collect();
        let (mut winner, mut held) = (None, None);
        for line in self.kept.iter().filter(|l| l.value.is_some()) {
            let is_glob = has_glob_chars(&line.path);
            for spelling in self.match_spellings(&tree, line) {
                let stored = match self.mode {
                    MergeMode::ProcpsSystem => spelling,
                    // systemd compares `path_startswith(match, "/proc/sys")`.
                    MergeMode::SystemdSysctl => spelling
                        .trim_start_matches("/proc/sys")
                        .trim_start_matches('/')
                        .to_string(),
                };
                if !(is_glob && exact.contains(&stored)) {
                    winner = Some(line);
                    if !line.value.as_deref().is_some_and(kernel_refuses) {
                        held = Some(line);
                    }
                }
            }
        }
        if let Some(line) = winner {
            return Outcome::Set(line.setter(), held.map(TreeLine::setter));
        }
        let cancelled = self.mode == MergeMode::SystemdSysctl;
        match self
            .kept
            .iter()
            .find(|l| l.value.is_none() && l.path == own)
        {
            Some(exclusion) if cancelled => Outcome::Cancelled(exclusion.setter()),
            _ => Outcome::Unset,
        }
    }
}

/// A value the kernel refuses as written (EINVAL, the key keeps what it
/// had): an empty one (both programs write `\n`) or one holding a control
/// character other than a tab, such as systemd's `1008\f` (`\f` and `\v`
/// are no blanks to systemd, and the kernel's number parser takes only
/// space, tab and newline after a number). Tried on the kernel in a
/// network namespace (tests/merge_differential.rs).
pub fn kernel_refuses(value: &str) -> bool {
    value.is_empty() || value.chars().any(|c| c.is_control() && c != '\t')
}

/// systemd's `sysctl_write` refuses a path that is not normalized (`..` or
/// `.` components, `//`).
fn systemd_accepts(path: &str) -> bool {
    !path.contains("//") && !path.split('/').any(|c| c == "." || c == "..")
}

/// The setting and exclusion lines of one file, as `mode` parses them.
/// Invalid lines set nothing (both programs warn and go on).
fn tree_lines(file: &Path, data: &[u8], mode: MergeMode) -> Vec<TreeLine> {
    let lines = match mode {
        MergeMode::ProcpsSystem => parse_sysctl_bytes(data),
        MergeMode::SystemdSysctl => parse_systemd_bytes(data),
    };
    lines
        .into_iter()
        .filter_map(|line| {
            let (key, value) = match line.kind {
                LineKind::Setting { key, value, .. } => (key, Some(value)),
                LineKind::Exclude { pattern } => (pattern, None),
                LineKind::Invalid => return None,
            };
            let path = match mode {
                // procps' setting_new drops one more leading `-`.
                MergeMode::ProcpsSystem => {
                    swap_separators(key.strip_prefix('-').unwrap_or(&key), '/').text
                }
                MergeMode::SystemdSysctl => key.clone(),
            };
            // Shown in dot form, as the admin most likely wrote it.
            let glob = has_glob_chars(&path).then(|| relative_path_to_key(&key));
            Some(TreeLine {
                glob,
                path,
                value,
                file: file.to_path_buf(),
                lineno: line.lineno,
            })
        })
        .collect()
}

/// The winning `*.conf` of every name, sorted by name, as host paths, and
/// the directories that could not be listed (skipped).
fn winning_files(root: &Path, mode: MergeMode) -> (Vec<PathBuf>, Vec<Unread>) {
    let dirs = match mode {
        MergeMode::SystemdSysctl => SYSTEMD_SYSCTL_DIRS,
        MergeMode::ProcpsSystem => PROCPS_SYSCTL_DIRS,
    };
    let mut by_name: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    let mut unread = Vec::new();
    for dir in dirs {
        let names = resolve_in_root(root, dir).and_then(|real| conf_names(&real, mode));
        let names = match names {
            Ok(names) => names,
            Err(e) => {
                unread.push(Unread::of(&Path::new("/").join(dir), &e));
                continue;
            }
        };
        for name in names {
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
    (by_name.into_iter().map(|(_, p)| p).collect(), unread)
}

/// The `*.conf` names in `dir`; none when it does not exist.
fn conf_names(dir: &Path, mode: MergeMode) -> std::io::Result<Vec<Vec<u8>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().as_bytes().to_vec();
        let hidden = name.first() == Some(&b'.');
        if name.ends_with(b".conf") && !(hidden && mode == MergeMode::SystemdSysctl) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The bytes of a winning file; anything that cannot be read as a regular
/// file (a `/dev/null` link, a dangling link, a directory) reads as empty,
/// which is how both programs end up treating it.
fn read_config(root: &Path, host_file: &Path) -> std::io::Result<Vec<u8>> {
    let Some(real) = resolve_under_root(root, host_file)? else {
        return Ok(Vec::new());
    };
    std::fs::read(real)
}

/// Resolve the entry as a chroot into `root` would (a Debian host has
/// `99-sysctl.conf -> ../sysctl.conf`; an image's absolute links and `..`
/// must not reach this machine's files). Returns the regular file to read,
/// or `None` when the entry sets nothing: a link to `/dev/null` (it masks
/// the name), a dangling link, a loop, an empty file, a directory.
fn resolve_under_root(root: &Path, host_file: &Path) -> std::io::Result<Option<PathBuf>> {
    let path = match resolve_in_root(root, host_file) {
        Ok(path) => path,
        Err(e) if e.raw_os_error() == Some(40) => return Ok(None), // ELOOP
        Err(e) => return Err(e),
    };
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
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
pub fn later_overrides(root: &Path, our_file_name: &str, wanted: &[(String, String)]) -> Overrides {
    let tree = read_tree(root, MergeMode::SystemdSysctl);
    let sorts_after = |file: &Path| {
        file.file_name()
            .is_some_and(|n| n.as_bytes() > our_file_name.as_bytes())
    };
    let mut overrides = Vec::new();
    for (key, ours) in wanted {
        let theirs = match tree.outcome(key) {
            // A later value the kernel refuses overrides nothing.
            Outcome::Set(_, Some(held)) if !same_value(&held.value, ours) => held,
            Outcome::Cancelled(s) => s,
            Outcome::Set(..) | Outcome::Unset => continue,
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
    Overrides {
        found: overrides,
        unread: tree.unread,
    }
}

/// [`later_overrides`]' answer, and what it could not read (skipped, as
/// systemd-sysctl skips it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrides {
    pub found: Vec<Override>,
    pub unread: Vec<Unread>,
}
