//! The cached pristine chroots: one tar per release and recipe under
//! `${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}`.
//!
//! The cache key hashes everything that shapes the chroot: make-base.sh,
//! bootstrap.sh, sandbox.sh (it runs the installs), the release's layout tree
//! and the chosen apt sources. A tar rather than a read-only directory: extracting it and
//! `cp -a` of a directory both take ~0.4 s warm / ~2 s with sync for the
//! 343 MB, 7.8k-file tree (measured), and a single file is created
//! atomically (rename) and cannot be modified by a scenario by mistake.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::mirror;
use super::release::Release;

pub fn cache_dir() -> PathBuf {
    std::env::var_os("PTH_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/pve-tcp-hardening-tests".into())
}

pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// The cached base and the Debian archive it came from.
pub struct Base {
    pub tar: PathBuf,
    pub mirror: String,
}

/// The pristine base tar of `release`, built first if the cache has none
/// for this recipe.
pub fn ensure_base(release: Release) -> Result<Base, String> {
    let mirror = mirror::detect_for(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        Path::new("/etc/os-release"),
        release.codename(),
    )?;
    let sources = mirror.sources_list();
    let cache = cache_dir();
    std::fs::create_dir_all(cache.join("runs"))
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let key = recipe_key(release, &sources)?;
    let prefix = format!("base-{release}-");
    let tar = cache.join(format!("{prefix}{}.tar", &key[..16]));
    remove_stale(&cache, &prefix, &key[..16]);
    let base = Base {
        tar: tar.clone(),
        mirror: mirror.archive.uri.clone(),
    };
    if tar.exists() {
        return Ok(base);
    }
    let sources_file = cache.join(format!("{prefix}{}.sources", &key[..16]));
    std::fs::write(&sources_file, &sources)
        .map_err(|e| format!("cannot write {}: {e}", sources_file.display()))?;
    eprintln!(
        "e2e: building the {release} base chroot {} from {}",
        tar.display(),
        mirror.archive.uri
    );
    let mut make = Command::new(e2e_dir().join("make-base.sh"));
    make.arg(release.codename()).arg(&tar).arg(&sources_file);
    build_locked(&cache.join(format!("base-{release}.lock")), &tar, make)?;
    Ok(base)
}

/// `base` with `packages` installed on top (add-packages.sh), cached next
/// to it as `base-<release>-<key>+<name>.tar`: tools the scenarios do not
/// need, such as trixie's lintian.
#[allow(dead_code)] // used by tests/package.rs, not by the scenarios
pub fn ensure_with_packages(base: &Base, name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let script = e2e_dir().join("add-packages.sh");
    let mut recipe = std::fs::read(&script).map_err(|e| format!("{}: {e}", script.display()))?;
    recipe.extend(packages.join(" ").into_bytes());
    let key = sha256(&recipe)?;
    let stem = base.tar.with_extension("");
    let tar = PathBuf::from(format!("{}+{name}-{}.tar", stem.display(), &key[..8]));
    if tar.exists() {
        return Ok(tar);
    }
    eprintln!("e2e: building {} ({})", tar.display(), packages.join(" "));
    let mut add = Command::new(script);
    add.arg(&base.tar).arg(&tar).args(packages);
    build_locked(&base.tar.with_extension("lock"), &tar, add)?;
    Ok(tar)
}

/// The base of `release` extracted once per test process, for running that
/// release's own programs (its `sysctl`, `systemd-sysctl`) as oracles; it
/// lives as long as the process (`runs/roots.<pid>`, removed by a later run
/// once the process is gone). `None` where the suite is skipped.
#[allow(dead_code)] // used by the differential tests, not by the scenarios
pub fn extracted(release: Release) -> Option<&'static Path> {
    static ROOTS: [std::sync::OnceLock<PathBuf>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let base = super::base(release)?;
    let root = ROOTS[release.index()].get_or_init(|| {
        let root = cache_dir()
            .join("runs")
            .join(format!("roots.{}", std::process::id()))
            .join(release.codename());
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root dir under the e2e cache");
        let status = Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-xf"])
            .arg(&base.tar)
            .arg("-C")
            .arg(&root)
            .status()
            .expect("tar");
        assert!(status.success(), "cannot extract {}", base.tar.display());
        root
    });
    Some(root)
}

/// Runs `build` (which writes `out`) under flock on `lock`, unless `out`
/// exists by the time the lock is ours: several test processes may start at
/// once.
fn build_locked(lock: &Path, out: &Path, build: Command) -> Result<(), String> {
    let started = std::time::Instant::now();
    let status = Command::new("flock")
        .arg(lock)
        .args(["sh", "-c", r#"[ -e "$1" ] || { shift; exec "$@"; }"#, "sh"])
        .arg(out)
        .arg(build.get_program())
        .args(build.get_args())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", build.get_program()))?;
    if !status.success() || !out.exists() {
        return Err(format!(
            "{:?} failed ({status}); see its output above",
            build.get_program()
        ));
    }
    let _ = writeln!(
        std::io::stderr(),
        "e2e: {} built in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Bases of other recipes, and fixture/build dirs of test processes that
/// are gone (they live as long as the process, so nothing else removes them).
fn remove_stale(cache: &Path, prefix: &str, key: &str) {
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect()
    };
    for path in list(cache) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(prefix) && !name.contains(key) {
            let _ = std::fs::remove_file(&path);
        }
    }
    for path in list(&cache.join("runs")) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let pid = name
            .strip_prefix("fixtures.")
            .or(name.strip_prefix("upgrade-debs."))
            .or(name.strip_prefix("roots."));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn recipe_key(release: Release, sources: &str) -> Result<String, String> {
    let mut recipe = Vec::new();
    for script in ["make-base.sh", "bootstrap.sh", "sandbox.sh"] {
        let path = e2e_dir().join(script);
        recipe.extend(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut layout = Vec::new();
    collect_tree(&e2e_dir().join(release.layout_dir()), "", &mut layout)?;
    layout.sort();
    for (path, bytes) in layout {
        recipe.extend(path.into_bytes());
        recipe.extend(bytes);
    }
    recipe.extend(release.codename().as_bytes());
    recipe.extend(sources.as_bytes());
    recipe.extend(std::env::consts::ARCH.as_bytes());
    sha256(&recipe)
}

/// (relative path, content or link target) of every entry under `dir`.
fn collect_tree(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let rel = format!("{rel}/{}", entry.file_name().to_string_lossy());
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            collect_tree(&path, &rel, out)?;
        } else if kind.is_symlink() {
            let target =
                std::fs::read_link(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((
                format!("{rel} ->"),
                target.into_os_string().into_encoded_bytes(),
            ));
        } else {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}

pub fn sha256(bytes: &[u8]) -> Result<String, String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run sha256sum: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(bytes)
        .map_err(|e| format!("sha256sum: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| "sha256sum printed nothing".into())
}
