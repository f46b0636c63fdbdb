//! The Debian release of the root being examined, as one value: which
//! release it is (from os-release), the systemd and procps versions that
//! read its sysctl files (from dpkg's database when it has them), and what
//! follows from those for this package: whether the boot-time reader still
//! honours `/etc/sysctl.conf`, and the words `status` and `plan` use.
//!
//! Adding a release means one entry in [`KNOWN`] and its fixtures. A root
//! whose release is not known gets the nearest known release's rules, and
//! [`Detected::note`] says so: the rules are never guessed silently.
//!
//! Not here: the merge rules themselves ([`crate::host::sysctl::merge`]),
//! which take the facts below as input.

use crate::files::resolve_in_root;
use serde::Serialize;
use std::path::Path;

/// One Debian release this package knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Release {
    /// Debian's codename (`VERSION_CODENAME`).
    pub codename: &'static str,
    /// Debian's major version (`VERSION_ID`).
    pub debian: u32,
    /// The Proxmox VE major release built on it.
    pub pve: u32,
    /// systemd's major version: systemd-sysctl reads the sysctl.d files at boot.
    pub systemd: u32,
    /// procps-ng's version: `sysctl --system` and `sysctl -p`.
    pub procps: &'static str,
    /// Whether the release's boot-time reader applies `/etc/sysctl.conf`
    /// (Debian 12: through the `/etc/sysctl.d/99-sysctl.conf` link systemd
    /// ships; Debian 13: procps dropped the file and systemd 257 the link,
    /// "/etc/sysctl.conf is no longer honored" in the release notes).
    pub boot_reads_sysctl_conf: bool,
}

/// Every release the package supports, oldest first.
pub const KNOWN: &[Release] = &[
    Release {
        codename: "bookworm",
        debian: 12,
        pve: 8,
        systemd: 252,
        procps: "4.0.2",
        boot_reads_sysctl_conf: true,
    },
    Release {
        codename: "trixie",
        debian: 13,
        pve: 9,
        systemd: 257,
        procps: "4.0.4",
        boot_reads_sysctl_conf: false,
    },
];

impl Release {
    /// "Debian 13 (trixie)".
    pub fn name(&self) -> String {
        format!("Debian {} ({})", self.debian, self.codename)
    }
}

/// The release of a root, with how sure we are of it (`release` in
/// `status --json` and `plan --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    /// The rules in use: the root's own release, or the nearest known one.
    #[serde(flatten)]
    pub release: Release,
    /// What os-release says, as read (`ID VERSION_ID VERSION_CODENAME`),
    /// empty when there is no os-release.
    pub os_release: String,
    /// The systemd and procps versions dpkg has installed there, when its
    /// database says (`None`: not recorded, e.g. an image without dpkg).
    pub systemd_version: Option<String>,
    pub procps_version: Option<String>,
    /// Set when the root's release is not one of [`KNOWN`]: what it is, and
    /// whose rules are used instead.
    pub note: Option<String>,
}

impl Detected {
    /// The release of the system under `root`: `/etc/os-release`, else
    /// `/usr/lib/os-release` (os-release(5)), resolved inside the root;
    /// `dpkg_status` is that root's [`dpkg_status`], read once by the caller.
    pub fn of_root(root: &Path, dpkg_status: &str) -> Detected {
        let text = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| {
                let path = resolve_in_root(root, p).ok()?;
                fs_err::read_to_string(path).ok()
            })
            .unwrap_or_default();
        Detected::from_texts(&text, dpkg_status)
    }

    /// [`Detected::of_root`] on the texts of os-release and dpkg's status file.
    pub fn from_texts(os_release: &str, dpkg_status: &str) -> Detected {
        let field = |name: &str| os_release_field(os_release, name);
        let id = field("ID");
        let version_id = field("VERSION_ID");
        let codename = field("VERSION_CODENAME");
        let systemd_version = installed_version(dpkg_status, "systemd");
        let procps_version = installed_version(dpkg_status, "procps");
        let by_name = KNOWN.iter().find(|r| {
            id.as_deref().is_none_or(|id| id == "debian")
                && (codename.as_deref() == Some(r.codename)
                    || version_id.as_deref() == Some(&r.debian.to_string()))
        });
        let shown = [id.as_deref(), version_id.as_deref(), codename.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let (release, note) = match by_name {
            Some(r) => (*r, None),
            None => {
                let nearest = nearest(systemd_version.as_deref());
                let what = if shown.is_empty() {
                    "no os-release".to_string()
                } else {
                    format!("os-release says {shown}")
                };
                let note = format!(
                    "unknown release ({what}): read with the rules of {}, the nearest known release",
                    nearest.name()
                );
                (nearest, Some(note))
            }
        };
        Detected {
            release,
            os_release: shown,
            systemd_version,
            procps_version,
            note,
        }
    }
}

