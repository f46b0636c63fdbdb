//! The one fake `/proc` of the tests: sysctl keys as files under `sys/`
//! and socket tables under `net/`, in a temporary directory or under a fake
//! host's root. The integration tests use it through tests/common (and
//! `FakeHost`); the library's unit tests include this same file (src/lib.rs,
//! `#[cfg(test)]`), so it needs nothing but std and tempfile.

use std::path::{Path, PathBuf};

/// Header of `/proc/net/{tcp,udp}6`.
pub const NET6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";

pub struct FakeProc {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl FakeProc {
    /// An empty `/proc` in a temporary directory.
    pub fn new() -> FakeProc {
        let temp = tempfile::tempdir().expect("tempdir for a fake /proc");
        FakeProc {
            dir: temp.path().to_path_buf(),
            _temp: Some(temp),
        }
    }

    /// An empty `/proc` at `dir` (e.g. `<fake host>/proc`).
    pub fn at(dir: PathBuf) -> FakeProc {
        std::fs::create_dir_all(dir.join("sys")).expect("fake /proc/sys");
        FakeProc { dir, _temp: None }
    }

    /// Builder form of [`FakeProc::set`].
    pub fn with(self, key: &str, value: &str) -> FakeProc {
        self.set(key, value);
        self
    }

    /// `/proc`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `/proc/sys`, the proc root the helper's code takes.
    pub fn sys(&self) -> PathBuf {
        self.dir.join("sys")
    }

    /// The file of `key`: `net.ipv4.tcp_sack`, or a path under /proc/sys
    /// (`net/ipv4/conf/vmbr0.100/rp_filter`), as sysctl spells them.
    pub fn key_path(&self, key: &str) -> PathBuf {
        let rel = if key.contains('/') {
            key.to_string()
        } else {
            key.replace('.', "/")
        };
        self.sys().join(rel)
    }

    /// Sets `key` to `value` (a newline added, as the kernel prints it).
    pub fn set(&self, key: &str, value: &str) {
        let path = self.key_path(key);
        std::fs::create_dir_all(path.parent().expect("key has a parent")).expect("mkdir");
        std::fs::write(&path, format!("{value}\n")).expect("write a fake key");
    }

    /// The value of `key`, without the trailing newline.
    pub fn get(&self, key: &str) -> String {
        let path = self.key_path(key);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim_end()
            .to_string()
    }

    /// `key` (or a whole directory of keys) as if this kernel lacked it.
    pub fn remove(&self, key: &str) {
        let path = self.key_path(key);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// A key whose writes fail, as the kernel's EINVAL does (/dev/full).
    pub fn failing(&self, key: &str) {
        let path = self.key_path(key);
        std::fs::create_dir_all(path.parent().expect("key has a parent")).expect("mkdir");
        std::os::unix::fs::symlink("/dev/full", path).expect("symlink to /dev/full");
    }

    /// `/proc/net/NAME` (`tcp6`, `udp6`): the header, then `rows`.
    pub fn net_table(&self, name: &str, rows: &[&str]) {
        let dir = self.dir.join("net");
        std::fs::create_dir_all(&dir).expect("fake /proc/net");
        let mut text = format!("{NET6_HEADER}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(dir.join(name), text).expect("write a fake /proc/net table");
    }
}
