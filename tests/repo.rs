//! The apt repository `pve-tcp-hardening-build repo` writes, checked the way
//! a client checks it: gpgv against the exported key, the pool files'
//! SHA256 against Packages, Packages' hashes against Release. Then the
//! promises around it: a version bump replaces the package, a failed run
//! keeps the old repository, the generated key says what it is.
//!
//! Needs the release helper and cargo-deb (like tests/package.rs), plus
//! apt-utils and gnupg (`make test` installs them). Every gpg call works on
//! a temporary GNUPGHOME; no keyring of this machine is read or written.

mod common;

use common::site::{Site, ARMORED_KEY, KEYRING, PACKAGES};
use common::tree;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Release date of [`common::site::EPOCH`].
const EPOCH_DATE: &str = "Mon, 21 Sep 2026 14:13:20 +0000";

impl Site {
    /// The repository holds exactly `before`, and no temporary tree is left.
    fn assert_repo_is(&self, before: &BTreeMap<PathBuf, Vec<u8>>) {
        assert!(
            *before == tree(&self.repo("")),
            "the old repository changed"
        );
        assert_eq!(leftovers(&self.path("dist")), Vec::<String>::new());
    }

    fn packages(&self) -> Vec<BTreeMap<String, String>> {
        stanzas(&self.read("dists/stable/main/binary-amd64/Packages"))
    }

    /// `gpgv --keyring <exported key> ARGS`, run in dists/stable.
    fn gpgv(&self, args: &[&str]) -> Output {
        let home = tempfile::tempdir().unwrap();
        Command::new("gpgv")
            .env("GNUPGHOME", home.path())
            .current_dir(self.repo("dists/stable"))
            .arg("--keyring")
            .arg(self.repo(KEYRING))
            .args(args)
            .output()
            .expect("gpgv is not installed: run `make deps-test`")
    }
}

fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut last = String::new();
        for line in block.lines() {
            if line.starts_with(' ') {
                fields
                    .get_mut(&last)
                    .unwrap()
                    .push_str(&format!("\n{line}"));
            } else {
                let (k, v) = line.split_once(':').unwrap();
                last = k.to_string();
                fields.insert(last.clone(), v.trim().to_string());
            }
        }
        out.push(fields);
    }
    out
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".repo"))
        .collect()
}

#[test]
fn layout_signatures_and_hashes_are_what_apt_checks() {
    let site = Site::built("0.1.0-1");
    site.publish()
        .stdout_contains("pve-tcp-hardening-strict 0.1.0-1 amd64")
        .stdout_contains(&format!("in {}", site.path("keys").display()))
        .run();
    for file in [
        KEYRING,
        "dists/stable/Release",
        "dists/stable/InRelease",
        "dists/stable/Release.gpg",
        "dists/stable/main/binary-amd64/Packages",
        "dists/stable/main/binary-amd64/Packages.gz",
        "dists/stable/main/binary-amd64/Packages.xz",
    ] {
        assert!(site.repo(file).is_file(), "missing {file}");
    }

    let inline = site.gpgv(&["InRelease"]);
    assert!(inline.status.success(), "InRelease: {inline:?}");
    let detached = site.gpgv(&["Release.gpg", "Release"]);
    assert!(detached.status.success(), "Release.gpg: {detached:?}");

    // The armored copy (inline Signed-By in the Ansible role's source) is
    // the same key, byte for byte once dearmored.
    let armored = site.read(ARMORED_KEY);
    assert!(
        armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"),
        "{armored}"
    );
    let home = tempfile::tempdir().unwrap();
    let dearmored = Command::new("gpg")
        .env("GNUPGHOME", home.path())
        .args(["--batch", "--dearmor", "--output", "-"])
        .arg(site.repo(ARMORED_KEY))
        .output()
        .unwrap();
    assert!(dearmored.status.success(), "{dearmored:?}");
    assert_eq!(dearmored.stdout, std::fs::read(site.repo(KEYRING)).unwrap());

    let packages = site.packages();
    let names: Vec<&str> = packages.iter().map(|p| p["Package"].as_str()).collect();
    assert_eq!(names, PACKAGES);
    for p in &packages {
        let file = site.repo(&p["Filename"]);
        assert_eq!(
            p["Filename"],
            format!("pool/main/p/{0}/{0}_0.1.0-1_amd64.deb", p["Package"])
        );
        assert_eq!(p["SHA256"], sha256(&file), "{}", p["Filename"]);
        assert_eq!(
            p["Size"],
            std::fs::metadata(&file).unwrap().len().to_string()
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(site.path("dist").join(file.file_name().unwrap())).unwrap()
        );
    }

    let release = &stanzas(&site.read("dists/stable/Release"))[0];
    for (field, want) in [
        ("Origin", "pve-tcp-hardening"),
        ("Label", "pve-tcp-hardening"),
        ("Suite", "stable"),
        ("Codename", "stable"),
        ("Architectures", "amd64"),
        ("Components", "main"),
        ("Date", EPOCH_DATE),
        (
            "Description",
            "TCP/IP hardening sysctl profiles for Proxmox VE hosts",
        ),
    ] {
        assert_eq!(release[field], want, "Release {field}");
    }
    let hashes: BTreeMap<&str, (&str, &str)> = release["SHA256"]
        .lines()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[2], (w[0], w[1]))
        })
        .collect();
    for index in ["Packages", "Packages.gz", "Packages.xz"] {
        let rel = format!("main/binary-amd64/{index}");
        let path = site.repo("dists/stable").join(&rel);
        let size = std::fs::metadata(&path).unwrap().len().to_string();
        assert_eq!(
            hashes[rel.as_str()],
            (sha256(&path).as_str(), size.as_str()),
            "{rel}"
        );
    }
    for (tool, ext) in [("zcat", "gz"), ("xzcat", "xz")] {
        let out = Command::new(tool)
            .arg(site.repo(&format!("dists/stable/main/binary-amd64/Packages.{ext}")))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            site.read("dists/stable/main/binary-amd64/Packages")
        );
    }
}

