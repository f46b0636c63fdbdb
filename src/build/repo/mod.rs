//! A signed apt repository of the built packages, ready for any static web
//! server: `pool/`, `dists/<suite>/main/binary-<arch>/Packages{,.gz,.xz}`,
//! `dists/<suite>/{Release,InRelease,Release.gpg}` and the public key.
//!
//! The index and Release files come from `apt-ftparchive` (apt-utils), not
//! from code of ours: apt's own maintainers keep it, it writes exactly what
//! apt reads, and it is stateless. reprepro would do as well but keeps a
//! database next to the repository that must stay in step with it; with
//! apt-ftparchive every run builds the whole tree from the input .debs, so
//! the update is atomic by construction: the tree is built in a temporary
//! directory next to the output and swapped with the old one in a single
//! `renameat2(RENAME_EXCHANGE)`. A failed run leaves the old repository as
//! it was; a reader sees the old tree or the new one, never half of one.
//! (Files inside the temporary tree are written plainly: nobody sees them
//! before the swap.)
//!
//! Parts, in the order a run uses them: [`pool`] (which .debs: the newest
//! version of each package), [`index`] (Packages, Release), [`signing`]
//! (the key, InRelease, Release.gpg, the exported keyring). Serving the
//! directory is left to any web server (README, "Local apt repository").

pub mod index;
pub mod pool;
pub mod signing;

use anyhow::{bail, Context, Result};
use pool::{PoolDeb, Selection};
use signing::SigningKey;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What one `pve-tcp-hardening-build repo` run needs.
#[derive(Debug, Clone)]
pub struct RepoSettings {
    /// The repository directory (`dist/repo`); replaced as a whole.
    pub out: PathBuf,
    /// Where the built .debs are (`dist`).
    pub debs_dir: PathBuf,
    pub suite: String,
    /// The admin's key; `None` uses (or generates) the dedicated key.
    pub sign_key: Option<String>,
    /// GNUPGHOME of the key; `None`: gpg's default for `sign_key`, else
    /// [`signing::default_key_home`].
    pub key_home: Option<PathBuf>,
    /// Seconds since the epoch for the Release `Date`.
    pub date_epoch: u64,
}

/// A published repository.
#[derive(Debug)]
pub struct Published {
    pub out: PathBuf,
    pub packages: Vec<PoolDeb>,
    /// Older builds found next to the published ones and left out.
    pub older: Vec<PoolDeb>,
    pub key: SigningKey,
}

