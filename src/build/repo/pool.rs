//! Which packages the repository serves: from the input directory's
//! `<package>_<version>_<arch>.deb` files, the newest version of each
//! package and architecture. Older builds stay in the input directory but
//! are never published, so apt cannot pick them as the candidate.
//!
//! Versions are compared by `dpkg --compare-versions`: Debian versions have
//! epochs, `~` and revisions, which no string or semver order gets right.
//! The stable copies `dist/<package>.deb` are skipped: their name carries no
//! version, and the versioned file next to them holds the same bytes.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One .deb found in the input directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDeb {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// Where it was found.
    pub source: PathBuf,
}

impl PoolDeb {
    /// `<package>_<version without epoch>_<arch>.deb`, as dpkg-name and
    /// cargo-deb name it.
    pub fn file_name(&self) -> String {
        let version = self
            .version
            .split_once(':')
            .map_or(self.version.as_str(), |(_, v)| v);
        format!("{}_{version}_{}.deb", self.package, self.arch)
    }

    /// The directory inside the repository, laid out as Debian's pool:
    /// `pool/main/<initial>/<package>`, where `lib*` packages use four
    /// letters (`libc`) so the directories stay small.
    pub fn pool_dir(&self) -> PathBuf {
        let initial = if self.package.starts_with("lib") && self.package.len() > 3 {
            &self.package[..4]
        } else {
            &self.package[..1]
        };
        Path::new("pool/main").join(initial).join(&self.package)
    }
}

/// The packages to publish and the older builds left out.
#[derive(Debug, Default)]
pub struct Selection {
    pub newest: Vec<PoolDeb>,
    pub older: Vec<PoolDeb>,
}

/// The newest build of every package in `dir` (not recursive).
pub fn select_newest(dir: &Path) -> Result<Selection> {
    let found = read_debs(dir)?;
    if found.is_empty() {
        bail!(
            "no <package>_<version>_<arch>.deb in {}\nnote: build them first with `make debs` \
             (or pass the directory holding them with --debs DIR)",
            dir.display()
        );
    }
    newest_per_package(found, dpkg_version_gt)
}

/// Keeps, per package and architecture, the version `is_newer` ranks
/// highest. Pure apart from `is_newer`; the result is sorted by package.
pub fn newest_per_package(
    debs: Vec<PoolDeb>,
    mut is_newer: impl FnMut(&str, &str) -> Result<bool>,
) -> Result<Selection> {
    let mut selection = Selection::default();
    for deb in debs {
        let same = selection
            .newest
            .iter()
            .position(|kept| kept.package == deb.package && kept.arch == deb.arch);
        match same {
            None => selection.newest.push(deb),
            Some(i) if is_newer(&deb.version, &selection.newest[i].version)? => {
                let older = std::mem::replace(&mut selection.newest[i], deb);
                selection.older.push(older);
            }
            Some(_) => selection.older.push(deb),
        }
    }
    let key = |d: &PoolDeb| (d.package.clone(), d.arch.clone(), d.version.clone());
    selection.newest.sort_by_key(key);
    selection.older.sort_by_key(key);
    Ok(selection)
}

/// Every .deb of `dir` whose file name is the canonical one for its
/// control fields.
fn read_debs(dir: &Path) -> Result<Vec<PoolDeb>> {
    let mut debs = Vec::new();
    let entries = fs_err::read_dir(dir).context("cannot list the packages to publish")?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_file() || path.extension().is_none_or(|e| e != "deb") {
            continue;
        }
        let deb = inspect(&path)?;
        if path.file_name().is_some_and(|n| *n == *deb.file_name()) {
            debs.push(deb);
        }
    }
    Ok(debs)
}

fn inspect(path: &Path) -> Result<PoolDeb> {
    let out = Command::new("dpkg-deb")
        .args([
            "--show",
            "--showformat",
            "${Package}\t${Version}\t${Architecture}",
        ])
        .arg(path)
        .output()
        .context("cannot run dpkg-deb (is dpkg installed?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim_end().split('\t').collect();
    match fields[..] {
        [package, version, arch] if out.status.success() && !package.is_empty() => Ok(PoolDeb {
            package: package.into(),
            version: version.into(),
            arch: arch.into(),
            source: path.to_path_buf(),
        }),
        _ => bail!(
            "{} is not a readable Debian package: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// `dpkg --compare-versions a gt b`.
pub fn dpkg_version_gt(a: &str, b: &str) -> Result<bool> {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .context("cannot run `dpkg --compare-versions` (is dpkg installed?)")?;
    match status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => bail!("`dpkg --compare-versions {a} gt {b}` failed: is one of them not a version?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(package: &str, version: &str) -> PoolDeb {
        PoolDeb {
            package: package.into(),
            version: version.into(),
            arch: "amd64".into(),
            source: PathBuf::from(format!("{package}_{version}.deb")),
        }
    }

    fn versions(debs: &[PoolDeb]) -> Vec<String> {
        debs.iter()
            .map(|d| format!("{} {}", d.package, d.version))
            .collect()
    }

    #[test]
    fn dpkg_order_not_string_order() {
        let found = vec![
            deb("a", "0.1.0-9"),
            deb("a", "0.1.0-10"),
            deb("b", "1:0.1-1"),
            deb("b", "2.0-1"),
            deb("c", "0.2-1"),
            deb("c", "0.2~rc1-1"),
        ];
        let selection = newest_per_package(found, dpkg_version_gt).unwrap();
        assert_eq!(
            versions(&selection.newest),
            ["a 0.1.0-10", "b 1:0.1-1", "c 0.2-1"]
        );
        assert_eq!(
            versions(&selection.older),
            ["a 0.1.0-9", "b 2.0-1", "c 0.2~rc1-1"]
        );
    }

    #[test]
    fn architectures_are_kept_apart() {
        let mut arm = deb("a", "1.0-1");
        arm.arch = "arm64".into();
        let selection = newest_per_package(vec![deb("a", "1.0-2"), arm], |_, _| Ok(true)).unwrap();
        assert_eq!(selection.newest.len(), 2);
        assert!(selection.older.is_empty());
    }

    #[test]
    fn pool_layout_follows_debian() {
        let d = deb("pve-tcp-hardening", "1:0.1.0-1");
        assert_eq!(d.file_name(), "pve-tcp-hardening_0.1.0-1_amd64.deb");
        assert_eq!(d.pool_dir(), Path::new("pool/main/p/pve-tcp-hardening"));
        assert_eq!(
            deb("libfoo", "1").pool_dir(),
            Path::new("pool/main/libf/libfoo")
        );
    }
}
