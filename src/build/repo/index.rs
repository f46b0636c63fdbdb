//! The index files apt reads, written by `apt-ftparchive` (apt-utils):
//! `Packages` per architecture, compressed copies (`gzip -9n`, `xz`), then
//! `Release` with the size and hashes of each of them and the fields apt
//! shows and pins on (Origin, Label, Suite, ...).
//!
//! We call `apt-ftparchive packages` once per pool directory, in sorted
//! order, because its directory walk follows readdir order: this way two
//! runs over the same .debs write the same bytes.

use super::pool::PoolDeb;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

/// Origin and Label of the repository: what `apt policy` shows and what
/// `Pin: release o=...` matches.
pub const ORIGIN: &str = "pve-tcp-hardening";
pub const COMPONENT: &str = "main";
const DESCRIPTION: &str = "TCP/IP hardening sysctl profiles for Proxmox VE hosts";

/// What the Release file says about the repository.
#[derive(Debug, Clone)]
pub struct ReleaseFields {
    pub suite: String,
    pub architectures: Vec<String>,
    /// RFC 2822 date (from SOURCE_DATE_EPOCH when set).
    pub date: String,
}

impl ReleaseFields {
    /// The `-o APT::FTPArchive::Release::<Field>=<value>` options.
    pub fn ftparchive_options(&self) -> Vec<String> {
        [
            ("Origin", ORIGIN),
            ("Label", ORIGIN),
            ("Suite", &self.suite),
            ("Codename", &self.suite),
            ("Architectures", &self.architectures.join(" ")),
            ("Components", COMPONENT),
            ("Date", &self.date),
            ("Description", DESCRIPTION),
        ]
        .iter()
        .flat_map(|(field, value)| {
            [
                "-o".to_string(),
                format!("APT::FTPArchive::Release::{field}={value}"),
            ]
        })
        .collect()
    }
}

/// The architectures the repository has indices for: those of the
/// packages, `all` excluded (such packages go into every index).
pub fn architectures(debs: &[PoolDeb]) -> Result<Vec<String>> {
    let archs: BTreeSet<&str> = debs
        .iter()
        .map(|d| d.arch.as_str())
        .filter(|a| *a != "all")
        .collect();
    if archs.is_empty() {
        bail!("only `Architecture: all` packages to publish: apt needs at least one architecture");
    }
    Ok(archs.into_iter().map(str::to_string).collect())
}

/// Writes `dists/<suite>/main/binary-<arch>/Packages{,.gz,.xz}` for the
/// packages already copied into `root`'s pool.
pub fn write_packages(root: &Path, suite: &str, arch: &str, debs: &[PoolDeb]) -> Result<()> {
    let dir = root
        .join("dists")
        .join(suite)
        .join(COMPONENT)
        .join(format!("binary-{arch}"));
    fs_err::create_dir_all(&dir)?;
    let pool_dirs: BTreeSet<_> = debs.iter().map(PoolDeb::pool_dir).collect();
    let mut packages = Vec::new();
    for pool_dir in pool_dirs {
        let stanzas = ftparchive(
            root,
            Command::new("apt-ftparchive")
                .args(["--arch", arch, "packages"])
                .arg(&pool_dir),
        )
        .with_context(|| format!("cannot index {}", pool_dir.display()))?;
        packages.extend(stanzas);
    }
    let plain = dir.join("Packages");
    fs_err::write(&plain, &packages)?;
    compress(&plain, "gz", Command::new("gzip").args(["-9n", "--stdout"]))?;
    compress(&plain, "xz", Command::new("xz").args(["--stdout"]))?;
    Ok(())
}

/// Writes `dists/<suite>/Release`, listing every file under that directory.
pub fn write_release(root: &Path, fields: &ReleaseFields) -> Result<()> {
    let dists = root.join("dists").join(&fields.suite);
    // Captured and written afterwards: redirecting into dists/<suite>/Release
    // would make apt-ftparchive list a half-written Release in itself.
    let release = ftparchive(
        &dists,
        Command::new("apt-ftparchive")
            .args(fields.ftparchive_options())
            .args(["release", "."]),
    )
    .context("cannot write the Release file")?;
    fs_err::write(dists.join("Release"), release)?;
    Ok(())
}

fn ftparchive(dir: &Path, cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run apt-ftparchive (install apt-utils; `make repo` does)")?;
    // apt-ftparchive exits 0 even when it warns about a package it skipped.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("E: ") || stderr.contains("W: ") {
        bail!("apt-ftparchive failed in {}:\n{stderr}", dir.display());
    }
    Ok(out.stdout)
}

/// `<plain>.<ext>` from `<plain>`, through `cmd` (reads stdin, writes stdout).
fn compress(plain: &Path, ext: &str, cmd: &mut Command) -> Result<()> {
    let target = plain.with_extension(ext);
    let input = fs_err::File::open(plain)?;
    let output = fs_err::File::create(&target)?;
    let status = cmd
        .stdin(Stdio::from(input.into_parts().0))
        .stdout(Stdio::from(output.into_parts().0))
        .status()
        .with_context(|| format!("cannot run {:?} (is it installed?)", cmd.get_program()))?;
    if !status.success() {
        bail!(
            "{:?} failed writing {}",
            cmd.get_program(),
            target.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_options_name_every_field() {
        let fields = ReleaseFields {
            suite: "stable".into(),
            architectures: vec!["amd64".into(), "arm64".into()],
            date: "Thu, 01 Jan 1970 00:00:00 +0000".into(),
        };
        let options = fields.ftparchive_options();
        let set: Vec<&str> = options
            .iter()
            .filter_map(|o| o.strip_prefix("APT::FTPArchive::Release::"))
            .collect();
        assert_eq!(
            set,
            [
                "Origin=pve-tcp-hardening",
                "Label=pve-tcp-hardening",
                "Suite=stable",
                "Codename=stable",
                "Architectures=amd64 arm64",
                "Components=main",
                "Date=Thu, 01 Jan 1970 00:00:00 +0000",
                "Description=TCP/IP hardening sysctl profiles for Proxmox VE hosts",
            ]
        );
        assert_eq!(options.iter().filter(|o| *o == "-o").count(), 8);
    }

    #[test]
    fn architecture_all_gets_no_index_of_its_own() {
        let deb = |arch: &str| PoolDeb {
            package: format!("p-{arch}"),
            version: "1-1".into(),
            arch: arch.into(),
            source: "x.deb".into(),
        };
        assert_eq!(
            architectures(&[deb("amd64"), deb("all"), deb("amd64")]).unwrap(),
            ["amd64"]
        );
        assert!(architectures(&[deb("all")]).is_err());
    }
}
