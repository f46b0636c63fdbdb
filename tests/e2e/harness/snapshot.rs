//! A piuparts-like picture of a chroot: every path with type, mode, owner
//! and content hash (link target for symlinks), `dpkg-divert --list`, and the
//! namespace's live `net.*` sysctls. Two pictures diff into readable lines.
//!
//! Ignored, as piuparts ignores them: /proc, /dev, /run, /tmp (volatile or
//! ours), /var/lib/dpkg, /var/lib/apt, /var/cache, /var/log (bookkeeping that
//! every install changes).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::chroot::Chroot;

const IGNORED: &[&str] = &[
    "/proc",
    "/dev",
    "/run",
    "/tmp",
    "/var/lib/dpkg",
    "/var/lib/apt",
    "/var/cache",
    "/var/log",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// chroot path -> "TYPE MODE UID:GID HASH" or "l -> TARGET"
    pub files: BTreeMap<String, String>,
    pub diversions: Vec<String>,
    pub net: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn take(chroot: &mut Chroot) -> Snapshot {
        let mut files = BTreeMap::new();
        let mut regular = Vec::new();
        walk(chroot.root(), "", &mut files, &mut regular);
        for (path, hash) in hashes(chroot.root(), &regular) {
            if let Some(entry) = files.get_mut(&path) {
                entry.push(' ');
                entry.push_str(&hash);
            }
        }
        Snapshot {
            files,
            diversions: chroot.diversions(),
            net: chroot.net_sysctls(),
        }
    }

    /// Readable differences from `self` (before) to `after`; empty if same.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        diff_maps("", &self.files, &after.files, &mut out);
        diff_lines("diversion: ", &self.diversions, &after.diversions, &mut out);
        diff_maps("sysctl ", &self.net, &after.net, &mut out);
        out
    }

    /// Panics with the diff unless `after` equals `self`.
    pub fn assert_same(&self, after: &Snapshot, when: &str) {
        let diff = self.diff(after);
        assert!(
            diff.is_empty(),
            "{when}: {} difference(s) from the earlier snapshot:\n  {}",
            diff.len(),
            diff.join("\n  ")
        );
    }
}

/// Lines of `before` missing from `after` (`- LABEL line`), then lines of
/// `after` missing from `before` (`+ LABEL line`), each in its list's order.
pub fn diff_lines<S: AsRef<str>>(label: &str, before: &[S], after: &[S], out: &mut Vec<String>) {
    let has = |list: &[S], line: &str| list.iter().any(|l| l.as_ref() == line);
    for l in before.iter().map(AsRef::as_ref) {
        if !has(after, l) {
            out.push(format!("- {label}{l}"));
        }
    }
    for l in after.iter().map(AsRef::as_ref) {
        if !has(before, l) {
            out.push(format!("+ {label}{l}"));
        }
    }
}

fn diff_maps(
    label: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    out: &mut Vec<String>,
) {
    for (k, v) in before {
        match after.get(k) {
            None => out.push(format!("- {label}{k} ({v})")),
            Some(w) if w != v => out.push(format!("~ {label}{k}: {v} -> {w}")),
            Some(_) => {}
        }
    }
    for (k, w) in after {
        if !before.contains_key(k) {
            out.push(format!("+ {label}{k} ({w})"));
        }
    }
}

fn walk(
    root: &Path,
    rel: &str,
    files: &mut BTreeMap<String, String>,
    regular: &mut Vec<(String, Version)>,
) {
    let dir = root.join(rel.trim_start_matches('/'));
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
        if IGNORED.contains(&path.as_str()) {
            continue;
        }
        let meta = entry.metadata().expect("lstat");
        let kind = meta.file_type();
        let owner = format!("{:04o} {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid());
        let desc = if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            format!("l -> {}", target.display())
        } else if kind.is_dir() {
            walk(root, &path, files, regular);
            format!("d {owner}")
        } else if kind.is_file() {
            regular.push((
                path.clone(),
                Version {
                    path: format!("{}{path}", root.display()),
                    dev: meta.dev(),
                    ino: meta.ino(),
                    size: meta.len(),
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    ctime: (meta.ctime(), meta.ctime_nsec()),
                },
            ));
            format!("f {owner} size={}", meta.len())
        } else if kind.is_char_device() || kind.is_block_device() {
            format!("dev {owner} {:x}", meta.rdev())
        } else {
            format!("other {owner}")
        };
        files.insert(path, desc);
    }
}

/// What identifies one version of a regular file's content: a write, a
/// rename over it or any metadata change moves its ctime, which no
/// program can set back (the kill-point scenario snapshots the same chroot
/// a hundred times; only what changed is hashed again).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Version {
    path: String,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// sha256 of each regular file, from the cache when the file is the same
/// version as when it was hashed.
fn hashes(root: &Path, paths: &[(String, Version)]) -> Vec<(String, String)> {
    static CACHE: Mutex<Option<HashMap<Version, String>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (path, version) in paths {
        match cache.get(version) {
            Some(hash) => out.push((path.clone(), hash.clone())),
            None => missing.push(path.clone()),
        }
    }
    let by_path: HashMap<&String, &Version> = paths.iter().map(|(p, v)| (p, v)).collect();
    for (path, hash) in hash_files(root, &missing) {
        if let Some(version) = by_path.get(&path) {
            cache.insert((*version).clone(), hash.clone());
        }
        out.push((path, hash));
    }
    out
}

/// sha256 of each regular file, one `sha256sum` batch for all of them.
fn hash_files(root: &Path, paths: &[String]) -> Vec<(String, String)> {
    let mut child = Command::new("xargs")
        .args(["-0", "-r", "sha256sum", "--"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xargs sha256sum");
    let mut list = Vec::new();
    for p in paths {
        list.extend_from_slice(format!(".{p}").as_bytes());
        list.push(0);
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&list));
    let out = child.wait_with_output().expect("sha256sum output");
    writer.join().expect("writer").expect("write file list");
    assert!(out.status.success(), "sha256sum over the chroot failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            Some((
                path.trim_start_matches('.').to_string(),
                hash[..16].to_string(),
            ))
        })
        .collect()
}
