//! The cached pristine chroot: one tar per recipe under
//! `${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}`.
//!
//! The cache key hashes everything that shapes the chroot: make-base.sh,
//! bootstrap.sh, sandbox.sh (it runs the installs), the pve-layout tree and
//! the chosen apt sources. A tar rather than a read-only directory: extracting it and
//! `cp -a` of a directory both take ~0.4 s warm / ~2 s with sync for the
//! 343 MB, 7.8k-file tree (measured), and a single file is created
//! atomically (rename) and cannot be modified by a scenario by mistake.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::mirror;

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

/// The pristine base tar, built first if the cache has none for this recipe.
pub fn ensure_base() -> Result<Base, String> {
    let mirror = mirror::detect(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        "bookworm",
    )?;
    let sources = mirror.sources_list();
    let cache = cache_dir();
    std::fs::create_dir_all(cache.join("runs"))
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let key = recipe_key(&sources)?;
    let tar = cache.join(format!("base-bookworm-{}.tar", &key[..16]));
    remove_stale(&cache, &key[..16]);
    let base = Base {
        tar: tar.clone(),
        mirror: mirror.archive.uri.clone(),
    };
    if tar.exists() {
        return Ok(base);
    }
    let sources_file = cache.join(format!("base-bookworm-{}.sources", &key[..16]));
    std::fs::write(&sources_file, &sources)
        .map_err(|e| format!("cannot write {}: {e}", sources_file.display()))?;
    let started = std::time::Instant::now();
    eprintln!(
        "e2e: building base chroot {} from {}",
        tar.display(),
        mirror.archive.uri
    );
    // flock: several test processes may start at once; the script re-checks.
    let status = Command::new("flock")
        .arg(cache.join("base.lock"))
        .args(["sh", "-c", r#"[ -e "$1" ] || "$2" "$1" "$3""#, "sh"])
        .arg(&tar)
        .arg(e2e_dir().join("make-base.sh"))
        .arg(&sources_file)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run make-base.sh: {e}"))?;
    if !status.success() || !tar.exists() {
        return Err(format!(
            "make-base.sh failed ({status}); see its output above"
        ));
    }
    let _ = writeln!(
        std::io::stderr(),
        "e2e: base chroot built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(base)
}

/// Bases of other recipes, and fixture/build dirs of test processes that
/// are gone (they live as long as the process, so nothing else removes them).
fn remove_stale(cache: &Path, key: &str) {
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect()
    };
    for path in list(cache) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("base-bookworm-") && !name.contains(key) {
            let _ = std::fs::remove_file(&path);
        }
    }
    for path in list(&cache.join("runs")) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let pid = name
            .strip_prefix("fixtures.")
            .or(name.strip_prefix("upgrade-debs."));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn recipe_key(sources: &str) -> Result<String, String> {
    let mut recipe = Vec::new();
    for script in ["make-base.sh", "bootstrap.sh", "sandbox.sh"] {
        let path = e2e_dir().join(script);
        recipe.extend(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut layout = Vec::new();
    collect_tree(&e2e_dir().join("pve-layout"), "", &mut layout)?;
    layout.sort();
    for (path, bytes) in layout {
        recipe.extend(path.into_bytes());
        recipe.extend(bytes);
    }
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
