//! A fake host tree for the helper: a root dir with chrony's stock default
//! file, an empty dpkg admin dir (dpkg-divert runs for real with --root) and
//! a fake /proc (tests/common/fake_proc.rs) holding every catalog key at a
//! stock value.

use super::fake_proc::FakeProc;
use super::{repo_root, Run};
use pve_tcp_hardening::build::catalog::Catalog;
use pve_tcp_hardening::build::compliance::load_compliance_maps;
use pve_tcp_hardening::build::profile::ProfileLoader;
use pve_tcp_hardening::build::render::Renderer;
use pve_tcp_hardening::contract::{
    ComplianceMaps, Profile, COMPLIANCE_JSON, PROFILE_JSON, SHARE_DIR, SYSCTL_FILE,
};
use pve_tcp_hardening::files::under_root;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A stand-in for postfix's postconf (the forms the helper and postrm use).
pub const FAKE_POSTCONF: &str = "tests/fixtures/postfix/postconf";
pub const CHRONY_STOCK: &str = "tests/fixtures/chrony/debian12-default-chrony";
/// What a Proxmox VE 9 node has of the sysctl files (tests/fixtures/pve9/README).
pub const PVE9_LAYOUT: &str = "tests/fixtures/pve9";
/// Debian 12's /usr/lib/os-release (base-files 12.4+deb12u*).
pub const BOOKWORM_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n";

pub struct FakeHost {
    pub dir: tempfile::TempDir,
    /// `<dir>/proc`.
    pub proc: FakeProc,
}

pub fn catalog() -> Catalog {
    Catalog::load(&repo_root().join("profiles/catalog/keys.toml")).unwrap()
}

/// The compliance maps every package ships.
pub fn compliance_maps() -> ComplianceMaps {
    load_compliance_maps(&repo_root().join("profiles/compliance")).unwrap()
}

pub fn profile(name: &str) -> Profile {
    let catalog = catalog();
    ProfileLoader::new(&repo_root().join("profiles"), &catalog)
        .load(name)
        .unwrap()
}

/// The sysctl file and profile.json of `p` where its package puts them
/// below `tree`, as `dpkg-deb -x` leaves them; the profile.json's path.
pub fn unpack_into(tree: &Path, p: &Profile) -> PathBuf {
    let renderer = Renderer::load(&repo_root().join("templates")).unwrap();
    let sysctl_file = under_root(tree, SYSCTL_FILE);
    std::fs::create_dir_all(sysctl_file.parent().unwrap()).unwrap();
    std::fs::write(sysctl_file, renderer.render_sysctl(p, &catalog()).unwrap()).unwrap();
    std::fs::create_dir_all(under_root(tree, SHARE_DIR)).unwrap();
    let profile_json = under_root(tree, PROFILE_JSON);
    std::fs::write(&profile_json, p.to_json().unwrap()).unwrap();
    profile_json
}

/// The entry of key `name` in the `keys` of a JSON report (status, plan).
pub fn report_key<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == name)
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