/// Build the repository and swap it into `settings.out`.
pub fn publish_repo(settings: &RepoSettings) -> Result<Published> {
    check_suite(&settings.suite)?;
    let out = std::path::absolute(&settings.out)
        .with_context(|| format!("cannot resolve {}", settings.out.display()))?;
    check_output(&out, &settings.debs_dir)?;
    let Selection { newest, older } = pool::select_newest(&settings.debs_dir)?;
    let key = signing_key(settings, &out)?;
    let parent = out.parent().context("the output directory has no parent")?;
    fs_err::create_dir_all(parent).context("cannot create the output's parent directory")?;
    let staging = tempfile::Builder::new()
        .prefix(".repo-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let filled = fill(staging.path(), &newest, settings, &key);
    key.stop_agent();
    filled.with_context(|| {
        format!(
            "cannot build the repository (the old {} is unchanged)",
            out.display()
        )
    })?;
    swap_into_place(staging, &out)?;
    Ok(Published {
        out,
        packages: newest,
        older,
        key,
    })
}

/// The suite is a directory name under `dists/` and a Release field.
fn check_suite(suite: &str) -> Result<()> {
    let ok = !suite.is_empty()
        && !suite.starts_with('.')
        && suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !ok {
        bail!(
            "`{suite}` is not a usable suite name: use letters, digits and . _ + - (e.g. `stable`)"
        );
    }
    Ok(())
}

/// Replacing `out` deletes what was there: only ever a repository of ours,
/// and never the directory the packages come from.
fn check_output(out: &Path, debs_dir: &Path) -> Result<()> {
    let debs = std::path::absolute(debs_dir)
        .with_context(|| format!("cannot resolve {}", debs_dir.display()))?;
    if debs.starts_with(out) {
        bail!(
            "the repository {} would replace the packages' directory {}: choose another --out \
             (e.g. {}/repo)",
            out.display(),
            debs.display(),
            debs.display()
        );
    }
    let Ok(meta) = fs_err::symlink_metadata(out) else {
        return Ok(());
    };
    let ours =
        meta.is_dir() && (out.join("dists").is_dir() || fs_err::read_dir(out)?.next().is_none());
    if !ours {
        bail!(
            "{} exists and is not an apt repository made by this tool (no dists/): refusing to \
             replace it\nnote: choose another --out, or move it away yourself",
            out.display()
        );
    }
    Ok(())
}

fn signing_key(settings: &RepoSettings, out: &Path) -> Result<SigningKey> {
    if let Some(key) = &settings.sign_key {
        return SigningKey::named(key, settings.key_home.as_deref());
    }
    let home = match &settings.key_home {
        Some(home) => home.clone(),
        None => signing::default_key_home()?,
    };
    let home =
        std::path::absolute(&home).with_context(|| format!("cannot resolve {}", home.display()))?;
    if home.starts_with(out) {
        bail!(
            "the key home {} is inside the repository {}: its secret key would be published; \
             use another --key-home",
            home.display(),
            out.display()
        );
    }
    SigningKey::dedicated(&home)
}

/// Everything the repository holds, written into `root`.
fn fill(root: &Path, debs: &[PoolDeb], settings: &RepoSettings, key: &SigningKey) -> Result<()> {
    // tempfile makes 0700 directories; web servers read as another user.
    fs_err::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
    for deb in debs {
        let dir = root.join(deb.pool_dir());
        fs_err::create_dir_all(&dir)?;
        fs_err::copy(&deb.source, dir.join(deb.file_name()))
            .context("cannot copy a package into the pool")?;
    }
    let architectures = index::architectures(debs)?;
    for arch in &architectures {
        index::write_packages(root, &settings.suite, arch, debs)?;
    }
    let fields = index::ReleaseFields {
        suite: settings.suite.clone(),
        architectures,
        date: crate::build::rfc2822::rfc2822(settings.date_epoch),
    };
    index::write_release(root, &fields)?;
    key.sign_release(&root.join("dists").join(&settings.suite))?;
    fs_err::write(root.join(signing::KEYRING_FILE), key.export_public()?)?;
    fs_err::write(
        root.join(signing::ARMORED_KEY_FILE),
        key.export_public_armored()?,
    )?;
    Ok(())
}

/// Puts the finished tree at `out`: one atomic exchange with the old
/// repository, whose tree then sits at the temporary path and goes with it.
fn swap_into_place(staging: tempfile::TempDir, out: &Path) -> Result<()> {
    if fs_err::symlink_metadata(out).is_err() {
        let path = staging.keep();
        return fs_err::rename(&path, out)
            .inspect_err(|_| {
                let _ = fs_err::remove_dir_all(&path);
            })
            .context("cannot move the repository into place");
    }
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, staging.path(), CWD, out, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        // Filesystems without RENAME_EXCHANGE (NFS, some FUSE): two renames;
        // `out` is missing for a moment, but never half-written.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            let parent = staging.path().parent().unwrap_or(Path::new("."));
            let old = tempfile::Builder::new()
                .prefix(".repo-old-")
                .tempdir_in(parent)?;
            let old_tree = old.path().join("repo");
            fs_err::rename(out, &old_tree).context("cannot move the old repository aside")?;
            if let Err(e) = fs_err::rename(staging.path(), out) {
                let _ = fs_err::rename(&old_tree, out);
                return Err(e).context("cannot move the repository into place");
            }
            let _ = staging.keep();
            return old
                .close()
                .context("the new repository is in place, but the old one could not be removed");
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot swap {} with the new repository {}",
                    out.display(),
                    staging.path().display()
                )
            })
        }
    }
    staging
        .close()
        .context("the new repository is in place, but the old one could not be removed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_plain_names() {
        assert!(check_suite("stable").is_ok());
        assert!(check_suite("bookworm-pve_8.1+x").is_ok());
        for bad in ["", "..", "a/b", ".hidden", "a b"] {
            assert!(check_suite(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_a_repository_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let debs = dir.path().join("dist");
        fs_err::create_dir_all(debs.join("repo/dists")).unwrap();
        assert!(check_output(&debs.join("repo"), &debs).is_ok());
        assert!(check_output(&debs.join("new"), &debs).is_ok());
        let err = check_output(&debs, &debs).unwrap_err().to_string();
        assert!(
            err.contains("would replace the packages' directory"),
            "{err}"
        );
        fs_err::create_dir_all(dir.path().join("other/stuff")).unwrap();
        let err = check_output(&dir.path().join("other"), &debs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to replace it"), "{err}");
    }

    #[test]
    fn exchange_keeps_the_old_tree_until_the_swap() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("repo");
        fs_err::create_dir_all(out.join("dists")).unwrap();
        fs_err::write(out.join("old"), "old").unwrap();
        let staging = tempfile::tempdir_in(dir.path()).unwrap();
        fs_err::write(staging.path().join("new"), "new").unwrap();
        let staging_path = staging.path().to_path_buf();
        swap_into_place(staging, &out).unwrap();
        assert!(out.join("new").is_file() && !out.join("old").exists());
        assert!(!staging_path.exists(), "old tree left behind");
    }
}
