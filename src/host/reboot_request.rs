//! Our reboot request: `/run/reboot-required` (its words, which motd
//! shows) and our package's line in `/run/reboot-required.pkgs`, the
//! convention update-notifier, needrestart and the Ansible role read. The
//! one place that writes ([`request`], [`write_words`]), reads
//! ([`pending_for_any_variant`], [`listed`]) and takes it back
//! ([`withdraw`]); maint, plan, status and finish call it.
//!
//! A request is ours when its line names any pve-tcp-hardening variant: a
//! variant apt replaced hands its pending reboot to the one replacing it.
//! postrm's `reboot_notice` writes the same two files in sh after a purge
//! that turns IPv6 back on (the helper is deleted by then): it touches the
//! flag and adds the package's line once, as [`request`] does.

use crate::atomic::{write_atomic, NewFileMode};
use crate::contract::BASE_PACKAGE;
use crate::files::{read_to_string_if_exists, under_root};
use anyhow::{Context, Result};
use std::path::Path;

const FLAG: &str = crate::contract::REBOOT_REQUIRED_FILE;
const PKGS: &str = crate::contract::REBOOT_REQUIRED_PKGS_FILE;
const HEADER: &str = "*** System restart required ***\n";

fn is_ours(line: &str) -> bool {
    line.trim().starts_with(BASE_PACKAGE)
}

fn read_pkgs(root: &Path) -> Result<String> {
    Ok(read_to_string_if_exists(&under_root(root, PKGS))
        .with_context(|| format!("cannot read {PKGS}"))?
        .unwrap_or_default())
}

/// Whether any pve-tcp-hardening variant's reboot request is pending: a
/// variant apt just replaced asked for one, and it now belongs to us.
pub fn pending_for_any_variant(root: &Path) -> Result<bool> {
    Ok(read_pkgs(root)?.lines().any(is_ours))
}

/// Whether `.pkgs` names exactly `package` (what status reports).
pub fn listed(root: &Path, package: &str) -> bool {
    read_pkgs(root).is_ok_and(|text| text.lines().any(|l| l.trim() == package))
}

/// `/run/reboot-required` plus `package`'s line, once, in `.pkgs`; a
/// replaced sibling variant's line gives way to ours.
pub fn request(root: &Path, package: &str) -> Result<()> {
    let flag = under_root(root, FLAG);
    crate::atomic::create_dir_all(&under_root(root, "/run")).context("cannot create /run")?;
    if !flag.exists() {
        write_atomic(&flag, HEADER.as_bytes(), NewFileMode::default())?;
    }
    let listed = read_pkgs(root)?;
    let mut lines: Vec<&str> = listed
        .lines()
        .filter(|l| !is_ours(l) || l.trim() == package)
        .collect();
    if !lines.contains(&package) {
        lines.push(package);
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if text != listed {
        write_atomic(
            &under_root(root, PKGS),
            text.as_bytes(),
            NewFileMode::default(),
        )?;
    }
    Ok(())
}

/// The reboot words in `/run/reboot-required`, as on stderr: our lines
/// replace any earlier ones of a pve-tcp-hardening package; other
/// packages' lines stay.
pub fn write_words(root: &Path, paragraphs: &[String]) -> Result<()> {
    let flag = under_root(root, FLAG);
    let old = read_to_string_if_exists(&flag)
        .with_context(|| format!("cannot read {FLAG}"))?
        .unwrap_or_else(|| HEADER.to_string());
    let prefix = format!("{BASE_PACKAGE}: ");
    let mut text: String = old
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    for p in paragraphs {
        text.push_str(&format!("{prefix}{p}\n"));
    }
    if text != old {
        write_atomic(&flag, text.as_bytes(), NewFileMode::default())?;
    }
    Ok(())
}

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
/// sibling's request became ours, as in [`request`]), atomically; remove
/// both files when no other package is left in it.
pub fn withdraw(root: &Path) -> Result<Withdrawn> {
    let pkgs = under_root(root, PKGS);
    let Some(listed) =
        read_to_string_if_exists(&pkgs).with_context(|| format!("cannot read {PKGS}"))?
    else {
        return Ok(Withdrawn::NotListed);
    };
    if !listed.lines().any(is_ours) {
        return Ok(Withdrawn::NotListed);
    }
    let others: Vec<String> = listed
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_ours(l))
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
    crate::atomic::remove_file(path).context("cannot remove the reboot request")?;
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
    fn a_request_replaces_a_siblings_and_is_read_back_by_every_reader() {
        let dir = host(Some("libc6\npve-tcp-hardening-strict\n"));
        assert!(pending_for_any_variant(dir.path()).unwrap());
        assert!(!listed(dir.path(), "pve-tcp-hardening"));
        request(dir.path(), "pve-tcp-hardening").unwrap();
        request(dir.path(), "pve-tcp-hardening").unwrap();
        assert_eq!(
            read(&dir, "run/reboot-required.pkgs").as_deref(),
            Some("libc6\npve-tcp-hardening\n")
        );
        assert!(listed(dir.path(), "pve-tcp-hardening"));
        write_words(dir.path(), &["Reboot this node.".into()]).unwrap();
        write_words(dir.path(), &["Reboot it now.".into()]).unwrap();
        assert_eq!(
            read(&dir, "run/reboot-required").as_deref(),
            Some("*** System restart required ***\npve-tcp-hardening: Reboot it now.\n")
        );
        assert_eq!(
            withdraw(dir.path()).unwrap(),
            Withdrawn::OthersRemain(vec!["libc6".into()])
        );
        assert!(!pending_for_any_variant(dir.path()).unwrap());
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
