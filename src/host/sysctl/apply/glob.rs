//! Pattern expansion by glibc's own `glob(3)`, the function procps-ng 4.0.2
//! and systemd-sysctl 252 call: key globs below the proc root (no flags:
//! existing paths only, sorted), file arguments of `sysctl -p`
//! (`GLOB_NOCHECK | GLOB_BRACE | GLOB_TILDE`), and the boot-time merge
//! model's question "which spellings does this glob expand to, if the key
//! exists?", answered by running the same `glob(3)` over a file system that
//! holds only that key ([`SingleKeyTree`], through `GLOB_ALTDIRFUNC`).
//!
//! Calling glibc instead of re-implementing it keeps every corner of its
//! syntax exact (collating symbols `[[.a.]]`, escapes, `.*` matching `.` and
//! `..`, separators after a glob, malformed brackets) and means no pattern
//! can make us panic where procps would not. Sorting is glibc's: `strcoll`
//! in the locale of this process, which never calls `setlocale`, so "C".

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// procps' `string_is_glob`: any of `*?[` sends a key through `glob(3)`.
pub(crate) fn has_glob_chars(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Expand the key path `rel` (text after `/proc/sys/`) below `root`, as
/// procps' `glob("/proc/sys/" + rel, 0)`. The matches keep the pattern's
/// own spelling of separators and literal parts, relative to the root.
pub(crate) fn expand_below_root(root: &[u8], rel: &str) -> Vec<String> {
    // The root is literal text, not part of the pattern.
    let mut pattern = escape_glob(root);
    pattern.push(b'/');
    pattern.extend_from_slice(rel.as_bytes());
    let escaped_prefix = pattern.len() - rel.len();
    run_glob(&pattern, 0, None)
        .into_iter()
        .filter_map(|m| {
            let rest = match m.strip_prefix(root).and_then(|r| r.strip_prefix(b"/")) {
                Some(rest) => rest,
                None => m.get(escaped_prefix..)?,
            };
            Some(String::from_utf8_lossy(rest).into_owned())
        })
        .collect()
}

/// `root/rel` by plain concatenation, as procps builds `/proc/sys/` + key
/// (`Path::join` would drop the root for a key starting with `/`).
pub(crate) fn join_below(root: &[u8], rel: &[u8]) -> PathBuf {
    let mut full = root.to_vec();
    full.push(b'/');
    full.extend_from_slice(rel);
    PathBuf::from(OsStr::from_bytes(&full))
}

const FILE_ARGUMENT_FLAGS: c_int = libc::GLOB_NOCHECK | libc::GLOB_BRACE | libc::GLOB_TILDE;

/// A file argument that `glob(3)` returns as it is, without looking at the
/// disk: no meta character, brace, escape or leading `~` (glibc's
/// `glob_in_dir` with `GLOB_NOCHECK`), and none of the spellings glob
/// rewrites when it joins directory and name (`//`, a trailing `/`).
/// `apply FILE` then does not page in glob(3) at every start (issue 18).
fn is_plain_file_name(arg: &[u8]) -> bool {
    !arg.is_empty()
        && !arg.starts_with(b"~")
        && !arg.ends_with(b"/")
        && !arg.windows(2).any(|w| w == b"//")
        && !arg
            .iter()
            .any(|b| matches!(b, b'*' | b'?' | b'[' | b'{' | b'\\' | 0))
}

/// Expand one file argument of `sysctl -p`; with `GLOB_NOCHECK` a pattern
/// that matches nothing stands for itself.
pub(crate) fn expand_file_argument(arg: &OsStr) -> Vec<PathBuf> {
    if is_plain_file_name(arg.as_bytes()) {
        return vec![PathBuf::from(arg)];
    }
    let found = run_glob(arg.as_bytes(), FILE_ARGUMENT_FLAGS, None);
    if found.is_empty() {
        // Only a NUL byte in the argument gets here; open() then fails on it.
        return vec![PathBuf::from(arg)];
    }
    found
        .into_iter()
        .map(|m| PathBuf::from(OsStr::from_bytes(&m)))
        .collect()
}

/// A file system holding one file, a sysctl key, and the directories
/// leading to it (each with `.` and `..`), nothing else. The merge model
/// asks glibc's `glob(3)` over it which spellings a glob line expands to
/// when that key exists, and [`SingleKeyTree::names_key`] which paths open
/// it: the same answers as on a real `/proc/sys` for that key, without
/// reading one.
#[derive(Debug, Clone)]
pub(crate) struct SingleKeyTree {
    /// Components of the key's absolute path (`proc`, `sys`, `net`, ...).
    components: Vec<Vec<u8>>,
}

/// A directory entry: its name and `d_type`.
type Entry = (Vec<u8>, u8);

/// What a path names in a [`SingleKeyTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// The directory at this depth (0 is `/`).
    Dir(usize),
    File,
}

