//! A tiny .deb shaped like the real packages (tests/e2e/fixture/), built with
//! `dpkg-deb --build`. It proves the harness on its own: the scenarios must
//! pass with [`Fixture::Correct`] and must catch [`Fixture::LeaksSysctl`].

use std::path::Path;
use std::process::Command;

use super::base::e2e_dir;
use super::packages::{host, Deb};

pub const PACKAGE: &str = "pth-e2e-fixture";

#[derive(Clone, Copy, Debug)]
pub enum Fixture {
    /// Does everything the contract asks, restores everything on purge.
    Correct,
    /// Forgets to restore net.ipv4.tcp_fin_timeout on purge.
    LeaksSysctl,
}

impl Fixture {
    /// Builds the fixture at `version` into `out`.
    pub fn build(self, version: &str, out: &Path) -> Deb {
        let src = e2e_dir().join("fixture");
        let tree = tempfile::tempdir().expect("fixture tree");
        let t = tree.path();
        for dir in ["DEBIAN", "etc/sysctl.d", "usr/share/pve-tcp-hardening"] {
            std::fs::create_dir_all(t.join(dir)).expect("fixture dir");
        }
        let restore = match self {
            Fixture::Correct => {
                r#"[ ! -e "$state/tcp_fin_timeout" ] || sysctl -q -w net.ipv4.tcp_fin_timeout="$(cat "$state/tcp_fin_timeout")""#
            }
            Fixture::LeaksSysctl => ": this fixture leaves the live value behind",
        };
        let place = |from: &str, to: &str, mode: u32| {
            let text = std::fs::read_to_string(src.join(from)).expect("fixture source");
            let text = text
                .replace("@PACKAGE@", PACKAGE)
                .replace("@VERSION@", version)
                .replace("@RESTORE@", restore);
            let dest = t.join(to);
            std::fs::write(&dest, text).expect("fixture file");
            std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .expect("chmod");
        };
        place("control", "DEBIAN/control", 0o644);
        place("conffiles", "DEBIAN/conffiles", 0o644);
        place("triggers", "DEBIAN/triggers", 0o644);
        place("postinst", "DEBIAN/postinst", 0o755);
        place("postrm", "DEBIAN/postrm", 0o755);
        place(
            "80_tcp_hardening.conf",
            "etc/sysctl.d/80_tcp_hardening.conf",
            0o644,
        );
        place(
            "profile.json",
            "usr/share/pve-tcp-hardening/profile.json",
            0o644,
        );
        std::fs::create_dir_all(out).expect("fixture out dir");
        let deb = out.join(format!("{PACKAGE}_{version}_all.deb"));
        host(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(t)
                .arg(&deb),
        );
        Deb::inspect(&deb)
    }
}