/// The known release whose systemd is the newest not newer than the one
/// installed; the newest known when systemd's version is not recorded
/// (a release newer than all we know is the likely case).
fn nearest(systemd_version: Option<&str>) -> Release {
    let newest = *KNOWN.last().expect("KNOWN is not empty");
    let Some(major) = systemd_version.and_then(|v| {
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    }) else {
        return newest;
    };
    KNOWN
        .iter()
        .rev()
        .find(|r| r.systemd <= major)
        .copied()
        .unwrap_or(KNOWN[0])
}

/// A `NAME=value` of os-release, quotes removed.
fn os_release_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(name)?.strip_prefix('=')?;
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(unquoted.to_string())
    })
}

/// dpkg's status file under `root`; empty when it cannot be read (an image
/// without dpkg). Spelled without the leading slash: lintian flags a binary
/// holding the absolute path (uses-dpkg-database-directly).
pub fn dpkg_status(root: &Path) -> String {
    fs_err::read_to_string(root.join("var/lib/dpkg/status")).unwrap_or_default()
}

/// The stanzas of dpkg's status file, one per package.
fn stanzas(dpkg_status: &str) -> impl Iterator<Item = &str> {
    dpkg_status.split("\n\n")
}

/// The value of a one-line field (`Status:`) of a stanza, trimmed.
fn stanza_field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza
        .lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
}

/// A package of ours that dpkg left unfinished: an install, switch or
/// purge that was interrupted (power cut, Ctrl-C, the OOM killer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unfinished {
    pub package: String,
    /// dpkg's state word (`half-configured`, `half-installed`, ...), with
    /// `reinstreq` when dpkg flags it.
    pub state: String,
    /// What finishes it.
    pub fix: String,
}

/// Every package named `prefix` or `prefix-*` in dpkg's status file whose
/// operation did not finish. `dpkg --configure -a` finishes a package that
/// was unpacked but not configured; a half-installed one (or one dpkg
/// flags `reinstreq`) needs the interrupted command again: apt cannot
/// reinstall a local .deb it has no archive for ("needs to be reinstalled,
/// but I can't find an archive for it").
pub fn unfinished_packages(dpkg_status: &str, prefix: &str) -> Vec<Unfinished> {
    stanzas(dpkg_status)
        .filter_map(|stanza| {
            let field = |name: &str| stanza_field(stanza, name);
            let package = field("Package:")?;
            if package != prefix && !package.starts_with(&format!("{prefix}-")) {
                return None;
            }
            let words: Vec<&str> = field("Status:")?.split_whitespace().collect();
            let [_, flag, state] = words[..] else {
                return None;
            };
            let reinstall = flag == "reinstreq" || state == "half-installed";
            let fix = if reinstall {
                format!("run the interrupted command again (apt install ./{package}.deb, or apt purge {package})")
            } else {
                match state {
                    "unpacked" | "half-configured" | "triggers-awaited" | "triggers-pending" => {
                        "dpkg --configure -a".to_string()
                    }
                    _ => return None,
                }
            };
            let state = if flag == "reinstreq" {
                format!("{state}, reinstreq")
            } else {
                state.to_string()
            };
            Some(Unfinished {
                package: package.to_string(),
                state,
                fix,
            })
        })
        .collect()
}