impl SingleKeyTree {
    /// The tree of `/proc/sys/REL`; `rel` is a simplified key path
    /// (`net/ipv4/tcp_sack`).
    pub(crate) fn new(rel: &str) -> Self {
        let components = ["proc", "sys"]
            .into_iter()
            .chain(rel.split('/').filter(|c| !c.is_empty() && *c != "."))
            .map(|c| c.as_bytes().to_vec())
            .collect();
        Self { components }
    }

    /// `glob(pattern, flags)` over this tree: every match, sorted.
    pub(crate) fn glob(&self, pattern: &str, flags: c_int) -> Vec<String> {
        run_glob(pattern.as_bytes(), flags, Some(self))
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }

    /// Whether opening the absolute `path` reaches the key (`..` climbs,
    /// empty and `.` components stay, a name must be the next directory on
    /// the way, and nothing may follow the file, not even `/`).
    pub(crate) fn names_key(&self, path: &str) -> bool {
        self.lookup(path.as_bytes()) == Some(Node::File)
    }

    fn lookup(&self, path: &[u8]) -> Option<Node> {
        let mut depth = 0usize;
        let mut node = Node::Dir(0);
        for component in path.split(|&b| b == b'/') {
            if node == Node::File {
                return None;
            }
            match component {
                b"" | b"." => continue,
                b".." => depth = depth.saturating_sub(1),
                name if self.components.get(depth).is_some_and(|c| c == name) => depth += 1,
                _ => return None,
            }
            node = if depth == self.components.len() {
                Node::File
            } else {
                Node::Dir(depth)
            };
        }
        Some(node)
    }

    /// Entries of the directory at `depth`, as `readdir` lists them.
    fn entries(&self, depth: usize) -> Vec<Entry> {
        let child_type = if depth + 1 == self.components.len() {
            libc::DT_REG
        } else {
            libc::DT_DIR
        };
        vec![
            (b".".to_vec(), libc::DT_DIR),
            (b"..".to_vec(), libc::DT_DIR),
            (self.components[depth].clone(), child_type),
        ]
    }
}

/// Escape `*?[\` so glibc takes `text` literally.
fn escape_glob(text: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(text.len());
    for &b in text {
        if matches!(b, b'*' | b'?' | b'[' | b'\\') {
            escaped.push(b'\\');
        }
        escaped.push(b);
    }
    escaped
}

/// glibc's `glob64_t` with the `GLOB_ALTDIRFUNC` hooks, which the `libc`
/// crate's `glob_t` keeps private. Same layout as `<glob.h>` on Linux.
#[repr(C)]
struct GlobBuf {
    pathc: usize,
    pathv: *mut *mut c_char,
    offs: usize,
    flags: c_int,
    closedir: Option<unsafe extern "C" fn(*mut c_void)>,
    readdir: Option<unsafe extern "C" fn(*mut c_void) -> *mut Dirent64>,
    opendir: Option<unsafe extern "C" fn(*const c_char) -> *mut c_void>,
    lstat: Option<unsafe extern "C" fn(*const c_char, *mut libc::stat64) -> c_int>,
    stat: Option<unsafe extern "C" fn(*const c_char, *mut libc::stat64) -> c_int>,
}

/// `struct dirent64`, the same on every Linux architecture.
#[repr(C)]
struct Dirent64 {
    d_ino: u64,
    d_off: i64,
    d_reclen: u16,
    d_type: u8,
    d_name: [c_char; 256],
}

extern "C" {
    fn glob64(
        pattern: *const c_char,
        flags: c_int,
        errfunc: Option<unsafe extern "C" fn(*const c_char, c_int) -> c_int>,
        buf: *mut GlobBuf,
    ) -> c_int;
    fn globfree64(buf: *mut GlobBuf);
}

thread_local! {
    /// The tree the `GLOB_ALTDIRFUNC` hooks serve during one `glob64` call
    /// on this thread (glibc calls the hooks synchronously).
    static ALT_TREE: RefCell<Option<SingleKeyTree>> = const { RefCell::new(None) };
}

