//! Taking back our reboot request: our package's line out of
//! `/run/reboot-required.pkgs`, and `/run/reboot-required` itself when no
//! other package asked for the reboot (the convention update-notifier and
//! needrestart read; maint's `announce_reboot` writes both).

use crate::atomic::{write_atomic, NewFileMode};
use crate::contract::BASE_PACKAGE;
use crate::files::{if_exists, read_to_string_if_exists, under_root};
use anyhow::{Context, Result};
use std::path::Path;

const FLAG: &str = "/run/reboot-required";
const PKGS: &str = "/run/reboot-required.pkgs";

/// What [`withdraw`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// No line of ours in `.pkgs`: nothing touched.
    NotListed,
    /// Ours removed; these other packages still ask for a reboot.
    OthersRemain(Vec<String>),
    /// Ours was the only request: both files removed.
    FlagRemoved,
}

/// Remove every pve-tcp-hardening variant's line from `.pkgs` (a replaced
/// sibling's request became ours, as in maint), atomically; remove both
/// files when no other package is left in it.
pub fn withdraw(root: &Path) -> Result<Withdrawn> {
    let pkgs = under_root(root, PKGS);
    let Some(listed) =
        read_to_string_if_exists(&pkgs).with_context(|| format!("cannot read {PKGS}"))?
    else {
        return Ok(Withdrawn::NotListed);
    };
    let ours = |l: &str| l.trim().starts_with(BASE_PACKAGE);
    if !listed.lines().any(ours) {
        return Ok(Withdrawn::NotListed);
    }
    let others: Vec<String> = listed
        .lines()
        .filter(|l| !l.trim().is_empty() && !ours(l))
        .map(str::to_string)
        .collect();
    if others.is_empty() {
        // The flag first: a crash in between leaves `.pkgs` naming us and
        // no flag, which the next run cleans up, never a flag nobody owns.
        remove_if_exists(&under_root(root, FLAG))?;
        remove_if_exists(&pkgs)?;
        return Ok(Withdrawn::FlagRemoved);
    }
    let text: String = others.iter().map(|l| format!("{l}\n")).collect();
    write_atomic(&pkgs, text.as_bytes(), NewFileMode::default())
        .with_context(|| format!("cannot rewrite {PKGS}"))?;
    Ok(Withdrawn::OthersRemain(
        others.iter().map(|l| l.trim().to_string()).collect(),
    ))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    if_exists(fs_err::remove_file(path)).context("cannot remove the reboot request")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pkgs: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("run")).unwrap();
        fs_err::write(
            dir.path().join("run/reboot-required"),
            "*** System restart required ***\n",
        )
        .unwrap();
        if let Some(text) = pkgs {
            fs_err::write(dir.path().join("run/reboot-required.pkgs"), text).unwrap();
        }
        dir
    }

    fn read(dir: &tempfile::TempDir, rel: &str) -> Option<String> {
        read_to_string_if_exists(&dir.path().join(rel)).unwrap()
    }

    #[test]
    fn only_ours_removes_both_files() {
        let dir = host(Some("pve-tcp-hardening\n"));
        assert_eq!(withdraw(dir.path()).unwrap(), Withdrawn::FlagRemoved);
        assert_eq!(read(&dir, "run/reboot-required"), None);
        assert_eq!(read(&dir, "run/reboot-required.pkgs"), None);
    }

    #[test]
    fn other_packages_keep_their_request() {
        let dir = host(Some(
            "linux-image-6.1.0-18-amd64\npve-tcp-hardening-strict\nlibc6\n",
        ));
        assert_eq!(
            withdraw(dir.path()).unwrap(),
            Withdrawn::OthersRemain(vec!["linux-image-6.1.0-18-amd64".into(), "libc6".into()])
        );
        assert_eq!(
            read(&dir, "run/reboot-required.pkgs").as_deref(),
            Some("linux-image-6.1.0-18-amd64\nlibc6\n")
        );
        assert!(read(&dir, "run/reboot-required").is_some());
    }

    #[test]
    fn a_request_that_is_not_ours_is_left_alone() {
        for pkgs in [None, Some("linux-image-6.1.0-18-amd64\n")] {
            let dir = host(pkgs);
            assert_eq!(withdraw(dir.path()).unwrap(), Withdrawn::NotListed);
            assert!(read(&dir, "run/reboot-required").is_some());
            assert_eq!(read(&dir, "run/reboot-required.pkgs").as_deref(), pkgs);
        }
    }
}
