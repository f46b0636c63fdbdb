//! End-to-end: the apt repository of `pve-tcp-hardening-build repo`, served
//! over HTTP by a static web server and used by apt in a Debian 12 chroot
//! and in a Debian 13 one (apt 3.0, signatures checked by sqv)
//! exactly as README "Local apt repository" tells an admin: the deb822
//! source with `Signed-By:` the exported key, then install, switch variant,
//! purge. Then what a signed repository is for: a tampered `Packages` and
//! an unsigned repository are refused, and the candidate stays where it was.
//!
//! Server and chroot share one private network namespace (`served.rs`);
//! the chroot, its namespaces and the skip rules are the e2e harness's
//! (tests/e2e): not root, no unshare or debootstrap, or `PTH_E2E=0` prints
//! `SKIPPED: ...`. The chroot has no other apt source: no network.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)] // this suite uses a part of the harness
#[path = "../e2e/harness/mod.rs"]
mod harness;
mod served;

use common::site::{Site, KEYRING};
use harness::{Release, Scenario, Variants};
use std::path::{Path, PathBuf};
use std::process::Command;

const V1: &str = "0.1.0-1";
const V2: &str = "0.1.0-2";
const CLIENT_KEYRING: &str = "/usr/share/keyrings/pve-tcp-hardening-archive-keyring.gpg";
const PACKAGE: &str = "pve-tcp-hardening";

/// The build host is a [`Site`] whose `www/` the server serves; `www/repo`
/// is a symlink we point at one tree or another.
impl Site {
    /// An empty site that publishes dated a minute ago (apt refuses a
    /// Release from the future).
    fn serving() -> Site {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut site = Site::new();
        site.epoch = (now - 60).to_string();
        std::fs::create_dir_all(site.path("www")).unwrap();
        site
    }

    /// A copy of dist/repo as `www/<name>`.
    fn snapshot_repo(&self, name: &str) -> PathBuf {
        let copy = self.path("www").join(name);
        copy_tree(&self.repo(""), &copy);
        copy
    }