/// One `glob64` call; matches as bytes, in glibc's order. Errors and "no
/// match" are both an empty list, as procps and systemd treat them.
fn run_glob(pattern: &[u8], flags: c_int, tree: Option<&SingleKeyTree>) -> Vec<Vec<u8>> {
    let Ok(pattern) = CString::new(pattern) else {
        return Vec::new();
    };
    let mut buf = GlobBuf {
        pathc: 0,
        pathv: std::ptr::null_mut(),
        offs: 0,
        flags: 0,
        closedir: None,
        readdir: None,
        opendir: None,
        lstat: None,
        stat: None,
    };
    let mut flags = flags;
    if let Some(tree) = tree {
        flags |= libc::GLOB_ALTDIRFUNC;
        buf.closedir = Some(alt_closedir);
        buf.readdir = Some(alt_readdir);
        buf.opendir = Some(alt_opendir);
        buf.lstat = Some(alt_stat);
        buf.stat = Some(alt_stat);
        ALT_TREE.with(|t| *t.borrow_mut() = Some(tree.clone()));
    }
    // SAFETY: `pattern` is a valid C string and `buf` a zeroed glob64_t
    // whose hooks (set only with GLOB_ALTDIRFUNC) follow glibc's contract.
    let status = unsafe { glob64(pattern.as_ptr(), flags, None, &mut buf) };
    let mut found = Vec::new();
    if status == 0 && !buf.pathv.is_null() {
        for i in 0..buf.pathc {
            // SAFETY: glibc filled `pathc` entries of `pathv` with C strings.
            let entry = unsafe { *buf.pathv.add(buf.offs + i) };
            if !entry.is_null() {
                // SAFETY: a non-null entry is a NUL-terminated string.
                found.push(unsafe { CStr::from_ptr(entry) }.to_bytes().to_vec());
            }
        }
    }
    // SAFETY: `buf` came from glob64 (globfree64 accepts a failed one too).
    unsafe { globfree64(&mut buf) };
    if tree.is_some() {
        ALT_TREE.with(|t| *t.borrow_mut() = None);
    }
    found
}

/// An open directory of the [`SingleKeyTree`].
struct AltDir {
    entries: Vec<Entry>,
    next: usize,
    current: Dirent64,
}

fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = code };
}

/// What `path` names in the tree glob is running over, and the entries
/// if it is a directory.
///
/// # Safety
/// `path` is a NUL-terminated string (glibc passes one).
unsafe fn alt_lookup(path: *const c_char) -> Option<(Node, Vec<Entry>)> {
    let path = CStr::from_ptr(path).to_bytes();
    ALT_TREE.with(|t| {
        let tree = t.borrow();
        let tree = tree.as_ref()?;
        let node = tree.lookup(path)?;
        let entries = match node {
            Node::Dir(depth) => tree.entries(depth),
            Node::File => Vec::new(),
        };
        Some((node, entries))
    })
}