/// `Version:` of an installed package in dpkg's status file.
pub fn installed_version(dpkg_status: &str, package: &str) -> Option<String> {
    stanzas(dpkg_status).find_map(|stanza| {
        let field = |name: &str| stanza_field(stanza, name);
        (field("Package:") == Some(package)
            && field("Status:").is_some_and(|s| s.ends_with(" installed")))
        .then(|| field("Version:").map(str::to_string))
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    const TRIXIE: &str = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.2\nID=debian\n";

    #[test]
    fn unfinished_operations_of_our_packages_and_what_finishes_them() {
        let status = "Package: pve-tcp-hardening\nStatus: install ok half-configured\nVersion: 1\n\n\
                      Package: pve-tcp-hardening-strict\nStatus: install reinstreq half-installed\nVersion: 1\n\n\
                      Package: pve-tcp-hardening-ipv6\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: pve-tcp-hardening-stealth\nStatus: install ok triggers-pending\nVersion: 1\n\n\
                      Package: chrony\nStatus: install ok half-configured\nVersion: 1\n";
        let found = unfinished_packages(status, "pve-tcp-hardening");
        let got: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|u| (u.package.as_str(), u.state.as_str(), u.fix.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pve-tcp-hardening", "half-configured", "dpkg --configure -a"),
                (
                    "pve-tcp-hardening-strict",
                    "half-installed, reinstreq",
                    "run the interrupted command again (apt install ./pve-tcp-hardening-strict.deb, or apt purge pve-tcp-hardening-strict)"
                ),
                ("pve-tcp-hardening-stealth", "triggers-pending", "dpkg --configure -a"),
            ]
        );
        assert!(unfinished_packages("", "pve-tcp-hardening").is_empty());
    }

    fn dpkg(systemd: &str) -> String {
        format!(
            "Package: procps\nStatus: install ok installed\nVersion: 2:4.0.4-9\n\n\
             Package: systemd\nStatus: install ok installed\nVersion: {systemd}\n"
        )
    }

    #[test]
    fn each_known_release_is_found_by_its_os_release() {
        let d = Detected::from_texts(BOOKWORM, "");
        assert_eq!(d.release.codename, "bookworm");
        assert!(d.release.boot_reads_sysctl_conf);
        assert_eq!(d.note, None);
        let d = Detected::from_texts(TRIXIE, &dpkg("257.13-1~deb13u1"));
        assert_eq!(d.release.codename, "trixie");
        assert!(!d.release.boot_reads_sysctl_conf);
        assert_eq!(d.systemd_version.as_deref(), Some("257.13-1~deb13u1"));
        assert_eq!(d.procps_version.as_deref(), Some("2:4.0.4-9"));
        assert_eq!(d.note, None);
    }

    #[test]
    fn an_unknown_release_says_so_and_takes_the_nearest_rules() {
        let forky =
            "ID=debian\nVERSION_CODENAME=forky\nPRETTY_NAME=\"Debian GNU/Linux forky/sid\"\n";
        let d = Detected::from_texts(forky, &dpkg("259.1-1"));
        assert_eq!(d.release.codename, "trixie");
        assert_eq!(
            d.note.as_deref(),
            Some("unknown release (os-release says debian forky): read with the rules of Debian 13 (trixie), the nearest known release")
        );
        // An older systemd picks the older rules.
        let d = Detected::from_texts("ID=devuan\nVERSION_ID=5\n", &dpkg("252.30-1"));
        assert_eq!(d.release.codename, "bookworm");
        assert!(d.note.unwrap().contains("os-release says devuan 5"));
        let d = Detected::from_texts("", "");
        assert_eq!(d.release.codename, "trixie");
        assert!(d
            .note
            .unwrap()
            .starts_with("unknown release (no os-release)"));
    }

    #[test]
    fn a_removed_package_has_no_version() {
        let status = "Package: systemd\nStatus: deinstall ok config-files\nVersion: 252.1\n";
        assert_eq!(installed_version(status, "systemd"), None);
    }
}