#[test]
fn the_generated_key_says_what_it_is_and_is_reused() {
    let site = Site::built("0.1.0-1");
    site.publish()
        .stdout_contains("generated the repository signing key")
        .run();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let empty_home = tempfile::tempdir().unwrap();
    let shown = Command::new("gpg")
        .env("GNUPGHOME", empty_home.path())
        .args(["--with-colons", "--show-keys"])
        .arg(site.repo(KEYRING))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    let uids: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with("uid:"))
        .map(|l| l.split(':').nth(9).unwrap())
        .collect();
    assert_eq!(
        uids,
        [format!(
            "pve-tcp-hardening repository signing key ({0}) <{1}@{0}>",
            host.trim(),
            std::env::var("USER").unwrap_or("root".into())
        )],
        "{shown}"
    );
    let key = std::fs::read(site.repo(KEYRING)).unwrap();
    let second = site.publish().run();
    assert!(!String::from_utf8_lossy(&second.stdout).contains("generated"));
    assert_eq!(
        std::fs::read(site.repo(KEYRING)).unwrap(),
        key,
        "a second run must sign with the same key"
    );
}

#[test]
fn a_version_bump_replaces_the_package() {
    let site = Site::built("0.1.0-1");
    site.publish().run();
    site.build("0.1.0-2");
    site.publish()
        .stdout_contains("pve-tcp-hardening 0.1.0-2 amd64")
        .stdout_contains("left out (older)")
        .run();
    let packages = site.packages();
    assert_eq!(packages.len(), PACKAGES.len());
    assert!(packages.iter().all(|p| p["Version"] == "0.1.0-2"));
    let pool: Vec<String> = tree(&site.repo("pool"))
        .into_keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pool.len(), PACKAGES.len(), "{pool:?}");
    assert!(pool.iter().all(|f| f.contains("_0.1.0-2_")), "{pool:?}");
    assert!(site.gpgv(&["InRelease"]).status.success());
    assert_eq!(leftovers(&site.path("dist")), Vec::<String>::new());
}

#[test]
fn a_missing_sign_key_keeps_the_old_repository() {
    let site = Site::built("0.1.0-1");
    site.publish().run();
    let before = tree(&site.repo(""));
    site.publish()
        .args(["--sign-key", "no-such-key@example.org"])
        .status(1)
        .stderr_contains("no secret key `no-such-key@example.org`")
        .stderr_contains("--list-secret-keys")
        .run();
    site.assert_repo_is(&before);
}

#[test]
fn a_failure_half_way_keeps_the_old_repository() {
    let site = Site::built("0.1.0-1");
    site.publish().run();
    let before = tree(&site.repo(""));
    site.build("0.1.0-2");
    // An xz that fails: the pool and Packages are written by then.
    let bin = site.path("broken-bin");
    std::fs::create_dir(&bin).unwrap();
    let xz = bin.join("xz");
    std::fs::write(&xz, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&xz, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    site.publish()
        .env("PATH", &path)
        .status(1)
        .stderr_contains("cannot build the repository (the old")
        .stderr_contains("is unchanged)")
        .stderr_contains("Packages.xz")
        .run();
    site.assert_repo_is(&before);
}

#[test]
fn an_admin_key_signs_when_named() {
    let site = Site::built("0.1.0-1");
    let home = site.path("admin-gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let made = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args(["--quick-generate-key", "Test Admin <admin@example.org>"])
        .args(["ed25519", "sign", "never"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    site.publish_without_key()
        .args(["--sign-key", "admin@example.org", "--key-home"])
        .args([&home])
        .stdout_contains("\"Test Admin <admin@example.org>\"")
        .run();
    assert!(site.gpgv(&["InRelease"]).status.success());
    assert!(
        !site.path("keys").exists(),
        "no dedicated key may be made when a key is named"
    );
}

#[test]
fn only_a_repository_is_ever_replaced() {
    let site = Site::built("0.1.0-1");
    std::fs::create_dir_all(site.repo("")).unwrap();
    std::fs::write(site.repo("notes.txt"), "mine").unwrap();
    site.publish()
        .status(1)
        .stderr_contains("is not an apt repository made by this tool")
        .run();
    assert_eq!(site.read("notes.txt"), "mine");
}