impl FakeHost {
    /// A host with chrony's stock default file and a proc tree holding
    /// every catalog key at a "stock" value.
    pub fn new() -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost {
            proc: FakeProc::at(dir.path().join("proc")),
            dir,
        };
        std::fs::create_dir_all(host.path("var/lib/dpkg")).unwrap();
        std::fs::create_dir_all(host.path("etc/default")).unwrap();
        std::fs::create_dir_all(host.path("etc/sysctl.d")).unwrap();
        std::fs::create_dir_all(host.path("usr/lib")).unwrap();
        std::fs::write(host.path("usr/lib/os-release"), BOOKWORM_OS_RELEASE).unwrap();
        std::fs::copy(
            repo_root().join(CHRONY_STOCK),
            host.path("etc/default/chrony"),
        )
        .unwrap();
        for info in catalog().keys {
            let stock = match info.name.as_str() {
                "net.ipv4.tcp_fin_timeout" => "60",
                "net.ipv4.tcp_syn_retries" => "6",
                "net.ipv4.tcp_synack_retries" => "5",
                "net.ipv4.tcp_sack" | "net.ipv4.tcp_syncookies" => "1",
                "net.ipv4.conf.all.accept_redirects" | "net.ipv4.conf.all.send_redirects" => "1",
                k if k.ends_with("high_thresh") => "4194304",
                k if k.ends_with("low_thresh") => "3145728",
                _ => "0",
            };
            host.set_live(&info.name, stock);
        }
        host
    }

    /// A Proxmox VE 9 node on Debian 13: [`FakeHost::new`] with the
    /// sysctl.d files and os-release of [`PVE9_LAYOUT`] (no sysctl.conf).
    pub fn pve9() -> FakeHost {
        let host = FakeHost::new();
        copy_tree(&repo_root().join(PVE9_LAYOUT), host.dir.path());
        std::fs::remove_file(host.path("README")).unwrap();
        host
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        under_root(self.dir.path(), rel)
    }

    pub fn proc_root(&self) -> PathBuf {
        self.proc.sys()
    }

    pub fn set_live(&self, key: &str, value: &str) {
        self.proc.set(key, value);
    }

    pub fn live(&self, key: &str) -> String {
        self.proc.get(key)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// A host with the package of profile `name` installed and the reboot
    /// it asked for done.
    pub fn installed(name: &str) -> FakeHost {
        FakeHost::new().with_installed(name)
    }

    /// This host with the package of profile `name` installed and the
    /// reboot it asked for done.
    pub fn with_installed(self, name: &str) -> FakeHost {
        self.install(&profile(name));
        std::fs::remove_file(self.path("run/reboot-required.pkgs")).unwrap();
        std::fs::remove_file(self.path("run/reboot-required")).unwrap();
        self
    }

    /// What dpkg unpacks: the sysctl file, profile.json and compliance maps
    /// of `p`.
    pub fn unpack(&self, p: &Profile) {
        unpack_into(self.dir.path(), p);
        std::fs::write(
            self.path(COMPLIANCE_JSON),
            compliance_maps().to_json().unwrap(),
        )
        .unwrap();
    }

    /// The helper as a maintainer script calls it; what it says on stderr
    /// is its narration for the admin (check it with `stderr_contains`).
    pub fn maint(&self, script: &str, args: &[&str]) -> Run {
        Run::helper()
            .stderr_every_line("pve-tcp-hardening: ")
            .args(["maint", "--root"])
            .args([self.dir.path()])
            .args(["--proc"])
            .args([self.proc.path()])
            .args([script])
            .args(args)
    }

    pub fn diversions(&self) -> String {
        let out = Command::new("dpkg-divert")
            .arg("--root")
            .arg(self.dir.path())
            .arg("--list")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// dpkg's database under the root: dpkg installed, and chrony with the
    /// given `Status:` (`None`: dpkg knows no chrony, as after its purge).
    pub fn dpkg_status(&self, chrony: Option<&str>) {
        let stanza = |package: &str, status: &str| {
            format!(
                "Package: {package}\nStatus: {status}\nVersion: 1.0\nArchitecture: amd64\n\
                 Maintainer: x <x@example.org>\nDescription: x\n\n"
            )
        };
        let mut text = stanza("dpkg", "install ok installed");
        if let Some(status) = chrony {
            text.push_str(&stanza("chrony", status));
        }
        std::fs::write(self.path("var/lib/dpkg/status"), text).unwrap();
    }

    /// postfix as its package leaves it: a postconf (the stand-in
    /// [`FAKE_POSTCONF`]) and `/etc/postfix/main.cf` with `main_cf`.
    pub fn with_postfix(self, main_cf: &str) -> FakeHost {
        std::fs::create_dir_all(self.path("usr/sbin")).unwrap();
        std::fs::copy(
            repo_root().join(FAKE_POSTCONF),
            self.path("usr/sbin/postconf"),
        )
        .unwrap();
        std::fs::create_dir_all(self.path("etc/postfix")).unwrap();
        std::fs::write(self.path("etc/postfix/main.cf"), main_cf).unwrap();
        self
    }

    /// The postconf calls made on this host's postfix, one a line.
    pub fn postconf_log(&self) -> String {
        std::fs::read_to_string(self.path("etc/postfix/postconf.log")).unwrap_or_default()
    }

    pub fn install(&self, p: &Profile) -> std::process::Output {
        self.unpack(p);
        self.maint("postinst", &["configure"]).run()
    }
}

/// Copy the files of `from` into `to`, directories created as needed.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