unsafe extern "C" fn alt_opendir(path: *const c_char) -> *mut c_void {
    match alt_lookup(path) {
        Some((Node::Dir(_), entries)) => {
            let dir = Box::new(AltDir {
                entries,
                next: 0,
                current: Dirent64 {
                    d_ino: 0,
                    d_off: 0,
                    d_reclen: 0,
                    d_type: 0,
                    d_name: [0; 256],
                },
            });
            Box::into_raw(dir).cast()
        }
        Some((Node::File, _)) => {
            set_errno(libc::ENOTDIR);
            std::ptr::null_mut()
        }
        None => {
            set_errno(libc::ENOENT);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn alt_readdir(stream: *mut c_void) -> *mut Dirent64 {
    // SAFETY: `stream` is an AltDir from alt_opendir, not yet closed.
    let dir = &mut *stream.cast::<AltDir>();
    let Some((name, kind)) = dir.entries.get(dir.next) else {
        return std::ptr::null_mut();
    };
    dir.next += 1;
    let entry = &mut dir.current;
    entry.d_ino = dir.next as u64;
    entry.d_type = *kind;
    entry.d_name = [0; 256];
    for (slot, &b) in entry.d_name.iter_mut().zip(name.iter().take(255)) {
        *slot = b as c_char;
    }
    entry
}

unsafe extern "C" fn alt_closedir(stream: *mut c_void) {
    // SAFETY: `stream` is an AltDir from alt_opendir, closed once.
    drop(Box::from_raw(stream.cast::<AltDir>()));
}

unsafe extern "C" fn alt_stat(path: *const c_char, out: *mut libc::stat64) -> c_int {
    let mode = match alt_lookup(path) {
        Some((Node::Dir(_), _)) => libc::S_IFDIR | 0o555,
        Some((Node::File, _)) => libc::S_IFREG | 0o644,
        None => {
            set_errno(libc::ENOENT);
            return -1;
        }
    };
    // SAFETY: glibc passes a writable stat64.
    std::ptr::write_bytes(out, 0, 1);
    (*out).st_mode = mode;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_are_what_glob_returns() {
        let existing = tempfile::tempdir().expect("tempdir");
        let file = existing.path().join("80_tcp_hardening.conf");
        fs_err::write(&file, "").expect("write");
        let file = file.to_str().expect("UTF-8 temp path").to_string();
        let plain = [
            file.as_str(),
            "/etc/sysctl.d/80_tcp_hardening.conf",
            "80_tcp_hardening.conf",
            "./a.conf",
            "../a.conf",
            "/a",
            "-",
            "a]b",
            "a}b",
            "a b",
            "a~b",
            "/nowhere/./x/../y.conf",
        ];
        for arg in plain {
            assert!(is_plain_file_name(arg.as_bytes()), "{arg}");
            let globbed = run_glob(arg.as_bytes(), FILE_ARGUMENT_FLAGS, None);
            assert_eq!(globbed, [arg.as_bytes()], "{arg}");
        }
        for arg in [
            "", "~", "~/a", "a*", "a?", "[a]", "{a,b}", "a\\b", "//a", "a//b", "a/",
        ] {
            assert!(!is_plain_file_name(arg.as_bytes()), "{arg}");
        }
    }

    #[test]
    fn key_globs_walk_only_existing_paths_sorted() {
        let root = tempfile::tempdir().expect("tempdir");
        for iface in ["lo", "all", "default", ".dot"] {
            let dir = root.path().join("net/ipv4/conf").join(iface);
            fs_err::create_dir_all(&dir).expect("mkdir");
            fs_err::write(dir.join("rp_filter"), "0\n").expect("write");
        }
        fs_err::write(root.path().join("net/ipv4/conf/file"), "").expect("write");
        let root_bytes = root.path().as_os_str().as_bytes();
        let cases: &[(&str, &[&str])] = &[
            (
                "net/ipv4/conf/*/rp_filter",
                &[
                    "net/ipv4/conf/all/rp_filter",
                    "net/ipv4/conf/default/rp_filter",
                    "net/ipv4/conf/lo/rp_filter",
                ],
            ),
            (
                "net//ipv4/conf/l?/rp_filter",
                &["net//ipv4/conf/lo/rp_filter"],
            ),
            ("net/ipv4/conf/*/nothere", &[]),
            (
                "net/ipv4/conf/[ad]*/",
                &["net/ipv4/conf/all/", "net/ipv4/conf/default/"],
            ),
            ("net/ipv4/conf/lo/rp_filter[", &[]),
            // The line that used to panic (issue 14): glibc matches nothing.
            ("net/ipv4/conf/[[:]/rp_filter", &[]),
            (
                "net/ipv4/conf/[[.a.]]ll/rp_filter",
                &["net/ipv4/conf/all/rp_filter"],
            ),
            (
                "net/ipv4/conf/.*/rp_filter",
                &["net/ipv4/conf/.dot/rp_filter"],
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(expand_below_root(root_bytes, pattern), *want, "{pattern:?}");
        }
    }

    #[test]
    fn a_root_with_glob_characters_is_literal() {
        let base = tempfile::tempdir().expect("tempdir");
        let root = base.path().join("r[o]o*t");
        fs_err::create_dir_all(root.join("net/ipv4")).expect("mkdir");
        fs_err::write(root.join("net/ipv4/tcp_sack"), "1\n").expect("write");
        let got = expand_below_root(root.as_os_str().as_bytes(), "net/ipv4/tcp_s?ck");
        assert_eq!(got, ["net/ipv4/tcp_sack"]);
    }

    #[test]
    fn single_key_tree_resolves_like_a_kernel_path() {
        let tree = SingleKeyTree::new("net/ipv4/tcp_sack");
        for (path, want) in [
            ("/proc/sys/net/ipv4/tcp_sack", true),
            ("/proc/sys//net/./ipv4/tcp_sack", true),
            ("/proc/sys/net/ipv4/../ipv4/tcp_sack", true),
            ("/../proc/sys/net/ipv4/tcp_sack", true),
            ("/proc/sys/net/ipv4/tcp_sack/", false),
            ("/proc/sys/net/ipv4/tcp_sack/.", false),
            ("/proc/sys/net/ipv6/../ipv4/tcp_sack", false),
            ("/proc/sys/net/ipv4", false),
        ] {
            assert_eq!(tree.names_key(path), want, "{path:?}");
        }
    }

    #[test]
    fn single_key_tree_globs_through_glibc() {
        let tree = SingleKeyTree::new("net/ipv4/conf/all/rp_filter");
        let cases: &[(&str, &[&str])] = &[
            (
                "/proc/sys/net/ipv4/conf/*/rp_filter",
                &["/proc/sys/net/ipv4/conf/all/rp_filter"],
            ),
            ("/proc/sys/net/ipv4/conf/[!a]*/rp_filter", &[]),
            (
                "/proc/sys/net/ipv4/conf/.*",
                &["/proc/sys/net/ipv4/conf/.", "/proc/sys/net/ipv4/conf/.."],
            ),
            ("/proc/sys/net/ipv4/conf/[[:]/rp_filter", &[]),
        ];
        for (pattern, want) in cases {
            assert_eq!(tree.glob(pattern, 0), *want, "{pattern:?}");
        }
    }
}