    /// Points `www/repo` (what apt fetches) at `www/<name>`.
    fn serve(&self, name: &str) {
        let link = self.path("www/repo");
        let tmp = self.path("www/.repo.new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(name, &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// Changes one byte of `Packages` (`Version: <from>` of the first stanza
/// becomes `<to>`) and recompresses it, leaving Release and its signatures
/// as they were: apt fetches Packages.xz, so it must be tampered too.
fn tamper_packages(repo: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let dir = repo.join("dists/stable/main/binary-amd64");
    let plain = dir.join("Packages");
    let text = std::fs::read_to_string(&plain).unwrap();
    let tampered = text.replacen(
        &format!("Version: {from}\n"),
        &format!("Version: {to}\n"),
        1,
    );
    let changed = text
        .bytes()
        .zip(tampered.bytes())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 1, "the tamper must change exactly one byte");
    std::fs::write(&plain, tampered).unwrap();
    for (tool, ext) in [("gzip -9n", "gz"), ("xz", "xz")] {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("{tool} --stdout Packages > Packages.{ext}"))
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The README's deb822 entry for `http://127.0.0.1:PORT/<path>`.
fn source_entry(path: &str) -> String {
    format!(
        "Types: deb\nURIs: http://127.0.0.1:{}/{path}\nSuites: stable\nComponents: main\n\
         Signed-By: {CLIENT_KEYRING}\n",
        served::PORT
    )
}

/// `apt-get update`, which must fail; what apt said.
fn refused_update(s: &mut Scenario) -> String {
    let update = s.chroot.try_run("apt-get update");
    let said = format!("{}{}", update.stdout, update.stderr);
    assert!(!update.success(), "apt-get update did not refuse:\n{said}");
    said
}

/// `Candidate:` of `apt-cache policy`.
fn candidate(s: &mut Scenario, package: &str) -> String {
    let policy = s.run(&format!("apt-cache policy {package}")).stdout;
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .unwrap_or_else(|| panic!("no candidate in:\n{policy}"))
        .trim()
        .to_string()
}

fn not_installed(s: &mut Scenario, package: &str) {
    let status = s.status(package);
    assert!(
        matches!(
            status.as_str(),
            "not-installed" | "unknown ok not-installed"
        ),
        "{package}: `{status}` after purge"
    );
}

#[test]
fn bookworm_served_repository_installs_switches_purges_and_refuses_forgeries() {
    served_repository(Release::Bookworm);
}

/// The same repository, one suite for both releases (the packages are the
/// same files on both), checked by trixie's apt 3.0, which verifies
/// signatures with sqv instead of gpgv.
#[test]
fn trixie_served_repository_installs_switches_purges_and_refuses_forgeries() {
    served_repository(Release::Trixie);
}

fn served_repository(release: Release) {
    let Some(mut s) = Scenario::start(release, "repo-http") else {
        return;
    };
    if release == Release::Trixie {
        // apt 3.0 verifies with sqv when it is there; without gpgv there is
        // no fallback, so every signature below is sqv's verdict.
        let verifiers = s.run(
            "dpkg-query -W -f '${Package} ${Version}\\n' apt sqv; command -v gpgv || echo no-gpgv",
        );
        assert!(
            verifiers.stdout.contains("apt 3.0")
                && verifiers.stdout.contains("sqv ")
                && verifiers.stdout.contains("no-gpgv"),
            "{}",
            verifiers.stdout
        );
    }
    let started = std::time::Instant::now();
    let host = Site::serving();
    host.build(V1);
    let v1 = Variants::from_dir(&host.path("dist"));
    host.publish().run();
    host.snapshot_repo("v1");
    host.serve("v1");
    let server = served::Server::start(s.chroot.root(), &host.path("www"), &host.path("http.log"));

    // The client, as the README says; the base's Debian sources are
    // unreachable here, so they go.
    s.chroot.write("/etc/apt/sources.list", b"");
    let key = std::fs::read(host.repo(KEYRING)).unwrap();
    s.chroot.write(CLIENT_KEYRING, &key);
    s.chroot.write(
        "/etc/apt/sources.list.d/pve-tcp-hardening.sources",
        source_entry("repo").as_bytes(),
    );
    s.baseline();

    s.run("apt-get update && apt-get install -y pve-tcp-hardening");
    s.expect_active(&v1.default, &[]);
    s.run("apt-get install -y pve-tcp-hardening-strict");
    assert_eq!(s.status(PACKAGE), "deinstall ok config-files");
    s.expect_active(&v1.strict, &[&v1.default]);
    s.run("apt-get purge -y 'pve-tcp-hardening*'");
    for deb in v1.all() {
        not_installed(&mut s, &deb.package);
    }
    s.expect_pristine("after apt-get purge 'pve-tcp-hardening*'");
    assert_eq!(candidate(&mut s, PACKAGE), V1);

    // A new, properly signed Release whose Packages was changed afterwards.
    host.build(V2);
    host.publish().run();
    let forged = host.snapshot_repo("tampered");
    tamper_packages(&forged, V2, "0.1.0-3");
    host.serve("tampered");
    let said = refused_update(&mut s);
    assert!(
        said.contains("Hash Sum mismatch") || said.contains("File has unexpected size"),
        "{said}\nserver log:\n{}",
        server.log()
    );
    assert_eq!(
        candidate(&mut s, PACKAGE),
        V1,
        "candidate after the forgery"
    );

    // The genuine new version: only it is offered.
    host.snapshot_repo("v2");
    host.serve("v2");
    s.run("apt-get update");
    assert_eq!(candidate(&mut s, PACKAGE), V2);
    let offered = s.run(&format!("apt-cache madison {PACKAGE}")).stdout;
    assert!(
        !offered.contains(V1),
        "the old version is still offered:\n{offered}"
    );

    // The old tree without signatures where a signed one was (a
    // downgrade): refused.
    let unsigned = host.path("www/unsigned");
    copy_tree(&host.path("www/v1"), &unsigned);
    for file in ["InRelease", "Release.gpg"] {
        std::fs::remove_file(unsigned.join("dists/stable").join(file)).unwrap();
    }
    host.serve("unsigned");
    let said = refused_update(&mut s);
    assert!(said.contains("is no longer signed"), "{said}");
    assert_eq!(
        candidate(&mut s, PACKAGE),
        V2,
        "candidate after the downgrade"
    );

    // A source that was never signed: refused, nothing of it offered.
    host.serve("v2");
    let second = "/etc/apt/sources.list.d/unsigned.sources";
    s.chroot.write(second, source_entry("unsigned").as_bytes());
    let said = refused_update(&mut s);
    assert!(said.contains("is not signed"), "{said}");
    let offered = s.run(&format!("apt-cache madison {PACKAGE}")).stdout;
    assert!(!offered.contains("/unsigned"), "{offered}");
    std::fs::remove_file(s.chroot.path(second)).unwrap();
    eprintln!(
        "[{release}-repo-http] build, publish and apt steps took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(server);
}
