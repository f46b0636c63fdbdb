//! A checkout's view, in a temporary directory: `dist/` with the built
//! packages, the apt repository `repo` writes at `dist/repo`, its key home
//! in `keys/`. Serves the repository tests (tests/repo.rs) and the served
//! repository of tests/repo_e2e; each adds its own methods.

use super::{release_helper, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Every package `build --all` makes, by name.
pub const PACKAGES: [&str; 4] = [
    "pve-tcp-hardening",
    "pve-tcp-hardening-ipv6",
    "pve-tcp-hardening-stealth",
    "pve-tcp-hardening-strict",
];
/// SOURCE_DATE_EPOCH of the builds and, by default, of the repository.
pub const EPOCH: &str = "1790000000";
/// The exported public key in the repository.
pub const KEYRING: &str = "pve-tcp-hardening-archive-keyring.gpg";
/// The same key, armored.
pub const ARMORED_KEY: &str = "pve-tcp-hardening-archive-keyring.asc";

pub struct Site {
    dir: tempfile::TempDir,
    /// SOURCE_DATE_EPOCH of `repo` (the Release date).
    pub epoch: String,
}

impl Site {
    /// An empty site.
    pub fn new() -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
            epoch: EPOCH.into(),
        }
    }

    /// Every profile built at `version`.
    pub fn built(version: &str) -> Site {
        let site = Site::new();
        site.build(version);
        site
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Copies the packages of `version` into dist/, as `make debs` would
    /// leave them there.
    pub fn build(&self, version: &str) {
        let dist = self.path("dist");
        std::fs::create_dir_all(&dist).unwrap();
        for entry in std::fs::read_dir(built_once(version)).unwrap() {
            let deb = entry.unwrap().path();
            std::fs::copy(&deb, dist.join(deb.file_name().unwrap())).unwrap();
        }
    }

    /// `repo` from dist/ into dist/repo with the dedicated key in keys/.
    pub fn publish(&self) -> Run {
        self.publish_without_key()
            .args(["--key-home"])
            .args([self.path("keys")])
    }

    pub fn publish_without_key(&self) -> Run {
        Run::build_tool()
            .env("SOURCE_DATE_EPOCH", &self.epoch)
            .env(
                "GNUPGHOME",
                &self.path("no-default-gnupg").to_string_lossy(),
            )
            .args(["repo", "--debs"])
            .args([self.path("dist")])
            .args(["--out"])
            .args([self.path("dist/repo")])
    }

    /// A path in the repository.
    pub fn repo(&self, rel: &str) -> PathBuf {
        self.path("dist/repo").join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.repo(rel)).unwrap()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for home in ["keys", "admin-gnupg"] {
            kill_agent(&self.path(home));
        }
    }
}

fn kill_agent(home: &Path) {
    if home.is_dir() {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Every profile built at `version` by the real build tool, once per test
/// process (the builds take seconds and the tests only read them).
fn built_once(version: &str) -> &'static Path {
    static BUILT: Mutex<BTreeMap<String, &'static Path>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = built.get(version) {
        return dir;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Builds of test processes that are gone.
    for entry in std::fs::read_dir(tmp).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("repo-debs.") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    let dir = tmp
        .join(format!("repo-debs.{}", std::process::id()))
        .join(version);
    let work = tempfile::tempdir().unwrap();
    Run::build_tool()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["build", "--all", "--version", version, "--out"])
        .args([&dir])
        .args(["--work-dir"])
        .args([work.path()])
        .args(["--helper"])
        .args([release_helper()])
        .run();
    let dir: &'static Path = Box::leak(dir.into_boxed_path());
    built.insert(version.to_string(), dir);
    dir
}
